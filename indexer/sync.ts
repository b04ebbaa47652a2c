/**
 * Backfill, then follow: the loop that moves the store's cursor along the chain. Fetching is
 * `source.ts`, turning a range into writes is `apply.ts`, committing is `store/store.ts`; this
 * file decides what to fetch next, notices reorgs and rolls back.
 *
 * - Each range is prefetched (apply.ts `prefetchRange`: every record it will read, getMany
 *   through the store's cache), applied synchronously, then committed; the cache is written
 *   through and only then are listeners told.
 * - Far behind the head (below head − reorgWindow) the steps overlap: while range N is being
 *   committed, range N+1 (fetched while N was applied) is prefetched — over N's pending writes —
 *   and applied; it is committed once N is. Headers only for blocks that have logs and for the
 *   range ends; no undo data is kept there.
 * - Inside the window every block's header is fetched in the same JSON-RPC batch as the logs,
 *   the hash chain is checked link by link, and undo data is kept per block.
 * - A reorg is a value, not an exception: a step answers `{ type: "reorg" }` and the loop rolls
 *   back before the next step.
 * - Retryable errors (transport, 5xx, JSON-RPC errors, inconsistent answers) back off with full
 *   jitter (common/retry.ts) and try the same `from` again, so no block is ever skipped; range
 *   limits and time-outs narrow the span. Fatal errors end the loop.
 */
import type { Logger } from "../common/logger";
import { retry, sleep, type RetryInfo } from "../common/retry";
import { RpcRangeLimitError, RpcTransportError, type RpcClient } from "../common/rpc";
import { applyRange, prefetchRange, type ApplyHead, type FetchedRange, type RangeWrites } from "./apply";
import { IndexerError, ReorgTooDeepError } from "./errors";
import type { Hashers } from "./hashing";
import { createRangeSizer, type RangeSizerOptions } from "./ranges";
import { fetchHead, readBlockHashes, readRegistryRange, readWindowRange } from "./source";
import type { Cursor } from "./store/schema";
import type { Store } from "./store/store";
import type { BatchRecord, StoreChange } from "./types";

export interface SyncOptions {
  client: RpcClient;
  registry: string;
  store: Store;
  hashers: Hashers;
  logger: Logger;
  confirmations: number;
  pollMs: number;
  reorgWindow: number;
  ranges?: RangeSizerOptions;
  retry?: { baseMs?: number; maxMs?: number };
  /** Called after every commit (applied ranges and rollbacks). */
  emit(change: StoreChange): void;
}

export interface SyncState {
  headBlock: number;
  caughtUp: boolean;
  reorgs: number;
  rpcErrors: number;
}

export interface Sync {
  readonly state: SyncState;
  /** Runs until stop() or a fatal error (which it rejects with). */
  run(): Promise<void>;
  stop(): void;
  /** Called after every commit and every idle poll. */
  onProgress(listener: () => void): () => void;
}

/** What one step of the loop did. */
export type Step =
  { type: "idle" } | { type: "block"; fromBlock: number; toBlock: number } | { type: "reorg"; reason: string };

export function createSync(opts: SyncOptions): Sync {
  const { client, store, hashers, logger } = opts;
  const state: SyncState = { headBlock: 0, caughtUp: false, reorgs: 0, rpcErrors: 0 };
  // the first eth_getLogs asks for one block and the span grows (×2 at most) while answers stay
  // small: on the scale bench's 100,000-device chain (12,000 events a block) a first span of 20
  // blocks was every event in one ~70 MB answer, about half of the RSS left after the backfill
  // (1,501 MB; 794 MB with DTL_MAX_BLOCK_RANGE=1: README, bench scale)
  const sizer = createRangeSizer({ initialSpan: 1, ...opts.ranges });
  const progress = new Set<() => void>();
  const stopping = new AbortController();
  const { signal } = stopping;

  const cursor = (): Cursor => {
    const c = store.state.cursor;
    if (!c) throw new IndexerError("internal: store has no cursor");
    return c;
  };

  const notify = () => {
    for (const l of progress) l();
  };

  /** Retries of one fetch or step: counted, logged, paced by common/retry. */
  function retrying(from: number, to: () => number, narrow: boolean) {
    return {
      ...opts.retry,
      signal,
      onRetry: ({ err, attempt, delayMs }: RetryInfo) => {
        state.rpcErrors++;
        const span = to() - from + 1;
        const timedOut = err instanceof RpcTransportError && err.timedOut;
        if (narrow && (err instanceof RpcRangeLimitError || timedOut))
          sizer.narrow(span, err instanceof RpcRangeLimitError);
        logger.warn({
          msg: "rpc error, retrying",
          err: (err as Error).message,
          error_name: (err as Error).name,
          from_block: from,
          to_block: to(),
          next_span: sizer.span,
          failures: attempt,
          delay_ms: delayMs,
        });
      },
    };
  }

  /** Fetches [from, ≤ until] with retries; narrows the span on range limits and time-outs. */
  async function fetchRange(from: number, until: number, window: boolean): Promise<FetchedRange> {
    let to = from;
    return retry(
      async () => {
        to = Math.min(until, from + sizer.span - 1);
        const started = Date.now();
        const range = window
          ? await readWindowRange(client, opts.registry, from, to)
          : await readRegistryRange(client, opts.registry, from, to);
        sizer.succeeded(to - from + 1, range.logs.length);
        logger.debug({
          msg: "fetched",
          from_block: from,
          to_block: to,
          logs: range.logs.length,
          duration_ms: Date.now() - started,
        });
        return { ...range, window };
      },
      retrying(from, () => to, true),
    );
  }

  // Invariant: a range is applied only if the header before it has the hash of the cursor it
  // follows, so the store always holds one unbroken chain of blocks ending at the cursor. When the
  // header differs, the chain was reorganised below us: the step answers a reorg instead.
  function reorgBefore(range: FetchedRange, c: Cursor): Step | undefined {
    const before = range.headers.get(c.block);
    if (before && before.hash !== c.hash)
      return { type: "reorg", reason: `block ${c.block} is now ${before.hash}, the store has ${c.hash}` };
    return undefined;
  }

  const committedHead = (): ApplyHead => ({ cursor: cursor(), counts: store.state.counts });

  /** Prefetches and applies `range` over `head`; `under` is the range before, if not committed yet. */
  async function prepare(range: FetchedRange, head: ApplyHead, under?: RangeWrites) {
    const t0 = performance.now();
    const base = await prefetchRange(store, range, under?.w);
    const t1 = performance.now();
    const r = applyRange(head, base, hashers, range);
    return { r, prefetchMs: t1 - t0, applyMs: performance.now() - t1 };
  }

  async function commit(range: FetchedRange, prepared: Awaited<ReturnType<typeof prepare>>): Promise<void> {
    const { r } = prepared;
    const t0 = performance.now();
    const undo = await r.w.undo(store.subs);
    await store.commitRange({
      w: r.w,
      cursor: r.cursor,
      blocks: r.blocks,
      undo,
      pruneBelow: Math.max(r.cursor.undoFloor, range.to - opts.reorgWindow),
    });
    logger.debug({
      msg: "applied",
      from_block: range.from,
      to_block: range.to,
      events: r.cursor.events,
      window: range.window,
      prefetch_ms: Math.round(prepared.prefetchMs),
      apply_ms: Math.round(prepared.applyMs),
      commit_ms: Math.round(performance.now() - t0),
    });
    if (r.entries.length) opts.emit({ type: "applied", fromBlock: range.from, toBlock: range.to, entries: r.entries });
    if (r.batchIds.length) opts.emit({ type: "batches", batchIds: r.batchIds, entries: [] });
    notify();
  }

  // Invariant: the common ancestor is the newest block record of the window whose hash the node
  // still has; everything above it is rolled back in one batch. The window holds records back to
  // max(undoFloor, cursor − reorgWindow); no match there means the reorg is deeper than the undo
  // data, which is fatal (the store keeps its last consistent state).
  async function rollBack(reason: string): Promise<void> {
    const c = cursor();
    const floor = Math.max(c.undoFloor, c.block - opts.reorgWindow);
    const candidates = [...store.state.blocks.keys()].filter((n) => n >= floor && n <= c.block).sort((a, b) => b - a);
    const hashes = await readBlockHashes(client, candidates);
    const i = candidates.findIndex((n, j) => hashes[j] === store.state.blocks.get(n)!.hash);
    if (i < 0) throw new ReorgTooDeepError(c.block, opts.reorgWindow);
    const ancestor = candidates[i]!;
    const batchesBefore = new Map(store.state.batches);
    const retracted = await store.rollbackTo(ancestor);
    const batchIds = changedBatches(batchesBefore, store.state.batches);
    state.reorgs++;
    logger.warn({
      msg: "reorg: rolled back",
      reason,
      from_block: c.block,
      to_block: ancestor,
      depth: c.block - ancestor,
      retracted: retracted.length,
    });
    if (retracted.length) opts.emit({ type: "retracted", toBlock: ancestor, entries: retracted });
    if (batchIds.length) opts.emit({ type: "batches", batchIds, entries: [] });
    notify();
  }

  /**
   * Applies ranges up to `until`: range N+1 is fetched while N is applied, and prefetched and
   * applied while N is committed. Whatever happens, it returns only once no commit is in flight.
   */
  async function backfill(until: number): Promise<Step> {
    const from = cursor().block + 1;
    let pending: Promise<FetchedRange> | undefined = fetchRange(from, until, false);
    let committing: Promise<void> | undefined;
    let last: RangeWrites | undefined;
    try {
      while (pending) {
        const waitStart = performance.now();
        const range: FetchedRange = await pending;
        signal.throwIfAborted();
        logger.debug({ msg: "waited for range", duration_ms: Math.round(performance.now() - waitStart) });
        const head = last ?? committedHead();
        const reorg = reorgBefore(range, head.cursor);
        if (reorg) {
          await committing;
          return reorg;
        }
        pending = range.to < until ? fetchRange(range.to + 1, until, false) : undefined;
        const prepared = await prepare(range, head, last);
        // the range before is in the store (and the cache) before this one is written
        await committing;
        committing = commit(range, prepared);
        last = prepared.r;
      }
      await committing;
    } finally {
      // an abandoned prefetch must not surface as an unhandled rejection
      pending?.catch(() => undefined);
      // and the caller starts again from the store's cursor only once no commit is in flight
      await committing?.catch(() => undefined);
    }
    return { type: "block", fromBlock: from, toBlock: cursor().block };
  }

  function markCaughtUp(headBlock: number): void {
    state.caughtUp = true;
    const c = cursor();
    logger.info({ msg: "caught up", block_number: c.block, head_block: headBlock, events: c.events });
  }

  let lastHeadHash = "";
  let lastProgressLog = 0;

  async function step(): Promise<Step> {
    const head = await fetchHead(client);
    state.headBlock = head.number;
    const target = head.number - opts.confirmations;
    const c = cursor();
    if (target <= c.block) {
      if (head.hash !== lastHeadHash && c.block >= 0) {
        // nothing new to apply, but the blocks we hold may have been replaced (same height or shorter)
        const [hash] = await readBlockHashes(client, [c.block]);
        if (hash !== c.hash) return { type: "reorg", reason: `block ${c.block} is now ${hash ?? "missing"}` };
        lastHeadHash = head.hash;
      }
      if (!state.caughtUp) markCaughtUp(head.number);
      notify();
      return { type: "idle" };
    }
    const safe = head.number - opts.reorgWindow;
    let done: Step;
    if (c.block + 1 <= safe) {
      done = await backfill(Math.min(target, safe));
    } else {
      const until = Math.min(target, c.block + Math.max(1, Math.min(sizer.span, opts.reorgWindow)));
      const range = await fetchRange(c.block + 1, until, true);
      done = reorgBefore(range, c) ?? { type: "block", fromBlock: range.from, toBlock: range.to };
      if (done.type === "block") await commit(range, await prepare(range, committedHead()));
    }
    if (done.type !== "block") return done;
    if (!state.caughtUp && cursor().block >= target) markCaughtUp(head.number);
    const now = Date.now();
    if (now - lastProgressLog > 2000) {
      lastProgressLog = now;
      const after = cursor();
      logger.info({
        msg: "indexed",
        block_number: after.block,
        head_block: head.number,
        lag_blocks: head.number - after.block,
        events: after.events,
      });
    }
    return done;
  }

  async function loop(): Promise<void> {
    for (;;) {
      const from = () => cursor().block + 1;
      const s = await retry(
        step,
        retrying(from(), () => Math.max(from(), state.headBlock), false),
      );
      if (s.type === "reorg") {
        lastHeadHash = "";
        await retry(
          () => rollBack(s.reason),
          retrying(from(), () => cursor().block, false),
        );
      } else if (s.type === "idle") {
        await sleep(opts.pollMs, signal);
      }
    }
  }

  return {
    state,
    stop() {
      stopping.abort(new IndexerError("the indexer stopped"));
    },
    onProgress(listener) {
      progress.add(listener);
      return () => progress.delete(listener);
    },
    async run() {
      try {
        await loop();
      } catch (err) {
        if (signal.aborted) return;
        throw err;
      }
    },
  };
}

/** Ids of the batches that differ between two states of the `batch` sublevel (a rollback's). */
function changedBatches(before: ReadonlyMap<string, BatchRecord>, after: ReadonlyMap<string, BatchRecord>): string[] {
  const out: string[] = [];
  for (const [k, b] of before) if (after.get(k) !== b) out.push(b.id);
  for (const [k, b] of after) if (!before.has(k)) out.push(b.id);
  return out;
}
