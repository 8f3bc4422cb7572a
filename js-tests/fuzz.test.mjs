// Fuzz test of the JS boundary of `CreditLedger`.
//
// 100,000 random JSON-ish values, wrong types and near-valid inputs go to
// every public method. Each call must hand back a Promise that resolves, or
// rejects with an `Error` whose `name` is "CreditPoolsError" and whose `code`
// is a non-empty string: never a `WebAssembly.RuntimeError` (a Rust panic),
// never a non-Error rejection, never a synchronous throw. Afterwards the same
// instance must still serve correct results, and agree with a second ledger
// over the same store. The constructor is fuzzed too (a few thousand cases).
//
// Deterministic: the seed is fixed unless CREDIT_POOLS_FUZZ_SEED overrides it;
// every failure message prints it.
//
// Run: cd /work/main && node --test js-tests/fuzz.test.mjs
//      CREDIT_POOLS_FUZZ_SEED=123 CREDIT_POOLS_FUZZ_CALLS=20000 node --test js-tests/fuzz.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { CreditLedger } from "credit-pools";

const DEFAULT_SEED = 0x5eed_c4ed;
const SEED = process.env.CREDIT_POOLS_FUZZ_SEED !== undefined ? Number(process.env.CREDIT_POOLS_FUZZ_SEED) >>> 0 : DEFAULT_SEED;
const TOTAL_CALLS = Number(process.env.CREDIT_POOLS_FUZZ_CALLS ?? 100_000);
const CONSTRUCTOR_CASES = Number(process.env.CREDIT_POOLS_FUZZ_CTOR_CASES ?? 3_000);
const MAX_REPORTED = 8;
/** CREDIT_POOLS_FUZZ_TRACE=1 prints every call (index, method, argument) to stderr before making it. */
const TRACE = process.env.CREDIT_POOLS_FUZZ_TRACE === "1";
/**
 * For triage only: CREDIT_POOLS_FUZZ_EXCLUDE=cyclic,deep,throwing leaves those value families out
 * (self-referencing objects, nesting of 16–5000 levels, throwing getters/Proxies) so that one
 * fatal input does not hide every later finding. The default run excludes nothing.
 */
const EXCLUDE = new Set((process.env.CREDIT_POOLS_FUZZ_EXCLUDE ?? "").split(",").filter(Boolean));

const CURRENCY = "ai-tokens";
const PLAN = "plan-basic";
const FEATURE = "feature-ai-tokens";
const FEATURE_FORMULA = "feature-llm";
const T0 = Date.parse("2026-03-01T00:00:00.000Z");
const MS_DAY = 86_400_000;

const CATALOG = Object.freeze({
  currencies: [{ id: CURRENCY, displayName: "AI tokens" }],
  plans: [
    {
      id: PLAN,
      credits: [{ currencyId: CURRENCY, amount: 1000, cadence: "MONTH" }],
      creditRates: [
        { featureId: FEATURE, currencyId: CURRENCY, amount: 1 },
        { featureId: FEATURE_FORMULA, currencyId: CURRENCY, costFormula: "1.1*a + 2*b" },
      ],
    },
  ],
});

const METHODS = [
  "provisionSubscription",
  "grantCredits",
  "voidCreditGrant",
  "reportUsage",
  "consumeCredits",
  "getCreditEntitlement",
  "estimateUsageCost",
  "getCreditBalance",
  "getCreditLedger",
  "getCreditGrants",
  "getCreditUsage",
  "transferSubscriptionToResource",
  "saveAutomaticRechargeConfiguration",
  "getAutomaticRechargeConfiguration",
  "reserveCredits",
  "settleReservation",
  "releaseReservation",
  "confirmRecharge",
  "failRecharge",
];

// ---------------------------------------------------------------------------
// PRNG (sfc32 seeded through splitmix32)
// ---------------------------------------------------------------------------

function makeRng(seed) {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  const rng = {
    float: next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    bool: (p = 0.5) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)],
  };
  return rng;
}

// ---------------------------------------------------------------------------
// Random values
// ---------------------------------------------------------------------------

/** Labels of hostile objects (Proxies, throwing getters) so they can be printed without touching them. */
const hostile = new WeakMap();
const label = (object, text) => {
  hostile.set(object, text);
  return object;
};

const FIELD_NAMES = [
  "customerId", "resourceId", "currencyId", "creditTypeId", "amount", "value", "featureId", "planId",
  "idempotencyKey", "id", "reservationId", "rechargeId", "ttlMs", "limit", "cursor", "order", "eventType",
  "startDate", "endDate", "groupBy", "dimensions", "requireBalance", "priority", "expireAt", "effectiveAt",
  "grantType", "metadata", "thresholdValue", "targetBalance", "maxSpendLimit", "isEnabled", "subscriptionId",
  "destinationResourceId", "requestedUsage", "createdAt", "granularity", "thresholdType", "grantExpirationPeriod",
  "reason", "displayName", "comment",
];
const ODD_KEYS = ["__proto__", "constructor", "toString", "valueOf", "then", "toJSON", "", " ", "a", "b", "model", "💳", "\u0000", "\uD800", "x".repeat(300)];

const SPECIAL_NUMBERS = [
  0, -0, 1, -1, 0.1, 0.5, 1.5, 2, 10, 100, 999, 1000, 1001, 1e-6, 5e-7, 1e-7, 1e-300, 5e-324, -5e-324,
  NaN, Infinity, -Infinity, 1e308, -1e308, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER, 2 ** 53 + 2, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 63, 2 ** 64, -(2 ** 63), 1e15, 1e18, 1e21,
  9.223372036854776e12, 9.223372036854776e18, 18446744073709.551615, 0.30000000000000004, 60_000, 604_800_000, 604_800_001,
  T0, -T0, 8.64e15, 8.64e15 + 1, -8.64e15 - 1,
];
const SPECIAL_STRINGS = [
  "", " ", "0", "1", "-1", "0.1", "1e3", "1e308", "1e-7", "0.0000001", "NaN", "Infinity", "-Infinity", " 1 ", "0x10", "1_000",
  "00001", "1.0000001", "99999999999999999999999", "9223372036854775807", "18446744073709551616", "-0", "+1", ".5", "5.",
  "1,5", "1 000", "true", "null", "undefined", "{}", "[]", "2026-03-01", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00.000Z",
  "not a date", "+275760-09-13T00:00:00.000Z", "-271821-04-20T00:00:00.000Z", "9999-12-31T23:59:59.999Z", "0000-01-01",
  "2026-02-30", "2026-13-01", "PAID", "PROMOTIONAL", "RECURRING", "OVERDRAFT", "ASC", "DESC", "asc", "MONTH", "YEAR", "DAY",
  "HOUR", "WEEK", "featureId", "CREDITS_GRANTED", "CREDITS_CONSUMED", "1_MONTH", "1_YEAR", "CREDIT_AMOUNT", "ai-tokens",
  "AI-TOKENS", "plan-basic", "feature-ai-tokens", "feature-llm", "ws-1", "fz-cust", "💳", "ü", "\u0000", "\uD800", "\uDC00x",
  "a\uD83D", "\u202Eevil", "\u200B", "\uFEFF", "\n", "\\", "\"", "'; DROP TABLE", "credit-pools:", ":", "../..", "%00", "a".repeat(65),
  "1.1*a + 2*b", "((((", "a/0", "min(", "max(a,b)",
];
const UNICODE_ALPHABET = ["a", "Z", "0", "-", "_", ":", ".", " ", "é", "ß", "中", "💳", "\uD800", "\uDFFF", "\u0000", "\u200B", "\u202E", "\n", "\t", "/", "\\", "%", "\"", "{"];

function randomNumber(rng) {
  switch (rng.int(0, 5)) {
    case 0:
    case 1:
      return rng.pick(SPECIAL_NUMBERS);
    case 2:
      return rng.int(-1000, 100_000);
    case 3:
      return (rng.float() - 0.5) * 10 ** rng.int(-12, 20);
    case 4:
      return rng.float() * 10;
    default:
      return rng.int(0, 2 ** 31) * (rng.bool() ? 1 : -1) + rng.pick([0, 0.5, 1e-6, 0.123456789]);
  }
}

function randomString(rng) {
  switch (rng.int(0, 4)) {
    case 0:
    case 1:
      return rng.pick(SPECIAL_STRINGS);
    case 2: {
      const n = rng.int(0, 24);
      let out = "";
      for (let i = 0; i < n; i++) out += rng.pick(UNICODE_ALPHABET);
      return out;
    }
    case 3: {
      const n = rng.pick([64, 65, 128, 129, 255, 256, 257, 512, 1000, 1024, rng.int(0, 1024)]);
      return rng.pick(["a", "z", "1", "💳", "\uD800", "é", "-"]).repeat(n).slice(0, 1024);
    }
    default:
      return `${rng.pick(["ws", "cust", "grant", "res", "rch", "sub", "k"])}-${rng.int(0, 9999)}`;
  }
}

function deepNest(rng, depth) {
  let value = rng.pick([1, "x", null, {}]);
  const asArray = rng.bool();
  const key = rng.pick(["a", "metadata", "dimensions"]);
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { [key]: value };
  return value;
}

function throwingGetterObject(rng) {
  const key = rng.pick(FIELD_NAMES);
  const object = {};
  if (rng.bool()) {
    object.customerId = "fz-cust";
    object.currencyId = CURRENCY;
  }
  Object.defineProperty(object, key, {
    enumerable: true,
    get() {
      throw new Error(`getter ${key} throws`);
    },
  });
  return label(object, `{ get ${key}() { throw } }`);
}

/** Dates whose getTime cannot be read plainly: a Proxy (getTime throws on it), a subclass that throws or lies. */
function hostileDate(rng) {
  class ThrowingDate extends Date {
    getTime() {
      throw new Error("getTime throws");
    }
  }
  class LyingDate extends Date {
    getTime() {
      return { valueOf() { throw new Error("valueOf throws"); } };
    }
  }
  return rng.pick([new Proxy(new Date(T0), {}), new ThrowingDate(T0), new LyingDate(T0)]);
}

function throwingProxy(rng) {
  const kind = rng.int(0, 3);
  const boom = () => {
    throw new TypeError("proxy trap throws");
  };
  if (kind === 0) {
    const handler = { get: boom, has: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, getPrototypeOf: boom };
    return label(new Proxy({}, handler), "Proxy({}, every trap throws)");
  }
  if (kind === 1) {
    const { proxy, revoke } = Proxy.revocable({ customerId: "fz-cust" }, {});
    revoke();
    return label(proxy, "revoked Proxy");
  }
  if (kind === 2) {
    // Answers every property with a random-ish but stable value.
    const answers = new Map();
    const inner = makeRng(rng.int(0, 2 ** 31));
    const handler = {
      get(_target, prop) {
        if (typeof prop === "symbol") return undefined;
        if (!answers.has(prop)) answers.set(prop, randomLeaf(inner));
        return answers.get(prop);
      },
    };
    return label(new Proxy({}, handler), "Proxy({}, get → random value per key)");
  }
  // Transparent Proxy over a valid-looking object whose one key throws.
  const key = rng.pick(FIELD_NAMES);
  const handler = {
    get(target, prop, receiver) {
      if (prop === key) throw new RangeError(`proxy get ${key} throws`);
      return Reflect.get(target, prop, receiver);
    },
  };
  return label(new Proxy({ customerId: "fz-cust", currencyId: CURRENCY, amount: 1 }, handler), `Proxy(get ${key} throws)`);
}

function randomLeaf(rng) {
  switch (rng.int(0, 9)) {
    case 0:
      return rng.pick([null, undefined]);
    case 1:
      return rng.bool();
    case 2:
    case 3:
      return randomNumber(rng);
    case 4:
    case 5:
    case 6:
      return randomString(rng);
    case 7:
      return rng.pick([new Date(T0), new Date(NaN), new Date(8.64e15), new Date(-8.64e15), new Date(0), new Date(T0 + rng.int(-400, 400) * MS_DAY), hostileDate(rng)]);
    case 8:
      return rng.pick([0n, 1n, -1n, 1000n, 2n ** 64n, -(2n ** 63n)]);
    default:
      return rng.pick([Symbol("fuzz"), Symbol.iterator, () => 1, function named() {}, class K {}]);
  }
}

/** A random JSON-ish or hostile value. */
function randomValue(rng, depth = 0) {
  const r = rng.int(0, 99);
  if (r < 55 || depth > 3) return randomLeaf(rng);
  if (r < 65) {
    const n = rng.int(0, 5);
    const array = [];
    for (let i = 0; i < n; i++) array.push(randomValue(rng, depth + 1));
    if (rng.bool(0.1)) array.length += 3; // holes
    return array;
  }
  if (r < 82) {
    // An object of realistic (or odd) fields with random values.
    const object = rng.bool(0.1) ? Object.create(null) : {};
    const n = rng.int(0, 6);
    for (let i = 0; i < n; i++) {
      const key = rng.bool(0.85) ? rng.pick(FIELD_NAMES) : rng.pick(ODD_KEYS);
      Object.defineProperty(object, key, { value: randomValue(rng, depth + 1), enumerable: true, writable: true, configurable: true });
    }
    if (rng.bool(0.05)) object[Symbol("sym")] = 1;
    return object;
  }
  const family = rng.int(0, 11);
  if (EXCLUDE.has("throwing") && family <= 2) return randomLeaf(rng);
  if (EXCLUDE.has("deep") && family === 3) return randomLeaf(rng);
  if (EXCLUDE.has("cyclic") && family === 8) return randomLeaf(rng);
  switch (family) {
    case 0:
      return throwingGetterObject(rng);
    case 1:
    case 2:
      return throwingProxy(rng);
    case 3:
      return deepNest(rng, rng.pick([16, 64, 200, 1000, 5000]));
    case 4:
      return rng.pick([new Uint8Array([1, 2, 3]), new Float64Array([NaN, 1]), new ArrayBuffer(4), new DataView(new ArrayBuffer(2))]);
    case 5:
      return rng.pick([new Map([["customerId", "fz-cust"]]), new Set([1, 2]), new WeakMap(), /re/g, new Error("an error"), Promise.resolve(1)]);
    case 6:
      return rng.pick([new String("fz-cust"), new Number(1), new Boolean(false), Object(1n), Object(Symbol("boxed"))]);
    case 7:
      return label(
        {
          toJSON() {
            throw new Error("toJSON throws");
          },
          valueOf() {
            throw new Error("valueOf throws");
          },
          toString() {
            throw new Error("toString throws");
          },
          [Symbol.toPrimitive]() {
            throw new Error("toPrimitive throws");
          },
        },
        "{ toJSON/valueOf/toString/toPrimitive throw }",
      );
    case 8: {
      const cyclic = { customerId: "fz-cust" };
      cyclic.metadata = cyclic;
      cyclic.dimensions = cyclic;
      return label(cyclic, "{ customerId, metadata: <self>, dimensions: <self> }");
    }
    case 9:
      return Object.freeze({ customerId: randomValue(rng, depth + 1), amount: randomValue(rng, depth + 1) });
    case 10: {
      const inherited = Object.create({ customerId: "fz-cust", currencyId: CURRENCY, amount: 1, idempotencyKey: "inh" });
      return label(inherited, "Object.create({ customerId, currencyId, amount, idempotencyKey }) (inherited fields only)");
    }
    default:
      return new Array(rng.int(0, 3)).fill(undefined).map(() => ({ [rng.pick(FIELD_NAMES)]: randomLeaf(rng) }));
  }
}

// ---------------------------------------------------------------------------
// Valid and near-valid inputs
// ---------------------------------------------------------------------------

const CUST = "fz-cust";
const cap = (list, item, max = 64) => {
  if (item === undefined || item === null || list.includes(item)) return;
  list.push(item);
  if (list.length > max) list.shift();
};

/** Ids the seeded state and successful calls produced, so near-valid inputs hit real records. */
const known = {
  grantIds: [],
  reservationIds: [],
  rechargeIds: [],
  subscriptionIds: [],
  ledgerCursors: [],
  grantCursors: [],
};

function harvest(result) {
  if (result === null || typeof result !== "object") return;
  if (typeof result.id === "string" && "consumedAmount" in result) cap(known.grantIds, result.id);
  if (typeof result.reservationId === "string") cap(known.reservationIds, result.reservationId);
  if (result.subscription && typeof result.subscription.id === "string") cap(known.subscriptionIds, result.subscription.id);
  if (typeof result.nextCursor === "string") cap(Array.isArray(result.grants) ? known.grantCursors : known.ledgerCursors, result.nextCursor);
  if (Array.isArray(result.events)) {
    for (const event of result.events) {
      if (event && typeof event.rechargeId === "string") cap(known.rechargeIds, event.rechargeId);
      if (event && typeof event.grantId === "string") cap(known.grantIds, event.grantId);
    }
  }
  if (Array.isArray(result.grants)) for (const grant of result.grants) if (grant && typeof grant.id === "string") cap(known.grantIds, grant.id);
}

function validInput(method, rng, n) {
  const resourceId = rng.pick(["ws-1", "ws-1", "ws-2", null, undefined]);
  const scope = { customerId: CUST, ...(resourceId === undefined ? {} : { resourceId }) };
  const currency = rng.bool(0.8) ? { currencyId: CURRENCY } : { creditTypeId: CURRENCY };
  const pickOr = (list, fallback) => (list.length > 0 && rng.bool(0.9) ? rng.pick(list) : fallback);
  switch (method) {
    case "provisionSubscription":
      return { ...scope, resourceId: rng.pick(["ws-1", "ws-2", "ws-3", null]), planId: PLAN, startDate: rng.pick([T0, "2026-03-01T00:00:00.000Z", new Date(T0 - MS_DAY)]) };
    case "grantCredits":
      return {
        ...scope,
        ...currency,
        amount: rng.pick([1, 5, "0.5", 12.25]),
        displayName: "fuzz grant",
        grantType: rng.pick(["PAID", "PROMOTIONAL"]),
        priority: rng.int(0, 3),
        effectiveAt: T0,
        expireAt: T0 + 30 * MS_DAY,
        comment: "fuzz",
        metadata: { source: "fuzz" },
        idempotencyKey: `g-${n}`,
      };
    case "voidCreditGrant":
      return { id: pickOr(known.grantIds, "00000000-0000-4000-8000-000000000000") };
    case "reportUsage":
      return rng.bool()
        ? { ...scope, featureId: FEATURE, value: rng.pick([1, 2, "0.5"]), idempotencyKey: `u-${n}`, createdAt: T0, requireBalance: rng.bool() }
        : { ...scope, featureId: FEATURE_FORMULA, value: 1, idempotencyKey: `u-${n}`, dimensions: { a: rng.int(0, 5), b: rng.pick([1, "2", 0.5]), model: "m1" } };
    case "consumeCredits":
      return { ...scope, ...currency, amount: rng.pick([1, "0.25", 3]), idempotencyKey: `c-${n}`, createdAt: T0, requireBalance: rng.bool() };
    case "getCreditEntitlement":
      return { ...scope, ...currency, requestedUsage: rng.pick([0, 5, "1.5", 10_000]) };
    case "estimateUsageCost":
      return rng.bool()
        ? { ...scope, featureId: FEATURE, value: 300 }
        : { ...scope, featureId: FEATURE_FORMULA, value: 1, dimensions: { a: 10, b: 5 } };
    case "getCreditBalance":
      return { ...scope, ...currency };
    case "getCreditLedger":
      return {
        ...scope,
        currencyId: CURRENCY,
        eventType: rng.pick([["CREDITS_GRANTED"], ["CREDITS_CONSUMED", "CREDITS_VOIDED"], []]),
        limit: rng.pick([1, 10, 100, 1000]),
        ...(rng.bool() && known.ledgerCursors.length > 0 ? { cursor: rng.pick(known.ledgerCursors) } : {}),
        order: rng.pick(["ASC", "DESC"]),
      };
    case "getCreditGrants":
      return {
        ...scope,
        currencyId: CURRENCY,
        limit: rng.pick([1, 5, 100]),
        ...(rng.bool() && known.grantCursors.length > 0 ? { cursor: rng.pick(known.grantCursors) } : {}),
      };
    case "getCreditUsage":
      return {
        ...scope,
        ...currency,
        startDate: rng.pick([T0 - MS_DAY, "2026-02-01"]),
        endDate: rng.pick([T0 + MS_DAY, "2026-04-01T00:00:00.000Z"]),
        groupBy: rng.pick([["featureId"], ["featureId", "model"], []]),
        granularity: rng.pick(["HOUR", "DAY", "MONTH"]),
      };
    case "transferSubscriptionToResource":
      return { subscriptionId: pickOr(known.subscriptionIds, "sub-unknown"), destinationResourceId: `ws-t-${rng.int(0, 20)}` };
    case "saveAutomaticRechargeConfiguration":
      return {
        customerId: CUST,
        ...currency,
        isEnabled: rng.bool(0.7),
        thresholdType: "CREDIT_AMOUNT",
        thresholdValue: rng.pick([10, 100, "20"]),
        targetBalance: rng.pick([500, "1000"]),
        maxSpendLimit: rng.pick([5000, null, "100000"]),
        grantExpirationPeriod: rng.pick(["1_MONTH", "1_YEAR"]),
      };
    case "getAutomaticRechargeConfiguration":
      return { customerId: CUST, ...currency };
    case "reserveCredits":
      return { ...scope, ...currency, amount: rng.pick([1, 2, "0.5"]), ttlMs: rng.pick([1, 60_000, 604_800_000]), idempotencyKey: `r-${n}` };
    case "settleReservation":
      return { reservationId: pickOr(known.reservationIds, "res-unknown"), amount: rng.pick([0, 0.5, 1]) };
    case "releaseReservation":
      return { reservationId: pickOr(known.reservationIds, "res-unknown") };
    case "confirmRecharge":
      return { rechargeId: pickOr(known.rechargeIds, "rch-unknown") };
    case "failRecharge":
      return { rechargeId: pickOr(known.rechargeIds, "rch-unknown"), reason: rng.pick(["card declined", "", undefined]) };
    default:
      throw new Error(`no valid input for ${method}`);
  }
}

/** A valid input with one field changed, removed or added; or a plain random value. */
function fuzzArgument(method, rng, n) {
  const r = rng.int(0, 99);
  if (r < 30) return { kind: "random", arg: randomValue(rng) };
  if (r < 35) return { kind: "no-arg", arg: undefined };
  const base = validInput(method, rng, n);
  const keys = Object.keys(base);
  if (r < 65) {
    const key = rng.bool(0.9) && keys.length > 0 ? rng.pick(keys) : rng.pick(FIELD_NAMES);
    return { kind: "mutate", arg: { ...base, [key]: randomValue(rng) } };
  }
  if (r < 78) {
    const copy = { ...base };
    delete copy[rng.pick(keys)];
    return { kind: "remove", arg: copy };
  }
  if (r < 88) {
    const key = rng.bool(0.5) ? rng.pick(FIELD_NAMES) : rng.pick([...ODD_KEYS, "unknownField", "customer_id", "CustomerId"]);
    const copy = { ...base };
    Object.defineProperty(copy, key, { value: randomValue(rng), enumerable: true, writable: true, configurable: true });
    return { kind: "extra", arg: copy };
  }
  if (r < 94) {
    // Two fields mutated at once.
    const copy = { ...base };
    for (let i = 0; i < 2; i++) copy[rng.pick(keys)] = randomValue(rng);
    return { kind: "mutate2", arg: copy };
  }
  return { kind: "valid", arg: base };
}

// ---------------------------------------------------------------------------
// Printing without running hostile code
// ---------------------------------------------------------------------------

function describe(value, depth = 0, seen = new Set()) {
  try {
    if (value === null || value === undefined || typeof value === "boolean") return String(value);
    if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
    if (typeof value === "bigint") return `${value}n`;
    if (typeof value === "symbol") return value.toString();
    if (typeof value === "string") {
      const shown = value.length > 80 ? `${value.slice(0, 40)}…(${value.length} chars)` : value;
      return JSON.stringify(shown);
    }
    if (hostile.has(value)) return hostile.get(value);
    if (typeof value === "function") return `[function ${value.name || "anonymous"}]`;
    if (seen.has(value)) return "<cycle>";
    if (depth > 6) return Array.isArray(value) ? "[…]" : "{…}";
    seen.add(value);
    if (Array.isArray(value)) {
      const items = [];
      for (let i = 0; i < Math.min(value.length, 8); i++) items.push(i in value ? describe(value[i], depth + 1, seen) : "<hole>");
      if (value.length > 8) items.push(`…(${value.length})`);
      return `[${items.join(", ")}]`;
    }
    const proto = Object.getPrototypeOf(value);
    const kind = proto === null ? "null-proto " : proto === Object.prototype ? "" : `${proto?.constructor?.name ?? "?"} `;
    if (value instanceof Date) return `Date(${Number.isNaN(value.getTime()) ? "Invalid" : value.toISOString()})`;
    const parts = [];
    for (const key of Reflect.ownKeys(value).slice(0, 12)) {
      const descriptor = Object.getOwnPropertyDescriptor(value, key);
      const name = typeof key === "symbol" ? `[${key.toString()}]` : JSON.stringify(key);
      parts.push(descriptor.get ? `${name}: <getter>` : `${name}: ${describe(descriptor.value, depth + 1, seen)}`);
    }
    return `${kind}{${parts.join(", ")}}`;
  } catch (error) {
    return `<unprintable: ${error?.message ?? error}>`;
  }
}

function describeError(error) {
  if (!(error instanceof Error)) return `non-Error ${typeof error}: ${describe(error)}`;
  return `${error.constructor?.name}{name=${JSON.stringify(error.name)}, code=${describe(error.code)}, message=${JSON.stringify(String(error.message).slice(0, 300))}}`;
}

// ---------------------------------------------------------------------------
// The outcome contract
// ---------------------------------------------------------------------------

/** Calls `fn(arg)` and returns null if the contract holds, else a violation description. */
async function checkCall(invoke) {
  let returned;
  try {
    returned = invoke();
  } catch (error) {
    const thrown = error instanceof WebAssembly.RuntimeError ? "WebAssembly.RuntimeError" : error instanceof Error ? error.constructor?.name ?? "Error" : `non-Error ${typeof error}`;
    if (thrown === "WebAssembly.RuntimeError") moduleTrapped = true;
    return { what: `synchronous throw (${thrown})${thrown === "WebAssembly.RuntimeError" ? panicNote() : ""}`, error: describeError(error) };
  }
  if (!(returned instanceof Promise)) return { what: `returned ${describe(returned)} instead of a Promise` };
  // Over a synchronous kv every call settles within a few ticks; a Rust panic inside the
  // async part escapes as an uncaught exception and leaves the Promise pending forever.
  let timer;
  const watchdog = new Promise((resolve) => {
    timer = setTimeout(() => resolve(NEVER_SETTLED), SETTLE_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([returned, watchdog]);
    if (result === NEVER_SETTLED) {
      moduleTrapped = true;
      return { what: `Promise never settled (waited ${SETTLE_TIMEOUT_MS} ms)${panicNote()}` };
    }
    harvest(result);
    return null;
  } catch (error) {
    return contractOfRejection(error);
  } finally {
    clearTimeout(timer);
  }
}

const NEVER_SETTLED = Symbol("never settled");
/**
 * Set once a call trapped the module (a RuntimeError, or a Promise that never
 * settled): every later call would hang or trap too, so the loops stop there
 * and the test fails with what it found, instead of waiting out every call.
 */
let moduleTrapped = false;
const SETTLE_TIMEOUT_MS = 500;

/**
 * `promise`, or a rejection once `ms` pass: after a Rust panic the module is
 * trapped and later Promises may never settle, which must fail the test
 * (with the panic's message), never hang it.
 */
async function withinDeadline(promise, what, ms = 10_000) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} never settled (waited ${ms} ms)${panicNote()}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rust panic messages the library's panic handler printed (console.error), newest last. */
const panics = [];
let panicsReported = 0;
const panicNote = () => {
  if (panics.length === panicsReported) return "";
  const note = `; Rust panic logged: ${JSON.stringify(panics.slice(panicsReported).join(" | "))}`;
  panicsReported = panics.length;
  return note;
};
function capturePanics() {
  const original = console.error;
  console.error = (...args) => {
    const text = args.map((a) => (typeof a === "string" ? a : String(a?.message ?? a))).join(" ");
    const match = /panicked at ([^\n]*)\n([^\n]*)/.exec(text);
    if (match) panics.push(`${match[1]} ${match[2]}`);
    original(...args);
  };
  return () => {
    console.error = original;
  };
}

function contractOfRejection(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    moduleTrapped = true;
    return { what: `WebAssembly.RuntimeError (Rust panic)${panicNote()}`, error: describeError(error) };
  }
  if (!(error instanceof Error)) return { what: "non-Error rejection", error: describeError(error) };
  if (error.name !== "CreditPoolsError") return { what: `rejection name ${JSON.stringify(error.name)}, not "CreditPoolsError"`, error: describeError(error) };
  if (typeof error.code !== "string" || error.code.length === 0) return { what: "rejection without a non-empty string code", error: describeError(error) };
  return null;
}

function memoryKv(map = new Map()) {
  return { map, kv: { get: (key) => map.get(key), put: (key, value) => void map.set(key, value), delete: (key) => void map.delete(key) } };
}

/** Collects violations: counts per kind over all, keeps the first few and the first of each kind. */
function violationLog() {
  const kinds = new Map();
  const first = [];
  let count = 0;
  return {
    get count() {
      return count;
    },
    record(v) {
      count += 1;
      const kind = `${v.method}: ${v.what}`;
      const seen = kinds.get(kind);
      if (seen) seen.count += 1;
      else kinds.set(kind, { count: 1, example: v });
      if (first.length < MAX_REPORTED) first.push(v);
    },
    report(title) {
      const show = (v) => [
        `  #${v.index} ${v.method} (${v.kind}${v.concurrent ? ", concurrent batch" : ""}): ${v.what}`,
        `     arg:   ${v.arg}`,
        ...(v.error ? [`     error: ${v.error}`] : []),
      ];
      const lines = [`${title}: ${count} contract violation(s) (seed ${SEED}; rerun with CREDIT_POOLS_FUZZ_SEED=${SEED})`];
      lines.push(`first ${first.length}, in call order:`);
      for (const v of first) lines.push(...show(v));
      lines.push("first of each kind (count × method: violation):");
      for (const [kind, { count: n, example }] of kinds) {
        lines.push(`  ${n} × ${kind}`);
        lines.push(...show(example).map((line) => `  ${line}`));
      }
      return lines.join("\n");
    },
  };
}

/** Fails fast when an earlier test left the shared WebAssembly module trapped. */
async function assertModuleAlive(when) {
  try {
    const probe = new CreditLedger({ kv: memoryKv().kv, catalog: CATALOG });
    await withinDeadline(probe.getCreditBalance({ customerId: "probe", currencyId: CURRENCY }), "a probe call");
    probe.free();
  } catch (error) {
    assert.fail(`the WebAssembly module is unusable ${when} (seed ${SEED}): ${describeError(error)}`);
  }
}

// ---------------------------------------------------------------------------
// Constructor
// ---------------------------------------------------------------------------

function validOptions(rng) {
  const { kv } = memoryKv();
  const options = { kv, catalog: structuredClone(CATALOG), now: () => T0 };
  if (rng.bool(0.3)) options.keyPrefix = rng.pick(["credit-pools", "tenant-1", "a:b.c_d-e"]);
  if (rng.bool(0.2)) options.usageLowThresholds = [80, 50, 20];
  if (rng.bool(0.2)) options.onEvent = () => {};
  if (rng.bool(0.1)) options.onRecharge = async () => {};
  return options;
}

const FORMULAS = ["1.1*a + 2*b", "", " ", "a", "1", "-1", "((((a))))", "(", ")", "a +", "* a", "a/0", "a / b", "min(a)", "min()", "max(a, b, 1)", "min(a,", "1e308*1e308", "99999999999999999999*a", "0.0000001*a", "a..b", "1..2", "a b", "💳", "\u0000", "value", "value*value*value*value", "a".repeat(1000), "(".repeat(500) + "a" + ")".repeat(500), "1+".repeat(300) + "1", "unknown_fn(a)", "a % b", "a ^ 2", "-(-(-a))", "--a", "+a"];

function mutateCatalog(rng, catalog) {
  const plan = catalog.plans[0];
  switch (rng.int(0, 9)) {
    case 0:
      catalog.currencies = randomValue(rng);
      break;
    case 1:
      catalog.plans = randomValue(rng);
      break;
    case 2:
      catalog.currencies[0][rng.pick(["id", "displayName"])] = randomValue(rng);
      break;
    case 3:
      plan[rng.pick(["id", "credits", "creditRates"])] = randomValue(rng);
      break;
    case 4:
      plan.credits[0][rng.pick(["currencyId", "amount", "cadence", "hasSoftLimit"])] = randomValue(rng);
      break;
    case 5:
      plan.creditRates[rng.int(0, 1)][rng.pick(["featureId", "currencyId", "amount", "costFormula"])] = randomValue(rng);
      break;
    case 6:
    case 7:
      plan.creditRates[1].costFormula = rng.bool(0.8) ? rng.pick(FORMULAS) : randomString(rng);
      break;
    case 8:
      // Duplicates and many entries.
      catalog.currencies.push(rng.bool() ? { id: CURRENCY } : { id: randomString(rng) });
      catalog.plans.push(rng.bool() ? structuredClone(CATALOG.plans[0]) : { id: randomString(rng), creditRates: randomValue(rng) });
      break;
    default:
      catalog[rng.pick(["currencies", "plans", "extra"])] = undefined;
  }
}

function fuzzOptions(rng) {
  const r = rng.int(0, 99);
  if (r < 15) return { kind: "random", options: randomValue(rng) };
  const options = validOptions(rng);
  if (r < 45) {
    mutateCatalog(rng, options.catalog);
    return { kind: "catalog", options };
  }
  const key = rng.pick(["kv", "catalog", "now", "keyPrefix", "onEvent", "onRecharge", "usageLowThresholds", "unknown"]);
  if (r < 60) {
    delete options[key];
    return { kind: `remove ${key}`, options };
  }
  if (r < 75) {
    options[key] = randomValue(rng);
    return { kind: `mutate ${key}`, options };
  }
  // Plausible but broken callables.
  const special = {
    kv: [{ get: 1, put: () => {} }, { get: () => null }, { put: () => {} }, { get: () => { throw new Error("kv get"); }, put: () => {} }, { get: () => 42, put: () => {} }, { get: () => Promise.reject(new Error("kv down")), put: () => Promise.reject("plain string") }, { get: () => "not json", put: () => {} }],
    now: [() => NaN, () => Infinity, () => -1, () => 8.64e15 + 1, () => "2026-03-01", () => new Date(NaN), () => { throw new Error("clock"); }, () => undefined, () => 1.5, () => 2n ** 70n, () => new Proxy(new Date(T0), {}), () => Object.assign(new Date(T0), { getTime() { throw new Error("getTime"); } })],
    keyPrefix: ["", "a".repeat(64), "a".repeat(65), "bad prefix", "ü", "a/b", "\u0000", ":"],
    usageLowThresholds: [[], [101], [-1], [NaN], [50, 50], Array(1000).fill(1), ["80"], [0, 100], [1e308]],
    onEvent: [() => { throw new Error("onEvent"); }, 1, "fn"],
    onRecharge: [() => { throw new Error("onRecharge"); }, () => Promise.reject(undefined), 1],
  };
  const choices = special[key];
  if (!choices) {
    options[key] = randomValue(rng);
    return { kind: `mutate ${key}`, options };
  }
  options[key] = rng.pick(choices);
  return { kind: `special ${key}`, options };
}

test(`new CreditLedger(options) throws only CreditPoolsErrors under ${CONSTRUCTOR_CASES} fuzzed options (seed ${SEED})`, { timeout: 300_000 }, async (t) => {
  await assertModuleAlive("before the constructor fuzz");
  t.after(capturePanics());
  const rng = makeRng(SEED ^ 0xc0ffee);
  const violations = violationLog();
  const record = (v) => violations.record(v);
  let built = 0;
  let refused = 0;
  const started = performance.now();
  for (let index = 0; index < CONSTRUCTOR_CASES && !moduleTrapped; index++) {
    const { kind, options } = fuzzOptions(rng);
    let ledger;
    try {
      ledger = new CreditLedger(options);
    } catch (error) {
      refused += 1;
      const violation = contractOfRejection(error);
      if (violation) record({ index, method: "constructor", kind, arg: describe(options), ...violation, what: `constructor threw: ${violation.what}` });
      continue;
    }
    if (!(ledger instanceof CreditLedger)) {
      record({ index, method: "constructor", kind, arg: describe(options), what: `returned ${describe(ledger)}` });
      continue;
    }
    built += 1;
    // A ledger that was accepted must also keep the contract when used.
    const uses = [
      ["getCreditBalance", { customerId: "c1", resourceId: "ws-1", currencyId: CURRENCY }],
      ["provisionSubscription", { customerId: "c1", resourceId: "ws-1", planId: PLAN }],
      ["reportUsage", { customerId: "c1", resourceId: "ws-1", featureId: rng.pick([FEATURE, FEATURE_FORMULA]), value: 2, dimensions: { a: 3, b: 1 } }],
      ["estimateUsageCost", { customerId: "c1", resourceId: "ws-1", featureId: FEATURE_FORMULA, value: 1, dimensions: { a: rng.pick([1, 1e300, -5, "x"]), b: 0 } }],
    ];
    for (const [method, arg] of uses) {
      const violation = await checkCall(() => ledger[method](arg));
      if (violation) record({ index, method: `constructed ledger .${method}`, kind, arg: `options ${describe(options)}; input ${describe(arg)}`, ...violation });
    }
    try {
      await withinDeadline(ledger.flush(), "flush() of a constructed ledger");
    } catch (error) {
      const violation = contractOfRejection(error);
      if (violation) record({ index, method: "constructed ledger .flush", kind, arg: describe(options), ...violation });
    }
    ledger.free();
  }
  const elapsedMs = performance.now() - started;
  console.log(`fuzz: constructor ${CONSTRUCTOR_CASES} cases in ${(elapsedMs / 1000).toFixed(1)} s: ${built} built, ${refused} refused`);
  assert.ok(violations.count === 0, violations.report("constructor"));
  assert.ok(built > 0 && refused > 0, `both outcomes occur (seed ${SEED})`);
});

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

test(`CreditLedger methods honour the error contract under ${TOTAL_CALLS} fuzzed calls (seed ${SEED})`, { timeout: 600_000 }, async (t) => {
  await assertModuleAlive("before the method fuzz");
  t.after(capturePanics());
  const rng = makeRng(SEED);
  const { map, kv } = memoryKv();
  let nowMs = T0;
  const ledger = new CreditLedger({ kv, catalog: CATALOG, now: () => nowMs });

  // Seeded state: a subscription (1000 credits), a grant, usage, a reservation, a pending recharge.
  harvest(await ledger.provisionSubscription({ customerId: CUST, resourceId: "ws-1", planId: PLAN }));
  harvest(await ledger.provisionSubscription({ customerId: CUST, resourceId: "ws-2", planId: PLAN }));
  harvest(await ledger.grantCredits({ customerId: CUST, resourceId: "ws-1", currencyId: CURRENCY, amount: 250, grantType: "PAID", idempotencyKey: "seed-grant" }));
  harvest(await ledger.reportUsage({ customerId: CUST, resourceId: "ws-1", featureId: FEATURE, value: 40, idempotencyKey: "seed-usage" }));
  harvest(await ledger.reportUsage({ customerId: CUST, resourceId: "ws-1", featureId: FEATURE_FORMULA, value: 1, dimensions: { a: 10, b: 5 }, idempotencyKey: "seed-formula" }));
  harvest(await ledger.reserveCredits({ customerId: CUST, resourceId: "ws-1", currencyId: CURRENCY, amount: 30, ttlMs: 3_600_000, idempotencyKey: "seed-res" }));
  harvest(await ledger.saveAutomaticRechargeConfiguration({ customerId: CUST, currencyId: CURRENCY, isEnabled: true, thresholdValue: 900, targetBalance: 1500, maxSpendLimit: 1_000_000 }));
  harvest(await ledger.consumeCredits({ customerId: CUST, resourceId: "ws-2", currencyId: CURRENCY, amount: 200, idempotencyKey: "seed-consume" }));
  harvest(await ledger.getCreditLedger({ customerId: CUST, resourceId: "ws-1", limit: 2 }));
  harvest(await ledger.getCreditGrants({ customerId: CUST, resourceId: "ws-1", limit: 1 }));
  const seeded = await ledger.getCreditBalance({ customerId: CUST, resourceId: "ws-1", currencyId: CURRENCY });
  assert.equal(seeded.currentBalance, 1000 + 250 - 40 - 21, `seeded balance (seed ${SEED})`);
  assert.equal(seeded.reservedAmount, 30);
  assert.ok(known.rechargeIds.length > 0, "the seeded consumption triggered a recharge");

  const violations = violationLog();
  let trappedAt = null;
  const record = (v) => {
    if (/RuntimeError/.test(v.what)) {
      // Once the module has trapped, every later call fails the same way: count those apart.
      if (trappedAt === null) trappedAt = v.index;
      else if (v.index !== trappedAt) return violations.record({ ...v, method: "*", what: `WebAssembly.RuntimeError after the module trapped at call #${trappedAt}` });
    }
    violations.record(v);
  };
  const calls = Object.fromEntries(METHODS.map((m) => [m, 0]));
  const outcomes = { resolved: 0, rejected: 0 };
  const codes = new Map();
  let concurrentCalls = 0;

  const started = performance.now();
  let index = 0;
  while (index < TOTAL_CALLS && !moduleTrapped) {
    // Alternate sequential runs and small concurrent batches.
    const concurrent = rng.bool(0.3);
    const size = Math.min(concurrent ? rng.int(2, 8) : rng.int(1, 16), TOTAL_CALLS - index);
    const jobs = [];
    for (let j = 0; j < size; j++, index++) {
      const method = METHODS[index % METHODS.length];
      const { kind, arg } = fuzzArgument(method, rng, index);
      calls[method] += 1;
      jobs.push({ index, method, kind, arg });
    }
    // Occasionally move the clock so reservations and grants expire mid-run.
    if (rng.bool(0.01)) nowMs += rng.int(0, 2 * 3_600_000);
    const run = async (job) => {
      if (TRACE) process.stderr.write(`#${job.index} ${job.method} ${job.kind} ${describe(job.arg)}\n`);
      let settledError = null;
      const violation = await checkCall(() => {
        const p = ledger[job.method](job.arg);
        if (p instanceof Promise) p.then(() => outcomes.resolved++, (e) => ((settledError = e), outcomes.rejected++));
        return p;
      });
      if (settledError && typeof settledError.code === "string") codes.set(settledError.code, (codes.get(settledError.code) ?? 0) + 1);
      if (violation) record({ ...job, ...violation, arg: describe(job.arg), concurrent });
    };
    if (concurrent) {
      concurrentCalls += jobs.length;
      await Promise.all(jobs.map(run));
    } else {
      for (const job of jobs) await run(job);
    }
  }
  const flushViolation = await checkCall(() => ledger.flush());
  if (flushViolation) record({ index, method: "flush", kind: "after fuzzing", arg: "(none)", ...flushViolation });
  const elapsedMs = performance.now() - started;

  console.log(
    `fuzz: seed ${SEED}, ${TOTAL_CALLS} calls (${concurrentCalls} in concurrent batches) in ${(elapsedMs / 1000).toFixed(1)} s; ` +
      `resolved ${outcomes.resolved}, rejected ${outcomes.rejected}; kv keys ${map.size}`,
  );
  console.log(`fuzz: calls per method ${JSON.stringify(calls)}`);
  console.log(`fuzz: rejection codes ${JSON.stringify(Object.fromEntries(codes))}`);

  // The instance still serves correct results: a fresh pool, exact figures.
  const fresh = `fz-fresh-${SEED}`;
  const freshCheck = async () => {
    await ledger.provisionSubscription({ customerId: fresh, resourceId: "ws-fresh", planId: PLAN });
    const usage = await ledger.reportUsage({ customerId: fresh, resourceId: "ws-fresh", featureId: FEATURE, value: 123, idempotencyKey: "fresh-1" });
    assert.equal(usage.credit.consumed, 123);
    const formula = await ledger.reportUsage({ customerId: fresh, resourceId: "ws-fresh", featureId: FEATURE_FORMULA, value: 1, dimensions: { a: 10, b: 5 }, idempotencyKey: "fresh-2" });
    assert.equal(formula.credit.consumed, 21);
    const balance = await ledger.getCreditBalance({ customerId: fresh, resourceId: "ws-fresh", currencyId: CURRENCY });
    assert.deepEqual(
      { ...balance },
      {
        customerId: fresh,
        resourceId: "ws-fresh",
        currencyId: CURRENCY,
        currentBalance: 856,
        totalGranted: 1000,
        totalConsumed: 144,
        totalExpired: 0,
        totalVoided: 0,
        reservedAmount: 0,
        availableBalance: 856,
      },
    );
  };
  let healthError = null;
  try {
    await withinDeadline(freshCheck(), "the health check after fuzzing");
  } catch (error) {
    healthError = error;
  }

  // State is consistent: a second ledger over the same store reads the same pools.
  let consistencyError = null;
  const compareLedgers = async () => {
    const second = new CreditLedger({ kv, catalog: CATALOG, now: () => nowMs });
    for (const resourceId of ["ws-1", "ws-2", null]) {
      const scope = { customerId: CUST, resourceId, currencyId: CURRENCY };
      const a = await ledger.getCreditBalance(scope);
      const b = await second.getCreditBalance(scope);
      assert.deepEqual(a, b, `balance of ${resourceId} differs between two ledgers over one kv`);
      assert.equal(a.availableBalance, Math.round((a.currentBalance - a.reservedAmount) * 1e6) / 1e6, "availableBalance = currentBalance − reservedAmount");
      assert.deepEqual(await ledger.getCreditLedger({ ...scope, limit: 1000 }), await second.getCreditLedger({ ...scope, limit: 1000 }));
      assert.deepEqual(await ledger.getCreditGrants({ ...scope, limit: 100 }), await second.getCreditGrants({ ...scope, limit: 100 }));
    }
    second.free();
  };
  try {
    await withinDeadline(compareLedgers(), "the consistency check after fuzzing");
  } catch (error) {
    consistencyError = error;
  }

  const problems = [];
  if (moduleTrapped) problems.push(`the module trapped after call #${index} of ${TOTAL_CALLS}: the run stopped there`);
  if (violations.count > 0) problems.push(violations.report("fuzzed calls"));
  if (healthError) problems.push(`after fuzzing, the instance no longer serves correct results (seed ${SEED}): ${describeError(healthError)}\n${healthError.stack ?? ""}`);
  if (consistencyError) problems.push(`after fuzzing, state is inconsistent between two ledgers over one kv (seed ${SEED}): ${describeError(consistencyError)}`);
  assert.ok(problems.length === 0, problems.join("\n\n"));
});

