// Untrusted storage: values in the host's kv that this library did not write
// (or that were edited by hand) are reported as CORRUPT_STATE naming the key,
// never trusted, never overwritten, and never a WebAssembly trap.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CreditLedger } from "credit-pools";
import { CATALOG, CURRENCY, T0, memoryKv, snapshot } from "./helpers.mjs";

const headKey = (map) => [...map.keys()].find((k) => k.endsWith("/h"));

async function ledgerWithOverdraft() {
  const { kv, map } = memoryKv();
  const ledger = new CreditLedger({ kv, catalog: CATALOG, now: () => T0 });
  await ledger.consumeCredits({ customerId: "c1", currencyId: CURRENCY, amount: 5, idempotencyKey: "k" });
  return { ledger, map };
}

test("a kv value that is not a string → CORRUPT_STATE naming the key", async () => {
  const { ledger, map } = await ledgerWithOverdraft();
  const key = headKey(map);
  const kv = { get: (k) => (k === key ? { not: "text" } : map.get(k)), put: (k, v) => { map.set(k, v); } };
  const other = new CreditLedger({ kv, catalog: CATALOG, now: () => T0 });
  const error = await other.getCreditBalance({ customerId: "c1", currencyId: CURRENCY }).then(() => null, (e) => e);
  assert.equal(error?.code, "CORRUPT_STATE");
  assert.ok(error.message.includes(key), error.message);
  assert.ok(error.message.includes("object"), error.message);
  assert.equal((await ledger.getCreditBalance({ customerId: "c1", currencyId: CURRENCY })).currentBalance, -5);
});

test("hand-edited heads that break a grant's shape → CORRUPT_STATE, state untouched, instance keeps working", async () => {
  // The head's short field names (HACKING.md, "What a head holds"): p = pools; a pool's
  // gr = grants, u = consumed, g = granted; a grant's x = expiry, a = amount, t = created; c = customer.
  const edits = [
    ["an overdraft grant that expires", (head) => { head.p[0].gr[0].x = T0 + 1; }],
    ["a negative amount", (head) => { head.p[0].gr[0].a = -1; }],
    ["a total past 2^53", (head) => { head.p[0].u = 2 ** 60; }],
    ["an instant past year 9999", (head) => { head.p[0].gr[0].t = 1e15; }],
    ["a balance that does not add up", (head) => { head.p[0].g = 1; }],
    ["another customer's head", (head) => { head.c = "c2"; }],
    ["an unknown schema", (head) => { head.v = 99; }],
    ["a number where a text belongs", (head) => { head.p[0].c = 7; }],
  ];
  for (const [what, edit] of edits) {
    const { ledger, map } = await ledgerWithOverdraft();
    const key = headKey(map);
    const head = JSON.parse(map.get(key));
    edit(head);
    map.set(key, JSON.stringify(head));
    const before = snapshot(map);
    for (const call of [
      () => ledger.getCreditBalance({ customerId: "c1", currencyId: CURRENCY }),
      () => ledger.consumeCredits({ customerId: "c1", currencyId: CURRENCY, amount: 1, idempotencyKey: "k2" }),
      () => ledger.grantCredits({ customerId: "c1", currencyId: CURRENCY, amount: 10 }),
    ]) {
      const error = await call().then(() => null, (e) => e);
      assert.equal(error?.code, "CORRUPT_STATE", `${what}: ${error?.message}`);
      assert.ok(error.message.includes(key), `${what}: ${error.message}`);
    }
    assert.deepEqual(snapshot(map), before, `${what}: nothing was overwritten`);
    // The same instance still serves other scopes exactly.
    await ledger.grantCredits({ customerId: "c3", currencyId: CURRENCY, amount: 7 });
    assert.equal((await ledger.getCreditBalance({ customerId: "c3", currencyId: CURRENCY })).currentBalance, 7, what);
  }
});
