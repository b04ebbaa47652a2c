/**
 * The edge gateway (DESIGN §11): an aedes MQTT broker that admits a device only on a valid connect
 * token and a trusted verdict from its local replica (auth.ts), confines it to its topics
 * (topics.ts) and keeps verifying it while it is connected: whatever changes its verdict — a
 * device event or a role change from the upstream, a policy reload, the replica going stale, an
 * attestation expiring or growing too old (a timer at that instant, not polling) — re-evaluates it,
 * and a device whose verdict turned false is disconnected. Ops like `dtl serve`: /healthz,
 * /readyz (replica fresh), /metrics.
 */
import { Aedes, type AuthenticateError, type Client } from "aedes";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from "node:net";
import path from "node:path";
import { mkdirSync } from "node:fs";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { loadFastPostQuantumVerifier } from "../common/keys-pq";
import type { Logger } from "../common/logger";
import { createNonceCache, decideConnect, verdictFor, type Decision, type TrustContext } from "./auth";
import { createGatewayMetrics } from "./metrics";
import { createTrafficMeter } from "./traffic";
import { openObservationLog } from "./observations";
import type { GatewayPolicy, SegmentRules } from "./policy";
import { openReplica, type Replica } from "./replica";
import { mayPublish, maySubscribe } from "./topics";
import type { TrustedWitness } from "../common/checkpoint";
import { openVerifiedReplica, type VerificationStatus } from "./witness";
import { createUpstream, type ReplicaDevice } from "./upstream";

export interface GatewayOptions {
  gatewayId: string;
  upstreams: readonly string[];
  policy: GatewayPolicy;
  dataDir: string;
  host: string;
  mqttPort: number;
  httpPort: number;
  /** PEM certificate chain and key; absent = plain MQTT (`--insecure-plain`). */
  tls?: { cert: Buffer; key: Buffer };
  heartbeatMs: number;
  logger: Logger;
  /** Witness mode (gateway/witness.ts): apply only what ≥ threshold of these witnesses signed. */
  witnesses?: { list: readonly TrustedWitness[]; threshold: number };
  /** How often each session's traffic is written for the monitor (default 60 s; gateway/traffic.ts). */
  trafficIntervalMs?: number;
}

export interface Gateway {
  mqttUrl: string;
  httpUrl: string;
  replica: Replica;
  /** Witness mode: what is verified, held and refused. */
  verification?: () => VerificationStatus;
  observationsFile: string;
  /** Replaces the policy and re-evaluates every connected device (SIGHUP). */
  setPolicy(policy: GatewayPolicy): void;
  policyChangeFailed(detail: string): void;
  connected(): number;
  stop(): Promise<void>;
}

interface Session {
  client: Client;
  deviceId: string;
  segment: string;
  rules: SegmentRules;
  keyHash: string;
  startedMs: number;
  timer?: NodeJS.Timeout;
}

/** The longest a Node timer may wait (2^31 − 1 ms); later instants are re-armed from there. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The next instant (ms) at which time alone can change the device's verdict: a required
 * attestation expiring (valid strictly before expiresAt) or growing older than allowed.
 */
function nextTimeChange(device: ReplicaDevice, rules: SegmentRules, nowMs: number): number | undefined {
  const kinds = rules.trust.requiredAttestations ?? [];
  let next: number | undefined;
  const consider = (ms: number) => {
    if (ms > nowMs && (next === undefined || ms < next)) next = ms;
  };
  for (const a of device.attestations) {
    if (a.revoked || !kinds.includes(a.kind)) continue;
    if (a.expiresAt !== 0) consider(a.expiresAt * 1000);
    const maxAge = rules.trust.maxAttestationAgeSeconds;
    // too old once now − issuedAt > maxAge: the first millisecond past the bound
    if (maxAge !== undefined) consider((a.issuedAt + maxAge) * 1000 + 1);
  }
  return next;
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  await loadFastPostQuantumVerifier();
  mkdirSync(opts.dataDir, { recursive: true });
  const log = opts.logger;
  const metrics = createGatewayMetrics();
  const observationsFile = path.join(opts.dataDir, "observations.jsonl");
  const observe = openObservationLog(observationsFile, opts.gatewayId);
  const traffic = createTrafficMeter(observe, opts.trafficIntervalMs ?? 60_000);
  const upstreams = opts.upstreams.map((u) => createUpstream(u));
  const verified = opts.witnesses
    ? await openVerifiedReplica({
        dataDir: path.join(opts.dataDir, "witness"),
        upstreams,
        heartbeatMs: opts.heartbeatMs,
        logger: log,
        witnesses: opts.witnesses.list,
        threshold: opts.witnesses.threshold,
        events: { equivocation: (w) => metrics.equivocation(w), refused: (r) => metrics.upstreamRefused(r) },
      })
    : undefined;
  const replica: Replica =
    verified ??
    (await openReplica({
      dataDir: path.join(opts.dataDir, "replica"),
      upstreams,
      heartbeatMs: opts.heartbeatMs,
      logger: log,
    }));
  let policy = opts.policy;
  const stale = (nowMs: number) => {
    const last = replica.lastContactMs();
    return last === undefined || nowMs - last > policy.maxStalenessSeconds * 1000;
  };
  const trust: TrustContext = { replica, policy: () => policy, stale };
  const nonces = createNonceCache();
  const sessions = new Map<string, Session>();
  const byClient = new WeakMap<Client, Session>();

  function end(s: Session, cause: string, reasons: readonly string[]): void {
    if (s.timer) clearTimeout(s.timer);
    if (sessions.get(s.deviceId) === s) {
      sessions.delete(s.deviceId);
      traffic.ended(s.deviceId);
    }
    observe.write({
      type: "session",
      event: "end",
      deviceId: s.deviceId,
      cause,
      ...(reasons.length > 0 && { reasons: [...reasons] }),
      durationMs: Date.now() - s.startedMs,
    });
  }

  /** Re-checks one connected device; disconnects it when its verdict is false. */
  function recheck(s: Session, trigger: string): void {
    const now = Date.now();
    const device = replica.device(s.deviceId);
    const keyOk = device !== undefined && device.keyHash === s.keyHash;
    const v = verdictFor(trust, device, keyOk ? [] : ["KEY_MISMATCH"], now);
    if (!v.trusted) {
      log.info({ msg: "disconnecting device", device_id: s.deviceId, trigger, reasons: v.reasons });
      metrics.disconnect(v.reasons[0] ?? "UNKNOWN");
      end(s, trigger, v.reasons);
      s.client.close();
      return;
    }
    s.rules = v.rules;
    arm(s, device!, now);
  }

  function arm(s: Session, device: ReplicaDevice, now: number): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    const at = nextTimeChange(device, s.rules, now);
    if (at === undefined) return;
    s.timer = setTimeout(() => recheck(s, "attestation_time"), Math.min(at - now, MAX_TIMER_MS));
  }

  const recheckAll = (trigger: string) => {
    for (const s of [...sessions.values()]) recheck(s, trigger);
  };

  // staleness: a timer at the instant the replica grows too old, moved on every contact
  let staleTimer: NodeJS.Timeout | undefined;
  let staleLogged = false;
  function armStaleness(): void {
    if (staleTimer) clearTimeout(staleTimer);
    const last = replica.lastContactMs();
    if (last === undefined) return;
    const at = last + policy.maxStalenessSeconds * 1000 + 1;
    staleTimer = setTimeout(
      () => {
        staleLogged = true;
        log.warn({ msg: "replica stale: refusing every device", max_staleness_s: policy.maxStalenessSeconds });
        recheckAll("stale");
      },
      Math.max(0, Math.min(at - Date.now(), MAX_TIMER_MS)),
    );
  }
  armStaleness();
  replica.onChange((c) => {
    if (c.type === "contact") {
      if (staleLogged) log.info({ msg: "replica fresh again", upstream: replica.upstream() });
      staleLogged = false;
      return armStaleness();
    }
    if (c.type === "all") return recheckAll(c.cause);
    const s = sessions.get(c.id);
    if (s) recheck(s, "device_changed");
  });

  const broker = await Aedes.createBroker({
    id: opts.gatewayId,
    authenticate(client, username, password, done) {
      const now = Date.now();
      const conn = client.conn as Partial<TLSSocket>;
      const tls = typeof conn.exportKeyingMaterial === "function";
      const channelBinding = tls
        ? "0x" + conn.exportKeyingMaterial!(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)).toString("hex")
        : undefined;
      let d: Decision;
      try {
        d = decideConnect(
          { ...trust, gatewayId: opts.gatewayId, nonces },
          { clientId: client.id, username, password, ...(channelBinding !== undefined && { channelBinding }) },
          now,
        );
      } catch (err) {
        log.error({ msg: "admission failed", err: err instanceof Error ? err.message : String(err) });
        d = { ok: false, reasons: ["TOKEN_MALFORMED"], detail: "internal error", tokenRefusal: true };
      }
      const remote = (client.conn as { remoteAddress?: string }).remoteAddress;
      observe.write({
        type: "decision",
        clientId: client.id.slice(0, 80),
        ...(d.deviceId !== undefined && { deviceId: d.deviceId }),
        outcome: d.ok ? "admitted" : "refused",
        reasons: [...d.reasons],
        ...(d.ok && { segment: d.device.segment }),
        ...(!d.ok && d.detail !== undefined && { detail: d.detail.slice(0, 200) }),
        ...(remote !== undefined && { remote }),
        tls,
      });
      metrics.admission(d.ok ? "admitted" : "refused", d.reasons);
      if (!d.ok) {
        const err = new Error(d.reasons.join(",")) as AuthenticateError;
        err.returnCode = d.tokenRefusal ? 4 : 5;
        return done(err, null);
      }
      // the session exists from here on: aedes may take the device's first SUBSCRIBE before 'clientReady'
      byClient.set(client, {
        client,
        deviceId: d.deviceId,
        segment: d.device.segment,
        rules: d.rules,
        keyHash: d.keyHash,
        startedMs: now,
      });
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null);
      const s = byClient.get(client);
      if (s && mayPublish(packet.topic, s.segment, s.deviceId, s.rules)) return done(null);
      metrics.aclRefused("publish");
      observe.write({
        type: "acl",
        deviceId: client.id,
        action: "publish",
        topic: packet.topic.slice(0, 256),
        outcome: "refused",
      });
      // MQTT 3.1.1 §3.3.5: a server that refuses a PUBLISH must acknowledge it or close the connection;
      // a device writing outside its topics is misbehaving: close (its session ends, the refusal counts)
      done(new Error("publish not authorized"));
      setImmediate(() => client.close());
    },
    authorizeSubscribe(client, sub, done) {
      const s = byClient.get(client);
      if (s && maySubscribe(sub.topic, s.segment, s.deviceId, s.rules)) return done(null, sub);
      metrics.aclRefused("subscribe");
      observe.write({
        type: "acl",
        deviceId: client.id,
        action: "subscribe",
        topic: sub.topic.slice(0, 256),
        outcome: "refused",
      });
      done(null, null); // SUBACK 0x80 for this filter
    },
  });
  broker.on("clientReady", (client) => {
    const s = byClient.get(client);
    if (!s) return client.close();
    const previous = sessions.get(s.deviceId);
    if (previous && previous.client !== client) end(previous, "taken_over", []);
    sessions.set(s.deviceId, s);
    observe.write({ type: "session", event: "start", deviceId: s.deviceId, segment: s.segment });
    traffic.started(s.deviceId, s.segment);
    // the replica may have changed between the decision and now: check once more, then arm timers
    recheck(s, "connected");
  });
  broker.on("publish", (packet, client) => {
    const s = client ? byClient.get(client) : undefined;
    if (s && sessions.get(s.deviceId) === s) traffic.published(s.deviceId, packet.topic, Buffer.from(packet.payload));
  });
  broker.on("clientDisconnect", (client) => {
    const s = byClient.get(client);
    if (s && sessions.get(s.deviceId) === s) end(s, "client_disconnected", []);
  });

  const handle = (socket: Parameters<typeof broker.handle>[0]) => broker.handle(socket);
  const mqtt: NetServer = opts.tls
    ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: "TLSv1.3" }, handle)
    : createNetServer(handle);
  await new Promise<void>((resolve, reject) => {
    mqtt.once("error", reject);
    mqtt.listen(opts.mqttPort, opts.host, () => resolve());
  });
  const mqttPort = (mqtt.address() as AddressInfo).port;

  const ready = () => replica.synced() && !stale(Date.now());
  const http: HttpServer = createHttpServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    if (url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    } else if (url === "/readyz") {
      const ok = ready();
      const last = replica.lastContactMs();
      res.writeHead(ok ? 200 : 503, { "content-type": "application/json" }).end(
        JSON.stringify({
          ready: ok,
          upstream: replica.upstream() ?? null,
          replicaAgeSeconds: last === undefined ? null : (Date.now() - last) / 1000,
          maxStalenessSeconds: policy.maxStalenessSeconds,
          devices: replica.size(),
          ...(verified && { witness: verified.verification() }),
        }),
      );
    } else if (url === "/metrics") {
      const last = replica.lastContactMs();
      metrics
        .render({
          connected: sessions.size,
          replicaDevices: replica.size(),
          replicaAgeSeconds: last === undefined ? Infinity : (Date.now() - last) / 1000,
          replicaBlock: replica.status()?.indexedBlock ?? 0,
          ready: ready(),
        })
        .then(
          (text) => res.writeHead(200, { "content-type": metrics.contentType }).end(text),
          () => res.writeHead(500).end(),
        );
    } else {
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":"not found"}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(opts.httpPort, opts.host, () => resolve());
  });
  const httpPort = (http.address() as AddressInfo).port;
  replica.start();

  return {
    mqttUrl: `${opts.tls ? "mqtts" : "mqtt"}://${opts.host}:${mqttPort}`,
    httpUrl: `http://${opts.host}:${httpPort}`,
    replica,
    ...(verified && { verification: () => verified.verification() }),
    observationsFile,
    setPolicy(next) {
      policy = next;
      observe.write({ type: "policy", event: "reloaded" });
      armStaleness();
      recheckAll("policy_reload");
    },
    policyChangeFailed(detail) {
      observe.write({ type: "policy", event: "reload-failed", detail });
    },
    connected: () => sessions.size,
    async stop() {
      if (staleTimer) clearTimeout(staleTimer);
      for (const s of sessions.values()) if (s.timer) clearTimeout(s.timer);
      traffic.stop();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await Promise.all([
        new Promise<void>((resolve) => mqtt.close(() => resolve())),
        new Promise<void>((resolve) => {
          http.closeAllConnections();
          http.close(() => resolve());
        }),
      ]);
      await replica.stop();
      await observe.close();
    },
  };
}
