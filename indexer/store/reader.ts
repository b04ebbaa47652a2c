/**
 * StoreReader over the mirror: point lookups and role checks from memory (O(1)), lists and
 * histories by LevelDB range scans over the indexes; counts from the memory state's tallies.
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
import { countDevices } from "./counts";
import { deviceIdOfIndexKey, keys, num } from "./schema";
import { unrevokedKinds } from "./state";
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

export function createStoreReader(store: Store, deps: ReaderDeps): StoreReader {
  const state = () => store.state;

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
        (!kind || unrevokedKinds(state(), d.id).includes(kind));
      // read before the first await, so the count and the records are of the same state
      const totalCount = countDevices(state().counts, {
        manufacturer,
        status: filter.status,
        segment: filter.segment,
        kind,
      });

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
      return page(
        items,
        items.map((d) => deviceCursor.encode(keys.id(d.id))),
        hasNextPage,
        totalCount,
      );
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
      const afterSeq = historyCursor.decode(after);
      const id = norm(deviceId);
      if (!/^0x[0-9a-f]{64}$/.test(id)) return page([], [], false, 0);
      // a device's history count is its event count
      const totalCount = state().devices.get(id)?.eventCount ?? 0;
      const rows = await store.subs.hist
        .iterator({
          gt: afterSeq === undefined ? keys.hist(id, 0) : keys.id(id) + afterSeq,
          lte: keys.hist(id, 0xffff_ffff),
          limit: n + 1,
        })
        .all();
      const items = rows.map(([k, v]) => {
        const { seq } = parseHistoryKey(k);
        return decodeHistoryEntry(id, seq, v as EncodedHistoryEntry);
      });
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
    status: () => deps.status(),
    onChange: (listener) => deps.onChange(listener),
  };
}
