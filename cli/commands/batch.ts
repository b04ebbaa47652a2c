/**
 * Anchored batches (DESIGN.md §10): dtl batch revoke <batchId> --reason <reason> (chain),
 * dtl batch list | show (API), dtl device proof <deviceId> (API).
 */
import { writeFileSync } from "node:fs";
import { sendRegistryTx } from "../../common/chain";
import { REASONS, cliWord, reasonWord } from "../../common/codes";
import { encodeDeviceProof } from "../../common/manifest";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE } from "../../common/roles";
import { API_OPTIONS, CHAIN_OPTIONS, JSON_OPTION, optional, positionals, required } from "../args";
import type { Command } from "../command";
import { connectSigned } from "../context";
import { NoProofError, fetchDeviceProof } from "../device-tx";
import { apiClient, gql, type DataOf } from "../graphql";
import { address, bytes32, reason } from "../input";
import { CliError } from "../io";
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

interface BatchNode {
  id: string;
  manufacturer: string;
  root: string;
  count: number;
  manifestHash: string;
  manifestUri: string;
  manifestStatus: string;
  manifestError: string | null;
  manifestIndexed: number;
  anchoredAt: { block: number; tx: string; timestamp: string };
  revoked: boolean;
  revokedReason: string | null;
  revokedAt: { block: number; tx: string; timestamp: string } | null;
  revokedBy: string | null;
  materializedCount: number;
  atBlock: number;
}

const BATCH_FIELDS = `id manufacturer root count manifestHash manifestUri manifestStatus manifestError manifestIndexed
    anchoredAt { block tx timestamp } revoked revokedReason revokedAt { block tx timestamp } revokedBy
    materializedCount atBlock`;

const BATCH = gql<{ batch: BatchNode | null }>(`query Batch($id: Bytes32!) {
  batch(id: $id) {
    ${BATCH_FIELDS}
  }
}`);

const BATCHES = gql<{
  batches: {
    edges: { node: BatchNode }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    totalCount: number;
    atBlock: number;
  };
}>(`query Batches($filter: BatchFilter, $after: String) {
  batches(filter: $filter, first: 500, after: $after) {
    edges { node { ${BATCH_FIELDS} } }
    pageInfo { hasNextPage endCursor }
    totalCount atBlock
  }
}`);

const short = (hex: string) => `${hex.slice(0, 6)}…${hex.slice(-4)}`;
const when = (t: string) => t.replace(/\.\d+Z$/, "Z");

export const list: Command = {
  name: "batch list",
  usage:
    "dtl batch list [--manufacturer <address>] [--revoked | --not-revoked] [--manifest-status pending|loaded|unavailable|invalid] [--api URL] [--json]",
  summary: "anchored batches as the API knows them, with their manifest status",
  options: {
    ...API_OPTIONS,
    ...JSON_OPTION,
    manufacturer: { type: "string" },
    revoked: { type: "boolean" },
    "not-revoked": { type: "boolean" },
    "manifest-status": { type: "string" },
  },
  async run(inv) {
    const n = "batch list";
    positionals(n, inv, []);
    const filter: Record<string, unknown> = {};
    const maker = optional(inv.values, "manufacturer");
    if (maker !== undefined) filter.manufacturer = address(n, "--manufacturer", maker);
    if (inv.values.revoked === true && inv.values["not-revoked"] === true)
      throw new CliError(`${n}: give --revoked or --not-revoked, not both`);
    if (inv.values.revoked === true) filter.revoked = true;
    if (inv.values["not-revoked"] === true) filter.revoked = false;
    const status = optional(inv.values, "manifest-status");
    if (status !== undefined) {
      if (!MANIFEST_STATUSES.includes(status.toUpperCase()))
        throw new CliError(
          `${n}: --manifest-status must be one of ${MANIFEST_STATUSES.map((s) => s.toLowerCase()).join(", ")}, got "${status}"`,
        );
      filter.manifestStatus = status.toUpperCase();
    }
    const api = apiClient(inv.values, inv.env);
    const batches: BatchNode[] = [];
    let after: string | null = null;
    let atBlock = 0;
    let total = 0;
    for (;;) {
      const page: DataOf<typeof BATCHES>["batches"] = (await api.request(BATCHES, { filter, after })).batches;
      batches.push(...page.edges.map((e) => e.node));
      atBlock = page.atBlock;
      total = page.totalCount;
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    if (inv.values.json === true) {
      inv.io.json({ atBlock, totalCount: total, batches });
      return;
    }
    if (batches.length === 0) {
      inv.io.out(`no anchored batches${Object.keys(filter).length ? " match" : ""} (block ${atBlock})`);
      return;
    }
    const rows = batches.map((b) => [
      b.id,
      short(b.manufacturer),
      b.count.toLocaleString("en-US"),
      b.manifestStatus,
      b.materializedCount.toLocaleString("en-US"),
      b.revoked ? `REVOKED (${reasonOf(b.revokedReason)})` : "-",
      `${b.anchoredAt.block}`,
      when(b.anchoredAt.timestamp),
    ]);
    const head = ["batch", "manufacturer", "devices", "manifest", "materialized", "revoked", "block", "anchored"];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (r: string[]) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join("  ")
        .trimEnd();
    inv.io.out(fmt(head));
    for (const r of rows) inv.io.out(fmt(r));
    inv.io.out(`${batches.length} batch${batches.length === 1 ? "" : "es"} (block ${atBlock})`);
  },
};

const MANIFEST_STATUSES = ["PENDING", "LOADED", "UNAVAILABLE", "INVALID"];
const reasonOf = (r: string | null) => (r ? cliWord(r) : "?");

export const show: Command = {
  name: "batch show",
  usage: "dtl batch show <batchId> [--api URL] [--json]",
  summary: "one anchored batch: root, devices, manifest (status, hash, uri), revocation",
  options: { ...API_OPTIONS, ...JSON_OPTION },
  async run(inv) {
    const n = "batch show";
    const [raw] = positionals(n, inv, ["batchId"]) as [string];
    const id = bytes32(n, "<batchId>", raw);
    const { batch: b } = await apiClient(inv.values, inv.env).request(BATCH, { id });
    if (!b) throw new CliError(`${n}: no batch ${id} in the index`);
    if (inv.values.json === true) {
      inv.io.json(b);
      return;
    }
    const lines = [
      `batch         ${b.id}${b.revoked ? "  REVOKED" : ""}`,
      `manufacturer  ${b.manufacturer}`,
      `root          ${b.root}`,
      `devices       ${b.count.toLocaleString("en-US")} (${b.materializedCount.toLocaleString("en-US")} materialized on chain)`,
      `anchored      block ${b.anchoredAt.block}, ${when(b.anchoredAt.timestamp)}, tx ${b.anchoredAt.tx}`,
      `manifest      ${b.manifestStatus}${b.manifestStatus === "PENDING" ? ` (${b.manifestIndexed.toLocaleString("en-US")} of ${b.count.toLocaleString("en-US")} rows indexed)` : ""}${b.manifestError ? `: ${b.manifestError}` : ""}`,
      `              ${b.manifestUri || "(no uri)"}  hash ${b.manifestHash}`,
    ];
    if (b.revoked && b.revokedAt)
      lines.push(
        `revoked       ${reasonOf(b.revokedReason)} by ${b.revokedBy ?? "?"}, block ${b.revokedAt.block}, ${when(b.revokedAt.timestamp)}, tx ${b.revokedAt.tx}`,
      );
    lines.push(`(block ${b.atBlock})`);
    for (const l of lines) inv.io.out(l);
  },
};

export const deviceProof: Command = {
  name: "device proof",
  usage: "dtl device proof <deviceId> [--api URL] [--out FILE]",
  summary: "a device's anchored-batch proof from the API (the content of its <serial>.proof.json)",
  options: { ...API_OPTIONS, out: { type: "string" } },
  async run(inv) {
    const n = "device proof";
    const [raw] = positionals(n, inv, ["deviceId"]) as [string];
    const id = bytes32(n, "<deviceId>", raw);
    let proof;
    try {
      proof = await fetchDeviceProof(apiClient(inv.values, inv.env), id);
    } catch (err) {
      if (err instanceof NoProofError) throw new CliError(`${n}: ${err.message}`);
      throw err;
    }
    const text = encodeDeviceProof(proof);
    const out = optional(inv.values, "out");
    if (out === undefined) {
      inv.io.out(text.trimEnd());
      return;
    }
    try {
      writeFileSync(out, text);
    } catch (err) {
      throw new CliError(`${n}: cannot write ${out}: ${(err as { code?: string }).code ?? String(err)}`);
    }
    inv.io.err(`wrote the proof of ${id} (serial ${proof.serial}, batch ${proof.batchId}) to ${out}`);
  },
};
