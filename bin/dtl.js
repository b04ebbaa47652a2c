#!/usr/bin/env node
// The `dtl` command. Runs the compiled CLI from dist/ (built by `npm install` / `npm run build`);
// DTL_FROM_SOURCE=1 runs the TypeScript sources through ts-node instead (slower start, no build).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

// `dtl history … | head` closes stdout early: that is no error
process.stdout.on("error", (err) => process.exit(err && err.code === "EPIPE" ? 0 : 1));

const root = path.join(__dirname, "..");
const built = path.join(root, "dist", "cli", "main.js");
let cli;
if (process.env.DTL_FROM_SOURCE !== "1" && fs.existsSync(built)) {
  cli = require(built);
} else {
  try {
    require("ts-node").register({ transpileOnly: true, project: path.join(root, "tsconfig.json") });
  } catch {
    process.stderr.write("dtl: the CLI is not built (dist/cli/main.js missing): run `npm run build`\n");
    process.exit(1);
  }
  cli = require(path.join(root, "cli", "main.ts"));
}
// exit once stdout and stderr are flushed: a pipe takes big outputs (register --file --json)
// in pieces, and process.exit would cut them off
const exit = (code) => process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
cli.main(process.argv.slice(2)).then(
  (code) => exit(code),
  (err) => {
    process.stderr.write(`dtl: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
