/**
 * End to end: `dtl serve` as a child process (real indexer, real LevelDB, real HTTP) against a
 * hardhat node, and the read side of the CLI against it — verify (exit 0 / 3), the
 * challenge–response walk-through, history, and audit, including a tampering proxy between
 * `dtl audit` and the real API that alters one history entry, drops one and reorders two.
 */
import { expect } from "chai";
import path from "node:path";
import { Wallet } from "ethers";
import type { Deployment } from "../../common/deployment";
import { deviceIdFor } from "../../common/ids";
import { writeDeployment } from "../../scripts/deploy";
import { HARDHAT_KEYS, freePort, startHardhatNode, type NodeHandle } from "../helpers/chain";
import { firmwareHash, randomHex32 } from "../helpers/cli-fixtures";
import { startJsonProxy, type Proxy } from "../helpers/cli-proxy";
import {
  ensureBuilt,
  runDtl,
  startServe,
  tempDir,
  waitIndexed,
  type RunResult,
  type RunningDtl,
} from "../helpers/cli-run";
import { deployFleetRegistry, writeFleet } from "../helpers/fleet";

const [, MAKER, , ATTESTER, OFFICER] = HARDHAT_KEYS.map((k) => new Wallet(k)) as Wallet[] as [
  Wallet,
  Wallet,
  Wallet,
  Wallet,
  Wallet,
];

interface AuditJson {
  consistent: boolean;
  block: number;
  devices: number;
  digest: { replayed: string; api: string };
  problems: { deviceId?: string; block: number; seq?: number; source: string; message: string }[];
}

describe("dtl serve + verify / challenge / history / audit", function () {
  let node: NodeHandle;
  let tmp: ReturnType<typeof tempDir>;
  let deployment: Deployment;
  let deploymentFile: string;
  let serve: RunningDtl;
  let apiUrl: string;
  const keys: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const dtl = (args: string[], as: Wallet | null = null, env: Record<string, string> = {}): Promise<RunResult> =>
    runDtl(args, {
      env: {
        DTL_RPC_URL: node.url,
        DTL_DEPLOYMENT: deploymentFile,
        DTL_API_URL: apiUrl,
        DTL_PRIVATE_KEY: as?.privateKey,
        ...env,
      },
      cwd: tmp.dir,
    });
  const ok = async (p: Promise<RunResult>): Promise<RunResult> => {
    const r = await p;
    expect(r.code, r.stderr).to.equal(0);
    return r;
  };
  /** Waits until the API has indexed the chain head. */
  const synced = () => waitIndexed(apiUrl, node.url);

  before(async function () {
    ensureBuilt();
    tmp = tempDir();
    node = await startHardhatNode();
    const fleet = await deployFleetRegistry(node.url);
    deployment = fleet.deployment;
    deploymentFile = writeDeployment(deployment, path.join(tmp.dir, "deployment.json"));
    await writeFleet(fleet.actors, { devices: 40 });
    apiUrl = "http://127.0.0.1:1/graphql"; // set once serve is up
    // three devices with real keys, each with a small history
    for (const [name, alg] of [
      ["A", "p256"],
      ["B", "ed25519"],
      ["C", "secp256k1"],
    ] as const) {
      keys[name] = path.join(tmp.dir, `${name}.key`);
      await ok(dtl(["device", "keygen", "--alg", alg, "--out", keys[name]!]));
      await ok(
        dtl(
          [
            "register",
            "--serial",
            `SN-${name}`,
            "--key",
            keys[name]!,
            "--firmware",
            firmwareHash("1"),
            "--segment",
            "plant-9",
          ],
          MAKER,
        ),
      );
      ids[name] = deviceIdFor(MAKER.address, `SN-${name}`);
    }
    await ok(dtl(["suspend", ids.A!, "--reason", "anomaly-detected"], OFFICER));
    await ok(dtl(["reinstate", ids.A!], OFFICER));
    await ok(dtl(["attest", ids.B!, "--kind", "firmware", "--evidence", randomHex32()], ATTESTER));
    await ok(dtl(["update-firmware", ids.B!, "--firmware", firmwareHash("2")], MAKER));
    await ok(
      dtl(["attest", ids.C!, "--kind", "firmware", "--evidence", randomHex32(), "--expires-in", "30d"], ATTESTER),
    );
    await ok(dtl(["update-firmware", ids.C!, "--firmware", firmwareHash("2")], MAKER));

    ({ serve, apiUrl } = await startServe(path.join(tmp.dir, "index"), {
      env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile, DTL_LOG_LEVEL: "warn" },
      cwd: tmp.dir,
    }));
    await synced();
  });
  after(async function () {
    await serve?.stop();
    await node?.stop();
    tmp?.cleanup();
  });

  describe("serve", function () {
    it("announces where it indexes and listens", function () {
      expect(serve.stderr()).to.include(
        `dtl serve: indexing registry ${deployment.registry} on chain 31337 (${node.url}) into ${path.join(tmp.dir, "index")}; GraphQL at ${apiUrl}`,
      );
    });

    it("refuses a store that mirrors another registry, naming --rebuild", async function () {
      const other = await deployFleetRegistry(node.url);
      const otherFile = writeDeployment(other.deployment, path.join(tmp.dir, "other.json"));
      const dir = path.join(tmp.dir, "index-2");
      const { serve: first } = await startServe(dir, {
        env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile, DTL_LOG_LEVEL: "silent" },
        cwd: tmp.dir,
      });
      expect(await first.stop("SIGTERM")).to.equal(0);
      const r = await runDtl(["serve", "--port", "0", "--data-dir", dir], {
        env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: otherFile, DTL_LOG_LEVEL: "silent" },
        cwd: tmp.dir,
      });
      expect(r.code).to.equal(1);
      expect(r.stderr.trim()).to.match(
        new RegExp(
          `^dtl: the store ${dir.replace(/[/.]/g, "\\$&")} mirrors registry ${deployment.registry} .* use another data dir or rebuild it \\(or run with --rebuild\\)$`,
        ),
      );
    });

    it("stops quietly on SIGTERM, and hints at a second Ctrl-C only on SIGINT", async function () {
      const stopped = async (signal: NodeJS.Signals) => {
        const { serve: s } = await startServe(path.join(tmp.dir, `index-${signal}`), {
          env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile, DTL_LOG_LEVEL: "silent" },
          cwd: tmp.dir,
        });
        expect(await s.stop(signal)).to.equal(0);
        return s.stderr().split("\n").slice(1).join("\n"); // after the banner
      };
      expect(await stopped("SIGTERM")).to.equal("stopping (SIGTERM)…\ndtl serve: stopped\n");
      expect(await stopped("SIGINT")).to.equal("stopping… (press Ctrl-C again to quit at once)\ndtl serve: stopped\n");
    });
  });

  describe("verify", function () {
    it("says TRUSTED with exit 0 and NOT TRUSTED with every reason and exit 3", async function () {
      const good = await dtl(["verify", ids.C!]);
      expect(good.code).to.equal(0);
      expect(good.stdout.split("\n")[0]).to.match(new RegExp(`^TRUSTED  ${ids.C}  \\(block \\d+, index lag \\d+, 20`));
      const strict = await dtl([
        "verify",
        ids.A!,
        "--require-attestation",
        "firmware",
        "--require-attestation",
        "iec62443",
        "--allow-segment",
        "plant-1",
      ]);
      expect(strict.code).to.equal(3);
      expect(strict.stdout).to.include("\n  - SEGMENT_NOT_ALLOWED: its segment is not in the allowed list\n");
      expect(strict.stdout).to.include("\n  - ATTESTATION_MISSING: a required attestation is missing or revoked\n");
      const json = (await dtl(["verify", ids.A!, "--require-attestation", "firmware", "--json"])).json<{
        trusted: boolean;
        reasons: string[];
        deviceId: string;
      }>();
      expect(json).to.deep.include({ trusted: false, reasons: ["ATTESTATION_MISSING"], deviceId: ids.A });
      const unknown = await dtl(["verify", "0x" + "42".repeat(32), "--json"]);
      expect(unknown.code).to.equal(3);
      expect(unknown.json<{ reasons: string[] }>().reasons).to.deep.equal(["NOT_REGISTERED"]);
    });

    it("watches the verdict change when a device is revoked", async function () {
      expect((await dtl(["verify", ids.B!])).code).to.equal(0);
      await ok(dtl(["revoke", ids.B!, "--reason", "key-compromise"], OFFICER));
      await synced();
      const after = await dtl(["verify", ids.B!]);
      expect(after.code).to.equal(3);
      expect(after.stdout).to.include("  - REVOKED: the device is revoked\n");
      expect(after.stdout).to.match(/\n {2}revoked \(KEY_COMPROMISE\) at 20\S+ by 0x/);
    });

    it("runs the challenge–response walk-through from the terminal", async function () {
      const c = (await ok(dtl(["challenge", ids.C!, "--json"]))).json<{
        id: string;
        message: string;
        expiresAt: string;
      }>();
      const pub = (await ok(dtl(["device", "sign", "--key", keys.C!, "--message", c.message, "--json"]))).json<{
        publicKey: string;
        signature: string;
      }>();
      const proof = ["--challenge", c.id, "--public-key", pub.publicKey, "--signature", pub.signature];
      const noProof = await dtl(["verify", ids.C!, "--require-proof", "--json"]);
      expect(noProof.code).to.equal(3);
      expect(noProof.json<{ reasons: string[] }>().reasons).to.deep.equal(["PROOF_REQUIRED"]);
      const good = await dtl(["verify", ids.C!, "--require-proof", ...proof]);
      expect(good.code, good.stdout + good.stderr).to.equal(0);
      const again = await dtl(["verify", ids.C!, "--require-proof", ...proof, "--json"]);
      expect(again.code).to.equal(3);
      expect(again.json<{ reasons: string[] }>().reasons).to.include("CHALLENGE_REUSED");
      // a key that is not the registered one
      const c2 = (await ok(dtl(["challenge", ids.C!, "--json"]))).json<{ id: string; message: string }>();
      const other = (await ok(dtl(["device", "sign", "--key", keys.A!, "--message", c2.message, "--json"]))).json<{
        publicKey: string;
        signature: string;
      }>();
      const wrong = await dtl([
        "verify",
        ids.C!,
        "--challenge",
        c2.id,
        "--public-key",
        other.publicKey,
        "--signature",
        other.signature,
        "--json",
      ]);
      expect(wrong.code).to.equal(3);
      expect(wrong.json<{ reasons: string[] }>().reasons).to.include("KEY_MISMATCH");
    });

    it("rejects bad input and an unreachable API with one line", async function () {
      const [badId, half, down] = await Promise.all([
        dtl(["verify", "0x12"]),
        dtl(["verify", ids.C!, "--challenge", "x"]),
        dtl(["verify", ids.C!], null, { DTL_API_URL: `http://127.0.0.1:${await freePort()}/graphql` }),
      ]);
      expect([badId.code, badId.stderr]).to.deep.equal([
        1,
        'dtl: verify: <deviceId> must be 0x followed by 64 hex digits, got "0x12"\n',
      ]);
      expect([half.code, half.stderr]).to.deep.equal([
        1,
        "dtl: verify: a proof needs all of --challenge <id>, --public-key <hex> and --signature <hex>\n",
      ]);
      expect(down.code).to.equal(1);
      expect(down.stderr).to.match(
        /^dtl: cannot reach the API at http:\/\/127\.0\.0\.1:\d+\/graphql: connection refused \(is `dtl serve` or `npm start` running\?\)\n$/,
      );
    });
  });

  describe("history", function () {
    it("prints every entry with block, kind and actor, and --json the same", async function () {
      const text = await ok(dtl(["history", ids.A!]));
      const lines = text.stdout.trimEnd().split("\n");
      expect(lines[0]).to.match(
        new RegExp(
          `^${ids.A}  ACTIVE  manufacturer ${MAKER.address}  3 events  head 0x[0-9a-f]{64}  \\(block \\d+\\)$`,
        ),
      );
      expect(lines.slice(1).map((l) => l.split(/\s+/)[5])).to.deep.equal([
        "DEVICE_REGISTERED",
        "DEVICE_SUSPENDED",
        "DEVICE_REINSTATED",
      ]);
      expect(lines[1]).to.include("alg=p256");
      expect(lines[1]).to.include("segment=plant-9");
      expect(lines[2]).to.include(`by ${OFFICER.address}  reason=anomaly-detected`);
      const json = (await ok(dtl(["history", ids.A!, "--json"]))).json<{
        entries: { seq: number; kind: string; headAfter: string }[];
        historyHead: string;
      }>();
      expect(json.entries.map((e) => e.seq)).to.deep.equal([1, 2, 3]);
      expect(json.entries[2]!.headAfter).to.equal(json.historyHead);
      const r = await dtl(["history", "0x" + "42".repeat(32)]);
      expect([r.code, r.stderr]).to.deep.equal([1, `dtl: history: no device 0x${"42".repeat(32)} in the index\n`]);
    });
  });

  describe("audit", function () {
    let proxy: Proxy | undefined;
    afterEach(async function () {
      await proxy?.close();
      proxy = undefined;
    });

    it("finds the API consistent with the chain (exit 0)", async function () {
      await synced();
      const r = await dtl(["audit", "--json"]);
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      const rep = r.json<AuditJson>();
      expect(rep.consistent).to.equal(true);
      expect(rep.devices).to.equal(43);
      expect(rep.problems).to.deep.equal([]);
      expect(rep.digest.api).to.equal(rep.digest.replayed);
      const text = await dtl(["audit"]);
      expect(text.code).to.equal(0);
      expect(text.stdout.trimEnd().split("\n").pop()).to.equal(
        "CONSISTENT: 43 devices' histories, on-chain heads, records and default verdicts, and the API's digest agree with the chain",
      );
    });

    it("catches a tampering API: an altered entry, a dropped one and two reordered (exit 4)", async function () {
      await synced();
      const history = async (id: string) =>
        (await ok(dtl(["history", id, "--json"]))).json<{
          entries: { seq: number; blockNumber: number; kind: string }[];
        }>().entries;
      const [a, b, c] = [await history(ids.A!), await history(ids.B!), await history(ids.C!)];
      type Edges = { node: { seq: number; fields: Record<string, unknown> } }[];
      proxy = await startJsonProxy(apiUrl, (req, answer) => {
        const id = (req as { variables?: { id?: string } }).variables?.id;
        const edges = (answer as { data?: { device?: { history?: { edges: Edges } } } }).data?.device?.history?.edges;
        if (!edges) return answer;
        if (id === ids.A) edges[1]!.node.fields.reason = 1; // anomaly-detected → key-compromise
        if (id === ids.B) edges.splice(1, 1); // drop the attestation
        if (id === ids.C) [edges[0], edges[1]] = [edges[1]!, edges[0]!]; // reorder
        return answer;
      });
      const r = await dtl(["audit", "--json"], null, { DTL_API_URL: proxy.url });
      expect(r.code, r.stderr).to.equal(4);
      const rep = r.json<AuditJson>();
      expect(rep.consistent).to.equal(false);
      const by = (id: string) => rep.problems.filter((p) => p.deviceId === id);
      expect(by(ids.A!)).to.deep.equal([
        {
          deviceId: ids.A,
          block: a[1]!.blockNumber,
          seq: 2,
          source: "api",
          message: `the API's entry #2 DEVICE_SUSPENDED (block ${a[1]!.blockNumber}, log 0) differs from the chain: fields.reason 1 ≠ 8`,
        },
      ]);
      expect(by(ids.B!)).to.deep.equal([
        {
          deviceId: ids.B,
          block: b[1]!.blockNumber,
          seq: 2,
          source: "api",
          message: `the API's history lacks #2 ATTESTED (block ${b[1]!.blockNumber}, log 0)`,
        },
      ]);
      expect(by(ids.C!)).to.deep.equal([
        {
          deviceId: ids.C,
          block: c[0]!.blockNumber,
          seq: 1,
          source: "api",
          message: `the API lists #1 DEVICE_REGISTERED (block ${c[0]!.blockNumber}, log 0) after #2 ATTESTED (block ${c[1]!.blockNumber}, log 0): reordered`,
        },
      ]);
      expect(rep.problems).to.have.length(3);
      // the text report names each device and block, then the verdict
      const text = await dtl(["audit"], null, { DTL_API_URL: proxy.url });
      expect(text.code).to.equal(4);
      expect(text.stdout).to.include(
        `  ✗ device ${ids.B} block ${b[1]!.blockNumber} entry #2 [api]: the API's history lacks #2 ATTESTED`,
      );
      expect(text.stdout.trimEnd().split("\n").pop()).to.equal("INCONSISTENT: 3 differences");
    });

    it("catches an API whose state digest differs from the replay", async function () {
      await synced();
      const fake = "0x" + "ab".repeat(32);
      proxy = await startJsonProxy(apiUrl, (_req, answer) => {
        const st = (answer as { data?: { indexerStatus?: { digest: string } } }).data?.indexerStatus;
        if (st) st.digest = fake;
        return answer;
      });
      const r = await dtl(["audit", "--json"], null, { DTL_API_URL: proxy.url });
      expect(r.code).to.equal(4);
      const rep = r.json<AuditJson>();
      expect(rep.problems).to.deep.equal([
        {
          block: rep.block,
          source: "api",
          message: `the API's state digest at block ${rep.block} is ${fake}, the replay computes ${rep.digest.replayed}`,
        },
      ]);
    });
  });
});
