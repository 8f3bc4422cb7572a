// Cloudflare Workers (workerd): a .wasm import is a compiled WebAssembly.Module,
// and runtime compilation from bytes is refused, so instantiate from the module.
import wasmModule from "./credit_pools_bg.wasm";
import { initSync } from "./credit_pools.js";

initSync({ module: wasmModule });

export * from "./credit_pools.js";
export { default } from "./credit_pools.js";
