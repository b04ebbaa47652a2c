/**
 * LevelDB layout of the mirror. One sublevel per kind, JSON values, string keys built for range
 * scans: every number is fixed-width lowercase hex (big-endian), so key order is chain order.
 *
 *   meta  "schema" → SCHEMA_VERSION, "identity" → StoreIdentity, "cursor" → Cursor
 *   dev   <deviceId:64>                           → DeviceRecord
 *   att   <uid:64>                                → AttestationRecord
 *   hist  <deviceId:64><seq:8>                    → EncodedHistoryEntry (codec.ts)
 *   role  <role:64><account:40>                   → { block }
 *   idx   m<manufacturer:40><deviceId:64>         → ""   devices by manufacturer
 *         s<status:1><deviceId:64>                → ""   devices by status (1 active, 2 suspended, 3 revoked)
 *         g<segment:64><deviceId:64>              → ""   devices by segment (bytes32)
 *         k<kind:64><deviceId:64>                 → ""   devices with an unrevoked attestation of kind
 *         a<deviceId:64><seq:8>                   → uid  a device's attestations, oldest first
 *   blk   <block:12>                              → { hash, digest, events }   reorg window (+ the undo floor)
 *   undo  <block:12>                              → UndoOp[]           what block <block> overwrote
 */
import { ClassicLevel } from "classic-level";
import { DEVICE_STATUS } from "../../common/codes";

export const SCHEMA_VERSION = 1;

export const SUBLEVELS = ["meta", "dev", "att", "hist", "role", "idx", "blk", "undo"] as const;
export type SubName = (typeof SUBLEVELS)[number];

export type Db = ClassicLevel<string, unknown>;
export type Sub = ReturnType<Db["sublevel"]>;
export type Subs = Record<SubName, Sub>;

export function openSubs(db: Db): Subs {
  return Object.fromEntries(
    SUBLEVELS.map((n) => [n, db.sublevel<string, unknown>(n, { keyEncoding: "utf8", valueEncoding: "json" })]),
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

export const keys = {
  id: (bytes32: string) => fixed(bytes32, 64, "bytes32 key"),
  hist: (deviceId: string, seq: number) => fixed(deviceId, 64, "device id") + num(seq, 8),
  role: (role: string, account: string) => fixed(role, 64, "role") + fixed(account, 40, "account"),
  block: (n: number) => num(n, 12),
  byManufacturer: (manufacturer: string, deviceId?: string) =>
    "m" + fixed(manufacturer, 40, "manufacturer") + (deviceId ? keys.id(deviceId) : ""),
  byStatus: (status: string, deviceId?: string) => {
    const code = DEVICE_STATUS.indexOf(status as (typeof DEVICE_STATUS)[number]);
    if (code < 1) throw new Error(`unknown status ${status}`);
    return "s" + code + (deviceId ? keys.id(deviceId) : "");
  },
  bySegment: (segmentBytes32: string, deviceId?: string) =>
    "g" + fixed(segmentBytes32, 64, "segment") + (deviceId ? keys.id(deviceId) : ""),
  byKind: (kindBytes32: string, deviceId?: string) =>
    "k" + fixed(kindBytes32, 64, "kind") + (deviceId ? keys.id(deviceId) : ""),
  deviceAttestation: (deviceId: string, seq: number) => "a" + keys.hist(deviceId, seq),
};

/** The device id at the end of an index key (the last 64 hex digits). */
export const deviceIdOfIndexKey = (key: string): string => "0x" + key.slice(-64);
