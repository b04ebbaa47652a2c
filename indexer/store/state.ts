/**
 * What the store keeps in memory: only what is bounded by something other than the fleet —
 * identity, cursor, the reorg window's block records, role members (bounded by accounts) and the
 * device tallies (bounded by manufacturers × statuses × segments). Loaded at open by reading
 * `meta` and scanning `role` and `blk`, never the devices; changed only by {@link foldWrites}
 * right after a batch committed. Devices, attestations and lists are read through the cache.
 */
import { loadCounts, type DeviceCounts, type StoredTally } from "./counts";
import type { BatchRecord, ManifestRecord } from "../types";
import type { BlockRecord, Cursor, StoreIdentity, SubName, Subs } from "./schema";

export interface MemoryState {
  identity: StoreIdentity | undefined;
  cursor: Cursor | undefined;
  /** role key (keys.role) present = member. */
  roles: Set<string>;
  /** The reorg window's block records, by number. */
  blocks: Map<number, BlockRecord>;
  /** Device tallies by filterable attributes (counts.ts): what `totalCount` is served from. */
  counts: DeviceCounts;
  /** Anchored batches by key (keys.id): bounded by anchoring transactions, not by devices. */
  batches: Map<string, BatchRecord>;
  /** Manifest loader state by batch key. */
  manifests: Map<string, ManifestRecord>;
}

export function emptyState(): MemoryState {
  return {
    identity: undefined,
    cursor: undefined,
    roles: new Set(),
    blocks: new Map(),
    counts: new Map(),
    batches: new Map(),
    manifests: new Map(),
  };
}

export async function loadState(subs: Subs): Promise<MemoryState> {
  const s = emptyState();
  const [identity, cursor, counts, roles, blocks, batches, manifests] = await Promise.all([
    subs.meta.get("identity"),
    subs.meta.get("cursor"),
    subs.meta.get("counts"),
    subs.role.keys().all(),
    subs.blk.iterator().all(),
    subs.batch.iterator().all(),
    subs.mfst.iterator().all(),
  ]);
  for (const [k, v] of batches as [string, BatchRecord][]) s.batches.set(k, v);
  for (const [k, v] of manifests as [string, ManifestRecord][]) s.manifests.set(k, v);
  s.identity = identity as StoreIdentity | undefined;
  s.cursor = cursor as Cursor | undefined;
  s.counts = loadCounts(counts as StoredTally[] | undefined);
  for (const k of roles as string[]) s.roles.add(k);
  for (const [k, v] of blocks as [string, BlockRecord][]) s.blocks.set(Number.parseInt(k, 16), v);
  return s;
}

export interface Write {
  sub: SubName;
  key: string;
  /** undefined = delete. */
  value: unknown;
}

/** Applies committed writes to the memory state (call only after the batch resolved). */
export function foldWrites(s: MemoryState, writes: Iterable<Write>): void {
  for (const w of writes) {
    const del = w.value === undefined;
    switch (w.sub) {
      case "role":
        if (del) s.roles.delete(w.key);
        else s.roles.add(w.key);
        break;
      case "blk":
        if (del) s.blocks.delete(Number.parseInt(w.key, 16));
        else s.blocks.set(Number.parseInt(w.key, 16), w.value as BlockRecord);
        break;
      case "batch":
        if (del) s.batches.delete(w.key);
        else s.batches.set(w.key, w.value as BatchRecord);
        break;
      case "mfst":
        if (del) s.manifests.delete(w.key);
        else s.manifests.set(w.key, w.value as ManifestRecord);
        break;
      case "meta":
        if (w.key === "cursor") s.cursor = w.value as Cursor;
        else if (w.key === "identity") s.identity = w.value as StoreIdentity | undefined;
        else if (w.key === "counts") s.counts = loadCounts(w.value as StoredTally[] | undefined);
        break;
      default:
        break;
    }
  }
}
