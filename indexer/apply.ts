/**
 * Turns decoded events into store writes: device records, attestations, history entries, the
 * indexes and role members — after checking, for every device event, that its reported head
 * follows from the device's previous head and the event's own fields (zero trust toward the
 * node). A mismatch throws before anything of the range is written.
 *
 * {@link applyRange} does it for a whole fetched range and says what its commit must hold: the
 * writes, the new cursor (digest folded per block) and the block records of the reorg window.
 * Nothing here does I/O; the sync loop commits.
 */
import { ZeroHash } from "ethers";
import { LRUCache } from "lru-cache";
import { decodeShortName } from "../common/ids";
import { FatalIndexerError, HistoryHeadMismatchError } from "./errors";
import type { Hashers } from "./hashing";
import type { BlockHeader, DecodedRange, DeviceEvent, RoleEvent } from "./source";
import { encodeHistoryEntry } from "./store/codec";
import { keys, type BlockRecord, type Cursor } from "./store/schema";
import type { MemoryState } from "./store/state";
import { createWriteSet, type WriteSet } from "./store/writeset";
import type { AttestationRecord, DeviceRecord, HistoryEntryRecord } from "./types";

type Status = DeviceRecord["status"];

/** Short names repeat (a few segments and kinds): decode each once. */
const shortNames = new LRUCache<string, string>({ max: 10_000, memoMethod: decodeShortName });

function setStatus(w: WriteSet, d: DeviceRecord, next: Status): void {
  if (d.status === next) return;
  w.del("idx", keys.byStatus(d.status, d.id));
  w.put("idx", keys.byStatus(next, d.id), "");
}

function unrevokedOfKind(w: WriteSet, deviceId: string, kindBytes32: string, uids: readonly string[]): boolean {
  for (const uid of uids) {
    const a = w.get<AttestationRecord>("att", keys.id(uid));
    if (a && a.deviceId === deviceId && a.kindBytes32 === kindBytes32 && !a.revoked) return true;
  }
  return false;
}

export interface ApplyContext {
  w: WriteSet;
  hashers: Hashers;
  headers: ReadonlyMap<number, BlockHeader>;
  /** Attestation uids of a device known before this range (memory). */
  attestationsOf(deviceId: string): readonly string[];
}

/**
 * Applies one device event; returns its history entry. `pendingAtts` collects attestations
 * created earlier in the same range (per device).
 */
export function applyDeviceEvent(
  ctx: ApplyContext,
  e: DeviceEvent,
  pendingAtts: Map<string, string[]>,
): HistoryEntryRecord {
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
      w.put("idx", keys.byManufacturer(next.manufacturer, e.deviceId), "");
      w.put("idx", keys.byStatus("ACTIVE", e.deviceId), "");
      w.put("idx", keys.bySegment(f.segment as string, e.deviceId), "");
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
      setStatus(w, prev, "SUSPENDED");
      break;
    case "DeviceReinstated": {
      if (!prev) throw missing();
      const { suspension: _s, ...rest } = prev;
      next = { ...rest, status: "ACTIVE", ...touched };
      setStatus(w, prev, "ACTIVE");
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
      setStatus(w, prev, "REVOKED");
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
      w.put("idx", keys.deviceAttestation(e.deviceId, seq), uid);
      w.put("idx", keys.byKind(att.kindBytes32, e.deviceId), "");
      let list = pendingAtts.get(e.deviceId);
      if (!list) pendingAtts.set(e.deviceId, (list = []));
      list.push(uid);
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
      const others = [...ctx.attestationsOf(e.deviceId), ...(pendingAtts.get(e.deviceId) ?? [])];
      if (!unrevokedOfKind(w, e.deviceId, att.kindBytes32, others))
        w.del("idx", keys.byKind(att.kindBytes32, e.deviceId));
      break;
    }
  }
  w.put("dev", idKey, next);
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
  w.put("hist", keys.hist(e.deviceId, seq), encodeHistoryEntry(entry));
  return entry;
}

export function applyRoleEvent(w: WriteSet, e: RoleEvent): void {
  const key = keys.role(e.role, e.account);
  if (e.name === "RoleGranted") w.put("role", key, { block: e.blockNumber });
  else w.del("role", key);
}

/** A fetched range; `window`: inside the reorg window (every header fetched, undo data kept). */
export interface FetchedRange extends DecodedRange {
  window: boolean;
}

/** What one commit of a range holds. */
export interface RangeWrites {
  w: WriteSet;
  cursor: Cursor;
  blocks: Map<number, BlockRecord>;
  /** The history entries the range adds, in chain order. */
  entries: HistoryEntryRecord[];
}

/**
 * Applies a range that follows the store's cursor (the caller checked that the header before it
 * has the cursor's hash). Inside the window every block gets a block record, since a rollback
 * may stop at any of them; below it only the range's end does.
 */
export function applyRange(state: MemoryState, hashers: Hashers, range: FetchedRange): RangeWrites {
  const c = state.cursor;
  if (!c) throw new FatalIndexerError("internal: store has no cursor");
  if (range.from !== c.block + 1)
    throw new FatalIndexerError(`internal: range ${range.from} does not follow cursor ${c.block}`);
  const toHeader = range.headers.get(range.to);
  if (!toHeader) throw new FatalIndexerError(`internal: no header for range end ${range.to}`);

  const w = createWriteSet(state, { recordUndo: range.window });
  const ctx: ApplyContext = {
    w,
    hashers,
    headers: range.headers,
    attestationsOf: (id) => (state.deviceAttestations.get(id) ?? []).map((e) => e.uid),
  };
  const pendingAtts = new Map<string, string[]>();
  const entries: HistoryEntryRecord[] = [];
  const blocks = new Map<number, BlockRecord>();
  let digest = c.digest;
  let events = c.events;
  let i = 0;
  const { logs } = range;
  while (i < range.events.length) {
    const b = range.events[i]!.blockNumber;
    const start = i;
    w.beginBlock(b);
    for (; i < range.events.length && range.events[i]!.blockNumber === b; i++) {
      const e = range.events[i]!;
      if (e.type === "device") entries.push(applyDeviceEvent(ctx, e, pendingAtts));
      else applyRoleEvent(w, e);
    }
    digest = hashers.foldBlock(digest, b, range.events[start]!.blockHash, logs.slice(start, i));
    events += i - start;
    if (range.window) blocks.set(b, { hash: range.events[start]!.blockHash, digest, events });
  }
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
  return { w, cursor: { block: range.to, hash: toHeader.hash, digest, undoFloor, events }, blocks, entries };
}
