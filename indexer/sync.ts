/**
 * Backfill, then follow: the loop that moves the store's cursor along the chain.
 *
 * - Far behind the head (below head − reorgWindow) ranges are fetched ahead of the one being
 *   applied (one call in flight while the previous range is written), with headers only for
 *   blocks that have logs and for the range ends; no undo data is kept there.
 * - Inside the window every block's header is fetched in the same JSON-RPC batch as the logs,
 *   the hash chain is checked link by link, and undo data is kept per block.
 * - Invariant: a range is applied only if the header before it has the hash of the cursor; when
 *   it does not, the chain was reorganised: walk the window's block records down to the newest
 *   block the node still has, roll back to it (one batch) and go on from there. No match in
 *   the window → ReorgTooDeepError.
 * - Retryable errors (transport, 5xx, JSON-RPC errors, inconsistent answers) back off with
 *   jitter and try the same `from` again, so no block is ever skipped; range limits and
 *   time-outs narrow the span. Fatal errors end the loop.
 */
import type { Logger } from "../common/logger";
import { RpcRangeLimitError, RpcTransportError, numberToHex, type RpcClient } from "../common/rpc";
import { applyDeviceEvent, applyRoleEvent, type ApplyContext } from "./apply";
import { IndexerError, InconsistentNodeError, ReorgTooDeepError, isRetryable } from "./errors";
import type { Hashers } from "./hashing";
import { createBackoff, createRangeSizer, type RangeSizerOptions } from "./ranges";
import {
  checkLogBlocks,
  checkLogs,
  decodeLog,
  fetchHead,
  fetchHeaders,
  fetchRegistryLogs,
  headerCall,
  INDEXED_TOPICS,
  parseHeader,
  type BlockHeader,
  type RawLog,
  type RegistryEvent,
} from "./source";
import type { BlockRecord, Cursor } from "./store/schema";
import type { Store } from "./store/store";
import { createWriteSet } from "./store/writeset";
import type { HistoryEntryRecord, StoreChange } from "./types";

/** The header before a range is not the cursor's block any more. */
class ReorgDetected extends IndexerError {
  override name = "ReorgDetected";
}

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
  /** Resolves (or rejects with the fatal error) when a commit reaches `block`. */
  onProgress(listener: () => void): () => void;
}

interface Chunk {
  from: number;
  to: number;
  logs: RawLog[];
  events: RegistryEvent[];
  headers: Map<number, BlockHeader>;
  /** Inside the reorg window: every header of the range, undo data kept. */
  window: boolean;
}

export function createSync(opts: SyncOptions): Sync {
  const { client, store, hashers, logger } = opts;
  const state: SyncState = { headBlock: 0, caughtUp: false, reorgs: 0, rpcErrors: 0 };
  const sizer = createRangeSizer(opts.ranges);
  const backoff = createBackoff(opts.retry);
  const progress = new Set<() => void>();
  let stopped = false;
  let wake: (() => void) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (stopped) return resolve();
      const t = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        resolve();
      };
    });

  const cursor = (): Cursor => {
    const c = store.state.cursor;
    if (!c) throw new IndexerError("internal: store has no cursor");
    return c;
  };

  // ---------------------------------------------------------------- fetching

  async function fetchBackfillChunk(from: number, to: number): Promise<Chunk> {
    const logs = await fetchRegistryLogs(client, opts.registry, from, to);
    const events = logs.map(decodeLog);
    const wanted = new Set<number>([from - 1, to]);
    for (const e of events) wanted.add(e.blockNumber);
    const headers = await fetchHeaders(client, wanted);
    checkLogBlocks(events, headers);
    return { from, to, logs, events, headers, window: false };
  }

  async function fetchWindowChunk(from: number, to: number): Promise<Chunk> {
    const calls = [
      {
        method: "eth_getLogs",
        params: [
          { address: opts.registry, fromBlock: numberToHex(from), toBlock: numberToHex(to), topics: [INDEXED_TOPICS] },
        ],
      },
    ];
    for (let n = from - 1; n <= to; n++) calls.push(headerCall(n) as (typeof calls)[number]);
    const [rawLogs, ...rawHeaders] = await client.batch<unknown>(calls);
    checkLogs(rawLogs, opts.registry, from, to);
    const headers = new Map<number, BlockHeader>();
    rawHeaders.forEach((h, i) => headers.set(from - 1 + i, parseHeader(h, from - 1 + i)));
    for (let n = from; n <= to; n++) {
      if (headers.get(n)!.parentHash !== headers.get(n - 1)!.hash) {
        throw new InconsistentNodeError(
          `block ${n} does not link to block ${n - 1} (the chain moved during the fetch)`,
        );
      }
    }
    const events = rawLogs.map(decodeLog);
    checkLogBlocks(events, headers);
    return { from, to, logs: rawLogs, events, headers, window: true };
  }

  /** Fetches [from, ≤ until] with retries; narrows the span on range limits and time-outs. */
  async function fetchWithRetry(from: number, until: number, window: boolean): Promise<Chunk | undefined> {
    for (;;) {
      if (stopped) return undefined;
      const to = Math.min(until, from + sizer.span - 1);
      const started = Date.now();
      try {
        const chunk = window ? await fetchWindowChunk(from, to) : await fetchBackfillChunk(from, to);
        sizer.succeeded(to - from + 1, chunk.logs.length);
        logger.debug({
          msg: "fetched",
          from_block: from,
          to_block: to,
          logs: chunk.logs.length,
          duration_ms: Date.now() - started,
        });
        return chunk;
      } catch (err) {
        if (!isRetryable(err)) throw err;
        noteRetryable(err, from, to);
        await sleep(backoff.next());
      }
    }
  }

  function noteRetryable(err: unknown, from: number, to: number): void {
    state.rpcErrors++;
    const timedOut = err instanceof RpcTransportError && err.timedOut;
    if (err instanceof RpcRangeLimitError || timedOut) sizer.narrow(to - from + 1, err instanceof RpcRangeLimitError);
    logger.warn({
      msg: "rpc error, retrying",
      err: (err as Error).message,
      error_name: (err as Error).name,
      from_block: from,
      to_block: to,
      next_span: sizer.span,
      failures: backoff.failures + 1,
    });
  }

  // ---------------------------------------------------------------- applying

  async function applyChunk(chunk: Chunk): Promise<void> {
    const t0 = performance.now();
    const c = cursor();
    if (chunk.from !== c.block + 1)
      throw new IndexerError(`internal: range ${chunk.from} does not follow cursor ${c.block}`);
    const before = chunk.headers.get(c.block);
    if (before && before.hash !== c.hash)
      throw new ReorgDetected(`block ${c.block} is now ${before.hash}, the store has ${c.hash}`);
    const toHeader = chunk.headers.get(chunk.to);
    if (!toHeader) throw new IndexerError(`internal: no header for range end ${chunk.to}`);

    const w = createWriteSet(store.state, { recordUndo: chunk.window });
    const ctx: ApplyContext = {
      w,
      hashers,
      headers: chunk.headers,
      attestationsOf: (id) => (store.state.deviceAttestations.get(id) ?? []).map((e) => e.uid),
    };
    const pendingAtts = new Map<string, string[]>();
    const entries: HistoryEntryRecord[] = [];
    const blocks = new Map<number, BlockRecord>();
    let digest = c.digest;
    let events = c.events;
    let i = 0;
    const { logs } = chunk;
    while (i < chunk.events.length) {
      const b = chunk.events[i]!.blockNumber;
      const start = i;
      w.beginBlock(b);
      for (; i < chunk.events.length && chunk.events[i]!.blockNumber === b; i++) {
        const e = chunk.events[i]!;
        if (e.type === "device") entries.push(applyDeviceEvent(ctx, e, pendingAtts));
        else applyRoleEvent(w, e);
      }
      digest = hashers.foldBlock(digest, b, chunk.events[start]!.blockHash, logs.slice(start, i));
      events += i - start;
      if (chunk.window) blocks.set(b, { hash: chunk.events[start]!.blockHash, digest, events });
    }
    if (chunk.window) {
      // every block of the window gets a record: a rollback may stop at any of them
      let d = c.digest;
      let ev = c.events;
      for (let n = chunk.from; n <= chunk.to; n++) {
        const rec = blocks.get(n);
        if (rec) ({ digest: d, events: ev } = rec);
        else blocks.set(n, { hash: chunk.headers.get(n)!.hash, digest: d, events: ev });
      }
    } else {
      blocks.set(chunk.to, { hash: toHeader.hash, digest, events });
    }
    const undoFloor = chunk.window ? c.undoFloor : chunk.to;
    const next: Cursor = { block: chunk.to, hash: toHeader.hash, digest, undoFloor, events };
    const undo = await w.undo(store.subs);
    const t1 = performance.now();
    await store.commitRange({
      w,
      cursor: next,
      blocks,
      undo,
      pruneBelow: Math.max(undoFloor, chunk.to - opts.reorgWindow),
    });
    backoff.reset();
    logger.debug({
      msg: "applied",
      from_block: chunk.from,
      to_block: chunk.to,
      events: next.events,
      window: chunk.window,
      apply_ms: Math.round(t1 - t0),
      commit_ms: Math.round(performance.now() - t1),
    });
    if (entries.length) opts.emit({ type: "applied", fromBlock: chunk.from, toBlock: chunk.to, entries });
    for (const l of progress) l();
  }

  // ---------------------------------------------------------------- reorgs

  async function handleReorg(reason: string): Promise<void> {
    const c = cursor();
    const floor = Math.max(c.undoFloor, c.block - opts.reorgWindow);
    const candidates = [...store.state.blocks.keys()].filter((n) => n >= floor && n <= c.block).sort((a, b) => b - a);
    const raws = await client.batch<unknown>(candidates.map(headerCall));
    let ancestor: number | undefined;
    for (let i = 0; i < candidates.length; i++) {
      const raw = raws[i] as { hash?: string } | null;
      const n = candidates[i]!;
      if (raw && typeof raw.hash === "string" && raw.hash.toLowerCase() === store.state.blocks.get(n)!.hash) {
        ancestor = n;
        break;
      }
    }
    if (ancestor === undefined) throw new ReorgTooDeepError(c.block, opts.reorgWindow);
    const retracted = await store.rollbackTo(ancestor);
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
    for (const l of progress) l();
  }

  // ---------------------------------------------------------------- the loop

  async function backfill(until: number): Promise<void> {
    let pending: Promise<Chunk | undefined> | undefined = fetchWithRetry(cursor().block + 1, until, false);
    try {
      while (pending && !stopped) {
        const waitStart = performance.now();
        const chunk: Chunk | undefined = await pending;
        logger.debug({ msg: "waited for range", duration_ms: Math.round(performance.now() - waitStart) });
        pending = undefined;
        if (!chunk) return;
        if (chunk.to < until) pending = fetchWithRetry(chunk.to + 1, until, false);
        await applyChunk(chunk);
      }
    } finally {
      // an abandoned prefetch must not surface as an unhandled rejection
      pending?.catch(() => undefined);
    }
  }

  function markCaughtUp(headBlock: number): void {
    state.caughtUp = true;
    const c = cursor();
    logger.info({ msg: "caught up", block_number: c.block, head_block: headBlock, events: c.events });
  }

  let lastHeadHash = "";
  let lastProgressLog = 0;

  async function step(): Promise<"idle" | "busy"> {
    const head = await fetchHead(client);
    state.headBlock = head.number;
    const target = head.number - opts.confirmations;
    const c = cursor();
    if (target <= c.block) {
      if (head.hash !== lastHeadHash && c.block >= 0) {
        // nothing new to apply, but the blocks we hold may have been replaced (same height or shorter)
        const [raw] = await client.batch<unknown>([headerCall(c.block)]);
        const hash = (raw as { hash?: string } | null)?.hash?.toLowerCase();
        if (hash !== c.hash) throw new ReorgDetected(`block ${c.block} is now ${hash ?? "missing"}`);
        lastHeadHash = head.hash;
      }
      if (!state.caughtUp) markCaughtUp(head.number);
      for (const l of progress) l();
      return "idle";
    }
    const safe = head.number - opts.reorgWindow;
    if (c.block + 1 <= safe) {
      await backfill(Math.min(target, safe));
    } else {
      const chunk = await fetchWindowChunk(
        c.block + 1,
        Math.min(target, c.block + Math.max(1, Math.min(sizer.span, opts.reorgWindow))),
      );
      await applyChunk(chunk);
    }
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
    return "busy";
  }

  return {
    state,
    stop() {
      stopped = true;
      wake?.();
    },
    onProgress(listener) {
      progress.add(listener);
      return () => progress.delete(listener);
    },
    async run() {
      let reorg: string | undefined;
      while (!stopped) {
        try {
          if (reorg !== undefined) {
            await handleReorg(reorg);
            reorg = undefined;
            continue;
          }
          const r = await step();
          if (r === "idle") await sleep(opts.pollMs);
        } catch (err) {
          if (stopped) return;
          if (err instanceof ReorgDetected) {
            lastHeadHash = "";
            reorg = err.message;
            continue;
          }
          if (!isRetryable(err)) throw err;
          noteRetryable(err, cursor().block + 1, Math.max(cursor().block + 1, state.headBlock));
          await sleep(backoff.next());
        }
      }
    },
  };
}
