// `make bench-opt-levels`: what the release profile's `opt-level` trades.
// The package ships `opt-level = "z"` (smallest); this builds the same crate
// at "s" and 3, packages each exactly as `make build` does (wasm-bindgen,
// then wasm-opt -Oz), and times the reportUsage stream of `make bench` over a
// sync Map kv with each, in interleaved rounds (median of ROUNDS).
//
//   node bench/opt-levels.mjs      (after `make build`; builds under target/opt-level-*/)
//
// Environment: BENCH_OPS (measured ops, default 20000), BENCH_ROUNDS (default 3).
// Run as `node bench/opt-levels.mjs --child <pkg dir>` it is one timed run.

import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gzipSync } from "node:zlib";
import { packageVariant } from "../scripts/package-variant.mjs";
import { countFromEnv } from "./env.mjs";
import { syncMapKv } from "./kv.mjs";
import { STREAM_REPORT_USAGE, runMeasured, warmLedger } from "./workload.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const OPS = countFromEnv("BENCH_OPS", 20_000);
const ROUNDS = countFromEnv("BENCH_ROUNDS", 3);
/** The shipped level first: the others are compared with it. */
const LEVELS = ["z", "s", "3"];

if (process.argv[2] === "--child") {
  await timedRun(process.argv[3]);
} else {
  main();
}

/** One timed run: setup, warm-up, then OPS keyed reportUsage; prints {opsPerSec}. */
async function timedRun(pkgDir) {
  const { CreditLedger } = await import(pathToFileURL(path.join(pkgDir, "node.js")).href);
  const warm = await warmLedger(CreditLedger, { kv: syncMapKv(), stream: STREAM_REPORT_USAGE });
  const started = process.hrtime.bigint();
  await runMeasured(warm, STREAM_REPORT_USAGE, OPS);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ opsPerSec: OPS / seconds }));
}

/** pkg/ for `level`: the shipped one for "z", else a build under target/opt-level-{level}/. */
function packageFor(level) {
  if (level === "z") return path.join(ROOT, "pkg");
  const dir = path.join(ROOT, "target", `opt-level-${level}`);
  const env = { ...process.env, CARGO_TARGET_DIR: dir, CARGO_PROFILE_RELEASE_OPT_LEVEL: level };
  process.stderr.write(`opt-levels: building at opt-level ${level} …\n`);
  execFileSync("cargo", ["build", "--release", "--target", "wasm32-unknown-unknown", "--lib"], { cwd: ROOT, env, stdio: "inherit" });
  const rawWasm = path.join(dir, "wasm32-unknown-unknown", "release", "credit_pools.wasm");
  return packageVariant({ rawWasm, dir, wasmOptFlags: ["-Oz"] });
}

function main() {
  statSync(path.join(ROOT, "pkg", "credit_pools_bg.wasm")); // `make build` first
  const variants = LEVELS.map((level) => {
    const pkgDir = packageFor(level);
    const wasm = readFileSync(path.join(pkgDir, "credit_pools_bg.wasm"));
    return { level, pkgDir, rawBytes: wasm.length, gzipBytes: gzipSync(wasm, { level: 9 }).length, rounds: [] };
  });
  for (let round = 1; round <= ROUNDS; round += 1) {
    for (const variant of variants) {
      process.stderr.write(`opt-levels: opt-level ${variant.level}, round ${round}/${ROUNDS} …\n`);
      const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--child", variant.pkgDir], { encoding: "utf8" });
      variant.rounds.push(JSON.parse(out.trim().split("\n").pop()).opsPerSec);
    }
  }
  // The middle round (of an even count, the lower of the two middle ones: a round that happened).
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];
  const shipped = median(variants[0].rounds);
  const fmt = (value, digits = 0) => value.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  console.log(`\nopt-level of the .wasm vs speed (wasm-sync keyed reportUsage, ${fmt(OPS)} ops, median of ${ROUNDS} interleaved rounds)`);
  console.log("  opt-level        raw B     gzip B   ops/s (rounds)                         vs z");
  for (const v of variants) {
    const ops = median(v.rounds);
    const rounds = `${fmt(ops)} (${v.rounds.map((r) => fmt(r)).join(", ")})`;
    console.log(`  ${`"${v.level}"${v.level === "z" ? " (shipped)" : ""}`.padEnd(14)} ${fmt(v.rawBytes).padStart(9)} ${fmt(v.gzipBytes).padStart(10)}   ${rounds.padEnd(38)} ${fmt(ops / shipped, 2)}×`);
  }
}
