/**
 * StoreReader over the mirror: point lookups and role checks from memory (O(1)), lists and
 * histories by LevelDB range scans over the indexes. Cursors are opaque base64url strings.
 */
import { encodeShortName } from "../../common/ids";
import { DEVICE_STATUS } from "../../common/codes";
import type {
  DeviceFilter,
  DeviceRecord,
  HistoryEntryRecord,
  IndexerStatusRecord,
  Page,
  StoreChange,
  StoreReader,
} from "../types";
import { InvalidCursorError } from "../errors";
import { decodeHistoryEntry, parseHistoryKey, type EncodedHistoryEntry } from "./codec";
import { deviceIdOfIndexKey, keys } from "./schema";
import type { Store } from "./store";

/** Largest page a reader serves (the API caps lower). */
export const MAX_PAGE = 10_000;

const enc = (s: string) => Buffer.from(s).toString("base64url");
const dec = (s: string) => Buffer.from(s, "base64url").toString();

function deviceCursor(after: string | null | undefined): string | undefined {
  if (!after) return undefined;
  const raw = dec(after);
  if (!/^d:[0-9a-f]{64}$/.test(raw)) throw new InvalidCursorError(`invalid device cursor "${after}"`);
  return raw.slice(2);
}

function historyCursor(after: string | null | undefined): number | undefined {
  if (!after) return undefined;
  const raw = dec(after);
  if (!/^h:\d{1,10}$/.test(raw)) throw new InvalidCursorError(`invalid history cursor "${after}"`);
  return Number(raw.slice(2));
}

const norm = (hex: string) => hex.toLowerCase();

function pageSize(first: number): number {
  if (!Number.isInteger(first) || first < 0) throw new RangeError(`first must be a non-negative integer, got ${first}`);
  return Math.min(first, MAX_PAGE);
}

export interface ReaderDeps {
  status(): IndexerStatusRecord;
  onChange(listener: (change: StoreChange) => void): () => void;
}

export function createStoreReader(store: Store, deps: ReaderDeps): StoreReader {
  const state = () => store.state;

  function hasUnrevokedKind(id: string, kindBytes32: string): boolean {
    for (const { uid } of state().deviceAttestations.get(id) ?? []) {
      const a = state().attestations.get(uid);
      if (a && a.kindBytes32 === kindBytes32 && !a.revoked) return true;
    }
    return false;
  }

  return {
    async getDevice(id) {
      return state().devices.get(norm(id));
    },
    async getDevices(ids) {
      const m = state().devices;
      return ids.map((id) => m.get(norm(id)));
    },
    async listDevices(filter: DeviceFilter, first: number, after?: string | null): Promise<Page<DeviceRecord>> {
      const n = pageSize(first);
      const afterId = deviceCursor(after);
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

      let prefix: string;
      let sub = store.subs.idx;
      if (manufacturer) prefix = keys.byManufacturer(manufacturer);
      else if (filter.status) prefix = keys.byStatus(filter.status);
      else if (segment) prefix = keys.bySegment(segment);
      else if (kind) prefix = keys.byKind(kind);
      else {
        prefix = "";
        sub = store.subs.dev;
      }
      const matches = (d: DeviceRecord) =>
        (!manufacturer || d.manufacturer.toLowerCase() === manufacturer) &&
        (!filter.status || d.status === filter.status) &&
        (!segment || d.segment === filter.segment) &&
        (!kind || hasUnrevokedKind(d.id, kind));

      const items: DeviceRecord[] = [];
      let hasNextPage = false;
      const it = sub.keys({ ...(afterId ? { gt: prefix + afterId } : { gte: prefix }), lt: prefix + "~" });
      try {
        outer: for (;;) {
          const batch = await it.nextv(Math.min(1000, n + 1));
          if (batch.length === 0) break;
          for (const k of batch) {
            const d = state().devices.get(sub === store.subs.dev ? "0x" + k : deviceIdOfIndexKey(k));
            if (!d || !matches(d)) continue;
            if (items.length === n) {
              hasNextPage = true;
              break outer;
            }
            items.push(d);
          }
        }
      } finally {
        await it.close();
      }
      const last = items[items.length - 1];
      return { items, endCursor: last ? enc("d:" + keys.id(last.id)) : null, hasNextPage };
    },
    async getAttestation(uid) {
      return state().attestations.get(norm(uid));
    },
    async listAttestations(deviceId) {
      const s = state();
      return (s.deviceAttestations.get(norm(deviceId)) ?? []).flatMap(({ uid }) => {
        const a = s.attestations.get(uid);
        return a ? [a] : [];
      });
    },
    async getHistory(deviceId, first, after): Promise<Page<HistoryEntryRecord>> {
      const n = pageSize(first);
      const afterSeq = historyCursor(after);
      const id = norm(deviceId);
      if (!/^0x[0-9a-f]{64}$/.test(id)) return { items: [], endCursor: null, hasNextPage: false };
      const rows = await store.subs.hist
        .iterator({ gt: keys.hist(id, afterSeq ?? 0), lte: keys.hist(id, 0xffff_ffff), limit: n + 1 })
        .all();
      const items = rows.map(([k, v]) => {
        const { seq } = parseHistoryKey(k);
        return decodeHistoryEntry(id, seq, v as EncodedHistoryEntry);
      });
      const hasNextPage = items.length > n;
      if (hasNextPage) items.length = n;
      const last = items[items.length - 1];
      return { items, endCursor: last ? enc("h:" + last.seq) : null, hasNextPage };
    },
    async hasRole(role, account) {
      if (!/^0x[0-9a-fA-F]{64}$/.test(role) || !/^0x[0-9a-fA-F]{40}$/.test(account)) return false;
      return state().roles.has(keys.role(role, account));
    },
    status: () => deps.status(),
    onChange: (listener) => deps.onChange(listener),
  };
}
