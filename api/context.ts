/**
 * The per-request GraphQL context and the long-lived state it points to. A request reads the
 * indexer's status once (`snapshot()`), before any store read, and states that block as `atBlock`:
 * whatever the reads then return is at least that new, so a gateway that checks the chain at
 * `atBlock` may see an older state than ours, never a newer one we missed.
 */
import type { Logger } from "../common/logger";
import type { RpcClient } from "../common/rpc";
import type { IndexerStatusRecord, StoreReader } from "../indexer/types";
import type { ChallengeStore } from "./challenges";
import type { TreeCache } from "./registration";
import type { ApiMetrics } from "./metrics";

export interface Snapshot {
  status: IndexerStatusRecord;
  atBlock: number;
  lagBlocks: number;
  /** Identifies the indexed state (block number and hash). */
  tag: string;
}

export interface ApiState {
  store: StoreReader;
  challenges: ChallengeStore;
  metrics: ApiMetrics;
  logger: Logger;
  maxLagBlocks: number;
  /** Open deviceEvents subscriptions and their cap. */
  subscriptions: { open: number; max: number };
  /** Trees of loaded manifests (device.registration.proof). */
  trees: TreeCache;
  /** The chain itself, for reads the index must not answer (chainHistoryHead); absent when not given. */
  chain?: { client: RpcClient; registry: string };
}

export interface ApiContext {
  state: ApiState;
  /** The status read once per request (lazily, before the first store read). */
  snapshot(): Snapshot;
  /** Connection items this request may still ask for (guards nested `first` products). */
  itemBudget: { left: number };
}

export function takeSnapshot(store: StoreReader): Snapshot {
  const status = store.status();
  return {
    status,
    atBlock: status.indexedBlock,
    lagBlocks: Math.max(0, status.headBlock - status.indexedBlock),
    tag: `${status.indexedBlock}:${status.indexedBlockHash}`,
  };
}

/** Items one request may list through connections, summed over every connection field it asks for. */
export const ITEM_BUDGET = 10_000;

export function createContext(state: ApiState): ApiContext {
  let snap: Snapshot | undefined;
  return {
    state,
    snapshot: () => (snap ??= takeSnapshot(state.store)),
    itemBudget: { left: ITEM_BUDGET },
  };
}

/** Ready: caught up once, within the allowed lag, and not stopped by a fatal indexing error. */
export function isReady(status: IndexerStatusRecord, maxLagBlocks: number): boolean {
  return status.caughtUp && status.fatalError === undefined && status.headBlock - status.indexedBlock <= maxLagBlocks;
}
