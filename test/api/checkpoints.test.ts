/**
 * Witness checkpoints from `dtl serve` (DESIGN §11, issue 12): with DTL_WITNESS_KEY the indexer
 * signs `{ chainId, registry, block, blockHash, digest }` at every DTL_CHECKPOINT_INTERVAL-th
 * block once it is final (below the reorg window); the API serves them (`checkpoints`, `witness`)
 * with the raw logs to check them (`chainLogs`). Real processes: a Hardhat node and `dtl serve`.
 */
import { expect } from "chai";
import { getAddress, verifyTypedData } from "ethers";
import path from "node:path";
import { writeDeployment } from "../../scripts/deploy";
import {
  CHECKPOINT_TYPES,
  checkpointDomain,
  createWitnessSigner,
  verifyCheckpoint,
  type SignedCheckpoint,
} from "../../common/checkpoint";
import type { Deployment } from "../../common/deployment";
import { loadKeccak } from "../../common/keccak";
import { loadFastPostQuantumVerifier } from "../../common/keys-pq";
import { createHashers } from "../../indexer/hashing";
import { replayRegistry } from "../../indexer/replay";
import type { RawLog } from "../../indexer/source";
import { registerTestDevice } from "../helpers/api-fixture";
import { HARDHAT_KEYS, mineBlocks, rpcCall, startHardhatNode, type NodeHandle } from "../helpers/chain";
import { ensureBuilt, runDtl, startServe, tempDir, waitIndexed, type RunningDtl } from "../helpers/cli-run";
import { startJsonProxy } from "../helpers/cli-proxy";
import { deployFleetRegistry, type FleetActors } from "../helpers/fleet";

const INTERVAL = 5;
const WINDOW = 3;
const WITNESS_KEY = HARDHAT_KEYS[7]!;
const ML_DSA_SEED = "0x" + "42".repeat(32);

interface Gql<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}
async function query<T>(apiUrl: string, q: string, variables: Record<string, unknown> = {}): Promise<Gql<T>> {
  const res = await fetch(apiUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: q, variables }),
  });
  return (await res.json()) as Gql<T>;
}

const CP_FIELDS = "chainId registry block blockHash digest witness signature algorithm";

describe("dtl serve: witness checkpoints (real processes)", function () {
  this.timeout(180_000);
  let node: NodeHandle;
  let actors: FleetActors;
  let deployment: Deployment;
  let tmp: ReturnType<typeof tempDir>;
  let deploymentFile: string;
  let serve: RunningDtl | undefined;
  let apiUrl: string;

  const start = async (dir: string, key: string) => {
    ({ serve, apiUrl } = await startServe(
      path.join(tmp.dir, dir),
      {
        env: {
          DTL_RPC_URL: node.url,
          DTL_DEPLOYMENT: deploymentFile,
          DTL_LOG_LEVEL: "warn",
          DTL_WITNESS_KEY: key,
          DTL_CHECKPOINT_INTERVAL: String(INTERVAL),
        },
        cwd: tmp.dir,
      },
      ["--reorg-window", String(WINDOW), "--poll-ms", "20"],
    ));
    await waitIndexed(apiUrl, node.url).catch((err) => {
      console.log(serve!.stdout(), serve!.stderr());
      throw err;
    });
  };
  const checkpoints = async () => {
    const r = await query<{ checkpoints: SignedCheckpoint[] }>(
      apiUrl,
      `{ checkpoints(fromBlock: 0, first: 500) { ${CP_FIELDS} } }`,
    );
    expect(r.errors).to.equal(undefined);
    return r.data!.checkpoints;
  };
  const head = async () => Number(await rpcCall<string>(node.url, "eth_blockNumber"));
  const expectedBlocks = (indexed: number) => {
    const out: number[] = [];
    for (let n = Math.ceil(deployment.deployBlock / INTERVAL) * INTERVAL; n <= indexed - WINDOW; n += INTERVAL)
      out.push(n);
    return out;
  };

  before(async function () {
    ensureBuilt();
    tmp = tempDir("dtl-ckpt-");
    node = await startHardhatNode();
    const fleet = await deployFleetRegistry(node.url);
    actors = fleet.actors;
    deployment = fleet.deployment;
    deploymentFile = writeDeployment(deployment, path.join(tmp.dir, "deployment.json"));
    for (let i = 0; i < 3; i++) await registerTestDevice(actors, { alg: "ed25519" });
    await mineBlocks(node.url, 12);
  });

  after(async function () {
    await serve?.stop();
    await node?.stop();
    tmp?.cleanup();
  });

  it("signs a checkpoint at every interval once final; the EIP-712 signature recovers the witness; the digest is the replay's", async function () {
    await start("secp", WITNESS_KEY);
    const witness = createWitnessSigner(WITNESS_KEY).identity.address;
    const w = await query<{ witness: { address: string; algorithm: string; publicKey: string } }>(
      apiUrl,
      "{ witness { address algorithm publicKey } }",
    );
    expect(w.data!.witness.address).to.equal(witness);
    expect(w.data!.witness.algorithm).to.equal("SECP256K1");

    const indexed = await head();
    // wait for the commit that makes the last expected block final
    let cps: SignedCheckpoint[] = [];
    for (let i = 0; i < 100 && cps.length < expectedBlocks(indexed).length; i++) {
      cps = await checkpoints();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(cps.map((c) => c.block)).to.deep.equal(expectedBlocks(indexed));
    expect(cps.length).to.be.greaterThan(2);
    const hashers = createHashers(await loadKeccak());
    for (const cp of cps) {
      expect(cp).to.include({ chainId: deployment.chainId, registry: getAddress(deployment.registry), witness });
      expect(cp.algorithm).to.equal("SECP256K1");
      const recovered = verifyTypedData(
        checkpointDomain(cp.chainId, cp.registry),
        CHECKPOINT_TYPES,
        { chainId: cp.chainId, registry: cp.registry, block: cp.block, blockHash: cp.blockHash, digest: cp.digest },
        cp.signature,
      );
      expect(recovered).to.equal(witness);
      const replay = await replayRegistry(node.url, deployment, { toBlock: cp.block });
      expect(cp.digest, `digest at ${cp.block}`).to.equal(replay.digest);
      const header = await rpcCall<{ hash: string }>(node.url, "eth_getBlockByNumber", [
        "0x" + cp.block.toString(16),
        false,
      ]);
      expect(cp.blockHash).to.equal(header.hash);
    }

    // chainLogs serves what recomputes the newest digest with indexer/hashing.ts
    const last = cps[cps.length - 1]!;
    const r = await query<{
      chainLogs: {
        toBlock: number;
        logs: {
          blockNumber: number;
          blockHash: string;
          transactionHash: string;
          logIndex: number;
          topics: string[];
          data: string;
        }[];
      };
    }>(
      apiUrl,
      "query($f: Int!, $t: Int!) { chainLogs(fromBlock: $f, toBlock: $t) { toBlock logs { blockNumber blockHash transactionHash logIndex topics data } } }",
      { f: deployment.deployBlock, t: last.block },
    );
    expect(r.errors).to.equal(undefined);
    expect(r.data!.chainLogs.toBlock).to.equal(last.block);
    let digest = hashers.genesisDigest(deployment);
    const logs = r.data!.chainLogs.logs;
    expect(logs.length).to.be.greaterThan(3);
    for (let i = 0; i < logs.length;) {
      const b = logs[i]!.blockNumber;
      const block: RawLog[] = [];
      for (; i < logs.length && logs[i]!.blockNumber === b; i++) {
        const l = logs[i]!;
        block.push({
          ...l,
          address: deployment.registry,
          blockNumber: "0x" + b.toString(16),
          logIndex: "0x" + l.logIndex.toString(16),
        });
      }
      digest = hashers.foldBlock(digest, b, logs[i - 1]!.blockHash, block);
    }
    expect(digest).to.equal(last.digest);

    const metrics = await (await fetch(apiUrl.replace("/graphql", "/metrics"))).text();
    expect(metrics).to.match(new RegExp(`^dtl_witness_checkpoints_signed_total ${cps.length}$`, "m"));
    expect(metrics).to.match(new RegExp(`^dtl_witness_last_checkpoint_block ${last.block}$`, "m"));
  });

  it("keeps its checkpoints across a restart and goes on from the last one", async function () {
    const before = await checkpoints();
    await serve!.stop();
    serve = undefined;
    await mineBlocks(node.url, 7);
    await start("secp", WITNESS_KEY);
    const indexed = await head();
    let after: SignedCheckpoint[] = [];
    for (let i = 0; i < 100 && after.length < expectedBlocks(indexed).length; i++) {
      after = await checkpoints();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(after.slice(0, before.length)).to.deep.equal(before);
    expect(after.map((c) => c.block)).to.deep.equal(expectedBlocks(indexed));
    // this process signed only the new ones: the stored ones were not signed again
    const metrics = await (await fetch(apiUrl.replace("/graphql", "/metrics"))).text();
    expect(metrics).to.match(new RegExp(`^dtl_witness_checkpoints_signed_total ${after.length - before.length}$`, "m"));
    const page = await query<{ checkpoints: { block: number }[] }>(
      apiUrl,
      `{ checkpoints(fromBlock: ${before[1]!.block}, first: 2) { block } }`,
    );
    expect(page.data!.checkpoints.map((c) => c.block)).to.deep.equal([before[1]!.block, before[2]!.block]);
    await serve!.stop();
    serve = undefined;
  });

  it("dtl audit checks every checkpoint's signature and digest, and catches a forged one", async function () {
    await start("secp", WITNESS_KEY);
    const signer = createWitnessSigner(WITNESS_KEY);
    let mode: "none" | "altered" | "wrong-state" = "none";
    const proxy = await startJsonProxy(apiUrl, (_req, answer) => {
      const cps = (answer as { data?: { checkpoints?: SignedCheckpoint[] } }).data?.checkpoints;
      if (cps?.length && mode !== "none") {
        const cp = cps[1]!;
        const digest = "0x" + "cd".repeat(32);
        // altered: the signature no longer matches; wrong-state: a valid signature over a false digest
        cps[1] =
          mode === "altered"
            ? { ...cp, digest }
            : { ...cp, signature: signer.sign({ ...cp, digest }).signature, digest };
      }
      return answer;
    });
    const audit = () =>
      runDtl(["audit", "--json"], {
        env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile, DTL_API_URL: proxy.url },
        cwd: tmp.dir,
      });
    try {
      const ok = await audit();
      expect(ok.code, ok.stderr).to.equal(0);
      const report = ok.json<{ checkpoints: { checked: number; witnesses: string[] } }>();
      expect(report.checkpoints.checked).to.be.greaterThan(2);
      expect(report.checkpoints.witnesses).to.deep.equal([signer.identity.address]);

      mode = "altered";
      const forged = await audit();
      expect(forged.code).to.equal(4);
      const p1 = forged.json<{ problems: { message: string }[] }>().problems.map((p) => p.message);
      expect(p1.join("\n")).to.match(
        /checkpoint of block \d+: the signature is not witness 0x\w+'s \(forged or altered\)/,
      );

      mode = "wrong-state";
      const lying = await audit();
      expect(lying.code).to.equal(4);
      const p2 = lying.json<{ problems: { message: string }[] }>().problems.map((p) => p.message);
      expect(p2.join("\n")).to.match(
        /checkpoint of block \d+ signed by 0x\w+ says .* digest 0x(cd){32}; the replay computes/,
      );
    } finally {
      await proxy.close();
      await serve!.stop();
      serve = undefined;
    }
  });

  it("signs with an ML-DSA-44 witness key too (FIPS 204 over the EIP-712 hash)", async function () {
    await start("mldsa", `ml-dsa-44:${ML_DSA_SEED}`);
    const w = await query<{ witness: { address: string; algorithm: string; publicKey: string } }>(
      apiUrl,
      "{ witness { address algorithm publicKey } }",
    );
    expect(w.data!.witness.algorithm).to.equal("ML_DSA_44");
    const publicKey = Buffer.from(w.data!.witness.publicKey.slice(2), "hex"); // a pooled Buffer, on purpose
    expect(publicKey.length).to.equal(1312);
    let cps: SignedCheckpoint[] = [];
    for (let i = 0; i < 100 && cps.length === 0; i++) {
      cps = await checkpoints();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(cps.length).to.be.greaterThan(0);
    // as the gateway verifies: through liboqs
    await loadFastPostQuantumVerifier();
    const who = { address: w.data!.witness.address, algorithm: "ML_DSA_44" as const, publicKey };
    for (const cp of cps) expect(verifyCheckpoint(cp, who), `checkpoint ${cp.block}`).to.equal(true);
    // one altered byte of the digest and it no longer verifies
    const forged = { ...cps[0]!, digest: cps[0]!.digest.slice(0, -1) + (cps[0]!.digest.endsWith("0") ? "1" : "0") };
    expect(verifyCheckpoint(forged, who)).to.equal(false);
    await serve!.stop();
    serve = undefined;
  });

  it("refuses a bad witness key or interval with one line each, never echoing the key", async function () {
    const r = await runDtl(["serve", "--port", "0", "--data-dir", path.join(tmp.dir, "bad")], {
      env: {
        DTL_RPC_URL: node.url,
        DTL_DEPLOYMENT: deploymentFile,
        DTL_WITNESS_KEY: "0x1234deadbeef",
        DTL_CHECKPOINT_INTERVAL: "0",
      },
      cwd: tmp.dir,
    });
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.include("DTL_WITNESS_KEY: must be 32 bytes of hex");
    expect(r.stderr).to.include("DTL_CHECKPOINT_INTERVAL: must be a whole number from 1");
    expect(r.stderr).to.not.include("1234deadbeef");
  });
});
