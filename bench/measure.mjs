// Measurements shared by bench/bench.mjs (figures) and bench/check.mjs
// (budgets): driving one pool to a ledger length, and counting what a window
// of keyed reportUsage calls asks of the store.

import { CreditLedger } from "credit-pools";
import { countingKv, diffKvCounts, emptyKvCounts, syncMapKv } from "./kv.mjs";
import { BenchClock, CURRENCY_ID, CUSTOMER_ID, T0_MS, createBenchLedger, poolResourceId, setupPool, usageInput } from "./workload.mjs";

/** The pool the single-pool measurements drive. */
export const DRIVEN_RESOURCE_ID = poolResourceId(0);

/** Events in a pool's ledger, read from the ledger itself: the newest event's `seq` + 1. */
export async function ledgerEventCount(ledger, resourceId) {
  const { events } = await ledger.getCreditLedger({ customerId: CUSTOMER_ID, resourceId, currencyId: CURRENCY_ID, limit: 1 });
  return events.length === 0 ? 0 : events[0].seq + 1;
}

/**
 * One pool set up as the workload's (`setupPool`) and driven by keyed usage
 * reports, op after op, with the clock at T0 + op ms. The fastest path —
 * synchronous Map, exclusive instance, nothing counted — so 10⁵ events stay
 * quick enough for CI. `pool.map` is the state; other instances measure on
 * copies of it (`kvCostPerOp` does), since an exclusive instance must stay
 * the store's only writer.
 */
export async function createDrivenPool() {
  const clock = new BenchClock();
  const kv = syncMapKv();
  const ledger = createBenchLedger(CreditLedger, { kv, clock, exclusive: true });
  await setupPool(ledger, DRIVEN_RESOURCE_ID);
  const pool = { ledger, clock, map: kv.map, nextOp: 0 };
  pool.reportNext = () => reportNextUsage(pool);
  return pool;
}

function reportNextUsage(pool) {
  const n = pool.nextOp;
  pool.nextOp += 1;
  pool.clock.set(T0_MS + n);
  return pool.ledger.reportUsage(usageInput(n, DRIVEN_RESOURCE_ID));
}

/**
 * Reports usage until the pool's ledger holds at least `targetEvents` events.
 * The count is re-read from the ledger after each batch rather than assumed
 * to be one event per report (a usage spanning grants appends more).
 */
export async function fillPoolTo(pool, targetEvents) {
  for (let events = await ledgerEventCount(pool.ledger, DRIVEN_RESOURCE_ID); events < targetEvents; ) {
    for (let left = targetEvents - events; left > 0; left -= 1) await pool.reportNext();
    events = await ledgerEventCount(pool.ledger, DRIVEN_RESOURCE_ID);
  }
  return ledgerEventCount(pool.ledger, DRIVEN_RESOURCE_ID);
}

/**
 * Per-op store work of `ops` consecutive keyed reportUsage calls on a warm
 * pool: a fresh instance (`exclusive` or not, `putMany` offered or not) over
 * a copy of `map` (the original stays as it was), warmed by one uncounted call (a cold instance reads the head once),
 * then counted call by call. Returns the average and the largest per-op
 * count of every counter. `nextOp` is the first op index to use (keys and
 * clock continue the pool's own sequence).
 */
export async function kvCostPerOp({ map, exclusive, withPutMany, ops, nextOp, resourceId = DRIVEN_RESOURCE_ID }) {
  const clock = new BenchClock();
  const kv = countingKv(syncMapKv(new Map(map), { withPutMany }), { withPutMany });
  const ledger = createBenchLedger(CreditLedger, { kv, clock, exclusive });
  const report = (n) => {
    clock.set(T0_MS + n);
    return ledger.reportUsage(usageInput(n, resourceId));
  };
  await report(nextOp);
  const total = emptyKvCounts();
  const max = emptyKvCounts();
  for (let n = nextOp + 1; n <= nextOp + ops; n += 1) {
    const before = kv.snapshot();
    await report(n);
    const one = diffKvCounts(kv.snapshot(), before);
    for (const name of Object.keys(total)) {
      total[name] += one[name];
      max[name] = Math.max(max[name], one[name]);
    }
  }
  const average = emptyKvCounts();
  for (const name of Object.keys(total)) average[name] = total[name] / ops;
  return { ops, exclusive, withPutMany, average, max };
}

/** Bytes the store moved per op (read + written), on average. */
export const bytesMovedPerOp = (cost) => cost.average.bytesRead + cost.average.bytesWritten;
