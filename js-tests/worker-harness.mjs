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
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { signCustomerToken } from "../worker-example/src/auth.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WORKERD = path.join(ROOT, "node_modules", ".bin", "workerd");
const CONFIG = path.join(ROOT, "worker-example", "config.capnp");
const START_TIMEOUT_MS = 20_000;
const QUERY_METHODS = new Set(["GET", "HEAD", "DELETE"]);

/**
 * Workers still running: killed if the test process exits (or is interrupted
 * or cancelled with SIGINT/SIGTERM) without stopping them, so no workerd is
 * left behind.
 */
const running = new Map(); // child process → its storage directory
let exitHooksInstalled = false;
function killLeftovers() {
  for (const [child, storage] of running) {
    try {
      child.kill("SIGKILL");
      rmSync(storage, { recursive: true, force: true });
    } catch {}
  }
  running.clear();
}
function onSignal(signal) {
  killLeftovers();
  process.removeListener("SIGINT", onSignal);
  process.removeListener("SIGTERM", onSignal);
  // Keep the signal's usual effect: die by it, unless someone else handles it.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}
function installExitHooks() {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.once("exit", killLeftovers);
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
  adminToken ??= `admin-${randomBytes(16).toString("hex")}`;
  tokenSecret ??= randomBytes(32).toString("hex");
  const port = await freePort();
  const storage = mkdtempSync(path.join(tmpdir(), "credit-pools-worker-test-"));
  const child = spawn(
    WORKERD,
    ["serve", CONFIG, "--experimental", "--socket-addr", `http=127.0.0.1:${port}`, "--directory-path", `do-storage=${storage}`],
    { cwd: ROOT, env: { ...process.env, ADMIN_TOKEN: adminToken, TOKEN_SECRET: tokenSecret }, stdio: ["ignore", "ignore", "pipe"] },
  );
  running.set(child, storage);
  installExitHooks();
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  let spawnError = null;
  child.once("error", (error) => {
    spawnError = error;
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let exitInfo = null;
  exited.then((info) => {
    exitInfo = info;
    running.delete(child);
  });

  let stopped = null;
  const stop = () =>
    (stopped ??= (async () => {
      if (exitInfo === null && spawnError === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(child);
      rmSync(storage, { recursive: true, force: true });
    })());

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (spawnError || exitInfo) {
      await stop();
      const how = spawnError ? spawnError.message : `code ${exitInfo.code}, signal ${exitInfo.signal}`;
      throw new Error(`workerd exited before answering (${how}):\n${stderr}`);
    }
    try {
      const response = await fetch(`${url}/`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`workerd did not answer 200 on ${url}/ within ${START_TIMEOUT_MS} ms:\n${stderr}`);
    }
    await sleep(100);
  }

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
