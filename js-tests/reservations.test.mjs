// Reservations (reserveCredits / settleReservation / releaseReservation) and
// `requireBalance` debits, through the package by name, with exact values.
//
// Run: cd /work/main && node --test js-tests/reservations.test.mjs

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import {
  CATALOG,
  CURRENCY,
  CURRENCY_2,
  FEATURE,
  MS_DAY,
  MS_SECOND,
  T0,
  allEvents,
  allGrants,
  assertEvents,
  asyncKv,
  clock,
  iso,
  makeLedger,
  memoryKv,
  poolBalance,
  rejectsWith,
  snapshot,
  withoutEvents,
} from "./helpers.mjs";

/** The fixture catalog plus a plan whose pool holds exactly 10 credits a month. */
const TEN_CATALOG = Object.freeze({
  currencies: CATALOG.currencies,
  plans: [
    ...CATALOG.plans,
    {
      id: "plan-ten",
      credits: [{ currencyId: CURRENCY, amount: 10, cadence: "MONTH" }],
      creditRates: [{ featureId: FEATURE, currencyId: CURRENCY, amount: 1 }],
    },
  ],
});

/** A fresh ledger over an in-memory kv on a clock at `start`. */
function setup({ start = T0, catalog = CATALOG } = {}) {
  const { kv, map } = memoryKv();
  const clk = clock(start);
  const ledger = makeLedger({ kv, clk, catalog });
  return { kv, map, clk, ledger };
}

const balanceOf = (ledger, scope, currencyId = CURRENCY) => ledger.getCreditBalance({ ...scope, currencyId });

/** A ledger event of `scope` as getCreditLedger returns it. */
const ledgerEvent = (scope, fields) => ({
  customerId: scope.customerId,
  resourceId: scope.resourceId ?? null,
  currencyId: CURRENCY,
  featureId: null,
  eventId: null,
  ...fields,
});

// ---------------------------------------------------------------------------
describe("reservations: the LLM-style flow", () => {
  test("reserve 1,000 of 5,000, check, settle 640: 640 leaves through one CREDITS_CONSUMED, 360 returns, the reservation is gone", async () => {
    const { map, clk, ledger } = setup();
    const scope = { customerId: "cust-llm", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" }); // no credits, 1 credit per unit
    const grant = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 5000, grantType: "PAID" });
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-llm", "ws-1", { currentBalance: 5000, totalGranted: 5000 }));

    // Reserve before the call.
    clk.advance(MS_SECOND);
    const reserved = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 1000, ttlMs: 60_000, idempotencyKey: "llm-req-1" });
    const { reservationId } = reserved;
    assert.equal(typeof reservationId, "string");
    assert.ok(reservationId.length > 0);
    assert.deepEqual(reserved, {
      reservationId,
      customerId: "cust-llm",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      amount: 1000,
      expiresAt: iso(T0 + MS_SECOND + 60_000),
      availableBalance: 4000,
      // Nothing was consumed or granted: no host event is due.
      events: [],
    });

    // The balance is untouched; only what is available shrank.
    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-llm", "ws-1", { currentBalance: 5000, totalGranted: 5000, reservedAmount: 1000 }),
    );
    assert.equal((await balanceOf(ledger, scope)).availableBalance, 4000);

    // Entitlement is judged on 5000 − 1000.
    const entitlement = {
      customerId: "cust-llm",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      hasAccess: true,
      accessDeniedReason: null,
      requestedUsage: 4000,
      usageLimit: 5000,
      currentUsage: 0,
      currentBalance: 5000,
      reservedAmount: 1000,
      hasSoftLimit: false,
      usagePeriodEnd: null,
    };
    const before = snapshot(map);
    assert.deepEqual(await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY, requestedUsage: 4001 }), {
      ...entitlement,
      hasAccess: false,
      accessDeniedReason: "InsufficientCredits",
      requestedUsage: 4001,
    });
    assert.deepEqual(await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY, requestedUsage: 4000 }), entitlement);

    // Estimates see the reservation too: 4001 exceeds 5000 − 1000, 4000 does not.
    const estimate = (value, balanceAfterEstimate, wouldOverdraft) => ({
      customerId: "cust-llm",
      resourceId: "ws-1",
      featureId: FEATURE,
      estimates: [{ currencyId: CURRENCY, estimatedCost: value, currentBalance: 5000, balanceAfterEstimate, wouldOverdraft, reservedAmount: 1000 }],
    });
    assert.deepEqual(await ledger.estimateUsageCost({ ...scope, featureId: FEATURE, value: 4001 }), estimate(4001, 999, true));
    assert.deepEqual(await ledger.estimateUsageCost({ ...scope, featureId: FEATURE, value: 4000 }), estimate(4000, 1000, false));
    assert.deepEqual(snapshot(map), before, "reads write nothing");

    // Settle what the call really cost.
    clk.advance(MS_SECOND);
    const settledAt = T0 + 2 * MS_SECOND;
    const settled = await ledger.settleReservation({ reservationId, amount: 640 });
    assert.deepEqual(withoutEvents(settled), {
      reservationId,
      customerId: "cust-llm",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      settledAmount: 640,
      releasedAmount: 360,
      credit: { currencyId: CURRENCY, consumed: 640, currentUsage: 640, usageLimit: 5000, currentBalance: 4360, timestamp: iso(settledAt) },
    });
    assertEvents(settled.events, []);

    // Down by exactly 640; nothing is held any more.
    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-llm", "ws-1", { currentBalance: 4360, totalGranted: 5000, totalConsumed: 640 }),
    );
    assert.equal((await balanceOf(ledger, scope)).reservedAmount, 0);
    assert.equal((await balanceOf(ledger, scope)).availableBalance, 4360);

    // One CREDITS_CONSUMED of 640, carrying the reservation id as its eventId.
    assert.deepEqual(await allEvents(ledger, scope), [
      ledgerEvent(scope, { seq: 0, eventType: "CREDITS_GRANTED", amount: 5000, creditGrantId: grant.id, timestamp: iso(T0) }),
      ledgerEvent(scope, { seq: 1, eventType: "CREDITS_CONSUMED", amount: 640, creditGrantId: grant.id, eventId: reservationId, timestamp: iso(settledAt) }),
    ]);

    // The reservation is gone: it resolves once.
    const after = snapshot(map);
    clk.advance(MS_SECOND);
    await rejectsWith(ledger.settleReservation({ reservationId, amount: 640 }), "INVALID_STATE");
    await rejectsWith(ledger.settleReservation({ reservationId, amount: 0 }), "INVALID_STATE");
    await rejectsWith(ledger.releaseReservation({ reservationId }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), after);
    assert.equal((await balanceOf(ledger, scope)).currentBalance, 4360);
  });

  test("settling follows the burn order across grants; every CREDITS_CONSUMED carries the reservation id", async () => {
    const { clk, ledger } = setup();
    const scope = { customerId: "cust-llm-burn", resourceId: "ws-1" };
    const lasting = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 100, grantType: "PAID" });
    const expiring = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 50, grantType: "PAID", expireAt: T0 + MS_DAY });
    clk.advance(MS_SECOND);
    const { reservationId } = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 120, ttlMs: 60_000, idempotencyKey: "r-burn" });
    clk.advance(MS_SECOND);
    const settledAt = T0 + 2 * MS_SECOND;
    const settled = await ledger.settleReservation({ reservationId, amount: 120 });
    assert.deepEqual(withoutEvents(settled), {
      reservationId,
      customerId: "cust-llm-burn",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      settledAmount: 120,
      releasedAmount: 0,
      credit: { currencyId: CURRENCY, consumed: 120, currentUsage: 120, usageLimit: 150, currentBalance: 30, timestamp: iso(settledAt) },
    });
    const consumed = await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] });
    // The grant that expires sooner burns first.
    assert.deepEqual(consumed, [
      ledgerEvent(scope, { seq: 2, eventType: "CREDITS_CONSUMED", amount: 50, creditGrantId: expiring.id, eventId: reservationId, timestamp: iso(settledAt) }),
      ledgerEvent(scope, { seq: 3, eventType: "CREDITS_CONSUMED", amount: 70, creditGrantId: lasting.id, eventId: reservationId, timestamp: iso(settledAt) }),
    ]);
    assert.deepEqual(
      (await allGrants(ledger, scope)).map((g) => [g.id, g.consumedAmount]).sort(),
      [
        [lasting.id, 70],
        [expiring.id, 50],
      ].sort(),
    );
  });

  test("releaseReservation returns everything: nothing is consumed, no ledger event", async () => {
    const { map, clk, ledger } = setup();
    const scope = { customerId: "cust-llm-release" };
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 80, grantType: "PAID" });
    const { reservationId } = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 30, ttlMs: 1_000, idempotencyKey: "r-rel" });
    const eventsBefore = await allEvents(ledger, scope);
    clk.advance(10);
    const released = await ledger.releaseReservation({ reservationId });
    assert.deepEqual(withoutEvents(released), {
      reservationId,
      customerId: "cust-llm-release",
      resourceId: null,
      currencyId: CURRENCY,
      settledAmount: 0,
      releasedAmount: 30,
      credit: { currencyId: CURRENCY, consumed: 0, currentUsage: 0, usageLimit: 80, currentBalance: 80, timestamp: iso(T0 + 10) },
    });
    assertEvents(released.events, []);
    assert.deepEqual(await allEvents(ledger, scope), eventsBefore);
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-llm-release", null, { currentBalance: 80, totalGranted: 80 }));
    const after = snapshot(map);
    await rejectsWith(ledger.releaseReservation({ reservationId }), "INVALID_STATE");
    await rejectsWith(ledger.settleReservation({ reservationId, amount: 1 }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), after);
  });
});

// ---------------------------------------------------------------------------
describe("reservations: hard limit under concurrency", () => {
  /** Splits settled promises into values and rejection codes (checking each rejection is a CreditPoolsError). */
  function outcomes(settled) {
    const values = settled.filter((s) => s.status === "fulfilled").map((s) => s.value);
    const errors = settled.filter((s) => s.status === "rejected").map((s) => s.reason);
    for (const error of errors) assert.equal(error.name, "CreditPoolsError", error.message);
    return { values, codes: errors.map((e) => e.code) };
  }

  test("100 concurrent consumeCredits of 1 with requireBalance on a pool of exactly 10, through an async kv: 10 apply, 90 INSUFFICIENT_CREDITS", async () => {
    const store = asyncKv();
    const ledger = makeLedger({ kv: store.kv, clk: clock(T0) });
    const scope = { customerId: "cust-hard", resourceId: "ws-1" };
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID" });
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-hard", "ws-1", { currentBalance: 10, totalGranted: 10 }));

    const keys = Array.from({ length: 100 }, (_, i) => `job-${i}`);
    const { values, codes } = outcomes(
      await Promise.allSettled(
        keys.map((idempotencyKey) => ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 1, requireBalance: true, idempotencyKey })),
      ),
    );
    assert.equal(values.length, 10);
    assert.deepEqual(codes, Array(90).fill("INSUFFICIENT_CREDITS"));
    assert.ok(values.every((v) => v.amount === 1 && v.credit.consumed === 1));
    // Each applied debit saw a distinct balance: 9, 8, …, 0.
    assert.deepEqual(values.map((v) => v.credit.currentBalance).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-hard", "ws-1", { currentBalance: 0, totalGranted: 10, totalConsumed: 10 }),
    );
    const consumed = await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] });
    assert.equal(consumed.length, 10);
    assert.ok(consumed.every((e) => e.amount === 1));
    assert.equal(new Set(consumed.map((e) => e.eventId)).size, 10);
    assert.ok(consumed.every((e) => keys.includes(e.eventId)));
    // Never an overdraft.
    assert.deepEqual((await allGrants(ledger, scope)).map((g) => g.grantType), ["PAID"]);
  });

  test("the same with reportUsage + requireBalance on a subscribed pool of exactly 10", async () => {
    const store = asyncKv();
    const ledger = makeLedger({ kv: store.kv, clk: clock(T0), catalog: TEN_CATALOG });
    const scope = { customerId: "cust-hard-usage", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-ten" });
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-hard-usage", "ws-1", { currentBalance: 10, totalGranted: 10 }));

    const keys = Array.from({ length: 100 }, (_, i) => `call-${i}`);
    const { values, codes } = outcomes(
      await Promise.allSettled(
        keys.map((idempotencyKey) => ledger.reportUsage({ ...scope, featureId: FEATURE, value: 1, requireBalance: true, idempotencyKey })),
      ),
    );
    assert.equal(values.length, 10);
    assert.deepEqual(codes, Array(90).fill("INSUFFICIENT_CREDITS"));
    assert.ok(values.every((v) => v.credit.consumed === 1));
    assert.deepEqual(values.map((v) => v.credit.currentBalance).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-hard-usage", "ws-1", { currentBalance: 0, totalGranted: 10, totalConsumed: 10 }),
    );
    const consumed = await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] });
    assert.equal(consumed.length, 10);
    assert.ok(consumed.every((e) => e.amount === 1 && e.featureId === FEATURE));
    assert.equal(new Set(consumed.map((e) => e.eventId)).size, 10);
    assert.ok(consumed.every((e) => keys.includes(e.eventId)));
    assert.deepEqual((await allGrants(ledger, scope)).map((g) => g.grantType), ["RECURRING"]);
  });

  test("100 concurrent reserveCredits of 1 on a pool of exactly 10: 10 held, 90 INSUFFICIENT_CREDITS, balance untouched", async () => {
    const store = asyncKv();
    const ledger = makeLedger({ kv: store.kv, clk: clock(T0) });
    const scope = { customerId: "cust-hard-reserve", resourceId: "ws-1" };
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID" });
    const { values, codes } = outcomes(
      await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) =>
          ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 1, ttlMs: 60_000, idempotencyKey: `hold-${i}` }),
        ),
      ),
    );
    assert.equal(values.length, 10);
    assert.deepEqual(codes, Array(90).fill("INSUFFICIENT_CREDITS"));
    assert.equal(new Set(values.map((v) => v.reservationId)).size, 10);
    assert.deepEqual(values.map((v) => v.availableBalance).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-hard-reserve", "ws-1", { currentBalance: 10, totalGranted: 10, reservedAmount: 10 }),
    );
    assert.deepEqual(await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] }), []);
  });
});

// ---------------------------------------------------------------------------
describe("reservations: rules", () => {
  test("a held reservation counts against other reservations and requireBalance debits; after release they are admitted", async () => {
    const { map, clk, ledger } = setup();
    const scope = { customerId: "cust-rules", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" });
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 100, grantType: "PAID" });
    const held = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 60, ttlMs: 60_000, idempotencyKey: "hold-60" });
    assert.equal(held.availableBalance, 40);

    // 41 > 100 − 60: refused, and nothing changes.
    const before = snapshot(map);
    await rejectsWith(ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 41, ttlMs: 60_000, idempotencyKey: "hold-41" }), "INSUFFICIENT_CREDITS");
    await rejectsWith(ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 41, requireBalance: true, idempotencyKey: "debit-41" }), "INSUFFICIENT_CREDITS");
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE, value: 41, requireBalance: true, idempotencyKey: "usage-41" }), "INSUFFICIENT_CREDITS");
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE, value: "40.000001", requireBalance: true }), "INSUFFICIENT_CREDITS");
    assert.deepEqual(snapshot(map), before);
    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-rules", "ws-1", { currentBalance: 100, totalGranted: 100, reservedAmount: 60 }),
    );

    // Exactly what is available is admitted (a reservation of 40 takes it to 0), then released again.
    const exact = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 40, ttlMs: 60_000, idempotencyKey: "hold-40" });
    assert.equal(exact.availableBalance, 0);
    await rejectsWith(ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: "0.000001", ttlMs: 60_000, idempotencyKey: "hold-tiny" }), "INSUFFICIENT_CREDITS");
    await ledger.releaseReservation({ reservationId: exact.reservationId });

    // Released: the refused calls go through, with the same idempotency keys (a refusal recorded none).
    clk.advance(MS_SECOND);
    const released = await ledger.releaseReservation({ reservationId: held.reservationId });
    assert.deepEqual([released.settledAmount, released.releasedAmount], [0, 60]);
    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-rules", "ws-1", { currentBalance: 100, totalGranted: 100 }),
    );
    const hold41 = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 41, ttlMs: 60_000, idempotencyKey: "hold-41" });
    assert.equal(hold41.availableBalance, 59);
    const debit = await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 41, requireBalance: true, idempotencyKey: "debit-41" });
    assert.equal(debit.credit.consumed, 41);
    assert.equal(debit.credit.currentBalance, 59);
    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-rules", "ws-1", { currentBalance: 59, totalGranted: 100, totalConsumed: 41, reservedAmount: 41 }),
    );
    // 18 left available: 18.000001 is refused, 18 is admitted.
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE, value: "18.000001", requireBalance: true, idempotencyKey: "usage-41" }), "INSUFFICIENT_CREDITS");
    const usage = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 18, requireBalance: true, idempotencyKey: "usage-41" });
    assert.equal(usage.credit.consumed, 18);
    assert.equal(usage.credit.currentBalance, 41);
    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-rules", "ws-1", { currentBalance: 41, totalGranted: 100, totalConsumed: 59, reservedAmount: 41 }),
    );
    assert.equal((await balanceOf(ledger, scope)).availableBalance, 0);
    // Nothing overdrafted.
    assert.ok((await allGrants(ledger, scope)).every((g) => g.grantType !== "OVERDRAFT"));
  });

  test("a reservation holds until expiresAt exactly (injectable clock); from then on settling or releasing it is INVALID_STATE", async () => {
    const { map, clk, ledger } = setup();
    const scope = { customerId: "cust-expiry", resourceId: "ws-1" };
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 100, grantType: "PAID" });
    const ttlMs = 30_000;
    const expiresAtMs = T0 + ttlMs;
    const first = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 20, ttlMs, idempotencyKey: "r-first" });
    const second = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 30, ttlMs, idempotencyKey: "r-second" });
    assert.deepEqual([first.expiresAt, second.expiresAt], [iso(expiresAtMs), iso(expiresAtMs)]);
    assert.equal(second.availableBalance, 50);

    // One millisecond before: still held, and still settleable.
    clk.set(expiresAtMs - 1);
    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-expiry", "ws-1", { currentBalance: 100, totalGranted: 100, reservedAmount: 50 }),
    );
    const settled = await ledger.settleReservation({ reservationId: first.reservationId, amount: 5 });
    assert.deepEqual([settled.settledAmount, settled.releasedAmount, settled.credit.currentBalance], [5, 15, 95]);
    await rejectsWith(ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 66, ttlMs, idempotencyKey: "r-third" }), "INSUFFICIENT_CREDITS");

    // At expiresAt exactly: the hold is gone for reads, with no write needed.
    clk.set(expiresAtMs);
    const atExpiry = snapshot(map);
    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-expiry", "ws-1", { currentBalance: 95, totalGranted: 100, totalConsumed: 5 }),
    );
    assert.equal((await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY, requestedUsage: 95 })).hasAccess, true);
    assert.deepEqual(snapshot(map), atExpiry);

    // Settling or releasing the expired one fails and writes nothing.
    await rejectsWith(ledger.settleReservation({ reservationId: second.reservationId, amount: 30 }), "INVALID_STATE");
    await rejectsWith(ledger.settleReservation({ reservationId: second.reservationId, amount: 0 }), "INVALID_STATE");
    await rejectsWith(ledger.releaseReservation({ reservationId: second.reservationId }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), atExpiry);

    // What it held is available to others at once: 95 may be reserved now.
    const third = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 95, ttlMs, idempotencyKey: "r-third" });
    assert.equal(third.availableBalance, 0);
    assert.equal(third.expiresAt, iso(expiresAtMs + ttlMs));
    // And still not consumed: the ledger holds the grant and the single settled debit.
    assert.deepEqual((await allEvents(ledger, scope)).map((e) => [e.eventType, e.amount, e.eventId]), [
      ["CREDITS_GRANTED", 100, null],
      ["CREDITS_CONSUMED", 5, first.reservationId],
    ]);
  });

  test("an idempotent repeat of reserveCredits answers the same reservationId and expiresAt and holds nothing more; another payload with the key conflicts", async () => {
    const { map, clk, ledger } = setup();
    const scope = { customerId: "cust-idem-rsv", resourceId: "ws-1" };
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 100, grantType: "PAID" });
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY_2, amount: 100, grantType: "PAID" });
    const input = { ...scope, currencyId: CURRENCY, amount: 25, ttlMs: 120_000, idempotencyKey: "req-1" };
    const first = await ledger.reserveCredits(input);
    assert.deepEqual(withoutEvents(first), {
      reservationId: first.reservationId,
      customerId: "cust-idem-rsv",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      amount: 25,
      expiresAt: iso(T0 + 120_000),
      availableBalance: 75,
    });

    const before = snapshot(map);
    clk.advance(10 * MS_SECOND);
    const again = await ledger.reserveCredits(input);
    assert.deepEqual(withoutEvents(again), withoutEvents(first));
    assert.deepEqual(again.events, []);
    assert.deepEqual(await ledger.reserveCredits({ ...input, amount: "25.000000" }).then(withoutEvents), withoutEvents(first));
    assert.deepEqual(snapshot(map), before, "a repeat writes nothing");
    assert.deepEqual(
      await balanceOf(ledger, scope),
      poolBalance("cust-idem-rsv", "ws-1", { currentBalance: 100, totalGranted: 100, reservedAmount: 25 }),
    );

    // Another payload with the same key: refused, nothing written.
    await rejectsWith(ledger.reserveCredits({ ...input, amount: 26 }), "IDEMPOTENCY_CONFLICT");
    await rejectsWith(ledger.reserveCredits({ ...input, ttlMs: 120_001 }), "IDEMPOTENCY_CONFLICT");
    await rejectsWith(ledger.reserveCredits({ ...input, currencyId: CURRENCY_2 }), "IDEMPOTENCY_CONFLICT");
    await rejectsWith(ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 25, idempotencyKey: "req-1" }), "IDEMPOTENCY_CONFLICT");
    assert.deepEqual(snapshot(map), before);

    // Still the same answer after the key left the head's window of recent keys.
    for (let i = 0; i < 20; i += 1) {
      await ledger.consumeCredits({ ...scope, currencyId: CURRENCY_2, amount: 1, idempotencyKey: `filler-${i}` });
    }
    clk.advance(MS_SECOND);
    const late = await ledger.reserveCredits(input);
    assert.deepEqual(
      [late.reservationId, late.expiresAt, late.amount, late.availableBalance],
      [first.reservationId, iso(T0 + 120_000), 25, 75],
    );
    await rejectsWith(ledger.reserveCredits({ ...input, amount: 26 }), "IDEMPOTENCY_CONFLICT");
    assert.equal((await balanceOf(ledger, scope)).reservedAmount, 25);

    // The answered reservation is the real one: settling it works once.
    const settled = await ledger.settleReservation({ reservationId: first.reservationId, amount: 25 });
    assert.deepEqual([settled.settledAmount, settled.releasedAmount], [25, 0]);
    await rejectsWith(ledger.settleReservation({ reservationId: first.reservationId, amount: 25 }), "INVALID_STATE");
  });

  test("failed calls leave the kv byte for byte unchanged", async () => {
    const { map, clk, ledger } = setup();
    const scope = { customerId: "cust-fail", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" });
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID" });
    const held = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 4, ttlMs: 5_000, idempotencyKey: "held" });
    const done = await ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 1, ttlMs: 5_000, idempotencyKey: "done" });
    await ledger.releaseReservation({ reservationId: done.reservationId });
    clk.advance(MS_SECOND);

    const before = snapshot(map);
    const reserve = (fields) => ledger.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 1, ttlMs: 5_000, idempotencyKey: "new", ...fields });
    // INSUFFICIENT_CREDITS
    await rejectsWith(reserve({ amount: 7 }), "INSUFFICIENT_CREDITS");
    await rejectsWith(ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 7, requireBalance: true, idempotencyKey: "c" }), "INSUFFICIENT_CREDITS");
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE, value: 7, requireBalance: true, idempotencyKey: "u" }), "INSUFFICIENT_CREDITS");
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE, value: 7, requireBalance: true }), "INSUFFICIENT_CREDITS");
    // IDEMPOTENCY_CONFLICT
    await rejectsWith(reserve({ idempotencyKey: "held" }), "IDEMPOTENCY_CONFLICT");
    // INVALID_ARGUMENT
    await rejectsWith(ledger.settleReservation({ reservationId: held.reservationId, amount: 5 }), "INVALID_ARGUMENT", "amount");
    await rejectsWith(ledger.settleReservation({ reservationId: held.reservationId, amount: "4.000001" }), "INVALID_ARGUMENT", "amount");
    await rejectsWith(ledger.settleReservation({ reservationId: held.reservationId, amount: -1 }), "INVALID_ARGUMENT", "amount");
    await rejectsWith(reserve({ amount: 0 }), "INVALID_ARGUMENT", "amount");
    await rejectsWith(reserve({ ttlMs: 0 }), "INVALID_ARGUMENT", "ttlMs");
    // NOT_FOUND
    await rejectsWith(ledger.settleReservation({ reservationId: "rsv-unknown", amount: 1 }), "NOT_FOUND");
    await rejectsWith(ledger.releaseReservation({ reservationId: "rsv-unknown" }), "NOT_FOUND");
    // INVALID_STATE
    await rejectsWith(ledger.settleReservation({ reservationId: done.reservationId, amount: 1 }), "INVALID_STATE");
    await rejectsWith(ledger.releaseReservation({ reservationId: done.reservationId }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), before);

    // The held reservation survived every failure and still settles.
    const settled = await ledger.settleReservation({ reservationId: held.reservationId, amount: 4 });
    assert.deepEqual([settled.settledAmount, settled.releasedAmount, settled.credit.currentBalance], [4, 0, 6]);
  });
});

// ---------------------------------------------------------------------------
describe("reservations: across instances", () => {
  for (const [name, makeStore] of [
    ["sync kv", memoryKv],
    ["async kv", asyncKv],
  ]) {
    test(`${name}: a second CreditLedger over the same kv sees, settles and releases reservations the first made`, async () => {
      const { kv, map } = makeStore();
      const clk = clock(T0);
      const first = makeLedger({ kv, clk });
      const second = makeLedger({ kv, clk });
      const scope = { customerId: "cust-two", resourceId: "ws-1" };
      const grant = await first.grantCredits({ ...scope, currencyId: CURRENCY, amount: 500, grantType: "PAID" });
      const a = await first.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 200, ttlMs: 60_000, idempotencyKey: "a" });
      const b = await first.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 100, ttlMs: 60_000, idempotencyKey: "b" });
      const held = poolBalance("cust-two", "ws-1", { currentBalance: 500, totalGranted: 500, reservedAmount: 300 });
      assert.deepEqual(await balanceOf(second, scope), held);
      // The second instance refuses what the first's reservations hold.
      await rejectsWith(second.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 201, ttlMs: 60_000, idempotencyKey: "c" }), "INSUFFICIENT_CREDITS");
      // And repeats the first's reservation by key.
      const repeat = await second.reserveCredits({ ...scope, currencyId: CURRENCY, amount: 200, ttlMs: 60_000, idempotencyKey: "a" });
      assert.deepEqual([repeat.reservationId, repeat.expiresAt], [a.reservationId, a.expiresAt]);

      clk.advance(MS_SECOND);
      const settled = await second.settleReservation({ reservationId: a.reservationId, amount: 150.5 });
      assert.deepEqual(withoutEvents(settled), {
        reservationId: a.reservationId,
        customerId: "cust-two",
        resourceId: "ws-1",
        currencyId: CURRENCY,
        settledAmount: 150.5,
        releasedAmount: 49.5,
        credit: { currencyId: CURRENCY, consumed: 150.5, currentUsage: 150.5, usageLimit: 500, currentBalance: 349.5, timestamp: iso(T0 + MS_SECOND) },
      });
      const released = await second.releaseReservation({ reservationId: b.reservationId });
      assert.deepEqual([released.settledAmount, released.releasedAmount], [0, 100]);

      // Both instances see the outcome, and the first cannot resolve them again.
      const after = poolBalance("cust-two", "ws-1", { currentBalance: 349.5, totalGranted: 500, totalConsumed: 150.5 });
      assert.deepEqual(await balanceOf(first, scope), after);
      assert.deepEqual(await balanceOf(second, scope), after);
      const stored = snapshot(map);
      await rejectsWith(first.settleReservation({ reservationId: a.reservationId, amount: 1 }), "INVALID_STATE");
      await rejectsWith(first.releaseReservation({ reservationId: b.reservationId }), "INVALID_STATE");
      assert.deepEqual(snapshot(map), stored);
      assert.deepEqual(await allEvents(first, { ...scope, eventType: ["CREDITS_CONSUMED"] }), [
        ledgerEvent(scope, { seq: 1, eventType: "CREDITS_CONSUMED", amount: 150.5, creditGrantId: grant.id, eventId: a.reservationId, timestamp: iso(T0 + MS_SECOND) }),
      ]);
    });
  }
});

// ---------------------------------------------------------------------------
/** FNV-1a, 64 bits, lower-case hex: the fingerprint the library stores for an idempotency key's payload. */
function fnv1a64(text) {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, "0");
}

describe("requireBalance: stored data of the previous release", () => {
  test(
    "a keyed reportUsage retried with requireBalance added is still a repeat: the flag does not identify the usage",
    async () => {
      const { map, clk, ledger } = setup();
      const scope = { customerId: "cust-upgrade", resourceId: "ws-1" };
      await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
      const use = { ...scope, featureId: FEATURE, value: 6, idempotencyKey: "before-upgrade" };
      assert.equal((await ledger.reportUsage(use)).credit.consumed, 6);
      // The stored fingerprint is FNV-1a of `${featureId}|${valueMicros}` (dimensions are appended only when given).
      const head = JSON.parse(map.get([...map.keys()].find((key) => key.endsWith("/h"))));
      const entry = head.k.find((e) => e.k === "before-upgrade"); // k: the head's recent idempotency keys
      assert.equal(entry.f, fnv1a64(`${FEATURE}|6000000`));
      const before = snapshot(map);
      clk.advance(MS_SECOND);
      const again = await ledger.reportUsage({ ...use, requireBalance: true });
      assert.equal(again.credit.consumed, 0);
      assert.equal(again.credit.currentBalance, 94);
      assert.deepEqual(snapshot(map), before);
      await rejectsWith(ledger.reportUsage({ ...use, value: 7 }), "IDEMPOTENCY_CONFLICT");
      await rejectsWith(ledger.reportUsage({ ...use, dimensions: { model: "large" } }), "IDEMPOTENCY_CONFLICT");
    },
  );
});
