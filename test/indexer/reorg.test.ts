/**
 * Reorgs on a real hardhat node: the last 1, 5 and 30 blocks are replaced by a competing branch
 * (evm_snapshot / evm_revert, then other transactions) — of the same height, longer and shorter —
 * while the indexer follows and while it is stopped. Afterwards the store must equal a fresh
 * index of the canonical chain. A reorg deeper than the window stops indexing with
 * ReorgTooDeepError and leaves the last consistent state readable.
 */
import { expect } from "chai";
import { MANUFACTURER_ROLE } from "../../common/roles";
import { createIndexer, ReorgTooDeepError, type Indexer, type IndexerOptions } from "../../indexer";
import type { StoreChange } from "../../indexer/types";
import { testHash } from "../helpers/fleet";
import { dumpStore, removeTempDirs, startFleetChain, tempDir, type FleetChain } from "../helpers/indexer-scenario";

type Header = { number: string; hash: string };

describe("indexer: reorgs", function () {
  this.timeout(180_000);
  let chain: FleetChain;
  let nextDevice = 0;

  const head = async () => {
    const h = await chain.node.rpc<Header>("eth_getBlockByNumber", ["latest", false]);
    return { number: Number(BigInt(h.number)), hash: h.hash };
  };
  const resetNonces = () => {
    for (const s of [
      chain.actors.admin,
      chain.actors.manufacturer,
      chain.actors.manufacturer2,
      chain.actors.attester,
      chain.actors.officer,
    ])
      s.reset();
  };
  /** `n` blocks of one transaction each, all touching devices/roles (branch `tag` decides which). */
  async function mineBranch(n: number, tag: string): Promise<void> {
    const reg = chain.actors.registry;
    const ids = chain.fleet.deviceIds;
    const half = Math.ceil(ids.length / 2);
    for (let i = 0; i < n; i++) {
      // every device is used once: no operation can meet a device an earlier branch changed
      const j = nextDevice++;
      const id = ids[j]!;
      if (j >= ids.length) throw new Error("reorg test ran out of fresh devices");
      if (chain.fleet.revoked.includes(id) || chain.fleet.suspended.includes(id)) {
        await (
          await reg.admin.getFunction(i % 2 ? "grantRole" : "revokeRole")(
            MANUFACTURER_ROLE,
            chain.actors.addresses.officer,
          )
        ).wait();
      } else if (i % 3 === 0) {
        await (await reg.officer.getFunction("suspendDevice")(id, 7)).wait();
      } else if (i % 3 === 1) {
        const owner = j < half ? reg.manufacturer : reg.manufacturer2;
        await (await owner.getFunction("updateFirmware")(id, testHash(`${tag}/${i}`))).wait();
      } else {
        await (
          await reg.admin.getFunction(i % 2 ? "grantRole" : "revokeRole")(
            MANUFACTURER_ROLE,
            chain.actors.addresses.attester,
          )
        ).wait();
      }
    }
  }

  async function waitForCanonical(indexer: Indexer, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const h = await head();
      const s = indexer.store.status();
      if (s.indexedBlock === h.number && s.indexedBlockHash === h.hash) return;
      if (s.fatalError) throw new Error(s.fatalError);
      if (Date.now() > deadline)
        throw new Error(`indexer at ${s.indexedBlock} ${s.indexedBlockHash}, chain at ${h.number} ${h.hash}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function freshDump(): Promise<Awaited<ReturnType<typeof dumpStore>>> {
    const dir = tempDir();
    const fresh = createIndexer({ rpcUrl: chain.node.url, deployment: chain.deployment, dataDir: dir });
    await fresh.start();
    await fresh.caughtUp();
    await fresh.stop();
    return dumpStore(dir);
  }

  const options = (dataDir: string, extra: Partial<IndexerOptions> = {}): IndexerOptions => ({
    rpcUrl: chain.node.url,
    deployment: chain.deployment,
    dataDir,
    pollMs: 20,
    ...extra,
  });

  before(async function () {
    chain = await startFleetChain(240, "reorg");
  });

  after(async function () {
    await chain?.node.stop();
    removeTempDirs();
  });

  const cases: [depth: number, replacement: number, shape: string][] = [
    [1, 1, "same height"],
    [5, 8, "longer"],
    [30, 20, "shorter"],
  ];

  for (const [depth, replacement, shape] of cases) {
    it(`replaces the last ${depth} block(s) by a ${shape} branch while following`, async function () {
      const dir = tempDir();
      let indexer = createIndexer(options(dir));
      await indexer.start();
      await indexer.caughtUp();
      const retracted: StoreChange[] = [];
      indexer.store.onChange((c) => c.type === "retracted" && retracted.push(c));
      const snapshot = await chain.node.rpc<string>("evm_snapshot");
      const base = await head();
      await mineBranch(depth, `a${depth}`);
      await waitForCanonical(indexer);
      expect(indexer.store.status().indexedBlock).to.equal(base.number + depth);
      expect(await chain.node.rpc<boolean>("evm_revert", [snapshot])).to.equal(true);
      resetNonces();
      await mineBranch(replacement, `b${depth}`);
      await waitForCanonical(indexer);
      const status = indexer.store.status();
      expect(status.reorgs).to.equal(1);
      expect(retracted).to.have.length(1);
      expect(retracted[0]!.type === "retracted" && retracted[0]!.toBlock).to.equal(base.number);
      expect(retracted[0]!.entries.every((e) => e.blockNumber > base.number)).to.equal(true);
      await indexer.stop();
      const dump = await dumpStore(dir);
      expect(dump).to.deep.equal(await freshDump());
      // and it goes on following from there
      indexer = createIndexer(options(dir));
      await indexer.start();
      await mineBranch(2, `c${depth}`);
      await waitForCanonical(indexer);
      await indexer.stop();
      expect(await dumpStore(dir)).to.deep.equal(await freshDump());
    });

    it(`replaces the last ${depth} block(s) by a ${shape} branch while stopped`, async function () {
      const dir = tempDir();
      let indexer = createIndexer(options(dir));
      await indexer.start();
      const snapshot = await chain.node.rpc<string>("evm_snapshot");
      await mineBranch(depth, `d${depth}`);
      await indexer.caughtUp();
      await indexer.stop();
      expect(await chain.node.rpc<boolean>("evm_revert", [snapshot])).to.equal(true);
      resetNonces();
      await mineBranch(replacement, `e${depth}`);
      indexer = createIndexer(options(dir));
      await indexer.start();
      await waitForCanonical(indexer);
      expect(indexer.store.status().reorgs).to.equal(1);
      await indexer.stop();
      expect(await dumpStore(dir)).to.deep.equal(await freshDump());
    });
  }

  it("stops with ReorgTooDeepError when the chain replaces more blocks than the window", async function () {
    const dir = tempDir();
    const indexer = createIndexer(options(dir, { reorgWindow: 4 }));
    const fatal: Error[] = [];
    indexer.onFatal((e) => fatal.push(e));
    await indexer.start();
    await indexer.caughtUp();
    const snapshot = await chain.node.rpc<string>("evm_snapshot");
    await mineBranch(10, "deep-a");
    await waitForCanonical(indexer);
    const before = indexer.store.status();
    const someDevice = chain.fleet.deviceIds[0]!;
    const deviceBefore = await indexer.store.getDevice(someDevice);
    await chain.node.rpc("evm_revert", [snapshot]);
    resetNonces();
    await mineBranch(12, "deep-b");
    const deadline = Date.now() + 20_000;
    while (fatal.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(fatal).to.have.length(1);
    expect(fatal[0]).to.be.instanceOf(ReorgTooDeepError);
    expect(fatal[0]!.message).to.match(/reorg deeper than the window/);
    const s = indexer.store.status();
    expect(s.fatalError).to.equal(fatal[0]!.message);
    expect(s.fatalErrorName).to.equal("ReorgTooDeepError");
    // the last consistent state stays readable and unchanged
    expect(s.indexedBlock).to.equal(before.indexedBlock);
    expect(s.digest).to.equal(before.digest);
    expect(await indexer.store.getDevice(someDevice)).to.deep.equal(deviceBefore);
    let waitErr: unknown;
    await indexer.waitForBlock(s.indexedBlock + 1, 1000).catch((e: unknown) => (waitErr = e));
    expect(waitErr).to.equal(fatal[0]);
    await indexer.stop();
  });
});
