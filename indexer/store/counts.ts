/**
 * Device counts for `totalCount`, kept as the state changes instead of counted by a scan.
 *
 * Devices are tallied by the tuple of their filterable attributes (manufacturer, status,
 * segment), and per tuple by each attestation kind they hold unrevoked and by key algorithm (for
 * the console's overview: `deviceTallies`). A count for any
 * DeviceFilter is then a sum over the tallies whose tuple matches: O(T) for T distinct tuples
 * (manufacturers × 3 statuses × segments — tens to hundreds, however many devices there are),
 * never O(devices).
 *
 * Invariant: the tallies equal a count over the store's devices. The apply step keeps it by
 * taking a device out of the counts just before each event that can change its contribution
 * (status, attestations) and putting it back just after; the tallies are written to
 * `meta/counts` in the same batch as the writes that changed them (and, inside the reorg window,
 * with undo data like any other key), so a rollback restores them and the store opens without
 * counting anything.
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
  /** Key algorithm code → devices of this tuple whose current key is of it (they sum to `devices`). */
  algorithms: Map<number, number>;
}

/** Adds `sign` to `map[key]`, dropping the entry at zero. */
function bump<K>(map: Map<K, number>, key: K, sign: number): void {
  const n = (map.get(key) ?? 0) + sign;
  if (n === 0) map.delete(key);
  else map.set(key, n);
}

/**
 * Tallies by manufacturer (as the records spell it), status and segment. Nested maps keyed by the
 * records' own strings: a lookup builds no key and hashes no new string.
 */
export type DeviceCounts = Map<string, Map<string, Map<string, DeviceTally>>>;

/** A filter in the stores' normal form (lowercase manufacturer and kindBytes32). */
export interface CountFilter {
  manufacturer?: string;
  status?: DeviceRecord["status"];
  segment?: string;
  kind?: string;
}

/** Adds (sign 1) or removes (sign -1) one device, holding `kinds` unrevoked; empty tallies are dropped. */
export function tally(counts: DeviceCounts, d: DeviceRecord, kinds: readonly string[], sign: 1 | -1): void {
  let byStatus = counts.get(d.manufacturer);
  if (!byStatus) counts.set(d.manufacturer, (byStatus = new Map()));
  let bySegment = byStatus.get(d.status);
  if (!bySegment) byStatus.set(d.status, (bySegment = new Map()));
  let t = bySegment.get(d.segment);
  if (!t) {
    t = {
      manufacturer: d.manufacturer.toLowerCase(),
      status: d.status,
      segment: d.segment,
      devices: 0,
      kinds: new Map(),
      algorithms: new Map(),
    };
    bySegment.set(d.segment, t);
  }
  t.devices += sign;
  for (const k of kinds) bump(t.kinds, k, sign);
  bump(t.algorithms, d.keyAlgorithm, sign);
  if (t.devices < 0)
    throw new Error(`internal: device count below zero for ${JSON.stringify([d.manufacturer, d.status, d.segment])}`);
  if (t.devices > 0) return;
  bySegment.delete(d.segment);
  if (bySegment.size === 0) byStatus.delete(d.status);
  if (byStatus.size === 0) counts.delete(d.manufacturer);
}

/**
 * A key rotation of a counted device (`d` as it was): its tuple stays, its algorithm moves. A
 * rotation leaves status and attestations alone, so the apply step does not take the device out.
 */
export function tallyKeyRotation(counts: DeviceCounts, d: DeviceRecord, keyAlgorithm: number): void {
  const t = counts.get(d.manufacturer)?.get(d.status)?.get(d.segment);
  if (!t) throw new Error(`internal: no tally for ${JSON.stringify([d.manufacturer, d.status, d.segment])}`);
  bump(t.algorithms, d.keyAlgorithm, -1);
  bump(t.algorithms, keyAlgorithm, 1);
}

/** Every tally (for a count, or to persist them). */
export function* tallies(counts: DeviceCounts): Generator<DeviceTally> {
  for (const byStatus of counts.values()) for (const bySegment of byStatus.values()) yield* bySegment.values();
}

/** Devices matching `f`: a sum over the tallies, O(distinct tuples). */
export function countDevices(counts: DeviceCounts, f: CountFilter): number {
  let n = 0;
  for (const t of tallies(counts)) {
    if (f.manufacturer !== undefined && t.manufacturer !== f.manufacturer) continue;
    if (f.status !== undefined && t.status !== f.status) continue;
    if (f.segment !== undefined && t.segment !== f.segment) continue;
    n += f.kind === undefined ? t.devices : (t.kinds.get(f.kind) ?? 0);
  }
  return n;
}

/**
 * A tally as `meta/counts` stores it: [manufacturer as the records spell it, status, segment,
 * devices, [kind, n][], [key algorithm, n][]].
 */
export type StoredTally = [string, DeviceRecord["status"], string, number, [string, number][], [number, number][]];

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The tallies as stored in `meta/counts`: a fresh array (a snapshot, later changes do not touch
 * it) in a canonical order, so equal tallies are equal bytes whatever history made them.
 */
export function storedCounts(counts: DeviceCounts): StoredTally[] {
  const out: StoredTally[] = [];
  for (const [manufacturer, byStatus] of counts)
    for (const [status, bySegment] of byStatus)
      for (const [segment, t] of bySegment)
        out.push([
          manufacturer,
          status as DeviceRecord["status"],
          segment,
          t.devices,
          [...t.kinds].sort((a, b) => byText(a[0], b[0])),
          [...t.algorithms].sort((a, b) => a[0] - b[0]),
        ]);
  return out.sort((a, b) => byText(a[0], b[0]) || byText(a[1], b[1]) || byText(a[2], b[2]));
}

/** The tallies of a `meta/counts` value (undefined: none yet). */
export function loadCounts(stored: readonly StoredTally[] | undefined): DeviceCounts {
  const counts: DeviceCounts = new Map();
  for (const [manufacturer, status, segment, devices, kinds, algorithms] of stored ?? []) {
    let byStatus = counts.get(manufacturer);
    if (!byStatus) counts.set(manufacturer, (byStatus = new Map()));
    let bySegment = byStatus.get(status);
    if (!bySegment) byStatus.set(status, (bySegment = new Map()));
    bySegment.set(segment, {
      manufacturer: manufacturer.toLowerCase(),
      status,
      segment,
      devices,
      kinds: new Map(kinds),
      algorithms: new Map(algorithms),
    });
  }
  return counts;
}

/** A deep copy (the apply step changes a copy; the store swaps it in after the commit). */
export const cloneCounts = (counts: DeviceCounts): DeviceCounts => loadCounts(storedCounts(counts));
