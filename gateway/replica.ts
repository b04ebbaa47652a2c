/**
 * The gateway's local replica of the trust state (DESIGN §11), kept in its own LevelDB
 * (`--data-dir`) so that it survives restarts and keeps deciding when every upstream is gone.
 *
 * How it follows an upstream API, without a gap and without applying anything twice:
 *   1. open the `deviceEvents` SSE stream first and hold what arrives;
 *   2. read `indexerStatus` (chain identity, lag) and the roles the replica knows;
 *   3. read every device page by page (`devices`, with totalCount) and replace the replica's
 *      devices with them (devices the upstream no longer has are deleted);
 *   4. then, for every event held and every event after, read that device again (`device(id)`).
 * An event only names a device to re-read; a re-read is the upstream's whole current record, so
 * reading twice changes nothing (no duplicate) and an event that arrives while the snapshot is
 * read is re-read after it (no gap). After a lost connection (upstream down, stream ended) the
 * replica resumes the same way — the stream cannot be replayed from a block, so the snapshot
 * is read again; the replica keeps deciding from what it has meanwhile. Role changes are no device
 * events: every heartbeat (`--heartbeat-ms`) re-reads the roles of the manufacturers and attesters
 * the replica holds (`hasRoles`), and the upstream's status; each successful exchange with an
 * upstream is "contact", the measure of freshness (maxStalenessSeconds).
 */
import { Level } from "level";
import { MANUFACTURER_ROLE, attesterRole } from "../common/roles";
import type { Logger } from "../common/logger";
import {
  UpstreamError,
  type DeviceEvent,
  type ReplicaDevice,
  type RoleCheck,
  type Upstream,
  type UpstreamStatus,
} from "./upstream";

export type ReplicaChange = { type: "device"; id: string } | { type: "all"; cause: string } | { type: "contact" };

interface Meta {
  identity?: { chainId: number; registry: string };
  status?: UpstreamStatus;
  lastContactMs?: number;
  upstream?: string;
  roles?: [string, boolean][];
}

export interface Replica {
  device(id: string): ReplicaDevice | undefined;
  /** Whether `account` holds `role` as far as the replica knows (unknown: false, fail closed). */
  hasRole(role: string, account: string): boolean;
  status(): UpstreamStatus | undefined;
  lastContactMs(): number | undefined;
  /** The upstream followed now (undefined while none answers). */
  upstream(): string | undefined;
  /** A snapshot has been read from an upstream in this run. */
  synced(): boolean;
  size(): number;
  onChange(listener: (c: ReplicaChange) => void): () => void;
  /** Follows the upstreams (in order, the next one when one fails) until `stop()`. */
  start(): void;
  stop(): Promise<void>;
}

/** Waits `ms`, or less when `signal` aborts. */
export const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });

/**
 * What every kind of replica shares (this one, and gateway/witness.ts): its change listeners, and
 * one loop that runs from start() until stop() aborts `signal`, after which `close` runs.
 */
export function replicaLifecycle(close: () => Promise<void>) {
  const listeners = new Set<(c: ReplicaChange) => void>();
  const stopper = new AbortController();
  let loop: Promise<void> | undefined;
  return {
    signal: stopper.signal,
    emit: (c: ReplicaChange) => listeners.forEach((l) => l(c)),
    methods: (run: () => Promise<void>): Pick<Replica, "onChange" | "start" | "stop"> => ({
      onChange(l) {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      start() {
        loop ??= run();
      },
      async stop() {
        stopper.abort();
        await loop?.catch(() => undefined);
        await close();
      },
    }),
  };
}

const roleKey = (role: string, account: string) => `${role.toLowerCase()}:${account.toLowerCase()}`;
const PAGE = 500;

export async function openReplica(opts: {
  dataDir: string;
  upstreams: readonly Upstream[];
  heartbeatMs: number;
  logger: Logger;
}): Promise<Replica> {
  const db = new Level<string, unknown>(opts.dataDir, { valueEncoding: "json" });
  await db.open();
  const devicesDb = db.sublevel<string, ReplicaDevice>("device", { valueEncoding: "json" });
  const metaDb = db.sublevel<string, Meta>("meta", { valueEncoding: "json" });
  const devices = new Map<string, ReplicaDevice>();
  for await (const [k, v] of devicesDb.iterator()) devices.set(k, v);
  const meta: Meta = (await metaDb.get("meta")) ?? {};
  const roles = new Map<string, boolean>(meta.roles ?? []);
  const life = replicaLifecycle(() => db.close());
  const { emit } = life;
  const stopper = { signal: life.signal };
  const log = opts.logger.child({ component: "replica" });
  let synced = false;
  let current: string | undefined;

  const saveMeta = () => metaDb.put("meta", { ...meta, roles: [...roles] });

  function contact(url: string): void {
    meta.lastContactMs = Date.now();
    meta.upstream = url;
    emit({ type: "contact" });
  }

  function learnRoles(d: ReplicaDevice): boolean {
    let changed = false;
    const set = (k: string, v: boolean) => {
      if (roles.get(k) !== v) changed = true;
      roles.set(k, v);
    };
    set(roleKey(MANUFACTURER_ROLE, d.manufacturer), d.manufacturerTrusted);
    for (const a of d.attestations) set(roleKey(attesterRole(a.kindBytes32), a.attester), a.attesterTrusted);
    return changed;
  }

  async function putDevice(id: string, d: ReplicaDevice | null): Promise<void> {
    if (d) {
      devices.set(id, d);
      await devicesDb.put(id, d);
      if (learnRoles(d)) emit({ type: "all", cause: "role_changed" });
    } else if (devices.delete(id)) await devicesDb.del(id);
    emit({ type: "device", id });
  }

  /** `live`: the replica has been brought up to date from `up`, so the exchange counts as contact. */
  async function heartbeat(up: Upstream, live: boolean): Promise<void> {
    const keys = [...roles.keys()];
    const checks: RoleCheck[] = keys.map((k) => {
      const [role, account] = k.split(":") as [string, string];
      return { role, account };
    });
    const { status, roles: held } = await up.status(checks);
    const identity = { chainId: status.chainId, registry: status.registry };
    if (meta.identity && (meta.identity.chainId !== identity.chainId || meta.identity.registry !== identity.registry))
      throw new UpstreamError(
        `${up.url} follows registry ${identity.registry} on chain ${identity.chainId}; this replica holds registry ${meta.identity.registry} on chain ${meta.identity.chainId} (use another --data-dir)`,
      );
    meta.identity = identity;
    meta.status = status;
    let changed = false;
    keys.forEach((k, i) => {
      if (roles.get(k) !== held[i]) changed = true;
      roles.set(k, held[i] === true);
    });
    await saveMeta();
    if (live) contact(up.url);
    if (changed) emit({ type: "all", cause: "role_changed" });
  }

  async function snapshot(up: Upstream): Promise<void> {
    const seen = new Set<string>();
    let after: string | null = null;
    let total = 0;
    for (;;) {
      const page = await up.devices(PAGE, after);
      total = page.totalCount;
      const batch = devicesDb.batch();
      for (const d of page.devices) {
        seen.add(d.id);
        devices.set(d.id, d);
        learnRoles(d);
        batch.put(d.id, d);
      }
      await batch.write();
      if (!page.hasNextPage || page.endCursor === null) break;
      after = page.endCursor;
    }
    for (const id of [...devices.keys()]) {
      if (seen.has(id)) continue;
      devices.delete(id);
      await devicesDb.del(id);
    }
    await saveMeta();
    log.info({ msg: "snapshot read", upstream: up.url, devices: seen.size, total_count: total });
    if (seen.size !== total) log.warn({ msg: "snapshot count differs from totalCount", devices: seen.size, total });
  }

  /** Follows one upstream until it fails; rejects with why. `onLive` runs once it is live. */
  async function follow(up: Upstream, onLive: () => void): Promise<void> {
    const ac = new AbortController();
    const abort = () => ac.abort();
    stopper.signal.addEventListener("abort", abort, { once: true });
    const held: DeviceEvent[] = [];
    let live = false;
    let failure: ((err: unknown) => void) | undefined;
    const failed = new Promise<never>((_, reject) => (failure = reject));
    failed.catch(() => undefined);
    // per-device re-reads run one after another, so the last read is the newest state
    const queue = new Map<string, Promise<void>>();
    const reread = (id: string) => {
      const prev = queue.get(id) ?? Promise.resolve();
      const next = prev
        .then(() => up.device(id))
        .then((d) => {
          contact(up.url);
          return putDevice(id, d);
        })
        .catch((err: unknown) => failure!(err));
      queue.set(id, next);
      void next.then(() => {
        if (queue.get(id) === next) queue.delete(id);
      });
    };
    try {
      const { ended } = await up.subscribe((e) => {
        if (live) reread(e.deviceId);
        else held.push(e);
      }, ac.signal);
      const streamEnd = ended.then(
        () => {
          throw new UpstreamError(`${up.url}: the event stream ended`);
        },
        (err: unknown) => {
          throw err;
        },
      );
      streamEnd.catch(() => undefined);
      // no contact until the snapshot is read: after an outage the replica is not fresh before that
      await Promise.race([heartbeat(up, false), failed, streamEnd]);
      await Promise.race([snapshot(up), failed, streamEnd]);
      live = true;
      for (const id of new Set(held.map((e) => e.deviceId))) reread(id);
      held.length = 0;
      synced = true;
      current = up.url;
      contact(up.url);
      onLive();
      emit({ type: "all", cause: "snapshot" });
      log.info({ msg: "following upstream", upstream: up.url });
      const beat = (async () => {
        while (!ac.signal.aborted) {
          await sleep(opts.heartbeatMs, ac.signal);
          if (ac.signal.aborted) return;
          await heartbeat(up, true);
        }
      })();
      await Promise.race([beat, failed, streamEnd]);
    } finally {
      current = undefined;
      stopper.signal.removeEventListener("abort", abort);
      ac.abort();
    }
  }

  async function run(): Promise<void> {
    let i = 0;
    let failures = 0;
    while (!stopper.signal.aborted) {
      const up = opts.upstreams[i % opts.upstreams.length]!;
      try {
        await follow(up, () => (failures = 0));
      } catch (err) {
        if (stopper.signal.aborted) return;
        failures++;
        log.warn({ msg: "upstream lost", upstream: up.url, err: err instanceof Error ? err.message : String(err) });
      }
      i++;
      // a full round of upstreams failed: back off (capped), so a dead site is not hammered
      if (i % opts.upstreams.length === 0) {
        await sleep(Math.min(opts.heartbeatMs * 2 ** Math.min(failures, 4), 5_000), stopper.signal);
      }
    }
  }

  return {
    device: (id) => devices.get(id.toLowerCase()),
    hasRole: (role, account) => roles.get(roleKey(role, account)) === true,
    status: () => meta.status,
    lastContactMs: () => meta.lastContactMs,
    upstream: () => current,
    synced: () => synced,
    size: () => devices.size,
    ...life.methods(run),
  };
}
