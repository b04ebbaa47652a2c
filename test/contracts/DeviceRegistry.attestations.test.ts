import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { AbiCoder, ZeroHash, keccak256 } from "ethers";
import {
  FAR_EXPIRY,
  KIND_FIRMWARE,
  KIND_IEC62443,
  deployPopulatedFixture,
  encodedError,
  expectedHead,
  registration,
  testHash,
} from "../helpers/contracts-fixture";

const fixture = () => deployPopulatedFixture();
type Fixture = Awaited<ReturnType<typeof fixture>>;
const EVIDENCE = testHash("evidence/scan-1");

/** uid = keccak256(abi.encode(deviceId, kind, attester, eventCount before the event)). */
function uidOf(deviceId: string, kind: string, attester: string, eventCount: bigint): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["bytes32", "bytes32", "address", "uint32"],
      [deviceId, kind, attester, eventCount],
    ),
  );
}

describe("DeviceRegistry attestations", function () {
  describe("attest", function () {
    for (const expiresAt of [FAR_EXPIRY, 0]) {
      it(`records the attestation (expiresAt ${expiresAt}) and returns its uid`, async function () {
        const { registry, attester, active } = await loadFixture(fixture);
        const { eventCount } = await registry.historyHead(active.deviceId);
        const uid = uidOf(active.deviceId, KIND_FIRMWARE, attester.address, eventCount);
        expect(
          await registry.connect(attester).attest.staticCall(active.deviceId, KIND_FIRMWARE, EVIDENCE, expiresAt),
        ).to.equal(uid);
        const head = await expectedHead(registry, active.deviceId, "Attested", {
          uid,
          kind: KIND_FIRMWARE,
          attester: attester.address,
          evidenceHash: EVIDENCE,
          expiresAt,
        });
        await expect(registry.connect(attester).attest(active.deviceId, KIND_FIRMWARE, EVIDENCE, expiresAt))
          .to.emit(registry, "Attested")
          .withArgs(active.deviceId, uid, KIND_FIRMWARE, attester.address, EVIDENCE, expiresAt, head);
        const a = await registry.getAttestation(active.deviceId, uid);
        expect([a.attester, a.issuedAt, a.expiresAt, a.revoked]).to.deep.equal([
          attester.address,
          BigInt(await time.latest()),
          BigInt(expiresAt),
          false,
        ]);
        expect(await registry.historyHead(active.deviceId)).to.deep.equal([head, eventCount + 1n]);
      });
    }

    it("attests a suspended device", async function () {
      const { registry, attester, suspended } = await loadFixture(fixture);
      await expect(registry.connect(attester).attest(suspended.deviceId, KIND_FIRMWARE, EVIDENCE, 0)).to.emit(
        registry,
        "Attested",
      );
    });

    it("gives two attestations of the same device and kind distinct uids", async function () {
      const { registry, attester, active } = await loadFixture(fixture);
      const first = await registry.connect(attester).attest.staticCall(active.deviceId, KIND_FIRMWARE, EVIDENCE, 0);
      await registry.connect(attester).attest(active.deviceId, KIND_FIRMWARE, EVIDENCE, 0);
      const second = await registry.connect(attester).attest.staticCall(active.deviceId, KIND_FIRMWARE, EVIDENCE, 0);
      expect(second).not.to.equal(first);
    });

    it("reverts when the kind is zero", async function () {
      const { registry, attester, active } = await loadFixture(fixture);
      await expect(
        registry.connect(attester).attest(active.deviceId, ZeroHash, EVIDENCE, 0),
      ).to.be.revertedWithCustomError(registry, "DeviceRegistryZeroKind");
    });

    it("reverts when the caller attests another kind than its own", async function () {
      const { registry, attester, active, roles } = await loadFixture(fixture);
      await expect(registry.connect(attester).attest(active.deviceId, KIND_IEC62443, EVIDENCE, 0))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(attester.address, roles.iec62443);
    });

    for (const [label, delta] of [
      ["now", 0],
      ["in the past", -1],
    ] as const) {
      it(`reverts when the expiry is ${label}`, async function () {
        const { registry, attester, active } = await loadFixture(fixture);
        const next = (await time.latest()) + 10;
        await time.setNextBlockTimestamp(next);
        await expect(registry.connect(attester).attest(active.deviceId, KIND_FIRMWARE, EVIDENCE, next + delta))
          .to.be.revertedWithCustomError(registry, "DeviceRegistryExpiryInPast")
          .withArgs(next + delta, next);
      });
    }

    it("reverts when the device is unknown", async function () {
      const { registry, attester } = await loadFixture(fixture);
      const id = registration("nope").deviceId;
      await expect(registry.connect(attester).attest(id, KIND_FIRMWARE, EVIDENCE, 0))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownDevice")
        .withArgs(id);
    });

    it("reverts when the device is revoked", async function () {
      const { registry, attester, revoked } = await loadFixture(fixture);
      await expect(registry.connect(attester).attest(revoked.deviceId, KIND_FIRMWARE, EVIDENCE, 0))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceRevoked")
        .withArgs(revoked.deviceId);
    });
  });

  describe("attestDevices", function () {
    it("records every attestation, returning the uids in order", async function () {
      const { registry, attester, active, suspended, other } = await loadFixture(fixture);
      const requests = [active, suspended, other].map((r, i) => ({
        deviceId: r.deviceId,
        kind: KIND_FIRMWARE,
        evidenceHash: testHash(`ev/${i}`),
        expiresAt: i === 1 ? 0 : FAR_EXPIRY,
      }));
      // the same device twice: the second item sees the first one's event count
      requests.push({ ...requests[0]!, evidenceHash: testHash("ev/again") });
      const counts = await Promise.all(requests.slice(0, 3).map((q) => registry.historyHead(q.deviceId)));
      const uids = [
        ...requests
          .slice(0, 3)
          .map((q, i) => uidOf(q.deviceId, KIND_FIRMWARE, attester.address, counts[i]!.eventCount)),
        uidOf(active.deviceId, KIND_FIRMWARE, attester.address, counts[0]!.eventCount + 1n),
      ];
      expect(await registry.connect(attester).attestDevices.staticCall(requests)).to.deep.equal(uids);
      const tx = registry.connect(attester).attestDevices(requests);
      for (const [i, q] of requests.entries()) {
        await expect(tx)
          .to.emit(registry, "Attested")
          .withArgs(
            q.deviceId,
            uids[i],
            KIND_FIRMWARE,
            attester.address,
            q.evidenceHash,
            q.expiresAt,
            (h: string) => h !== ZeroHash,
          );
      }
      await tx;
      for (const [i, q] of requests.entries())
        expect((await registry.getAttestation(q.deviceId, uids[i]!)).attester).to.equal(attester.address);
      expect((await registry.historyHead(active.deviceId)).eventCount).to.equal(counts[0]!.eventCount + 2n);
    });

    it("reverts when the batch is empty", async function () {
      const { registry, attester } = await loadFixture(fixture);
      await expect(registry.connect(attester).attestDevices([])).to.be.revertedWithCustomError(
        registry,
        "DeviceRegistryEmptyBatch",
      );
    });

    const failing: [
      string,
      (
        f: Fixture,
        now: number,
      ) => { kind: string; deviceId: string; expiresAt: number; error: string; args: unknown[] },
    ][] = [
      [
        "the kind is zero",
        (f) => ({
          kind: ZeroHash,
          deviceId: f.other.deviceId,
          expiresAt: 0,
          error: "DeviceRegistryZeroKind",
          args: [],
        }),
      ],
      [
        "the caller lacks the kind's attester role",
        (f) => ({
          kind: KIND_IEC62443,
          deviceId: f.other.deviceId,
          expiresAt: 0,
          error: "AccessControlUnauthorizedAccount",
          args: [f.attester.address, f.roles.iec62443],
        }),
      ],
      [
        "the expiry is in the past",
        (f, now) => ({
          kind: KIND_FIRMWARE,
          deviceId: f.other.deviceId,
          expiresAt: now - 5,
          error: "DeviceRegistryExpiryInPast",
          args: [now - 5, now],
        }),
      ],
      [
        "the device is unknown",
        () => {
          const id = registration("nope").deviceId;
          return { kind: KIND_FIRMWARE, deviceId: id, expiresAt: 0, error: "DeviceRegistryUnknownDevice", args: [id] };
        },
      ],
      [
        "the device is revoked",
        (f) => ({
          kind: KIND_FIRMWARE,
          deviceId: f.revoked.deviceId,
          expiresAt: 0,
          error: "DeviceRegistryDeviceRevoked",
          args: [f.revoked.deviceId],
        }),
      ],
    ];
    for (const [what, make] of failing) {
      it(`reverts naming the index when ${what}, writing nothing`, async function () {
        const f = await loadFixture(fixture);
        const now = (await time.latest()) + 10;
        await time.setNextBlockTimestamp(now);
        const bad = make(f, now);
        const good = { deviceId: f.active.deviceId, kind: KIND_FIRMWARE, evidenceHash: EVIDENCE, expiresAt: 0 };
        const before = await f.registry.historyHead(f.active.deviceId);
        const goodUid = uidOf(f.active.deviceId, KIND_FIRMWARE, f.attester.address, before.eventCount);
        await expect(f.registry.connect(f.attester).attestDevices([good, { ...bad, evidenceHash: EVIDENCE }]))
          .to.be.revertedWithCustomError(f.registry, "DeviceRegistryBatchItemFailed")
          .withArgs(1, encodedError(bad.error, bad.args));
        expect(await f.registry.historyHead(f.active.deviceId)).to.deep.equal(before);
        expect((await f.registry.getAttestation(f.active.deviceId, goodUid)).attester).to.equal(
          "0x0000000000000000000000000000000000000000",
        );
      });
    }
  });

  describe("revokeAttestation", function () {
    for (const who of ["attester", "officer"] as const) {
      it(`revokes the attestation (${who})`, async function () {
        const f = await loadFixture(fixture);
        const by = f[who];
        const head = await expectedHead(f.registry, f.active.deviceId, "AttestationRevoked", {
          uid: f.uid,
          by: by.address,
          reason: 4,
        });
        await expect(f.registry.connect(by).revokeAttestation(f.active.deviceId, f.uid, 4))
          .to.emit(f.registry, "AttestationRevoked")
          .withArgs(f.active.deviceId, f.uid, by.address, 4, head);
        const a = await f.registry.getAttestation(f.active.deviceId, f.uid);
        expect([a.attester, a.revoked]).to.deep.equal([f.attester.address, true]);
        expect((await f.registry.historyHead(f.active.deviceId)).head).to.equal(head);
      });
    }

    it("lets an attester withdraw its attestation after losing its role", async function () {
      const { registry, admin, attester, active, uid, roles } = await loadFixture(fixture);
      await registry.connect(admin).revokeRole(roles.firmware, attester.address);
      await expect(registry.connect(attester).revokeAttestation(active.deviceId, uid, 6)).to.emit(
        registry,
        "AttestationRevoked",
      );
    });

    it("revokes an attestation of a suspended device", async function () {
      const { registry, attester, suspended } = await loadFixture(fixture);
      const uid = await registry.connect(attester).attest.staticCall(suspended.deviceId, KIND_FIRMWARE, EVIDENCE, 0);
      await registry.connect(attester).attest(suspended.deviceId, KIND_FIRMWARE, EVIDENCE, 0);
      await expect(registry.connect(attester).revokeAttestation(suspended.deviceId, uid, 0)).to.emit(
        registry,
        "AttestationRevoked",
      );
    });

    it("reverts when the reason is unknown", async function () {
      const { registry, attester, active, uid } = await loadFixture(fixture);
      await expect(registry.connect(attester).revokeAttestation(active.deviceId, uid, 9))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownReason")
        .withArgs(9);
    });

    it("reverts when the uid is unknown", async function () {
      const { registry, attester, active } = await loadFixture(fixture);
      const uid = testHash("no such attestation");
      await expect(registry.connect(attester).revokeAttestation(active.deviceId, uid, 0))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownAttestation")
        .withArgs(active.deviceId, uid);
    });

    it("reverts when the uid belongs to another device", async function () {
      const { registry, officer, other, uid } = await loadFixture(fixture);
      await expect(registry.connect(officer).revokeAttestation(other.deviceId, uid, 0))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownAttestation")
        .withArgs(other.deviceId, uid);
    });

    it("reverts when the attestation is revoked already", async function () {
      const { registry, attester, officer, active, uid } = await loadFixture(fixture);
      await registry.connect(attester).revokeAttestation(active.deviceId, uid, 0);
      await expect(registry.connect(officer).revokeAttestation(active.deviceId, uid, 0))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryAttestationAlreadyRevoked")
        .withArgs(uid);
    });

    it("reverts when the caller is another attester of the same kind", async function () {
      const { registry, admin, stranger, active, uid, roles } = await loadFixture(fixture);
      await registry.connect(admin).grantRole(roles.firmware, stranger.address);
      await expect(registry.connect(stranger).revokeAttestation(active.deviceId, uid, 0))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryNotAttestationManager")
        .withArgs(uid, stranger.address);
    });

    it("reverts when the device is revoked", async function () {
      const { registry, attester, officer, active, uid } = await loadFixture(fixture);
      await registry.connect(officer).revokeDevice(active.deviceId, 1);
      await expect(registry.connect(attester).revokeAttestation(active.deviceId, uid, 0))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceRevoked")
        .withArgs(active.deviceId);
    });
  });
});
