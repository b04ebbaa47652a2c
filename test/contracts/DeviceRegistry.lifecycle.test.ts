import { expect } from "chai";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE } from "../../common/roles";
import {
  STATUS,
  deployPopulatedFixture,
  encodedError,
  expectedHead,
  historyOf,
  register,
  registration,
} from "../helpers/contracts-fixture";
import { computeHistoryHead } from "../../common/history";

const fixture = () => deployPopulatedFixture();
type Fixture = Awaited<ReturnType<typeof fixture>>;

/** Suspend, reinstate and revoke share their refusals: each row is one function. */
const MANAGED = [
  {
    fn: "suspendDevice",
    target: (f: Fixture) => f.active,
    send: (f: Fixture, id: string) => f.registry.suspendDevice(id, 1),
  },
  {
    fn: "reinstateDevice",
    target: (f: Fixture) => f.suspended,
    send: (f: Fixture, id: string) => f.registry.reinstateDevice(id),
  },
  {
    fn: "revokeDevice",
    target: (f: Fixture) => f.active,
    send: (f: Fixture, id: string) => f.registry.revokeDevice(id, 1),
  },
] as const;

describe("DeviceRegistry lifecycle (suspend, reinstate, revoke)", function () {
  describe("suspendDevice", function () {
    for (const who of ["manufacturer", "officer"] as const) {
      it(`suspends an active device (${who})`, async function () {
        const f = await loadFixture(fixture);
        const by = f[who];
        const head = await expectedHead(f.registry, f.active.deviceId, "DeviceSuspended", {
          by: by.address,
          reason: 8,
        });
        await expect(f.registry.connect(by).suspendDevice(f.active.deviceId, 8))
          .to.emit(f.registry, "DeviceSuspended")
          .withArgs(f.active.deviceId, by.address, 8, head);
        expect((await f.registry.getDevice(f.active.deviceId)).status).to.equal(BigInt(STATUS.Suspended));
        expect(await f.registry.isActive(f.active.deviceId)).to.equal(false);
        expect((await f.registry.historyHead(f.active.deviceId)).head).to.equal(head);
      });
    }

    it("reverts when the reason is unknown", async function () {
      const { registry, officer, active } = await loadFixture(fixture);
      await expect(registry.connect(officer).suspendDevice(active.deviceId, 9))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownReason")
        .withArgs(9);
    });

    it("reverts when the device is suspended already", async function () {
      const { registry, officer, suspended } = await loadFixture(fixture);
      await expect(registry.connect(officer).suspendDevice(suspended.deviceId, 1))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceNotActive")
        .withArgs(suspended.deviceId, STATUS.Suspended);
    });
  });

  describe("reinstateDevice", function () {
    /** Suspends `f.active` as `suspender`, then reinstates it as `by`: the call's promise. */
    async function suspendThenReinstate(f: Fixture, suspender: Fixture["officer"], by: Fixture["officer"]) {
      await f.registry.connect(suspender).suspendDevice(f.active.deviceId, 8);
      return f.registry.connect(by).reinstateDevice(f.active.deviceId);
    }
    /** Grants the officer role to `f.manufacturer` too. */
    const makeManufacturerAnOfficer = (f: Fixture) =>
      f.registry.connect(f.admin).grantRole(SECURITY_OFFICER_ROLE, f.manufacturer.address);

    for (const [label, suspender, by] of [
      ["an officer's suspension (officer)", "officer", "officer"],
      ["the manufacturer's own suspension (manufacturer)", "manufacturer", "manufacturer"],
      ["the manufacturer's own suspension (officer: an officer lifts any suspension)", "manufacturer", "officer"],
    ] as const) {
      it(`lifts ${label}`, async function () {
        const f = await loadFixture(fixture);
        await f.registry.connect(f[suspender]).suspendDevice(f.active.deviceId, 8);
        const head = await expectedHead(f.registry, f.active.deviceId, "DeviceReinstated", { by: f[by].address });
        await expect(f.registry.connect(f[by]).reinstateDevice(f.active.deviceId))
          .to.emit(f.registry, "DeviceReinstated")
          .withArgs(f.active.deviceId, f[by].address, head);
        expect(await f.registry.isActive(f.active.deviceId)).to.equal(true);
      });
    }

    it("reverts when the manufacturer lifts an officer's suspension, leaving the device suspended", async function () {
      const f = await loadFixture(fixture);
      const before = await f.registry.historyHead(f.suspended.deviceId);
      await expect(f.registry.connect(f.manufacturer).reinstateDevice(f.suspended.deviceId))
        .to.be.revertedWithCustomError(f.registry, "DeviceRegistrySuspendedByOfficer")
        .withArgs(f.suspended.deviceId, f.manufacturer.address);
      expect((await f.registry.getDevice(f.suspended.deviceId)).status).to.equal(BigInt(STATUS.Suspended));
      expect(await f.registry.historyHead(f.suspended.deviceId)).to.deep.equal(before);
    });

    it("lets a manufacturer that is also an officer lift an officer's suspension", async function () {
      const f = await loadFixture(fixture);
      await makeManufacturerAnOfficer(f);
      await expect(f.registry.connect(f.manufacturer).reinstateDevice(f.suspended.deviceId)).to.emit(
        f.registry,
        "DeviceReinstated",
      );
    });

    it("counts a suspension by the device's manufacturer holding both roles as its own", async function () {
      const f = await loadFixture(fixture);
      await makeManufacturerAnOfficer(f);
      await f.registry.connect(f.manufacturer).suspendDevice(f.active.deviceId, 8);
      await f.registry.connect(f.admin).revokeRole(SECURITY_OFFICER_ROLE, f.manufacturer.address);
      await expect(f.registry.connect(f.manufacturer).reinstateDevice(f.active.deviceId)).to.emit(
        f.registry,
        "DeviceReinstated",
      );
    });

    it("judges each suspension by who made it (officer after manufacturer: refused)", async function () {
      const f = await loadFixture(fixture);
      await (await suspendThenReinstate(f, f.manufacturer, f.officer)).wait();
      await expect(suspendThenReinstate(f, f.officer, f.manufacturer))
        .to.be.revertedWithCustomError(f.registry, "DeviceRegistrySuspendedByOfficer")
        .withArgs(f.active.deviceId, f.manufacturer.address);
    });

    it("judges each suspension by who made it (manufacturer after officer: allowed)", async function () {
      const f = await loadFixture(fixture);
      await (await suspendThenReinstate(f, f.officer, f.officer)).wait();
      await expect(suspendThenReinstate(f, f.manufacturer, f.manufacturer)).to.emit(f.registry, "DeviceReinstated");
    });

    it("reverts when the device is active", async function () {
      const { registry, officer, active } = await loadFixture(fixture);
      await expect(registry.connect(officer).reinstateDevice(active.deviceId))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceNotSuspended")
        .withArgs(active.deviceId, STATUS.Active);
    });
  });

  describe("revokeDevice", function () {
    for (const [label, pick] of [
      ["an active", (f: Fixture) => f.active],
      ["a suspended", (f: Fixture) => f.suspended],
    ] as const) {
      it(`revokes ${label} device for good`, async function () {
        const f = await loadFixture(fixture);
        const id = pick(f).deviceId;
        const head = await expectedHead(f.registry, id, "DeviceRevoked", { by: f.officer.address, reason: 1 });
        await expect(f.registry.connect(f.officer).revokeDevice(id, 1))
          .to.emit(f.registry, "DeviceRevoked")
          .withArgs(id, f.officer.address, 1, head);
        expect((await f.registry.getDevice(id)).status).to.equal(BigInt(STATUS.Revoked));
        await expect(f.registry.connect(f.officer).reinstateDevice(id))
          .to.be.revertedWithCustomError(f.registry, "DeviceRegistryDeviceRevoked")
          .withArgs(id);
      });
    }

    it("reverts when the reason is unknown", async function () {
      const { registry, manufacturer, active } = await loadFixture(fixture);
      await expect(registry.connect(manufacturer).revokeDevice(active.deviceId, 255))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownReason")
        .withArgs(255);
    });
  });

  // Refusals shared by the three single-device functions.
  for (const row of MANAGED) {
    describe(row.fn, function () {
      it("reverts when the device is unknown", async function () {
        const f = await loadFixture(fixture);
        const id = registration("nope").deviceId;
        await expect(row.send({ ...f, registry: f.registry.connect(f.officer) }, id))
          .to.be.revertedWithCustomError(f.registry, "DeviceRegistryUnknownDevice")
          .withArgs(id);
      });

      it("reverts when the device is revoked", async function () {
        const f = await loadFixture(fixture);
        await expect(row.send({ ...f, registry: f.registry.connect(f.officer) }, f.revoked.deviceId))
          .to.be.revertedWithCustomError(f.registry, "DeviceRegistryDeviceRevoked")
          .withArgs(f.revoked.deviceId);
      });

      it("reverts when the caller is another manufacturer", async function () {
        const f = await loadFixture(fixture);
        const id = row.target(f).deviceId;
        await expect(row.send({ ...f, registry: f.registry.connect(f.manufacturer2) }, id))
          .to.be.revertedWithCustomError(f.registry, "DeviceRegistryNotDeviceManager")
          .withArgs(id, f.manufacturer2.address);
      });

      it("reverts when the device's manufacturer lost its role", async function () {
        const f = await loadFixture(fixture);
        await f.registry.connect(f.admin).revokeRole(MANUFACTURER_ROLE, f.manufacturer.address);
        const id = row.target(f).deviceId;
        await expect(row.send({ ...f, registry: f.registry.connect(f.manufacturer) }, id))
          .to.be.revertedWithCustomError(f.registry, "DeviceRegistryNotDeviceManager")
          .withArgs(id, f.manufacturer.address);
      });
    });
  }

  describe("revokeDevices", function () {
    it("revokes every device of several manufacturers (officer), each with its event and head", async function () {
      const { registry, officer, active, suspended, other } = await loadFixture(fixture);
      const ids = [active.deviceId, suspended.deviceId, other.deviceId];
      const heads = await Promise.all(
        ids.map((id) => expectedHead(registry, id, "DeviceRevoked", { by: officer.address, reason: 2 })),
      );
      const tx = registry.connect(officer).revokeDevices(ids, 2);
      for (const [i, id] of ids.entries()) {
        await expect(tx).to.emit(registry, "DeviceRevoked").withArgs(id, officer.address, 2, heads[i]);
      }
      for (const id of ids) {
        expect((await registry.getDevice(id)).status).to.equal(BigInt(STATUS.Revoked));
        expect((await registry.historyHead(id)).head).to.equal(computeHistoryHead(await historyOf(registry, id)));
      }
    });

    it("lets a manufacturer revoke its own devices", async function () {
      const { registry, manufacturer, active, suspended } = await loadFixture(fixture);
      await expect(registry.connect(manufacturer).revokeDevices([active.deviceId, suspended.deviceId], 5)).to.emit(
        registry,
        "DeviceRevoked",
      );
      expect(await registry.isActive(active.deviceId)).to.equal(false);
    });

    it("reverts when the batch is empty", async function () {
      const { registry, officer } = await loadFixture(fixture);
      await expect(registry.connect(officer).revokeDevices([], 1)).to.be.revertedWithCustomError(
        registry,
        "DeviceRegistryEmptyBatch",
      );
    });

    it("reverts when the reason is unknown (not an item error)", async function () {
      const { registry, officer, active } = await loadFixture(fixture);
      await expect(registry.connect(officer).revokeDevices([active.deviceId], 9))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownReason")
        .withArgs(9);
    });

    const failing: [
      string,
      (f: Fixture) => { ids: string[]; by: Fixture["officer"]; index: number; error: string; args: unknown[] },
    ][] = [
      [
        "an item is unknown",
        (f) => {
          const id = registration("nope").deviceId;
          return {
            ids: [f.active.deviceId, id],
            by: f.officer,
            index: 1,
            error: "DeviceRegistryUnknownDevice",
            args: [id],
          };
        },
      ],
      [
        "an item is revoked",
        (f) => ({
          ids: [f.active.deviceId, f.revoked.deviceId],
          by: f.officer,
          index: 1,
          error: "DeviceRegistryDeviceRevoked",
          args: [f.revoked.deviceId],
        }),
      ],
      [
        "an item appears twice",
        (f) => ({
          ids: [f.active.deviceId, f.active.deviceId],
          by: f.officer,
          index: 1,
          error: "DeviceRegistryDeviceRevoked",
          args: [f.active.deviceId],
        }),
      ],
      [
        "an item belongs to another manufacturer",
        (f) => ({
          ids: [f.active.deviceId, f.suspended.deviceId, f.other.deviceId],
          by: f.manufacturer,
          index: 2,
          error: "DeviceRegistryNotDeviceManager",
          args: [f.other.deviceId, f.manufacturer.address],
        }),
      ],
    ];
    for (const [what, make] of failing) {
      it(`reverts naming the index when ${what}, writing nothing`, async function () {
        const f = await loadFixture(fixture);
        const c = make(f);
        const before = await Promise.all([f.active, f.suspended].map((r) => f.registry.historyHead(r.deviceId)));
        await expect(f.registry.connect(c.by).revokeDevices(c.ids, 3))
          .to.be.revertedWithCustomError(f.registry, "DeviceRegistryBatchItemFailed")
          .withArgs(c.index, encodedError(c.error, c.args));
        expect((await f.registry.getDevice(f.active.deviceId)).status).to.equal(BigInt(STATUS.Active));
        expect((await f.registry.getDevice(f.suspended.deviceId)).status).to.equal(BigInt(STATUS.Suspended));
        expect(await Promise.all([f.active, f.suspended].map((r) => f.registry.historyHead(r.deviceId)))).to.deep.equal(
          before,
        );
      });
    }

    it("revokes a batch of 100 within the per-transaction gas cap", async function () {
      const { registry, manufacturer, officer } = await loadFixture(fixture);
      const batch = Array.from({ length: 100 }, (_, i) => registration(`r100-${i}`));
      await registry.connect(manufacturer).registerDevices(batch, { gasLimit: 16_000_000 });
      await expect(
        registry.connect(officer).revokeDevices(
          batch.map((r) => r.deviceId),
          6,
          { gasLimit: 16_000_000 },
        ),
      ).not.to.be.reverted;
      expect((await registry.getDevice(batch[99]!.deviceId)).status).to.equal(BigInt(STATUS.Revoked));
    });

    it("refuses an ex-manufacturer on its own devices, naming the first item", async function () {
      const f = await loadFixture(fixture);
      const mine = registration("mine");
      await register(f.registry, f.manufacturer, mine);
      await f.registry.connect(f.admin).revokeRole(MANUFACTURER_ROLE, f.manufacturer.address);
      await expect(f.registry.connect(f.manufacturer).revokeDevices([mine.deviceId], 1))
        .to.be.revertedWithCustomError(f.registry, "DeviceRegistryBatchItemFailed")
        .withArgs(0, encodedError("DeviceRegistryNotDeviceManager", [mine.deviceId, f.manufacturer.address]));
    });
  });
});
