/**
 * Standalone indexer process (the SIGKILL tests and the bench run it):
 *
 *   DTL_RPC_URL=http://127.0.0.1:8545 DTL_DEPLOYMENT=deployments/31337.json DTL_DATA_DIR=data/index \
 *     ts-node indexer/main.ts
 *
 * Optional: DTL_CONFIRMATIONS, DTL_POLL_MS, DTL_REORG_WINDOW, DTL_REBUILD=1, DTL_LOG_LEVEL,
 * DTL_MAX_BLOCK_RANGE (most blocks per eth_getLogs, for nodes with a range limit).
 * Logs JSON lines (pino) on stdout; on a fatal error prints one line on stderr and exits 1.
 * SIGTERM/SIGINT stop it cleanly (exit 0).
 */
import { readDeployment } from "../common/deployment";
import { createLogger } from "../common/logger";
import { createIndexer } from "./index";

function int(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got "${raw}"`);
  return n;
}

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is required`);
  return v;
}

async function main(): Promise<void> {
  const logger = createLogger({ name: "indexer", level: process.env.DTL_LOG_LEVEL ?? "info" });
  const indexer = createIndexer({
    rpcUrl: required("DTL_RPC_URL"),
    deployment: readDeployment(required("DTL_DEPLOYMENT")),
    dataDir: required("DTL_DATA_DIR"),
    confirmations: int("DTL_CONFIRMATIONS", 0, 0),
    pollMs: int("DTL_POLL_MS", 100, 1),
    reorgWindow: int("DTL_REORG_WINDOW", 64, 1),
    ranges: { maxSpan: int("DTL_MAX_BLOCK_RANGE", 100_000, 1) },
    rebuild: process.env.DTL_REBUILD === "1" || process.env.DTL_REBUILD === "true",
    logger,
  });
  indexer.onFatal((err) => {
    process.stderr.write(`indexer: ${err.name}: ${err.message}\n`);
    void indexer.stop().finally(() => process.exit(1));
  });
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    void indexer.stop().then(() => process.exit(0));
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
  await indexer.start();
}

main().catch((err: unknown) => {
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`indexer: ${e.name === "Error" ? "" : e.name + ": "}${e.message}\n`);
  process.exit(1);
});
