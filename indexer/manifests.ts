/**
 * The manifest loader (DESIGN §10): beside the sync loop, never in its way. For every anchored
 * batch whose manifest is not loaded it fetches the file (`file:<name>` in the manifest folder,
 * or `http(s)://…`), checks it against the batch (common/manifest.ts: hash, count, rows, tree
 * order, root) and indexes its rows in bounded chunks (sublevels mleaf, mdev), each chunk one
 * LevelDB batch that also moves the manifest's cursor (`mfst/<batchId>.indexed`). A SIGKILL
 * between chunks resumes at the cursor on restart; a chunk rewritten is rewritten identically.
 *
 * Status per batch: PENDING (not tried yet, or being indexed) → LOADED; UNAVAILABLE (cannot be
 * fetched: retried with backoff and jitter; or the batch published none: not retried); INVALID
 * (fetched but wrong: final, except a hash mismatch, which is retried since the right file may
 * yet be put in place). A batch that disappears (a reorg removed its anchor) has its rows purged.
 *
 * Invariant: the chain pipeline never waits for this loop. It shares the store only through
 * disjoint sublevels (manifest writes go through `commitManifestWrites`), reads the batches from
 * the memory state the chain commits keep, and yields to the event loop between chunks.
 */
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { silentLogger, type Logger } from "../common/logger";
import { ManifestInvalidError, parseManifest, type ManifestRow } from "../common/manifest";
import { loadAnchorMerkle } from "../common/merkle";
import { backoffDelay } from "../common/retry";
import { pendingManifest } from "./store/reader";
import { keys } from "./store/schema";
import type { Write } from "./store/state";
import type { Store } from "./store/store";
import type { AnchoredLeafRecord, BatchRecord, ManifestRecord, StoreChange } from "./types";

export interface ManifestLoaderOptions {
  store: Store;
  /** Where `file:<name>` manifests are (DTL_MANIFEST_DIR); without it they stay UNAVAILABLE. */
  manifestDir?: string;
  logger?: Logger;
  emit(change: StoreChange): void;
  /** Rows per committed chunk (default 10,000). */
  chunkRows?: number;
  /** Time-out of one http(s) fetch (default 30 s). */
  fetchTimeoutMs?: number;
  /** Largest manifest accepted, in bytes (default 1 GiB: ~3,000,000 rows). */
  maxBytes?: number;
  /** Backoff of UNAVAILABLE manifests (default 1 s doubling to 5 min, full jitter). */
  retry?: { baseMs?: number; maxMs?: number };
}

export interface ManifestLoader {
  start(): void;
  /** Something changed (a batch anchored, revoked, rolled back): look again now. */
  wake(): void;
  stop(): Promise<void>;
  /** Resolves once the loader has nothing to do right now (tests). */
  idle(): Promise<void>;
}

/** A manifest that could not be fetched (yet). */
export class ManifestUnavailableError extends Error {
  override readonly name = "ManifestUnavailableError";
}

const ZERO32 = "0x" + "0".repeat(64);

/** The rows of `file:<name>` or `http(s)://…`. */
export async function fetchManifest(
  uri: string,
  opts: { manifestDir?: string; timeoutMs: number; maxBytes: number },
): Promise<Uint8Array> {
  if (uri.startsWith("file:")) {
    const name = uri.slice("file:".length);
    if (!opts.manifestDir)
      throw new ManifestUnavailableError(`${uri}: no manifest folder is configured (DTL_MANIFEST_DIR, --manifest-dir)`);
    const dir = path.resolve(opts.manifestDir);
    const file = path.resolve(dir, name);
    if (name.length === 0 || path.isAbsolute(name) || !file.startsWith(dir + path.sep))
      throw new ManifestInvalidError(`${uri}: a file: manifest names a file inside the manifest folder`);
    try {
      const size = (await stat(file)).size;
      if (size > opts.maxBytes)
        throw new ManifestInvalidError(`${uri}: ${size} bytes, more than the ${opts.maxBytes} accepted`);
      return await readFile(file);
    } catch (err) {
      if (err instanceof ManifestInvalidError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new ManifestUnavailableError(
        code === "ENOENT" ? `${uri}: no such file in ${dir}` : `${uri}: ${(err as Error).message}`,
      );
    }
  }
  if (/^https?:\/\//i.test(uri)) {
    let res: Response;
    try {
      res = await fetch(uri, { signal: AbortSignal.timeout(opts.timeoutMs), redirect: "follow" });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      throw new ManifestUnavailableError(
        `${uri}: ${e.name === "TimeoutError" ? "timed out" : (e.cause?.code ?? e.message)}`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new ManifestUnavailableError(`${uri}: HTTP ${res.status}`);
    }
    const length = Number(res.headers.get("content-length") ?? "0");
    if (length > opts.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new ManifestInvalidError(`${uri}: ${length} bytes, more than the ${opts.maxBytes} accepted`);
    }
    try {
      const bytes = new Uint8Array(await res.arrayBuffer());
      if (bytes.byteLength > opts.maxBytes)
        throw new ManifestInvalidError(`${uri}: more than the ${opts.maxBytes} bytes accepted`);
      return bytes;
    } catch (err) {
      if (err instanceof ManifestInvalidError) throw err;
      throw new ManifestUnavailableError(`${uri}: ${(err as Error).message}`);
    }
  }
  throw new ManifestInvalidError(`unsupported manifest URI "${uri.slice(0, 100)}" (file:<name> or http(s)://…)`);
}

export function createManifestLoader(o: ManifestLoaderOptions): ManifestLoader {
  const { store } = o;
  const logger = (o.logger ?? silentLogger).child({ module: "manifests" });
  const chunkRows = o.chunkRows ?? 10_000;
  const fetchOpts = {
    manifestDir: o.manifestDir,
    timeoutMs: o.fetchTimeoutMs ?? 30_000,
    maxBytes: o.maxBytes ?? 1024 * 1024 * 1024,
  };
  const retry = { baseMs: o.retry?.baseMs ?? 1_000, maxMs: o.retry?.maxMs ?? 300_000 };
  let stopped = true;
  let dirty = true;
  let running: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  let idleWaiters: (() => void)[] = [];
  /** Parsed rows kept while a batch is being indexed (chunks resume from them). */

  const live = (k: string, b: BatchRecord) => {
    const now = store.state.batches.get(k);
    return now !== undefined && now.id === b.id && now.manifestHash === b.manifestHash;
  };

  async function commit(writes: Write[], batchId: string): Promise<void> {
    await store.commitManifestWrites(writes);
    o.emit({ type: "batches", batchIds: [batchId], entries: [] });
  }

  /** Removes a manifest's rows (its batch is gone or re-anchored with another manifest), in chunks. */
  async function purge(k: string, m: ManifestRecord): Promise<void> {
    const prefix = keys.mleaf(m.batchId);
    for (;;) {
      const rows = (await store.subs.mleaf.iterator({ gte: prefix, lt: prefix + "~", limit: chunkRows }).all()) as [
        string,
        AnchoredLeafRecord,
      ][];
      const writes: Write[] = [];
      if (rows.length) {
        const idKeys = rows.map(([, r]) => keys.id(r.deviceId));
        const claims = (await store.subs.mdev.getMany(idKeys)) as (AnchoredLeafRecord[] | undefined)[];
        rows.forEach(([key], i) => {
          writes.push({ sub: "mleaf", key, value: undefined });
          const rest = (claims[i] ?? []).filter((c) => c.batchId !== m.batchId);
          writes.push({ sub: "mdev", key: idKeys[i]!, value: rest.length ? rest : undefined });
        });
      }
      const last = rows.length < chunkRows;
      if (last) writes.push({ sub: "mfst", key: k, value: undefined });
      await commit(writes, m.batchId);
      if (last) break;
      await new Promise((r) => setImmediate(r));
    }
    logger.info({ msg: "manifest rows purged", batch_id: m.batchId, rows: m.indexed });
  }

  async function setState(k: string, m: ManifestRecord): Promise<void> {
    await commit([{ sub: "mfst", key: k, value: m }], m.batchId);
  }

  /** Indexes `rows` from the manifest's cursor on, chunk by chunk; false when the batch went away. */
  async function index(k: string, b: BatchRecord, m: ManifestRecord, rows: ManifestRow[]): Promise<boolean> {
    let from = m.indexed;
    const { error: _e, retryAt: _r, ...base } = m;
    while (from < rows.length) {
      if (stopped || !live(k, b)) return false;
      const to = Math.min(rows.length, from + chunkRows);
      const idKeys: string[] = [];
      for (let i = from; i < to; i++) idKeys.push(keys.id(rows[i]!.deviceId));
      const claims = (await store.subs.mdev.getMany(idKeys)) as (AnchoredLeafRecord[] | undefined)[];
      const writes: Write[] = [];
      for (let i = from; i < to; i++) {
        const r = rows[i]!;
        const leaf: AnchoredLeafRecord = {
          deviceId: r.deviceId,
          batchId: b.id,
          index: i,
          serial: r.serial,
          keyAlgorithm: r.keyAlgorithm,
          keyHash: r.keyHash,
          firmwareHash: r.firmwareHash,
          segment: r.segment,
        };
        writes.push({ sub: "mleaf", key: keys.mleaf(b.id, i), value: leaf });
        const others = (claims[i - from] ?? []).filter((c) => c.batchId !== b.id);
        writes.push({ sub: "mdev", key: idKeys[i - from]!, value: [...others, leaf] });
      }
      const next: ManifestRecord = { ...base, status: to === rows.length ? "LOADED" : "PENDING", indexed: to };
      writes.push({ sub: "mfst", key: k, value: next });
      await commit(writes, b.id);
      logger.debug({ msg: "manifest chunk indexed", batch_id: b.id, indexed: to, count: rows.length });
      from = to;
      await new Promise((r) => setImmediate(r));
    }
    return true;
  }

  async function load(k: string, b: BatchRecord, m: ManifestRecord): Promise<void> {
    const log = logger.child({ batch_id: b.id, uri: b.manifestUri });
    if (b.manifestHash === ZERO32 || b.manifestUri === "") {
      await setState(k, {
        ...pendingManifest(b),
        status: "UNAVAILABLE",
        error: "the batch published no manifest (manifestHash zero or manifestUri empty)",
      });
      return;
    }
    const t0 = performance.now();
    let rows: ManifestRow[];
    try {
      const bytes = await fetchManifest(b.manifestUri, fetchOpts);
      rows = await parseManifest(bytes, b, await loadAnchorMerkle());
    } catch (err) {
      if (!live(k, b) || stopped) return;
      const attempts = m.attempts + 1;
      if (err instanceof ManifestUnavailableError || (err instanceof ManifestInvalidError && err.hashMismatch)) {
        const retryAt = Date.now() + backoffDelay(attempts, retry);
        const status = err instanceof ManifestUnavailableError ? "UNAVAILABLE" : "INVALID";
        log.warn({ msg: "manifest not loaded, will retry", status, err: err.message, attempts });
        await setState(k, { ...pendingManifest(b), status, error: err.message, attempts, retryAt });
        return;
      }
      if (err instanceof ManifestInvalidError) {
        log.warn({ msg: "manifest invalid", err: err.message });
        await setState(k, { ...pendingManifest(b), status: "INVALID", error: err.message, attempts });
        return;
      }
      throw err;
    }
    const done = await index(k, b, { ...m, status: "PENDING" }, rows);
    if (done) log.info({ msg: "manifest loaded", rows: rows.length, duration_ms: Math.round(performance.now() - t0) });
  }

  /** One pass: purge what lost its batch, load what is due; returns ms until the next retry is due. */
  async function pass(): Promise<number> {
    const { batches, manifests } = store.state;
    for (const [k, m] of [...manifests]) {
      const b = batches.get(k);
      if (!b || b.manifestHash !== m.manifestHash) await purge(k, m);
      if (stopped) return Infinity;
    }
    let nextDue = Infinity;
    for (const [k, b] of [...store.state.batches]) {
      if (stopped) break;
      if (!live(k, b)) continue;
      const m = store.state.manifests.get(k);
      if (m && m.manifestHash === b.manifestHash) {
        if (m.status === "LOADED") continue;
        if (m.status !== "PENDING") {
          if (m.retryAt === undefined) continue;
          const wait = m.retryAt - Date.now();
          if (wait > 0) {
            nextDue = Math.min(nextDue, wait);
            continue;
          }
        }
      }
      await load(k, b, m && m.manifestHash === b.manifestHash ? m : pendingManifest(b));
      // what this attempt scheduled counts too
      const after = store.state.manifests.get(k)?.retryAt;
      if (after !== undefined) nextDue = Math.min(nextDue, after - Date.now());
    }
    return nextDue;
  }

  async function run(): Promise<void> {
    while (!stopped) {
      dirty = false;
      let wait = Infinity;
      try {
        wait = await pass();
      } catch (err) {
        // a store error (closing, disk): log it and look again later; the chain pipeline is unaffected
        if (stopped) break;
        logger.error({ msg: "manifest loader failed", err: (err as Error).message });
        wait = retry.baseMs;
      }
      if (stopped) break;
      if (dirty) continue;
      for (const w of idleWaiters) w();
      idleWaiters = [];
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(wait) ? setTimeout(resolve, Math.max(1, wait)) : undefined;
        wakeUp = () => {
          if (timer) clearTimeout(timer);
          resolve();
        };
      });
      wakeUp = undefined;
    }
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      running = run();
    },
    wake() {
      dirty = true;
      wakeUp?.();
    },
    async stop() {
      stopped = true;
      wakeUp?.();
      await running;
      running = undefined;
      for (const w of idleWaiters) w();
      idleWaiters = [];
    },
    idle() {
      if (stopped) return Promise.resolve();
      return new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        this.wake();
      });
    },
  };
}
