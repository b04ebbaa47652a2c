/**
 * The monitor's LevelDB (its own folder, `<data-dir>/monitor`): one sublevel per entity, JSON
 * values, keys built for range scans (STYLE 10, 11).
 *
 *   meta     "schema" → 1, "alertSeq" → the last alert's sequence number
 *   profile  <deviceId:66>        → DeviceProfile
 *   alert    <seq:12 hex>         → Alert (the evidence kept in full; its keccak256 is evidenceHash)
 *
 * Profiles live in memory while the monitor runs and are written back in batches (every
 * `flushMs`, on every alert, and on close), so a restart loses at most the last batch of learning
 * and never an alert: alerts and the profiles that raised them commit in one write.
 */
import { ClassicLevel } from "classic-level";
import type { DeviceProfile } from "./detectors";
import type { Alert } from "./engine";

const SCHEMA = 1;
const SEQ_WIDTH = 12;
const seqKey = (seq: number): string => {
  const k = seq.toString(16).padStart(SEQ_WIDTH, "0");
  if (k.length !== SEQ_WIDTH) throw new Error(`alert seq ${seq} does not fit ${SEQ_WIDTH} hex digits`);
  return k;
};

export interface MonitorStore {
  loadProfiles(): Promise<DeviceProfile[]>;
  lastAlertSeq(): Promise<number>;
  /** Alerts with seq > `afterSeq`, oldest first, at most `limit`. */
  alerts(afterSeq: number, limit: number): Promise<Alert[]>;
  write(profiles: Iterable<DeviceProfile>, alerts: readonly Alert[]): Promise<void>;
  close(): Promise<void>;
}

export async function openMonitorStore(dir: string): Promise<MonitorStore> {
  const db = new ClassicLevel<string, unknown>(dir, { valueEncoding: "json" });
  await db.open();
  const meta = db.sublevel<string, unknown>("meta", { valueEncoding: "json" });
  const profile = db.sublevel<string, DeviceProfile>("profile", { valueEncoding: "json" });
  const alert = db.sublevel<string, Alert>("alert", { valueEncoding: "json" });
  const schema = await meta.get("schema");
  if (schema === undefined) await meta.put("schema", SCHEMA);
  else if (schema !== SCHEMA) throw new Error(`monitor store ${dir} has schema ${String(schema)}, expected ${SCHEMA}`);
  return {
    loadProfiles: () => profile.values().all(),
    lastAlertSeq: async () => Number((await meta.get("alertSeq")) ?? 0),
    alerts: (afterSeq, limit) => alert.values({ gt: seqKey(afterSeq), limit }).all(),
    async write(profiles, alerts) {
      const batch = db.batch();
      for (const p of profiles) batch.put(p.id, p, { sublevel: profile });
      for (const a of alerts) batch.put(seqKey(a.seq), a, { sublevel: alert });
      const last = alerts.at(-1);
      if (last) batch.put("alertSeq", last.seq, { sublevel: meta });
      await batch.write();
    },
    close: () => db.close(),
  };
}
