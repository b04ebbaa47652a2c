/**
 * common/merkle.ts against the reference, @openzeppelin/merkle-tree's StandardMerkleTree with the
 * leaf encoding of DESIGN.md §10: on seeded random batches (sizes 1, 2, 3, powers of two, odd sizes
 * and one random size) every leaf hash, the root, the tree order and every proof are equal; our
 * verify and the library's agree on good and bad proofs; and every proof of a batch anchored in the
 * registry verifies on chain (OpenZeppelin MerkleProof, through materializeDevice).
 */
import { expect } from "chai";
import { ZeroHash } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { LEAF_ENCODING, leafValues, loadAnchorMerkle, type AnchorLeaf, type AnchorMerkle } from "../../common/merkle";
import { STATUS, anchorBatch, anchoredDevice, deployRegistryFixture, materialize } from "../helpers/contracts-fixture";
import { prng, testSeed } from "../helpers/seed";

type Next = () => number;
const ENCODING = [...LEAF_ENCODING];

const word = (next: Next) =>
  "0x" +
  Array.from({ length: 8 }, () =>
    Math.floor(next() * 2 ** 32)
      .toString(16)
      .padStart(8, "0"),
  ).join("");

/** A random leaf; now and then the edge values (zero firmware or segment, any uint8 algorithm). */
function randomLeaf(next: Next): AnchorLeaf {
  return {
    deviceId: word(next),
    keyAlgorithm: next() < 0.1 ? Math.floor(next() * 256) : 1 + Math.floor(next() * 6),
    keyHash: word(next),
    firmwareHash: next() < 0.1 ? ZeroHash : word(next),
    segment: next() < 0.1 ? ZeroHash : word(next),
  };
}

/** Flips the last hex digit's lowest bit. */
const flip = (hex: string) => hex.slice(0, -1) + (parseInt(hex.slice(-1), 16) ^ 1).toString(16);

describe("common/merkle: the anchored-batch tree, byte-identical to @openzeppelin/merkle-tree", function () {
  let merkle: AnchorMerkle;
  let seed: number;
  before(async function () {
    merkle = await loadAnchorMerkle();
    seed = testSeed();
  });

  const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 257];
  for (const [k, size] of [...sizes, -1].entries()) {
    const label = size > 0 ? `${size}` : "a random number (101..300) of";
    it(`${label} leaves: leaf hashes, root, tree order and every proof equal the library's`, function () {
      const next = prng(seed + k);
      const n = size > 0 ? size : 101 + Math.floor(next() * 200);
      const leaves = Array.from({ length: n }, () => randomLeaf(next));
      const lib = StandardMerkleTree.of(leaves.map(leafValues), ENCODING);
      const tree = merkle.build(leaves);
      const where = `seed ${seed + k}, ${n} leaves`;
      expect(tree.root, where).to.equal(lib.root);
      expect(tree.count, where).to.equal(n);
      // tree order: the k-th leaf of the manifest is the library's node 2n - 2 - k
      const treeIndex = lib.dump().values.map((v) => v.treeIndex);
      expect(
        [...tree.order].map((i) => treeIndex[i]),
        where,
      ).to.deep.equal(Array.from({ length: n }, (_, j) => 2 * n - 2 - j));
      for (let i = 0; i < n; i++) {
        expect(tree.leafHash(i), `${where}, leaf ${i}`).to.equal(lib.leafHash(leafValues(leaves[i]!)));
        expect(merkle.leafHash(leaves[i]!), `${where}, leaf ${i}`).to.equal(tree.leafHash(i));
        const proof = tree.proof(i);
        expect(proof, `${where}, proof ${i}`).to.deep.equal(lib.getProof(i));
        expect(merkle.verify(tree.root, leaves[i]!, proof), `${where}, verify ${i}`).to.equal(true);
      }
    });
  }

  it("refuses bad proofs, as the library does", function () {
    const next = prng(seed + 100);
    const leaves = Array.from({ length: 11 }, () => randomLeaf(next));
    const tree = merkle.build(leaves);
    const proof = tree.proof(3);
    const bad: [string, AnchorLeaf, string[]][] = [
      ["another leaf's proof", leaves[3]!, tree.proof(4)],
      ["an empty proof", leaves[3]!, []],
      ["a proof missing its last hash", leaves[3]!, proof.slice(0, -1)],
      ["a proof with one extra hash", leaves[3]!, [...proof, tree.root]],
      ["a proof with one bit flipped", leaves[3]!, [flip(proof[0]!), ...proof.slice(1)]],
      ["a proof in the wrong order", leaves[3]!, [...proof].reverse()],
      ["another key hash", { ...leaves[3]!, keyHash: flip(leaves[3]!.keyHash) }, proof],
      ["another key algorithm", { ...leaves[3]!, keyAlgorithm: (leaves[3]!.keyAlgorithm + 1) % 256 }, proof],
      ["another segment", { ...leaves[3]!, segment: flip(leaves[3]!.segment) }, proof],
    ];
    for (const [what, leaf, p] of bad) {
      expect(merkle.verify(tree.root, leaf, p), what).to.equal(false);
      expect(StandardMerkleTree.verify(tree.root, ENCODING, leafValues(leaf), p), `library: ${what}`).to.equal(false);
    }
    expect(
      merkle.verify(tree.root.toUpperCase().replace("0X", "0x"), leaves[3]!, proof),
      "root in upper case",
    ).to.equal(true);
  });

  it("every proof verifies on chain: OpenZeppelin MerkleProof through materializeDevice", async function () {
    const f = await loadFixture(deployRegistryFixture);
    const next = prng(seed + 200);
    for (const n of [1, 2, 3, 5, 6]) {
      const devices = Array.from({ length: n }, (_, i) => {
        const r = randomLeaf(next);
        return anchoredDevice(f.manufacturer.address, `merkle/${n}/${i}`, {
          keyAlgorithm: 1 + (r.keyAlgorithm % 6),
          keyHash: r.keyHash,
          firmwareHash: r.firmwareHash,
          segment: r.segment,
        });
      });
      const batch = await anchorBatch(f.registry, f.manufacturer, devices);
      expect(batch.tree.root).to.equal(StandardMerkleTree.of(devices.map(leafValues), ENCODING).root);
      for (const [i, d] of devices.entries()) {
        await expect(materialize(f.registry, f.stranger, batch, i), `seed ${seed + 200}, ${n} devices, device ${i}`)
          .to.emit(f.registry, "DeviceMaterialized")
          .withArgs(d.deviceId, batch.batchId);
        expect((await f.registry.getDevice(d.deviceId)).status).to.equal(BigInt(STATUS.Active));
      }
    }
  });

  it("refuses a batch listing the same leaf twice, naming both rows", function () {
    const next = prng(seed + 300);
    const leaves = Array.from({ length: 4 }, () => randomLeaf(next));
    expect(() => merkle.build([...leaves, leaves[1]!])).to.throw(
      "leaves 1 and 4 are identical: each device may appear once in a batch",
    );
  });

  it("refuses an empty batch and malformed fields, naming the leaf and the field", function () {
    const next = prng(seed + 400);
    const good = randomLeaf(next);
    expect(() => merkle.build([])).to.throw("a batch tree needs at least one leaf");
    const cases: [Partial<AnchorLeaf>, string][] = [
      [{ deviceId: "0x12" }, 'leaf 1: deviceId must be 0x followed by 64 hex digits, got "0x12"'],
      [{ keyHash: good.keyHash.slice(2) + "00" }, "leaf 1: keyHash must be 0x followed by 64 hex digits"],
      [{ firmwareHash: good.firmwareHash.slice(0, 65) + "g" }, "leaf 1: firmwareHash must be 0x followed by 64"],
      [{ segment: good.segment.slice(0, 65) + "é" }, "leaf 1: segment must be 0x followed by 64 hex digits"],
      // "±" is U+00B1: its low seven bits are "1"
      [{ segment: good.segment.slice(0, 65) + "±" }, "leaf 1: segment must be 0x followed by 64 hex digits"],
      [{ deviceId: "0x" + "±" + good.deviceId.slice(3) }, "leaf 1: deviceId must be 0x followed by 64 hex digits"],
      [{ keyAlgorithm: 256 }, "leaf 1: keyAlgorithm must be an integer in 0..255 (uint8), got 256"],
      [{ keyAlgorithm: -1 }, "leaf 1: keyAlgorithm must be an integer in 0..255 (uint8), got -1"],
      [{ keyAlgorithm: 1.5 }, "leaf 1: keyAlgorithm must be an integer in 0..255 (uint8), got 1.5"],
    ];
    for (const [bad, message] of cases) {
      expect(() => merkle.build([good, { ...good, ...bad }]), message).to.throw(message);
    }
    expect(() => merkle.verify(ZeroHash, good, ["0x00"])).to.throw(
      'proof[0] must be 0x followed by 64 hex digits, got "0x00"',
    );
    expect(() => merkle.build([good]).proof(1)).to.throw("leaf index 1 is out of range 0..0");
  });
});
