/**
 * Anchored batches (DESIGN.md §10, issue 10): anchorDevices, materializeDevice, revokeBatch and
 * multicall. Trees come from common/merkle.ts (held byte for byte against @openzeppelin/merkle-tree
 * in test/common/merkle.test.ts); heads from common/history.ts.
 */
import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { ZeroHash, type ContractTransactionResponse } from "ethers";
import { registryInterface } from "../../common/abi";
import { computeHistoryHead } from "../../common/history";
import { batchIdFor, loadAnchorMerkle } from "../../common/merkle";
import { MANUFACTURER_ROLE } from "../../common/roles";
import {
  FAR_EXPIRY,
  KEY_ALGORITHMS,
  KIND_FIRMWARE,
  MANIFEST_HASH,
  MANIFEST_URI,
  STATUS,
  anchorBatch,
  anchoredDevice,
  deployRegistryFixture,
  deviceEvents,
  expectRegisteredRecord,
  historyOf,
  leafOf,
  materialize,
  register,
  testHash,
  type AnchoredBatch,
  type AnchoredDevice,
} from "../helpers/contracts-fixture";

/** The first code past the known key algorithms. */
const ALG_UNKNOWN = Math.max(...Object.values(KEY_ALGORITHMS)) + 1;

/** A batch of seven devices (an odd count: the tree has an unpaired level) of `manufacturer`. */
async function fixture() {
  const f = await deployRegistryFixture();
  const devices = Array.from({ length: 7 }, (_, i) =>
    anchoredDevice(f.manufacturer.address, `line-7/${i}`, { keyAlgorithm: 1 + (i % 3) }),
  );
  const batch = await anchorBatch(f.registry, f.manufacturer, devices);
  const anchoredAt = await time.latest();
  return { ...f, devices, batch, anchoredAt };
}
type Fixture = Awaited<ReturnType<typeof fixture>>;

/** The DeviceRegistered fields of an anchored device (its manufacturer is the batch's). */
const registeredFields = (d: AnchoredDevice, manufacturer: string) => ({ ...leafOf(d), manufacturer });

/** The calldata of `registry.fn(...args)`, for multicall. */
const call = (fn: string, args: readonly unknown[]) => registryInterface.encodeFunctionData(fn, args);
const materializeCall = (b: AnchoredBatch, i: number) =>
  call("materializeDevice", [b.batchId, b.devices[i]!.serial, leafOf(b.devices[i]!), b.tree.proof(i)]);

describe("DeviceRegistry anchored batches", function () {
  describe("anchorDevices", function () {
    it("records the batch in one word and emits DevicesAnchored; no device is written", async function () {
      const { registry, manufacturer, devices } = await loadFixture(fixture);
      const tree = (await loadAnchorMerkle()).build(devices.slice(0, 3));
      const batchId = batchIdFor(manufacturer.address, tree.root);
      const anchorer = registry.connect(manufacturer);
      expect(await anchorer.anchorDevices.staticCall(tree.root, 3, MANIFEST_HASH, "https://x/m.jsonl")).to.equal(
        batchId,
      );
      await expect(anchorer.anchorDevices(tree.root, 3, MANIFEST_HASH, "https://x/m.jsonl"))
        .to.emit(registry, "DevicesAnchored")
        .withArgs(batchId, manufacturer.address, tree.root, 3, MANIFEST_HASH, "https://x/m.jsonl");
      const b = await registry.getBatch(batchId);
      expect([b.manufacturer, b.anchoredAt, b.count, b.revoked]).to.deep.equal([
        manufacturer.address,
        BigInt(await time.latest()),
        3n,
        false,
      ]);
      for (const d of devices) expect((await registry.getDevice(d.deviceId)).status).to.equal(BigInt(STATUS.None));
    });

    it("accepts a batch without a published manifest (zero hash, empty URI)", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      const root = testHash("root/no-manifest");
      await expect(registry.connect(manufacturer).anchorDevices(root, 1, ZeroHash, ""))
        .to.emit(registry, "DevicesAnchored")
        .withArgs(batchIdFor(manufacturer.address, root), manufacturer.address, root, 1, ZeroHash, "");
    });

    it("gives the same root anchored by another manufacturer its own batch", async function () {
      const { registry, manufacturer2, batch } = await loadFixture(fixture);
      const theirs = batchIdFor(manufacturer2.address, batch.tree.root);
      expect(theirs).to.not.equal(batch.batchId);
      await expect(registry.connect(manufacturer2).anchorDevices(batch.tree.root, 7, MANIFEST_HASH, MANIFEST_URI))
        .to.emit(registry, "DevicesAnchored")
        .withArgs(theirs, manufacturer2.address, batch.tree.root, 7, MANIFEST_HASH, MANIFEST_URI);
    });

    it("reverts when the caller lacks MANUFACTURER_ROLE", async function () {
      const { registry, officer } = await loadFixture(fixture);
      await expect(registry.connect(officer).anchorDevices(testHash("r"), 1, MANIFEST_HASH, MANIFEST_URI))
        .to.be.revertedWithCustomError(registry, "AccessControlUnauthorizedAccount")
        .withArgs(officer.address, MANUFACTURER_ROLE);
    });

    it("reverts when the root is zero", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      await expect(
        registry.connect(manufacturer).anchorDevices(ZeroHash, 1, MANIFEST_HASH, MANIFEST_URI),
      ).to.be.revertedWithCustomError(registry, "DeviceRegistryZeroRoot");
    });

    it("reverts when the count is zero", async function () {
      const { registry, manufacturer } = await loadFixture(fixture);
      await expect(
        registry.connect(manufacturer).anchorDevices(testHash("r"), 0, MANIFEST_HASH, MANIFEST_URI),
      ).to.be.revertedWithCustomError(registry, "DeviceRegistryEmptyBatch");
    });

    for (const revoked of [false, true]) {
      it(`reverts when the manufacturer anchored the root already${revoked ? " (batch revoked since)" : ""}`, async function () {
        const { registry, manufacturer, batch } = await loadFixture(fixture);
        if (revoked) await registry.connect(manufacturer).revokeBatch(batch.batchId, 2);
        await expect(registry.connect(manufacturer).anchorDevices(batch.tree.root, 9, testHash("m2"), "file:other"))
          .to.be.revertedWithCustomError(registry, "DeviceRegistryBatchAlreadyAnchored")
          .withArgs(batch.batchId);
        expect((await registry.getBatch(batch.batchId)).count).to.equal(7n);
      });
    }
  });

  describe("materializeDevice", function () {
    it("writes every device's record as a direct registration at the anchoring time (called by anyone)", async function () {
      const { registry, manufacturer, stranger, batch, devices, anchoredAt } = await loadFixture(fixture);
      for (const [i, d] of devices.entries()) {
        const head = computeHistoryHead([
          { name: "DeviceRegistered", fields: registeredFields(d, manufacturer.address) },
        ]);
        const tx = materialize(registry, stranger, batch, i);
        await expect(tx)
          .to.emit(registry, "DeviceRegistered")
          .withArgs(d.deviceId, manufacturer.address, d.keyAlgorithm, d.keyHash, d.firmwareHash, d.segment, head);
        await expect(tx).to.emit(registry, "DeviceMaterialized").withArgs(d.deviceId, batch.batchId);
        const logs = (await (await tx).wait())!.logs.map((l) => registryInterface.parseLog(l)?.name);
        expect(logs).to.deep.equal(["DeviceRegistered", "DeviceMaterialized"]);
        await expectRegisteredRecord(registry, d, manufacturer.address, anchoredAt, head);
      }
    });

    it("gives the history head a direct registration of the same fields gets", async function () {
      const { registry, manufacturer, stranger, batch, devices } = await loadFixture(fixture);
      await materialize(registry, stranger, batch, 0);
      const other = await deployRegistryFixture(); // a second registry: register the same device directly
      await register(other.registry, other.manufacturer, devices[0]!);
      expect(other.manufacturer.address).to.equal(manufacturer.address);
      expect(await registry.historyHead(devices[0]!.deviceId)).to.deep.equal(
        await other.registry.historyHead(devices[0]!.deviceId),
      );
    });

    it("leaves a device on which every device function then works unchanged", async function () {
      const { registry, manufacturer, attester, officer, stranger, batch, devices } = await loadFixture(fixture);
      const id = devices[3]!.deviceId;
      await materialize(registry, stranger, batch, 3);
      await (await registry.connect(manufacturer).updateFirmware(id, testHash("fw/2"))).wait();
      await (await registry.connect(manufacturer).rotateKey(id, 2, testHash("key/2"))).wait();
      await (await registry.connect(attester).attest(id, KIND_FIRMWARE, testHash("ev"), FAR_EXPIRY)).wait();
      await (await registry.connect(officer).suspendDevice(id, 8)).wait();
      await (await registry.connect(officer).revokeDevice(id, 1)).wait();
      const history = await historyOf(registry, id);
      expect(history.map((e) => e.name)).to.deep.equal([
        "DeviceRegistered",
        "FirmwareUpdated",
        "KeyRotated",
        "Attested",
        "DeviceSuspended",
        "DeviceRevoked",
      ]);
      expect(await registry.historyHead(id)).to.deep.equal([computeHistoryHead(history), 6n]);
      expect((await registry.getDevice(id)).status).to.equal(BigInt(STATUS.Revoked));
    });

    it("materializes a device whose manufacturer has lost its role (storage, not trust)", async function () {
      const { registry, admin, manufacturer, stranger, batch, devices } = await loadFixture(fixture);
      await registry.connect(admin).revokeRole(MANUFACTURER_ROLE, manufacturer.address);
      await expect(materialize(registry, stranger, batch, 1))
        .to.emit(registry, "DeviceMaterialized")
        .withArgs(devices[1]!.deviceId, batch.batchId);
    });

    it("reverts when the batch is unknown", async function () {
      const { registry, stranger, batch, devices } = await loadFixture(fixture);
      const unknown = batchIdFor(stranger.address, batch.tree.root);
      await expect(
        registry
          .connect(stranger)
          .materializeDevice(unknown, devices[0]!.serial, leafOf(devices[0]!), batch.tree.proof(0)),
      )
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownBatch")
        .withArgs(unknown);
    });

    it("reverts when the batch is revoked: its devices never become active", async function () {
      const { registry, officer, stranger, batch, devices } = await loadFixture(fixture);
      await registry.connect(officer).revokeBatch(batch.batchId, 2);
      await expect(materialize(registry, stranger, batch, 0))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryBatchRevoked")
        .withArgs(batch.batchId);
      expect((await registry.getDevice(devices[0]!.deviceId)).status).to.equal(BigInt(STATUS.None));
    });

    it("reverts when the serial is not the device id's (for the batch's manufacturer)", async function () {
      const { registry, manufacturer, stranger, batch, devices } = await loadFixture(fixture);
      await expect(
        registry
          .connect(stranger)
          .materializeDevice(batch.batchId, "line-7/99", leafOf(devices[0]!), batch.tree.proof(0)),
      )
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceIdMismatch")
        .withArgs(devices[0]!.deviceId, manufacturer.address, "line-7/99");
    });

    it("refuses another manufacturer's ids anchored in a batch: they never become its records", async function () {
      const { registry, manufacturer2, stranger, devices } = await loadFixture(fixture);
      // manufacturer2 anchors the very leaves of manufacturer's batch (ids derived from manufacturer's address)
      const theirs = await anchorBatch(registry, manufacturer2, devices);
      await expect(materialize(registry, stranger, theirs, 2))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceIdMismatch")
        .withArgs(devices[2]!.deviceId, manufacturer2.address, devices[2]!.serial);
    });

    const badProofs: [string, (b: AnchoredBatch) => { i: number; proof: string[]; leaf?: Partial<AnchoredDevice> }][] =
      [
        ["the proof of another device", (b) => ({ i: 0, proof: b.tree.proof(1) })],
        ["an empty proof", () => ({ i: 0, proof: [] })],
        ["a proof missing its last hash", (b) => ({ i: 0, proof: b.tree.proof(0).slice(0, -1) })],
        ["a proof with one extra hash", (b) => ({ i: 0, proof: [...b.tree.proof(0), b.tree.root] })],
        [
          "a proof with one bit flipped",
          (b) => {
            const proof = b.tree.proof(4);
            proof[0] = proof[0]!.slice(0, -1) + (proof[0]!.endsWith("0") ? "1" : "0");
            return { i: 4, proof };
          },
        ],
        ["a leaf with another key hash", (b) => ({ i: 5, proof: b.tree.proof(5), leaf: { keyHash: testHash("k") } })],
        // device 5 has key algorithm 3 (fixture: 1 + i % 3)
        ["a leaf with another key algorithm", (b) => ({ i: 5, proof: b.tree.proof(5), leaf: { keyAlgorithm: 1 } })],
        ["a leaf with another firmware", (b) => ({ i: 6, proof: b.tree.proof(6), leaf: { firmwareHash: ZeroHash } })],
        ["a leaf with another segment", (b) => ({ i: 6, proof: b.tree.proof(6), leaf: { segment: ZeroHash } })],
        ["the root as the leaf's only sibling", (b) => ({ i: 2, proof: [b.tree.root] })],
      ];
    for (const [what, make] of badProofs) {
      it(`reverts on a bad proof: ${what}`, async function () {
        const { registry, stranger, batch, devices } = await loadFixture(fixture);
        const { i, proof, leaf } = make(batch);
        const d = { ...devices[i]!, ...leaf };
        await expect(registry.connect(stranger).materializeDevice(batch.batchId, d.serial, leafOf(d), proof))
          .to.be.revertedWithCustomError(registry, "DeviceRegistryInvalidProof")
          .withArgs(batch.batchId, d.deviceId);
        expect((await registry.getDevice(d.deviceId)).status).to.equal(BigInt(STATUS.None));
      });
    }

    it("reverts when the device is materialized already", async function () {
      const { registry, stranger, officer, batch, devices } = await loadFixture(fixture);
      await materialize(registry, stranger, batch, 0);
      await expect(materialize(registry, officer, batch, 0))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceAlreadyRegistered")
        .withArgs(devices[0]!.deviceId);
    });

    it("reverts when the device was materialized and revoked (revocation is terminal)", async function () {
      const { registry, stranger, officer, batch, devices } = await loadFixture(fixture);
      await materialize(registry, stranger, batch, 0);
      await registry.connect(officer).revokeDevice(devices[0]!.deviceId, 1);
      await expect(materialize(registry, stranger, batch, 0))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceAlreadyRegistered")
        .withArgs(devices[0]!.deviceId);
      expect((await registry.getDevice(devices[0]!.deviceId)).status).to.equal(BigInt(STATUS.Revoked));
    });

    it("reverts when the device was registered directly", async function () {
      const { registry, manufacturer, stranger, batch, devices } = await loadFixture(fixture);
      await register(registry, manufacturer, devices[2]!);
      await expect(materialize(registry, stranger, batch, 2))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryDeviceAlreadyRegistered")
        .withArgs(devices[2]!.deviceId);
    });

    const badLeaves: [string, Partial<AnchoredDevice>, (d: AnchoredDevice) => [string, unknown[]]][] = [
      ["key algorithm 0", { keyAlgorithm: 0 }, () => ["DeviceRegistryUnknownKeyAlgorithm", [0]]],
      [
        `key algorithm ${ALG_UNKNOWN}`,
        { keyAlgorithm: ALG_UNKNOWN },
        () => ["DeviceRegistryUnknownKeyAlgorithm", [ALG_UNKNOWN]],
      ],
      ["a zero key hash", { keyHash: ZeroHash }, (d) => ["DeviceRegistryZeroKeyHash", [d.deviceId]]],
    ];
    for (const [what, overrides, refusal] of badLeaves) {
      it(`reverts on a proven leaf with ${what}, as registerDevice would`, async function () {
        const { registry, manufacturer, stranger } = await loadFixture(fixture);
        const devices = [
          anchoredDevice(manufacturer.address, "odd/0"),
          anchoredDevice(manufacturer.address, "odd/1", overrides),
        ];
        const b = await anchorBatch(registry, manufacturer, devices);
        const [error, args] = refusal(devices[1]!);
        await expect(materialize(registry, stranger, b, 1))
          .to.be.revertedWithCustomError(registry, error)
          .withArgs(...args);
        await expect(materialize(registry, stranger, b, 0)).to.emit(registry, "DeviceMaterialized");
      });
    }
  });

  describe("revokeBatch", function () {
    for (const who of ["manufacturer", "officer"] as const) {
      it(`revokes the batch (${who})`, async function () {
        const f = await loadFixture(fixture);
        const by = f[who];
        await expect(f.registry.connect(by).revokeBatch(f.batch.batchId, 2))
          .to.emit(f.registry, "BatchRevoked")
          .withArgs(f.batch.batchId, f.manufacturer.address, by.address, 2);
        const b = await f.registry.getBatch(f.batch.batchId);
        expect([b.manufacturer, b.anchoredAt, b.count, b.revoked]).to.deep.equal([
          f.manufacturer.address,
          BigInt(f.anchoredAt),
          7n,
          true,
        ]);
      });
    }

    it("leaves the records of devices materialized before as they are (O(1) per batch)", async function () {
      const { registry, officer, stranger, batch, devices } = await loadFixture(fixture);
      await materialize(registry, stranger, batch, 0);
      const before = await registry.historyHead(devices[0]!.deviceId);
      await registry.connect(officer).revokeBatch(batch.batchId, 2);
      expect(await registry.isActive(devices[0]!.deviceId)).to.equal(true);
      expect(await registry.historyHead(devices[0]!.deviceId)).to.deep.equal(before);
      expect((await registry.getBatch(batch.batchId)).revoked).to.equal(true);
    });

    it("reverts when the batch is unknown", async function () {
      const { registry, officer } = await loadFixture(fixture);
      const unknown = testHash("batch/unknown");
      await expect(registry.connect(officer).revokeBatch(unknown, 2))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownBatch")
        .withArgs(unknown);
    });

    it("reverts when the batch is revoked already", async function () {
      const { registry, manufacturer, officer, batch } = await loadFixture(fixture);
      await registry.connect(manufacturer).revokeBatch(batch.batchId, 2);
      await expect(registry.connect(officer).revokeBatch(batch.batchId, 1))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryBatchRevoked")
        .withArgs(batch.batchId);
    });

    it("reverts when the reason is unknown", async function () {
      const { registry, officer, batch } = await loadFixture(fixture);
      await expect(registry.connect(officer).revokeBatch(batch.batchId, 9))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownReason")
        .withArgs(9);
    });

    it("reverts when the batch's manufacturer lost its role", async function () {
      const { registry, admin, manufacturer, batch } = await loadFixture(fixture);
      await registry.connect(admin).revokeRole(MANUFACTURER_ROLE, manufacturer.address);
      await expect(registry.connect(manufacturer).revokeBatch(batch.batchId, 2))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryNotBatchManager")
        .withArgs(batch.batchId, manufacturer.address);
    });
  });

  describe("multicall: materialize and act in one transaction", function () {
    const actions: [string, (f: Fixture) => [Fixture["officer"], string], string, number][] = [
      ["revokeDevice", (f) => [f.manufacturer, call("revokeDevice", [f.devices[0]!.deviceId, 1])], "DeviceRevoked", 3],
      ["suspendDevice", (f) => [f.officer, call("suspendDevice", [f.devices[0]!.deviceId, 8])], "DeviceSuspended", 2],
      [
        "attest",
        (f) => [f.attester, call("attest", [f.devices[0]!.deviceId, KIND_FIRMWARE, testHash("ev"), FAR_EXPIRY])],
        "Attested",
        1,
      ],
      [
        "rotateKey",
        (f) => [f.manufacturer, call("rotateKey", [f.devices[0]!.deviceId, 2, testHash("key/2")])],
        "KeyRotated",
        1,
      ],
    ];
    for (const [fn, make, event, status] of actions) {
      it(`materializes and calls ${fn} atomically`, async function () {
        const f = await loadFixture(fixture);
        const [by, second] = make(f);
        const receipt = (await (await f.registry.connect(by).multicall([materializeCall(f.batch, 0), second])).wait())!;
        const events = deviceEvents(receipt);
        expect(events.map((e) => e.name)).to.deep.equal(["DeviceRegistered", event]);
        const id = f.devices[0]!.deviceId;
        expect((await f.registry.getDevice(id)).status).to.equal(BigInt(status));
        expect(await f.registry.historyHead(id)).to.deep.equal([computeHistoryHead(events), 2n]);
      });
    }

    const failing: [string, (f: Fixture) => [Fixture["officer"], string], string, (f: Fixture) => unknown[]][] = [
      [
        "the revocation's reason is unknown",
        (f) => [f.manufacturer, call("revokeDevice", [f.devices[0]!.deviceId, 9])],
        "DeviceRegistryUnknownReason",
        () => [9],
      ],
      [
        "the caller may not revoke the device",
        (f) => [f.manufacturer2, call("revokeDevice", [f.devices[0]!.deviceId, 1])],
        "DeviceRegistryNotDeviceManager",
        (f) => [f.devices[0]!.deviceId, f.manufacturer2.address],
      ],
      [
        "the attester lacks the kind's role",
        (f) => [f.attester2, call("attest", [f.devices[0]!.deviceId, KIND_FIRMWARE, testHash("ev"), 0])],
        "AccessControlUnauthorizedAccount",
        (f) => [f.attester2.address, f.roles.firmware],
      ],
    ];
    for (const [what, make, error, args] of failing) {
      it(`leaves no materialized device when the second call fails: ${what}`, async function () {
        const f = await loadFixture(fixture);
        const [by, second] = make(f);
        const tx: Promise<ContractTransactionResponse> = f.registry
          .connect(by)
          .multicall([materializeCall(f.batch, 0), second]);
        await expect(tx)
          .to.be.revertedWithCustomError(f.registry, error)
          .withArgs(...args(f));
        const id = f.devices[0]!.deviceId;
        expect((await f.registry.getDevice(id)).status).to.equal(BigInt(STATUS.None));
        expect(await f.registry.historyHead(id)).to.deep.equal([ZeroHash, 0n]);
        // and the device can still be materialized afterwards
        await expect(materialize(f.registry, by, f.batch, 0)).to.emit(f.registry, "DeviceMaterialized");
      });
    }
  });
});
