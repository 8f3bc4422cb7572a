// credit-pools at the edge: a stateless front Worker that authenticates and
// routes each request to the Durable Object of its customer, which hosts a
// CreditLedger over its own storage and publishes balances to Workers KV.
//
// Why one Durable Object per customer: the object serialises every
// read-modify-write of the customer's pools (input gates hold across the
// ledger's awaits), and the customer is the unit the auto-recharge spend cap
// spans. Different customers scale out across objects.
import { CreditLedger } from "credit-pools";
import { CATALOG } from "./catalog.js";
import { sameSecret, verifyCustomerToken } from "./auth.js";
import PAGE from "./page.html";
import APP from "./app.page.js"; // the page script, imported as text (see wrangler.toml rules)

const BODY_BYTES_MAX = 64 * 1024;
/** Bytes of an oversized body read and dropped before the 413 (see readBody). */
const BODY_DRAIN_BYTES_MAX = 4 * 1024 * 1024;

/** method + path → operation, who may call it, and where its input comes from. */
const ROUTES = {
  "POST /v1/subscriptions": { op: "provisionSubscription", admin: true },
  "POST /v1/credits/grants": { op: "grantCredits", admin: true },
  "POST /v1/credits/grants/void": { op: "voidCreditGrant", admin: true },
  "POST /v1/credits/recharge-configuration": { op: "saveAutomaticRechargeConfiguration", admin: true },
  "GET /v1/credits/recharge-configuration": { op: "getAutomaticRechargeConfiguration", admin: true },
  "POST /v1/usage": { op: "reportUsage" },
  "POST /v1/credits/consume": { op: "consumeCredits" },
  "POST /v1/credits/estimate": { op: "estimateUsageCost" },
  "GET /v1/credits/balance": { op: "getCreditBalance" },
  "GET /v1/credits/ledger": { op: "getCreditLedger" },
  "GET /v1/credits/grants": { op: "getCreditGrants" },
  "GET /v1/credits/usage": { op: "getCreditUsage" },
  "GET /v1/pools/snapshot": { op: "snapshot" },
};

/** Library error codes → HTTP statuses (a bad request is never a 500). */
const STATUS = {
  INVALID_ARGUMENT: 400,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  INSUFFICIENT_CREDITS: 402,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  IDEMPOTENCY_CONFLICT: 409,
  INVALID_STATE: 409,
  PAYLOAD_TOO_LARGE: 413,
  LIMIT_EXCEEDED: 422,
  STORE_ERROR: 503,
  CORRUPT_STATE: 500,
};

const json = (body, status = 200, headers = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });

const failure = (code, message) => json({ error: { code, message } }, STATUS[code] ?? 500);

/** Numbers and lists in query strings, for the read routes. */
function queryInput(url) {
  const input = {};
  for (const [key, value] of url.searchParams) {
    if (key === "consistency" || key === "token") continue;
    // A number where the SDK wants one; anything else goes through as text, so
    // the ledger rejects it (400) instead of it being silently dropped.
    if (key === "limit") input.limit = value.trim() !== "" && Number.isFinite(Number(value)) ? Number(value) : value;
    else if (key === "eventType" || key === "groupBy") (input[key] ??= []).push(...value.split(","));
    else input[key] = value;
  }
  return input;
}

async function readBody(request) {
  const tooLarge = () => ({ error: failure("PAYLOAD_TOO_LARGE", `bodies are limited to ${BODY_BYTES_MAX} bytes`) });
  const declared = Number(request.headers.get("content-length") ?? 0);
  if (declared > BODY_DRAIN_BYTES_MAX) return tooLarge();
  // A body over the limit is still read to its end (and dropped), up to
  // BODY_DRAIN_BYTES_MAX: answering while the client is still sending makes
  // HTTP clients (undici's fetch among them) see a reset, not the 413.
  const chunks = [];
  let received = 0;
  const reader = request.body?.getReader();
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.length;
    if (received <= BODY_BYTES_MAX) chunks.push(value);
    if (received > BODY_DRAIN_BYTES_MAX) {
      await reader.cancel();
      break;
    }
  }
  if (received > BODY_BYTES_MAX) return tooLarge();
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  try {
    const input = JSON.parse(new TextDecoder().decode(bytes));
    if (input === null || typeof input !== "object" || Array.isArray(input)) throw new Error("not an object");
    return { input };
  } catch (error) {
    return { error: failure("BAD_REQUEST", `the body must be a JSON object: ${error.message}`) };
  }
}

/** Who is calling: the admin, a customer (scoped), or nobody (→ 401). */
async function authenticate(request, url, env) {
  const header = request.headers.get("authorization") ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7).trim() : url.searchParams.get("token") ?? "";
  if (sameSecret(token, env.ADMIN_TOKEN)) return { admin: true };
  const claims = await verifyCustomerToken(env.TOKEN_SECRET, token, Date.now());
  return claims ? { admin: false, ...claims } : null;
}

// The global pool is `g`, a resource `r:<id>`: no resource id can produce the global pool's key.
const balanceCacheKey = (customerId, resourceId, currencyId) =>
  `balance/${encodeURIComponent(customerId)}/${resourceId == null ? "g" : `r:${encodeURIComponent(resourceId)}`}/${encodeURIComponent(currencyId)}`;

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (request.method === "GET" && (url.pathname === "/" || url.pathname === "/index.html")) {
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (request.method === "GET" && url.pathname === "/app.js") {
      return new Response(APP, { headers: { "content-type": "text/javascript; charset=utf-8" } });
    }
    if (request.method === "GET" && url.pathname.startsWith("/pkg/")) {
      return servePackage(url.pathname.slice(5), env);
    }
    const route = ROUTES[`${request.method} ${url.pathname}`];
    if (!route) return failure("NOT_FOUND", `no route ${request.method} ${url.pathname}`);
    const caller = await authenticate(request, url, env);
    if (!caller) return failure("UNAUTHORIZED", "a valid admin or customer token is required (Authorization: Bearer …)");
    if (route.admin && !caller.admin) return failure("FORBIDDEN", "this route needs the admin token");
    let input;
    if (request.method === "POST") {
      const body = await readBody(request);
      if (body.error) return body.error;
      input = body.input;
    } else {
      input = queryInput(url);
    }
    if (typeof input.customerId !== "string" || input.customerId === "") {
      return failure("INVALID_ARGUMENT", "customerId is required to route the request");
    }
    if (!caller.admin) {
      if (caller.customerId !== input.customerId) return failure("FORBIDDEN", "the token belongs to another customer");
      // A resource-scoped token's snapshot is its resource's: no need to name it.
      if (route.op === "snapshot" && caller.resourceId !== null && input.resourceId === undefined) input.resourceId = caller.resourceId;
      if (caller.resourceId !== null && (input.resourceId ?? null) !== caller.resourceId) {
        return failure("FORBIDDEN", `the token only reaches resource ${JSON.stringify(caller.resourceId)}`);
      }
    }
    if (route.op === "getCreditBalance" && url.searchParams.get("consistency") === "cached" && typeof input.currencyId === "string") {
      const cached = await env.BALANCES.get(balanceCacheKey(input.customerId, input.resourceId ?? null, input.currencyId));
      if (cached !== null) return new Response(cached, { headers: { "content-type": "application/json; charset=utf-8", "x-credit-pools-staleness": "cached" } });
    }
    const stub = env.CUSTOMERS.get(env.CUSTOMERS.idFromName(input.customerId));
    const scopedResource = caller.admin ? undefined : caller.resourceId;
    const response = await stub.fetch("https://customer-ledger/op", {
      method: "POST",
      body: JSON.stringify({ op: route.op, input, scopedResource }),
    });
    const headers = new Headers(response.headers);
    if (route.op === "getCreditBalance") headers.set("x-credit-pools-staleness", "fresh");
    return new Response(response.body, { status: response.status, headers });
  },
};

/** The package's browser entry and .wasm, for the preview page. */
async function servePackage(file, env) {
  const files = {
    "browser.js": ["text/javascript", env.PKG_BROWSER],
    "credit_pools.js": ["text/javascript", env.PKG_GLUE],
    "credit_pools_bg.wasm": ["application/wasm", env.PKG_WASM],
  };
  const entry = files[file];
  if (entry && entry[1] == null && env.ASSETS) {
    // Deployed with wrangler: ../pkg is uploaded as static assets.
    return env.ASSETS.fetch(new Request(`https://assets.local/${file}`));
  }
  if (!entry || entry[1] == null) return failure("NOT_FOUND", `no file /pkg/${file}`);
  return new Response(entry[1], { headers: { "content-type": entry[0], "cache-control": "no-store" } });
}

/** One per customer: the only writer of that customer's pools. */
export class CustomerLedger {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    // Durable Object storage is the ledger's kv: get/put return Promises, and
    // the object's input gates keep each operation's reads and writes together.
    // `putMany` is storage.put(entries): an operation's writes land in one
    // atomic call. No putIfVersion: this object is the customer's only writer,
    // which `exclusive` declares — a warm pool then needs no storage read.
    const storage = ctx.storage;
    this.ledger = new CreditLedger({
      kv: {
        get: (key) => storage.get(key),
        put: (key, value) => storage.put(key, value),
        putMany: (entries) => storage.put(entries),
      },
      catalog: CATALOG,
      exclusive: true,
    });
    // Publishing to KV leaves the object's input gate (KV is not its storage),
    // so publishes are chained: each reads the balance when its turn comes, and
    // the last one always carries the latest state.
    this.publishing = Promise.resolve();
  }

  async fetch(request) {
    const { op, input, scopedResource } = await request.json();
    try {
      if (op === "snapshot") return json(await this.snapshot(input.customerId, scopedResource));
      const result = await this.ledger[op](input);
      if (WRITES.has(op)) {
        this.publishing = this.publishing.then(() => this.publishBalances(input, result)).catch(() => {});
        await this.publishing;
      }
      return json(result);
    } catch (error) {
      const code = typeof error?.code === "string" ? error.code : "CORRUPT_STATE";
      return failure(code, error?.message ?? String(error));
    }
  }

  /** After a write, the touched pools' balances go to the KV read cache. */
  async publishBalances(input, result) {
    const currencyId = result?.credit?.currencyId ?? result?.currencyId ?? input.currencyId;
    const currencies = currencyId ? [currencyId] : CATALOG.currencies.map((c) => c.id);
    const resourceId = result?.resourceId ?? result?.subscription?.resourceId ?? input.resourceId ?? null;
    for (const currency of currencies) {
      const balance = await this.ledger.getCreditBalance({ customerId: input.customerId, resourceId, currencyId: currency });
      await this.env.BALANCES.put(balanceCacheKey(input.customerId, resourceId, currency), JSON.stringify({ ...balance, publishedAt: new Date().toISOString() }));
    }
  }

  /**
   * What the browser needs for previews: the catalog, every pool of the
   * customer (or of the token's resource) with its balance and recent ledger,
   * and the raw scope heads, so the browser's own CreditLedger can price
   * estimates locally with exactly this code.
   */
  async snapshot(customerId, scopedResource) {
    const stem = `credit-pools/s/${new TextEncoder().encode(customerId).length}:${customerId}`;
    // The customer's keys in pages of 1,000 (heads, ledger pages, idempotency
    // records); only the heads matter here. Bounded at 200 pages.
    const heads = [];
    let startAfter;
    for (let page = 0; page < 200; page++) {
      const stored = await this.ctx.storage.list({ prefix: stem, limit: 1000, ...(startAfter ? { startAfter } : {}) });
      for (const [key, value] of stored) if (key.endsWith("/h")) heads.push([key, value]);
      if (stored.size < 1000) break;
      startAfter = [...stored.keys()].at(-1);
    }
    const entries = {};
    const pools = [];
    for (const [key, value] of heads) {
      // A scope head (see the library's HACKING.md, "What a head holds"):
      // r = resource id (absent: the global pool), p = pools (c = currency), s = subscription (p = plan).
      const head = JSON.parse(value);
      const resourceId = head.r ?? null;
      if (scopedResource != null && resourceId !== scopedResource) continue;
      entries[key] = value;
      for (const pool of head.p) {
        const scope = { customerId, resourceId, currencyId: pool.c };
        const balance = await this.ledger.getCreditBalance(scope);
        const { events } = await this.ledger.getCreditLedger({ ...scope, order: "ASC", limit: 500 });
        pools.push({ resourceId, currencyId: pool.c, planId: head.s?.p ?? null, balance, events });
      }
    }
    return { customerId, generatedAt: new Date().toISOString(), catalog: CATALOG, entries, pools };
  }
}

const WRITES = new Set(["provisionSubscription", "grantCredits", "voidCreditGrant", "reportUsage", "consumeCredits", "saveAutomaticRechargeConfiguration"]);
