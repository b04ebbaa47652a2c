/**
 * `npm run bench -- api`: the GraphQL API against its references, same run, same machine.
 * A real hardhat node with a written fleet, the real indexer + API server in a child process
 * (test/helpers/api-serve.ts) and a stock Yoga server (trivial resolver) in another; autocannon
 * runs here. Figures (flat, the runner prefixes `api.`):
 *   yogaFloorReqPerSec        stock Yoga, trivial resolver, 50 connections
 *   verifyReqPerSec/P99Ms     verifyDevice without proof, 50 connections (both: median of interleaved rounds)
 *   verifyNoBodyLimitReqPerSec  the same on the same store with Yoga's maxRequestBodySize off (same rounds);
 *   bodyLimitCostPct          1 − verify / that, in percent: what the body limit (api/limits.ts) costs
 *   ethCallReqPerSec          a gateway asking the node isActive(id) by eth_call, 16 connections (same rounds)
 *   verifyBatchDevicesPerSec  verdicts/s through verifyDevices with 100 ids per request, 50 connections
 *   lookupP99Ms               device(id), one keep-alive connection, sequential (3,000 timed requests)
 *   verifyProofP256ReqPerSec  verifyDevice with a fresh P-256 proof per request, 50 connections
 *   revocationPropagationP99Ms  revokeDevice mined → verifyDevice says REVOKED and the SSE event arrived
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { registryInterface } from "../common/abi";
import { signMessage } from "../common/keys";
import { startHardhatNode } from "../test/helpers/chain";
import { deployFleetRegistry, writeFleet } from "../test/helpers/fleet";
import { registerTestDevice, type TestDevice } from "../test/helpers/api-fixture";
import { subscribeSse } from "../test/helpers/api-sse";
import type { Figures } from "./index";
import { percentile, round, timedPosts } from "./measure";

const ROOT = path.resolve(__dirname, "..");
const DEVICES = Number(process.env.DTL_BENCH_API_DEVICES ?? 5000);
const DURATION = Number(process.env.DTL_BENCH_API_SECONDS ?? 10);
/** Interleaved rounds of floor and verifyDevice, and seconds per round. */
const LOOKUPS = Number(process.env.DTL_BENCH_API_LOOKUPS ?? 3000);
const ROUNDS = Number(process.env.DTL_BENCH_API_ROUNDS ?? 3);
const ROUND_SECONDS = Number(process.env.DTL_BENCH_API_ROUND_SECONDS ?? 5);

export interface Child {
  url: string;
  /** A second server the child started, if any (api: the same API without a body limit). */
  other?: string;
  stop(): Promise<void>;
}

export async function spawnServe(args: string[]): Promise<Child> {
  const proc: ChildProcess = spawn(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", path.join(ROOT, "test/helpers/api-serve.ts"), ...args],
    {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  proc.stderr!.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const [url, other] = await new Promise<[string, string?]>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`api-serve ${args[0]} did not start in 300 s: ${err}`)), 300_000);
    proc.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /READY (\S+)(?: (\S+))?\n/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve([m[1]!, m[2]]);
      }
    });
    proc.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`api-serve ${args[0]} exited with ${code}: ${err}`));
    });
  });
  return {
    url,
    other,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once("exit", () => resolve());
        proc.kill("SIGTERM");
      }),
  };
}

interface Load {
  reqPerSec: number;
  p99: number;
  p50: number;
}

async function load(opts: autocannon.Options, what: string): Promise<Load> {
  const r = await autocannon({ duration: DURATION, ...opts });
  if (r.errors || r.non2xx || r.timeouts)
    throw new Error(`${what}: ${r.errors} errors, ${r.non2xx} non-2xx, ${r.timeouts} time-outs`);
  return { reqPerSec: r.requests.average, p99: r.latency.p99, p50: r.latency.p50 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function medianLoad(rounds: Load[]): Load {
  return {
    reqPerSec: median(rounds.map((r) => r.reqPerSec)),
    p99: median(rounds.map((r) => r.p99)),
    p50: median(rounds.map((r) => r.p50)),
  };
}

function gqlBody(query: string, variables?: Record<string, unknown>): string {
  return JSON.stringify({ query, variables });
}

async function post(url: string, body: string): Promise<unknown> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  return res.json();
}

/**
 * verifyDevice with a proof of possession, a fresh challenge per request (single use): `count`
 * challenges issued 20 per request and signed here, then sent by autocannon over 50 connections.
 * Requests/s over the wall time of the run and autocannon's p99.
 */
export async function proofLoad(
  gqlUrl: string,
  device: Pick<TestDevice, "id" | "pair">,
  count: number,
): Promise<{ reqPerSec: number; p99: number }> {
  const headers = { "content-type": "application/json" };
  const bodies: string[] = [];
  const aliases = Array.from(
    { length: 20 },
    (_, i) => `c${i}: issueChallenge(deviceId: "${device.id}") { id message }`,
  ).join(" ");
  while (bodies.length < count) {
    const r = (await post(gqlUrl, gqlBody(`mutation { ${aliases} }`))) as {
      data: Record<string, { id: string; message: string }>;
    };
    for (const c of Object.values(r.data)) {
      const proof = {
        challengeId: c.id,
        publicKey: device.pair.publicKey,
        signature: signMessage(device.pair, c.message),
      };
      bodies.push(
        gqlBody(
          `query($id: Bytes32!, $proof: ProofInput) { verifyDevice(id: $id, proof: $proof) { trusted reasons } }`,
          { id: device.id, proof },
        ),
      );
    }
  }
  const first = (await post(gqlUrl, bodies.pop()!)) as { data?: { verifyDevice: { trusted: boolean } } };
  if (!first.data?.verifyDevice.trusted)
    throw new Error(`bench: ${device.pair.algorithm} proof not accepted: ${JSON.stringify(first)}`);
  let next = 0;
  const t0 = performance.now();
  const run = await autocannon({
    url: gqlUrl,
    connections: 50,
    amount: bodies.length,
    requests: [{ method: "POST", headers, setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }) }],
  });
  const seconds = (performance.now() - t0) / 1000;
  // autocannon counts requests still in flight when `amount` is reached as errors: allow a few
  if (run.non2xx || run.errors > bodies.length / 100)
    throw new Error(`proof run: ${run.errors} errors, ${run.non2xx} non-2xx`);
  return { reqPerSec: run["2xx"] / seconds, p99: run.latency.p99 };
}

export async function run(): Promise<Figures> {
  const node = await startHardhatNode();
  const dataDir = mkdtempSync(path.join(tmpdir(), "dtl-bench-api-"));
  const children: Child[] = [];
  try {
    const { deployment, actors } = await deployFleetRegistry(node.url);
    const fleet = await writeFleet(actors, { devices: DEVICES, label: "bench-api" });
    const p256 = await registerTestDevice(actors, { alg: "p256" });
    // the indexer polls the head at its default pace (100 ms), as `dtl serve` does
    const api = await spawnServe(["api", JSON.stringify({ rpcUrl: node.url, deployment, dataDir, pollMs: 100 })]);
    children.push(api);
    const floor = await spawnServe(["floor"]);
    children.push(floor);
    const gqlUrl = `${api.url}/graphql`;
    const headers = { "content-type": "application/json" };
    const trustedId = fleet.deviceIds[200]!;

    const VERIFY = `query($id: Bytes32!) { verifyDevice(id: $id) { trusted reasons atBlock lagBlocks } }`;
    const check = (await post(gqlUrl, gqlBody(VERIFY, { id: trustedId }))) as {
      data?: { verifyDevice: { trusted: boolean } };
    };
    if (!check.data?.verifyDevice.trusted) throw new Error(`bench: unexpected verdict ${JSON.stringify(check)}`);

    // The machine is shared and noisy: the floor, verifyDevice and the eth_call gateway run
    // interleaved (floor, verify, eth_call, floor, …) after a warm-up; each figure is the median of
    // its rounds, so the ratios compare runs made under the same load.
    const floorOpts = {
      url: `${floor.url}/graphql`,
      method: "POST" as const,
      headers,
      body: gqlBody("{ ok }"),
      connections: 50,
    };
    const verifyOpts = {
      url: gqlUrl,
      method: "POST" as const,
      headers,
      body: gqlBody(VERIFY, { id: trustedId }),
      connections: 50,
    };
    const unlimitedOpts = { ...verifyOpts, url: `${api.other!}/graphql` };
    const callData = registryInterface.encodeFunctionData("isActive", [trustedId]);
    const ethCallOpts = {
      url: node.url,
      method: "POST" as const,
      headers,
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "eth_call",
        params: [{ to: deployment.registry, data: callData }, "latest"],
      }),
      connections: 16,
    };
    await load({ ...floorOpts, duration: 2 }, "floor warm-up");
    await load({ ...verifyOpts, duration: 2 }, "verify warm-up");
    const floorRounds: Load[] = [];
    const verifyRounds: Load[] = [];
    const unlimitedRounds: Load[] = [];
    const ethCallRounds: Load[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      floorRounds.push(await load({ ...floorOpts, duration: ROUND_SECONDS }, "yoga floor"));
      verifyRounds.push(await load({ ...verifyOpts, duration: ROUND_SECONDS }, "verifyDevice"));
      unlimitedRounds.push(await load({ ...unlimitedOpts, duration: ROUND_SECONDS }, "verifyDevice, no body limit"));
      ethCallRounds.push(await load({ ...ethCallOpts, duration: ROUND_SECONDS }, "eth_call"));
    }
    await floor.stop();
    const floorLoad = medianLoad(floorRounds);
    const verify = medianLoad(verifyRounds);
    const unlimited = medianLoad(unlimitedRounds);
    const ethCall = medianLoad(ethCallRounds);

    const batchIds = fleet.deviceIds.slice(0, 100);
    const batch = await load(
      {
        url: gqlUrl,
        method: "POST",
        headers,
        body: gqlBody(`query($ids: [Bytes32!]!) { verifyDevices(ids: $ids) { deviceId trusted reasons } }`, {
          ids: batchIds,
        }),
        connections: 50,
      },
      "verifyDevices",
    );

    const lookupBody = gqlBody(
      `query($id: Bytes32!) { device(id: $id) { id manufacturer status keyHash firmwareHash segment registeredAt historyHead atBlock } }`,
      { id: trustedId },
    );
    const lookupTimes = (await timedPosts(gqlUrl, Array<string>(LOOKUPS).fill(lookupBody), 200)).times.sort(
      (a, b) => a - b,
    );

    const proofRun = await proofLoad(gqlUrl, p256, Number(process.env.DTL_BENCH_API_PROOFS ?? 3000));

    // revocation propagation: tx mined (automine: mined when the send returns) → REVOKED + SSE event
    const victims = fleet.deviceIds.slice(300, 340);
    const sub = await subscribeSse<{ data: { deviceEvents: { deviceId: string } } }>(
      api.url,
      `subscription($ids: [Bytes32!]) { deviceEvents(deviceIds: $ids, kinds: [DEVICE_REVOKED]) { deviceId kind } }`,
      { ids: victims },
    );
    const samples: number[] = [];
    try {
      await new Promise((r) => setTimeout(r, 200));
      for (const id of victims) {
        const heard = sub.next((p) => p.data.deviceEvents.deviceId === id, 10_000).then(() => performance.now());
        const tx = await actors.registry.officer.getFunction("revokeDevice")(id, 1);
        const mined = performance.now();
        let revokedAt = 0;
        for (let i = 0; i < 5000 && !revokedAt; i++) {
          const r = (await post(
            gqlUrl,
            gqlBody(`query($id: Bytes32!) { verifyDevice(id: $id) { reasons } }`, { id }),
          )) as {
            data: { verifyDevice: { reasons: string[] } };
          };
          if (r.data.verifyDevice.reasons.includes("REVOKED")) revokedAt = performance.now();
          else await new Promise((res) => setTimeout(res, 2));
        }
        if (!revokedAt) throw new Error(`bench: ${id} never showed REVOKED`);
        const sse = await heard;
        samples.push(Math.max(revokedAt, sse) - mined);
        await tx.wait();
      }
    } finally {
      sub.close();
    }

    return {
      devices: DEVICES,
      yogaFloorReqPerSec: round(floorLoad.reqPerSec),
      yogaFloorP99Ms: floorLoad.p99,
      verifyReqPerSec: round(verify.reqPerSec),
      verifyP50Ms: verify.p50,
      verifyP99Ms: verify.p99,
      verifyVsFloor: round(verify.reqPerSec / floorLoad.reqPerSec, 2),
      verifyNoBodyLimitReqPerSec: round(unlimited.reqPerSec),
      bodyLimitCostPct: round((1 - verify.reqPerSec / unlimited.reqPerSec) * 100, 1),
      ethCallReqPerSec: round(ethCall.reqPerSec),
      verifyVsEthCall: round(verify.reqPerSec / ethCall.reqPerSec, 2),
      verifyBatchDevicesPerSec: round(batch.reqPerSec * 100),
      verifyBatchP99Ms: batch.p99,
      lookupP50Ms: round(percentile(lookupTimes, 50), 2),
      lookupP99Ms: round(percentile(lookupTimes, 99), 2),
      verifyProofP256ReqPerSec: round(proofRun.reqPerSec),
      verifyProofP256P99Ms: proofRun.p99,
      revocationPropagationP50Ms: round([...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!, 1),
      revocationPropagationP99Ms: round(
        percentile(
          [...samples].sort((a, b) => a - b),
          99,
        ),
        1,
      ),
    };
  } finally {
    for (const c of children) await c.stop();
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
