/**
 * Standalone indexer process (the SIGKILL tests and the bench run it):
 *
 *   DTL_RPC_URL=http://127.0.0.1:8545 DTL_DEPLOYMENT=deployments/31337.json DTL_DATA_DIR=data/index \
 *     ts-node indexer/main.ts
 *
 * Settings come from the same loader and model as `dtl serve` (common/config.ts): optional
 * DTL_CONFIRMATIONS, DTL_POLL_MS, DTL_REORG_WINDOW, DTL_MAX_BLOCK_RANGE (most blocks per eth_getLogs,
 * for nodes with a range limit), DTL_CACHE_MB (memory for cached records), DTL_REBUILD=1,
 * DTL_LOG_LEVEL. Every bad value is named at once.
 * Logs JSON lines (pino) on stdout; on a fatal error prints one line on stderr and exits 1.
 * SIGTERM/SIGINT stop it cleanly (exit 0).
 */
import { ConfigError, loadConfig, type Config } from "../common/config";
import { readDeployment } from "../common/deployment";
import { createLogger } from "../common/logger";
import { createIndexer } from "./index";

/** The settings, or one ConfigError naming every bad value (DTL_DEPLOYMENT is required here). */
function settings(): Config<"chain" | "indexer" | "log"> {
  let cfg: Config<"chain" | "indexer" | "log"> | undefined;
  const problems: string[] = [];
  try {
    cfg = loadConfig(["chain", "indexer", "log"]);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (!process.env.DTL_DEPLOYMENT) problems.push("DTL_DEPLOYMENT: is required (the deployments/<chainId>.json file)");
  if (problems.length || !cfg) throw new ConfigError(problems);
  return cfg;
}

async function main(): Promise<void> {
  const { chain, indexer: ix, log } = settings();
  const logger = createLogger({ name: "indexer", level: log.logLevel });
  const indexer = createIndexer({
    rpcUrl: chain.rpcUrl,
    deployment: readDeployment(chain.deployment!),
    dataDir: ix.dataDir,
    confirmations: ix.confirmations,
    pollMs: ix.pollMs,
    reorgWindow: ix.reorgWindow,
    ranges: { maxSpan: ix.maxBlockRange },
    rebuild: ix.rebuild,
    cacheBytes: ix.cacheMb * 1024 * 1024,
    manifestDir: ix.manifestDir,
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
  if (err instanceof ConfigError) {
    process.stderr.write(`indexer: ConfigError: bad settings\n${err.message}\n`);
    process.exit(1);
  }
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`indexer: ${e.name === "Error" ? "" : e.name + ": "}${e.message}\n`);
  process.exit(1);
});
