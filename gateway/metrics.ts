/**
 * Gateway metrics on prom-client in a registry of its own (as api/metrics.ts does): admissions by
 * outcome and reason, connected devices, replica lag and size, disconnects by cause, topic
 * refusals, and prom-client's default process metrics. Label values come from fixed sets (verdict
 * reasons and the gateway's own refusal codes), never from client input.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

export interface GatewayMetricsView {
  connected: number;
  replicaDevices: number;
  /** Seconds since the last contact with an upstream (Infinity before any). */
  replicaAgeSeconds: number;
  /** The upstream's indexed block at the last contact; in witness mode the verified block. */
  replicaBlock: number;
  ready: boolean;
}

export interface GatewayMetrics {
  contentType: string;
  admission(outcome: "admitted" | "refused", reasons: readonly string[]): void;
  disconnect(cause: string): void;
  aclRefused(action: "publish" | "subscribe"): void;
  /** Witness mode: a witness caught signing two states for one block. */
  equivocation(witness: string): void;
  /** Witness mode: an upstream's data not applied, by why (gateway/witness.ts REFUSALS). */
  upstreamRefused(reason: string): void;
  render(view: GatewayMetricsView): Promise<string>;
}

export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  const admissions = new Counter({
    name: "dtl_gateway_admissions_total",
    help: "CONNECT decisions by outcome and reason (a refusal counts once per reason).",
    labelNames: ["outcome", "reason"],
    registers,
  });
  const disconnects = new Counter({
    name: "dtl_gateway_disconnects_total",
    help: "Devices the gateway disconnected because their verdict turned false, by first reason.",
    labelNames: ["cause"],
    registers,
  });
  const acl = new Counter({
    name: "dtl_gateway_acl_refusals_total",
    help: "Publishes and subscriptions refused by the topic rules.",
    labelNames: ["action"],
    registers,
  });
  const connected = new Gauge({ name: "dtl_gateway_connected_devices", help: "Devices connected now.", registers });
  const devices = new Gauge({ name: "dtl_gateway_replica_devices", help: "Devices in the replica.", registers });
  const age = new Gauge({
    name: "dtl_gateway_replica_age_seconds",
    help: "Seconds since the last contact with an upstream (+Inf before any).",
    registers,
  });
  const block = new Gauge({
    name: "dtl_gateway_replica_block",
    help: "The upstream's indexed block at the last contact.",
    registers,
  });
  const ready = new Gauge({ name: "dtl_gateway_ready", help: "1 when the replica is fresh.", registers });
  const equivocations = new Counter({
    name: "dtl_gateway_witness_equivocations_total",
    help: "Witnesses caught signing two different states for one block (their signatures are ignored since).",
    labelNames: ["witness"],
    registers,
  });
  const refusals = new Counter({
    name: "dtl_gateway_upstream_refusals_total",
    help: "Upstream data not applied in witness mode, by reason (digest_mismatch, history_head_mismatch, …).",
    labelNames: ["reason"],
    registers,
  });
  return {
    contentType: registry.contentType,
    admission(outcome, reasons) {
      if (reasons.length === 0) admissions.inc({ outcome, reason: "" });
      for (const reason of reasons) admissions.inc({ outcome, reason });
    },
    disconnect: (cause) => disconnects.inc({ cause }),
    aclRefused: (action) => acl.inc({ action }),
    equivocation: (witness) => equivocations.inc({ witness }),
    upstreamRefused: (reason) => refusals.inc({ reason }),
    async render(view) {
      connected.set(view.connected);
      devices.set(view.replicaDevices);
      age.set(view.replicaAgeSeconds);
      block.set(view.replicaBlock);
      ready.set(view.ready ? 1 : 0);
      return registry.metrics();
    },
  };
}
