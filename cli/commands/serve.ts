/**
 * dtl serve — the indexer + GraphQL API against any RPC (a Besu QBFT network in production).
 * Logs are pino JSON on stdout; one human line on stderr says where the API listens.
 */
import { CHAIN_OPTIONS } from "../args";
import type { Command } from "../command";
import { config, connect } from "../context";
import { CliError } from "../io";
import { cliLogger } from "../logging";
import { aborted, startStack } from "../stack";

export const command: Command = {
  name: "serve",
  usage:
    "dtl serve [--rpc URL] [--deployment FILE] [--data-dir DIR] [--host 127.0.0.1] [--port 4000] [--confirmations 0] [--poll-ms 100] [--reorg-window 64] [--max-block-range 100000] [--cache-mb 64] [--manifest-dir DIR] [--max-lag-blocks 2] [--log-level info] [--rebuild]",
  summary: "run the indexer and the GraphQL API against any RPC",
  graceful: true,
  options: {
    ...CHAIN_OPTIONS,
    "data-dir": { type: "string" },
    host: { type: "string" },
    port: { type: "string" },
    confirmations: { type: "string" },
    "poll-ms": { type: "string" },
    "reorg-window": { type: "string" },
    "max-block-range": { type: "string" },
    "cache-mb": { type: "string" },
    "manifest-dir": { type: "string" },
    "max-lag-blocks": { type: "string" },
    "log-level": { type: "string" },
    rebuild: { type: "boolean" },
  },
  async run(inv) {
    if (inv.positionals.length) throw new CliError(`serve: unexpected argument "${inv.positionals[0]}"`);
    const cfg = config(["chain", "indexer", "server"], inv.values, inv.env);
    const ctx = await connect(inv.values, inv.env);
    const logger = cliLogger(cfg.server.logLevel, "stdout");
    const stack = await startStack({
      rpcUrl: ctx.rpcUrl,
      deployment: ctx.deployment,
      dataDir: cfg.indexer.dataDir,
      confirmations: cfg.indexer.confirmations,
      pollMs: cfg.indexer.pollMs,
      reorgWindow: cfg.indexer.reorgWindow,
      maxBlockRange: cfg.indexer.maxBlockRange,
      cacheMb: cfg.indexer.cacheMb,
      manifestDir: cfg.indexer.manifestDir,
      host: cfg.server.host,
      port: cfg.server.port,
      maxLagBlocks: cfg.server.maxLagBlocks,
      apiKeys: cfg.server.apiKeys,
      rebuild: cfg.indexer.rebuild,
      logger,
    });
    inv.io.err(
      `dtl serve: indexing registry ${ctx.deployment.registry} on chain ${ctx.chainId} (${ctx.rpcUrl}) into ${cfg.indexer.dataDir}; GraphQL at ${stack.graphqlUrl}${cfg.server.apiKeys.length ? " (API keys required)" : ""}`,
    );
    const outcome = await Promise.race([aborted(inv.signal).then(() => undefined), stack.fatal]);
    await stack.stop();
    if (outcome) throw new CliError(`serve: indexing stopped: ${outcome.message}`, undefined, { cause: outcome });
    inv.io.err("dtl serve: stopped");
  },
};
