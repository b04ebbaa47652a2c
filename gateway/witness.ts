/**
 * The gateway's replica in witness mode (DESIGN §11 "Witness checkpoints"; `--witness …
 * --witness-threshold k`): zero trust toward the upstream. The replica moves only to a block
 * whose state digest the gateway recomputed itself and that ≥ k distinct configured witnesses
 * signed; anything an upstream says past that block is held, not applied.
 *
 * How: the replica is a store of the indexer's own layout (indexer/store), fed not by an RPC node
 * but by the raw registry logs an upstream serves (`chainLogs`), through the indexer's own apply
 * code (indexer/apply.ts `prefetchRange` + `applyRange`, which folds the digest with
 * indexer/hashing.ts and checks every device event's history head). We chose that over folding
 * the digest alone with hashing.ts and then taking the upstream's device records: those records
 * are what a lying upstream would alter, and the digest says nothing about them. Built from the
 * logs, the replica's devices are exactly what the signed digest commits to. Each step is:
 *
 *   1. read the checkpoints of every upstream after the replica's block; keep those of configured
 *      witnesses whose signature holds (common/checkpoint.ts) for this chain and registry;
 *      a witness that signed two different states for one block is recorded as lying (alarm,
 *      `dtl_gateway_witness_equivocations_total`), and its signatures count no more;
 *   2. the targets: blocks where one state (blockHash, digest) has ≥ k witnesses;
 *   3. from one upstream, the logs up to the newest target; for each target in order, apply the
 *      logs up to it in memory and compare the digest with the signed one: equal → one commit;
 *      different (a log dropped, altered or invented), a head that does not follow, a malformed
 *      answer → nothing is written, the refusal is logged and exposed (/readyz, metric), and the
 *      next upstream is tried.
 *
 * Freshness ("contact") is a step after which no signed target is left unapplied: a lying
 * upstream does not keep the replica fresh, so it goes stale (STALE_INDEX) at the policy's bound
 * unless an honest upstream answers. Not covered by the digest: block timestamps (attestation
 * issue times) come from the upstream's headers, checked only to never go back in time.
 */
import path from "node:path";
import { Level } from "level";
import { LRUCache } from "lru-cache";
import { verifyCheckpoint, type SignedCheckpoint, type TrustedWitness } from "../common/checkpoint";
import { loadKeccak } from "../common/keccak";
import type { Logger } from "../common/logger";
import { MANUFACTURER_ROLE, attesterRole } from "../common/roles";
import { applyRange, prefetchRange, type FetchedRange } from "../indexer/apply";
import { HistoryHeadMismatchError, IndexerError } from "../indexer/errors";
import { createHashers } from "../indexer/hashing";
import { checkLogBlocks, checkLogs, decodeLog, type BlockHeader, type RawLog } from "../indexer/source";
import { createStoreReader } from "../indexer/store/reader";
import { keys } from "../indexer/store/schema";
import { openLevelStore, type Store } from "../indexer/store/store";
import type { DeviceRecord, IndexerStatusRecord, StoreReader } from "../indexer/types";
import { replicaLifecycle, sleep, type Replica } from "./replica";
import type { ReplicaDevice, Upstream, UpstreamStatus } from "./upstream";

/** Why an upstream's data was not applied (metric label values: a fixed set). */
export const REFUSALS = [
  "digest_mismatch",
  "block_hash_mismatch",
  "history_head_mismatch",
  "malformed_answer",
  "bad_checkpoint_signature",
] as const;
export type Refusal = (typeof REFUSALS)[number];

export interface VerificationStatus {
  witnesses: string[];
  threshold: number;
  /** The block the replica is verified up to (−1: none yet). */
  verifiedBlock: number;
  verifiedDigest: string | null;
  /** The newest block with enough signatures seen (may be ahead while data is held). */
  signedBlock: number;
  /** Witnesses caught signing two states for one block: ignored. */
  lying: { witness: string; block: number; first: string; second: string }[];
  /** The last refusal of an upstream's data. */
  lastRefusal: { upstream: string; block: number; reason: Refusal; detail: string; at: string } | null;
}

export interface WitnessEvents {
  equivocation(witness: string): void;
  refused(reason: Refusal): void;
}

export type VerifiedReplica = Replica & { verification(): VerificationStatus };

class Refused extends Error {
  constructor(
    readonly reason: Refusal,
    message: string,
  ) {
    super(message);
  }
}

const stateOf = (cp: { blockHash: string; digest: string }) =>
  `${cp.blockHash.toLowerCase()}/${cp.digest.toLowerCase()}`;
/** Checkpoints read per upstream and step. */
const CHECKPOINT_PAGE = 500;
/** Blocks per chainLogs call (the API's limit). */
const LOG_SPAN = 10_000;

export async function openVerifiedReplica(opts: {
  dataDir: string;
  upstreams: readonly Upstream[];
  heartbeatMs: number;
  logger: Logger;
  witnesses: readonly TrustedWitness[];
  threshold: number;
  events: WitnessEvents;
}): Promise<VerifiedReplica> {
  const log = opts.logger.child({ component: "witness" });
  const hashers = createHashers(await loadKeccak());
  const store: Store = await openLevelStore(path.join(opts.dataDir, "verified"));
  const book = new Level<string, unknown>(path.join(opts.dataDir, "witnesses"), { valueEncoding: "json" });
  await book.open();
  const seen = book.sublevel<string, { state: string }>("seen", { valueEncoding: "json" });
  const liarsDb = book.sublevel<string, VerificationStatus["lying"][number]>("lying", { valueEncoding: "json" });
  const lying = new Map<string, VerificationStatus["lying"][number]>();
  for await (const [k, v] of liarsDb.iterator()) lying.set(k, v);
  const meta = book.sublevel<string, number>("meta", { valueEncoding: "json" });
  let lastContactMs = (await meta.get("lastContactMs")) ?? undefined;

  const statusRecord = (): IndexerStatusRecord => {
    const c = store.state.cursor;
    const id = store.state.identity;
    return {
      chainId: id?.chainId ?? 0,
      registry: id?.registry ?? "",
      deployBlock: id?.deployBlock ?? 0,
      indexedBlock: c?.block ?? -1,
      indexedBlockHash: c?.hash ?? "",
      headBlock: c?.block ?? -1,
      digest: c?.digest ?? "",
      caughtUp: true,
      reorgs: 0,
      rpcErrors: 0,
    };
  };
  const reader: StoreReader = createStoreReader(store, { status: statusRecord, onChange: () => () => undefined });
  const hasRole = (role: string, account: string) => {
    try {
      return store.state.roles.has(keys.role(role, account));
    } catch {
      return false;
    }
  };

  const devices = new Map<string, ReplicaDevice>();
  async function toReplica(d: DeviceRecord): Promise<ReplicaDevice> {
    const atts = await reader.listAttestations(d.id);
    return {
      id: d.id,
      status: d.status,
      manufacturer: d.manufacturer,
      manufacturerTrusted: hasRole(MANUFACTURER_ROLE, d.manufacturer),
      segment: d.segment,
      firmwareHash: d.firmwareHash,
      keyAlgorithm: d.keyAlgorithm,
      keyHash: d.keyHash,
      updatedBlock: d.updatedBlock,
      attestations: atts.map((a) => ({
        uid: a.uid,
        kind: a.kind,
        kindBytes32: a.kindBytes32,
        attester: a.attester,
        attesterTrusted: hasRole(attesterRole(a.kindBytes32), a.attester),
        issuedAt: a.issuedAt,
        expiresAt: a.expiresAt,
        revoked: a.revoked,
      })),
    };
  }
  async function reloadAll(): Promise<void> {
    devices.clear();
    let after: string | null = null;
    for (;;) {
      const page = await reader.listDevices({}, 1000, after);
      for (const d of page.items) devices.set(d.id, await toReplica(d));
      if (!page.hasNextPage) break;
      after = page.endCursor;
    }
  }
  if (store.state.cursor) await reloadAll();

  const life = replicaLifecycle(async () => {
    await store.close();
    await book.close();
  });
  const { emit } = life;
  let synced = false;
  let current: string | undefined;
  let signedBlock = -1;
  let lastRefusal: VerificationStatus["lastRefusal"] = null;
  const trusted = new Map(opts.witnesses.map((w) => [w.address, w]));
  const verified = new LRUCache<string, true>({ max: 20_000 });

  function refuse(up: Upstream, block: number, reason: Refusal, detail: string): void {
    lastRefusal = { upstream: up.url, block, reason, detail, at: new Date().toISOString() };
    opts.events.refused(reason);
    log.error({ msg: "upstream data refused: not applied", upstream: up.url, block_number: block, reason, detail });
  }

  /** The store's identity, taken from the first upstream; every signed checkpoint is checked against it. */
  async function ensureIdentity(up: Upstream): Promise<void> {
    if (store.state.identity) return;
    const id = await up.identity();
    if (!id.deployBlockHash) throw new Refused("malformed_answer", `${up.url} does not say its deploy block's hash`);
    const identity = {
      chainId: id.chainId,
      registry: id.registry,
      deployBlock: id.deployBlock,
      deployBlockHash: id.deployBlockHash.toLowerCase(),
    };
    await store.initialize(identity, {
      block: identity.deployBlock - 1,
      hash: "",
      digest: hashers.genesisDigest(identity),
      undoFloor: identity.deployBlock - 1,
      events: 0,
    });
    log.info({ msg: "verified replica started", chain_id: identity.chainId, registry: identity.registry });
  }

  /** Step 1–2: the signed targets after `from`, from every upstream's checkpoints. */
  async function targets(from: number): Promise<{ block: number; blockHash: string; digest: string }[]> {
    const id = store.state.identity!;
    const votes = new Map<number, Map<string, Set<string>>>();
    for (const up of opts.upstreams) {
      let cps: SignedCheckpoint[];
      try {
        cps = await up.checkpoints(from, CHECKPOINT_PAGE);
      } catch (err) {
        log.debug({ msg: "no checkpoints from upstream", upstream: up.url, err: (err as Error).message });
        continue;
      }
      for (const cp of cps) {
        const w = trusted.get(cp.witness);
        if (!w || lying.has(w.address)) continue;
        if (cp.chainId !== id.chainId || cp.registry.toLowerCase() !== id.registry.toLowerCase()) continue;
        // a held replica reads the same checkpoints every heartbeat: each signature is checked once
        const sigKey = `${cp.block}:${stateOf(cp)}:${cp.signature}`;
        if (!verified.has(sigKey) && !verifyCheckpoint(cp, w)) {
          refuse(
            up,
            cp.block,
            "bad_checkpoint_signature",
            `checkpoint of block ${cp.block} said to be ${cp.witness}'s`,
          );
          continue;
        }
        verified.set(sigKey, true);
        const state = stateOf(cp);
        const key = `${w.address}:${keys.block(cp.block)}`;
        const before = await seen.get(key);
        if (before && before.state !== state) {
          const rec = { witness: w.address, block: cp.block, first: before.state, second: state };
          lying.set(w.address, rec);
          await liarsDb.put(w.address, rec);
          opts.events.equivocation(w.address);
          log.fatal({
            msg: "ALARM: witness signed two different states for one block: it lies, its signatures are ignored from now on",
            witness: w.address,
            block_number: cp.block,
            first: before.state,
            second: state,
            upstream: up.url,
          });
          continue;
        }
        if (!before) await seen.put(key, { state });
        let byState = votes.get(cp.block);
        if (!byState) votes.set(cp.block, (byState = new Map()));
        let who = byState.get(state);
        if (!who) byState.set(state, (who = new Set()));
        who.add(w.address);
      }
    }
    const out: { block: number; blockHash: string; digest: string }[] = [];
    for (const [block, byState] of votes) {
      for (const [state, who] of byState) {
        const honest = [...who].filter((w) => !lying.has(w));
        if (honest.length < opts.threshold) continue;
        const [blockHash, digest] = state.split("/") as [string, string];
        out.push({ block, blockHash, digest });
      }
    }
    out.sort((a, b) => a.block - b.block);
    return out;
  }

  /** Applies logs up to `target` over the store in memory; commits only when the digest is the signed one. */
  async function applyVerified(
    up: Upstream,
    logs: RawLog[],
    headers: Map<number, BlockHeader>,
    target: { block: number; blockHash: string; digest: string },
  ): Promise<string[] | "all"> {
    const c = store.state.cursor!;
    const have = headers.get(target.block);
    if (have && have.hash.toLowerCase() !== target.blockHash)
      throw new Refused(
        "block_hash_mismatch",
        `block ${target.block} is ${have.hash} upstream, the witnesses signed ${target.blockHash}`,
      );
    const hs = new Map(headers);
    if (!have) hs.set(target.block, { number: target.block, hash: target.blockHash, parentHash: "", timestamp: 0 });
    let events;
    try {
      events = logs.map(decodeLog);
      checkLogBlocks(events, hs);
    } catch (err) {
      throw new Refused("malformed_answer", (err as Error).message);
    }
    const range: FetchedRange = { from: c.block + 1, to: target.block, logs, events, headers: hs, window: false };
    let r;
    try {
      const base = await prefetchRange(store, range);
      r = applyRange({ cursor: c, counts: store.state.counts }, base, hashers, range);
    } catch (err) {
      if (err instanceof HistoryHeadMismatchError) throw new Refused("history_head_mismatch", err.message);
      if (err instanceof IndexerError) throw new Refused("malformed_answer", err.message);
      throw err;
    }
    if (r.cursor.digest !== target.digest)
      throw new Refused(
        "digest_mismatch",
        `the logs served for blocks ${range.from}–${target.block} fold to digest ${r.cursor.digest}, the witnesses signed ${target.digest}: an event was dropped, altered or invented`,
      );
    await store.commitRange({
      w: r.w,
      cursor: r.cursor,
      blocks: r.blocks,
      undo: new Map(),
      pruneBelow: r.cursor.block,
    });
    if (events.some((e) => e.type === "role")) return "all";
    return [...new Set(r.entries.map((e) => e.deviceId))];
  }

  /** Step 3 with one upstream: up to the newest target, checkpoint by checkpoint. */
  async function advance(up: Upstream, ts: { block: number; blockHash: string; digest: string }[]): Promise<boolean> {
    let pending: RawLog[] = [];
    const headers = new Map<number, BlockHeader>();
    let lastTs = -1;
    let i = 0;
    let from = store.state.cursor!.block + 1;
    const last = ts[ts.length - 1]!.block;
    while (i < ts.length && from <= last) {
      const to = Math.min(last, from + LOG_SPAN - 1);
      const ans = await up.chainLogs(from, to);
      try {
        if (ans.fromBlock !== from || !(ans.toBlock >= from && ans.toBlock <= to))
          throw new Error(`chainLogs(${from}, ${to}) answered blocks ${ans.fromBlock}–${ans.toBlock}`);
        checkLogs(ans.logs, store.state.identity!.registry, from, ans.toBlock);
        for (const h of [...ans.blocks].sort((a, b) => a.number - b.number)) {
          if (h.number < from) continue;
          if (h.timestamp < lastTs) throw new Error(`block ${h.number}'s timestamp goes back in time`);
          lastTs = h.timestamp;
          headers.set(h.number, { ...h, hash: h.hash.toLowerCase() });
        }
      } catch (err) {
        throw new Refused("malformed_answer", (err as Error).message);
      }
      pending = pending.concat(ans.logs);
      for (; i < ts.length && ts[i]!.block <= ans.toBlock; i++) {
        const t = ts[i]!;
        const slice = pending.filter((l) => Number.parseInt(l.blockNumber, 16) <= t.block);
        pending = pending.filter((l) => Number.parseInt(l.blockNumber, 16) > t.block);
        const changed = await applyVerified(up, slice, headers, t);
        log.info({ msg: "verified", upstream: up.url, block_number: t.block, digest: t.digest });
        if (changed === "all") {
          await reloadAll();
          emit({ type: "all", cause: "role_changed" });
        } else {
          for (const id of changed) {
            const d = await reader.getDevice(id);
            if (d) devices.set(id, await toReplica(d));
            else devices.delete(id);
            emit({ type: "device", id });
          }
        }
      }
      from = ans.toBlock + 1;
    }
    return i === ts.length;
  }

  async function contact(url: string): Promise<void> {
    lastContactMs = Date.now();
    current = url;
    synced = true;
    await meta.put("lastContactMs", lastContactMs);
    emit({ type: "contact" });
  }

  async function step(): Promise<void> {
    for (const up of opts.upstreams) {
      try {
        await ensureIdentity(up);
        const ts = await targets(store.state.cursor!.block + 1);
        if (ts.length) signedBlock = Math.max(signedBlock, ts[ts.length - 1]!.block);
        if (ts.length === 0 || (await advance(up, ts))) {
          await contact(up.url);
          return;
        }
      } catch (err) {
        if (life.signal.aborted) return;
        if (err instanceof Refused) refuse(up, store.state.cursor?.block ?? -1, err.reason, err.message);
        else log.warn({ msg: "upstream lost", upstream: up.url, err: (err as Error).message });
      }
      current = undefined;
    }
  }

  async function run(): Promise<void> {
    while (!life.signal.aborted) {
      await step();
      await sleep(opts.heartbeatMs, life.signal);
    }
  }

  return {
    device: (id) => devices.get(id.toLowerCase()),
    hasRole,
    status(): UpstreamStatus | undefined {
      const c = store.state.cursor;
      const id = store.state.identity;
      if (!c || !id) return undefined;
      return {
        chainId: id.chainId,
        registry: id.registry,
        indexedBlock: c.block,
        lagBlocks: 0,
        maxLagBlocks: 0,
        digest: c.digest,
        fatalError: null,
      };
    },
    lastContactMs: () => lastContactMs,
    upstream: () => current,
    synced: () => synced,
    size: () => devices.size,
    ...life.methods(run),
    verification: () => ({
      witnesses: opts.witnesses.map((w) => w.address),
      threshold: opts.threshold,
      verifiedBlock: store.state.cursor?.block ?? -1,
      verifiedDigest: store.state.cursor?.digest ?? null,
      signedBlock,
      lying: [...lying.values()],
      lastRefusal,
    }),
  };
}
