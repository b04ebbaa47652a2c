/**
 * Role × function matrix, generated: every state-changing external function is called by every
 * role; the allowed roles succeed (and emit the function's event), every other role is refused
 * with the exact error and arguments. The table below is the access-control specification of
 * issue 2 (least privilege), with issue 8's rule that a suspension made by an officer is lifted
 * only by an officer (a function may have one row per state that changes who may call it); a
 * change in the contract's access rules fails here.
 */
import { expect } from "chai";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionResponse } from "ethers";
import { registryInterface } from "../../common/abi";
import { DEFAULT_ADMIN_ROLE, MANUFACTURER_ROLE } from "../../common/roles";
import {
  FAR_EXPIRY,
  KIND_FIRMWARE,
  MANIFEST_HASH,
  MANIFEST_URI,
  anchorBatch,
  anchoredDevice,
  deployPopulatedFixture,
  encodedError,
  leafOf,
  materialize,
  registration,
  testHash,
} from "../helpers/contracts-fixture";

/** The populated registry plus `batch`, two anchored devices of `manufacturer` (none materialized). */
async function deployMatrixFixture() {
  const f = await deployPopulatedFixture();
  const devices = [0, 1].map((i) => anchoredDevice(f.manufacturer.address, `matrix/${i}`));
  return { ...f, batch: await anchorBatch(f.registry, f.manufacturer, devices) };
}

type Fixture = Awaited<ReturnType<typeof deployMatrixFixture>>;

const ROLES = ["none", "admin", "manufacturer", "otherManufacturer", "attester", "otherAttester", "officer"] as const;
type Role = (typeof ROLES)[number];

/** The account playing each role. "manufacturer" owns the target devices; "attester" issued the attestation. */
function actor(f: Fixture, role: Role): HardhatEthersSigner {
  switch (role) {
    case "none":
      return f.stranger;
    case "admin":
      return f.admin;
    case "manufacturer":
      return f.manufacturer;
    case "otherManufacturer":
      return f.manufacturer2;
    case "attester":
      return f.attester;
    case "otherAttester":
      return f.attester2;
    case "officer":
      return f.officer;
  }
}

interface Row {
  fn: string;
  /** What distinguishes this row from another row of the same function. */
  when?: string;
  allowed: readonly Role[];
  call(f: Fixture, as: HardhatEthersSigner): Promise<ContractTransactionResponse>;
  /** The event a successful call emits (none for calls that may change nothing visible). */
  event?: string;
  /** The exact refusal for `account`: [error name, args]. */
  refusal(f: Fixture, account: string): [string, unknown[]];
}

const unauthorized =
  (role: (f: Fixture) => string) =>
  (f: Fixture, account: string): [string, unknown[]] => ["AccessControlUnauthorizedAccount", [account, role(f)]];
const batchItem =
  (name: string, args: (f: Fixture, account: string) => unknown[]) =>
  (f: Fixture, account: string): [string, unknown[]] => [
    "DeviceRegistryBatchItemFailed",
    [0, encodedError(name, args(f, account))],
  ];
const fresh = registration("matrix-fresh");
const MANAGERS = ["manufacturer", "officer"] as const;

const MATRIX: readonly Row[] = [
  {
    fn: "registerDevice",
    allowed: ["manufacturer", "otherManufacturer"],
    event: "DeviceRegistered",
    call: (f, as) =>
      f.registry
        .connect(as)
        .registerDevice(fresh.deviceId, fresh.keyAlgorithm, fresh.keyHash, fresh.firmwareHash, fresh.segment),
    refusal: unauthorized(() => MANUFACTURER_ROLE),
  },
  {
    fn: "registerDevices",
    allowed: ["manufacturer", "otherManufacturer"],
    event: "DeviceRegistered",
    call: (f, as) => f.registry.connect(as).registerDevices([fresh]),
    refusal: unauthorized(() => MANUFACTURER_ROLE),
  },
  {
    fn: "updateFirmware",
    allowed: ["manufacturer"],
    event: "FirmwareUpdated",
    call: (f, as) => f.registry.connect(as).updateFirmware(f.active.deviceId, testHash("fw/2")),
    refusal: (f, account) => ["DeviceRegistryNotDeviceManufacturer", [f.active.deviceId, account]],
  },
  {
    fn: "rotateKey",
    allowed: ["manufacturer"],
    event: "KeyRotated",
    call: (f, as) => f.registry.connect(as).rotateKey(f.active.deviceId, 2, testHash("key/2")),
    refusal: (f, account) => ["DeviceRegistryNotDeviceManufacturer", [f.active.deviceId, account]],
  },
  {
    fn: "suspendDevice",
    allowed: MANAGERS,
    event: "DeviceSuspended",
    call: (f, as) => f.registry.connect(as).suspendDevice(f.active.deviceId, 7),
    refusal: (f, account) => ["DeviceRegistryNotDeviceManager", [f.active.deviceId, account]],
  },
  {
    fn: "reinstateDevice",
    when: "suspended by an officer",
    allowed: ["officer"],
    event: "DeviceReinstated",
    call: (f, as) => f.registry.connect(as).reinstateDevice(f.suspended.deviceId),
    refusal: (f, account) =>
      account === f.manufacturer.address
        ? ["DeviceRegistrySuspendedByOfficer", [f.suspended.deviceId, account]]
        : ["DeviceRegistryNotDeviceManager", [f.suspended.deviceId, account]],
  },
  {
    fn: "reinstateDevice",
    when: "suspended by its manufacturer",
    allowed: MANAGERS,
    event: "DeviceReinstated",
    call: async (f, as) => {
      await f.registry.connect(f.manufacturer).suspendDevice(f.active.deviceId, 8);
      return f.registry.connect(as).reinstateDevice(f.active.deviceId);
    },
    refusal: (f, account) => ["DeviceRegistryNotDeviceManager", [f.active.deviceId, account]],
  },
  {
    fn: "revokeDevice",
    allowed: MANAGERS,
    event: "DeviceRevoked",
    call: (f, as) => f.registry.connect(as).revokeDevice(f.active.deviceId, 1),
    refusal: (f, account) => ["DeviceRegistryNotDeviceManager", [f.active.deviceId, account]],
  },
  {
    fn: "revokeDevices",
    allowed: MANAGERS,
    event: "DeviceRevoked",
    call: (f, as) => f.registry.connect(as).revokeDevices([f.active.deviceId], 1),
    refusal: batchItem("DeviceRegistryNotDeviceManager", (f, account) => [f.active.deviceId, account]),
  },
  {
    fn: "attest",
    allowed: ["attester"],
    event: "Attested",
    call: (f, as) => f.registry.connect(as).attest(f.active.deviceId, KIND_FIRMWARE, testHash("evidence"), FAR_EXPIRY),
    refusal: unauthorized((f) => f.roles.firmware),
  },
  {
    fn: "attestDevices",
    allowed: ["attester"],
    event: "Attested",
    call: (f, as) =>
      f.registry
        .connect(as)
        .attestDevices([
          { deviceId: f.active.deviceId, kind: KIND_FIRMWARE, evidenceHash: testHash("e"), expiresAt: 0 },
        ]),
    refusal: batchItem("AccessControlUnauthorizedAccount", (f, account) => [account, f.roles.firmware]),
  },
  {
    fn: "revokeAttestation",
    allowed: ["attester", "officer"],
    event: "AttestationRevoked",
    call: (f, as) => f.registry.connect(as).revokeAttestation(f.active.deviceId, f.uid, 6),
    refusal: (f, account) => ["DeviceRegistryNotAttestationManager", [f.uid, account]],
  },
  {
    fn: "anchorDevices",
    allowed: ["manufacturer", "otherManufacturer"],
    event: "DevicesAnchored",
    call: (f, as) => f.registry.connect(as).anchorDevices(testHash("matrix/root"), 2, MANIFEST_HASH, MANIFEST_URI),
    refusal: unauthorized(() => MANUFACTURER_ROLE),
  },
  {
    fn: "materializeDevice",
    allowed: ROLES,
    event: "DeviceMaterialized",
    call: (f, as) => materialize(f.registry, as, f.batch, 0),
    refusal: () => {
      throw new Error("materializeDevice refuses no caller");
    },
  },
  {
    fn: "revokeBatch",
    allowed: MANAGERS,
    event: "BatchRevoked",
    call: (f, as) => f.registry.connect(as).revokeBatch(f.batch.batchId, 2),
    refusal: (f, account) => ["DeviceRegistryNotBatchManager", [f.batch.batchId, account]],
  },
  {
    fn: "multicall",
    when: "materializeDevice + revokeDevice: each call keeps the caller's rights",
    allowed: MANAGERS,
    event: "DeviceRevoked",
    call: (f, as) => {
      const d = f.batch.devices[1]!;
      return f.registry
        .connect(as)
        .multicall([
          registryInterface.encodeFunctionData("materializeDevice", [
            f.batch.batchId,
            d.serial,
            leafOf(d),
            f.batch.tree.proof(1),
          ]),
          registryInterface.encodeFunctionData("revokeDevice", [d.deviceId, 1]),
        ]);
    },
    refusal: (f, account) => ["DeviceRegistryNotDeviceManager", [f.batch.devices[1]!.deviceId, account]],
  },
  {
    fn: "grantRole",
    allowed: ["admin"],
    event: "RoleGranted",
    call: (f, as) => f.registry.connect(as).grantRole(MANUFACTURER_ROLE, f.stranger.address),
    refusal: unauthorized(() => DEFAULT_ADMIN_ROLE),
  },
  {
    fn: "revokeRole",
    allowed: ["admin"],
    event: "RoleRevoked",
    call: (f, as) => f.registry.connect(as).revokeRole(MANUFACTURER_ROLE, f.manufacturer2.address),
    refusal: unauthorized(() => DEFAULT_ADMIN_ROLE),
  },
  {
    fn: "beginDefaultAdminTransfer",
    allowed: ["admin"],
    event: "DefaultAdminTransferScheduled",
    call: (f, as) => f.registry.connect(as).beginDefaultAdminTransfer(f.stranger.address),
    refusal: unauthorized(() => DEFAULT_ADMIN_ROLE),
  },
  {
    fn: "cancelDefaultAdminTransfer",
    allowed: ["admin"],
    call: (f, as) => f.registry.connect(as).cancelDefaultAdminTransfer(),
    refusal: unauthorized(() => DEFAULT_ADMIN_ROLE),
  },
  {
    fn: "changeDefaultAdminDelay",
    allowed: ["admin"],
    event: "DefaultAdminDelayChangeScheduled",
    call: (f, as) => f.registry.connect(as).changeDefaultAdminDelay(7200),
    refusal: unauthorized(() => DEFAULT_ADMIN_ROLE),
  },
  {
    fn: "rollbackDefaultAdminDelay",
    allowed: ["admin"],
    call: (f, as) => f.registry.connect(as).rollbackDefaultAdminDelay(),
    refusal: unauthorized(() => DEFAULT_ADMIN_ROLE),
  },
];

describe("DeviceRegistry role × function matrix", function () {
  const fixture = () => deployMatrixFixture();

  for (const row of MATRIX) {
    describe(row.when ? `${row.fn} (${row.when})` : row.fn, function () {
      for (const role of ROLES) {
        if (row.allowed.includes(role)) {
          it(`succeeds for ${role}`, async function () {
            const f = await loadFixture(fixture);
            const tx = row.call(f, actor(f, role));
            if (row.event) await expect(tx).to.emit(f.registry, row.event);
            else await expect(tx).not.to.be.reverted;
          });
        } else {
          it(`reverts when called by ${role}`, async function () {
            const f = await loadFixture(fixture);
            const as = actor(f, role);
            const [error, args] = row.refusal(f, as.address);
            await expect(row.call(f, as))
              .to.be.revertedWithCustomError(f.registry, error)
              .withArgs(...args);
          });
        }
      }
    });
  }

  describe("views", function () {
    for (const role of ROLES) {
      it(`answers getDevice, getAttestation, historyHead, isActive and getBatch for ${role}`, async function () {
        const f = await loadFixture(fixture);
        const r = f.registry.connect(actor(f, role));
        expect((await r.getDevice(f.active.deviceId)).manufacturer).to.equal(f.manufacturer.address);
        expect((await r.getAttestation(f.active.deviceId, f.uid)).attester).to.equal(f.attester.address);
        expect((await r.historyHead(f.active.deviceId)).eventCount).to.equal(2n);
        expect(await r.isActive(f.active.deviceId)).to.equal(true);
        expect((await r.getBatch(f.batch.batchId)).manufacturer).to.equal(f.manufacturer.address);
      });
    }
  });
});
