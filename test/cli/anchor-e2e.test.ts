/**
 * The end to end of issue 10 with real processes: a hardhat node, `dtl register --anchor` of
 * 10,000 devices from a CSV, two `dtl serve` — site A with the manifest folder, site B without —
 * then `dtl batch list|show`, `dtl device proof`, one device verified by the manifest (A) and one
 * by its own proof file on B, one revoked with the proof taken from the API (materialize + revoke
 * in one transaction) while an SSE subscriber watches, then the whole batch revoked.
 */
import { expect } from "chai";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Wallet } from "ethers";
import type { Deployment } from "../../common/deployment";
import { deviceIdFor } from "../../common/ids";
import { encodeDeviceProof, parseDeviceProof, proofFileName } from "../../common/manifest";
import { writeDeployment } from "../../scripts/deploy";
import { subscribeSse } from "../helpers/api-sse";
import { HARDHAT_KEYS, startHardhatNode, type NodeHandle } from "../helpers/chain";
import {
  ensureBuilt,
  runDtl,
  startServe,
  tempDir,
  waitIndexed,
  type RunResult,
  type RunningServe,
} from "../helpers/cli-run";
import { deployFleetRegistry } from "../helpers/fleet";
import { makeAnchorDevices, writeAnchorCsv } from "./anchor-fixtures";

const MAKER = new Wallet(HARDHAT_KEYS[1]!);
const OFFICER = new Wallet(HARDHAT_KEYS[4]!);
const N = 10_000;

interface Verdict {
  trusted: boolean;
  reasons: string[];
}

describe("anchored batches end to end: CLI, two sites, SSE", function () {
  this.timeout(240_000);
  let node: NodeHandle;
  let tmp: ReturnType<typeof tempDir>;
  let deployment: Deployment;
  let deploymentFile: string;
  let siteA: RunningServe;
  let siteB: RunningServe;
  let devices: ReturnType<typeof makeAnchorDevices>;
  let batchId: string;
  let proofsDir: string;
  const env = (as: Wallet) => ({
    DTL_RPC_URL: node.url,
    DTL_DEPLOYMENT: deploymentFile,
    DTL_PRIVATE_KEY: as.privateKey,
  });
  const dtl = (args: string[], as: Wallet = MAKER): Promise<RunResult> =>
    runDtl(args, { env: env(as), cwd: tmp.dir, timeoutMs: 200_000 });
  const idOf = (i: number) => deviceIdFor(MAKER.address, devices[i]!.serial);
  const proofFile = (i: number) => path.join(proofsDir, proofFileName(devices[i]!.serial));
  const verdict = async (site: RunningServe, i: number, extra: string[] = []): Promise<Verdict & { code: number }> => {
    const r = await dtl(["verify", idOf(i), "--api", site.apiUrl, "--json", ...extra]);
    expect([0, 3], r.stderr).to.include(r.code);
    return { ...r.json<Verdict>(), code: r.code! };
  };
  const batchOn = async (site: RunningServe) => {
    const r = await dtl(["batch", "show", batchId, "--api", site.apiUrl, "--json"]);
    expect(r.code, r.stderr).to.equal(0);
    return r.json<{ manifestStatus: string; materializedCount: number; revoked: boolean; count: number }>();
  };

  before(async function () {
    ensureBuilt();
    tmp = tempDir("dtl-anchor-e2e-");
    node = await startHardhatNode();
    ({ deployment } = await deployFleetRegistry(node.url));
    deploymentFile = writeDeployment(deployment, path.join(tmp.dir, "deployment.json"));
    devices = makeAnchorDevices(N, "E2E");
    const csv = writeAnchorCsv(path.join(tmp.dir, "line-7.csv"), devices);
    const r = await dtl(["register", "--file", csv, "--anchor", "--manifest-dir", "manifests", "--json"]);
    expect(r.code, r.stderr).to.equal(0);
    ({ batchId, proofsDir } = r.json<{ batchId: string; proofsDir: string }>());
    const serveEnv = { env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile } };
    siteA = await startServe(path.join(tmp.dir, "site-a"), serveEnv, [
      "--manifest-dir",
      path.join(tmp.dir, "manifests"),
    ]);
    siteB = await startServe(path.join(tmp.dir, "site-b"), serveEnv);
    await waitIndexed(siteA.apiUrl, node.url);
    await waitIndexed(siteB.apiUrl, node.url);
    const deadline = Date.now() + 60_000;
    while ((await batchOn(siteA)).manifestStatus !== "LOADED") {
      if (Date.now() > deadline) throw new Error("site A did not load the manifest within 60 s");
      await new Promise((res) => setTimeout(res, 250));
    }
  });
  after(async function () {
    await siteA?.serve.stop();
    await siteB?.serve.stop();
    await node?.stop();
    tmp?.cleanup();
  });

  it("lists and shows the batch with its manifest status on each site", async function () {
    const a = await dtl(["batch", "list", "--api", siteA.apiUrl]);
    expect(a.code, a.stderr).to.equal(0);
    const lines = a.stdout.trimEnd().split("\n");
    expect(lines[0]).to.match(
      /^batch\s+manufacturer\s+devices\s+manifest\s+materialized\s+revoked\s+block\s+anchored$/,
    );
    expect(lines[1]).to.match(
      new RegExp(`^${batchId}\\s+0x7099…79C8\\s+10,000\\s+LOADED\\s+0\\s+-\\s+\\d+\\s+\\d{4}-`),
    );
    expect(lines[2]).to.match(/^1 batch \(block \d+\)$/);
    expect((await batchOn(siteB)).manifestStatus).to.be.oneOf(["PENDING", "UNAVAILABLE"]);
    const b = await dtl(["batch", "list", "--api", siteB.apiUrl, "--manifest-status", "loaded", "--json"]);
    expect(b.json<{ batches: unknown[] }>().batches).to.deep.equal([]);
    const show = await dtl(["batch", "show", batchId, "--api", siteA.apiUrl]);
    expect(show.stdout).to.include(`devices       10,000 (0 materialized on chain)`);
    expect(show.stdout).to.match(
      /manifest {6}LOADED\n {14}file:line-7-[0-9a-f]{8}\.manifest\.jsonl {2}hash 0x[0-9a-f]{64}/,
    );
    const none = await dtl(["batch", "show", "0x" + "00".repeat(32), "--api", siteA.apiUrl]);
    expect(none.stderr.trimEnd()).to.equal(`dtl: batch show: no batch 0x${"00".repeat(32)} in the index`);
    const bad = await dtl(["batch", "list", "--manifest-status", "lost", "--api", siteA.apiUrl]);
    expect(bad.stderr.trimEnd()).to.equal(
      'dtl: batch list: --manifest-status must be one of pending, loaded, unavailable, invalid, got "lost"',
    );
  });

  it("gives a device's proof from the manifest, identical to its proof file", async function () {
    const r = await dtl(["device", "proof", idOf(3), "--api", siteA.apiUrl]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.equal(readFileSync(proofFile(3), "utf8"));
    const b = await dtl(["device", "proof", idOf(3), "--api", siteB.apiUrl]);
    expect(b.code).to.equal(1);
    expect(b.stderr.trimEnd()).to.equal(
      `dtl: device proof: the API at ${siteB.apiUrl} knows no device ${idOf(3)} (a device of an anchored batch is known where its batch's manifest is loaded)`,
    );
  });

  it("verifies one device by the manifest (site A) and one by its own proof on a site without it (B)", async function () {
    expect(await verdict(siteA, 1)).to.deep.include({ trusted: true, reasons: [], code: 0 });
    expect((await verdict(siteB, 2)).trusted).to.equal(false);
    expect(await verdict(siteB, 2, ["--registration", proofFile(2)])).to.deep.include({
      trusted: true,
      reasons: [],
      code: 0,
    });
    // the proof of device 2 presented for device 4: the leaf does not lead to the root
    const forged = path.join(tmp.dir, "forged.proof.json");
    const p = parseDeviceProof(readFileSync(proofFile(4), "utf8"));
    writeFileSync(forged, encodeDeviceProof({ ...p, keyHash: p.firmwareHash }));
    const v = await verdict(siteB, 4, ["--registration", forged]);
    expect(v.trusted).to.equal(false);
    expect(v.reasons).to.include("REGISTRATION_PROOF_INVALID");
  });

  it("revokes a device with the proof from the API, and the subscriber sees it", async function () {
    const base = siteA.apiUrl.replace(/\/graphql$/, "");
    const sub = await subscribeSse<{ data: { deviceEvents: { deviceId: string; kind: string } } }>(
      base,
      "subscription($ids: [Bytes32!]) { deviceEvents(deviceIds: $ids) { deviceId kind } }",
      { ids: [idOf(5)] },
    );
    try {
      const revoked = sub.next((e) => e.data.deviceEvents.kind === "DEVICE_REVOKED", 60_000);
      const r = await dtl(["revoke", idOf(5), "--reason", "key-compromise", "--api", siteA.apiUrl, "--json"], OFFICER);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.json()).to.include({ materializedFrom: batchId });
      expect((await revoked).data.deviceEvents.deviceId).to.equal(idOf(5));
      expect(sub.received.map((e) => e.data.deviceEvents.kind)).to.deep.equal(["DEVICE_REGISTERED", "DEVICE_REVOKED"]);
    } finally {
      sub.close();
    }
    const v = await verdict(siteA, 5);
    expect(v).to.deep.include({ trusted: false, code: 3 });
    expect(v.reasons).to.include("REVOKED");
    expect((await batchOn(siteA)).materializedCount).to.equal(1);
  });

  it("revokes the batch: every device untrusted on both sites, by manifest and by proof", async function () {
    const r = await dtl(["batch", "revoke", batchId, "--reason", "manufacturer-compromise"]);
    expect(r.code, r.stderr).to.equal(0);
    await waitIndexed(siteA.apiUrl, node.url);
    await waitIndexed(siteB.apiUrl, node.url);
    const a = await verdict(siteA, 1);
    expect(a).to.deep.include({ trusted: false, code: 3 });
    expect(a.reasons).to.include("BATCH_REVOKED");
    const b = await verdict(siteB, 2, ["--registration", proofFile(2)]);
    expect(b.trusted).to.equal(false);
    expect(b.reasons).to.include("BATCH_REVOKED");
    const list = await dtl(["batch", "list", "--api", siteA.apiUrl, "--revoked"]);
    expect(list.stdout).to.match(new RegExp(`^${batchId}\\s.*REVOKED \\(manufacturer-compromise\\)`, "m"));
  });
});
