/**
 * `npm run bench -- pq`: what post-quantum proofs cost a gateway (issue 11), same run, same API.
 * A real hardhat node, one device per algorithm, the real indexer + API (`startApiServer`, which
 * loads liboqs) in a child process, autocannon here. Each figure is the median of interleaved
 * rounds (Ed25519, ML-DSA-44, hybrid, Ed25519, …), so their ratio compares runs under the same load.
 *   mlDsa44VerifyPerSec          the API's ML-DSA-44 verifier (liboqs) alone, in this process
 *   mlDsa44ReferenceVerifyPerSec @noble/post-quantum, the reference, alone
 *   verifyEd25519ProofReqPerSec  verifyDevice with a fresh Ed25519 proof per request, 50 connections
 *   verifyMlDsa44ReqPerSec/P99Ms the same with an ML-DSA-44 proof
 *   hybridVerifyReqPerSec        the same with an Ed25519+ML-DSA-44 proof
 *   mlDsa44VsEd25519             verifyMlDsa44ReqPerSec ÷ verifyEd25519ProofReqPerSec (goal ≥ 0.8)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { getBytes, toUtf8Bytes } from "ethers";
import { generateKeyPair, signMessage } from "../common/keys";
import { loadFastPostQuantumVerifier, mlDsaVerify, mlDsaVerifyReference } from "../common/keys-pq";
import { registerTestDevice } from "../test/helpers/api-fixture";
import { startHardhatNode } from "../test/helpers/chain";
import { deployFleetRegistry } from "../test/helpers/fleet";
import { proofLoad, spawnServe, type Child } from "./api";
import type { Figures } from "./index";

const PROOFS = Number(process.env.DTL_BENCH_PQ_PROOFS ?? 2000);
const ROUNDS = Number(process.env.DTL_BENCH_PQ_ROUNDS ?? 3);

const round = (n: number, digits = 0) => Number(n.toFixed(digits));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Verifications per second of `verify` over one second. */
function perSecond(verify: () => boolean): number {
  if (!verify()) throw new Error("bench: the signature under test does not verify");
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    verify();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

export async function run(): Promise<Figures> {
  await loadFastPostQuantumVerifier();
  const pair = generateKeyPair("ml-dsa-44");
  const msg = "dtl-challenge:bench";
  const [pub, m, sig] = [getBytes(pair.publicKey), toUtf8Bytes(msg), getBytes(signMessage(pair, msg))];
  const fast = perSecond(() => mlDsaVerify(4, pub, m, sig));
  const reference = perSecond(() => mlDsaVerifyReference(4, pub, m, sig));

  const node = await startHardhatNode();
  const dataDir = mkdtempSync(path.join(tmpdir(), "dtl-bench-pq-"));
  let api: Child | undefined;
  try {
    const { deployment, actors } = await deployFleetRegistry(node.url);
    const devices = {
      ed25519: await registerTestDevice(actors, { alg: "ed25519" }),
      mlDsa44: await registerTestDevice(actors, { alg: "ml-dsa-44" }),
      hybrid: await registerTestDevice(actors, { alg: "ed25519+ml-dsa-44" }),
    };
    api = await spawnServe(["api", JSON.stringify({ rpcUrl: node.url, deployment, dataDir, pollMs: 100 })]);
    const gqlUrl = `${api.url}/graphql`;
    const runs = {
      ed25519: [] as number[],
      mlDsa44: [] as number[],
      hybrid: [] as number[],
      mlDsa44P99: [] as number[],
    };
    await proofLoad(gqlUrl, devices.ed25519, 300); // warm-up
    for (let i = 0; i < ROUNDS; i++) {
      runs.ed25519.push((await proofLoad(gqlUrl, devices.ed25519, PROOFS)).reqPerSec);
      const ml = await proofLoad(gqlUrl, devices.mlDsa44, PROOFS);
      runs.mlDsa44.push(ml.reqPerSec);
      runs.mlDsa44P99.push(ml.p99);
      runs.hybrid.push((await proofLoad(gqlUrl, devices.hybrid, PROOFS)).reqPerSec);
    }
    const ed = median(runs.ed25519);
    const ml = median(runs.mlDsa44);
    return {
      mlDsa44VerifyPerSec: round(fast),
      mlDsa44ReferenceVerifyPerSec: round(reference),
      verifyEd25519ProofReqPerSec: round(ed),
      verifyMlDsa44ReqPerSec: round(ml),
      verifyMlDsa44P99Ms: median(runs.mlDsa44P99),
      hybridVerifyReqPerSec: round(median(runs.hybrid)),
      mlDsa44VsEd25519: round(ml / ed, 2),
    };
  } finally {
    await api?.stop();
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
