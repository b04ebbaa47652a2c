/**
 * The pending writes of one range (or one rollback): an overlay over the range's prefetched base
 * that coalesces repeated writes of a key it reads back, and — inside the reorg window — records
 * per block the value each key had before that block (the undo data a rollback replays).
 *
 * Reads never do I/O: {@link WriteSet.get} answers from the overlay, else from the base the sync
 * loop prefetched (apply.ts `prefetchRange`), and throws for a key that was not prefetched — a
 * missing prefetch is a bug, never a silent read of nothing.
 */
import type { Write } from "./state";
import type { SubName, Subs, UndoOp } from "./schema";

/** Values read before a range is applied, by sublevel and key: `null` = absent, undefined = not read. */
export interface Base {
  get(sub: SubName, key: string): unknown;
  set(sub: SubName, key: string, value: unknown): void;
}

/** Maps per sublevel: keys are used as they come, never concatenated (no new string to hash). */
function bySub<V>() {
  const maps = new Map<SubName, Map<string, V>>();
  return {
    get: (sub: SubName, key: string): V | undefined => maps.get(sub)?.get(key),
    set(sub: SubName, key: string, value: V): void {
      let m = maps.get(sub);
      if (!m) maps.set(sub, (m = new Map()));
      m.set(key, value);
    },
  };
}

export const createBase = (): Base => bySub<unknown>();

export interface WriteSet {
  /** The current value: the pending write, else the prefetched base (undefined = absent). */
  get<T>(sub: SubName, key: string): T | undefined;
  /** Whether {@link get} can answer for the key. */
  has(sub: SubName, key: string): boolean;
  put(sub: SubName, key: string, value: unknown): void;
  del(sub: SubName, key: string): void;
  /** Starts recording undo data for block `n` (only when the set records undo). */
  beginBlock(n: number): void;
  /**
   * The writes in order: one per key of the sublevels a range reads back (dev, att, devAtt, meta)
   * and whenever undo is recorded; otherwise each write as made (index and history keys: a key
   * written twice appears twice, the later one wins in the batch).
   */
  writes(): Write[];
  /** The pending write of a key, if any (a later range's base reads through it). */
  pending(sub: SubName, key: string): Write | undefined;
  /** Undo ops per block; values neither written nor prefetched before are read from the store. */
  undo(subs: Subs): Promise<Map<number, UndoOp[]>>;
  readonly size: number;
}

const PENDING = Symbol("read from LevelDB");

/** Sublevels a range reads back ({@link WriteSet.get}, the next range's base): their writes coalesce. */
const READ: ReadonlySet<SubName> = new Set<SubName>(["dev", "att", "devAtt", "meta", "batch"]);

type UndoEntry = [SubName, string, unknown];

export function createWriteSet(base: Base, opts: { recordUndo: boolean }): WriteSet {
  const overlay = bySub<Write>();
  const order: Write[] = [];
  const undoByBlock = new Map<number, { seen: ReturnType<typeof bySub<true>>; ops: UndoEntry[] }>();
  let current: { seen: ReturnType<typeof bySub<true>>; ops: UndoEntry[] } | undefined;

  function touch(sub: SubName, key: string, pending: Write | undefined): void {
    if (!opts.recordUndo) return;
    if (!current) throw new Error("writeset: beginBlock() before writing with undo");
    if (current.seen.get(sub, key)) return;
    current.seen.set(sub, key, true);
    let prev: unknown;
    if (pending) prev = pending.value === undefined ? null : pending.value;
    else {
      const b = base.get(sub, key);
      // history keys are only ever created (a device's seq grows), never overwritten
      prev = b !== undefined ? b : sub === "hist" ? null : PENDING;
    }
    current.ops.push([sub, key, prev]);
  }

  function write(sub: SubName, key: string, value: unknown): void {
    if (!opts.recordUndo && !READ.has(sub)) {
      // never read back in a range and no undo to record: in order, the batch's last write wins
      order.push({ sub, key, value });
      return;
    }
    const w = overlay.get(sub, key);
    touch(sub, key, w);
    if (w) w.value = value;
    else {
      const created = { sub, key, value };
      overlay.set(sub, key, created);
      order.push(created);
    }
  }

  return {
    get<T>(sub: SubName, key: string): T | undefined {
      const w = overlay.get(sub, key);
      if (w) return w.value as T | undefined;
      const v = base.get(sub, key);
      if (v === undefined) throw new Error(`writeset: ${sub}/${key} was not prefetched`);
      return (v ?? undefined) as T | undefined;
    },
    has: (sub, key) => overlay.get(sub, key) !== undefined || base.get(sub, key) !== undefined,
    put: write,
    del: (sub, key) => write(sub, key, undefined),
    beginBlock(n) {
      if (!opts.recordUndo) return;
      current = undoByBlock.get(n);
      if (!current) undoByBlock.set(n, (current = { seen: bySub<true>(), ops: [] }));
    },
    writes: () => [...order],
    pending: (sub, key) => overlay.get(sub, key),
    get size() {
      return order.length;
    },
    async undo(subs) {
      const missing = new Map<SubName, Set<string>>();
      for (const { ops } of undoByBlock.values()) {
        for (const [sub, key, prev] of ops) {
          if (prev !== PENDING) continue;
          let set = missing.get(sub);
          if (!set) missing.set(sub, (set = new Set()));
          set.add(key);
        }
      }
      const found = bySub<unknown>();
      for (const [sub, set] of missing) {
        const list = [...set];
        const values = await subs[sub].getMany(list);
        list.forEach((key, i) => found.set(sub, key, values[i] ?? null));
      }
      const out = new Map<number, UndoOp[]>();
      for (const [n, { ops }] of undoByBlock) {
        out.set(
          n,
          ops.map(([sub, key, prev]): UndoOp => [sub, key, prev === PENDING ? found.get(sub, key) : prev]),
        );
      }
      return out;
    },
  };
}
