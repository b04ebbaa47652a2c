/**
 * `npm run bench -- anchor`: the figures of issue 10 that need no indexer or API (keys under
 * `anchor.`):
 * - `gasPerDevice`: anchorDevices for one batch of 100,000 devices, transaction gas / 100,000
 *   (goal ≤ 1); `anchorDevicesGas`, `materializeDeviceGas`, `materializeAndRevokeGas` (one multicall,
 *   goal ≤ 90,000) and `revokeBatchGas` beside it — measured on a started hardhat node by the one
 *   gas measurement of test/helpers/contracts-gas.ts (the snapshot's figures);
 * - `treeBuildMs1M`: common/merkle.ts building the tree of 1,000,000 devices (median of 3, goal
 *   ≤ 10,000), `treeBuildMs100k` (median of 3) and, as the reference in the same run,
 *   `libraryTreeBuildMs100k`: `StandardMerkleTree.of` of @openzeppelin/merkle-tree on the same
 *   100,000 devices (once: it takes ~20 s); `treeBuildCpuMs1M` and `libraryTreeBuildCpuMs100k`
 *   are the same builds in CPU time of this process (a loaded machine stretches the wall time).
 * - `manifestIndexDevicesPerSec`: an indexer (in this process) started on a chain holding one
 *   anchored batch of 1,000,000 devices whose manifest is in its manifest folder: devices / the
 *   seconds from start until the manifest is LOADED (read, hash, rows and ids checked, tree rebuilt,
 *   every row indexed; goal ≥ 50,000); `manifestLoadMs1M` is that time;
 * - `proofVerifyPerSec`: verifyDevice with a registration proof (a device of a 100,000-device
 *   batch, 17 proof steps) on an API that has NOT loaded the manifest (it knows the device only
 *   from its proof), real indexer + API server in a child process, autocannon here with 50
 *   connections (as bench/api.ts; goal ≥ 20,000); `proofVerifyP99Ms` beside it.
 * Sizes: DTL_BENCH_ANCHOR_MANIFEST_DEVICES (default 1,000,000).
 */
import { randomBytes } from "node:crypto";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { LEAF_ENCODING, leafValues, loadAnchorMerkle, type AnchorLeaf } from "../common/merkle";
import { startHardhatNode } from "../test/helpers/chain";
import { ANCHOR_BATCH, measureAnchorGas } from "../test/helpers/contracts-gas";
import { deployFleetRegistry } from "../test/helpers/fleet";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import { keyAlgorithmEnum } from "../common/codes";
import { createIndexer } from "../indexer/index";
import { anchor, batchRows, buildBatch, writeManifest } from "../test/helpers/anchor";
import { spawnServe } from "./api";

const MILLION = 1_000_000;
const RUNS = 3;

/** `n` devices with random fields (sliced from one random pool: making 4M strings one by one takes longer than the build). */
function randomLeaves(n: number): AnchorLeaf[] {
  const pool = randomBytes(4 * 32 * n).toString("hex");
  const word = (i: number) => "0x" + pool.slice(i * 64, i * 64 + 64);
  return Array.from({ length: n }, (_, i) => ({
    deviceId: word(4 * i),
    keyAlgorithm: 1 + (i % 6),
    keyHash: word(4 * i + 1),
    firmwareHash: word(4 * i + 2),
    segment: word(4 * i + 3),
  }));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Wall time and this process's CPU time (user + system, all its threads) of `f`, in ms. */
function timeMs(f: () => unknown): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  f();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

async function treeFigures(): Promise<Record<string, number>> {
  const merkle = await loadAnchorMerkle();
  const leaves = randomLeaves(MILLION);
  const hundredK = leaves.slice(0, 100_000);
  merkle.build(hundredK.slice(0, 1000)); // warm up the JIT
  const ours1M: { wall: number; cpu: number }[] = [];
  const ours100k: { wall: number; cpu: number }[] = [];
  for (let r = 0; r < RUNS; r++) {
    ours1M.push(timeMs(() => merkle.build(leaves)));
    ours100k.push(timeMs(() => merkle.build(hundredK)));
  }
  const values = hundredK.map(leafValues);
  let libRoot = "";
  const library = timeMs(() => {
    libRoot = StandardMerkleTree.of(values, [...LEAF_ENCODING]).root;
  });
  if (libRoot !== merkle.build(hundredK).root) throw new Error("the library's root differs from ours");
  return {
    treeBuildMs1M: Math.round(median(ours1M.map((t) => t.wall))),
    treeBuildMs100k: Math.round(median(ours100k.map((t) => t.wall))),
    libraryTreeBuildMs100k: Math.round(library.wall),
    // CPU time beside wall time: on a shared machine the wall time grows with the load, the CPU time hardly
    treeBuildCpuMs1M: Math.round(median(ours1M.map((t) => t.cpu))),
    libraryTreeBuildCpuMs100k: Math.round(library.cpu),
  };
}

async function gasFigures(): Promise<Record<string, number>> {
  const node = await startHardhatNode();
  try {
    const { actors } = await deployFleetRegistry(node.url);
    const g = await measureAnchorGas(actors.registry.manufacturer); // the snapshot's label: the same figures
    return {
      gasPerDevice: g.anchorDevices / ANCHOR_BATCH,
      anchorDevicesGas: g.anchorDevices,
      materializeDeviceGas: g.materializeDevice,
      materializeAndRevokeGas: g.materializeAndRevoke,
      revokeBatchGas: g.revokeBatch,
    };
  } finally {
    await node.stop();
  }
}

const MANIFEST_DEVICES = Number(process.env.DTL_BENCH_ANCHOR_MANIFEST_DEVICES ?? MILLION);
const PROOF_BATCH = 100_000;
const SECONDS = Number(process.env.DTL_BENCH_API_SECONDS ?? 10);

async function indexerFigures(): Promise<Record<string, number>> {
  const node = await startHardhatNode();
  const tmp = mkdtempSync(path.join(tmpdir(), "dtl-bench-anchor-"));
  try {
    const { deployment, actors } = await deployFleetRegistry(node.url);
    const m = actors.addresses.manufacturer;
    // 1. the manifest loader on a 1,000,000-device batch
    const big = await buildBatch(await batchRows(m, MANIFEST_DEVICES, "bench-line"));
    writeManifest(path.join(tmp, "manifests"), "line.jsonl", big.manifest);
    const { batchId } = await anchor(actors.registry.manufacturer, big, "file:line.jsonl");
    const indexer = createIndexer({
      rpcUrl: node.url,
      deployment,
      dataDir: path.join(tmp, "store"),
      manifestDir: path.join(tmp, "manifests"),
    });
    const t0 = performance.now();
    await indexer.start();
    for (;;) {
      const b = await indexer.store.getBatch(batchId);
      if (b?.manifest.status === "LOADED") break;
      if (b && b.manifest.status !== "PENDING") throw new Error(`manifest ${b.manifest.status}: ${b.manifest.error}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const loadMs = performance.now() - t0;
    await indexer.stop();
    // 2. verifyDevice with a device's own proof, on an API without the manifest
    const small = await buildBatch(await batchRows(m, PROOF_BATCH, "bench-proof"));
    const proofBatch = await anchor(actors.registry.manufacturer, small, "file:absent.jsonl");
    const i = 4242;
    const r = small.rows[i]!;
    const registration = {
      batchId: proofBatch.batchId,
      serial: r.serial,
      keyAlgorithm: keyAlgorithmEnum(r.keyAlgorithm),
      keyHash: r.keyHash,
      firmwareHash: r.firmwareHash,
      segment: r.segment,
      proof: small.tree.proof(i),
    };
    const api = await spawnServe([
      "api",
      JSON.stringify({ rpcUrl: node.url, deployment, dataDir: path.join(tmp, "api") }),
    ]);
    try {
      const body = JSON.stringify({
        query:
          "query($id: Bytes32!, $r: RegistrationProofInput) { verifyDevice(id: $id, registration: $r) { trusted reasons } }",
        variables: { id: r.deviceId, r: registration },
      });
      const url = `${api.url}/graphql`;
      const check = (await (
        await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body })
      ).json()) as { data?: { verifyDevice: { trusted: boolean } } };
      if (check.data?.verifyDevice.trusted !== true) throw new Error(`proof not accepted: ${JSON.stringify(check)}`);
      const res = await autocannon({
        url,
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        connections: 50,
        duration: SECONDS,
      });
      if (res.errors || res.non2xx || res.timeouts)
        throw new Error(`proofVerify: ${res.errors} errors, ${res.non2xx} non-2xx`);
      return {
        manifestIndexDevicesPerSec: Math.round(MANIFEST_DEVICES / (loadMs / 1000)),
        manifestLoadMs1M: Math.round(loadMs),
        proofVerifyPerSec: Math.round(res.requests.average),
        proofVerifyP99Ms: res.latency.p99,
      };
    } finally {
      await api.stop();
    }
  } finally {
    await node.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

export async function run(): Promise<Record<string, number>> {
  // DTL_BENCH_ANCHOR_ONLY=indexer: the indexer and API figures alone (a quicker look while tuning)
  if (process.env.DTL_BENCH_ANCHOR_ONLY === "indexer") return indexerFigures();
  // the tree first, while no node runs beside it (2 cores)
  const tree = await treeFigures();
  return { ...(await gasFigures()), ...tree, ...(await indexerFigures()) };
}
