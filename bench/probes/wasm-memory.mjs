// Child of bench/bench.mjs: the wasm linear memory of credit-pools after N
// operations (argv[2]) of the reportUsage stream, in a fresh process so no
// other measurement's ledgers share the instance. `credit-pools/web` is the
// glue without auto-init: its initSync hands back the raw exports, `memory`
// among them. Prints one JSON line of byte lengths.
import { readFileSync } from "node:fs";
import { CreditLedger, initSync } from "credit-pools/web";
import { syncMapKv } from "../kv.mjs";
import { BenchClock, STREAM_REPORT_USAGE, T0_MS, createBenchLedger, runOperation, setupCustomer } from "../workload.mjs";

const ops = Number(process.argv[2]);
if (!Number.isSafeInteger(ops) || ops <= 0) throw new Error(`usage: wasm-memory.mjs OPS (got ${process.argv[2]})`);

const wasmBytes = readFileSync(new URL(import.meta.resolve("credit-pools/credit_pools_bg.wasm")));
const { memory } = initSync({ module: wasmBytes });
const afterInitBytes = memory.buffer.byteLength;

const kv = syncMapKv();
const clock = new BenchClock();
const ledger = createBenchLedger(CreditLedger, { kv, clock });
await setupCustomer(ledger);
const afterSetupBytes = memory.buffer.byteLength;
for (let n = 0; n < ops; n += 1) {
  clock.set(T0_MS + n);
  await runOperation(ledger, STREAM_REPORT_USAGE, n);
}
console.log(JSON.stringify({ ops, afterInitBytes, afterSetupBytes, afterOpsBytes: memory.buffer.byteLength, storeEntries: kv.map.size }));
