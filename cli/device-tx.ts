/**
 * Sending a device transaction (revoke, suspend, reinstate, attest, rotate-key, update-firmware)
 * on a device that may be anchored and not yet materialized (DESIGN.md §10): when the registry
 * has no record of the device, the CLI sends ONE `multicall([materializeDevice(batchId, serial,
 * reg, proof), <action>])` — atomic: both happen or neither — with the proof from `--proof FILE`.
 * A device with a record gets the plain action, as before.
 */
import { readFileSync } from "node:fs";
import type { TransactionReceipt } from "ethers";
import { registryInterface } from "../common/abi";
import { sendRegistryTx } from "../common/chain";
import { DEVICE_STATUS, keyAlgorithmEnum, keyAlgorithmOfEnum } from "../common/codes";
import { encodeShortName } from "../common/ids";
import { DeviceProofFormatError, parseDeviceProof, type DeviceProof } from "../common/manifest";
import { optional, type OptionSpec } from "./args";
import type { Invocation } from "./command";
import type { SignedContext } from "./context";
import { apiClient, gql, type GraphqlClient } from "./graphql";
import { CliError } from "./io";

/**
 * The options of every device command for a device of an anchored batch: its own proof, or the
 * API that knows it from the batch's manifest.
 */
export const PROOF_OPTION: OptionSpec = { proof: { type: "string" }, api: { type: "string" } };

const DEVICE_PROOF = gql<{
  device: {
    id: string;
    keyAlgorithm: string;
    keyHash: string;
    firmwareHash: string;
    segment: string;
    registration: {
      kind: string;
      batchId: string | null;
      serial: string | null;
      proof: string[] | null;
      materialized: boolean;
      batch: { manufacturer: string; root: string; manifestStatus: string } | null;
    };
  } | null;
  indexerStatus: { chainId: number; registry: string };
}>(`query DeviceProof($id: Bytes32!) {
  device(id: $id) {
    id keyAlgorithm keyHash firmwareHash segment
    registration { kind batchId serial proof materialized batch { manufacturer root manifestStatus } }
  }
  indexerStatus { chainId registry }
}`);

/** Why the API cannot give a device's proof, for the error line. */
export class NoProofError extends CliError {
  constructor(
    message: string,
    /** The API knows the device as anchored (only its manifest is missing there). */
    readonly anchored = false,
  ) {
    super(message);
  }
}

/**
 * A device's proof as the API computes it from its batch's manifest — the same content as the
 * `<serial>.proof.json` that `register --anchor` wrote. Throws {@link NoProofError} saying why
 * when there is none (unknown device, a direct registration, a manifest not loaded there).
 */
export async function fetchDeviceProof(api: GraphqlClient, deviceId: string): Promise<DeviceProof> {
  const { device, indexerStatus } = await api.request(DEVICE_PROOF, { id: deviceId });
  if (!device)
    throw new NoProofError(
      `the API at ${api.url} knows no device ${deviceId} (a device of an anchored batch is known where its batch's manifest is loaded)`,
    );
  const reg = device.registration;
  if (reg.kind !== "ANCHORED" || !reg.batchId || !reg.batch)
    throw new NoProofError(`device ${deviceId} was registered directly, not anchored in a batch: it has no proof`);
  if (!reg.proof || reg.serial === null)
    throw new NoProofError(
      `device ${deviceId} has no record on chain and the API at ${api.url} has not loaded the manifest of its batch ${reg.batchId} (${reg.batch.manifestStatus})`,
      true,
    );
  const keyAlgorithm = keyAlgorithmOfEnum(device.keyAlgorithm);
  if (keyAlgorithm === undefined) throw new CliError(`the API gave an unknown key algorithm ${device.keyAlgorithm}`);
  return {
    chainId: indexerStatus.chainId,
    registry: indexerStatus.registry,
    batchId: reg.batchId,
    manufacturer: reg.batch.manufacturer,
    root: reg.batch.root,
    serial: reg.serial,
    deviceId: device.id,
    keyAlgorithm,
    keyHash: device.keyHash,
    firmwareHash: device.firmwareHash,
    // the API gives the segment as its short name, or as bytes32 hex when it is not one
    segment: /^0x[0-9a-f]{64}$/.test(device.segment) ? device.segment : encodeShortName("segment", device.segment),
    proof: reg.proof,
  };
}
export const PROOF_USAGE =
  "\n       [--proof <serial>.proof.json]   (a device of an anchored batch not yet on chain: materialize + act in one transaction)";

/** " (materialized from batch 0x…)" when it was, else "". */
export const materializedNote = (batchId: string | undefined): string =>
  batchId ? ` (materialized from batch ${batchId} in the same transaction)` : "";

/** Reads a device proof file (`<serial>.proof.json`) given as `flag`; every problem one line. */
export function readDeviceProofFile(command: string, flag: string, file: string): DeviceProof {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new CliError(`${command}: cannot read ${flag} ${file}: ${code === "ENOENT" ? "no such file" : String(code)}`);
  }
  try {
    return parseDeviceProof(text, file);
  } catch (err) {
    if (err instanceof DeviceProofFormatError) throw new CliError(`${command}: ${flag} ${err.message}`);
    throw err;
  }
}

/** The GraphQL `RegistrationProofInput` of a device proof (verifyDevice's `registration:`). */
export function registrationInput(p: DeviceProof): Record<string, unknown> {
  return {
    batchId: p.batchId,
    serial: p.serial,
    keyAlgorithm: keyAlgorithmEnum(p.keyAlgorithm) ?? String(p.keyAlgorithm),
    keyHash: p.keyHash,
    firmwareHash: p.firmwareHash,
    segment: p.segment,
    proof: p.proof,
  };
}

/** Reads and checks `--proof FILE` against the device id and the chain the command talks to. */
export function readProofFile(command: string, file: string, deviceId: string, ctx: SignedContext): DeviceProof {
  const p = readDeviceProofFile(command, "--proof", file);
  if (p.deviceId !== deviceId)
    throw new CliError(`${command}: --proof ${file} is the proof of device ${p.deviceId}, not of ${deviceId}`);
  if (p.chainId !== ctx.chainId || p.registry.toLowerCase() !== ctx.deployment.registry.toLowerCase())
    throw new CliError(
      `${command}: --proof ${file} is for registry ${p.registry} on chain ${p.chainId}, not ${ctx.deployment.registry} on chain ${ctx.chainId}`,
    );
  return p;
}

export interface DeviceTxResult {
  receipt: TransactionReceipt;
  /** The batch the device was materialized from in this transaction, if it was. */
  materializedFrom?: string;
}

/**
 * Sends `method(deviceId, ...args)`; when the device has no record on chain and a proof is given
 * (`--proof FILE`), as one multicall after materializing it.
 */
export async function sendDeviceTx(
  inv: Invocation,
  command: string,
  ctx: SignedContext,
  deviceId: string,
  method: string,
  args: unknown[],
  roleNames: Record<string, string>,
): Promise<DeviceTxResult> {
  const proofFile = optional(inv.values, "proof");
  let proof = proofFile === undefined ? undefined : readProofFile(command, proofFile, deviceId, ctx);
  const record = (await ctx.registry.getFunction("getDevice")(deviceId)) as { status: bigint };
  const onChain = DEVICE_STATUS[Number(record.status)] !== "NONE";
  if (!onChain && !proof) {
    // no record on chain: a device of an anchored batch? The API knows it from the manifest.
    // When the API cannot say (not running, device unknown to it), the registry's own error
    // (DeviceRegistryUnknownDevice) is the answer.
    const api = apiClient(inv.values, inv.env);
    proof = await fetchDeviceProof(api, deviceId).catch((err: unknown) => {
      if (err instanceof NoProofError && err.anchored)
        throw new CliError(`${command}: ${err.message}; give its proof with --proof <serial>.proof.json`);
      return undefined;
    });
    if (
      proof &&
      (proof.chainId !== ctx.chainId || proof.registry.toLowerCase() !== ctx.deployment.registry.toLowerCase())
    )
      throw new CliError(
        `${command}: the API at ${api.url} follows registry ${proof.registry} on chain ${proof.chainId}, not ${ctx.deployment.registry} on chain ${ctx.chainId}`,
      );
  }
  if (proof) {
    if (!onChain) {
      const calls = [
        registryInterface.encodeFunctionData("materializeDevice", [
          proof.batchId,
          proof.serial,
          {
            deviceId: proof.deviceId,
            keyAlgorithm: proof.keyAlgorithm,
            keyHash: proof.keyHash,
            firmwareHash: proof.firmwareHash,
            segment: proof.segment,
          },
          proof.proof,
        ]),
        registryInterface.encodeFunctionData(method, [deviceId, ...args]),
      ];
      const receipt = await sendRegistryTx(ctx.signed, "multicall", [calls], { roleNames });
      return { receipt, materializedFrom: proof.batchId };
    }
  }
  return { receipt: await sendRegistryTx(ctx.signed, method, [deviceId, ...args], { roleNames }) };
}
