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
 * `proofVerifyPerSec` and `manifestIndexDevicesPerSec` need the API and the indexer's manifest
 * loader: they come with those parts of issue 10.
 */
import { randomBytes } from "node:crypto";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { LEAF_ENCODING, leafValues, loadAnchorMerkle, type AnchorLeaf } from "../common/merkle";
import { startHardhatNode } from "../test/helpers/chain";
import { ANCHOR_BATCH, measureAnchorGas } from "../test/helpers/contracts-gas";
import { deployFleetRegistry } from "../test/helpers/fleet";

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

export async function run(): Promise<Record<string, number>> {
  // the tree first, while no node runs beside it (2 cores)
  const tree = await treeFigures();
  return { ...(await gasFigures()), ...tree };
}
