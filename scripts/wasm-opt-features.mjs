// The post-MVP features Rust 1.95 emits for wasm32-unknown-unknown: binaryen's
// wasm-opt must be told it may keep them. Shared by every script that runs it.
export const WASM_OPT_FEATURES = Object.freeze([
  "--enable-bulk-memory",
  "--enable-nontrapping-float-to-int",
  "--enable-sign-ext",
  "--enable-mutable-globals",
  "--enable-reference-types",
  "--enable-multivalue",
]);

// Custom sections no runtime reads: `producers` (the toolchain's names and
// versions) and `target_features` (for linkers). 0.2 KB of the gzip .wasm.
export const WASM_OPT_STRIP = Object.freeze(["--strip-producers", "--strip-target-features"]);
