/**
 * A seeded fleet simulator for the monitor (issue 13): devices of three types behaving normally
 * (periodic sensors, bursty cameras, actuators with working hours), day/night cycles, legitimate
 * moves between gateways of one site (graceful and abrupt, the old session timing out after the
 * new one started), relocations to another site after hours offline, site-wide reconnect storms,
 * the odd failed proof, legitimate firmware updates registered before the device reports them,
 * delivery jitter — and labelled attacks on the last day: clones (another site, or another
 * gateway of the same site), hijacks (rate, topic, size drift), credential attacks (brute force on
 * one device, stuffing from one source) and firmware swaps.
 *
 * It yields observations in arrival order, a minute at a time, exactly as gateways would report
 * them; the labels are kept apart (`labels`) and never reach the monitor.
 */
import { prng } from "../test/helpers/seed";

export type DeviceType = "sensor" | "camera" | "actuator";
export type AttackKind = "clone" | "hijack" | "credential" | "firmware";

export interface Label {
  kind: AttackKind;
  at: number;
  deviceId?: string;
  source?: string;
  /** Devices an attack touched (credential stuffing: every id tried). */
  devices: string[];
  detail: string;
}

export interface SimOptions {
  seed: number;
  devices: number;
  /** Simulated days; attacks happen on the last one, earlier days are for learning. */
  days: number;
  sites?: number;
  gatewaysPerSite?: number;
  /** Attack counts on the last day. */
  attacks?: Partial<Record<AttackKind, number>>;
  /** Epoch ms of the simulation's start (midnight UTC). */
  start?: number;
}

export interface SimObservation {
  /** When it reaches the monitor (ts + delivery jitter). */
  arrival: number;
  obs: Record<string, unknown> & { ts: number };
}

interface Session {
  gateway: string;
  start: number;
  /** Messages flow through this session (an abruptly left session stays open, silent). */
  live: boolean;
  attacker?: boolean;
}

interface Device {
  id: string;
  type: DeviceType;
  site: number;
  gateway: number;
  ratePerMin: number;
  size: number;
  firmware: string;
  /** Firmware registered on chain over time (the API's record): [from, hash]. */
  registered: [number, string][];
  sessions: Session[];
  hijack?: { from: number; rate: number; size: number; topic?: string };
  burstLeft: number;
  burstRate: number;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
const hex64 = (r: () => number): string =>
  "0x" +
  Array.from({ length: 8 }, () =>
    Math.floor(r() * 2 ** 32)
      .toString(16)
      .padStart(8, "0"),
  ).join("");

export interface Simulation {
  sites: Record<string, string>;
  labels: Label[];
  /** The registered firmware of a device at time t (the API's device record). */
  firmwareOf(deviceId: string, t: number): string | undefined;
  /** Observations arriving within each simulated minute, in arrival order. */
  minutes(): Generator<SimObservation[]>;
  start: number;
  end: number;
}

export function simulate(opts: SimOptions): Simulation {
  const r = prng(opts.seed);
  const nSites = opts.sites ?? 25;
  const perSite = opts.gatewaysPerSite ?? 4;
  const start = opts.start ?? Date.UTC(2026, 0, 5);
  const end = start + opts.days * DAY;
  const lastDay = end - DAY;
  const gw = (site: number, g: number): string => `gw-${site}-${g}`;
  const sites: Record<string, string> = {};
  for (let s = 0; s < nSites; s++) for (let g = 0; g < perSite; g++) sites[gw(s, g)] = `site-${s}`;
  const nat = (site: number): string => `10.${site}.0.1`;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const between = (a: number, b: number): number => a + r() * (b - a);
  const poisson = (l: number): number => {
    if (l <= 0) return 0;
    if (l > 30) return Math.max(0, Math.round(l + Math.sqrt(l) * gauss()));
    const L = Math.exp(-l);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= r();
    } while (p > L);
    return k - 1;
  };
  function gauss(): number {
    return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  }

  const devices: Device[] = [];
  for (let i = 0; i < opts.devices; i++) {
    const u = r();
    const type: DeviceType = u < 0.6 ? "sensor" : u < 0.8 ? "camera" : "actuator";
    const firmware = hex64(r);
    devices.push({
      id: hex64(r),
      type,
      site: i % nSites,
      gateway: Math.floor(r() * perSite),
      ratePerMin: type === "sensor" ? pick([0.5, 1, 2, 4, 6]) : type === "camera" ? 1 : between(0.3, 1.5),
      size: type === "sensor" ? between(40, 300) : type === "camera" ? between(2_000, 20_000) : between(60, 400),
      firmware,
      registered: [[start, firmware]],
      sessions: [],
      burstLeft: 0,
      burstRate: 0,
    });
  }
  const byId = new Map(devices.map((d) => [d.id, d]));

  // timed events other than the per-minute traffic: [time, action]
  type Action = () => void;
  // a binary min-heap on time (ties in insertion order)
  const timed: [number, number, Action][] = [];
  let order = 0;
  const less = (i: number, j: number): boolean =>
    timed[i]![0] < timed[j]![0] || (timed[i]![0] === timed[j]![0] && timed[i]![1] < timed[j]![1]);
  const swap = (i: number, j: number): void => void ([timed[i], timed[j]] = [timed[j]!, timed[i]!]);
  const at = (t: number, a: Action): void => {
    timed.push([t, order++, a]);
    for (let i = timed.length - 1; i > 0 && less(i, (i - 1) >> 1); i = (i - 1) >> 1) swap(i, (i - 1) >> 1);
  };
  const popNext = (): [number, number, Action] => {
    const top = timed[0]!;
    const last = timed.pop()!;
    if (timed.length) {
      timed[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const m = l + 1 < timed.length && less(l + 1, l) ? l + 1 : l;
        if (l >= timed.length || !less(m, i)) break;
        swap(i, m);
        i = m;
      }
    }
    return top;
  };
  let out: SimObservation[] = [];
  const emit = (ts: number, obs: Record<string, unknown>): void => {
    const t = Math.round(ts);
    out.push({ arrival: t + Math.floor(r() * 300), obs: { ts: t, ...obs } });
  };
  const sessionStart = (d: Device, t: number, gateway: string, remote: string, attacker = false): void => {
    emit(t - 5, {
      type: "decision",
      gateway,
      clientId: d.id,
      deviceId: d.id,
      outcome: "admitted",
      reasons: [],
      remote,
    });
    emit(t, { type: "session", event: "start", gateway, deviceId: d.id, segment: `site/${d.type}`, remote });
    d.sessions.push({ gateway, start: t, live: true, ...(attacker && { attacker }) });
    if (!attacker) emit(t + between(500, 3_000), { type: "firmware", gateway, deviceId: d.id, hash: d.firmware });
  };
  const sessionEnd = (d: Device, t: number, s: Session, cause: string): void => {
    const i = d.sessions.indexOf(s);
    if (i < 0) return;
    d.sessions.splice(i, 1);
    emit(t, {
      type: "session",
      event: "end",
      gateway: s.gateway,
      deviceId: d.id,
      cause,
      durationMs: Math.round(t - s.start),
    });
  };
  const own = (d: Device): Session | undefined => d.sessions.find((s) => !s.attacker);
  const labels: Label[] = [];

  // everyone connects in the first minute
  for (const d of devices)
    at(start + between(0, MINUTE), () => sessionStart(d, now, gw(d.site, d.gateway), nat(d.site)));

  // normal life
  for (const d of devices) {
    // 10%: mobile within their site, a few moves a day
    if (r() < 0.1)
      for (let t = start + between(0, 8) * 3_600_000; t < end - MINUTE; t += between(4, 10) * 3_600_000)
        at(t, () => {
          const s = own(d);
          if (!s) return;
          let g = Math.floor(r() * perSite);
          if (g === d.gateway) g = (g + 1) % perSite;
          d.gateway = g;
          if (r() < 0.5) {
            sessionEnd(d, now, s, "client_disconnected");
            const t2 = now + between(1_000, 5_000);
            at(t2, () => sessionStart(d, t2, gw(d.site, g), nat(d.site)));
          } else {
            // abrupt: the old gateway notices at its keep-alive timeout, after the new session began
            s.live = false;
            sessionStart(d, now, gw(d.site, g), nat(d.site));
            const t2 = now + between(20_000, 90_000);
            at(t2, () => sessionEnd(d, t2, s, "keepalive_timeout"));
          }
        });
    // 0.2%: relocated to another site after hours offline
    if (r() < 0.002) {
      const t = start + between(1, opts.days * 24 - 6) * 3_600_000;
      at(t, () => {
        const s = own(d);
        if (s) sessionEnd(d, now, s, "client_disconnected");
        d.site = (d.site + 1 + Math.floor(r() * (nSites - 1))) % nSites;
        const t2 = now + between(1, 3) * 3_600_000;
        at(t2, () => sessionStart(d, t2, gw(d.site, d.gateway), nat(d.site)));
      });
    }
    // 1% a day: one failed proof (a bad clock, a corrupted token), then a good connect
    for (let day = 0; day < opts.days; day++)
      if (r() < 0.01) {
        const t = start + day * DAY + between(0, DAY - MINUTE);
        at(t, () =>
          emit(now, {
            type: "decision",
            gateway: gw(d.site, d.gateway),
            clientId: d.id,
            deviceId: d.id,
            outcome: "refused",
            reasons: [pick(["BAD_SIGNATURE", "TOKEN_STALE"])],
            remote: nat(d.site),
          }),
        );
      }
    // 2% on the last day: a legitimate firmware update, registered on chain before the reboot
    if (r() < 0.02) {
      const t = lastDay + between(1, 22) * 3_600_000;
      at(t, () => {
        const hash = hex64(r);
        d.registered.push([now, hash]);
        const t2 = now + between(30_000, 600_000);
        at(t2, () => {
          const s = own(d);
          if (s) sessionEnd(d, t2, s, "client_disconnected");
          d.firmware = hash;
          sessionStart(d, t2 + 2_000, gw(d.site, d.gateway), nat(d.site));
        });
      });
    }
  }
  // one site-wide reconnect storm a day (a gateway restarts): its devices come back within 10 s
  for (let day = 0; day < opts.days; day++) {
    const site = Math.floor(r() * nSites);
    const g = Math.floor(r() * perSite);
    const t = start + day * DAY + between(2, 22) * 3_600_000;
    at(t, () => {
      for (const d of devices) {
        const s = own(d);
        if (!s || s.gateway !== gw(site, g)) continue;
        sessionEnd(d, now, s, "gateway_restart");
        const t2 = now + between(2_000, 10_000);
        at(t2, () => {
          if (r() < 0.03)
            emit(t2 - 500, {
              type: "decision",
              gateway: gw(site, g),
              clientId: d.id,
              deviceId: d.id,
              outcome: "refused",
              reasons: ["TOKEN_STALE"],
              remote: nat(site),
            });
          sessionStart(d, t2, gw(site, g), nat(site));
        });
      }
    });
  }

  // attacks on the last day, at known times
  const counts = { clone: 20, hijack: 50, credential: 20, firmware: 20, ...opts.attacks };
  const victims = new Set<Device>();
  const victim = (): Device => {
    for (;;) {
      const d = pick(devices);
      if (!victims.has(d)) {
        victims.add(d);
        return d;
      }
    }
  };
  const attackTime = (): number => lastDay + between(1, 22) * 3_600_000;
  for (let i = 0; i < counts.clone; i++) {
    const d = victim();
    const t = attackTime();
    const sameSite = r() < 0.3;
    at(t, () => {
      const s = own(d);
      if (!s) return;
      let site = d.site;
      let g = (d.gateway + 1 + Math.floor(r() * (perSite - 1))) % perSite;
      if (!sameSite) {
        site = (d.site + 1 + Math.floor(r() * (nSites - 1))) % nSites;
        g = Math.floor(r() * perSite);
      }
      labels.push({
        kind: "clone",
        at: now,
        deviceId: d.id,
        devices: [d.id],
        detail: sameSite ? "same site, another gateway" : "another site",
      });
      sessionStart(d, now, gw(site, g), `198.51.100.${i}`, true);
      const clone = d.sessions.at(-1)!;
      const t2 = now + between(10, 30) * MINUTE;
      at(t2, () => sessionEnd(d, t2, clone, "client_disconnected"));
    });
  }
  for (let i = 0; i < counts.hijack; i++) {
    const d = victim();
    const t = attackTime();
    const mode = pick(["rate", "topic", "size", "mixed"] as const);
    const rate = mode === "rate" || mode === "mixed" ? between(4, 15) : 1;
    const size = mode === "size" || mode === "mixed" ? between(3, 10) : 1;
    const topic = mode === "topic" || mode === "mixed" ? pick(["shell", "exfil/data", "cmd/exec", "scan"]) : undefined;
    labels.push({
      kind: "hijack",
      at: t,
      deviceId: d.id,
      devices: [d.id],
      detail: `${mode} ×${rate.toFixed(1)} size ×${size.toFixed(1)}`,
    });
    d.hijack = { from: t, rate, size, ...(topic !== undefined && { topic }) };
  }
  for (let i = 0; i < counts.credential; i++) {
    const t = attackTime();
    const source = `203.0.113.${i}`;
    if (i % 2 === 0) {
      const d = victim();
      const n = 20 + Math.floor(r() * 40);
      labels.push({ kind: "credential", at: t, deviceId: d.id, source, devices: [d.id], detail: `brute force ×${n}` });
      let tt = t;
      for (let k = 0; k < n; k++, tt += between(1_000, 3_000)) {
        const when = tt;
        at(when, () =>
          emit(when, {
            type: "decision",
            gateway: gw(d.site, d.gateway),
            clientId: d.id,
            deviceId: d.id,
            outcome: "refused",
            reasons: ["BAD_SIGNATURE"],
            remote: source,
          }),
        );
      }
    } else {
      const site = Math.floor(r() * nSites);
      const g = gw(site, Math.floor(r() * perSite));
      const tried: string[] = [];
      for (let k = 0; k < 120; k++) tried.push(pick(devices).id);
      labels.push({ kind: "credential", at: t, source, devices: tried, detail: "stuffing ×120" });
      tried.forEach((id, k) => {
        const when = t + k * 500;
        at(when, () =>
          emit(when, {
            type: "decision",
            gateway: g,
            clientId: id,
            deviceId: id,
            outcome: "refused",
            reasons: [pick(["BAD_SIGNATURE", "KEY_MISMATCH"])],
            remote: source,
          }),
        );
      });
    }
  }
  for (let i = 0; i < counts.firmware; i++) {
    const d = victim();
    const t = attackTime();
    at(t, () => {
      const s = own(d);
      if (s) sessionEnd(d, now, s, "client_disconnected");
      d.firmware = hex64(r);
      const t2 = now + 2_000;
      labels.push({ kind: "firmware", at: t2, deviceId: d.id, devices: [d.id], detail: "swapped image" });
      sessionStart(d, t2, gw(d.site, d.gateway), nat(d.site));
    });
  }

  let now = start;
  const hourOf = (t: number): number => new Date(t).getUTCHours();
  const dayTime = (h: number): boolean => h >= 7 && h < 19;

  /** One device's traffic through one session over the minute ending at `t`. */
  const traffic = (d: Device, s: Session, t: number): void => {
    const interval = Math.round(Math.min(MINUTE, t - s.start));
    if (interval < 1_000) return;
    const h = hourOf(t);
    let rate: number;
    let size = d.size;
    const topics: string[] = [];
    if (!s.live) rate = 0;
    else if (d.type === "sensor") {
      rate = d.ratePerMin;
      topics.push("telemetry");
      if (r() < 1 / 360) topics.push("status");
    } else if (d.type === "camera") {
      rate = d.ratePerMin;
      topics.push("heartbeat");
      if (d.burstLeft > 0) {
        d.burstLeft--;
        rate += d.burstRate;
        topics.push("motion", "image");
      } else if (r() < (dayTime(h) ? 4 : 0.5) / 60) {
        d.burstLeft = 1 + Math.floor(r() * 3);
        d.burstRate = between(20, 60);
      }
      size = d.size * (topics.length > 1 ? 1 : 0.05);
    } else {
      rate = dayTime(h) ? d.ratePerMin : 0.02;
      if (r() < rate) topics.push(pick(["state", "ack"]));
      if (r() < 1 / 1440) topics.push("config");
    }
    const hj = d.hijack && t >= d.hijack.from && !s.attacker ? d.hijack : undefined;
    if (hj) {
      rate = Math.max(rate, 0.5) * hj.rate;
      size *= hj.size;
      if (hj.topic && rate > 0) topics.push(hj.topic);
    }
    if (s.attacker) topics.splice(0, topics.length, "telemetry");
    const messages = poisson((rate * interval) / MINUTE);
    const bytes = Math.round(messages * size * (1 + 0.1 * gauss()));
    emit(t, {
      type: "traffic",
      gateway: s.gateway,
      deviceId: d.id,
      intervalMs: interval,
      messages,
      bytes: Math.max(0, bytes),
      topics: messages > 0 ? topics : [],
    });
  };

  return {
    sites,
    labels,
    start,
    end,
    firmwareOf(deviceId, t) {
      const d = byId.get(deviceId);
      if (!d) return undefined;
      let h: string | undefined;
      for (const [from, hash] of d.registered) if (from <= t) h = hash;
      return h;
    },
    *minutes() {
      for (let m = start; m < end; m += MINUTE) {
        // timed events of this minute, in time order (an action may schedule more within it)
        while (timed.length && timed[0]![0] < m + MINUTE) {
          const [t, , action] = popNext();
          now = t;
          action();
        }
        now = m + MINUTE;
        for (const d of devices) for (const s of d.sessions) traffic(d, s, m + MINUTE);
        const batch = out;
        out = [];
        batch.sort((a, b) => a.arrival - b.arrival);
        yield batch;
      }
    },
  };
}
