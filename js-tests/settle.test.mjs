// How a method's Promise settles. Over a kv that answers synchronously the
// whole operation runs inside the call (one poll, no executor): the store
// holds the write when the method returns and the Promise is already settled.
// Over a Promise-returning kv the same call waits for the store. Either way
// the method returns a Promise and never throws, calls on one pool apply in
// the order they were made, and `onEvent` runs after the call, never inside it.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CreditLedger } from "credit-pools";
import { CATALOG, CURRENCY, FEATURE, asyncKv, clock, makeLedger, memoryKv, rejectsWith, snapshot } from "./helpers.mjs";

const CUSTOMER = "cust-settle";
const RESOURCE = "ws-settle";
const scope = { customerId: CUSTOMER, resourceId: RESOURCE };

/** Microtask turns `stateOf` waits: enough for an already settled Promise's reactions, far too few for a store call. */
const SETTLE_TURNS = 8;

/** A Promise's state without waiting for the event loop: "fulfilled", "rejected" or "pending". */
async function stateOf(promise) {
  const pending = Symbol("pending");
  let later = Promise.resolve(pending);
  for (let turn = 0; turn < SETTLE_TURNS; turn += 1) later = later.then((value) => value);
  const winner = await Promise.race([promise.then(() => "fulfilled", () => "rejected"), later]);
  return winner === pending ? "pending" : winner;
}

async function provisioned(kv) {
  const ledger = makeLedger({ kv });
  await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
  return ledger;
}

describe("settling", () => {
  it("over a synchronous kv, a write is in the store when the method returns", async () => {
    const { kv, map, stats } = memoryKv();
    const ledger = await provisioned(kv);
    const before = snapshot(map);
    const putsBefore = stats.puts;
    const pending = ledger.reportUsage({ ...scope, featureId: FEATURE, value: 7, idempotencyKey: "k-1" });
    assert.ok(pending instanceof Promise);
    assert.ok(stats.puts > putsBefore, "the commit was written before the call returned");
    assert.notDeepEqual(snapshot(map), before);
    assert.equal(await stateOf(pending), "fulfilled");
    const result = await pending;
    assert.equal(result.credit.currentBalance, 93);
    assert.equal(result.credit.currencyId, CURRENCY);
  });

  it("over a synchronous kv, a bad input is a rejected Promise, not a throw", async () => {
    const { kv, map } = memoryKv();
    const ledger = await provisioned(kv);
    const before = snapshot(map);
    const pending = ledger.reportUsage({ ...scope, featureId: FEATURE, value: -1 });
    assert.ok(pending instanceof Promise);
    assert.equal(await stateOf(pending), "rejected");
    await rejectsWith(pending, "INVALID_ARGUMENT", "value");
    assert.deepEqual(snapshot(map), before);
  });

  it("over a Promise-returning kv, the call waits for the store and then applies once", async () => {
    const { kv, map } = asyncKv();
    const ledger = await provisioned(kv);
    const before = snapshot(map);
    const pending = ledger.reportUsage({ ...scope, featureId: FEATURE, value: 7, idempotencyKey: "k-1" });
    assert.deepEqual(snapshot(map), before, "nothing written before the store answered");
    assert.equal(await stateOf(pending), "pending");
    assert.equal((await pending).credit.currentBalance, 93);
    const repeat = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 7, idempotencyKey: "k-1" });
    assert.equal(repeat.credit.currentBalance, 93);
    const balance = await ledger.getCreditBalance({ ...scope, currencyId: CURRENCY });
    assert.equal(balance.currentBalance, 93);
  });

  it("over a Promise kv, a call made while the pool is busy queues behind the calls already waiting", async () => {
    // A holds the pool, B waits for it; A's onEvent (delivered when A has
    // committed) makes C. C must not overtake B, though the lock is free for a
    // moment between A's release and B's next poll.
    const { kv } = asyncKv();
    let ledger;
    let nested;
    const onEvent = (event) => {
      if (event.type === "credits.granted" && event.amount === 10 && nested === undefined) {
        nested = ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 2, idempotencyKey: "c" });
      }
    };
    ledger = new CreditLedger({ kv, catalog: CATALOG, now: clock().now, onEvent });
    await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
    const a = ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10 });
    const b = ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 1, idempotencyKey: "b" });
    await a;
    const afterB = (await b).credit.currentBalance;
    assert.ok(nested, "A's onEvent ran and made C");
    const afterC = (await nested).credit.currentBalance;
    assert.deepEqual([afterB, afterC], [109, 107], "A, then B, then C");
  });

  it("onEvent runs after the call returns and before an awaiting caller resumes", async () => {
    const { kv } = memoryKv();
    let returned = false;
    const seen = [];
    const ledger = new CreditLedger({ kv, catalog: CATALOG, now: clock().now, onEvent: (event) => seen.push([event.type, returned]) });
    const pending = ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 10 });
    returned = true;
    assert.deepEqual(seen, [], "nothing delivered inside the call");
    const result = await pending;
    assert.deepEqual(seen, [["credits.granted", true]]);
    assert.deepEqual(result.events.map((event) => event.type), ["credits.granted"]);
  });

  it("an onEvent that writes gets its own events after the ones being delivered, not among them", async () => {
    const { kv } = memoryKv();
    let ledger;
    const seen = [];
    let nested;
    const onEvent = (event) => {
      seen.push(event.messageId);
      if (nested === undefined && event.type === "credits.grant.depleted") {
        nested = ledger.grantCredits({ ...scope, currencyId: CURRENCY, amount: 5 });
      }
    };
    ledger = new CreditLedger({ kv, catalog: CATALOG, now: clock().now, onEvent });
    await ledger.provisionSubscription({ ...scope, planId: "plan-basic" });
    seen.length = 0;
    const usage = await ledger.reportUsage({ ...scope, featureId: FEATURE, value: 100, idempotencyKey: "all" });
    const types = usage.events.map((event) => event.type);
    assert.ok(types.includes("credits.grant.depleted") && types.length >= 2, `several events from one usage: ${types}`);
    assert.ok(nested, "onEvent wrote");
    const grant = await nested;
    await new Promise((resolve) => setImmediate(resolve));
    const expected = [...usage.events, ...grant.events].map((event) => event.messageId);
    assert.deepEqual(seen, expected, "the usage's events together, then the grant's");
  });

  for (const [what, hostile] of [
    ["whose message getter throws", () => Object.defineProperty(new Error(), "message", { get() { throw new Error("no"); } })],
    ["whose message is a number", () => Object.assign(new Error(), { message: 42 })],
  ]) {
    it(`a kv that throws an Error ${what} rejects with STORE_ERROR, and the pool keeps serving`, async () => {
      const { kv: inner } = memoryKv();
      let failGets = false;
      const kv = {
        get: (key) => {
          if (failGets) throw hostile();
          return inner.get(key);
        },
        put: (key, value) => inner.put(key, value),
      };
      const ledger = await provisioned(kv);
      failGets = true;
      const failed = ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 1, idempotencyKey: "x" });
      assert.ok(failed instanceof Promise, "a Promise, not a synchronous throw");
      await rejectsWith(failed, "STORE_ERROR");
      failGets = false;
      const later = ledger.consumeCredits({ ...scope, currencyId: CURRENCY, amount: 1, idempotencyKey: "x" });
      assert.notEqual(await stateOf(later), "pending", "the pool's lock was released");
      assert.equal((await later).credit.currentBalance, 99);
    });
  }
});
