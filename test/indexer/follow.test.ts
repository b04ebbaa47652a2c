/**
 * Following a live chain: confirmations hold back exactly head − N; two indexers with separate
 * stores agree on the digest at the same block, and an independent replay of the chain
 * (indexer/replay.ts, what `dtl audit` uses) computes the same digest; the fast head hashing
 * equals common/history's reference implementation; chain identity is enforced.
 */
import { expect } from "chai";
import fc from "fast-check";
import { ZeroHash } from "ethers";
import { nextHistoryHead } from "../../common/history";
import { loadKeccak } from "../../common/keccak";
import { createIndexer, ChainMismatchError, type Indexer } from "../../indexer";
import { createHashers } from "../../indexer/hashing";
import { replayRegistry } from "../../indexer/replay";
import { decodeLog, fetchRegistryLogs } from "../../indexer/source";
import { createRpcClient } from "../../common/rpc";
import { deployFleetRegistry, testHash } from "../helpers/fleet";
import { removeTempDirs, startFleetChain, tempDir, writeSingleOps, type FleetChain } from "../helpers/indexer-scenario";

describe("indexer: following a live chain", function () {
  this.timeout(120_000);
  let chain: FleetChain;
  const headNumber = async () => Number(BigInt(await chain.node.rpc<string>("eth_blockNumber")));

  before(async function () {
    chain = await startFleetChain(300, "follow");
    await writeSingleOps(chain, "follow");
  });

  after(async function () {
    await chain?.node.stop();
    removeTempDirs();
  });

  it("recomputes heads exactly like common/history for every event kind on the chain", async function () {
    const client = createRpcClient(chain.node.url);
    const { nextHead } = createHashers(await loadKeccak());
    const logs = await fetchRegistryLogs(
      client,
      chain.deployment.registry,
      chain.deployment.deployBlock,
      await headNumber(),
    );
    const prev = new Map<string, string>();
    const kinds = new Set<string>();
    for (const e of logs.map(decodeLog)) {
      if (e.type !== "device") continue;
      const p = prev.get(e.deviceId) ?? ZeroHash;
      const reference = nextHistoryHead(p, e.name, e.fields);
      expect(nextHead(p, e.kind, e.encodedFields)).to.equal(reference);
      expect(reference).to.equal(e.head);
      prev.set(e.deviceId, e.head);
      kinds.add(e.name);
    }
    expect([...kinds].sort()).to.deep.equal(
      [
        "AttestationRevoked",
        "Attested",
        "DeviceRegistered",
        "DeviceReinstated",
        "DeviceRevoked",
        "DeviceSuspended",
        "FirmwareUpdated",
        "KeyRotated",
      ].sort(),
    );
  });

  it("recomputes heads like common/history for arbitrary field values", async function () {
    const { nextHead } = createHashers(await loadKeccak());
    const word = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => "0x" + Buffer.from(b).toString("hex"));
    fc.assert(
      fc.property(
        word,
        word,
        word,
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 2 ** 40 - 1 }),
        (head, a, b, u8, u40) => {
          const fields = {
            deviceId: a,
            uid: b,
            kind: a,
            attester: "0x" + b.slice(26),
            evidenceHash: head,
            expiresAt: u40,
          };
          const encoded = [
            a,
            b,
            a,
            "0x" + b.slice(26).padStart(64, "0"),
            head,
            "0x" + u40.toString(16).padStart(64, "0"),
          ]
            .map((w) => w.slice(2).padStart(64, "0"))
            .join("");
          expect(nextHead(head, 7, encoded)).to.equal(nextHistoryHead(head, "Attested", fields));
          const rev = { deviceId: a, by: "0x" + a.slice(26), reason: u8 };
          const revEnc = [a, "0x" + a.slice(26).padStart(64, "0"), "0x" + u8.toString(16).padStart(64, "0")]
            .map((w) => w.slice(2).padStart(64, "0"))
            .join("");
          expect(nextHead(head, 6, revEnc)).to.equal(nextHistoryHead(head, "DeviceRevoked", rev));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("with confirmations = N applies nothing newer than head − N", async function () {
    const dir = tempDir();
    const indexer = createIndexer({
      rpcUrl: chain.node.url,
      deployment: chain.deployment,
      dataDir: dir,
      confirmations: 3,
      pollMs: 20,
    });
    await indexer.start();
    try {
      await indexer.caughtUp();
      expect(indexer.store.status().indexedBlock).to.equal((await headNumber()) - 3);
      expect(indexer.store.status().confirmations).to.equal(3);
      const { fleet } = chain;
      const id = fleet.attested.find(
        (x) => !fleet.suspended.includes(x) && !fleet.revoked.includes(x) && x !== fleet.attested[0],
      )!;
      const violations: string[] = [];
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const indexed = indexer.store.status().indexedBlock;
          const h = await headNumber();
          if (indexed > h - 3) violations.push(`indexed ${indexed} with head ${h}`);
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const receipt = await (await chain.actors.registry.officer.getFunction("revokeDevice")(id, 2)).wait();
      const revokedAt = receipt!.blockNumber as number;
      for (let i = 0; i < 2; i++) {
        await chain.node.rpc("evm_mine");
        await indexer.caughtUp();
        expect(indexer.store.status().indexedBlock).to.equal(revokedAt - 2 + i);
        expect((await indexer.store.getDevice(id))!.status).to.equal("ACTIVE");
      }
      await chain.node.rpc("evm_mine");
      await indexer.waitForBlock(revokedAt, 10_000);
      expect((await indexer.store.getDevice(id))!.status).to.equal("REVOKED");
      sampling = false;
      await sampler;
      expect(violations).to.deep.equal([]);
    } finally {
      await indexer.stop();
    }
  });

  it("two indexers with separate stores report the same digest at the same block, as a replay does", async function () {
    const a = createIndexer({ rpcUrl: chain.node.url, deployment: chain.deployment, dataDir: tempDir(), pollMs: 15 });
    const b = createIndexer({
      rpcUrl: chain.node.url,
      deployment: chain.deployment,
      dataDir: tempDir(),
      pollMs: 70,
      ranges: { maxSpan: 3 },
    });
    const digests = [new Map<number, string>(), new Map<number, string>()];
    const record = (ix: Indexer, m: Map<number, string>) =>
      ix.store.onChange(() => {
        const s = ix.store.status();
        m.set(s.indexedBlock, s.digest);
      });
    await a.start();
    record(a, digests[0]!);
    try {
      const ids = chain.fleet.deviceIds;
      for (let i = 0; i < 12; i++) {
        if (i === 5) {
          await b.start();
          record(b, digests[1]!);
        }
        await (
          await chain.actors.registry.manufacturer.getFunction("updateFirmware")(ids[10 + i]!, testHash(`agree/${i}`))
        ).wait();
      }
      const head = await headNumber();
      await Promise.all([a.waitForBlock(head), b.waitForBlock(head)]);
      const [sa, sb] = [a.store.status(), b.store.status()];
      expect(sa.indexedBlock).to.equal(head);
      expect(sb.indexedBlock).to.equal(head);
      expect(sa.digest).to.equal(sb.digest);
      expect(sa.indexedBlockHash).to.equal(sb.indexedBlockHash);
      const common = [...digests[0]!.keys()].filter((n) => digests[1]!.has(n));
      expect(common.length).to.be.greaterThan(0);
      for (const n of common) expect(digests[1]!.get(n), `digest at block ${n}`).to.equal(digests[0]!.get(n));
      const replay = await replayRegistry(chain.node.url, chain.deployment, { toBlock: head, span: 7 });
      expect(replay.digest).to.equal(sa.digest);
      expect(replay.events).to.equal(sa.events);
      const d = (await a.store.getDevice(ids[12]!))!;
      expect(replay.heads.get(ids[12]!)).to.deep.equal({ head: d.historyHead, eventCount: d.eventCount });
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("refuses a store of another registry with ChainMismatchError, and rebuilds when asked", async function () {
    const dir = tempDir();
    const first = createIndexer({ rpcUrl: chain.node.url, deployment: chain.deployment, dataDir: dir });
    await first.start();
    await first.caughtUp();
    await first.stop();
    // a second registry on the same chain
    const other = await deployFleetRegistry(chain.node.url);
    const second = createIndexer({ rpcUrl: chain.node.url, deployment: other.deployment, dataDir: dir });
    let err: unknown;
    await second.start().catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(ChainMismatchError);
    const msg = (err as Error).message;
    expect(msg).to.include(chain.deployment.registry).and.include(other.deployment.registry).and.include(dir);
    expect(msg.split("\n")).to.have.length(1);
    const rebuilt = createIndexer({
      rpcUrl: chain.node.url,
      deployment: other.deployment,
      dataDir: dir,
      rebuild: true,
    });
    await rebuilt.start();
    await rebuilt.caughtUp();
    expect(rebuilt.store.status().registry).to.equal(other.deployment.registry);
    expect(await rebuilt.store.getDevice(chain.fleet.deviceIds[0]!)).to.equal(undefined);
    await rebuilt.stop();
  });

  it("refuses a deployment that does not match the node's chain", async function () {
    const wrongChain = createIndexer({
      rpcUrl: chain.node.url,
      deployment: { ...chain.deployment, chainId: 1 },
      dataDir: tempDir(),
    });
    let err: unknown;
    await wrongChain.start().catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(ChainMismatchError);
    expect((err as Error).message).to.equal(
      `the RPC node ${chain.node.url} serves chain 31337, the deployment is for chain 1`,
    );
    const wrongHash = createIndexer({
      rpcUrl: chain.node.url,
      deployment: { ...chain.deployment, deployBlockHash: testHash("not the block") },
      dataDir: tempDir(),
    });
    err = undefined;
    await wrongHash.start().catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(ChainMismatchError);
    expect((err as Error).message).to.match(
      new RegExp(`^block ${chain.deployment.deployBlock} on chain 31337 has hash 0x[0-9a-f]{64}, the deployment says`),
    );
  });
});
