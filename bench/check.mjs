// `make bench-check`: the benchmark's deterministic budgets — sizes and store
// counts only, never wall-clock time, so it gives the same verdict on a busy
// CI machine as on a quiet laptop. Prints every budget with its measured value
// and limit; exits 1 with one message per failed budget.
//
//   node bench/check.mjs                 (after `make build`)
//   node bench/check.mjs --size-only     (the .wasm size budget alone)
//   BENCH_GZIP_BUDGET_BYTES=150000 BENCH_WASM_PATH=other.wasm node bench/check.mjs

import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { countFromEnv } from "./env.mjs";
import { bytesMovedPerOp, createDrivenPool, fillPoolTo, kvCostPerOp } from "./measure.mjs";

const WASM_PATH = process.env.BENCH_WASM_PATH || fileURLToPath(new URL("../pkg/credit_pools_bg.wasm", import.meta.url));
const SIZE_ONLY = process.argv.includes("--size-only");

/**
 * The compressed .wasm size the library is held to (issue #8): 120 KB, as
 * 120,000 bytes. The check prints the headroom left, so a change that eats
 * most of it is seen before one breaks it.
 */
const GZIP_LIMIT_BYTES = 120_000;
const GZIP_BUDGET_BYTES = countFromEnv("BENCH_GZIP_BUDGET_BYTES", GZIP_LIMIT_BYTES);
/** gzip level of the size budget: the best a CDN or npm tarball would do. */
const GZIP_LEVEL = 9;

/** Store calls one keyed reportUsage on a warm pool of an exclusive ledger may make. */
const WARM_EXCLUSIVE_GETS_MAX = 1;
const WARM_EXCLUSIVE_PUTS_MAX = 3;
/** …and round trips that write, when the store offers putMany (put + putMany calls). */
const WARM_EXCLUSIVE_BATCHED_WRITE_CALLS_MAX = 1;

/** Ledger lengths compared, and how much more a long ledger may cost per op in store bytes. */
const SHORT_LEDGER_EVENTS = 100;
const LONG_LEDGER_EVENTS = 100_000;
const BYTES_GROWTH_FACTOR_MAX = 1.1;
/**
 * Consecutive ops per counted window: at least 64, and a multiple of the
 * 32-event ledger page, so every window holds the same number of page
 * flushes whatever the ledger length.
 */
const SAMPLE_OPS = 64;

const budgets = [];

/** Records one budget: `measured` must not exceed `limit`. */
function budget(name, measured, limit, unit, detail = "", hint = "") {
  budgets.push({ name, measured, limit, unit, detail, hint, ok: measured <= limit });
}

function gzipBudget() {
  if (!existsSync(WASM_PATH)) throw new Error(`${WASM_PATH} is missing: run \`make build\` first`);
  const wasm = readFileSync(WASM_PATH);
  const gzipBytes = gzipSync(wasm, { level: GZIP_LEVEL }).length;
  const source = process.env.BENCH_GZIP_BUDGET_BYTES ? "BENCH_GZIP_BUDGET_BYTES" : "GZIP_LIMIT_BYTES (issue #8)";
  const headroom = GZIP_BUDGET_BYTES - gzipBytes;
  budget(
    `gzip -${GZIP_LEVEL} of ${WASM_PATH.split("/").slice(-2).join("/")}`,
    gzipBytes,
    GZIP_BUDGET_BYTES,
    "bytes",
    `raw ${wasm.length} bytes; limit from ${source}; ${headroom >= 0 ? `${headroom} bytes of headroom` : `${-headroom} bytes over`}`,
    "the .wasm grew: find what added code (`make profile`, twiggy top) and win the bytes back (HACKING.md, \"Values across the boundary\")",
  );
}

/** Per-op store calls of an exclusive ledger on a warm pool, plain kv and kv with putMany. */
async function warmPoolCallBudgets(pool, events) {
  const name = (what, kv) => `exclusive: true, warm pool at ${events} events: ${what} per keyed reportUsage (${kv})`;
  const window = `max over ${SAMPLE_OPS} consecutive ops`;
  const plain = await kvCostPerOp({ map: pool.map, exclusive: true, withPutMany: false, ops: SAMPLE_OPS, nextOp: pool.nextOp });
  budget(name("gets", "plain kv"), plain.max.gets, WARM_EXCLUSIVE_GETS_MAX, "gets", `${window}; average ${plain.average.gets}`);
  budget(name("puts", "plain kv"), plain.max.puts, WARM_EXCLUSIVE_PUTS_MAX, "puts", `${window}; average ${plain.average.puts}`);
  const batched = await kvCostPerOp({ map: pool.map, exclusive: true, withPutMany: true, ops: SAMPLE_OPS, nextOp: pool.nextOp });
  budget(name("gets", "kv with putMany"), batched.max.gets, WARM_EXCLUSIVE_GETS_MAX, "gets", `${window}; average ${batched.average.gets}`);
  budget(
    name("write calls (put + putMany)", "kv with putMany"),
    batched.max.writeCalls,
    WARM_EXCLUSIVE_BATCHED_WRITE_CALLS_MAX,
    "calls",
    `${window}; average ${batched.average.writeCalls} (${batched.average.puts} put, ${batched.average.putManyCalls} putMany)`,
  );
}

/** Average store bytes per op, for an exclusive and a non-exclusive instance (a cold instance reads the head). */
async function bytesPerOp(pool) {
  const perOp = {};
  for (const exclusive of [true, false]) {
    const cost = await kvCostPerOp({ map: pool.map, exclusive, withPutMany: false, ops: SAMPLE_OPS, nextOp: pool.nextOp });
    perOp[exclusive ? "exclusive" : "shared"] = bytesMovedPerOp(cost);
  }
  return perOp;
}

function bytesGrowthBudgets(short, long) {
  for (const [mode, label] of [["exclusive", "exclusive: true"], ["shared", "exclusive: false"]]) {
    const limit = BYTES_GROWTH_FACTOR_MAX * short.bytes[mode];
    budget(
      `${label}: kv bytes read+written per keyed reportUsage at ${long.events} vs ${short.events} events`,
      round(long.bytes[mode]),
      round(limit),
      "bytes/op",
      `average over ${SAMPLE_OPS} ops; ${round(short.bytes[mode])} at ${short.events} events, limit ${BYTES_GROWTH_FACTOR_MAX}× that`,
    );
  }
}

const round = (x) => Math.round(x * 10) / 10;

function report() {
  for (const b of budgets) {
    const verdict = b.ok ? "ok  " : "FAIL";
    console.log(`${verdict} ${b.name}: ${b.measured} ${b.unit} (limit ${b.limit})${b.detail ? ` — ${b.detail}` : ""}`);
  }
  const failed = budgets.filter((b) => !b.ok);
  if (failed.length === 0) {
    console.log(`bench-check: all ${budgets.length} budgets met`);
    return 0;
  }
  for (const b of failed) {
    console.error(`bench-check: budget exceeded: ${b.name} is ${b.measured} ${b.unit}, over its limit of ${b.limit}${b.hint ? ` (${b.hint})` : ""}`);
  }
  return 1;
}

async function main() {
  gzipBudget();
  if (SIZE_ONLY) {
    process.exitCode = report();
    return;
  }
  const pool = await createDrivenPool();
  const shortEvents = await fillPoolTo(pool, SHORT_LEDGER_EVENTS);
  await warmPoolCallBudgets(pool, shortEvents);
  const short = { events: shortEvents, bytes: await bytesPerOp(pool) };
  const longEvents = await fillPoolTo(pool, LONG_LEDGER_EVENTS);
  await warmPoolCallBudgets(pool, longEvents);
  const long = { events: longEvents, bytes: await bytesPerOp(pool) };
  bytesGrowthBudgets(short, long);
  process.exitCode = report();
}

main().catch((error) => {
  console.error(`bench-check: ${error.stack ?? error}`);
  process.exitCode = 1;
});
