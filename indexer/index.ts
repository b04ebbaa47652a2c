/**
 * The indexer: mirrors the registry's events into LevelDB (DESIGN.md §4) and serves them through
 * a {@link StoreReader}.
 *
 *   const indexer = createIndexer({ rpcUrl, deployment, dataDir });
 *   await indexer.start();          // store open, chain identity checked, sync running
 *   await indexer.caughtUp();
 *   await indexer.store.getDevice(id);
 *
 * `openStore(dataDir)` opens a store read-only (no indexing) for the CLI and tests. LevelDB
 * allows one process per directory: it fails with StoreLockedError while an indexer has it open.
 * Either reads devices, attestations and lists through one cache of `cacheBytes` (default 64 MiB,
 * DTL_CACHE_MB), a quarter of it LevelDB's own block cache.
 */
import { getAddress } from "ethers";
import type { Deployment } from "../common/deployment";
import { loadKeccak } from "../common/keccak";
import { silentLogger, type Logger } from "../common/logger";
import { retry, type RetryOptions } from "../common/retry";
import { createRpcClient, hexToNumber, type RpcClient } from "../common/rpc";
import { ChainMismatchError, FatalIndexerError, IndexerError, isRetryable } from "./errors";
import { createHashers, type Hashers } from "./hashing";
import type { RangeSizerOptions } from "./ranges";
import { fetchHeaders } from "./source";
import { createStoreReader } from "./store/reader";
import type { Cursor, StoreIdentity } from "./store/schema";
import { openLevelStore, type Store } from "./store/store";
import { createSync, type Sync } from "./sync";
import { createManifestLoader, type ManifestLoader, type ManifestLoaderOptions } from "./manifests";
import type { IndexerStatusRecord, StoreChange, StoreReader } from "./types";

export * from "./errors";
export type { StoreReader, StoreChange, IndexerStatusRecord, StoreStats } from "./types";

export interface IndexerOptions {
  rpcUrl: string;
  deployment: Deployment;
  dataDir: string;
  /** Blocks to stay behind the head (default 0: instant-finality chains). */
  confirmations?: number;
  /** Head poll interval in ms (default 100). */
  pollMs?: number;
  /** Blocks of undo data kept for reorgs (default 64). */
  reorgWindow?: number;
  /** Wipe and rebuild a store that mirrors another chain/registry or an older schema. */
  rebuild?: boolean;
  logger?: Logger;
  /** Per-request RPC time-out in ms (default 30 s). */
  rpcTimeoutMs?: number;
  /** eth_getLogs span tuning (blocks per call, logs aimed at per answer). */
  ranges?: RangeSizerOptions;
  /** Retry pacing (exponential backoff with jitter). */
  retry?: { baseMs?: number; maxMs?: number };
  /** Memory for cached records and LevelDB's block cache, in bytes (default 64 MiB). */
  cacheBytes?: number;
  /** Where `file:<name>` manifests of anchored batches are (DTL_MANIFEST_DIR). */
  manifestDir?: string;
  /** Manifest loader tuning (rows per chunk, fetch time-out, retry pacing). */
  manifests?: Pick<ManifestLoaderOptions, "chunkRows" | "fetchTimeoutMs" | "maxBytes" | "retry">;
}

export interface Indexer {
  start(): Promise<void>;
  stop(): Promise<void>;
  store: StoreReader;
  /** Resolves once block `n` is applied; rejects on time-out, stop or a fatal error. */
  waitForBlock(n: number, timeoutMs?: number): Promise<void>;
  /** Resolves when the indexed block reached the head (− confirmations) seen when called. */
  caughtUp(timeoutMs?: number): Promise<void>;
  onFatal(listener: (err: Error) => void): () => void;
  /** Resolves once the manifest loader has nothing to do right now. */
  manifestsIdle(): Promise<void>;
}

export const DEFAULTS = { confirmations: 0, pollMs: 100, reorgWindow: 64 } as const;

function identityOf(d: Deployment): StoreIdentity {
  return {
    chainId: d.chainId,
    registry: getAddress(d.registry),
    deployBlock: d.deployBlock,
    deployBlockHash: d.deployBlockHash.toLowerCase(),
  };
}

function sameIdentity(a: StoreIdentity, b: StoreIdentity): boolean {
  return (
    a.chainId === b.chainId &&
    a.registry === b.registry &&
    a.deployBlock === b.deployBlock &&
    a.deployBlockHash === b.deployBlockHash
  );
}

const describeIdentity = (i: StoreIdentity) =>
  `registry ${i.registry} on chain ${i.chainId} (deploy block ${i.deployBlock} ${i.deployBlockHash})`;

/** Start-up calls (chain identity, head) retry retryable RPC errors for up to ~30 s. */
function startupRetries(logger: Logger): RetryOptions {
  return {
    attempts: 18,
    baseMs: 100,
    maxMs: 2_000,
    onRetry: ({ err, attempt, delayMs }) =>
      logger.warn({ msg: "rpc error at start, retrying", err: (err as Error).message, attempt, delay_ms: delayMs }),
  };
}

/** Checks that the node serves the chain and registry of the deployment; returns the deploy block's parent hash. */
async function checkNode(client: RpcClient, id: StoreIdentity): Promise<string> {
  const [chainIdHex, code] = await client.batch<string>([
    { method: "eth_chainId", params: [] },
    { method: "eth_getCode", params: [id.registry, "latest"] },
  ]);
  const chainId = hexToNumber(chainIdHex!);
  if (chainId !== id.chainId)
    throw new ChainMismatchError(
      `the RPC node ${client.url} serves chain ${chainId}, the deployment is for chain ${id.chainId}`,
    );
  let header;
  try {
    header = (await fetchHeaders(client, [id.deployBlock])).get(id.deployBlock)!;
  } catch (err) {
    if (isRetryable(err) && !(err instanceof IndexerError)) throw err;
    throw new ChainMismatchError(
      `the RPC node ${client.url} has no block ${id.deployBlock}, where the deployment says the registry was deployed`,
      { cause: err },
    );
  }
  if (header.hash !== id.deployBlockHash) {
    throw new ChainMismatchError(
      `block ${id.deployBlock} on chain ${chainId} has hash ${header.hash}, the deployment says ${id.deployBlockHash}: the chain was reset or the deployment file is stale`,
    );
  }
  if (!code || code === "0x")
    throw new ChainMismatchError(`no contract at ${id.registry} on chain ${chainId}: wrong deployment file?`);
  return header.parentHash;
}

/** Opens a store read-only (no indexing). Fails with StoreLockedError while an indexer holds it. */
export async function openStore(
  dataDir: string,
  opts: { cacheBytes?: number } = {},
): Promise<StoreReader & { close(): Promise<void> }> {
  const store = await openLevelStore(dataDir, { createIfMissing: false, cacheBytes: opts.cacheBytes });
  const id = store.state.identity;
  const c = store.state.cursor;
  const reader = createStoreReader(store, {
    status: () => ({
      chainId: id?.chainId ?? 0,
      registry: id?.registry ?? "",
      deployBlock: id?.deployBlock ?? 0,
      indexedBlock: c?.block ?? -1,
      indexedBlockHash: c?.hash ?? "",
      headBlock: c?.block ?? -1,
      digest: c?.digest ?? "",
      caughtUp: false,
      reorgs: 0,
      rpcErrors: 0,
      events: c?.events ?? 0,
    }),
    onChange: () => () => undefined,
  });
  return { ...reader, close: () => store.close() };
}

export function createIndexer(opts: IndexerOptions): Indexer {
  const logger = opts.logger ?? silentLogger;
  const confirmations = opts.confirmations ?? DEFAULTS.confirmations;
  const pollMs = opts.pollMs ?? DEFAULTS.pollMs;
  const reorgWindow = opts.reorgWindow ?? DEFAULTS.reorgWindow;
  if (!Number.isInteger(confirmations) || confirmations < 0)
    throw new RangeError(`confirmations must be a non-negative integer, got ${confirmations}`);
  if (!Number.isInteger(reorgWindow) || reorgWindow < 1)
    throw new RangeError(`reorgWindow must be a positive integer, got ${reorgWindow}`);
  if (!(pollMs > 0)) throw new RangeError(`pollMs must be positive, got ${pollMs}`);
  const identity = identityOf(opts.deployment);
  const client = createRpcClient(opts.rpcUrl, { timeoutMs: opts.rpcTimeoutMs });
  const changeListeners = new Set<(c: StoreChange) => void>();
  const fatalListeners = new Set<(err: Error) => void>();
  let store: Store | undefined;
  let sync: Sync | undefined;
  let manifests: ManifestLoader | undefined;
  let running: Promise<void> | undefined;
  let fatal: Error | undefined;

  function emit(change: StoreChange): void {
    for (const l of changeListeners) {
      try {
        l(change);
      } catch (err) {
        logger.error({ msg: "store change listener failed", err: (err as Error).message });
      }
    }
  }

  function status(): IndexerStatusRecord {
    const c = store?.state.cursor;
    const s = sync?.state;
    return {
      chainId: identity.chainId,
      registry: identity.registry,
      deployBlock: identity.deployBlock,
      indexedBlock: c?.block ?? identity.deployBlock - 1,
      indexedBlockHash: c?.hash ?? "",
      headBlock: Math.max(s?.headBlock ?? 0, c?.block ?? 0),
      digest: c?.digest ?? "",
      caughtUp: s?.caughtUp ?? false,
      reorgs: s?.reorgs ?? 0,
      rpcErrors: s?.rpcErrors ?? 0,
      confirmations,
      events: c?.events ?? 0,
      ...(fatal ? { fatalError: fatal.message, fatalErrorName: fatal.name } : {}),
    };
  }

  const reader: StoreReader = {
    getDevice: (id) => need().getDevice(id),
    getDevices: (ids) => need().getDevices(ids),
    listDevices: (f, n, a) => need().listDevices(f, n, a),
    getAttestation: (uid) => need().getAttestation(uid),
    listAttestations: (id) => need().listAttestations(id),
    getHistory: (id, n, a) => need().getHistory(id, n, a),
    hasRole: (r, a) => need().hasRole(r, a),
    getBatch: (id) => need().getBatch(id),
    listBatches: (f, n, a) => need().listBatches(f, n, a),
    getManifestLeaves: (id) => need().getManifestLeaves(id),
    getAnchoredClaims: (id) => need().getAnchoredClaims(id),
    manifestsDigest: () => need().manifestsDigest(),
    storeStats: () => need().storeStats(),
    status,
    onChange(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
  };
  let inner: StoreReader | undefined;
  function need(): StoreReader {
    if (!inner) throw new IndexerError("the indexer is not started");
    return inner;
  }

  function fail(err: Error): void {
    fatal = err;
    logger.fatal({ msg: "indexing stopped", err: err.message, error_name: err.name });
    for (const l of fatalListeners) {
      try {
        l(err);
      } catch {
        // a listener's failure must not hide the fatal error
      }
    }
  }

  async function prepare(hashers: Hashers): Promise<Store> {
    // the node check (network) and the store's load (disk) overlap
    const opening = openLevelStore(opts.dataDir, { allowWipe: opts.rebuild, cacheBytes: opts.cacheBytes });
    opening.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
    let parentHash: string;
    try {
      parentHash = await retry(() => checkNode(client, identity), startupRetries(logger));
    } catch (err) {
      await opening.then((s) => s.close()).catch(() => undefined);
      throw err;
    }
    const s = await opening;
    try {
      const have = s.state.identity;
      if (have && !sameIdentity(have, identity)) {
        if (!opts.rebuild) {
          throw new ChainMismatchError(
            `the store ${opts.dataDir} mirrors ${describeIdentity(have)}, not ${describeIdentity(identity)}: use another data dir or rebuild it`,
          );
        }
        logger.warn({
          msg: "rebuilding the store for another chain/registry",
          data_dir: opts.dataDir,
          was: describeIdentity(have),
        });
        await s.wipe();
      }
      if (!s.state.cursor) {
        const cursor: Cursor = {
          block: identity.deployBlock - 1,
          hash: parentHash,
          digest: hashers.genesisDigest(identity),
          undoFloor: identity.deployBlock - 1,
          events: 0,
        };
        await s.initialize(identity, cursor);
      }
      return s;
    } catch (err) {
      await s.close();
      throw err;
    }
  }

  return {
    store: reader,
    async start() {
      if (store) throw new IndexerError("the indexer is already started");
      fatal = undefined;
      const hashers = createHashers(await loadKeccak());
      store = await prepare(hashers);
      inner = createStoreReader(store, { status, onChange: reader.onChange });
      const c = store.state.cursor!;
      logger.info({
        msg: "indexer started",
        data_dir: opts.dataDir,
        chain_id: identity.chainId,
        registry: identity.registry,
        block_number: c.block,
        events: c.events,
      });
      sync = createSync({
        client,
        registry: identity.registry,
        store,
        hashers,
        logger,
        confirmations,
        pollMs,
        reorgWindow,
        ranges: opts.ranges,
        retry: opts.retry,
        emit(change) {
          emit(change);
          if (change.type === "batches") manifests?.wake();
        },
      });
      manifests = createManifestLoader({
        store,
        manifestDir: opts.manifestDir,
        logger,
        emit,
        ...opts.manifests,
      });
      manifests.start();
      running = sync
        .run()
        .catch((err: unknown) => fail(err instanceof Error ? err : new FatalIndexerError(String(err))));
    },
    async stop() {
      sync?.stop();
      await manifests?.stop();
      manifests = undefined;
      await running;
      running = undefined;
      sync = undefined;
      const s = store;
      store = undefined;
      inner = undefined;
      await s?.close();
    },
    waitForBlock,
    async caughtUp(timeoutMs = 120_000) {
      const head = await retry(
        async () => hexToNumber(await client.call<string>("eth_blockNumber")),
        startupRetries(logger),
      );
      await waitForBlock(head - confirmations, timeoutMs);
    },
    onFatal(listener) {
      fatalListeners.add(listener);
      return () => fatalListeners.delete(listener);
    },
    manifestsIdle: () => manifests?.idle() ?? Promise.resolve(),
  };

  function waitForBlock(n: number, timeoutMs = 60_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): boolean => {
        if (fatal) {
          done();
          reject(fatal);
          return true;
        }
        const c = store?.state.cursor;
        if (c && c.block >= n) {
          done();
          resolve();
          return true;
        }
        return false;
      };
      const off = sync?.onProgress(check);
      const offFatal = (() => {
        const l = () => check();
        fatalListeners.add(l);
        return () => fatalListeners.delete(l);
      })();
      const timer = setTimeout(() => {
        done();
        reject(
          new IndexerError(
            `block ${n} not indexed within ${timeoutMs} ms (at ${store?.state.cursor?.block ?? "none"})`,
          ),
        );
      }, timeoutMs);
      function done() {
        clearTimeout(timer);
        off?.();
        offFatal();
      }
      if (!sync && !fatal) {
        done();
        reject(new IndexerError("the indexer is not running"));
        return;
      }
      check();
    });
  }
}
