/**
 * Device counts for `totalCount`, kept as the state changes instead of counted by a scan.
 *
 * Devices are tallied by the tuple of their filterable attributes (manufacturer, status,
 * segment), and per tuple by each attestation kind they hold unrevoked. A count for any
 * DeviceFilter is then a sum over the tallies whose tuple matches: O(T) for T distinct tuples
 * (manufacturers × 3 statuses × segments — tens to hundreds, however many devices there are),
 * never O(devices).
 *
 * Invariant: the tallies equal a count over the memory state's devices. {@link foldWrites} keeps
 * it by taking each touched device's contribution out before the writes and adding it back
 * after, so commits and reorg rollbacks alike move the counts exactly; {@link loadState} rebuilds
 * them at open. A tally is a small record keyed by its tuple, so a later store (LevelDB + bounded
 * cache) can persist the changed tallies in the same batch instead of rebuilding them at open.
 */
import type { DeviceRecord } from "../types";

export interface DeviceTally {
  /** Lowercase 0x address. */
  manufacturer: string;
  status: DeviceRecord["status"];
  /** Decoded short name, as DeviceRecord.segment. */
  segment: string;
  devices: number;
  /** kindBytes32 (lowercase) → devices of this tuple holding ≥ 1 unrevoked attestation of it. */
  kinds: Map<string, number>;
}

/** Tuple key (JSON of [manufacturer, status, segment]) → tally. */
export type DeviceCounts = Map<string, DeviceTally>;

/** What one device adds to the counts. */
export interface Contribution {
  manufacturer: string;
  status: DeviceRecord["status"];
  segment: string;
  kinds: ReadonlySet<string>;
}

/** A filter in the stores' normal form (lowercase manufacturer and kindBytes32). */
export interface CountFilter {
  manufacturer?: string;
  status?: DeviceRecord["status"];
  segment?: string;
  kind?: string;
}

export function contribution(d: DeviceRecord, unrevokedKinds: ReadonlySet<string>): Contribution {
  return { manufacturer: d.manufacturer.toLowerCase(), status: d.status, segment: d.segment, kinds: unrevokedKinds };
}

/** Adds (sign 1) or removes (sign -1) one device's contribution; empty tallies are dropped. */
export function tally(counts: DeviceCounts, c: Contribution, sign: 1 | -1): void {
  const key = JSON.stringify([c.manufacturer, c.status, c.segment]);
  let t = counts.get(key);
  if (!t) {
    t = { manufacturer: c.manufacturer, status: c.status, segment: c.segment, devices: 0, kinds: new Map() };
    counts.set(key, t);
  }
  t.devices += sign;
  for (const k of c.kinds) {
    const n = (t.kinds.get(k) ?? 0) + sign;
    if (n === 0) t.kinds.delete(k);
    else t.kinds.set(k, n);
  }
  if (t.devices === 0) counts.delete(key);
  else if (t.devices < 0) throw new Error(`internal: device count below zero for ${key}`);
}

/** Devices matching `f`: a sum over the tallies, O(distinct tuples). */
export function countDevices(counts: DeviceCounts, f: CountFilter): number {
  let n = 0;
  for (const t of counts.values()) {
    if (f.manufacturer !== undefined && t.manufacturer !== f.manufacturer) continue;
    if (f.status !== undefined && t.status !== f.status) continue;
    if (f.segment !== undefined && t.segment !== f.segment) continue;
    n += f.kind === undefined ? t.devices : (t.kinds.get(f.kind) ?? 0);
  }
  return n;
}
