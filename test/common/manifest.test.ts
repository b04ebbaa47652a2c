/**
 * common/manifest.ts: the fast device id equals common/ids.ts deviceIdFor (ethers' ABI coder) on
 * serials of every padding case; a manifest round-trips and every kind of wrong manifest is
 * refused with the reason naming its line.
 */
import { expect } from "chai";
import { deviceIdFor } from "../../common/ids";
import {
  ManifestInvalidError,
  createDeviceIdHasher,
  formatManifest,
  loadDeviceIdOf,
  manifestHashOf,
  manifestLine,
  parseManifest,
} from "../../common/manifest";
import { loadAnchorMerkle } from "../../common/merkle";
import { batchRows, buildBatch } from "../helpers/anchor";

const M = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

describe("common/manifest", function () {
  it("the fast id is deviceIdFor, for serials of 1..100 bytes and non-ASCII ones", async function () {
    const fast = await createDeviceIdHasher(M);
    const shared = await loadDeviceIdOf();
    const serials = ["a", "ü", "line-7/0001", "日本/01", ...Array.from({ length: 100 }, (_, i) => "x".repeat(i + 1))];
    for (const s of serials) {
      expect(fast(s), s).to.equal(deviceIdFor(M, s));
      expect(shared(M.toLowerCase(), s), s).to.equal(deviceIdFor(M, s));
    }
  });

  async function refused(bytes: Buffer, expectation: Parameters<typeof parseManifest>[1]): Promise<string> {
    try {
      await parseManifest(bytes, expectation, await loadAnchorMerkle());
    } catch (err) {
      expect(err).to.be.instanceOf(ManifestInvalidError);
      return (err as Error).message;
    }
    throw new Error("accepted");
  }

  it("parses its own manifest; refuses bad lines, foreign ids, repeated ids and rows out of tree order", async function () {
    const b = await buildBatch(await batchRows(M, 5, "m"));
    const expectation = { manufacturer: M, root: b.root, count: 5, manifestHash: b.manifestHash };
    const rows = await parseManifest(b.manifest, expectation, await loadAnchorMerkle());
    expect(rows.map((r) => r.serial)).to.deep.equal([...b.tree.order].map((i) => b.rows[i]!.serial));
    const lines = b.manifest.toString().split("\n").slice(0, 5);
    const variant = async (ls: string[]) => {
      const bytes = Buffer.from(ls.join("\n") + "\n");
      return refused(bytes, { ...expectation, manifestHash: await manifestHashOf(bytes) });
    };
    expect(await variant([...lines.slice(0, 2), "{nope", ...lines.slice(3)])).to.equal(
      "manifest line 3: not a JSON object",
    );
    const r = b.rows[b.tree.order[1]!]!;
    const foreign = manifestLine({ ...r, serial: "someone-else" }).trimEnd();
    expect(await variant([lines[0]!, foreign, ...lines.slice(2)])).to.match(
      /^manifest line 2: deviceId is not keccak256\(abi\.encode\(/,
    );
    expect(await variant([lines[0]!, lines[0]!, ...lines.slice(2)])).to.equal(
      "manifest line 2: repeats the device id of line 1",
    );
    expect(await variant([lines[1]!, lines[0]!, ...lines.slice(2)])).to.match(/out of tree order|give root/);
    const badHex = lines[0]!.replace(/"keyHash":"0x[0-9a-f]{64}"/, '"keyHash":"0x12"');
    expect(await variant([badHex, ...lines.slice(1)])).to.equal(
      "manifest line 1: keyHash must be 0x + 64 lowercase hex digits",
    );
    // the same rows in input order are another file: its hash is not the batch's
    const unordered = formatManifest(b.rows, [0, 1, 2, 3, 4]);
    if (!unordered.equals(b.manifest)) expect(await refused(unordered, expectation)).to.match(/^manifest hash is /);
  });
});
