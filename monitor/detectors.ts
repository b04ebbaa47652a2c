/**
 * The four detectors (DESIGN §13; docs/monitoring.md gives each one's model, parameters, blind
 * spots and measured precision/recall). Each is a function of one device's profile (or one source
 * address's failure window) and one validated observation; it updates the profile and returns the
 * signals it raises. None sees anything but observations: the simulator's labels never get here.
 */
import type { Observation } from "./observation";
import { FAILED_PROOF_REASONS } from "./observation";

export const SIGNAL_KINDS = ["clone", "credential", "drift", "firmware"] as const;
export type SignalKind = (typeof SIGNAL_KINDS)[number];

/** A detector's finding: what it saw (evidence is plain JSON, hashed into the alert). */
export interface Signal {
  kind: SignalKind;
  at: number;
  deviceId?: string;
  source?: string;
  gateway: string;
  /** How much this finding alone should weigh in the risk score, 0..1. */
  weight: number;
  evidence: Record<string, unknown>;
}

export interface DetectorParams {
  /** gateway id → site; sessions at gateways of one site may overlap during a hand-over. */
  sites: Record<string, string>;
  /** Least time between activity at two different sites (impossible travel below it). */
  minTravelMs: number;
  /** How long sessions at two gateways of one site may overlap (old session's keep-alive timeout). */
  handoverGraceMs: number;
  /** Slack on the old session's last message after the new session started. */
  overlapSlackMs: number;
  /** Failed proofs per device within `credentialWindowMs` that make an attack. */
  credentialPerDevice: number;
  /** Failed proofs from one source address within the window that make an attack. */
  credentialPerSource: number;
  credentialWindowMs: number;
  /** Traffic intervals a device must have shown before drift is judged. */
  warmupIntervals: number;
  /** EWMA weight of the newest interval in the smoothed rate (messages per minute). */
  alpha: number;
  /** Bins on either side of a learned bin that still count as in profile (a bin is ×√2). */
  binSlack: number;
  /** Active hours: an hour (±1) whose learned smoothed rate never passed this is a silent hour … */
  silentRate: number;
  /** … and a smoothed rate of at least this much in it is out of profile. */
  silentBreak: number;
  hourWarmup: number;
  /** Consecutive out-of-profile intervals that make a drift finding. */
  driftSustain: number;
  /** Intervals with a never-seen topic within `topicWindowMs` that make a topic-drift finding. */
  newTopicIntervals: number;
  topicWindowMs: number;
}

export const DEFAULT_DETECTOR_PARAMS: DetectorParams = {
  sites: {},
  minTravelMs: 30 * 60_000,
  handoverGraceMs: 100_000,
  overlapSlackMs: 2_000,
  credentialPerDevice: 3,
  credentialPerSource: 10,
  credentialWindowMs: 60_000,
  warmupIntervals: 1_380,
  alpha: 0.3,
  binSlack: 1,
  silentRate: 0.35,
  silentBreak: 1,
  hourWarmup: 50,
  driftSustain: 3,
  newTopicIntervals: 3,
  topicWindowMs: 30 * 60_000,
};

/** Bins of a log-scale histogram: bin(x) = round(2·log2(1 + x)), so one bin is a factor of about √2. */
export const BINS = 64;
export const binOf = (x: number): number => Math.min(BINS - 1, Math.round(2 * Math.log2(1 + x)));

/** Everything the monitor keeps about one device (persisted as JSON in the profile sublevel). */
export interface DeviceProfile {
  id: string;
  /** Open sessions by gateway and when each started. */
  sessions: Record<string, { start: number }>;
  /** Where and when the device was last active (session start/end, traffic). */
  last?: { gateway: string; site: string; at: number };
  failedProofs: number[];
  intervals: number;
  /** Smoothed message rate (EWMA, messages per minute). */
  rate: number;
  /** Learned histograms: smoothed rate and bytes per message (log bins), and the top smoothed rate per UTC hour. */
  rateBins: number[];
  sizeBins: number[];
  hourMax: number[];
  /** In-profile intervals seen per UTC hour (an hour is judged once it and its neighbours have `hourWarmup`). */
  hourN: number[];
  topics: string[];
  /** Never-seen topics → times of the intervals that used them (within topicWindowMs). */
  newTopics: Record<string, number[]>;
  driftStreak: number;
  firmware?: string;
  signals: Signal[];
  /** Time of the last alert per kind (alerts are not repeated within the cool-down). */
  lastAlert: Partial<Record<SignalKind, number>>;
  /** Signals at or before this time were dealt with (the device was reinstated). */
  clearedAt?: number;
}

export function newProfile(id: string): DeviceProfile {
  return {
    id,
    sessions: {},
    failedProofs: [],
    intervals: 0,
    rate: 0,
    rateBins: new Array<number>(BINS).fill(0),
    sizeBins: new Array<number>(BINS).fill(0),
    hourMax: new Array<number>(24).fill(0),
    hourN: new Array<number>(24).fill(0),
    topics: [],
    newTopics: {},
    driftStreak: 0,
    signals: [],
    lastAlert: {},
  };
}

const siteOf = (p: DetectorParams, gateway: string): string => p.sites[gateway] ?? gateway;

/** Clone: one device at two gateways at once, or at two sites faster than allowed. */
export function detectClone(p: DetectorParams, d: DeviceProfile, o: Observation): Signal[] {
  const out: Signal[] = [];
  if (o.type === "session" && o.event === "start") {
    const site = siteOf(p, o.gateway);
    for (const [gw, s] of Object.entries(d.sessions)) {
      if (gw === o.gateway) continue;
      if (siteOf(p, gw) !== site)
        out.push(
          cloneSignal(o, d.id, "concurrent sessions at two sites", { gateways: [gw, o.gateway], since: s.start }),
        );
    }
    const open = Object.keys(d.sessions).filter((g) => g !== o.gateway);
    if (open.length === 0 && d.last && d.last.site !== site && o.ts - d.last.at < p.minTravelMs)
      out.push(
        cloneSignal(o, d.id, "impossible travel", {
          from: d.last,
          to: { gateway: o.gateway, site, at: o.ts },
          minTravelMs: p.minTravelMs,
        }),
      );
    d.sessions[o.gateway] = { start: o.ts };
    d.last = { gateway: o.gateway, site, at: o.ts };
  } else if (o.type === "session" && o.event === "end") {
    delete d.sessions[o.gateway];
    d.last = { gateway: o.gateway, site: siteOf(p, o.gateway), at: o.ts };
  } else if (o.type === "traffic" && o.messages > 0) {
    d.last = { gateway: o.gateway, site: siteOf(p, o.gateway), at: o.ts };
    // one site, two gateways: a hand-over may overlap until the old session times out, but the
    // older session carrying messages in an interval that began after the newer one started is
    // two devices at once
    const mine = d.sessions[o.gateway];
    const intervalStart = o.ts - o.intervalMs;
    if (mine)
      for (const [gw, s] of Object.entries(d.sessions))
        if (gw !== o.gateway && s.start < intervalStart - p.overlapSlackMs && s.start > mine.start)
          out.push(
            cloneSignal(o, d.id, "two sessions carrying messages at once", {
              gateways: [o.gateway, gw],
              olderStart: mine.start,
              newerStart: s.start,
              intervalStart,
            }),
          );
  }
  // an overlap within one site that outlived the hand-over grace
  if (o.type !== "session" || o.event !== "end") {
    const entries = Object.entries(d.sessions);
    if (entries.length > 1) {
      const starts = entries.map(([, s]) => s.start).sort((a, b) => a - b);
      const overlapSince = starts[1]!;
      if (o.ts - overlapSince > p.handoverGraceMs)
        out.push(
          cloneSignal(o, d.id, "sessions at two gateways outlived the hand-over grace", {
            gateways: entries.map(([g]) => g),
            overlapSince,
            handoverGraceMs: p.handoverGraceMs,
          }),
        );
    }
  }
  return out.slice(0, 1);
}

function cloneSignal(o: Observation, deviceId: string, why: string, evidence: Record<string, unknown>): Signal {
  return { kind: "clone", at: o.ts, deviceId, gateway: o.gateway, weight: 0.9, evidence: { why, ...evidence } };
}

/** Is this observation a failed proof, and by whom? */
export function failedProof(o: Observation): { deviceId?: string; remote?: string; reason: string } | undefined {
  if (o.type === "proof") return { deviceId: o.deviceId, remote: o.remote, reason: o.reason };
  if (o.type === "decision" && o.outcome === "refused") {
    const reason = o.reasons.find((r) => FAILED_PROOF_REASONS.has(r));
    if (reason) return { deviceId: o.deviceId, remote: o.remote, reason };
  }
  return undefined;
}

/** Keeps `times` to the window ending at `now`; returns how many remain. */
export function slide(times: number[], now: number, windowMs: number): number {
  let drop = 0;
  while (drop < times.length && times[drop]! <= now - windowMs) drop++;
  if (drop) times.splice(0, drop);
  return times.length;
}

/** Credential attack against one device: a burst of failed proofs. */
export function detectCredentialDevice(p: DetectorParams, d: DeviceProfile, o: Observation): Signal[] {
  const f = failedProof(o);
  if (!f) return [];
  d.failedProofs.push(o.ts);
  const n = slide(d.failedProofs, o.ts, p.credentialWindowMs);
  if (n < p.credentialPerDevice) return [];
  return [
    {
      kind: "credential",
      at: o.ts,
      deviceId: d.id,
      gateway: o.gateway,
      weight: 0.6,
      evidence: {
        why: "burst of failed proofs for the device",
        failures: n,
        windowMs: p.credentialWindowMs,
        reason: f.reason,
      },
    },
  ];
}

/** Credential stuffing from one source address (any devices): the window keeps who was tried. */
export function detectCredentialSource(
  p: DetectorParams,
  window: { at: number; deviceId?: string }[],
  o: Observation,
  remote: string,
): Signal[] {
  window.push({ at: o.ts, ...(failedProof(o)?.deviceId !== undefined && { deviceId: failedProof(o)!.deviceId }) });
  let drop = 0;
  while (drop < window.length && window[drop]!.at <= o.ts - p.credentialWindowMs) drop++;
  if (drop) window.splice(0, drop);
  if (window.length < p.credentialPerSource) return [];
  const devices = [...new Set(window.map((w) => w.deviceId).filter((x): x is string => x !== undefined))];
  return [
    {
      kind: "credential",
      at: o.ts,
      source: remote,
      gateway: o.gateway,
      weight: 0.6,
      evidence: {
        why: "burst of failed proofs from one source address",
        failures: window.length,
        windowMs: p.credentialWindowMs,
        devices: devices.slice(0, 50),
      },
    },
  ];
}

const seen = (bins: readonly number[], b: number, slack: number): boolean => {
  for (let k = Math.max(0, b - slack); k <= Math.min(BINS - 1, b + slack); k++) if (bins[k]! > 0) return true;
  return false;
};

/**
 * Drift: the device's smoothed message rate, its bytes per message and its topics against the
 * learned profile — log-scale histograms (a density model: cameras are bimodal, a mean and a
 * deviation are not), and per UTC hour the top rate seen (active hours). The warm-up learns
 * everything; after it, an in-profile interval only adds to bins already learned, so a drifting
 * attacker cannot widen the profile step by step.
 */
export function detectDrift(p: DetectorParams, d: DeviceProfile, o: Observation): Signal[] {
  if (o.type !== "traffic") return [];
  const perMin = (o.messages * 60_000) / o.intervalMs;
  d.rate = d.intervals === 0 ? perMin : d.rate + p.alpha * (perMin - d.rate);
  const hour = new Date(o.ts).getUTCHours();
  const size = o.messages > 0 ? o.bytes / o.messages : undefined;
  const rb = binOf(d.rate);
  const sb = size === undefined ? undefined : binOf(size);
  const warm = d.intervals >= p.warmupIntervals;
  const out: Signal[] = [];
  const why: string[] = [];
  if (warm) {
    if (!seen(d.rateBins, rb, p.binSlack)) why.push("rate");
    if (sb !== undefined && !seen(d.sizeBins, sb, p.binSlack)) why.push("size");
    const near = [(hour + 23) % 24, hour, (hour + 1) % 24];
    const around = Math.max(...near.map((h) => d.hourMax[h]!));
    const known = near.every((h) => d.hourN[h]! >= p.hourWarmup);
    if (known && around <= p.silentRate && d.rate >= p.silentBreak) why.push("activity in a silent hour");
    for (const t of o.topics) {
      if (d.topics.includes(t)) continue;
      const times = (d.newTopics[t] ??= []);
      times.push(o.ts);
      slide(times, o.ts, p.topicWindowMs);
      if (times.length >= p.newTopicIntervals)
        out.push({
          kind: "drift",
          at: o.ts,
          deviceId: d.id,
          gateway: o.gateway,
          weight: 0.5,
          evidence: {
            why: "topic never seen in the profile",
            topic: t,
            intervals: times.length,
            known: d.topics.slice(0, 20),
          },
        });
    }
  }
  if (why.length) {
    d.driftStreak++;
    if (d.driftStreak >= p.driftSustain)
      out.push({
        kind: "drift",
        at: o.ts,
        deviceId: d.id,
        gateway: o.gateway,
        weight: 0.5,
        evidence: {
          why: `${why.join(", ")} out of profile`,
          intervals: d.driftStreak,
          ratePerMin: Math.round(d.rate * 100) / 100,
          learnedRateMax: Math.round(2 ** (d.rateBins.findLastIndex((n) => n > 0) / 2) - 1),
          hourMax: Math.round(d.hourMax[hour]! * 100) / 100,
          ...(size !== undefined && { bytesPerMessage: Math.round(size) }),
        },
      });
    return out;
  }
  d.driftStreak = 0;
  if (!warm || d.rateBins[rb]! > 0) d.rateBins[rb]!++;
  if (sb !== undefined && (!warm || d.sizeBins[sb]! > 0)) d.sizeBins[sb]!++;
  // an hour's top rate is learned while that hour warms up, then kept (no creeping into silent hours)
  if (d.hourN[hour]! < p.hourWarmup) d.hourMax[hour] = Math.max(d.hourMax[hour]!, d.rate);
  d.hourN[hour]!++;
  if (!warm) {
    for (const t of o.topics) if (!d.topics.includes(t) && d.topics.length < 256) d.topics.push(t);
  }
  d.intervals++;
  return out;
}

/** Firmware drift: the hash a device reports is not the one registered for it. */
export function detectFirmware(d: DeviceProfile, o: Observation, registered: string | undefined): Signal[] {
  if (o.type !== "firmware") return [];
  d.firmware = o.hash;
  if (registered === undefined || registered.toLowerCase() === o.hash) return [];
  return [
    {
      kind: "firmware",
      at: o.ts,
      deviceId: d.id,
      gateway: o.gateway,
      weight: 0.85,
      evidence: { why: "reported firmware is not the registered one", reported: o.hash, registered },
    },
  ];
}
