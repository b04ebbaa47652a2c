/**
 * The two files of an anchored batch (DESIGN.md §10), defined here once for the CLI that writes
 * them, the indexer that loads manifests and the API and gateway that take device proofs.
 *
 * **Manifest** — JSON lines, one device a line, in tree order (`AnchorTree.order`), each line
 * exactly {@link encodeManifestLine} of its entry, LF-terminated, no header and no blank line:
 *
 *     {"serial":"SN-1","deviceId":"0x…","keyAlgorithm":2,"keyHash":"0x…","firmwareHash":"0x…","segment":"0x…"}
 *
 * bytes32 fields are 0x + 64 lower-case hex digits (`segment` is the packed bytes32, as in the
 * leaf). The line of an entry is one exact byte string, so `manifestHash = keccak256(file bytes)`
 * is a function of the batch alone: {@link parseManifestLine} refuses any other spelling (key
 * order, spaces, upper case), and the number of lines is the batch's `count`.
 *
 * **Device proof** (`<serial>.proof.json`, what `dtl revoke --proof FILE` and a gateway connect
 * token's `registration` take): the leaf fields, the serial, the batch and the proof, plus where
 * the batch lives (chain id, registry) and its manufacturer and root, so a device or an auditor
 * can check it against the chain without a manifest.
 */
import { z } from "zod";
import { type AnchorLeaf } from "./merkle";

/** One device of a manifest: the leaf fields plus its serial. */
export interface ManifestEntry extends AnchorLeaf {
  serial: string;
}

/** A manifest (or device proof) that does not follow the format; the message names the line or field. */
export class ManifestFormatError extends Error {
  override name = "ManifestFormatError";
}

const BYTES32 = /^0x[0-9a-f]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** The manifest line of `e` (LF-terminated). */
export function encodeManifestLine(e: ManifestEntry): string {
  // fixed key order: the line is the same bytes wherever it is written
  return (
    JSON.stringify({
      serial: e.serial,
      deviceId: e.deviceId,
      keyAlgorithm: e.keyAlgorithm,
      keyHash: e.keyHash,
      firmwareHash: e.firmwareHash,
      segment: e.segment,
    }) + "\n"
  );
}

/**
 * Parses one manifest line (without its LF); `lineNo` (1-based) is named in errors. Only the
 * exact encoding is accepted: the parsed entry re-encodes to the same bytes.
 */
export function parseManifestLine(line: string, lineNo: number): ManifestEntry {
  const bad = (why: string) => new ManifestFormatError(`manifest line ${lineNo}: ${why}`);
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw bad("not JSON");
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw bad("not a JSON object");
  const o = v as Record<string, unknown>;
  if (typeof o.serial !== "string" || o.serial === "") throw bad("serial must be a non-empty string");
  for (const k of ["deviceId", "keyHash", "firmwareHash", "segment"] as const) {
    if (typeof o[k] !== "string" || !BYTES32.test(o[k])) throw bad(`${k} must be 0x + 64 lower-case hex digits`);
  }
  const alg = o.keyAlgorithm;
  if (typeof alg !== "number" || !Number.isInteger(alg) || alg < 0 || alg > 255)
    throw bad("keyAlgorithm must be an integer in 0..255");
  const entry: ManifestEntry = {
    serial: o.serial,
    deviceId: o.deviceId as string,
    keyAlgorithm: alg,
    keyHash: o.keyHash as string,
    firmwareHash: o.firmwareHash as string,
    segment: o.segment as string,
  };
  if (encodeManifestLine(entry) !== line + "\n")
    throw bad(`not in the canonical form (expected ${encodeManifestLine(entry).trimEnd()})`);
  return entry;
}

/** Every entry of a manifest file's text, in order; a format error names its line. */
export function* parseManifest(text: string): Generator<ManifestEntry> {
  if (text.length === 0) throw new ManifestFormatError("manifest is empty");
  if (!text.endsWith("\n")) throw new ManifestFormatError("manifest does not end with a line feed");
  let lineNo = 0;
  for (let at = 0; at < text.length;) {
    const end = text.indexOf("\n", at);
    lineNo++;
    yield parseManifestLine(text.slice(at, end), lineNo);
    at = end + 1;
  }
}

// ------------------------------------------------------------------ device proof files

const bytes32 = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x followed by 64 hex digits")
  .transform((s) => s.toLowerCase());

/** The `<serial>.proof.json` file. */
export const DEVICE_PROOF_SCHEMA = z
  .object({
    chainId: z.number().int().positive(),
    registry: z.string().regex(ADDRESS, "must be an address (0x followed by 40 hex digits)"),
    batchId: bytes32,
    manufacturer: z.string().regex(ADDRESS, "must be an address (0x followed by 40 hex digits)"),
    root: bytes32,
    serial: z.string().min(1),
    deviceId: bytes32,
    keyAlgorithm: z.number().int().min(0).max(255),
    keyHash: bytes32,
    firmwareHash: bytes32,
    segment: bytes32,
    proof: z.array(bytes32),
  })
  .strict();

export type DeviceProof = z.infer<typeof DEVICE_PROOF_SCHEMA>;

/** The text of a device proof file (fixed key order, indented, LF-terminated). */
export function encodeDeviceProof(p: DeviceProof): string {
  return (
    JSON.stringify(
      {
        chainId: p.chainId,
        registry: p.registry,
        batchId: p.batchId,
        manufacturer: p.manufacturer,
        root: p.root,
        serial: p.serial,
        deviceId: p.deviceId,
        keyAlgorithm: p.keyAlgorithm,
        keyHash: p.keyHash,
        firmwareHash: p.firmwareHash,
        segment: p.segment,
        proof: p.proof,
      },
      null,
      2,
    ) + "\n"
  );
}

/** Parses a device proof (file text or a parsed JSON value); every problem named by its field. */
export function parseDeviceProof(input: string | unknown, where = "device proof"): DeviceProof {
  let v: unknown = input;
  if (typeof input === "string") {
    try {
      v = JSON.parse(input);
    } catch {
      throw new ManifestFormatError(`${where}: not JSON`);
    }
  }
  const r = DEVICE_PROOF_SCHEMA.safeParse(v);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(file)"} ${i.message}`);
    throw new ManifestFormatError(`${where}: ${problems.join("; ")}`);
  }
  return r.data;
}

/**
 * The file name of a device's proof: `<serial>.proof.json`, the serial kept where it is safe in a
 * file name on every system (letters, digits, `-`, `_`, `.` not first) and every other byte of its
 * UTF-8 written `%XX`, so `line/7:a` → `line%2F7%3Aa.proof.json`. Two serials never share a name.
 */
export function proofFileName(serial: string): string {
  let out = "";
  for (const b of Buffer.from(serial, "utf8")) {
    const c = String.fromCharCode(b);
    const safe = /[A-Za-z0-9_-]/.test(c) || (c === "." && out !== "");
    out += safe ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return `${out}.proof.json`;
}
