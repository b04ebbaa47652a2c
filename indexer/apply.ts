/**
 * Turns decoded events into store writes: device records, attestations, history entries, the
 * indexes, role members and the device tallies — after checking, for every device event, that
 * its reported head follows from the device's previous head and the event's own fields (zero
 * trust toward the node). A mismatch throws before anything of the range is written.
 *
 * {@link prefetchRange} reads, through the store's cache, every record a range will read (the
 * only function here that awaits); {@link applyRange} then turns the range into what its commit
 * must hold — the writes, the new cursor (digest folded per block), the tallies and the block
 * records of the reorg window — synchronously, over the overlay → the prefetched base, no I/O.
 * The sync loop commits.
 */
import { ZeroHash } from "ethers";
import { LRUCache } from "lru-cache";
import { decodeShortName } from "../common/ids";
import { FatalIndexerError, HistoryHeadMismatchError } from "./errors";
import type { Hashers } from "./hashing";
import type { BatchEvent, BlockHeader, DecodedRange, DeviceEvent, RoleEvent } from "./source";
import { cloneCounts, storedCounts, tally, type DeviceCounts } from "./store/counts";
import { keys, num, type BlockRecord, type CachedSub, type Cursor, type SubName } from "./store/schema";
import { createBase, createWriteSet, type Base, type WriteSet } from "./store/writeset";
import type { AttestationRecord, BatchRecord, DeviceRecord, HistoryEntryRecord } from "./types";

type Status = DeviceRecord["status"];

/** Short names repeat (a few segments and kinds): decode each once. */
const shortNames = new LRUCache<string, string>({ max: 10_000, memoMethod: decodeShortName });

function setStatus(w: WriteSet, d: DeviceRecord, idKey: string, next: Status): void {
  if (d.status === next) return;
  w.del("byStatus", keys.byStatus(d.status) + idKey);
  w.put("byStatus", keys.byStatus(next) + idKey, "");
}

/** A device's attestation uids (oldest first) as the range sees them. */
const attestationsOf = (w: WriteSet, idKey: string): readonly string[] => w.get<string[]>("devAtt", idKey) ?? [];

function unrevokedOfKind(w: WriteSet, deviceId: string, kindBytes32: string, uids: readonly string[]): boolean {
  for (const uid of uids) {
    const a = w.get<AttestationRecord>("att", keys.id(uid));
    if (a && a.deviceId === deviceId && a.kindBytes32 === kindBytes32 && !a.revoked) return true;
  }
  return false;
}

/** The attestation kinds (kindBytes32) a device holds unrevoked, each once. */
function unrevokedKinds(w: WriteSet, idKey: string): string[] {
  const kinds: string[] = [];
  for (const uid of attestationsOf(w, idKey)) {
    const a = w.get<AttestationRecord>("att", keys.id(uid));
    if (a && !a.revoked && !kinds.includes(a.kindBytes32)) kinds.push(a.kindBytes32);
  }
  return kinds;
}

/** Events that change neither a device's tally tuple nor its attestations. */
const UNCOUNTED = new Set<DeviceEvent["name"]>(["FirmwareUpdated", "KeyRotated"]);

export interface ApplyContext {
  w: WriteSet;
  hashers: Hashers;
  headers: ReadonlyMap<number, BlockHeader>;
  /** The tallies, changed in place (a copy of the store's: applyRange). */
  counts: DeviceCounts;
}

/**
 * Applies one device event; returns its history entry. A device that the event may move between
 * tallies leaves the counts just before the event's writes and returns just after.
 */
export function applyDeviceEvent(ctx: ApplyContext, e: DeviceEvent): HistoryEntryRecord {
  const { w } = ctx;
  const idKey = keys.id(e.deviceId);
  const prev = w.get<DeviceRecord>("dev", idKey);
  const expected = ctx.hashers.nextHead(prev?.historyHead ?? ZeroHash, e.kind, e.encodedFields);
  if (expected !== e.head) throw new HistoryHeadMismatchError(e.deviceId, e.blockNumber, e.name, expected, e.head);
  const header = ctx.headers.get(e.blockNumber);
  if (!header) throw new FatalIndexerError(`internal: no header for block ${e.blockNumber}`);
  const at = header.timestamp;
  const seq = (prev?.eventCount ?? 0) + 1;
  const f = e.fields;
  const touched = { eventCount: seq, historyHead: e.head, updatedBlock: e.blockNumber };
  const missing = () =>
    new FatalIndexerError(`${e.name} at block ${e.blockNumber} for unknown device ${e.deviceId} passed the head check`);
  const counted = !UNCOUNTED.has(e.name);
  if (counted && prev) tally(ctx.counts, prev, unrevokedKinds(w, idKey), -1);

  let next: DeviceRecord;
  switch (e.name) {
    case "DeviceRegistered": {
      // A registration of a known device cannot pass the head check (it would start from zero).
      next = {
        id: e.deviceId,
        manufacturer: f.manufacturer as string,
        status: "ACTIVE",
        keyAlgorithm: f.keyAlgorithm as number,
        keyHash: f.keyHash as string,
        firmwareHash: f.firmwareHash as string,
        segment: shortNames.memo(f.segment as string),
        registeredAt: at,
        registeredBlock: e.blockNumber,
        ...touched,
      };
      w.put("byMfr", keys.byMfr(next.manufacturer) + idKey, "");
      w.put("byStatus", keys.byStatus("ACTIVE") + idKey, "");
      w.put("bySegment", keys.bySegment(f.segment as string) + idKey, "");
      break;
    }
    case "FirmwareUpdated":
      if (!prev) throw missing();
      next = { ...prev, firmwareHash: f.firmwareHash as string, ...touched };
      break;
    case "KeyRotated":
      if (!prev) throw missing();
      next = { ...prev, keyAlgorithm: f.keyAlgorithm as number, keyHash: f.keyHash as string, ...touched };
      break;
    case "DeviceSuspended":
      if (!prev) throw missing();
      next = {
        ...prev,
        status: "SUSPENDED",
        suspension: { reason: f.reason as number, at, by: e.actor, blockNumber: e.blockNumber },
        ...touched,
      };
      setStatus(w, prev, idKey, "SUSPENDED");
      break;
    case "DeviceReinstated": {
      if (!prev) throw missing();
      const { suspension: _s, ...rest } = prev;
      next = { ...rest, status: "ACTIVE", ...touched };
      setStatus(w, prev, idKey, "ACTIVE");
      break;
    }
    case "DeviceRevoked": {
      if (!prev) throw missing();
      const { suspension: _s, ...rest } = prev;
      next = {
        ...rest,
        status: "REVOKED",
        revocation: {
          reason: f.reason as number,
          at,
          by: e.actor,
          blockNumber: e.blockNumber,
          transactionHash: e.transactionHash,
        },
        ...touched,
      };
      setStatus(w, prev, idKey, "REVOKED");
      break;
    }
    case "Attested": {
      if (!prev) throw missing();
      next = { ...prev, ...touched };
      const uid = f.uid as string;
      const att: AttestationRecord = {
        uid,
        deviceId: e.deviceId,
        kind: shortNames.memo(f.kind as string),
        kindBytes32: f.kind as string,
        attester: f.attester as string,
        evidenceHash: f.evidenceHash as string,
        issuedAt: at,
        expiresAt: f.expiresAt as number,
        revoked: false,
        blockNumber: e.blockNumber,
        transactionHash: e.transactionHash,
      };
      w.put("att", keys.id(uid), att);
      // a new list: the one read may be the cache's, which is never changed in place
      w.put("devAtt", idKey, [...attestationsOf(w, idKey), uid]);
      w.put("byKind", keys.byKind(att.kindBytes32) + idKey, "");
      break;
    }
    case "AttestationRevoked": {
      if (!prev) throw missing();
      next = { ...prev, ...touched };
      const uid = f.uid as string;
      const att = w.get<AttestationRecord>("att", keys.id(uid));
      if (!att || att.deviceId !== e.deviceId) {
        throw new FatalIndexerError(
          `AttestationRevoked at block ${e.blockNumber} names attestation ${uid} that device ${e.deviceId} does not have`,
        );
      }
      w.put("att", keys.id(uid), {
        ...att,
        revoked: true,
        revokedAt: at,
        revokedBy: e.actor,
        revocationReason: f.reason as number,
      });
      if (!unrevokedOfKind(w, e.deviceId, att.kindBytes32, attestationsOf(w, idKey)))
        w.del("byKind", keys.byKind(att.kindBytes32) + idKey);
      break;
    }
  }
  w.put("dev", idKey, next);
  if (counted) tally(ctx.counts, next, unrevokedKinds(w, idKey), 1);
  const entry: HistoryEntryRecord = {
    deviceId: e.deviceId,
    seq,
    kind: e.name,
    blockNumber: e.blockNumber,
    blockHash: e.blockHash,
    transactionHash: e.transactionHash,
    logIndex: e.logIndex,
    timestamp: at,
    actor: e.actor,
    fields: f,
    headAfter: e.head,
  };
  w.put("hist", idKey + num(seq, 8), entry);
  return entry;
}

export function applyRoleEvent(w: WriteSet, e: RoleEvent): void {
  const key = keys.role(e.role, e.account);
  if (e.name === "RoleGranted") w.put("role", key, { block: e.blockNumber });
  else w.del("role", key);
}

/**
 * Applies an anchored-batch event: a new batch, a revoked one, or the mark that a device's
 * DeviceRegistered (just before, same transaction) materialized a row of a batch. Returns the
 * batch id it changed.
 */
export function applyBatchEvent(ctx: ApplyContext, e: BatchEvent): string {
  const { w } = ctx;
  const key = keys.id(e.batchId);
  const header = ctx.headers.get(e.blockNumber);
  if (!header) throw new FatalIndexerError(`internal: no header for block ${e.blockNumber}`);
  const batch = w.get<BatchRecord>("batch", key);
  const unknown = () => new FatalIndexerError(`${e.name} at block ${e.blockNumber} names unknown batch ${e.batchId}`);
  switch (e.name) {
    case "DevicesAnchored":
      w.put("batch", key, {
        id: e.batchId,
        manufacturer: e.manufacturer,
        root: e.root,
        count: e.count,
        manifestHash: e.manifestHash,
        manifestUri: e.manifestUri,
        blockNumber: e.blockNumber,
        transactionHash: e.transactionHash,
        timestamp: header.timestamp,
        materializedCount: 0,
      } satisfies BatchRecord);
      break;
    case "BatchRevoked":
      if (!batch) throw unknown();
      w.put("batch", key, {
        ...batch,
        revocation: {
          reason: e.reason,
          by: e.by,
          at: header.timestamp,
          blockNumber: e.blockNumber,
          transactionHash: e.transactionHash,
        },
      } satisfies BatchRecord);
      break;
    case "DeviceMaterialized": {
      if (!batch) throw unknown();
      const idKey = keys.id(e.deviceId);
      const d = w.get<DeviceRecord>("dev", idKey);
      if (!d)
        throw new FatalIndexerError(
          `DeviceMaterialized at block ${e.blockNumber} for unregistered device ${e.deviceId}`,
        );
      w.put("dev", idKey, { ...d, batchId: e.batchId, updatedBlock: e.blockNumber } satisfies DeviceRecord);
      w.put("batch", key, { ...batch, materializedCount: batch.materializedCount + 1 } satisfies BatchRecord);
      break;
    }
  }
  return e.batchId;
}

/** A fetched range; `window`: inside the reorg window (every header fetched, undo data kept). */
export interface FetchedRange extends DecodedRange {
  window: boolean;
}

/** Where the store stands before a range: its cursor and tallies (committed, or of the range before). */
export interface ApplyHead {
  cursor: Cursor;
  counts: DeviceCounts;
}

/** What one commit of a range holds. */
export interface RangeWrites extends ApplyHead {
  w: WriteSet;
  blocks: Map<number, BlockRecord>;
  /** The history entries the range adds, in chain order. */
  entries: HistoryEntryRecord[];
  /** Batches the range anchored, revoked or materialized a device of. */
  batchIds: string[];
}

/** Reads records through the store's cache (store.ts `getRecords`). */
export interface RecordSource {
  /** The committed batches (memory state: bounded by anchoring transactions). */
  readonly state: { batches: ReadonlyMap<string, BatchRecord> };
  getRecords<T>(sub: CachedSub, keys: readonly string[], opts?: { fill?: boolean }): Promise<(T | undefined)[]>;
}

/**
 * Reads everything {@link applyRange} will read for `range`, in three rounds of getMany through
 * the cache (without filling it): the device records of its device events; then, for devices that exist and whose
 * tallies or attestations an event may change, their attestation lists; then the attestation
 * records those lists name and every attestation the range revokes. `under` is the range
 * before, applied but perhaps not committed yet: what it wrote wins over what the store says.
 */
export async function prefetchRange(src: RecordSource, range: DecodedRange, under?: WriteSet): Promise<Base> {
  const base = createBase();
  async function read(sub: CachedSub, wanted: Iterable<string>): Promise<void> {
    const need: string[] = [];
    for (const k of wanted) {
      if (base.get(sub, k) !== undefined) continue;
      const p = under?.pending(sub, k);
      if (p) base.set(sub, k, p.value ?? null);
      else {
        base.set(sub, k, null); // a placeholder: keys repeat within a range
        need.push(k);
      }
    }
    if (need.length === 0) return;
    // hits come from the cache; what misses is not cached for the apply step (readers fill it)
    const values = await src.getRecords(sub, need, { fill: false });
    for (let i = 0; i < need.length; i++) base.set(sub, need[i]!, values[i] ?? null);
  }
  const devices = new Set<string>();
  const counted = new Set<string>();
  const revoked: string[] = [];
  for (const e of range.events) {
    if (e.type === "batch") {
      const k = keys.id(e.batchId);
      const p = under?.pending("batch", k);
      base.set("batch", k, p ? (p.value ?? null) : (src.state.batches.get(k) ?? null));
      if (e.name === "DeviceMaterialized") devices.add(keys.id(e.deviceId));
      continue;
    }
    if (e.type !== "device") continue;
    const k = keys.id(e.deviceId);
    devices.add(k);
    if (!UNCOUNTED.has(e.name)) counted.add(k);
    if (e.name === "AttestationRevoked") revoked.push(keys.id(e.fields.uid as string));
  }
  await read("dev", devices);
  const lists: string[] = [];
  for (const k of counted) {
    // a device without a record has no attestations (devices registered in this range)
    if (base.get("dev", k) === null) base.set("devAtt", k, null);
    else lists.push(k);
  }
  await read("devAtt", lists);
  const uids: string[] = [...revoked];
  for (const k of lists) for (const uid of (base.get("devAtt", k) as string[] | null) ?? []) uids.push(keys.id(uid));
  await read("att", uids);
  return base;
}

/**
 * Applies a range that follows `head.cursor` (the caller checked that the header before it has
 * the cursor's hash) over `base` from {@link prefetchRange}. Inside the window every block gets a
 * block record, since a rollback may stop at any of them, and the tallies are written at the end
 * of each block that changed them (so undo data restores them to any block); below it only the
 * range's end gets a block record and the tallies are written once.
 */
export function applyRange(head: ApplyHead, base: Base, hashers: Hashers, range: FetchedRange): RangeWrites {
  const c = head.cursor;
  if (range.from !== c.block + 1)
    throw new FatalIndexerError(`internal: range ${range.from} does not follow cursor ${c.block}`);
  const toHeader = range.headers.get(range.to);
  if (!toHeader) throw new FatalIndexerError(`internal: no header for range end ${range.to}`);

  const counts = cloneCounts(head.counts);
  const countsKey: [SubName, string] = ["meta", "counts"];
  // the tallies before the range: what undo data records for them
  if (range.window) base.set(...countsKey, storedCounts(head.counts));
  const w = createWriteSet(base, { recordUndo: range.window });
  const ctx: ApplyContext = { w, hashers, headers: range.headers, counts };
  const entries: HistoryEntryRecord[] = [];
  const batchIds = new Set<string>();
  const blocks = new Map<number, BlockRecord>();
  let digest = c.digest;
  let events = c.events;
  let countsChanged = false;
  let i = 0;
  const { logs } = range;
  while (i < range.events.length) {
    const b = range.events[i]!.blockNumber;
    const start = i;
    w.beginBlock(b);
    for (; i < range.events.length && range.events[i]!.blockNumber === b; i++) {
      const e = range.events[i]!;
      if (e.type === "device") {
        entries.push(applyDeviceEvent(ctx, e));
        if (!UNCOUNTED.has(e.name)) countsChanged = true;
      } else if (e.type === "batch") batchIds.add(applyBatchEvent(ctx, e));
      else applyRoleEvent(w, e);
    }
    if (range.window && countsChanged) {
      w.put(...countsKey, storedCounts(counts));
      countsChanged = false;
    }
    digest = hashers.foldBlock(digest, b, range.events[start]!.blockHash, logs.slice(start, i));
    events += i - start;
    if (range.window) blocks.set(b, { hash: range.events[start]!.blockHash, digest, events });
  }
  if (countsChanged) w.put(...countsKey, storedCounts(counts));
  if (range.window) {
    let d = c.digest;
    let ev = c.events;
    for (let n = range.from; n <= range.to; n++) {
      const rec = blocks.get(n);
      if (rec) ({ digest: d, events: ev } = rec);
      else blocks.set(n, { hash: range.headers.get(n)!.hash, digest: d, events: ev });
    }
  } else {
    blocks.set(range.to, { hash: toHeader.hash, digest, events });
  }
  const undoFloor = range.window ? c.undoFloor : range.to;
  return {
    w,
    cursor: { block: range.to, hash: toHeader.hash, digest, undoFloor, events },
    counts,
    blocks,
    entries,
    batchIds: [...batchIds],
  };
}
