// Child of bench/bench.mjs: Node cold start of credit-pools. Prints one JSON
// line: ms from this process's time origin (its start) until the first
// reportUsage resolved, and ms from just before the dynamic import (module
// load + wasm compile + instantiate) until then. The ledger needs a
// subscription before it can price usage, so "first op" includes one
// provisionSubscription; the constructor, that call and the first
// reportUsage are also timed one by one.
// The workload module is imported statically (before the clock starts): only
// credit-pools is inside the measured import.
//
// With `--webcrypto-first` the probe first makes one `crypto.getRandomValues`
// call of its own and reports its time (`webcryptoMs`): Node 20 loads its
// webcrypto on that first use, which otherwise falls in the ledger's first
// random draw (in provisionSubscription).
import { syncMapKv } from "../kv.mjs";
import { BenchClock, CUSTOMER_ID, PLAN_ID, createBenchLedger, usageInput } from "../workload.mjs";

const webcryptoFirst = process.argv.includes("--webcrypto-first");
const beforeWebcryptoMs = performance.now();
if (webcryptoFirst) globalThis.crypto.getRandomValues(new Uint8Array(8));
const webcryptoMs = webcryptoFirst ? performance.now() - beforeWebcryptoMs : 0;

const beforeImportMs = performance.now();
const { CreditLedger } = await import("credit-pools");
const importedMs = performance.now();
const kv = syncMapKv();
const ledger = createBenchLedger(CreditLedger, { kv, clock: new BenchClock() });
const constructedMs = performance.now();
const first = usageInput(0);
await ledger.provisionSubscription({ customerId: CUSTOMER_ID, resourceId: first.resourceId, planId: PLAN_ID });
const provisionedMs = performance.now();
await ledger.reportUsage(first);
const doneMs = performance.now();
console.log(
  JSON.stringify({
    sinceProcessStartMs: doneMs,
    importMs: importedMs - beforeImportMs,
    importToFirstOpMs: doneMs - beforeImportMs,
    // Where import → first op goes: each first call also compiles the wasm
    // functions it reaches (V8 compiles them lazily), and the first random
    // draw (in provisionSubscription) loads Node's webcrypto.
    constructMs: constructedMs - importedMs,
    provisionMs: provisionedMs - constructedMs,
    firstReportUsageMs: doneMs - provisionedMs,
    webcryptoMs,
  }),
);
