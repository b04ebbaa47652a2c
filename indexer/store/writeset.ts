/**
 * The pending writes of one range (or one rollback): an overlay over the range's prefetched base
 * that coalesces repeated writes of a key, and — inside the reorg window — records per block the
 * value each key had before that block (the undo data a rollback replays).
 *
 * Reads never do I/O: {@link WriteSet.get} answers from the overlay, else from the base the sync
 * loop prefetched (apply.ts `prefetchRange`), and throws for a key that was not prefetched — a
 * missing prefetch is a bug, never a silent read of nothing.
 */
import type { Write } from "./state";
import type { SubName, Subs, UndoOp } from "./schema";

/** Values read before a range is applied, by {@link baseKey}; `null` = absent. */
export type Base = Map<string, unknown>;

export const baseKey = (sub: SubName, key: string): string => sub + "/" + key;

export interface WriteSet {
  /** The current value: the pending write, else the prefetched base (undefined = absent). */
  get<T>(sub: SubName, key: string): T | undefined;
  /** Whether {@link get} can answer for the key. */
  has(sub: SubName, key: string): boolean;
  put(sub: SubName, key: string, value: unknown): void;
  del(sub: SubName, key: string): void;
  /** Starts recording undo data for block `n` (only when the set records undo). */
  beginBlock(n: number): void;
  /** The coalesced writes, in first-write order. */
  writes(): Write[];
  /** The pending write of a key, if any (a later range's base reads through it). */
  pending(sub: SubName, key: string): Write | undefined;
  /** Undo ops per block; values neither written nor prefetched before are read from the store. */
  undo(subs: Subs): Promise<Map<number, UndoOp[]>>;
  readonly size: number;
}

const PENDING = Symbol("read from LevelDB");

export function createWriteSet(base: Base, opts: { recordUndo: boolean }): WriteSet {
  const overlay = new Map<string, Write>();
  const undoByBlock = new Map<number, Map<string, [SubName, string, unknown]>>();
  let current: Map<string, [SubName, string, unknown]> | undefined;

  function touch(sub: SubName, key: string, k: string): void {
    if (!opts.recordUndo) return;
    if (!current) throw new Error("writeset: beginBlock() before writing with undo");
    if (current.has(k)) return;
    const pending = overlay.get(k);
    let prev: unknown;
    if (pending) prev = pending.value === undefined ? null : pending.value;
    else if (base.has(k)) prev = base.get(k);
    // history keys are only ever created (a device's seq grows), never overwritten
    else prev = sub === "hist" ? null : PENDING;
    current.set(k, [sub, key, prev]);
  }

  return {
    get<T>(sub: SubName, key: string): T | undefined {
      const k = baseKey(sub, key);
      const w = overlay.get(k);
      if (w) return w.value as T | undefined;
      const v = base.get(k);
      if (v === undefined) throw new Error(`writeset: ${k} was not prefetched`);
      return (v ?? undefined) as T | undefined;
    },
    has(sub, key) {
      const k = baseKey(sub, key);
      return overlay.has(k) || base.has(k);
    },
    put(sub, key, value) {
      const k = baseKey(sub, key);
      touch(sub, key, k);
      const w = overlay.get(k);
      if (w) w.value = value;
      else overlay.set(k, { sub, key, value });
    },
    del(sub, key) {
      const k = baseKey(sub, key);
      touch(sub, key, k);
      const w = overlay.get(k);
      if (w) w.value = undefined;
      else overlay.set(k, { sub, key, value: undefined });
    },
    beginBlock(n) {
      if (!opts.recordUndo) return;
      current = undoByBlock.get(n);
      if (!current) undoByBlock.set(n, (current = new Map()));
    },
    writes: () => [...overlay.values()],
    pending: (sub, key) => overlay.get(baseKey(sub, key)),
    get size() {
      return overlay.size;
    },
    async undo(subs) {
      const missing = new Map<SubName, Set<string>>();
      for (const ops of undoByBlock.values()) {
        for (const [sub, key, prev] of ops.values()) {
          if (prev !== PENDING) continue;
          let set = missing.get(sub);
          if (!set) missing.set(sub, (set = new Set()));
          set.add(key);
        }
      }
      const found = new Map<string, unknown>();
      for (const [sub, set] of missing) {
        const list = [...set];
        const values = await subs[sub].getMany(list);
        list.forEach((key, i) => found.set(baseKey(sub, key), values[i] ?? null));
      }
      const out = new Map<number, UndoOp[]>();
      for (const [n, ops] of undoByBlock) {
        out.set(
          n,
          [...ops.values()].map(([sub, key, prev]): UndoOp => [
            sub,
            key,
            prev === PENDING ? found.get(baseKey(sub, key)) : prev,
          ]),
        );
      }
      return out;
    },
  };
}
