// End-to-end tests of the Cloudflare Worker example (worker-example/) running
// under workerd: routes, Durable Object serialisation, per-customer isolation,
// the KV read cache, tokens, and bad requests. One workerd per `describe`.
//
//   node --test js-tests/worker.test.mjs        (after `make build`)
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startWorker } from "./worker-harness.mjs";
import { signCustomerToken } from "../worker-example/src/auth.js";
import { CATALOG } from "../worker-example/src/catalog.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CURRENCY = "ai-tokens";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const poolLabel = (resourceId) => resourceId ?? "(global)";
const byResource = (a, b) => poolLabel(a.resourceId).localeCompare(poolLabel(b.resourceId));
const isoDate = (value) => typeof value === "string" && !Number.isNaN(Date.parse(value)) && new Date(value).toISOString() === value;

/** Asserts an answer's status (and error code); never a 500. */
function expectStatus(response, status, code) {
  assert.ok(response.status < 500, `a 5xx answer: ${response.status} ${JSON.stringify(response.body)}`);
  assert.equal(response.status, status, `expected ${status}, got ${response.status} ${JSON.stringify(response.body)}`);
  if (code !== undefined) {
    assert.equal(response.body?.error?.code, code, JSON.stringify(response.body));
    assert.equal(typeof response.body.error.message, "string");
  }
  return response.body;
}

const ok = (response) => expectStatus(response, 200);

function startDescribeWorker() {
  const holder = {};
  before(async () => {
    holder.worker = await startWorker();
  });
  after(async () => {
    await holder.worker?.stop();
  });
  return holder;
}

async function provision(worker, customerId, resourceIds, planId = "plan-basic") {
  const results = [];
  for (const resourceId of resourceIds) {
    results.push(ok(await worker.admin("POST", "/v1/subscriptions", { customerId, planId, resourceId })));
  }
  return results;
}

const balanceQuery = (customerId, resourceId, extra = {}) => ({ customerId, resourceId, currencyId: CURRENCY, ...extra });

function expectedBalance(customerId, resourceId, { granted, consumed = 0, voided = 0 }) {
  const current = granted - consumed - voided;
  return {
    customerId,
    resourceId,
    currencyId: CURRENCY,
    currentBalance: current,
    totalGranted: granted,
    totalConsumed: consumed,
    totalExpired: 0,
    totalVoided: voided,
    reservedAmount: 0,
    availableBalance: current,
  };
}

/**
 * Everything the admin sees of a customer's pools: fresh balances, cached
 * balances (with publishedAt, or "miss"), full ledgers and grants.
 */
async function stateOf(worker, customerId, resourceIds) {
  const state = {};
  for (const resourceId of resourceIds) {
    const fresh = await worker.admin("GET", "/v1/credits/balance", balanceQuery(customerId, resourceId));
    const cached = await worker.admin("GET", "/v1/credits/balance", balanceQuery(customerId, resourceId, { consistency: "cached" }));
    const ledger = await worker.admin("GET", "/v1/credits/ledger", { customerId, resourceId, currencyId: CURRENCY, limit: 1000 });
    const grants = await worker.admin("GET", "/v1/credits/grants", { customerId, resourceId, currencyId: CURRENCY });
    state[poolLabel(resourceId)] = {
      balance: ok(fresh),
      cached: cached.headers.get("x-credit-pools-staleness") === "cached" ? ok(cached) : "miss",
      ledger: ok(ledger),
      grants: ok(grants),
    };
  }
  return state;
}

// ---------------------------------------------------------------------------
describe("worker routes: every success path with exact figures", () => {
  const ctx = startDescribeWorker();
  const C = "cust-routes";
  const RESOURCES = ["ws-a", "ws-b", null];
  const subs = {};
  let promo;
  let usageTime;
  let tokensUsageTime;

  it("POST /v1/subscriptions provisions plan-basic into ws-a, ws-b and the global pool", async () => {
    for (const resourceId of RESOURCES) {
      const body = ok(await ctx.worker.admin("POST", "/v1/subscriptions", { customerId: C, planId: "plan-basic", resourceId }));
      assert.equal(body.status, "SUCCESS");
      assert.match(body.id, /^sub-/);
      assert.equal(body.subscription.id, body.id);
      assert.equal(body.subscription.customerId, C);
      assert.equal(body.subscription.planId, "plan-basic");
      assert.equal(body.subscription.resourceId, resourceId);
      assert.equal(body.subscription.status, "ACTIVE");
      assert.ok(isoDate(body.subscription.startDate));
      assert.equal(body.events.length, 1);
      const [event] = body.events;
      assert.equal(event.type, "credits.granted");
      assert.equal(event.amount, 1000);
      assert.equal(event.customerId, C);
      assert.equal(event.resourceId, resourceId);
      assert.equal(event.currencyId, CURRENCY);
      subs[poolLabel(resourceId)] = { id: body.id, grantId: event.grantId };
    }
    for (const resourceId of RESOURCES) {
      const balance = ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, resourceId)));
      assert.deepEqual(balance, expectedBalance(C, resourceId, { granted: 1000 }));
    }
  });

  it("POST /v1/credits/grants grants 500 promotional credits into ws-a only", async () => {
    const body = ok(
      await ctx.worker.admin("POST", "/v1/credits/grants", {
        customerId: C,
        resourceId: "ws-a",
        currencyId: CURRENCY,
        amount: 500,
        grantType: "PROMOTIONAL",
        priority: 5,
        displayName: "welcome",
        idempotencyKey: "grant-welcome",
      }),
    );
    promo = body;
    assert.equal(typeof body.id, "string");
    assert.equal(body.customerId, C);
    assert.equal(body.resourceId, "ws-a");
    assert.equal(body.currencyId, CURRENCY);
    assert.equal(body.amount, 500);
    assert.equal(body.consumedAmount, 0);
    assert.equal(body.grantType, "PROMOTIONAL");
    assert.equal(body.status, "ACTIVE");
    assert.equal(body.priority, 5);
    assert.equal(body.displayName, "welcome");
    assert.equal(body.voidedAt, null);
    assert.deepEqual(
      body.events.map(({ type, grantId, amount, resourceId }) => ({ type, grantId, amount, resourceId })),
      [{ type: "credits.granted", grantId: body.id, amount: 500, resourceId: "ws-a" }],
    );
    assert.deepEqual(ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a"))), expectedBalance(C, "ws-a", { granted: 1500 }));
    assert.deepEqual(ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-b"))), expectedBalance(C, "ws-b", { granted: 1000 }));
    assert.deepEqual(ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, null))), expectedBalance(C, null, { granted: 1000 }));
  });

  it("POST /v1/usage debits exactly the pool it names at the plan's rate", async () => {
    const before = Date.now();
    const images = ok(
      await ctx.worker.admin("POST", "/v1/usage", { customerId: C, resourceId: "ws-a", featureId: "feature-images", value: 2, idempotencyKey: "use-images" }),
    );
    usageTime = images.credit.timestamp;
    assert.ok(Date.parse(usageTime) >= before - 1000);
    assert.deepEqual(images, {
      customerId: C,
      resourceId: "ws-a",
      featureId: "feature-images",
      credit: { currencyId: CURRENCY, consumed: 50, currentUsage: 50, usageLimit: 1500, currentBalance: 1450, timestamp: usageTime },
      events: [],
    });
    const tokens = ok(
      await ctx.worker.admin("POST", "/v1/usage", { customerId: C, resourceId: "ws-a", featureId: "feature-ai-tokens", value: 30, idempotencyKey: "use-tokens" }),
    );
    tokensUsageTime = tokens.credit.timestamp;
    assert.equal(tokens.credit.consumed, 30);
    assert.equal(tokens.credit.currentUsage, 80);
    assert.equal(tokens.credit.currentBalance, 1420);
    const wsB = ok(await ctx.worker.admin("POST", "/v1/usage", { customerId: C, resourceId: "ws-b", featureId: "feature-ai-tokens", value: 100, idempotencyKey: "use-b" }));
    assert.equal(wsB.resourceId, "ws-b");
    assert.equal(wsB.credit.consumed, 100);
    assert.equal(wsB.credit.currentBalance, 900);
    const global = ok(await ctx.worker.admin("POST", "/v1/usage", { customerId: C, featureId: "feature-ai-tokens", value: 40.5, idempotencyKey: "use-global" }));
    assert.equal(global.resourceId, null);
    assert.equal(global.credit.consumed, 40.5);
    assert.equal(global.credit.currentBalance, 959.5);
    // An idempotent repeat is applied once.
    const repeat = ok(
      await ctx.worker.admin("POST", "/v1/usage", { customerId: C, resourceId: "ws-a", featureId: "feature-images", value: 2, idempotencyKey: "use-images" }),
    );
    assert.equal(repeat.credit.consumed, 0);
    assert.equal(repeat.credit.currentBalance, 1420);
  });

  it("POST /v1/credits/consume debits credits directly", async () => {
    const body = ok(
      await ctx.worker.admin("POST", "/v1/credits/consume", { customerId: C, resourceId: "ws-b", currencyId: CURRENCY, amount: 12.5, idempotencyKey: "consume-1" }),
    );
    assert.equal(body.customerId, C);
    assert.equal(body.resourceId, "ws-b");
    assert.equal(body.currencyId, CURRENCY);
    assert.equal(body.amount, 12.5);
    assert.deepEqual(body.credit, {
      currencyId: CURRENCY,
      consumed: 12.5,
      currentUsage: 112.5,
      usageLimit: 1000,
      currentBalance: 887.5,
      timestamp: body.timestamp,
    });
    assert.deepEqual(body.events, []);
  });

  it("POST /v1/credits/estimate prices usage without writing", async () => {
    const body = ok(await ctx.worker.admin("POST", "/v1/credits/estimate", { customerId: C, resourceId: "ws-a", featureId: "feature-images", value: 4 }));
    assert.deepEqual(body, {
      customerId: C,
      resourceId: "ws-a",
      featureId: "feature-images",
      estimates: [{ currencyId: CURRENCY, estimatedCost: 100, currentBalance: 1420, balanceAfterEstimate: 1320, wouldOverdraft: false, reservedAmount: 0 }],
    });
    const chat = ok(
      await ctx.worker.admin("POST", "/v1/credits/estimate", {
        customerId: C,
        resourceId: "ws-b",
        featureId: "feature-chat",
        value: 1,
        dimensions: { input_tokens: 100, output_tokens: 20 },
      }),
    );
    assert.deepEqual(chat.estimates, [
      { currencyId: CURRENCY, estimatedCost: 140, currentBalance: 887.5, balanceAfterEstimate: 747.5, wouldOverdraft: false, reservedAmount: 0 },
    ]);
    const over = ok(await ctx.worker.admin("POST", "/v1/credits/estimate", { customerId: C, featureId: "feature-ai-tokens", value: 1000 }));
    assert.deepEqual(over.estimates, [
      { currencyId: CURRENCY, estimatedCost: 1000, currentBalance: 959.5, balanceAfterEstimate: -40.5, wouldOverdraft: true, reservedAmount: 0 },
    ]);
    assert.equal(ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a"))).currentBalance, 1420);
  });

  it("GET /v1/credits/balance answers from the object (fresh) with exact totals", async () => {
    const expected = {
      "ws-a": expectedBalance(C, "ws-a", { granted: 1500, consumed: 80 }),
      "ws-b": expectedBalance(C, "ws-b", { granted: 1000, consumed: 112.5 }),
      "(global)": expectedBalance(C, null, { granted: 1000, consumed: 40.5 }),
    };
    for (const resourceId of RESOURCES) {
      const response = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, resourceId));
      assert.deepEqual(ok(response), expected[poolLabel(resourceId)]);
      assert.equal(response.headers.get("x-credit-pools-staleness"), "fresh");
      assert.match(response.headers.get("content-type"), /^application\/json/);
    }
    // creditTypeId is accepted as another name for currencyId.
    const alias = await ctx.worker.admin("GET", "/v1/credits/balance", { customerId: C, resourceId: "ws-a", creditTypeId: CURRENCY });
    assert.deepEqual(ok(alias), expected["ws-a"]);
  });

  it("GET /v1/credits/ledger lists the pool's events, with order, eventType, limit and cursor", async () => {
    const desc = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY }));
    assert.equal(desc.nextCursor, null);
    assert.deepEqual(
      desc.events.map(({ seq, eventType, customerId, resourceId, currencyId, amount, creditGrantId, featureId, eventId }) => ({
        seq,
        eventType,
        customerId,
        resourceId,
        currencyId,
        amount,
        creditGrantId,
        featureId,
        eventId,
      })),
      [
        { seq: 3, eventType: "CREDITS_CONSUMED", customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 30, creditGrantId: subs["ws-a"].grantId, featureId: "feature-ai-tokens", eventId: "use-tokens" },
        { seq: 2, eventType: "CREDITS_CONSUMED", customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 50, creditGrantId: subs["ws-a"].grantId, featureId: "feature-images", eventId: "use-images" },
        { seq: 1, eventType: "CREDITS_GRANTED", customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 500, creditGrantId: promo.id, featureId: null, eventId: null },
        { seq: 0, eventType: "CREDITS_GRANTED", customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 1000, creditGrantId: subs["ws-a"].grantId, featureId: null, eventId: null },
      ],
    );
    for (const event of desc.events) assert.ok(isoDate(event.timestamp));

    const asc = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, order: "ASC" }));
    assert.deepEqual(asc.events, [...desc.events].reverse());

    const consumed = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, eventType: "CREDITS_CONSUMED" }));
    assert.deepEqual(consumed.events.map((e) => e.seq), [3, 2]);

    const first = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, limit: 3 }));
    assert.deepEqual(first.events.map((e) => e.seq), [3, 2, 1]);
    assert.equal(typeof first.nextCursor, "string");
    const rest = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, limit: 3, cursor: first.nextCursor }));
    assert.deepEqual(rest.events.map((e) => e.seq), [0]);
    assert.equal(rest.nextCursor, null);

    const wsB = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-b", currencyId: CURRENCY }));
    assert.deepEqual(
      wsB.events.map((e) => [e.eventType, e.amount, e.featureId, e.eventId]),
      [
        ["CREDITS_CONSUMED", 12.5, null, "consume-1"],
        ["CREDITS_CONSUMED", 100, "feature-ai-tokens", "use-b"],
        ["CREDITS_GRANTED", 1000, null, null],
      ],
    );
  });

  it("GET /v1/credits/grants lists the pool's grants, newest first, with live consumption", async () => {
    const body = ok(await ctx.worker.admin("GET", "/v1/credits/grants", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY }));
    assert.equal(body.nextCursor, null);
    assert.deepEqual(
      body.grants.map(({ id, resourceId, amount, consumedAmount, grantType, status, priority, subscriptionId }) => ({
        id,
        resourceId,
        amount,
        consumedAmount,
        grantType,
        status,
        priority,
        subscriptionId,
      })),
      [
        { id: promo.id, resourceId: "ws-a", amount: 500, consumedAmount: 0, grantType: "PROMOTIONAL", status: "ACTIVE", priority: 5, subscriptionId: null },
        { id: subs["ws-a"].grantId, resourceId: "ws-a", amount: 1000, consumedAmount: 80, grantType: "RECURRING", status: "ACTIVE", priority: 0, subscriptionId: subs["ws-a"].id },
      ],
    );
    const global = ok(await ctx.worker.admin("GET", "/v1/credits/grants", { customerId: C, currencyId: CURRENCY }));
    assert.deepEqual(global.grants.map((g) => [g.id, g.resourceId, g.consumedAmount]), [[subs["(global)"].grantId, null, 40.5]]);
  });

  it("GET /v1/credits/usage groups consumption by feature per UTC day", async () => {
    const now = Date.now();
    const startDate = new Date(now - DAY).toISOString();
    const endDate = new Date(now + DAY).toISOString();
    const body = ok(await ctx.worker.admin("GET", "/v1/credits/usage", { customerId: C, resourceId: "ws-a", startDate, endDate, groupBy: "featureId" }));
    const dayOf = (timestamp) => new Date(Math.floor(Date.parse(timestamp) / DAY) * DAY).toISOString();
    assert.equal(body.customerId, C);
    assert.equal(body.resourceId, "ws-a");
    assert.equal(body.startDate, startDate);
    assert.equal(body.endDate, endDate);
    assert.equal(body.granularity, "DAY");
    assert.deepEqual(body.groupBy, ["featureId"]);
    assert.equal(body.complete, true);
    assert.deepEqual(
      [...body.series].sort((a, b) => a.group.featureId.localeCompare(b.group.featureId)),
      [
        { group: { featureId: "feature-ai-tokens" }, currencyId: CURRENCY, totalCredits: 30, eventCount: 1, points: [{ timestamp: dayOf(tokensUsageTime), value: 30, eventCount: 1 }] },
        { group: { featureId: "feature-images" }, currencyId: CURRENCY, totalCredits: 50, eventCount: 1, points: [{ timestamp: dayOf(usageTime), value: 50, eventCount: 1 }] },
      ],
    );
    // A window that ends before the usage holds nothing.
    const empty = ok(
      await ctx.worker.admin("GET", "/v1/credits/usage", {
        customerId: C,
        resourceId: "ws-a",
        startDate: new Date(now - 3 * DAY).toISOString(),
        endDate: new Date(now - 2 * DAY).toISOString(),
        groupBy: "featureId",
      }),
    );
    assert.deepEqual(empty.series, []);
  });

  it("POST /v1/credits/grants/void voids the remainder of a grant, by { customerId, id }", async () => {
    const body = ok(await ctx.worker.admin("POST", "/v1/credits/grants/void", { customerId: C, id: promo.id }));
    assert.equal(body.id, promo.id);
    assert.equal(body.resourceId, "ws-a");
    assert.equal(body.status, "VOIDED");
    assert.equal(body.amount, 500);
    assert.equal(body.consumedAmount, 0);
    assert.ok(isoDate(body.voidedAt));
    const voided = body.events.filter((e) => e.type === "credits.grant.voided");
    assert.deepEqual(
      voided.map(({ type, grantId, amount, resourceId }) => ({ type, grantId, amount, resourceId })),
      [{ type: "credits.grant.voided", grantId: promo.id, amount: 500, resourceId: "ws-a" }],
    );
    const balance = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a"));
    assert.deepEqual(ok(balance), expectedBalance(C, "ws-a", { granted: 1500, consumed: 80, voided: 500 }));
    // The void is published to the read cache too.
    const cached = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a", { consistency: "cached" }));
    assert.equal(cached.headers.get("x-credit-pools-staleness"), "cached");
    const { publishedAt, ...rest } = ok(cached);
    assert.deepEqual(rest, expectedBalance(C, "ws-a", { granted: 1500, consumed: 80, voided: 500 }));
    assert.ok(isoDate(publishedAt));
    const ledger = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, limit: 1 }));
    assert.deepEqual([ledger.events[0].eventType, ledger.events[0].amount, ledger.events[0].creditGrantId], ["CREDITS_VOIDED", 500, promo.id]);
  });

  it("POST and GET /v1/credits/recharge-configuration save and read the customer's configuration", async () => {
    const defaults = ok(await ctx.worker.admin("GET", "/v1/credits/recharge-configuration", { customerId: C, currencyId: CURRENCY }));
    assert.equal(defaults.id, null);
    assert.equal(defaults.customerId, C);
    assert.equal(defaults.currencyId, CURRENCY);
    assert.equal(defaults.isEnabled, false);
    assert.equal(defaults.currentMonthlySpend, 0);

    const saved = ok(
      await ctx.worker.admin("POST", "/v1/credits/recharge-configuration", {
        customerId: C,
        currencyId: CURRENCY,
        isEnabled: true,
        thresholdValue: 20,
        targetBalance: 50,
        maxSpendLimit: 500,
        grantExpirationPeriod: "1_MONTH",
      }),
    );
    const { events, ...configuration } = saved;
    assert.match(configuration.id, /^arc-/);
    assert.deepEqual(configuration, {
      id: configuration.id,
      customerId: C,
      currencyId: CURRENCY,
      isEnabled: true,
      thresholdType: "CREDIT_AMOUNT",
      thresholdValue: 20,
      targetBalance: 50,
      maxSpendLimit: 500,
      grantExpirationPeriod: "1_MONTH",
      currentMonthlySpend: 0,
    });
    assert.deepEqual(
      events.map(({ type, configurationId, changedBy, isEnabled }) => ({ type, configurationId, changedBy, isEnabled })),
      [{ type: "automatic_recharge.configuration.changed", configurationId: configuration.id, changedBy: "USER", isEnabled: true }],
    );
    const read = ok(await ctx.worker.admin("GET", "/v1/credits/recharge-configuration", { customerId: C, currencyId: CURRENCY }));
    assert.deepEqual(read, configuration);
  });

  it("GET /v1/pools/snapshot returns the catalog, every pool with balance and ledger, and the scope heads", async () => {
    const before = Date.now();
    const body = ok(await ctx.worker.admin("GET", "/v1/pools/snapshot", { customerId: C }));
    assert.equal(body.customerId, C);
    assert.ok(isoDate(body.generatedAt) && Date.parse(body.generatedAt) >= before - 1000);
    assert.deepEqual(body.catalog, CATALOG);
    const pools = [...body.pools].sort(byResource);
    assert.deepEqual(pools.map((p) => p.resourceId), [null, "ws-a", "ws-b"]);
    for (const pool of pools) {
      assert.equal(pool.currencyId, CURRENCY);
      assert.equal(pool.planId, "plan-basic");
      const fresh = ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, pool.resourceId)));
      assert.deepEqual(pool.balance, fresh);
      const ledger = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: pool.resourceId, currencyId: CURRENCY, order: "ASC", limit: 500 }));
      assert.deepEqual(pool.events, ledger.events);
    }
    assert.deepEqual(
      Object.fromEntries(pools.map((p) => [poolLabel(p.resourceId), p.balance.currentBalance])),
      { "(global)": 959.5, "ws-a": 920, "ws-b": 887.5 },
    );
    const keys = Object.keys(body.entries);
    assert.equal(keys.length, 3);
    const heads = [];
    for (const key of keys) {
      assert.ok(key.endsWith("/h"), key);
      assert.equal(typeof body.entries[key], "string");
      const head = JSON.parse(body.entries[key]);
      assert.equal(head.c, C); // the head's short names: c = customer, r = resource
      heads.push(head.r ?? null);
    }
    assert.deepEqual(heads.sort((a, b) => poolLabel(a).localeCompare(poolLabel(b))), [null, "ws-a", "ws-b"]);
  });

  it("GET / serves the balance-preview page", async () => {
    const response = await fetch(`${ctx.worker.url}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type"), /^text\/html/);
    const html = await response.text();
    assert.ok(html.includes("Credit pools"), html.slice(0, 200));
    const script = await fetch(`${ctx.worker.url}/app.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get("content-type"), /^text\/javascript/);
    assert.equal(await script.text(), readFileSync(path.join(ROOT, "worker-example/src/app.page.js"), "utf8"));
  });

  it("GET /pkg/credit_pools_bg.wasm serves the package's WebAssembly module", async () => {
    const response = await fetch(`${ctx.worker.url}/pkg/credit_pools_bg.wasm`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/wasm");
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d]); // "\0asm"
    assert.ok(bytes.equals(readFileSync(path.join(ROOT, "pkg/credit_pools_bg.wasm"))), "the served module differs from pkg/credit_pools_bg.wasm");
    for (const file of ["browser.js", "credit_pools.js"]) {
      const js = await fetch(`${ctx.worker.url}/pkg/${file}`);
      assert.equal(js.status, 200, file);
      assert.match(js.headers.get("content-type"), /^text\/javascript/);
      assert.equal(await js.text(), readFileSync(path.join(ROOT, "pkg", file), "utf8"));
    }
    for (const file of ["package.json", "nope.wasm", "__proto__", "constructor"]) {
      const missing = await ctx.worker.call(null, "GET", `/pkg/${file}`);
      expectStatus(missing, 404, "NOT_FOUND");
    }
  });
});

// ---------------------------------------------------------------------------
describe("worker concurrency: one Durable Object serialises a customer's writes", () => {
  const ctx = startDescribeWorker();
  const C = "cust-concurrent";
  const N = 50;
  const usage = (i) => ({ customerId: C, resourceId: "ws-a", featureId: "feature-ai-tokens", value: 1, idempotencyKey: `burst-${i}` });

  it("50 concurrent POST /v1/usage are all applied: balance 950, exactly 50 CREDITS_CONSUMED events", async () => {
    await provision(ctx.worker, C, ["ws-a"]);
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => ctx.worker.admin("POST", "/v1/usage", usage(i))));
    for (const response of responses) {
      const body = ok(response);
      assert.equal(body.credit.consumed, 1);
    }
    // Serialised: every report saw a distinct balance, 999 down to 950.
    assert.deepEqual(
      responses.map((r) => r.body.credit.currentBalance).sort((a, b) => a - b),
      Array.from({ length: N }, (_, i) => 1000 - N + i),
    );
    const balance = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a"));
    assert.deepEqual(ok(balance), expectedBalance(C, "ws-a", { granted: 1000, consumed: N }));
    const consumed = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, eventType: "CREDITS_CONSUMED", limit: 1000 }));
    assert.equal(consumed.events.length, N);
    assert.equal(consumed.nextCursor, null);
    assert.deepEqual(consumed.events.map((e) => e.eventId).sort(), Array.from({ length: N }, (_, i) => `burst-${i}`).sort());
    for (const event of consumed.events) assert.equal(event.amount, 1);
    const all = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, order: "ASC", limit: 1000 }));
    assert.deepEqual(all.events.map((e) => e.seq), Array.from({ length: N + 1 }, (_, i) => i));
    // The read cache holds one of the balances the burst produced (it may lag the latest write).
    const cached = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a", { consistency: "cached" }));
    assert.equal(cached.headers.get("x-credit-pools-staleness"), "cached");
    const cachedBalance = ok(cached).currentBalance;
    assert.ok(Number.isInteger(cachedBalance) && cachedBalance >= 950 && cachedBalance <= 999, String(cachedBalance));
  });

  it("50 concurrent replays of the same idempotency keys consume nothing", async () => {
    const responses = await Promise.all(Array.from({ length: N }, (_, i) => ctx.worker.admin("POST", "/v1/usage", usage(i))));
    for (const response of responses) assert.equal(ok(response).credit.consumed, 0);
    assert.deepEqual(ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a"))), expectedBalance(C, "ws-a", { granted: 1000, consumed: N }));
    const consumed = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, eventType: "CREDITS_CONSUMED", limit: 1000 }));
    assert.equal(consumed.events.length, N);
  });

  it("concurrent usage, consumption and grants across the customer's pools add up exactly", async () => {
    await provision(ctx.worker, C, ["ws-b", null]);
    const requests = [];
    for (let i = 0; i < 20; i++) {
      requests.push(ctx.worker.admin("POST", "/v1/usage", { customerId: C, resourceId: "ws-b", featureId: "feature-images", value: 1, idempotencyKey: `mix-b-${i}` }));
      requests.push(ctx.worker.admin("POST", "/v1/credits/consume", { customerId: C, currencyId: CURRENCY, amount: 2.5, idempotencyKey: `mix-g-${i}` }));
      requests.push(ctx.worker.admin("POST", "/v1/credits/grants", { customerId: C, resourceId: "ws-b", currencyId: CURRENCY, amount: 10, idempotencyKey: `mix-grant-${i}` }));
    }
    for (const response of await Promise.all(requests)) ok(response);
    assert.deepEqual(ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-b"))), expectedBalance(C, "ws-b", { granted: 1200, consumed: 500 }));
    assert.deepEqual(ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, null))), expectedBalance(C, null, { granted: 1000, consumed: 50 }));
    assert.deepEqual(ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a"))), expectedBalance(C, "ws-a", { granted: 1000, consumed: N }));
  });
});

// ---------------------------------------------------------------------------
describe("worker isolation: each customer's object holds only its own pools", () => {
  const ctx = startDescribeWorker();
  const A = "cust-iso-a";
  const B = "cust-iso-b";
  const RESOURCES = ["ws-a", "ws-b", null];

  before(async () => {
    await provision(ctx.worker, A, RESOURCES);
    await provision(ctx.worker, B, RESOURCES);
  });

  async function balances(customerId) {
    const out = {};
    for (const resourceId of RESOURCES) {
      out[poolLabel(resourceId)] = ok(await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(customerId, resourceId))).currentBalance;
    }
    return out;
  }

  it("usage for customer A never changes customer B's pools with the same resource ids, and vice versa", async () => {
    const bBefore = await stateOf(ctx.worker, B, RESOURCES);
    ok(await ctx.worker.admin("POST", "/v1/usage", { customerId: A, resourceId: "ws-a", featureId: "feature-ai-tokens", value: 100, idempotencyKey: "same-key" }));
    ok(await ctx.worker.admin("POST", "/v1/usage", { customerId: A, featureId: "feature-images", value: 2, idempotencyKey: "a-global" }));
    assert.deepEqual(await balances(A), { "ws-a": 900, "ws-b": 1000, "(global)": 950 });
    assert.deepEqual(await stateOf(ctx.worker, B, RESOURCES), bBefore);

    const aBefore = await stateOf(ctx.worker, A, RESOURCES);
    // The same idempotency key in another customer is another usage.
    const b = ok(await ctx.worker.admin("POST", "/v1/usage", { customerId: B, resourceId: "ws-a", featureId: "feature-ai-tokens", value: 7, idempotencyKey: "same-key" }));
    assert.equal(b.credit.consumed, 7);
    ok(await ctx.worker.admin("POST", "/v1/credits/consume", { customerId: B, resourceId: "ws-b", currencyId: CURRENCY, amount: 3, idempotencyKey: "b-consume" }));
    assert.deepEqual(await balances(B), { "ws-a": 993, "ws-b": 997, "(global)": 1000 });
    assert.deepEqual(await stateOf(ctx.worker, A, RESOURCES), aBefore);
  });

  it("interleaved concurrent usage of both customers lands in the right objects", async () => {
    const requests = [];
    for (let i = 0; i < 25; i++) {
      requests.push(ctx.worker.admin("POST", "/v1/usage", { customerId: A, resourceId: "ws-b", featureId: "feature-ai-tokens", value: 2, idempotencyKey: `il-${i}` }));
      requests.push(ctx.worker.admin("POST", "/v1/usage", { customerId: B, resourceId: "ws-b", featureId: "feature-ai-tokens", value: 3, idempotencyKey: `il-${i}` }));
    }
    for (const response of await Promise.all(requests)) ok(response);
    assert.deepEqual(await balances(A), { "ws-a": 900, "ws-b": 950, "(global)": 950 });
    assert.deepEqual(await balances(B), { "ws-a": 993, "ws-b": 922, "(global)": 1000 });
    const aLedger = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: A, resourceId: "ws-b", currencyId: CURRENCY, eventType: "CREDITS_CONSUMED", limit: 1000 }));
    assert.equal(aLedger.events.length, 25);
    for (const event of aLedger.events) assert.deepEqual([event.customerId, event.amount], [A, 2]);
    const bLedger = ok(await ctx.worker.admin("GET", "/v1/credits/ledger", { customerId: B, resourceId: "ws-b", currencyId: CURRENCY, eventType: "CREDITS_CONSUMED", limit: 1000 }));
    assert.equal(bLedger.events.length, 26);
    for (const event of bLedger.events) assert.equal(event.customerId, B);
  });

  it("a grant of customer A cannot be voided through customer B's object", async () => {
    const grant = ok(await ctx.worker.admin("POST", "/v1/credits/grants", { customerId: A, resourceId: "ws-a", currencyId: CURRENCY, amount: 40 }));
    const aBefore = await stateOf(ctx.worker, A, RESOURCES);
    const bBefore = await stateOf(ctx.worker, B, RESOURCES);
    expectStatus(await ctx.worker.admin("POST", "/v1/credits/grants/void", { customerId: B, id: grant.id }), 404, "NOT_FOUND");
    assert.deepEqual(await stateOf(ctx.worker, A, RESOURCES), aBefore);
    assert.deepEqual(await stateOf(ctx.worker, B, RESOURCES), bBefore);
  });

  it("each customer's snapshot and ledgers hold only its own pools and events", async () => {
    for (const customerId of [A, B]) {
      const snapshot = ok(await ctx.worker.admin("GET", "/v1/pools/snapshot", { customerId }));
      assert.equal(snapshot.customerId, customerId);
      assert.equal(snapshot.pools.length, 3);
      for (const pool of snapshot.pools) {
        assert.equal(pool.balance.customerId, customerId);
        for (const event of pool.events) assert.equal(event.customerId, customerId);
      }
      for (const value of Object.values(snapshot.entries)) assert.equal(JSON.parse(value).c, customerId); // c: the head's customer
    }
    const nobody = ok(await ctx.worker.admin("GET", "/v1/pools/snapshot", { customerId: "cust-iso-nobody" }));
    assert.deepEqual([nobody.pools, nobody.entries], [[], {}]);
  });
});

// ---------------------------------------------------------------------------
describe("worker KV read cache", () => {
  const ctx = startDescribeWorker();
  const C = "cust-cache";

  it("after a write, consistency=cached answers from KV with the post-write balance and publishedAt", async () => {
    await provision(ctx.worker, C, ["ws-a"]);
    const afterProvision = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a", { consistency: "cached" }));
    assert.equal(afterProvision.headers.get("x-credit-pools-staleness"), "cached");
    assert.equal(ok(afterProvision).currentBalance, 1000);

    const before = Date.now();
    ok(await ctx.worker.admin("POST", "/v1/usage", { customerId: C, resourceId: "ws-a", featureId: "feature-images", value: 3, idempotencyKey: "cache-1" }));
    const afterWrite = Date.now();
    const cached = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a", { consistency: "cached" }));
    assert.equal(cached.headers.get("x-credit-pools-staleness"), "cached");
    assert.match(cached.headers.get("content-type"), /^application\/json/);
    const { publishedAt, ...balance } = ok(cached);
    assert.deepEqual(balance, expectedBalance(C, "ws-a", { granted: 1000, consumed: 75 }));
    assert.ok(isoDate(publishedAt), String(publishedAt));
    assert.ok(Date.parse(publishedAt) >= before - 1000 && Date.parse(publishedAt) <= afterWrite + 1000, publishedAt);

    // Without consistency=cached the object answers, with the same figures.
    const fresh = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a"));
    assert.equal(fresh.headers.get("x-credit-pools-staleness"), "fresh");
    assert.deepEqual(ok(fresh), balance);
    // consistency=fresh (or anything but "cached") also goes to the object.
    const explicit = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a", { consistency: "fresh" }));
    assert.equal(explicit.headers.get("x-credit-pools-staleness"), "fresh");
  });

  it("consume, grant and void all publish the touched pool", async () => {
    const cachedBalance = async () => {
      const response = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-a", { consistency: "cached" }));
      assert.equal(response.headers.get("x-credit-pools-staleness"), "cached");
      return ok(response).currentBalance;
    };
    ok(await ctx.worker.admin("POST", "/v1/credits/consume", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 5, idempotencyKey: "cache-c" }));
    assert.equal(await cachedBalance(), 920);
    const grant = ok(await ctx.worker.admin("POST", "/v1/credits/grants", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 80, priority: 9 }));
    assert.equal(await cachedBalance(), 1000);
    ok(await ctx.worker.admin("POST", "/v1/credits/grants/void", { customerId: C, id: grant.id }));
    assert.equal(await cachedBalance(), 920);
  });

  it("a pool never written falls back to the object (fresh)", async () => {
    const unwrittenPool = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, "ws-never", { consistency: "cached" }));
    assert.equal(unwrittenPool.headers.get("x-credit-pools-staleness"), "fresh");
    assert.deepEqual(ok(unwrittenPool), expectedBalance(C, "ws-never", { granted: 0 }));
    const unwrittenGlobal = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(C, null, { consistency: "cached" }));
    assert.equal(unwrittenGlobal.headers.get("x-credit-pools-staleness"), "fresh");
    assert.deepEqual(ok(unwrittenGlobal), expectedBalance(C, null, { granted: 0 }));
    const unknownCustomer = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery("cust-cache-nobody", "ws-a", { consistency: "cached" }));
    assert.equal(unknownCustomer.headers.get("x-credit-pools-staleness"), "fresh");
    assert.deepEqual(ok(unknownCustomer), expectedBalance("cust-cache-nobody", "ws-a", { granted: 0 }));
  });

  it("cache keys survive ids with spaces, slashes, percent signs and non-ASCII", async () => {
    const customerId = "acme corp/ü%2F";
    const resourceId = "ws a/1%";
    await provision(ctx.worker, customerId, [resourceId]);
    ok(await ctx.worker.admin("POST", "/v1/usage", { customerId, resourceId, featureId: "feature-ai-tokens", value: 3, idempotencyKey: "odd" }));
    const cached = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(customerId, resourceId, { consistency: "cached" }));
    assert.equal(cached.headers.get("x-credit-pools-staleness"), "cached");
    const { publishedAt, ...balance } = ok(cached);
    assert.deepEqual(balance, expectedBalance(customerId, resourceId, { granted: 1000, consumed: 3 }));
    // A neighbouring id that differs only by the encoding is another (unwritten) pool.
    const neighbour = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(customerId, "ws a%2F1%", { consistency: "cached" }));
    assert.equal(neighbour.headers.get("x-credit-pools-staleness"), "fresh");
  });

  it(
    "a resource named \"-\" and the global pool have separate cache entries",
    async () => {
      const customerId = "cust-cache-dash";
      await provision(ctx.worker, customerId, ["-", null]);
      ok(await ctx.worker.admin("POST", "/v1/usage", { customerId, featureId: "feature-ai-tokens", value: 7, idempotencyKey: "global-7" }));
      // Written last: the global pool (993). Resource "-" is still at 1000.
      const cachedDash = await ctx.worker.admin("GET", "/v1/credits/balance", balanceQuery(customerId, "-", { consistency: "cached" }));
      const body = ok(cachedDash);
      if (cachedDash.headers.get("x-credit-pools-staleness") === "cached") {
        const { publishedAt, ...balance } = body;
        assert.deepEqual(balance, expectedBalance(customerId, "-", { granted: 1000 }));
      } else {
        assert.deepEqual(body, expectedBalance(customerId, "-", { granted: 1000 }));
      }
      // And a token scoped to resource "-" must not read the global pool's balance.
      const token = await ctx.worker.customerToken({ customerId, resourceId: "-" });
      const scoped = ok(await ctx.worker.call(token, "GET", "/v1/credits/balance", balanceQuery(customerId, "-", { consistency: "cached" })));
      assert.equal(scoped.resourceId, "-");
      assert.equal(scoped.currentBalance, 1000);
    },
  );
});

// ---------------------------------------------------------------------------
describe("worker access control", () => {
  const ctx = startDescribeWorker();
  const C = "cust-acl";
  const OTHER = "cust-acl-other";
  const RESOURCES = ["ws-a", "ws-b", null];
  const usageOn = (resourceId, key, customerId = C) => ({ customerId, resourceId, featureId: "feature-ai-tokens", value: 10, idempotencyKey: key });

  before(async () => {
    await provision(ctx.worker, C, RESOURCES);
    await provision(ctx.worker, OTHER, RESOURCES);
    // Give every pool a cached entry and some history.
    for (const resourceId of RESOURCES) ok(await ctx.worker.admin("POST", "/v1/usage", usageOn(resourceId, `seed-${poolLabel(resourceId)}`)));
  });

  /** Runs `refused` (each must be refused with status/code) and checks both customers' state did not move. */
  async function expectRefusedWithoutEffect(cases) {
    const before = { [C]: await stateOf(ctx.worker, C, RESOURCES), [OTHER]: await stateOf(ctx.worker, OTHER, RESOURCES) };
    for (const { label, request, status, code } of cases) {
      const response = await request();
      assert.ok(response.status < 500, `${label}: ${response.status}`);
      assert.equal(response.status, status, `${label}: ${response.status} ${JSON.stringify(response.body)}`);
      assert.equal(response.body?.error?.code, code, `${label}: ${JSON.stringify(response.body)}`);
    }
    assert.deepEqual({ [C]: await stateOf(ctx.worker, C, RESOURCES), [OTHER]: await stateOf(ctx.worker, OTHER, RESOURCES) }, before);
  }

  it("a missing token is refused with 401", async () => {
    await expectRefusedWithoutEffect([
      { label: "usage, no header", request: () => ctx.worker.call(null, "POST", "/v1/usage", usageOn("ws-a", "no-token")), status: 401, code: "UNAUTHORIZED" },
      { label: "consume, no header", request: () => ctx.worker.call(null, "POST", "/v1/credits/consume", { customerId: C, currencyId: CURRENCY, amount: 1, idempotencyKey: "nt" }), status: 401, code: "UNAUTHORIZED" },
      { label: "grant, no header", request: () => ctx.worker.call(null, "POST", "/v1/credits/grants", { customerId: C, currencyId: CURRENCY, amount: 1 }), status: 401, code: "UNAUTHORIZED" },
      { label: "balance, no header", request: () => ctx.worker.call(null, "GET", "/v1/credits/balance", balanceQuery(C, "ws-a")), status: 401, code: "UNAUTHORIZED" },
      { label: "cached balance, no header", request: () => ctx.worker.call(null, "GET", "/v1/credits/balance", balanceQuery(C, "ws-a", { consistency: "cached" })), status: 401, code: "UNAUTHORIZED" },
      { label: "snapshot, no header", request: () => ctx.worker.call(null, "GET", "/v1/pools/snapshot", { customerId: C }), status: 401, code: "UNAUTHORIZED" },
      { label: "empty bearer", request: () => ctx.worker.call("", "POST", "/v1/usage", usageOn("ws-a", "empty")), status: 401, code: "UNAUTHORIZED" },
      {
        label: "not a bearer scheme",
        request: async () => {
          const response = await fetch(`${ctx.worker.url}/v1/usage`, {
            method: "POST",
            headers: { authorization: `Basic ${ctx.worker.adminToken}`, "content-type": "application/json" },
            body: JSON.stringify(usageOn("ws-a", "basic")),
          });
          return { status: response.status, body: await response.json() };
        },
        status: 401,
        code: "UNAUTHORIZED",
      },
    ]);
  });

  it("a forged or malformed token is refused with 401", async () => {
    const wrongSecret = await signCustomerToken(`${ctx.worker.tokenSecret}x`, { customerId: C, expiresAt: Date.now() + HOUR });
    const genuineOther = await ctx.worker.customerToken({ customerId: OTHER });
    const genuineC = await ctx.worker.customerToken({ customerId: C });
    // Claims of customer C under the signature of a token for OTHER.
    const [, cPayload] = genuineC.split(".");
    const [, , otherSignature] = genuineOther.split(".");
    const swapped = `cp1.${cPayload}.${otherSignature}`;
    // A signature with one character changed.
    const flip = (s) => s.slice(0, -2) + (s.at(-2) === "A" ? "B" : "A") + s.at(-1);
    const tampered = `cp1.${cPayload}.${flip(genuineC.split(".")[2])}`;
    const scopedToken = await ctx.worker.customerToken({ customerId: C, resourceId: "ws-a" });
    const [, scopedPayload, scopedSignature] = scopedToken.split(".");
    const widened = `cp1.${Buffer.from(JSON.stringify({ c: C, exp: JSON.parse(Buffer.from(scopedPayload, "base64url")).exp })).toString("base64url")}.${scopedSignature}`;
    const admin = ctx.worker.adminToken;
    const forged = {
      "wrong secret": wrongSecret,
      "payload swapped under another signature": swapped,
      "one signature character changed": tampered,
      "resource claim removed": widened,
      "cp2 prefix": genuineC.replace(/^cp1/, "cp2"),
      "no signature": `cp1.${cPayload}`,
      "empty signature": `cp1.${cPayload}.`,
      "four parts": `${genuineC}.x`,
      "garbage": "not-a-token",
      "base64 garbage": "cp1.!!!.???",
      "admin token with a character changed": admin.slice(0, -1) + (admin.at(-1) === "0" ? "1" : "0"),
      "admin token prefix": admin.slice(0, -1),
      "admin token with a suffix": `${admin}0`,
    };
    await expectRefusedWithoutEffect(
      Object.entries(forged).flatMap(([label, token]) => [
        { label: `${label}: usage`, request: () => ctx.worker.call(token, "POST", "/v1/usage", usageOn("ws-a", `forged-${label}`)), status: 401, code: "UNAUTHORIZED" },
        { label: `${label}: balance`, request: () => ctx.worker.call(token, "GET", "/v1/credits/balance", balanceQuery(C, null)), status: 401, code: "UNAUTHORIZED" },
      ]),
    );
    // The same token in ?token= is checked the same way.
    await expectRefusedWithoutEffect([
      { label: "forged ?token=", request: () => ctx.worker.call(null, "GET", `/v1/credits/balance?token=${encodeURIComponent(wrongSecret)}`, balanceQuery(C, "ws-a")), status: 401, code: "UNAUTHORIZED" },
    ]);
  });

  it("an expired token is refused with 401", async () => {
    const expired = await ctx.worker.customerToken({ customerId: C, expiresAt: Date.now() - 1000 });
    const expiredScoped = await ctx.worker.customerToken({ customerId: C, resourceId: "ws-a", expiresAt: Date.now() - 60_000 });
    await expectRefusedWithoutEffect([
      { label: "expired: usage", request: () => ctx.worker.call(expired, "POST", "/v1/usage", usageOn("ws-a", "expired")), status: 401, code: "UNAUTHORIZED" },
      { label: "expired: balance", request: () => ctx.worker.call(expired, "GET", "/v1/credits/balance", balanceQuery(C, "ws-a")), status: 401, code: "UNAUTHORIZED" },
      { label: "expired scoped: usage", request: () => ctx.worker.call(expiredScoped, "POST", "/v1/usage", usageOn("ws-a", "expired-s")), status: 401, code: "UNAUTHORIZED" },
      { label: "expired scoped: snapshot", request: () => ctx.worker.call(expiredScoped, "GET", "/v1/pools/snapshot", { customerId: C, resourceId: "ws-a" }), status: 401, code: "UNAUTHORIZED" },
    ]);
  });

  it("a valid token for another customer is refused with 403", async () => {
    const other = await ctx.worker.customerToken({ customerId: OTHER });
    const otherScoped = await ctx.worker.customerToken({ customerId: OTHER, resourceId: "ws-a" });
    await expectRefusedWithoutEffect([
      { label: "usage", request: () => ctx.worker.call(other, "POST", "/v1/usage", usageOn("ws-a", "other")), status: 403, code: "FORBIDDEN" },
      { label: "scoped usage, same resource id", request: () => ctx.worker.call(otherScoped, "POST", "/v1/usage", usageOn("ws-a", "other-s")), status: 403, code: "FORBIDDEN" },
      { label: "consume", request: () => ctx.worker.call(other, "POST", "/v1/credits/consume", { customerId: C, currencyId: CURRENCY, amount: 1, idempotencyKey: "o" }), status: 403, code: "FORBIDDEN" },
      { label: "estimate", request: () => ctx.worker.call(other, "POST", "/v1/credits/estimate", { customerId: C, featureId: "feature-ai-tokens", value: 1 }), status: 403, code: "FORBIDDEN" },
      { label: "balance", request: () => ctx.worker.call(other, "GET", "/v1/credits/balance", balanceQuery(C, "ws-a")), status: 403, code: "FORBIDDEN" },
      { label: "cached balance", request: () => ctx.worker.call(other, "GET", "/v1/credits/balance", balanceQuery(C, "ws-a", { consistency: "cached" })), status: 403, code: "FORBIDDEN" },
      { label: "ledger", request: () => ctx.worker.call(other, "GET", "/v1/credits/ledger", { customerId: C, currencyId: CURRENCY }), status: 403, code: "FORBIDDEN" },
      { label: "grants", request: () => ctx.worker.call(other, "GET", "/v1/credits/grants", { customerId: C, currencyId: CURRENCY }), status: 403, code: "FORBIDDEN" },
      { label: "usage report", request: () => ctx.worker.call(other, "GET", "/v1/credits/usage", { customerId: C, startDate: "2020-01-01", endDate: "2030-01-01" }), status: 403, code: "FORBIDDEN" },
      { label: "snapshot", request: () => ctx.worker.call(other, "GET", "/v1/pools/snapshot", { customerId: C }), status: 403, code: "FORBIDDEN" },
    ]);
  });

  it("a token scoped to ws-a is refused with 403 on ws-b and on the global pool", async () => {
    const scoped = await ctx.worker.customerToken({ customerId: C, resourceId: "ws-a" });
    const cases = [];
    for (const resourceId of ["ws-b", null]) {
      const where = poolLabel(resourceId);
      cases.push(
        { label: `usage on ${where}`, request: () => ctx.worker.call(scoped, "POST", "/v1/usage", usageOn(resourceId, `scoped-${where}`)), status: 403, code: "FORBIDDEN" },
        { label: `consume on ${where}`, request: () => ctx.worker.call(scoped, "POST", "/v1/credits/consume", { customerId: C, resourceId, currencyId: CURRENCY, amount: 1, idempotencyKey: `sc-${where}` }), status: 403, code: "FORBIDDEN" },
        { label: `estimate on ${where}`, request: () => ctx.worker.call(scoped, "POST", "/v1/credits/estimate", { customerId: C, resourceId, featureId: "feature-ai-tokens", value: 1 }), status: 403, code: "FORBIDDEN" },
        { label: `balance on ${where}`, request: () => ctx.worker.call(scoped, "GET", "/v1/credits/balance", balanceQuery(C, resourceId)), status: 403, code: "FORBIDDEN" },
        { label: `cached balance on ${where}`, request: () => ctx.worker.call(scoped, "GET", "/v1/credits/balance", balanceQuery(C, resourceId, { consistency: "cached" })), status: 403, code: "FORBIDDEN" },
        { label: `ledger on ${where}`, request: () => ctx.worker.call(scoped, "GET", "/v1/credits/ledger", { customerId: C, resourceId, currencyId: CURRENCY }), status: 403, code: "FORBIDDEN" },
        { label: `grants on ${where}`, request: () => ctx.worker.call(scoped, "GET", "/v1/credits/grants", { customerId: C, resourceId, currencyId: CURRENCY }), status: 403, code: "FORBIDDEN" },
        { label: `usage report on ${where}`, request: () => ctx.worker.call(scoped, "GET", "/v1/credits/usage", { customerId: C, resourceId, startDate: "2020-01-01", endDate: "2030-01-01" }), status: 403, code: "FORBIDDEN" },
      );
    }
    cases.push({ label: "snapshot for ws-b", request: () => ctx.worker.call(scoped, "GET", "/v1/pools/snapshot", { customerId: C, resourceId: "ws-b" }), status: 403, code: "FORBIDDEN" });
    await expectRefusedWithoutEffect(cases);
  });

  it("a customer token on an admin route is refused with 403", async () => {
    const unscoped = await ctx.worker.customerToken({ customerId: C });
    const scoped = await ctx.worker.customerToken({ customerId: C, resourceId: "ws-a" });
    const { grants } = ok(await ctx.worker.admin("GET", "/v1/credits/grants", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY }));
    const cases = [];
    for (const [who, token] of [["customer", unscoped], ["ws-a", scoped]]) {
      cases.push(
        { label: `${who}: grant`, request: () => ctx.worker.call(token, "POST", "/v1/credits/grants", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 1000 }), status: 403, code: "FORBIDDEN" },
        { label: `${who}: subscription`, request: () => ctx.worker.call(token, "POST", "/v1/subscriptions", { customerId: C, resourceId: "ws-a", planId: "plan-pro" }), status: 403, code: "FORBIDDEN" },
        { label: `${who}: void`, request: () => ctx.worker.call(token, "POST", "/v1/credits/grants/void", { customerId: C, id: grants[0].id }), status: 403, code: "FORBIDDEN" },
        {
          label: `${who}: save recharge configuration`,
          request: () => ctx.worker.call(token, "POST", "/v1/credits/recharge-configuration", { customerId: C, currencyId: CURRENCY, isEnabled: true, thresholdValue: 1, targetBalance: 2 }),
          status: 403,
          code: "FORBIDDEN",
        },
        { label: `${who}: read recharge configuration`, request: () => ctx.worker.call(token, "GET", "/v1/credits/recharge-configuration", { customerId: C, currencyId: CURRENCY }), status: 403, code: "FORBIDDEN" },
      );
    }
    await expectRefusedWithoutEffect(cases);
    const configuration = ok(await ctx.worker.admin("GET", "/v1/credits/recharge-configuration", { customerId: C, currencyId: CURRENCY }));
    assert.deepEqual([configuration.id, configuration.isEnabled], [null, false]);
  });

  it("a token scoped to ws-a works on ws-a: usage, consume, estimate and reads", async () => {
    const scoped = await ctx.worker.customerToken({ customerId: C, resourceId: "ws-a" });
    const others = { "ws-b": await stateOf(ctx.worker, C, ["ws-b", null]), [OTHER]: await stateOf(ctx.worker, OTHER, RESOURCES) };
    const usage = ok(await ctx.worker.call(scoped, "POST", "/v1/usage", usageOn("ws-a", "scoped-ok")));
    assert.deepEqual([usage.resourceId, usage.credit.consumed, usage.credit.currentBalance], ["ws-a", 10, 980]);
    const consume = ok(await ctx.worker.call(scoped, "POST", "/v1/credits/consume", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 5, idempotencyKey: "scoped-c" }));
    assert.equal(consume.credit.currentBalance, 975);
    const estimate = ok(await ctx.worker.call(scoped, "POST", "/v1/credits/estimate", { customerId: C, resourceId: "ws-a", featureId: "feature-images", value: 1 }));
    assert.deepEqual(estimate.estimates.map((e) => [e.estimatedCost, e.balanceAfterEstimate]), [[25, 950]]);
    const balance = await ctx.worker.call(scoped, "GET", "/v1/credits/balance", balanceQuery(C, "ws-a"));
    assert.deepEqual(ok(balance), expectedBalance(C, "ws-a", { granted: 1000, consumed: 25 }));
    const cached = await ctx.worker.call(scoped, "GET", "/v1/credits/balance", balanceQuery(C, "ws-a", { consistency: "cached" }));
    assert.equal(cached.headers.get("x-credit-pools-staleness"), "cached");
    assert.equal(ok(cached).currentBalance, 975);
    const ledger = ok(await ctx.worker.call(scoped, "GET", "/v1/credits/ledger", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY }));
    assert.deepEqual(ledger.events.map((e) => [e.eventType, e.amount]), [["CREDITS_CONSUMED", 5], ["CREDITS_CONSUMED", 10], ["CREDITS_CONSUMED", 10], ["CREDITS_GRANTED", 1000]]);
    ok(await ctx.worker.call(scoped, "GET", "/v1/credits/grants", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY }));
    ok(await ctx.worker.call(scoped, "GET", "/v1/credits/usage", { customerId: C, resourceId: "ws-a", startDate: "2020-01-01", endDate: "2100-01-01" }));
    // The token as ?token= (how the preview page passes it) works too.
    const viaQuery = await ctx.worker.call(null, "GET", `/v1/credits/balance?token=${encodeURIComponent(scoped)}`, balanceQuery(C, "ws-a"));
    assert.equal(ok(viaQuery).currentBalance, 975);
    assert.deepEqual({ "ws-b": await stateOf(ctx.worker, C, ["ws-b", null]), [OTHER]: await stateOf(ctx.worker, OTHER, RESOURCES) }, others);
  });

  it("a token scoped to ws-a gets a snapshot of ws-a's pool only (resourceId=ws-a in the query)", async () => {
    const scoped = await ctx.worker.customerToken({ customerId: C, resourceId: "ws-a" });
    const snapshot = ok(await ctx.worker.call(scoped, "GET", "/v1/pools/snapshot", { customerId: C, resourceId: "ws-a" }));
    assert.equal(snapshot.customerId, C);
    assert.deepEqual(snapshot.pools.map((p) => [p.resourceId, p.currencyId, p.planId, p.balance.currentBalance]), [["ws-a", CURRENCY, "plan-basic", 975]]);
    const keys = Object.keys(snapshot.entries);
    assert.equal(keys.length, 1);
    assert.ok(keys[0].endsWith("/h"));
    assert.equal(JSON.parse(snapshot.entries[keys[0]]).r, "ws-a"); // r: the head's resource
    assert.deepEqual(snapshot.catalog, CATALOG);
  });

  it(
    "a token scoped to ws-a gets a snapshot of ws-a's pool only (customerId alone, as the preview page asks)",
    async () => {
      const scoped = await ctx.worker.customerToken({ customerId: C, resourceId: "ws-a" });
      const snapshot = ok(await ctx.worker.call(scoped, "GET", "/v1/pools/snapshot", { customerId: C }));
      assert.deepEqual(snapshot.pools.map((p) => p.resourceId), ["ws-a"]);
      assert.equal(Object.keys(snapshot.entries).length, 1);
    },
  );

  it("an unscoped customer token reaches every pool of its customer, and only those", async () => {
    const token = await ctx.worker.customerToken({ customerId: C });
    const snapshot = ok(await ctx.worker.call(token, "GET", "/v1/pools/snapshot", { customerId: C }));
    assert.deepEqual(snapshot.pools.map((p) => p.resourceId).sort((a, b) => poolLabel(a).localeCompare(poolLabel(b))), [null, "ws-a", "ws-b"]);
    for (const pool of snapshot.pools) assert.equal(pool.balance.customerId, C);
    const usage = ok(await ctx.worker.call(token, "POST", "/v1/usage", usageOn(null, "unscoped-global")));
    assert.deepEqual([usage.resourceId, usage.credit.currentBalance], [null, 980]);
    const wsB = ok(await ctx.worker.call(token, "GET", "/v1/credits/balance", balanceQuery(C, "ws-b")));
    assert.equal(wsB.currentBalance, 990);
  });
});

// ---------------------------------------------------------------------------
describe("worker bad requests: 4xx with a code, never a 500, nothing changed", () => {
  const ctx = startDescribeWorker();
  const C = "cust-bad";
  const RESOURCES = ["ws-a", null];

  before(async () => {
    await provision(ctx.worker, C, RESOURCES);
    ok(await ctx.worker.admin("POST", "/v1/usage", { customerId: C, resourceId: "ws-a", featureId: "feature-ai-tokens", value: 100, idempotencyKey: "seed" }));
  });

  async function expectRejectedWithoutEffect(cases) {
    const before = await stateOf(ctx.worker, C, RESOURCES);
    for (const { label, request, status, code } of cases) {
      const response = await request();
      assert.ok(response.status < 500, `${label}: a ${response.status} ${JSON.stringify(response.body)}`);
      assert.equal(response.status, status, `${label}: ${response.status} ${JSON.stringify(response.body)}`);
      assert.equal(response.body?.error?.code, code, `${label}: ${JSON.stringify(response.body)}`);
      assert.equal(typeof response.body.error.message, "string", label);
    }
    assert.deepEqual(await stateOf(ctx.worker, C, RESOURCES), before);
  }

  const post = (pathname, body) => () => ctx.worker.admin("POST", pathname, body);
  const get = (pathname, query) => () => ctx.worker.admin("GET", pathname, query);
  const usage = (extra) => ({ customerId: C, resourceId: "ws-a", featureId: "feature-ai-tokens", value: 1, idempotencyKey: `bad-${Math.random()}`, ...extra });

  it("malformed JSON and non-object bodies are 400 BAD_REQUEST", async () => {
    const bodies = {
      "truncated JSON": '{"customerId":"cust-bad","featureId":',
      "not JSON": "customerId=cust-bad",
      "empty body": "",
      "JSON array": JSON.stringify([usage()]),
      "empty array": "[]",
      "JSON null": "null",
      "JSON string": JSON.stringify("cust-bad"),
      "JSON number": "42",
      "JSON true": "true",
      "trailing garbage": `${JSON.stringify(usage())}x`,
      "invalid UTF-8": Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
    };
    const cases = [];
    for (const [label, body] of Object.entries(bodies)) {
      for (const pathname of ["/v1/usage", "/v1/credits/consume", "/v1/credits/grants", "/v1/subscriptions"]) {
        cases.push({ label: `${label} → ${pathname}`, request: post(pathname, typeof body === "string" ? body : new Uint8Array(body)), status: 400, code: "BAD_REQUEST" });
      }
    }
    await expectRejectedWithoutEffect(cases);
  });

  it("a body over 64 KiB is 413 PAYLOAD_TOO_LARGE; exactly 64 KiB is read", async () => {
    const padded = (bytes, extra = {}) => {
      const base = JSON.stringify({ ...usage(extra), pad: "" });
      return base.replace('"pad":""', `"pad":"${"x".repeat(bytes - base.length)}"`);
    };
    assert.equal(Buffer.byteLength(padded(65537)), 65537);
    const streamed = async (text) => {
      // Chunked transfer encoding: no content-length to trust.
      const bytes = new TextEncoder().encode(text);
      const stream = new ReadableStream({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.subarray(i, i + 8192));
          controller.close();
        },
      });
      const response = await fetch(`${ctx.worker.url}/v1/usage`, {
        method: "POST",
        headers: { authorization: `Bearer ${ctx.worker.adminToken}`, "content-type": "application/json" },
        body: stream,
        duplex: "half",
      });
      return { status: response.status, body: await response.json() };
    };
    await expectRejectedWithoutEffect([
      { label: "65537 bytes", request: post("/v1/usage", padded(65537)), status: 413, code: "PAYLOAD_TOO_LARGE" },
      { label: "1 MiB", request: post("/v1/usage", padded(1 << 20)), status: 413, code: "PAYLOAD_TOO_LARGE" },
      { label: "65537 bytes, chunked", request: () => streamed(padded(65537)), status: 413, code: "PAYLOAD_TOO_LARGE" },
      { label: "1 MiB of non-JSON", request: post("/v1/usage", "x".repeat(1 << 20)), status: 413, code: "PAYLOAD_TOO_LARGE" },
    ]);
    // Exactly 64 KiB is accepted (an estimate, which writes nothing).
    const estimate = { customerId: C, resourceId: "ws-a", featureId: "feature-images", value: 2, pad: "" };
    const base = JSON.stringify(estimate);
    const exact = base.replace('"pad":""', `"pad":"${"x".repeat(65536 - base.length)}"`);
    assert.equal(Buffer.byteLength(exact), 65536);
    const accepted = ok(await ctx.worker.admin("POST", "/v1/credits/estimate", exact));
    assert.deepEqual(accepted.estimates.map((e) => [e.estimatedCost, e.currentBalance]), [[50, 900]]);
  });

  it("an unknown route is 404 NOT_FOUND, before authentication", async () => {
    const cases = [];
    for (const [method, pathname] of [
      ["GET", "/v1/nope"],
      ["POST", "/v1/nope"],
      ["GET", "/v1/usage"],
      ["POST", "/v1/credits/balance"],
      ["POST", "/v1/usage/"],
      ["PUT", "/v1/usage"],
      ["DELETE", "/v1/credits/grants"],
      ["GET", "/V1/CREDITS/BALANCE"],
      ["GET", "/favicon.ico"],
    ]) {
      cases.push({ label: `${method} ${pathname} (admin)`, request: () => ctx.worker.admin(method, pathname, method === "GET" || method === "DELETE" ? { customerId: C } : usage()), status: 404, code: "NOT_FOUND" });
      cases.push({ label: `${method} ${pathname} (no token)`, request: () => ctx.worker.call(null, method, pathname, method === "GET" || method === "DELETE" ? { customerId: C } : usage()), status: 404, code: "NOT_FOUND" });
    }
    await expectRejectedWithoutEffect(cases);
  });

  it("a missing or empty customerId is 400", async () => {
    const withoutCustomer = (body) => {
      const { customerId, ...rest } = body;
      return rest;
    };
    await expectRejectedWithoutEffect([
      { label: "usage without customerId", request: post("/v1/usage", withoutCustomer(usage())), status: 400, code: "INVALID_ARGUMENT" },
      { label: "usage with an empty customerId", request: post("/v1/usage", usage({ customerId: "" })), status: 400, code: "INVALID_ARGUMENT" },
      { label: "usage with a numeric customerId", request: post("/v1/usage", usage({ customerId: 42 })), status: 400, code: "INVALID_ARGUMENT" },
      { label: "usage with a null customerId", request: post("/v1/usage", usage({ customerId: null })), status: 400, code: "INVALID_ARGUMENT" },
      { label: "grant without customerId", request: post("/v1/credits/grants", { currencyId: CURRENCY, amount: 5 }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "void without customerId", request: post("/v1/credits/grants/void", { id: "x" }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "balance without customerId", request: get("/v1/credits/balance", { resourceId: "ws-a", currencyId: CURRENCY }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "cached balance without customerId", request: get("/v1/credits/balance", { resourceId: "ws-a", currencyId: CURRENCY, consistency: "cached" }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "snapshot without customerId", request: get("/v1/pools/snapshot", {}), status: 400, code: "INVALID_ARGUMENT" },
      { label: "snapshot with an empty customerId", request: get("/v1/pools/snapshot", { customerId: "" }), status: 400, code: "INVALID_ARGUMENT" },
    ]);
  });

  it("library validation errors are 400 INVALID_ARGUMENT", async () => {
    await expectRejectedWithoutEffect([
      { label: "usage value -1", request: post("/v1/usage", usage({ value: -1 })), status: 400, code: "INVALID_ARGUMENT" },
      { label: "usage value 0", request: post("/v1/usage", usage({ value: 0 })), status: 400, code: "INVALID_ARGUMENT" },
      { label: "usage value not a number", request: post("/v1/usage", usage({ value: "abc" })), status: 400, code: "INVALID_ARGUMENT" },
      { label: "usage value an object", request: post("/v1/usage", usage({ value: { n: 1 } })), status: 400, code: "INVALID_ARGUMENT" },
      { label: "usage without featureId", request: post("/v1/usage", usage({ featureId: undefined })), status: 400, code: "INVALID_ARGUMENT" },
      { label: "usage with a bad formula dimension", request: post("/v1/usage", usage({ featureId: "feature-chat", dimensions: { input_tokens: "many" } })), status: 400, code: "INVALID_ARGUMENT" },
      { label: "consume -1", request: post("/v1/credits/consume", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: -1, idempotencyKey: "neg" }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "grant without amount", request: post("/v1/credits/grants", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "grant of 1e300", request: post("/v1/credits/grants", { customerId: C, resourceId: "ws-a", currencyId: CURRENCY, amount: 1e300 }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "customerId over 128 bytes", request: post("/v1/usage", usage({ customerId: "c".repeat(129) })), status: 400, code: "INVALID_ARGUMENT" },
      { label: "void without id", request: post("/v1/credits/grants/void", { customerId: C }), status: 400, code: "INVALID_ARGUMENT" },
      {
        label: "recharge threshold above target",
        request: post("/v1/credits/recharge-configuration", { customerId: C, currencyId: CURRENCY, isEnabled: true, thresholdValue: 50, targetBalance: 20 }),
        status: 400,
        code: "INVALID_ARGUMENT",
      },
      { label: "estimate value -1", request: post("/v1/credits/estimate", { customerId: C, resourceId: "ws-a", featureId: "feature-ai-tokens", value: -1 }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "balance without currencyId", request: get("/v1/credits/balance", { customerId: C, resourceId: "ws-a" }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "ledger limit 0", request: get("/v1/credits/ledger", { customerId: C, currencyId: CURRENCY, limit: 0 }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "ledger limit 1001", request: get("/v1/credits/ledger", { customerId: C, currencyId: CURRENCY, limit: 1001 }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "ledger bad cursor", request: get("/v1/credits/ledger", { customerId: C, currencyId: CURRENCY, cursor: "garbage" }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "ledger bad order", request: get("/v1/credits/ledger", { customerId: C, currencyId: CURRENCY, order: "SIDEWAYS" }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "ledger bad eventType", request: get("/v1/credits/ledger", { customerId: C, currencyId: CURRENCY, eventType: "CREDITS_CONSUMED,NOPE" }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "usage report without dates", request: get("/v1/credits/usage", { customerId: C }), status: 400, code: "INVALID_ARGUMENT" },
      { label: "usage report with bad dates", request: get("/v1/credits/usage", { customerId: C, startDate: "yesterday", endDate: "today" }), status: 400, code: "INVALID_ARGUMENT" },
    ]);
  });

  it(
    "a non-numeric ledger limit is 400 INVALID_ARGUMENT",
    async () => {
      await expectRejectedWithoutEffect([{ label: "ledger limit abc", request: get("/v1/credits/ledger", { customerId: C, currencyId: CURRENCY, limit: "abc" }), status: 400, code: "INVALID_ARGUMENT" }]);
    },
  );

  it("unknown entities are 404 NOT_FOUND", async () => {
    await expectRejectedWithoutEffect([
      { label: "unknown plan", request: post("/v1/subscriptions", { customerId: C, resourceId: "ws-a", planId: "plan-nope" }), status: 404, code: "NOT_FOUND" },
      { label: "unknown plan, new resource", request: post("/v1/subscriptions", { customerId: C, resourceId: "ws-new", planId: "plan-nope" }), status: 404, code: "NOT_FOUND" },
      { label: "unknown feature", request: post("/v1/usage", usage({ featureId: "feature-nope" })), status: 404, code: "NOT_FOUND" },
      { label: "resource without subscription", request: post("/v1/usage", usage({ resourceId: "ws-unprovisioned" })), status: 404, code: "NOT_FOUND" },
      { label: "unknown currency", request: post("/v1/credits/grants", { customerId: C, resourceId: "ws-a", currencyId: "gold", amount: 5 }), status: 404, code: "NOT_FOUND" },
      { label: "unknown grant", request: post("/v1/credits/grants/void", { customerId: C, id: "grant-nope" }), status: 404, code: "NOT_FOUND" },
      { label: "balance of an unknown currency", request: get("/v1/credits/balance", { customerId: C, currencyId: "gold" }), status: 404, code: "NOT_FOUND" },
    ]);
  });

  it("requireBalance beyond the balance is 402 INSUFFICIENT_CREDITS", async () => {
    await expectRejectedWithoutEffect([
      { label: "usage 901 > 900", request: post("/v1/usage", usage({ value: 901, requireBalance: true })), status: 402, code: "INSUFFICIENT_CREDITS" },
      { label: "images 37 × 25 > 900", request: post("/v1/usage", usage({ featureId: "feature-images", value: 37, requireBalance: true })), status: 402, code: "INSUFFICIENT_CREDITS" },
      {
        label: "consume 1000.5 > 1000 (global)",
        request: post("/v1/credits/consume", { customerId: C, currencyId: CURRENCY, amount: 1000.5, idempotencyKey: "too-much", requireBalance: true }),
        status: 402,
        code: "INSUFFICIENT_CREDITS",
      },
    ]);
    // Exactly the balance is allowed.
    const exact = ok(await ctx.worker.admin("POST", "/v1/usage", usage({ value: 900, requireBalance: true })));
    assert.equal(exact.credit.currentBalance, 0);
  });

  it("conflicts are 409: a reused idempotency key with another payload, a second void", async () => {
    const grant = ok(await ctx.worker.admin("POST", "/v1/credits/grants", { customerId: C, currencyId: CURRENCY, amount: 7 }));
    ok(await ctx.worker.admin("POST", "/v1/credits/grants/void", { customerId: C, id: grant.id }));
    await expectRejectedWithoutEffect([
      { label: "reused key", request: post("/v1/usage", usage({ idempotencyKey: "seed", value: 2 })), status: 409, code: "IDEMPOTENCY_CONFLICT" },
      { label: "void twice", request: post("/v1/credits/grants/void", { customerId: C, id: grant.id }), status: 409, code: "INVALID_STATE" },
    ]);
  });
});
