/**
 * The monitor (DESIGN §13): validates observations, keeps one behavioural profile per device,
 * runs the detectors (detectors.ts), turns findings into alerts and a risk score per device.
 *
 * Invariants:
 * - Nothing refused reaches a profile: an observation is checked whole (shape, known gateway, not
 *   in the future, not too old, its gateway under its rate limit) before any detector sees it.
 * - An alert is raised once per device (or source address) and kind within `alertCooldownMs`, and
 *   is committed to the store together with the profile that raised it before listeners hear of
 *   it; a restart reloads both, so replaying old observations does not raise them again.
 * - Time is the observation's `ts`, checked against `now()` (the simulator passes its own clock).
 */
import { id as keccakUtf8 } from "ethers";
import {
  DEFAULT_DETECTOR_PARAMS,
  detectClone,
  detectCredentialDevice,
  detectCredentialSource,
  detectDrift,
  detectFirmware,
  failedProof,
  newProfile,
  type DetectorParams,
  type DeviceProfile,
  type Signal,
  type SignalKind,
} from "./detectors";
import { ObservationError, parseObservation, type Observation } from "./observation";
import type { MonitorStore } from "./store";
import { createTokenBucket, type TokenBucket } from "./token-bucket";

export interface Alert {
  seq: number;
  kind: SignalKind;
  deviceId?: string;
  source?: string;
  gateway: string;
  at: number;
  /** The device's risk score right after this alert (0 for a source-only alert). */
  score: number;
  evidence: Record<string, unknown>;
  /** keccak256 of the canonical JSON of { kind, deviceId, source, gateway, at, evidence }. */
  evidenceHash: string;
}

export interface Refusal {
  index: number;
  code: ObservationError["code"] | "RATE_LIMITED";
  message: string;
}

export interface IngestResult {
  accepted: number;
  refused: Refusal[];
  alerts: Alert[];
}

export interface DeviceRisk {
  deviceId: string;
  score: number;
  signals: Signal[];
}

export interface MonitorOptions {
  params?: Partial<DetectorParams>;
  /** Refuse observations from gateways not in `params.sites` (default: when the site map is not empty). */
  requireKnownGateway?: boolean;
  /** The registered firmware hash of a device (the API's device record); undefined when unknown. */
  firmwareOf?: (deviceId: string) => string | undefined | Promise<string | undefined>;
  now?: () => number;
  /** Largest allowed `ts − now` (clock skew), ms. */
  maxFutureMs?: number;
  /** Largest allowed `now − ts`, ms. */
  maxAgeMs?: number;
  /** Per-gateway rate limit: sustained observations per second and burst. */
  gatewayRate?: { perSecond: number; burst: number };
  alertCooldownMs?: number;
  /** Half-life of a signal's weight in the score, by kind (Infinity: kept until cleared). */
  halfLifeMs?: Partial<Record<SignalKind, number>>;
  store?: MonitorStore;
  /** Wall-clock ms between profile write-backs (alerts are written at once). */
  flushMs?: number;
  /** Counts for /metrics (monitor/metrics.ts). */
  onCount?: (what: { observation?: Observation["type"]; refused?: Refusal["code"]; alert?: SignalKind }) => void;
}

export interface Monitor {
  /**
   * Validates and ingests a batch in order; refused items are reported by index. `atomic`: when
   * anything is refused (or the batch would exceed its gateway's rate) nothing is applied.
   */
  ingest(inputs: readonly unknown[], opts?: { atomic?: boolean }): Promise<IngestResult>;
  risk(deviceId: string, at?: number): DeviceRisk;
  /** Alerts after `afterSeq`, oldest first (from the store when there is one). */
  alerts(afterSeq?: number, limit?: number): Promise<Alert[]>;
  lastAlertSeq(): number;
  /** Adds a counter listener (monitor/metrics.ts) to the one given in the options. */
  countWith(listener: NonNullable<MonitorOptions["onCount"]>): void;
  /** Hears every new alert once it is committed. Returns the unsubscribe. */
  onAlert(listener: (a: Alert) => void): () => void;
  /** The device was dealt with (reinstated): its signals up to `at` no longer count, its sessions and failures are forgotten. */
  clear(deviceId: string, at: number): Promise<void>;
  profile(deviceId: string): DeviceProfile | undefined;
  devices(): number;
  flush(): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_HALF_LIFE: Record<SignalKind, number> = {
  clone: Infinity,
  firmware: Infinity,
  credential: 3_600_000,
  drift: 6 * 3_600_000,
};
const KEPT_SIGNALS = 20;

export async function createMonitor(opts: MonitorOptions = {}): Promise<Monitor> {
  const params: DetectorParams = { ...DEFAULT_DETECTOR_PARAMS, ...opts.params };
  const requireKnown = opts.requireKnownGateway ?? Object.keys(params.sites).length > 0;
  const now = opts.now ?? Date.now;
  const maxFutureMs = opts.maxFutureMs ?? 30_000;
  const maxAgeMs = opts.maxAgeMs ?? 3_600_000;
  const cooldown = opts.alertCooldownMs ?? 3_600_000;
  const halfLife = { ...DEFAULT_HALF_LIFE, ...opts.halfLifeMs };
  const rate = opts.gatewayRate ?? { perSecond: 2_000, burst: 20_000 };
  const flushMs = opts.flushMs ?? 5_000;
  const counters = opts.onCount ? [opts.onCount] : [];
  const count: NonNullable<MonitorOptions["onCount"]> = (what) => {
    for (const c of counters) c(what);
  };
  const store = opts.store;

  const profiles = new Map<string, DeviceProfile>();
  for (const p of (await store?.loadProfiles()) ?? []) profiles.set(p.id, p);
  let seq = (await store?.lastAlertSeq()) ?? 0;
  const dirty = new Set<DeviceProfile>();
  const sources = new Map<string, { at: number; deviceId?: string }[]>();
  const sourceAlerted = new Map<string, number>();
  const buckets = new Map<string, TokenBucket>();
  const listeners = new Set<(a: Alert) => void>();
  const recent: Alert[] = [];
  let lastFlush = Date.now();

  const profileOf = (id: string): DeviceProfile => {
    let p = profiles.get(id);
    if (!p) profiles.set(id, (p = newProfile(id)));
    return p;
  };

  const check = (o: Observation, t: number): void => {
    if (requireKnown && params.sites[o.gateway] === undefined)
      throw new ObservationError("UNKNOWN_GATEWAY", `gateway: "${o.gateway}" is not in the monitor's site map`);
    if (o.ts - t > maxFutureMs)
      throw new ObservationError(
        "OBSERVATION_IN_FUTURE",
        `ts: ${new Date(o.ts).toISOString()} is ${o.ts - t} ms ahead of the monitor's clock (at most ${maxFutureMs})`,
      );
    if (t - o.ts > maxAgeMs)
      throw new ObservationError(
        "OBSERVATION_TOO_OLD",
        `ts: ${new Date(o.ts).toISOString()} is ${t - o.ts} ms old (at most ${maxAgeMs})`,
      );
  };

  const score = (p: DeviceProfile, at: number): number => {
    let keep = 1;
    for (const s of p.signals) {
      if (p.clearedAt !== undefined && s.at <= p.clearedAt) continue;
      const h = halfLife[s.kind];
      const w = s.weight * (Number.isFinite(h) ? Math.pow(0.5, Math.max(0, at - s.at) / h) : 1);
      keep *= 1 - w;
    }
    return 1 - keep;
  };

  /** Profiles that took a signal since the last write: written with the alerts, at once. */
  const signalled = new Set<DeviceProfile>();
  const record = (p: DeviceProfile, s: Signal): void => {
    p.signals.push(s);
    if (p.signals.length > KEPT_SIGNALS) p.signals.splice(0, p.signals.length - KEPT_SIGNALS);
    signalled.add(p);
  };

  const makeAlert = (s: Signal, sc: number): Alert => {
    const body = {
      kind: s.kind,
      ...(s.deviceId !== undefined && { deviceId: s.deviceId }),
      ...(s.source !== undefined && { source: s.source }),
      gateway: s.gateway,
      at: s.at,
      evidence: s.evidence,
    };
    return { seq: ++seq, ...body, score: Math.round(sc * 1000) / 1000, evidenceHash: keccakUtf8(JSON.stringify(body)) };
  };

  /** A device signal: an alert unless one of its kind was raised within the cool-down. */
  const raise = (p: DeviceProfile, s: Signal, out: Alert[]): void => {
    const last = p.lastAlert[s.kind];
    if (last !== undefined && s.at - last < cooldown && (p.clearedAt === undefined || last > p.clearedAt)) return;
    p.lastAlert[s.kind] = s.at;
    record(p, s);
    out.push(makeAlert(s, score(p, s.at)));
    count({ alert: s.kind });
  };

  const apply = async (o: Observation, out: Alert[]): Promise<void> => {
    count({ observation: o.type });
    const f = failedProof(o);
    if (f?.remote !== undefined) {
      let w = sources.get(f.remote);
      if (!w) sources.set(f.remote, (w = []));
      for (const s of detectCredentialSource(params, w, o, f.remote)) {
        const last = sourceAlerted.get(f.remote);
        if (last !== undefined && s.at - last < cooldown) continue;
        sourceAlerted.set(f.remote, s.at);
        out.push(makeAlert(s, 0));
        count({ alert: s.kind });
        for (const d of (s.evidence.devices as string[]) ?? []) record(profileOf(d), { ...s, deviceId: d });
      }
      if (w.length === 0) sources.delete(f.remote);
    }
    const deviceId = "deviceId" in o ? o.deviceId : undefined;
    // acl observations name a clientId, not a checked device id
    if (deviceId === undefined || o.type === "acl") return;
    const p = profileOf(deviceId);
    dirty.add(p);
    const registered = o.type === "firmware" ? await opts.firmwareOf?.(deviceId) : undefined;
    for (const s of [
      ...detectClone(params, p, o),
      ...detectCredentialDevice(params, p, o),
      ...detectDrift(params, p, o),
      ...detectFirmware(p, o, registered),
    ])
      raise(p, s, out);
  };

  /** Writes the alerts and the profiles they concern; every other changed profile too when `all`. */
  const flush = async (alerts: readonly Alert[], all: boolean): Promise<void> => {
    if (all) lastFlush = Date.now();
    if (!store) return;
    const batch = all ? new Set([...dirty, ...signalled]) : signalled;
    if (all) dirty.clear();
    const profilesOut = [...batch];
    signalled.clear();
    for (const p of profilesOut) dirty.delete(p);
    // profiles are live objects: the JSON encoding snapshots them inside write()
    await store.write(profilesOut, alerts);
  };

  return {
    async ingest(inputs, ingestOpts = {}) {
      const t = now();
      const refused: Refusal[] = [];
      const alerts: Alert[] = [];
      const ok: Observation[] = [];
      const refuse = (index: number, code: Refusal["code"], message: string): void => {
        refused.push({ index, code, message });
        count({ refused: code });
      };
      const checked: [number, Observation][] = [];
      for (let i = 0; i < inputs.length; i++) {
        try {
          const o = parseObservation(inputs[i]);
          check(o, t);
          checked.push([i, o]);
        } catch (err) {
          if (!(err instanceof ObservationError)) throw err;
          refuse(i, err.code, err.message);
        }
      }
      const bucketOf = (gateway: string): TokenBucket => {
        let b = buckets.get(gateway);
        if (!b) buckets.set(gateway, (b = createTokenBucket(rate.burst, rate.perSecond)));
        return b;
      };
      const limited = (gateway: string) =>
        `gateway "${gateway}" sent more than ${rate.perSecond} observations/s (burst ${rate.burst})`;
      if (ingestOpts.atomic) {
        // all or nothing: nothing is applied (or counted against a rate) when anything is refused
        if (refused.length) return { accepted: 0, refused, alerts };
        const perGateway = new Map<string, number>();
        for (const [, o] of checked) perGateway.set(o.gateway, (perGateway.get(o.gateway) ?? 0) + 1);
        for (const [gw, n] of perGateway)
          if (!bucketOf(gw).take(t, n))
            refuse(checked.find(([, o]) => o.gateway === gw)![0], "RATE_LIMITED", limited(gw));
        if (refused.length) return { accepted: 0, refused, alerts };
        ok.push(...checked.map(([, o]) => o));
      } else {
        for (const [i, o] of checked)
          if (bucketOf(o.gateway).take(t)) ok.push(o);
          else refuse(i, "RATE_LIMITED", limited(o.gateway));
      }
      for (const o of ok) await apply(o, alerts);
      const due = Date.now() - lastFlush >= flushMs;
      if (alerts.length || due || signalled.size) await flush(alerts, due);
      for (const a of alerts) {
        recent.push(a);
        for (const l of listeners) l(a);
      }
      if (recent.length > 1000) recent.splice(0, recent.length - 1000);
      refused.sort((x, y) => x.index - y.index);
      return { accepted: ok.length, refused, alerts };
    },
    risk(deviceId, at = now()) {
      const p = profiles.get(deviceId.toLowerCase());
      if (!p) return { deviceId, score: 0, signals: [] };
      const signals = p.signals.filter((s) => p.clearedAt === undefined || s.at > p.clearedAt);
      return { deviceId, score: score(p, at), signals };
    },
    async alerts(afterSeq = 0, limit = 100) {
      if (store) return store.alerts(afterSeq, limit);
      return recent.filter((a) => a.seq > afterSeq).slice(0, limit);
    },
    lastAlertSeq: () => seq,
    countWith: (l) => void counters.push(l),
    onAlert(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async clear(deviceId, at) {
      const p = profileOf(deviceId.toLowerCase());
      p.clearedAt = at;
      // the officer dealt with it: where it was and what failed before starts over too
      p.driftStreak = 0;
      p.sessions = {};
      delete p.last;
      p.failedProofs = [];
      signalled.add(p);
      await flush([], false);
    },
    profile: (id) => profiles.get(id.toLowerCase()),
    devices: () => profiles.size,
    flush: () => flush([], true),
    async close() {
      await flush([], true);
      await store?.close();
    },
  };
}
