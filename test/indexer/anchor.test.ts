/**
 * Anchored batches in the indexer (DESIGN §10, issue 10) on a real hardhat node: the chain part
 * (DevicesAnchored, BatchRevoked, DeviceMaterialized into the store and the digest) and the
 * manifest loader — from a folder and over HTTP (a real node:http server), late, wrong (hash,
 * count, root) and never arriving — beside a second indexer without the manifest folder: the
 * chain digests agree (with each other and with a replay of the chain), the manifest digests not.
 * A reorg that removes an anchor removes its batch and its manifest rows.
 */
import { expect } from "chai";
import { ZeroHash } from "ethers";
import { replayRegistry } from "../../indexer/replay";
import { createIndexer, type Indexer, type IndexerOptions } from "../../indexer";
import type { BatchView } from "../../indexer/types";
import {
  anchor,
  batchRows,
  buildBatch,
  materializeArgs,
  startManifestServer,
  writeManifest,
  type TestBatch,
} from "../helpers/anchor";
import { startHardhatNode, type NodeHandle } from "../helpers/chain";
import { deployFleetRegistry, testHash, type FleetActors } from "../helpers/fleet";
import { dumpStore, removeTempDirs, tempDir } from "../helpers/indexer-scenario";
import type { Deployment } from "../../common/deployment";
import { createLogger } from "../../common/logger";

describe("indexer: anchored batches and manifests", function () {
  this.timeout(180_000);
  let node: NodeHandle;
  let deployment: Deployment;
  let actors: FleetActors;
  let server: Awaited<ReturnType<typeof startManifestServer>>;
  const indexers: Indexer[] = [];
  const manifestDir = tempDir("dtl-manifests-");

  let listedRoot = "";
  const batches: Record<string, { batch: TestBatch; batchId: string; blockNumber: number }> = {};

  async function startIndexer(extra: Partial<IndexerOptions> = {}): Promise<Indexer> {
    const dataDir = tempDir();
    const ix = createIndexer({
      rpcUrl: node.url,
      deployment,
      dataDir,
      pollMs: 20,
      ...(process.env.DTL_TEST_LOG ? { logger: createLogger({ name: "t", level: "debug" }) } : {}),
      manifests: { retry: { baseMs: 20, maxMs: 100 }, chunkRows: 3 },
      ...extra,
    });
    indexers.push(ix);
    dataDirs.set(ix, dataDir);
    await ix.start();
    await ix.caughtUp();
    await ix.manifestsIdle();
    return ix;
  }

  const status = async (ix: Indexer, name: string): Promise<BatchView> =>
    (await ix.store.getBatch(batches[name]!.batchId))!;

  before(async function () {
    node = await startHardhatNode();
    ({ deployment, actors } = await deployFleetRegistry(node.url));
    server = await startManifestServer();
    const reg = actors.registry;
    const m1 = actors.addresses.manufacturer;
    const m2 = actors.addresses.manufacturer2;
    async function add(name: string, b: TestBatch, uri: string, by = reg.manufacturer, opts = {}) {
      batches[name] = { batch: b, ...(await anchor(by, b, uri, opts)) };
    }
    // A: 7 devices, manifest in the folder; B: 5 devices of manufacturer 2, over HTTP
    const a = await buildBatch(await batchRows(m1, 7, "line-a"));
    writeManifest(manifestDir, "line-a.jsonl", a.manifest);
    await add("A", a, "file:line-a.jsonl");
    const b = await buildBatch(await batchRows(m2, 5, "line-b"));
    server.files.set("/line-b.jsonl", b.manifest);
    await add("B", b, `${server.url}/line-b.jsonl`, reg.manufacturer2);
    // late: its file appears after the anchoring (and after the indexers started)
    await add("late", await buildBatch(await batchRows(m1, 3, "line-late")), "file:late.jsonl");
    // wrong hash: the file is another batch's manifest
    const wrongHash = await buildBatch(await batchRows(m1, 4, "line-hash"));
    writeManifest(manifestDir, "hash.jsonl", a.manifest);
    await add("hash", wrongHash, "file:hash.jsonl");
    // wrong count: the batch says one device more than the manifest lists
    const wrongCount = await buildBatch(await batchRows(m1, 4, "line-count"));
    server.files.set("/count.jsonl", wrongCount.manifest);
    await add("count", wrongCount, `${server.url}/count.jsonl`, reg.manufacturer, { count: 5 });
    // wrong root: the anchored root is another tree's; the manifest (its hash anchored) lists other rows
    const listed = await buildBatch(await batchRows(m1, 4, "line-root-listed"));
    const other = await buildBatch(await batchRows(m1, 4, "line-root-other"));
    writeManifest(manifestDir, "root.jsonl", listed.manifest);
    listedRoot = listed.root;
    await add("root", other, "file:root.jsonl", reg.manufacturer, { manifestHash: listed.manifestHash });
    // never arrives
    await add("never", await buildBatch(await batchRows(m1, 2, "line-never")), `${server.url}/never.jsonl`);
    // none published
    await add("none", await buildBatch(await batchRows(m1, 2, "line-none")), "", reg.manufacturer, {
      manifestHash: ZeroHash,
    });
    // A row 0 materialized (by anyone: manufacturer 2 sends it); B revoked by the officer
    await (
      await reg.manufacturer2.getFunction("materializeDevice")(...materializeArgs(batches.A!.batchId, a, 0))
    ).wait();
    await (await reg.officer.getFunction("revokeBatch")(batches.B!.batchId, 2)).wait();
    // A row 1's id registered directly by manufacturer 2: one id, two manufacturers
    const r1 = a.rows[1]!;
    await (
      await reg.manufacturer2.getFunction("registerDevice")(
        r1.deviceId,
        1,
        testHash("dup/key"),
        testHash("dup/fw"),
        ZeroHash,
      )
    ).wait();
  });

  after(async function () {
    for (const ix of indexers) await ix.stop();
    await server?.stop();
    await node?.stop();
    removeTempDirs();
  });

  it("indexes batches, revocations and materializations into the chain state; the digest is the replay's", async function () {
    const ix = await startIndexer({ manifestDir });
    const a = await status(ix, "A");
    expect(a).to.include({
      id: batches.A!.batchId,
      manufacturer: actors.addresses.manufacturer,
      root: batches.A!.batch.root,
      count: 7,
      manifestHash: batches.A!.batch.manifestHash,
      manifestUri: "file:line-a.jsonl",
      blockNumber: batches.A!.blockNumber,
      materializedCount: 1,
    });
    expect(a.revocation).to.equal(undefined);
    const b = await status(ix, "B");
    expect(b.revocation).to.include({ reason: 2, by: actors.addresses.officer });
    const materialized = await ix.store.getDevice(batches.A!.batch.rows[0]!.deviceId);
    expect(materialized).to.include({ batchId: batches.A!.batchId, eventCount: 1, status: "ACTIVE" });
    const replay = await replayRegistry(node.url, deployment);
    expect(ix.store.status().indexedBlock).to.equal(replay.block);
    expect(ix.store.status().digest).to.equal(replay.digest);
  });

  it("loads manifests from the folder and over HTTP; wrong, missing and unpublished ones get their status and why", async function () {
    const ix = indexers[0]!;
    expect((await status(ix, "A")).manifest).to.include({ status: "LOADED", indexed: 7 });
    expect((await status(ix, "B")).manifest).to.include({ status: "LOADED", indexed: 5 });
    expect((await status(ix, "hash")).manifest).to.include({ status: "INVALID" });
    expect((await status(ix, "hash")).manifest.error).to.equal(
      `manifest hash is ${batches.A!.batch.manifestHash}, the batch commits to ${batches.hash!.batch.manifestHash}`,
    );
    expect((await status(ix, "count")).manifest.error).to.equal("manifest has 4 rows, the batch anchors 5");
    expect((await status(ix, "root")).manifest.error).to.equal(
      `manifest rows give root ${listedRoot}, the batch anchors ${batches.root!.batch.root}`,
    );
    expect((await status(ix, "never")).manifest).to.include({
      status: "UNAVAILABLE",
      error: `${server.url}/never.jsonl: HTTP 404`,
    });
    expect((await status(ix, "late")).manifest.status).to.equal("UNAVAILABLE");
    expect((await status(ix, "late")).manifest.error).to.match(/^file:late\.jsonl: no such file in /);
    expect((await status(ix, "none")).manifest).to.include({
      status: "UNAVAILABLE",
      error: "the batch published no manifest (manifestHash zero or manifestUri empty)",
    });
    // retried with backoff: the missing one was asked for again
    await new Promise((r) => setTimeout(r, 300));
    expect(server.requests.filter((u) => u === "/never.jsonl").length).to.be.greaterThan(1);
  });

  it("a manifest that arrives late is loaded on a retry", async function () {
    const ix = indexers[0]!;
    writeManifest(manifestDir, "late.jsonl", batches.late!.batch.manifest);
    const deadline = Date.now() + 10_000;
    while ((await status(ix, "late")).manifest.status !== "LOADED") {
      if (Date.now() > deadline) throw new Error("the late manifest was not loaded");
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await status(ix, "late")).manifest).to.include({ indexed: 3 });
    expect((await status(ix, "late")).manifest.error).to.equal(undefined);
  });

  it("serves manifest devices (ANCHORED, batch, leaf fields, the anchor's block); revoked batches and duplicate ids are marked", async function () {
    const ix = indexers[0]!;
    const { batch, batchId, blockNumber } = batches.A!;
    const r = batch.rows[2]!;
    const d = await ix.store.getDevice(r.deviceId);
    expect(d).to.include({
      id: r.deviceId,
      manufacturer: actors.addresses.manufacturer,
      status: "ACTIVE",
      keyAlgorithm: r.keyAlgorithm,
      keyHash: r.keyHash,
      firmwareHash: r.firmwareHash,
      segment: "line-7",
      registeredBlock: blockNumber,
      eventCount: 0,
      batchId,
    });
    expect(d!.duplicateIdentity).to.equal(undefined);
    const dup = await ix.store.getDevice(batch.rows[1]!.deviceId);
    expect(dup).to.include({ manufacturer: actors.addresses.manufacturer2, duplicateIdentity: true });
    const revoked = await ix.store.getDevice(batches.B!.batch.rows[3]!.deviceId);
    expect(revoked).to.include({ batchId: batches.B!.batchId, batchRevoked: true });
    const [many] = await ix.store.getDevices([batch.rows[1]!.deviceId]);
    expect(many).to.include({ duplicateIdentity: true });
    const leaves = await ix.store.getManifestLeaves(batchId);
    expect(leaves!.map((l) => l.deviceId)).to.deep.equal([...batch.tree.order].map((i) => batch.rows[i]!.deviceId));
  });

  it("an indexer without the manifest folder reports the same chain digest and another manifests digest", async function () {
    const with_ = indexers[0]!;
    const without = await startIndexer();
    await with_.waitForBlock(without.store.status().indexedBlock);
    expect(without.store.status().indexedBlock).to.equal(with_.store.status().indexedBlock);
    expect(without.store.status().digest).to.equal(with_.store.status().digest);
    expect(without.store.manifestsDigest()).to.not.equal(with_.store.manifestsDigest());
    expect((await status(without, "A")).manifest.error).to.equal(
      "file:line-a.jsonl: no manifest folder is configured (DTL_MANIFEST_DIR, --manifest-dir)",
    );
    // what only the manifest knows is unknown here
    expect(await without.store.getDevice(batches.A!.batch.rows[2]!.deviceId)).to.equal(undefined);
    // over HTTP it has B's devices all the same
    expect(await without.store.getDevice(batches.B!.batch.rows[0]!.deviceId)).to.include({ batchRevoked: true });
  });

  it("a reorg that removes an anchor removes its batch and its manifest rows", async function () {
    const ix = indexers[0]!;
    const snapshot = await node.rpc<string>("evm_snapshot", []);
    const h = await buildBatch(await batchRows(actors.addresses.manufacturer, 5, "line-reorg"));
    writeManifest(manifestDir, "reorg.jsonl", h.manifest);
    const { batchId, blockNumber } = await anchor(actors.registry.manufacturer, h, "file:reorg.jsonl");
    await ix.waitForBlock(blockNumber);
    await ix.manifestsIdle();
    expect((await ix.store.getBatch(batchId))!.manifest.status).to.equal("LOADED");
    expect(await ix.store.getDevice(h.rows[0]!.deviceId)).to.include({ batchId });
    await node.rpc("evm_revert", [snapshot]);
    actors.manufacturer.reset();
    for (let i = 0; i < 3; i++) await node.rpc("evm_mine", []);
    const head = Number(BigInt(await node.rpc<string>("eth_blockNumber", [])));
    const deadline = Date.now() + 20_000;
    while ((await ix.store.getBatch(batchId)) !== undefined || ix.store.status().indexedBlock < head) {
      if (Date.now() > deadline) throw new Error("the reorg was not followed");
      await new Promise((r) => setTimeout(r, 20));
    }
    await ix.manifestsIdle();
    expect(await ix.store.getDevice(h.rows[0]!.deviceId)).to.equal(undefined);
    expect(await ix.store.getAnchoredClaims(h.rows[0]!.deviceId)).to.deep.equal([]);
    await ix.stop();
    const dump = await dumpStore(dataDirs.get(ix)!);
    const key = batchId.slice(2);
    expect(dump.content.filter(([k]) => k.includes(key))).to.deep.equal([]);
    indexers.splice(indexers.indexOf(ix), 1);
  });
});

const dataDirs = new WeakMap<Indexer, string>();
