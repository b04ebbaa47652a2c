/**
 * dtl register --serial <s> --alg <alg> --public-key <hex> --firmware <hex32> [--segment <name>]
 * dtl register --file devices.csv|devices.json [--chunk 200]
 *
 * The file mode checks every row first (nothing is sent when one is bad), skips rows already
 * on-chain (so an interrupted run resumes), sends chunks through registerDevices and names the
 * file lines of a chunk that fails.
 */
import { RegistryRevertError, formatRevert, sendRegistryTx } from "../../common/chain";
import { KEY_ALGORITHM_LIST } from "../../common/codes";
import { deviceIdFor } from "../../common/ids";
import { readDevices, type OnChainDevice } from "../../common/registry-views";
import { retry } from "../../common/retry";
import { CHAIN_OPTIONS, JSON_OPTION, optional, positionals, required } from "../args";
import type { Command, Invocation } from "../command";
import { connectSigned, type SignedContext } from "../context";
import { registerAnchored } from "../anchor";
import { lineRanges, readDeviceFile, type DeviceRow } from "../devices-file";
import { algorithm, firmwareArg, publicKeyHash, readKeyFile, shortName } from "../input";
import { CliError, CliReportError } from "../io";
import { report, txFields, txNote } from "../output";
import { commandSeconds, createProgress, type Progress } from "../progress";
import { MANUFACTURER_ROLE } from "../../common/roles";

const NAME = "register";
/** registerDevices costs ~51k gas per device; 300 stay well under the 16,777,216 gas cap per tx. */
const MAX_CHUNK = 300;

async function registerOne(inv: Invocation): Promise<void> {
  const v = inv.values;
  const serial = required(NAME, v, "serial", "<serial>");
  const keyFile = optional(v, "key");
  let alg;
  let hash;
  if (keyFile !== undefined) {
    if (v.alg !== undefined || v["public-key"] !== undefined)
      throw new CliError(`${NAME}: give either --key <keyfile> or --alg with --public-key, not both`);
    const pair = readKeyFile(NAME, keyFile);
    alg = algorithm(NAME, pair.algorithm);
    hash = publicKeyHash(NAME, alg, pair.publicKey);
  } else {
    alg = algorithm(NAME, required(NAME, v, "alg", KEY_ALGORITHM_LIST.join("|")));
    hash = publicKeyHash(NAME, alg, required(NAME, v, "public-key", "<hex>"));
  }
  const firmware = firmwareArg(NAME, v);
  const segment = shortName(NAME, "--segment", optional(v, "segment") ?? "");
  const ctx = await connectSigned(v, inv.io, inv.env);
  const deviceId = deviceIdFor(ctx.account, serial);
  const receipt = await sendRegistryTx(ctx.signed, "registerDevice", [deviceId, alg, hash, firmware, segment], {
    roleNames: { [MANUFACTURER_ROLE]: "MANUFACTURER_ROLE" },
  });
  report(inv, `registered ${serial} as ${deviceId} (${txNote(receipt)})`, {
    deviceId,
    serial,
    manufacturer: ctx.account,
    keyAlgorithm: alg,
    keyHash: hash,
    firmwareHash: firmware,
    ...txFields(receipt),
  });
}

interface PlannedRow extends DeviceRow {
  deviceId: string;
}

/** Ids per look-up while checking which rows are on-chain (one progress step each). */
const CHECK_SLICE = 1_000;

/**
 * Splits rows into those to send and those already on-chain; a row registered by someone else is
 * a problem. `onChecked(n)` follows the look-ups.
 */
async function partition(
  ctx: SignedContext,
  rows: PlannedRow[],
  onChecked?: (n: number) => void,
): Promise<{ todo: PlannedRow[]; done: PlannedRow[]; problems: string[] }> {
  const onChain: OnChainDevice[] = [];
  for (let i = 0; i < rows.length; i += CHECK_SLICE) {
    const ids = rows.slice(i, i + CHECK_SLICE).map((r) => r.deviceId);
    onChain.push(...(await readDevices(ctx.client, ctx.deployment.registry, ids)));
    onChecked?.(onChain.length);
  }
  const todo: PlannedRow[] = [];
  const done: PlannedRow[] = [];
  const problems: string[] = [];
  rows.forEach((r, i) => {
    const d = onChain[i]!;
    if (d.status === "NONE") todo.push(r);
    else if (d.manufacturer === ctx.account) done.push(r);
    else
      problems.push(
        `${r.where}: device id ${r.deviceId} (serial "${r.serial}") is registered by another manufacturer, ${d.manufacturer}`,
      );
  });
  return { todo, done, problems };
}

const alreadyRegistered = (err: unknown) =>
  err instanceof RegistryRevertError && err.reason.item?.error.name === "DeviceRegistryDeviceAlreadyRegistered";

/**
 * Phase 1 of `register --file` (direct or anchored): every row of the file checked, with progress;
 * any bad row stops the command naming each, before anything is sent.
 */
function checkedRows(inv: Invocation, file: string): { rows: DeviceRow[]; seconds: number } {
  for (const f of ["serial", "alg", "public-key", "firmware", "firmware-file", "segment", "key"]) {
    if (inv.values[f] !== undefined)
      throw new CliError(`${NAME}: --${f} cannot be combined with --file (the file has a column for it)`);
  }
  // key hashes take a while for 50,000 rows
  let checking: Progress | undefined;
  const parsed = readDeviceFile(file, (n, total) => {
    checking ??= createProgress(inv.io, total, "rows", { phase: "checking rows" });
    if (n % CHECK_SLICE === 0 || n === total) checking.update(n);
  });
  const seconds = checking?.finish() ?? 0;
  if (!parsed.ok) {
    const n = parsed.badRows;
    throw new CliReportError(
      parsed.problems,
      `${file}: ${n ? `${n} bad row${n === 1 ? "" : "s"}` : "unreadable"}; nothing was sent`,
    );
  }
  return { rows: parsed.rows, seconds };
}

async function registerFile(inv: Invocation, file: string): Promise<void> {
  const v = inv.values;
  const chunkArg = optional(v, "chunk") ?? "200";
  const chunk = Number(chunkArg);
  if (!/^\d+$/.test(chunkArg) || chunk < 1 || chunk > MAX_CHUNK)
    throw new CliError(`${NAME}: --chunk must be a whole number from 1 to ${MAX_CHUNK}, got "${chunkArg}"`);
  // phase 1: every row checked
  const parsed = checkedRows(inv, file);
  const rowSeconds = parsed.seconds;
  const ctx = await connectSigned(v, inv.io, inv.env);
  const planned: PlannedRow[] = parsed.rows.map((r) => ({ ...r, deviceId: deviceIdFor(ctx.account, r.serial) }));
  // phase 2: which devices are on-chain already (an interrupted run resumes)
  const lookup = createProgress(inv.io, planned.length, "devices", { phase: "checking the chain" });
  lookup.update(0);
  const { todo, done, problems } = await partition(ctx, planned, (n) => lookup.update(n));
  const chainSeconds = lookup.finish();
  if (problems.length)
    throw new CliReportError(
      problems,
      `${file}: ${problems.length} device id(s) belong to another manufacturer; nothing was sent`,
    );
  if (done.length && !inv.values.json) {
    inv.io.err(
      `skipping ${done.length} of ${planned.length} devices already registered on-chain (lines ${lineRanges(done.map((r) => r.line))})`,
    );
  }
  // phase 3: chunks through registerDevices
  const progress = createProgress(inv.io, todo.length, "devices", { phase: "sending" });
  const transactions: string[] = [];
  let sent = 0;
  let skippedLate: PlannedRow[] = [];
  for (let i = 0; i < todo.length; i += chunk) {
    if (inv.signal.aborted) {
      progress.finish();
      throw new CliError(`${NAME}: interrupted after ${sent} devices; run the same command again to resume`);
    }
    let part = todo.slice(i, i + chunk);
    try {
      // someone registered some of these meanwhile (e.g. a second run): drop them and try once more
      await retry(
        async (attempt) => {
          if (attempt > 1) {
            const again = await partition(ctx, part);
            if (again.problems.length)
              throw new CliReportError(again.problems, `${NAME}: stopped after ${sent} devices`);
            skippedLate = skippedLate.concat(again.done);
            part = again.todo;
            if (part.length === 0) return;
          }
          const receipt = await sendRegistryTx(
            ctx.signed,
            "registerDevices",
            [
              part.map((r) => ({
                deviceId: r.deviceId,
                keyAlgorithm: r.keyAlgorithm,
                keyHash: r.keyHash,
                firmwareHash: r.firmwareHash,
                segment: r.segment,
              })),
            ],
            { roleNames: { [MANUFACTURER_ROLE]: "MANUFACTURER_ROLE" }, gasLimit: 16_000_000 },
          );
          transactions.push(receipt.hash);
        },
        { attempts: 2, baseMs: 0, retryable: alreadyRegistered },
      );
    } catch (err) {
      progress.finish();
      if (err instanceof CliError) throw err;
      const item = err instanceof RegistryRevertError ? err.reason.item : undefined;
      const lines = `${file} lines ${lineRanges(part.map((r) => r.line))}`;
      const why = item
        ? `${part[item.index]?.where ?? `item ${item.index}`}: ${formatRevert(item.error)}`
        : err instanceof Error
          ? err.message
          : String(err);
      throw new CliError(
        `${NAME}: chunk of ${part.length} devices (${lines}) failed: ${why}; ${sent} devices registered before it, re-run to resume`,
        undefined,
        { cause: err },
      );
    }
    sent += part.length;
    progress.update(sent);
  }
  const sendSeconds = progress.finish();
  // the rate is over the wall time of the whole command: start-up, row checks, look-ups, sending
  const seconds = commandSeconds();
  const skipped = done.concat(skippedLate);
  const s1 = (x: number) => `${x.toFixed(1)} s`;
  report(
    inv,
    `registered ${sent} devices in ${transactions.length} transaction${transactions.length === 1 ? "" : "s"} (${s1(seconds)}${sent ? `, ${Math.round(sent / Math.max(seconds, 1e-3))}/s` : ""}; checking rows ${s1(rowSeconds)}, checking the chain ${s1(chainSeconds)}, sending ${s1(sendSeconds)}); ${skipped.length} already on-chain`,
    {
      file,
      manufacturer: ctx.account,
      registered: sent,
      skipped: skipped.length,
      skippedLines: skipped.map((r) => r.line),
      transactions,
      seconds,
      phases: { checkingRows: rowSeconds, checkingChain: chainSeconds, sending: sendSeconds },
      devices: planned.map((r) => ({ line: r.line, serial: r.serial, deviceId: r.deviceId })),
    },
  );
}

export const command: Command = {
  name: NAME,
  usage: [
    "dtl register --serial <s> --alg <alg> --public-key <hex> --firmware <hex32> [--segment <name>]",
    "dtl register --serial <s> --key <keyfile> --firmware-file <image> [--segment <name>]   (firmware hash = SHA-256 of the image)",
    "dtl register --file devices.csv|devices.json [--chunk 200]   (columns serial,alg,publicKey,firmware,segment)",
    "dtl register --file devices.csv --anchor [--manifest-dir DIR] [--manifest-uri file:<name>|https://…] [--proofs-dir DIR]   (one transaction: the batch's Merkle root; writes the manifest and <serial>.proof.json per device)",
  ].join("\n       "),
  summary: "register one device, a whole file of devices in chunked batches (resumable), or anchor a file as one batch",
  graceful: true,
  options: {
    ...CHAIN_OPTIONS,
    ...JSON_OPTION,
    serial: { type: "string" },
    alg: { type: "string" },
    "public-key": { type: "string" },
    key: { type: "string" },
    firmware: { type: "string" },
    "firmware-file": { type: "string" },
    segment: { type: "string" },
    file: { type: "string" },
    chunk: { type: "string" },
    anchor: { type: "boolean" },
    "manifest-dir": { type: "string" },
    "manifest-uri": { type: "string" },
    "proofs-dir": { type: "string" },
  },
  async run(inv) {
    positionals(NAME, inv, []);
    const file = optional(inv.values, "file");
    const anchor = inv.values.anchor === true;
    if (!anchor) {
      for (const f of ["manifest-dir", "manifest-uri", "proofs-dir"])
        if (inv.values[f] !== undefined) throw new CliError(`${NAME}: --${f} needs --anchor`);
    }
    if (anchor && file === undefined) throw new CliError(`${NAME}: --anchor needs --file <devices.csv|devices.json>`);
    if (file !== undefined && anchor) {
      if (inv.values.chunk !== undefined)
        throw new CliError(`${NAME}: --chunk does not apply to --anchor (one transaction anchors the whole file)`);
      const { rows, seconds } = checkedRows(inv, file);
      await registerAnchored(inv, file, rows, seconds);
    } else if (file !== undefined) await registerFile(inv, file);
    else await registerOne(inv);
  },
};
