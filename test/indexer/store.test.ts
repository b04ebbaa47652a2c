/**
 * End to end: a real hardhat node with a mixed fleet, a real indexer into real LevelDB; every
 * record the StoreReader serves is checked against the chain itself (getDevice, historyHead,
 * getAttestation, hasRole) and every history is re-hashed with common/history.
 */
import { expect } from "chai";
import { ZeroHash, encodeBytes32String } from "ethers";
import { computeHistoryHead } from "../../common/history";
import { DEVICE_STATUS } from "../../common/codes";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole } from "../../common/roles";
import { createIndexer, InvalidCursorError, openStore, StoreLockedError, type Indexer } from "../../indexer";
import type { DeviceRecord, HistoryEntryRecord, StoreChange, StoreReader } from "../../indexer/types";
import { removeTempDirs, startFleetChain, tempDir, writeSingleOps, type FleetChain } from "../helpers/indexer-scenario";

async function allPages<T>(
  fetch: (after: string | null) => Promise<{ items: T[]; endCursor: string | null; hasNextPage: boolean }>,
): Promise<T[]> {
  const out: T[] = [];
  let after: string | null = null;
  for (let i = 0; i < 10_000; i++) {
    const page = await fetch(after);
    out.push(...page.items);
    if (!page.hasNextPage) return out;
    after = page.endCursor;
  }
  throw new Error("pagination did not end");
}

describe("indexer: store mirrors the chain", function () {
  let chain: FleetChain;
  let indexer: Indexer;
  let store: StoreReader;
  let dataDir: string;

  before(async function () {
    chain = await startFleetChain(300);
    await writeSingleOps(chain, "a");
    dataDir = tempDir();
    indexer = createIndexer({ rpcUrl: chain.node.url, deployment: chain.deployment, dataDir });
    await indexer.start();
    await indexer.caughtUp();
    store = indexer.store;
  });

  after(async function () {
    await indexer?.stop();
    await chain?.node.stop();
    removeTempDirs();
  });

  it("holds every device exactly as the registry's storage and history head say", async function () {
    const reg = chain.actors.registry.admin;
    const devices = await store.getDevices(chain.fleet.deviceIds);
    expect(devices.every((d) => d !== undefined)).to.equal(true);
    for (const d of devices as DeviceRecord[]) {
      const onChain = await reg.getFunction("getDevice")(d.id);
      const [head, count] = await reg.getFunction("historyHead")(d.id);
      expect(d.manufacturer).to.equal(onChain.manufacturer);
      expect(DEVICE_STATUS[Number(onChain.status)]).to.equal(d.status);
      expect(d.keyAlgorithm).to.equal(Number(onChain.keyAlgorithm));
      expect(d.registeredAt).to.equal(Number(onChain.registeredAt));
      expect(d.eventCount).to.equal(Number(count));
      expect(d.historyHead).to.equal(head);
    }
    expect(await store.getDevice(ZeroHash)).to.equal(undefined);
    expect(devices[0]!.segment).to.equal("plant-1/hvac");
  });

  it("serves each history in order; re-hashing it gives the on-chain head", async function () {
    for (const id of chain.fleet.deviceIds.slice(0, 40)) {
      const entries = await allPages<HistoryEntryRecord>((after) => store.getHistory(id, 1, after));
      const d = (await store.getDevice(id))!;
      expect(entries.map((e) => e.seq)).to.deep.equal(Array.from({ length: d.eventCount }, (_, i) => i + 1));
      expect(computeHistoryHead(entries.map((e) => ({ name: e.kind, fields: e.fields })))).to.equal(d.historyHead);
      expect(entries[entries.length - 1]!.headAfter).to.equal(d.historyHead);
      expect(entries[0]!.kind).to.equal("DeviceRegistered");
    }
  });

  it("tracks suspension, reinstatement, revocation, firmware and key changes", async function () {
    const { fleet } = chain;
    const revoked = (await store.getDevice(fleet.revoked[0]!))!;
    expect(revoked.status).to.equal("REVOKED");
    expect(revoked.revocation).to.include({ reason: 5, by: chain.actors.addresses.officer });
    expect(revoked.revocation!.transactionHash).to.match(/^0x[0-9a-f]{64}$/);
    const suspended = (await store.getDevice(fleet.suspended[0]!))!;
    expect(suspended.status).to.equal("SUSPENDED");
    expect(suspended.suspension).to.include({ reason: 8, by: chain.actors.addresses.officer });
    const active = fleet.deviceIds.filter((id) => !fleet.suspended.includes(id) && !fleet.revoked.includes(id));
    const reinstated = (await store.getDevice(active[4]!))!;
    expect(reinstated.status).to.equal("ACTIVE");
    expect(reinstated.suspension).to.equal(undefined);
    const hist = await store.getHistory(active[4]!, 100);
    expect(hist.items.map((e) => e.kind)).to.include.members([
      "DeviceSuspended",
      "DeviceReinstated",
      "Attested",
      "AttestationRevoked",
    ]);
    const rotated = (await store.getDevice(active[3]!))!;
    expect(rotated.keyAlgorithm).to.equal(2);
  });

  it("holds attestations as the chain does, oldest first, with revocations", async function () {
    const reg = chain.actors.registry.admin;
    const fleet = chain.fleet;
    const active = fleet.deviceIds.filter((id) => !fleet.suspended.includes(id) && !fleet.revoked.includes(id));
    const atts = await store.listAttestations(active[4]!);
    expect(atts.map((a) => [a.kind, a.revoked])).to.deep.equal([
      ["firmware", false],
      ["iec62443", true],
    ]);
    for (const a of atts) {
      const onChain = await reg.getFunction("getAttestation")(a.deviceId, a.uid);
      expect(onChain.attester).to.equal(a.attester);
      expect(Number(onChain.expiresAt)).to.equal(a.expiresAt);
      expect(onChain.revoked).to.equal(a.revoked);
      expect(await store.getAttestation(a.uid)).to.deep.equal(a);
    }
    expect(atts[1]!.revocationReason).to.equal(4);
  });

  it("lists devices by manufacturer, status, segment and attestation kind with cursor pagination", async function () {
    const { fleet, actors } = chain;
    const half = Math.ceil(fleet.deviceIds.length / 2);
    const byM = await allPages((after) =>
      store.listDevices({ manufacturer: actors.addresses.manufacturer2 }, 7, after),
    );
    expect(byM.map((d) => d.id).sort()).to.deep.equal(fleet.deviceIds.slice(half).sort());
    const revoked = await allPages((after) => store.listDevices({ status: "REVOKED" }, 4, after));
    expect(revoked.map((d) => d.id).sort()).to.deep.equal([...fleet.revoked].sort());
    const suspended = await allPages((after) => store.listDevices({ status: "SUSPENDED" }, 50, after));
    expect(suspended.map((d) => d.id).sort()).to.deep.equal([...fleet.suspended].sort());
    const seg = await allPages((after) => store.listDevices({ segment: "plant-2/door", status: "ACTIVE" }, 33, after));
    expect(seg.length).to.be.greaterThan(0);
    expect(seg.every((d) => d.segment === "plant-2/door" && d.status === "ACTIVE")).to.equal(true);
    const firmware = await allPages((after) => store.listDevices({ attestationKind: "firmware" }, 25, after));
    expect(firmware.map((d) => d.id).sort()).to.deep.equal([...fleet.attested].sort());
    // the iec62443 attestation was revoked again: no device holds an unrevoked one
    expect((await store.listDevices({ attestationKind: "iec62443" }, 10)).items).to.deep.equal([]);
    const all = await allPages((after) => store.listDevices({}, 97, after));
    expect(all.length).to.equal(fleet.deviceIds.length);
    const first = await store.listDevices({}, 0);
    expect(first.items).to.deep.equal([]);
    let err: unknown;
    await store.listDevices({}, 5, "bm90LWEtY3Vyc29y").catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(InvalidCursorError);
    err = undefined;
    await store.getHistory(fleet.deviceIds[0]!, 5, "garbage").catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(InvalidCursorError);
  });

  it("knows role members from RoleGranted/RoleRevoked", async function () {
    const { addresses } = chain.actors;
    expect(await store.hasRole(MANUFACTURER_ROLE, addresses.manufacturer)).to.equal(true);
    expect(await store.hasRole(MANUFACTURER_ROLE, addresses.manufacturer.toLowerCase())).to.equal(true);
    expect(await store.hasRole(SECURITY_OFFICER_ROLE, addresses.officer)).to.equal(true);
    expect(await store.hasRole(attesterRole(encodeBytes32String("firmware")), addresses.attester)).to.equal(true);
    // granted then revoked
    expect(await store.hasRole(MANUFACTURER_ROLE, addresses.officer)).to.equal(false);
    expect(await store.hasRole(MANUFACTURER_ROLE, addresses.attester)).to.equal(false);
  });

  it("reports status with the cursor, the head and a digest", async function () {
    const s = store.status();
    const head = Number(BigInt(await chain.node.rpc<string>("eth_blockNumber")));
    expect(s).to.include({
      chainId: 31337,
      registry: chain.deployment.registry,
      indexedBlock: head,
      headBlock: head,
      caughtUp: true,
      reorgs: 0,
    });
    expect(s.digest).to.match(/^0x[0-9a-f]{64}$/);
    const block = await chain.node.rpc<{ hash: string }>("eth_getBlockByNumber", ["0x" + head.toString(16), false]);
    expect(s.indexedBlockHash).to.equal(block.hash);
  });

  it("follows new blocks and tells listeners only after the commit", async function () {
    const id = chain.fleet.attested[1]!;
    const changes: StoreChange[] = [];
    const seen: (string | undefined)[] = [];
    const off = store.onChange((c) => {
      changes.push(c);
      void store.getDevice(id).then((d) => seen.push(d?.status));
    });
    const tx = await chain.actors.registry.officer.getFunction("revokeDevice")(id, 1);
    const receipt = await tx.wait();
    await indexer.waitForBlock(receipt!.blockNumber, 10_000);
    off();
    const d = (await store.getDevice(id))!;
    expect(d.status).to.equal("REVOKED");
    expect(d.revocation).to.include({ reason: 1, blockNumber: receipt!.blockNumber, transactionHash: receipt!.hash });
    expect(changes).to.have.length(1);
    const change = changes[0]!;
    expect(change.type).to.equal("applied");
    expect(change.entries.map((e) => [e.deviceId, e.kind, e.blockNumber])).to.deep.equal([
      [id, "DeviceRevoked", receipt!.blockNumber],
    ]);
    await new Promise((r) => setImmediate(r));
    expect(seen).to.deep.equal(["REVOKED"]);
  });

  it("refuses a second process on the same directory with StoreLockedError", async function () {
    let err: unknown;
    try {
      await openStore(dataDir);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(StoreLockedError);
    expect((err as Error).message).to.include(dataDir);
  });

  it("opens read-only once the indexer stopped, with the same content and cursor", async function () {
    const status = store.status();
    const id = chain.fleet.revoked[0]!;
    const device = await store.getDevice(id);
    const history = await store.getHistory(id, 100);
    await indexer.stop();
    const reader = await openStore(dataDir);
    try {
      expect(await reader.getDevice(id)).to.deep.equal(device);
      expect(await reader.getHistory(id, 100)).to.deep.equal(history);
      expect(reader.status()).to.include({
        indexedBlock: status.indexedBlock,
        indexedBlockHash: status.indexedBlockHash,
        digest: status.digest,
      });
    } finally {
      await reader.close();
    }
  });
});
