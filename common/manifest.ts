/**
 * The manifest of an anchored batch (DESIGN §10): one JSON object per line, the batch's rows in
 * tree order (common/merkle.ts `order`), each the leaf fields plus the serial:
 *
 *   {"serial":"line-7/0001","deviceId":"0x…","keyAlgorithm":2,"keyHash":"0x…","firmwareHash":"0x…","segment":"0x…"}
 *
 * (`segment` is the leaf's bytes32; every line ends with "\n"). `manifestHash` =
 * keccak256(the file's bytes). The CLI writes it with {@link formatManifest}; the indexer reads it
 * with {@link parseManifest}, which checks hash, count, every row (id = keccak256(abi.encode(
 * manufacturer, serial)), leaf fields), tree order and root, and names the first problem.
 *
 * Also here: the **device proof** file (`<serial>.proof.json`, {@link encodeDeviceProof}), what
 * `dtl register --anchor` writes for each device and `dtl revoke --proof FILE` (and a gateway
 * connect token's `registration`) takes.
 */
import { createKeccak, type IHasher } from "hash-wasm";
import { getAddress } from "ethers";
import { z } from "zod";
import type { AnchorLeaf, AnchorMerkle } from "./merkle";

export interface ManifestRow extends AnchorLeaf {
  serial: string;
}

/** The key order of a manifest line. */
export const MANIFEST_FIELDS = ["serial", "deviceId", "keyAlgorithm", "keyHash", "firmwareHash", "segment"] as const;

/** A row as its manifest line (with the newline). */
export const manifestLine = (r: ManifestRow): string =>
  JSON.stringify({
    serial: r.serial,
    deviceId: r.deviceId.toLowerCase(),
    keyAlgorithm: r.keyAlgorithm,
    keyHash: r.keyHash.toLowerCase(),
    firmwareHash: r.firmwareHash.toLowerCase(),
    segment: r.segment.toLowerCase(),
  }) + "\n";

/** The manifest of `rows` in tree order (`order` from the built tree: order[k] = input index of row k). */
export function formatManifest(rows: readonly ManifestRow[], order: ArrayLike<number>): Buffer {
  const parts: string[] = new Array(order.length);
  for (let k = 0; k < order.length; k++) parts[k] = manifestLine(rows[order[k]!]!);
  return Buffer.from(parts.join(""), "utf8");
}

/** A manifest that can never be right for its batch: the reason names the first problem. */
export class ManifestInvalidError extends Error {
  override readonly name = "ManifestInvalidError";
  /** The file is not the one the batch commits to (its hash differs): the right one may still appear. */
  readonly hashMismatch: boolean;
  constructor(message: string, opts: { hashMismatch?: boolean } = {}) {
    super(message);
    this.hashMismatch = opts.hashMismatch ?? false;
  }
}

export interface ManifestExpectation {
  manufacturer: string;
  root: string;
  count: number;
  manifestHash: string;
}

let hasher: Promise<IHasher> | undefined;

/** keccak256 of bytes (0x hex), on the WebAssembly keccak. */
export async function manifestHashOf(bytes: Uint8Array): Promise<string> {
  const h = await (hasher ??= createKeccak(256));
  h.init();
  h.update(bytes);
  return "0x" + h.digest("hex");
}

const HEX32 = /^0x[0-9a-f]{64}$/;

/**
 * Computes keccak256(abi.encode(address, string)) — common/ids.ts `deviceIdFor` — for many serials
 * of one manufacturer on one WebAssembly hasher (~2 µs instead of ~300 µs through ethers' coder
 * here): the word of the address, the offset 0x40, the length, the bytes right-padded to a word.
 */
export async function createDeviceIdHasher(manufacturer: string): Promise<(serial: string) => string> {
  return createIdHasher(await createKeccak(256), manufacturer);
}

let shared: Promise<IHasher> | undefined;
const byManufacturer = new Map<string, (serial: string) => string>();

/**
 * {@link createDeviceIdHasher} for any manufacturer on one shared hasher (synchronous once
 * loaded): the API checks a presented proof's id with it. Keeps the hashers of up to 1,000
 * manufacturers.
 */
export async function loadDeviceIdOf(): Promise<(manufacturer: string, serial: string) => string> {
  const h = await (shared ??= createKeccak(256));
  return (manufacturer, serial) => {
    const key = manufacturer.toLowerCase();
    let f = byManufacturer.get(key);
    if (!f) {
      if (byManufacturer.size >= 1000) byManufacturer.clear();
      byManufacturer.set(key, (f = createIdHasher(h, manufacturer)));
    }
    return f(serial);
  };
}

export function createIdHasher(h: IHasher, manufacturer: string): (serial: string) => string {
  const head = Buffer.alloc(96);
  Buffer.from(getAddress(manufacturer).slice(2), "hex").copy(head, 12);
  head[63] = 0x40;
  return (serial: string): string => {
    const bytes = Buffer.from(serial, "utf8");
    head.fill(0, 64, 96);
    head.writeUIntBE(bytes.length, 90, 6);
    const padded = Buffer.alloc(Math.ceil(bytes.length / 32) * 32);
    bytes.copy(padded);
    h.init();
    h.update(head);
    h.update(padded);
    return "0x" + h.digest("hex");
  };
}

/**
 * Parses and checks a manifest against its batch. Throws {@link ManifestInvalidError} naming the
 * hash, the count, the first bad row (line number) or the root.
 */
export async function parseManifest(
  bytes: Uint8Array,
  batch: ManifestExpectation,
  merkle: AnchorMerkle,
): Promise<ManifestRow[]> {
  const hash = await manifestHashOf(bytes);
  if (hash !== batch.manifestHash.toLowerCase())
    throw new ManifestInvalidError(`manifest hash is ${hash}, the batch commits to ${batch.manifestHash}`, {
      hashMismatch: true,
    });
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines.length !== batch.count)
    throw new ManifestInvalidError(`manifest has ${lines.length} rows, the batch anchors ${batch.count}`);
  const idOf = await createDeviceIdHasher(batch.manufacturer);
  const rows: ManifestRow[] = new Array(lines.length);
  const seen = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const bad = (what: string) => new ManifestInvalidError(`manifest line ${i + 1}: ${what}`);
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(lines[i]!) as Record<string, unknown>;
    } catch {
      throw bad("not a JSON object");
    }
    if (typeof v !== "object" || v === null) throw bad("not a JSON object");
    const { serial, deviceId, keyAlgorithm, keyHash, firmwareHash, segment } = v;
    if (typeof serial !== "string" || serial.length === 0) throw bad("serial must be a non-empty string");
    for (const [name, value] of [
      ["deviceId", deviceId],
      ["keyHash", keyHash],
      ["firmwareHash", firmwareHash],
      ["segment", segment],
    ] as const) {
      if (typeof value !== "string" || !HEX32.test(value)) throw bad(`${name} must be 0x + 64 lowercase hex digits`);
    }
    if (typeof keyAlgorithm !== "number" || !Number.isInteger(keyAlgorithm) || keyAlgorithm < 0 || keyAlgorithm > 255)
      throw bad("keyAlgorithm must be an integer in 0..255");
    if (idOf(serial) !== deviceId)
      throw bad(`deviceId is not keccak256(abi.encode(${batch.manufacturer}, "${serial.slice(0, 64)}"))`);
    const before = seen.get(deviceId);
    if (before !== undefined) throw bad(`repeats the device id of line ${before + 1}`);
    seen.set(deviceId, i);
    rows[i] = {
      serial,
      deviceId: deviceId as string,
      keyAlgorithm,
      keyHash: keyHash as string,
      firmwareHash: firmwareHash as string,
      segment: segment as string,
    };
  }
  let tree;
  try {
    tree = merkle.build(rows);
  } catch (err) {
    throw new ManifestInvalidError(`manifest rows do not form a batch: ${(err as Error).message}`);
  }
  if (tree.root !== batch.root.toLowerCase())
    throw new ManifestInvalidError(`manifest rows give root ${tree.root}, the batch anchors ${batch.root}`);
  for (let k = 0; k < tree.count; k++) {
    if (tree.order[k] !== k) throw new ManifestInvalidError(`manifest line ${k + 1} is out of tree order`);
  }
  return rows;
}

// ------------------------------------------------------------------ device proof files

/** A device proof file that does not follow the format; the message names every bad field. */
export class DeviceProofFormatError extends Error {
  override name = "DeviceProofFormatError";
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

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
      throw new DeviceProofFormatError(`${where}: not JSON`);
    }
  }
  const r = DEVICE_PROOF_SCHEMA.safeParse(v);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(file)"} ${i.message}`);
    throw new DeviceProofFormatError(`${where}: ${problems.join("; ")}`);
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
