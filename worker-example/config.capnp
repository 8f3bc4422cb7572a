# Runs the example with the `workerd` npm package alone (wrangler and
# miniflare need Node 22). The package is embedded from ../pkg (run
# `make build` first); `make serve` / `make demo` start it like this:
#
#   workerd serve worker-example/config.capnp --experimental \
#     --socket-addr http=127.0.0.1:8787 --directory-path do-storage=/tmp/credit-pools-do
#
# ADMIN_TOKEN and TOKEN_SECRET come from the environment (Worker secrets in production).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .creditPools),
    (name = "kv", worker = .localKv),
    (name = "do-storage", disk = (writable = true)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const creditPools :Workerd.Worker = (
  compatibilityDate = "2025-09-01",
  modules = [
    (name = "worker.js", esModule = embed "src/worker.js"),
    (name = "catalog.js", esModule = embed "src/catalog.js"),
    (name = "auth.js", esModule = embed "src/auth.js"),
    (name = "page.html", text = embed "src/page.html"),
    (name = "app.page.js", text = embed "src/app.page.js"),
    # The credit-pools package, as a Worker bundle resolves its `workerd` export condition.
    (name = "credit-pools", esModule = embed "../pkg/workerd.js"),
    (name = "credit_pools.js", esModule = embed "../pkg/credit_pools.js"),
    (name = "credit_pools_bg.wasm", wasm = embed "../pkg/credit_pools_bg.wasm"),
  ],
  bindings = [
    (name = "CUSTOMERS", durableObjectNamespace = "CustomerLedger"),
    (name = "BALANCES", kvNamespace = "kv"),
    (name = "ADMIN_TOKEN", fromEnvironment = "ADMIN_TOKEN"),
    (name = "TOKEN_SECRET", fromEnvironment = "TOKEN_SECRET"),
    # The package's browser entry and .wasm, served to the preview page.
    (name = "PKG_BROWSER", text = embed "../pkg/browser.js"),
    (name = "PKG_GLUE", text = embed "../pkg/credit_pools.js"),
    (name = "PKG_WASM", data = embed "../pkg/credit_pools_bg.wasm"),
  ],
  durableObjectNamespaces = [(className = "CustomerLedger", uniqueKey = "credit-pools-customer-ledger", enableSql = true)],
  durableObjectStorage = (localDisk = "do-storage"),
);

const localKv :Workerd.Worker = (
  compatibilityDate = "2025-09-01",
  modules = [(name = "kv-local.js", esModule = embed "src/kv-local.js")],
);
