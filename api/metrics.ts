/**
 * Prometheus metrics on prom-client, in a registry of their own (never the global one, so several
 * APIs in one process do not mix): request counts and latency, GraphQL errors by code, verdicts,
 * the index's lag, reorgs and RPC errors read from the store at scrape time, the store's cache
 * (hits, misses, evictions, bytes), its size on disk and the latency of its reads by operation,
 * and prom-client's default process metrics (CPU, memory, event loop lag, GC). Label values come
 * from small fixed sets (never from client input).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { CachedRecordKind, IndexerStatusRecord, StoreReader, StoreStats } from "../indexer/types";

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Store reads whose latency is measured (the StoreReader methods the API calls). */
export const STORE_READS = [
  "getDevice",
  "getDevices",
  "listDevices",
  "getAttestation",
  "listAttestations",
  "getHistory",
  "hasRole",
] as const satisfies readonly (keyof StoreReader)[];
export type StoreRead = (typeof STORE_READS)[number];

const CACHED_RECORDS: readonly CachedRecordKind[] = ["device", "attestation", "attestation_list"];

/** What a scrape reads from the API's state at that moment. */
export interface ScrapeView {
  status: IndexerStatusRecord;
  ready: boolean;
  challenges: number;
  store: StoreStats;
}

export interface ApiMetrics {
  /** The exposition format's content type (`text/plain; version=0.0.4; charset=utf-8`). */
  contentType: string;
  /** Records one HTTP request (`route` from a fixed set: graphql, healthz, readyz, metrics, other). */
  observeRequest(route: string, status: number, seconds: number): void;
  countError(code: string): void;
  countVerdicts(trusted: number, untrusted: number): void;
  sseSubscribers(delta: number): void;
  /** The store with each read of {@link STORE_READS} timed into `dtl_store_read_duration_seconds`. */
  timed(store: StoreReader): StoreReader;
  render(view: ScrapeView): Promise<string>;
}

export function createMetrics(): ApiMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: "dtl_api_requests_total",
    help: "HTTP requests by route and status.",
    labelNames: ["route", "status"],
    registers,
  });
  const latency = new Histogram({
    name: "dtl_api_request_duration_seconds",
    help: "HTTP request latency by route.",
    labelNames: ["route"],
    buckets: BUCKETS,
    registers,
  });
  const errors = new Counter({
    name: "dtl_api_graphql_errors_total",
    help: "GraphQL errors returned, by extensions.code.",
    labelNames: ["code"],
    registers,
  });
  const verdicts = new Counter({
    name: "dtl_api_verdicts_total",
    help: "Trust verdicts given.",
    labelNames: ["trusted"],
    registers,
  });
  // both series exist from the start (a dashboard's rate() needs the zero)
  verdicts.inc({ trusted: "true" }, 0);
  verdicts.inc({ trusted: "false" }, 0);
  const subscribers = new Gauge({
    name: "dtl_api_sse_subscribers",
    help: "Open deviceEvents subscriptions.",
    registers,
  });
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers });
  /** A counter kept by the indexer: its value is set from the store at each scrape. */
  const storeCounter = (name: string, help: string) => new Counter({ name, help, registers });
  const reads = new Histogram({
    name: "dtl_store_read_duration_seconds",
    help: "Store reads (LevelDB through the record cache) by operation.",
    labelNames: ["operation"],
    buckets: [0.00005, 0.0001, 0.00025, ...BUCKETS],
    registers,
  });
  const readTimers = Object.fromEntries(STORE_READS.map((op) => [op, reads.labels({ operation: op })])) as Record<
    StoreRead,
    ReturnType<typeof reads.labels>
  >;
  const cache = {
    hits: new Counter({
      name: "dtl_store_cache_hits_total",
      help: "Record cache lookups answered from memory, by record.",
      labelNames: ["record"],
      registers,
    }),
    misses: new Counter({
      name: "dtl_store_cache_misses_total",
      help: "Record cache lookups that went to LevelDB, by record.",
      labelNames: ["record"],
      registers,
    }),
    evictions: storeCounter(
      "dtl_store_cache_evictions_total",
      "Records evicted from the cache to keep it in its bound.",
    ),
    bytes: gauge("dtl_store_cache_bytes", "Estimated bytes held by the record cache."),
    maxBytes: gauge("dtl_store_cache_max_bytes", "The record cache's bound (three quarters of DTL_CACHE_MB)."),
    entries: gauge("dtl_store_cache_entries", "Records (and known-absent ids) in the cache."),
    blockCache: gauge("dtl_store_block_cache_bytes", "LevelDB's block cache size (a quarter of DTL_CACHE_MB)."),
    disk: gauge("dtl_store_disk_bytes", "Bytes of the store's directory on disk (sampled at most every 15 s)."),
  };
  const scraped = {
    challenges: gauge("dtl_api_challenges", "Challenges held in memory (outstanding or remembered)."),
    lag: gauge("dtl_index_lag_blocks", "Chain head minus indexed block."),
    indexed: gauge("dtl_index_indexed_block", "Last block applied to the index."),
    head: gauge("dtl_index_head_block", "Latest chain head seen by the indexer."),
    reorgs: storeCounter("dtl_index_reorgs_total", "Chain reorganisations handled."),
    rpcErrors: storeCounter("dtl_index_rpc_errors_total", "JSON-RPC errors seen by the indexer."),
    caughtUp: gauge("dtl_index_caught_up", "1 once the initial backfill reached the head."),
    stopped: gauge("dtl_index_stopped", "1 when indexing stopped on a fatal error."),
    ready: gauge("dtl_api_ready", "1 when /readyz answers 200."),
  };

  return {
    contentType: registry.contentType,
    observeRequest(route, status, seconds) {
      requests.inc({ route, status: String(status) });
      latency.observe({ route }, seconds);
    },
    countError(code) {
      errors.inc({ code });
    },
    countVerdicts(trusted, untrusted) {
      verdicts.inc({ trusted: "true" }, trusted);
      verdicts.inc({ trusted: "false" }, untrusted);
    },
    sseSubscribers(delta) {
      subscribers.inc(delta);
    },
    timed(store) {
      const time =
        <A extends unknown[], R>(op: StoreRead, read: (...args: A) => Promise<R>) =>
        async (...args: A): Promise<R> => {
          const t0 = performance.now();
          try {
            return await read(...args);
          } finally {
            readTimers[op].observe((performance.now() - t0) / 1000);
          }
        };
      return {
        getDevice: time("getDevice", store.getDevice.bind(store)),
        getDevices: time("getDevices", store.getDevices.bind(store)),
        listDevices: time("listDevices", store.listDevices.bind(store)),
        getAttestation: time("getAttestation", store.getAttestation.bind(store)),
        listAttestations: time("listAttestations", store.listAttestations.bind(store)),
        getHistory: time("getHistory", store.getHistory.bind(store)),
        hasRole: time("hasRole", store.hasRole.bind(store)),
        getBatch: store.getBatch.bind(store),
        listBatches: store.listBatches.bind(store),
        getManifestLeaves: store.getManifestLeaves.bind(store),
        getAnchoredClaims: store.getAnchoredClaims.bind(store),
        manifestsDigest: () => store.manifestsDigest(),
        status: () => store.status(),
        storeStats: () => store.storeStats(),
        onChange: (listener) => store.onChange(listener),
      };
    },
    render({ status, ready, challenges, store }) {
      scraped.challenges.set(challenges);
      scraped.lag.set(Math.max(0, status.headBlock - status.indexedBlock));
      scraped.indexed.set(status.indexedBlock);
      scraped.head.set(status.headBlock);
      scraped.reorgs.reset();
      scraped.reorgs.inc(status.reorgs);
      scraped.rpcErrors.reset();
      scraped.rpcErrors.inc(status.rpcErrors);
      scraped.caughtUp.set(status.caughtUp ? 1 : 0);
      scraped.stopped.set(status.fatalError !== undefined ? 1 : 0);
      scraped.ready.set(ready ? 1 : 0);
      for (const record of CACHED_RECORDS) {
        cache.hits.remove({ record });
        cache.hits.inc({ record }, store.cache.hits[record]);
        cache.misses.remove({ record });
        cache.misses.inc({ record }, store.cache.misses[record]);
      }
      cache.evictions.reset();
      cache.evictions.inc(store.cache.evictions);
      cache.bytes.set(store.cache.bytes);
      cache.maxBytes.set(store.cache.maxBytes);
      cache.entries.set(store.cache.entries);
      cache.blockCache.set(store.blockCacheBytes);
      cache.disk.set(store.diskBytes);
      return registry.metrics();
    },
  };
}
