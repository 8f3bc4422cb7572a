// Worker of bench/bench.mjs's workerd cold start: the first request imports
// credit-pools (the package's `workerd` entry: the .wasm module is
// instantiated), provisions one pool and reports the first usage.
// "./workload.mjs" is the module bench.mjs embeds beside this one in the
// workerd config (bench/workload.mjs), not a file next to this one.
import { BenchClock, CUSTOMER_ID, PLAN_ID, createBenchLedger, usageInput } from "./workload.mjs";

export default {
  async fetch() {
    const { CreditLedger } = await import("credit-pools");
    // A Map store inline: bench/kv.mjs counts bytes with Node's Buffer, which plain workerd lacks.
    const map = new Map();
    const kv = { get: (key) => map.get(key), put: (key, value) => void map.set(key, value) };
    const ledger = createBenchLedger(CreditLedger, { kv, clock: new BenchClock() });
    const first = usageInput(0);
    await ledger.provisionSubscription({ customerId: CUSTOMER_ID, resourceId: first.resourceId, planId: PLAN_ID });
    const { credit } = await ledger.reportUsage(first);
    return Response.json(credit);
  },
};
