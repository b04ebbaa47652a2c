/**
 * `npm run bench -- monitor` (issue 13): the seeded fleet simulator (monitor-sim.ts) drives the
 * monitor engine (monitor/engine.ts, with its LevelDB store) for 10,000 devices over a learning day
 * and an evaluated day with labelled attacks; the alerts are scored against the labels here, after
 * the fact. Seed BENCH_SEED (the tests use other seeds). `DTL_BENCH_MONITOR_DEVICES` and
 * `DTL_BENCH_MONITOR_SEED` change the fleet size and seed (for tuning on another seed than the
 * one reported).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createMonitor, type Alert } from "../monitor/engine";
import { openMonitorStore } from "../monitor/store";
import type { Figures } from "./index";
import { round } from "./measure";
import { simulate, type AttackKind, type Label, type SimOptions, type Simulation } from "./monitor-sim";

export const BENCH_SEED = 20_261_302;

const DETECTOR_OF: Record<AttackKind, Alert["kind"]> = {
  clone: "clone",
  hijack: "drift",
  credential: "credential",
  firmware: "firmware",
};

export interface Score {
  recall: number;
  precision: number;
  falsePositives: number;
  /** Alerts of this kind on a device or source under another kind of attack (neither hit nor false). */
  crossDetections: number;
  /** Per incident detected: engine clock at the alert − the attack's start, ms. */
  timesToDetect: number[];
  missed: Label[];
  falseAlerts: (Alert & { raisedAt: number })[];
}

/** Scores alerts (each with the engine clock when raised) against the labels. */
export function score(sim: Simulation, alerts: readonly (Alert & { raisedAt: number })[]): Record<AttackKind, Score> {
  const involved = (l: Label, a: Alert): boolean =>
    (a.deviceId !== undefined && l.devices.includes(a.deviceId)) || (a.source !== undefined && a.source === l.source);
  const out = {} as Record<AttackKind, Score>;
  for (const kind of Object.keys(DETECTOR_OF) as AttackKind[]) {
    const det = DETECTOR_OF[kind];
    const mine = alerts.filter((a) => a.kind === det);
    const labels = sim.labels.filter((l) => l.kind === kind);
    const hits = new Set<Alert>();
    const times: number[] = [];
    const missed: Label[] = [];
    for (const l of labels) {
      const found = mine.filter((a) => a.raisedAt >= l.at && involved(l, a));
      if (found.length === 0) {
        missed.push(l);
        continue;
      }
      for (const a of found) hits.add(a);
      times.push(Math.min(...found.map((a) => a.raisedAt)) - l.at);
    }
    const rest = mine.filter((a) => !hits.has(a));
    const cross = rest.filter((a) => sim.labels.some((l) => l.kind !== kind && a.raisedAt >= l.at && involved(l, a)));
    const falseAlerts = rest.filter((a) => !cross.includes(a));
    out[kind] = {
      recall: labels.length ? (labels.length - missed.length) / labels.length : 1,
      precision: hits.size + falseAlerts.length ? hits.size / (hits.size + falseAlerts.length) : 1,
      falsePositives: falseAlerts.length,
      crossDetections: cross.length,
      timesToDetect: times.sort((a, b) => a - b),
      missed,
      falseAlerts,
    };
  }
  return out;
}

export interface MonitorRun {
  sim: Simulation;
  alerts: (Alert & { raisedAt: number })[];
  observations: number;
  ingestMs: number;
  devices: number;
}

/** Runs the simulator through a monitor with a LevelDB store in a temp folder. */
export async function runSimulation(
  seed: number,
  devices: number,
  days = 2,
  extra: Partial<SimOptions> = {},
): Promise<MonitorRun> {
  const sim = simulate({ seed, devices, days, ...extra });
  const dir = mkdtempSync(path.join(tmpdir(), "dtl-monitor-bench-"));
  let clock = sim.start;
  const monitor = await createMonitor({
    params: { sites: sim.sites },
    now: () => clock,
    firmwareOf: (id) => sim.firmwareOf(id, clock),
    store: await openMonitorStore(path.join(dir, "monitor")),
  });
  const alerts: (Alert & { raisedAt: number })[] = [];
  monitor.onAlert((a) => alerts.push({ ...a, raisedAt: clock }));
  let observations = 0;
  let ingestNs = 0n;
  const BATCH = 500;
  const SPREAD_MS = 100;
  try {
    for (const minute of sim.minutes()) {
      // a batch is what one push would carry: at most BATCH observations within SPREAD_MS
      for (let i = 0; i < minute.length;) {
        let j = i + 1;
        while (j < minute.length && j - i < BATCH && minute[j]!.arrival - minute[i]!.arrival <= SPREAD_MS) j++;
        const part = minute.slice(i, j);
        i = j;
        clock = part.at(-1)!.arrival;
        const obs = part.map((p) => p.obs);
        const t0 = process.hrtime.bigint();
        const res = await monitor.ingest(obs);
        ingestNs += process.hrtime.bigint() - t0;
        observations += obs.length;
        if (res.refused.length) throw new Error(`simulated observation refused: ${JSON.stringify(res.refused[0])}`);
      }
    }
    await monitor.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { sim, alerts, observations, ingestMs: Number(ingestNs) / 1e6, devices };
}

export async function run(): Promise<Figures> {
  const responseSamples = Number(process.env.DTL_BENCH_MONITOR_RESPONSE_SAMPLES ?? 5);
  if (process.env.DTL_BENCH_MONITOR_ONLY === "response") {
    const r = await measureResponse(responseSamples);
    return { responseP99Ms: r.p99, responseSamplesMs: r.times.join(" ") };
  }
  const devices = Number(process.env.DTL_BENCH_MONITOR_DEVICES ?? 10_000);
  const seed = Number(process.env.DTL_BENCH_MONITOR_SEED ?? BENCH_SEED);
  const r = await runSimulation(seed, devices);
  const s = score(r.sim, r.alerts);
  if (process.env.DTL_BENCH_MONITOR_VERBOSE)
    for (const [k, v] of Object.entries(s))
      console.error(
        k,
        JSON.stringify({ missed: v.missed, falseAlerts: v.falseAlerts.slice(0, 10), ttd: v.timesToDetect }),
      );
  const max = (xs: number[]): number => (xs.length ? Math.max(...xs) : NaN);
  const f: Figures = {
    devices,
    seed,
    simulatedDays: 2,
    observations: r.observations,
    observationsPerSec: Math.round(r.observations / (r.ingestMs / 1000)),
  };
  for (const [kind, key] of [
    ["clone", "clone"],
    ["hijack", "drift"],
    ["credential", "credential"],
    ["firmware", "firmware"],
  ] as const) {
    const v = s[kind];
    f[`${key}.recall`] = round(v.recall, 3);
    f[`${key}.precision`] = round(v.precision, 3);
    f[`${key}.falsePositives`] = v.falsePositives;
    f[`${key}.crossDetections`] = v.crossDetections;
    f[`${key}.incidents`] = r.sim.labels.filter((l) => l.kind === kind).length;
    if (kind !== "firmware" && kind !== "hijack") f[`${key}.timeToDetectMs`] = round(max(v.timesToDetect));
  }
  // drift is judged on the evaluated day only (the first is its warm-up): false alerts per device-day
  f["drift.falsePositiveRate"] = round(s.hijack.falsePositives / devices, 4);
  f["drift.timeToDetectMsMedian"] = round(s.hijack.timesToDetect[Math.floor(s.hijack.timesToDetect.length / 2)] ?? NaN);
  f["firmware.timeToDetectMs"] = round(max(s.firmware.timesToDetect));
  // a clone at another gateway of the same site is told from a hand-over only once the old session
  // carries messages after the new one started (the next traffic report): its time to detect apart
  const ttdOf = (pred: (l: Label) => boolean): number =>
    max(
      r.sim.labels
        .filter((l) => l.kind === "clone" && pred(l))
        .map((l) => r.alerts.find((a) => a.kind === "clone" && a.deviceId === l.deviceId && a.raisedAt >= l.at))
        .filter((a): a is Alert & { raisedAt: number } => a !== undefined)
        .map((a) => a.raisedAt - r.sim.labels.find((l) => l.kind === "clone" && l.deviceId === a.deviceId)!.at),
    );
  f["clone.crossSiteTimeToDetectMs"] = round(ttdOf((l) => !l.detail.startsWith("same site")));
  f["clone.sameSiteTimeToDetectMs"] = round(ttdOf((l) => l.detail.startsWith("same site")));
  if (responseSamples > 0) {
    const resp = await measureResponse(responseSamples);
    f.responseP99Ms = resp.p99;
    f.responseSamplesMs = resp.times.join(" ");
  }
  f["clone.sameSiteIncidents"] = r.sim.labels.filter(
    (l) => l.kind === "clone" && l.detail.startsWith("same site"),
  ).length;
  return f;
}

/**
 * responseP99Ms: alert → suspension mined → gateway disconnect, with real processes (hardhat node,
 * `dtl serve` with its monitor, `dtl gateway`, `dtl monitor --observations … --respond suspend`,
 * mqtt.js devices). Each sample: a device connected at gw-test, a clone reported at gw-far (another
 * site) with reportObservations; timed from that request to the device's connection closing.
 */
export async function measureResponse(samples: number): Promise<{ p99: number; times: number[] }> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { writeFileSync } = require("node:fs") as typeof import("node:fs");
  const { writeDeployment } = require("../scripts/deploy") as typeof import("../scripts/deploy");
  const { registerTestDevice } = require("../test/helpers/api-fixture") as typeof import("../test/helpers/api-fixture");
  const { HARDHAT_KEYS, startHardhatNode } = require("../test/helpers/chain") as typeof import("../test/helpers/chain");
  const run = require("../test/helpers/cli-run") as typeof import("../test/helpers/cli-run");
  const { deployFleetRegistry } = require("../test/helpers/fleet") as typeof import("../test/helpers/fleet");
  const gwRun = require("../test/helpers/gateway-run") as typeof import("../test/helpers/gateway-run");
  const { percentile } = require("./measure") as typeof import("./measure");
  /* eslint-enable @typescript-eslint/no-require-imports */
  run.ensureBuilt();
  const tmp = run.tempDir("dtl-bench-monitor-");
  const node = await startHardhatNode();
  const stops: (() => Promise<unknown>)[] = [() => node.stop()];
  try {
    const fleet = await deployFleetRegistry(node.url);
    const deploymentFile = writeDeployment(fleet.deployment, path.join(tmp.dir, "deployment.json"));
    const devices = [];
    for (let i = 0; i < samples; i++)
      devices.push(await registerTestDevice(fleet.actors, { alg: "ed25519", segment: "plant-1" }));
    const sites = path.join(tmp.dir, "sites.json");
    writeFileSync(sites, JSON.stringify({ gateways: { "gw-test": "site-a", "gw-far": "site-b" } }));
    const keys = { test: "bench-key-gw-test-0123", far: "bench-key-gw-far-01234" };
    const { serve, apiUrl } = await run.startServe(
      path.join(tmp.dir, "index"),
      {
        env: {
          DTL_RPC_URL: node.url,
          DTL_DEPLOYMENT: deploymentFile,
          DTL_LOG_LEVEL: "warn",
          DTL_MONITOR_GATEWAY_KEYS: `gw-test=${keys.test},gw-far=${keys.far}`,
        },
        cwd: tmp.dir,
      },
      ["--monitor-sites", sites],
    );
    stops.unshift(() => serve.stop());
    await run.waitIndexed(apiUrl, node.url);
    const { gw } = await gwRun.startTestGateway(apiUrl, tmp.dir, {
      maxStalenessSeconds: 600,
      segments: { "plant-1": {} },
    });
    stops.unshift(() => gw.stop("SIGTERM"));
    const monitor = run.startDtl(
      [
        "monitor",
        "--observations",
        gw.observationsFile,
        "--from-start",
        "--respond",
        "suspend",
        "--max-per-minute",
        "600",
        "--burst",
        "100",
      ],
      {
        env: {
          DTL_API_URL: apiUrl,
          DTL_API_KEY: keys.test,
          DTL_RPC_URL: node.url,
          DTL_DEPLOYMENT: deploymentFile,
          DTL_PRIVATE_KEY: HARDHAT_KEYS[4]!,
        },
        cwd: tmp.dir,
      },
    );
    stops.unshift(() => monitor.stop());
    await monitor.waitFor(/responding: suspend/);
    const times: number[] = [];
    const sessionsSeen = async (n: number): Promise<void> => {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const text = await (await fetch(apiUrl.replace(/\/graphql$/, "/metrics"))).text();
        const m = /dtl_monitor_observations_total\{type="session"\} (\d+)/.exec(text);
        if (Number(m?.[1] ?? 0) >= n) return;
        if (Date.now() > deadline) throw new Error(`the monitor did not see ${n} session observations`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    for (const [i, d] of devices.entries()) {
      // every sample adds three session observations (start, the clone's start, the end when dropped)
      await sessionsSeen(3 * i);
      const c = await gwRun.connectDevice(gw.mqttUrl, { deviceId: d.id, pair: d.pair });
      // its session start has reached the monitor (through the file and reportObservations)
      await sessionsSeen(3 * i + 1);
      const gone = gwRun.closed(c);
      const t0 = Date.now();
      const res = await fetch(apiUrl, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${keys.far}` },
        body: JSON.stringify({
          query: `mutation R($o: [ObservationInput!]!) { reportObservations(observations: $o) { alerts } }`,
          variables: {
            o: [{ type: "SESSION", event: "start", gateway: "gw-far", deviceId: d.id, ts: new Date().toISOString() }],
          },
        }),
      });
      const body = (await res.json()) as { data?: { reportObservations: { alerts: number } } };
      if (body.data?.reportObservations.alerts !== 1) throw new Error(`no clone alert: ${JSON.stringify(body)}`);
      times.push((await gone) - t0);
    }
    return {
      p99: percentile(
        [...times].sort((a, b) => a - b),
        99,
      ),
      times,
    };
  } finally {
    for (const s of stops) await s().catch(() => undefined);
    tmp.cleanup();
  }
}
