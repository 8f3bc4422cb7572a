// `make bench`: credit-pools against its native core and two rate limiters,
// all in one run, on the workload of bench/workload.mjs (the one
// src/bin/bench.rs runs natively). Prints one table and writes
// bench/results.json. Every figure is measured in this run.
//
//   node bench/bench.mjs        (after `make build`; redis-server from `make bench-deps`)
//
// Contestants, one call at a time (each awaited, so latency is per call):
//   native        the Rust core, `cargo run --profile native --bin bench`
//   wasm-sync     the npm package in Node over a synchronous Map kv
//   wasm-async    the same over a kv whose methods return Promises
//   rlf-memory    rate-limiter-flexible's RateLimiterMemory.consume(pool key, units)
//   rlf-redis     RateLimiterRedis (ioredis) against a redis-server this script starts
// The wasm ledgers are `exclusive: true`, as bench.rs's native ledger is.
//
// Environment overrides (counts): BENCH_OPS (measured ops per stream),
// BENCH_GROWTH_SAMPLE_OPS, BENCH_MEMORY_OPS, BENCH_COLD_START_RUNS,
// BENCH_WORKERD_RUNS; REDIS_SERVER (path of redis-server).

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { constants as osConstants, cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { CreditLedger } from "credit-pools";
import { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import { freePort } from "../scripts/free-port.mjs";
import { countFromEnv } from "./env.mjs";
import { asyncMapKv, syncMapKv } from "./kv.mjs";
import { DRIVEN_RESOURCE_ID, bytesMovedPerOp, createDrivenPool, fillPoolTo, kvCostPerOp } from "./measure.mjs";
import {
  BenchClock,
  CURRENCY_ID,
  CUSTOMER_ID,
  FIRST_MEASURED_OP,
  PLAN_ID,
  STREAMS,
  STREAM_REPORT_USAGE,
  T0_MS,
  WARMUP_OPS,
  createBenchLedger,
  resourceIdForOp,
  runOperation,
  usageInput,
  usageValueForOp,
  warmLedger,
} from "./workload.mjs";

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, "..");
const PKG_DIR = path.join(ROOT, "pkg");
const WASM_PATH = path.join(PKG_DIR, "credit_pools_bg.wasm");
const RESULTS_PATH = path.join(BENCH_DIR, "results.json");
const PROBES_DIR = path.join(BENCH_DIR, "probes");
const WORKERD_BIN = path.join(ROOT, "node_modules", ".bin", "workerd");
const REDIS_SERVER_BIN = process.env.REDIS_SERVER || "/usr/bin/redis-server";

// Op counts: defaults keep the whole `make bench` within a few minutes on 2 cores.
const DEFAULT_OPS = 20_000;
const OPS = countFromEnv("BENCH_OPS", DEFAULT_OPS);
/** Ledger lengths (events in one pool) and live-grant counts at which one reportUsage is timed. */
const GROWTH_LEDGER_EVENTS = [100, 10_000, 100_000];
const GROWTH_GRANT_COUNTS = [1, 8, 64];
const GROWTH_SAMPLE_OPS = countFromEnv("BENCH_GROWTH_SAMPLE_OPS", 1_000);
/** Ops run on a grant-count pool before its sample, so the instance is warm and the JIT settled. */
const GROWTH_GRANT_WARMUP_OPS = 200;
/** Store counts are averaged over this many ops: two 32-event ledger pages, so page flushes weigh in evenly. */
const KV_SAMPLE_OPS = 64;
/**
 * The contestants run in this many interleaved rounds (native, wasm-sync, …,
 * rlf-redis, then again); each row reports the round with the median
 * throughput, so one hiccup of a shared VM does not become the figure.
 */
const ROUNDS = countFromEnv("BENCH_ROUNDS", 3);
const MEMORY_OPS = countFromEnv("BENCH_MEMORY_OPS", 100_000);
const COLD_START_RUNS = countFromEnv("BENCH_COLD_START_RUNS", 10);
const WORKERD_RUNS = countFromEnv("BENCH_WORKERD_RUNS", 7);
const GZIP_LEVEL = 9;

/** The rate limiters must never reject: a budget far above anything the run consumes, per hour. */
const RATE_LIMIT_POINTS = 1e15;
const RATE_LIMIT_DURATION_S = 3_600;

const REDIS_READY_TIMEOUT_MS = 10_000;
const REDIS_PING_TIMEOUT_MS = 1_000;
const WORKERD_READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
/** Readiness polls: short enough not to blur a cold start of a few hundred ms. */
const READY_POLL_INTERVAL_MS = 5;
const WORKERD_COMPATIBILITY_DATE = "2025-09-01";

const NS_PER_US = 1_000;
const NS_PER_S = 1e9;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// ---- Child processes: every one this script starts dies with it ------------

const children = new Set();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    for (const child of children) child.kill("SIGKILL");
    process.exit(128 + osConstants.signals[signal]); // the shell's convention for "died of this signal"
  });
}

/** stderr kept per child: enough for an error message, bounded for chatty servers. */
const STDERR_KEPT_CHARS = 20_000;

/**
 * Spawns a tracked child. `exited` resolves (never rejects) with its
 * code/signal, a spawn error if any, and its output; `done` turns true then.
 */
function startChild(command, args, options = {}) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
  children.add(child);
  const handle = { child, output: { stdout: "", stderr: "" }, done: false, exited: null };
  child.stdout.setEncoding("utf8").on("data", (chunk) => (handle.output.stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk) => (handle.output.stderr = (handle.output.stderr + chunk).slice(-STDERR_KEPT_CHARS)));
  handle.exited = new Promise((resolve) => {
    child.once("error", (error) => resolve({ code: null, signal: null, error, ...handle.output }));
    child.once("close", (code, signal) => resolve({ code, signal, error: null, ...handle.output }));
  }).finally(() => {
    handle.done = true;
    children.delete(child);
  });
  return handle;
}

/** Runs a command to completion; rejects with its stderr unless it exits 0. */
async function runToEnd(command, args, options) {
  const result = await startChild(command, args, options).exited;
  if (result.error) throw new Error(`${command} could not start: ${result.error.message}`);
  if (result.code !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${result.code ?? result.signal}:\n${result.stderr}`);
  return result;
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the child is gone. */
async function stopChild({ child, exited, done }) {
  if (done) return exited;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  const result = await exited;
  clearTimeout(timer);
  return result;
}

// ---- Timing -------------------------------------------------------------------

/** `sorted[⌊(len − 1)·p⌋]` in µs: the percentile rule of bench.rs. */
const percentileUs = (sortedNs, p) => sortedNs[Math.floor((sortedNs.length - 1) * p)] / NS_PER_US;

/**
 * Runs ops `first .. first + count − 1` one at a time. `prepare(n)` (the
 * clock) counts toward throughput but not toward the op's latency, as
 * bench.rs's set_now does.
 */
async function timeOps(first, count, op, prepare = undefined) {
  const latenciesNs = new Float64Array(count);
  const started = process.hrtime.bigint();
  for (let i = 0; i < count; i += 1) {
    prepare?.(first + i);
    const at = process.hrtime.bigint();
    await op(first + i);
    latenciesNs[i] = Number(process.hrtime.bigint() - at);
  }
  const totalNs = Number(process.hrtime.bigint() - started);
  latenciesNs.sort();
  const meanUs = latenciesNs.reduce((sum, ns) => sum + ns, 0) / count / NS_PER_US;
  return { ops: count, opsPerSec: (count * NS_PER_S) / totalNs, p50Us: percentileUs(latenciesNs, 0.5), p99Us: percentileUs(latenciesNs, 0.99), meanUs };
}

// ---- Contestants ------------------------------------------------------------

/** The native core: bench.rs prints one JSON line per stream. */
async function benchNative() {
  const args = ["run", "-q", "--profile", "native", "--bin", "bench", "--", "--ops", String(OPS)];
  const { stdout } = await runToEnd("cargo", args, { cwd: ROOT });
  const lines = stdout.split("\n").filter((line) => line.startsWith("{"));
  const results = lines.map((line) => {
    const row = JSON.parse(line);
    return { contestant: "native", stream: row.stream, ops: row.ops, opsPerSec: row.opsPerSec, p50Us: row.p50us, p99Us: row.p99us };
  });
  for (const stream of STREAMS) {
    if (!results.some((row) => row.stream === stream)) throw new Error(`cargo ${args.join(" ")} printed no "${stream}" line:\n${stdout}`);
  }
  return results;
}

/** The npm package in Node over `makeKv()`: a fresh customer per stream, warmed up as bench.rs does. */
async function benchWasm(contestant, makeKv) {
  const results = [];
  for (const stream of STREAMS) {
    const { ledger, clock } = await warmLedger(CreditLedger, { kv: makeKv(), stream });
    const timing = await timeOps(FIRST_MEASURED_OP, OPS, (n) => runOperation(ledger, stream, n), (n) => clock.set(T0_MS + n));
    results.push({ contestant, stream, ...timing });
  }
  return results;
}

/** A rate limiter consuming each usage op's units from its pool's key (the reportUsage stream). */
async function benchRateLimiter(contestant, limiter) {
  const consume = (n) => limiter.consume(`${CUSTOMER_ID}/${resourceIdForOp(n)}`, usageValueForOp(n));
  for (let n = 0; n < WARMUP_OPS; n += 1) await consume(n);
  const timing = await timeOps(FIRST_MEASURED_OP, OPS, consume);
  return [{ contestant, stream: STREAM_REPORT_USAGE, ...timing }];
}

function rateLimiterOptions(keyPrefix) {
  return { keyPrefix, points: RATE_LIMIT_POINTS, duration: RATE_LIMIT_DURATION_S };
}

/** Answers once redis-server replies +PONG to a raw PING on `port`. */
function redisAnswers(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let reply = "";
    socket.setEncoding("utf8");
    socket.setTimeout(REDIS_PING_TIMEOUT_MS, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk;
      if (reply.includes("\r\n")) {
        socket.destroy();
        resolve(reply.startsWith("+PONG"));
      }
    });
  });
}

/** A throwaway redis-server on 127.0.0.1 and a free port: no persistence. */
async function startRedis() {
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  const server = startChild(REDIS_SERVER_BIN, args);
  const deadline = Date.now() + REDIS_READY_TIMEOUT_MS;
  for (;;) {
    if (server.done) {
      const { stdout, stderr, error } = await server.exited;
      throw new Error(`${REDIS_SERVER_BIN} exited before answering (${error?.message ?? "see its output"}); run \`make bench-deps\`:\n${stdout}${stderr}`);
    }
    if (await redisAnswers(port)) return { port, server };
    if (Date.now() > deadline) {
      await stopChild(server);
      throw new Error(`redis-server did not answer PING on port ${port} within ${REDIS_READY_TIMEOUT_MS} ms`);
    }
    await sleep(READY_POLL_INTERVAL_MS);
  }
}

async function benchRedis() {
  const redis = await startRedis();
  const client = new Redis({ host: "127.0.0.1", port: redis.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const limiter = new RateLimiterRedis({ storeClient: client, ...rateLimiterOptions("bench-redis") });
    return { rows: await benchRateLimiter("rlf-redis", limiter), redisVersion: (await client.info("server")).match(/redis_version:(\S+)/)?.[1] ?? "?" };
  } finally {
    client.disconnect();
    await stopChild(redis.server);
  }
}

/**
 * One row per (contestant, stream): the round whose throughput is the median
 * of that row's rounds, with `opsPerSecRounds` (every round's throughput).
 */
function medianRounds(rounds) {
  return rounds[0].map(({ contestant, stream }) => {
    const mine = rounds.map((rows) => rows.find((row) => row.contestant === contestant && row.stream === stream));
    const byThroughput = [...mine].sort((a, b) => a.opsPerSec - b.opsPerSec);
    const chosen = byThroughput[Math.floor((byThroughput.length - 1) / 2)];
    return { ...chosen, opsPerSecRounds: mine.map((row) => row.opsPerSec) };
  });
}

// ---- Store work and cost growth ---------------------------------------------

/** Store calls and bytes per reportUsage on a warm pool, for every combination of exclusive and putMany. */
async function kvCounts(pool, events) {
  const rows = [];
  for (const exclusive of [true, false]) {
    for (const withPutMany of [false, true]) {
      const cost = await kvCostPerOp({ map: pool.map, exclusive, withPutMany, ops: KV_SAMPLE_OPS, nextOp: pool.nextOp });
      rows.push({ events, ...cost });
    }
  }
  return rows;
}

/** Times one pool's reportUsage at each ledger length; the store bytes per op ride along. */
async function ledgerLengthGrowth() {
  const pool = await createDrivenPool();
  const rows = [];
  let kvRows = null;
  for (const target of GROWTH_LEDGER_EVENTS) {
    const events = await fillPoolTo(pool, target);
    if (kvRows === null) kvRows = await kvCounts(pool, events);
    const bytes = {};
    for (const exclusive of [true, false]) {
      const cost = await kvCostPerOp({ map: pool.map, exclusive, withPutMany: false, ops: KV_SAMPLE_OPS, nextOp: pool.nextOp });
      bytes[exclusive ? "exclusive" : "shared"] = bytesMovedPerOp(cost);
    }
    const timing = await timeOps(pool.nextOp, GROWTH_SAMPLE_OPS, () => pool.reportNext());
    // The timed reports append to the ledger: say how long it was at the end.
    const eventsAfter = await fillPoolTo(pool, 0);
    rows.push({ events, eventsAfter, sampleOps: GROWTH_SAMPLE_OPS, p50Us: timing.p50Us, meanUs: timing.meanUs, p99Us: timing.p99Us, bytesPerOp: bytes, storeEntries: pool.map.size });
  }
  return { rows, kvRows };
}

/** Grants whose burn order comes after the plan's recurring grant (priority 0), so they all stay live. */
function extraGrantInputs(count) {
  return Array.from({ length: count }, (_, i) => ({
    customerId: CUSTOMER_ID,
    resourceId: DRIVEN_RESOURCE_ID,
    currencyId: CURRENCY_ID,
    amount: 1_000,
    priority: 1 + i,
  }));
}

async function activeGrantCount(ledger) {
  const { grants } = await ledger.getCreditGrants({ customerId: CUSTOMER_ID, resourceId: DRIVEN_RESOURCE_ID, currencyId: CURRENCY_ID, limit: 1_000 });
  return grants.filter((grant) => grant.status === "ACTIVE").length;
}

/** Times reportUsage on a pool holding 1, 8, 64 active grants (the plan's grant plus extras). */
async function grantCountGrowth() {
  const rows = [];
  for (const target of GROWTH_GRANT_COUNTS) {
    const clock = new BenchClock();
    const ledger = createBenchLedger(CreditLedger, { kv: syncMapKv(), clock, exclusive: true });
    await ledger.provisionSubscription({ customerId: CUSTOMER_ID, resourceId: DRIVEN_RESOURCE_ID, planId: PLAN_ID });
    for (const grant of extraGrantInputs(target - 1)) await ledger.grantCredits(grant);
    const report = (n) => ledger.reportUsage(usageInput(n, DRIVEN_RESOURCE_ID));
    const tick = (n) => clock.set(T0_MS + n);
    for (let n = 0; n < GROWTH_GRANT_WARMUP_OPS; n += 1) {
      tick(n);
      await report(n);
    }
    const timing = await timeOps(GROWTH_GRANT_WARMUP_OPS, GROWTH_SAMPLE_OPS, report, tick);
    rows.push({ activeGrants: await activeGrantCount(ledger), sampleOps: GROWTH_SAMPLE_OPS, p50Us: timing.p50Us, meanUs: timing.meanUs, p99Us: timing.p99Us });
  }
  return rows;
}

// ---- Size, cold start, memory -------------------------------------------------

function wasmSize() {
  const wasm = readFileSync(WASM_PATH);
  return { rawBytes: wasm.length, gzipBytes: gzipSync(wasm, { level: GZIP_LEVEL }).length, gzipLevel: GZIP_LEVEL };
}

/** One run of a probe script in a fresh node: its own JSON line plus the parent's spawn-to-exit time. */
async function runNodeProbe(script, args = []) {
  const started = performance.now();
  const { stdout } = await runToEnd(process.execPath, [path.join(PROBES_DIR, script), ...args], { cwd: ROOT });
  const wallMs = performance.now() - started;
  return { ...JSON.parse(stdout.trim().split("\n").pop()), wallMs };
}

/** Node cold start: the ledger probe and the empty baseline, interleaved so drift hits both alike. */
async function nodeColdStart() {
  const runs = { ledger: [], empty: [], webcryptoFirst: [] };
  for (let i = 0; i < COLD_START_RUNS; i += 1) {
    runs.ledger.push(await runNodeProbe("node-cold-start.mjs"));
    runs.empty.push(await runNodeProbe("node-empty.mjs"));
    runs.webcryptoFirst.push(await runNodeProbe("node-cold-start.mjs", ["--webcrypto-first"]));
  }
  const medians = (list) => ({
    sinceProcessStartMs: median(list.map((run) => run.sinceProcessStartMs)),
    importMs: median(list.map((run) => run.importMs)),
    importToFirstOpMs: median(list.map((run) => run.importToFirstOpMs)),
    constructMs: median(list.map((run) => run.constructMs ?? 0)),
    provisionMs: median(list.map((run) => run.provisionMs ?? 0)),
    firstReportUsageMs: median(list.map((run) => run.firstReportUsageMs ?? 0)),
    webcryptoMs: median(list.map((run) => run.webcryptoMs ?? 0)),
    wallMs: median(list.map((run) => run.wallMs)),
  });
  const sinceStart = (list) => list.map((run) => run.sinceProcessStartMs);
  return {
    runs: COLD_START_RUNS,
    ledger: medians(runs.ledger),
    empty: medians(runs.empty),
    webcryptoFirst: medians(runs.webcryptoFirst),
    ledgerRunsSinceProcessStartMs: sinceStart(runs.ledger),
    emptyRunsSinceProcessStartMs: sinceStart(runs.empty),
  };
}

// Static `import … from "x"` / `export … from "x"` specifiers of an ES module (comments stripped).
function staticImports(source) {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const re = /(?:^|[;\s])(?:import|export)\s*(?:[\w*${}\s,]+?\s*from\s*)?["']([^"']+)["']/g;
  return [...code.matchAll(re)].map((match) => match[1]);
}

const WORKERD_MODULE_KIND = { ".js": "esModule", ".mjs": "esModule", ".wasm": "wasm" };

/**
 * credit-pools as a Worker bundle holds it: the module `credit-pools` is the
 * file of pkg/package.json's `exports["."].workerd` condition, and every file
 * it reaches through relative imports sits beside it under its relative name.
 */
function packageWorkerdModules() {
  const manifest = JSON.parse(readFileSync(path.join(PKG_DIR, "package.json"), "utf8"));
  const entry = path.resolve(PKG_DIR, manifest.exports["."].workerd);
  const modules = [{ name: manifest.name, kind: "esModule", file: entry }];
  const queue = [entry];
  const seen = new Set(queue);
  while (queue.length > 0) {
    const from = queue.shift();
    for (const spec of staticImports(readFileSync(from, "utf8"))) {
      if (!spec.startsWith("./")) continue;
      const file = path.resolve(path.dirname(from), spec);
      if (seen.has(file)) continue;
      seen.add(file);
      const kind = WORKERD_MODULE_KIND[path.extname(file)];
      if (!kind) throw new Error(`no workerd module kind for ${file}`);
      modules.push({ name: path.relative(path.dirname(entry), file).split(path.sep).join("/"), kind, file });
      if (kind === "esModule") queue.push(file);
    }
  }
  return modules;
}

function writeWorkerdConfig(dir, workerFile, withPackage, port) {
  const main = { name: "worker.mjs", kind: "esModule", file: workerFile };
  const modules = withPackage
    ? [main, { name: "workload.mjs", kind: "esModule", file: path.join(BENCH_DIR, "workload.mjs") }, ...packageWorkerdModules()]
    : [main];
  const moduleLines = modules.map((m) => `    (name = ${JSON.stringify(m.name)}, ${m.kind} = embed ${JSON.stringify(path.relative(dir, m.file))}),`);
  const config = [
    `using Workerd = import "/workerd/workerd.capnp";`,
    `const config :Workerd.Config = (`,
    `  services = [ (name = "main", worker = .benchWorker) ],`,
    `  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],`,
    `);`,
    `const benchWorker :Workerd.Worker = (`,
    `  modules = [`,
    ...moduleLines,
    `  ],`,
    `  compatibilityDate = ${JSON.stringify(WORKERD_COMPATIBILITY_DATE)},`,
    `);`,
    ``,
  ].join("\n");
  const configPath = path.join(dir, `${withPackage ? "ledger" : "empty"}.capnp`);
  writeFileSync(configPath, config);
  return configPath;
}

/** Connection errors that mean "workerd is not listening yet": poll again. */
const NOT_LISTENING_YET = new Set(["ECONNREFUSED", "ECONNRESET"]);

/** ms from spawning `workerd serve` until its first 200 response. */
async function workerdTimeToFirst200(dir, workerFile, withPackage) {
  const port = await freePort();
  const configPath = writeWorkerdConfig(dir, workerFile, withPackage, port);
  const started = performance.now();
  const worker = startChild(WORKERD_BIN, ["serve", configPath], { cwd: dir });
  try {
    const deadline = started + WORKERD_READY_TIMEOUT_MS;
    for (;;) {
      if (worker.done) {
        const { stderr, error } = await worker.exited;
        throw new Error(`workerd exited before answering (${error?.message ?? "see stderr"}):\n${stderr}`);
      }
      try {
        const response = await fetch(`http://127.0.0.1:${port}/`);
        const body = await response.text();
        if (response.status === 200) return performance.now() - started;
        throw new Error(`workerd answered ${response.status}: ${body}\n${worker.output.stderr}`);
      } catch (error) {
        if (!NOT_LISTENING_YET.has(error.cause?.code)) throw error;
      }
      if (performance.now() > deadline) throw new Error(`workerd did not answer on port ${port} within ${WORKERD_READY_TIMEOUT_MS} ms:\n${worker.output.stderr}`);
      await sleep(READY_POLL_INTERVAL_MS);
    }
  } finally {
    await stopChild(worker);
  }
}

/** workerd cold start with credit-pools, minus the same for a worker without it (medians, interleaved runs). */
async function workerdColdStart() {
  const dir = mkdtempSync(path.join(tmpdir(), "credit-pools-bench-workerd-"));
  try {
    const runs = { ledger: [], empty: [] };
    for (let i = 0; i < WORKERD_RUNS; i += 1) {
      runs.ledger.push(await workerdTimeToFirst200(dir, path.join(PROBES_DIR, "workerd-ledger-worker.mjs"), true));
      runs.empty.push(await workerdTimeToFirst200(dir, path.join(PROBES_DIR, "workerd-empty-worker.mjs"), false));
    }
    const ledgerMs = median(runs.ledger);
    const emptyMs = median(runs.empty);
    return { runs: WORKERD_RUNS, ledgerMs, emptyMs, creditPoolsMs: ledgerMs - emptyMs, ledgerRunsMs: runs.ledger, emptyRunsMs: runs.empty };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** wasm linear memory after MEMORY_OPS ops, in a fresh process. */
async function wasmMemory() {
  const { wallMs, ...memory } = await runNodeProbe("wasm-memory.mjs", [String(MEMORY_OPS)]);
  return memory;
}

// ---- Report -------------------------------------------------------------------

const fmt = (value, digits = 0) =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function ratios(contestants) {
  const find = (contestant, stream) => contestants.find((row) => row.contestant === contestant && row.stream === stream);
  const out = {};
  for (const stream of STREAMS) {
    out[`wasmSyncOverNativeThroughput_${stream}`] = find("wasm-sync", stream).opsPerSec / find("native", stream).opsPerSec;
  }
  out.wasmSyncOverRedisThroughput = find("wasm-sync", STREAM_REPORT_USAGE).opsPerSec / find("rlf-redis", STREAM_REPORT_USAGE).opsPerSec;
  const memory = find("rlf-memory", STREAM_REPORT_USAGE);
  for (const wasm of ["wasm-sync", "wasm-async"]) {
    const row = find(wasm, STREAM_REPORT_USAGE);
    out[`${wasm}OverRlfMemoryLatency_p50`] = row.p50Us / memory.p50Us;
    out[`${wasm}OverRlfMemoryLatency_p99`] = row.p99Us / memory.p99Us;
  }
  return out;
}

function tableRows(results) {
  const rows = [];
  const section = (title) => rows.push([title]);
  const row = (figure, value, unit = "") => rows.push(["", figure, value, unit]);

  section(`Throughput and latency (${fmt(OPS)} measured ops per stream after ${fmt(WARMUP_OPS)} warm-up; one call at a time; the median of ${results.meta.rounds} interleaved rounds, every round's ops/s in brackets)`);
  for (const c of results.contestants) {
    const spread = c.opsPerSecRounds.length > 1 ? `  [${c.opsPerSecRounds.map((ops) => fmt(ops)).join(", ")}]` : "";
    row(`${c.contestant} · ${c.stream}`, `${fmt(c.opsPerSec)} ops/s`, `p50 ${fmt(c.p50Us, 1)} µs · p99 ${fmt(c.p99Us, 1)} µs${spread}`);
  }
  section("Ratios");
  const r = results.ratios;
  for (const stream of STREAMS) row(`wasm-sync ÷ native throughput · ${stream}`, fmt(r[`wasmSyncOverNativeThroughput_${stream}`], 3), "×");
  row("wasm-sync ÷ rlf-redis throughput · reportUsage", fmt(r.wasmSyncOverRedisThroughput, 3), "×");
  for (const wasm of ["wasm-sync", "wasm-async"]) {
    row(`${wasm} ÷ rlf-memory latency · reportUsage · p50`, fmt(r[`${wasm}OverRlfMemoryLatency_p50`], 1), "×");
    row(`${wasm} ÷ rlf-memory latency · reportUsage · p99`, fmt(r[`${wasm}OverRlfMemoryLatency_p99`], 1), "×");
  }
  section(`Store work per keyed reportUsage, warm pool at ${results.kvCounts[0].events} events (average over ${KV_SAMPLE_OPS} ops; max in brackets)`);
  for (const k of results.kvCounts) {
    const a = k.average;
    const m = k.max;
    row(
      `exclusive: ${k.exclusive} · putMany: ${k.withPutMany ? "yes" : "no"}`,
      `${fmt(a.gets, 2)} [${m.gets}] get · ${fmt(a.puts, 2)} [${m.puts}] put · ${fmt(a.putManyCalls, 2)} [${m.putManyCalls}] putMany · ${fmt(a.writeCalls, 2)} [${m.writeCalls}] write calls`,
      `${fmt(a.bytesRead)} B read · ${fmt(a.bytesWritten)} B written`,
    );
  }
  section(`Cost growth: one pool, sync Map kv, exclusive (${fmt(GROWTH_SAMPLE_OPS)} timed ops per point; KV bytes over ${KV_SAMPLE_OPS} ops)`);
  for (const g of results.growth.ledgerLength) {
    row(
      `ledger of ${fmt(g.events)} events (${fmt(g.eventsAfter)} after)`,
      `p50 ${fmt(g.p50Us, 1)} µs · mean ${fmt(g.meanUs, 1)} µs`,
      `${fmt(g.bytesPerOp.exclusive)} B/op exclusive · ${fmt(g.bytesPerOp.shared)} B/op not exclusive`,
    );
  }
  for (const g of results.growth.activeGrants) {
    row(`${g.activeGrants} active grant${g.activeGrants === 1 ? "" : "s"}`, `p50 ${fmt(g.p50Us, 1)} µs · mean ${fmt(g.meanUs, 1)} µs`, `p99 ${fmt(g.p99Us, 1)} µs`);
  }
  section("Size and start-up");
  const s = results.wasmSize;
  row("pkg/credit_pools_bg.wasm", `${fmt(s.rawBytes)} B raw`, `${fmt(s.gzipBytes)} B gzip -${s.gzipLevel}`);
  const n = results.coldStart.node;
  row(
    `Node cold start (median of ${n.runs})`,
    `${fmt(n.ledger.sinceProcessStartMs, 1)} ms process start → first reportUsage`,
    `empty script ${fmt(n.empty.sinceProcessStartMs, 1)} ms; import ${fmt(n.ledger.importMs, 1)} ms, import → first op ${fmt(n.ledger.importToFirstOpMs, 1)} ms`,
  );
  row(
    "Node import → first op, by step (medians)",
    `new CreditLedger ${fmt(n.ledger.constructMs, 1)} ms · provisionSubscription ${fmt(n.ledger.provisionMs, 1)} ms`,
    `first reportUsage ${fmt(n.ledger.firstReportUsageMs, 1)} ms`,
  );
  row(
    "Node's webcrypto loaded first (median)",
    `first crypto.getRandomValues ${fmt(n.webcryptoFirst.webcryptoMs, 1)} ms`,
    `then provisionSubscription ${fmt(n.webcryptoFirst.provisionMs, 1)} ms (${fmt(n.ledger.provisionMs, 1)} ms without)`,
  );
  row("Node cold start, spawn → exit (median)", `${fmt(n.ledger.wallMs, 1)} ms`, `empty script ${fmt(n.empty.wallMs, 1)} ms`);
  const w = results.coldStart.workerd;
  row(`workerd spawn → first 200 (median of ${w.runs})`, `${fmt(w.creditPoolsMs, 1)} ms for credit-pools`, `${fmt(w.ledgerMs, 1)} ms with it − ${fmt(w.emptyMs, 1)} ms without`);
  const mem = results.wasmMemory;
  row(
    `wasm linear memory after ${fmt(mem.ops)} reportUsage ops`,
    `${fmt(mem.afterOpsBytes)} B`,
    `${fmt(mem.afterInitBytes)} B after init, ${fmt(mem.afterSetupBytes)} B after setup`,
  );
  return rows;
}

/** Prints the rows, with columns aligned within each section (sections differ in shape). */
function printTable(rows) {
  const sections = [];
  for (const r of rows) {
    if (r.length === 1) sections.push({ title: r[0], rows: [] });
    else sections.at(-1).rows.push(r.slice(1));
  }
  for (const { title, rows: body } of sections) {
    console.log(`\n${title}`);
    const figureWidth = Math.max(...body.map(([figure]) => figure.length));
    const valueWidth = Math.max(...body.map(([, value]) => value.length));
    for (const [figure, value, detail] of body) {
      console.log(`  ${figure.padEnd(figureWidth)}  ${value.padStart(valueWidth)}  ${detail}`.trimEnd());
    }
  }
}

async function gitCommit() {
  try {
    return (await runToEnd("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT })).stdout.trim();
  } catch {
    return null;
  }
}

// ---- Main ---------------------------------------------------------------------

/** Runs `step`, saying on stderr what it is and how long it took (progress only; the figures are in the table). */
async function step(label, run) {
  const started = performance.now();
  process.stderr.write(`bench: ${label} … `);
  const result = await run();
  process.stderr.write(`${fmt((performance.now() - started) / 1000, 1)} s\n`);
  return result;
}

async function main() {
  statSync(WASM_PATH); // fails early, naming the file, when `make build` has not run
  const rounds = [];
  let redisVersion = "?";
  for (let round = 1; round <= ROUNDS; round += 1) {
    const of = `round ${round}/${ROUNDS}`;
    const native = await step(`native (cargo run --profile native --bin bench), ${of}`, benchNative);
    const wasmSync = await step(`wasm-sync, ${of}`, () => benchWasm("wasm-sync", () => syncMapKv()));
    const wasmAsync = await step(`wasm-async, ${of}`, () => benchWasm("wasm-async", () => asyncMapKv()));
    const rlfMemory = await step(`rlf-memory, ${of}`, () =>
      benchRateLimiter("rlf-memory", new RateLimiterMemory(rateLimiterOptions(`bench-memory-${round}`))));
    const redis = await step(`rlf-redis (redis-server on 127.0.0.1), ${of}`, benchRedis);
    redisVersion = redis.redisVersion;
    rounds.push([...native, ...wasmSync, ...wasmAsync, ...rlfMemory, ...redis.rows]);
  }
  const contestants = medianRounds(rounds);
  const ledgerGrowth = await step("store work and ledger-length growth (fills one pool to 10⁵ events)", ledgerLengthGrowth);
  const activeGrants = await step("active-grant growth", grantCountGrowth);
  const node = await step("Node cold start", nodeColdStart);
  const workerd = await step("workerd cold start", workerdColdStart);
  const memory = await step(`wasm memory after ${fmt(MEMORY_OPS)} ops`, wasmMemory);

  const results = {
    meta: {
      date: new Date().toISOString(),
      commit: await gitCommit(),
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? null,
      redisVersion,
      ops: OPS,
      rounds: ROUNDS,
      warmupOps: WARMUP_OPS,
      wasmExclusive: true,
    },
    contestants,
    ratios: ratios(contestants),
    kvCounts: ledgerGrowth.kvRows,
    growth: { ledgerLength: ledgerGrowth.rows, activeGrants },
    wasmSize: wasmSize(),
    coldStart: { node, workerd },
    wasmMemory: memory,
  };
  printTable(tableRows(results));
  writeFileSync(RESULTS_PATH, JSON.stringify(results, null, 2) + "\n");
  console.log(`\nwrote ${path.relative(ROOT, RESULTS_PATH)}`);
}

// Run only when executed (`node bench/bench.mjs`), so the steps can be imported one by one.
if (import.meta.url === pathToFileURL(process.argv[1]).href) main().catch((error) => {
  console.error(`\nbench: ${error.stack ?? error}`);
  process.exitCode = 1;
});

export { benchNative, benchWasm, benchRateLimiter, benchRedis, ledgerLengthGrowth, grantCountGrowth, nodeColdStart, workerdColdStart, wasmMemory, wasmSize };
