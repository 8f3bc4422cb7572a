// Key-value stores for the benchmark: the `kv` option of `CreditLedger`.
//
// - syncMapKv: a Map whose methods return plain values (the fastest host).
// - asyncMapKv: the same Map, every method returning a Promise (as Durable
//   Object storage does), so the cost of the ledger awaiting the host shows.
// - countingKv: wraps either and counts what the ledger asks of the store.
//
// Only methods a store really offers are defined: the ledger decides at
// construction whether to batch (`putMany`) by looking for the method.

/** Stored values are strings; their size on the wire is their UTF-8 length. */
const utf8Bytes = (text) => Buffer.byteLength(text, "utf8");

/** A Map with synchronous `get`/`put` (and `putMany` when `withPutMany`). */
export function syncMapKv(map = new Map(), { withPutMany = false } = {}) {
  const kv = {
    map,
    get: (key) => map.get(key),
    put: (key, value) => {
      map.set(key, value);
    },
  };
  if (withPutMany) {
    kv.putMany = (entries) => {
      for (const [key, value] of Object.entries(entries)) map.set(key, value);
    };
  }
  return kv;
}

/** The same Map behind Promise-returning methods. */
export function asyncMapKv(map = new Map(), { withPutMany = false } = {}) {
  const inner = syncMapKv(map, { withPutMany });
  const kv = {
    map,
    get: async (key) => inner.get(key),
    put: async (key, value) => inner.put(key, value),
  };
  if (withPutMany) kv.putMany = async (entries) => inner.putMany(entries);
  return kv;
}

/** A zeroed set of counters. */
export function emptyKvCounts() {
  return { gets: 0, puts: 0, putManyCalls: 0, writeCalls: 0, bytesRead: 0, bytesWritten: 0 };
}

/** `after − before`, counter by counter. */
export function diffKvCounts(after, before) {
  const diff = emptyKvCounts();
  for (const name of Object.keys(diff)) diff[name] = after[name] - before[name];
  return diff;
}

/**
 * Counts every call the ledger makes on `inner`: `get`s, `put`s, `putMany`
 * calls, write calls (puts + putMany calls: round trips that write), bytes
 * read (UTF-8 length of the values returned) and bytes written (key + value
 * lengths of every entry). Offers `putMany` only when `withPutMany` is set
 * and `inner` has it. Read the running totals with `snapshot()`.
 */
export function countingKv(inner, { withPutMany = false } = {}) {
  const counts = emptyKvCounts();
  const settle = (result, onValue) =>
    result !== null && typeof result === "object" && typeof result.then === "function" ? result.then(onValue) : onValue(result);
  const countRead = (value) => {
    if (typeof value === "string") counts.bytesRead += utf8Bytes(value);
    return value;
  };
  const kv = {
    get(key) {
      counts.gets += 1;
      return settle(inner.get(key), countRead);
    },
    put(key, value) {
      counts.puts += 1;
      counts.writeCalls += 1;
      counts.bytesWritten += utf8Bytes(key) + utf8Bytes(value);
      return inner.put(key, value);
    },
    snapshot: () => ({ ...counts }),
  };
  if (withPutMany) {
    if (typeof inner.putMany !== "function") throw new Error("countingKv: withPutMany needs an inner store with putMany");
    kv.putMany = (entries) => {
      counts.putManyCalls += 1;
      counts.writeCalls += 1;
      for (const [key, value] of Object.entries(entries)) counts.bytesWritten += utf8Bytes(key) + utf8Bytes(value);
      return inner.putMany(entries);
    };
  }
  return kv;
}
