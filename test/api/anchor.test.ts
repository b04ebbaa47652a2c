/**
 * Anchored batches through the API (DESIGN §10, issue 10), over the real indexer on a real
 * hardhat node: device.registration and its proofs (byte-equal to @openzeppelin/merkle-tree's),
 * batch / batches, verifyDevice by the manifest and by the device's own proof on an API without
 * the manifest, forged proofs, duplicate identities, and a batch revocation flipping verdicts
 * and reaching deviceEvents subscribers over SSE.
 */
import { expect } from "chai";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { ZeroHash } from "ethers";
import { keyAlgorithmEnum } from "../../common/codes";
import { LEAF_ENCODING, leafValues } from "../../common/merkle";
import { createApi, type Api } from "../../api/yoga";
import { startApiServer, type ApiServer } from "../../api/server";
import { createIndexer, type Indexer } from "../../indexer";
import { anchor, batchRows, buildBatch, materializeArgs, writeManifest, type TestBatch } from "../helpers/anchor";
import { gql } from "../helpers/api-fixture";
import { subscribeSse } from "../helpers/api-sse";
import { startHardhatNode, type NodeHandle } from "../helpers/chain";
import { deployFleetRegistry, testHash, type FleetActors } from "../helpers/fleet";
import { removeTempDirs, tempDir } from "../helpers/indexer-scenario";
import type { Deployment } from "../../common/deployment";

const DEVICE = `query($id: Bytes32!) {
  device(id: $id) { id manufacturer status segment registeredBlock eventCount
    registration { kind batchId proof serial materialized batch { id manifestStatus } } }
}`;
const VERIFY = `query($id: Bytes32!, $registration: RegistrationProofInput) {
  verifyDevice(id: $id, registration: $registration) { trusted reasons device { id manufacturer } }
}`;
const BATCH = `query($id: Bytes32!) {
  batch(id: $id) { id manufacturer root count manifestHash manifestUri manifestStatus manifestError manifestIndexed
    anchoredAt { block tx timestamp } revoked revokedReason revokedAt { block } revokedBy materializedCount atBlock }
}`;

interface Verdict {
  trusted: boolean;
  reasons: string[];
  device: { id: string; manufacturer: string } | null;
}

describe("api: anchored batches", function () {
  this.timeout(180_000);
  let node: NodeHandle;
  let deployment: Deployment;
  let actors: FleetActors;
  const indexers: Indexer[] = [];
  let withManifest: Api;
  let without: Api;
  let server: ApiServer;
  let a: TestBatch & { batchId: string; blockNumber: number };
  let b: TestBatch & { batchId: string; blockNumber: number };
  const manifestDir = tempDir("dtl-manifests-");

  async function startIndexer(dir?: string): Promise<Indexer> {
    const ix = createIndexer({ rpcUrl: node.url, deployment, dataDir: tempDir(), pollMs: 20, manifestDir: dir });
    indexers.push(ix);
    await ix.start();
    await ix.caughtUp();
    await ix.manifestsIdle();
    return ix;
  }
  const sync = async () => {
    const head = Number(await node.rpc<string>("eth_blockNumber"));
    for (const ix of indexers) await ix.waitForBlock(head);
    for (const ix of indexers) await ix.manifestsIdle();
  };

  /** The RegistrationProofInput of row `i` (input order) of `t`. */
  const ownProof = (t: TestBatch & { batchId: string }, i: number) => {
    const r = t.rows[i]!;
    return {
      batchId: t.batchId,
      serial: r.serial,
      keyAlgorithm: keyAlgorithmEnum(r.keyAlgorithm),
      keyHash: r.keyHash,
      firmwareHash: r.firmwareHash,
      segment: r.segment,
      proof: t.tree.proof(i),
    };
  };

  async function verify(api: Api, id: string, registration?: object): Promise<Verdict> {
    const r = await gql<{ verifyDevice: Verdict }>(api, VERIFY, { id, registration });
    expect(r.errors, JSON.stringify(r.errors)).to.equal(undefined);
    return r.data!.verifyDevice;
  }

  before(async function () {
    node = await startHardhatNode();
    ({ deployment, actors } = await deployFleetRegistry(node.url));
    const m1 = actors.addresses.manufacturer;
    const ta = await buildBatch(await batchRows(m1, 9, "api-a"));
    writeManifest(manifestDir, "api-a.jsonl", ta.manifest);
    a = { ...ta, ...(await anchor(actors.registry.manufacturer, ta, "file:api-a.jsonl")) };
    const tb = await buildBatch(await batchRows(m1, 4, "api-b"));
    writeManifest(manifestDir, "api-b.jsonl", tb.manifest);
    b = { ...tb, ...(await anchor(actors.registry.manufacturer, tb, "file:api-b.jsonl")) };
    // row 3 of A also registered directly by manufacturer 2: one id, two manufacturers
    const r3 = a.rows[3]!;
    await (
      await actors.registry.manufacturer2.getFunction("registerDevice")(
        r3.deviceId,
        1,
        testHash("dup/key"),
        testHash("dup/fw"),
        ZeroHash,
      )
    ).wait();
    // row 1 of B materialized
    await (
      await actors.registry.manufacturer.getFunction("materializeDevice")(...materializeArgs(b.batchId, b, 1))
    ).wait();
    withManifest = createApi({ store: (await startIndexer(manifestDir)).store });
    without = createApi({ store: (await startIndexer()).store });
    server = await startApiServer({ store: indexers[0]!.store });
  });

  after(async function () {
    await server?.close();
    withManifest?.close();
    without?.close();
    for (const ix of indexers) await ix.stop();
    await node?.stop();
    removeTempDirs();
  });

  it("device.registration of a manifest device: ANCHORED, its batch, serial, and proofs byte-equal to @openzeppelin/merkle-tree's", async function () {
    const oz = StandardMerkleTree.of(a.rows.map(leafValues), [...LEAF_ENCODING]);
    expect(oz.root).to.equal(a.root);
    for (let i = 0; i < a.rows.length; i++) {
      if (i === 3) continue; // the duplicate: its chain record is manufacturer 2's direct one
      const r = await gql<{ device: { registration: Record<string, unknown>; eventCount: number } }>(
        withManifest,
        DEVICE,
        { id: a.rows[i]!.deviceId },
      );
      expect(r.errors, JSON.stringify(r.errors)).to.equal(undefined);
      expect(r.data!.device.registration).to.deep.equal({
        kind: "ANCHORED",
        batchId: a.batchId,
        proof: oz.getProof(i),
        serial: a.rows[i]!.serial,
        materialized: false,
        batch: { id: a.batchId, manifestStatus: "LOADED" },
      });
      expect(r.data!.device.eventCount).to.equal(0);
    }
  });

  it("a materialized device is ANCHORED and materialized; a direct one is DIRECT without proof", async function () {
    const m = await gql<{ device: { registration: Record<string, unknown> } }>(withManifest, DEVICE, {
      id: b.rows[1]!.deviceId,
    });
    expect(m.data!.device.registration).to.include({ kind: "ANCHORED", batchId: b.batchId, materialized: true });
    expect(m.data!.device.registration.proof).to.deep.equal(b.tree.proof(1));
    // on the API without the manifest: still ANCHORED (the chain says so), no proof to give
    const n = await gql<{ device: { registration: Record<string, unknown> } }>(without, DEVICE, {
      id: b.rows[1]!.deviceId,
    });
    expect(n.data!.device.registration).to.deep.include({
      kind: "ANCHORED",
      proof: null,
      serial: null,
      materialized: true,
    });
    const d = await gql<{ device: { registration: Record<string, unknown> } }>(without, DEVICE, {
      id: a.rows[3]!.deviceId,
    });
    expect(d.data!.device.registration).to.deep.include({
      kind: "DIRECT",
      batchId: null,
      proof: null,
      materialized: true,
    });
  });

  it("batch(id) and batches(filter, first, after)", async function () {
    const r = await gql<{ batch: Record<string, unknown> }>(withManifest, BATCH, { id: a.batchId });
    expect(r.errors, JSON.stringify(r.errors)).to.equal(undefined);
    expect(r.data!.batch).to.deep.include({
      id: a.batchId,
      manufacturer: actors.addresses.manufacturer,
      root: a.root,
      count: 9,
      manifestHash: a.manifestHash,
      manifestUri: "file:api-a.jsonl",
      manifestStatus: "LOADED",
      manifestError: null,
      manifestIndexed: 9,
      revoked: false,
      revokedReason: null,
      revokedAt: null,
      revokedBy: null,
      materializedCount: 0,
    });
    expect((r.data!.batch.anchoredAt as { block: number }).block).to.equal(a.blockNumber);
    const w = await gql<{ batch: Record<string, unknown> }>(without, BATCH, { id: a.batchId });
    expect(w.data!.batch).to.include({ manifestStatus: "UNAVAILABLE", manifestIndexed: 0 });
    expect(w.data!.batch.manifestError).to.match(/no manifest folder is configured/);
    const unknown = await gql<{ batch: null }>(withManifest, BATCH, { id: testHash("no batch") });
    expect(unknown.data!.batch).to.equal(null);

    const LIST = `query($f: BatchFilter, $first: Int, $after: String) {
      batches(filter: $f, first: $first, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
    }`;
    type Conn = {
      batches: {
        totalCount: number;
        edges: { node: { id: string } }[];
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
    };
    const sorted = [a.batchId, b.batchId].sort();
    const p1 = await gql<Conn>(withManifest, LIST, { first: 1 });
    expect(p1.data!.batches.totalCount).to.equal(2);
    expect(p1.data!.batches.edges.map((e) => e.node.id)).to.deep.equal([sorted[0]]);
    expect(p1.data!.batches.pageInfo.hasNextPage).to.equal(true);
    const p2 = await gql<Conn>(withManifest, LIST, { first: 1, after: p1.data!.batches.pageInfo.endCursor });
    expect(p2.data!.batches.edges.map((e) => e.node.id)).to.deep.equal([sorted[1]]);
    expect(p2.data!.batches.pageInfo.hasNextPage).to.equal(false);
    const none = await gql<Conn>(without, LIST, { f: { manifestStatus: "LOADED" } });
    expect(none.data!.batches.totalCount).to.equal(0);
    const mine = await gql<Conn>(withManifest, LIST, { f: { manufacturer: actors.addresses.manufacturer2 } });
    expect(mine.data!.batches.totalCount).to.equal(0);
    const bad = await gql(withManifest, LIST, { first: 1, after: "nope" });
    expect(bad.errors?.[0]?.message).to.equal("after: is not a cursor this API issued");
  });

  it("verifies a device by the manifest, and by its own proof on an API without the manifest", async function () {
    const id = a.rows[0]!.deviceId;
    expect(await verify(withManifest, id)).to.deep.include({ trusted: true, reasons: [] });
    expect(await verify(without, id)).to.deep.include({ trusted: false, reasons: ["NOT_REGISTERED"] });
    const own = await verify(without, id, ownProof(a, 0));
    expect(own).to.deep.include({ trusted: true, reasons: [] });
    expect(own.device).to.deep.equal({ id, manufacturer: actors.addresses.manufacturer });
    // the segment may also be given by its short name
    expect(await verify(without, id, { ...ownProof(a, 0), segment: "line-7" })).to.deep.include({ trusted: true });
  });

  it("a forged or wrong proof gives REGISTRATION_PROOF_INVALID", async function () {
    const id = a.rows[0]!.deviceId;
    const good = ownProof(a, 0);
    const cases: [string, object, string][] = [
      ["a proof step altered", { ...good, proof: [testHash("forged"), ...good.proof.slice(1)] }, id],
      ["another row's proof", { ...good, proof: a.tree.proof(1) }, id],
      ["another key", { ...good, keyHash: testHash("other key") }, id],
      ["another firmware", { ...good, firmwareHash: testHash("other fw") }, id],
      ["another serial", { ...good, serial: "api-a/1" }, id],
      ["an unknown batch", { ...good, batchId: testHash("no batch") }, id],
      ["the other batch", { ...good, batchId: b.batchId }, id],
      ["another device's id", good, a.rows[1]!.deviceId],
    ];
    for (const [what, registration, deviceId] of cases) {
      for (const api of [without, withManifest]) {
        const v = await verify(api, deviceId, registration);
        expect(v.trusted, what).to.equal(false);
        expect(v.reasons, what).to.include("REGISTRATION_PROOF_INVALID");
      }
    }
    // a bad input is an error naming the field, not a verdict
    const r = await gql(without, VERIFY, { id, registration: { ...good, segment: "x".repeat(40) } });
    expect(r.errors?.[0]?.message).to.match(/^registration\.segment: /);
  });

  it("an id under two manufacturers gives DUPLICATE_IDENTITY to both claims", async function () {
    const id = a.rows[3]!.deviceId;
    // the API with the manifest knows both: the chain's direct record and the manifest's row
    expect((await verify(withManifest, id)).reasons).to.deep.equal(["DUPLICATE_IDENTITY"]);
    // the API without it learns of the batch's claim from the device's proof
    expect((await verify(without, id)).reasons).to.deep.equal([]);
    expect((await verify(without, id, ownProof(a, 3))).reasons).to.deep.equal(["DUPLICATE_IDENTITY"]);
  });

  it("revoking the batch flips its devices' verdicts to BATCH_REVOKED and tells deviceEvents subscribers (SSE)", async function () {
    type Event = { deviceEvents: { deviceId: string; kind: string; data: { batchId: string; reason: number } } };
    const all = await subscribeSse<{ data: Event }>(server.url, "subscription { deviceEvents { deviceId kind data } }");
    const one = await subscribeSse<{ data: Event }>(
      server.url,
      "subscription($ids: [Bytes32!]) { deviceEvents(deviceIds: $ids, kinds: [BATCH_REVOKED]) { deviceId kind data } }",
      { ids: [b.rows[2]!.deviceId] },
    );
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect((await verify(withManifest, b.rows[2]!.deviceId)).trusted).to.equal(true);
      await (await actors.registry.manufacturer.getFunction("revokeBatch")(b.batchId, 2)).wait();
      const first = await one.next();
      expect(first.data.deviceEvents).to.deep.equal({
        deviceId: b.rows[2]!.deviceId,
        kind: "BATCH_REVOKED",
        data: { batchId: b.batchId, reason: 2 },
      });
      // every device of the batch this API knows: the four rows (one of them materialized)
      const deadline = Date.now() + 10_000;
      while (all.received.filter((p) => p.data.deviceEvents.kind === "BATCH_REVOKED").length < 4) {
        if (Date.now() > deadline) throw new Error(`got ${JSON.stringify(all.received)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const got = all.received
        .filter((p) => p.data.deviceEvents.kind === "BATCH_REVOKED")
        .map((p) => p.data.deviceEvents.deviceId);
      expect(got.sort()).to.deep.equal(b.rows.map((r) => r.deviceId).sort());
      expect(one.received).to.have.length(1);
      await sync();
      for (const r of b.rows) expect((await verify(withManifest, r.deviceId)).reasons).to.deep.equal(["BATCH_REVOKED"]);
      // by its own proof, on the API without the manifest
      expect((await verify(without, b.rows[0]!.deviceId, ownProof(b, 0))).reasons).to.deep.equal(["BATCH_REVOKED"]);
      const br = await gql<{ batch: Record<string, unknown> }>(withManifest, BATCH, { id: b.batchId });
      expect(br.data!.batch).to.deep.include({
        revoked: true,
        revokedReason: "MANUFACTURER_COMPROMISE",
        revokedBy: actors.addresses.manufacturer,
        materializedCount: 1,
      });
    } finally {
      all.close();
      one.close();
    }
  });

  it("/metrics: manifests by status and the manifest devices indexed", async function () {
    const text = await (await withManifest.yoga.fetch("http://api.test/metrics")).text();
    expect(text).to.include('dtl_manifests{status="LOADED"} 2');
    expect(text).to.include('dtl_manifests{status="INVALID"} 0');
    expect(text).to.include("dtl_manifest_devices_indexed 13");
    const other = await (await without.yoga.fetch("http://api.test/metrics")).text();
    expect(other).to.include('dtl_manifests{status="UNAVAILABLE"} 2');
    expect(other).to.include("dtl_manifest_devices_indexed 0");
  });
});
