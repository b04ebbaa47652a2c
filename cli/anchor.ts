/**
 * `dtl register --file devices.csv --anchor`: a whole file of devices as ONE anchored batch
 * (DESIGN.md §10). After the row checks of `register --file`:
 * 1. the device ids (keccak256(abi.encode(manufacturer, serial))) and the Merkle tree
 *    (common/merkle.ts, byte-identical to OpenZeppelin's `StandardMerkleTree`);
 * 2. the manifest (common/manifest.ts: JSON lines in tree order) streamed to disk while its
 *    keccak256 is computed, and one `<serial>.proof.json` per device — written BEFORE the
 *    transaction, so an anchored batch always has its files;
 * 3. one `anchorDevices(root, count, manifestHash, manifestUri)` transaction.
 * Running the same file again is safe: the tree is the same, so the batch id is the same; the
 * files are written again (the same bytes) and no second transaction is sent.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { createKeccak } from "hash-wasm";
import { registryInterface } from "../common/abi";
import { sendRegistryTx } from "../common/chain";
import { createIdHasher, encodeDeviceProof, manifestLine, proofFileName, type ManifestRow } from "../common/manifest";
import { batchIdFor, loadAnchorMerkle, type AnchorLeaf } from "../common/merkle";
import { MANUFACTURER_ROLE } from "../common/roles";
import { optional } from "./args";
import type { Invocation } from "./command";
import { connectSigned } from "./context";
import type { DeviceRow } from "./devices-file";
import { CliError } from "./io";
import { report } from "./output";
import { commandSeconds, createProgress } from "./progress";

const NAME = "register";
/** The registry's `count` is a uint32. */
const MAX_BATCH = 0xffff_ffff;
/** Manifest bytes buffered before each write. */
const WRITE_CHUNK = 1 << 20;
/** Progress steps while writing proof files. */
const PROGRESS_STEP = 10_000;

/** Where the files of a batch go, from the flags; `stem` is the device file's name without extension. */
function placeFiles(inv: Invocation, stem: string, batchId: string) {
  const tag = batchId.slice(2, 10);
  const manifestDir = path.resolve(optional(inv.values, "manifest-dir") ?? ".");
  const uriArg = optional(inv.values, "manifest-uri");
  let name = `${stem}-${tag}.manifest.jsonl`;
  let manifestUri = `file:${name}`;
  if (uriArg !== undefined) {
    if (uriArg.startsWith("file:")) {
      name = uriArg.slice("file:".length);
      if (!/^[^/\\]+$/.test(name) || name === "." || name === "..")
        throw new CliError(`${NAME}: --manifest-uri file:<name> takes a plain file name, got "${uriArg}"`);
    } else {
      let url: URL;
      try {
        url = new URL(uriArg);
      } catch {
        url = new URL("invalid:");
      }
      if (url.protocol !== "http:" && url.protocol !== "https:")
        throw new CliError(`${NAME}: --manifest-uri must be file:<name>, http://… or https://…, got "${uriArg}"`);
      const last = decodeURIComponent(url.pathname.split("/").pop() ?? "");
      if (last && /^[^/\\]+$/.test(last)) name = last;
    }
    manifestUri = uriArg;
  }
  const proofsDir = path.resolve(optional(inv.values, "proofs-dir") ?? path.join(manifestDir, `${stem}-${tag}.proofs`));
  return { manifestFile: path.join(manifestDir, name), manifestDir, manifestUri, proofsDir };
}

const fsError = (what: string, err: unknown) =>
  new CliError(`${NAME}: cannot write ${what}: ${(err as { code?: string }).code ?? String(err)}`, undefined, {
    cause: err,
  });

export async function registerAnchored(
  inv: Invocation,
  file: string,
  rows: readonly DeviceRow[],
  rowSeconds: number,
): Promise<void> {
  if (rows.length > MAX_BATCH)
    throw new CliError(`${NAME}: ${rows.length} devices: a batch holds at most ${MAX_BATCH} (split the file)`);
  const ctx = await connectSigned(inv.values, inv.io, inv.env);
  // refuse before writing anything when the account cannot anchor
  if (!(await ctx.registry.getFunction("hasRole")(MANUFACTURER_ROLE, ctx.account)))
    throw new CliError(`${NAME}: ${ctx.account} does not hold MANUFACTURER_ROLE on ${ctx.deployment.registry}`);

  // phase 2: device ids and the tree
  const treeStart = performance.now();
  const idOf = createIdHasher(await createKeccak(256), ctx.account);
  const entries: ManifestRow[] = rows.map((r) => ({
    serial: r.serial,
    deviceId: idOf(r.serial),
    keyAlgorithm: r.keyAlgorithm,
    keyHash: r.keyHash,
    firmwareHash: r.firmwareHash,
    segment: r.segment,
  }));
  const merkle = await loadAnchorMerkle();
  const tree = merkle.build(entries as readonly AnchorLeaf[]);
  const treeSeconds = (performance.now() - treeStart) / 1000;
  const batchId = batchIdFor(ctx.account, tree.root);
  const { manifestFile, manifestDir, manifestUri, proofsDir } = placeFiles(
    inv,
    path.basename(file).replace(/\.[^.]*$/, ""),
    batchId,
  );

  // phase 3: the manifest (streamed, hashed as written) and the proof files
  const writeStart = performance.now();
  try {
    mkdirSync(manifestDir, { recursive: true });
    mkdirSync(proofsDir, { recursive: true });
  } catch (err) {
    throw fsError(`${manifestDir} or ${proofsDir}`, err);
  }
  const hasher = await createKeccak(256); // its own instance: the manifest is hashed across many updates
  hasher.init();
  const progress = createProgress(inv.io, entries.length, "devices", { phase: "writing manifest and proofs" });
  progress.update(0);
  let fd: number;
  try {
    fd = openSync(manifestFile, "w");
  } catch (err) {
    throw fsError(manifestFile, err);
  }
  const common = {
    chainId: ctx.chainId,
    registry: ctx.deployment.registry,
    batchId,
    manufacturer: ctx.account,
    root: tree.root,
  };
  try {
    let pending: string[] = [];
    let pendingBytes = 0;
    const flush = () => {
      const bytes = Buffer.from(pending.join(""), "utf8");
      hasher.update(bytes);
      writeSync(fd, bytes);
      pending = [];
      pendingBytes = 0;
    };
    for (let k = 0; k < tree.count; k++) {
      if (inv.signal.aborted) throw new CliError(`${NAME}: interrupted while writing files; nothing was sent`);
      const i = tree.order[k]!;
      const e = entries[i]!;
      const line = manifestLine(e);
      pending.push(line);
      pendingBytes += line.length;
      if (pendingBytes >= WRITE_CHUNK) flush();
      const proofFile = path.join(proofsDir, proofFileName(e.serial));
      try {
        writeFileSync(proofFile, encodeDeviceProof({ ...common, ...e, proof: tree.proof(i) }));
      } catch (err) {
        throw fsError(proofFile, err);
      }
      if ((k + 1) % PROGRESS_STEP === 0 && k + 1 < tree.count) progress.update(k + 1);
    }
    flush();
  } finally {
    closeSync(fd);
  }
  progress.update(tree.count);
  progress.finish();
  const manifestHash = "0x" + hasher.digest("hex");
  const writeSeconds = (performance.now() - writeStart) / 1000;

  // phase 4: one transaction (none when this batch is anchored already: a re-run)
  const existing = (await ctx.registry.getFunction("getBatch")(batchId)) as { manufacturer: string; revoked: boolean };
  const files = { manifestFile, manifestHash, manifestUri, proofsDir };
  const count = tree.count;
  const seconds = commandSeconds();
  const s1 = (x: number) => `${x.toFixed(1)} s`;
  const timing = `checking rows ${s1(rowSeconds)}, tree ${s1(treeSeconds)}, files ${s1(writeSeconds)}`;
  const where = [
    `  manifest  ${manifestFile}  (uri ${manifestUri}, hash ${manifestHash})`,
    `  proofs    ${proofsDir}${path.sep}<serial>.proof.json  (${count.toLocaleString("en-US")} files)`,
  ];
  const base = {
    file,
    batchId,
    root: tree.root,
    count,
    manufacturer: ctx.account,
    ...files,
    seconds,
    phases: { checkingRows: rowSeconds, tree: treeSeconds, files: writeSeconds },
  };
  if (existing.manufacturer !== "0x0000000000000000000000000000000000000000") {
    report(
      inv,
      [
        `batch ${batchId} (${count.toLocaleString("en-US")} devices, root ${tree.root}) was anchored already${existing.revoked ? " and is REVOKED" : ""}; no transaction sent, files written again (${timing})`,
        ...where,
      ],
      { ...base, alreadyAnchored: true, revoked: existing.revoked },
    );
    return;
  }
  const receipt = await sendRegistryTx(ctx.signed, "anchorDevices", [tree.root, count, manifestHash, manifestUri], {
    roleNames: { [MANUFACTURER_ROLE]: "MANUFACTURER_ROLE" },
  });
  const anchored = receipt.logs.map((l) => registryInterface.parseLog(l)).find((ev) => ev?.name === "DevicesAnchored");
  if (String(anchored?.args.batchId) !== batchId)
    throw new CliError(`${NAME}: the registry anchored batch ${String(anchored?.args.batchId)}, expected ${batchId}`);
  const rate = Math.round(count / Math.max(seconds, 1e-3));
  report(
    inv,
    [
      `anchored ${count.toLocaleString("en-US")} devices as batch ${batchId} in 1 transaction (${receipt.gasUsed.toLocaleString("en-US")} gas; tx ${receipt.hash}, block ${receipt.blockNumber})`,
      `  root      ${tree.root}`,
      ...where,
      `  ${s1(seconds)} in all, ${rate.toLocaleString("en-US")} devices/s (${timing})`,
    ],
    {
      ...base,
      alreadyAnchored: false,
      transactionHash: receipt.hash,
      blockNumber: receipt.blockNumber,
      gasUsed: receipt.gasUsed.toString(),
    },
  );
}
