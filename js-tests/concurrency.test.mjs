// Several CreditLedger instances over one store: with `kv.putIfVersion`
// (compare-and-set) no update is ever lost; without it, the README's rule (one
// writer per customer) is what prevents lost updates, and this file shows why.
// Also `kv.putMany`: an operation's writes in one atomic call.

import { describe, test } from "node:test";
import assert from "node:assert/strict";

import {
  CURRENCY,
  FEATURE,
  T0,
  clock,
  makeLedger,
  rejectsWith,
  snapshot,
  asyncKv,
  allEvents,
} from "./helpers.mjs";

/**
 * A store shared by several instances, whose calls settle on later macrotasks
 * (so operations of different instances interleave between a read and its
 * write), with compare-and-set: each key's version sits beside its value.
 */
function casKv({ map = new Map(), batch = false } = {}) {
  const versions = new Map();
  const stats = { gets: 0, puts: 0, casWrites: 0, casRefused: 0, batches: 0 };
  const later = (fn) => new Promise((resolve) => setImmediate(() => resolve(fn())));
  const kv = {
    get: (key) => {
      stats.gets += 1;
      return later(() => map.get(key));
    },
    put: (key, value) => {
      stats.puts += 1;
      return later(() => void map.set(key, value));
    },
    putIfVersion: (key, value, expected) => {
      assert.equal(typeof expected, "number");
      return later(() => {
        if ((versions.get(key) ?? 0) !== expected) {
          stats.casRefused += 1;
          return false;
        }
        stats.casWrites += 1;
        versions.set(key, expected + 1);
        map.set(key, value);
        return true;
      });
    },
  };
  if (batch) {
    kv.putMany = (entries) => {
      stats.batches += 1;
      return later(() => {
        for (const [key, value] of Object.entries(entries)) map.set(key, value);
      });
    };
  }
  return { kv, map, stats, versions };
}

const customer = (name) => ({ customerId: name, resourceId: "ws-1" });

async function fund(ledger, who, amount) {
  await ledger.grantCredits({ ...who, currencyId: CURRENCY, amount, idempotencyKey: `fund-${amount}` });
}

describe("compare-and-set: several instances over one store", () => {
  test("60 concurrent debits through three instances all apply, exactly once each", async () => {
    const { kv, map, stats } = casKv();
    const clk = clock();
    const ledgers = [0, 1, 2].map(() => makeLedger({ kv, clk }));
    const who = customer("cas-many");
    await fund(ledgers[0], who, 1000);
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, n) =>
        ledgers[n % 3].consumeCredits({ ...who, currencyId: CURRENCY, amount: 1.25, idempotencyKey: `debit-${n}` }),
      ),
    );
    // Up to 8 attempts each: some callers may be told CONFLICT (nothing written) and retry.
    const conflicted = results.filter((r) => r.status === "rejected");
    for (const r of conflicted) assert.equal(r.reason.code, "CONFLICT", r.reason.message);
    for (const r of results.filter((r) => r.status === "fulfilled")) assert.equal(r.value.amount, 1.25);
    for (let n = 0; n < 60; n += 1) {
      if (results[n].status === "rejected") {
        await ledgers[n % 3].consumeCredits({ ...who, currencyId: CURRENCY, amount: 1.25, idempotencyKey: `debit-${n}` });
      }
    }
    assert.ok(stats.casRefused > 0, "the instances did race for the same head");
    const balance = await makeLedger({ kv, clk }).getCreditBalance({ ...who, currencyId: CURRENCY });
    assert.equal(balance.totalConsumed, 75);
    assert.equal(balance.currentBalance, 925);
    const consumed = (await allEvents(ledgers[1], who)).filter((e) => e.eventType === "CREDITS_CONSUMED");
    assert.deepEqual(consumed.map((e) => e.eventId).sort(), Array.from({ length: 60 }, (_, n) => `debit-${n}`).sort());
    // Repeats answer from what was committed, whichever instance asks.
    const repeat = await ledgers[2].consumeCredits({ ...who, currencyId: CURRENCY, amount: 1.25, idempotencyKey: "debit-0" });
    assert.equal(repeat.amount, 0);
    assert.ok(map.size > 0);
  });

  test("requireBalance holds across instances: exactly 8 of 40 debits of 1.25 fit 10 credits", async () => {
    const { kv } = casKv();
    const clk = clock();
    const ledgers = [makeLedger({ kv, clk }), makeLedger({ kv, clk })];
    const who = customer("cas-hard-limit");
    await fund(ledgers[0], who, 10);
    const attempt = async (n) => {
      for (let tries = 0; tries < 20; tries += 1) {
        try {
          const input = { ...who, currencyId: CURRENCY, amount: 1.25, idempotencyKey: `hard-${n}`, requireBalance: true };
          await ledgers[n % 2].consumeCredits(input);
          return "admitted";
        } catch (error) {
          if (error.code === "INSUFFICIENT_CREDITS") return "refused";
          assert.equal(error.code, "CONFLICT", error.message);
        }
      }
      throw new Error("never answered");
    };
    const outcomes = await Promise.all(Array.from({ length: 40 }, (_, n) => attempt(n)));
    assert.equal(outcomes.filter((o) => o === "admitted").length, 8);
    const balance = await ledgers[1].getCreditBalance({ ...who, currencyId: CURRENCY });
    assert.equal(balance.currentBalance, 0);
    assert.equal(balance.totalConsumed, 10);
  });

  test("an instance with an old head never overwrites a newer one: it re-reads and applies on top", async () => {
    const { kv, stats } = casKv();
    const clk = clock();
    const [a, b] = [makeLedger({ kv, clk }), makeLedger({ kv, clk })];
    const who = customer("cas-interleave");
    await fund(a, who, 100);
    await Promise.all([
      a.consumeCredits({ ...who, currencyId: CURRENCY, amount: 30, idempotencyKey: "a-1" }),
      b.consumeCredits({ ...who, currencyId: CURRENCY, amount: 20, idempotencyKey: "b-1" }),
    ]);
    assert.ok(stats.casRefused >= 1, "one of the two read the head the other replaced");
    const balance = await b.getCreditBalance({ ...who, currencyId: CURRENCY });
    assert.deepEqual([balance.currentBalance, balance.totalConsumed], [50, 50]);
  });

  test("CONFLICT after the bounded attempts: nothing is committed, the error says so", async () => {
    const map = new Map();
    let refusals = 0;
    const kv = {
      get: (key) => map.get(key),
      put: (key, value) => void map.set(key, value),
      // Someone else always got there first.
      putIfVersion: () => {
        refusals += 1;
        return false;
      },
    };
    const ledger = makeLedger({ kv, clk: clock() });
    const before = snapshot(map);
    const error = await rejectsWith(
      ledger.consumeCredits({ ...customer("cas-never"), currencyId: CURRENCY, amount: 1, idempotencyKey: "never" }),
      "CONFLICT",
    );
    assert.match(error.message, /8 attempts/);
    assert.equal(refusals, 8);
    // No head, no page, no idempotency record. Every attempt names its new grants
    // alike, so the 8 attempts left one index hint for the overdraft grant the
    // debit would have opened: it names a scope whose head does not hold it, and
    // lookups verify against the head (a void of that id answers NOT_FOUND).
    const written = snapshot(map).filter(([key]) => !before.some(([k]) => k === key));
    assert.equal(written.length, 1, JSON.stringify(written));
    assert.match(written[0][0], /^credit-pools\/g\//);
    const hintedId = written[0][0].split(":").pop();
    await rejectsWith(ledger.voidCreditGrant({ id: hintedId }), "NOT_FOUND");
  });

  test("putIfVersion must answer true or false; anything else is STORE_ERROR and nothing commits", async () => {
    const map = new Map();
    const kv = { get: (key) => map.get(key), put: (key, value) => void map.set(key, value), putIfVersion: () => "yes" };
    const ledger = makeLedger({ kv, clk: clock() });
    await rejectsWith(ledger.grantCredits({ ...customer("cas-bad"), currencyId: CURRENCY, amount: 5 }), "STORE_ERROR");
    assert.equal(map.size, 1, "only the grant's index record (a hint lookups verify) was written");
    assert.deepEqual([...map.keys()].filter((k) => k.endsWith("/h")), []);
  });

  test("a kv whose putIfVersion is not a function is refused at construction", () => {
    assert.throws(
      () => makeLedger({ kv: { get() {}, put() {}, putIfVersion: 3 } }),
      (error) => error.code === "INVALID_ARGUMENT" && /putIfVersion/.test(error.message),
    );
  });
});

describe("without compare-and-set, one writer per customer is required", () => {
  test("two instances interleaving over one async store lose an update: why the README asks for one writer", async () => {
    const { kv } = asyncKv();
    const clk = clock();
    const [a, b] = [makeLedger({ kv, clk }), makeLedger({ kv, clk })];
    const who = customer("no-cas");
    await fund(a, who, 100);
    await Promise.all([
      a.consumeCredits({ ...who, currencyId: CURRENCY, amount: 30, idempotencyKey: "a-1" }),
      b.consumeCredits({ ...who, currencyId: CURRENCY, amount: 20, idempotencyKey: "b-1" }),
    ]);
    const balance = await a.getCreditBalance({ ...who, currencyId: CURRENCY });
    assert.notEqual(balance.totalConsumed, 50, "both read the same head and one write replaced the other");
    // One instance (or one Durable Object) serialises the same two debits.
    const { kv: single } = asyncKv();
    const only = makeLedger({ kv: single, clk });
    await fund(only, who, 100);
    await Promise.all([
      only.consumeCredits({ ...who, currencyId: CURRENCY, amount: 30, idempotencyKey: "a-1" }),
      only.consumeCredits({ ...who, currencyId: CURRENCY, amount: 20, idempotencyKey: "b-1" }),
    ]);
    assert.equal((await only.getCreditBalance({ ...who, currencyId: CURRENCY })).totalConsumed, 50);
  });
});

describe("putMany: an operation's writes in one atomic call", () => {
  function batchKv() {
    const map = new Map();
    const calls = [];
    const kv = {
      get: (key) => map.get(key),
      put: (key, value) => {
        calls.push(["put", key]);
        map.set(key, value);
      },
      putMany: (entries) => {
        assert.equal(Object.getPrototypeOf(entries), Object.prototype);
        for (const value of Object.values(entries)) assert.equal(typeof value, "string");
        calls.push(["putMany", Object.keys(entries)]);
        for (const [key, value] of Object.entries(entries)) map.set(key, value);
      },
    };
    return { kv, map, calls };
  }

  test("a keyed reportUsage that flushes a ledger page and evicts a key is one write call", async () => {
    const { kv, map, calls } = batchKv();
    const clk = clock();
    const ledger = makeLedger({ kv, clk });
    const who = customer("batch");
    await ledger.provisionSubscription({ ...who, planId: "plan-basic" });
    // 31 more events and 16 keys: the next usage flushes page 0 and evicts the first key.
    for (let n = 0; n < 31; n += 1) await ledger.reportUsage({ ...who, featureId: FEATURE, value: 1, idempotencyKey: `u-${n}` });
    calls.length = 0;
    const ack = await ledger.reportUsage({ ...who, featureId: FEATURE, value: 2, idempotencyKey: "u-last" });
    assert.equal(ack.credit.consumed, 2);
    assert.equal(calls.length, 1, JSON.stringify(calls));
    const [kind, keys] = calls[0];
    assert.equal(kind, "putMany");
    assert.deepEqual(keys.map((k) => k.replace(/^.*\/(l\/\d+|i\/.*|h)$/, "$1")).sort(), ["h", "i/4:u-15", "l/0"].sort());
    // What the batch wrote reads back in a second instance.
    const other = makeLedger({ kv, clk });
    const events = await allEvents(other, who);
    assert.equal(events.length, 33);
    assert.equal((await other.getCreditBalance({ ...who, currencyId: CURRENCY })).currentBalance, 100 - 31 - 2);
    const repeat = await other.reportUsage({ ...who, featureId: FEATURE, value: 1, idempotencyKey: "u-15" });
    assert.equal(repeat.credit.consumed, 0, "the evicted key's record was in the batch");
    assert.ok(map.size > 0);
  });

  test("a putMany that throws commits nothing", async () => {
    const { kv, map } = batchKv();
    const working = kv.putMany;
    let full = false;
    kv.putMany = (entries) => {
      if (full) throw new Error("disk full");
      return working(entries);
    };
    const ledger = makeLedger({ kv, clk: clock() });
    const who = customer("batch-fails");
    await ledger.grantCredits({ ...who, currencyId: CURRENCY, amount: 10 });
    const before = snapshot(map);
    full = true;
    // A grant writes its index record and the head: two entries, one batch.
    const error = await rejectsWith(ledger.grantCredits({ ...who, currencyId: CURRENCY, amount: 5 }), "STORE_ERROR");
    assert.match(error.message, /disk full/);
    assert.deepEqual(snapshot(map), before);
    assert.equal((await ledger.getCreditBalance({ ...who, currencyId: CURRENCY })).currentBalance, 10);
  });

  test("with putIfVersion too: the before-writes go in one batch, the head by compare-and-set", async () => {
    const { kv, stats } = casKv({ batch: true });
    const clk = clock();
    const ledger = makeLedger({ kv, clk });
    const who = customer("batch-cas");
    await ledger.provisionSubscription({ ...who, planId: "plan-basic" });
    for (let n = 0; n < 31; n += 1) await ledger.reportUsage({ ...who, featureId: FEATURE, value: 1, idempotencyKey: `u-${n}` });
    const [batches, casWrites, puts] = [stats.batches, stats.casWrites, stats.puts];
    await ledger.reportUsage({ ...who, featureId: FEATURE, value: 1, idempotencyKey: "u-last" });
    assert.deepEqual([stats.batches - batches, stats.casWrites - casWrites, stats.puts - puts], [1, 1, 0]);
    assert.equal((await ledger.getCreditBalance({ ...who, currencyId: CURRENCY })).currentBalance, 68);
  });
});

test("T0 is the fixture epoch", () => assert.equal(T0, Date.parse("2026-03-01T00:00:00.000Z")));
