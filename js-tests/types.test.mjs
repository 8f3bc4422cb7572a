// The published .d.ts, checked by TypeScript in strict mode: every README
// example compiles, and values of the wrong type are rejected (the
// `@ts-expect-error` lines in types/usage.ts fail the check if a parameter
// were typed `any`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

test("the package's types check in strict mode, with no `any` in the public API", () => {
  const tsc = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", `${root}js-tests/types/tsconfig.json`], { encoding: "utf8", timeout: 120_000 });
  assert.equal(tsc.status, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);
  assert.equal(tsc.stdout.trim(), "");
  const dts = readFileSync(`${root}pkg/credit_pools.d.ts`, "utf8");
  assert.equal(dts.match(/\bany\b/g), null, "no `any` anywhere in credit_pools.d.ts");
  for (const method of ["provisionSubscription", "grantCredits", "reportUsage", "getCreditBalance", "getCreditLedger", "reserveCredits", "getCreditUsage", "transferSubscriptionToResource", "saveAutomaticRechargeConfiguration"]) {
    assert.match(dts, new RegExp(`\\b${method}\\(input: [A-Z]\\w+\\): Promise<[A-Z]\\w+>`), method);
  }
});
