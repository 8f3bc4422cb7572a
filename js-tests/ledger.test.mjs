// Behaviour of the credit ledger through its public API, with exact values.
//
// Run: cd /work/main && node --test js-tests/*.test.mjs js-tests/*.test.cjs

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import {
  CURRENCY,
  CURRENCY_2,
  FEATURE,
  MS_DAY,
  MS_HOUR,
  MS_SECOND,
  T0,
  allEvents,
  allGrants,
  assertEvents,
  asyncKv,
  brief,
  clock,
  grantById,
  iso,
  makeLedger,
  memoryKv,
  normalizeIds,
  poolBalance,
  rejectsWith,
  snapshot,
  withoutEvents,
  zeroBalance,
} from "./helpers.mjs";

const balanceOf = (ledger, customerId, resourceId, currencyId = CURRENCY) =>
  ledger.getCreditBalance({ customerId, ...(resourceId === null ? {} : { resourceId }), currencyId });

// ---------------------------------------------------------------------------
describe("resource isolation", () => {
  test("two workspaces and the global pool of one customer never share credits or overdraft", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const cust = "cust-isolation";

    const subA = await ledger.provisionSubscription({ customerId: cust, planId: "plan-basic", resourceId: "ws-a" });
    const subB = await ledger.provisionSubscription({ customerId: cust, planId: "plan-basic", resourceId: "ws-b" });
    const subG = await ledger.provisionSubscription({ customerId: cust, planId: "plan-basic" });
    assert.deepEqual(withoutEvents(subA), {
      id: subA.id,
      status: "SUCCESS",
      subscription: { id: subA.id, customerId: cust, planId: "plan-basic", resourceId: "ws-a", status: "ACTIVE", startDate: iso(T0) },
    });
    assert.equal(subG.subscription.resourceId, null);
    assert.equal(new Set([subA.id, subB.id, subG.id]).size, 3);

    // Each scope got its own RECURRING grant of the plan's 100 monthly credits.
    const recurring = {};
    for (const [name, resourceId, sub] of [["a", "ws-a", subA], ["b", "ws-b", subB], ["g", null, subG]]) {
      const grants = await allGrants(ledger, { customerId: cust, resourceId });
      assert.equal(grants.length, 1, `scope ${name}`);
      const [grant] = grants;
      assert.equal(grant.grantType, "RECURRING");
      assert.equal(grant.amount, 100);
      assert.equal(grant.consumedAmount, 0);
      assert.equal(grant.status, "ACTIVE");
      assert.equal(grant.currencyId, CURRENCY);
      assert.equal(grant.resourceId, resourceId);
      assert.equal(grant.customerId, cust);
      assert.equal(grant.subscriptionId, sub.id);
      assert.equal(grant.effectiveAt, iso(T0));
      assert.equal(grant.expireAt, "2026-04-01T00:00:00.000Z");
      recurring[name] = grant.id;
      // Provisioning committed exactly that grant, in its own pool.
      assertEvents(sub.events, [
        { type: "credits.granted", grantId: grant.id, amount: 100, customerId: cust, resourceId, currencyId: CURRENCY, timestamp: iso(T0) },
      ], `scope ${name}`);
    }
    assert.equal(new Set(Object.values(recurring)).size, 3);

    clk.advance(MS_SECOND);
    const paid = await ledger.grantCredits({ customerId: cust, resourceId: "ws-a", currencyId: CURRENCY, amount: 50, grantType: "PAID" });
    assert.equal(paid.resourceId, "ws-a");
    assert.equal(paid.amount, 50);
    assert.equal(paid.consumedAmount, 0);
    assert.equal(paid.status, "ACTIVE");
    assert.equal(paid.grantType, "PAID");
    assert.equal(paid.automaticRechargeConfigurationId, null);
    assertEvents(paid.events, [
      { type: "credits.granted", grantId: paid.id, amount: 50, customerId: cust, resourceId: "ws-a", currencyId: CURRENCY, timestamp: iso(T0 + MS_SECOND) },
    ]);

    clk.advance(MS_SECOND);
    const useA = await ledger.reportUsage({ customerId: cust, resourceId: "ws-a", featureId: FEATURE, value: 30, idempotencyKey: "a-1" });
    assert.deepEqual(useA, {
      customerId: cust,
      resourceId: "ws-a",
      featureId: FEATURE,
      credit: { currencyId: CURRENCY, consumed: 30, currentUsage: 30, usageLimit: 150, currentBalance: 120, timestamp: iso(T0 + 2 * MS_SECOND) },
      // 120 of 150 is exactly 80 %: not below the first low-balance threshold, no grant emptied.
      events: [],
    });

    clk.advance(MS_SECOND);
    const useB = await ledger.reportUsage({ customerId: cust, resourceId: "ws-b", featureId: FEATURE, value: 130, idempotencyKey: "b-1" });
    assert.deepEqual(useB.credit, {
      currencyId: CURRENCY,
      consumed: 130,
      currentUsage: 130,
      usageLimit: 100,
      currentBalance: -30,
      timestamp: iso(T0 + 3 * MS_SECOND),
    });

    clk.advance(MS_SECOND);
    const useG = await ledger.reportUsage({ customerId: cust, featureId: FEATURE, value: 10, idempotencyKey: "g-1" });
    assert.equal(useG.resourceId, null);
    assert.deepEqual(useG.credit, {
      currencyId: CURRENCY,
      consumed: 10,
      currentUsage: 10,
      usageLimit: 100,
      currentBalance: 90,
      timestamp: iso(T0 + 4 * MS_SECOND),
    });

    assert.deepEqual(await balanceOf(ledger, cust, "ws-a"), poolBalance(cust, "ws-a", {
      currentBalance: 120,
      totalGranted: 150,
      totalConsumed: 30,
    }));
    assert.deepEqual(await balanceOf(ledger, cust, "ws-b"), poolBalance(cust, "ws-b", {
      currentBalance: -30,
      totalGranted: 100,
      totalConsumed: 130,
    }));
    assert.deepEqual(await balanceOf(ledger, cust, null), poolBalance(cust, null, {
      currentBalance: 90,
      totalGranted: 100,
      totalConsumed: 10,
    }));

    // Ledgers: each scope holds exactly its own events.
    const eventsA = await allEvents(ledger, { customerId: cust, resourceId: "ws-a" });
    assert.deepEqual(brief(eventsA), [
      ["CREDITS_GRANTED", 100, recurring.a],
      ["CREDITS_GRANTED", 50, paid.id],
      ["CREDITS_CONSUMED", 30, recurring.a],
    ]);
    assert.deepEqual(eventsA[2], {
      seq: 2,
      eventType: "CREDITS_CONSUMED",
      customerId: cust,
      resourceId: "ws-a",
      currencyId: CURRENCY,
      amount: 30,
      creditGrantId: recurring.a,
      featureId: FEATURE,
      eventId: "a-1",
      timestamp: iso(T0 + 2 * MS_SECOND),
    });

    const grantsB = await allGrants(ledger, { customerId: cust, resourceId: "ws-b" });
    const overdrafts = grantsB.filter((g) => g.grantType === "OVERDRAFT");
    assert.equal(overdrafts.length, 1);
    const [overdraftB] = overdrafts;
    assert.equal(overdraftB.amount, 0);
    assert.equal(overdraftB.consumedAmount, 30);
    assert.equal(overdraftB.status, "ACTIVE");
    assert.equal(overdraftB.resourceId, "ws-b");
    assert.equal((await grantById(ledger, { customerId: cust, resourceId: "ws-b" }, recurring.b)).consumedAmount, 100);

    const eventsB = await allEvents(ledger, { customerId: cust, resourceId: "ws-b" });
    assert.deepEqual(brief(eventsB), [
      ["CREDITS_GRANTED", 100, recurring.b],
      ["CREDITS_CONSUMED", 100, recurring.b],
      ["CREDITS_CONSUMED", 30, overdraftB.id],
    ]);
    assert.deepEqual(eventsB.slice(1).map((e) => [e.eventId, e.featureId, e.resourceId]), [
      ["b-1", FEATURE, "ws-b"],
      ["b-1", FEATURE, "ws-b"],
    ]);

    const eventsG = await allEvents(ledger, { customerId: cust });
    assert.deepEqual(brief(eventsG), [
      ["CREDITS_GRANTED", 100, recurring.g],
      ["CREDITS_CONSUMED", 10, recurring.g],
    ]);
    assert.ok(eventsG.every((e) => e.resourceId === null));

    // No overdraft grant anywhere but ws-b.
    for (const resourceId of ["ws-a", null]) {
      const grants = await allGrants(ledger, { customerId: cust, resourceId });
      assert.deepEqual(grants.filter((g) => g.grantType === "OVERDRAFT"), [], `scope ${resourceId}`);
    }

    // Grants to the sibling or the global pool do not settle ws-b's overdraft.
    clk.advance(MS_SECOND);
    await ledger.grantCredits({ customerId: cust, currencyId: CURRENCY, amount: 20, grantType: "PROMOTIONAL" });
    clk.advance(MS_SECOND);
    await ledger.grantCredits({ customerId: cust, resourceId: "ws-a", currencyId: CURRENCY, amount: 40, grantType: "PAID" });
    assert.equal((await balanceOf(ledger, cust, null)).currentBalance, 110);
    assert.equal((await balanceOf(ledger, cust, "ws-a")).currentBalance, 160);
    assert.equal((await balanceOf(ledger, cust, "ws-b")).currentBalance, -30);
    const stillOpen = await grantById(ledger, { customerId: cust, resourceId: "ws-b" }, overdraftB.id);
    assert.equal(stillOpen.status, "ACTIVE");
    assert.equal(stillOpen.consumedAmount, 30);

    // Settling ws-b's own overdraft touches nothing else.
    clk.advance(MS_SECOND);
    const settle = await ledger.grantCredits({ customerId: cust, resourceId: "ws-b", currencyId: CURRENCY, amount: 30, grantType: "PAID" });
    assert.equal(settle.consumedAmount, 30);
    assert.equal((await balanceOf(ledger, cust, "ws-b")).currentBalance, 0);
    assert.equal((await balanceOf(ledger, cust, "ws-a")).currentBalance, 160);
    assert.equal((await balanceOf(ledger, cust, null)).currentBalance, 110);

    // A resource without a subscription of its own cannot draw on the global pool.
    await rejectsWith(ledger.reportUsage({ customerId: cust, resourceId: "ws-c", featureId: FEATURE, value: 1 }), "NOT_FOUND");
    assert.deepEqual(await balanceOf(ledger, cust, "ws-c"), zeroBalance(cust, "ws-c"));
    assert.equal((await balanceOf(ledger, cust, null)).currentBalance, 110);

    // The same resource id under another customer is another pool.
    assert.deepEqual(await balanceOf(ledger, "cust-other", "ws-a"), zeroBalance("cust-other", "ws-a"));
    assert.deepEqual(await allEvents(ledger, { customerId: "cust-other", resourceId: "ws-a" }), []);

    // A second currency of the same workspace is a separate pool too.
    clk.advance(MS_SECOND);
    const images = await ledger.reportUsage({ customerId: cust, resourceId: "ws-a", featureId: "feature-images", value: 4 });
    assert.equal(images.credit.currencyId, CURRENCY_2);
    assert.equal(images.credit.currentBalance, -4);
    assert.equal((await balanceOf(ledger, cust, "ws-a")).currentBalance, 160);
    assert.deepEqual(await balanceOf(ledger, cust, "ws-a", CURRENCY_2), poolBalance(cust, "ws-a", {
      currentBalance: -4,
      totalConsumed: 4,
    }, CURRENCY_2));
  });
});

// ---------------------------------------------------------------------------
describe("persistence", () => {
  test("two instances over the same kv see the same pools and continue each other's ledger", async () => {
    const { kv, map } = memoryKv();
    const clk = clock(T0);
    const first = makeLedger({ kv, clk });
    const cust = "cust-persist";
    const scope = { customerId: cust, resourceId: "ws-1" };

    await first.provisionSubscription({ ...scope, planId: "plan-basic" });
    clk.advance(MS_SECOND);
    const paid = await first.grantCredits({ ...scope, currencyId: CURRENCY, amount: 40, idempotencyKey: "grant-40" });
    clk.advance(MS_SECOND);
    await first.reportUsage({ ...scope, featureId: FEATURE, value: 25, idempotencyKey: "use-25" });

    const second = makeLedger({ kv, clk });
    assert.deepEqual(await second.getCreditBalance({ ...scope, currencyId: CURRENCY }), poolBalance(cust, "ws-1", {
      currentBalance: 115,
      totalGranted: 140,
      totalConsumed: 25,
    }));
    assert.deepEqual(await allGrants(second, scope), await allGrants(first, scope));
    assert.deepEqual(await allEvents(second, scope), await allEvents(first, scope));

    clk.advance(MS_SECOND);
    const fromSecond = await second.reportUsage({ ...scope, featureId: FEATURE, value: 5, idempotencyKey: "use-5" });
    assert.deepEqual(fromSecond.credit, {
      currencyId: CURRENCY,
      consumed: 5,
      currentUsage: 30,
      usageLimit: 140,
      currentBalance: 110,
      timestamp: iso(T0 + 3 * MS_SECOND),
    });

    // The first instance sees the second's write; the ledger continues at seq 3.
    const recurringId = (await allGrants(first, scope)).find((g) => g.grantType === "RECURRING").id;
    const events = await allEvents(first, scope);
    assert.deepEqual(events.map((e) => [e.seq, e.eventType, e.amount, e.creditGrantId, e.eventId]), [
      [0, "CREDITS_GRANTED", 100, recurringId, null],
      [1, "CREDITS_GRANTED", 40, paid.id, null],
      [2, "CREDITS_CONSUMED", 25, recurringId, "use-25"],
      [3, "CREDITS_CONSUMED", 5, recurringId, "use-5"],
    ]);

    // Idempotency keys live in the kv, so they hold across instances.
    const repeat25 = await second.reportUsage({ ...scope, featureId: FEATURE, value: 25, idempotencyKey: "use-25" });
    assert.equal(repeat25.credit.consumed, 0);
    assert.equal(repeat25.credit.currentBalance, 110);
    const repeatGrant = await second.grantCredits({ ...scope, currencyId: CURRENCY, amount: 40, idempotencyKey: "grant-40" });
    assert.equal(repeatGrant.id, paid.id);
    const repeat5 = await first.reportUsage({ ...scope, featureId: FEATURE, value: 5, idempotencyKey: "use-5" });
    assert.equal(repeat5.credit.consumed, 0);
    assert.equal(repeat5.credit.currentBalance, 110);

    clk.advance(MS_SECOND);
    const fromFirst = await first.reportUsage({ ...scope, featureId: FEATURE, value: 10 });
    assert.equal(fromFirst.credit.currentBalance, 100);
    const after = await allEvents(second, scope);
    assert.equal(after.length, 5);
    assert.deepEqual([after[4].seq, after[4].eventType, after[4].amount], [4, "CREDITS_CONSUMED", 10]);
    assert.equal((await second.getCreditBalance({ ...scope, currencyId: CURRENCY })).currentBalance, 100);

    // Every key is under the default prefix; another prefix is another namespace.
    const keysBefore = [...map.keys()];
    assert.ok(keysBefore.length > 0);
    assert.ok(keysBefore.every((k) => k.startsWith("credit-pools")), keysBefore.join(", "));
    const tenant = makeLedger({ kv, clk, keyPrefix: "tenant-b" });
    assert.deepEqual(await tenant.getCreditBalance({ ...scope, currencyId: CURRENCY }), zeroBalance(cust, "ws-1"));
    await rejectsWith(tenant.reportUsage({ ...scope, featureId: FEATURE, value: 1 }), "NOT_FOUND");
    await tenant.provisionSubscription({ ...scope, planId: "plan-pro" });
    assert.equal((await tenant.getCreditBalance({ ...scope, currencyId: CURRENCY })).currentBalance, 1000);
    assert.equal((await first.getCreditBalance({ ...scope, currencyId: CURRENCY })).currentBalance, 100);
    const newKeys = [...map.keys()].filter((k) => !keysBefore.includes(k));
    assert.ok(newKeys.length > 0);
    assert.ok(newKeys.every((k) => k.startsWith("tenant-b")), newKeys.join(", "));
  });
});

// ---------------------------------------------------------------------------
describe("sync and async kv", () => {
  // One script over a fresh store; returns every answer and the final store.
  async function script({ kv, map }) {
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const cust = "cust-script";
    const a = { customerId: cust, resourceId: "ws-a" };
    const b = { customerId: cust, resourceId: "ws-b" };
    const g = { customerId: cust };
    const out = {};
    const step = async (label, fn) => {
      clk.advance(MS_SECOND);
      try {
        out[label] = await fn();
      } catch (error) {
        out[label] = { error: error.code, field: error.field ?? null };
      }
    };

    await step("provision-a", () => ledger.provisionSubscription({ ...a, planId: "plan-basic" }));
    await step("provision-b", () => ledger.provisionSubscription({ ...b, planId: "plan-pro" }));
    await step("provision-g", () => ledger.provisionSubscription({ ...g, planId: "plan-payg" }));
    await step("grant-promo", () =>
      ledger.grantCredits({ ...a, currencyId: CURRENCY, amount: 20, grantType: "PROMOTIONAL", priority: 1, expireAt: T0 + 2 * MS_DAY, idempotencyKey: "g-1" }),
    );
    await step("grant-paid", () => ledger.grantCredits({ ...a, creditTypeId: CURRENCY, amount: "12.345678", grantType: "PAID" }));
    await step("grant-scheduled", () => ledger.grantCredits({ ...g, currencyId: CURRENCY, amount: 30, grantType: "PAID", effectiveAt: iso(T0 + MS_DAY) }));
    await step("use-a", () => ledger.reportUsage({ ...a, featureId: FEATURE, value: 110.5, idempotencyKey: "u-1" }));
    await step("use-a-repeat", () => ledger.reportUsage({ ...a, featureId: FEATURE, value: 110.5, idempotencyKey: "u-1" }));
    await step("use-a-conflict", () => ledger.reportUsage({ ...a, featureId: FEATURE, value: 1, idempotencyKey: "u-1" }));
    await step("use-b", () => ledger.reportUsage({ ...b, featureId: FEATURE, value: 8, idempotencyKey: "u-2" }));
    await step("use-g", () => ledger.reportUsage({ ...g, featureId: FEATURE, value: 7 }));
    await step("consume-images", () => ledger.consumeCredits({ ...a, currencyId: CURRENCY_2, amount: 3, idempotencyKey: "c-1" }));
    await step("bad-value", () => ledger.reportUsage({ ...a, featureId: FEATURE, value: -1 }));
    clk.advance(MS_DAY);
    await step("balance-g", () => ledger.getCreditBalance({ ...g, currencyId: CURRENCY }));
    clk.set(T0 + 3 * MS_DAY);
    for (const [name, scope] of [["a", a], ["b", b], ["g", g]]) {
      await step(`balance-${name}-tokens`, () => ledger.getCreditBalance({ ...scope, currencyId: CURRENCY }));
      await step(`balance-${name}-images`, () => ledger.getCreditBalance({ ...scope, currencyId: CURRENCY_2 }));
      await step(`ledger-${name}`, () => ledger.getCreditLedger({ ...scope, limit: 1000 }));
      await step(`grants-${name}`, () => ledger.getCreditGrants({ ...scope, limit: 1000 }));
    }
    await step("use-a-after-expiry", () => ledger.reportUsage({ ...a, featureId: FEATURE, value: 2 }));
    return { out, kv: snapshot(map) };
  }

  test("a synchronous kv and a Promise kv give identical results and identical stored bytes", async () => {
    const syncRun = await script(memoryKv());
    const asyncStore = asyncKv();
    const asyncRun = await script(asyncStore);
    assert.ok(asyncStore.stats.gets > 0 && asyncStore.stats.puts > 0, "the async kv was used");
    // Random ids are numbered by first appearance in the answers; the stored
    // entries are re-sorted after that, since index keys contain the ids.
    const normalized = (run) => {
      const n = normalizeIds(run);
      n.kv.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return n;
    };
    assert.deepEqual(normalized(asyncRun), normalized(syncRun));

    // And the script's answers are the ones the rules give.
    const { out } = syncRun;
    assert.deepEqual(out["use-a"].credit, {
      currencyId: CURRENCY,
      consumed: 110.5,
      currentUsage: 110.5,
      usageLimit: 132.345678,
      currentBalance: 21.845678,
      timestamp: iso(T0 + 7 * MS_SECOND),
    });
    assert.equal(out["use-a-repeat"].credit.consumed, 0);
    assert.equal(out["use-a-repeat"].credit.currentBalance, 21.845678);
    assert.deepEqual(out["use-a-conflict"], { error: "IDEMPOTENCY_CONFLICT", field: null });
    assert.deepEqual(out["bad-value"], { error: "INVALID_ARGUMENT", field: "value" });
    assert.equal(out["use-b"].credit.consumed, 20);
    assert.equal(out["use-b"].credit.currentBalance, 980);
    assert.equal(out["use-g"].credit.currentBalance, -7);
    assert.equal(out["consume-images"].amount, 3);
    assert.equal(out["consume-images"].credit.currentBalance, -3);
    assert.equal(out["grant-scheduled"].status, "SCHEDULED");
    assert.equal(out["balance-g"].currentBalance, 23);
    // The promotional grant (20, expiring at T0 + 2 days) expired untouched.
    assert.deepEqual(out["balance-a-tokens"], poolBalance("cust-script", "ws-a", {
      currentBalance: 1.845678,
      totalGranted: 132.345678,
      totalConsumed: 110.5,
      totalExpired: 20,
    }));
    assert.equal(out["balance-a-images"].currentBalance, -3);
    assert.equal(out["balance-b-tokens"].currentBalance, 980);
    assert.equal(out["balance-g-tokens"].currentBalance, 23);
    assert.equal(out["use-a-after-expiry"].credit.currentBalance, -0.154322);
  });
});

// ---------------------------------------------------------------------------
describe("burn order", () => {
  test("priority, then expiry, then promotional before paid, then effectiveAt, then creation order; overdraft last", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-burn", resourceId: "ws-burn" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" }); // no recurring credits
    const grant = (input) => ledger.grantCredits({ ...scope, currencyId: CURRENCY, ...input });

    // All created at T0.
    const G0 = await grant({ amount: 5, grantType: "PAID" }); // default priority 0, never expires
    const G1 = await grant({ amount: 10, grantType: "PAID", priority: 1 });
    const G2 = await grant({ amount: 10, grantType: "PROMOTIONAL", priority: 1 });
    const G3 = await grant({ amount: 10, grantType: "PAID", priority: 1, expireAt: T0 + 10 * MS_DAY });
    const G4 = await grant({ amount: 10, grantType: "PAID", priority: 2, expireAt: T0 + MS_DAY }); // expires soonest
    const G5 = await grant({ amount: 10, grantType: "PROMOTIONAL", priority: 1, expireAt: new Date(T0 + 10 * MS_DAY) });
    const G7 = await grant({ amount: 10, grantType: "PAID", priority: 1, effectiveAt: iso(T0 - MS_DAY) });
    const G8 = await grant({ amount: 10, grantType: "PAID", priority: 1 });
    const name = new Map(Object.entries({ G0, G1, G2, G3, G4, G5, G7, G8 }).map(([n, g]) => [g.id, n]));
    assert.equal(name.size, 8);

    assert.equal(G0.priority, 0);
    assert.equal(G4.priority, 2);
    assert.equal(G5.grantType, "PROMOTIONAL");
    assert.equal(G5.expireAt, iso(T0 + 10 * MS_DAY)); // Date in, ISO out
    assert.equal(G3.expireAt, iso(T0 + 10 * MS_DAY)); // epoch ms in, ISO out
    assert.equal(G1.expireAt, null);
    assert.equal(G7.effectiveAt, iso(T0 - MS_DAY)); // ISO in
    assert.equal(G7.status, "ACTIVE");
    assert.equal(G1.effectiveAt, iso(T0));
    // Expected order: G0 (p0) | p1: G5, G3 (expiring; promo first), G2 (promo), G7 (earlier effectiveAt), G1, G8 (creation order) | G4 (p2)

    const use = (value, key) => ledger.reportUsage({ ...scope, featureId: FEATURE, value, idempotencyKey: key });
    const remaining = async () => {
      const grants = await allGrants(ledger, scope);
      return Object.fromEntries(grants.filter((g) => name.has(g.id)).map((g) => [name.get(g.id), g.amount - g.consumedAmount]));
    };

    await use(3, "u1");
    const u2 = await use(14, "u2");
    assert.deepEqual(u2.credit, { currencyId: CURRENCY, consumed: 14, currentUsage: 17, usageLimit: 75, currentBalance: 58, timestamp: iso(T0) });
    await use(8, "u3");
    // The priority-2 grant expiring sooner is untouched while priority-1 grants still have credits.
    assert.deepEqual(await remaining(), { G0: 0, G1: 10, G2: 10, G3: 0, G4: 10, G5: 0, G7: 10, G8: 10 });
    await use(35, "u4");
    assert.deepEqual(await remaining(), { G0: 0, G1: 0, G2: 0, G3: 0, G4: 10, G5: 0, G7: 0, G8: 5 });
    await use(10, "u5");
    const u6 = await use(10, "u6");
    assert.equal(u6.credit.currentBalance, -5);

    const grants = await allGrants(ledger, scope);
    const overdraft = grants.filter((g) => g.grantType === "OVERDRAFT");
    assert.equal(overdraft.length, 1);
    name.set(overdraft[0].id, "OVERDRAFT");
    assert.equal(overdraft[0].consumedAmount, 5);

    const consumed = await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] });
    assert.deepEqual(
      consumed.map((e) => [e.eventId, name.get(e.creditGrantId), e.amount]),
      [
        ["u1", "G0", 3],
        ["u2", "G0", 2], ["u2", "G5", 10], ["u2", "G3", 2],
        ["u3", "G3", 8],
        ["u4", "G2", 10], ["u4", "G7", 10], ["u4", "G1", 10], ["u4", "G8", 5],
        ["u5", "G8", 5], ["u5", "G4", 5],
        ["u6", "G4", 5], ["u6", "OVERDRAFT", 5],
      ],
    );
    assert.ok(consumed.every((e) => e.featureId === FEATURE && e.currencyId === CURRENCY && e.resourceId === "ws-burn"));

    assert.deepEqual(await ledger.getCreditBalance({ ...scope, currencyId: CURRENCY }), poolBalance("cust-burn", "ws-burn", {
      currentBalance: -5,
      totalGranted: 75,
      totalConsumed: 80,
    }));
  });

  test("plan credits (recurring, expiring at period end) burn before a never-expiring PAID grant of equal priority", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-burn-2", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-pro" });
    const paid = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 500, grantType: "PAID" });
    // 450 units × 2.5 = 1125 credits: 1000 from the plan grant, then 125 from the paid grant.
    const usage = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 450, idempotencyKey: "big" });
    assert.equal(usage.credit.consumed, 1125);
    assert.equal(usage.credit.currentBalance, 375);
    const recurring = (await allGrants(ledger, scope)).find((g) => g.grantType === "RECURRING");
    const consumed = await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] });
    assert.deepEqual(brief(consumed), [
      ["CREDITS_CONSUMED", 1000, recurring.id],
      ["CREDITS_CONSUMED", 125, paid.id],
    ]);
    assert.deepEqual(consumed.map((e) => e.eventId), ["big", "big"]);
  });
});

// ---------------------------------------------------------------------------
describe("idempotency", () => {
  test("repeats apply once, conflicts are refused, also after the key left the head's window", async () => {
    const { kv, map } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-idem", resourceId: "ws-1" };
    const balance = () => ledger.getCreditBalance({ ...scope, currencyId: CURRENCY });
    await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });

    clk.advance(MS_SECOND);
    const first = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 10, idempotencyKey: "req-1" });
    assert.deepEqual(first.credit, { currencyId: CURRENCY, consumed: 10, currentUsage: 10, usageLimit: 100, currentBalance: 90, timestamp: iso(T0 + MS_SECOND) });

    const storeBefore = snapshot(map);
    const eventsBefore = await allEvents(ledger, scope);
    clk.advance(MS_SECOND);
    const repeat = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 10, idempotencyKey: "req-1" });
    assert.deepEqual(repeat, {
      customerId: "cust-idem",
      resourceId: "ws-1",
      featureId: FEATURE,
      credit: { currencyId: CURRENCY, consumed: 0, currentUsage: 10, usageLimit: 100, currentBalance: 90, timestamp: iso(T0 + 2 * MS_SECOND) },
      // A repeat commits nothing, so it reports no events.
      events: [],
    });
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE, value: 11, idempotencyKey: "req-1" }), "IDEMPOTENCY_CONFLICT");
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: "feature-images", value: 10, idempotencyKey: "req-1" }), "IDEMPOTENCY_CONFLICT");
    assert.deepEqual(snapshot(map), storeBefore);
    assert.deepEqual(await allEvents(ledger, scope), eventsBefore);
    assert.equal((await balance()).currentBalance, 90);

    clk.advance(MS_SECOND);
    const grant = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 50, grantType: "PAID", displayName: "Top-up", idempotencyKey: "grant-1" });
    assert.equal(grant.amount, 50);
    assert.equal(grant.displayName, "Top-up");
    assertEvents(grant.events, [
      { type: "credits.granted", grantId: grant.id, amount: 50, customerId: "cust-idem", resourceId: "ws-1", currencyId: CURRENCY, timestamp: iso(T0 + 3 * MS_SECOND) },
    ]);
    clk.advance(MS_SECOND);
    const grantAgain = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 50, grantType: "PAID", displayName: "Top-up", idempotencyKey: "grant-1" });
    // The repeat answers the first grant, and commits (so reports) no event.
    assert.deepEqual(withoutEvents(grantAgain), withoutEvents(grant));
    assert.deepEqual(grantAgain.events, []);
    assert.deepEqual(await balance(), poolBalance("cust-idem", "ws-1", { currentBalance: 140, totalGranted: 150, totalConsumed: 10 }));
    assert.equal((await allGrants(ledger, scope)).filter((g) => g.id === grant.id).length, 1);
    assert.equal((await allEvents(ledger, { ...scope, eventType: ["CREDITS_GRANTED"] })).length, 2);
    await rejectsWith(ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 60, grantType: "PAID", idempotencyKey: "grant-1" }), "IDEMPOTENCY_CONFLICT");
    // The same key for another kind of operation is a different payload too.
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE, value: 50, idempotencyKey: "grant-1" }), "IDEMPOTENCY_CONFLICT");

    clk.advance(MS_SECOND);
    const job = await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 5, idempotencyKey: "job-1" });
    assert.equal(job.amount, 5);
    assert.equal(job.credit.currentBalance, 135);
    const jobAgain = await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 5, idempotencyKey: "job-1" });
    assert.equal(jobAgain.amount, 0);
    assert.equal(jobAgain.credit.consumed, 0);
    assert.equal(jobAgain.credit.currentBalance, 135);
    assert.deepEqual(jobAgain.events, []);
    await rejectsWith(ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 6, idempotencyKey: "job-1" }), "IDEMPOTENCY_CONFLICT");

    // 20 more keyed operations push the early keys out of the head's window.
    const keysBefore = new Set(map.keys());
    for (let i = 0; i < 20; i += 1) {
      clk.advance(MS_SECOND);
      const r = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 1, idempotencyKey: `filler-${i}` });
      assert.equal(r.credit.consumed, 1);
    }
    assert.equal((await balance()).currentBalance, 115);
    const recordKeys = [...map.keys()].filter((k) => !keysBefore.has(k));
    for (const key of ["req-1", "grant-1", "job-1"]) {
      assert.ok(recordKeys.some((k) => k.endsWith(key)), `a record of ${key} among ${recordKeys.join(", ")}`);
    }

    const storeAfterFillers = snapshot(map);
    const eventsAfterFillers = await allEvents(ledger, scope);
    clk.advance(MS_SECOND);
    const late = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 10, idempotencyKey: "req-1" });
    assert.deepEqual(late.credit, { currencyId: CURRENCY, consumed: 0, currentUsage: 35, usageLimit: 150, currentBalance: 115, timestamp: iso(clk.now()) });
    assert.deepEqual(late.events, []);
    await rejectsWith(ledger.reportUsage({ ...scope, featureId: FEATURE, value: 11, idempotencyKey: "req-1" }), "IDEMPOTENCY_CONFLICT");
    const lateGrant = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 50, grantType: "PAID", displayName: "Top-up", idempotencyKey: "grant-1" });
    assert.equal(lateGrant.id, grant.id);
    assert.equal(lateGrant.amount, 50);
    assert.equal(lateGrant.consumedAmount, 0); // the plan's recurring credits burn first
    await rejectsWith(ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 60, grantType: "PAID", idempotencyKey: "grant-1" }), "IDEMPOTENCY_CONFLICT");
    assert.deepEqual(lateGrant.events, []);
    const lateJob = await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 5, idempotencyKey: "job-1" });
    assert.equal(lateJob.amount, 0);
    assert.deepEqual(lateJob.events, []);
    await rejectsWith(ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 6, idempotencyKey: "job-1" }), "IDEMPOTENCY_CONFLICT");
    assert.deepEqual(snapshot(map), storeAfterFillers);
    assert.deepEqual(await allEvents(ledger, scope), eventsAfterFillers);
    assert.deepEqual(await balance(), poolBalance("cust-idem", "ws-1", { currentBalance: 115, totalGranted: 150, totalConsumed: 35 }));
  });

  test("keys are per scope: the same key in another workspace is a new operation", async () => {
    const { kv } = memoryKv();
    const ledger = makeLedger({ kv, clk: clock(T0) });
    for (const resourceId of ["ws-1", "ws-2"]) {
      await ledger.provisionSubscription({ customerId: "cust-idem-2", resourceId, planId: "plan-basic" });
    }
    const one = await ledger.reportUsage({ customerId: "cust-idem-2", resourceId: "ws-1", featureId: FEATURE, value: 7, idempotencyKey: "same" });
    const two = await ledger.reportUsage({ customerId: "cust-idem-2", resourceId: "ws-2", featureId: FEATURE, value: 9, idempotencyKey: "same" });
    assert.equal(one.credit.consumed, 7);
    assert.equal(two.credit.consumed, 9);
    assert.equal(two.credit.currentBalance, 91);
  });
});

// ---------------------------------------------------------------------------
describe("exact decimal amounts", () => {
  test("ten reports of 0.1 consume exactly 1, as numbers and as decimal strings", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-dec", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });

    const usages = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
    const balances = [99.9, 99.8, 99.7, 99.6, 99.5, 99.4, 99.3, 99.2, 99.1, 99];
    for (let i = 0; i < 10; i += 1) {
      const r = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 0.1 });
      assert.equal(r.credit.consumed, 0.1);
      assert.equal(r.credit.currentUsage, usages[i]);
      assert.equal(r.credit.currentBalance, balances[i]);
    }
    assert.deepEqual(await ledger.getCreditBalance({ ...scope, currencyId: CURRENCY }), poolBalance("cust-dec", "ws-1", {
      currentBalance: 99,
      totalGranted: 100,
      totalConsumed: 1,
    }));
    const consumed = await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] });
    assert.deepEqual(consumed.map((e) => e.amount), Array(10).fill(0.1));

    for (let i = 0; i < 10; i += 1) {
      const r = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: "0.1" });
      assert.equal(r.credit.consumed, 0.1);
      assert.equal(r.credit.currentUsage, [1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2][i]);
    }
    const tiny = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: "0.000001" });
    assert.equal(tiny.credit.consumed, 0.000001);
    assert.equal(tiny.credit.currentBalance, 97.999999);
    const trailingZeros = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: "0.999999000" });
    assert.equal(trailingZeros.credit.consumed, 0.999999);
    assert.equal(trailingZeros.credit.currentBalance, 97);
  });

  test("a rate of 2.5 on 0.1 units costs exactly 0.25; decimal-string grants add up exactly", async () => {
    const { kv } = memoryKv();
    const ledger = makeLedger({ kv, clk: clock(T0) });
    const pro = { customerId: "cust-dec-2", resourceId: "ws-pro" };
    await ledger.provisionSubscription({ ...pro, planId: "plan-pro" });
    const usages = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5];
    for (let i = 0; i < 10; i += 1) {
      const r = await ledger.reportUsage({ ...pro, featureId: FEATURE, value: "0.1" });
      assert.equal(r.credit.consumed, 0.25);
      assert.equal(r.credit.currentUsage, usages[i]);
    }
    assert.equal((await ledger.getCreditBalance({ ...pro, currencyId: CURRENCY })).currentBalance, 997.5);

    const payg = { customerId: "cust-dec-2", resourceId: "ws-payg" };
    const g1 = await ledger.grantCredits({ ...payg, currencyId: CURRENCY, amount: "0.1", grantType: "PAID" });
    await ledger.grantCredits({ ...payg, currencyId: CURRENCY, amount: 0.2, grantType: "PAID" });
    assert.equal(g1.amount, 0.1);
    const b = await ledger.getCreditBalance({ ...payg, currencyId: CURRENCY });
    assert.equal(b.currentBalance, 0.3);
    assert.equal(b.totalGranted, 0.3);
  });
});

// ---------------------------------------------------------------------------
describe("overdraft", () => {
  test("usage beyond the balance overdrafts; the next grant settles it first", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const cust = "cust-od";
    const scope = { customerId: cust, resourceId: "ws-od" };
    const balance = () => ledger.getCreditBalance({ ...scope, currencyId: CURRENCY });
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" });
    const first = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID" });

    clk.advance(MS_SECOND);
    const over = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 25, idempotencyKey: "od-1" });
    assert.deepEqual(over.credit, { currencyId: CURRENCY, consumed: 25, currentUsage: 25, usageLimit: 10, currentBalance: -15, timestamp: iso(T0 + MS_SECOND) });
    assert.deepEqual(await balance(), poolBalance(cust, "ws-od", { currentBalance: -15, totalGranted: 10, totalConsumed: 25 }));

    let grants = await allGrants(ledger, scope);
    let overdrafts = grants.filter((g) => g.grantType === "OVERDRAFT");
    assert.equal(overdrafts.length, 1);
    const od = overdrafts[0];
    assert.equal(od.amount, 0);
    assert.equal(od.consumedAmount, 15);
    assert.equal(od.status, "ACTIVE");
    assert.equal(od.displayName, "Overdraft");
    assert.equal(od.resourceId, "ws-od");
    assert.equal(od.currencyId, CURRENCY);
    assert.equal((await grantById(ledger, scope, first.id)).consumedAmount, 10);
    assert.deepEqual(brief(await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] })), [
      ["CREDITS_CONSUMED", 10, first.id],
      ["CREDITS_CONSUMED", 15, od.id],
    ]);

    clk.advance(MS_SECOND);
    const settleAt = clk.now();
    const fifty = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 50, grantType: "PAID" });
    assert.equal(fifty.amount, 50);
    assert.equal(fifty.consumedAmount, 15);
    assert.equal(fifty.status, "ACTIVE");
    assert.deepEqual(await balance(), poolBalance(cust, "ws-od", { currentBalance: 35, totalGranted: 60, totalConsumed: 25 }));
    const settled = await grantById(ledger, scope, od.id);
    assert.equal(settled.status, "VOIDED");
    assert.equal(settled.consumedAmount, 0);
    assert.equal(settled.amount, 0);
    assert.equal(settled.voidedAt, iso(settleAt));
    const transfers = await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMPTION_TRANSFER_SOURCE", "CREDITS_CONSUMPTION_TRANSFER_TARGET"] });
    assert.deepEqual(transfers.map((e) => [e.eventType, e.amount, e.creditGrantId, e.timestamp]), [
      ["CREDITS_CONSUMPTION_TRANSFER_SOURCE", 15, od.id, iso(settleAt)],
      ["CREDITS_CONSUMPTION_TRANSFER_TARGET", 15, fifty.id, iso(settleAt)],
    ]);
    // Settlement moves consumption; it consumes nothing new.
    assert.equal((await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] })).length, 2);

    // Overdraft again: at most one active overdraft grant per pool.
    clk.advance(MS_SECOND);
    const again = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 40, idempotencyKey: "od-2" });
    assert.equal(again.credit.currentBalance, -5);
    grants = await allGrants(ledger, scope);
    let active = grants.filter((g) => g.grantType === "OVERDRAFT" && g.status === "ACTIVE");
    assert.equal(active.length, 1);
    assert.equal(active[0].consumedAmount, 5);
    assert.equal((await grantById(ledger, scope, fifty.id)).consumedAmount, 50);

    // A grant smaller than the overdraft settles part of it.
    clk.advance(MS_SECOND);
    const three = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 3, grantType: "PROMOTIONAL" });
    assert.equal(three.consumedAmount, 3);
    assert.equal((await balance()).currentBalance, -2);
    const partly = await grantById(ledger, scope, active[0].id);
    assert.equal(partly.status, "ACTIVE");
    assert.equal(partly.consumedAmount, 2);

    // Further usage lands on that same overdraft grant.
    clk.advance(MS_SECOND);
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 4 });
    active = (await allGrants(ledger, scope)).filter((g) => g.grantType === "OVERDRAFT" && g.status === "ACTIVE");
    assert.equal(active.length, 1);
    assert.equal(active[0].id, partly.id);
    assert.equal(active[0].consumedAmount, 6);
    assert.deepEqual(await balance(), poolBalance(cust, "ws-od", { currentBalance: -6, totalGranted: 63, totalConsumed: 69 }));
  });

  test("consumeCredits without a subscription also overdrafts an empty pool", async () => {
    const { kv } = memoryKv();
    const ledger = makeLedger({ kv, clk: clock(T0) });
    const r = await ledger.consumeCredits({ customerId: "cust-od-2", currencyId: CURRENCY, amount: 12.5, idempotencyKey: "job-7" });
    assert.deepEqual(r, {
      customerId: "cust-od-2",
      resourceId: null,
      currencyId: CURRENCY,
      amount: 12.5,
      timestamp: iso(T0),
      credit: { currencyId: CURRENCY, consumed: 12.5, currentUsage: 12.5, usageLimit: 0, currentBalance: -12.5, timestamp: iso(T0) },
      // The balance was not above 0 before, so it did not become depleted; no grant was emptied.
      events: [],
    });
    const settle = await ledger.grantCredits({ customerId: "cust-od-2", currencyId: CURRENCY, amount: 20, grantType: "PAID" });
    assert.equal(settle.consumedAmount, 12.5);
    assert.equal((await ledger.getCreditBalance({ customerId: "cust-od-2", currencyId: CURRENCY })).currentBalance, 7.5);
  });
});

// ---------------------------------------------------------------------------
describe("clock: scheduled grants and expiry", () => {
  test("a grant with a future effectiveAt pays nothing until the clock reaches it", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-sched", resourceId: "ws-1" };
    const balance = () => ledger.getCreditBalance({ ...scope, currencyId: CURRENCY });
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" });
    const C = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10, grantType: "PAID", priority: 5 });
    const A = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 20, grantType: "PAID", priority: 0, effectiveAt: T0 + MS_HOUR });
    assert.equal(A.status, "SCHEDULED");
    assert.equal(A.effectiveAt, iso(T0 + MS_HOUR));
    assert.equal(A.consumedAmount, 0);
    assert.deepEqual(await balance(), poolBalance("cust-sched", "ws-1", { currentBalance: 10, totalGranted: 10 }));

    // A would burn first (priority 0) but is not effective yet.
    const early = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 4 });
    assert.equal(early.credit.currentBalance, 6);
    assert.equal((await grantById(ledger, scope, C.id)).consumedAmount, 4);
    assert.equal((await grantById(ledger, scope, A.id)).consumedAmount, 0);

    clk.set(T0 + MS_HOUR - 1);
    assert.equal((await balance()).currentBalance, 6);
    assert.equal((await grantById(ledger, scope, A.id)).status, "SCHEDULED");
    assert.deepEqual(brief(await allEvents(ledger, { ...scope, eventType: ["CREDITS_GRANTED"] })), [["CREDITS_GRANTED", 10, C.id]]);

    clk.set(T0 + MS_HOUR);
    assert.deepEqual(await balance(), poolBalance("cust-sched", "ws-1", { currentBalance: 26, totalGranted: 30, totalConsumed: 4 }));
    assert.equal((await grantById(ledger, scope, A.id)).status, "ACTIVE");
    const granted = await allEvents(ledger, { ...scope, eventType: ["CREDITS_GRANTED"] });
    assert.deepEqual(granted.map((e) => [e.amount, e.creditGrantId, e.timestamp]), [
      [10, C.id, iso(T0)],
      [20, A.id, iso(T0 + MS_HOUR)],
    ]);

    const late = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 4 });
    assert.equal(late.credit.currentBalance, 22);
    assert.equal((await grantById(ledger, scope, A.id)).consumedAmount, 4);
    assert.equal((await grantById(ledger, scope, C.id)).consumedAmount, 4);
    // The activation was written once, not again by the write that applied it.
    assert.equal((await allEvents(ledger, { ...scope, eventType: ["CREDITS_GRANTED"] })).length, 2);
  });

  test("at expireAt the unused remainder expires (CREDITS_EXPIRED, status EXPIRED)", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-exp", resourceId: "ws-1" };
    const balance = () => ledger.getCreditBalance({ ...scope, currencyId: CURRENCY });
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" });
    const B = await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 30, grantType: "PROMOTIONAL", expireAt: iso(T0 + 2 * MS_HOUR) });
    assert.equal(B.expireAt, iso(T0 + 2 * MS_HOUR));
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 10 });

    clk.set(T0 + 2 * MS_HOUR - 1);
    assert.equal((await balance()).currentBalance, 20);
    assert.equal((await grantById(ledger, scope, B.id)).status, "ACTIVE");
    assert.deepEqual(await allEvents(ledger, { ...scope, eventType: ["CREDITS_EXPIRED"] }), []);

    clk.set(T0 + 2 * MS_HOUR);
    assert.deepEqual(await balance(), poolBalance("cust-exp", "ws-1", { currentBalance: 0, totalGranted: 30, totalConsumed: 10, totalExpired: 20 }));
    const expired = await grantById(ledger, scope, B.id);
    assert.equal(expired.status, "EXPIRED");
    assert.equal(expired.consumedAmount, 10);
    const expiredEvents = await allEvents(ledger, { ...scope, eventType: ["CREDITS_EXPIRED"] });
    assert.deepEqual(expiredEvents.map((e) => [e.amount, e.creditGrantId, e.timestamp, e.resourceId]), [[20, B.id, iso(T0 + 2 * MS_HOUR), "ws-1"]]);

    // An expired grant pays nothing: the next usage overdrafts.
    clk.advance(MS_SECOND);
    const after = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 1 });
    assert.equal(after.credit.currentBalance, -1);
    // The expiry is in the ledger exactly once, before the new consumption.
    const all = await allEvents(ledger, scope);
    assert.deepEqual(all.map((e) => [e.seq, e.eventType, e.amount]), [
      [0, "CREDITS_GRANTED", 30],
      [1, "CREDITS_CONSUMED", 10],
      [2, "CREDITS_EXPIRED", 20],
      [3, "CREDITS_CONSUMED", 1],
    ]);
    assert.deepEqual(await balance(), poolBalance("cust-exp", "ws-1", { currentBalance: -1, totalGranted: 30, totalConsumed: 11, totalExpired: 20 }));
  });

  test("monthly plan credits do not roll over: the old period expires and a new grant starts", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0); // 2026-03-01
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-roll", resourceId: "ws-1" };
    const balance = () => ledger.getCreditBalance({ ...scope, currencyId: CURRENCY });
    await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
    clk.advance(MS_HOUR);
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 30 });

    const periodEnd = Date.parse("2026-04-01T00:00:00.000Z");
    clk.set(periodEnd - 1);
    assert.equal((await balance()).currentBalance, 70);
    clk.set(periodEnd);
    assert.deepEqual(await balance(), poolBalance("cust-roll", "ws-1", { currentBalance: 100, totalGranted: 200, totalConsumed: 30, totalExpired: 70 }));
    const grants = (await allGrants(ledger, scope)).filter((g) => g.grantType === "RECURRING");
    assert.equal(grants.length, 2);
    const march = grants.find((g) => g.effectiveAt === iso(T0));
    const april = grants.find((g) => g.effectiveAt === iso(periodEnd));
    assert.ok(march && april);
    assert.deepEqual([march.status, march.consumedAmount, march.expireAt], ["EXPIRED", 30, iso(periodEnd)]);
    assert.deepEqual([april.status, april.consumedAmount, april.amount, april.expireAt], ["ACTIVE", 0, 100, "2026-05-01T00:00:00.000Z"]);
    assert.deepEqual(brief(await allEvents(ledger, scope)), [
      ["CREDITS_GRANTED", 100, march.id],
      ["CREDITS_CONSUMED", 30, march.id],
      ["CREDITS_EXPIRED", 70, march.id],
      ["CREDITS_GRANTED", 100, april.id],
    ]);
  });
});

// ---------------------------------------------------------------------------
describe("ledger queries", () => {
  async function pagedScope() {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-page", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" });
    clk.advance(MS_SECOND);
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 100, grantType: "PAID" }); // seq 0
    for (let i = 0; i < 7; i += 1) {
      clk.advance(MS_SECOND);
      await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 1, idempotencyKey: `u${i}` }); // seq 1..7
    }
    clk.advance(MS_SECOND);
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY_2, amount: 5, grantType: "PROMOTIONAL" }); // seq 8
    return { ledger, scope };
  }

  const seqs = (page) => page.events.map((e) => e.seq);

  test("limit + cursor, newest first by default", async () => {
    const { ledger, scope } = await pagedScope();
    const all = await ledger.getCreditLedger(scope);
    assert.deepEqual(seqs(all), [8, 7, 6, 5, 4, 3, 2, 1, 0]);
    assert.equal(all.nextCursor, null);
    assert.deepEqual(all.events.map((e) => e.eventType), [
      "CREDITS_GRANTED",
      ...Array(7).fill("CREDITS_CONSUMED"),
      "CREDITS_GRANTED",
    ]);
    assert.deepEqual(all.events.map((e) => e.timestamp), [9, 8, 7, 6, 5, 4, 3, 2, 1].map((s) => iso(T0 + s * MS_SECOND)));

    const p1 = await ledger.getCreditLedger({ ...scope, limit: 3 });
    assert.deepEqual(seqs(p1), [8, 7, 6]);
    assert.equal(typeof p1.nextCursor, "string");
    const p2 = await ledger.getCreditLedger({ ...scope, limit: 3, cursor: p1.nextCursor });
    assert.deepEqual(seqs(p2), [5, 4, 3]);
    const p3 = await ledger.getCreditLedger({ ...scope, limit: 3, cursor: p2.nextCursor });
    assert.deepEqual(seqs(p3), [2, 1, 0]);
    assert.equal(p3.nextCursor, null);
    assert.deepEqual([...p1.events, ...p2.events, ...p3.events], all.events);
    // An explicit "DESC" is the default.
    assert.deepEqual(await ledger.getCreditLedger({ ...scope, limit: 3, order: "DESC" }), p1);
  });

  test("ASC paging returns the same events in the opposite order", async () => {
    const { ledger, scope } = await pagedScope();
    const p1 = await ledger.getCreditLedger({ ...scope, order: "ASC", limit: 4 });
    assert.deepEqual(seqs(p1), [0, 1, 2, 3]);
    const p2 = await ledger.getCreditLedger({ ...scope, order: "ASC", limit: 4, cursor: p1.nextCursor });
    assert.deepEqual(seqs(p2), [4, 5, 6, 7]);
    const p3 = await ledger.getCreditLedger({ ...scope, order: "ASC", limit: 4, cursor: p2.nextCursor });
    assert.deepEqual(seqs(p3), [8]);
    assert.equal(p3.nextCursor, null);
    const desc = await ledger.getCreditLedger(scope);
    assert.deepEqual([...p1.events, ...p2.events, ...p3.events], [...desc.events].reverse());
    const exact = await ledger.getCreditLedger({ ...scope, order: "ASC", limit: 9 });
    assert.deepEqual(seqs(exact), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(exact.nextCursor, null);
  });

  test("eventType and currencyId filters, with paging", async () => {
    const { ledger, scope } = await pagedScope();
    const granted = await ledger.getCreditLedger({ ...scope, eventType: ["CREDITS_GRANTED"] });
    assert.deepEqual(granted.events.map((e) => [e.seq, e.amount, e.currencyId]), [
      [8, 5, CURRENCY_2],
      [0, 100, CURRENCY],
    ]);
    assert.equal(granted.nextCursor, null);

    const c1 = await ledger.getCreditLedger({ ...scope, eventType: ["CREDITS_CONSUMED"], limit: 5 });
    assert.deepEqual(seqs(c1), [7, 6, 5, 4, 3]);
    assert.deepEqual(c1.events.map((e) => e.eventId), ["u6", "u5", "u4", "u3", "u2"]);
    assert.equal(typeof c1.nextCursor, "string");
    const c2 = await ledger.getCreditLedger({ ...scope, eventType: ["CREDITS_CONSUMED"], limit: 5, cursor: c1.nextCursor });
    assert.deepEqual(seqs(c2), [2, 1]);
    assert.equal(c2.nextCursor, null);

    const ascConsumed = await ledger.getCreditLedger({ ...scope, eventType: ["CREDITS_CONSUMED"], order: "ASC", limit: 2 });
    assert.deepEqual(seqs(ascConsumed), [1, 2]);

    const both = await ledger.getCreditLedger({ ...scope, eventType: ["CREDITS_GRANTED", "CREDITS_CONSUMED"] });
    assert.equal(both.events.length, 9);
    const none = await ledger.getCreditLedger({ ...scope, eventType: ["CREDITS_EXPIRED"] });
    assert.deepEqual(none, { events: [], nextCursor: null });

    assert.deepEqual(seqs(await ledger.getCreditLedger({ ...scope, currencyId: CURRENCY_2 })), [8]);
    assert.deepEqual(seqs(await ledger.getCreditLedger({ ...scope, currencyId: CURRENCY, eventType: ["CREDITS_GRANTED"] })), [0]);
    assert.equal((await ledger.getCreditLedger({ ...scope, currencyId: CURRENCY })).events.length, 8);
  });

  test("getCreditGrants: newest first, limit + cursor, currency filter", async () => {
    const { ledger, scope } = await pagedScope();
    const all = await ledger.getCreditGrants(scope);
    assert.deepEqual(all.grants.map((g) => [g.currencyId, g.amount, g.consumedAmount]), [
      [CURRENCY_2, 5, 0],
      [CURRENCY, 100, 7],
    ]);
    assert.equal(all.nextCursor, null);
    const p1 = await ledger.getCreditGrants({ ...scope, limit: 1 });
    assert.deepEqual(p1.grants, [all.grants[0]]);
    assert.equal(typeof p1.nextCursor, "string");
    const p2 = await ledger.getCreditGrants({ ...scope, limit: 1, cursor: p1.nextCursor });
    assert.deepEqual(p2.grants, [all.grants[1]]);
    assert.equal(p2.nextCursor, null);
    const tokens = await ledger.getCreditGrants({ ...scope, currencyId: CURRENCY });
    assert.deepEqual(tokens.grants, [all.grants[1]]);
  });
});

// ---------------------------------------------------------------------------
describe("concurrency", () => {
  test("50 concurrent reportUsage calls on one pool through an async kv all apply", async () => {
    const store = asyncKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv: store.kv, clk });
    const scope = { customerId: "cust-conc", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" });
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 100, grantType: "PAID" });

    const keys = Array.from({ length: 50 }, (_, i) => `c-${i}`);
    const results = await Promise.all(keys.map((key) => ledger.reportUsage({ ...scope, featureId: FEATURE, value: 1, idempotencyKey: key })));
    assert.deepEqual(results.map((r) => r.credit.consumed), Array(50).fill(1));
    // Each call saw a distinct running total: they were applied one after another.
    assert.deepEqual(results.map((r) => r.credit.currentUsage).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));

    assert.deepEqual(await ledger.getCreditBalance({ ...scope, currencyId: CURRENCY }), poolBalance("cust-conc", "ws-1", {
      currentBalance: 50,
      totalGranted: 100,
      totalConsumed: 50,
    }));
    const consumed = await allEvents(ledger, { ...scope, eventType: ["CREDITS_CONSUMED"] });
    assert.equal(consumed.length, 50);
    assert.ok(consumed.every((e) => e.amount === 1));
    assert.deepEqual(new Set(consumed.map((e) => e.eventId)), new Set(keys));
    assert.deepEqual(consumed.map((e) => e.seq), Array.from({ length: 50 }, (_, i) => i + 1));
  });

  test("concurrent repeats of one key apply once; concurrent work on two pools stays separate", async () => {
    const store = asyncKv();
    const ledger = makeLedger({ kv: store.kv, clk: clock(T0) });
    const a = { customerId: "cust-conc-2", resourceId: "ws-a" };
    const b = { customerId: "cust-conc-2", resourceId: "ws-b" };
    await Promise.all([a, b].map((scope) => ledger.provisionSubscription({ ...scope, planId: "plan-basic" })));

    const same = await Promise.all(Array.from({ length: 10 }, () => ledger.reportUsage({ ...a, featureId: FEATURE, value: 3, idempotencyKey: "dup" })));
    assert.deepEqual(same.map((r) => r.credit.consumed).sort((x, y) => x - y), [0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);

    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => ledger.reportUsage({ ...a, featureId: FEATURE, value: 2, idempotencyKey: `a-${i}` })),
      ...Array.from({ length: 20 }, (_, i) => ledger.reportUsage({ ...b, featureId: FEATURE, value: 0.5, idempotencyKey: `b-${i}` })),
    ]);
    assert.equal((await ledger.getCreditBalance({ ...a, currencyId: CURRENCY })).currentBalance, 100 - 3 - 40);
    assert.equal((await ledger.getCreditBalance({ ...b, currencyId: CURRENCY })).currentBalance, 90);
    assert.equal((await allEvents(ledger, { ...a, eventType: ["CREDITS_CONSUMED"] })).length, 21);
    assert.equal((await allEvents(ledger, { ...b, eventType: ["CREDITS_CONSUMED"] })).length, 20);
  });
});

// ---------------------------------------------------------------------------
describe("subscriptions", () => {
  test("startDate anchors the billing periods: past start → current period's credits, future start → none until then", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0); // 2026-03-01
    const ledger = makeLedger({ kv, clk });
    const past = { customerId: "cust-sub", resourceId: "ws-past" };
    const sub = await ledger.provisionSubscription({ ...past, planId: "plan-basic", startDate: new Date("2026-01-15T00:00:00.000Z") });
    assert.equal(sub.subscription.status, "ACTIVE");
    assert.equal(sub.subscription.startDate, "2026-01-15T00:00:00.000Z");
    const grants = await allGrants(ledger, past);
    assert.deepEqual(grants.map((g) => [g.grantType, g.status, g.amount, g.effectiveAt, g.expireAt, g.subscriptionId]), [
      ["RECURRING", "ACTIVE", 100, "2026-02-15T00:00:00.000Z", "2026-03-15T00:00:00.000Z", sub.id],
    ]);
    assert.equal((await ledger.getCreditBalance({ ...past, currencyId: CURRENCY })).currentBalance, 100);

    const future = { customerId: "cust-sub", resourceId: "ws-future" };
    const later = await ledger.provisionSubscription({ ...future, planId: "plan-basic", startDate: iso(T0 + MS_DAY) });
    assert.equal(later.subscription.status, "NOT_STARTED");
    assert.equal(later.subscription.startDate, iso(T0 + MS_DAY));
    assert.deepEqual(await ledger.getCreditBalance({ ...future, currencyId: CURRENCY }), zeroBalance("cust-sub", "ws-future"));
    clk.set(T0 + MS_DAY);
    assert.equal((await ledger.getCreditBalance({ ...future, currencyId: CURRENCY })).currentBalance, 100);
    const [started] = await allGrants(ledger, future);
    assert.deepEqual([started.effectiveAt, started.expireAt], [iso(T0 + MS_DAY), "2026-04-02T00:00:00.000Z"]);
  });

  test("provisioning again replaces the plan: the old plan's unused credits are voided, the new rate applies", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-sub-2", resourceId: "ws-1" };
    const basic = await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 30 });
    clk.advance(MS_SECOND);
    const pro = await ledger.provisionSubscription({ ...scope, planId: "plan-pro" });
    assert.notEqual(pro.id, basic.id);
    assert.equal(pro.subscription.planId, "plan-pro");
    assert.deepEqual(await ledger.getCreditBalance({ ...scope, currencyId: CURRENCY }), poolBalance("cust-sub-2", "ws-1", {
      currentBalance: 1000,
      totalGranted: 1100,
      totalConsumed: 30,
      totalVoided: 70,
    }));
    const grants = await allGrants(ledger, scope);
    const old = grants.find((g) => g.subscriptionId === basic.id);
    const fresh = grants.find((g) => g.subscriptionId === pro.id);
    assert.deepEqual([old.status, old.consumedAmount, old.voidedAt], ["VOIDED", 30, iso(T0 + MS_SECOND)]);
    assert.deepEqual([fresh.status, fresh.amount, fresh.consumedAmount], ["ACTIVE", 1000, 0]);
    assert.deepEqual(
      (await allEvents(ledger, { ...scope, eventType: ["CREDITS_VOIDED"] })).map((e) => [e.amount, e.creditGrantId]),
      [[70, old.id]],
    );
    const usage = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 4 });
    assert.equal(usage.credit.consumed, 10); // 4 × 2.5 on plan-pro
    assert.equal(usage.credit.currentBalance, 990);
  });

  test("with activity in every period, each period's credits are granted and the unused rest expires", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0); // 2026-03-01
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-sub-3", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
    clk.set("2026-04-15T00:00:00.000Z");
    await ledger.consumeCredits({ ...scope, currencyId: CURRENCY_2, amount: 1, idempotencyKey: "april" }); // any write
    clk.set("2026-05-15T00:00:00.000Z");
    assert.deepEqual(await ledger.getCreditBalance({ ...scope, currencyId: CURRENCY }), poolBalance("cust-sub-3", "ws-1", {
      currentBalance: 100,
      totalGranted: 300,
      totalExpired: 200,
    }));
    const tokens = await allEvents(ledger, { ...scope, currencyId: CURRENCY });
    // Each period's grant is effective (and logged) at its period start.
    assert.deepEqual(tokens.map((e) => [e.eventType, e.amount, e.timestamp]), [
      ["CREDITS_GRANTED", 100, "2026-03-01T00:00:00.000Z"],
      ["CREDITS_EXPIRED", 100, "2026-04-01T00:00:00.000Z"],
      ["CREDITS_GRANTED", 100, "2026-04-01T00:00:00.000Z"],
      ["CREDITS_EXPIRED", 100, "2026-05-01T00:00:00.000Z"],
      ["CREDITS_GRANTED", 100, "2026-05-01T00:00:00.000Z"],
    ]);
  });

  test(
    "a period without any write still grants its credits: the ledger read during it stays a prefix of later reads",
    async () => {
      const { kv } = memoryKv();
      const clk = clock(T0); // 2026-03-01
      const ledger = makeLedger({ kv, clk });
      const scope = { customerId: "cust-sub-4", resourceId: "ws-1" };
      await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
      clk.set("2026-04-15T00:00:00.000Z");
      const april = await allEvents(ledger, scope);
      assert.deepEqual(april.map((e) => [e.seq, e.eventType, e.amount]), [
        [0, "CREDITS_GRANTED", 100],
        [1, "CREDITS_EXPIRED", 100],
        [2, "CREDITS_GRANTED", 100],
      ]);
      clk.set("2026-05-15T00:00:00.000Z");
      const may = await allEvents(ledger, scope);
      assert.deepEqual(may.slice(0, april.length), april, "the ledger is append-only");
      assert.deepEqual(may.map((e) => [e.seq, e.eventType, e.amount]), [
        [0, "CREDITS_GRANTED", 100],
        [1, "CREDITS_EXPIRED", 100],
        [2, "CREDITS_GRANTED", 100],
        [3, "CREDITS_EXPIRED", 100],
        [4, "CREDITS_GRANTED", 100],
      ]);
      assert.deepEqual(await ledger.getCreditBalance({ ...scope, currencyId: CURRENCY }), poolBalance("cust-sub-4", "ws-1", {
        currentBalance: 100,
        totalGranted: 300,
        totalExpired: 200,
      }));
    },
  );
});

// ---------------------------------------------------------------------------
describe("long ledgers", () => {
  test("a ledger of 201 events pages exactly across the store's internal pages", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-long", resourceId: "ws-1" };
    await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 1000, grantType: "PAID" });
    for (let i = 0; i < 200; i += 1) {
      clk.advance(MS_SECOND);
      await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 1, idempotencyKey: `job-${i}` });
    }
    const collect = async (query) => {
      const events = [];
      let cursor;
      do {
        const page = await ledger.getCreditLedger({ ...scope, ...query, ...(cursor ? { cursor } : {}) });
        assert.ok(page.events.length <= query.limit);
        events.push(...page.events);
        cursor = page.nextCursor;
      } while (cursor);
      return events;
    };
    const asc = await collect({ order: "ASC", limit: 50 });
    assert.deepEqual(asc.map((e) => e.seq), Array.from({ length: 201 }, (_, i) => i));
    const desc = await collect({ limit: 77 });
    assert.deepEqual(desc.map((e) => e.seq), Array.from({ length: 201 }, (_, i) => 200 - i));
    assert.deepEqual(desc, [...asc].reverse());
    assert.deepEqual(asc.slice(1).map((e) => e.eventId), Array.from({ length: 200 }, (_, i) => `job-${i}`));
    const granted = await allEvents(ledger, { ...scope, eventType: ["CREDITS_GRANTED"] });
    assert.deepEqual(granted.map((e) => [e.seq, e.amount]), [[0, 1000]]);
    assert.equal((await ledger.getCreditBalance({ ...scope, currencyId: CURRENCY })).currentBalance, 800);
  });
});

// ---------------------------------------------------------------------------
describe("idempotency of grants that are no longer listed", () => {
  test(
    "a grantCredits repeat still answers the grant after more than 64 finished grants pushed it out of the pool's list",
    async () => {
      const { kv } = memoryKv();
      const ledger = makeLedger({ kv, clk: clock(T0) });
      const scope = { customerId: "cust-prune", resourceId: "ws-1" };
      const input = { ...scope, currencyId: CURRENCY, amount: 1, grantType: "PAID", idempotencyKey: "g-key" };
      const first = await ledger.grantCredits(input);
      for (let i = 0; i < 65; i += 1) {
        await ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 1, grantType: "PAID" });
      }
      // Drain all 66 grants: 66 finished grants, one more than the pool keeps listed.
      await ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 66, idempotencyKey: "drain" });
      const repeat = await ledger.grantCredits(input);
      assert.equal(repeat.id, first.id);
      assert.equal(repeat.amount, 1);
      assert.equal(repeat.consumedAmount, 1);
      assert.deepEqual(await ledger.getCreditBalance({ ...scope, currencyId: CURRENCY }), poolBalance("cust-prune", "ws-1", {
        totalGranted: 66,
        totalConsumed: 66,
      }));
    },
  );
});

// ---------------------------------------------------------------------------
describe("clock: several transitions between two writes", () => {
  test("a scheduled grant that starts and expires while nobody writes: settles the overdraft at its start, expires the rest at its end", async () => {
    const { kv } = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    const scope = { customerId: "cust-window", resourceId: "ws-1" };
    await ledger.provisionSubscription({ ...scope, planId: "plan-payg" });
    await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 5 }); // overdraft 5
    const window = await ledger.grantCredits({
      ...scope,
      currencyId: CURRENCY,
      amount: 20,
      grantType: "PAID",
      effectiveAt: T0 + MS_HOUR,
      expireAt: T0 + 2 * MS_HOUR,
    });
    assert.equal(window.status, "SCHEDULED");
    assert.equal(window.expireAt, iso(T0 + 2 * MS_HOUR));

    clk.set(T0 + 3 * MS_HOUR);
    assert.deepEqual(await ledger.getCreditBalance({ ...scope, currencyId: CURRENCY }), poolBalance("cust-window", "ws-1", {
      currentBalance: 0,
      totalGranted: 20,
      totalConsumed: 5,
      totalExpired: 15,
    }));
    const readOnly = await allEvents(ledger, scope);
    const interesting = readOnly.filter((e) => e.eventType !== "CREDITS_VOIDED");
    assert.deepEqual(interesting.map((e) => [e.eventType, e.amount, e.timestamp]), [
      ["CREDITS_CONSUMED", 5, iso(T0)],
      ["CREDITS_GRANTED", 20, iso(T0 + MS_HOUR)],
      ["CREDITS_CONSUMPTION_TRANSFER_SOURCE", 5, iso(T0 + MS_HOUR)],
      ["CREDITS_CONSUMPTION_TRANSFER_TARGET", 5, iso(T0 + MS_HOUR)],
      ["CREDITS_EXPIRED", 15, iso(T0 + 2 * MS_HOUR)],
    ]);
    const settled = await grantById(ledger, scope, window.id);
    assert.deepEqual([settled.status, settled.consumedAmount], ["EXPIRED", 5]);

    // The next write persists exactly what the reads showed, then adds its own event.
    const after = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 1 });
    assert.equal(after.credit.currentBalance, -1);
    const written = await allEvents(ledger, scope);
    assert.deepEqual(written.slice(0, readOnly.length), readOnly);
    assert.deepEqual(written.slice(readOnly.length).map((e) => [e.eventType, e.amount, e.timestamp]), [["CREDITS_CONSUMED", 1, iso(T0 + 3 * MS_HOUR)]]);
  });
});
