// Runs js-tests/workerd/worker.mjs inside workerd (the Cloudflare Workers
// runtime) against the built package in pkg/.
//
// The package is loaded the way a user's Worker loads it: `credit-pools` is
// a module whose source is the file pkg/package.json's `exports["."].workerd`
// condition points to, and the modules that file imports (the wasm-bindgen
// glue and the .wasm, which workerd hands over as a compiled
// WebAssembly.Module) sit beside it under the names its relative imports
// resolve to.
//
//   node --test js-tests/workerd.test.mjs        (after `make build`)
//
// The generated capnp config goes to a fresh directory under os.tmpdir(); it
// is removed when the run passes and kept (its path is printed) when it fails.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const PKG_DIR = path.join(ROOT, "pkg");
const WORKER = path.join(HERE, "workerd", "worker.mjs");
const WORKERD = path.join(ROOT, "node_modules", ".bin", process.platform === "win32" ? "workerd.cmd" : "workerd");
const COMPATIBILITY_DATE = "2025-09-01";
// Each variant runs every test handler once. Most Workers enable nodejs_compat.
const VARIANTS = [
  { label: "no compatibility flags", flags: [] },
  { label: "nodejs_compat", flags: ["nodejs_compat"] },
];
const TIMEOUT_MS = 60_000;
const SERVICE = "main";

// Static `import ... from "x"`, `import "x"` and `export ... from "x"` specifiers of an ES module.
function staticImports(source) {
  const code = source
    .replace(/\/\*[\s\S]*?\*\//g, "") // block comments (wasm-bindgen's doc comments hold example imports)
    .replace(/^\s*\/\/.*$/gm, ""); // whole-line comments
  const specifiers = [];
  const re = /(?:^|[;\s])(?:import|export)\s*(?:[\w*${}\s,]+?\s*from\s*)?["']([^"']+)["']/g;
  for (const m of code.matchAll(re)) specifiers.push(m[1]);
  return specifiers;
}

const MODULE_KIND = { ".js": "esModule", ".mjs": "esModule", ".wasm": "wasm", ".json": "json" };

// The modules that make up the package under workerd: the entry named
// `packageName`, plus every file reachable from it through relative static
// imports, named by its path relative to the entry's directory (which is how
// workerd resolves "./x" from a module named `packageName`).
function packageModules(packageName, entryFile) {
  const baseDir = path.dirname(entryFile);
  const modules = [{ name: packageName, kind: "esModule", file: entryFile }];
  const seen = new Set([entryFile]);
  const queue = [entryFile];
  while (queue.length) {
    const from = queue.shift();
    for (const spec of staticImports(readFileSync(from, "utf8"))) {
      if (!spec.startsWith("./") && !spec.startsWith("../")) continue; // bare/builtin: not part of the package
      const file = path.resolve(path.dirname(from), spec);
      if (seen.has(file)) continue;
      seen.add(file);
      assert.ok(existsSync(file), `${path.relative(ROOT, from)} imports ${spec}, but ${file} does not exist`);
      const name = path.relative(baseDir, file).split(path.sep).join("/");
      assert.ok(
        !name.startsWith("../"),
        `${spec} (imported by ${path.relative(ROOT, from)}) lies outside the workerd entry's directory; ` +
          `it cannot be named so that it resolves relative to the module "${packageName}"`,
      );
      const kind = MODULE_KIND[path.extname(file)];
      assert.ok(kind, `no workerd module type for ${name}`);
      modules.push({ name, kind, file });
      if (kind === "esModule") queue.push(file);
    }
  }
  return modules;
}

// Names of the worker's test entrypoints: `export const NAME = { async test(...) ... }`.
function testHandlers(workerSource) {
  return [...workerSource.matchAll(/^export\s+(?:const|let)\s+(\w+)\s*=\s*\{\s*\n?\s*async\s+test\s*\(/gm)].map(
    (m) => m[1],
  );
}

const capnpString = (s) => JSON.stringify(s);

function writeConfig(dir, modules, bindings, flags) {
  const configPath = path.join(dir, "config.capnp");
  // Paths in `embed` are read relative to the config file (a leading "/" means
  // "search the -I import path", not an absolute file path).
  const rel = (file) => path.relative(dir, file).split(path.sep).join("/");
  const moduleLines = modules.map(
    (m) => `    (name = ${capnpString(m.name)}, ${m.kind} = embed ${capnpString(rel(m.file))}),`,
  );
  const bindingLines = Object.entries(bindings).map(
    ([name, value]) => `    (name = ${capnpString(name)}, text = ${capnpString(value)}),`,
  );
  const config = [
    `using Workerd = import "/workerd/workerd.capnp";`,
    ``,
    `const config :Workerd.Config = (`,
    `  services = [ (name = ${capnpString(SERVICE)}, worker = .testWorker) ],`,
    `);`,
    ``,
    `const testWorker :Workerd.Worker = (`,
    `  modules = [`,
    ...moduleLines,
    `  ],`,
    `  bindings = [`,
    ...bindingLines,
    `  ],`,
    `  compatibilityDate = ${capnpString(COMPATIBILITY_DATE)},`,
    `  compatibilityFlags = [ ${flags.map(capnpString).join(", ")} ],`,
    `);`,
    ``,
  ].join("\n");
  writeFileSync(configPath, config);
  return { configPath, config };
}

function run(cmd, args, { cwd, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut, stdout, stderr });
    });
  });
}

test("credit-pools passes its tests inside workerd, loaded through the `workerd` export condition", async (t) => {
  assert.ok(existsSync(path.join(PKG_DIR, "package.json")), "pkg/package.json is missing: run `make build` first");
  assert.ok(existsSync(WORKERD), `${WORKERD} is missing: run \`npm install\` first`);

  const pkg = JSON.parse(readFileSync(path.join(PKG_DIR, "package.json"), "utf8"));
  const rootExport = pkg.exports?.["."];
  assert.equal(typeof rootExport, "object", 'pkg/package.json has no exports["."] conditions map');
  const workerdTarget = rootExport.workerd;
  assert.equal(typeof workerdTarget, "string", 'pkg/package.json exports["."] has no "workerd" condition');
  assert.ok(workerdTarget.startsWith("./"), `exports["."].workerd must be a relative path, got ${workerdTarget}`);
  // Bundlers pick the first matching condition: `workerd` must come before the
  // catch-alls a Workers build also matches.
  const order = Object.keys(rootExport);
  for (const later of ["browser", "default", "import", "module"]) {
    if (order.includes(later)) {
      assert.ok(order.indexOf("workerd") < order.indexOf(later), `"workerd" must precede "${later}" in exports["."]`);
    }
  }

  const entryFile = path.resolve(PKG_DIR, workerdTarget);
  assert.ok(existsSync(entryFile), `exports["."].workerd points to ${workerdTarget}, which does not exist`);

  const modules = packageModules(pkg.name, entryFile);
  assert.ok(
    modules.some((m) => m.kind === "wasm"),
    `the workerd entry must import the .wasm as a module (workerd refuses compiling wasm from bytes); modules: ${modules
      .map((m) => m.name)
      .join(", ")}`,
  );

  const handlers = testHandlers(readFileSync(WORKER, "utf8"));
  assert.ok(handlers.length >= 7, `expected at least 7 test handlers in worker.mjs, found ${handlers.join(", ")}`);
  const expected = handlers.map((h) => `${SERVICE}:${h}`).sort();

  const mainModule = { name: "worker.mjs", kind: "esModule", file: WORKER };
  assert.ok(!modules.some((m) => m.name === mainModule.name), "module name clash with worker.mjs");

  for (const variant of VARIANTS) {
    await t.test(`workerd test, compatibilityDate ${COMPATIBILITY_DATE}, ${variant.label}`, async (st) => {
      const dir = mkdtempSync(path.join(tmpdir(), "credit-pools-workerd-"));
      const { configPath, config } = writeConfig(
        dir,
        [mainModule, ...modules],
        { EXPECTED_NAME: pkg.name, EXPECTED_VERSION: pkg.version },
        variant.flags,
      );

      const args = ["test", configPath];
      const result = await run(WORKERD, args, { cwd: dir, timeoutMs: TIMEOUT_MS });
      const output = result.stdout + result.stderr;
      const report = [
        `$ ${WORKERD} ${args.join(" ")}`,
        `exit code ${result.code}${result.signal ? ` (signal ${result.signal})` : ""}`,
        `--- config (${configPath}) ---`,
        config,
        `--- output ---`,
        output,
      ].join("\n");

      // workerd prints "[ TEST ] service:entrypoint", then "[ PASS ] ..." or "[ FAIL ] ...".
      const started = [...output.matchAll(/\[ TEST \] (\S+)/g)].map((m) => m[1]);
      const passed = [...output.matchAll(/\[ PASS \] (\S+)/g)].map((m) => m[1]);
      const failed = [...output.matchAll(/\[ FAIL \] (\S+)/g)].map((m) => m[1]);

      try {
        assert.equal(result.timedOut, false, `workerd did not finish within ${TIMEOUT_MS} ms\n${report}`);
        assert.deepEqual(failed, [], `workerd tests failed: ${failed.join(", ")}\n${report}`);
        assert.equal(result.code, 0, `workerd exited with ${result.code}\n${report}`);
        assert.deepEqual([...started].sort(), expected, `workerd ran a different set of tests\n${report}`);
        assert.equal(passed.length, handlers.length, `expected ${handlers.length} passing tests, got ${passed.length}\n${report}`);
        assert.deepEqual([...passed].sort(), expected, `passing tests differ from the handlers\n${report}`);
      } catch (err) {
        st.diagnostic(`kept the generated config in ${dir}`);
        throw err;
      }
      st.diagnostic(`workerd: ${passed.length}/${handlers.length} tests passed (${passed.join(", ")})`);
      rmSync(dir, { recursive: true, force: true });
    });
  }
});
