import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { AbiCoder, ZeroHash } from "ethers";
import { MANUFACTURER_ROLE } from "../../common/roles";
import {
  STATUS,
  deployRegistryFixture,
  encodedError,
  expectRegisteredRecord,
  expectedHead,
  historyOf,
  register,
  registration,
  type Registration,
} from "../helpers/contracts-fixture";
import { computeHistoryHead } from "../../common/history";

async function fixture() {
  const f = await deployRegistryFixture();
  const existing = registration("existing");
  await register(f.registry, f.manufacturer2, existing);
  return { ...f, existing };
}

const args = (r: Registration) => [r.deviceId, r.keyAlgorithm, r.keyHash, r.firmwareHash, r.segment] as const;

describe("DeviceRegistry registration", function () {
  describe("registerDevice", function () {
    it("registers the device, the caller becoming its manufacturer", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      const r = registration("one");
      const head = await expectedHead(registry, r.deviceId, "DeviceRegistered", {
        manufacturer: manufacturer.address,
        keyAlgorithm: r.keyAlgorithm,
        keyHash: r.keyHash,
        firmwareHash: r.firmwareHash,
        segment: r.segment,
      });
      await expect(registry.connect(manufacturer).registerDevice(...args(r)))
        .to.emit(registry, "DeviceRegistered")
        .withArgs(r.deviceId, manufacturer.address, r.keyAlgorithm, r.keyHash, r.firmwareHash, r.segment, head);
      await expectRegisteredRecord(registry, r, manufacturer.address, await time.latest(), head);
    });

    for (const alg of [1, 2, 3]) {
      it(`accepts key algorithm ${alg}`, async function () {
        const { registry, manufacturer } = await loadFixture(fixture);
        const r = registration(`alg-${alg}`, { keyAlgorithm: alg });
        await expect(registry.connect(manufacturer).registerDevice(...args(r))).to.emit(registry, "DeviceRegistered");
        expect((await registry.getDevice(r.deviceId)).keyAlgorithm).to.equal(BigInt(alg));
      });
    }

    it("accepts a zero firmware hash and a zero segment (both optional)", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      const r = registration("bare", { firmwareHash: ZeroHash, segment: ZeroHash });
      await expect(registry.connect(manufacturer).registerDevice(...args(r))).to.emit(registry, "DeviceRegistered");
    });

    it("reverts when the caller lacks MANUFACTURER_ROLE", async function () {
      const { registry, stranger } = await loadFixture(fixture);
      await expect(registry.connect(stranger).registerDevice(...args(registration("x"))))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, MANUFACTURER_ROLE);
    });

    it("reverts when the device id is zero", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      await expect(
        registry.connect(manufacturer).registerDevice(...args(registration("x", { deviceId: ZeroHash }))),
      ).to.be.revertedWithCustomError(registry, "DeviceRegistryZeroDeviceId");
    });

    for (const alg of [0, 7, 255]) {
      it(`reverts when the key algorithm is ${alg}`, async function () {
        const { registry, manufacturer } = await loadFixture(fixture);
        await expect(registry.connect(manufacturer).registerDevice(...args(registration("x", { keyAlgorithm: alg }))))
          .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownKeyAlgorithm")
          .withArgs(alg);
      });
    }

    it("reverts when the key hash is zero", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      const r = registration("x", { keyHash: ZeroHash });
      await expect(registry.connect(manufacturer).registerDevice(...args(r)))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryZeroKeyHash")
        .withArgs(r.deviceId);
    });

    it("reverts when the device is registered already (by any manufacturer)", async function () {
      const { registry, manufacturer, existing } = await loadFixture(fixture);
      await expect(registry.connect(manufacturer).registerDevice(...args(existing)))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceAlreadyRegistered")
        .withArgs(existing.deviceId);
    });

    it("reverts when the device was registered and revoked (revocation is terminal)", async function () {
      const { registry, manufacturer2, existing } = await loadFixture(fixture);
      await registry.connect(manufacturer2).revokeDevice(existing.deviceId, 5);
      await expect(registry.connect(manufacturer2).registerDevice(...args(existing)))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceAlreadyRegistered")
        .withArgs(existing.deviceId);
    });
  });

  describe("registerDevices", function () {
    it("registers every device in order, each with its own event and head", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      const batch = [1, 2, 3].map((i) => registration(`batch-${i}`, { keyAlgorithm: i }));
      const tx = registry.connect(manufacturer).registerDevices(batch);
      for (const r of batch) {
        const head = computeHistoryHead([
          { name: "DeviceRegistered", fields: { ...r, manufacturer: manufacturer.address } },
        ]);
        await expect(tx)
          .to.emit(registry, "DeviceRegistered")
          .withArgs(r.deviceId, manufacturer.address, r.keyAlgorithm, r.keyHash, r.firmwareHash, r.segment, head);
      }
      const receipt = await (await tx).wait();
      expect(receipt!.logs.map((l) => l.topics[1])).to.deep.equal(batch.map((r) => r.deviceId));
      for (const r of batch) {
        const d = await registry.getDevice(r.deviceId);
        expect([d.manufacturer, d.status, d.keyAlgorithm, d.eventCount]).to.deep.equal([
          manufacturer.address,
          BigInt(STATUS.Active),
          BigInt(r.keyAlgorithm),
          1n,
        ]);
        expect((await registry.historyHead(r.deviceId)).head).to.equal(
          computeHistoryHead(await historyOf(registry, r.deviceId)),
        );
      }
    });

    it("registers a batch of 100 within the per-transaction gas cap", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      const batch = Array.from({ length: 100 }, (_, i) => registration(`hundred-${i}`));
      await expect(registry.connect(manufacturer).registerDevices(batch, { gasLimit: 16_000_000 })).not.to.be.reverted;
      expect(await registry.isActive(batch[99]!.deviceId)).to.equal(true);
    });

    it("reverts when the batch is empty", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      await expect(registry.connect(manufacturer).registerDevices([])).to.be.revertedWithCustomError(
        registry,
        "DeviceRegistryEmptyBatch",
      );
    });

    it("reverts when the caller lacks MANUFACTURER_ROLE (before looking at the items)", async function () {
      const { registry, officer } = await loadFixture(fixture);
      await expect(registry.connect(officer).registerDevices([]))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(officer.address, MANUFACTURER_ROLE);
    });

    const failing: [
      string,
      (f: Awaited<ReturnType<typeof fixture>>) => { item: Registration; error: string; args: unknown[] },
    ][] = [
      [
        "the device id is zero",
        () => ({ item: registration("z", { deviceId: ZeroHash }), error: "DeviceRegistryZeroDeviceId", args: [] }),
      ],
      [
        "the key algorithm is unknown",
        () => ({ item: registration("a", { keyAlgorithm: 9 }), error: "DeviceRegistryUnknownKeyAlgorithm", args: [9] }),
      ],
      [
        "the key hash is zero",
        () => {
          const item = registration("k", { keyHash: ZeroHash });
          return { item, error: "DeviceRegistryZeroKeyHash", args: [item.deviceId] };
        },
      ],
      [
        "the device is registered already",
        (f) => ({ item: f.existing, error: "DeviceRegistryDeviceAlreadyRegistered", args: [f.existing.deviceId] }),
      ],
    ];
    for (const [what, make] of failing) {
      it(`reverts naming the index when ${what}, writing nothing`, async function () {
        const f = await loadFixture(fixture);
        const { item, error, args: errorArgs } = make(f);
        const good = [registration("good-0"), registration("good-1")];
        await expect(f.registry.connect(f.manufacturer).registerDevices([...good, item, registration("good-3")]))
          .to.be.revertedWithCustomError(f.registry, "DeviceRegistryBatchItemFailed")
          .withArgs(2, encodedError(error, errorArgs));
        for (const r of good) {
          expect((await f.registry.getDevice(r.deviceId)).status).to.equal(BigInt(STATUS.None));
          expect(await f.registry.historyHead(r.deviceId)).to.deep.equal([ZeroHash, 0n]);
        }
      });
    }

    it("reverts without data when an item's key algorithm does not fit uint8 (as ABI decoding does)", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      const r = registration("wide");
      const coder = AbiCoder.defaultAbiCoder();
      const item = "(bytes32,uint256,bytes32,bytes32,bytes32)";
      const wide = [r.deviceId, 256n, r.keyHash, r.firmwareHash, r.segment];
      const batch =
        registry.interface.getFunction("registerDevices").selector + coder.encode([`${item}[]`], [[wide]]).slice(2);
      const single =
        registry.interface.getFunction("registerDevice").selector +
        coder.encode(["bytes32", "uint256", "bytes32", "bytes32", "bytes32"], wide).slice(2);
      const to = await registry.getAddress();
      await expect(manufacturer.sendTransaction({ to, data: batch })).to.be.revertedWithoutReason();
      await expect(manufacturer.sendTransaction({ to, data: single })).to.be.revertedWithoutReason();
      expect((await registry.getDevice(r.deviceId)).status).to.equal(BigInt(STATUS.None));
    });

    it("reverts when the same device appears twice in the batch, naming the second", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      const r = registration("twice");
      await expect(registry.connect(manufacturer).registerDevices([r, registration("between"), r]))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryBatchItemFailed")
        .withArgs(2, encodedError("DeviceRegistryDeviceAlreadyRegistered", [r.deviceId]));
      expect((await registry.getDevice(r.deviceId)).status).to.equal(BigInt(STATUS.None));
    });
  });
});
