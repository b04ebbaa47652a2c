/**
 * The store reads devices, attestations and lists through one bounded cache (indexer/store/
 * cache.ts). Whatever its size, the answers must be the same: here an indexer with a cache of
 * 4 KB (a handful of records: almost every read misses and goes to LevelDB) follows the same
 * chain as one with the default 64 MiB, and every reader method — devices one by one and in
 * batches, every filter combination page by page with totalCount, attestations, histories, roles,
 * verdicts — and the stores themselves (records, indexes, tallies, digest) are compared after
 * random changes (seeded, DTL_TEST_SEED replays), across a reorg and after a restart.
 *
 * And memory is not held per device: the cache stays inside its byte bound while every device is
 * read, and opening a store reads no device record at all (it opens, counts and answers status
 * with every device record unreadable).
 */
import { cpSync } from "node:fs";
import { expect } from "chai";
import { encodeBytes32String } from "ethers";
import { ClassicLevel } from "classic-level";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole } from "../../common/roles";
import { createApi } from "../../api/yoga";
import { createIndexer, openStore, type Indexer } from "../../indexer";
import type { DeviceFilter, DeviceRecord, StoreReader } from "../../indexer/types";
import { gql } from "../helpers/api-fixture";
import { FLEET_KINDS, testHash } from "../helpers/fleet";
import {
  dumpStore,
  removeTempDirs,
  startFleetChain,
  tempDir,
  writeSingleOps,
  type FleetChain,
  TEST_SEGMENTS,
  allDeviceFilters,
} from "../helpers/indexer-scenario";
import { prng, testSeed } from "../helpers/seed";

const TINY = 4 * 1024;

async function allPages<T>(
  fetch: (after: string | null) => Promise<{
    items: T[];
    cursors: string[];
    endCursor: string | null;
    hasNextPage: boolean;
    totalCount: number;
  }>,
): Promise<unknown[]> {
  const pages: unknown[] = [];
  let after: string | null = null;
  for (let i = 0; i < 10_000; i++) {
    const page = await fetch(after);
    pages.push(page);
    if (!page.hasNextPage) return pages;
    after = page.endCursor;
  }
  throw new Error("pagination did not end");
}

describe("indexer: a tiny cache answers like a large one", function () {
  this.timeout(300_000);
  let chain: FleetChain;
  let large: Indexer;
  let tiny: Indexer;
  let largeDir: string;
  let tinyDir: string;
  let rand: () => number;
  /** Every device id ever registered (some only on a branch a reorg dropped), and strangers. */
  const ids: string[] = [];
  let next = 0;

  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

  function filters(): DeviceFilter[] {
    const { manufacturer, manufacturer2 } = chain.actors.addresses;
    return allDeviceFilters([manufacturer, manufacturer2.toLowerCase()]);
  }

  /** Everything a reader answers about the fleet, in one value to compare. */
  async function answers(reader: StoreReader): Promise<Record<string, unknown>> {
    const one = [];
    for (const id of ids) one.push(await reader.getDevice(id));
    const batch = await reader.getDevices([...ids, ...ids.slice(0, 50)]);
    const attestations = [];
    const uids: string[] = [];
    for (const id of ids) {
      const list = await reader.listAttestations(id);
      attestations.push(list);
      uids.push(...list.map((a) => a.uid));
    }
    const byUid = [];
    for (const uid of [...uids, testHash("cache/no-such-attestation")]) byUid.push(await reader.getAttestation(uid));
    const histories = [];
    for (const id of ids) histories.push(await allPages((after) => reader.getHistory(id, 3, after)));
    const lists = [];
    for (const f of filters()) lists.push([f, await allPages((after) => reader.listDevices(f, 29, after))]);
    const { addresses } = chain.actors;
    const roles = [];
    for (const role of [
      MANUFACTURER_ROLE,
      SECURITY_OFFICER_ROLE,
      ...FLEET_KINDS.map((k) => attesterRole(encodeBytes32String(k))),
    ])
      for (const who of Object.values(addresses)) roles.push(await reader.hasRole(role, who));
    const api = createApi({ store: reader });
    try {
      const verdicts = await gql(
        api,
        `query($ids: [Bytes32!]!) { verifyDevices(ids: $ids, policy: { requiredAttestations: ["firmware"] }) { deviceId trusted reasons atBlock } }`,
        { ids },
      );
      const { digest, indexedBlock, indexedBlockHash, events } = reader.status();
      return {
        status: { digest, indexedBlock, indexedBlockHash, events },
        one,
        batch,
        attestations,
        byUid,
        histories,
        lists,
        roles,
        verdicts,
      };
    } finally {
      api.close();
    }
  }

  /** Both answer exactly alike (and the tiny cache really was tiny). */
  async function expectSameAnswers(): Promise<void> {
    const [a, b] = [await answers(large.store), await answers(tiny.store)];
    expect((a.verdicts as { data: unknown[] }).data, "verdicts answered").to.not.equal(undefined);
    expect(b).to.deep.equal(a);
    const stats = await tiny.store.storeStats();
    expect(stats.cache.maxBytes).to.equal(TINY - TINY / 4);
    expect(stats.cache.bytes).to.be.at.most(stats.cache.maxBytes);
    expect(stats.cache.evictions).to.be.greaterThan(100);
  }

  /** `n` random changes (seeded): registrations, suspensions, reinstatements, revocations, attestations. */
  async function randomOps(n: number, reader: StoreReader): Promise<number> {
    const reg = chain.actors.registry;
    let block = 0;
    const send = async (p: Promise<{ wait(): Promise<{ blockNumber: number } | null> }>) => {
      block = (await (await p).wait())!.blockNumber;
    };
    const devices = (await reader.getDevices(ids)).filter((d): d is DeviceRecord => d?.status !== undefined);
    const live = devices.filter((d) => d.status !== "REVOKED");
    const used = new Set<string>();
    for (let i = 0; i < n; i++) {
      const d = pick(live);
      if (i % 6 === 0 || used.has(d.id)) {
        const id = testHash(`cache/new/${next++}`);
        ids.push(id);
        const by = rand() < 0.5 ? reg.manufacturer : reg.manufacturer2;
        const segment = encodeBytes32String(pick(TEST_SEGMENTS));
        await send(by.getFunction("registerDevice")(id, 1, testHash(`${id}/key`), testHash("fw/cache"), segment));
        continue;
      }
      used.add(d.id);
      const held = (await reader.listAttestations(d.id)).filter((a) => !a.revoked);
      if (d.status === "SUSPENDED") await send(reg.officer.getFunction("reinstateDevice")(d.id));
      else if (i % 6 === 1) await send(reg.officer.getFunction("suspendDevice")(d.id, 7));
      else if (i % 6 === 2) await send(reg.officer.getFunction("revokeDevice")(d.id, 1));
      else if (i % 6 === 3 && held.length)
        await send(reg.attester.getFunction("revokeAttestation")(d.id, pick(held).uid, 4));
      else
        await send(
          reg.attester.getFunction("attest")(
            d.id,
            encodeBytes32String(pick(FLEET_KINDS)),
            testHash(`cache/ev/${i}`),
            0,
          ),
        );
    }
    return block;
  }

  async function waitForCanonical(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const h = await chain.node.rpc<{ hash: string }>("eth_getBlockByNumber", ["latest", false]);
      const s = [large.store.status(), tiny.store.status()];
      if (s.every((x) => x.indexedBlockHash === h.hash)) return;
      for (const x of s) if (x.fatalError) throw new Error(x.fatalError);
      if (Date.now() > deadline) throw new Error("the indexers did not reach the chain head");
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  before(async function () {
    rand = prng(testSeed());
    chain = await startFleetChain(200, "cache");
    await writeSingleOps(chain, "cache");
    ids.push(...chain.fleet.deviceIds, testHash("cache/stranger/1"), testHash("cache/stranger/2"));
    largeDir = tempDir();
    tinyDir = tempDir();
    const opts = { rpcUrl: chain.node.url, deployment: chain.deployment, pollMs: 20, reorgWindow: 16 };
    large = createIndexer({ ...opts, dataDir: largeDir });
    tiny = createIndexer({ ...opts, dataDir: tinyDir, cacheBytes: TINY });
    await large.start();
    await tiny.start();
    await large.caughtUp();
    await tiny.caughtUp();
  });

  after(async function () {
    await large?.stop();
    await tiny?.stop();
    await chain?.node.stop();
    removeTempDirs();
  });

  it("after the backfill", async function () {
    await expectSameAnswers();
  });

  it("after random changes while following", async function () {
    for (let round = 0; round < 2; round++) {
      // asked about before they exist: their absence is cached, then the registration must replace it
      const future = Array.from({ length: 6 }, (_, i) => testHash(`cache/new/${next + i}`));
      for (const ix of [large, tiny])
        expect(await ix.store.getDevices(future)).to.deep.equal(future.map(() => undefined));
      await randomOps(18, large.store);
      await waitForCanonical();
      await expectSameAnswers();
    }
  });

  it("across a reorg that replaces changed blocks", async function () {
    const snap = await chain.node.rpc<string>("evm_snapshot");
    await randomOps(10, large.store);
    await waitForCanonical();
    await expectSameAnswers();
    expect(await chain.node.rpc<boolean>("evm_revert", [snap])).to.equal(true);
    const a = chain.actors;
    for (const s of [a.admin, a.manufacturer, a.manufacturer2, a.attester, a.officer]) s.reset();
    // the new branch's first block makes both indexers roll back before the next changes are
    // picked: until then they still know devices the revert took away
    await chain.node.rpc("evm_mine");
    await waitForCanonical();
    await randomOps(12, large.store);
    await waitForCanonical();
    expect(large.store.status().reorgs).to.equal(1);
    expect(tiny.store.status().reorgs).to.equal(1);
    await expectSameAnswers();
  });

  it("hold the same store, and answer alike again after a restart", async function () {
    const running = await answers(large.store);
    await large.stop();
    await tiny.stop();
    const dump = await dumpStore(largeDir);
    expect(await dumpStore(tinyDir)).to.deep.equal(dump);
    const reopened = await openStore(tinyDir, { cacheBytes: TINY });
    try {
      expect(await answers(reopened)).to.deep.equal(running);
    } finally {
      await reopened.close();
    }
  });

  it("holds nothing per device: the cache stays in its bound, and open reads no device record", async function () {
    const reader = await openStore(tinyDir, { cacheBytes: TINY });
    const counted = (await reader.listDevices({}, 0)).totalCount;
    try {
      for (const id of ids) {
        await reader.getDevice(id);
        const { cache } = await reader.storeStats();
        expect(cache.bytes).to.be.at.most(cache.maxBytes);
      }
    } finally {
      await reader.close();
    }
    // every device record made unreadable: open must not notice (it reads meta, roles, blocks)
    const broken = tempDir();
    cpSync(tinyDir, broken, { recursive: true });
    const db = new ClassicLevel<string, Buffer>(broken, { keyEncoding: "utf8", valueEncoding: "buffer" });
    const dev = db.sublevel<string, Buffer>("dev", { valueEncoding: "buffer" });
    const keys = await dev.keys().all();
    expect(keys.length).to.equal(counted);
    await dev.batch(keys.map((key) => ({ type: "put" as const, key, value: Buffer.from([0xff]) })));
    await db.close();
    const opened = await openStore(broken, { cacheBytes: TINY });
    try {
      const { cursor } = await dumpStore(tinyDir);
      expect(opened.status().digest).to.equal((cursor as { digest: string }).digest);
      expect((await opened.listDevices({}, 0)).totalCount).to.equal(counted);
      expect((await opened.listDevices({ status: "REVOKED" }, 0)).totalCount).to.be.greaterThan(0);
      // only a device read meets the broken record
      const err = await opened.getDevice(chain.fleet.deviceIds[0]!).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(Error);
    } finally {
      await opened.close();
    }
  });
});
