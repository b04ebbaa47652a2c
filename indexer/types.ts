/**
 * The read side of the indexer's LevelDB mirror: what the API, the CLI and tests may rely on.
 * The indexer implements {@link StoreReader}; readers never write.
 *
 * Conventions: ids and hashes are 0x-prefixed lowercase hex (bytes32); addresses are EIP-55
 * checksummed; times are unix seconds (numbers); block numbers are numbers.
 */
import type { DeviceEventName, DeviceStatusName } from "../common/codes";

export interface RevocationRecord {
  /** Reason code 0..8 (common/codes REASONS). */
  reason: number;
  /** Block timestamp of the revocation. */
  at: number;
  by: string;
  blockNumber: number;
  transactionHash: string;
}

export interface SuspensionRecord {
  reason: number;
  at: number;
  by: string;
  blockNumber: number;
}

export interface DeviceRecord {
  id: string;
  manufacturer: string;
  status: Exclude<DeviceStatusName, "NONE">;
  /** 1 secp256k1, 2 P-256, 3 Ed25519. */
  keyAlgorithm: number;
  keyHash: string;
  firmwareHash: string;
  /** Decoded short name ("" when zero). */
  segment: string;
  registeredAt: number;
  registeredBlock: number;
  /** Present once revoked. */
  revocation?: RevocationRecord;
  /** Present while suspended. */
  suspension?: SuspensionRecord;
  /** Number of history entries (= on-chain eventCount). */
  eventCount: number;
  /** History head after the last entry (= on-chain historyHead). */
  historyHead: string;
  /** Block of the last change to this device. */
  updatedBlock: number;
  /**
   * Set for a device of an anchored batch (DESIGN §10): materialized on chain (`eventCount` > 0)
   * or known only from its batch's loaded manifest (`eventCount` 0, no history yet).
   */
  batchId?: string;
  /** Read-time facts (never stored): the device's batch is revoked. */
  batchRevoked?: boolean;
  /** Read-time facts (never stored): the id is claimed under more than one manufacturer. */
  duplicateIdentity?: boolean;
}

/** How an anchored batch's manifest stands on this indexer (not chain data: never in the digest). */
export const MANIFEST_STATUSES = ["PENDING", "LOADED", "UNAVAILABLE", "INVALID"] as const;
export type ManifestStatus = (typeof MANIFEST_STATUSES)[number];

export interface BatchRevocationRecord {
  reason: number;
  by: string;
  at: number;
  blockNumber: number;
  transactionHash: string;
}

/** An anchored batch as the chain says it (DevicesAnchored, BatchRevoked, DeviceMaterialized). */
export interface BatchRecord {
  id: string;
  manufacturer: string;
  root: string;
  count: number;
  manifestHash: string;
  manifestUri: string;
  blockNumber: number;
  transactionHash: string;
  /** Block timestamp of the anchoring: the registeredAt of its devices. */
  timestamp: number;
  revocation?: BatchRevocationRecord;
  /** Devices of the batch that got a storage record on chain. */
  materializedCount: number;
}

/** The loader's state of one batch's manifest (sublevel `mfst`). */
export interface ManifestRecord {
  batchId: string;
  /** The manifestHash it loads (a reorg may re-anchor the same batch id with another manifest). */
  manifestHash: string;
  status: ManifestStatus;
  /** Why it is UNAVAILABLE or INVALID. */
  error?: string;
  attempts: number;
  /** Rows of the manifest already indexed (the resume cursor); `count` once LOADED. */
  indexed: number;
  /** Unix ms of the next attempt while UNAVAILABLE. */
  retryAt?: number;
}

export interface BatchView extends BatchRecord {
  manifest: ManifestRecord;
}

/** One row of a loaded manifest: the leaf fields, the serial and the row (= tree order). */
export interface AnchoredLeafRecord {
  deviceId: string;
  batchId: string;
  index: number;
  serial: string;
  keyAlgorithm: number;
  keyHash: string;
  firmwareHash: string;
  /** bytes32 as in the leaf. */
  segment: string;
}

export interface BatchFilter {
  manufacturer?: string;
  revoked?: boolean;
  manifestStatus?: ManifestStatus;
}

export interface AttestationRecord {
  uid: string;
  deviceId: string;
  /** Decoded short name, e.g. "firmware". */
  kind: string;
  /** The raw bytes32 kind (for role ids). */
  kindBytes32: string;
  attester: string;
  evidenceHash: string;
  issuedAt: number;
  /** 0 = never. */
  expiresAt: number;
  revoked: boolean;
  revokedAt?: number;
  revokedBy?: string;
  revocationReason?: number;
  blockNumber: number;
  transactionHash: string;
}

export interface HistoryEntryRecord {
  deviceId: string;
  /** 1-based position in the device's history (= eventCount after this entry). */
  seq: number;
  /** Event name, e.g. "DeviceRevoked" (GraphQL shows it as DEVICE_REVOKED). */
  kind: DeviceEventName;
  blockNumber: number;
  blockHash: string;
  transactionHash: string;
  logIndex: number;
  timestamp: number;
  /** Who caused the event (manufacturer, attester, `by`). */
  actor: string;
  /**
   * The event's fields by ABI name, excluding `head`, as JSON-safe values: bytes32/addresses as
   * hex strings, small integers as numbers. Feeding them to common/history nextHistoryHead
   * reproduces `headAfter`.
   */
  fields: Record<string, string | number>;
  headAfter: string;
}

export interface DeviceFilter {
  manufacturer?: string;
  status?: Exclude<DeviceStatusName, "NONE">;
  segment?: string;
  /** Devices holding at least one (unrevoked) attestation of this kind. */
  attestationKind?: string;
}

export interface Page<T> {
  items: T[];
  /**
   * Each item's cursor, in the order of `items`: opaque base64url of the item's sort key. Passed
   * as `after`, it continues right after that item (no skip, no repeat).
   */
  cursors: string[];
  /** The last item's cursor, null when empty. */
  endCursor: string | null;
  hasNextPage: boolean;
  /** All items the query matches, not just this page; from counters, never a scan. */
  totalCount: number;
}

export interface IndexerStatusRecord {
  chainId: number;
  registry: string;
  deployBlock: number;
  /** Last block whose events are applied. */
  indexedBlock: number;
  indexedBlockHash: string;
  /** Latest chain head the indexer has seen (from the node). */
  headBlock: number;
  /** Rolling state digest after indexedBlock. */
  digest: string;
  /** Whether the initial backfill reached the head at least once. */
  caughtUp: boolean;
  reorgs: number;
  rpcErrors: number;
  /** Blocks the indexer stays behind the head (`confirmations`). */
  confirmations?: number;
  /** Registry logs applied so far. */
  events?: number;
  /**
   * Set when indexing stopped on a fatal error (reorg deeper than the window, a lying node, chain
   * identity): the store keeps serving the last consistent state, readiness must go false.
   */
  fatalError?: string;
  /** Name of the fatal error class, e.g. "HistoryHeadMismatchError". */
  fatalErrorName?: string;
}

/** What the indexer reports after each committed batch (listeners hear only committed data). */
export type StoreChange =
  | { type: "applied"; fromBlock: number; toBlock: number; entries: HistoryEntryRecord[] }
  /** A reorg removed these entries (already rolled back in the store). */
  | { type: "retracted"; toBlock: number; entries: HistoryEntryRecord[] }
  /** Batches a commit anchored, revoked or (by a reorg) removed, or whose manifest changed. */
  | { type: "batches"; batchIds: string[]; entries: [] };

/** The records read through the store's cache (metric label values). */
export type CachedRecordKind = "device" | "attestation" | "attestation_list";

/** The store's cache and size, for /metrics. */
export interface StoreStats {
  cache: {
    /** The record cache's bound and its estimated bytes held. */
    maxBytes: number;
    bytes: number;
    entries: number;
    hits: Record<CachedRecordKind, number>;
    misses: Record<CachedRecordKind, number>;
    evictions: number;
  };
  /** LevelDB's own block cache (the rest of the DTL_CACHE_MB budget). */
  blockCacheBytes: number;
  /** Bytes of the store's directory, sampled (at most every 15 s). */
  diskBytes: number;
}

export interface StoreReader {
  getDevice(id: string): Promise<DeviceRecord | undefined>;
  /** Same order as `ids`; undefined where unknown. */
  getDevices(ids: readonly string[]): Promise<(DeviceRecord | undefined)[]>;
  listDevices(filter: DeviceFilter, first: number, after?: string | null): Promise<Page<DeviceRecord>>;
  getAttestation(uid: string): Promise<AttestationRecord | undefined>;
  /** All attestations of a device, oldest first. */
  listAttestations(deviceId: string): Promise<AttestationRecord[]>;
  /** A device's history in order (seq ascending). */
  getHistory(deviceId: string, first: number, after?: string | null): Promise<Page<HistoryEntryRecord>>;
  /** Whether `account` holds `role` (bytes32) according to RoleGranted/RoleRevoked events. */
  hasRole(role: string, account: string): Promise<boolean>;
  status(): IndexerStatusRecord;
  /** Cache counters and the store's size on disk (cheap: counters, a sampled size). */
  storeStats(): Promise<StoreStats>;
  /** An anchored batch with its manifest state. */
  getBatch(id: string): Promise<BatchView | undefined>;
  /** Batches in batch-id order, filtered. */
  listBatches(filter: BatchFilter, first: number, after?: string | null): Promise<Page<BatchView>>;
  /** The rows of a LOADED manifest in tree order (undefined unless LOADED). */
  getManifestLeaves(batchId: string): Promise<AnchoredLeafRecord[] | undefined>;
  /** The claims of loaded manifests on a device id (one per batch listing it). */
  getAnchoredClaims(deviceId: string): Promise<AnchoredLeafRecord[]>;
  /** Digest over the loaded manifests (batch id and manifest hash, in batch-id order). */
  manifestsDigest(): string;
  /** Subscribe to committed changes; returns the unsubscribe function. */
  onChange(listener: (change: StoreChange) => void): () => void;
}
