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
import { DEVICE_STATUS } from "../common/codes";
import { DeviceProofFormatError, parseDeviceProof, type DeviceProof } from "../common/manifest";
import { optional, type OptionSpec } from "./args";
import type { Invocation } from "./command";
import type { SignedContext } from "./context";
import { CliError } from "./io";

/** The option of every device command: the device's own proof, for a device of an anchored batch. */
export const PROOF_OPTION: OptionSpec = { proof: { type: "string" } };
export const PROOF_USAGE =
  "\n       [--proof <serial>.proof.json]   (a device of an anchored batch not yet on chain: materialize + act in one transaction)";

/** " (materialized from batch 0x…)" when it was, else "". */
export const materializedNote = (batchId: string | undefined): string =>
  batchId ? ` (materialized from batch ${batchId} in the same transaction)` : "";

/** Reads and checks `--proof FILE` against the device id and the chain the command talks to. */
export function readProofFile(command: string, file: string, deviceId: string, ctx: SignedContext): DeviceProof {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new CliError(`${command}: cannot read --proof ${file}: ${code === "ENOENT" ? "no such file" : String(code)}`);
  }
  let p: DeviceProof;
  try {
    p = parseDeviceProof(text, file);
  } catch (err) {
    if (err instanceof DeviceProofFormatError) throw new CliError(`${command}: --proof ${err.message}`);
    throw err;
  }
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
  const proof = proofFile === undefined ? undefined : readProofFile(command, proofFile, deviceId, ctx);
  if (proof) {
    const record = (await ctx.registry.getFunction("getDevice")(deviceId)) as { status: bigint };
    if (DEVICE_STATUS[Number(record.status)] === "NONE") {
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
