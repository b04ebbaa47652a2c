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
 */
import { createKeccak, type IHasher } from "hash-wasm";
import { getAddress } from "ethers";
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
  return idHasher(await createKeccak(256), manufacturer);
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
      byManufacturer.set(key, (f = idHasher(h, manufacturer)));
    }
    return f(serial);
  };
}

function idHasher(h: IHasher, manufacturer: string) {
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
