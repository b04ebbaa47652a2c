/**
 * End to end on a real hardhat node: `dtl register --file … --anchor` (10,000 devices in one
 * transaction, the manifest and one proof file per device, checked against OpenZeppelin's
 * `StandardMerkleTree`), a re-run that sends nothing, `dtl revoke --proof FILE` (materialize +
 * revoke in one multicall), exact errors for a wrong proof, and `dtl batch revoke`.
 */
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { expect } from "chai";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { Wallet, keccak256, type TransactionReceipt } from "ethers";
import { registryInterface } from "../../common/abi";
import type { Deployment } from "../../common/deployment";
import { deviceIdFor } from "../../common/ids";
import {
  encodeDeviceProof,
  parseDeviceProof,
  parseManifest,
  proofFileName,
  type DeviceProof,
} from "../../common/manifest";
import { LEAF_ENCODING, leafValues, loadAnchorMerkle } from "../../common/merkle";
import { readDevices } from "../../common/registry-views";
import { createRpcClient } from "../../common/rpc";
import { writeDeployment } from "../../scripts/deploy";
import { HARDHAT_KEYS, startHardhatNode, type NodeHandle } from "../helpers/chain";
import { ensureBuilt, runDtl, tempDir, type RunResult } from "../helpers/cli-run";
import { deployFleetRegistry, type FleetActors } from "../helpers/fleet";
import { makeAnchorDevices, writeAnchorCsv } from "./anchor-fixtures";

const MAKER = new Wallet(HARDHAT_KEYS[1]!);
const OFFICER = new Wallet(HARDHAT_KEYS[4]!);
const NOBODY = new Wallet(HARDHAT_KEYS[5]!);
const withoutProgress = (stderr: string) => stderr.replace(/^progress: .*\n/gm, "");

interface AnchorJson {
  batchId: string;
  root: string;
  count: number;
  manufacturer: string;
  manifestFile: string;
  manifestHash: string;
  manifestUri: string;
  proofsDir: string;
  alreadyAnchored: boolean;
  transactionHash?: string;
  gasUsed?: string;
  seconds: number;
}

describe("dtl register --anchor, dtl batch revoke, dtl revoke --proof", function () {
  this.timeout(180_000);
  let node: NodeHandle;
  let tmp: ReturnType<typeof tempDir>;
  let deployment: Deployment;
  let deploymentFile: string;
  let actors: FleetActors;
  const env = (as: Wallet) => ({
    DTL_RPC_URL: node.url,
    DTL_DEPLOYMENT: deploymentFile,
    DTL_PRIVATE_KEY: as.privateKey,
  });
  const dtl = (args: string[], as: Wallet = MAKER): Promise<RunResult> =>
    runDtl(args, { env: env(as), cwd: tmp.dir, timeoutMs: 170_000 });
  const blockNumber = async () => Number(await node.rpc<string>("eth_blockNumber"));
  const receiptOf = (hash: string) =>
    node.rpc<TransactionReceipt & { logs: { topics: string[]; data: string }[] }>("eth_getTransactionReceipt", [hash]);
  const eventsOf = async (hash: string) =>
    (await receiptOf(hash)).logs
      .map((l) => registryInterface.parseLog(l)!)
      .map((e) => ({ name: e.name, args: e.args }));
  const statusOf = async (id: string) =>
    (await readDevices(createRpcClient(node.url), deployment.registry, [id]))[0]!.status;

  before(async function () {
    ensureBuilt();
    tmp = tempDir("dtl-anchor-");
    node = await startHardhatNode();
    ({ deployment, actors } = await deployFleetRegistry(node.url));
    deploymentFile = writeDeployment(deployment, path.join(tmp.dir, "deployment.json"));
  });
  after(async function () {
    await node?.stop();
    tmp?.cleanup();
  });

  it("names every bad row before anything is sent or written", async function () {
    const good = makeAnchorDevices(2, "BADA");
    const file = writeAnchorCsv(path.join(tmp.dir, "bad-line.csv"), good);
    const fw = good[0]!.firmware;
    writeFileSync(
      file,
      readFileSync(file, "utf8") +
        [
          `BADA-0000001,p256,${good[1]!.publicKey},${fw},`, // line 4: duplicate serial of line 2
          `BADA-9,ed25519,0x1234,${fw},`, // line 5: short Ed25519 key
          `BADA-10,p256,${good[1]!.publicKey},0xfeed,`, // line 6: bad firmware
        ].join("\n") +
        "\n",
    );
    const before = await blockNumber();
    const out = path.join(tmp.dir, "bad-out");
    const r = await dtl(["register", "--file", file, "--anchor", "--manifest-dir", out]);
    expect(r.code).to.equal(1);
    expect(withoutProgress(r.stderr).trimEnd().split("\n")).to.deep.equal([
      'bad-line.csv:4: duplicate serial "BADA-0000001" (first at bad-line.csv:2)',
      "bad-line.csv:5: publicKey: an Ed25519 public key is 32 bytes, got 2",
      'bad-line.csv:6: firmware must be 0x followed by 64 hex digits, got "0xfeed"',
      `dtl: ${file}: 3 bad rows; nothing was sent`,
    ]);
    expect(await blockNumber()).to.equal(before);
    expect(existsSync(out), "no folder made for a refused file").to.equal(false);
  });

  it("refuses flags that do not fit an anchored batch", async function () {
    const file = path.join(tmp.dir, "any.csv");
    const cases: [string[], string][] = [
      [["--chunk", "10"], "dtl: register: --chunk does not apply to --anchor (one transaction anchors the whole file)"],
      [
        ["--manifest-uri", "ftp://x/y"],
        'dtl: register: --manifest-uri must be file:<name>, http://… or https://…, got "ftp://x/y"',
      ],
      [
        ["--manifest-uri", "file:a/b"],
        'dtl: register: --manifest-uri file:<name> takes a plain file name, got "file:a/b"',
      ],
    ];
    writeAnchorCsv(file, makeAnchorDevices(1, "FLAG"));
    for (const [extra, line] of cases) {
      const r = await dtl(["register", "--file", file, "--anchor", ...extra]);
      expect(r.code, extra.join(" ")).to.equal(1);
      expect(withoutProgress(r.stderr).trimEnd()).to.equal(line);
    }
    const r = await dtl(["register", "--file", file, "--proofs-dir", "p"]);
    expect(r.stderr.trimEnd()).to.equal("dtl: register: --proofs-dir needs --anchor");
    const r2 = await dtl(["register", "--file", file, "--anchor"], NOBODY);
    expect(withoutProgress(r2.stderr).trimEnd()).to.equal(
      `dtl: register: ${NOBODY.address} does not hold MANUFACTURER_ROLE on ${deployment.registry}`,
    );
  });

  describe("a batch of 10,000 devices", function () {
    const N = 10_000;
    let devices: ReturnType<typeof makeAnchorDevices>;
    let csv: string;
    let out: AnchorJson;
    let seconds: number;
    const proofOf = (serial: string): DeviceProof =>
      parseDeviceProof(readFileSync(path.join(out.proofsDir, proofFileName(serial)), "utf8"));

    before(async function () {
      devices = makeAnchorDevices(N, "LINE7");
      csv = writeAnchorCsv(path.join(tmp.dir, "line-7.csv"), devices);
      const t0 = performance.now();
      const r = await dtl(["register", "--file", csv, "--anchor", "--manifest-dir", "manifests", "--json"]);
      seconds = (performance.now() - t0) / 1000;
      expect(r.code, r.stderr).to.equal(0);
      out = r.json<AnchorJson>();
      console.log(
        `      anchoring ${N} devices from a CSV took ${seconds.toFixed(1)} s (${Math.round(N / seconds)} devices/s)`,
      );
    });

    it("sends one anchorDevices transaction with the root, count, manifest hash and uri", async function () {
      expect(seconds).to.be.below(60);
      expect(out.count).to.equal(N);
      expect(out.alreadyAnchored).to.equal(false);
      const events = await eventsOf(out.transactionHash!);
      expect(events.map((e) => e.name)).to.deep.equal(["DevicesAnchored"]);
      const a = events[0]!.args;
      expect([a.batchId, a.manufacturer, a.root, Number(a.count), a.manifestHash, a.manifestUri]).to.deep.equal([
        out.batchId,
        MAKER.address,
        out.root,
        N,
        out.manifestHash,
        out.manifestUri,
      ]);
      expect(out.manifestUri).to.equal(`file:${path.basename(out.manifestFile)}`);
      expect(path.dirname(out.manifestFile)).to.equal(path.join(tmp.dir, "manifests"));
      expect(Number(out.gasUsed)).to.be.below(100_000);
      const batch = await actors.registry.admin.getFunction("getBatch")(out.batchId);
      expect(batch.manufacturer).to.equal(MAKER.address);
    });

    it("writes the manifest in tree order, hashed as anchored, identical to StandardMerkleTree", async function () {
      const bytes = readFileSync(out.manifestFile);
      expect(keccak256(bytes)).to.equal(out.manifestHash);
      // what every indexer checks: hash, count, ids, tree order, root
      const entries = await parseManifest(
        bytes,
        { manufacturer: MAKER.address, root: out.root, count: N, manifestHash: out.manifestHash },
        await loadAnchorMerkle(),
      );
      expect(entries.length).to.equal(N);
      const bySerial = new Map(devices.map((d) => [d.serial, d]));
      for (const e of entries) {
        expect(e.deviceId).to.equal(deviceIdFor(MAKER.address, e.serial));
        expect(bySerial.has(e.serial)).to.equal(true);
      }
      const lib = StandardMerkleTree.of(entries.map(leafValues), [...LEAF_ENCODING]);
      expect(lib.root).to.equal(out.root);
      // tree order: the library (sortLeaves) puts the k-th smallest leaf at tree index 2n - 2 - k;
      // given the manifest's order it keeps it, so value k sits at 2n - 2 - k
      const at = lib.dump().values.map((v) => v.treeIndex);
      expect(at.every((t, k) => t === 2 * N - 2 - k)).to.equal(true);
    });

    it("writes one proof file per device that StandardMerkleTree.verify accepts", function () {
      const files = readdirSync(out.proofsDir);
      expect(files.length).to.equal(N);
      for (const d of devices.filter((_, i) => i % 97 === 0)) {
        const p = proofOf(d.serial);
        expect(p).to.include({
          chainId: deployment.chainId,
          registry: deployment.registry,
          batchId: out.batchId,
          manufacturer: MAKER.address,
          root: out.root,
          serial: d.serial,
          deviceId: deviceIdFor(MAKER.address, d.serial),
          firmwareHash: d.firmware,
        });
        expect(StandardMerkleTree.verify(out.root, [...LEAF_ENCODING], leafValues(p), p.proof)).to.equal(true);
      }
    });

    it("sends nothing when the same file is anchored again, and writes the same files", async function () {
      const manifest = readFileSync(out.manifestFile);
      const before = await blockNumber();
      const r = await dtl(["register", "--file", csv, "--anchor", "--manifest-dir", "manifests", "--json"]);
      expect(r.code, r.stderr).to.equal(0);
      const again = r.json<AnchorJson>();
      expect(again).to.include({ alreadyAnchored: true, batchId: out.batchId, manifestHash: out.manifestHash });
      expect(await blockNumber()).to.equal(before);
      expect(readFileSync(out.manifestFile).equals(manifest)).to.equal(true);
    });

    it("revokes a device by --proof FILE: materialize + revoke in one transaction", async function () {
      const d = devices[10]!;
      const id = deviceIdFor(MAKER.address, d.serial);
      expect(await statusOf(id)).to.equal("NONE");
      const file = path.join(out.proofsDir, proofFileName(d.serial));
      const r = await dtl(["revoke", id, "--reason", "key-compromise", "--proof", file, "--json"], OFFICER);
      expect(r.code, r.stderr).to.equal(0);
      const res = r.json<{ transactionHash: string; materializedFrom: string; gasUsed: string }>();
      expect(res.materializedFrom).to.equal(out.batchId);
      const events = await eventsOf(res.transactionHash);
      expect(events.map((e) => e.name)).to.deep.equal(["DeviceRegistered", "DeviceMaterialized", "DeviceRevoked"]);
      expect(events[1]!.args.batchId).to.equal(out.batchId);
      expect(Number(events[2]!.args.reason)).to.equal(1);
      expect(await statusOf(id)).to.equal("REVOKED");
      console.log(`      materialize + revoke: ${res.gasUsed} gas`);
    });

    it("acts on a device with a record without materializing it again", async function () {
      const d = devices[11]!;
      const id = deviceIdFor(MAKER.address, d.serial);
      const file = path.join(out.proofsDir, proofFileName(d.serial));
      const s = await dtl(["suspend", id, "--proof", file, "--json"]);
      expect(s.code, s.stderr).to.equal(0);
      expect(s.json()).to.include({ materializedFrom: out.batchId });
      const r = await dtl(["reinstate", id, "--proof", file, "--json"]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.json()).to.include({ materializedFrom: null });
      expect((await eventsOf(r.json<{ transactionHash: string }>().transactionHash)).map((e) => e.name)).to.deep.equal([
        "DeviceReinstated",
      ]);
    });

    it("refuses a wrong proof with the registry's exact error, and nothing is written", async function () {
      const d = devices[12]!;
      const id = deviceIdFor(MAKER.address, d.serial);
      const good = proofOf(d.serial);
      const forged = path.join(tmp.dir, "forged.proof.json");
      // a proof step swapped for another device's: a leaf that does not lead to the root
      writeFileSync(forged, encodeDeviceProof({ ...good, proof: proofOf(devices[13]!.serial).proof }));
      const before = await blockNumber();
      const r = await dtl(["revoke", id, "--reason", "key-compromise", "--proof", forged]);
      expect(r.code).to.equal(1);
      expect(r.stderr.trimEnd()).to.equal(
        `dtl: registry refused: DeviceRegistryInvalidProof(batchId=${out.batchId}, deviceId=${id})`,
      );
      // other fields forged: the firmware hash of the leaf
      writeFileSync(
        forged,
        encodeDeviceProof({
          ...good,
          firmwareHash: devices[14]!.firmware === good.firmwareHash ? devices[13]!.firmware : devices[14]!.firmware,
        }),
      );
      const r2 = await dtl(["update-firmware", id, "--firmware", good.firmwareHash, "--proof", forged]);
      expect(r2.stderr.trimEnd()).to.equal(
        `dtl: registry refused: DeviceRegistryInvalidProof(batchId=${out.batchId}, deviceId=${id})`,
      );
      // the serial does not give the device id
      writeFileSync(forged, encodeDeviceProof({ ...good, serial: "SOMEONE-ELSE" }));
      const r3 = await dtl(["revoke", id, "--reason", "key-compromise", "--proof", forged]);
      expect(r3.stderr.trimEnd()).to.equal(
        `dtl: registry refused: DeviceRegistryDeviceIdMismatch(deviceId=${id}, manufacturer=${MAKER.address}, serial=SOMEONE-ELSE)`,
      );
      // the proof of another device
      const other = path.join(out.proofsDir, proofFileName(devices[13]!.serial));
      const r4 = await dtl(["revoke", id, "--reason", "key-compromise", "--proof", other]);
      expect(r4.stderr.trimEnd()).to.equal(
        `dtl: revoke: --proof ${other} is the proof of device ${deviceIdFor(MAKER.address, devices[13]!.serial)}, not of ${id}`,
      );
      // not a proof file
      writeFileSync(forged, JSON.stringify({ ...good, proof: ["0x12"], chainId: "x" }));
      const r5 = await dtl(["revoke", id, "--reason", "key-compromise", "--proof", forged]);
      expect(r5.stderr.trimEnd()).to.equal(
        `dtl: revoke: --proof ${forged}: chainId Expected number, received string; proof.0 must be 0x followed by 64 hex digits`,
      );
      expect(await blockNumber()).to.equal(before);
      expect(await statusOf(id)).to.equal("NONE");
    });

    it("attests a device of the batch by its proof (materialize + attest)", async function () {
      const d = devices[15]!;
      const id = deviceIdFor(MAKER.address, d.serial);
      const attester = new Wallet(HARDHAT_KEYS[3]!);
      const r = await dtl(
        [
          "attest",
          id,
          "--kind",
          "firmware",
          "--evidence",
          d.firmware,
          "--proof",
          path.join(out.proofsDir, proofFileName(d.serial)),
          "--json",
        ],
        attester,
      );
      expect(r.code, r.stderr).to.equal(0);
      const res = r.json<{ uid: string; transactionHash: string }>();
      expect((await eventsOf(res.transactionHash)).map((e) => e.name)).to.deep.equal([
        "DeviceRegistered",
        "DeviceMaterialized",
        "Attested",
      ]);
      expect(res.uid).to.match(/^0x[0-9a-f]{64}$/);
    });

    it("revokes the whole batch: dtl batch revoke", async function () {
      const n = await dtl(["batch", "revoke", out.batchId, "--reason", "manufacturer-compromise"], NOBODY);
      expect(n.stderr.trimEnd()).to.equal(
        `dtl: registry refused: DeviceRegistryNotBatchManager(batchId=${out.batchId}, account=${NOBODY.address})`,
      );
      const r = await dtl(["batch", "revoke", out.batchId, "--reason", "manufacturer-compromise", "--json"]);
      expect(r.code, r.stderr).to.equal(0);
      const res = r.json<{ transactionHash: string; reason: string }>();
      expect(res.reason).to.equal("MANUFACTURER_COMPROMISE");
      const [ev] = await eventsOf(res.transactionHash);
      expect([ev!.name, ev!.args.batchId, ev!.args.by, Number(ev!.args.reason)]).to.deep.equal([
        "BatchRevoked",
        out.batchId,
        MAKER.address,
        2,
      ]);
      expect((await actors.registry.admin.getFunction("getBatch")(out.batchId)).revoked).to.equal(true);
      const again = await dtl(["batch", "revoke", out.batchId, "--reason", "manufacturer-compromise"]);
      expect(again.stderr.trimEnd()).to.equal(
        `dtl: registry refused: DeviceRegistryBatchRevoked(batchId=${out.batchId})`,
      );
      // a device of a revoked batch is never materialized
      const d = devices[20]!;
      const id = deviceIdFor(MAKER.address, d.serial);
      const m = await dtl(["suspend", id, "--proof", path.join(out.proofsDir, proofFileName(d.serial))]);
      expect(m.stderr.trimEnd()).to.equal(`dtl: registry refused: DeviceRegistryBatchRevoked(batchId=${out.batchId})`);
      const bad = await dtl(["batch", "revoke", out.batchId]);
      expect(bad.stderr.trimEnd()).to.equal("dtl: batch revoke: missing --reason <reason>");
      const bad2 = await dtl(["batch", "revoke", "0x12", "--reason", "superseded"]);
      expect(bad2.stderr.trimEnd()).to.equal(
        'dtl: batch revoke: <batchId> must be 0x followed by 64 hex digits, got "0x12"',
      );
    });
  });
});
