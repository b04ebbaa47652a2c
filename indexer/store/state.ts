/**
 * The hot part of the store kept in memory (devices, attestations, role members, each device's
 * attestation list, the reorg window, the device counts), loaded once at open and changed only by
 * {@link foldWrites} right after a batch committed. Records are never mutated: a change replaces the object, so
 * readers may hold on to what they got.
 */
import type { AttestationRecord, DeviceRecord } from "../types";
import { tally, type DeviceCounts } from "./counts";
import { keys, type BlockRecord, type Cursor, type StoreIdentity, type Subs, type SubName } from "./schema";

export interface MemoryState {
  identity: StoreIdentity | undefined;
  cursor: Cursor | undefined;
  devices: Map<string, DeviceRecord>;
  attestations: Map<string, AttestationRecord>;
  /** deviceId → attestation uids by their key in the `a` index (oldest first). */
  deviceAttestations: Map<string, { key: string; uid: string }[]>;
  /** role key (keys.role) present = member. */
  roles: Set<string>;
  /** The reorg window's block records, by number. */
  blocks: Map<number, BlockRecord>;
  /** Device tallies by filterable attributes (counts.ts): what `totalCount` is served from. */
  counts: DeviceCounts;
}

export function emptyState(): MemoryState {
  return {
    identity: undefined,
    cursor: undefined,
    devices: new Map(),
    attestations: new Map(),
    deviceAttestations: new Map(),
    roles: new Set(),
    blocks: new Map(),
    counts: new Map(),
  };
}

async function scan(
  sub: Subs[SubName],
  opts: { gte?: string; lt?: string },
  each: (k: string, v: unknown) => void,
): Promise<void> {
  const it = sub.iterator(opts);
  try {
    for (;;) {
      const entries = await it.nextv(2000);
      if (entries.length === 0) break;
      for (const [k, v] of entries) each(k, v);
    }
  } finally {
    await it.close();
  }
}

export async function loadState(subs: Subs): Promise<MemoryState> {
  const s = emptyState();
  // the scans run side by side: LevelDB reads in its threads while JSON is decoded here
  await Promise.all([
    subs.meta.get("identity").then((v) => (s.identity = v as StoreIdentity | undefined)),
    subs.meta.get("cursor").then((v) => (s.cursor = v as Cursor | undefined)),
    scan(subs.dev, {}, (_k, v) => {
      const d = v as DeviceRecord;
      s.devices.set(d.id, d);
    }),
    scan(subs.att, {}, (_k, v) => {
      const a = v as AttestationRecord;
      s.attestations.set(a.uid, a);
    }),
    scan(subs.idx, { gte: "a", lt: "b" }, (k, v) => addDeviceAttestation(s, deviceOfAttestationKey(k), k, v as string)),
    scan(subs.role, {}, (k) => s.roles.add(k)),
    scan(subs.blk, {}, (k, v) => s.blocks.set(Number.parseInt(k, 16), v as BlockRecord)),
  ]);
  for (const id of s.devices.keys()) countDevice(s, id, 1);
  return s;
}

/** The attestation kinds (kindBytes32) a device holds unrevoked, each once. */
export function unrevokedKinds(s: MemoryState, id: string): string[] {
  const kinds: string[] = [];
  const list = s.deviceAttestations.get(id);
  if (list === undefined) return kinds;
  for (let i = 0; i < list.length; i++) {
    const a = s.attestations.get(list[i]!.uid);
    if (a && !a.revoked && !kinds.includes(a.kindBytes32)) kinds.push(a.kindBytes32);
  }
  return kinds;
}

function countDevice(s: MemoryState, id: string, sign: 1 | -1): void {
  const d = s.devices.get(id);
  if (d) tally(s.counts, d, unrevokedKinds(s, id), sign);
}

function deviceOfAttestationKey(key: string): string {
  return "0x" + key.slice(1, 65);
}

function addDeviceAttestation(s: MemoryState, id: string, key: string, uid: string): void {
  let list = s.deviceAttestations.get(id);
  if (!list) s.deviceAttestations.set(id, (list = []));
  const last = list[list.length - 1];
  list.push({ key, uid });
  if (last && last.key > key) list.sort((a, b) => (a.key < b.key ? -1 : 1));
}

function removeDeviceAttestation(s: MemoryState, id: string, key: string): void {
  const list = s.deviceAttestations.get(id);
  if (!list) return;
  const i = list.findIndex((e) => e.key === key);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) s.deviceAttestations.delete(id);
}

export interface Write {
  sub: SubName;
  key: string;
  /** undefined = delete. */
  value: unknown;
}

/**
 * Applies committed writes to the memory state (call only after the batch resolved).
 *
 * The counts follow each write that can change a device's contribution (its record, an
 * attestation of it, its attestation list): the device is taken out of the counts just before
 * the write and put back just after, so they stay exact whatever the writes (range or rollback).
 */
export function foldWrites(s: MemoryState, writes: Iterable<Write>): void {
  for (const w of writes) {
    const del = w.value === undefined;
    switch (w.sub) {
      case "dev": {
        const id = "0x" + w.key;
        countDevice(s, id, -1);
        if (del) s.devices.delete(id);
        else s.devices.set(id, w.value as DeviceRecord);
        countDevice(s, id, 1);
        break;
      }
      case "att": {
        const uid = "0x" + w.key;
        const id = ((w.value as AttestationRecord | undefined) ?? s.attestations.get(uid))?.deviceId;
        if (id) countDevice(s, id, -1);
        if (del) s.attestations.delete(uid);
        else s.attestations.set(uid, w.value as AttestationRecord);
        if (id) countDevice(s, id, 1);
        break;
      }
      case "role":
        if (del) s.roles.delete(w.key);
        else s.roles.add(w.key);
        break;
      case "idx":
        if (w.key.startsWith("a")) {
          const id = deviceOfAttestationKey(w.key);
          countDevice(s, id, -1);
          if (del) removeDeviceAttestation(s, id, w.key);
          else addDeviceAttestation(s, id, w.key, w.value as string);
          countDevice(s, id, 1);
        }
        break;
      case "blk":
        if (del) s.blocks.delete(Number.parseInt(w.key, 16));
        else s.blocks.set(Number.parseInt(w.key, 16), w.value as BlockRecord);
        break;
      case "meta":
        if (w.key === "cursor") s.cursor = w.value as Cursor;
        else if (w.key === "identity") s.identity = w.value as StoreIdentity | undefined;
        break;
      default:
        break;
    }
  }
}

/** Value of a memory-held key, or NOT_HELD for sublevels that live only in LevelDB. */
export const NOT_HELD = Symbol("not held in memory");

export function memoryValue(s: MemoryState, sub: SubName, key: string): unknown {
  switch (sub) {
    case "dev":
      return s.devices.get("0x" + key) ?? null;
    case "att":
      return s.attestations.get("0x" + key) ?? null;
    case "role":
      return s.roles.has(key) ? NOT_HELD : null;
    case "blk":
      return s.blocks.get(Number.parseInt(key, 16)) ?? null;
    case "hist":
      // history keys are only ever created (seq grows), never overwritten
      return null;
    default:
      return NOT_HELD;
  }
}

export { keys };
