// The workload of `make bench` and `make bench-check`, shared by every JS
// contestant. It mirrors src/bin/bench.rs (the native contestant) exactly:
// the same catalog, customer, pools, grants, operation streams and clock, so
// that the table compares the same work.
//
// This module imports nothing (no Node built-ins, not even credit-pools): the
// ledger class is passed in, so it also loads inside workerd and under
// `credit-pools/web`.

/** 2026-03-01T00:00:00Z, as `T0_MS` in src/bin/bench.rs. */
export const T0_MS = Date.parse("2026-03-01T00:00:00.000Z");
export const MS_PER_DAY = 86_400_000;

export const CUSTOMER_ID = "bench-customer";
export const CURRENCY_ID = "credits";
export const PLAN_ID = "plan-bench";
export const FEATURE_ID = "tokens";

/** Resource pools of the benchmark customer (`POOLS` in bench.rs): op n uses pool n % 8. */
export const POOL_COUNT = 8;
/** Operations run before measuring, per stream (`WARMUP_OPS` in bench.rs). */
export const WARMUP_OPS = 2_000;
/** In the mixed stream, op n is an entitlement check when n % 4 === 3. */
const MIXED_PERIOD = 4;
const MIXED_CHECK_SLOT = 3;
/** Usage values cycle through 1..100 units (`1 + n % 100` in bench.rs). */
const USAGE_VALUE_CYCLE = 100;
/** Credits the entitlement check asks for. */
const ENTITLEMENT_REQUEST_CREDITS = 10;

/** The two measured streams, named as in bench.rs's JSON lines. */
export const STREAM_REPORT_USAGE = "reportUsage";
export const STREAM_MIXED = "mixed";
export const STREAMS = [STREAM_REPORT_USAGE, STREAM_MIXED];

/** `CATALOG` in bench.rs. */
export const CATALOG = Object.freeze({
  currencies: [{ id: CURRENCY_ID }],
  plans: [
    {
      id: PLAN_ID,
      credits: [{ currencyId: CURRENCY_ID, amount: 1_000_000, cadence: "MONTH" }],
      creditRates: [{ featureId: FEATURE_ID, currencyId: CURRENCY_ID, amount: 0.001 }],
    },
  ],
});

/** `ws-0` … `ws-7`. */
export const poolResourceId = (pool) => `ws-${pool}`;
export const POOL_RESOURCE_IDS = Array.from({ length: POOL_COUNT }, (_, pool) => poolResourceId(pool));

/** The pool op `n` of a stream uses. */
export const resourceIdForOp = (n) => poolResourceId(n % POOL_COUNT);

/** Units reported by op `n`: the rate limiters consume the same number of points. */
export const usageValueForOp = (n) => 1 + (n % USAGE_VALUE_CYCLE);

/**
 * A settable clock, the counterpart of bench.rs's `ManualEnvironment`: pass
 * `clock.now` as the ledger's `now` option and move it with `set`.
 */
export class BenchClock {
  #nowMs = T0_MS;
  now = () => this.#nowMs;
  set(ms) {
    this.#nowMs = ms;
  }
}

/**
 * The three grants of every pool (`setup()` in bench.rs): mixed priority,
 * type and expiry, so the burn order has real work to do.
 */
export function poolGrantInputs(resourceId) {
  const who = { customerId: CUSTOMER_ID, resourceId, currencyId: CURRENCY_ID };
  return [
    { ...who, amount: 500_000, priority: 0, grantType: "PROMOTIONAL", expireAt: T0_MS + 10 * MS_PER_DAY },
    { ...who, amount: 1_000_000, priority: 1, expireAt: T0_MS + 30 * MS_PER_DAY },
    { ...who, amount: 2_000_000, priority: 2 },
  ];
}

/** One pool as bench.rs sets it up: provisioned on plan-bench, then the three grants. */
export async function setupPool(ledger, resourceId) {
  await ledger.provisionSubscription({ customerId: CUSTOMER_ID, resourceId, planId: PLAN_ID });
  for (const grant of poolGrantInputs(resourceId)) {
    await ledger.grantCredits(grant);
  }
}

/** The benchmark customer: every pool, one after another, as bench.rs. */
export async function setupCustomer(ledger) {
  for (const resourceId of POOL_RESOURCE_IDS) {
    await setupPool(ledger, resourceId);
  }
}

/** The keyed usage report of op `n` (on `resourceId`, by default the op's own pool). */
export function usageInput(n, resourceId = resourceIdForOp(n)) {
  return {
    customerId: CUSTOMER_ID,
    resourceId,
    featureId: FEATURE_ID,
    value: usageValueForOp(n),
    idempotencyKey: `u-${n}`,
  };
}

/** The entitlement check of op `n` in the mixed stream. */
export function entitlementInput(n) {
  return {
    customerId: CUSTOMER_ID,
    resourceId: resourceIdForOp(n),
    currencyId: CURRENCY_ID,
    requestedUsage: ENTITLEMENT_REQUEST_CREDITS,
  };
}

/** Whether op `n` of `stream` is an entitlement check rather than a usage report. */
export const isEntitlementOp = (stream, n) => stream === STREAM_MIXED && n % MIXED_PERIOD === MIXED_CHECK_SLOT;

/** Runs op `n` of `stream` on `ledger` (`operation()` in bench.rs). */
export function runOperation(ledger, stream, n) {
  return isEntitlementOp(stream, n) ? ledger.getCreditEntitlement(entitlementInput(n)) : ledger.reportUsage(usageInput(n));
}

/** The ops before measuring; bench.rs leaves its clock at T0 for them. */
export async function warmUp(ledger, stream) {
  for (let n = 0; n < WARMUP_OPS; n += 1) {
    await runOperation(ledger, stream, n);
  }
}

/** The first op index that is measured, after the warm-up. */
export const FIRST_MEASURED_OP = WARMUP_OPS;

/**
 * A ledger over `kv` with the benchmark catalog and clock. `exclusive`
 * defaults to true because bench.rs's native ledger is `.exclusive()`: the
 * contestants then do the same store work.
 */
export function createBenchLedger(CreditLedger, { kv, clock, exclusive = true }) {
  return new CreditLedger({ kv, catalog: CATALOG, now: clock.now, exclusive });
}

/**
 * A ledger of `CreditLedger` over `kv` with the benchmark customer set up and
 * `stream` warmed up, and the clock to move with it.
 */
export async function warmLedger(CreditLedger, { kv, stream, exclusive = true }) {
  const clock = new BenchClock();
  const ledger = createBenchLedger(CreditLedger, { kv, clock, exclusive });
  await setupCustomer(ledger);
  await warmUp(ledger, stream);
  return { ledger, clock };
}

/** Runs the `ops` measured ops of `stream` one at a time, moving the clock as bench.rs does. */
export async function runMeasured({ ledger, clock }, stream, ops) {
  for (let n = FIRST_MEASURED_OP; n < FIRST_MEASURED_OP + ops; n += 1) {
    clock.set(T0_MS + n);
    await runOperation(ledger, stream, n);
  }
}
