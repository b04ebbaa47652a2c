/**
 * The one bounded cache between the store's readers (API lookups, the apply step's prefetch) and
 * LevelDB: decoded device records, attestation records and device attestation lists, and the
 * answer "not there" for ids the store does not hold (a gateway gets asked about strangers), in
 * one lru-cache bounded in bytes (`maxSize` + `sizeCalculation`, its public API).
 *
 * Invariants:
 * - The cache never holds a value older than the store: after every commit the store writes
 *   what it wrote through ({@link RecordCache.writeThrough}: a cached key — record or absent
 *   mark — takes the written value, a deleted key is evicted) before anyone is told, and bumps
 *   the epoch. A commit adds no keys: a backfill would only churn the cache with records nobody
 *   asked for (lru-cache was ~9% of a backfill's profile when every write was inserted, ~6% now);
 *   reads fill it.
 * - A read that started before a commit may return what was there before it; such a value is
 *   not cached ({@link RecordCache.fill} is a no-op once the epoch moved on), so a slow read can
 *   never put an old value back over a written one.
 */
import { LRUCache } from "lru-cache";
import type { CachedRecordKind, StoreStats } from "../types";
import type { CachedSub } from "./schema";
import type { Write } from "./state";

/** Marks a key known to be absent. */
const ABSENT = Symbol("absent");

type Cached = object | typeof ABSENT;

/**
 * Estimated heap bytes of one entry: the key string, lru-cache's bookkeeping (its key map and
 * slot arrays) and the decoded value. Measured with `node --expose-gc`: heapUsed growth over
 * 100,000 entries decoded by codec.ts and inserted into an lru-cache configured like this one,
 * divided — a device 886 B, an attestation 933 B, a list of 1 uid 532 B and of 4 uids 867 B, an
 * absent mark 236 B; rounded up here.
 */
export const ENTRY_BYTES = { device: 900, attestation: 950, list: 420, perUid: 112, absent: 240 } as const;

function entryBytes(value: Cached, key: string): number {
  if (value === ABSENT) return ENTRY_BYTES.absent;
  switch (key.charCodeAt(0)) {
    case 100: // "d": device
      return ENTRY_BYTES.device;
    case 97: // "a": attestation
      return ENTRY_BYTES.attestation;
    default: // "l": list
      return ENTRY_BYTES.list + ENTRY_BYTES.perUid * (value as string[]).length;
  }
}

const PREFIX: Record<CachedSub, string> = { dev: "d", att: "a", devAtt: "l" };
const RECORD: Record<CachedSub, CachedRecordKind> = { dev: "device", att: "attestation", devAtt: "attestation_list" };

/** `bytes` is the sum lru-cache keeps of the estimates ({@link ENTRY_BYTES}). */
export type CacheStats = StoreStats["cache"];

export interface RecordCache {
  /** The cached value: the record, `null` (known absent) or `undefined` (not cached: a miss). */
  get(sub: CachedSub, key: string): unknown;
  /** The epoch a read must note before it goes to LevelDB, and pass to {@link fill}. */
  readonly epoch: number;
  /** Caches what a read found (`undefined`: absent), unless a commit happened since `epoch`. */
  fill(sub: CachedSub, key: string, value: unknown, epoch: number): void;
  /** After a commit: cached keys of cached sublevels take the written value, deletes evict; bumps the epoch. */
  writeThrough(writes: Iterable<Write>): void;
  clear(): void;
  stats(): CacheStats;
}

export function createRecordCache(maxBytes: number): RecordCache {
  if (!(Number.isInteger(maxBytes) && maxBytes > 0))
    throw new RangeError(`cache size must be a positive number of bytes, got ${maxBytes}`);
  let evictions = 0;
  const lru = new LRUCache<string, Cached>({
    maxSize: maxBytes,
    sizeCalculation: entryBytes,
    // an entry larger than the whole cache is simply not kept
    maxEntrySize: maxBytes,
    dispose: (_v, _k, reason) => {
      if (reason === "evict") evictions++;
    },
  });
  const zero = (): Record<CachedRecordKind, number> => ({ device: 0, attestation: 0, attestation_list: 0 });
  const hits = zero();
  const misses = zero();
  let epoch = 0;

  return {
    get(sub, key) {
      const v = lru.get(PREFIX[sub] + key);
      if (v === undefined) {
        misses[RECORD[sub]]++;
        return undefined;
      }
      hits[RECORD[sub]]++;
      return v === ABSENT ? null : v;
    },
    get epoch() {
      return epoch;
    },
    fill(sub, key, value, at) {
      if (at !== epoch) return;
      lru.set(PREFIX[sub] + key, value === undefined ? ABSENT : (value as object));
    },
    writeThrough(writes) {
      epoch++;
      // nothing cached, nothing to update (a backfill before anyone asked)
      if (lru.size === 0) return;
      for (const w of writes) {
        const prefix = PREFIX[w.sub as CachedSub];
        if (prefix === undefined) continue;
        const k = prefix + w.key;
        if (w.value === undefined) lru.delete(k);
        else if (lru.has(k)) lru.set(k, w.value as object);
      }
    },
    clear() {
      epoch++;
      lru.clear();
    },
    stats: () => ({
      maxBytes,
      bytes: lru.calculatedSize,
      entries: lru.size,
      hits: { ...hits },
      misses: { ...misses },
      evictions,
    }),
  };
}
