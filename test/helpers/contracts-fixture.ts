/**
 * In-process fixtures and small helpers for the contract tests (test/contracts/**): deploy the
 * registry on the Hardhat network, grant the standard roles, decode device events from receipts
 * and build the exact expected errors (batch errors wrap the item's own ABI-encoded error).
 */
import { expect } from "chai";
import { ethers } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import {
  keccak256,
  toUtf8Bytes,
  type ContractTransactionReceipt,
  type ContractTransactionResponse,
  type Log,
} from "ethers";
import { registryInterface } from "../../common/abi";
import { computeHistoryHead } from "../../common/history";
import { EVENT_KINDS, KEY_ALGORITHMS, type DeviceEventName } from "../../common/codes";
import { deviceIdFor, encodeShortName } from "../../common/ids";
import { loadAnchorMerkle, type AnchorTree } from "../../common/merkle";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole } from "../../common/roles";
import type { DeviceRegistry } from "../../typechain-types";

/**
 * Deterministic 32-byte test value (same definition as test/helpers/fleet.ts, which is not imported
 * here because it pulls in scripts/deploy.ts and its out-of-process provider).
 */
export function testHash(label: string): string {
  return keccak256(toUtf8Bytes(label));
}

/** Two-step admin transfer delay of the fixture registry (seconds). */
export const ADMIN_DELAY = 3600;
export const KIND_FIRMWARE = encodeShortName("kind", "firmware");
export const KIND_IEC62443 = encodeShortName("kind", "iec62443");
export const SEGMENT = encodeShortName("segment", "plant-3/hvac");
/** A fixed expiry far in the future (2096), so every test and gas figure uses the same calldata. */
export const FAR_EXPIRY = 4_000_000_000;
export { KEY_ALGORITHMS };

export interface Actors {
  admin: HardhatEthersSigner;
  manufacturer: HardhatEthersSigner;
  manufacturer2: HardhatEthersSigner;
  /** Holds attesterRole("firmware"). */
  attester: HardhatEthersSigner;
  /** Holds attesterRole("iec62443") only. */
  attester2: HardhatEthersSigner;
  officer: HardhatEthersSigner;
  /** Holds no role. */
  stranger: HardhatEthersSigner;
}

export interface RegistryFixture extends Actors {
  registry: DeviceRegistry;
  roles: { manufacturer: string; officer: string; firmware: string; iec62443: string };
}

/** One registration with deterministic values derived from `label`. */
export function registration(label: string, overrides: Partial<Registration> = {}): Registration {
  return {
    deviceId: testHash(`device/${label}`),
    keyAlgorithm: KEY_ALGORITHMS.secp256k1,
    keyHash: testHash(`key/${label}`),
    firmwareHash: testHash(`firmware/${label}`),
    segment: SEGMENT,
    ...overrides,
  };
}

export interface Registration {
  deviceId: string;
  keyAlgorithm: number;
  keyHash: string;
  firmwareHash: string;
  segment: string;
}

/** Deploys the registry (admin = account 0) and grants the standard roles. No devices yet. */
export async function deployRegistryFixture(): Promise<RegistryFixture> {
  const [admin, manufacturer, manufacturer2, attester, attester2, officer, stranger] = (await ethers.getSigners()) as [
    HardhatEthersSigner,
    HardhatEthersSigner,
    HardhatEthersSigner,
    HardhatEthersSigner,
    HardhatEthersSigner,
    HardhatEthersSigner,
    HardhatEthersSigner,
  ];
  const registry = await ethers.deployContract("DeviceRegistry", [ADMIN_DELAY, admin.address]);
  const roles = {
    manufacturer: MANUFACTURER_ROLE,
    officer: SECURITY_OFFICER_ROLE,
    firmware: attesterRole(KIND_FIRMWARE),
    iec62443: attesterRole(KIND_IEC62443),
  };
  await registry.grantRole(roles.manufacturer, manufacturer.address);
  await registry.grantRole(roles.manufacturer, manufacturer2.address);
  await registry.grantRole(roles.firmware, attester.address);
  await registry.grantRole(roles.iec62443, attester2.address);
  await registry.grantRole(roles.officer, officer.address);
  return { registry, roles, admin, manufacturer, manufacturer2, attester, attester2, officer, stranger };
}

/** Registers `reg` as `by` and returns the receipt. */
export async function register(
  registry: DeviceRegistry,
  by: HardhatEthersSigner,
  reg: Registration,
): Promise<ContractTransactionReceipt> {
  const tx = await registry
    .connect(by)
    .registerDevice(reg.deviceId, reg.keyAlgorithm, reg.keyHash, reg.firmwareHash, reg.segment);
  return (await tx.wait())!;
}

/** Attests `deviceId` for "firmware" as `by` and returns the uid read from the Attested event. */
export async function attestFirmware(
  registry: DeviceRegistry,
  by: HardhatEthersSigner,
  deviceId: string,
  expiresAt = FAR_EXPIRY,
): Promise<string> {
  const receipt = (await (
    await registry.connect(by).attest(deviceId, KIND_FIRMWARE, testHash("evidence"), expiresAt)
  ).wait())!;
  const ev = deviceEvents(receipt).find((e) => e.name === "Attested");
  if (!ev) throw new Error("no Attested event in the receipt");
  return ev.fields.uid as string;
}

export interface DeviceEvent {
  name: DeviceEventName;
  deviceId: string;
  fields: Record<string, unknown>;
  head: string;
}

const DEVICE_EVENT_SET = new Set<string>(EVENT_KINDS.filter((k) => k !== ""));

/** The registry's device events of `logs`, in log order, with their fields by name. */
export function deviceEvents(receipt: { logs: readonly Log[] }): DeviceEvent[] {
  const out: DeviceEvent[] = [];
  for (const log of receipt.logs) {
    const parsed = registryInterface.parseLog(log);
    if (!parsed || !DEVICE_EVENT_SET.has(parsed.name)) continue;
    const fields: Record<string, unknown> = {};
    parsed.fragment.inputs.forEach((input, i) => {
      fields[input.name] = parsed.args[i];
    });
    out.push({
      name: parsed.name as DeviceEventName,
      deviceId: fields.deviceId as string,
      fields,
      head: fields.head as string,
    });
  }
  return out;
}

/** The ABI encoding of custom error `name(args)`, as a batch error carries it. */
export function encodedError(name: string, args: readonly unknown[] = []): string {
  return registryInterface.encodeErrorResult(name, args);
}

/** Status codes of IDeviceRegistry.DeviceStatus. */
export const STATUS = { None: 0, Active: 1, Suspended: 2, Revoked: 3 } as const;

/**
 * Asserts what storage holds for a device just registered, directly or materialized: `reg`'s key
 * algorithm, `manufacturer`, active since `registeredAt`, one event, history head `head`.
 */
export async function expectRegisteredRecord(
  registry: DeviceRegistry,
  reg: Registration,
  manufacturer: string,
  registeredAt: number,
  head: string,
): Promise<void> {
  const d = await registry.getDevice(reg.deviceId);
  expect([d.manufacturer, d.status, d.keyAlgorithm, d.registeredAt, d.eventCount]).to.deep.equal([
    manufacturer,
    BigInt(STATUS.Active),
    BigInt(reg.keyAlgorithm),
    BigInt(registeredAt),
    1n,
  ]);
  expect(await registry.historyHead(reg.deviceId)).to.deep.equal([head, 1n]);
  expect(await registry.isActive(reg.deviceId)).to.equal(true);
}

/**
 * A fixture registry with devices in every state:
 * - `active` and `suspended` (suspended by the officer) of `manufacturer`, `active` attested for
 *   "firmware" by `attester` (uid `uid`);
 * - `revoked` (revoked by the officer) of `manufacturer`; `other` (active) of `manufacturer2`.
 */
export async function deployPopulatedFixture() {
  const f = await deployRegistryFixture();
  const active = registration("active");
  const suspended = registration("suspended");
  const revoked = registration("revoked");
  const other = registration("other", { keyAlgorithm: KEY_ALGORITHMS.ed25519 });
  for (const r of [active, suspended, revoked]) await register(f.registry, f.manufacturer, r);
  await register(f.registry, f.manufacturer2, other);
  await f.registry.connect(f.officer).suspendDevice(suspended.deviceId, 8);
  await f.registry.connect(f.officer).revokeDevice(revoked.deviceId, 1);
  const uid = await attestFirmware(f.registry, f.attester, active.deviceId);
  return { ...f, active, suspended, revoked, other, uid };
}

/** Every device event the registry has emitted so far for `deviceId`, in chain order. */
export async function historyOf(registry: DeviceRegistry, deviceId: string): Promise<DeviceEvent[]> {
  const logs = await ethers.provider.getLogs({
    address: await registry.getAddress(),
    fromBlock: 0,
    topics: [null, deviceId],
  });
  return deviceEvents({ logs }).filter((e) => e.deviceId === deviceId);
}

/**
 * The head the next event of `deviceId` must carry: the device's whole history so far, recomputed
 * in TypeScript (common/history.ts), plus the new event.
 */
export async function expectedHead(
  registry: DeviceRegistry,
  deviceId: string,
  name: DeviceEventName,
  fields: Record<string, unknown>,
): Promise<string> {
  const past = await historyOf(registry, deviceId);
  return computeHistoryHead([...past, { name, fields: { deviceId, ...fields } }]);
}

/** A device of an anchored batch: its registration (the leaf) and the serial its id derives from. */
export interface AnchoredDevice extends Registration {
  serial: string;
}

/** Device `serial` of `manufacturer` with deterministic fields: id = deviceIdFor(manufacturer, serial). */
export function anchoredDevice(
  manufacturer: string,
  serial: string,
  overrides: Partial<Omit<AnchoredDevice, "deviceId" | "serial">> = {},
): AnchoredDevice {
  return { ...registration(serial, overrides), deviceId: deviceIdFor(manufacturer, serial), serial };
}

/** The `DeviceRegistration` struct of a device (the leaf fields, without the serial). */
export const leafOf = ({ deviceId, keyAlgorithm, keyHash, firmwareHash, segment }: Registration): Registration => ({
  deviceId,
  keyAlgorithm,
  keyHash,
  firmwareHash,
  segment,
});

export interface AnchoredBatch {
  batchId: string;
  tree: AnchorTree;
  devices: AnchoredDevice[];
  receipt: ContractTransactionReceipt;
}

/** Fixed manifest fields of the fixture batches (the registry only records them in the event). */
export const MANIFEST_HASH = testHash("manifest");
export const MANIFEST_URI = "file:line-7.jsonl";

/** Builds the tree of `devices` (common/merkle.ts) and anchors it as `by`. */
export async function anchorBatch(
  registry: DeviceRegistry,
  by: HardhatEthersSigner,
  devices: AnchoredDevice[],
): Promise<AnchoredBatch> {
  const tree = (await loadAnchorMerkle()).build(devices);
  const tx = await registry.connect(by).anchorDevices(tree.root, tree.count, MANIFEST_HASH, MANIFEST_URI);
  const receipt = (await tx.wait())!;
  const ev = receipt.logs.map((l) => registryInterface.parseLog(l)).find((p) => p?.name === "DevicesAnchored");
  if (!ev) throw new Error("no DevicesAnchored event in the receipt");
  return { batchId: ev.args.getValue("batchId") as string, tree, devices, receipt };
}

/** Materializes device `i` of `batch` as `by` (its proof from the batch's tree). */
export function materialize(
  registry: DeviceRegistry,
  by: HardhatEthersSigner,
  batch: AnchoredBatch,
  i: number,
): Promise<ContractTransactionResponse> {
  const d = batch.devices[i]!;
  return registry.connect(by).materializeDevice(batch.batchId, d.serial, leafOf(d), batch.tree.proof(i));
}
