/** dtl attest <deviceId> --kind k --evidence <hex32> [--expires-in 30d | --expires-at <date>] · dtl revoke-attestation <uid> */
import { sendRegistryTx } from "../../common/chain";
import { DEVICE_EVENT_TOPICS } from "../../common/abi";
import { REASONS, reasonWord } from "../../common/codes";
import { SECURITY_OFFICER_ROLE } from "../../common/roles";
import { CHAIN_OPTIONS, JSON_OPTION, optional, positionals, required } from "../args";
import type { Command } from "../command";
import { connectSigned } from "../context";
import { PROOF_OPTION, PROOF_USAGE, materializedNote, sendDeviceTx } from "../device-tx";
import { bytes32, duration, isoDate, reason, shortName } from "../input";
import { CliError } from "../io";
import { report, txFields, txNote } from "../output";
import { attesterRoleNames } from "../roles";

export const attest: Command = {
  name: "attest",
  usage: `dtl attest <deviceId> --kind <kind> --evidence <hex32> [--expires-in 30d | --expires-at <ISO date>]${PROOF_USAGE}`,
  summary: "attest a device for a kind (an attester of that kind)",
  options: {
    ...CHAIN_OPTIONS,
    ...JSON_OPTION,
    kind: { type: "string" },
    evidence: { type: "string" },
    "expires-in": { type: "string" },
    "expires-at": { type: "string" },
    ...PROOF_OPTION,
  },
  async run(inv) {
    const n = "attest";
    const [raw] = positionals(n, inv, ["deviceId"]) as [string];
    const deviceId = bytes32(n, "<deviceId>", raw);
    const kind = required(n, inv.values, "kind", "<kind>");
    const kindBytes = shortName(n, "--kind", kind);
    const evidence = bytes32(n, "--evidence", required(n, inv.values, "evidence", "<hex32>"));
    const expIn = optional(inv.values, "expires-in");
    const expAt = optional(inv.values, "expires-at");
    if (expIn !== undefined && expAt !== undefined)
      throw new CliError(`${n}: give --expires-in or --expires-at, not both`);
    const expiresAt =
      expIn !== undefined
        ? Math.floor(Date.now() / 1000) + duration(n, "expires-in", expIn)
        : expAt !== undefined
          ? isoDate(n, "expires-at", expAt)
          : 0;
    const ctx = await connectSigned(inv.values, inv.io, inv.env);
    const { receipt, materializedFrom } = await sendDeviceTx(
      inv,
      n,
      ctx,
      deviceId,
      "attest",
      [kindBytes, evidence, expiresAt],
      attesterRoleNames([kind]),
    );
    const log = receipt.logs.find((l) => l.topics[0] === DEVICE_EVENT_TOPICS.Attested);
    const uid = log ? log.topics[2]! : "";
    const expires = expiresAt ? new Date(expiresAt * 1000).toISOString() : "never";
    report(
      inv,
      `attested ${deviceId} for ${kind}: uid ${uid}, expires ${expires}${materializedNote(materializedFrom)} (${txNote(receipt)})`,
      {
        uid,
        deviceId,
        materializedFrom: materializedFrom ?? null,
        kind,
        evidenceHash: evidence,
        expiresAt: expiresAt ? new Date(expiresAt * 1000).toISOString() : null,
        attester: ctx.account,
        ...txFields(receipt),
      },
    );
  },
};

export const revokeAttestation: Command = {
  name: "revoke-attestation",
  usage: "dtl revoke-attestation <uid> [--reason <reason>] [--device <deviceId>]",
  summary: "withdraw an attestation (its attester or a security officer)",
  options: { ...CHAIN_OPTIONS, ...JSON_OPTION, reason: { type: "string" }, device: { type: "string" } },
  async run(inv) {
    const n = "revoke-attestation";
    const [raw] = positionals(n, inv, ["uid"]) as [string];
    const uid = bytes32(n, "<uid>", raw);
    const code = reason(n, optional(inv.values, "reason"));
    const given = optional(inv.values, "device");
    let deviceId = given === undefined ? undefined : bytes32(n, "--device", given);
    const ctx = await connectSigned(inv.values, inv.io, inv.env);
    if (deviceId === undefined) {
      // the uid is the Attested event's second indexed field: find the device from the log
      const logs = await ctx.client.call<{ topics: string[] }[]>("eth_getLogs", [
        {
          address: ctx.deployment.registry,
          fromBlock: `0x${ctx.deployment.deployBlock.toString(16)}`,
          toBlock: "latest",
          topics: [DEVICE_EVENT_TOPICS.Attested, null, uid],
        },
      ]);
      const first = logs[0];
      if (!first) throw new CliError(`${n}: no attestation ${uid} on this registry`);
      deviceId = first.topics[1]!;
    }
    const receipt = await sendRegistryTx(ctx.signed, "revokeAttestation", [deviceId, uid, code], {
      roleNames: { [SECURITY_OFFICER_ROLE]: "SECURITY_OFFICER_ROLE" },
    });
    report(inv, `revoked attestation ${uid} of ${deviceId} (${reasonWord(code)}; ${txNote(receipt)})`, {
      uid,
      deviceId,
      reason: REASONS[code],
      by: ctx.account,
      ...txFields(receipt),
    });
  },
};
