// The "Done when" rules, replayed one by one through the public API
// with a hand-moved clock and exact values.
//
// Run: cd /work/main && node --test js-tests/semantics.test.mjs

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import { CreditLedger } from "credit-pools";

import {
  CATALOG,
  CURRENCY,
  CURRENCY_2,
  FEATURE,
  FEATURE_IMAGES,
  MS_DAY,
  MS_HOUR,
  MS_SECOND,
  T0,
  allEvents,
  allGrants,
  assertEvents,
  brief,
  clock,
  grantById,
  iso,
  makeLedger,
  memoryKv,
  poolBalance,
  rejectsWith,
  snapshot,
  withoutEvents,
  zeroBalance,
} from "./helpers.mjs";

const APR_1 = Date.parse("2026-04-01T00:00:00.000Z");
const MAY_1 = Date.parse("2026-05-01T00:00:00.000Z");

/** A fresh in-memory ledger on a clock at `start`. */
function setup(start = T0, catalog = CATALOG) {
  const { kv, map } = memoryKv();
  const clk = clock(start);
  const ledger = makeLedger({ kv, clk, catalog });
  return { kv, map, clk, ledger };
}

const balanceOf = (ledger, scope, currencyId = CURRENCY) => ledger.getCreditBalance({ ...scope, currencyId });

/** Events of one grant, as [type, amount]. */
const eventsOf = (events, grantId) => events.filter((e) => e.creditGrantId === grantId).map((e) => [e.eventType, e.amount]);

const micros = (x) => Math.round(x * 1e6);

// ---------------------------------------------------------------------------
describe("rule 1: overdraft 15, then a grant of 50", () => {
  test("Stigg's worked example: the overdraft grant is settled by the next grant and voided", async () => {
    const { clk, ledger } = setup();
    const scope = { customerId: "cust-r1", resourceId: "ws-1" };

    const used = await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 15, idempotencyKey: "od-15" });
    assert.deepEqual(used, {
      customerId: "cust-r1",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      amount: 15,
      timestamp: iso(T0),
      credit: { currencyId: CURRENCY, consumed: 15, currentUsage: 15, usageLimit: 0, currentBalance: -15, timestamp: iso(T0) },
      // An empty pool going into overdraft: no balance fell from above 0, no grant was emptied.
      events: [],
    });
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r1", "ws-1", { currentBalance: -15, totalConsumed: 15 }));

    const grants = await allGrants(ledger, scope);
    assert.equal(grants.length, 1);
    const [od] = grants;
    assert.deepEqual(od, {
      id: od.id,
      customerId: "cust-r1",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      amount: 0,
      consumedAmount: 15,
      grantType: "OVERDRAFT",
      status: "ACTIVE",
      priority: 0,
      effectiveAt: iso(T0),
      expireAt: null,
      createdAt: iso(T0),
      voidedAt: null,
      displayName: "Overdraft",
      comment: null,
      metadata: null,
      subscriptionId: null,
      automaticRechargeConfigurationId: null,
    });

    clk.advance(MS_SECOND);
    const at = iso(T0 + MS_SECOND);
    const fifty = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 50, grantType: "PAID" });
    assert.equal(fifty.amount, 50);
    assert.equal(fifty.consumedAmount, 15);
    assert.equal(fifty.status, "ACTIVE");
    assert.equal(fifty.grantType, "PAID");
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r1", "ws-1", {
      currentBalance: 35,
      totalGranted: 50,
      totalConsumed: 15,
    }));

    const settled = await grantById(ledger, scope, od.id);
    assert.deepEqual([settled.status, settled.amount, settled.consumedAmount, settled.voidedAt], ["VOIDED", 0, 0, at]);

    const events = await allEvents(ledger, scope);
    assert.deepEqual(
      events.map((e) => [e.seq, e.eventType, e.amount, e.creditGrantId, e.timestamp]),
      [
        [0, "CREDITS_CONSUMED", 15, od.id, iso(T0)],
        [1, "CREDITS_GRANTED", 50, fifty.id, at],
        [2, "CREDITS_CONSUMPTION_TRANSFER_SOURCE", 15, od.id, at],
        [3, "CREDITS_CONSUMPTION_TRANSFER_TARGET", 15, fifty.id, at],
        [4, "CREDITS_VOIDED", 0, od.id, at],
      ],
    );
  });
});

// ---------------------------------------------------------------------------
describe("rule 2: priority beats expiry", () => {
  test("a priority-2 grant that expires sooner is untouched while priority-1 grants hold credits", async () => {
    const { clk, ledger } = setup();
    const scope = { customerId: "cust-r2", resourceId: "ws-1" };
    const soon = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID", priority: 2, expireAt: T0 + MS_HOUR });
    const p1Never = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID", priority: 1 });
    const p1Later = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID", priority: 1, expireAt: T0 + 30 * MS_DAY });

    clk.advance(MS_SECOND);
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 15, idempotencyKey: "c1" });
    clk.advance(MS_SECOND);
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 5, idempotencyKey: "c2" });
    assert.equal((await grantById(ledger, scope, soon.id)).consumedAmount, 0);
    clk.advance(MS_SECOND);
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 3, idempotencyKey: "c3" });

    const consumed = await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] });
    assert.deepEqual(
      consumed.map((e) => [e.creditGrantId, e.amount, e.eventId]),
      [
        [p1Later.id, 10, "c1"],
        [p1Never.id, 5, "c1"],
        [p1Never.id, 5, "c2"],
        [soon.id, 3, "c3"],
      ],
    );
    assert.deepEqual(
      (await allGrants(ledger, scope)).map((g) => [g.id, g.consumedAmount, g.status]).sort(),
      [
        [soon.id, 3, "ACTIVE"],
        [p1Never.id, 10, "ACTIVE"],
        [p1Later.id, 10, "ACTIVE"],
      ].sort(),
    );
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r2", "ws-1", { currentBalance: 7, totalGranted: 30, totalConsumed: 23 }));
  });
});

// ---------------------------------------------------------------------------
describe("rule 3: promotional before paid", () => {
  test("on equal priority and equal expiry, the PROMOTIONAL grant burns first even when created later", async () => {
    const { clk, ledger } = setup();
    const scope = { customerId: "cust-r3", resourceId: "ws-1" };
    const expireAt = iso(T0 + 10 * MS_DAY);
    const paid = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID", priority: 3, expireAt });
    clk.advance(MS_SECOND);
    const promo = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PROMOTIONAL", priority: 3, expireAt });
    clk.advance(MS_SECOND);
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 12, idempotencyKey: "c1" });
    const consumed = await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] });
    assert.deepEqual(
      consumed.map((e) => [e.creditGrantId, e.amount]),
      [
        [promo.id, 10],
        [paid.id, 2],
      ],
    );
    assert.equal((await grantById(ledger, scope, promo.id)).consumedAmount, 10);
    assert.equal((await grantById(ledger, scope, paid.id)).consumedAmount, 2);
    assert.equal((await balanceOf(ledger, scope)).currentBalance, 8);
  });
});

// ---------------------------------------------------------------------------
describe("rule 4: scheduled grant", () => {
  test("SCHEDULED until effectiveAt: excluded from the balance, entitlement denied; at effectiveAt exactly it pays", async () => {
    const { clk, ledger } = setup();
    const scope = { customerId: "cust-r4", resourceId: "ws-1" };
    const effectiveAt = T0 + 2 * MS_HOUR;
    const g = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 40, grantType: "PAID", effectiveAt });
    assert.equal(g.status, "SCHEDULED");
    assert.equal(g.effectiveAt, iso(effectiveAt));
    assert.equal(g.consumedAmount, 0);
    assert.deepEqual(await balanceOf(ledger, scope), zeroBalance("cust-r4", "ws-1"));
    assert.deepEqual(await allEvents(ledger, scope), []);

    const denied = {
      customerId: "cust-r4",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      hasAccess: false,
      accessDeniedReason: "InsufficientCredits",
      requestedUsage: 0,
      usageLimit: 0,
      currentUsage: 0,
      currentBalance: 0,
      reservedAmount: 0,
      hasSoftLimit: false,
      usagePeriodEnd: null,
    };
    assert.deepEqual(await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY }), denied);
    assert.deepEqual(await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY, requestedUsage: 5 }), { ...denied, requestedUsage: 5 });

    clk.set(effectiveAt - 1);
    assert.equal((await grantById(ledger, scope, g.id)).status, "SCHEDULED");
    assert.equal((await balanceOf(ledger, scope)).currentBalance, 0);
    assert.equal((await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY, requestedUsage: 5 })).hasAccess, false);

    clk.set(effectiveAt);
    assert.equal((await grantById(ledger, scope, g.id)).status, "ACTIVE");
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r4", "ws-1", { currentBalance: 40, totalGranted: 40 }));
    assert.deepEqual(await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY, requestedUsage: 5 }), {
      ...denied,
      hasAccess: true,
      accessDeniedReason: null,
      requestedUsage: 5,
      usageLimit: 40,
      currentBalance: 40,
    });
    const events = await allEvents(ledger, scope);
    assert.deepEqual(
      events.map((e) => [e.eventType, e.amount, e.creditGrantId, e.timestamp]),
      [["CREDITS_GRANTED", 40, g.id, iso(effectiveAt)]],
    );

    // A write at that instant persists the activation once and draws on the grant.
    const used = await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 4, idempotencyKey: "c1" });
    assert.equal(used.credit.currentBalance, 36);
    assert.deepEqual(
      brief(await allEvents(ledger, scope)),
      [
        ["CREDITS_GRANTED", 40, g.id],
        ["CREDITS_CONSUMED", 4, g.id],
      ],
    );
  });
});

// ---------------------------------------------------------------------------
describe("rule 5: expiry writes its event", () => {
  test("at expireAt the remainder leaves with one CREDITS_EXPIRED and never counts again", async () => {
    const { clk, ledger } = setup();
    const scope = { customerId: "cust-r5", resourceId: "ws-1" };
    const expireAt = T0 + MS_DAY;
    const g = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 50, grantType: "PROMOTIONAL", expireAt });
    clk.advance(MS_HOUR);
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 20, idempotencyKey: "c1" });

    clk.set(expireAt - 1);
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r5", "ws-1", { currentBalance: 30, totalGranted: 50, totalConsumed: 20 }));
    assert.equal((await grantById(ledger, scope, g.id)).status, "ACTIVE");

    clk.set(expireAt);
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r5", "ws-1", {
      currentBalance: 0,
      totalGranted: 50,
      totalConsumed: 20,
      totalExpired: 30,
    }));
    const expiredGrant = await grantById(ledger, scope, g.id);
    assert.deepEqual([expiredGrant.status, expiredGrant.consumedAmount, expiredGrant.amount], ["EXPIRED", 20, 50]);
    const expired = await allEvents(ledger, { ...scope, eventType: ["CREDITS_EXPIRED"] });
    assert.deepEqual(expired.map((e) => [e.amount, e.creditGrantId, e.timestamp]), [[30, g.id, iso(expireAt)]]);

    // Later grants and usage never resurrect the expired remainder.
    clk.advance(MS_HOUR);
    const fresh = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID" });
    assert.equal(fresh.consumedAmount, 0);
    clk.advance(MS_HOUR);
    const r1 = await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 5, idempotencyKey: "c2" });
    assert.equal(r1.credit.currentBalance, 5);
    clk.advance(MS_HOUR);
    const r2 = await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 10, idempotencyKey: "c3" });
    assert.equal(r2.credit.currentBalance, -5);
    assert.equal((await grantById(ledger, scope, g.id)).consumedAmount, 20);
    assert.equal((await grantById(ledger, scope, g.id)).status, "EXPIRED");
    clk.advance(40 * MS_DAY);
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r5", "ws-1", {
      currentBalance: -5,
      totalGranted: 60,
      totalConsumed: 35,
      totalExpired: 30,
    }));
    const all = await allEvents(ledger, scope);
    assert.deepEqual(eventsOf(all, g.id), [
      ["CREDITS_GRANTED", 50],
      ["CREDITS_CONSUMED", 20],
      ["CREDITS_EXPIRED", 30],
    ]);
    assert.equal(all.filter((e) => e.eventType === "CREDITS_EXPIRED").length, 1);
  });
});

// ---------------------------------------------------------------------------
describe("rule 6: voidCreditGrant", () => {
  test("a partly consumed PAID grant: VOIDED, voidedAt now, the remainder leaves with one CREDITS_VOIDED", async () => {
    const { map, clk, ledger } = setup();
    const scope = { customerId: "cust-r6", resourceId: "ws-1" };
    const keep = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 5, grantType: "PAID", priority: 9 });
    const g = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 40, grantType: "PAID", displayName: "Top-up" });
    clk.advance(MS_SECOND);
    const c1 = await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 15, idempotencyKey: "c1" });
    assert.equal((await balanceOf(ledger, scope)).currentBalance, 30);
    assertEvents(c1.events, [
      {
        type: "credits.balance.usage_low",
        customerId: "cust-r6",
        resourceId: "ws-1",
        currencyId: CURRENCY,
        timestamp: iso(T0 + MS_SECOND),
        thresholdPercentage: 80,
        remainingBalance: 30,
        remainingBalancePercentage: 66.67,
        grantedThisPeriod: 45,
      },
    ]);

    clk.advance(MS_HOUR);
    const voidAt = T0 + MS_SECOND + MS_HOUR;
    const voided = await ledger.voidCreditGrant({ id: g.id });
    assert.deepEqual(withoutEvents(voided), {
      id: g.id,
      customerId: "cust-r6",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      amount: 40,
      consumedAmount: 15,
      grantType: "PAID",
      status: "VOIDED",
      priority: 0,
      effectiveAt: iso(T0),
      expireAt: null,
      createdAt: iso(T0),
      voidedAt: iso(voidAt),
      displayName: "Top-up",
      comment: null,
      metadata: null,
      subscriptionId: null,
      automaticRechargeConfigurationId: null,
    });
    // The void, then the balance: 5 left of the 45 granted this month (11.11 %) is below
    // 50 % and 20 %; 80 % already fired when the consumption left 30 (66.67 %).
    const ids = { customerId: "cust-r6", resourceId: "ws-1", currencyId: CURRENCY, timestamp: iso(voidAt) };
    const low = { ...ids, type: "credits.balance.usage_low", remainingBalance: 5, remainingBalancePercentage: 11.11, grantedThisPeriod: 45 };
    assertEvents(voided.events, [
      { ...ids, type: "credits.grant.voided", grantId: g.id, amount: 25 },
      { ...low, thresholdPercentage: 50 },
      { ...low, thresholdPercentage: 20 },
    ]);
    assert.deepEqual(await grantById(ledger, scope, g.id), withoutEvents(voided));
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r6", "ws-1", {
      currentBalance: 5,
      totalGranted: 45,
      totalConsumed: 15,
      totalVoided: 25,
    }));
    const voids = await allEvents(ledger, { ...scope, eventType: ["CREDITS_VOIDED"] });
    assert.deepEqual(voids.map((e) => [e.amount, e.creditGrantId, e.timestamp]), [[25, g.id, iso(voidAt)]]);

    // The voided grant pays nothing more: the next use draws on the other grant.
    clk.advance(MS_SECOND);
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 2, idempotencyKey: "c2" });
    assert.equal((await grantById(ledger, scope, keep.id)).consumedAmount, 2);
    assert.equal((await grantById(ledger, scope, g.id)).consumedAmount, 15);

    // Voiding again: INVALID_STATE, and the store is untouched.
    const before = snapshot(map);
    clk.advance(MS_SECOND);
    await rejectsWith(ledger.voidCreditGrant({ id: g.id }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), before);
    assert.equal((await balanceOf(ledger, scope)).totalVoided, 25);
  });

  test("failures: unknown id → NOT_FOUND, OVERDRAFT → INVALID_STATE, EXPIRED → INVALID_STATE; the kv stays byte-for-byte the same", async () => {
    const { map, clk, ledger } = setup();
    const scope = { customerId: "cust-r6-fail", resourceId: "ws-1" };
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 7, idempotencyKey: "od" });
    const [od] = await allGrants(ledger, scope);
    assert.equal(od.grantType, "OVERDRAFT");
    const exp = await ledger.grantCredits({ ...scope, currencyId: CURRENCY_2, amount: 9, grantType: "PROMOTIONAL", expireAt: T0 + MS_HOUR });

    let before = snapshot(map);
    await rejectsWith(ledger.voidCreditGrant({ id: "00000000-0000-4000-8000-000000000000" }), "NOT_FOUND");
    assert.deepEqual(snapshot(map), before);
    await rejectsWith(ledger.voidCreditGrant({ id: od.id }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), before);

    // Expired by the clock alone, with no write since: still INVALID_STATE, nothing written.
    clk.set(T0 + MS_HOUR);
    await rejectsWith(ledger.voidCreditGrant({ id: exp.id }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), before);

    // And once a write has persisted the expiry.
    clk.advance(MS_SECOND);
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY_2, amount: 1, idempotencyKey: "img" });
    assert.equal((await grantById(ledger, scope, exp.id)).status, "EXPIRED");
    before = snapshot(map);
    await rejectsWith(ledger.voidCreditGrant({ id: exp.id }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), before);
    assert.deepEqual(await balanceOf(ledger, scope, CURRENCY_2), poolBalance("cust-r6-fail", "ws-1", {
      currentBalance: -1,
      totalGranted: 9,
      totalConsumed: 1,
      totalExpired: 9,
    }, CURRENCY_2));
    assert.deepEqual(await allEvents(ledger, { ...scope, eventType: ["CREDITS_VOIDED"] }), []);
  });

  test("a SCHEDULED grant is cancelled: VOIDED, and it never pays", async () => {
    const { clk, ledger } = setup();
    const scope = { customerId: "cust-r6-sched", resourceId: "ws-1" };
    const g = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 20, grantType: "PAID", effectiveAt: T0 + MS_HOUR });
    assert.equal(g.status, "SCHEDULED");
    clk.advance(MS_SECOND);
    const voided = await ledger.voidCreditGrant({ id: g.id });
    assert.deepEqual([voided.status, voided.voidedAt, voided.consumedAmount, voided.effectiveAt], ["VOIDED", iso(T0 + MS_SECOND), 0, iso(T0 + MS_HOUR)]);

    clk.set(T0 + 2 * MS_HOUR);
    assert.equal((await grantById(ledger, scope, g.id)).status, "VOIDED");
    assert.deepEqual(await balanceOf(ledger, scope), zeroBalance("cust-r6-sched", "ws-1"));
    const used = await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 3, idempotencyKey: "c1" });
    assert.equal(used.credit.currentBalance, -3);
    const events = await allEvents(ledger, scope);
    assert.deepEqual(eventsOf(events, g.id), []);
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r6-sched", "ws-1", { currentBalance: -3, totalConsumed: 3 }));
    assert.equal((await grantById(ledger, scope, g.id)).consumedAmount, 0);
  });

  test("a RECURRING plan grant is found through its subscription and voided; the next period still renews", async () => {
    const { clk, ledger } = setup();
    const scope = { customerId: "cust-r6-rec", resourceId: "ws-1" };
    const sub = await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
    clk.advance(MS_HOUR);
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 10, idempotencyKey: "u1" });
    const [rec] = await allGrants(ledger, scope);
    assert.deepEqual([rec.grantType, rec.subscriptionId, rec.consumedAmount], ["RECURRING", sub.id, 10]);

    clk.advance(MS_HOUR);
    const voided = await ledger.voidCreditGrant({ id: rec.id });
    assert.deepEqual([voided.id, voided.status, voided.voidedAt, voided.subscriptionId], [rec.id, "VOIDED", iso(T0 + 2 * MS_HOUR), sub.id]);
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r6-rec", "ws-1", {
      currentBalance: 0,
      totalGranted: 100,
      totalConsumed: 10,
      totalVoided: 90,
    }));

    clk.set(APR_1);
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r6-rec", "ws-1", {
      currentBalance: 100,
      totalGranted: 200,
      totalConsumed: 10,
      totalVoided: 90,
    }));
    const events = await allEvents(ledger, scope);
    assert.deepEqual(eventsOf(events, rec.id), [
      ["CREDITS_GRANTED", 100],
      ["CREDITS_CONSUMED", 10],
      ["CREDITS_VOIDED", 90],
    ]);
    assert.deepEqual(events.map((e) => [e.eventType, e.amount, e.timestamp]), [
      ["CREDITS_GRANTED", 100, iso(T0)],
      ["CREDITS_CONSUMED", 10, iso(T0 + MS_HOUR)],
      ["CREDITS_VOIDED", 90, iso(T0 + 2 * MS_HOUR)],
      ["CREDITS_GRANTED", 100, iso(APR_1)],
    ]);
  });

  test("a second CreditLedger over the same kv voids a grant the first created (the id → scope index is in kv)", async () => {
    const { kv, map } = memoryKv();
    const clk = clock(T0);
    const first = makeLedger({ kv, clk });
    const scope = { customerId: "cust-r6-two", resourceId: "ws-9" };
    await first.grantCredits({ ...scope, currencyId: CURRENCY, amount: 3, grantType: "PAID", priority: 5 });
    const g = await first.grantCredits({ ...scope, currencyId: CURRENCY, amount: 12, grantType: "PROMOTIONAL" });
    await first.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 2, idempotencyKey: "c1" });
    // Another customer's grants must not confuse the lookup.
    const other = await first.grantCredits({ customerId: "cust-r6-other", currencyId: CURRENCY, amount: 1, grantType: "PAID" });

    clk.advance(MS_SECOND);
    const second = new CreditLedger({ kv, catalog: CATALOG, now: clk.now });
    const voided = await second.voidCreditGrant({ id: g.id });
    assert.deepEqual([voided.id, voided.status, voided.customerId, voided.resourceId, voided.consumedAmount], [g.id, "VOIDED", "cust-r6-two", "ws-9", 2]);
    for (const l of [first, second]) {
      assert.deepEqual(await balanceOf(l, scope), poolBalance("cust-r6-two", "ws-9", {
        currentBalance: 3,
        totalGranted: 15,
        totalConsumed: 2,
        totalVoided: 10,
      }));
    }
    assert.equal((await grantById(first, { customerId: "cust-r6-other" }, other.id)).status, "ACTIVE");
    const before = snapshot(map);
    await rejectsWith(first.voidCreditGrant({ id: g.id }), "INVALID_STATE");
    assert.deepEqual(snapshot(map), before);
  });
});

// ---------------------------------------------------------------------------
describe("rule 7: monthly renewal without rollover", () => {
  test("across a month with no operation: each period granted at its start, the unused rest expires", async () => {
    const { clk, ledger } = setup(T0); // 2026-03-01
    const scope = { customerId: "cust-r7", resourceId: "ws-1" };
    const sub = await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 30, idempotencyKey: "march" });

    clk.set("2026-04-15T00:00:00.000Z");
    const april = await allEvents(ledger, scope);
    assert.deepEqual(april.map((e) => [e.seq, e.eventType, e.amount, e.timestamp]), [
      [0, "CREDITS_GRANTED", 100, "2026-03-01T00:00:00.000Z"],
      [1, "CREDITS_CONSUMED", 30, "2026-03-01T00:00:00.000Z"],
      [2, "CREDITS_EXPIRED", 70, "2026-04-01T00:00:00.000Z"],
      [3, "CREDITS_GRANTED", 100, "2026-04-01T00:00:00.000Z"],
    ]);
    assert.equal((await balanceOf(ledger, scope)).currentBalance, 100);

    clk.set("2026-05-15T00:00:00.000Z");
    const r = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 1, idempotencyKey: "may" });
    assert.deepEqual(r.credit, {
      currencyId: CURRENCY,
      consumed: 1,
      currentUsage: 31,
      usageLimit: 300,
      currentBalance: 99,
      timestamp: "2026-05-15T00:00:00.000Z",
    });
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r7", "ws-1", {
      currentBalance: 99,
      totalGranted: 300,
      totalConsumed: 31,
      totalExpired: 170,
    }));
    const may = await allEvents(ledger, scope);
    assert.deepEqual(may.slice(0, april.length), april, "the April read is a prefix of the May read");
    const recurring = (await allGrants(ledger, scope)).filter((g) => g.subscriptionId === sub.id);
    const byStart = Object.fromEntries(recurring.map((g) => [g.effectiveAt, g]));
    const [mar, apr, mayG] = ["2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z", "2026-05-01T00:00:00.000Z"].map((d) => byStart[d]);
    assert.ok(mar && apr && mayG, "three periods' grants are listed");
    assert.deepEqual(may.map((e) => [e.seq, e.eventType, e.amount, e.creditGrantId, e.timestamp]), [
      [0, "CREDITS_GRANTED", 100, mar.id, "2026-03-01T00:00:00.000Z"],
      [1, "CREDITS_CONSUMED", 30, mar.id, "2026-03-01T00:00:00.000Z"],
      [2, "CREDITS_EXPIRED", 70, mar.id, "2026-04-01T00:00:00.000Z"],
      [3, "CREDITS_GRANTED", 100, apr.id, "2026-04-01T00:00:00.000Z"],
      [4, "CREDITS_EXPIRED", 100, apr.id, "2026-05-01T00:00:00.000Z"],
      [5, "CREDITS_GRANTED", 100, mayG.id, "2026-05-01T00:00:00.000Z"],
      [6, "CREDITS_CONSUMED", 1, mayG.id, "2026-05-15T00:00:00.000Z"],
    ]);
    assert.deepEqual(
      [mar, apr, mayG].map((g) => [g.status, g.amount, g.consumedAmount, g.expireAt]),
      [
        ["EXPIRED", 100, 30, "2026-04-01T00:00:00.000Z"],
        ["EXPIRED", 100, 0, "2026-05-01T00:00:00.000Z"],
        ["ACTIVE", 100, 1, "2026-06-01T00:00:00.000Z"],
      ],
    );
  });

  test("a start on Jan 31 renews on Feb 28, then Mar 31, then Apr 30", async () => {
    const jan31 = Date.parse("2026-01-31T00:00:00.000Z");
    const { clk, ledger } = setup(jan31);
    const scope = { customerId: "cust-r7-jan", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
    const periods = async () =>
      (await allGrants(ledger, scope))
        .filter((g) => g.grantType === "RECURRING")
        .map((g) => [g.effectiveAt, g.expireAt, g.status])
        .sort();

    clk.set("2026-02-27T23:59:59.999Z");
    assert.deepEqual(await periods(), [["2026-01-31T00:00:00.000Z", "2026-02-28T00:00:00.000Z", "ACTIVE"]]);
    clk.set("2026-02-28T00:00:00.000Z");
    assert.deepEqual(await periods(), [
      ["2026-01-31T00:00:00.000Z", "2026-02-28T00:00:00.000Z", "EXPIRED"],
      ["2026-02-28T00:00:00.000Z", "2026-03-31T00:00:00.000Z", "ACTIVE"],
    ]);
    clk.set("2026-03-30T23:59:59.999Z");
    assert.equal((await periods()).length, 2);
    clk.set("2026-03-31T00:00:00.000Z");
    assert.deepEqual(await periods(), [
      ["2026-01-31T00:00:00.000Z", "2026-02-28T00:00:00.000Z", "EXPIRED"],
      ["2026-02-28T00:00:00.000Z", "2026-03-31T00:00:00.000Z", "EXPIRED"],
      ["2026-03-31T00:00:00.000Z", "2026-04-30T00:00:00.000Z", "ACTIVE"],
    ]);
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r7-jan", "ws-1", {
      currentBalance: 100,
      totalGranted: 300,
      totalExpired: 200,
    }));
    const granted = await allEvents(ledger, { ...scope, eventType: ["CREDITS_GRANTED"] });
    assert.deepEqual(granted.map((e) => e.timestamp), ["2026-01-31T00:00:00.000Z", "2026-02-28T00:00:00.000Z", "2026-03-31T00:00:00.000Z"]);
  });

  test("usage exactly at a period boundary is charged to the new period's grant", async () => {
    const { clk, ledger } = setup(T0);
    const scope = { customerId: "cust-r7-edge", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 40, idempotencyKey: "march" });
    clk.set(APR_1);
    const r = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 5, idempotencyKey: "edge" });
    assert.equal(r.credit.currentBalance, 95);
    const grants = await allGrants(ledger, scope);
    const mar = grants.find((g) => g.effectiveAt === iso(T0));
    const apr = grants.find((g) => g.effectiveAt === iso(APR_1));
    assert.deepEqual([mar.status, mar.consumedAmount], ["EXPIRED", 40]);
    assert.deepEqual([apr.status, apr.consumedAmount], ["ACTIVE", 5]);
    const events = await allEvents(ledger, scope);
    assert.deepEqual(events.map((e) => [e.eventType, e.amount, e.creditGrantId, e.timestamp]), [
      ["CREDITS_GRANTED", 100, mar.id, iso(T0)],
      ["CREDITS_CONSUMED", 40, mar.id, iso(T0)],
      ["CREDITS_EXPIRED", 60, mar.id, iso(APR_1)],
      ["CREDITS_GRANTED", 100, apr.id, iso(APR_1)],
      ["CREDITS_CONSUMED", 5, apr.id, iso(APR_1)],
    ]);
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r7-edge", "ws-1", {
      currentBalance: 95,
      totalGranted: 200,
      totalConsumed: 45,
      totalExpired: 60,
    }));
  });
});

// ---------------------------------------------------------------------------
const SOFT_CATALOG = Object.freeze({
  currencies: [{ id: CURRENCY }],
  plans: [
    {
      id: "plan-soft",
      credits: [{ currencyId: CURRENCY, amount: 10, cadence: "MONTH", hasSoftLimit: true }],
      creditRates: [{ featureId: FEATURE, currencyId: CURRENCY, amount: 1 }],
    },
    {
      id: "plan-hard",
      credits: [{ currencyId: CURRENCY, amount: 10, cadence: "MONTH" }],
      creditRates: [{ featureId: FEATURE, currencyId: CURRENCY, amount: 1 }],
    },
  ],
});

describe("rule 8: getCreditEntitlement", () => {
  test("without a subscription: access iff the balance covers the request (or is > 0 with no request); usagePeriodEnd null", async () => {
    const { map, ledger } = setup();
    const scope = { customerId: "cust-r8" };
    const ent = (requestedUsage) =>
      ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY, ...(requestedUsage === undefined ? {} : { requestedUsage }) });
    const base = {
      customerId: "cust-r8",
      resourceId: null,
      currencyId: CURRENCY,
      hasAccess: false,
      accessDeniedReason: "InsufficientCredits",
      requestedUsage: 0,
      usageLimit: 0,
      currentUsage: 0,
      currentBalance: 0,
      reservedAmount: 0,
      hasSoftLimit: false,
      usagePeriodEnd: null,
    };
    assert.deepEqual(await ent(), base);
    assert.deepEqual(await ent(0), base);
    assert.deepEqual(await ent(1), { ...base, requestedUsage: 1 });

    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID" });
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 2.5, idempotencyKey: "c1" });
    const granted = { ...base, hasAccess: true, accessDeniedReason: null, usageLimit: 10, currentUsage: 2.5, currentBalance: 7.5 };
    const before = snapshot(map);
    assert.deepEqual(await ent(), granted);
    assert.deepEqual(await ent(7.5), { ...granted, requestedUsage: 7.5 });
    assert.deepEqual(await ent("7.5"), { ...granted, requestedUsage: 7.5 });
    assert.deepEqual(await ent(7.500001), { ...granted, hasAccess: false, accessDeniedReason: "InsufficientCredits", requestedUsage: 7.500001 });
    await rejectsWith(ent(-1), "INVALID_ARGUMENT");
    assert.deepEqual(snapshot(map), before);

    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 7.5, idempotencyKey: "c2" });
    assert.deepEqual(await ent(), { ...base, usageLimit: 10, currentUsage: 10, currentBalance: 0 });
  });

  test("subscribed, hard limit: denied at or below zero; usagePeriodEnd is the current monthly period's end", async () => {
    const { map, clk, ledger } = setup(T0, SOFT_CATALOG);
    const scope = { customerId: "cust-r8-hard", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-hard" });
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 12, idempotencyKey: "u1" });
    const before = snapshot(map);
    assert.deepEqual(await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY, requestedUsage: 1 }), {
      customerId: "cust-r8-hard",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      hasAccess: false,
      accessDeniedReason: "InsufficientCredits",
      requestedUsage: 1,
      usageLimit: 10,
      currentUsage: 12,
      currentBalance: -2,
      reservedAmount: 0,
      hasSoftLimit: false,
      usagePeriodEnd: iso(APR_1),
    });
    assert.deepEqual(snapshot(map), before);

    // A renewal due but not yet written: the read applies it to a copy only.
    clk.set("2026-04-10T00:00:00.000Z");
    assert.deepEqual(await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY }), {
      customerId: "cust-r8-hard",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      hasAccess: true,
      accessDeniedReason: null,
      requestedUsage: 0,
      usageLimit: 20,
      currentUsage: 12,
      currentBalance: 8,
      reservedAmount: 0,
      hasSoftLimit: false,
      usagePeriodEnd: iso(MAY_1),
    });
    assert.deepEqual(snapshot(map), before);
  });

  test("hasSoftLimit: access stays true with a negative balance and any request", async () => {
    const { map, ledger } = setup(T0, SOFT_CATALOG);
    const scope = { customerId: "cust-r8-soft", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-soft" });
    const r = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 15, idempotencyKey: "u1" });
    assert.equal(r.credit.currentBalance, -5);
    const before = snapshot(map);
    const soft = {
      customerId: "cust-r8-soft",
      resourceId: "ws-1",
      currencyId: CURRENCY,
      hasAccess: true,
      accessDeniedReason: null,
      requestedUsage: 0,
      usageLimit: 10,
      currentUsage: 15,
      currentBalance: -5,
      reservedAmount: 0,
      hasSoftLimit: true,
      usagePeriodEnd: iso(APR_1),
    };
    assert.deepEqual(await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY }), soft);
    assert.deepEqual(await ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY, requestedUsage: 1000 }), { ...soft, requestedUsage: 1000 });
    await rejectsWith(ledger.getCreditEntitlement({ ...scope, currencyId: CURRENCY, requestedUsage: -0.5 }), "INVALID_ARGUMENT");
    assert.deepEqual(snapshot(map), before);
  });
});

// ---------------------------------------------------------------------------
describe("rule 9: estimateUsageCost writes nothing", () => {
  test("exact figures, wouldOverdraft, and an unchanged kv also with a renewal and an expiry due", async () => {
    const { map, clk, ledger } = setup();
    const scope = { customerId: "cust-r9", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-pro" });
    const est = (value) => ledger.estimateUsageCost({ ...scope, featureId: FEATURE, value });
    const one = (estimatedCost, currentBalance, balanceAfterEstimate, wouldOverdraft) => ({
      customerId: "cust-r9",
      resourceId: "ws-1",
      featureId: FEATURE,
      estimates: [{ currencyId: CURRENCY, estimatedCost, currentBalance, balanceAfterEstimate, wouldOverdraft, reservedAmount: 0 }],
    });

    let before = snapshot(map);
    assert.deepEqual(await est(4), one(10, 1000, 990, false));
    assert.deepEqual(await est(400), one(1000, 1000, 0, false));
    assert.deepEqual(await est(401), one(1002.5, 1000, -2.5, true));
    assert.deepEqual(await est("0.1"), one(0.25, 1000, 999.75, false));
    assert.deepEqual(snapshot(map), before);

    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 50, grantType: "PROMOTIONAL", expireAt: T0 + MS_DAY });
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 8, idempotencyKey: "u1" }); // 20 from the promo
    before = snapshot(map);
    assert.deepEqual(await est(4), one(10, 1030, 1020, false));
    assert.deepEqual(snapshot(map), before);

    // The promo's 30 expires at T0 + 1 day; nothing is written by the estimate.
    clk.set(T0 + MS_DAY);
    assert.deepEqual(await est(4), one(10, 1000, 990, false));
    assert.deepEqual(snapshot(map), before);

    // A renewal is due on 2026-04-01: the estimate sees April's 1000, the kv does not.
    clk.set("2026-04-02T00:00:00.000Z");
    assert.deepEqual(await est(4), one(10, 1000, 990, false));
    assert.deepEqual(snapshot(map), before);
    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r9", "ws-1", {
      currentBalance: 1000,
      totalGranted: 2050,
      totalConsumed: 20,
      totalExpired: 1030,
    }));
    assert.deepEqual(snapshot(map), before);

    // Errors as reportUsage, none of them writes.
    await rejectsWith(ledger.estimateUsageCost({ customerId: "cust-r9", resourceId: "ws-none", featureId: FEATURE, value: 1 }), "NOT_FOUND");
    await rejectsWith(ledger.estimateUsageCost({ ...scope, featureId: FEATURE_IMAGES, value: 1 }), "NOT_FOUND");
    await rejectsWith(ledger.estimateUsageCost({ ...scope, featureId: "feature-unknown", value: 1 }), "NOT_FOUND");
    await rejectsWith(est(0), "INVALID_ARGUMENT");
    await rejectsWith(est(-1), "INVALID_ARGUMENT");
    assert.deepEqual(snapshot(map), before);
    await rejectsWith(ledger.reportUsage({ customerId: "cust-r9", resourceId: "ws-none", featureId: FEATURE, value: 1 }), "NOT_FOUND");
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE_IMAGES, value: 1 }), "NOT_FOUND");
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE, value: 0 }), "INVALID_ARGUMENT");
    assert.deepEqual(snapshot(map), before);
  });

  test("a negative balance makes any estimate overdraft", async () => {
    const { ledger } = setup();
    const scope = { customerId: "cust-r9-neg", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" });
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 3 });
    assert.deepEqual(await ledger.estimateUsageCost({ ...scope, featureId: FEATURE, value: "0.5" }), {
      customerId: "cust-r9-neg",
      resourceId: "ws-1",
      featureId: FEATURE,
      estimates: [{ currencyId: CURRENCY, estimatedCost: 0.5, currentBalance: -3, balanceAfterEstimate: -3.5, wouldOverdraft: true, reservedAmount: 0 }],
    });
  });
});

// ---------------------------------------------------------------------------
describe("rule 10: idempotency repeat and conflict", () => {
  test("repeats answer the first result and write nothing; other payloads and other operations conflict", async () => {
    const { map, clk, ledger } = setup();
    const scope = { customerId: "cust-r10", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });

    clk.advance(MS_SECOND);
    const use = { ...scope, featureId: FEATURE, value: 6, idempotencyKey: "use-1" };
    const first = await ledger.reportUsage(use);
    assert.equal(first.credit.consumed, 6);
    let before = snapshot(map);
    clk.advance(MS_SECOND);
    const again = await ledger.reportUsage(use);
    assert.deepEqual(again, {
      customerId: "cust-r10",
      resourceId: "ws-1",
      featureId: FEATURE,
      credit: { currencyId: CURRENCY, consumed: 0, currentUsage: 6, usageLimit: 100, currentBalance: 94, timestamp: iso(clk.now()) },
      // A repeat commits nothing, so it reports no events.
      events: [],
    });
    assert.deepEqual(snapshot(map), before);
    await rejectsWith(ledger.reportUsage({ ...use, value: 7 }), "IDEMPOTENCY_CONFLICT");
    assert.deepEqual(snapshot(map), before);

    clk.advance(MS_SECOND);
    const job = { ...scope, currencyId: CURRENCY, amount: 4, idempotencyKey: "job-1" };
    const j1 = await ledger.consumeCredits(job);
    assert.deepEqual([j1.amount, j1.credit.consumed, j1.credit.currentBalance], [4, 4, 90]);
    before = snapshot(map);
    const j2 = await ledger.consumeCredits(job);
    assert.deepEqual([j2.amount, j2.credit.consumed, j2.credit.currentBalance, j2.credit.currentUsage], [0, 0, 90, 10]);
    assert.deepEqual(j2.events, []);
    assert.deepEqual(snapshot(map), before);
    await rejectsWith(ledger.consumeCredits({ ...job, amount: 5 }), "IDEMPOTENCY_CONFLICT");
    await rejectsWith(ledger.consumeCredits({ ...job, currencyId: CURRENCY_2 }), "IDEMPOTENCY_CONFLICT");
    assert.deepEqual(snapshot(map), before);

    clk.advance(MS_SECOND);
    const grant = { ...scope, currencyId: CURRENCY, amount: 25, grantType: "PROMOTIONAL", idempotencyKey: "grant-1" };
    const g1 = await ledger.grantCredits(grant);
    before = snapshot(map);
    clk.advance(MS_SECOND);
    const g2 = await ledger.grantCredits(grant);
    assert.equal(g2.id, g1.id);
    assert.deepEqual(withoutEvents(g2), withoutEvents(g1));
    assertEvents(g1.events, [
      { type: "credits.granted", grantId: g1.id, amount: 25, customerId: "cust-r10", resourceId: "ws-1", currencyId: CURRENCY, timestamp: iso(T0 + 4 * MS_SECOND) },
    ]);
    assert.deepEqual(g2.events, []);
    assert.deepEqual(snapshot(map), before);
    await rejectsWith(ledger.grantCredits({ ...grant, amount: 26 }), "IDEMPOTENCY_CONFLICT");
    await rejectsWith(ledger.grantCredits({ ...grant, grantType: "PAID" }), "IDEMPOTENCY_CONFLICT");
    assert.deepEqual(snapshot(map), before);

    // The same key for another kind of operation.
    await rejectsWith(ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 6, idempotencyKey: "use-1" }), "IDEMPOTENCY_CONFLICT");
    await rejectsWith(ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 4, idempotencyKey: "job-1" }), "IDEMPOTENCY_CONFLICT");
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE, value: 25, idempotencyKey: "grant-1" }), "IDEMPOTENCY_CONFLICT");
    assert.deepEqual(snapshot(map), before);

    assert.deepEqual(await balanceOf(ledger, scope), poolBalance("cust-r10", "ws-1", {
      currentBalance: 115,
      totalGranted: 125,
      totalConsumed: 10,
    }));
    assert.deepEqual(brief(await allEvents(ledger, scope)).map(([t, a]) => [t, a]), [
      ["CREDITS_GRANTED", 100],
      ["CREDITS_CONSUMED", 6],
      ["CREDITS_CONSUMED", 4],
      ["CREDITS_GRANTED", 25],
    ]);
  });

  test("keys are per scope: the same key in another resource's pool (or the global pool) is independent", async () => {
    const { ledger } = setup();
    const a = { customerId: "cust-r10-b", resourceId: "ws-a" };
    const b = { customerId: "cust-r10-b", resourceId: "ws-b" };
    const g = { customerId: "cust-r10-b" };
    const ga = await ledger.grantCredits({ ...a, currencyId: CURRENCY, amount: 10, idempotencyKey: "k" });
    const gb = await ledger.grantCredits({ ...b, currencyId: CURRENCY, amount: 20, idempotencyKey: "k" });
    assert.notEqual(ga.id, gb.id);
    const cg = await ledger.consumeCredits({ ...g, currencyId: CURRENCY, amount: 3, idempotencyKey: "k" });
    assert.equal(cg.amount, 3);
    assert.equal(cg.credit.currentBalance, -3);
    assert.equal((await balanceOf(ledger, a)).currentBalance, 10);
    assert.equal((await balanceOf(ledger, b)).currentBalance, 20);
    // Each scope still recognises its own operation.
    assert.equal((await ledger.grantCredits({ ...a, currencyId: CURRENCY, amount: 10, idempotencyKey: "k" })).id, ga.id);
    await rejectsWith(ledger.grantCredits({ ...b, currencyId: CURRENCY, amount: 10, idempotencyKey: "k" }), "IDEMPOTENCY_CONFLICT");
    assert.equal((await ledger.consumeCredits({ ...g, currencyId: CURRENCY, amount: 3, idempotencyKey: "k" })).amount, 0);
  });
});

// ---------------------------------------------------------------------------
describe("rule 11: ledger queries", () => {
  async function busyScope() {
    const { clk, ledger } = setup();
    const scope = { customerId: "cust-r11", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" });
    const tick = () => clk.advance(MS_SECOND);
    tick();
    const paid = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 20, grantType: "PAID" });
    tick();
    const promo = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PROMOTIONAL", expireAt: T0 + MS_HOUR });
    tick();
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 4, idempotencyKey: "req-a" });
    tick();
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 9, idempotencyKey: "job-b" });
    tick();
    const unkeyed = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 1 });
    assert.equal(unkeyed.credit.consumed, 1);
    tick();
    await ledger.voidCreditGrant({ id: paid.id });
    clk.set(T0 + MS_HOUR); // the promo's remainder is already 0 when it expires
    tick();
    const late = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 5, grantType: "PROMOTIONAL", expireAt: T0 + 2 * MS_HOUR });
    tick();
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 2, idempotencyKey: "req-c" });
    clk.set(T0 + 3 * MS_HOUR);
    return { ledger, scope, paid, promo, late };
  }

  test("eventType filter, consumption events' featureId and eventId", async () => {
    const { ledger, scope, paid, promo, late } = await busyScope();
    const all = await allEvents(ledger, scope);
    assert.deepEqual(all.map((e) => e.seq), all.map((_, i) => i));
    const consumed = all.filter((e) => e.eventType === "CREDITS_CONSUMED");
    assert.deepEqual(consumed.map((e) => [e.amount, e.creditGrantId, e.featureId, e.eventId]).slice(0, 4), [
      [4, promo.id, FEATURE, "req-a"],
      [6, promo.id, null, "job-b"],
      [3, paid.id, null, "job-b"],
      [1, paid.id, FEATURE, consumed[3].eventId],
    ]);
    assert.equal(typeof consumed[3].eventId, "string");
    assert.ok(consumed[3].eventId.length > 0);
    assert.deepEqual(consumed.slice(4).map((e) => [e.amount, e.creditGrantId, e.featureId, e.eventId]), [[2, late.id, FEATURE, "req-c"]]);

    const filtered = await ledger.getCreditLedger({ ...scope, eventType: ["CREDITS_EXPIRED", "CREDITS_VOIDED"], order: "ASC" });
    assert.equal(filtered.nextCursor, null);
    const expected = all.filter((e) => e.eventType === "CREDITS_EXPIRED" || e.eventType === "CREDITS_VOIDED");
    assert.deepEqual(filtered.events, expected);
    // The promo was used up before its expireAt: nothing left to expire, so no event for it.
    assert.deepEqual(
      expected.map((e) => [e.eventType, e.amount, e.creditGrantId, e.timestamp]),
      [
        ["CREDITS_VOIDED", 16, paid.id, iso(T0 + 6 * MS_SECOND)],
        ["CREDITS_EXPIRED", 3, late.id, iso(T0 + 2 * MS_HOUR)],
      ],
    );
    assert.equal((await grantById(ledger, scope, promo.id)).status, "EXPIRED");
    const desc = await ledger.getCreditLedger({ ...scope, eventType: ["CREDITS_EXPIRED", "CREDITS_VOIDED"] });
    assert.deepEqual(desc.events, [...expected].reverse());
  });

  test("limit + cursor: newest first by default, oldest first with ASC, each event exactly once", async () => {
    const { ledger, scope } = await busyScope();
    const all = await allEvents(ledger, scope);
    assert.ok(all.length >= 10, `${all.length} events`);
    const collect = async (query) => {
      const pages = [];
      let cursor;
      for (let guard = 0; guard < 100; guard += 1) {
        const page = await ledger.getCreditLedger({ ...scope, ...query, ...(cursor ? { cursor } : {}) });
        pages.push(page.events);
        if (page.nextCursor === null) return pages;
        cursor = page.nextCursor;
      }
      throw new Error("never stopped paging");
    };
    for (const limit of [1, 3, 4]) {
      const desc = await collect({ limit });
      assert.ok(desc.every((p) => p.length <= limit));
      assert.ok(desc.slice(0, -1).every((p) => p.length === limit));
      assert.deepEqual(desc.flat(), [...all].reverse(), `DESC limit ${limit}`);
      const asc = await collect({ limit, order: "ASC" });
      assert.ok(asc.slice(0, -1).every((p) => p.length === limit));
      assert.deepEqual(asc.flat(), all, `ASC limit ${limit}`);
    }
    const first = await ledger.getCreditLedger({ ...scope, limit: 2 });
    assert.deepEqual(first.events.map((e) => e.seq), [all.length - 1, all.length - 2]);
    const firstAsc = await ledger.getCreditLedger({ ...scope, limit: 2, order: "ASC" });
    assert.deepEqual(firstAsc.events.map((e) => e.seq), [0, 1]);
    const consumedPaged = (await collect({ limit: 2, order: "ASC", eventType: ["CREDITS_CONSUMED"] })).flat();
    assert.deepEqual(consumedPaged, all.filter((e) => e.eventType === "CREDITS_CONSUMED"));
  });
});

// ---------------------------------------------------------------------------
describe("rule 12: balance invariant at every step", () => {
  test("ledger sums = currentBalance = totals identity after every step of a scripted sequence", async () => {
    const { clk, ledger } = setup();
    const cust = "cust-r12";
    const A = { customerId: cust, resourceId: "ws-a" }; // plan-basic
    const B = { customerId: cust, resourceId: "ws-b" }; // plan-pro
    const G = { customerId: cust, resourceId: null }; // no subscription
    const pools = [
      [A, CURRENCY],
      [A, CURRENCY_2],
      [B, CURRENCY],
      [G, CURRENCY],
    ];

    const pagedLedger = async (scope) => {
      const events = [];
      let cursor;
      for (let guard = 0; guard < 1000; guard += 1) {
        const page = await ledger.getCreditLedger({ ...scope, limit: 3, ...(cursor ? { cursor } : {}) });
        events.push(...page.events);
        if (page.nextCursor === null) return events.reverse();
        cursor = page.nextCursor;
      }
      throw new Error("never stopped paging");
    };

    const check = async (label) => {
      for (const [scope, currencyId] of pools) {
        const events = await pagedLedger(scope);
        assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i), `${label}: seqs`);
        const sum = { CREDITS_GRANTED: 0, CREDITS_CONSUMED: 0, CREDITS_EXPIRED: 0, CREDITS_VOIDED: 0 };
        let transfer = 0;
        for (const e of events) {
          if (e.currencyId !== currencyId) continue;
          if (e.eventType in sum) sum[e.eventType] += micros(e.amount);
          else if (e.eventType === "CREDITS_CONSUMPTION_TRANSFER_SOURCE") transfer += micros(e.amount);
          else if (e.eventType === "CREDITS_CONSUMPTION_TRANSFER_TARGET") transfer -= micros(e.amount);
        }
        const b = await ledger.getCreditBalance({ ...scope, currencyId });
        const where = `${label}: ${scope.resourceId ?? "global"}/${currencyId}`;
        const fromLedger = sum.CREDITS_GRANTED - sum.CREDITS_CONSUMED - sum.CREDITS_EXPIRED - sum.CREDITS_VOIDED;
        const fromTotals = micros(b.totalGranted) - micros(b.totalConsumed) - micros(b.totalExpired) - micros(b.totalVoided);
        assert.equal(fromLedger, micros(b.currentBalance), `${where}: ledger sum vs balance`);
        assert.equal(fromTotals, micros(b.currentBalance), `${where}: totals vs balance`);
        assert.deepEqual(
          [sum.CREDITS_GRANTED, sum.CREDITS_CONSUMED, sum.CREDITS_EXPIRED, sum.CREDITS_VOIDED],
          [micros(b.totalGranted), micros(b.totalConsumed), micros(b.totalExpired), micros(b.totalVoided)],
          `${where}: each total`,
        );
        assert.equal(transfer, 0, `${where}: transfers net to zero`);
      }
    };

    const ids = {};
    const steps = [
      ["provision A basic", () => ledger.provisionSubscription({ ...A, planId: "plan-basic" })],
      ["provision B pro", () => ledger.provisionSubscription({ ...B, planId: "plan-pro" })],
      ["A promo p1 expiring in 2 days", async () => {
        ids.aPromo = (await ledger.grantCredits({ ...A, currencyId: CURRENCY, amount: "12.5", grantType: "PROMOTIONAL", priority: 1, expireAt: T0 + 2 * MS_DAY })).id;
      }],
      ["A paid p0", async () => {
        ids.aPaid = (await ledger.grantCredits({ ...A, currencyId: CURRENCY, amount: 7, grantType: "PAID", priority: 0 })).id;
      }],
      ["A usage 0.3", () => ledger.reportUsage({ ...A, featureId: FEATURE, value: 0.3, idempotencyKey: "a1" })],
      ["A usage 110", () => ledger.reportUsage({ ...A, featureId: FEATURE, value: 110, idempotencyKey: "a2" })],
      ["A images 3 (overdraft)", () => ledger.reportUsage({ ...A, featureId: FEATURE_IMAGES, value: 3, idempotencyKey: "a3" })],
      ["A images grant 10 settles", () => ledger.grantCredits({ ...A, currencyId: CURRENCY_2, amount: 10, grantType: "PAID" })],
      ["B usage 0.1 × 2.5", () => ledger.reportUsage({ ...B, featureId: FEATURE, value: "0.1" })],
      ["G consume 5 (overdraft)", () => ledger.consumeCredits({ ...G, currencyId: CURRENCY, amount: 5, idempotencyKey: "g1" })],
      ["G scheduled 30 at +1 day, expiring +3 days", async () => {
        ids.gSched = (await ledger.grantCredits({ ...G, currencyId: CURRENCY, amount: 30, effectiveAt: T0 + MS_DAY, expireAt: T0 + 3 * MS_DAY })).id;
      }],
      ["G paid 4 p5", async () => {
        ids.gPaid = (await ledger.grantCredits({ ...G, currencyId: CURRENCY, amount: 4, priority: 5 })).id;
      }],
      ["clock +12h", () => clk.advance(12 * MS_HOUR)],
      ["B consume 999.75 (to zero)", () => ledger.consumeCredits({ ...B, currencyId: CURRENCY, amount: 999.75, idempotencyKey: "b1" })],
      ["B promo 20 expiring in 1 day", async () => {
        ids.bPromo = (await ledger.grantCredits({ ...B, currencyId: CURRENCY, amount: 20, grantType: "PROMOTIONAL", expireAt: T0 + 36 * MS_HOUR })).id;
      }],
      ["B usage 2", () => ledger.reportUsage({ ...B, featureId: FEATURE, value: 2 })],
      ["clock to +1 day (G scheduled starts)", () => clk.set(T0 + MS_DAY)],
      ["G consume 10", () => ledger.consumeCredits({ ...G, currencyId: CURRENCY, amount: 10, idempotencyKey: "g2" })],
      ["void G paid", () => ledger.voidCreditGrant({ id: ids.gPaid })],
      ["clock to +36h (B promo expires)", () => clk.set(T0 + 36 * MS_HOUR)],
      ["clock to +2 days (A promo expires)", () => clk.set(T0 + 2 * MS_DAY)],
      ["A grant 50 p0 expiring at +20 days", async () => {
        ids.aMid = (await ledger.grantCredits({ ...A, currencyId: CURRENCY, amount: 50, expireAt: T0 + 20 * MS_DAY })).id;
      }],
      ["A usage 20", () => ledger.reportUsage({ ...A, featureId: FEATURE, value: 20, idempotencyKey: "a4" })],
      ["void A mid", () => ledger.voidCreditGrant({ id: ids.aMid })],
      ["clock to +3 days (G scheduled expires)", () => clk.set(T0 + 3 * MS_DAY)],
      ["G consume 1", () => ledger.consumeCredits({ ...G, currencyId: CURRENCY, amount: 1, idempotencyKey: "g3" })],
      ["G repeat consume 1", () => ledger.consumeCredits({ ...G, currencyId: CURRENCY, amount: 1, idempotencyKey: "g3" })],
      ["clock to 2026-04-01 (month boundary)", () => clk.set(APR_1)],
      ["A usage at boundary 1", () => ledger.reportUsage({ ...A, featureId: FEATURE, value: 1, idempotencyKey: "a5" })],
      ["clock to 2026-05-20 (skipped month)", () => clk.set("2026-05-20T00:00:00.000Z")],
      ["B usage 3", () => ledger.reportUsage({ ...B, featureId: FEATURE, value: 3 })],
      ["void B's current recurring grant", async () => {
        const rec = (await allGrants(ledger, B)).find((g) => g.grantType === "RECURRING" && g.status === "ACTIVE");
        await ledger.voidCreditGrant({ id: rec.id });
      }],
      ["B usage 1 (overdraft)", () => ledger.reportUsage({ ...B, featureId: FEATURE, value: 1 })],
      ["G grant 100 settles", () => ledger.grantCredits({ ...G, currencyId: CURRENCY, amount: 100, grantType: "PROMOTIONAL" })],
      ["clock to 2026-06-01", () => clk.set("2026-06-01T00:00:00.000Z")],
    ];

    await check("start");
    for (const [label, run] of steps) {
      await run();
      await check(label);
    }

    // A few end figures, so the script cannot pass vacuously.
    const end = async (scope, currencyId = CURRENCY) => {
      const b = await ledger.getCreditBalance({ ...scope, currencyId });
      return [b.currentBalance, b.totalGranted, b.totalConsumed, b.totalExpired, b.totalVoided];
    };
    // G: overdraft 5; paid 4 (priority 5) settles 4 of it at once; at +1 day the scheduled 30
    // settles the last 1 (29 left); consume 10 → 19; voiding the fully consumed paid grant
    // removes 0; the scheduled grant's 19 expire at +3 days; consume 1 → -1; promo 100 → 99.
    assert.deepEqual(await end(G), [99, 134, 16, 19, 0]);
    // B: March 1000 + promo 20 + April, May, June 1000 each; consumed 0.25 + 999.75 + 5 + 7.5 + 2.5;
    // expired the promo's 15 and April's unused 1000; May's grant voided with 992.5 left;
    // June's 1000 settled the 2.5 overdraft.
    assert.deepEqual(await end(B), [997.5, 4020, 1015, 1015, 992.5]);
    // A: 4 × 100 plan credits + 12.5 + 7 + 50; consumed 0.3 + 110 + 20 + 1; expired the promo's 9.2,
    // April's 99 and May's 100; the 50 grant voided with 30 left.
    assert.deepEqual(await end(A), [100, 469.5, 131.3, 208.2, 30]);
    // A images: 3 consumed, 10 granted.
    assert.deepEqual(await end(A, CURRENCY_2), [7, 10, 3, 0, 0]);
  });
});
