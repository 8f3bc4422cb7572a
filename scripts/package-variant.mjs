// A copy of the built package (pkg/) around another build of the crate's
// .wasm: wasm-bindgen's glue for that build, and the module through wasm-opt
// with `wasmOptFlags`, as scripts/build-pkg.mjs does for the shipped one.
// For the benchmark scripts that compare or profile other builds.
import { execFileSync } from "node:child_process";
import { cpSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { WASM_OPT_FEATURES, WASM_OPT_STRIP } from "./wasm-opt-features.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Writes `{dir}/pkg` from the cargo output `rawWasm`; returns that package directory. */
export function packageVariant({ rawWasm, dir, wasmOptFlags }) {
  const bindgen = path.join(dir, "bindgen");
  const pkgDir = path.join(dir, "pkg");
  rmSync(bindgen, { recursive: true, force: true });
  rmSync(pkgDir, { recursive: true, force: true });
  execFileSync("wasm-bindgen", ["--target", "web", "--out-dir", bindgen, rawWasm], { stdio: "inherit" });
  cpSync(path.join(ROOT, "pkg"), pkgDir, { recursive: true });
  cpSync(path.join(bindgen, "credit_pools.js"), path.join(pkgDir, "credit_pools.js"));
  const wasmOpt = path.join(ROOT, "node_modules", ".bin", "wasm-opt");
  execFileSync(wasmOpt, [...wasmOptFlags, ...WASM_OPT_FEATURES, ...WASM_OPT_STRIP, path.join(bindgen, "credit_pools_bg.wasm"), "-o", path.join(pkgDir, "credit_pools_bg.wasm")], {
    stdio: "inherit",
  });
  return pkgDir;
}
