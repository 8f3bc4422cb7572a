// make demo: the seed story of Stigg's "resource-specific credit pools", run
// through the npm package in Node over a plain Map as the host's key-value store.
//
// One customer, two workspaces with their own subscriptions, and the customer's
// global pool. Credits granted to one workspace stay there; usage in each pool
// is debited from that pool only, even when it runs dry.
import { CreditLedger, buildInfo } from "credit-pools";

const map = new Map();
const kv = { get: (key) => map.get(key), put: (key, value) => { map.set(key, value); } };
let nowMs = Date.parse("2026-11-25T09:00:00Z"); // a fixed clock makes the output reproducible
const charged = [];
const ledger = new CreditLedger({
  kv,
  now: () => nowMs,
  // The host charges the card for an automatic recharge; resolving confirms it.
  onRecharge: async ({ resourceId, amount, rechargeId }) => {
    charged.push(`${amount} credits for ${resourceId ?? "the global pool"} (recharge ${rechargeId.slice(0, 8)}…)`);
  },
  catalog: {
    currencies: [{ id: "ai-tokens", displayName: "AI tokens" }],
    plans: [{
      id: "plan-basic",
      credits: [{ currencyId: "ai-tokens", amount: 1000, cadence: "MONTH" }],
      creditRates: [{ featureId: "feature-ai-tokens", currencyId: "ai-tokens", amount: 1 }],
    }],
  },
});

const customerId = "customer-demo-01";
const pools = [
  { label: "workspace-example-com", resourceId: "workspace-example-com" },
  { label: "workspace-marketing", resourceId: "workspace-marketing" },
  { label: "(global pool)", resourceId: undefined },
];

const step = (text) => console.log(`\n> ${text}`);
const tick = () => { nowMs += 60_000; };

console.log(`credit-pools ${buildInfo().version}: one customer, two workspaces, one global pool`);

for (const { resourceId } of pools) {
  step(`provisionSubscription({ customerId, planId: "plan-basic"${resourceId ? `, resourceId: "${resourceId}"` : ""} })`);
  const { subscription } = await ledger.provisionSubscription({ customerId, planId: "plan-basic", resourceId });
  console.log(`  subscription ${subscription.status}; the plan's 1000 monthly credits go to ${resourceId ?? "the global pool"}`);
  tick();
}

step(`saveAutomaticRechargeConfiguration({ currencyId: "ai-tokens", isEnabled: true, thresholdValue: 100, targetBalance: 500, maxSpendLimit: 2000 })`);
await ledger.saveAutomaticRechargeConfiguration({ customerId, currencyId: "ai-tokens", isEnabled: true, thresholdValue: 100, targetBalance: 500, maxSpendLimit: 2000 });
console.log("  one configuration for all of the customer's ai-tokens pools; each recharge goes to the pool that ran low");
tick();

step(`grantCredits({ resourceId: "workspace-example-com", creditTypeId: "ai-tokens", amount: 5000 })`);
const grant = await ledger.grantCredits({ customerId, resourceId: "workspace-example-com", creditTypeId: "ai-tokens", amount: 5000, displayName: "Top-up" });
console.log(`  grant ${grant.id.slice(0, 8)}… ${grant.status}, amount ${grant.amount}`);
tick();

const usages = [
  ["workspace-example-com", 150],
  ["workspace-marketing", 1200],
  [undefined, 40.5],
];
for (const [resourceId, value] of usages) {
  step(`reportUsage({ ${resourceId ? `resourceId: "${resourceId}", ` : ""}featureId: "feature-ai-tokens", value: ${value} })`);
  const { credit, events } = await ledger.reportUsage({ customerId, resourceId, featureId: "feature-ai-tokens", value, idempotencyKey: `req-${resourceId ?? "global"}` });
  console.log(`  consumed ${credit.consumed} from ${resourceId ?? "the global pool"}; its balance is now ${credit.currentBalance}`);
  if (events.length) console.log(`  events: ${events.map((e) => e.type + (e.status ? ` (${e.status}, ${e.amount})` : "")).join(", ")}`);
  tick();
}
await ledger.flush(); // wait for the background payment(s)
for (const line of charged) console.log(`  host charged the card: ${line}`);

step("the same workspace-example-com request retried with its idempotency key");
const retry = await ledger.reportUsage({ customerId, resourceId: "workspace-example-com", featureId: "feature-ai-tokens", value: 150, idempotencyKey: "req-workspace-example-com" });
console.log(`  consumed ${retry.credit.consumed} (applied once); balance still ${retry.credit.currentBalance}`);

step("an LLM request in workspace-example-com: reserve 500 credits, then settle the 320 it used");
const { reservationId } = await ledger.reserveCredits({ customerId, resourceId: "workspace-example-com", currencyId: "ai-tokens", amount: 500, ttlMs: 60_000, idempotencyKey: "llm-1" });
const held = await ledger.getCreditBalance({ customerId, resourceId: "workspace-example-com", currencyId: "ai-tokens" });
console.log(`  held: balance ${held.currentBalance}, available ${held.availableBalance}`);
const settled = await ledger.settleReservation({ reservationId, amount: 320 });
console.log(`  settled ${settled.settledAmount}, returned ${settled.releasedAmount}; balance now ${settled.credit.currentBalance}`);
tick();

step("checks that write nothing: can marketing spend 100 more? what would 300 more cost example.com?");
const check = await ledger.getCreditEntitlement({ customerId, resourceId: "workspace-marketing", currencyId: "ai-tokens", requestedUsage: 100 });
console.log(`  workspace-marketing: hasAccess ${check.hasAccess}${check.accessDeniedReason ? ` (${check.accessDeniedReason})` : ""}, balance ${check.currentBalance}, period ends ${check.usagePeriodEnd}`);
const { estimates: [estimate] } = await ledger.estimateUsageCost({ customerId, resourceId: "workspace-example-com", featureId: "feature-ai-tokens", value: 300 });
console.log(`  workspace-example-com: 300 units cost ${estimate.estimatedCost}, balance ${estimate.currentBalance} -> ${estimate.balanceAfterEstimate}`);

console.log("\nBalances (each pool is its own wallet: marketing's overdraft and its recharge touched no other pool):");
const rows = [];
for (const { label, resourceId } of pools) {
  const b = await ledger.getCreditBalance({ customerId, resourceId, currencyId: "ai-tokens" });
  rows.push({ pool: label, granted: b.totalGranted, consumed: b.totalConsumed, balance: b.currentBalance });
}
printTable(rows, ["pool", "granted", "consumed", "balance"]);

for (const { label, resourceId } of pools) {
  console.log(`\nLedger of ${label}:`);
  const { events } = await ledger.getCreditLedger({ customerId, resourceId, order: "ASC" });
  const grants = (await ledger.getCreditGrants({ customerId, resourceId })).grants;
  const typeOf = new Map(grants.map((g) => [g.id, g.grantType]));
  printTable(
    events.map((e) => ({ "#": e.seq, time: e.timestamp.slice(11, 19), event: e.eventType, amount: e.amount, grant: `${typeOf.get(e.creditGrantId) ?? ""} ${e.creditGrantId.slice(0, 8)}…`, feature: e.featureId ?? "" })),
    ["#", "time", "event", "amount", "grant", "feature"],
  );
}

console.log(`\nAll of it lives in the host's kv: ${map.size} keys, e.g. ${[...map.keys()].sort().find((k) => k.includes("/s/"))}`);

function printTable(rows, columns) {
  const width = Object.fromEntries(columns.map((c) => [c, Math.max(c.length, ...rows.map((r) => String(r[c]).length))]));
  const line = (cells) => "  " + columns.map((c) => (typeof cells[c] === "number" ? String(cells[c]).padStart(width[c]) : String(cells[c]).padEnd(width[c]))).join("  ");
  console.log(line(Object.fromEntries(columns.map((c) => [c, c]))));
  console.log("  " + columns.map((c) => "-".repeat(width[c])).join("  "));
  for (const row of rows) console.log(line(row));
}
