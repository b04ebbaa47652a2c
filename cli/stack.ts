/**
 * The indexer + API pair that `dtl serve` and `dtl dev` run: start both, stop both (API first,
 * so no request reads a closing store), and report the indexer's fatal error.
 */
import type { Logger } from "pino";
import type { Deployment } from "../common/deployment";
import { CliError } from "./io";

export interface StackOptions {
  rpcUrl: string;
  deployment: Deployment;
  dataDir: string;
  confirmations: number;
  pollMs: number;
  reorgWindow?: number;
  maxBlockRange?: number;
  /** Memory for cached records and LevelDB's block cache (MiB). */
  cacheMb: number;
  /** Where `file:<name>` manifests of anchored batches are. */
  manifestDir?: string;
  host: string;
  port: number;
  maxLagBlocks: number;
  apiKeys: string[];
  rebuild: boolean;
  logger: Logger;
}

export interface Stack {
  /** http://host:port/graphql */
  graphqlUrl: string;
  /** Resolves when the index reached the chain head. */
  caughtUp(timeoutMs?: number): Promise<void>;
  /** Resolves with the indexer's fatal error, if one happens. */
  fatal: Promise<Error>;
  stop(): Promise<void>;
}

export async function startStack(o: StackOptions): Promise<Stack> {
  // loaded here: only serve and dev need the indexer and the API (see cli/main.ts on require)
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { createIndexer, ChainMismatchError, StoreLockedError } =
    require("../indexer/index") as typeof import("../indexer/index");
  const { startApiServer } = require("../api/server") as typeof import("../api/server");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const indexer = createIndexer({
    rpcUrl: o.rpcUrl,
    deployment: o.deployment,
    dataDir: o.dataDir,
    confirmations: o.confirmations,
    pollMs: o.pollMs,
    reorgWindow: o.reorgWindow,
    ranges: o.maxBlockRange === undefined ? undefined : { maxSpan: o.maxBlockRange },
    rebuild: o.rebuild,
    cacheBytes: o.cacheMb * 1024 * 1024,
    manifestDir: o.manifestDir,
    logger: o.logger.child({ module: "indexer" }),
  });
  try {
    await indexer.start();
  } catch (err) {
    if (err instanceof ChainMismatchError)
      throw new CliError(`${err.message}${o.rebuild ? "" : " (or run with --rebuild)"}`, undefined, { cause: err });
    if (err instanceof StoreLockedError)
      throw new CliError(`${err.message} (is another dtl serve using ${o.dataDir}?)`, undefined, { cause: err });
    throw err;
  }
  const fatal = new Promise<Error>((resolve) => indexer.onFatal(resolve));
  let api;
  try {
    api = await startApiServer({
      store: indexer.store,
      logger: o.logger,
      apiKeys: o.apiKeys,
      maxLagBlocks: o.maxLagBlocks,
      graphiql: true,
      chain: { rpcUrl: o.rpcUrl, registry: o.deployment.registry },
      host: o.host,
      port: o.port,
    });
  } catch (err) {
    await indexer.stop();
    const code = (err as { code?: string }).code;
    if (code === "EADDRINUSE")
      throw new CliError(
        `port ${o.port} on ${o.host} is in use (another dtl serve or dtl dev?): use --port`,
        undefined,
        { cause: err },
      );
    throw err;
  }
  return {
    graphqlUrl: `${api.url}/graphql`,
    caughtUp: (timeoutMs) => indexer.caughtUp(timeoutMs),
    fatal,
    async stop() {
      await api.close();
      await indexer.stop();
    },
  };
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
