// `make demo` and `make serve`: run the example Worker under the workerd npm
// package (no wrangler), on 127.0.0.1, with Durable Objects on local disk.
//
//   node worker-example/dev.mjs demo    play the seed story over HTTP, print the pools, stop
//   node worker-example/dev.mjs serve   keep running; prints an admin token and a preview URL
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { freePort } from "../scripts/free-port.mjs";
import { signCustomerToken } from "./src/auth.js";

const root = fileURLToPath(new URL("..", import.meta.url));

// Workers still running are killed if this process exits or is interrupted
// without stopping them, so no workerd is left behind.
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

/**
 * Starts `workerd serve worker-example/config.capnp` on 127.0.0.1 (a free port
 * unless `port` is given) with a fresh Durable Object directory; resolves once
 * `GET /` answers 200, within 20 s, else rejects with workerd's stderr.
 * Resolves `{ url, port, adminToken, tokenSecret, stop() }`; `stop` is idempotent.
 */
export async function startWorker({ port, adminToken, tokenSecret } = {}) {
  port ??= await freePort();
  adminToken ??= `admin-${randomBytes(16).toString("hex")}`;
  tokenSecret ??= randomBytes(32).toString("hex");
  const storage = mkdtempSync(join(tmpdir(), "credit-pools-do-"));
  const child = spawn(
    join(root, "node_modules/.bin/workerd"),
    ["serve", join(root, "worker-example/config.capnp"), "--experimental", "--socket-addr", `http=127.0.0.1:${port}`, "--directory-path", `do-storage=${storage}`],
    { cwd: root, env: { ...process.env, ADMIN_TOKEN: adminToken, TOKEN_SECRET: tokenSecret }, stdio: ["ignore", "ignore", "pipe"] },
  );
  running.set(child, storage);
  installExitHooks();
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => { stderr = (stderr + chunk).slice(-20_000); });
  let spawnError = null;
  child.once("error", (error) => { spawnError = error; });
  let exitInfo = null;
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  exited.then((info) => { exitInfo = info; running.delete(child); });
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
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (spawnError || exitInfo) {
      await stop();
      const how = spawnError ? spawnError.message : `code ${exitInfo.code}, signal ${exitInfo.signal}`;
      throw new Error(`workerd exited before answering (${how}):\n${stderr}`);
    }
    try {
      const response = await fetch(`${url}/`, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === 200) return { url, port, adminToken, tokenSecret, stop };
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`workerd did not answer 200 on ${url}/ within 20 s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function api(worker, method, path, body) {
  const response = await fetch(`${worker.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${worker.adminToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${JSON.stringify(json)}`);
  return { json, headers: response.headers };
}

async function demo() {
  const worker = await startWorker();
  try {
    const customerId = "customer-demo-01";
    console.log(`credit-pools worker-example on ${worker.url} (workerd, one Durable Object per customer)\n`);
    const say = (text) => console.log(`> ${text}`);
    for (const resourceId of ["workspace-example-com", "workspace-marketing", undefined]) {
      say(`POST /v1/subscriptions { planId: "plan-basic"${resourceId ? `, resourceId: "${resourceId}"` : ""} }`);
      await api(worker, "POST", "/v1/subscriptions", { customerId, planId: "plan-basic", resourceId });
    }
    say(`POST /v1/credits/grants { resourceId: "workspace-example-com", currencyId: "ai-tokens", amount: 5000 }`);
    await api(worker, "POST", "/v1/credits/grants", { customerId, resourceId: "workspace-example-com", currencyId: "ai-tokens", amount: 5000 });
    for (const [resourceId, value] of [["workspace-example-com", 150], ["workspace-marketing", 1200], [undefined, 40.5]]) {
      say(`POST /v1/usage { ${resourceId ? `resourceId: "${resourceId}", ` : ""}featureId: "feature-ai-tokens", value: ${value} }`);
      const { json } = await api(worker, "POST", "/v1/usage", { customerId, resourceId, featureId: "feature-ai-tokens", value, idempotencyKey: `demo-${resourceId ?? "global"}` });
      console.log(`  consumed ${json.credit.consumed}; balance ${json.credit.currentBalance}`);
    }
    const { json: snapshot } = await api(worker, "GET", `/v1/pools/snapshot?customerId=${customerId}`);
    console.log("\nPools (GET /v1/pools/snapshot; each pool is its own wallet — marketing's overdraft touched no other):");
    const rows = snapshot.pools.map((p) => ({ pool: p.resourceId ?? "(global pool)", granted: p.balance.totalGranted, consumed: p.balance.totalConsumed, balance: p.balance.currentBalance }));
    const width = { pool: 22, granted: 8, consumed: 9, balance: 8 };
    console.log(`  ${"pool".padEnd(width.pool)}${"granted".padStart(width.granted)}${"consumed".padStart(width.consumed)}${"balance".padStart(width.balance)}`);
    for (const row of rows) {
      console.log(`  ${row.pool.padEnd(width.pool)}${String(row.granted).padStart(width.granted)}${String(row.consumed).padStart(width.consumed)}${String(row.balance).padStart(width.balance)}`);
    }
    const cached = await api(worker, "GET", `/v1/credits/balance?customerId=${customerId}&resourceId=workspace-marketing&currencyId=ai-tokens&consistency=cached`);
    console.log(`\nGET /v1/credits/balance?…&consistency=cached → ${cached.json.currentBalance} (x-credit-pools-staleness: ${cached.headers.get("x-credit-pools-staleness")})`);
    const token = await signCustomerToken(worker.tokenSecret, { customerId, expiresAt: Date.now() + 3_600_000 });
    console.log(`\nPreview page (while running; \`make serve\` keeps it up): ${worker.url}/?token=${token}`);
  } finally {
    await worker.stop();
  }
}

async function serve() {
  const worker = await startWorker({ port: Number(process.env.PORT ?? 8787), adminToken: process.env.ADMIN_TOKEN ?? "dev-admin-token", tokenSecret: process.env.TOKEN_SECRET ?? "dev-token-secret" });
  const customerId = process.env.CUSTOMER ?? "customer-demo-01";
  const token = await signCustomerToken(worker.tokenSecret, { customerId, expiresAt: Date.now() + 24 * 3_600_000 });
  console.log(`credit-pools worker-example on ${worker.url}`);
  console.log(`admin token: ${worker.adminToken}`);
  console.log(`preview page for ${customerId}: ${worker.url}/?token=${token}`);
  console.log("Ctrl-C to stop.");
  const stop = async () => { await worker.stop(); process.exit(0); };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

const mode = process.argv[2];
if (mode === "demo") await demo();
else if (mode === "serve") await serve();
else if (mode !== undefined) { console.error("usage: node worker-example/dev.mjs demo|serve"); process.exit(2); }
