/** dtl grant <role> <address> [--kind k] · dtl revoke-role <role> <address> [--kind k] */
import { sendRegistryTx } from "../../common/chain";
import { CHAIN_OPTIONS, JSON_OPTION, optional, positionals } from "../args";
import type { Command, Invocation } from "../command";
import { connectSigned } from "../context";
import { address } from "../input";
import { report, txFields, txNote } from "../output";
import { roleRef } from "../roles";

async function change(inv: Invocation, name: "grant" | "revoke-role"): Promise<void> {
  const [word, who] = positionals(name, inv, ["role", "address"]) as [string, string];
  const role = roleRef(name, word, optional(inv.values, "kind"));
  const account = address(name, "<address>", who);
  const ctx = await connectSigned(inv.values, inv.io, inv.env);
  const holds = (await ctx.registry.getFunction("hasRole")(role.id, account)) as boolean;
  const granting = name === "grant";
  if (holds === granting) {
    report(inv, `${account} ${granting ? "already holds" : "does not hold"} ${role.label}; nothing sent`, {
      role: role.label,
      roleId: role.id,
      account,
      changed: false,
    });
    return;
  }
  const receipt = await sendRegistryTx(ctx.signed, granting ? "grantRole" : "revokeRole", [role.id, account]);
  report(
    inv,
    `${granting ? "granted" : "revoked"} ${role.label} ${granting ? "to" : "from"} ${account} (${txNote(receipt)})`,
    {
      role: role.label,
      roleId: role.id,
      account,
      changed: true,
      ...txFields(receipt),
    },
  );
}

const options = { ...CHAIN_OPTIONS, ...JSON_OPTION, kind: { type: "string" } } as const;

export const grant: Command = {
  name: "grant",
  usage: "dtl grant manufacturer|officer <address>  ·  dtl grant attester <address> --kind <kind>",
  summary: "grant a role (admin only)",
  options,
  run: (inv) => change(inv, "grant"),
};

export const revokeRole: Command = {
  name: "revoke-role",
  usage: "dtl revoke-role manufacturer|officer|attester <address> [--kind <kind>]",
  summary: "revoke a role (admin only)",
  options,
  run: (inv) => change(inv, "revoke-role"),
};
