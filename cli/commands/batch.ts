/** dtl batch revoke <batchId> --reason <reason> — anchored batches (DESIGN.md §10). */
import { sendRegistryTx } from "../../common/chain";
import { REASONS, cliWord, reasonWord } from "../../common/codes";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE } from "../../common/roles";
import { CHAIN_OPTIONS, JSON_OPTION, positionals, required } from "../args";
import type { Command } from "../command";
import { connectSigned } from "../context";
import { bytes32, reason } from "../input";
import { report, txFields, txNote } from "../output";

const ROLE_NAMES = { [MANUFACTURER_ROLE]: "MANUFACTURER_ROLE", [SECURITY_OFFICER_ROLE]: "SECURITY_OFFICER_ROLE" };

export const revoke: Command = {
  name: "batch revoke",
  usage: `dtl batch revoke <batchId> --reason <reason>   (reasons: ${REASONS.map(cliWord).join(", ")})`,
  summary:
    "revoke a whole anchored batch for good: every device of it untrusted at once (its manufacturer or a security officer)",
  options: { ...CHAIN_OPTIONS, ...JSON_OPTION, reason: { type: "string" } },
  async run(inv) {
    const n = "batch revoke";
    const [raw] = positionals(n, inv, ["batchId"]) as [string];
    const batchId = bytes32(n, "<batchId>", raw);
    const code = reason(n, required(n, inv.values, "reason", "<reason>"));
    const ctx = await connectSigned(inv.values, inv.io, inv.env);
    const receipt = await sendRegistryTx(ctx.signed, "revokeBatch", [batchId, code], { roleNames: ROLE_NAMES });
    report(inv, `revoked batch ${batchId} (${reasonWord(code)}; ${txNote(receipt)})`, {
      batchId,
      reason: REASONS[code],
      by: ctx.account,
      ...txFields(receipt),
    });
  },
};
