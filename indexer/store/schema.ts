/**
 * LevelDB layout of the mirror (schema version 3). One sublevel per entity and per index, each
 * with its value encoding set on the sublevel (codec.ts: binary records; JSON for meta, role, blk
 * and undo; "" for the indexes); string keys built for range scans: every number is fixed-width
 * lowercase hex (big-endian), so key order is chain order, and every index lists its devices in
 * device-id order.
 *
 *   meta       "schema" → SCHEMA_VERSION, "identity" → StoreIdentity, "cursor" → Cursor,
 *              "counts" → the device tallies (counts.ts), written in the batch that changes them
 *   dev        <deviceId:64>                        → DeviceRecord        (binary, codec.ts)
 *   att        <uid:64>                             → AttestationRecord   (binary, codec.ts)
 *   devAtt     <deviceId:64>                        → uid[]  a device's attestations, oldest first (binary)
 *   hist       <deviceId:64><seq:8>                 → HistoryEntryRecord  (binary, without device id and seq)
 *   role       <role:64><account:40>                → { block }
 *   byMfr      <manufacturer:40><deviceId:64>       → ""   devices by manufacturer
 *   byStatus   <status:1><deviceId:64>              → ""   devices by status (1 active, 2 suspended, 3 revoked)
 *   bySegment  <segment:64><deviceId:64>            → ""   devices by segment (bytes32)
 *   byKind     <kind:64><deviceId:64>               → ""   devices holding an unrevoked attestation of kind
 *   blk        <block:12>                           → { hash, digest, events }   reorg window (+ the undo floor)
 *   undo       <block:12>                           → UndoOp[]   what block <block> overwrote
 *   batch      <batchId:64>                         → BatchRecord (JSON)  anchored batches (chain data, undo like the rest)
 *
 * Manifest data (DESIGN §10) — written by the manifest loader (indexer/manifests.ts), never by a range,
 * not in the chain digest nor in undo data (a reorg that removes a batch purges its rows):
 *   mfst       <batchId:64>                         → ManifestRecord (JSON)  status and resume cursor
 *   mleaf      <batchId:64><row:8>                  → AnchoredLeafRecord (JSON)  the manifest's rows in tree order
 *   mdev       <deviceId:64>                        → AnchoredLeafRecord[] (JSON)  the claims of loaded manifests on an id
 *
 * What the store keeps in memory is bounded by something other than the fleet: identity, cursor,
 * the window's `blk` records, role members and the tallies. Devices, attestations and lists are
 * read through one bounded cache (cache.ts).
 */
import { ClassicLevel } from "classic-level";
import { DEVICE_STATUS } from "../../common/codes";
import { attestationEncoding, deviceEncoding, historyEncoding, uidListEncoding } from "./codec";

/** 3: anchored batches (the `batch` sublevel, the batch events in the digest), manifests, device batchId. */
export const SCHEMA_VERSION = 3;

/** Sublevel name → value encoding. */
const ENCODINGS = {
  meta: "json",
  dev: deviceEncoding,
  att: attestationEncoding,
  devAtt: uidListEncoding,
  hist: historyEncoding,
  role: "json",
  byMfr: "utf8",
  byStatus: "utf8",
  bySegment: "utf8",
  byKind: "utf8",
  blk: "json",
  undo: "json",
  batch: "json",
  mfst: "json",
  mleaf: "json",
  mdev: "json",
} as const;

export type SubName = keyof typeof ENCODINGS;
export const SUBLEVELS = Object.keys(ENCODINGS) as SubName[];
/** The sublevels whose records are read through the cache. */
export type CachedSub = "dev" | "att" | "devAtt";

export type Db = ClassicLevel<string, unknown>;
export type Sub = ReturnType<Db["sublevel"]>;
export type Subs = Record<SubName, Sub>;

export function openSubs(db: Db): Subs {
  return Object.fromEntries(
    SUBLEVELS.map((n) => [
      n,
      db.sublevel<string, unknown>(n, { keyEncoding: "utf8", valueEncoding: ENCODINGS[n] as "json" }),
    ]),
  ) as unknown as Subs;
}

export interface StoreIdentity {
  chainId: number;
  registry: string;
  deployBlock: number;
  deployBlockHash: string;
}

/** Where the store stands: everything up to `block` (hash `hash`) is applied; `digest` after it. */
export interface Cursor {
  block: number;
  hash: string;
  digest: string;
  /**
   * Every block above this one has undo data: the lowest block a reorg may roll back to. Ranges
   * applied far behind the head (backfill) keep no undo and move it up.
   */
  undoFloor: number;
  /** Registry logs applied so far. */
  events: number;
}

export interface BlockRecord {
  hash: string;
  /** Digest after this block. */
  digest: string;
  /** Registry logs applied up to and including this block. */
  events: number;
}

/** [sublevel, key, value before the block] — `null` when the key did not exist. */
export type UndoOp = [SubName, string, unknown];

// ------------------------------------------------------------------ keys

function fixed(hex: string, width: number, what: string): string {
  const h = (hex.startsWith("0x") ? hex.slice(2) : hex).toLowerCase();
  if (h.length !== width) throw new Error(`${what} must be ${width} hex digits, got ${h.length}`);
  return h;
}

export const num = (n: number, width: number): string => {
  const h = n.toString(16);
  if (n < 0 || !Number.isInteger(n) || h.length > width) throw new Error(`${n} does not fit a ${width}-digit key`);
  return h.padStart(width, "0");
};

/** Code of a status in the byStatus keys (its index in DEVICE_STATUS). */
function statusCode(status: string): number {
  const code = DEVICE_STATUS.indexOf(status as (typeof DEVICE_STATUS)[number]);
  if (code < 1) throw new Error(`unknown status ${status}`);
  return code;
}

export const keys = {
  id: (bytes32: string) => fixed(bytes32, 64, "bytes32 key"),
  hist: (deviceId: string, seq: number) => fixed(deviceId, 64, "device id") + num(seq, 8),
  role: (role: string, account: string) => fixed(role, 64, "role") + fixed(account, 40, "account"),
  block: (n: number) => num(n, 12),
  /** mleaf key, or the prefix of a batch's rows without `row`. */
  mleaf: (batchId: string, row?: number) => fixed(batchId, 64, "batch id") + (row === undefined ? "" : num(row, 8)),
  /** byMfr key, or the prefix of a manufacturer's devices without `deviceId`. */
  byMfr: (manufacturer: string, deviceId?: string) =>
    fixed(manufacturer, 40, "manufacturer") + (deviceId ? keys.id(deviceId) : ""),
  byStatus: (status: string, deviceId?: string) => statusCode(status) + (deviceId ? keys.id(deviceId) : ""),
  bySegment: (segmentBytes32: string, deviceId?: string) =>
    fixed(segmentBytes32, 64, "segment") + (deviceId ? keys.id(deviceId) : ""),
  byKind: (kindBytes32: string, deviceId?: string) =>
    fixed(kindBytes32, 64, "kind") + (deviceId ? keys.id(deviceId) : ""),
};
