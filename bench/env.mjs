// Counts from the environment for the benchmark scripts: `BENCH_OPS=5000 make bench`.

/** `process.env[name]` as a positive integer, `fallback` when unset or empty; anything else throws, naming it. */
export function countFromEnv(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return value;
}
