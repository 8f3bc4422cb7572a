// Every rejection carries its code (and `field` for INVALID_ARGUMENT) and
// changes nothing: the kv is compared byte for byte before and after.
//
// Run: cd /work/main && node --test js-tests/*.test.mjs js-tests/*.test.cjs

import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CreditLedger } from "credit-pools";

import {
  CATALOG,
  CURRENCY,
  FEATURE,
  MS_HOUR,
  MS_SECOND,
  T0,
  allEvents,
  allGrants,
  clock,
  iso,
  makeLedger,
  memoryKv,
  rejectsWith,
  snapshot,
  throwsWith,
} from "./helpers.mjs";

const omit = (object, key) => {
  const copy = { ...object };
  delete copy[key];
  return copy;
};

const CUST = "cust-err";
const SCOPE = { customerId: CUST, resourceId: "ws-1" };
const VALID = {
  provisionSubscription: { ...SCOPE, planId: "plan-basic" },
  grantCredits: { ...SCOPE, currencyId: CURRENCY, amount: 1, grantType: "PAID" },
  reportUsage: { ...SCOPE, featureId: FEATURE, value: 1 },
  consumeCredits: { ...SCOPE, currencyId: CURRENCY, amount: 1, idempotencyKey: "job" },
  getCreditBalance: { ...SCOPE, currencyId: CURRENCY },
  getCreditLedger: { ...SCOPE },
  getCreditGrants: { ...SCOPE },
};
const METHODS = Object.keys(VALID);
const LONG_ID = "x".repeat(129);
const LONG_UTF8_ID = "é".repeat(65); // 65 characters, 130 bytes

// [label, method, input, code, field]
const MISSING = [
  ["reportUsage without customerId", "reportUsage", omit(VALID.reportUsage, "customerId"), "customerId"],
  ["reportUsage without featureId", "reportUsage", omit(VALID.reportUsage, "featureId"), "featureId"],
  ["reportUsage without value", "reportUsage", omit(VALID.reportUsage, "value"), "value"],
  ["grantCredits without customerId", "grantCredits", omit(VALID.grantCredits, "customerId"), "customerId"],
  ["grantCredits without currencyId", "grantCredits", omit(VALID.grantCredits, "currencyId"), "currencyId"],
  ["grantCredits without amount", "grantCredits", omit(VALID.grantCredits, "amount"), "amount"],
  ["consumeCredits without currencyId", "consumeCredits", omit(VALID.consumeCredits, "currencyId"), "currencyId"],
  ["consumeCredits without idempotencyKey", "consumeCredits", omit(VALID.consumeCredits, "idempotencyKey"), "idempotencyKey"],
  ["getCreditBalance without currencyId", "getCreditBalance", omit(VALID.getCreditBalance, "currencyId"), "currencyId"],
  ["getCreditBalance without customerId", "getCreditBalance", omit(VALID.getCreditBalance, "customerId"), "customerId"],
  ["provisionSubscription without planId", "provisionSubscription", omit(VALID.provisionSubscription, "planId"), "planId"],
  ["getCreditLedger without customerId", "getCreditLedger", omit(VALID.getCreditLedger, "customerId"), "customerId"],
];

const BAD_AMOUNTS = [
  ["negative", -5],
  ["zero", 0],
  ["negative zero", -0],
  ["NaN", NaN],
  ["Infinity", Infinity],
  ["-Infinity", -Infinity],
  ["1e-7 (7 decimals)", 1e-7],
  ["1.0000001 (7 decimals)", 1.0000001],
  ['"abc"', "abc"],
  ['""', ""],
  ['"-1"', "-1"],
  ['"0"', "0"],
  ['"0.0000001"', "0.0000001"],
  ['"1.2.3"', "1.2.3"],
  ["null", null],
  ["true", true],
  ["an object", { amount: 1 }],
];

const CASES = [
  // Empty ids.
  ["empty customerId", "reportUsage", { ...VALID.reportUsage, customerId: "" }, "INVALID_ARGUMENT", "customerId"],
  ["empty resourceId", "reportUsage", { ...VALID.reportUsage, resourceId: "" }, "INVALID_ARGUMENT", "resourceId"],
  ["empty featureId", "reportUsage", { ...VALID.reportUsage, featureId: "" }, "INVALID_ARGUMENT", "featureId"],
  ["empty idempotencyKey (usage)", "reportUsage", { ...VALID.reportUsage, idempotencyKey: "" }, "INVALID_ARGUMENT", "idempotencyKey"],
  ["empty currencyId (grant)", "grantCredits", { ...VALID.grantCredits, currencyId: "" }, "INVALID_ARGUMENT", "currencyId"],
  ["empty idempotencyKey (grant)", "grantCredits", { ...VALID.grantCredits, idempotencyKey: "" }, "INVALID_ARGUMENT", "idempotencyKey"],
  ["empty currencyId (consume)", "consumeCredits", { ...VALID.consumeCredits, currencyId: "" }, "INVALID_ARGUMENT", "currencyId"],
  ["empty idempotencyKey (consume)", "consumeCredits", { ...VALID.consumeCredits, idempotencyKey: "" }, "INVALID_ARGUMENT", "idempotencyKey"],
  ["empty currencyId (balance)", "getCreditBalance", { ...VALID.getCreditBalance, currencyId: "" }, "INVALID_ARGUMENT", "currencyId"],
  ["empty planId", "provisionSubscription", { ...VALID.provisionSubscription, planId: "" }, "INVALID_ARGUMENT", "planId"],
  ["empty customerId (provision)", "provisionSubscription", { ...VALID.provisionSubscription, customerId: "" }, "INVALID_ARGUMENT", "customerId"],
  ["empty customerId (ledger)", "getCreditLedger", { ...VALID.getCreditLedger, customerId: "" }, "INVALID_ARGUMENT", "customerId"],
  ["empty resourceId (grants)", "getCreditGrants", { ...VALID.getCreditGrants, resourceId: "" }, "INVALID_ARGUMENT", "resourceId"],
  // Ids over 128 bytes.
  ["129-byte customerId", "reportUsage", { ...VALID.reportUsage, customerId: LONG_ID }, "INVALID_ARGUMENT", "customerId"],
  ["130-byte (65-char) customerId", "grantCredits", { ...VALID.grantCredits, customerId: LONG_UTF8_ID }, "INVALID_ARGUMENT", "customerId"],
  ["129-byte resourceId", "reportUsage", { ...VALID.reportUsage, resourceId: LONG_ID }, "INVALID_ARGUMENT", "resourceId"],
  ["129-byte featureId", "reportUsage", { ...VALID.reportUsage, featureId: LONG_ID }, "INVALID_ARGUMENT", "featureId"],
  ["129-byte idempotencyKey", "reportUsage", { ...VALID.reportUsage, idempotencyKey: LONG_ID }, "INVALID_ARGUMENT", "idempotencyKey"],
  ["129-byte currencyId", "grantCredits", { ...VALID.grantCredits, currencyId: LONG_ID }, "INVALID_ARGUMENT", "currencyId"],
  ["129-byte idempotencyKey (consume)", "consumeCredits", { ...VALID.consumeCredits, idempotencyKey: LONG_ID }, "INVALID_ARGUMENT", "idempotencyKey"],
  ["129-byte planId", "provisionSubscription", { ...VALID.provisionSubscription, planId: LONG_ID }, "INVALID_ARGUMENT", "planId"],
  // Ids of the wrong type.
  ["numeric customerId", "reportUsage", { ...VALID.reportUsage, customerId: 42 }, "INVALID_ARGUMENT", "customerId"],
  ["object resourceId", "grantCredits", { ...VALID.grantCredits, resourceId: { id: "ws-1" } }, "INVALID_ARGUMENT", "resourceId"],
  // Amounts and values.
  ...BAD_AMOUNTS.map(([label, amount]) => [`grant amount ${label}`, "grantCredits", { ...VALID.grantCredits, amount }, "INVALID_ARGUMENT", "amount"]),
  ...BAD_AMOUNTS.map(([label, value]) => [`usage value ${label}`, "reportUsage", { ...VALID.reportUsage, value }, "INVALID_ARGUMENT", "value"]),
  ...BAD_AMOUNTS.map(([label, amount]) => [`consume amount ${label}`, "consumeCredits", { ...VALID.consumeCredits, amount }, "INVALID_ARGUMENT", "amount"]),
  // Things that do not exist.
  ["unknown plan", "provisionSubscription", { ...VALID.provisionSubscription, planId: "plan-nope" }, "NOT_FOUND"],
  ["unknown feature", "reportUsage", { ...VALID.reportUsage, featureId: "feature-nope" }, "NOT_FOUND"],
  ["feature without a rate on the plan", "reportUsage", { ...VALID.reportUsage, resourceId: "ws-free" }, "NOT_FOUND"],
  ["unknown currency (grant)", "grantCredits", { ...VALID.grantCredits, currencyId: "gold" }, "NOT_FOUND"],
  ["unknown currency (creditTypeId)", "grantCredits", { ...omit(VALID.grantCredits, "currencyId"), creditTypeId: "gold" }, "NOT_FOUND"],
  ["unknown currency (consume)", "consumeCredits", { ...VALID.consumeCredits, currencyId: "gold" }, "NOT_FOUND"],
  ["unknown currency (balance)", "getCreditBalance", { ...VALID.getCreditBalance, currencyId: "gold" }, "NOT_FOUND"],
  ["usage without a subscription (resource)", "reportUsage", { ...VALID.reportUsage, resourceId: "ws-none" }, "NOT_FOUND"],
  ["usage without a subscription (global pool)", "reportUsage", omit(VALID.reportUsage, "resourceId"), "NOT_FOUND"],
  ["usage without a subscription (other customer)", "reportUsage", { ...VALID.reportUsage, customerId: "cust-unknown" }, "NOT_FOUND"],
  // Dates.
  ["effectiveAt not a date", "grantCredits", { ...VALID.grantCredits, effectiveAt: "not-a-date" }, "INVALID_ARGUMENT", "effectiveAt"],
  ["effectiveAt month 13", "grantCredits", { ...VALID.grantCredits, effectiveAt: "2026-13-01T00:00:00.000Z" }, "INVALID_ARGUMENT", "effectiveAt"],
  ["effectiveAt February 30", "grantCredits", { ...VALID.grantCredits, effectiveAt: "2026-02-30T00:00:00.000Z" }, "INVALID_ARGUMENT", "effectiveAt"],
  ["effectiveAt NaN", "grantCredits", { ...VALID.grantCredits, effectiveAt: NaN }, "INVALID_ARGUMENT", "effectiveAt"],
  ["effectiveAt fractional ms", "grantCredits", { ...VALID.grantCredits, effectiveAt: T0 + 0.5 }, "INVALID_ARGUMENT", "effectiveAt"],
  ["effectiveAt Invalid Date", "grantCredits", { ...VALID.grantCredits, effectiveAt: new Date("garbage") }, "INVALID_ARGUMENT", "effectiveAt"],
  ["effectiveAt boolean", "grantCredits", { ...VALID.grantCredits, effectiveAt: true }, "INVALID_ARGUMENT", "effectiveAt"],
  ["expireAt not a date", "grantCredits", { ...VALID.grantCredits, expireAt: "yesterday" }, "INVALID_ARGUMENT", "expireAt"],
  ["expireAt Infinity", "grantCredits", { ...VALID.grantCredits, expireAt: Infinity }, "INVALID_ARGUMENT", "expireAt"],
  ["startDate not a date", "provisionSubscription", { ...VALID.provisionSubscription, startDate: "soon" }, "INVALID_ARGUMENT", "startDate"],
  ["startDate Invalid Date", "provisionSubscription", { ...VALID.provisionSubscription, startDate: new Date(NaN) }, "INVALID_ARGUMENT", "startDate"],
  ["createdAt not a date (usage)", "reportUsage", { ...VALID.reportUsage, createdAt: "garbage" }, "INVALID_ARGUMENT", "createdAt"],
  ["createdAt fractional (consume)", "consumeCredits", { ...VALID.consumeCredits, createdAt: 1.5 }, "INVALID_ARGUMENT", "createdAt"],
  [
    "expireAt before effectiveAt",
    "grantCredits",
    { ...VALID.grantCredits, effectiveAt: T0 + 2 * MS_HOUR, expireAt: T0 + MS_HOUR },
    "INVALID_ARGUMENT",
    "expireAt",
  ],
  [
    "expireAt equal to effectiveAt",
    "grantCredits",
    { ...VALID.grantCredits, effectiveAt: iso(T0 + MS_HOUR), expireAt: new Date(T0 + MS_HOUR) },
    "INVALID_ARGUMENT",
    "expireAt",
  ],
  // Priority and grant type.
  ["priority -1", "grantCredits", { ...VALID.grantCredits, priority: -1 }, "INVALID_ARGUMENT", "priority"],
  ["priority 1.5", "grantCredits", { ...VALID.grantCredits, priority: 1.5 }, "INVALID_ARGUMENT", "priority"],
  ["priority NaN", "grantCredits", { ...VALID.grantCredits, priority: NaN }, "INVALID_ARGUMENT", "priority"],
  ['priority "high"', "grantCredits", { ...VALID.grantCredits, priority: "high" }, "INVALID_ARGUMENT", "priority"],
  ["grantType RECURRING", "grantCredits", { ...VALID.grantCredits, grantType: "RECURRING" }, "INVALID_ARGUMENT", "grantType"],
  ["grantType OVERDRAFT", "grantCredits", { ...VALID.grantCredits, grantType: "OVERDRAFT" }, "INVALID_ARGUMENT", "grantType"],
  // Query parameters.
  ["ledger limit 0", "getCreditLedger", { ...VALID.getCreditLedger, limit: 0 }, "INVALID_ARGUMENT", "limit"],
  ["ledger limit 1001", "getCreditLedger", { ...VALID.getCreditLedger, limit: 1001 }, "INVALID_ARGUMENT", "limit"],
  ["ledger limit 2.5", "getCreditLedger", { ...VALID.getCreditLedger, limit: 2.5 }, "INVALID_ARGUMENT", "limit"],
  ["ledger cursor garbage", "getCreditLedger", { ...VALID.getCreditLedger, cursor: "garbage" }, "INVALID_ARGUMENT", "cursor"],
  ["ledger order UP", "getCreditLedger", { ...VALID.getCreditLedger, order: "UP" }, "INVALID_ARGUMENT", "order"],
  ["ledger eventType not an array", "getCreditLedger", { ...VALID.getCreditLedger, eventType: "CREDITS_GRANTED" }, "INVALID_ARGUMENT", "eventType"],
  ["grants limit 0", "getCreditGrants", { ...VALID.getCreditGrants, limit: 0 }, "INVALID_ARGUMENT", "limit"],
  ["grants cursor garbage", "getCreditGrants", { ...VALID.getCreditGrants, cursor: "garbage" }, "INVALID_ARGUMENT", "cursor"],
  // Not an object at all.
  ...METHODS.flatMap((method) =>
    [
      ["undefined", undefined],
      ["null", null],
      ["42", 42],
      ['"x"', "x"],
      ["[]", []],
      ["true", true],
    ].map(([label, input]) => [`${method}(${label})`, method, input, "INVALID_ARGUMENT", method]),
  ),
];

// ---------------------------------------------------------------------------
describe("bad inputs reject with their code and change nothing", () => {
  let store;
  let ledger;
  let clk;
  let initial;

  before(async () => {
    store = memoryKv();
    clk = clock(T0);
    ledger = makeLedger({ kv: store.kv, clk });
    await ledger.provisionSubscription({ ...SCOPE, planId: "plan-basic" });
    await ledger.provisionSubscription({ customerId: CUST, resourceId: "ws-free", planId: "plan-free" });
    clk.advance(MS_SECOND);
    await ledger.grantCredits({ ...SCOPE, currencyId: CURRENCY, amount: 50, grantType: "PAID", idempotencyKey: "seed-grant" });
    clk.advance(MS_SECOND);
    await ledger.reportUsage({ ...SCOPE, featureId: FEATURE, value: 10, idempotencyKey: "seed-use" });
    clk.advance(MS_SECOND);
    initial = {
      kv: snapshot(store.map),
      balance: await ledger.getCreditBalance({ ...SCOPE, currencyId: CURRENCY }),
      events: await allEvents(ledger, SCOPE),
      grants: await allGrants(ledger, SCOPE),
    };
    assert.equal(initial.balance.currentBalance, 140);
  });

  for (const [label, method, input, code, field] of CASES) {
    test(`${label} → ${code}${field ? ` (${field})` : ""}`, async () => {
      const before = snapshot(store.map);
      await rejectsWith(ledger[method](input), code, field);
      assert.deepEqual(snapshot(store.map), before);
    });
  }

  test("ledger eventType with an unknown event name → INVALID_ARGUMENT on eventType", async () => {
    const before = snapshot(store.map);
    const error = await rejectsWith(ledger.getCreditLedger({ ...SCOPE, eventType: ["CREDITS_GRANTED", "NOPE"] }), "INVALID_ARGUMENT");
    assert.match(error.field, /^eventType/);
    assert.deepEqual(snapshot(store.map), before);
  });

  for (const [label, method, input] of MISSING) {
    test(`${label} → INVALID_ARGUMENT, kv unchanged`, async () => {
      const before = snapshot(store.map);
      await rejectsWith(ledger[method](input), "INVALID_ARGUMENT");
      assert.deepEqual(snapshot(store.map), before);
    });
  }

  test(
    "a missing required field is named in `field`",
    async () => {
      for (const [label, method, input, field] of MISSING) {
        const error = await rejectsWith(ledger[method](input), "INVALID_ARGUMENT");
        assert.equal(error.field, field, `${label}: ${error.message}`);
      }
    },
  );

  test("an idempotency conflict changes nothing", async () => {
    const before = snapshot(store.map);
    await rejectsWith(ledger.reportUsage({ ...SCOPE, featureId: FEATURE, value: 11, idempotencyKey: "seed-use" }), "IDEMPOTENCY_CONFLICT");
    await rejectsWith(ledger.grantCredits({ ...SCOPE, currencyId: CURRENCY, amount: 51, grantType: "PAID", idempotencyKey: "seed-grant" }), "IDEMPOTENCY_CONFLICT");
    assert.deepEqual(snapshot(store.map), before);
  });

  test("a clock that returns garbage → INVALID_ARGUMENT (now), kv unchanged", async () => {
    const before = snapshot(store.map);
    const broken = new CreditLedger({ kv: store.kv, catalog: CATALOG, now: () => "soon" });
    await rejectsWith(broken.reportUsage(VALID.reportUsage), "INVALID_ARGUMENT", "now");
    const throwing = new CreditLedger({ kv: store.kv, catalog: CATALOG, now: () => { throw new Error("clock stopped"); } });
    await rejectsWith(throwing.grantCredits(VALID.grantCredits), "INVALID_ARGUMENT", "now");
    assert.deepEqual(snapshot(store.map), before);
  });

  test("after all those errors the state is intact and the same instance keeps working", async () => {
    assert.deepEqual(await ledger.getCreditBalance({ ...SCOPE, currencyId: CURRENCY }), initial.balance);
    assert.deepEqual(await allEvents(ledger, SCOPE), initial.events);
    assert.deepEqual(await allGrants(ledger, SCOPE), initial.grants);

    const use = await ledger.reportUsage({ ...SCOPE, featureId: FEATURE, value: 5, idempotencyKey: "after-errors" });
    assert.deepEqual(use.credit, { currencyId: CURRENCY, consumed: 5, currentUsage: 15, usageLimit: 150, currentBalance: 135, timestamp: iso(clk.now()) });
    const grant = await ledger.grantCredits({ ...SCOPE, currencyId: CURRENCY, amount: 10, grantType: "PROMOTIONAL" });
    assert.equal(grant.amount, 10);
    const events = await allEvents(ledger, SCOPE);
    assert.equal(events.length, initial.events.length + 2);
    assert.deepEqual(events.slice(-2).map((e) => [e.seq, e.eventType, e.amount]), [
      [initial.events.length, "CREDITS_CONSUMED", 5],
      [initial.events.length + 1, "CREDITS_GRANTED", 10],
    ]);
    assert.equal((await ledger.getCreditBalance({ ...SCOPE, currencyId: CURRENCY })).currentBalance, 145);
  });

  test("ids of exactly 128 bytes are accepted (the limit is inclusive, in bytes)", async () => {
    const customerId = "c".repeat(128);
    const resourceId = "é".repeat(64); // 128 bytes
    const r = await ledger.consumeCredits({ customerId, resourceId, currencyId: CURRENCY, amount: 2, idempotencyKey: "k".repeat(128) });
    assert.equal(r.customerId, customerId);
    assert.equal(r.resourceId, resourceId);
    assert.equal(r.credit.currentBalance, -2);
  });
});

// ---------------------------------------------------------------------------
// [expected field, constructor call] for catalog values of the wrong type.
const CATALOG_TYPE_ERRORS = (kv) => [
  [
    "catalog.plans[0].credits[0].cadence",
    () => new CreditLedger({ kv, catalog: { currencies: [{ id: "a" }], plans: [{ id: "p", credits: [{ currencyId: "a", amount: 1, cadence: "WEEK" }] }] } }),
  ],
  ["catalog.currencies[0].id", () => new CreditLedger({ kv, catalog: { currencies: [{ id: 5 }] } })],
];

describe("constructor", () => {
  const cleanKv = () => {
    const calls = [];
    return { calls, kv: { get: (k) => (calls.push(["get", k]), undefined), put: (k) => calls.push(["put", k]) } };
  };

  test("rejects bad options synchronously with INVALID_ARGUMENT and never touches the kv", () => {
    const { calls, kv } = cleanKv();
    const cases = [
      ["no options", () => new CreditLedger(), "options"],
      ["options 42", () => new CreditLedger(42), "options"],
      ["missing kv", () => new CreditLedger({ catalog: CATALOG }), "kv"],
      ["kv a string", () => new CreditLedger({ kv: "kv", catalog: CATALOG }), "kv"],
      ["kv without methods", () => new CreditLedger({ kv: {}, catalog: CATALOG }), "kv"],
      ["kv without put", () => new CreditLedger({ kv: { get: () => undefined }, catalog: CATALOG }), "kv"],
      ["kv without get", () => new CreditLedger({ kv: { put: () => {} }, catalog: CATALOG }), "kv"],
      ["kv.get not a function", () => new CreditLedger({ kv: { get: 1, put: () => {} }, catalog: CATALOG }), "kv"],
      ["missing catalog", () => new CreditLedger({ kv }), "catalog"],
      ["catalog a string", () => new CreditLedger({ kv, catalog: "catalog" }), "catalog"],
      ["now not a function", () => new CreditLedger({ kv, catalog: CATALOG, now: 5 }), "now"],
      ["keyPrefix with /", () => new CreditLedger({ kv, catalog: CATALOG, keyPrefix: "tenant/1" }), "keyPrefix"],
      ["empty keyPrefix", () => new CreditLedger({ kv, catalog: CATALOG, keyPrefix: "" }), "keyPrefix"],
      ["65-char keyPrefix", () => new CreditLedger({ kv, catalog: CATALOG, keyPrefix: "p".repeat(65) }), "keyPrefix"],
      ["keyPrefix with a space", () => new CreditLedger({ kv, catalog: CATALOG, keyPrefix: "a b" }), "keyPrefix"],
      ["numeric keyPrefix", () => new CreditLedger({ kv, catalog: CATALOG, keyPrefix: 42 }), "keyPrefix"],
      [
        "duplicate currency",
        () => new CreditLedger({ kv, catalog: { currencies: [{ id: "a" }, { id: "a" }] } }),
        "catalog.currencies[1].id",
      ],
      [
        "empty currency id",
        () => new CreditLedger({ kv, catalog: { currencies: [{ id: "" }] } }),
        "catalog.currencies[0].id",
      ],
      [
        "rate with an unknown currency",
        () =>
          new CreditLedger({
            kv,
            catalog: { currencies: [{ id: "a" }], plans: [{ id: "p", creditRates: [{ featureId: "f", currencyId: "b", amount: 1 }] }] },
          }),
        "catalog.plans[0].creditRates[0].currencyId",
      ],
      [
        "plan credits in an unknown currency",
        () =>
          new CreditLedger({
            kv,
            catalog: { currencies: [{ id: "a" }], plans: [{ id: "p", credits: [{ currencyId: "b", amount: 1, cadence: "MONTH" }] }] },
          }),
        "catalog.plans[0].credits[0].currencyId",
      ],
      [
        "rate of 0",
        () =>
          new CreditLedger({
            kv,
            catalog: { currencies: [{ id: "a" }], plans: [{ id: "p", creditRates: [{ featureId: "f", currencyId: "a", amount: 0 }] }] },
          }),
        "catalog.plans[0].creditRates[0].amount",
      ],
      [
        "duplicate plan",
        () => new CreditLedger({ kv, catalog: { currencies: [{ id: "a" }], plans: [{ id: "p" }, { id: "p" }] } }),
        "catalog.plans[1].id",
      ],
    ];
    for (const [label, make, field] of cases) {
      const error = throwsWith(make, "INVALID_ARGUMENT", field);
      assert.ok(error.message.length > 0, label);
    }
    // The catalog is checked as a whole: a missing currencies list is refused too.
    const noCurrencies = throwsWith(() => new CreditLedger({ kv, catalog: { plans: [] } }), "INVALID_ARGUMENT");
    assert.match(noCurrencies.field, /^catalog/);
    // Values of the wrong type inside the catalog are refused too (their `field` carries the `catalog.` path).
    for (const [, make] of CATALOG_TYPE_ERRORS(kv)) throwsWith(make, "INVALID_ARGUMENT");
    assert.deepEqual(calls, []);
  });

  test(
    "a wrongly typed catalog value is named by its full path in `field`",
    () => {
      const { kv } = cleanKv();
      for (const [field, make] of CATALOG_TYPE_ERRORS(kv)) throwsWith(make, "INVALID_ARGUMENT", field);
    },
  );

  test("a valid keyPrefix with every allowed character is accepted and used", async () => {
    const store = memoryKv();
    const ledger = new CreditLedger({ kv: store.kv, catalog: CATALOG, now: () => T0, keyPrefix: "Tenant_1.prod:eu-west" });
    await ledger.grantCredits({ customerId: "c", currencyId: CURRENCY, amount: 3, grantType: "PAID" });
    assert.ok(store.map.size > 0);
    assert.ok([...store.map.keys()].every((k) => k.startsWith("Tenant_1.prod:eu-west")));
    assert.equal((await ledger.getCreditBalance({ customerId: "c", currencyId: CURRENCY })).currentBalance, 3);
  });
});

// ---------------------------------------------------------------------------
describe("store failures", () => {
  /** A Map-backed kv whose puts fail after `allowPuts` successful ones, and gets on demand. */
  function flakyKv(map = new Map()) {
    const control = { allowPuts: Infinity, failGet: null, syncThrow: false, attempted: [] };
    const kv = {
      get(key) {
        if (control.failGet) return control.failGet(key);
        return Promise.resolve(map.get(key));
      },
      put(key, value) {
        control.attempted.push(key);
        if (control.allowPuts <= 0) {
          if (control.syncThrow) throw new Error("quota exceeded");
          return Promise.reject(new Error("network down"));
        }
        control.allowPuts -= 1;
        return new Promise((resolve) => setImmediate(() => {
          map.set(key, value);
          resolve();
        }));
      },
    };
    return { kv, map, control };
  }

  test("a get that throws → STORE_ERROR naming the key; nothing written", async () => {
    const store = memoryKv();
    const clk = clock(T0);
    await makeLedger({ kv: store.kv, clk }).provisionSubscription({ ...SCOPE, planId: "plan-basic" });
    const before = snapshot(store.map);
    const keys = [];
    let puts = 0;
    const ledger = new CreditLedger({
      kv: {
        get(key) {
          keys.push(key);
          throw new Error("disk on fire");
        },
        put(key, value) {
          puts += 1;
          store.map.set(key, value);
        },
      },
      catalog: CATALOG,
      now: clk.now,
    });
    for (const call of [
      () => ledger.reportUsage(VALID.reportUsage),
      () => ledger.grantCredits(VALID.grantCredits),
      () => ledger.getCreditBalance(VALID.getCreditBalance),
      () => ledger.getCreditLedger(VALID.getCreditLedger),
    ]) {
      keys.length = 0;
      const error = await rejectsWith(call(), "STORE_ERROR");
      assert.equal(keys.length, 1);
      assert.ok(error.message.includes(keys[0]), `${error.message} names ${keys[0]}`);
      assert.ok(error.message.includes("disk on fire"), error.message);
    }
    assert.equal(puts, 0);
    assert.deepEqual(snapshot(store.map), before);
  });

  test("a get that rejects → STORE_ERROR naming the key; the same instance recovers", async () => {
    const { kv, map, control } = flakyKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    await ledger.provisionSubscription({ ...SCOPE, planId: "plan-basic" });
    const before = snapshot(map);
    const keys = [];
    control.failGet = (key) => {
      keys.push(key);
      return Promise.reject(new Error("timeout"));
    };
    const error = await rejectsWith(ledger.reportUsage(VALID.reportUsage), "STORE_ERROR");
    assert.ok(error.message.includes(keys[0]), error.message);
    control.failGet = () => Promise.reject("plain string rejection");
    await rejectsWith(ledger.getCreditBalance(VALID.getCreditBalance), "STORE_ERROR");
    assert.deepEqual(snapshot(map), before);

    control.failGet = null;
    const use = await ledger.reportUsage({ ...VALID.reportUsage, value: 4 });
    assert.equal(use.credit.currentBalance, 96);
  });

  test("a put that throws synchronously → STORE_ERROR naming the key; nothing written", async () => {
    const { kv, map, control } = flakyKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    await ledger.provisionSubscription({ ...SCOPE, planId: "plan-basic" });
    const before = snapshot(map);
    control.allowPuts = 0;
    control.syncThrow = true;
    control.attempted.length = 0;
    const error = await rejectsWith(ledger.reportUsage(VALID.reportUsage), "STORE_ERROR");
    assert.equal(control.attempted.length, 1);
    assert.ok(error.message.includes(control.attempted[0]), error.message);
    assert.ok(error.message.includes("quota exceeded"), error.message);
    assert.deepEqual(snapshot(map), before);
  });

  // Builds a scope with a full window of recent idempotency keys, so that the
  // next keyed operation also writes an evicted key's record (three puts).
  async function baseState() {
    const { kv, map } = flakyKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv, clk });
    await ledger.provisionSubscription({ ...SCOPE, planId: "plan-basic" });
    for (let i = 0; i < 16; i += 1) {
      clk.advance(MS_SECOND);
      await ledger.reportUsage({ ...SCOPE, featureId: FEATURE, value: 1, idempotencyKey: `pre-${i}` });
    }
    clk.advance(MS_SECOND);
    return { map: new Map(map), now: clk.now() };
  }

  const operations = [
    {
      name: "reportUsage",
      run: (ledger) => ledger.reportUsage({ ...SCOPE, featureId: FEATURE, value: 7, idempotencyKey: "flaky" }),
      check: (result) => assert.equal(result.credit.consumed, 7),
      balance: 77,
      newEvents: [["CREDITS_CONSUMED", 7]],
    },
    {
      name: "grantCredits",
      run: (ledger) => ledger.grantCredits({ ...SCOPE, currencyId: CURRENCY, amount: 25, grantType: "PAID", idempotencyKey: "flaky" }),
      check: (result) => assert.deepEqual([result.amount, result.consumedAmount, result.status], [25, 0, "ACTIVE"]),
      balance: 109,
      newEvents: [["CREDITS_GRANTED", 25]],
    },
    {
      name: "provisionSubscription (plan change)",
      run: (ledger) => ledger.provisionSubscription({ ...SCOPE, planId: "plan-pro" }),
      check: (result) => assert.equal(result.subscription.planId, "plan-pro"),
      balance: 1000,
      newEvents: null, // voids the old plan grant and grants the new one
    },
  ];

  for (const op of operations) {
    test(`${op.name}: a put failing at any point → STORE_ERROR, nothing half-written, retry applies once`, { timeout: 30_000 }, async () => {
      const base = await baseState();
      let failures = 0;
      for (let allow = 0; allow < 10; allow += 1) {
        const { kv, map, control } = flakyKv(new Map(base.map));
        const ledger = makeLedger({ kv, clk: clock(base.now) });
        const balanceBefore = await ledger.getCreditBalance(VALID.getCreditBalance);
        const eventsBefore = await allEvents(ledger, SCOPE);
        const grantsBefore = await allGrants(ledger, SCOPE);
        assert.equal(balanceBefore.currentBalance, 84);

        control.allowPuts = allow;
        control.attempted.length = 0;
        let result;
        let failed = false;
        try {
          result = await op.run(ledger);
        } catch (error) {
          failed = true;
          failures += 1;
          assert.equal(error.name, "CreditPoolsError");
          assert.equal(error.code, "STORE_ERROR", error.message);
          const failedKey = control.attempted.at(-1);
          assert.equal(control.attempted.length, allow + 1);
          assert.ok(error.message.includes(failedKey), `${error.message} names ${failedKey}`);

          // Nothing half-written: every read sees the state as before, through
          // this instance and through a fresh one.
          control.allowPuts = Infinity;
          for (const reader of [ledger, makeLedger({ kv, clk: clock(base.now) })]) {
            assert.deepEqual(await reader.getCreditBalance(VALID.getCreditBalance), balanceBefore);
            assert.deepEqual(await allEvents(reader, SCOPE), eventsBefore);
            assert.deepEqual(await allGrants(reader, SCOPE), grantsBefore);
          }
          // The same operation now applies, exactly once.
          result = await op.run(ledger);
        }
        op.check(result);
        const after = await ledger.getCreditBalance(VALID.getCreditBalance);
        assert.equal(after.currentBalance, op.balance);
        const events = await allEvents(ledger, SCOPE);
        assert.deepEqual(events.slice(0, eventsBefore.length), eventsBefore);
        if (op.newEvents) {
          assert.deepEqual(events.slice(eventsBefore.length).map((e) => [e.eventType, e.amount]), op.newEvents);
        }
        assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i));
        // A repeat (or, for provisioning, a read) changes nothing more.
        const stored = snapshot(map);
        if (op.name !== "provisionSubscription (plan change)") {
          await op.run(ledger);
          assert.deepEqual(snapshot(map), stored);
          assert.equal((await ledger.getCreditBalance(VALID.getCreditBalance)).currentBalance, op.balance);
        }
        if (!failed) break; // enough puts were allowed: every failure point has been tried
      }
      assert.ok(failures >= 2, `expected the operation to need several puts, failed ${failures} times`);
    });
  }

  test("garbage JSON in the kv → CORRUPT_STATE; nothing written; other scopes still work", async () => {
    const store = memoryKv();
    const clk = clock(T0);
    const ledger = makeLedger({ kv: store.kv, clk });
    await ledger.provisionSubscription({ ...SCOPE, planId: "plan-basic" });
    await ledger.reportUsage({ ...VALID.reportUsage, value: 3 });
    for (const key of store.map.keys()) store.map.set(key, "{not json");
    const before = snapshot(store.map);
    for (const call of [
      () => ledger.getCreditBalance(VALID.getCreditBalance),
      () => ledger.reportUsage(VALID.reportUsage),
      () => ledger.grantCredits(VALID.grantCredits),
      () => ledger.getCreditLedger(VALID.getCreditLedger),
      () => ledger.getCreditGrants(VALID.getCreditGrants),
      () => ledger.provisionSubscription(VALID.provisionSubscription),
    ]) {
      await rejectsWith(call(), "CORRUPT_STATE");
    }
    assert.deepEqual(snapshot(store.map), before);

    // Valid JSON of the wrong shape is corrupt too.
    for (const key of store.map.keys()) store.map.set(key, "42");
    await rejectsWith(ledger.getCreditBalance(VALID.getCreditBalance), "CORRUPT_STATE");
    for (const key of store.map.keys()) store.map.set(key, "{}");
    await rejectsWith(ledger.reportUsage(VALID.reportUsage), "CORRUPT_STATE");

    // The instance is fine for untouched scopes.
    const other = { customerId: CUST, resourceId: "ws-2" };
    await ledger.provisionSubscription({ ...other, planId: "plan-basic" });
    const use = await ledger.reportUsage({ ...other, featureId: FEATURE, value: 2 });
    assert.equal(use.credit.currentBalance, 98);
  });
});
