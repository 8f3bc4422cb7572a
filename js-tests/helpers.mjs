// Shared fixtures for the Node tests of `credit-pools`.
//
// Everything here is deterministic: a fixed catalog, in-memory stores whose
// contents can be compared byte for byte, and a clock the test moves by hand.

import assert from "node:assert/strict";
import { CreditLedger } from "credit-pools";

export const CURRENCY = "ai-tokens";
export const CURRENCY_2 = "images";
export const FEATURE = "feature-ai-tokens";
export const FEATURE_IMAGES = "feature-images";

export const MS_SECOND = 1_000;
export const MS_HOUR = 3_600_000;
export const MS_DAY = 86_400_000;

/** 2026-03-01T00:00:00.000Z: every test clock starts here unless it says otherwise. */
export const T0 = Date.parse("2026-03-01T00:00:00.000Z");

/** Epoch ms → the ISO string the library writes. */
export const iso = (ms) => new Date(ms).toISOString();

/**
 * - plan-basic: 100 ai-tokens per month, feature-ai-tokens at 1 credit per unit,
 *   feature-images at 1 image credit per unit.
 * - plan-pro:   1000 ai-tokens per month, feature-ai-tokens at 2.5 credits per unit.
 * - plan-payg:  no recurring credits, feature-ai-tokens at 1 credit per unit.
 * - plan-free:  no credits and no credit rates at all.
 */
export const CATALOG = Object.freeze({
  currencies: [
    { id: CURRENCY, displayName: "AI tokens" },
    { id: CURRENCY_2, displayName: "Images" },
  ],
  plans: [
    {
      id: "plan-basic",
      credits: [{ currencyId: CURRENCY, amount: 100, cadence: "MONTH" }],
      creditRates: [
        { featureId: FEATURE, currencyId: CURRENCY, amount: 1 },
        { featureId: FEATURE_IMAGES, currencyId: CURRENCY_2, amount: 1 },
      ],
    },
    {
      id: "plan-pro",
      credits: [{ currencyId: CURRENCY, amount: 1000, cadence: "MONTH" }],
      creditRates: [{ featureId: FEATURE, currencyId: CURRENCY, amount: 2.5 }],
    },
    {
      id: "plan-payg",
      creditRates: [{ featureId: FEATURE, currencyId: CURRENCY, amount: 1 }],
    },
    { id: "plan-free" },
  ],
});

const MICROS_PER_CREDIT = 1_000_000;

/**
 * `a − b` for credit amounts, exact to the micro as the library computes it
 * (integer micros, then ÷ 10⁶), so 0.3 − 0.1 is 0.2, not 0.19999999999999998.
 */
export const creditDiff = (a, b) => (Math.round(a * MICROS_PER_CREDIT) - Math.round(b * MICROS_PER_CREDIT)) / MICROS_PER_CREDIT;

/**
 * The exact `getCreditBalance` result of one pool: every figure 0 unless
 * `figures` gives it, and `availableBalance` always derived from the given
 * `currentBalance` and `reservedAmount` (it may not be passed in).
 *
 *     poolBalance("c1", "ws-1", { currentBalance: 40, totalGranted: 40 })
 */
export function poolBalance(customerId, resourceId, figures = {}, currencyId = CURRENCY) {
  assert.ok(!("availableBalance" in figures), "availableBalance is derived from currentBalance − reservedAmount; pass those instead");
  const balance = {
    customerId,
    resourceId,
    currencyId,
    currentBalance: 0,
    totalGranted: 0,
    totalConsumed: 0,
    totalExpired: 0,
    totalVoided: 0,
    reservedAmount: 0,
    ...figures,
  };
  return { ...balance, availableBalance: creditDiff(balance.currentBalance, balance.reservedAmount) };
}

/**
 * The `getCreditBalance` result of a pool that never held anything. Do not
 * spread it and override `currentBalance` (its `availableBalance` would stay
 * 0): use `poolBalance` with the figures.
 */
export const zeroBalance = (customerId, resourceId, currencyId = CURRENCY) => poolBalance(customerId, resourceId, {}, currencyId);

/** A synchronous store over a Map: get/put return plain values. */
export function memoryKv(map = new Map()) {
  const stats = { gets: 0, puts: 0 };
  const kv = {
    get(key) {
      stats.gets += 1;
      return map.get(key);
    },
    put(key, value) {
      stats.puts += 1;
      map.set(key, value);
    },
  };
  return { kv, map, stats };
}

/**
 * A store whose get/put return Promises that settle on a later macrotask
 * (get: setImmediate, put: setTimeout 0), like a remote KV. The value is read
 * and written when the Promise settles, not when the call is made.
 */
export function asyncKv(map = new Map()) {
  const stats = { gets: 0, puts: 0, inFlight: 0, maxInFlight: 0 };
  const enter = () => {
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
  };
  const kv = {
    get(key) {
      stats.gets += 1;
      enter();
      return new Promise((resolve) =>
        setImmediate(() => {
          stats.inFlight -= 1;
          resolve(map.get(key));
        }),
      );
    },
    put(key, value) {
      stats.puts += 1;
      enter();
      return new Promise((resolve) =>
        setTimeout(() => {
          stats.inFlight -= 1;
          map.set(key, value);
          resolve();
        }, 0),
      );
    },
  };
  return { kv, map, stats };
}

/** A clock the test moves by hand: `now()` is what the ledger reads. */
export function clock(startMs = T0) {
  let t = startMs;
  return {
    now: () => t,
    set(ms) {
      t = typeof ms === "number" ? ms : Date.parse(ms);
    },
    advance(ms) {
      t += ms;
    },
    get ms() {
      return t;
    },
  };
}

/** The store's contents as sorted `[key, value]` pairs, for byte-exact comparison. */
export function snapshot(map) {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A ledger over `kv` with the fixture catalog and the given clock. */
export function makeLedger({ kv, clk = clock(), catalog = CATALOG, keyPrefix } = {}) {
  const options = { kv, catalog, now: clk.now };
  if (keyPrefix !== undefined) options.keyPrefix = keyPrefix;
  return new CreditLedger(options);
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

/**
 * Replaces every random UUID in `value` by `<id:N>`, N counting distinct ids in
 * order of first appearance, so two runs of one script compare equal.
 */
export function normalizeIds(value) {
  const seen = new Map();
  const text = JSON.stringify(value).replace(UUID, (id) => {
    if (!seen.has(id)) seen.set(id, seen.size);
    return `<id:${seen.get(id)}>`;
  });
  return JSON.parse(text);
}

/**
 * Asserts that `promise` rejects with a CreditPoolsError of `code` (and, when
 * given, `field`). Returns the error for further checks.
 */
export async function rejectsWith(promise, code, field) {
  let caught;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof Error, `expected an Error, got ${caught}`);
  assert.equal(caught.name, "CreditPoolsError", caught.message);
  assert.equal(caught.code, code, caught.message);
  if (field !== undefined) assert.equal(caught.field, field, caught.message);
  return caught;
}

/** Same as `rejectsWith`, for a synchronous throw (the constructor). */
export function throwsWith(fn, code, field) {
  let caught;
  assert.throws(fn, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof Error, `expected an Error, got ${caught}`);
  assert.equal(caught.name, "CreditPoolsError", caught.message);
  assert.equal(caught.code, code, caught.message);
  if (field !== undefined) assert.equal(caught.field, field, caught.message);
  return caught;
}

/** Every event of a scope's ledger, oldest first (pages through the cursor). */
export async function allEvents(ledger, query) {
  const events = [];
  let cursor;
  for (let guard = 0; guard < 1000; guard += 1) {
    const page = await ledger.getCreditLedger({ ...query, order: "ASC", limit: 1000, ...(cursor ? { cursor } : {}) });
    events.push(...page.events);
    if (page.nextCursor === null) return events;
    cursor = page.nextCursor;
  }
  throw new Error("getCreditLedger never stopped paging");
}

/** Events reduced to what the burn-order and isolation tests compare. */
export const brief = (events) => events.map((e) => [e.eventType, e.amount, e.creditGrantId]);

/** The grants of a scope, all pages. */
export async function allGrants(ledger, query) {
  const grants = [];
  let cursor;
  for (let guard = 0; guard < 1000; guard += 1) {
    const page = await ledger.getCreditGrants({ ...query, limit: 1000, ...(cursor ? { cursor } : {}) });
    grants.push(...page.grants);
    if (page.nextCursor === null) return grants;
    cursor = page.nextCursor;
  }
  throw new Error("getCreditGrants never stopped paging");
}

/** The grant with `id` among the scope's grants (fails if absent). */
export async function grantById(ledger, query, id) {
  const grant = (await allGrants(ledger, query)).find((g) => g.id === id);
  assert.ok(grant, `grant ${id} not found`);
  return grant;
}

/** A write result without its `events`, to compare the rest of it whole. */
export function withoutEvents(result) {
  assert.ok(Array.isArray(result.events), `a write result carries an events array, got ${JSON.stringify(result.events)}`);
  const { events: _events, ...rest } = result;
  return rest;
}

/** The `type` of each event, in order. */
export const eventTypes = (events) => events.map((e) => e.type);

/**
 * Asserts that `events` (a write result's `events`, or what `onEvent` received)
 * equal `expected` exactly, where each expected event leaves out `messageId`:
 * every actual `messageId` must be a non-empty string, and no two alike.
 */
export function assertEvents(events, expected, message) {
  assert.ok(Array.isArray(events), `events is an array, got ${JSON.stringify(events)}`);
  const ids = events.map((e) => e.messageId);
  for (const id of ids) assert.ok(typeof id === "string" && id.length > 0, `messageId ${JSON.stringify(id)} is a non-empty string`);
  assert.equal(new Set(ids).size, ids.length, `messageIds are unique: ${ids.join(", ")}`);
  assert.deepEqual(
    events.map(({ messageId: _id, ...rest }) => rest),
    expected,
    message,
  );
}
