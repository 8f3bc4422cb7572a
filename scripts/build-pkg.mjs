// Turns wasm-bindgen's `--target web` output in pkg/ into the npm package:
// shrinks the .wasm with binaryen's wasm-opt, copies the per-runtime entry
// files from pkg-template/, stamps the crate version into package.json, and
// tightens the generated .d.ts (the raw wasm exports interface uses `any`).
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, readdirSync, writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { WASM_OPT_FEATURES, WASM_OPT_STRIP } from "./wasm-opt-features.mjs";

const root = new URL("..", import.meta.url).pathname;
const pkg = join(root, "pkg");
const template = join(root, "pkg-template");

const wasmPath = join(pkg, "credit_pools_bg.wasm");
const wasmOpt = join(root, "node_modules", ".bin", "wasm-opt");
const rawBytes = statSync(wasmPath).size;
execFileSync(wasmOpt, ["-Oz", ...WASM_OPT_FEATURES, ...WASM_OPT_STRIP, wasmPath, "-o", wasmPath], { stdio: "inherit" });

for (const file of readdirSync(template)) {
  copyFileSync(join(template, file), join(pkg, file));
}

const cargo = readFileSync(join(root, "Cargo.toml"), "utf8");
const version = /^version\s*=\s*"([^"]+)"/m.exec(cargo)[1];
const manifestPath = join(pkg, "package.json");
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
manifest.version = version;
writeFileSync(manifestPath, JSON.stringify(manifest, null, 2) + "\n");

// Only the low-level `InitOutput` interface (raw wasm exports) mentions `any`;
// the public API is typed through typescript_custom_section. Make it `unknown`.
const dtsPath = join(pkg, "credit_pools.d.ts");
const dts = readFileSync(dtsPath, "utf8").replace(/\bany\b/g, "unknown");
writeFileSync(dtsPath, dts);
for (const path of [join(pkg, "credit_pools_bg.wasm.d.ts")]) {
  writeFileSync(path, readFileSync(path, "utf8").replace(/\bany\b/g, "unknown"));
}
// wasm-bindgen writes its own package.json-less output plus a .gitignore; drop the latter.
try { execFileSync("rm", ["-f", join(pkg, ".gitignore")]); } catch {}

const wasm = readFileSync(wasmPath);
console.log(`pkg/: credit-pools@${version}; credit_pools_bg.wasm ${rawBytes} B from wasm-bindgen -> ${wasm.length} B after wasm-opt -Oz, ${gzipSync(wasm, { level: 9 }).length} B gzip`);
