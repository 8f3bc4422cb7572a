// `make bench-check` must be able to fail: its .wasm size budget, run on a
// deliberately bloated copy of the built module, rejects it.
//
//   node --test js-tests/bench-check.test.mjs        (after `make build`)

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CHECK = path.join(ROOT, "bench", "check.mjs");
const WASM = path.join(ROOT, "pkg", "credit_pools_bg.wasm");
/** Incompressible bytes added to the copy: more than any headroom under the limit. */
const BLOAT_BYTES = 40_000;

/** Unsigned LEB128, as wasm section sizes are written. */
function leb128(value) {
  const bytes = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return Buffer.from(bytes);
}

/** `wasm` plus a custom section (id 0) named `name` holding `payload`: still a valid module. */
function withCustomSection(wasm, name, payload) {
  const nameBytes = Buffer.from(name, "utf8");
  const body = Buffer.concat([leb128(nameBytes.length), nameBytes, payload]);
  return Buffer.concat([wasm, Buffer.from([0]), leb128(body.length), body]);
}

function runCheck(wasmPath) {
  return spawnSync(process.execPath, [CHECK, "--size-only"], {
    env: { ...process.env, BENCH_WASM_PATH: wasmPath, BENCH_GZIP_BUDGET_BYTES: "" },
    encoding: "utf8",
  });
}

test("the size budget passes the built .wasm and fails a bloated copy of it", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "credit-pools-bench-check-"));
  try {
    const built = runCheck(WASM);
    assert.equal(built.status, 0, built.stdout + built.stderr);
    assert.match(built.stdout, /^ok {3}gzip -9 of pkg\/credit_pools_bg\.wasm: \d+ bytes/m);

    const wasm = readFileSync(WASM);
    const bloated = withCustomSection(wasm, "bloat", randomBytes(BLOAT_BYTES));
    assert.ok(WebAssembly.validate(bloated), "the bloated copy is still a valid module");
    const grownBytes = gzipSync(bloated, { level: 9 }).length - gzipSync(wasm, { level: 9 }).length;
    assert.ok(grownBytes >= BLOAT_BYTES, `gzip grew by ${grownBytes} bytes`);
    const bloatedPath = path.join(dir, "credit_pools_bg.wasm");
    writeFileSync(bloatedPath, bloated);

    const result = runCheck(bloatedPath);
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^FAIL gzip -9 of [^:]*credit_pools_bg\.wasm: \d+ bytes \(limit \d+\)/m);
    assert.match(result.stderr, /bench-check: budget exceeded: gzip -9 of [^ ]*credit_pools_bg\.wasm is \d+ bytes, over its limit/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the size budget's override must be a positive integer", () => {
  const result = spawnSync(process.execPath, [CHECK, "--size-only"], {
    env: { ...process.env, BENCH_GZIP_BUDGET_BYTES: "12kb" },
    encoding: "utf8",
  });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /BENCH_GZIP_BUDGET_BYTES must be a positive integer, got "12kb"/);
});
