/**
 * The LevelDB mirror: open (one process per directory), read records through the one bounded
 * cache, commit a range or a rollback as ONE batch that also moves the cursor, and keep the cache
 * and the memory state in step after each commit.
 *
 * Invariant: `meta/cursor` and everything it summarises (records, indexes, tallies, blk/undo of
 * the window, the digest) change only together, in one `batch()`. A crash at any point leaves the
 * previous consistent state; the cache and memory follow the store only after the batch resolved,
 * and listeners (the caller's) only after that.
 *
 * Memory: the cache budget (`cacheBytes`, DTL_CACHE_MB) is split between LevelDB's own block
 * cache (a quarter, of uncompressed table blocks) and the record cache (the rest, cache.ts).
 * Outside the budget: LevelDB's write buffer (`WRITE_BUFFER_BYTES`, up to two while one is
 * flushed) and the bounded memory state (state.ts).
 */
import { mkdirSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { ClassicLevel } from "classic-level";
import { DEFAULT_CACHE_MB } from "../../common/config";
import { StoreLockedError, StoreSchemaError } from "../errors";
import type { HistoryEntryRecord, StoreStats } from "../types";
import { withHistoryKey } from "./codec";
import { createRecordCache } from "./cache";
import { storedCounts } from "./counts";
import {
  SCHEMA_VERSION,
  keys,
  openSubs,
  type BlockRecord,
  type CachedSub,
  type Cursor,
  type Db,
  type StoreIdentity,
  type SubName,
  type Subs,
  type UndoOp,
} from "./schema";
import { emptyState, foldWrites, loadState, type MemoryState, type Write } from "./state";
import { createBase, createWriteSet, type WriteSet } from "./writeset";

/**
 * LevelDB's memtable. After a SIGKILL, open replays up to this much log before it serves:
 * measured here (2 cores under load) ~0.4 s for 6 MB of log and ~1.4 s for 14 MB, so 8 MB keeps
 * a restart well inside 2 s; a 50,000-event backfill took the same time with 8 and 32 MB.
 */
export const WRITE_BUFFER_BYTES = 8 * 1024 * 1024;
/** How often the store's size on disk is measured at most. */
const DISK_SAMPLE_MS = 15_000;

/** The two parts of the cache budget. */
export function splitCacheBudget(cacheBytes: number): { blockCacheBytes: number; recordCacheBytes: number } {
  const blockCacheBytes = Math.floor(cacheBytes / 4);
  return { blockCacheBytes, recordCacheBytes: cacheBytes - blockCacheBytes };
}

export interface Store {
  readonly dataDir: string;
  readonly db: Db;
  readonly subs: Subs;
  readonly state: MemoryState;
  /**
   * Records of a cached sublevel through the cache, in the order of `keys` (undefined: absent).
   * What had to be read from LevelDB is cached unless `fill` is false (the apply step's reads:
   * a backfill would otherwise fill the cache with every device it registers).
   */
  getRecords<T>(sub: CachedSub, keys: readonly string[], opts?: { fill?: boolean }): Promise<(T | undefined)[]>;
  /** One record through the cache. */
  getRecord<T>(sub: CachedSub, key: string): Promise<T | undefined>;
  stats(): Promise<StoreStats>;
  /** Starts an empty store for `identity` at `cursor`. */
  initialize(identity: StoreIdentity, cursor: Cursor): Promise<void>;
  /** Deletes everything (rebuild). */
  wipe(): Promise<void>;
  /**
   * Commits the writes of a range with the new cursor, the window's block records and undo data,
   * and prunes blk/undo below `pruneBelow`.
   */
  commitRange(args: {
    w: WriteSet;
    cursor: Cursor;
    blocks: ReadonlyMap<number, BlockRecord>;
    undo: ReadonlyMap<number, UndoOp[]>;
    pruneBelow: number;
  }): Promise<void>;
  /**
   * Rolls everything above `ancestor` back with the undo data (one batch) and returns the
   * history entries that were removed, oldest first.
   */
  rollbackTo(ancestor: number): Promise<HistoryEntryRecord[]>;
  /**
   * Commits writes of the manifest sublevels (mfst, mleaf, mdev) in one batch: the manifest
   * loader's chunks, which never touch chain data, the cursor or undo data.
   */
  commitManifestWrites(writes: Write[]): Promise<void>;
  close(): Promise<void>;
}

function isLocked(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  return e?.code === "LEVEL_LOCKED" || e?.cause?.code === "LEVEL_LOCKED";
}

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    try {
      total += (await stat(path.join(dir, name))).size;
    } catch {
      // LevelDB removed the file (compaction) between the listing and the stat
    }
  }
  return total;
}

/**
 * Opens (creating) the LevelDB directory and loads the bounded memory state: nothing it reads
 * grows with the fleet. Throws {@link StoreLockedError} while another process holds it,
 * {@link StoreSchemaError} for a store of another schema version (unless `allowWipe`, which
 * empties it).
 */
export async function openLevelStore(
  dataDir: string,
  opts: { createIfMissing?: boolean; allowWipe?: boolean; cacheBytes?: number } = {},
): Promise<Store> {
  const createIfMissing = opts.createIfMissing ?? true;
  const cacheBytes = opts.cacheBytes ?? DEFAULT_CACHE_MB * 1024 * 1024;
  const { blockCacheBytes, recordCacheBytes } = splitCacheBudget(cacheBytes);
  const cache = createRecordCache(recordCacheBytes);
  if (createIfMissing) mkdirSync(dataDir, { recursive: true });
  const db: Db = new ClassicLevel<string, unknown>(dataDir, {
    keyEncoding: "utf8",
    valueEncoding: "json",
    writeBufferSize: WRITE_BUFFER_BYTES,
    cacheSize: blockCacheBytes,
  });
  try {
    await db.open({ createIfMissing });
  } catch (err) {
    if (isLocked(err)) {
      throw new StoreLockedError(
        `the store ${dataDir} is in use by another process (an indexer or dtl serve holds it; LevelDB allows one process per directory)`,
        {
          cause: err,
        },
      );
    }
    throw new StoreSchemaError(`cannot open the store ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
  const subs = openSubs(db);
  const schema = await subs.meta.get("schema");
  if (schema !== undefined && schema !== SCHEMA_VERSION) {
    if (!opts.allowWipe) {
      await db.close();
      throw new StoreSchemaError(
        `the store ${dataDir} has schema version ${String(schema)}, this indexer writes version ${SCHEMA_VERSION}: rebuild it`,
      );
    }
    await db.clear();
  }
  let state = await loadState(subs);
  // measured on the first stats() call, not here: open stays independent of the store's size
  let disk = { bytes: 0, at: -Infinity };

  // Writes go through the public batch(): each operation names its sublevel, which prefixes the
  // key and encodes the value with its own encoding. Measured against the former private
  // `_batch` path on the same 100,000 writes: 960 ms vs 1,488 ms (median of 8), so the public
  // path is not slower.
  function op(w: Write) {
    return w.value === undefined
      ? { type: "del" as const, sublevel: subs[w.sub], key: w.key }
      : { type: "put" as const, sublevel: subs[w.sub], key: w.key, value: w.value };
  }

  async function commit(writes: Write[]): Promise<void> {
    if (db.status !== "open") throw new StoreSchemaError(`the store ${dataDir} is not open`);
    await db.batch(writes.map(op));
    cache.writeThrough(writes);
    foldWrites(state, writes);
  }

  async function getRecords<T>(
    sub: CachedSub,
    ks: readonly string[],
    opts: { fill?: boolean } = {},
  ): Promise<(T | undefined)[]> {
    const out = new Array<T | undefined>(ks.length);
    let missing: string[] | undefined;
    let at: number[] | undefined;
    for (let i = 0; i < ks.length; i++) {
      const v = cache.get(sub, ks[i]!);
      if (v === undefined) {
        (missing ??= []).push(ks[i]!);
        (at ??= []).push(i);
      } else out[i] = (v ?? undefined) as T | undefined;
    }
    if (!missing) return out;
    const epoch = cache.epoch;
    const found =
      missing.length === 1 ? [await subs[sub].get(missing[0]!)] : await subs[sub].getMany(missing as string[]);
    const fill = opts.fill ?? true;
    for (let j = 0; j < missing.length; j++) {
      out[at![j]!] = found[j] as T | undefined;
      if (fill) cache.fill(sub, missing[j]!, found[j], epoch);
    }
    return out;
  }

  const store: Store = {
    dataDir,
    db,
    subs,
    get state() {
      return state;
    },
    getRecords,
    async getRecord<T>(sub: CachedSub, key: string) {
      return (await getRecords<T>(sub, [key]))[0];
    },
    async stats() {
      if (Date.now() - disk.at >= DISK_SAMPLE_MS) disk = { bytes: await directoryBytes(dataDir), at: Date.now() };
      return { cache: cache.stats(), blockCacheBytes, diskBytes: disk.bytes };
    },
    async initialize(identity, cursor) {
      await commit([
        { sub: "meta", key: "schema", value: SCHEMA_VERSION },
        { sub: "meta", key: "identity", value: identity },
        { sub: "meta", key: "cursor", value: cursor },
        { sub: "meta", key: "counts", value: storedCounts(new Map()) },
        {
          sub: "blk",
          key: keys.block(cursor.block),
          value: { hash: cursor.hash, digest: cursor.digest, events: cursor.events },
        },
      ]);
    },
    async wipe() {
      await db.clear();
      cache.clear();
      state = emptyState();
    },
    async commitRange({ w, cursor, blocks, undo, pruneBelow }) {
      const writes = w.writes();
      for (const [n, b] of blocks) writes.push({ sub: "blk", key: keys.block(n), value: b });
      for (const [n, ops] of undo) if (ops.length) writes.push({ sub: "undo", key: keys.block(n), value: ops });
      for (const n of state.blocks.keys()) {
        if (n < pruneBelow && !blocks.has(n)) {
          writes.push({ sub: "blk", key: keys.block(n), value: undefined });
          writes.push({ sub: "undo", key: keys.block(n), value: undefined });
        }
      }
      writes.push({ sub: "meta", key: "cursor", value: cursor });
      await commit(writes);
    },
    async rollbackTo(ancestor) {
      const base = state.blocks.get(ancestor);
      const cursor = state.cursor;
      if (!base || !cursor) throw new StoreSchemaError(`internal: no block record for rollback target ${ancestor}`);
      const undone: [number, UndoOp[]][] = [];
      const it = subs.undo.iterator({ gt: keys.block(ancestor) });
      for await (const [k, v] of it) undone.push([Number.parseInt(k, 16), v as UndoOp[]]);
      // newest block first: the oldest block's "before" values win
      undone.sort((a, b) => b[0] - a[0]);
      const w = createWriteSet(createBase(), { recordUndo: false });
      const retractedKeys: string[] = [];
      for (const [, ops] of undone) {
        for (const [sub, key, prev] of ops) {
          if (sub === "hist" && prev === null) retractedKeys.push(key);
          if (prev === null || prev === undefined) w.del(sub as SubName, key);
          else w.put(sub as SubName, key, prev);
        }
      }
      retractedKeys.sort();
      const values = (await subs.hist.getMany(retractedKeys)) as (HistoryEntryRecord | undefined)[];
      const retracted: HistoryEntryRecord[] = [];
      values.forEach((v, i) => {
        if (v !== undefined) retracted.push(withHistoryKey(v, retractedKeys[i]!));
      });
      retracted.sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);
      const writes = w.writes();
      for (const n of state.blocks.keys()) {
        if (n > ancestor) {
          writes.push({ sub: "blk", key: keys.block(n), value: undefined });
          writes.push({ sub: "undo", key: keys.block(n), value: undefined });
        }
      }
      const events = base.events;
      writes.push({
        sub: "meta",
        key: "cursor",
        value: {
          block: ancestor,
          hash: base.hash,
          digest: base.digest,
          undoFloor: Math.min(cursor.undoFloor, ancestor),
          events,
        } satisfies Cursor,
      });
      await commit(writes);
      return retracted;
    },
    async commitManifestWrites(writes) {
      for (const w of writes) {
        if (w.sub !== "mfst" && w.sub !== "mleaf" && w.sub !== "mdev")
          throw new StoreSchemaError(`internal: a manifest commit may not write ${w.sub}`);
      }
      await commit(writes);
    },
    close: () => db.close(),
  };
  return store;
}
