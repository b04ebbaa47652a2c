import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { ZeroAddress, ZeroHash, encodeBytes32String } from "ethers";
import { DEFAULT_ADMIN_ROLE, MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole } from "../../common/roles";
import { ADMIN_DELAY, deployPopulatedFixture, testHash } from "../helpers/contracts-fixture";

const fixture = () => deployPopulatedFixture();

describe("DeviceRegistry administration and views", function () {
  describe("role ids", function () {
    it("match common/roles.ts", async function () {
      const { registry } = await loadFixture(fixture);
      expect(await registry.MANUFACTURER_ROLE()).to.equal(MANUFACTURER_ROLE);
      expect(await registry.SECURITY_OFFICER_ROLE()).to.equal(SECURITY_OFFICER_ROLE);
      for (const kind of ["firmware", "iec62443", "x"]) {
        const k = encodeBytes32String(kind);
        expect(await registry.attesterRole(k)).to.equal(attesterRole(k));
      }
    });
  });

  describe("grantRole / revokeRole", function () {
    it("grants and revokes per-kind attester roles", async function () {
      const { registry, admin, stranger } = await loadFixture(fixture);
      const role = attesterRole(encodeBytes32String("pentest"));
      await expect(registry.connect(admin).grantRole(role, stranger.address))
        .to.emit(registry, "RoleGranted")
        .withArgs(role, stranger.address, admin.address);
      expect(await registry.hasRole(role, stranger.address)).to.equal(true);
      await expect(registry.connect(admin).revokeRole(role, stranger.address))
        .to.emit(registry, "RoleRevoked")
        .withArgs(role, stranger.address, admin.address);
      expect(await registry.hasRole(role, stranger.address)).to.equal(false);
    });

    it("reverts when the admin role is granted directly (two-step transfer only)", async function () {
      const { registry, admin, stranger } = await loadFixture(fixture);
      await expect(
        registry.connect(admin).grantRole(DEFAULT_ADMIN_ROLE, stranger.address),
      ).to.be.revertedWithCustomError(registry, "AccessControlEnforcedDefaultAdminRules");
    });

    it("reverts when renouncing another account's role", async function () {
      const { registry, manufacturer, manufacturer2 } = await loadFixture(fixture);
      await expect(
        registry.connect(manufacturer).renounceRole(MANUFACTURER_ROLE, manufacturer2.address),
      ).to.be.revertedWithCustomError(registry, "AccessControlBadConfirmation");
    });

    it("lets a holder renounce its own role", async function () {
      const { registry, officer } = await loadFixture(fixture);
      await expect(registry.connect(officer).renounceRole(SECURITY_OFFICER_ROLE, officer.address))
        .to.emit(registry, "RoleRevoked")
        .withArgs(SECURITY_OFFICER_ROLE, officer.address, officer.address);
    });
  });

  describe("two-step admin transfer with delay", function () {
    it("is begun, refused before the delay and accepted after it", async function () {
      const { registry, admin, stranger } = await loadFixture(fixture);
      expect(await registry.defaultAdminDelay()).to.equal(BigInt(ADMIN_DELAY));
      const tx = await registry.connect(admin).beginDefaultAdminTransfer(stranger.address);
      const schedule = (await time.latest()) + ADMIN_DELAY;
      await expect(tx).to.emit(registry, "DefaultAdminTransferScheduled").withArgs(stranger.address, schedule);
      expect(await registry.pendingDefaultAdmin()).to.deep.equal([stranger.address, BigInt(schedule)]);

      await expect(registry.connect(stranger).acceptDefaultAdminTransfer())
        .to.be.revertedWithCustomError(registry, "AccessControlEnforcedDefaultAdminDelay")
        .withArgs(schedule);

      await time.increaseTo(schedule + 1);
      await expect(registry.connect(admin).acceptDefaultAdminTransfer())
        .to.be.revertedWithCustomError(registry, "AccessControlInvalidDefaultAdmin")
        .withArgs(admin.address);
      await expect(registry.connect(stranger).acceptDefaultAdminTransfer())
        .to.emit(registry, "RoleGranted")
        .withArgs(DEFAULT_ADMIN_ROLE, stranger.address, stranger.address);
      expect(await registry.defaultAdmin()).to.equal(stranger.address);
      expect(await registry.hasRole(DEFAULT_ADMIN_ROLE, admin.address)).to.equal(false);
      await expect(registry.connect(admin).grantRole(MANUFACTURER_ROLE, admin.address))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(admin.address, DEFAULT_ADMIN_ROLE);
    });

    it("can be cancelled by the admin", async function () {
      const { registry, admin, stranger } = await loadFixture(fixture);
      await registry.connect(admin).beginDefaultAdminTransfer(stranger.address);
      await expect(registry.connect(admin).cancelDefaultAdminTransfer()).to.emit(
        registry,
        "DefaultAdminTransferCanceled",
      );
      expect(await registry.pendingDefaultAdmin()).to.deep.equal([ZeroAddress, 0n]);
    });

    it("reverts when the admin renounces without a scheduled, elapsed transfer", async function () {
      const { registry, admin } = await loadFixture(fixture);
      await expect(registry.connect(admin).renounceRole(DEFAULT_ADMIN_ROLE, admin.address))
        .to.be.revertedWithCustomError(registry, "AccessControlEnforcedDefaultAdminDelay")
        .withArgs(0);
    });
  });

  describe("views of unknown ids", function () {
    it("return zero values", async function () {
      const { registry, active } = await loadFixture(fixture);
      const id = testHash("unknown");
      const d = await registry.getDevice(id);
      expect([d.manufacturer, d.status, d.keyAlgorithm, d.registeredAt, d.eventCount]).to.deep.equal([
        ZeroAddress,
        0n,
        0n,
        0n,
        0n,
      ]);
      const a = await registry.getAttestation(active.deviceId, ZeroHash);
      expect([a.attester, a.issuedAt, a.expiresAt, a.revoked]).to.deep.equal([ZeroAddress, 0n, 0n, false]);
      expect(await registry.historyHead(id)).to.deep.equal([ZeroHash, 0n]);
      expect(await registry.isActive(id)).to.equal(false);
    });
  });

  describe("supportsInterface", function () {
    it("reports IAccessControl and ERC-165", async function () {
      const { registry } = await loadFixture(fixture);
      expect(await registry.supportsInterface("0x7965db0b")).to.equal(true); // IAccessControl
      expect(await registry.supportsInterface("0x01ffc9a7")).to.equal(true); // IERC165
      expect(await registry.supportsInterface("0xffffffff")).to.equal(false);
    });
  });
});
