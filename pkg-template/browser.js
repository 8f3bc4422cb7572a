// Browsers and bundlers: fetch and instantiate the .wasm next to this file
// (bundlers emit it as an asset from the glue's `new URL(…, import.meta.url)`).
// Top-level await makes the module ready on import; `credit-pools/web` skips
// this for callers that want to call `init()` themselves.
import init from "./credit_pools.js";

await init();

export * from "./credit_pools.js";
export { default } from "./credit_pools.js";
