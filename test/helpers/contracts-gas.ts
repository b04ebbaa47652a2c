/**
 * The ONE gas measurement of the registry, shared by `npm run bench -- gas` (bench/gas.ts, against a
 * started hardhat node) and the committed snapshot check (test/contracts/gas-snapshot.test.ts,
 * in-process). Gas is deterministic for the same calldata and storage states, so both give the
 * same figures.
 *
 * Which case is measured — the typical one, every optional field set:
 * - registrations carry a segment and a firmware hash (secp256k1 key), on fresh device ids;
 * - attestations are of kind "firmware" with an expiry (FAR_EXPIRY) and evidence, the first
 *   attestation of the device;
 * - updateFirmware, rotateKey, suspend, reinstate and revoke are sent by the device's own
 *   manufacturer (one cold role lookup, like an officer's);
 * - revokeAttestation by the attester who issued it;
 * - batches hold 100 items (the per-device figure is the transaction's gasUsed / 100).
 */
import type { BaseContract, ContractTransactionReceipt, ContractTransactionResponse } from "ethers";
import { registryInterface } from "../../common/abi";
import { encodeShortName } from "../../common/ids";
import { keccak256, toUtf8Bytes } from "ethers";

export const GAS_BATCH = 100;
/** Same fixed values as test/helpers/contracts-fixture.ts (that file needs the in-process hardhat). */
const KIND = encodeShortName("kind", "firmware");
const SEGMENT = encodeShortName("segment", "plant-3/hvac");
const EXPIRY = 4_000_000_000;
const hash = (label: string): string => keccak256(toUtf8Bytes(label));

export interface GasFigures {
  registerDevice: number;
  registerDevicesPerDevice: number;
  attest: number;
  attestDevicesPerDevice: number;
  revokeDevice: number;
  revokeDevicesPerDevice: number;
  updateFirmware: number;
  rotateKey: number;
  suspendDevice: number;
  reinstateDevice: number;
  revokeAttestation: number;
}

export const GAS_FIGURE_NAMES: readonly (keyof GasFigures)[] = [
  "registerDevice",
  "registerDevicesPerDevice",
  "attest",
  "attestDevicesPerDevice",
  "revokeDevice",
  "revokeDevicesPerDevice",
  "updateFirmware",
  "rotateKey",
  "suspendDevice",
  "reinstateDevice",
  "revokeAttestation",
];

/** The registry connected to the signer of each role (the attester holds attesterRole("firmware")). */
export interface GasActors {
  manufacturer: BaseContract;
  attester: BaseContract;
}

/** Gas limit for the 100-item batches (Osaka caps a transaction at 16,777,216 gas). */
const BATCH_GAS = { gasLimit: 16_000_000 };

async function gasOf(
  pending: Promise<ContractTransactionResponse>,
): Promise<{ gas: number; receipt: ContractTransactionReceipt }> {
  const receipt = await (await pending).wait();
  if (!receipt || receipt.status !== 1) throw new Error("gas measurement transaction failed");
  return { gas: Number(receipt.gasUsed), receipt };
}

function uidsOf(receipt: ContractTransactionReceipt): string[] {
  return receipt.logs.flatMap((log) => {
    const p = registryInterface.parseLog(log);
    return p?.name === "Attested" ? [p.args.getValue("uid") as string] : [];
  });
}

/**
 * Runs every measured operation once on fresh devices (ids derived from `label`, so one registry
 * can be measured several times with different labels) and returns gasUsed per operation.
 */
export async function measureGas(actors: GasActors, label = "gas"): Promise<GasFigures> {
  const m = actors.manufacturer;
  const a = actors.attester;
  const device = (i: number | string) => ({
    deviceId: hash(`${label}/device/${i}`),
    keyAlgorithm: 1,
    keyHash: hash(`${label}/key/${i}`),
    firmwareHash: hash(`${label}/firmware/${i}`),
    segment: SEGMENT,
  });
  const single = device("single");
  const batch = Array.from({ length: GAS_BATCH }, (_, i) => device(i));
  const batchIds = batch.map((d) => d.deviceId);
  const perDevice = (gas: number) => gas / GAS_BATCH;

  const registerDevice = await gasOf(
    m.getFunction("registerDevice")(
      single.deviceId,
      single.keyAlgorithm,
      single.keyHash,
      single.firmwareHash,
      single.segment,
    ),
  );
  const registerDevices = await gasOf(m.getFunction("registerDevices")(batch, BATCH_GAS));
  const updateFirmware = await gasOf(m.getFunction("updateFirmware")(single.deviceId, hash(`${label}/firmware/2`)));
  const rotateKey = await gasOf(m.getFunction("rotateKey")(single.deviceId, 2, hash(`${label}/key/2`)));
  const attest = await gasOf(a.getFunction("attest")(single.deviceId, KIND, hash(`${label}/evidence`), EXPIRY));
  const attestDevices = await gasOf(
    a.getFunction("attestDevices")(
      batchIds.map((deviceId) => ({
        deviceId,
        kind: KIND,
        evidenceHash: hash(`${label}/evidence/${deviceId}`),
        expiresAt: EXPIRY,
      })),
      BATCH_GAS,
    ),
  );
  const [uid] = uidsOf(attest.receipt);
  if (!uid) throw new Error("attest emitted no Attested event");
  const revokeAttestation = await gasOf(a.getFunction("revokeAttestation")(single.deviceId, uid, 4));
  const suspendDevice = await gasOf(m.getFunction("suspendDevice")(single.deviceId, 8));
  const reinstateDevice = await gasOf(m.getFunction("reinstateDevice")(single.deviceId));
  const revokeDevice = await gasOf(m.getFunction("revokeDevice")(single.deviceId, 5));
  const revokeDevices = await gasOf(m.getFunction("revokeDevices")(batchIds, 5, BATCH_GAS));

  return {
    registerDevice: registerDevice.gas,
    registerDevicesPerDevice: perDevice(registerDevices.gas),
    attest: attest.gas,
    attestDevicesPerDevice: perDevice(attestDevices.gas),
    revokeDevice: revokeDevice.gas,
    revokeDevicesPerDevice: perDevice(revokeDevices.gas),
    updateFirmware: updateFirmware.gas,
    rotateKey: rotateKey.gas,
    suspendDevice: suspendDevice.gas,
    reinstateDevice: reinstateDevice.gas,
    revokeAttestation: revokeAttestation.gas,
  };
}

/**
 * The bounds of issue 8 (gas per call, or per device for the 100-item batches), set when the
 * hand-written assembly went back to plain Solidity (docs/gas.md).
 */
export const GAS_TARGETS: Partial<Record<keyof GasFigures, number>> = {
  registerDevice: 80_000,
  registerDevicesPerDevice: 55_000,
  attest: 65_000,
  revokeDevice: 45_000,
  revokeDevicesPerDevice: 15_000,
};
