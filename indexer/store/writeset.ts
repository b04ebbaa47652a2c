/**
 * The pending writes of one range (or one rollback): an overlay over the memory state that
 * coalesces repeated writes of a key, and — inside the reorg window — records per block the
 * value each key had before that block (the undo data a rollback replays).
 */
import { NOT_HELD, memoryValue, type MemoryState, type Write } from "./state";
import type { SubName, Subs, UndoOp } from "./schema";

export interface WriteSet {
  /** The current value (pending write, else memory); only for memory-held sublevels. */
  get<T>(sub: SubName, key: string): T | undefined;
  put(sub: SubName, key: string, value: unknown): void;
  del(sub: SubName, key: string): void;
  /** Starts recording undo data for block `n` (only when the set records undo). */
  beginBlock(n: number): void;
  /** The coalesced writes, in first-write order. */
  writes(): Write[];
  /** Undo ops per block, with values of LevelDB-only keys read from the store. */
  undo(subs: Subs): Promise<Map<number, UndoOp[]>>;
  readonly size: number;
}

const PENDING = Symbol("read from LevelDB");

export function createWriteSet(state: MemoryState, opts: { recordUndo: boolean }): WriteSet {
  const overlay = new Map<string, Write>();
  const undoByBlock = new Map<number, Map<string, [SubName, string, unknown]>>();
  let current: Map<string, [SubName, string, unknown]> | undefined;

  const fk = (sub: SubName, key: string) => sub + "/" + key;

  function touch(sub: SubName, key: string, k: string): void {
    if (!opts.recordUndo) return;
    if (!current) throw new Error("writeset: beginBlock() before writing with undo");
    if (current.has(k)) return;
    const pending = overlay.get(k);
    let prev: unknown;
    if (pending) prev = pending.value === undefined ? null : pending.value;
    else {
      const m = memoryValue(state, sub, key);
      prev = m === NOT_HELD ? PENDING : m;
    }
    current.set(k, [sub, key, prev]);
  }

  return {
    get<T>(sub: SubName, key: string): T | undefined {
      const w = overlay.get(fk(sub, key));
      if (w) return w.value as T | undefined;
      const m = memoryValue(state, sub, key);
      if (m === NOT_HELD) throw new Error(`writeset: ${sub} is not held in memory`);
      return (m ?? undefined) as T | undefined;
    },
    put(sub, key, value) {
      const k = fk(sub, key);
      touch(sub, key, k);
      const w = overlay.get(k);
      if (w) w.value = value;
      else overlay.set(k, { sub, key, value });
    },
    del(sub, key) {
      const k = fk(sub, key);
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
        list.forEach((key, i) => found.set(fk(sub, key), values[i] ?? null));
      }
      const out = new Map<number, UndoOp[]>();
      for (const [n, ops] of undoByBlock) {
        out.set(
          n,
          [...ops.values()].map(([sub, key, prev]): UndoOp => [
            sub,
            key,
            prev === PENDING ? found.get(fk(sub, key)) : prev,
          ]),
        );
      }
      return out;
    },
  };
}
