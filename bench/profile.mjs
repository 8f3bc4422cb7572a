// `make profile`: where the time of the benchmark's operations goes, in the
// two places BENCHMARKS.md talks about.
//
//   1. The native core under callgrind (instructions, deterministic):
//      `valgrind --tool=callgrind target/native/bench --ops N`, the top
//      functions by self cost. That is bench.rs's whole run: setup, warm-up
//      and both streams (keyed reportUsage; reports mixed with entitlement
//      checks), N measured ops each.
//   2. The npm package in Node under V8's sampling profiler (`--cpu-prof`):
//      the share of samples in wasm code, in the wasm-bindgen JS glue, in the
//      host kv, in GC, elsewhere; and the top functions. The profiled package
//      is pkg/ with a .wasm rebuilt to keep its function names (`wasm-opt -Oz
//      -g`), so the profile names Rust functions instead of `wasm-function[N]`.
//   3. What the .wasm's bytes are: `twiggy top` on that named build, grouped.
//
//   node bench/profile.mjs   (after `make build` and `cargo build --profile native --bin bench`)
//
// Environment: PROFILE_NATIVE_OPS (default 3000), PROFILE_WASM_OPS (default 20000).
// Run as `node bench/profile.mjs --child <pkg dir>` it is the profiled child.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { packageVariant } from "../scripts/package-variant.mjs";
import { syncMapKv } from "./kv.mjs";
import { countFromEnv } from "./env.mjs";
import { STREAM_REPORT_USAGE, runMeasured, warmLedger } from "./workload.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const NATIVE_OPS = countFromEnv("PROFILE_NATIVE_OPS", 3000);
const WASM_OPS = countFromEnv("PROFILE_WASM_OPS", 20000);
/** Rows printed per profile. */
const TOP_ROWS = 15;

if (process.argv[2] === "--child") {
  await profiledChild(process.argv[3]);
} else {
  profileNative();
  profileWasm();
}

/** The profiled workload: the reportUsage stream of `make bench` over a sync Map kv. */
async function profiledChild(pkgDir) {
  const { CreditLedger } = await import(pathToFileURL(path.join(pkgDir, "node.js")).href);
  const warm = await warmLedger(CreditLedger, { kv: syncMapKv(), stream: STREAM_REPORT_USAGE });
  await runMeasured(warm, STREAM_REPORT_USAGE, WASM_OPS);
}

function profileNative() {
  const bench = path.join(ROOT, "target", "native", "bench");
  if (!existsSync(bench)) throw new Error("target/native/bench is missing: cargo build --profile native --bin bench");
  const dir = mkdtempSync(path.join(tmpdir(), "credit-pools-callgrind-"));
  try {
    const out = path.join(dir, "callgrind.out");
    execFileSync("valgrind", ["--tool=callgrind", `--callgrind-out-file=${out}`, bench, "--ops", String(NATIVE_OPS)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const annotated = execFileSync("callgrind_annotate", ["--inclusive=no", out], { encoding: "utf8", maxBuffer: 64 << 20 });
    const rows = [];
    let total = 0;
    for (const line of annotated.split("\n")) {
      const match = /^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)$/.exec(line);
      if (!match) continue;
      const instructions = Number(match[1].replaceAll(",", ""));
      if (match[3].includes("PROGRAM TOTALS")) total = instructions;
      else rows.push({ instructions, name: shortName(match[3].replace(/^(\?\?\?|[^\s:]*\/[^\s:]*):/, "")) });
    }
    console.log(`Native core under callgrind: ${total.toLocaleString("en-US")} instructions for bench --ops ${NATIVE_OPS} (setup, warm-up, both streams; self cost)`);
    printRows(rows.map((row) => ({ share: row.instructions / total, name: row.name })));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function profileWasm() {
  const dir = mkdtempSync(path.join(tmpdir(), "credit-pools-cpuprof-"));
  try {
    const pkgDir = namedPackage(dir);
    const profDir = path.join(dir, "prof");
    const run = spawnSync(process.execPath, ["--cpu-prof", `--cpu-prof-dir=${profDir}`, fileURLToPath(import.meta.url), "--child", pkgDir], {
      stdio: "inherit",
      env: { ...process.env, PROFILE_WASM_OPS: String(WASM_OPS) },
    });
    if (run.status !== 0) throw new Error(`profiled child exited with ${run.status}`);
    const [file] = readdirSync(profDir);
    summariseCpuProfile(JSON.parse(readFileSync(path.join(profDir, file), "utf8")));
    summariseCodeSize(path.join(pkgDir, "credit_pools_bg.wasm"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A copy of pkg/ whose .wasm keeps its names: wasm-bindgen again, then wasm-opt -Oz -g. */
function namedPackage(dir) {
  const rawWasm = path.join(ROOT, "target", "wasm32-unknown-unknown", "release", "credit_pools.wasm");
  return packageVariant({ rawWasm, dir, wasmOptFlags: ["-Oz", "-g", "--strip-dwarf"] });
}

/** Self time per sample bucket: wasm code, JS glue, host kv, GC, the rest. */
function summariseCpuProfile(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  profile.samples.forEach((id, index) => selfUs.set(id, (selfUs.get(id) ?? 0) + profile.timeDeltas[index]));
  const buckets = new Map();
  const functions = new Map();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url } = byId.get(id).callFrame;
    const name = functionName || "(anonymous)";
    if (name === "(idle)") continue;
    totalUs += us;
    const bucket = bucketOf(name, url);
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + us);
    const line = bucket === "wasm-bindgen glue (strings in/out, calls)" ? `:${byId.get(id).callFrame.lineNumber + 1}` : "";
    const label = `${shortName(name)}${bucket === "wasm code" ? "" : `  [${path.basename(url) || "V8"}${line}]`}`;
    functions.set(label, (functions.get(label) ?? 0) + us);
  }
  console.log(`\nThe package in Node under --cpu-prof: ${(totalUs / 1000).toFixed(0)} ms of samples for setup + ${WASM_OPS.toLocaleString("en-US")} keyed reportUsage (sync Map kv, exclusive)`);
  for (const [bucket, us] of [...buckets].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${bucket.padEnd(44)} ${(100 * us / totalUs).toFixed(1).padStart(5)} %`);
  }
  console.log("  top functions (self time):");
  printRows([...functions].map(([name, us]) => ({ share: us / totalUs, name })));
}

/**
 * What the .wasm's bytes are, from `twiggy top` on the named build (the same
 * code as the shipped one; only its name section is extra and left out here).
 */
function summariseCodeSize(wasmPath) {
  const csv = execFileSync("twiggy", ["top", "-n", "1000000", "--format", "csv", wasmPath], { encoding: "utf8", maxBuffer: 64 << 20 });
  // First matching group wins.
  const groups = [
    ["drop glue (core::ptr::drop_in_place)", (name) => name.startsWith("core::ptr::drop_in_place")],
    ["inputs and futures (wasm::CreditLedger::<method>::{{closure}})", (name) => /credit_pools::wasm::CreditLedger::\w+::\{\{closure\}\}/.test(name)],
    ["constructor (options, catalog decoding and validation)", (name) => name.startsWith("creditledger_new")],
    ["exported method shims (argument conversion)", (name) => name.startsWith("creditledger_")],
    ["core::ledger (operations and the commit protocol)", (name) => name.includes("credit_pools::core::ledger")],
    ["JSON reader, writer and decoders (core::json, core::decode)", (name) => /credit_pools::core::(json|decode)::/.test(name)],
    ["formatting (core::fmt, alloc::fmt)", (name) => name.includes("fmt")],
    ["allocator (talc)", (name) => name.startsWith("talc::")],
    ["data segments (strings, tables)", (name) => name.startsWith("data segment")],
  ];
  const totals = new Map(groups.map(([label]) => [label, 0]));
  let all = 0;
  for (const line of csv.split("\n").slice(1)) {
    const match = /^"?(.*?)"?,(\d+),/.exec(line);
    if (!match || match[1].includes("custom section") || match[1].includes("subsection")) continue;
    const bytes = Number(match[2]);
    all += bytes;
    const group = groups.find(([, test]) => test(match[1]));
    if (group) totals.set(group[0], totals.get(group[0]) + bytes);
  }
  console.log(`\nThe .wasm by what its bytes are (twiggy top on the named build): ${all.toLocaleString("en-US")} B of code and data`);
  for (const [label, bytes] of totals) {
    console.log(`  ${label.padEnd(66)} ${bytes.toLocaleString("en-US").padStart(9)} B  ${(100 * bytes / all).toFixed(1).padStart(5)} %`);
  }
}

function bucketOf(name, url) {
  if (url.includes(".wasm")) return "wasm code";
  if (url.endsWith("credit_pools.js")) return "wasm-bindgen glue (strings in/out, calls)";
  if (url.endsWith("kv.mjs")) return "host kv (Map get/put)";
  if (name === "(garbage collector)") return "garbage collector";
  if (url.includes("/bench/")) return "benchmark driver";
  return "other JS and V8 (TextDecoder, Promises, JSON)";
}

function printRows(rows) {
  for (const row of rows.sort((a, b) => b.share - a.share).slice(0, TOP_ROWS)) {
    console.log(`  ${(100 * row.share).toFixed(1).padStart(5)} %  ${row.name}`);
  }
}

/** Drops Rust hashes, crate disambiguators and paths from a symbol. */
function shortName(symbol) {
  return symbol
    .replace(/::h[0-9a-f]{16}/g, "")
    .replace(/\[[0-9a-f]{16}\]/g, "")
    .replace(/ \[\/[^\]]*\]$/, "")
    .slice(0, 110);
}
