/**
 * `dtl gateway` as a child process (real broker, real LevelDB replica, real HTTP) and real MQTT
 * clients (mqtt.js) for the gateway tests: start it on port 0 and read its ports from the banner,
 * connect devices with tokens, read the observations it writes.
 */
import { readFileSync, existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { connectAsync, type IClientOptions, type MqttClient } from "mqtt";
import { makeConnectToken, CONNECT_USERNAME } from "../../gateway/token";
import type { DeviceKeyPair } from "../../common/keys";
import { startDtl, type RunOptions, type RunningDtl } from "./cli-run";

export interface RunningGateway {
  proc: RunningDtl;
  mqttUrl: string;
  httpUrl: string;
  observationsFile: string;
  /** Observations written so far, parsed. */
  observations(): Record<string, unknown>[];
  /** The first observation `pred` accepts, waiting for it (lines land just after what they record). */
  observed(pred: (o: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves once /readyz says 200. */
  ready(timeoutMs?: number): Promise<void>;
  metrics(): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startGatewayProcess(args: readonly string[], opts: RunOptions = {}): Promise<RunningGateway> {
  const proc = startDtl(["gateway", "--mqtt-port", "0", "--http-port", "0", ...args], opts);
  const m = await proc.waitFor(/MQTT at (mqtts?:\/\/[\d.:]+)\S*.*; ops at (http:\/\/[\d.:]+); .*observations (\S+)/);
  const [, mqttUrl, httpUrl, observationsFile] = m as unknown as [string, string, string, string];
  const observations = () =>
    existsSync(observationsFile)
      ? readFileSync(observationsFile, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>)
      : [];
  return {
    proc,
    mqttUrl,
    httpUrl,
    observationsFile,
    observations,
    async observed(pred, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = observations().find(pred);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no such observation within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async ready(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const res = await fetch(`${httpUrl}/readyz`).catch(() => undefined);
        if (res?.status === 200) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`gateway not ready within ${timeoutMs} ms:\n${proc.stdout()}\n${proc.stderr()}`);
    },
    metrics: () => fetch(`${httpUrl}/metrics`).then((r) => r.text()),
    stop: (signal) => proc.stop(signal),
  };
}

/** Connects as `deviceId` with a fresh token (or the password given); rejects when refused. */
export function connectDevice(
  url: string,
  opts: {
    deviceId: string;
    pair?: Pick<DeviceKeyPair, "algorithm" | "privateKey" | "publicKey">;
    gateway?: string;
    password?: string;
    username?: string;
    clientId?: string;
    extra?: IClientOptions;
  },
): Promise<MqttClient> {
  const password =
    opts.password ?? JSON.stringify(makeConnectToken(opts.pair!, opts.deviceId, opts.gateway ?? "gw-test"));
  return connectAsync(url, {
    clientId: opts.clientId ?? opts.deviceId,
    username: opts.username ?? CONNECT_USERNAME,
    password,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...opts.extra,
  });
}

/** The error code of a refused CONNECT (4 bad username or password, 5 not authorized). */
export async function refusedWith(p: Promise<MqttClient>): Promise<number> {
  try {
    const c = await p;
    await c.endAsync();
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
  throw new Error("the CONNECT was accepted");
}

/** Resolves with the time (ms) the client's connection closes. */
export function closed(client: MqttClient): Promise<number> {
  return new Promise((resolve) => client.once("close", () => resolve(Date.now())));
}

/**
 * The tests' standard gateway: id `gw-test`, plain MQTT, a 200 ms heartbeat, `policy` written to
 * `<dir>/gateway.json`, its data in `<dir>/gw`; resolves once it is ready.
 */
export async function startTestGateway(
  apiUrl: string,
  dir: string,
  policy: unknown,
): Promise<{ gw: RunningGateway; policyFile: string }> {
  const policyFile = path.join(dir, "gateway.json");
  writeFileSync(policyFile, JSON.stringify(policy));
  const args = ["--upstream", apiUrl, "--policy", policyFile, "--id", "gw-test", "--insecure-plain"];
  const gw = await startGatewayProcess([...args, "--data-dir", path.join(dir, "gw"), "--heartbeat-ms", "200"], {
    env: { DTL_LOG_LEVEL: "warn" },
    cwd: dir,
  });
  await gw.ready();
  return { gw, policyFile };
}
