/**
 * dtl audit [--json] — replays the chain itself and checks against it every device's history, the
 * on-chain history heads, every field of every device record the API serves, its default-policy
 * verdicts and the API's digest. Exit 0 consistent, 4 inconsistent (each device, field and block
 * that differs is named).
 */
import { API_OPTIONS, CHAIN_OPTIONS, JSON_OPTION, positionals } from "../args";
import { audit } from "../audit";
import type { Command } from "../command";
import { config, connect } from "../context";
import { apiClient } from "../graphql";
import { CliError, EXIT } from "../io";

export const command: Command = {
  name: "audit",
  usage: "dtl audit [--rpc URL] [--deployment FILE] [--api URL] [--json]   (exit 0 consistent, 4 inconsistent)",
  summary:
    "replay the chain and check every device history, head, record, default verdict and the API's digest against it",
  options: { ...CHAIN_OPTIONS, ...API_OPTIONS, ...JSON_OPTION },
  async run(inv) {
    positionals("audit", inv, []);
    config(["chain", "client"], inv.values, inv.env); // every bad setting at once
    const api = apiClient(inv.values, inv.env);
    const ctx = await connect(inv.values, inv.env);
    const json = inv.values.json === true;
    let report;
    try {
      report = await audit({
        client: ctx.client,
        deployment: ctx.deployment,
        api,
        onProgress: json ? undefined : (what) => inv.io.err(`audit: ${what}…`),
      });
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw new CliError(`audit: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
    }
    if (json) inv.io.json(report);
    else {
      const io = inv.io;
      io.out(
        `audit of registry ${report.registry} on chain ${report.chainId} at block ${report.block} (the API's indexed block)`,
      );
      io.out(`  replayed ${report.logs} logs: ${report.events} device events of ${report.devices} devices`);
      io.out(`  state digest: replay ${report.digest.replayed}, API ${report.digest.api}`);
      if (report.checkpoints.checked > 0)
        io.out(
          `  witness checkpoints: ${report.checkpoints.checked} checked (signature and digest) from ${report.checkpoints.witnesses.join(", ")}`,
        );
      for (const p of report.problems) {
        io.out(
          `  ✗ ${p.deviceId ? `device ${p.deviceId} ` : ""}block ${p.block}${p.seq ? ` entry #${p.seq}` : ""}${p.field ? ` field ${p.field}` : ""} [${p.source}]: ${p.message}`,
        );
      }
      io.out(
        report.consistent
          ? `CONSISTENT: ${report.devices} devices' histories, on-chain heads, records and default verdicts, and the API's digest agree with the chain`
          : `INCONSISTENT: ${report.problems.length} difference${report.problems.length === 1 ? "" : "s"}`,
      );
    }
    return report.consistent ? EXIT.ok : EXIT.inconsistent;
  },
};
