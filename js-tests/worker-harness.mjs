// Test harness for the Cloudflare Worker example (worker-example/): starts it
// under the workerd npm binary on a free 127.0.0.1 port, with a fresh
// Durable Object storage directory, and offers small HTTP helpers.
//
//   import { startWorker } from "./worker-harness.mjs";
//   const worker = await startWorker();          // random admin token and token secret
//   await worker.admin("POST", "/v1/subscriptions", { customerId: "c1", planId: "plan-basic" });
//   const token = await worker.customerToken({ customerId: "c1" });   // valid for 1 h
//   const { status, headers, body } = await worker.call(token, "GET", "/v1/credits/balance",
//     { customerId: "c1", currencyId: "ai-tokens" });
//   await worker.stop();
//
// API (everything else in this file is private):
//
// startWorker({ adminToken?, tokenSecret? } = {}) → Promise<Worker>
//   Spawns `workerd serve worker-example/config.capnp` (needs pkg/, `make build`)
//   and resolves once `GET /` answers 200 (20 s at most). Rejects with workerd's
//   stderr if it exits early or never answers.
//
// Worker:
//   url           "http://127.0.0.1:<port>" (no trailing slash)
//   adminToken    the ADMIN_TOKEN it runs with
//   tokenSecret   the TOKEN_SECRET it runs with
//   stop()        SIGTERM, waits for the exit, removes the storage directory (idempotent)
//   admin(method, path, input?)         = call(adminToken, method, path, input)
//   call(token, method, path, input?)   one request; `token` null/undefined → no Authorization
//       header, any other string → `Authorization: Bearer <token>`.
//       `input` for GET/HEAD/DELETE: an object of query parameters (undefined/null values
//       are skipped, arrays are joined with ","), appended to any query already in `path`.
//       `input` for other methods: an object/array/number is sent as JSON; a string,
//       Uint8Array or Buffer is sent verbatim (for malformed bodies); undefined → no body.
//       Resolves { status, headers (a Headers), body }: body is the parsed JSON when the
//       answer parses as JSON, else its text (binary answers: use fetch(worker.url + path)).
//   customerToken({ customerId, resourceId?, expiresAt? }) → Promise<string>: a `cp1.` token signed with
//       tokenSecret by worker-example/src/auth.js; expiresAt (epoch ms) defaults to now + 1 h.
import { signCustomerToken } from "../worker-example/src/auth.js";
// Starting and stopping workerd (free port, fresh storage, exit hooks) is the
// example's own `startWorker`, shared with `make demo` and `make serve`.
import { startWorker as spawnWorker } from "../worker-example/dev.mjs";

const QUERY_METHODS = new Set(["GET", "HEAD", "DELETE"]);

function withQuery(pathname, query) {
  if (query == null) return pathname;
  const [base, existing = ""] = pathname.split("?", 2);
  const params = new URLSearchParams(existing);
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    params.append(key, Array.isArray(value) ? value.join(",") : String(value));
  }
  const search = params.toString();
  return search ? `${base}?${search}` : base;
}

export async function startWorker({ adminToken, tokenSecret } = {}) {
  const worker = await spawnWorker({ adminToken, tokenSecret });
  ({ adminToken, tokenSecret } = worker);
  const { url, stop } = worker;

  async function call(token, method, pathname, input) {
    const headers = {};
    if (token !== undefined && token !== null) headers.authorization = `Bearer ${token}`;
    let target = pathname;
    let body;
    if (QUERY_METHODS.has(method)) {
      target = withQuery(pathname, input);
    } else if (input !== undefined) {
      if (typeof input === "string" || input instanceof Uint8Array) {
        body = input;
      } else {
        body = JSON.stringify(input);
      }
      headers["content-type"] = "application/json";
    }
    const response = await fetch(`${url}${target}`, { method, headers, body });
    const text = await response.text();
    let parsed = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, headers: response.headers, body: parsed };
  }

  return {
    url,
    adminToken,
    tokenSecret,
    stop,
    call,
    admin: (method, pathname, input) => call(adminToken, method, pathname, input),
    customerToken: ({ customerId, resourceId, expiresAt = Date.now() + 3_600_000 }) =>
      signCustomerToken(tokenSecret, { customerId, resourceId, expiresAt }),
  };
}
