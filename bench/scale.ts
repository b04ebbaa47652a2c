/**
 * `npm run bench -- scale`: the index at fleet scale (issue 9). The chain is Anvil's (see
 * scale-chain.ts: built once, cached in .bench/); the index is a real `dtl serve` process (the
 * compiled CLI, indexer + API in one process, default settings) on an empty data dir. Figures
 * (flat, the runner prefixes `scale.`), for a fleet of DTL_BENCH_SCALE_DEVICES (default 1,000,000):
 *
 *   devices, events            what the chain holds (events: every registry event the index reads)
 *   chainBuildS, chainLoadMs   building the cached chain (when it was built) / Anvil loading it
 *   getLogsEventsPerSec        raw eth_getLogs over the registry's whole range, the indexer's range
 *                              sizes (indexer/ranges.ts defaults), plain fetch + JSON.parse
 *   backfillEventsPerSec       `dtl serve` spawned on an empty data dir → its "caught up" line
 *                              (process start included), same node, same run; backfillRatio = ÷ raw
 *   rssAfterBackfillMb         the serve process's RSS once it has settled after the backfill
 *   rssBaseMb, rssGrowth       the same at DTL_BENCH_SCALE_BASE devices (default 100,000, its own
 *                              chain), and RSS at the fleet ÷ RSS at the base
 *   restartMs                  SIGKILL, OS page cache dropped, spawn → the first correct answer to
 *                              device(id) (process start-up, store open and API start included);
 *                              restartListeningMs: spawn → the banner (store open, API listening)
 *   lookupColdP50/P99Ms        device(id) of random devices right after that restart, sequential on
 *                              one keep-alive connection (nothing of them read since the restart)
 *   lookupWarmP50/P99Ms        the same ids again
 *   verifyBatchDevicesPerSec   verifyDevices with 1,000 random ids per request, 4 connections,
 *                              after one untimed pass over the same requests (warm)
 *   diskBytesPerDevice         the data dir after a clean stop ÷ devices
 *   pageCacheDropped           whether `echo 3 > /proc/sys/vm/drop_caches` worked (root only)
 *
 * Every answer is checked: sampled devices against the chain's getDevice/historyHead and what the
 * builder wrote, every timed lookup and every batch verdict against the builder's expectation, the
 * indexed event count against the raw count — a fast wrong index cannot score.
 */
import { readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import autocannon from "autocannon";
import { registryInterface } from "../common/abi";
import { keyAlgorithmEnum } from "../common/codes";
import { decodeShortName } from "../common/ids";
import { hexToNumber, type RpcClient } from "../common/rpc";
import { createRangeSizer } from "../indexer/ranges";
import { ensureBuilt, startDtl, tempDir, type RunningServe } from "../test/helpers/cli-run";
import { prng } from "../test/helpers/seed";
import type { Figures } from "./index";
import { percentile, rawLogCount, round, rssMb, timedPosts } from "./measure";
import {
  checkOnChain,
  deviceSource,
  expectedOf,
  scaleChain,
  startAnvil,
  type Anvil,
  type ScaleChain,
  type ScaleDevice,
} from "./scale-chain";

const DEVICES = Number(process.env.DTL_BENCH_SCALE_DEVICES ?? 1_000_000);
const BASE = Number(process.env.DTL_BENCH_SCALE_BASE ?? 100_000);
const LOOKUPS = Number(process.env.DTL_BENCH_SCALE_LOOKUPS ?? 2_000);
const SECONDS = Number(process.env.DTL_BENCH_SCALE_SECONDS ?? 10);
/** Seed of the devices the bench picks (not of the chain). */
const PICK_SEED = Number(process.env.DTL_BENCH_SCALE_PICK_SEED ?? 9);
/** The dtl to measure: this checkout's (built here), or another build's bin/dtl.js (a "before"). */
const DTL = process.env.DTL_BENCH_DTL;

const DEVICE_QUERY = `query($id: Bytes32!) { device(id: $id) { id manufacturer status keyAlgorithm keyHash firmwareHash segment historyHead eventCount } }`;
const VERIFY_QUERY = `query($ids: [Bytes32!]!) { verifyDevices(ids: $ids) { deviceId trusted reasons } }`;

interface DeviceAnswer {
  id: string;
  manufacturer: string;
  status: string;
  keyAlgorithm: string;
  keyHash: string;
  firmwareHash: string;
  segment: string;
  historyHead: string;
  eventCount: number;
}

const body = (query: string, variables: Record<string, unknown>) => JSON.stringify({ query, variables });
const say = (msg: string) => process.stderr.write(`  ${msg}\n`);

/** How the API's answer differs from what the builder wrote (empty when it agrees). */
function differences(d: ScaleDevice, got: DeviceAnswer | null | undefined): string[] {
  if (!got) return ["no device"];
  const want = expectedOf(d);
  const out: string[] = [];
  const same = (what: string, a: unknown, b: unknown) => a !== b && out.push(`${what} ${String(a)} ≠ ${String(b)}`);
  same("id", got.id, d.id);
  same("manufacturer", got.manufacturer, want.manufacturer);
  same("status", got.status, want.status);
  same("keyAlgorithm", got.keyAlgorithm, keyAlgorithmEnum(want.keyAlgorithm));
  same("keyHash", got.keyHash, want.keyHash);
  same("firmwareHash", got.firmwareHash, want.firmwareHash);
  same("segment", got.segment, decodeShortName(want.segment));
  same("eventCount", got.eventCount, want.eventCount);
  return out;
}

function deviceOf(answer: string): DeviceAnswer | null | undefined {
  const r = JSON.parse(answer) as { data?: { device: DeviceAnswer | null }; errors?: unknown };
  if (r.errors) throw new Error(`device(id) answered errors: ${JSON.stringify(r.errors)}`);
  return r.data?.device;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

/** Drops the OS page cache (needs root); says whether it worked. */
function dropPageCache(): string {
  try {
    writeFileSync("/proc/sys/vm/drop_caches", "3\n");
    return "yes";
  } catch (err) {
    return `no (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
}

/** Raw eth_getLogs over [from, to] in the indexer's range sizes: logs counted, nothing decoded. */
async function rawGetLogs(url: string, registry: string, from: number, to: number): Promise<number> {
  // the indexer's sizes: its defaults, capped by DTL_MAX_BLOCK_RANGE as dtl serve is
  const maxSpan = process.env.DTL_MAX_BLOCK_RANGE;
  const sizer = createRangeSizer(maxSpan ? { maxSpan: Number(maxSpan) } : {});
  let logs = 0;
  for (let a = from; a <= to;) {
    const b = Math.min(to, a + sizer.span - 1);
    const got = await rawLogCount(url, registry, a, b);
    sizer.succeeded(b - a + 1, got);
    logs += got;
    a = b + 1;
  }
  return logs;
}

/** RSS of `pid` once it holds still: two readings 5 s apart within 2 % (at most 60 s). */
async function settledRss(pid: number): Promise<number> {
  let last = rssMb(pid);
  for (let waited = 0; waited < 60_000; waited += 5_000) {
    await new Promise((r) => setTimeout(r, 5_000));
    const now = rssMb(pid);
    if (Math.abs(now - last) <= last * 0.02) return now;
    last = now;
  }
  return last;
}

interface Run {
  chain: ScaleChain;
  anvil: Anvil;
  dataDir: { dir: string; cleanup(): void };
  serveArgs: string[];
  env: Record<string, string | undefined>;
}

/** Anvil with the chain loaded and checked against what the build recorded. */
async function loadChain(chain: ScaleChain): Promise<{ anvil: Anvil; loadMs: number }> {
  const t0 = performance.now();
  const anvil = await startAnvil(["--load-state", chain.stateFile]);
  const loadMs = performance.now() - t0;
  const head = await anvil.client.call<{ number: string; hash: string }>("eth_getBlockByNumber", ["latest", false]);
  if (hexToNumber(head.number) !== chain.meta.headBlock || head.hash !== chain.meta.headHash) {
    await anvil.stop();
    throw new Error(
      `the loaded chain's head is ${hexToNumber(head.number)} ${head.hash}, the build ended at ${chain.meta.headBlock} ${chain.meta.headHash}`,
    );
  }
  return { anvil, loadMs };
}

/**
 * `dtl serve --port 0` on the run's data dir, its URL read from the banner (which comes once the
 * store is open and the API listens: allowed 10 minutes, a store may take long to open).
 */
async function startServing(run: Run): Promise<RunningServe> {
  const serve = startDtl(["serve", "--port", "0", "--data-dir", run.dataDir.dir, ...run.serveArgs], {
    env: run.env,
    bin: DTL,
  });
  const m = await serve.waitFor(/GraphQL at (http:\/\/127\.0\.0\.1:\d+\/graphql)/, 600_000);
  return { serve, apiUrl: m[1]! };
}

/** `dtl serve` on the run's data dir; resolves with the process and when its "caught up" line came. */
async function serve(run: Run): Promise<{ s: RunningServe; caughtUp: Promise<Record<string, unknown>> }> {
  const s = await startServing(run);
  const caughtUp = s.serve
    .waitFor(/\{[^\n]*"msg":"caught up"[^\n]*\}/, 3_600_000)
    .then((m) => JSON.parse(m[0]) as Record<string, unknown>);
  caughtUp.catch(() => undefined);
  return { s, caughtUp };
}

/** Backfill from an empty data dir: rate, the raw reference before it, settled RSS. */
async function backfill(
  run: Run,
): Promise<{ s: RunningServe; events: number; raw: number; rawSec: number; sec: number; rss: number }> {
  const { chain, anvil } = run;
  const { deployment, meta } = chain;
  const expected = Object.values(meta.events).reduce((a, b) => a + b, 0) + meta.roleEvents;

  say(`raw eth_getLogs over ${meta.headBlock - deployment.deployBlock + 1} blocks…`);
  const r0 = performance.now();
  const raw = await rawGetLogs(anvil.url, deployment.registry, deployment.deployBlock, meta.headBlock);
  const rawSec = (performance.now() - r0) / 1000;
  if (raw !== expected) throw new Error(`eth_getLogs returned ${raw} registry events, the build wrote ${expected}`);

  say(`dtl serve: backfilling ${raw.toLocaleString("en")} events…`);
  const t0 = performance.now();
  const { s, caughtUp } = await serve(run);
  const line = await caughtUp;
  const sec = (performance.now() - t0) / 1000;
  if (line.events !== raw) throw new Error(`dtl serve indexed ${String(line.events)} events, the node returned ${raw}`);
  const rss = await settledRss(s.serve.proc.pid!);
  say(`caught up in ${round(sec, 1)} s; RSS ${rss} MB`);
  return { s, events: raw, raw, rawSec, sec, rss };
}

async function checkSample(apiUrl: string, client: RpcClient, registry: string, devices: ScaleDevice[]): Promise<void> {
  for (const d of devices) {
    const got = deviceOf(await (await post(apiUrl, body(DEVICE_QUERY, { id: d.id }))).text());
    const problems = [...differences(d, got), ...(await checkOnChain(client, registry, d))];
    const raw = await client.call<string>("eth_call", [
      { to: registry, data: registryInterface.encodeFunctionData("historyHead", [d.id]) },
      "latest",
    ]);
    const [head] = registryInterface.decodeFunctionResult("historyHead", raw) as unknown as [string];
    if (got && got.historyHead !== head) problems.push(`historyHead ${got.historyHead} ≠ chain ${head}`);
    if (problems.length) throw new Error(`device ${d.index} (${d.id}): ${problems.join("; ")}`);
  }
}

const post = (url: string, b: string) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: b });

function newRun(chain: ScaleChain, anvil: Anvil): Run {
  // dtl serve runs with a clean environment (no DTL_* from outside) but for these two settings
  const env: Record<string, string | undefined> = {
    DTL_CACHE_MB: process.env.DTL_CACHE_MB,
    DTL_MAX_BLOCK_RANGE: process.env.DTL_MAX_BLOCK_RANGE,
  };
  return {
    chain,
    anvil,
    dataDir: tempDir("dtl-bench-scale-"),
    serveArgs: ["--rpc", anvil.url, "--deployment", chain.deploymentFile, "--log-level", "info"],
    env,
  };
}

export async function run(): Promise<Figures> {
  if (!DTL) ensureBuilt();
  const device = await deviceSource();

  // ------------------------------------------------ the base fleet: RSS after its backfill
  const baseChain = await scaleChain(BASE);
  let rssBaseMb: number;
  {
    const { anvil } = await loadChain(baseChain);
    const run = newRun(baseChain, anvil);
    try {
      say(`base fleet of ${BASE.toLocaleString("en")} devices`);
      const b = await backfill(run);
      rssBaseMb = b.rss;
      await b.s.serve.stop("SIGTERM");
    } finally {
      await anvil.stop();
      run.dataDir.cleanup();
    }
  }

  // ------------------------------------------------ the fleet
  const chain = await scaleChain(DEVICES);
  const { anvil, loadMs } = await loadChain(chain);
  const run = newRun(chain, anvil);
  const pick = prng(PICK_SEED);
  const randomDevices = (n: number) => Array.from({ length: n }, () => device(Math.floor(pick() * DEVICES)));
  let s: RunningServe | undefined;
  try {
    say(`fleet of ${DEVICES.toLocaleString("en")} devices`);
    const b = await backfill(run);
    s = b.s;
    await checkSample(s.apiUrl, anvil.client, chain.deployment.registry, randomDevices(200));

    // ---------------------------------------------- restart after SIGKILL, page cache dropped
    await s.serve.stop("SIGKILL");
    const pageCacheDropped = dropPageCache();
    const first = randomDevices(1)[0]!;
    const t0 = performance.now();
    s = await startServing(run);
    const listeningMs = performance.now() - t0;
    let wrong = 0;
    let lastWrong = "";
    for (;;) {
      const got = deviceOf(await (await post(s.apiUrl, body(DEVICE_QUERY, { id: first.id }))).text());
      const problems = differences(first, got);
      if (problems.length === 0) break;
      wrong++;
      lastWrong = problems.join("; ");
      if (performance.now() - t0 > 600_000) throw new Error(`no correct answer within 600 s after the restart`);
    }
    const restartMs = performance.now() - t0;
    say(
      `restart: listening after ${round(listeningMs)} ms, first correct answer after ${round(restartMs)} ms` +
        (wrong ? ` (${wrong} answers before it were not: ${lastWrong})` : ""),
    );

    // ---------------------------------------------- cold, then warm lookups of the same ids
    const ids = randomDevices(LOOKUPS);
    const bodies = ids.map((d) => body(DEVICE_QUERY, { id: d.id }));
    const check = (answers: string[]) =>
      answers.forEach((a, i) => {
        const problems = differences(ids[i]!, deviceOf(a));
        if (problems.length) throw new Error(`lookup of device ${ids[i]!.index}: ${problems.join("; ")}`);
      });
    const cold = await timedPosts(s.apiUrl, bodies);
    check(cold.answers);
    const warm = await timedPosts(s.apiUrl, bodies);
    check(warm.answers);
    const coldSorted = [...cold.times].sort((a, c) => a - c);
    const warmSorted = [...warm.times].sort((a, c) => a - c);

    // ---------------------------------------------- batch verdicts, 1,000 random ids a request
    const batches = Array.from({ length: 20 }, () => randomDevices(1_000));
    const batchBodies = batches.map((ds) => body(VERIFY_QUERY, { ids: ds.map((d) => d.id) }));
    const warmUp = await timedPosts(s.apiUrl, batchBodies);
    warmUp.answers.forEach((a, k) => {
      const verdicts = (JSON.parse(a) as { data: { verifyDevices: { deviceId: string; trusted: boolean }[] } }).data
        .verifyDevices;
      batches[k]!.forEach((d, j) => {
        const v = verdicts[j];
        const trusted = expectedOf(d).status === "ACTIVE";
        if (v?.deviceId !== d.id || v.trusted !== trusted)
          throw new Error(
            `verifyDevices: device ${d.index} answered ${JSON.stringify(v)}, expected trusted=${trusted}`,
          );
      });
    });
    let next = 0;
    const load = await autocannon({
      url: s.apiUrl,
      connections: 4,
      duration: SECONDS,
      requests: [
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          setupRequest: (req) => ({ ...req, body: batchBodies[next++ % batchBodies.length] }),
        },
      ],
    });
    if (load.errors || load.non2xx || load.timeouts)
      throw new Error(`verifyDevices load: ${load.errors} errors, ${load.non2xx} non-2xx, ${load.timeouts} time-outs`);

    await s.serve.stop("SIGTERM");
    s = undefined;
    const disk = dirBytes(run.dataDir.dir);

    return {
      devices: DEVICES,
      events: b.events,
      chainBuildS: round(chain.meta.buildMs / 1000),
      chainLoadMs: round(loadMs),
      getLogsEventsPerSec: round(b.raw / b.rawSec),
      backfillEventsPerSec: round(b.events / b.sec),
      backfillRatio: round(b.events / b.sec / (b.raw / b.rawSec), 3),
      rssAfterBackfillMb: b.rss,
      baseDevices: BASE,
      rssBaseMb,
      rssGrowth: round(b.rss / rssBaseMb, 2),
      restartMs: round(restartMs),
      restartListeningMs: round(listeningMs),
      pageCacheDropped,
      lookupColdP50Ms: round(percentile(coldSorted, 50), 2),
      lookupColdP99Ms: round(percentile(coldSorted, 99), 2),
      lookupWarmP50Ms: round(percentile(warmSorted, 50), 2),
      lookupWarmP99Ms: round(percentile(warmSorted, 99), 2),
      verifyBatchDevicesPerSec: round(load.requests.average * 1_000),
      diskBytesPerDevice: round(disk / DEVICES),
    };
  } finally {
    if (s) await s.serve.stop("SIGKILL");
    await anvil.stop();
    run.dataDir.cleanup();
  }
}
