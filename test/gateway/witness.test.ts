/**
 * The gateway in witness mode (DESIGN §11, issue 12 "Zero trust toward the upstream"): two
 * `dtl serve` witnesses (each signs its own checkpoints), a gateway with `--witness A --witness B
 * --witness-threshold 2` reading both through tampering proxies. Real processes throughout: a
 * Hardhat node, two `dtl serve`, `dtl gateway`, mqtt.js clients; only the proxies' answers lie.
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { MqttClient } from "mqtt";
import { writeDeployment } from "../../scripts/deploy";
import { createWitnessSigner, type SignedCheckpoint } from "../../common/checkpoint";
import { eventFragment } from "../../common/abi";
import { registerTestDevice, type TestDevice } from "../helpers/api-fixture";
import { HARDHAT_KEYS, mineBlocks, rpcCall, startHardhatNode, type NodeHandle } from "../helpers/chain";
import { startJsonProxy, type Proxy } from "../helpers/cli-proxy";
import { ensureBuilt, runDtl, startServe, tempDir, waitIndexed, type RunningDtl } from "../helpers/cli-run";
import { deployFleetRegistry, type FleetActors } from "../helpers/fleet";
import { closed, connectDevice, startGatewayProcess, type RunningGateway } from "../helpers/gateway-run";

const KEY_A = HARDHAT_KEYS[7]!;
const KEY_B = HARDHAT_KEYS[8]!;
const A = createWitnessSigner(KEY_A);
const B = createWitnessSigner(KEY_B);
const REVOKED_TOPIC = eventFragment("DeviceRevoked").topicHash;

interface Readyz {
  ready: boolean;
  witness: {
    verifiedBlock: number;
    signedBlock: number;
    lying: { witness: string; block: number }[];
    lastRefusal: { reason: string; block: number; detail: string; upstream: string } | null;
  };
}

describe("dtl gateway with witnesses: zero trust toward the upstream (real processes)", function () {
  this.timeout(240_000);
  let node: NodeHandle;
  let actors: FleetActors;
  let tmp: ReturnType<typeof tempDir>;
  const serves: RunningDtl[] = [];
  const proxies: Proxy[] = [];
  let gw: RunningGateway;
  const open: MqttClient[] = [];
  const dev: Record<string, TestDevice> = {};
  /** What the proxies do to the answers they pass on. */
  const lie = { dropRevocations: false, equivocateAsA: false };

  const readyz = async () => (await (await fetch(`${gw.httpUrl}/readyz`)).json()) as Readyz;
  const until = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline)
        throw new Error(`${what}: not within ${timeoutMs} ms\n${gw.proc.stdout().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const head = async () => Number(await rpcCall<string>(node.url, "eth_blockNumber"));
  /** Mines until every upstream has signed a checkpoint at or after `block` and the gateway saw it. */
  const signedPast = async (block: number) => {
    await mineBlocks(node.url, 6);
    await until(`checkpoints past block ${block}`, async () =>
      (await readyz()).witness.signedBlock >= block ? true : undefined,
    );
  };

  function tamper(_request: unknown, answer: unknown): unknown {
    const data = (answer as { data?: Record<string, unknown> }).data;
    if (lie.dropRevocations && data?.chainLogs) {
      const c = data.chainLogs as { logs: { topics: string[] }[] };
      c.logs = c.logs.filter((l) => l.topics[0] !== REVOKED_TOPIC);
    }
    if (lie.equivocateAsA && Array.isArray(data?.checkpoints)) {
      const cps = data.checkpoints as (SignedCheckpoint & { algorithm: string })[];
      const last = [...cps].reverse().find((c) => c.witness === A.identity.address);
      if (last) {
        // a second, validly signed, different state for the same block: what a lying witness does
        const other = A.sign({ ...last, digest: "0x" + "ab".repeat(32) });
        cps.push({ ...other, algorithm: "SECP256K1" });
      }
    }
    return answer;
  }

  before(async function () {
    ensureBuilt();
    tmp = tempDir("dtl-gw-wit-");
    node = await startHardhatNode();
    const fleet = await deployFleetRegistry(node.url);
    actors = fleet.actors;
    const deploymentFile = writeDeployment(fleet.deployment, path.join(tmp.dir, "deployment.json"));
    for (const name of ["a", "b"]) dev[name] = await registerTestDevice(actors, { alg: "ed25519" });
    for (const [name, key] of [
      ["a", KEY_A],
      ["b", KEY_B],
    ] as const) {
      const { serve, apiUrl } = await startServe(
        path.join(tmp.dir, `index-${name}`),
        {
          env: {
            DTL_RPC_URL: node.url,
            DTL_DEPLOYMENT: deploymentFile,
            DTL_LOG_LEVEL: "warn",
            DTL_WITNESS_KEY: key,
            DTL_CHECKPOINT_INTERVAL: "2",
          },
          cwd: tmp.dir,
        },
        ["--reorg-window", "2", "--poll-ms", "20"],
      );
      serves.push(serve);
      await waitIndexed(apiUrl, node.url);
      proxies.push(await startJsonProxy(apiUrl, tamper));
    }
    const policyFile = path.join(tmp.dir, "gateway.json");
    writeFileSync(policyFile, JSON.stringify({ maxStalenessSeconds: 60 }));
    gw = await startGatewayProcess(
      [
        ...proxies.flatMap((p) => ["--upstream", p.url]),
        "--witness",
        A.identity.address,
        "--witness",
        B.identity.address.toLowerCase(),
        "--witness-threshold",
        "2",
        "--policy",
        policyFile,
        "--id",
        "gw-test",
        "--insecure-plain",
        "--data-dir",
        path.join(tmp.dir, "gw"),
        "--heartbeat-ms",
        "200",
      ],
      { env: { DTL_LOG_LEVEL: "info" }, cwd: tmp.dir },
    );
    expect(gw.proc.stderr()).to.match(/witnesses 0x\w+, 0x\w+ \(2 must sign; verified up to block -?\d+\)/);
  });

  after(async function () {
    await Promise.all(open.map((c) => c.endAsync(true).catch(() => undefined)));
    await gw?.stop("SIGTERM");
    await Promise.all(proxies.map((p) => p.close()));
    for (const s of serves) await s.stop();
    await node?.stop();
    tmp?.cleanup();
  });

  it("with 2 of 2 witnesses: admits once the registrations are in a block it verified itself", async function () {
    const registered = await head();
    await signedPast(registered);
    await gw.ready();
    const r = await until("verified past the registrations", async () => {
      const z = await readyz();
      return z.witness.verifiedBlock >= registered ? z : undefined;
    });
    expect(r.ready).to.equal(true);
    expect(r.witness.lastRefusal).to.equal(null);
    expect(r.witness.verifiedBlock % 2).to.equal(0);
    const c = await connectDevice(gw.mqttUrl, { deviceId: dev.a!.id, pair: dev.a!.pair });
    open.push(c);
    expect(c.connected).to.equal(true);
    const metrics = await gw.metrics();
    expect(metrics).to.match(new RegExp(`^dtl_gateway_replica_block ${r.witness.verifiedBlock}$`, "m"));
  });

  it("an upstream that drops a revocation cannot move the replica: it stops at the last good checkpoint and says why", async function () {
    const connected = open[0]!;
    const before = (await readyz()).witness.verifiedBlock;
    lie.dropRevocations = true;
    await (await actors.registry.officer.getFunction("revokeDevice")(dev.a!.id, 1)).wait();
    const revokedAt = await head();
    await signedPast(revokedAt);
    const z = await until("a refusal", async () => {
      const v = await readyz();
      return v.witness.lastRefusal?.reason === "digest_mismatch" ? v : undefined;
    });
    expect(z.witness.verifiedBlock).to.be.lessThan(revokedAt);
    expect(z.witness.verifiedBlock).to.be.at.least(before);
    expect(z.witness.signedBlock).to.be.at.least(revokedAt);
    expect(z.witness.lastRefusal!.detail).to.match(/an event was dropped, altered or invented/);
    expect(await gw.metrics()).to.match(/^dtl_gateway_upstream_refusals_total\{reason="digest_mismatch"\} [1-9]/m);
    await gw.proc.waitFor(/upstream data refused: not applied/);
    // decisions keep using the verified state: the device is still connected, and admitted again
    expect(connected.connected).to.equal(true);
    const again = await connectDevice(gw.mqttUrl, { deviceId: dev.a!.id, pair: dev.a!.pair });
    open.push(again);
    expect(again.connected).to.equal(true);

    // the truth comes through again: the revocation is verified, applied, and the device dropped
    const dropped = closed(again);
    lie.dropRevocations = false;
    await dropped;
    expect((await readyz()).witness.verifiedBlock).to.be.at.least(revokedAt);
  });

  it("refuses bad witness settings, each named in one line", async function () {
    const gateway = (...witnessArgs: string[]) =>
      runDtl(["gateway", "--upstream", "http://127.0.0.1:1/graphql", "--insecure-plain", ...witnessArgs], {
        cwd: tmp.dir,
      });
    const bad = await gateway("--witness", "0x1234", "--witness", A.identity.address, "--witness-threshold", "0");
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.include(
      '--witness: "0x1234" is neither an address (0x + 40 hex digits) nor an ML-DSA-44 public key',
    );
    expect(bad.stderr).to.include("--witness-threshold: must be a whole number from 1 to 100");
    const twice = await gateway("--witness", A.identity.address, "--witness", A.identity.address.toLowerCase());
    expect(twice.stderr).to.include(`--witness: witness ${A.identity.address} is given twice`);
    const tooMany = await gateway("--witness", A.identity.address, "--witness-threshold", "2");
    expect(tooMany.code).to.not.equal(0);
    expect(tooMany.stderr).to.include("--witness-threshold: 2 signatures cannot come from 1 witness");
  });

  it("a witness that signs two states for one block is reported as lying and counted no more", async function () {
    lie.equivocateAsA = true;
    await mineBlocks(node.url, 6);
    const z = await until("an equivocation", async () => {
      const v = await readyz();
      return v.witness.lying.length > 0 ? v : undefined;
    });
    expect(z.witness.lying.map((l) => l.witness)).to.deep.equal([A.identity.address]);
    expect(await gw.metrics()).to.include(`dtl_gateway_witness_equivocations_total{witness="${A.identity.address}"} 1`);
    await gw.proc.waitFor(/ALARM: witness signed two different states for one block/);
    // with A ignored, 2 of 2 cannot be met: the replica holds where it is
    lie.equivocateAsA = false;
    const held = (await readyz()).witness.verifiedBlock;
    await mineBlocks(node.url, 8);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await readyz()).witness.verifiedBlock).to.equal(held);
  });
});
