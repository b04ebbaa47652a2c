/**
 * StoreReader over the mirror: point lookups through the store's bounded cache (store.ts
 * `getRecords`: cache, then one getMany for the misses), lists by bounded scans of the index
 * sublevels, histories by range scans, counts from the memory state's tallies, role checks from
 * memory (bounded by accounts).
 */
import { decodeShortName, encodeShortName } from "../../common/ids";
import { DEVICE_STATUS } from "../../common/codes";
import { keccak256 } from "ethers";
import { MANIFEST_STATUSES } from "../types";
import type {
  AnchoredLeafRecord,
  BatchFilter,
  BatchRecord,
  BatchView,
  ManifestRecord,
  AttestationRecord,
  DeviceFilter,
  DeviceRecord,
  HistoryEntryRecord,
  IndexerStatusRecord,
  Page,
  StoreChange,
  StoreReader,
} from "../types";
import { InvalidCursorError } from "../errors";
import { withHistoryKey } from "./codec";
import { countDevices } from "./counts";
import { keys, num, type Sub } from "./schema";
import type { Store } from "./store";

/** Largest page a reader serves (the API caps lower). */
export const MAX_PAGE = 10_000;

/**
 * One cursor per item: its sort key — the part of its LevelDB key a range scan resumes from —
 * as base64url of `<tag>:<key>` (d:<deviceId:64> in id order, h:<seq:8> in a device's history). Continuing after a cursor is a range scan from just above that
 * key, so no item is skipped or repeated across pages, even when items are added or change
 * between the fetches. A cursor decodes only if it re-encodes to the same string.
 */
function cursorCodec(name: string, tag: string, shape: RegExp) {
  const encode = (key: string) => Buffer.from(`${tag}:${key}`).toString("base64url");
  return {
    encode,
    decode(after: string | null | undefined): string | undefined {
      if (after == null) return undefined;
      const raw = Buffer.from(after, "base64url").toString();
      const key = raw.slice(tag.length + 1);
      if (!raw.startsWith(`${tag}:`) || !shape.test(key) || encode(key) !== after)
        throw new InvalidCursorError(`invalid ${name} cursor "${after.slice(0, 80)}"`);
      return key;
    },
  };
}
const deviceCursor = cursorCodec("device", "d", /^[0-9a-f]{64}$/);
const batchCursor = cursorCodec("batch", "b", /^[0-9a-f]{64}$/);
const historyCursor = cursorCodec("history", "h", /^[0-9a-f]{8}$/);

const norm = (hex: string) => hex.toLowerCase();

function pageSize(first: number): number {
  if (!Number.isInteger(first) || first < 0) throw new RangeError(`first must be a non-negative integer, got ${first}`);
  return Math.min(first, MAX_PAGE);
}

function page<T>(items: T[], cursors: string[], hasNextPage: boolean, totalCount: number): Page<T> {
  return { items, cursors, endCursor: cursors[cursors.length - 1] ?? null, hasNextPage, totalCount };
}

export interface ReaderDeps {
  status(): IndexerStatusRecord;
  onChange(listener: (change: StoreChange) => void): () => void;
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** Index constraints of a filter: scan the smallest, check the others by key. */
interface Constraint {
  sub: Sub;
  prefix: string;
  /** Devices it holds (from the tallies). */
  size: number;
}

/** A manifest's state before the loader first looked at it. */
export const pendingManifest = (b: BatchRecord): ManifestRecord => ({
  batchId: b.id,
  manifestHash: b.manifestHash,
  status: "PENDING",
  attempts: 0,
  indexed: 0,
});

/** The device of a loaded manifest row, before (or without) its materialization on chain. */
export function anchoredDevice(leaf: AnchoredLeafRecord, batch: BatchRecord): DeviceRecord {
  return {
    id: leaf.deviceId,
    manufacturer: batch.manufacturer,
    status: "ACTIVE",
    keyAlgorithm: leaf.keyAlgorithm,
    keyHash: leaf.keyHash,
    firmwareHash: leaf.firmwareHash,
    segment: decodeShortName(leaf.segment),
    registeredAt: batch.timestamp,
    registeredBlock: batch.blockNumber,
    eventCount: 0,
    historyHead: ZERO32,
    updatedBlock: batch.blockNumber,
    batchId: batch.id,
  };
}

const ZERO32 = "0x" + "0".repeat(64);

export function createStoreReader(store: Store, deps: ReaderDeps): StoreReader {
  const state = () => store.state;

  const batchView = (b: BatchRecord): BatchView => {
    const m = state().manifests.get(keys.id(b.id));
    return { ...b, manifest: m && m.manifestHash === b.manifestHash ? m : pendingManifest(b) };
  };

  /** Whether any manifest rows are indexed: when none, a lookup skips the claims entirely. */
  const anyClaims = () => {
    for (const m of state().manifests.values()) if (m.indexed > 0) return true;
    return false;
  };

  /**
   * The chain's record (if any) joined with the claims of loaded manifests: a device known only
   * from a manifest, its batch's revocation, and an id claimed under two manufacturers.
   */
  function resolveDevice(
    d: DeviceRecord | undefined,
    claims: AnchoredLeafRecord[] | undefined,
  ): DeviceRecord | undefined {
    const batches = state().batches;
    const live = (claims ?? []).filter((c) => batches.has(keys.id(c.batchId)));
    let out = d;
    if (!out && live.length) out = anchoredDevice(live[0]!, batches.get(keys.id(live[0]!.batchId))!);
    if (!out) return undefined;
    const manufacturers = new Set([
      out.manufacturer,
      ...live.map((c) => batches.get(keys.id(c.batchId))!.manufacturer),
    ]);
    const batch = out.batchId ? batches.get(keys.id(out.batchId)) : undefined;
    if (manufacturers.size < 2 && !batch?.revocation) return out;
    return {
      ...out,
      ...(batch?.revocation && { batchRevoked: true }),
      ...(manufacturers.size > 1 && { duplicateIdentity: true }),
    };
  }

  async function claimsOf(idKeys: readonly string[]): Promise<(AnchoredLeafRecord[] | undefined)[]> {
    if (!anyClaims() || idKeys.length === 0) return new Array(idKeys.length).fill(undefined);
    return (await store.subs.mdev.getMany(idKeys as string[])) as (AnchoredLeafRecord[] | undefined)[];
  }

  async function device(id: string): Promise<DeviceRecord | undefined> {
    if (!BYTES32.test(id)) return undefined;
    const k = keys.id(id);
    const [d, [claims]] = await Promise.all([store.getRecord<DeviceRecord>("dev", k), claimsOf([k])]);
    return resolveDevice(d, claims);
  }

  /**
   * Up to `n` + 1 device ids after `afterId` that every constraint holds, in id order: a scan of
   * the smallest index, each batch of candidates checked against the other indexes with one
   * hasMany each. The scan ends at the page: it is bounded by the page and by the smallest index
   * of the filter, never the fleet.
   */
  async function matchingIds(cs: Constraint[], n: number, afterId: string | undefined): Promise<string[]> {
    const [driver, ...others] = [...cs].sort((a, b) => a.size - b.size) as [Constraint, ...Constraint[]];
    const { prefix } = driver;
    const it = driver.sub.keys({ ...(afterId ? { gt: prefix + afterId } : { gte: prefix }), lt: prefix + "~" });
    const out: string[] = [];
    try {
      while (out.length <= n) {
        const batch = (await it.nextv(others.length ? 256 : Math.min(1000, n + 1 - out.length))) as string[];
        if (batch.length === 0) break;
        let ids = batch.map((k) => k.slice(prefix.length));
        for (const o of others) {
          const held = await o.sub.hasMany(ids.map((id) => o.prefix + id));
          ids = ids.filter((_, i) => held[i]);
        }
        for (const id of ids) {
          out.push(id);
          if (out.length > n) break;
        }
      }
    } finally {
      await it.close();
    }
    return out;
  }

  return {
    getDevice: (id) => device(id),
    async getDevices(ids) {
      const valid: string[] = [];
      const at: number[] = [];
      ids.forEach((id, i) => {
        if (!BYTES32.test(id)) return;
        valid.push(keys.id(id));
        at.push(i);
      });
      const [found, claims] = await Promise.all([store.getRecords<DeviceRecord>("dev", valid), claimsOf(valid)]);
      const out = new Array<DeviceRecord | undefined>(ids.length);
      at.forEach((i, j) => (out[i] = resolveDevice(found[j], claims[j])));
      return out;
    },
    async listDevices(filter: DeviceFilter, first: number, after?: string | null): Promise<Page<DeviceRecord>> {
      const n = pageSize(first);
      const afterId = deviceCursor.decode(after);
      const manufacturer = filter.manufacturer?.toLowerCase();
      if (manufacturer !== undefined && !/^0x[0-9a-f]{40}$/.test(manufacturer))
        throw new RangeError(`manufacturer must be an address, got "${filter.manufacturer}"`);
      if (filter.status !== undefined && DEVICE_STATUS.indexOf(filter.status) < 1)
        throw new RangeError(`unknown status ${filter.status}`);
      const segment = filter.segment !== undefined ? norm(encodeShortName("segment", filter.segment)) : undefined;
      const kind =
        filter.attestationKind !== undefined
          ? norm(encodeShortName("attestation kind", filter.attestationKind))
          : undefined;
      // read before the first await, so the count and the records are of the same state
      const counts = state().counts;
      const count = (f: Parameters<typeof countDevices>[1]) => countDevices(counts, f);
      const totalCount = count({ manufacturer, status: filter.status, segment: filter.segment, kind });
      if (totalCount === 0) return page([], [], false, 0);

      const { subs } = store;
      const cs: Constraint[] = [];
      if (manufacturer) cs.push({ sub: subs.byMfr, prefix: keys.byMfr(manufacturer), size: count({ manufacturer }) });
      if (filter.status)
        cs.push({ sub: subs.byStatus, prefix: keys.byStatus(filter.status), size: count({ status: filter.status }) });
      if (segment)
        cs.push({ sub: subs.bySegment, prefix: keys.bySegment(segment), size: count({ segment: filter.segment }) });
      if (kind) cs.push({ sub: subs.byKind, prefix: keys.byKind(kind), size: count({ kind }) });

      // no filter: the devices themselves, in id order
      if (cs.length === 0) cs.push({ sub: subs.dev, prefix: "", size: totalCount });
      const ids = await matchingIds(cs, n, afterId);
      const hasNextPage = ids.length > n;
      const records = await store.getRecords<DeviceRecord>("dev", ids.slice(0, n));
      // a commit between the index scan and the reads may have changed a record: keep what still matches
      const items = records.filter(
        (d): d is DeviceRecord =>
          d !== undefined &&
          (!manufacturer || d.manufacturer.toLowerCase() === manufacturer) &&
          (!filter.status || d.status === filter.status) &&
          (!segment || d.segment === filter.segment),
      );
      return page(
        items,
        items.map((d) => deviceCursor.encode(keys.id(d.id))),
        hasNextPage,
        totalCount,
      );
    },
    async getAttestation(uid) {
      return BYTES32.test(uid) ? store.getRecord<AttestationRecord>("att", keys.id(uid)) : undefined;
    },
    async listAttestations(deviceId) {
      if (!BYTES32.test(deviceId)) return [];
      const uids = (await store.getRecord<string[]>("devAtt", keys.id(deviceId))) ?? [];
      const atts = await store.getRecords<AttestationRecord>(
        "att",
        uids.map((u) => keys.id(u)),
      );
      return atts.filter((a): a is AttestationRecord => a !== undefined);
    },
    async getHistory(deviceId, first, after): Promise<Page<HistoryEntryRecord>> {
      const n = pageSize(first);
      const afterSeq = historyCursor.decode(after);
      const id = norm(deviceId);
      if (!/^0x[0-9a-f]{64}$/.test(id)) return page([], [], false, 0);
      // a device's history count is its event count
      const totalCount = (await device(id))?.eventCount ?? 0;
      const rows = await store.subs.hist
        .iterator({
          gt: afterSeq === undefined ? keys.hist(id, 0) : keys.id(id) + afterSeq,
          lte: keys.hist(id, 0xffff_ffff),
          limit: n + 1,
        })
        .all();
      const items = rows.map(([k, v]) => withHistoryKey(v as HistoryEntryRecord, k));
      const hasNextPage = items.length > n;
      if (hasNextPage) items.length = n;
      return page(
        items,
        items.map((e) => historyCursor.encode(num(e.seq, 8))),
        hasNextPage,
        totalCount,
      );
    },
    async hasRole(role, account) {
      if (!/^0x[0-9a-fA-F]{64}$/.test(role) || !/^0x[0-9a-fA-F]{40}$/.test(account)) return false;
      return state().roles.has(keys.role(role, account));
    },
    async getBatch(id) {
      if (!BYTES32.test(id)) return undefined;
      const b = state().batches.get(keys.id(id));
      return b && batchView(b);
    },
    async listBatches(filter: BatchFilter, first, after) {
      const n = pageSize(first);
      const afterKey = batchCursor.decode(after);
      const manufacturer = filter.manufacturer?.toLowerCase();
      if (manufacturer !== undefined && !/^0x[0-9a-f]{40}$/.test(manufacturer))
        throw new RangeError(`manufacturer must be an address, got "${filter.manufacturer}"`);
      if (filter.manifestStatus !== undefined && !MANIFEST_STATUSES.includes(filter.manifestStatus))
        throw new RangeError(`unknown manifest status ${filter.manifestStatus}`);
      // batches are few (one per anchoring transaction) and held in memory: filter, sort, slice
      const all = [...state().batches.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, b]) => [k, batchView(b)] as const)
        .filter(
          ([, b]) =>
            (manufacturer === undefined || b.manufacturer.toLowerCase() === manufacturer) &&
            (filter.revoked === undefined || (b.revocation !== undefined) === filter.revoked) &&
            (filter.manifestStatus === undefined || b.manifest.status === filter.manifestStatus),
        );
      const from = afterKey === undefined ? all : all.filter(([k]) => k > afterKey);
      const items = from.slice(0, n);
      return page(
        items.map(([, b]) => b),
        items.map(([k]) => batchCursor.encode(k)),
        from.length > n,
        all.length,
      );
    },
    async getManifestLeaves(batchId) {
      if (!BYTES32.test(batchId)) return undefined;
      const b = state().batches.get(keys.id(batchId));
      if (!b || batchView(b).manifest.status !== "LOADED") return undefined;
      const prefix = keys.mleaf(batchId);
      return (await store.subs.mleaf.values({ gte: prefix, lt: prefix + "~" }).all()) as AnchoredLeafRecord[];
    },
    async getAnchoredClaims(deviceId) {
      if (!BYTES32.test(deviceId)) return [];
      const [claims] = await claimsOf([keys.id(deviceId)]);
      return (claims ?? []).filter((c) => state().batches.has(keys.id(c.batchId)));
    },
    manifestsDigest() {
      let acc = "";
      for (const k of [...state().manifests.keys()].sort()) {
        const m = state().manifests.get(k)!;
        if (m.status === "LOADED") acc += k + m.manifestHash.slice(2);
      }
      return keccak256("0x" + Buffer.from("dtl/manifests/v1").toString("hex") + acc);
    },
    status: () => deps.status(),
    storeStats: () => store.stats(),
    onChange: (listener) => deps.onChange(listener),
  };
}
