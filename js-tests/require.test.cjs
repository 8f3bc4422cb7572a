// The package loaded with CommonJS `require` (Node >= 20.19 loads the ESM
// entry through require(esm)): one provision + grant + usage + balance round trip.
//
// Run: cd /work/main && node --test js-tests/*.test.mjs js-tests/*.test.cjs

"use strict";

const { test } = require("node:test");
const assert = require("node:assert/strict");
const creditPools = require("credit-pools");

const { CreditLedger, buildInfo } = creditPools;
const T0 = Date.parse("2026-03-01T00:00:00.000Z");

/** `events` without their messageIds, after checking those are distinct non-empty strings. */
function stripMessageIds(events) {
  assert.ok(Array.isArray(events), "events is an array");
  const ids = events.map((e) => e.messageId);
  assert.ok(ids.every((id) => typeof id === "string" && id.length > 0), `messageIds: ${ids}`);
  assert.equal(new Set(ids).size, ids.length, `unique messageIds: ${ids}`);
  return events.map(({ messageId, ...rest }) => rest);
}

test("require('credit-pools') exposes a working CreditLedger", async () => {
  assert.equal(typeof CreditLedger, "function");
  assert.equal(buildInfo().name, "credit-pools");

  const map = new Map();
  let now = T0;
  const ledger = new CreditLedger({
    kv: { get: (k) => map.get(k), put: (k, v) => void map.set(k, v) },
    now: () => now,
    catalog: {
      currencies: [{ id: "ai-tokens" }],
      plans: [
        {
          id: "plan-basic",
          credits: [{ currencyId: "ai-tokens", amount: 100, cadence: "MONTH" }],
          creditRates: [{ featureId: "feature-ai-tokens", currencyId: "ai-tokens", amount: 1 }],
        },
      ],
    },
  });
  const scope = { customerId: "customer-cjs", resourceId: "workspace-cjs" };

  const provisioned = await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
  assert.equal(provisioned.status, "SUCCESS");
  assert.deepEqual(provisioned.subscription, {
    id: provisioned.id,
    customerId: "customer-cjs",
    planId: "plan-basic",
    resourceId: "workspace-cjs",
    status: "ACTIVE",
    startDate: "2026-03-01T00:00:00.000Z",
  });

  now += 1000;
  const grant = await ledger.grantCredits({ ...scope, creditTypeId: "ai-tokens", amount: 5000, grantType: "PAID" });
  assert.equal(grant.amount, 5000);
  assert.equal(grant.consumedAmount, 0);
  assert.equal(grant.status, "ACTIVE");
  assert.equal(grant.createdAt, "2026-03-01T00:00:01.000Z");
  assert.equal(grant.automaticRechargeConfigurationId, null);
  assert.deepEqual(stripMessageIds(grant.events), [
    {
      type: "credits.granted",
      grantId: grant.id,
      amount: 5000,
      customerId: "customer-cjs",
      resourceId: "workspace-cjs",
      currencyId: "ai-tokens",
      timestamp: "2026-03-01T00:00:01.000Z",
    },
  ]);

  now += 1000;
  const ack = await ledger.reportUsage({ ...scope, featureId: "feature-ai-tokens", value: 150, idempotencyKey: "req-42" });
  const { events: ackEvents, ...ackRest } = ack;
  assert.deepEqual(ackRest, {
    customerId: "customer-cjs",
    resourceId: "workspace-cjs",
    featureId: "feature-ai-tokens",
    credit: {
      currencyId: "ai-tokens",
      consumed: 150,
      currentUsage: 150,
      usageLimit: 5100,
      currentBalance: 4950,
      timestamp: "2026-03-01T00:00:02.000Z",
    },
  });

  assert.deepEqual(await ledger.getCreditBalance({ ...scope, currencyId: "ai-tokens" }), {
    customerId: "customer-cjs",
    resourceId: "workspace-cjs",
    currencyId: "ai-tokens",
    currentBalance: 4950,
    totalGranted: 5100,
    totalConsumed: 150,
    totalExpired: 0,
    totalVoided: 0,
    reservedAmount: 0,
    availableBalance: 4950, // currentBalance − reservedAmount
  });

  // The plan's 100 credits (expiring at the period end) burn before the paid grant.
  const { events } = await ledger.getCreditLedger({ ...scope, order: "ASC" });
  assert.deepEqual(
    events.map((e) => [e.seq, e.eventType, e.amount]),
    [
      [0, "CREDITS_GRANTED", 100],
      [1, "CREDITS_GRANTED", 5000],
      [2, "CREDITS_CONSUMED", 100],
      [3, "CREDITS_CONSUMED", 50],
    ],
  );
  assert.equal(events[3].creditGrantId, grant.id);
  assert.equal(events[3].eventId, "req-42");

  // Provisioning reported the plan's grant; the usage emptied it (4950 of 5100 is above every
  // low-balance threshold).
  const planGrantId = events[0].creditGrantId;
  const at = (ms) => ({ customerId: "customer-cjs", resourceId: "workspace-cjs", currencyId: "ai-tokens", timestamp: new Date(ms).toISOString() });
  assert.deepEqual(stripMessageIds(provisioned.events), [{ type: "credits.granted", grantId: planGrantId, amount: 100, ...at(T0) }]);
  assert.deepEqual(stripMessageIds(ackEvents), [{ type: "credits.grant.depleted", grantId: planGrantId, amount: 100, ...at(T0 + 2000) }]);

  // Errors keep their shape across the CommonJS boundary.
  await assert.rejects(ledger.reportUsage({ ...scope, featureId: "feature-ai-tokens", value: -1 }), {
    name: "CreditPoolsError",
    code: "INVALID_ARGUMENT",
    field: "value",
  });
});
