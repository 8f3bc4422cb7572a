// Automatic recharge (payment model (a): a PAYMENT_PENDING grant, then
// onRecharge or confirmRecharge / failRecharge) and the events handed to the
// host (`onEvent` and each write result's `events`), with exact values.
//
// Run: cd /work/main && node --test js-tests/recharge.test.mjs

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { CreditLedger } from "credit-pools";

import {
  CATALOG,
  CURRENCY,
  CURRENCY_2,
  FEATURE,
  MS_HOUR,
  MS_SECOND,
  T0,
  allEvents,
  allGrants,
  assertEvents,
  asyncKv,
  clock,
  eventTypes,
  iso,
  memoryKv,
  rejectsWith,
  snapshot,
  throwsWith,
  withoutEvents,
} from "./helpers.mjs";

const C = "cust-arc";
const WS_A = { customerId: C, resourceId: "ws-a" };
const WS_B = { customerId: C, resourceId: "ws-b" };
const WS_C = { customerId: C, resourceId: "ws-c" };
const GLOBAL = { customerId: C };

/** Stigg's example: recharge below 20, up to 50. */
const STIGG = { customerId: C, currencyId: CURRENCY, isEnabled: true, thresholdValue: 20, targetBalance: 50 };

const T1 = T0 + MS_HOUR; // 2026-03-01T01:00:00.000Z

/**
 * A ledger over `kvPair` whose `onEvent` records every event in `seen` and
 * whose `onRecharge` (when `onRecharge` is given) records each request in `calls`.
 */
function setup({ kvPair = memoryKv(), start = T0, onRecharge, onEvent, usageLowThresholds } = {}) {
  const clk = clock(start);
  const seen = [];
  const calls = [];
  const options = { kv: kvPair.kv, catalog: CATALOG, now: clk.now, onEvent: onEvent ?? ((event) => seen.push(event)) };
  if (onRecharge) {
    options.onRecharge = (request) => {
      calls.push(request);
      return onRecharge(request);
    };
  }
  if (usageLowThresholds !== undefined) options.usageLowThresholds = usageLowThresholds;
  return { ...kvPair, clk, seen, calls, ledger: new CreditLedger(options) };
}

/** A Promise with its resolve/reject exposed, to hold a payment in flight. */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const balanceOf = async (ledger, scope, currencyId = CURRENCY) =>
  (await ledger.getCreditBalance({ ...scope, currencyId })).currentBalance;
const configOf = (ledger, customerId = C, currencyId = CURRENCY) =>
  ledger.getAutomaticRechargeConfiguration({ customerId, currencyId });
const rechargesOf = async (ledger, scope) =>
  (await allGrants(ledger, scope)).filter((g) => g.automaticRechargeConfigurationId !== null);
const grant = (ledger, scope, amount, extra = {}) =>
  ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount, grantType: "PAID", ...extra });
const consume = (ledger, scope, amount, idempotencyKey) =>
  ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount, idempotencyKey });

/** The fields every event of `scope`'s pool carries (messageId aside). */
const at = (scope, ms, currencyId = CURRENCY) => ({
  customerId: scope.customerId,
  resourceId: scope.resourceId ?? null,
  currencyId,
  timestamp: iso(ms),
});
const attempted = (scope, ms, { rechargeId, configurationId, amount, status, reason = null }) => ({
  type: "automatic_recharge.operation.attempted",
  ...at(scope, ms),
  rechargeId,
  configurationId,
  grantId: rechargeId,
  amount,
  status,
  reason,
});
const usageLow = (scope, ms, thresholdPercentage, remainingBalance, remainingBalancePercentage, grantedThisPeriod) => ({
  type: "credits.balance.usage_low",
  ...at(scope, ms),
  thresholdPercentage,
  remainingBalance,
  remainingBalancePercentage,
  grantedThisPeriod,
});
const limitExceeded = (scope, ms, configurationId, requestedAmount, allowedAmount, maxSpendLimit, currentMonthlySpend) => ({
  type: "credits.automatic_recharge_limit_exceeded",
  ...at(scope, ms),
  configurationId,
  requestedAmount,
  allowedAmount,
  maxSpendLimit,
  currentMonthlySpend,
});
const granted = (scope, ms, grantId, amount) => ({ type: "credits.granted", ...at(scope, ms), grantId, amount });
const configChanged = (scope, ms, configurationId, changedBy, isEnabled) => ({
  type: "automatic_recharge.configuration.changed",
  ...at(scope, ms),
  configurationId,
  changedBy,
  isEnabled,
});

/** The recharge grant as `getCreditGrants` lists it. */
const rechargeGrant = (scope, { id, configurationId, amount, status, createdAt, effectiveAt = createdAt, expireAt = null, voidedAt = null, consumedAmount = 0 }) => ({
  id,
  customerId: scope.customerId,
  resourceId: scope.resourceId ?? null,
  currencyId: CURRENCY,
  amount,
  consumedAmount,
  grantType: "PAID",
  status,
  priority: 0,
  effectiveAt: iso(effectiveAt),
  expireAt: expireAt === null ? null : iso(expireAt),
  createdAt: iso(createdAt),
  voidedAt: voidedAt === null ? null : iso(voidedAt),
  displayName: "Automatic recharge",
  comment: null,
  metadata: null,
  subscriptionId: null,
  automaticRechargeConfigurationId: configurationId,
});

// ---------------------------------------------------------------------------
describe("configuration", () => {
  test("defaults before any save; a save answers the configuration and a USER configuration.changed event", async () => {
    const { ledger, seen, clk } = setup();
    assert.deepEqual(await configOf(ledger), {
      id: null,
      customerId: C,
      currencyId: CURRENCY,
      isEnabled: false,
      thresholdType: "CREDIT_AMOUNT",
      thresholdValue: 0,
      targetBalance: 0,
      maxSpendLimit: null,
      grantExpirationPeriod: "1_MONTH",
      currentMonthlySpend: 0,
    });

    const saved = await ledger.saveAutomaticRechargeConfiguration({
      ...STIGG,
      thresholdType: "CREDIT_AMOUNT",
      maxSpendLimit: 500,
      grantExpirationPeriod: "1_YEAR",
    });
    assert.match(saved.id, /^arc-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const expected = {
      id: saved.id,
      customerId: C,
      currencyId: CURRENCY,
      isEnabled: true,
      thresholdType: "CREDIT_AMOUNT",
      thresholdValue: 20,
      targetBalance: 50,
      maxSpendLimit: 500,
      grantExpirationPeriod: "1_YEAR",
      currentMonthlySpend: 0,
    };
    assert.deepEqual(withoutEvents(saved), expected);
    assertEvents(saved.events, [configChanged(GLOBAL, T0, saved.id, "USER", true)]);
    assert.deepEqual(seen, saved.events);
    assert.deepEqual(await configOf(ledger), expected);

    // Saving again keeps the id; left-out optional fields fall back to their defaults.
    clk.advance(MS_SECOND);
    const off = await ledger.saveAutomaticRechargeConfiguration({ ...STIGG, isEnabled: false, thresholdValue: 0, targetBalance: "12.5" });
    assert.deepEqual(withoutEvents(off), {
      ...expected,
      isEnabled: false,
      thresholdValue: 0,
      targetBalance: 12.5,
      maxSpendLimit: null,
      grantExpirationPeriod: "1_MONTH",
    });
    assertEvents(off.events, [configChanged(GLOBAL, T0 + MS_SECOND, saved.id, "USER", false)]);
    assertEvents(seen, [...saved.events, ...off.events].map(({ messageId: _m, ...e }) => e));

    // One configuration per (customer, currency): the other currency and another customer still have none.
    assert.equal((await configOf(ledger, C, CURRENCY_2)).id, null);
    assert.equal((await configOf(ledger, "cust-other")).id, null);
  });

  test("thresholdValue ≥ targetBalance → INVALID_ARGUMENT (thresholdValue); the kv and the saved configuration are unchanged", async () => {
    const { ledger, map, seen } = setup();
    for (const [thresholdValue, targetBalance] of [[50, 50], [60, 50], ["20.000001", "20"]]) {
      const before = snapshot(map);
      await rejectsWith(
        ledger.saveAutomaticRechargeConfiguration({ ...STIGG, thresholdValue, targetBalance }),
        "INVALID_ARGUMENT",
        "thresholdValue",
      );
      assert.deepEqual(snapshot(map), before, `${thresholdValue} / ${targetBalance} with no configuration saved`);
    }
    assert.equal((await configOf(ledger)).id, null);

    const saved = await ledger.saveAutomaticRechargeConfiguration(STIGG);
    const before = snapshot(map);
    await rejectsWith(ledger.saveAutomaticRechargeConfiguration({ ...STIGG, thresholdValue: 50 }), "INVALID_ARGUMENT", "thresholdValue");
    await rejectsWith(ledger.saveAutomaticRechargeConfiguration({ ...STIGG, targetBalance: 10 }), "INVALID_ARGUMENT", "thresholdValue");
    assert.deepEqual(snapshot(map), before);
    assert.deepEqual(await configOf(ledger), withoutEvents(saved));
    assert.deepEqual(eventTypes(seen), ["automatic_recharge.configuration.changed"], "a refused save reports nothing");
  });
});

// ---------------------------------------------------------------------------
describe("recharge with onRecharge", () => {
  test("Stigg's example: 30 in ws-a, consume 15 → a PAYMENT_PENDING recharge of 35, paid in the background, tops ws-a (only) up to 50", async () => {
    let debit;
    const stateAtCall = [];
    const { ledger, clk, calls, seen } = setup({
      onRecharge: () => {
        stateAtCall.push(inspect(debit).includes("<pending>") ? "debit pending" : "debit settled");
        clk.advance(5 * MS_SECOND); // the payment takes 5 s
      },
    });
    const config = await ledger.saveAutomaticRechargeConfiguration(STIGG);
    const original = await grant(ledger, WS_A, 30);
    await grant(ledger, WS_B, 40);
    await grant(ledger, GLOBAL, 40);

    clk.set(T1);
    seen.length = 0;
    debit = consume(ledger, WS_A, 15, "job-1");
    const used = await debit;
    assert.deepEqual(withoutEvents(used), {
      customerId: C,
      resourceId: "ws-a",
      currencyId: CURRENCY,
      amount: 15,
      timestamp: iso(T1),
      // The PAYMENT_PENDING grant pays nothing: the balance is 15, not 50.
      credit: { currencyId: CURRENCY, consumed: 15, currentUsage: 15, usageLimit: 30, currentBalance: 15, timestamp: iso(T1) },
    });
    const rechargeId = used.events.find((e) => e.rechargeId)?.rechargeId;
    assert.equal(typeof rechargeId, "string");
    const recharge = { rechargeId, configurationId: config.id, amount: 35 };
    // The debit's balance events first, then its recharge.
    assertEvents(used.events, [
      usageLow(WS_A, T1, 80, 15, 50, 30), // 15 of 30 is 50 %: below 80 %, not below 50 %
      attempted(WS_A, T1, { ...recharge, status: "PENDING" }),
    ]);

    await ledger.flush();
    assert.deepEqual(calls, [
      { rechargeId, customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 35, automaticRechargeConfigurationId: config.id },
    ]);
    assert.deepEqual(stateAtCall, ["debit settled"], "onRecharge runs after the debit's Promise resolved");

    const paidAt = T1 + 5 * MS_SECOND;
    assert.equal(await balanceOf(ledger, WS_A), 50);
    assert.deepEqual(await rechargesOf(ledger, WS_A), [
      rechargeGrant(WS_A, {
        id: rechargeId,
        configurationId: config.id,
        amount: 35,
        status: "ACTIVE",
        createdAt: T1,
        effectiveAt: paidAt, // effective when paid, expiring one month later
        expireAt: Date.parse("2026-04-01T01:00:05.000Z"),
      }),
    ]);
    // The recharge entered the ledger only when it was paid.
    assert.deepEqual(
      (await allEvents(ledger, WS_A)).map((e) => [e.eventType, e.amount, e.creditGrantId, e.timestamp]),
      [
        ["CREDITS_GRANTED", 30, original.id, iso(T0)],
        ["CREDITS_CONSUMED", 15, original.id, iso(T1)],
        ["CREDITS_GRANTED", 35, rechargeId, iso(paidAt)],
      ],
    );

    // The sibling and the global pool are untouched.
    assert.equal(await balanceOf(ledger, WS_B), 40);
    assert.equal(await balanceOf(ledger, GLOBAL), 40);
    assert.deepEqual(await rechargesOf(ledger, WS_B), []);
    assert.deepEqual(await rechargesOf(ledger, GLOBAL), []);

    assert.deepEqual(await configOf(ledger), { ...withoutEvents(config), currentMonthlySpend: 35 });
    assert.deepEqual(seen.slice(0, 2), used.events, "onEvent got the debit's events, messageIds included");
    assertEvents(seen, [
      usageLow(WS_A, T1, 80, 15, 50, 30),
      attempted(WS_A, T1, { ...recharge, status: "PENDING" }),
      attempted(WS_A, paidAt, { ...recharge, status: "SUCCESS" }),
      granted(WS_A, paidAt, rechargeId, 35), // the paid recharge lifts the pool: no usage_low
    ]);

    // Back above the threshold: the next debit that stays above it starts nothing.
    clk.advance(MS_SECOND);
    const small = await consume(ledger, WS_A, 10, "job-2");
    assert.equal(small.credit.currentBalance, 40);
    assert.deepEqual(small.events, []);
    await ledger.flush();
    assert.equal(calls.length, 1);
  });

  test("the global pool is covered by the same configuration (reportUsage too); other customers and currencies are not", async () => {
    const { ledger, clk, calls } = setup({ onRecharge: () => {} });
    const config = await ledger.saveAutomaticRechargeConfiguration(STIGG);
    await ledger.provisionSubscription({ ...GLOBAL, planId: "plan-basic" }); // 100 ai-tokens, feature-ai-tokens at 1
    await ledger.provisionSubscription({ customerId: "cust-other", planId: "plan-basic" });
    await ledger.grantCredits({ ...GLOBAL, currencyId: CURRENCY_2, amount: 30, grantType: "PAID" });

    clk.set(T1);
    const usage = await ledger.reportUsage({ ...GLOBAL, featureId: FEATURE, value: 90, idempotencyKey: "u-1" });
    assert.equal(usage.credit.currentBalance, 10);
    const rechargeId = usage.events.find((e) => e.rechargeId)?.rechargeId;
    const low = (threshold) => usageLow(GLOBAL, T1, threshold, 10, 10, 100);
    assertEvents(usage.events, [
      low(80),
      low(50),
      low(20),
      attempted(GLOBAL, T1, { rechargeId, configurationId: config.id, amount: 40, status: "PENDING" }),
    ]);
    await ledger.flush();
    assert.deepEqual(calls, [
      { rechargeId, customerId: C, resourceId: null, currencyId: CURRENCY, amount: 40, automaticRechargeConfigurationId: config.id },
    ]);
    assert.equal(await balanceOf(ledger, GLOBAL), 50);

    // Another customer without a configuration, and another currency of this customer: no recharge.
    const other = await ledger.reportUsage({ customerId: "cust-other", featureId: FEATURE, value: 90, idempotencyKey: "u-1" });
    assert.equal(other.credit.currentBalance, 10);
    const images = await ledger.consumeCredits({ ...GLOBAL, currencyId: CURRENCY_2, amount: 25, idempotencyKey: "img-1" });
    assert.equal(images.credit.currentBalance, 5);
    await ledger.flush();
    for (const result of [other, images]) {
      assert.ok(!eventTypes(result.events).some((t) => t.startsWith("automatic_recharge")), JSON.stringify(result.events));
    }
    assert.equal(calls.length, 1);
    assert.deepEqual(await rechargesOf(ledger, { customerId: "cust-other" }), []);
    assert.equal(await balanceOf(ledger, GLOBAL, CURRENCY_2), 5);
  });

  for (const [label, failing] of [
    ["throws", () => {
      throw new Error("card declined");
    }],
    ["rejects", async () => {
      throw new Error("card declined");
    }],
  ]) {
    test(`a payment that ${label} "card declined": the grant is VOIDED, its spend released, the configuration disabled`, async () => {
      const { ledger, clk, calls, seen } = setup({ onRecharge: failing });
      const config = await ledger.saveAutomaticRechargeConfiguration(STIGG);
      await grant(ledger, WS_A, 30);
      clk.set(T1);
      seen.length = 0;
      const used = await consume(ledger, WS_A, 15, "job-1");
      const rechargeId = used.events.find((e) => e.rechargeId)?.rechargeId;
      const recharge = { rechargeId, configurationId: config.id, amount: 35 };
      await ledger.flush();

      assert.equal(calls.length, 1);
      assert.equal(await balanceOf(ledger, WS_A), 15);
      assert.deepEqual(await rechargesOf(ledger, WS_A), [
        rechargeGrant(WS_A, { id: rechargeId, configurationId: config.id, amount: 35, status: "VOIDED", createdAt: T1, voidedAt: T1 }),
      ]);
      assert.deepEqual(await ledger.getCreditBalance({ ...WS_A, currencyId: CURRENCY }), {
        ...WS_A,
        currencyId: CURRENCY,
        currentBalance: 15,
        totalGranted: 30,
        totalConsumed: 15,
        totalExpired: 0,
        totalVoided: 0, // the recharge never paid anything, so nothing left the pool
        reservedAmount: 0,
        availableBalance: 15, // currentBalance − reservedAmount
      });
      assert.deepEqual(await configOf(ledger), { ...withoutEvents(config), isEnabled: false, currentMonthlySpend: 0 });
      assertEvents(seen, [
        usageLow(WS_A, T1, 80, 15, 50, 30),
        attempted(WS_A, T1, { ...recharge, status: "PENDING" }),
        attempted(WS_A, T1, { ...recharge, status: "FAILED", reason: "card declined" }),
        configChanged(WS_A, T1, config.id, "SYSTEM", false),
      ]);

      // Disabled: a later debit below the threshold starts no recharge.
      clk.advance(MS_SECOND);
      const later = await consume(ledger, WS_A, 5, "job-2");
      assertEvents(later.events, [usageLow(WS_A, T1 + MS_SECOND, 50, 10, 33.33, 30)]);
      await ledger.flush();
      assert.equal(calls.length, 1);
      assert.equal((await rechargesOf(ledger, WS_A)).length, 1);

      // Until the host enables it again (same configuration id).
      const again = await ledger.saveAutomaticRechargeConfiguration(STIGG);
      assert.equal(again.id, config.id);
      await consume(ledger, WS_A, 1, "job-3");
      await ledger.flush();
      assert.equal(calls.length, 2);
      assert.equal(calls[1].amount, 41);
    });
  }

  test("a slow payment: a second debit while it is in flight starts no second recharge; flush waits for it", async () => {
    const gate = deferred();
    const { ledger, clk, calls } = setup({ onRecharge: () => gate.promise });
    const config = await ledger.saveAutomaticRechargeConfiguration(STIGG);
    await grant(ledger, WS_A, 30);
    clk.set(T1);
    const first = await consume(ledger, WS_A, 15, "job-1");
    const rechargeId = first.events.find((e) => e.rechargeId)?.rechargeId;

    let flushed = false;
    const flushing = ledger.flush().then(() => {
      flushed = true;
    });
    clk.advance(MS_SECOND);
    const second = await consume(ledger, WS_A, 10, "job-2");
    assert.equal(second.credit.currentBalance, 5);
    // 5 of 30 is 16.67 %: the 50 % and 20 % alerts, and no recharge.
    assertEvents(second.events, [usageLow(WS_A, T1 + MS_SECOND, 50, 5, 16.67, 30), usageLow(WS_A, T1 + MS_SECOND, 20, 5, 16.67, 30)]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(flushed, false, "flush() waits for the payment in flight");
    assert.equal(calls.length, 1);
    assert.deepEqual(
      (await allGrants(ledger, WS_A)).filter((g) => g.status === "PAYMENT_PENDING"),
      [rechargeGrant(WS_A, { id: rechargeId, configurationId: config.id, amount: 35, status: "PAYMENT_PENDING", createdAt: T1 })],
    );
    assert.equal(await balanceOf(ledger, WS_A), 5);
    assert.equal((await configOf(ledger)).currentMonthlySpend, 35, "pending recharges count in the month's spend");

    clk.advance(MS_SECOND);
    gate.resolve();
    await flushing;
    assert.equal(flushed, true);
    // The recharge was sized when the pool crossed (50 − 15), so the pool ends at 5 + 35.
    assert.equal(await balanceOf(ledger, WS_A), 40);
    assert.equal((await rechargesOf(ledger, WS_A))[0].status, "ACTIVE");
    assert.equal(calls.length, 1);

    // Once it is paid, the next crossing recharges again.
    clk.advance(MS_SECOND);
    const third = await consume(ledger, WS_A, 25, "job-3");
    assert.equal(third.credit.currentBalance, 15);
    await ledger.flush();
    assert.equal(calls.length, 2);
    assert.equal(calls[1].amount, 35);
    assert.equal(await balanceOf(ledger, WS_A), 50);
  });

  test("a recharge of a pool in overdraft tops it up to the target: it first settles the overdraft", async () => {
    const { ledger, clk, seen } = setup({ onRecharge: () => {} });
    const config = await ledger.saveAutomaticRechargeConfiguration(STIGG);
    const ten = await grant(ledger, WS_A, 10);
    clk.set(T1);
    seen.length = 0;
    const used = await consume(ledger, WS_A, 25, "job-1");
    assert.equal(used.credit.currentBalance, -15);
    const rechargeId = used.events.find((e) => e.rechargeId)?.rechargeId;
    const recharge = { rechargeId, configurationId: config.id, amount: 65 };
    await ledger.flush();

    const grants = await allGrants(ledger, WS_A);
    const overdraft = grants.find((g) => g.grantType === "OVERDRAFT");
    assert.deepEqual([overdraft.status, overdraft.consumedAmount, overdraft.voidedAt], ["VOIDED", 0, iso(T1)]);
    assert.equal(grants.find((g) => g.id === rechargeId).consumedAmount, 15);
    assert.deepEqual(await ledger.getCreditBalance({ ...WS_A, currencyId: CURRENCY }), {
      ...WS_A,
      currencyId: CURRENCY,
      currentBalance: 50,
      totalGranted: 75,
      totalConsumed: 25,
      totalExpired: 0,
      totalVoided: 0,
      reservedAmount: 0,
      availableBalance: 50, // currentBalance − reservedAmount
    });
    const low = (threshold) => usageLow(WS_A, T1, threshold, -15, -150, 10);
    assertEvents(seen, [
      { type: "credits.grant.depleted", ...at(WS_A, T1), grantId: ten.id, amount: 10 },
      { type: "credits.balance.depleted", ...at(WS_A, T1), currentBalance: -15 },
      low(80),
      low(50),
      low(20),
      attempted(WS_A, T1, { ...recharge, status: "PENDING" }),
      // The payment lifts the pool out of overdraft: no usage_low for it.
      attempted(WS_A, T1, { ...recharge, status: "SUCCESS" }),
      granted(WS_A, T1, rechargeId, 65),
      { type: "credits.grant.voided", ...at(WS_A, T1), grantId: overdraft.id, amount: 0 },
    ]);
  });
});

// ---------------------------------------------------------------------------
describe("exactly once", () => {
  test("a debit repeated with its idempotencyKey (while paying and after) starts no second recharge", async () => {
    const gate = deferred();
    const { ledger, clk, calls } = setup({ onRecharge: () => gate.promise });
    await ledger.saveAutomaticRechargeConfiguration(STIGG);
    await grant(ledger, WS_A, 30);
    clk.set(T1);
    const first = await consume(ledger, WS_A, 15, "job-1");
    assert.equal(first.amount, 15);

    clk.advance(MS_SECOND);
    const whilePaying = await consume(ledger, WS_A, 15, "job-1");
    assert.equal(whilePaying.amount, 0);
    assert.deepEqual(whilePaying.events, []);
    assert.equal((await rechargesOf(ledger, WS_A)).length, 1);

    gate.resolve();
    await ledger.flush();
    clk.advance(MS_SECOND);
    const afterPaid = await consume(ledger, WS_A, 15, "job-1");
    assert.equal(afterPaid.amount, 0);
    assert.deepEqual(afterPaid.events, []);
    await ledger.flush();

    assert.equal(calls.length, 1);
    assert.deepEqual((await rechargesOf(ledger, WS_A)).map((g) => [g.status, g.amount]), [["ACTIVE", 35]]);
    assert.equal(await balanceOf(ledger, WS_A), 50);
    assert.equal((await configOf(ledger)).currentMonthlySpend, 35);
    assert.equal((await allEvents(ledger, { ...WS_A, eventType: ["CREDITS_CONSUMED"] })).length, 1);
  });

  test("async kv: 20 concurrent debits in one pool, each sent twice at once → one recharge", async () => {
    const kvPair = asyncKv();
    const { ledger, calls, seen } = setup({ kvPair, onRecharge: () => {} });
    const config = await ledger.saveAutomaticRechargeConfiguration(STIGG);
    await grant(ledger, WS_A, 100);

    const debits = [];
    for (let i = 0; i < 20; i += 1) {
      for (let copy = 0; copy < 2; copy += 1) debits.push(consume(ledger, WS_A, 5, `job-${i}`));
    }
    const results = await Promise.all(debits);
    await ledger.flush();

    for (let i = 0; i < 20; i += 1) {
      assert.deepEqual([results[2 * i].amount, results[2 * i + 1].amount].sort(), [0, 5], `job-${i} applied once`);
    }
    // The debit that left 15 (below 20) asked for 50 − 15.
    assert.equal(calls.length, 1);
    assert.deepEqual(calls, [
      { rechargeId: calls[0].rechargeId, customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 35, automaticRechargeConfigurationId: config.id },
    ]);
    const pending = results.flatMap((r) => r.events).filter((e) => e.type === "automatic_recharge.operation.attempted");
    assert.deepEqual(pending.map((e) => [e.status, e.amount, e.rechargeId]), [["PENDING", 35, calls[0].rechargeId]]);
    assert.deepEqual(
      seen.filter((e) => e.type === "automatic_recharge.operation.attempted").map((e) => e.status),
      ["PENDING", "SUCCESS"],
    );
    assert.deepEqual((await rechargesOf(ledger, WS_A)).map((g) => [g.status, g.amount]), [["ACTIVE", 35]]);
    // 100 − 20 × 5 + 35, whichever debit ran when.
    assert.deepEqual(await ledger.getCreditBalance({ ...WS_A, currencyId: CURRENCY }), {
      ...WS_A,
      currencyId: CURRENCY,
      currentBalance: 35,
      totalGranted: 135,
      totalConsumed: 100,
      totalExpired: 0,
      totalVoided: 0,
      reservedAmount: 0,
      availableBalance: 35, // currentBalance − reservedAmount
    });
    assert.equal((await configOf(ledger)).currentMonthlySpend, 35);
  });
});

// ---------------------------------------------------------------------------
describe("monthly spend cap", () => {
  test("maxSpendLimit 80 across ws-a, ws-b, ws-c: 60, then 20 (limit exceeded), then skipped; a new calendar month restores it", async () => {
    const { ledger, clk, calls, seen } = setup({ onRecharge: () => {} });
    const config = await ledger.saveAutomaticRechargeConfiguration({ ...STIGG, thresholdValue: 50, targetBalance: 100, maxSpendLimit: 80 });
    for (const scope of [WS_A, WS_B, WS_C]) await grant(ledger, scope, 100);
    const low = (scope, ms) => [usageLow(scope, ms, 80, 40, 40, 100), usageLow(scope, ms, 50, 40, 40, 100)];

    clk.set(T1);
    const a = await consume(ledger, WS_A, 60, "job-a");
    const idA = a.events.find((e) => e.rechargeId)?.rechargeId;
    assertEvents(a.events, [...low(WS_A, T1), attempted(WS_A, T1, { rechargeId: idA, configurationId: config.id, amount: 60, status: "PENDING" })]);
    await ledger.flush();

    clk.advance(MS_SECOND);
    const tB = clk.now();
    const b = await consume(ledger, WS_B, 60, "job-b");
    const idB = b.events.find((e) => e.rechargeId)?.rechargeId;
    assertEvents(b.events, [
      ...low(WS_B, tB),
      limitExceeded(WS_B, tB, config.id, 60, 20, 80, 60),
      attempted(WS_B, tB, { rechargeId: idB, configurationId: config.id, amount: 20, status: "PENDING" }),
    ]);
    await ledger.flush();

    clk.advance(MS_SECOND);
    const tC = clk.now();
    const c = await consume(ledger, WS_C, 60, "job-c");
    assertEvents(c.events, [...low(WS_C, tC), limitExceeded(WS_C, tC, config.id, 60, 0, 80, 80)]);
    await ledger.flush();

    assert.deepEqual(calls.map((r) => [r.resourceId, r.amount]), [["ws-a", 60], ["ws-b", 20]]);
    assert.deepEqual([await balanceOf(ledger, WS_A), await balanceOf(ledger, WS_B), await balanceOf(ledger, WS_C)], [100, 60, 40]);
    assert.deepEqual(await rechargesOf(ledger, WS_C), []);
    assert.equal((await configOf(ledger)).currentMonthlySpend, 80);
    assert.equal(seen.filter((e) => e.type === "credits.automatic_recharge_limit_exceeded").length, 2);

    // April: the budget is back.
    clk.set("2026-04-01T00:30:00.000Z");
    assert.equal((await configOf(ledger)).currentMonthlySpend, 0);
    const april = clk.now();
    const c2 = await consume(ledger, WS_C, 1, "job-c-2");
    const idC = c2.events.find((e) => e.rechargeId)?.rechargeId;
    // No low-balance alert: nothing was granted to ws-c this month yet.
    assertEvents(c2.events, [attempted(WS_C, april, { rechargeId: idC, configurationId: config.id, amount: 61, status: "PENDING" })]);
    await ledger.flush();
    assert.equal(await balanceOf(ledger, WS_C), 100);
    assert.deepEqual(await configOf(ledger), { ...withoutEvents(config), currentMonthlySpend: 61 });
  });
});

describe("monthly spend cap under concurrency", () => {
  test("async kv: crossing debits in three pools at once share the cap of 80 exactly (60 + 20, the third skipped)", async () => {
    const { ledger, calls } = setup({ kvPair: asyncKv(), onRecharge: () => {} });
    const config = await ledger.saveAutomaticRechargeConfiguration({ ...STIGG, thresholdValue: 50, targetBalance: 100, maxSpendLimit: 80 });
    for (const scope of [WS_A, WS_B, WS_C]) await grant(ledger, scope, 100);
    const results = await Promise.all([WS_A, WS_B, WS_C].map((scope) => consume(ledger, scope, 60, "job")));
    await ledger.flush();

    assert.deepEqual(calls.map((r) => r.amount).sort((x, y) => x - y), [20, 60]);
    const limits = results
      .flatMap((r) => r.events)
      .filter((e) => e.type === "credits.automatic_recharge_limit_exceeded")
      .map((e) => [e.requestedAmount, e.allowedAmount, e.maxSpendLimit, e.currentMonthlySpend, e.configurationId]);
    assert.deepEqual(limits.sort((x, y) => y[1] - x[1]), [[60, 20, 80, 60, config.id], [60, 0, 80, 80, config.id]]);
    assert.equal((await configOf(ledger)).currentMonthlySpend, 80);
    const balances = [];
    for (const scope of [WS_A, WS_B, WS_C]) balances.push(await balanceOf(ledger, scope));
    assert.deepEqual(balances.sort((x, y) => x - y), [40, 60, 100]);
  });
});

// ---------------------------------------------------------------------------
describe("without onRecharge: confirmRecharge / failRecharge", () => {
  test("the grant stays PAYMENT_PENDING; confirm activates it (twice is harmless); fail voids another and disables the configuration; misuse is refused", async () => {
    const { ledger, clk, seen, map } = setup();
    const config = await ledger.saveAutomaticRechargeConfiguration({ ...STIGG, grantExpirationPeriod: "1_YEAR" });
    const plain = await grant(ledger, WS_A, 30);
    await grant(ledger, WS_B, 30);

    clk.set(T1);
    const a = await consume(ledger, WS_A, 15, "job-a");
    const idA = a.events.find((e) => e.rechargeId)?.rechargeId;
    const rechargeA = { rechargeId: idA, configurationId: config.id, amount: 35 };
    assertEvents(a.events, [usageLow(WS_A, T1, 80, 15, 50, 30), attempted(WS_A, T1, { ...rechargeA, status: "PENDING" })]);
    await ledger.flush(); // nothing in flight
    const pendingA = rechargeGrant(WS_A, { id: idA, configurationId: config.id, amount: 35, status: "PAYMENT_PENDING", createdAt: T1 });
    assert.deepEqual(await rechargesOf(ledger, WS_A), [pendingA]);
    assert.equal(await balanceOf(ledger, WS_A), 15);
    assert.equal((await ledger.getCreditBalance({ ...WS_A, currencyId: CURRENCY })).totalGranted, 30);

    // A pending recharge cannot be voided, and blocks a second recharge of its pool.
    let before = snapshot(map);
    await rejectsWith(ledger.voidCreditGrant({ id: idA }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), before);
    clk.advance(MS_SECOND);
    const more = await consume(ledger, WS_A, 3, "job-a-2");
    assert.equal(more.credit.currentBalance, 12);
    assert.ok(!eventTypes(more.events).includes("automatic_recharge.operation.attempted"));
    assert.equal((await rechargesOf(ledger, WS_A)).length, 1);

    // Confirm: active from now, for one year.
    clk.set(T1 + MS_HOUR);
    const t2 = clk.now();
    seen.length = 0;
    const confirmed = await ledger.confirmRecharge({ rechargeId: idA });
    const activeA = { ...pendingA, status: "ACTIVE", effectiveAt: iso(t2), expireAt: "2027-03-01T02:00:00.000Z" };
    assert.deepEqual(withoutEvents(confirmed), activeA);
    assertEvents(confirmed.events, [attempted(WS_A, t2, { ...rechargeA, status: "SUCCESS" }), granted(WS_A, t2, idA, 35)]);
    assert.deepEqual(seen, confirmed.events);
    assert.equal(await balanceOf(ledger, WS_A), 47);

    clk.advance(MS_SECOND);
    before = snapshot(map);
    const again = await ledger.confirmRecharge({ rechargeId: idA });
    assert.deepEqual(withoutEvents(again), activeA);
    assert.deepEqual(again.events, []);
    assert.deepEqual(snapshot(map), before, "a second confirm writes nothing");
    assert.equal(await balanceOf(ledger, WS_A), 47);
    assert.equal((await configOf(ledger)).currentMonthlySpend, 35);

    before = snapshot(map);
    await rejectsWith(ledger.failRecharge({ rechargeId: idA, reason: "too late" }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), before);

    // Fail another recharge (ws-b): voided, spend released, configuration disabled.
    const b = await consume(ledger, WS_B, 15, "job-b");
    const tB = clk.now();
    const idB = b.events.find((e) => e.rechargeId)?.rechargeId;
    const rechargeB = { rechargeId: idB, configurationId: config.id, amount: 35 };
    assertEvents(b.events, [usageLow(WS_B, tB, 80, 15, 50, 30), attempted(WS_B, tB, { ...rechargeB, status: "PENDING" })]);
    assert.equal((await configOf(ledger)).currentMonthlySpend, 70);
    clk.advance(MS_SECOND);
    const tFail = clk.now();
    const failed = await ledger.failRecharge({ rechargeId: idB, reason: "insufficient funds" });
    assert.deepEqual(
      withoutEvents(failed),
      rechargeGrant(WS_B, { id: idB, configurationId: config.id, amount: 35, status: "VOIDED", createdAt: tB, voidedAt: tFail }),
    );
    assertEvents(failed.events, [
      attempted(WS_B, tFail, { ...rechargeB, status: "FAILED", reason: "insufficient funds" }),
      configChanged(WS_B, tFail, config.id, "SYSTEM", false),
    ]);
    assert.deepEqual(await configOf(ledger), { ...withoutEvents(config), isEnabled: false, currentMonthlySpend: 35 });
    assert.equal(await balanceOf(ledger, WS_B), 15);

    // Misuse: nothing changes.
    before = snapshot(map);
    await rejectsWith(ledger.failRecharge({ rechargeId: idB }), "INVALID_STATE");
    await rejectsWith(ledger.confirmRecharge({ rechargeId: idB }), "INVALID_STATE");
    await rejectsWith(ledger.confirmRecharge({ rechargeId: plain.id }), "INVALID_STATE"); // not a recharge
    await rejectsWith(ledger.failRecharge({ rechargeId: plain.id }), "INVALID_STATE");
    for (const rechargeId of ["00000000-0000-4000-8000-000000000000", "no-such-recharge"]) {
      await rejectsWith(ledger.confirmRecharge({ rechargeId }), "NOT_FOUND");
      await rejectsWith(ledger.failRecharge({ rechargeId, reason: "x" }), "NOT_FOUND");
    }
    await rejectsWith(ledger.confirmRecharge({}), "INVALID_ARGUMENT", "rechargeId");
    assert.deepEqual(snapshot(map), before);

    // A failed recharge without a reason reports reason null.
    await ledger.saveAutomaticRechargeConfiguration(STIGG);
    const c = await consume(ledger, WS_C, 1, "job-c"); // an empty pool going to −1
    const idC = c.events.find((e) => e.rechargeId)?.rechargeId;
    const failedC = await ledger.failRecharge({ rechargeId: idC });
    assert.deepEqual(failedC.events[0].reason, null);
    assert.deepEqual(failedC.events[0].amount, 51);
  });
});

// ---------------------------------------------------------------------------
describe("events", () => {
  test("low-balance thresholds 80/50/20 of the subscription period fire once each, grant and balance depletion, and re-arm next month", async () => {
    const { ledger, clk, seen } = setup();
    const ws = { customerId: "cust-ev", resourceId: "ws-1" };
    const provisioned = await ledger.provisionSubscription({ ...ws, planId: "plan-basic" });
    const [recurring] = await allGrants(ledger, ws);
    assertEvents(provisioned.events, [granted(ws, T0, recurring.id, 100)]);

    const use = async (value) => {
      clk.advance(MS_SECOND);
      return (await ledger.reportUsage({ ...ws, featureId: FEATURE, value })).events;
    };
    let t = T0;
    const next = () => (t += MS_SECOND);
    assertEvents(await use(25), [usageLow(ws, next(), 80, 75, 75, 100)]);
    next();
    assert.deepEqual(await use(10), [], "65 %: 80 % already fired");
    assertEvents(await use(20), [usageLow(ws, next(), 50, 45, 45, 100)]);
    assertEvents(await use(30), [usageLow(ws, next(), 20, 15, 15, 100)]);
    next();
    assert.deepEqual(await use(5), [], "10 %: every threshold already fired");
    assertEvents(await use(10), [
      { type: "credits.grant.depleted", ...at(ws, next()), grantId: recurring.id, amount: 100 },
      { type: "credits.balance.depleted", ...at(ws, t), currentBalance: 0 },
    ]);

    // The next period: a new recurring grant, and the alerts fire again.
    const april = Date.parse("2026-04-01T00:00:00.000Z");
    clk.set(april + MS_SECOND);
    const renewed = await ledger.reportUsage({ ...ws, featureId: FEATURE, value: 25 });
    const aprilGrant = (await allGrants(ledger, ws)).find((g) => g.grantType === "RECURRING" && g.effectiveAt === iso(april));
    assertEvents(renewed.events, [granted(ws, april, aprilGrant.id, 100), usageLow(ws, april + MS_SECOND, 80, 75, 75, 100)]);

    const ids = seen.map((e) => e.messageId);
    assert.equal(seen.length, 8);
    assert.equal(new Set(ids).size, ids.length, "every messageId is unique");
  });

  test("balance depleted fires when the balance goes from above 0 to below 0, once; an empty pool going negative does not", async () => {
    const { ledger, clk } = setup();
    const ten = await grant(ledger, WS_A, 10);
    clk.set(T1);
    const over = await consume(ledger, WS_A, 15, "job-1");
    const low = (threshold) => usageLow(WS_A, T1, threshold, -5, -50, 10);
    assertEvents(over.events, [
      { type: "credits.grant.depleted", ...at(WS_A, T1), grantId: ten.id, amount: 10 },
      { type: "credits.balance.depleted", ...at(WS_A, T1), currentBalance: -5 },
      low(80),
      low(50),
      low(20),
    ]);
    const deeper = await consume(ledger, WS_A, 5, "job-2");
    assert.deepEqual(deeper.events, []);
    const empty = await consume(ledger, WS_B, 5, "job-1");
    assert.deepEqual(empty.events, []);
  });

  test("the alert period is the subscription's credit period: a mid-month start re-arms on the 15th, not on the 1st", async () => {
    const mar15 = Date.parse("2026-03-15T00:00:00.000Z");
    const apr15 = Date.parse("2026-04-15T00:00:00.000Z");
    const { ledger, clk } = setup({ start: mar15 });
    const ws = { customerId: "cust-ev", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...ws, planId: "plan-basic" });
    const [march] = await allGrants(ledger, ws);
    const use = async (value) => (await ledger.reportUsage({ ...ws, featureId: FEATURE, value })).events;
    assertEvents(await use(25), [usageLow(ws, mar15, 80, 75, 75, 100)]);
    clk.set("2026-04-01T00:00:00.000Z");
    assert.deepEqual(await use(1), [], "April 1st is inside the period that began on March 15th");
    clk.set(apr15);
    const renewed = await use(25);
    const april = (await allGrants(ledger, ws)).find((g) => g.effectiveAt === iso(apr15));
    assertEvents(renewed, [
      { type: "credits.expired", ...at(ws, apr15), grantId: march.id, amount: 74 },
      granted(ws, apr15, april.id, 100),
      usageLow(ws, apr15, 80, 75, 75, 100),
    ]);
  });

  test("a recharge grant expires one month after its payment: credits.expired with its remainder, and the next crossing recharges", async () => {
    const { ledger, clk, calls } = setup({ onRecharge: () => {} });
    const config = await ledger.saveAutomaticRechargeConfiguration(STIGG);
    await grant(ledger, WS_A, 30);
    clk.set(T1);
    const first = await consume(ledger, WS_A, 15, "job-1");
    await ledger.flush();
    const rechargeId = first.events.find((e) => e.rechargeId)?.rechargeId;
    assert.equal(await balanceOf(ledger, WS_A), 50);
    // The expiring recharge burns before the never-expiring grant.
    clk.advance(MS_SECOND);
    await consume(ledger, WS_A, 10, "job-2");
    assert.equal((await allGrants(ledger, WS_A)).find((g) => g.id === rechargeId).consumedAmount, 10);

    const expiry = Date.parse("2026-04-01T01:00:00.000Z");
    clk.set(expiry + MS_SECOND);
    const later = await consume(ledger, WS_A, 1, "job-3");
    assert.equal(later.credit.currentBalance, 14);
    const next = later.events.find((e) => e.rechargeId)?.rechargeId;
    // No low-balance alert: nothing was granted to ws-a in April yet.
    assertEvents(later.events, [
      { type: "credits.expired", ...at(WS_A, expiry), grantId: rechargeId, amount: 25 },
      attempted(WS_A, expiry + MS_SECOND, { rechargeId: next, configurationId: config.id, amount: 36, status: "PENDING" }),
    ]);
    await ledger.flush();
    assert.deepEqual(calls.map((r) => r.amount), [35, 36]);
    assert.equal((await allGrants(ledger, WS_A)).find((g) => g.id === rechargeId).status, "EXPIRED");
    assert.deepEqual(await configOf(ledger), { ...withoutEvents(config), currentMonthlySpend: 36 });
  });

  test("usageLowThresholds: [90] replaces the defaults; malformed thresholds are refused", async () => {
    const { ledger } = setup({ usageLowThresholds: [90] });
    const ws = { customerId: "cust-ev", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...ws, planId: "plan-basic" });
    const use = async (value) => (await ledger.reportUsage({ ...ws, featureId: FEATURE, value })).events;
    assert.deepEqual(await use(5), []);
    assertEvents(await use(6), [usageLow(ws, T0, 90, 89, 89, 100)]);
    assert.deepEqual(await use(50), [], "no 80/50/20 with [90]");
    assert.deepEqual(eventTypes(await use(39)), ["credits.grant.depleted", "credits.balance.depleted"]);

    const base = { kv: memoryKv().kv, catalog: CATALOG };
    for (const bad of [[0], [100], [12.5], [-5], [NaN]]) {
      throwsWith(() => new CreditLedger({ ...base, usageLowThresholds: bad }), "INVALID_ARGUMENT", "usageLowThresholds");
    }
    for (const notAnArray of ["80", 80, { 0: 80, length: 1 }]) {
      throwsWith(() => new CreditLedger({ ...base, usageLowThresholds: notAnArray }), "INVALID_ARGUMENT", "usageLowThresholds");
    }
    throwsWith(() => new CreditLedger({ ...base, usageLowThresholds: [1, 2, 3, 4, 5, 6, 7, 8, 9] }), "INVALID_ARGUMENT", "usageLowThresholds");
    throwsWith(() => new CreditLedger({ ...base, onEvent: "not a function" }), "INVALID_ARGUMENT", "onEvent");
    throwsWith(() => new CreditLedger({ ...base, onRecharge: {} }), "INVALID_ARGUMENT", "onRecharge");
  });

  test("every messageId of a run is unique, and onEvent gets exactly what the results list", async () => {
    const { ledger, clk, seen } = setup({ onRecharge: () => {} });
    const listed = [];
    const record = (result) => {
      listed.push(...result.events);
      return result;
    };
    record(await ledger.saveAutomaticRechargeConfiguration({ ...STIGG, maxSpendLimit: 60 }));
    record(await ledger.provisionSubscription({ ...WS_A, planId: "plan-basic" }));
    record(await ledger.provisionSubscription({ ...WS_B, planId: "plan-basic" }));
    record(await ledger.provisionSubscription({ ...GLOBAL, planId: "plan-basic" }));
    for (const [i, scope] of [WS_A, WS_B, GLOBAL, WS_A, WS_B, GLOBAL].entries()) {
      clk.advance(MS_SECOND);
      record(await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 45, idempotencyKey: `u-${i}` }));
      await ledger.flush();
    }
    record(await ledger.saveAutomaticRechargeConfiguration(STIGG));
    const g = record(await grant(ledger, WS_A, 5));
    record(await ledger.voidCreditGrant({ id: g.id }));
    clk.set("2026-04-01T00:00:01.000Z");
    record(await consume(ledger, WS_B, 1, "c-1"));

    const ids = seen.map((e) => e.messageId);
    assert.ok(seen.length >= 20, `${seen.length} events`);
    assert.equal(new Set(ids).size, ids.length, "every messageId is unique");
    // onEvent also got the background payments' events; apart from those it got exactly the listed ones.
    const background = seen.filter((e) => e.type === "automatic_recharge.operation.attempted" && e.status === "SUCCESS").length;
    assert.ok(background >= 1);
    const listedIds = new Set(listed.map((e) => e.messageId));
    assert.deepEqual(seen.filter((e) => listedIds.has(e.messageId)), listed);
    assert.equal(listedIds.size, listed.length);
  });

  test("an onEvent that throws does not reject the operation, skip later events, or stop a recharge; the state is committed", async (t) => {
    const errors = t.mock.method(console, "error", () => {});
    const delivered = [];
    const { ledger, clk, calls } = setup({
      onEvent: (event) => {
        delivered.push(event);
        throw new Error("webhook down");
      },
      onRecharge: () => {},
    });
    await ledger.saveAutomaticRechargeConfiguration(STIGG);
    await grant(ledger, WS_A, 30);
    clk.set(T1);
    delivered.length = 0;
    const used = await consume(ledger, WS_A, 15, "job-1");
    assert.equal(used.credit.currentBalance, 15);
    assert.deepEqual(delivered.slice(0, 2), used.events, "both events of the debit were offered");
    await ledger.flush();
    assert.equal(calls.length, 1);
    assert.equal(await balanceOf(ledger, WS_A), 50);
    assert.equal((await rechargesOf(ledger, WS_A))[0].status, "ACTIVE");
    assert.deepEqual(eventTypes(delivered.slice(2)), ["automatic_recharge.operation.attempted", "credits.granted"]);
    assert.equal(errors.mock.callCount(), 2 + delivered.length);
    for (const event of delivered) {
      assert.ok(
        errors.mock.calls.some((call) => String(call.arguments[0]).includes(event.messageId)),
        `the failure for ${event.messageId} is logged`,
      );
    }
    // The debit was committed: its repeat is answered as a repeat.
    const again = await consume(ledger, WS_A, 15, "job-1");
    assert.equal(again.amount, 0, "the debit was committed");
  });

  for (const [label, failPut] of [
    ["throws", () => {
      throw new Error("disk full");
    }],
    ["rejects", () => Promise.reject(new Error("disk full"))],
  ]) {
    test(`events are delivered only after commit: a head put that ${label} → STORE_ERROR, no onEvent, no onRecharge; a retry reports once`, async () => {
      const map = new Map();
      let failing = false;
      const puts = { count: 0 };
      const kv = {
        get: (key) => map.get(key),
        put: (key, value) => {
          if (failing && key.endsWith("/h")) return failPut();
          puts.count += 1;
          map.set(key, value);
          return undefined;
        },
      };
      const delivered = [];
      const gate = deferred(); // holds the payment, so no confirmation puts interleave
      const { ledger, clk, calls } = setup({
        kvPair: { kv, map },
        onEvent: (event) => delivered.push({ event, putsSoFar: puts.count }),
        onRecharge: () => gate.promise,
      });
      const config = await ledger.saveAutomaticRechargeConfiguration(STIGG);
      await grant(ledger, WS_A, 30);
      clk.set(T1);
      delivered.length = 0;

      failing = true;
      await rejectsWith(consume(ledger, WS_A, 15, "job-1"), "STORE_ERROR");
      await rejectsWith(grant(ledger, WS_A, 5), "STORE_ERROR");
      await ledger.flush();
      failing = false;
      assert.deepEqual(delivered, []);
      assert.deepEqual(calls, []);
      assert.equal(await balanceOf(ledger, WS_A), 30);
      assert.deepEqual(await rechargesOf(ledger, WS_A), []);

      // The retry commits once; its events arrive after its last put (the head).
      const used = await consume(ledger, WS_A, 15, "job-1");
      const putsAfter = puts.count;
      const rechargeId = used.events.find((e) => e.rechargeId)?.rechargeId;
      assertEvents(used.events, [
        usageLow(WS_A, T1, 80, 15, 50, 30),
        attempted(WS_A, T1, { rechargeId, configurationId: config.id, amount: 35, status: "PENDING" }),
      ]);
      assert.deepEqual(delivered.slice(0, 2).map((d) => d.event), used.events);
      assert.deepEqual(delivered.map((d) => d.putsSoFar), [putsAfter, putsAfter]);
      gate.resolve();
      await ledger.flush();
      assert.equal(calls.length, 1);
      assert.equal(await balanceOf(ledger, WS_A), 50);
      assert.deepEqual((await rechargesOf(ledger, WS_A)).map((g) => g.status), ["ACTIVE"]);
    });
  }
});

// ---------------------------------------------------------------------------
describe("library bugs", () => {
  /** A kv whose head puts (keys ending in "/h") fail while `state.failing`. */
  function headFailingKv() {
    const map = new Map();
    const state = { failing: false };
    const kv = {
      get: (key) => map.get(key),
      put: (key, value) => {
        if (state.failing && key.endsWith("/h")) throw new Error("disk full");
        map.set(key, value);
      },
    };
    return { kv, map, state };
  }

  test(
    "debits whose commit failed leave no lasting trace: after 64 of them a crossing still recharges",
    async () => {
      const { kv, map, state } = headFailingKv();
      const { ledger, clk, calls } = setup({ kvPair: { kv, map }, onRecharge: () => {} });
      await ledger.saveAutomaticRechargeConfiguration(STIGG); // no spend limit
      await grant(ledger, WS_A, 30);
      clk.set(T1);
      state.failing = true;
      for (let i = 0; i < 64; i += 1) await rejectsWith(consume(ledger, WS_A, 15, `job-${i}`), "STORE_ERROR");
      state.failing = false;
      assert.equal(await balanceOf(ledger, WS_A), 30, "none of them happened");
      // Each failed debit released the previous one's phantom reservation: only the last one's 35 shows.
      assert.equal((await configOf(ledger)).currentMonthlySpend, 35);

      const used = await consume(ledger, WS_A, 15, "job-0");
      await ledger.flush();
      assert.equal(used.credit.currentBalance, 15);
      assert.equal(calls.length, 1, "15 is below 20, the configuration is enabled and ws-a has no pending recharge");
      assert.equal(calls[0].amount, 35);
      assert.equal(await balanceOf(ledger, WS_A), 50);
      assert.equal((await configOf(ledger)).currentMonthlySpend, 35, "the phantom was released, the real recharge counted once");
    },
  );

  test(
    "a rejected debit's reserved spend shows until the pool's next debit, which releases it and recharges the full amount under the cap",
    async () => {
      const { kv, map, state } = headFailingKv();
      const { ledger, clk, calls } = setup({ kvPair: { kv, map }, onRecharge: () => {} });
      const config = await ledger.saveAutomaticRechargeConfiguration({ ...STIGG, maxSpendLimit: 50 });
      await grant(ledger, WS_A, 30);
      clk.set(T1);
      state.failing = true;
      await rejectsWith(consume(ledger, WS_A, 15, "job-1"), "STORE_ERROR");
      state.failing = false;
      // The failed debit reserved its recharge (50 − 15) in the account record; ws-a holds no grant for it.
      assert.equal((await configOf(ledger)).currentMonthlySpend, 35, "the phantom reservation shows until ws-a's next debit");
      assert.equal(await balanceOf(ledger, WS_A), 30);
      assert.deepEqual(await rechargesOf(ledger, WS_A), []);
      assert.deepEqual(calls, []);

      // The retry releases the phantom 35 first, so the new recharge of 35 fits under 50: no limit_exceeded.
      const used = await consume(ledger, WS_A, 15, "job-1");
      assert.equal(used.credit.currentBalance, 15);
      const rechargeId = used.events.find((e) => e.rechargeId)?.rechargeId;
      assertEvents(used.events, [
        usageLow(WS_A, T1, 80, 15, 50, 30),
        attempted(WS_A, T1, { rechargeId, configurationId: config.id, amount: 35, status: "PENDING" }),
      ]);
      await ledger.flush();
      assert.deepEqual(calls.map((r) => r.amount), [35]);
      assert.equal((await configOf(ledger)).currentMonthlySpend, 35);
      assert.equal(await balanceOf(ledger, WS_A), 50);
      assert.deepEqual((await rechargesOf(ledger, WS_A)).map((g) => [g.id, g.status, g.amount]), [[rechargeId, "ACTIVE", 35]]);
    },
  );

  test(
    "a grant that lifts a pool out of overdraft fires no usage_low; the pool's next debit fires the thresholds it crosses",
    async () => {
      const { ledger, clk } = setup();
      clk.set(T1);
      const over = await consume(ledger, WS_A, 5, "job-1");
      assert.deepEqual(over.events, [], "nothing granted this period yet: no alert");
      const lift = await grant(ledger, WS_A, 10);
      const overdraft = (await allGrants(ledger, WS_A)).find((g) => g.grantType === "OVERDRAFT");
      assertEvents(lift.events, [granted(WS_A, T1, lift.id, 10), { type: "credits.grant.voided", ...at(WS_A, T1), grantId: overdraft.id, amount: 0 }]);
      clk.advance(MS_SECOND);
      const used = await consume(ledger, WS_A, 1, "job-2");
      assertEvents(used.events, [usageLow(WS_A, T1 + MS_SECOND, 80, 4, 40, 10), usageLow(WS_A, T1 + MS_SECOND, 50, 4, 40, 10)]);
    },
  );

  test(
    "a confirmed recharge that lifts a pool out of overdraft fires no usage_low; the pool's next debit fires the thresholds it crosses",
    async () => {
      const { ledger, clk } = setup();
      const config = await ledger.saveAutomaticRechargeConfiguration(STIGG);
      clk.set(T1);
      const used = await consume(ledger, WS_A, 50, "job-1");
      const rechargeId = used.events.find((e) => e.rechargeId)?.rechargeId;
      const recharge = { rechargeId, configurationId: config.id, amount: 100 };
      assertEvents(used.events, [attempted(WS_A, T1, { ...recharge, status: "PENDING" })]);
      clk.advance(MS_SECOND);
      const t2 = clk.now();
      const confirmed = await ledger.confirmRecharge({ rechargeId });
      const overdraft = (await allGrants(ledger, WS_A)).find((g) => g.grantType === "OVERDRAFT");
      assertEvents(confirmed.events, [
        attempted(WS_A, t2, { ...recharge, status: "SUCCESS" }),
        granted(WS_A, t2, rechargeId, 100),
        { type: "credits.grant.voided", ...at(WS_A, t2), grantId: overdraft.id, amount: 0 },
      ]);
      assert.equal(await balanceOf(ledger, WS_A), 50);
      clk.advance(MS_SECOND);
      const next = await consume(ledger, WS_A, 1, "job-2");
      assertEvents(next.events, [usageLow(WS_A, t2 + MS_SECOND, 80, 49, 49, 100), usageLow(WS_A, t2 + MS_SECOND, 50, 49, 49, 100)]);
    },
  );

  test(
    "usageLowThresholds that is not an array → INVALID_ARGUMENT (usageLowThresholds) \"must be an array\"",
    () => {
      const base = { kv: memoryKv().kv, catalog: CATALOG };
      for (const notAnArray of ["80", 80, true, { 0: 80, length: 1 }, new Set([80])]) {
        const error = throwsWith(() => new CreditLedger({ ...base, usageLowThresholds: notAnArray }), "INVALID_ARGUMENT", "usageLowThresholds");
        assert.match(error.message, /must be an array/, `${inspect(notAnArray)}: ${error.message}`);
      }
    },
  );
});
