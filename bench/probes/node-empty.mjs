// Child of bench/bench.mjs: the baseline of the Node cold start — an ES module
// that does nothing but say how long after its process's time origin it ran.
console.log(JSON.stringify({ sinceProcessStartMs: performance.now(), importMs: 0, importToFirstOpMs: 0 }));
