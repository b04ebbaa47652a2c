/**
 * The indexer as a real child process (indexer/main.ts), for the SIGKILL tests and the bench.
 * It is compiled once to JavaScript (tsc without type checking, into node_modules/.cache) so a
 * process starts in a few hundred ms instead of ts-node's ~2 s.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Deployment } from "../../common/deployment";

const ROOT = path.resolve(__dirname, "..", "..");
const OUT = path.join(ROOT, "node_modules", ".cache", "dtl-indexer-build");

let built: string | undefined;

/** Compiles indexer/main.ts and what it imports; returns the path of main.js. */
export function buildIndexer(): string {
  if (built) return built;
  const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const args = [
    tsc,
    "--noCheck",
    "--outDir",
    OUT,
    "--rootDir",
    ROOT,
    "--module",
    "nodenext",
    "--moduleResolution",
    "nodenext",
    "--target",
    "ES2022",
    "--esModuleInterop",
    "--resolveJsonModule",
    "--skipLibCheck",
    "--types",
    "node",
    path.join(ROOT, "indexer", "main.ts"),
  ];
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`building the indexer failed:\n${r.stdout}\n${r.stderr}`);
  built = path.join(OUT, "indexer", "main.js");
  return built;
}

export interface IndexerProcess {
  proc: ChildProcess;
  /** Parsed pino lines so far. */
  lines: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first log line matching `pred` (or rejects when the process exits first). */
  waitFor(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function writeDeploymentFile(dir: string, deployment: Deployment): string {
  const file = path.join(dir, "deployment.json");
  writeFileSync(file, JSON.stringify(deployment));
  return file;
}

export function spawnIndexer(env: Record<string, string>): IndexerProcess {
  const main = buildIndexer();
  const proc = spawn(process.execPath, [main], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let err = "";
  let buf = "";
  proc.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ msg: line });
      }
    }
    for (const w of waiters) w();
  });
  proc.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    if (err.length < 100_000) err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => {
      resolve({ code, signal });
      for (const w of waiters) w();
    }),
  );
  return {
    proc,
    lines,
    stderr: () => err,
    exited,
    waitFor(pred, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        let seen = 0;
        const check = () => {
          for (; seen < lines.length; seen++) {
            if (pred(lines[seen]!)) {
              done();
              return resolve(lines[seen]!);
            }
          }
          if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(
              new Error(`indexer exited (${proc.exitCode ?? proc.signalCode}) before the awaited line: ${err.trim()}`),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no awaited indexer line within ${timeoutMs} ms; stderr: ${err.trim()}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async kill(signal: NodeJS.Signals = "SIGKILL") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}
