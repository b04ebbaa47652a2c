/** Where the package lives on disk, whether code runs from source or from dist/. */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

function findProjectRoot(from: string): string {
  let dir = from;
  for (let i = 0; i < 6; i++) {
    const pkg = path.join(dir, "package.json");
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === "device-trust-ledger")
      return dir;
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find the device-trust-ledger package root above ${from}`);
}

/** The package root (the folder holding package.json, hardhat.config.ts, node_modules). */
export const PROJECT_ROOT = findProjectRoot(__dirname);

export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;
}
