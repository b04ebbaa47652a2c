import { expect } from "chai";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { ZeroHash } from "ethers";
import { MANUFACTURER_ROLE } from "../../common/roles";
import { deployPopulatedFixture, expectedHead, registration, testHash } from "../helpers/contracts-fixture";

const fixture = () => deployPopulatedFixture();
const FW = testHash("firmware/v2");
const KEY = testHash("key/v2");

describe("DeviceRegistry maintenance by the manufacturer", function () {
  describe("updateFirmware", function () {
    it("records the new firmware and advances the head", async function () {
      const { registry, manufacturer, active } = await loadFixture(fixture);
      const head = await expectedHead(registry, active.deviceId, "FirmwareUpdated", {
        by: manufacturer.address,
        firmwareHash: FW,
      });
      const before = await registry.getDevice(active.deviceId);
      await expect(registry.connect(manufacturer).updateFirmware(active.deviceId, FW))
        .to.emit(registry, "FirmwareUpdated")
        .withArgs(active.deviceId, manufacturer.address, FW, head);
      const after = await registry.getDevice(active.deviceId);
      expect(after.eventCount).to.equal(before.eventCount + 1n);
      expect([after.manufacturer, after.status, after.keyAlgorithm, after.registeredAt]).to.deep.equal([
        before.manufacturer,
        before.status,
        before.keyAlgorithm,
        before.registeredAt,
      ]);
      expect(await registry.historyHead(active.deviceId)).to.deep.equal([head, after.eventCount]);
    });

    it("updates a suspended device (suspension does not freeze maintenance)", async function () {
      const { registry, manufacturer, suspended } = await loadFixture(fixture);
      await expect(registry.connect(manufacturer).updateFirmware(suspended.deviceId, FW)).to.emit(
        registry,
        "FirmwareUpdated",
      );
    });

    it("reverts when the device is unknown", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      const id = registration("nope").deviceId;
      await expect(registry.connect(manufacturer).updateFirmware(id, FW))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownDevice")
        .withArgs(id);
    });

    it("reverts when the device is revoked", async function () {
      const { registry, manufacturer, revoked } = await loadFixture(fixture);
      await expect(registry.connect(manufacturer).updateFirmware(revoked.deviceId, FW))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceRevoked")
        .withArgs(revoked.deviceId);
    });

    it("reverts when the caller is another manufacturer", async function () {
      const { registry, manufacturer2, active } = await loadFixture(fixture);
      await expect(registry.connect(manufacturer2).updateFirmware(active.deviceId, FW))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryNotDeviceManufacturer")
        .withArgs(active.deviceId, manufacturer2.address);
    });

    it("reverts when the manufacturer lost its role", async function () {
      const { registry, admin, manufacturer, active } = await loadFixture(fixture);
      await registry.connect(admin).revokeRole(MANUFACTURER_ROLE, manufacturer.address);
      await expect(registry.connect(manufacturer).updateFirmware(active.deviceId, FW))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryNotDeviceManufacturer")
        .withArgs(active.deviceId, manufacturer.address);
    });
  });

  describe("rotateKey", function () {
    it("replaces the key, stores the new algorithm and advances the head", async function () {
      const { registry, manufacturer, active } = await loadFixture(fixture);
      const head = await expectedHead(registry, active.deviceId, "KeyRotated", {
        by: manufacturer.address,
        keyAlgorithm: 3,
        keyHash: KEY,
      });
      await expect(registry.connect(manufacturer).rotateKey(active.deviceId, 3, KEY))
        .to.emit(registry, "KeyRotated")
        .withArgs(active.deviceId, manufacturer.address, 3, KEY, head);
      const d = await registry.getDevice(active.deviceId);
      expect(d.keyAlgorithm).to.equal(3n);
      expect(await registry.historyHead(active.deviceId)).to.deep.equal([head, d.eventCount]);
    });

    for (const alg of [0, 7]) {
      it(`reverts when the key algorithm is ${alg} (checked before the device)`, async function () {
        const { registry, stranger } = await loadFixture(fixture);
        await expect(registry.connect(stranger).rotateKey(registration("nope").deviceId, alg, KEY))
          .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownKeyAlgorithm")
          .withArgs(alg);
      });
    }

    it("reverts when the key hash is zero", async function () {
      const { registry, manufacturer, active } = await loadFixture(fixture);
      await expect(registry.connect(manufacturer).rotateKey(active.deviceId, 1, ZeroHash))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryZeroKeyHash")
        .withArgs(active.deviceId);
    });

    it("reverts when the device is unknown", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      const id = registration("nope").deviceId;
      await expect(registry.connect(manufacturer).rotateKey(id, 1, KEY))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownDevice")
        .withArgs(id);
    });

    it("reverts when the device is revoked", async function () {
      const { registry, manufacturer, revoked } = await loadFixture(fixture);
      await expect(registry.connect(manufacturer).rotateKey(revoked.deviceId, 1, KEY))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceRevoked")
        .withArgs(revoked.deviceId);
    });

    it("reverts when the caller is a security officer (key rotation is the manufacturer's)", async function () {
      const { registry, officer, active } = await loadFixture(fixture);
      await expect(registry.connect(officer).rotateKey(active.deviceId, 1, KEY))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryNotDeviceManufacturer")
        .withArgs(active.deviceId, officer.address);
    });
  });
});
