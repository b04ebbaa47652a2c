/**
 * The GraphQL API over the REAL indexer (real hardhat node, real LevelDB), called through
 * `yoga.fetch()`: verdicts and their reasons, proofs end to end, lookups, pagination, filters,
 * roles withdrawn, health/readiness/metrics and API keys.
 */
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { encodeBytes32String } from "ethers";
import { KEY_ALGORITHM_LIST } from "../../common/codes";
import { generateKeyPair, keyHash, signMessage } from "../../common/keys";
import { loadFastPostQuantumVerifier } from "../../common/keys-pq";
import { MANUFACTURER_ROLE, attesterRole } from "../../common/roles";
import { createIndexer } from "../../indexer/index";
import { createApi, type Api } from "../../api/yoga";
import {
  apiFor,
  gql,
  registerTestDevice,
  startApiFixture,
  type ApiFixture,
  type GqlResult,
  type TestDevice,
} from "../helpers/api-fixture";
import { randomHash, testHash, writeFleet, type FleetResult } from "../helpers/fleet";

interface Verdict {
  deviceId: string;
  trusted: boolean;
  reasons: string[];
  atBlock: number;
  lagBlocks: number;
  evaluatedAt: string;
  device: { id: string; status: string } | null;
}

const VERIFY = `query($id: Bytes32!, $policy: TrustPolicyInput, $proof: ProofInput) {
  verifyDevice(id: $id, policy: $policy, proof: $proof) { deviceId trusted reasons atBlock lagBlocks evaluatedAt device { id status } }
}`;

describe("api over the real indexer (yoga.fetch)", function () {
  let fx: ApiFixture;
  let api: Api;
  let fleet: FleetResult;

  async function verify(id: string, policy?: object, proof?: object): Promise<Verdict> {
    const r = await gql<{ verifyDevice: Verdict }>(api, VERIFY, { id, policy, proof });
    expect(r.errors, JSON.stringify(r.errors)).to.equal(undefined);
    return r.data!.verifyDevice;
  }

  async function tx(p: Promise<{ wait(): Promise<unknown> }>): Promise<void> {
    await (await p).wait();
    await fx.sync();
  }

  before(async function () {
    fx = await startApiFixture();
    fleet = await writeFleet(fx.actors, { devices: 120, label: "api-yoga" });
    await fx.sync();
    api = apiFor(fx);
  });

  after(async () => {
    api?.close();
    await fx?.stop();
  });

  describe("verifyDevice", () => {
    it("trusts an active device of a manufacturer holding its role (default policy) and states the block", async () => {
      const d = await registerTestDevice(fx.actors);
      await fx.sync();
      const v = await verify(d.id);
      expect(v).to.deep.include({ deviceId: d.id, trusted: true, reasons: [], lagBlocks: 0 });
      expect(v.atBlock).to.equal(fx.indexer.store.status().indexedBlock);
      expect(v.device).to.deep.equal({ id: d.id, status: "ACTIVE" });
      expect(Date.parse(v.evaluatedAt)).to.be.closeTo(Date.now(), 5_000);
    });

    it("says NOT_REGISTERED (and no device) for an unknown id", async () => {
      const id = randomHash();
      expect(await verify(id)).to.deep.include({
        deviceId: id,
        trusted: false,
        reasons: ["NOT_REGISTERED"],
        device: null,
      });
    });

    it("accepts upper-case hex ids and answers in lower case", async () => {
      const id = fleet.deviceIds[3]!;
      const v = await verify("0x" + id.slice(2).toUpperCase());
      expect(v.deviceId).to.equal(id);
    });

    it("follows the lifecycle: SUSPENDED, trusted again when reinstated, REVOKED for good", async () => {
      const d = await registerTestDevice(fx.actors);
      await tx(fx.actors.registry.officer.getFunction("suspendDevice")(d.id, 8));
      expect((await verify(d.id)).reasons).to.deep.equal(["SUSPENDED"]);
      await tx(fx.actors.registry.officer.getFunction("reinstateDevice")(d.id));
      expect((await verify(d.id)).trusted).to.equal(true);
      await tx(fx.actors.registry.manufacturer.getFunction("revokeDevice")(d.id, 1));
      expect(await verify(d.id)).to.deep.include({ trusted: false, reasons: ["REVOKED"] });
      const r = await gql<{ device: { status: string; revocation: Record<string, unknown> } }>(
        api,
        `query($id: Bytes32!) { device(id: $id) { status revocation { reason reasonCode by blockNumber at transactionHash } suspension { reason } } }`,
        { id: d.id },
      );
      expect(r.data!.device.status).to.equal("REVOKED");
      expect(r.data!.device.revocation).to.deep.include({
        reason: "KEY_COMPROMISE",
        reasonCode: 1,
        by: fx.actors.addresses.manufacturer,
      });
    });

    it("gives every policy reason that applies", async () => {
      const d = await registerTestDevice(fx.actors, { segment: "plant-9/lab" });
      await fx.sync();
      const v = await verify(d.id, {
        allowedManufacturers: [fx.actors.addresses.manufacturer2],
        allowedSegments: ["plant-1/hvac"],
        allowedFirmware: [testHash("fw/other")],
        requiredAttestations: ["firmware"],
        requireProof: true,
      });
      expect(v.reasons).to.deep.equal([
        "MANUFACTURER_NOT_ALLOWED",
        "SEGMENT_NOT_ALLOWED",
        "FIRMWARE_NOT_ALLOWED",
        "ATTESTATION_MISSING",
        "PROOF_REQUIRED",
      ]);
      const ok = await verify(d.id, {
        // any case in: the Address and Bytes32 scalars bring both to their normal form
        allowedManufacturers: [fx.actors.addresses.manufacturer.toLowerCase()],
        allowedSegments: ["plant-9/lab"],
        allowedFirmware: [d.firmware.toUpperCase().replace("0X", "0x")],
      });
      expect(ok.reasons).to.deep.equal([]);
    });

    it("checks required attestations: valid, missing kind, revoked, expiring", async () => {
      const d = await registerTestDevice(fx.actors);
      const kind = encodeBytes32String("firmware");
      const latest = await fx.actors.provider.getBlock("latest");
      const soon = latest!.timestamp + 30;
      await tx(fx.actors.registry.attester.getFunction("attest")(d.id, kind, testHash("evidence"), 0));
      expect((await verify(d.id, { requiredAttestations: ["firmware"] })).trusted).to.equal(true);
      expect((await verify(d.id, { requiredAttestations: ["firmware", "iec62443"] })).reasons).to.deep.equal([
        "ATTESTATION_MISSING",
      ]);
      // the age limit reaches the engine (its edges are table-tested in verdict.test.ts; the chain's
      // block times run ahead of the wall clock here, so an exact age cannot be staged on chain)
      expect(
        (await verify(d.id, { requiredAttestations: ["firmware"], maxAttestationAgeSeconds: 1_000_000 })).trusted,
      ).to.equal(true);
      const atts = await gql<{
        device: { attestations: { uid: string; kind: string; expiresAt: string | null; attester: string }[] };
      }>(api, `query($id: Bytes32!) { device(id: $id) { attestations { uid kind expiresAt attester } } }`, {
        id: d.id,
      });
      const [a] = atts.data!.device.attestations;
      expect(a).to.deep.include({ kind: "firmware", expiresAt: null, attester: fx.actors.addresses.attester });
      await tx(fx.actors.registry.attester.getFunction("revokeAttestation")(d.id, a!.uid, 4));
      expect((await verify(d.id, { requiredAttestations: ["firmware"] })).reasons).to.deep.equal([
        "ATTESTATION_MISSING",
      ]);
      // an expiring attestation: valid now, expired once the clock passes expiresAt (the chain's
      // time here runs with the wall clock, so advance the chain and wait)
      await tx(fx.actors.registry.attester.getFunction("attest")(d.id, kind, testHash("evidence2"), soon));
      expect((await verify(d.id, { requiredAttestations: ["firmware"] })).trusted).to.equal(true);
      const single = await gql<{
        attestation: { id: string; revoked: boolean; expiresAt: string; device: { id: string } };
      }>(api, `query($id: Bytes32!) { attestation(id: $id) { id revoked expiresAt device { id } } }`, { id: a!.uid });
      expect(single.data!.attestation).to.deep.include({ id: a!.uid, revoked: true, device: { id: d.id } });
    });
  });

  describe("proof of possession through GraphQL", () => {
    const devices: Record<string, TestDevice> = {};
    before(async () => {
      // the verifier `dtl serve` uses for ML-DSA (liboqs); keys-pq.test holds it against the reference
      await loadFastPostQuantumVerifier();
      for (const alg of KEY_ALGORITHM_LIST) devices[alg] = await registerTestDevice(fx.actors, { alg });
      await fx.sync();
    });

    async function challenge(
      id: string,
    ): Promise<{ id: string; message: string; expiresAt: string; deviceId: string }> {
      const r = await gql<{ issueChallenge: { id: string; message: string; expiresAt: string; deviceId: string } }>(
        api,
        `mutation($id: Bytes32!) { issueChallenge(deviceId: $id) { id deviceId message expiresAt } }`,
        { id },
      );
      expect(r.errors).to.equal(undefined);
      return r.data!.issueChallenge;
    }

    for (const alg of KEY_ALGORITHM_LIST) {
      it(`${alg}: a signed challenge proves possession; a replay says CHALLENGE_REUSED`, async () => {
        const d = devices[alg]!;
        const c = await challenge(d.id);
        expect(c.message).to.equal(`dtl-challenge:${d.id}:${c.id}:${c.expiresAt}`);
        const proof = { challengeId: c.id, publicKey: d.pair.publicKey, signature: signMessage(d.pair, c.message) };
        expect(await verify(d.id, { requireProof: true }, proof)).to.deep.include({ trusted: true, reasons: [] });
        expect((await verify(d.id, { requireProof: true }, proof)).reasons).to.deep.equal(["CHALLENGE_REUSED"]);
      });
    }

    it("says KEY_MISMATCH for another device's key, CHALLENGE_WRONG_DEVICE for its challenge, CHALLENGE_UNKNOWN for none", async () => {
      const a = devices.secp256k1!;
      const b = devices.p256!;
      const c = await challenge(a.id);
      const other = await registerTestDevice(fx.actors, { alg: "secp256k1" });
      await fx.sync();
      const reasonsWith = async (id: string, challengeId: string, pair: typeof a.pair, message: string) =>
        (await verify(id, {}, { challengeId, publicKey: pair.publicKey, signature: signMessage(pair, message) }))
          .reasons;
      expect(await reasonsWith(a.id, c.id, other.pair, c.message)).to.deep.equal(["KEY_MISMATCH"]);
      const cb = await challenge(b.id);
      expect(await reasonsWith(a.id, cb.id, a.pair, cb.message)).to.deep.equal(["CHALLENGE_WRONG_DEVICE"]);
      expect(
        (await verify(a.id, {}, { challengeId: "f".repeat(32), publicKey: a.pair.publicKey, signature: "0x00" }))
          .reasons,
      ).to.deep.equal(["CHALLENGE_UNKNOWN"]);
      expect((await verify(a.id, { requireProof: true })).reasons).to.deep.equal(["PROOF_REQUIRED"]);
    });

    it("migrates a classical device to ML-DSA-44: rotation in its history, the old key gets KEY_MISMATCH, requirePostQuantum passes", async () => {
      const d = await registerTestDevice(fx.actors, { alg: "ed25519" });
      await fx.sync();
      const pq = { requireProof: true, requirePostQuantum: true };
      const proofWith = async (pair: typeof d.pair) => {
        const c = await challenge(d.id);
        return { challengeId: c.id, publicKey: pair.publicKey, signature: signMessage(pair, c.message) };
      };
      expect((await verify(d.id, pq, await proofWith(d.pair))).reasons).to.deep.equal(["KEY_NOT_POST_QUANTUM"]);
      const next = generateKeyPair("ml-dsa-44");
      await tx(fx.actors.registry.manufacturer.getFunction("rotateKey")(d.id, 4, keyHash(4, next.publicKey)));
      expect((await verify(d.id, pq, await proofWith(d.pair))).reasons).to.deep.equal([
        "KEY_MISMATCH",
        "BAD_SIGNATURE",
      ]);
      expect(await verify(d.id, pq, await proofWith(next))).to.deep.include({ trusted: true, reasons: [] });
      const r = await gql<{ device: { keyAlgorithm: string; history: { edges: { node: { kind: string } }[] } } }>(
        api,
        `query($id: Bytes32!) { device(id: $id) { keyAlgorithm history { edges { node { kind } } } } }`,
        { id: d.id },
      );
      expect(r.data!.device.keyAlgorithm).to.equal("ML_DSA_44");
      expect(r.data!.device.history.edges.map((e) => e.node.kind)).to.deep.equal(["DEVICE_REGISTERED", "KEY_ROTATED"]);
    });

    it("says CHALLENGE_EXPIRED after the TTL", async () => {
      const shortApi = apiFor(fx, { challengeTtlMs: 50 });
      const d = devices.ed25519!;
      const r = await gql<{ issueChallenge: { id: string; message: string } }>(
        shortApi,
        `mutation($id: Bytes32!) { issueChallenge(deviceId: $id) { id message } }`,
        { id: d.id },
      );
      const c = r.data!.issueChallenge;
      await new Promise((res) => setTimeout(res, 80));
      const v = await gql<{ verifyDevice: Verdict }>(shortApi, VERIFY, {
        id: d.id,
        proof: { challengeId: c.id, publicKey: d.pair.publicKey, signature: signMessage(d.pair, c.message) },
      });
      expect(v.data!.verifyDevice.reasons).to.deep.equal(["CHALLENGE_EXPIRED"]);
      shortApi.close();
    });

    it("refuses a challenge for an unknown device with DEVICE_NOT_FOUND", async () => {
      const r = await gql(api, `mutation { issueChallenge(deviceId: "${randomHash()}") { id } }`);
      expect(r.errors![0]!.extensions).to.deep.include({ code: "DEVICE_NOT_FOUND", field: "deviceId" });
    });
  });

  describe("verifyDevices", () => {
    it("answers 1,000 ids in order with their own reasons", async () => {
      const ids = [...fleet.deviceIds];
      while (ids.length < 1000) ids.push(randomHash());
      const r = await gql<{ verifyDevices: Verdict[] }>(
        api,
        `query($ids: [Bytes32!]!) { verifyDevices(ids: $ids) { deviceId trusted reasons atBlock } }`,
        { ids },
      );
      expect(r.errors).to.equal(undefined);
      const out = r.data!.verifyDevices;
      expect(out.map((v) => v.deviceId)).to.deep.equal(ids);
      const byId = new Map(out.map((v) => [v.deviceId, v.reasons]));
      for (const id of fleet.revoked) expect(byId.get(id)).to.deep.equal(["REVOKED"]);
      for (const id of fleet.suspended) expect(byId.get(id)).to.deep.equal(["SUSPENDED"]);
      expect(byId.get(ids[999]!)).to.deep.equal(["NOT_REGISTERED"]);
      const trusted = out.filter((v) => v.trusted).length;
      expect(trusted).to.equal(fleet.deviceIds.length - fleet.revoked.length - fleet.suspended.length);
      expect(new Set(out.map((v) => v.atBlock)).size).to.equal(1);
    });

    it("refuses 1,001 ids with an error naming ids", async () => {
      const ids = Array.from({ length: 1001 }, () => randomHash());
      const r = await gql(api, `query($ids: [Bytes32!]!) { verifyDevices(ids: $ids) { trusted } }`, { ids });
      expect(r.errors![0]!.message).to.match(/^ids: at most 1000 ids per request, got 1001/);
      expect(r.errors![0]!.extensions).to.deep.include({ code: "BAD_USER_INPUT", field: "ids" });
    });
  });

  describe("lookups and connections", () => {
    it("device(id) serves the record with EIP-55 addresses, lowercase hashes, ISO times and a history that chains to historyHead", async () => {
      const d = await registerTestDevice(fx.actors, { alg: "p256", segment: "plant-3/hvac" });
      await tx(fx.actors.registry.manufacturer.getFunction("updateFirmware")(d.id, testHash("fw/2")));
      const r = await gql<{
        device: Record<string, unknown> & {
          history: { edges: { cursor: string; node: Record<string, unknown> }[]; pageInfo: { hasNextPage: boolean } };
        };
      }>(
        api,
        `query($id: Bytes32!) { device(id: $id) {
          id manufacturer status keyAlgorithm keyHash firmwareHash segment registeredAt historyHead eventCount atBlock
          history(first: 10) { edges { cursor node { seq kind actor data fields headAfter timestamp blockNumber retracted } } pageInfo { hasNextPage } }
        } }`,
        { id: d.id },
      );
      expect(r.errors).to.equal(undefined);
      const dev = r.data!.device;
      expect(dev).to.deep.include({
        id: d.id,
        manufacturer: fx.actors.addresses.manufacturer,
        status: "ACTIVE",
        keyAlgorithm: "P256",
        firmwareHash: testHash("fw/2"),
        segment: "plant-3/hvac",
        eventCount: 2,
      });
      expect(dev.registeredAt).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      const entries = dev.history.edges.map((e) => e.node);
      expect(entries.map((e) => [e.seq, e.kind])).to.deep.equal([
        [1, "DEVICE_REGISTERED"],
        [2, "FIRMWARE_UPDATED"],
      ]);
      expect(entries[1]!.data).to.deep.equal(entries[1]!.fields);
      expect((entries[1]!.data as Record<string, unknown>).firmwareHash).to.equal(testHash("fw/2"));
      expect(entries[1]!.headAfter).to.equal(dev.historyHead);
      expect(entries[0]!.retracted).to.equal(false);
      const [head] = (await fx.actors.registry.admin.getFunction("historyHead")(d.id)) as [string, bigint];
      expect(dev.historyHead).to.equal(head);
      expect(dev.history.pageInfo.hasNextPage).to.equal(false);
    });

    it("pages through devices with every edge cursor usable and filters by manufacturer, status, segment and attestation kind", async () => {
      const seen: string[] = [];
      let after: string | null = null;
      for (let i = 0; i < 100; i++) {
        const r: {
          data?: {
            devices: {
              edges: { cursor: string; node: { id: string } }[];
              pageInfo: { hasNextPage: boolean; endCursor: string };
            };
          } | null;
        } = await gql(
          api,
          `query($after: String, $m: Address) { devices(first: 7, after: $after, filter: { manufacturer: $m }) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`,
          { after, m: fx.actors.addresses.manufacturer2.toLowerCase() },
        );
        const conn = r.data!.devices;
        seen.push(...conn.edges.map((e) => e.node.id));
        if (conn.edges.length > 2) {
          // an inner edge's cursor continues right after that edge
          const r2 = await gql<{ devices: { edges: { node: { id: string } }[] } }>(
            api,
            `query($after: String) { devices(first: 1, after: $after, filter: { manufacturer: "${fx.actors.addresses.manufacturer2}" }) { edges { node { id } } } }`,
            { after: conn.edges[1]!.cursor },
          );
          expect(r2.data!.devices.edges[0]!.node.id).to.equal(conn.edges[2]!.node.id);
        }
        if (!conn.pageInfo.hasNextPage) break;
        after = conn.pageInfo.endCursor;
      }
      expect(new Set(seen).size).to.equal(seen.length);
      expect(new Set(seen)).to.deep.equal(new Set(fleet.deviceIds.slice(60)));

      const count = async (filter: string) => {
        const r = await gql<{ devices: { edges: unknown[]; totalCount: number } }>(
          api,
          `{ devices(first: 500, filter: ${filter}) { edges { cursor } totalCount } }`,
        );
        expect(r.errors, JSON.stringify(r.errors)).to.equal(undefined);
        // one page holds them all: the count is what was listed
        expect(r.data!.devices.totalCount, filter).to.equal(r.data!.devices.edges.length);
        return r.data!.devices.edges.length;
      };
      expect(await count(`{ status: REVOKED }`)).to.be.at.least(fleet.revoked.length);
      expect(await count(`{ status: SUSPENDED, manufacturer: "${fx.actors.addresses.manufacturer}" }`)).to.equal(
        fleet.suspended.length,
      );
      expect(await count(`{ segment: "plant-2/door" }`)).to.equal(60);
      expect(await count(`{ attestationKind: "firmware" }`)).to.be.at.least(fleet.attested.length);
    });

    it("expiringAttestations: unrevoked attestations in [from, before), soonest first, paged without skips or repeats", async function () {
      // three devices with attestations at distinct expiries (two in the window), one revoked, one without expiry
      const kind = encodeBytes32String("firmware");
      const base = 3_000_000_000;
      const [a, b, c] = [
        await registerTestDevice(fx.actors),
        await registerTestDevice(fx.actors),
        await registerTestDevice(fx.actors),
      ];
      const attester = fx.actors.registry.attester;
      await tx(attester.getFunction("attest")(a.id, kind, testHash("exp/a"), base + 200));
      await tx(attester.getFunction("attest")(b.id, kind, testHash("exp/b"), base + 100));
      await tx(attester.getFunction("attest")(c.id, kind, testHash("exp/c"), base + 150));
      await tx(attester.getFunction("attest")(c.id, kind, testHash("exp/c0"), 0));
      const list = async (before: number, from: number | null, first: number, after?: string) => {
        const r = await gql<{
          expiringAttestations: {
            edges: { cursor: string; node: { uid: string; deviceId: string; expiresAt: string; revoked: boolean } }[];
            pageInfo: { hasNextPage: boolean; endCursor: string | null };
          };
        }>(
          api,
          `query($before: DateTime!, $from: DateTime, $first: Int, $after: String) {
             expiringAttestations(before: $before, from: $from, first: $first, after: $after) {
               edges { cursor node { uid deviceId expiresAt revoked } } pageInfo { hasNextPage endCursor } } }`,
          {
            before: new Date(before * 1000).toISOString(),
            from: from === null ? null : new Date(from * 1000).toISOString(),
            first,
            after,
          },
        );
        expect(r.errors, JSON.stringify(r.errors)).to.equal(undefined);
        return r.data!.expiringAttestations;
      };
      const iso = (t: number) => new Date(t * 1000).toISOString();
      const window = await list(base + 200, base, 10);
      expect(window.edges.map((e) => [e.node.deviceId, e.node.expiresAt])).to.deep.equal([
        [b.id, iso(base + 100)],
        [c.id, iso(base + 150)],
      ]);
      expect(window.pageInfo.hasNextPage).to.equal(false);
      // revoked: gone from the list
      const uidB = window.edges[0]!.node.uid;
      await tx(attester.getFunction("revokeAttestation")(b.id, uidB, 4));
      expect((await list(base + 201, base, 10)).edges.map((e) => e.node.deviceId)).to.deep.equal([c.id, a.id]);

      // from now (the default) to after the fleet's 4,000,000,000 expiries: every unrevoked expiring
      // attestation of the store, paged 7 at a time, equals a brute force over every device's attestations
      const brute: [number, string][] = [];
      let after: string | null = null;
      for (;;) {
        const r: GqlResult<{
          devices: {
            edges: { node: { attestations: { uid: string; expiresAt: string | null; revoked: boolean }[] } }[];
            pageInfo: { hasNextPage: boolean; endCursor: string };
          };
        }> = await gql(
          api,
          `query($after: String) { devices(first: 500, after: $after) { edges { node { attestations { uid expiresAt revoked } } } pageInfo { hasNextPage endCursor } } }`,
          { after },
        );
        for (const e of r.data!.devices.edges)
          for (const x of e.node.attestations)
            if (!x.revoked && x.expiresAt !== null) brute.push([Date.parse(x.expiresAt) / 1000, x.uid]);
        if (!r.data!.devices.pageInfo.hasNextPage) break;
        after = r.data!.devices.pageInfo.endCursor;
      }
      brute.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : 1));
      const paged: string[] = [];
      let cursor: string | undefined;
      for (;;) {
        const p = await list(4_000_000_001, null, 7, cursor);
        paged.push(...p.edges.map((e) => e.node.uid));
        if (!p.pageInfo.hasNextPage) break;
        cursor = p.pageInfo.endCursor!;
      }
      expect(brute.length).to.be.greaterThan(20);
      expect(paged).to.deep.equal(brute.map(([, uid]) => uid));
      // the latest date-time there is asks for everything; a cursor not ours is refused by name
      expect((await list(Date.parse("9999-12-31T23:59:59Z") / 1000, null, 500)).edges.length).to.equal(brute.length);
      const bad = await gql(
        api,
        `{ expiringAttestations(before: "2100-01-01T00:00:00Z", after: "bm90LW91cnM") { edges { cursor } } }`,
      );
      expect(bad.errors?.[0]?.extensions?.code).to.equal("BAD_USER_INPUT");
      expect(bad.errors?.[0]?.message).to.match(/after/);
    });

    it("deviceTallies: every (manufacturer, status, segment) with its key algorithms, summing to the filtered counts", async function () {
      type Tally = {
        manufacturer: string;
        status: string;
        segment: string;
        devices: number;
        keyAlgorithms: { keyAlgorithm: string; devices: number }[];
      };
      const r = await gql<{ deviceTallies: { atBlock: number; tallies: Tally[] }; devices: { totalCount: number } }>(
        api,
        `{ deviceTallies { atBlock tallies { manufacturer status segment devices keyAlgorithms { keyAlgorithm devices } } }
           devices(first: 0) { totalCount } }`,
      );
      expect(r.errors, JSON.stringify(r.errors)).to.equal(undefined);
      const { tallies, atBlock } = r.data!.deviceTallies;
      expect(atBlock).to.be.greaterThan(0);
      const sum = (ts: Tally[]) => ts.reduce((n, t) => n + t.devices, 0);
      expect(sum(tallies)).to.equal(r.data!.devices.totalCount);
      for (const t of tallies) {
        expect(t.manufacturer).to.match(/^0x[0-9a-fA-F]{40}$/);
        expect(t.keyAlgorithms.reduce((n, a) => n + a.devices, 0)).to.equal(t.devices);
      }
      // each grouping equals the filtered totalCount
      const groups: [string, (t: Tally) => boolean][] = [
        ["{ status: REVOKED }", (t) => t.status === "REVOKED"],
        ["{ status: SUSPENDED }", (t) => t.status === "SUSPENDED"],
        ['{ segment: "plant-2/door" }', (t) => t.segment === "plant-2/door"],
        [
          `{ manufacturer: "${fx.actors.addresses.manufacturer2}" }`,
          (t) => t.manufacturer.toLowerCase() === fx.actors.addresses.manufacturer2.toLowerCase(),
        ],
      ];
      for (const [filter, pick] of groups) {
        const c = await gql<{ devices: { totalCount: number } }>(
          api,
          `{ devices(first: 0, filter: ${filter}) { totalCount } }`,
        );
        expect(sum(tallies.filter(pick)), filter).to.equal(c.data!.devices.totalCount);
      }
      const algorithms = new Set(tallies.flatMap((t) => t.keyAlgorithms.map((a) => a.keyAlgorithm)));
      expect(algorithms.has("SECP256K1") || algorithms.has("ED25519") || algorithms.has("P256")).to.equal(true);
    });

    it("indexerStatus reports the chain, registry, blocks, lag and digest", async () => {
      const r = await gql<{ indexerStatus: Record<string, unknown> }>(
        api,
        `{ indexerStatus { chainId registry deployBlock headBlock indexedBlock indexedBlockHash lagBlocks digest caughtUp ready maxLagBlocks reorgs rpcErrors } }`,
      );
      const head = Number(await fx.node.rpc<string>("eth_blockNumber"));
      expect(r.data!.indexerStatus).to.deep.include({
        chainId: 31337,
        registry: fx.deployment.registry,
        deployBlock: fx.deployment.deployBlock,
        indexedBlock: head,
        lagBlocks: 0,
        caughtUp: true,
        ready: true,
        maxLagBlocks: 2,
      });
      expect(r.data!.indexerStatus.digest).to.match(/^0x[0-9a-f]{64}$/);
    });
  });

  describe("roles withdrawn", () => {
    it("says MANUFACTURER_NOT_TRUSTED once the manufacturer loses its role", async () => {
      const d = await registerTestDevice(fx.actors, { by: "manufacturer2" });
      await fx.sync();
      expect((await verify(d.id)).trusted).to.equal(true);
      await tx(
        fx.actors.registry.admin.getFunction("revokeRole")(MANUFACTURER_ROLE, fx.actors.addresses.manufacturer2),
      );
      expect((await verify(d.id)).reasons).to.deep.equal(["MANUFACTURER_NOT_TRUSTED"]);
      await tx(fx.actors.registry.admin.getFunction("grantRole")(MANUFACTURER_ROLE, fx.actors.addresses.manufacturer2));
      expect((await verify(d.id)).trusted).to.equal(true);
    });

    it("states the roles a verdict needs: Device.manufacturerTrusted, Attestation.attesterTrusted, hasRoles", async () => {
      const d = await registerTestDevice(fx.actors, { by: "manufacturer2" });
      const kind = encodeBytes32String("gw-roles");
      await tx(fx.actors.registry.admin.getFunction("grantRole")(attesterRole(kind), fx.actors.addresses.attester));
      await tx(fx.actors.registry.attester.getFunction("attest")(d.id, kind, testHash("gw"), 0));
      const ROLES_Q = `query($id: Bytes32!, $checks: [RoleCheckInput!]!) {
        device(id: $id) { manufacturerTrusted attestations { kind attesterTrusted } }
        hasRoles(checks: $checks)
      }`;
      const { manufacturer2, attester } = fx.actors.addresses;
      const checks = [
        { role: MANUFACTURER_ROLE, account: manufacturer2.toLowerCase() },
        { role: attesterRole(kind), account: attester },
        { role: MANUFACTURER_ROLE, account: attester },
      ];
      const read = async () =>
        (await gql<{ device: unknown; hasRoles: boolean[] }>(api, ROLES_Q, { id: d.id, checks })).data;
      expect(await read()).to.deep.equal({
        device: { manufacturerTrusted: true, attestations: [{ kind: "gw-roles", attesterTrusted: true }] },
        hasRoles: [true, true, false],
      });
      await tx(fx.actors.registry.admin.getFunction("revokeRole")(MANUFACTURER_ROLE, manufacturer2));
      await tx(fx.actors.registry.admin.getFunction("revokeRole")(attesterRole(kind), attester));
      expect(await read()).to.deep.equal({
        device: { manufacturerTrusted: false, attestations: [{ kind: "gw-roles", attesterTrusted: false }] },
        hasRoles: [false, false, false],
      });
      await tx(fx.actors.registry.admin.getFunction("grantRole")(MANUFACTURER_ROLE, manufacturer2));
      const tooMany = await gql(api, ROLES_Q, { id: d.id, checks: new Array(1001).fill(checks[0]) });
      expect(tooMany.errors?.[0]?.message).to.equal("checks: at most 1000 checks per request, got 1001");
    });

    it("says ATTESTER_NOT_TRUSTED once the attester loses the role of that kind", async () => {
      const d = await registerTestDevice(fx.actors);
      const kind = encodeBytes32String("iec62443");
      await tx(fx.actors.registry.attester.getFunction("attest")(d.id, kind, testHash("iec"), 0));
      expect((await verify(d.id, { requiredAttestations: ["iec62443"] })).trusted).to.equal(true);
      await tx(fx.actors.registry.admin.getFunction("revokeRole")(attesterRole(kind), fx.actors.addresses.attester));
      expect((await verify(d.id, { requiredAttestations: ["iec62443"] })).reasons).to.deep.equal([
        "ATTESTER_NOT_TRUSTED",
      ]);
    });
  });

  describe("operations endpoints", () => {
    it("/healthz is 200, /readyz 200 when caught up, /metrics is Prometheus text with lag and request counts", async () => {
      expect((await api.yoga.fetch("http://api.test/healthz")).status).to.equal(200);
      const ready = await api.yoga.fetch("http://api.test/readyz");
      expect(ready.status).to.equal(200);
      expect(await ready.json()).to.deep.include({ status: "ready", lagBlocks: 0 });
      await verify(randomHash()); // one GraphQL request and one untrusted verdict, whatever ran before
      const res = await api.yoga.fetch("http://api.test/metrics");
      expect(res.headers.get("content-type")).to.equal("text/plain; version=0.0.4; charset=utf-8");
      const metrics = await res.text();
      // every name the API has exposed since the first release, with its type
      const types = Object.fromEntries([...metrics.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
      expect(types).to.deep.include({
        dtl_api_requests_total: "counter",
        dtl_api_request_duration_seconds: "histogram",
        dtl_api_graphql_errors_total: "counter",
        dtl_api_verdicts_total: "counter",
        dtl_api_sse_subscribers: "gauge",
        dtl_api_challenges: "gauge",
        dtl_index_lag_blocks: "gauge",
        dtl_index_indexed_block: "gauge",
        dtl_index_head_block: "gauge",
        dtl_index_reorgs_total: "counter",
        dtl_index_rpc_errors_total: "counter",
        dtl_index_caught_up: "gauge",
        dtl_index_stopped: "gauge",
        dtl_api_ready: "gauge",
        // prom-client's default process metrics
        process_cpu_user_seconds_total: "counter",
        process_resident_memory_bytes: "gauge",
        nodejs_eventloop_lag_seconds: "gauge",
      });
      expect(metrics).to.match(/^dtl_index_lag_blocks 0$/m);
      expect(metrics).to.match(new RegExp(`^dtl_index_indexed_block ${fx.indexer.store.status().indexedBlock}$`, "m"));
      expect(metrics).to.match(/^dtl_index_caught_up 1$/m);
      expect(metrics).to.match(/^dtl_api_ready 1$/m);
      expect(metrics).to.match(/^dtl_api_requests_total\{route="graphql",status="200"\} \d+$/m);
      // label order inside the braces carries no meaning (prom-client writes `le` first)
      expect(metrics).to.match(
        /^dtl_api_request_duration_seconds_bucket\{(?=[^}]*route="graphql")(?=[^}]*le="\+Inf")[^}]*\} [1-9]\d*$/m,
      );
      expect(metrics).to.match(/^dtl_index_reorgs_total 0$/m);
      expect(metrics).to.match(/^dtl_index_rpc_errors_total \d+$/m);
      expect(metrics).to.match(/^dtl_api_verdicts_total\{trusted="false"\} [1-9]\d*$/m);
      // each API counts in its own registry: a fresh one has seen nothing
      const fresh = apiFor(fx);
      try {
        const own = await (await fresh.yoga.fetch("http://api.test/metrics")).text();
        expect(own).to.match(/^dtl_api_verdicts_total\{trusted="false"\} 0$/m);
        expect(own).to.not.match(/^dtl_api_requests_total\{route="graphql"/m);
      } finally {
        fresh.close();
      }
    });

    it("/readyz is 503 before the indexer has caught up", async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "dtl-api-notready-"));
      const idx = await createIndexer({ rpcUrl: fx.node.url, deployment: fx.deployment, dataDir: dir });
      const fresh = createApi({ store: idx.store });
      try {
        const res = await fresh.yoga.fetch("http://api.test/readyz");
        expect(res.status).to.equal(503);
        expect(await res.json()).to.deep.include({ status: "not ready", caughtUp: false });
      } finally {
        fresh.close();
        await idx.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("API keys: 401 UNAUTHENTICATED without or with a wrong key, 200 with a right one; /healthz stays open", async () => {
      const locked = apiFor(fx, { apiKeys: ["k-one", "k-two"] });
      const q = `{ indexerStatus { chainId } }`;
      for (const headers of [{}, { authorization: "Bearer nope" }, { authorization: "Basic k-one" }] as Record<
        string,
        string
      >[]) {
        const r = await gql(locked, q, undefined, headers);
        expect(r.status).to.equal(401);
        expect(r.errors![0]!.extensions).to.deep.equal({ code: "UNAUTHENTICATED" });
      }
      expect((await gql(locked, q, undefined, { authorization: "Bearer k-two" })).data).to.deep.equal({
        indexerStatus: { chainId: 31337 },
      });
      expect((await locked.yoga.fetch("http://api.test/healthz")).status).to.equal(200);
      expect((await locked.yoga.fetch("http://api.test/metrics")).status).to.equal(401);
      locked.close();
    });
  });
});
