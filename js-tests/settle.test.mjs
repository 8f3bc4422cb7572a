// How a method's Promise settles. Over a kv that answers synchronously the
// whole operation runs inside the call (one poll, no executor): the store
// holds the write when the method returns and the Promise is already settled.
// Over a Promise-returning kv the same call waits for the store. Either way
// the method returns a Promise and never throws.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CURRENCY, FEATURE, asyncKv, makeLedger, memoryKv, rejectsWith, snapshot } from "./helpers.mjs";

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

  it("over a synchronous kv, calls on one pool made together apply in call order", async () => {
    const { kv } = memoryKv();
    const ledger = await provisioned(kv);
    const calls = [1, 2, 3, 4].map((value, index) =>
      ledger.reportUsage({ ...scope, featureId: FEATURE, value, idempotencyKey: `k-${index}` }),
    );
    const balances = (await Promise.all(calls)).map((result) => result.credit.currentBalance);
    assert.deepEqual(balances, [99, 97, 94, 90]);
  });
});
