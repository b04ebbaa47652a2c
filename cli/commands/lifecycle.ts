/** dtl update-firmware | rotate-key | suspend | reinstate | revoke <deviceId> */
import { KEY_ALGORITHM_LIST, REASONS, cliWord, reasonWord } from "../../common/codes";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE } from "../../common/roles";
import { CHAIN_OPTIONS, JSON_OPTION, optional, positionals, required } from "../args";
import type { Command, Invocation } from "../command";
import { connectSigned } from "../context";
import { PROOF_OPTION, PROOF_USAGE, materializedNote, sendDeviceTx } from "../device-tx";
import { algorithm, bytes32, firmwareArg, publicKeyHash, readKeyFile, reason } from "../input";
import { CliError } from "../io";
import { report, txFields, txNote } from "../output";

const ROLE_NAMES = { [MANUFACTURER_ROLE]: "MANUFACTURER_ROLE", [SECURITY_OFFICER_ROLE]: "SECURITY_OFFICER_ROLE" };

/** Sends one device transaction and reports it. */
async function deviceTx(
  inv: Invocation,
  name: string,
  method: string,
  args: (id: string) => unknown[],
  done: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const [raw] = positionals(name, inv, ["deviceId"]) as [string];
  const deviceId = bytes32(name, "<deviceId>", raw);
  const callArgs = args(deviceId);
  const ctx = await connectSigned(inv.values, inv.io, inv.env);
  const { receipt, materializedFrom } = await sendDeviceTx(inv, name, ctx, deviceId, method, callArgs, ROLE_NAMES);
  report(inv, `${done} ${deviceId}${materializedNote(materializedFrom)} (${txNote(receipt)})`, {
    deviceId,
    ...extra,
    by: ctx.account,
    materializedFrom: materializedFrom ?? null,
    ...txFields(receipt),
  });
}

const base = { ...CHAIN_OPTIONS, ...JSON_OPTION, ...PROOF_OPTION };

export const updateFirmware: Command = {
  name: "update-firmware",
  usage: `dtl update-firmware <deviceId> --firmware <hex32>  ·  dtl update-firmware <deviceId> --firmware-file <image>${PROOF_USAGE}`,
  summary: "record new firmware for a device (its manufacturer)",
  options: { ...base, firmware: { type: "string" }, "firmware-file": { type: "string" } },
  run(inv) {
    const firmware = firmwareArg("update-firmware", inv.values);
    return deviceTx(inv, "update-firmware", "updateFirmware", () => [firmware], "updated firmware of", {
      firmwareHash: firmware,
    });
  },
};

export const rotateKey: Command = {
  name: "rotate-key",
  usage: `dtl rotate-key <deviceId> --alg <alg> --public-key <hex>  ·  dtl rotate-key <deviceId> --key <keyfile>${PROOF_USAGE}`,
  summary: "replace a device's key (its manufacturer)",
  options: { ...base, alg: { type: "string" }, "public-key": { type: "string" }, key: { type: "string" } },
  run(inv) {
    const n = "rotate-key";
    const keyFile = optional(inv.values, "key");
    let alg;
    let hash;
    if (keyFile !== undefined) {
      if (inv.values.alg !== undefined || inv.values["public-key"] !== undefined)
        throw new CliError(`${n}: give either --key <keyfile> or --alg with --public-key, not both`);
      const pair = readKeyFile(n, keyFile);
      alg = algorithm(n, pair.algorithm);
      hash = publicKeyHash(n, alg, pair.publicKey);
    } else {
      alg = algorithm(n, required(n, inv.values, "alg", KEY_ALGORITHM_LIST.join("|")));
      hash = publicKeyHash(n, alg, required(n, inv.values, "public-key", "<hex>"));
    }
    return deviceTx(inv, n, "rotateKey", () => [alg, hash], "rotated the key of", { keyAlgorithm: alg, keyHash: hash });
  },
};

export const suspend: Command = {
  name: "suspend",
  usage: `dtl suspend <deviceId> [--reason <reason>]${PROOF_USAGE}`,
  summary: "suspend an active device (its manufacturer or a security officer)",
  options: { ...base, reason: { type: "string" } },
  run(inv) {
    const code = reason("suspend", optional(inv.values, "reason"));
    return deviceTx(inv, "suspend", "suspendDevice", () => [code], `suspended (${reasonWord(code)})`, {
      reason: REASONS[code],
    });
  },
};

export const reinstate: Command = {
  name: "reinstate",
  usage: "dtl reinstate <deviceId>",
  summary: "reinstate a suspended device (its manufacturer or a security officer)",
  options: base,
  run: (inv) => deviceTx(inv, "reinstate", "reinstateDevice", () => [], "reinstated"),
};

export const revoke: Command = {
  name: "revoke",
  usage: `dtl revoke <deviceId> --reason <reason>   (reasons: ${REASONS.map(cliWord).join(", ")})${PROOF_USAGE}`,
  summary: "revoke a device for good (its manufacturer or a security officer)",
  options: { ...base, reason: { type: "string" } },
  run(inv) {
    const code = reason("revoke", required("revoke", inv.values, "reason", "<reason>"));
    return deviceTx(inv, "revoke", "revokeDevice", () => [code], `revoked (${reasonWord(code)})`, {
      reason: REASONS[code],
    });
  },
};
