/**
 * `totalCount` comes from counters the store keeps as its state changes (indexer/store/counts.ts).
 * Here the counts for every combination of DeviceFilter fields must equal a brute-force count
 * over the device records and their attestations — on a mixed fleet, after random suspensions,
 * reinstatements, revocations, attestations, key rotations and new registrations (seeded, DTL_TEST_SEED
 * replays), after a reorg that replaces such a block range, and after a restart.
 */
import { expect } from "chai";
import { encodeBytes32String } from "ethers";
import { createIndexer, openStore, type Indexer } from "../../indexer";
import type { DeviceFilter, DeviceRecord, StoreReader } from "../../indexer/types";
import { FLEET_KINDS, testHash } from "../helpers/fleet";
import {
  TEST_SEGMENTS,
  allDeviceFilters,
  removeTempDirs,
  startFleetChain,
  tempDir,
  writeSingleOps,
  type FleetChain,
} from "../helpers/indexer-scenario";
import { prng, testSeed } from "../helpers/seed";

interface Snapshot {
  devices: DeviceRecord[];
  /** deviceId → uids of its unrevoked attestations by kind name. */
  held: Map<string, Map<string, string[]>>;
}

async function snapshot(reader: StoreReader, ids: readonly string[]): Promise<Snapshot> {
  const devices = (await reader.getDevices(ids)).filter((d): d is DeviceRecord => d !== undefined);
  const held = new Map<string, Map<string, string[]>>();
  for (const d of devices) {
    const kinds = new Map<string, string[]>();
    for (const a of await reader.listAttestations(d.id)) {
      if (!a.revoked) kinds.set(a.kind, [...(kinds.get(a.kind) ?? []), a.uid]);
    }
    held.set(d.id, kinds);
  }
  return { devices, held };
}

describe("indexer: totalCount from counters", function () {
  this.timeout(300_000);
  let chain: FleetChain;
  let indexer: Indexer;
  let dataDir: string;
  let rand: () => number;
  /** Every device id ever registered, including on branches a reorg dropped. */
  const ids: string[] = [];
  let nextId = 0;

  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

  /** Every filter combination: 4 manufacturers × 4 statuses × 5 segments × 4 kinds. */
  function filters(): DeviceFilter[] {
    const { manufacturer, manufacturer2 } = chain.actors.addresses;
    return allDeviceFilters([manufacturer, manufacturer2.toLowerCase()], {
      manufacturers: ["0x" + "00".repeat(19) + "01"],
      segments: ["nowhere"],
      kinds: ["unheard-of"],
    });
  }

  /** Checks every filter's totalCount (and listing) against a brute-force count; returns the counts. */
  async function expectCountsExact(reader: StoreReader): Promise<Map<string, number>> {
    const { devices, held } = await snapshot(reader, ids);
    const counts = new Map<string, number>();
    const wrong: string[] = [];
    for (const f of filters()) {
      const expected = devices.filter(
        (d) =>
          (!f.manufacturer || d.manufacturer.toLowerCase() === f.manufacturer.toLowerCase()) &&
          (!f.status || d.status === f.status) &&
          (!f.segment || d.segment === f.segment) &&
          (!f.attestationKind || held.get(d.id)!.has(f.attestationKind)),
      ).length;
      const page = await reader.listDevices(f, 10_000);
      const count = (await reader.listDevices(f, 0)).totalCount;
      if (count !== expected || page.totalCount !== expected || page.items.length !== expected)
        wrong.push(`${JSON.stringify(f)}: totalCount ${count}, listed ${page.items.length}, brute force ${expected}`);
      counts.set(JSON.stringify(f), expected);
    }
    expect(wrong, wrong.slice(0, 5).join("\n")).to.deep.equal([]);
    // the overview's tallies: every (manufacturer, status, segment, key algorithm) counted by brute force
    const byTuple = new Map<string, number>();
    for (const d of devices) {
      const k = JSON.stringify([d.manufacturer.toLowerCase(), d.status, d.segment, d.keyAlgorithm]);
      byTuple.set(k, (byTuple.get(k) ?? 0) + 1);
    }
    const tallied = new Map<string, number>();
    for (const t of reader.deviceTallies()) {
      expect(
        t.keyAlgorithms.reduce((n, [, c]) => n + c, 0),
        JSON.stringify(t),
      ).to.equal(t.devices);
      for (const [alg, n] of t.keyAlgorithms)
        tallied.set(JSON.stringify([t.manufacturer, t.status, t.segment, alg]), n);
    }
    expect(Object.fromEntries(tallied)).to.deep.equal(Object.fromEntries(byTuple));
    return counts;
  }

  /**
   * `n` operations on distinct random devices, valid for the state `s`. The kind of operation
   * cycles (register, suspend, revoke, attest iec62443, rotate the key, attest or revoke an attestation), so every
   * round makes each kind of change; which device, and a suspended device's fate, are random.
   * Returns the last block.
   */
  async function randomOps(s: Snapshot, n: number): Promise<number> {
    const reg = chain.actors.registry;
    const live = s.devices.filter((d) => d.status !== "REVOKED");
    const chosen = new Set<string>();
    let block = 0;
    const send = async (p: Promise<{ wait(): Promise<{ blockNumber: number } | null> }>) => {
      block = (await (await p).wait())!.blockNumber;
    };
    for (let i = 0; i < n; i++) {
      const d = pick(live);
      if (i % 6 === 0 || chosen.has(d.id)) {
        const id = testHash(`counts/new/${nextId++}`);
        ids.push(id);
        const by = rand() < 0.5 ? reg.manufacturer : reg.manufacturer2;
        const segment = encodeBytes32String(TEST_SEGMENTS[nextId % TEST_SEGMENTS.length]!);
        await send(by.getFunction("registerDevice")(id, 1, testHash(`${id}/key`), testHash("fw/counts"), segment));
        continue;
      }
      chosen.add(d.id);
      const heldUids = [...s.held.get(d.id)!.values()].flat();
      const attest = (kind: string) =>
        send(reg.attester.getFunction("attest")(d.id, encodeBytes32String(kind), testHash(`counts/ev/${i}`), 0));
      if (d.status === "SUSPENDED") {
        const officer = reg.officer;
        await send(
          rand() < 0.6 ? officer.getFunction("reinstateDevice")(d.id) : officer.getFunction("revokeDevice")(d.id, 2),
        );
      } else if (i % 6 === 1) await send(reg.officer.getFunction("suspendDevice")(d.id, 7));
      else if (i % 6 === 2) await send(reg.officer.getFunction("revokeDevice")(d.id, 1));
      else if (i % 6 === 3) await attest("iec62443");
      else if (i % 6 === 4) {
        // a key rotation moves the device to another algorithm's count (any of 1..6, maybe the same)
        const own = d.manufacturer.toLowerCase() === chain.actors.addresses.manufacturer.toLowerCase();
        const by = own ? reg.manufacturer : reg.manufacturer2;
        await send(by.getFunction("rotateKey")(d.id, 1 + Math.floor(rand() * 6), testHash(`counts/key/${i}/${d.id}`)));
      } else if (heldUids.length === 0 || rand() < 0.5) await attest(pick(FLEET_KINDS));
      else await send(reg.attester.getFunction("revokeAttestation")(d.id, pick(heldUids), 4));
    }
    return block;
  }

  const resetNonces = () => {
    const a = chain.actors;
    for (const s of [a.admin, a.manufacturer, a.manufacturer2, a.attester, a.officer]) s.reset();
  };

  async function waitForCanonical(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const h = await chain.node.rpc<{ number: string; hash: string }>("eth_getBlockByNumber", ["latest", false]);
      const s = indexer.store.status();
      if (s.indexedBlockHash === h.hash) return;
      if (s.fatalError) throw new Error(s.fatalError);
      if (Date.now() > deadline) throw new Error(`indexer at ${s.indexedBlock}, chain at ${Number(h.number)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  before(async function () {
    rand = prng(testSeed());
    chain = await startFleetChain(160, "counts");
    await writeSingleOps(chain, "counts");
    ids.push(...chain.fleet.deviceIds);
    dataDir = tempDir();
    indexer = createIndexer({ rpcUrl: chain.node.url, deployment: chain.deployment, dataDir, pollMs: 20 });
    await indexer.start();
    await indexer.caughtUp();
  });

  after(async function () {
    await indexer?.stop();
    await chain?.node.stop();
    removeTempDirs();
  });

  it("equal a brute-force count for every filter combination on the indexed fleet", async function () {
    const counts = await expectCountsExact(indexer.store);
    expect(counts.get(JSON.stringify({}))).to.equal(chain.fleet.deviceIds.length);
    expect(counts.get(JSON.stringify({ status: "SUSPENDED" }))).to.equal(chain.fleet.suspended.length);
    expect(counts.get(JSON.stringify({ status: "REVOKED" }))).to.equal(chain.fleet.revoked.length);
  });

  it("follow suspensions, reinstatements, revocations, attestations and registrations", async function () {
    for (let round = 0; round < 3; round++) {
      const block = await randomOps(await snapshot(indexer.store, ids), 25);
      await indexer.waitForBlock(block, 30_000);
      const counts = await expectCountsExact(indexer.store);
      // the fleet is mixed enough to mean something
      for (const f of [
        { status: "SUSPENDED" },
        { status: "REVOKED" },
        { attestationKind: "iec62443" },
        { segment: "plant-3/lab" },
      ])
        expect(counts.get(JSON.stringify(f)), JSON.stringify(f)).to.be.greaterThan(0);
    }
  });

  it("roll back with a reorg: the replaced branch's changes leave the counts", async function () {
    const base = await snapshot(indexer.store, ids);
    const snap = await chain.node.rpc<string>("evm_snapshot");
    const before = await expectCountsExact(indexer.store);
    await randomOps(base, 12);
    await waitForCanonical();
    const onBranchA = await expectCountsExact(indexer.store);
    expect(onBranchA).to.not.deep.equal(before);
    expect(await chain.node.rpc<boolean>("evm_revert", [snap])).to.equal(true);
    resetNonces();
    await randomOps(base, 14);
    await waitForCanonical();
    expect(indexer.store.status().reorgs).to.equal(1);
    await expectCountsExact(indexer.store);
  });

  it("are the same after a restart (rebuilt when the store opens)", async function () {
    const running = await expectCountsExact(indexer.store);
    await indexer.stop();
    const reader = await openStore(dataDir);
    try {
      expect(await expectCountsExact(reader)).to.deep.equal(running);
    } finally {
      await reader.close();
    }
  });
});
