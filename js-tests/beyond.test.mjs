// Cost formulas over dimensions, usage breakdowns and subscription transfers,
// through the npm package in Node.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CreditLedger } from "credit-pools";
import { clock, memoryKv, snapshot, rejectsWith } from "./helpers.mjs";

const CATALOG = {
  currencies: [{ id: "ai-tokens" }],
  plans: [
    {
      id: "plan-llm",
      credits: [{ currencyId: "ai-tokens", amount: 10000, cadence: "MONTH" }],
      creditRates: [
        { featureId: "chat", currencyId: "ai-tokens", costFormula: "1.1*model1_tokens + 1.5*model2_tokens" },
        { featureId: "embeddings", currencyId: "ai-tokens", amount: 0.25 },
        { featureId: "capped", currencyId: "ai-tokens", costFormula: "min(value * 2, 100) + max(premium * 10, 0)" },
      ],
    },
  ],
};
const C = "cust-beyond";

function setup(startIso = "2026-03-01T09:00:00.000Z") {
  const { kv, map } = memoryKv();
  const clk = clock(Date.parse(startIso));
  return { map, clk, ledger: new CreditLedger({ kv, catalog: CATALOG, now: clk.now }) };
}

describe("cost formulas", () => {
  test("a formula over two dimensions prices the usage exactly, and its estimate agrees", async () => {
    const { ledger } = setup();
    await ledger.provisionSubscription({ customerId: C, resourceId: "ws", planId: "plan-llm" });
    const dims = { model1_tokens: 1000, model2_tokens: 300 };
    const estimate = await ledger.estimateUsageCost({ customerId: C, resourceId: "ws", featureId: "chat", value: 1, dimensions: dims });
    assert.equal(estimate.estimates[0].estimatedCost, 1550);
    assert.equal(estimate.estimates[0].balanceAfterEstimate, 8450);
    const usage = await ledger.reportUsage({ customerId: C, resourceId: "ws", featureId: "chat", value: 1, dimensions: dims });
    assert.equal(usage.credit.consumed, 1550);
    assert.equal(usage.credit.currentBalance, 8450);
    const tenths = await ledger.reportUsage({ customerId: C, resourceId: "ws", featureId: "chat", value: 1, dimensions: { model1_tokens: 0.1, model2_tokens: "0.2" } });
    assert.equal(tenths.credit.consumed, 0.41, "exact decimals: 0.11 + 0.3");
    const capped = await ledger.reportUsage({ customerId: C, resourceId: "ws", featureId: "capped", value: 70, dimensions: { premium: true } });
    assert.equal(capped.credit.consumed, 110, "min(140, 100) + max(10, 0)");
  });

  test("a missing or non-numeric dimension rejects with INVALID_ARGUMENT naming it and changes nothing", async () => {
    const { ledger, map } = setup();
    await ledger.provisionSubscription({ customerId: C, planId: "plan-llm" });
    const before = snapshot(map);
    const missing = await rejectsWith(ledger.reportUsage({ customerId: C, featureId: "chat", value: 1, dimensions: { model1_tokens: 5 } }), "INVALID_ARGUMENT", "dimensions.model2_tokens");
    assert.match(missing.message, /1\.1\*model1_tokens/);
    await rejectsWith(ledger.reportUsage({ customerId: C, featureId: "chat", value: 1, dimensions: { model1_tokens: "many", model2_tokens: 1 } }), "INVALID_ARGUMENT", "dimensions.model1_tokens");
    await rejectsWith(ledger.reportUsage({ customerId: C, featureId: "chat", value: 1, dimensions: { "bad-key": 1 } }), "INVALID_ARGUMENT", "dimensions");
    assert.deepEqual(snapshot(map), before);
    assert.throws(
      () => new CreditLedger({ kv: { get: () => null, put: () => {} }, catalog: { currencies: [{ id: "c" }], plans: [{ id: "p", creditRates: [{ featureId: "f", currencyId: "c", costFormula: "eval(1)" }] }] } }),
      (error) => error.code === "INVALID_ARGUMENT" && error.field === "catalog.plans[0].creditRates[0].costFormula",
    );
  });
});

describe("usage breakdown", () => {
  test("by feature and by a dimension, per day, from the ledger", async () => {
    const { ledger, clk } = setup();
    const ws = { customerId: C, resourceId: "ws" };
    await ledger.provisionSubscription({ ...ws, planId: "plan-llm" });
    await ledger.reportUsage({ ...ws, featureId: "chat", value: 1, dimensions: { model1_tokens: 100, model2_tokens: 0, team: "search" } }); // 110
    await ledger.reportUsage({ ...ws, featureId: "embeddings", value: 400, dimensions: { team: "ads" } }); // 100
    clk.set(Date.parse("2026-03-02T18:30:00.000Z"));
    await ledger.reportUsage({ ...ws, featureId: "chat", value: 1, dimensions: { model1_tokens: 0, model2_tokens: 20, team: "ads" } }); // 30
    const range = { ...ws, startDate: "2026-03-01", endDate: "2026-03-03" };
    const byFeature = await ledger.getCreditUsage({ ...range, groupBy: ["featureId"] });
    assert.equal(byFeature.complete, true);
    assert.deepEqual(
      byFeature.series.map((s) => [s.group, s.totalCredits, s.eventCount, s.points.map((p) => [p.timestamp, p.value, p.eventCount])]),
      [
        [{ featureId: "chat" }, 140, 2, [["2026-03-01T00:00:00.000Z", 110, 1], ["2026-03-02T00:00:00.000Z", 30, 1]]],
        [{ featureId: "embeddings" }, 100, 1, [["2026-03-01T00:00:00.000Z", 100, 1]]],
      ],
    );
    const byTeam = await ledger.getCreditUsage({ ...range, groupBy: ["team"], granularity: "MONTH" });
    assert.deepEqual(
      byTeam.series.map((s) => [s.group.team, s.totalCredits, s.points.map((p) => p.timestamp)]),
      [["ads", 130, ["2026-03-01T00:00:00.000Z"]], ["search", 110, ["2026-03-01T00:00:00.000Z"]]],
    );
    const both = await ledger.getCreditUsage({ ...range, groupBy: ["featureId", "team"] });
    assert.equal(both.series.length, 3);
    await rejectsWith(ledger.getCreditUsage({ ...range, groupBy: ["a", "b", "c", "d"] }), "INVALID_ARGUMENT", "groupBy");
    await rejectsWith(ledger.getCreditUsage({ ...ws, startDate: "2026-03-03", endDate: "2026-03-01" }), "INVALID_ARGUMENT", "endDate");
  });
});

describe("moving a subscription", () => {
  test("future recurring grants follow it; credits already granted stay where they were", async () => {
    const { ledger, clk } = setup("2026-03-01T00:00:00.000Z");
    const { subscription } = await ledger.provisionSubscription({ customerId: C, resourceId: "ws-old", planId: "plan-llm" });
    await ledger.reportUsage({ customerId: C, resourceId: "ws-old", featureId: "embeddings", value: 4000 }); // 1000
    clk.set(Date.parse("2026-03-10T00:00:00.000Z"));
    const moved = await ledger.transferSubscriptionToResource({ subscriptionId: subscription.id, destinationResourceId: "ws-new" });
    assert.deepEqual([moved.subscription.id, moved.subscription.resourceId, moved.sourceResourceId], [subscription.id, "ws-new", "ws-old"]);
    const balance = async (resourceId) => (await ledger.getCreditBalance({ customerId: C, resourceId, currencyId: "ai-tokens" })).currentBalance;
    assert.equal(await balance("ws-old"), 9000);
    assert.equal(await balance("ws-new"), 0);
    await rejectsWith(ledger.reportUsage({ customerId: C, resourceId: "ws-old", featureId: "embeddings", value: 1 }), "NOT_FOUND");
    await ledger.reportUsage({ customerId: C, resourceId: "ws-new", featureId: "embeddings", value: 4 }); // 1
    clk.set(Date.parse("2026-04-01T00:00:00.000Z"));
    assert.equal(await balance("ws-new"), 9999, "April's credits arrive in the new resource");
    assert.equal(await balance("ws-old"), 0, "March's credits expired where they were granted");
    const { grants } = await ledger.getCreditGrants({ customerId: C, resourceId: "ws-new" });
    assert.deepEqual(grants.filter((g) => g.grantType === "RECURRING").map((g) => [g.subscriptionId, g.effectiveAt]), [[subscription.id, "2026-04-01T00:00:00.000Z"]]);
    await ledger.provisionSubscription({ customerId: C, resourceId: "ws-busy", planId: "plan-llm" });
    await rejectsWith(ledger.transferSubscriptionToResource({ subscriptionId: subscription.id, destinationResourceId: "ws-busy" }), "INVALID_STATE");
    await rejectsWith(ledger.transferSubscriptionToResource({ subscriptionId: "sub-nope", destinationResourceId: "x" }), "NOT_FOUND");
  });
});
