/**
 * The Merkle tree of an anchored batch (DESIGN.md §10): OpenZeppelin's `StandardMerkleTree` over
 * the leaf `(bytes32 deviceId, uint8 keyAlgorithm, bytes32 keyHash, bytes32 firmwareHash, bytes32
 * segment)`, built here for speed with the same bytes out: leaf hashes, root and proofs equal
 * `StandardMerkleTree.of(values, LEAF_ENCODING)` of `@openzeppelin/merkle-tree` (held against it in
 * test/common/merkle.test.ts), and the registry's `materializeDevice` (OpenZeppelin `MerkleProof`)
 * accepts the proofs.
 *
 * Why our own (STYLE 21): the library builds ~10,000 leaves/s here (pure-JS keccak, an ABI coder
 * and hex strings per node: 100,000 leaves in ~18 s); a production batch is 100,000–1,000,000
 * devices. This builder encodes each leaf into one reused buffer, hashes with the WebAssembly
 * keccak (hash-wasm, as common/keccak.ts) and keeps the tree as one flat byte array.
 *
 * The tree, as the library builds it with its default `sortLeaves: true`:
 * - leaf = keccak256(keccak256(abi.encode(deviceId, keyAlgorithm, keyHash, firmwareHash, segment)));
 * - **tree order**: leaves sorted by their hash, ascending, as unsigned bytes. That order is the
 *   manifest's order (`order` below); the k-th leaf in tree order sits at tree index 2n - 2 - k;
 * - node i (of the 2n - 1) has children 2i + 1 and 2i + 2 and is keccak256 of the two children
 *   sorted (smaller first); the root is node 0 (a one-leaf tree's root is the leaf);
 * - a proof is the siblings from the leaf up to the root (empty for one leaf).
 *
 * Two identical leaves (the same device listed twice with the same fields) are refused: the
 * library would build a tree in which both rows have the same proof.
 */
import { createKeccak, type IHasher } from "hash-wasm";
import { AbiCoder, keccak256 } from "ethers";

/** The leaf's ABI types, as `StandardMerkleTree.of(values, LEAF_ENCODING)` takes them. */
export const LEAF_ENCODING = ["bytes32", "uint8", "bytes32", "bytes32", "bytes32"] as const;

/** One device of a batch: the fields of the registry's `DeviceRegistration`, bytes32 as 0x-hex. */
export interface AnchorLeaf {
  deviceId: string;
  keyAlgorithm: number;
  keyHash: string;
  firmwareHash: string;
  segment: string;
}

/** The leaf as the library's value tuple, in LEAF_ENCODING order. */
export const leafValues = (l: AnchorLeaf): [string, number, string, string, string] => [
  l.deviceId,
  l.keyAlgorithm,
  l.keyHash,
  l.firmwareHash,
  l.segment,
];

/** A built batch tree. Leaves are addressed by their index in the input (`leaves[i]`). */
export interface AnchorTree {
  /** The root (0x-hex), what `anchorDevices` takes. */
  readonly root: string;
  /** Number of leaves. */
  readonly count: number;
  /** Tree order: `order[k]` is the input index of the k-th leaf (the manifest lists leaves in this order). */
  readonly order: Uint32Array;
  /** The leaf hash of input `i`. */
  leafHash(i: number): string;
  /** The proof of input `i`: equal to the library's `tree.getProof(i)`. */
  proof(i: number): string[];
}

export interface AnchorMerkle {
  /** The leaf hash of one device. */
  leafHash(leaf: AnchorLeaf): string;
  /** Builds the tree of a batch (at least one leaf; no two identical). */
  build(leaves: readonly AnchorLeaf[]): AnchorTree;
  /** The root that `proof` leads to from `leaf` (0x-hex). */
  processProof(leaf: AnchorLeaf, proof: readonly string[]): string;
  /** Whether `proof` leads from `leaf` to `root` (as `StandardMerkleTree.verify`). */
  verify(root: string, leaf: AnchorLeaf, proof: readonly string[]): boolean;
}

const WORD = 32;
const LEAF_BYTES = 5 * WORD;

let loaded: Promise<AnchorMerkle> | undefined;

/** Loads the WebAssembly keccak once and returns the tree functions (synchronous from then on). */
export function loadAnchorMerkle(): Promise<AnchorMerkle> {
  loaded ??= createKeccak(256).then(createAnchorMerkle);
  return loaded;
}

const coder = AbiCoder.defaultAbiCoder();

/** The batch id the registry gives `root` anchored by `manufacturer`: keccak256(abi.encode(manufacturer, root)). */
export function batchIdFor(manufacturer: string, root: string): string {
  return keccak256(coder.encode(["address", "bytes32"], [manufacturer, root]));
}

/**
 * The byte of every pair of characters (codes < 128), indexed by `first << 7 | second`; -1 when
 * either is not a hex digit. One look-up per byte decodes ~25 % faster than one per digit.
 */
const HEX_PAIR = (() => {
  const digit = (c: number) => (c >= 48 && c <= 57 ? c - 48 : (c | 32) >= 97 && (c | 32) <= 102 ? (c | 32) - 87 : -1);
  const table = new Int16Array(1 << 14).fill(-1);
  for (let a = 0; a < 128; a++) {
    for (let b = 0; b < 128; b++) {
      if (digit(a) >= 0 && digit(b) >= 0) table[(a << 7) | b] = (digit(a) << 4) | digit(b);
    }
  }
  return table;
})();

/**
 * Writes 0x-hex bytes32 `hex` at `offset`; false when `hex` is not one. Decoded here rather than by
 * `Buffer.write(hex.slice(2), …, "hex")`: 4× faster, and a leaf has four such words.
 */
function putWord(bytes: Uint8Array, offset: number, hex: string): boolean {
  if (typeof hex !== "string" || hex.length !== 66 || hex.charCodeAt(0) !== 48 || (hex.charCodeAt(1) | 32) !== 120) {
    return false;
  }
  let bad = 0;
  for (let k = 0, c = 2; k < WORD; k++, c += 2) {
    const a = hex.charCodeAt(c);
    const b = hex.charCodeAt(c + 1);
    const v = HEX_PAIR[((a & 127) << 7) | (b & 127)]! | -((a | b) >> 7); // a code ≥ 128: negative, no digit
    bytes[offset + k] = v;
    bad |= v;
  }
  return bad >= 0;
}

const badWord = (what: string, hex: unknown) =>
  new Error(`${what} must be 0x followed by 64 hex digits, got "${String(hex)}"`);

/** Compares the 32-byte words at `a` and `b` of `bytes` as unsigned big-endian numbers. */
function compareWords(bytes: Uint8Array, a: number, b: number): number {
  for (let k = 0; k < WORD; k++) {
    const d = bytes[a + k]! - bytes[b + k]!;
    if (d !== 0) return d;
  }
  return 0;
}

function createAnchorMerkle(h: IHasher): AnchorMerkle {
  const leafBuf = new Uint8Array(LEAF_BYTES); // bytes 32..62 stay zero: the uint8 is right-aligned in its word
  const pairBuf = new Uint8Array(2 * WORD);

  const hash = (data: Uint8Array): Uint8Array => {
    h.init();
    h.update(data);
    return h.digest("binary");
  };

  /** keccak256(keccak256(abi.encode(leaf))) of item `i` (named in errors; -1: a single leaf). */
  function hashLeaf(leaf: AnchorLeaf, i: number): Uint8Array {
    const at = () => (i < 0 ? "leaf" : `leaf ${i}`);
    if (!putWord(leafBuf, 0, leaf.deviceId)) throw badWord(`${at()}: deviceId`, leaf.deviceId);
    const alg = leaf.keyAlgorithm;
    if (!Number.isInteger(alg) || alg < 0 || alg > 255) {
      throw new Error(`${at()}: keyAlgorithm must be an integer in 0..255 (uint8), got ${String(alg)}`);
    }
    leafBuf[2 * WORD - 1] = alg;
    if (!putWord(leafBuf, 2 * WORD, leaf.keyHash)) throw badWord(`${at()}: keyHash`, leaf.keyHash);
    if (!putWord(leafBuf, 3 * WORD, leaf.firmwareHash)) throw badWord(`${at()}: firmwareHash`, leaf.firmwareHash);
    if (!putWord(leafBuf, 4 * WORD, leaf.segment)) throw badWord(`${at()}: segment`, leaf.segment);
    return hash(hash(leafBuf));
  }

  /** keccak256 of the two words sorted (OpenZeppelin's `standardNodeHash`, `MerkleProof`'s `_hashPair`). */
  function hashPair(bytes: Uint8Array, a: number, b: number): Uint8Array {
    const swap = compareWords(bytes, a, b) > 0;
    const lo = swap ? b : a;
    const hi = swap ? a : b;
    for (let k = 0; k < WORD; k++) {
      pairBuf[k] = bytes[lo + k]!;
      pairBuf[WORD + k] = bytes[hi + k]!;
    }
    return hash(pairBuf);
  }

  const hex = (bytes: Uint8Array): string => "0x" + Buffer.from(bytes.buffer, bytes.byteOffset, WORD).toString("hex");

  function processProof(leaf: AnchorLeaf, proof: readonly string[]): string {
    // [node, sibling] in one scratch: the node in word 0, the sibling in word 1
    const scratch = new Uint8Array(2 * WORD);
    scratch.set(hashLeaf(leaf, -1), 0);
    proof.forEach((p, i) => {
      if (!putWord(scratch, WORD, p)) throw badWord(`proof[${i}]`, p);
      scratch.set(hashPair(scratch, 0, WORD), 0);
    });
    return hex(scratch);
  }

  function build(leaves: readonly AnchorLeaf[]): AnchorTree {
    const n = leaves.length;
    if (n === 0) throw new Error("a batch tree needs at least one leaf");
    // 1. leaf hashes in input order, and the first 4 bytes of each as a number (the sort key)
    const hashes = new Uint8Array(n * WORD);
    const prefix = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const l = hashLeaf(leaves[i]!, i);
      hashes.set(l, i * WORD);
      prefix[i] = ((l[0]! << 24) | (l[1]! << 16) | (l[2]! << 8) | l[3]!) >>> 0;
    }
    // 2. tree order: by hash, ascending (the library's default sortLeaves)
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => prefix[a]! - prefix[b]! || compareWords(hashes, a * WORD, b * WORD) || a - b);
    const rank = new Uint32Array(n);
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      rank[i] = k;
      if (k > 0 && compareWords(hashes, order[k - 1]! * WORD, i * WORD) === 0) {
        throw new Error(`leaves ${order[k - 1]} and ${i} are identical: each device may appear once in a batch`);
      }
    }
    // 3. the flat tree: the k-th leaf (tree order) at node 2n - 2 - k, then the inner nodes bottom-up
    const size = 2 * n - 1;
    const nodes = new Uint8Array(size * WORD);
    for (let k = 0; k < n; k++) {
      const from = order[k]! * WORD;
      nodes.set(hashes.subarray(from, from + WORD), (size - 1 - k) * WORD);
    }
    for (let i = size - 1 - n; i >= 0; i--) {
      nodes.set(hashPair(nodes, (2 * i + 1) * WORD, (2 * i + 2) * WORD), i * WORD);
    }
    const nodeHex = (t: number) => hex(nodes.subarray(t * WORD, t * WORD + WORD));
    const nodeOf = (i: number): number => {
      if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`leaf index ${i} is out of range 0..${n - 1}`);
      return size - 1 - rank[i]!;
    };
    return {
      root: nodeHex(0),
      count: n,
      order,
      leafHash: (i) => nodeHex(nodeOf(i)),
      proof(i) {
        const proof: string[] = [];
        for (let t = nodeOf(i); t > 0; t = (t - 1) >> 1) proof.push(nodeHex(t % 2 === 1 ? t + 1 : t - 1));
        return proof;
      },
    };
  }

  return {
    leafHash: (leaf) => hex(hashLeaf(leaf, -1)),
    build,
    processProof,
    verify: (root, leaf, proof) => processProof(leaf, proof) === root.toLowerCase(),
  };
}
