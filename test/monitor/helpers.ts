/**
 * Crafted observation sequences for the monitor tests: a monitor on a hand-driven clock, a site
 * map (two gateways at site A, one at site B), and builders for each observation kind.
 */
import { createMonitor, type Alert, type Monitor, type MonitorOptions } from "../../monitor/engine";

export const SITES = { "gw-a1": "site-a", "gw-a2": "site-a", "gw-b1": "site-b" };
export const T0 = Date.UTC(2026, 0, 5);
export const MIN = 60_000;
export const dev = (n: number): string => "0x" + n.toString(16).padStart(64, "0");

export interface Driven {
  monitor: Monitor;
  clock: { now: number };
  alerts: Alert[];
  /** Ingests at the clock (moved to the newest ts first); throws when anything is refused. */
  feed(...obs: Record<string, unknown>[]): Promise<Alert[]>;
}

export async function driven(opts: MonitorOptions = {}): Promise<Driven> {
  const clock = { now: T0 };
  const monitor = await createMonitor({ params: { sites: SITES }, now: () => clock.now, ...opts });
  const alerts: Alert[] = [];
  monitor.onAlert((a) => alerts.push(a));
  return {
    monitor,
    clock,
    alerts,
    async feed(...obs) {
      for (const o of obs) clock.now = Math.max(clock.now, o.ts as number);
      const r = await monitor.ingest(obs);
      if (r.refused.length) throw new Error(`refused: ${JSON.stringify(r.refused)}`);
      return r.alerts;
    },
  };
}

export const start = (gateway: string, deviceId: string, ts: number) => ({
  type: "session",
  event: "start",
  gateway,
  deviceId,
  segment: "plant/hvac",
  ts,
});
export const end = (gateway: string, deviceId: string, ts: number) => ({
  type: "session",
  event: "end",
  gateway,
  deviceId,
  cause: "client_disconnected",
  ts,
});
export const traffic = (
  gateway: string,
  deviceId: string,
  ts: number,
  messages: number,
  bytes: number,
  topics = ["telemetry"],
) => ({
  type: "traffic",
  gateway,
  deviceId,
  ts,
  intervalMs: MIN,
  messages,
  bytes,
  topics: messages > 0 ? topics : [],
});
export const refused = (gateway: string, deviceId: string, ts: number, remote: string, reason = "BAD_SIGNATURE") => ({
  type: "decision",
  gateway,
  clientId: deviceId,
  deviceId,
  outcome: "refused",
  reasons: [reason],
  remote,
  ts,
});
