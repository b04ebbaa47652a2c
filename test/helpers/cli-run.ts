/**
 * Running the built `dtl` CLI as a child process, the way users run it: `node bin/dtl.js …`
 * (what `npx dtl` executes). The CLI is compiled once per test run (tsc, incremental).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { rpcCall } from "../../common/hardhat-node";
import { PROJECT_ROOT } from "../../common/paths";

export const DTL_BIN = path.join(PROJECT_ROOT, "bin", "dtl.js");

let built = false;

/** Compiles the CLI to dist/ (`npm run build`: bin/build.js) once per process, so tests run current code. */
export function ensureBuilt(): void {
  if (built) return;
  const res = spawnSync(process.execPath, [path.join(PROJECT_ROOT, "bin/build.js")], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
  });
  if (res.status !== 0 || !existsSync(path.join(PROJECT_ROOT, "dist/cli/main.js")))
    throw new Error(`building the CLI failed:\n${res.stdout}${res.stderr}`);
  built = true;
}

/** The environment of a clean shell: no DTL_* variables from the outside. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("DTL_") && k !== "HARDHAT_NETWORK") env[k] = v;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (throws if it is not). */
  json<T = Record<string, unknown>>(): T;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
  /** The dtl to run (default this checkout's bin/dtl.js; a bench may measure another build). */
  bin?: string;
}

/** Runs `dtl <args>` to completion. */
export function runDtl(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [opts.bin ?? DTL_BIN, ...args], {
      cwd: opts.cwd ?? PROJECT_ROOT,
      env: cleanEnv(opts.env),
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 90_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout,
        stderr,
        json<T>() {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            throw new Error(`dtl ${args.join(" ")}: stdout is not JSON:\n${stdout}\nstderr:\n${stderr}`);
          }
        },
      });
    });
    child.stdin.end(opts.input ?? "");
  });
}

export interface RunningDtl {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout+stderr match `pattern` (rejects on exit or time-out). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Starts a long-running `dtl` command (serve, dev, register of a big file). */
export function startDtl(args: readonly string[], opts: RunOptions = {}): RunningDtl {
  const proc = spawn(process.execPath, [opts.bin ?? DTL_BIN, ...args], {
    cwd: opts.cwd ?? PROJECT_ROOT,
    env: cleanEnv(opts.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  const poke = () => waiters.forEach((w) => w());
  proc.stdout!.on("data", (c: Buffer) => {
    out += c.toString();
    poke();
  });
  proc.stderr!.on("data", (c: Buffer) => {
    err += c.toString();
    poke();
  });
  const exited = new Promise<number | null>((resolve) =>
    proc.once("exit", (code, sig) => resolve(code ?? (sig ? 128 : null))),
  );
  void exited.then(poke);
  return {
    proc,
    exited,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = (out + err).match(pattern);
          if (m) done(() => resolve(m));
          else if (proc.exitCode !== null || proc.signalCode !== null)
            done(() => reject(new Error(`dtl ${args.join(" ")} exited before ${pattern}:\n${out}\n${err}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`timed out waiting for ${pattern}:\n${out}\n${err}`))),
          timeoutMs,
        );
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    async stop(signal = "SIGINT") {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
}

/** A temporary folder removed by the returned cleanup. */
export function tempDir(prefix = "dtl-cli-"): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunningServe {
  serve: RunningDtl;
  /** http://127.0.0.1:<port>/graphql, as the banner says (serve binds port 0: the OS picks a free one). */
  apiUrl: string;
}

/** Starts `dtl serve --port 0` and reads the bound URL from its banner (no port guessed in advance). */
export async function startServe(
  dataDir: string,
  opts: RunOptions = {},
  extra: readonly string[] = [],
): Promise<RunningServe> {
  const serve = startDtl(["serve", "--port", "0", "--data-dir", dataDir, ...extra], opts);
  const m = await serve.waitFor(/GraphQL at (http:\/\/127\.0\.0\.1:\d+\/graphql)/);
  return { serve, apiUrl: m[1]! };
}

/** Resolves once the API at `apiUrl` has indexed the head of the chain at `rpcUrl`. */
export async function waitIndexed(apiUrl: string, rpcUrl: string, timeoutMs = 20_000): Promise<void> {
  const head = Number(await rpcCall<string>(rpcUrl, "eth_blockNumber"));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await fetch(apiUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ indexerStatus { indexedBlock } }" }),
    });
    const { data } = (await res.json()) as { data: { indexerStatus: { indexedBlock: number } } };
    if (data.indexerStatus.indexedBlock >= head) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the API at ${apiUrl} did not reach block ${head} within ${timeoutMs} ms`);
}
