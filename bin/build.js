#!/usr/bin/env node
// Compiles the TypeScript the `dtl` CLI runs (cli, common, indexer, api, gateway, monitor, scripts, typechain-types)
// to dist/ as CommonJS — transpile only, file by file, skipping files that are up to date, so it
// takes about a second. Types are checked by `npm run typecheck` (part of `npm test`).
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const ts = require("typescript");

const root = path.join(__dirname, "..");
const out = path.join(root, "dist");
const SOURCES = ["cli", "common", "indexer", "api", "gateway", "monitor", "scripts", "typechain-types"];
const ASSETS = ["api/schema.graphql"];
const options = {
  // Node16 emits CommonJS like CommonJS does, but keeps `import()` as is: ESM-only packages
  // (liboqs, common/keys-pq.ts) load through it, which require() cannot do
  module: ts.ModuleKind.Node16,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  resolveJsonModule: true,
  useDefineForClassFields: true,
};

function* walk(dir) {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

const newer = (src, dst) => !fs.existsSync(dst) || fs.statSync(src).mtimeMs > fs.statSync(dst).mtimeMs;

let compiled = 0;
let problems = 0;
const expected = new Set();
for (const dir of SOURCES) {
  for (const file of walk(path.join(root, dir))) {
    if (!file.endsWith(".ts") || file.endsWith(".d.ts")) continue;
    const rel = path.relative(root, file);
    const dst = path.join(out, rel.replace(/\.ts$/, ".js"));
    expected.add(dst);
    if (!newer(file, dst)) continue;
    const res = ts.transpileModule(fs.readFileSync(file, "utf8"), {
      compilerOptions: options,
      fileName: rel,
      reportDiagnostics: true,
    });
    for (const d of res.diagnostics ?? []) {
      problems++;
      process.stderr.write(`${rel}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}\n`);
    }
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.writeFileSync(dst, res.outputText);
    compiled++;
  }
}
for (const a of ASSETS) {
  const src = path.join(root, a);
  const dst = path.join(out, a);
  expected.add(dst);
  if (fs.existsSync(src) && newer(src, dst)) {
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(src, dst);
  }
}
// the console (console/, DESIGN.md §14): one JS and one CSS bundle for the browser, built here so
// `npm install` (prepare) and `npm start` make it and nothing is fetched at run time. esbuild is a
// devDependency that needs no install script (its binary comes as an optional dependency).
let esbuild;
try {
  esbuild = require("esbuild");
} catch {
  process.stderr.write("build: esbuild is not installed (a devDependency): the console is not built\n");
}
if (esbuild) {
  const consoleOut = path.join(out, "console");
  // chunk names carry a content hash: start empty so no stale chunk lingers
  fs.rmSync(consoleOut, { recursive: true, force: true });
  try {
    esbuild.buildSync({
      entryPoints: { app: path.join(root, "console/src/main.ts") },
      outdir: consoleOut,
      bundle: true,
      minify: true,
      format: "esm",
      // the chain check and the serial lookup (ethers) load as chunks when first used
      splitting: true,
      chunkNames: "chunk-[hash]",
      target: "es2022",
      platform: "browser",
      legalComments: "none",
      logLevel: "silent",
    });
    fs.copyFileSync(path.join(root, "console/index.html"), path.join(consoleOut, "index.html"));
  } catch (err) {
    problems++;
    process.stderr.write(`console: ${err.message}\n`);
  }
}
// drop outputs whose source is gone (a renamed file must not linger in dist/)
for (const dir of SOURCES) for (const f of walk(path.join(out, dir))) if (!expected.has(f)) fs.rmSync(f);
if (problems) {
  process.stderr.write(`build: ${problems} syntax problem(s)\n`);
  process.exit(1);
}
if (process.argv.includes("--verbose")) process.stdout.write(`build: ${compiled} file(s) compiled to dist/\n`);
