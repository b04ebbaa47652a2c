/**
 * A local `hardhat node` child process: the embedded dev chain of `dtl dev` and the real chain of
 * every test and benchmark. Chain id 31337 with the standard funded (public!) test accounts.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { HDNodeWallet } from "ethers";
import { PROJECT_ROOT } from "./paths";

export { PROJECT_ROOT };

/** The chain id of a hardhat node (and of the dev chain). */
export const HARDHAT_CHAIN_ID = 31337;

/** A free TCP port on 127.0.0.1 (asks the OS, then releases it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface NodeHandle {
  url: string;
  port: number;
  proc: ChildProcess;
  /** JSON-RPC call straight to the node. */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Whether fetch failed because the pooled keep-alive connection it went out on was one the node
 * had just closed as idle (undici: "other side closed"): nothing reached the node, so the call can
 * go out again. On a busy machine the pool's idle timer lags and this happens more than once.
 */
function closedIdleConnection(err: unknown): boolean {
  return err instanceof TypeError && /other side closed/.test(String((err as { cause?: unknown }).cause));
}

/** Raw JSON-RPC over fetch (again, up to 3 times, on a connection the node had closed as idle). */
export async function rpcCall<T = unknown>(url: string, method: string, params: unknown[] = []): Promise<T> {
  const send = () =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
  let res: Response;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await send();
      break;
    } catch (err) {
      if (attempt === 3 || !closedIdleConnection(err)) throw err;
    }
  }
  const body = (await res.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

export interface HardhatNodeOptions {
  /** TCP port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Keep the node's per-request logging on (it costs the node most of its speed). */
  logging?: boolean;
}

/**
 * Starts `hardhat node` (chain id 31337, the standard funded accounts) on 127.0.0.1 and waits
 * until it answers. Request logging is switched off unless asked for.
 */
export async function startHardhatNode(opts: HardhatNodeOptions = {}): Promise<NodeHandle> {
  // freePort() releases the port before the node binds it, so another process may take it in
  // between: on EADDRINUSE pick another (a port given by the caller is not second-guessed).
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await startOnPort(port, opts);
    } catch (err) {
      if (opts.port !== undefined || attempt >= 5 || !/EADDRINUSE/.test(String(err))) throw err;
    }
  }
}

async function startOnPort(port: number, opts: HardhatNodeOptions): Promise<NodeHandle> {
  const proc = spawn(
    process.execPath,
    [
      path.join(PROJECT_ROOT, "node_modules/hardhat/internal/cli/cli.js"),
      "node",
      "--port",
      String(port),
      "--hostname",
      "127.0.0.1",
    ],
    { cwd: PROJECT_ROOT, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  const started = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      if (out.length < 10_000) out += chunk.toString();
      if (out.includes("Started HTTP")) resolve();
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    proc.once("error", reject);
    proc.once("exit", (code) => reject(new Error(`hardhat node exited with ${code} before starting:\n${out}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hardhat node did not start within 60 s:\n${out}`)), 60_000);
    timer.unref();
  });
  try {
    await Promise.race([started, timeout]);
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  } finally {
    clearTimeout(timer);
  }
  // keep draining output so the node never blocks on a full pipe
  proc.stdout!.resume();
  proc.stderr!.resume();
  const url = `http://127.0.0.1:${port}`;
  if (!opts.logging) await rpcCall(url, "hardhat_setLoggingEnabled", [false]);
  return {
    url,
    port,
    proc,
    rpc: (method, params) => rpcCall(url, method, params),
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once("exit", () => resolve());
        proc.kill("SIGTERM");
      }),
  };
}

/** The hardhat node's well-known test mnemonic (public, funded only on local dev chains). */
export const HARDHAT_MNEMONIC = "test test test test test test test test test test test junk";

/** Private keys of the hardhat node's first accounts, derived from its public test mnemonic. */
export const HARDHAT_KEYS: readonly string[] = Array.from(
  { length: 10 },
  (_, i) => HDNodeWallet.fromPhrase(HARDHAT_MNEMONIC, undefined, `m/44'/60'/0'/0/${i}`).privateKey,
);
