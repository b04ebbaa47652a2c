/**
 * Prometheus metrics (text exposition format 0.0.4), no dependency: request counts and latency,
 * GraphQL errors by code, verdicts, and the index's lag, reorgs and RPC errors read from the store
 * at scrape time. Label values come from small fixed sets (never from client input).
 */
import type { IndexerStatusRecord } from "../indexer/types";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

export interface ApiMetrics {
  /** Records one HTTP request (`route` from a fixed set: graphql, healthz, readyz, metrics, other). */
  observeRequest(route: string, status: number, seconds: number): void;
  countError(code: string): void;
  countVerdicts(trusted: number, untrusted: number): void;
  sseSubscribers(delta: number): void;
  render(extra: { status: IndexerStatusRecord; ready: boolean; challenges: number }): string;
}

function esc(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

export function createMetrics(): ApiMetrics {
  const requests = new Map<string, number>();
  const latency = new Map<string, Histogram>();
  const errors = new Map<string, number>();
  let trustedTotal = 0;
  let untrustedTotal = 0;
  let subscribers = 0;

  return {
    observeRequest(route, status, seconds) {
      const key = `${route}\u0000${status}`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      let h = latency.get(route);
      if (!h) latency.set(route, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
      for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
      h.sum += seconds;
      h.count++;
    },
    countError(code) {
      errors.set(code, (errors.get(code) ?? 0) + 1);
    },
    countVerdicts(trusted, untrusted) {
      trustedTotal += trusted;
      untrustedTotal += untrusted;
    },
    sseSubscribers(delta) {
      subscribers += delta;
    },
    render({ status, ready, challenges }) {
      const out: string[] = [];
      const metric = (name: string, type: string, help: string, lines: string[]) => {
        out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
      };
      metric(
        "dtl_api_requests_total",
        "counter",
        "HTTP requests by route and status.",
        [...requests].map(([k, n]) => {
          const [route, code] = k.split("\u0000");
          return `dtl_api_requests_total{route="${esc(route!)}",status="${code}"} ${n}`;
        }),
      );
      const hist: string[] = [];
      for (const [route, h] of latency) {
        BUCKETS.forEach((b, i) =>
          hist.push(`dtl_api_request_duration_seconds_bucket{route="${esc(route)}",le="${b}"} ${h.counts[i]}`),
        );
        hist.push(`dtl_api_request_duration_seconds_bucket{route="${esc(route)}",le="+Inf"} ${h.count}`);
        hist.push(`dtl_api_request_duration_seconds_sum{route="${esc(route)}"} ${h.sum}`);
        hist.push(`dtl_api_request_duration_seconds_count{route="${esc(route)}"} ${h.count}`);
      }
      metric("dtl_api_request_duration_seconds", "histogram", "HTTP request latency by route.", hist);
      metric(
        "dtl_api_graphql_errors_total",
        "counter",
        "GraphQL errors returned, by extensions.code.",
        [...errors].map(([code, n]) => `dtl_api_graphql_errors_total{code="${esc(code)}"} ${n}`),
      );
      metric("dtl_api_verdicts_total", "counter", "Trust verdicts given.", [
        `dtl_api_verdicts_total{trusted="true"} ${trustedTotal}`,
        `dtl_api_verdicts_total{trusted="false"} ${untrustedTotal}`,
      ]);
      metric("dtl_api_sse_subscribers", "gauge", "Open deviceEvents subscriptions.", [
        `dtl_api_sse_subscribers ${subscribers}`,
      ]);
      metric("dtl_api_challenges", "gauge", "Challenges held in memory (outstanding or remembered).", [
        `dtl_api_challenges ${challenges}`,
      ]);
      metric("dtl_index_lag_blocks", "gauge", "Chain head minus indexed block.", [
        `dtl_index_lag_blocks ${Math.max(0, status.headBlock - status.indexedBlock)}`,
      ]);
      metric("dtl_index_indexed_block", "gauge", "Last block applied to the index.", [
        `dtl_index_indexed_block ${status.indexedBlock}`,
      ]);
      metric("dtl_index_head_block", "gauge", "Latest chain head seen by the indexer.", [
        `dtl_index_head_block ${status.headBlock}`,
      ]);
      metric("dtl_index_reorgs_total", "counter", "Chain reorganisations handled.", [
        `dtl_index_reorgs_total ${status.reorgs}`,
      ]);
      metric("dtl_index_rpc_errors_total", "counter", "JSON-RPC errors seen by the indexer.", [
        `dtl_index_rpc_errors_total ${status.rpcErrors}`,
      ]);
      metric("dtl_index_caught_up", "gauge", "1 once the initial backfill reached the head.", [
        `dtl_index_caught_up ${status.caughtUp ? 1 : 0}`,
      ]);
      metric("dtl_index_stopped", "gauge", "1 when indexing stopped on a fatal error.", [
        `dtl_index_stopped ${status.fatalError !== undefined ? 1 : 0}`,
      ]);
      metric("dtl_api_ready", "gauge", "1 when /readyz answers 200.", [`dtl_api_ready ${ready ? 1 : 0}`]);
      return out.join("\n") + "\n";
    },
  };
}
