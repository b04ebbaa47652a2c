/**
 * The monitor's Prometheus counters (prom-client), registered in the API's registry so /metrics
 * serves them: observations by type, refusals by code, alerts by kind, devices profiled. Label
 * values come from fixed sets (observation types, refusal codes, signal kinds), never from input.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { MonitorOptions } from "./engine";

export function monitorMetrics(registry: Registry, devices: () => number): NonNullable<MonitorOptions["onCount"]> {
  const registers = [registry];
  const observations = new Counter({
    name: "dtl_monitor_observations_total",
    help: "Observations the monitor accepted, by type.",
    labelNames: ["type"],
    registers,
  });
  const refused = new Counter({
    name: "dtl_monitor_observations_refused_total",
    help: "Observations the monitor refused, by code (malformed, unknown gateway, in the future, too old, rate limited).",
    labelNames: ["code"],
    registers,
  });
  const alerts = new Counter({
    name: "dtl_monitor_alerts_total",
    help: "Alerts raised, by detector.",
    labelNames: ["kind"],
    registers,
  });
  new Gauge({
    name: "dtl_monitor_devices",
    help: "Devices with a behavioural profile.",
    registers,
    collect() {
      this.set(devices());
    },
  });
  return (what) => {
    if (what.observation) observations.inc({ type: what.observation });
    if (what.refused) refused.inc({ code: what.refused });
    if (what.alert) alerts.inc({ kind: what.alert });
  };
}
