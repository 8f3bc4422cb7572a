// Node >= 20: read the one shared .wasm from disk and instantiate synchronously,
// so `import` and `require` both hand back a ready module (no top-level await).
import { readFileSync } from "node:fs";
import { initSync } from "./credit_pools.js";

initSync({ module: readFileSync(new URL("./credit_pools_bg.wasm", import.meta.url)) });

export * from "./credit_pools.js";
export { default } from "./credit_pools.js";
