// Type-checked (tsc --strict --noEmit) against the published credit_pools.d.ts:
// the README's examples, written as a TypeScript user would.
import { CreditLedger, buildInfo } from "credit-pools";
import type { CreditPoolsEvent, CreditPoolsError, CreditPoolsKv, RechargeRequest } from "credit-pools";

const map = new Map<string, string>();
const kv: CreditPoolsKv = { get: (k) => map.get(k), put: (k, v) => { map.set(k, v); } };
const asyncKv: CreditPoolsKv = { get: async (k) => map.get(k) ?? null, put: async (k, v) => { map.set(k, v); } };

const seen: CreditPoolsEvent[] = [];
const ledger = new CreditLedger({
  kv,
  catalog: {
    currencies: [{ id: "ai-tokens", displayName: "AI tokens" }],
    plans: [{
      id: "plan-basic",
      credits: [{ currencyId: "ai-tokens", amount: 1000, cadence: "MONTH", hasSoftLimit: false }],
      creditRates: [
        { featureId: "feature-ai-tokens", currencyId: "ai-tokens", amount: 1 },
        { featureId: "llm", currencyId: "ai-tokens", costFormula: "1.1*model1_tokens + 1.5*model2_tokens" },
      ],
    }],
  },
  now: () => Date.now(),
  keyPrefix: "tenant-1",
  onEvent: (event) => { seen.push(event); },
  onRecharge: async (request: RechargeRequest) => { void request.amount; },
  usageLowThresholds: [80, 50, 20],
});
new CreditLedger({ kv: asyncKv, catalog: { currencies: [{ id: "x" }] } });

export async function tour(): Promise<number> {
  const { subscription } = await ledger.provisionSubscription({ customerId: "c1", planId: "plan-basic", resourceId: "ws-1", startDate: new Date() });
  const grant = await ledger.grantCredits({ customerId: "c1", resourceId: "ws-1", creditTypeId: "ai-tokens", amount: "12.5", grantType: "PROMOTIONAL", expireAt: "2027-01-01" });
  const usage = await ledger.reportUsage({ customerId: "c1", resourceId: "ws-1", featureId: "llm", value: 1, dimensions: { model1_tokens: 1000, model2_tokens: 300, premium: true }, idempotencyKey: "r1" });
  await ledger.consumeCredits({ customerId: "c1", currencyId: "ai-tokens", amount: 1, idempotencyKey: "c1", requireBalance: true });
  const voided = await ledger.voidCreditGrant({ id: grant.id });
  const entitlement = await ledger.getCreditEntitlement({ customerId: "c1", resourceId: "ws-1", currencyId: "ai-tokens", requestedUsage: 5 });
  const { estimates: [estimate] } = await ledger.estimateUsageCost({ customerId: "c1", resourceId: "ws-1", featureId: "feature-ai-tokens", value: 3 });
  const balance = await ledger.getCreditBalance({ customerId: "c1", resourceId: "ws-1", currencyId: "ai-tokens" });
  const { events, nextCursor } = await ledger.getCreditLedger({ customerId: "c1", resourceId: "ws-1", eventType: ["CREDITS_CONSUMED"], order: "ASC", limit: 10 });
  const { grants } = await ledger.getCreditGrants({ customerId: "c1", resourceId: "ws-1" });
  const report = await ledger.getCreditUsage({ customerId: "c1", resourceId: "ws-1", startDate: "2026-11-01", endDate: new Date(), groupBy: ["featureId"], granularity: "DAY" });
  const config = await ledger.saveAutomaticRechargeConfiguration({ customerId: "c1", currencyId: "ai-tokens", isEnabled: true, thresholdValue: 20, targetBalance: 50, maxSpendLimit: null, grantExpirationPeriod: "1_YEAR" });
  const current = await ledger.getAutomaticRechargeConfiguration({ customerId: "c1", currencyId: "ai-tokens" });
  const { reservationId, expiresAt } = await ledger.reserveCredits({ customerId: "c1", resourceId: "ws-1", currencyId: "ai-tokens", amount: 10, ttlMs: 60_000, idempotencyKey: "rsv" });
  const settled = await ledger.settleReservation({ reservationId, amount: 6.4 });
  await ledger.releaseReservation({ reservationId });
  await ledger.transferSubscriptionToResource({ subscriptionId: subscription.id, destinationResourceId: "ws-2" });
  await ledger.confirmRecharge({ rechargeId: "x" }).catch((error: CreditPoolsError) => error.code);
  await ledger.failRecharge({ rechargeId: "x", reason: "declined" }).catch(() => undefined);
  await ledger.flush();
  for (const event of [...seen, ...usage.events]) {
    if (event.type === "automatic_recharge.operation.attempted") {
      const status: "PENDING" | "SUCCESS" | "FAILED" = event.status;
      void status;
    }
  }
  const codes: CreditPoolsError["code"][] = ["INVALID_ARGUMENT", "NOT_FOUND", "INSUFFICIENT_CREDITS"];
  void [voided.status, entitlement.hasAccess, estimate?.wouldOverdraft, events[0]?.eventType, nextCursor, grants[0]?.grantType,
    report.series[0]?.points, config.id, current.currentMonthlySpend, expiresAt, settled.releasedAmount, codes, buildInfo().version];
  return balance.currentBalance + usage.credit.consumed;
}

// @ts-expect-error amounts are numbers or decimal strings, not booleans
void ledger.grantCredits({ customerId: "c1", currencyId: "ai-tokens", amount: true });
// @ts-expect-error unknown grant types are rejected by the types too
void ledger.grantCredits({ customerId: "c1", currencyId: "ai-tokens", amount: 1, grantType: "FREE" });
