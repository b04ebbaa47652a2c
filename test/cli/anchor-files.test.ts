/**
 * The files of an anchored batch, without a chain: the device-proof file format (every bad field
 * named), proof file names (safe on every system, never shared by two serials) and the fast
 * device-id hasher against `deviceIdFor` on random serials (seeded: DTL_TEST_SEED replays).
 */
import { expect } from "chai";
import { Wallet } from "ethers";
import { deviceIdFor } from "../../common/ids";
import { createKeccak } from "hash-wasm";
import {
  createIdHasher,
  encodeDeviceProof,
  parseDeviceProof,
  proofFileName,
  type DeviceProof,
} from "../../common/manifest";
import { prng, testSeed } from "../helpers/seed";

const H = (c: string) => "0x" + c.repeat(64);

const PROOF: DeviceProof = {
  chainId: 31337,
  registry: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  batchId: H("1"),
  manufacturer: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
  root: H("2"),
  serial: "LINE7-0000001",
  deviceId: H("3"),
  keyAlgorithm: 2,
  keyHash: H("4"),
  firmwareHash: H("5"),
  segment: H("6"),
  proof: [H("7"), H("8")],
};

describe("anchored batch files", function () {
  describe("device proof file", function () {
    it("round-trips, in a fixed key order, and lower-cases hex", function () {
      const text = encodeDeviceProof(PROOF);
      expect(Object.keys(JSON.parse(text) as object)).to.deep.equal([
        "chainId",
        "registry",
        "batchId",
        "manufacturer",
        "root",
        "serial",
        "deviceId",
        "keyAlgorithm",
        "keyHash",
        "firmwareHash",
        "segment",
        "proof",
      ]);
      expect(parseDeviceProof(text)).to.deep.equal(PROOF);
      expect(parseDeviceProof({ ...PROOF, batchId: PROOF.batchId.toUpperCase().replace("0X", "0x") })).to.deep.equal(
        PROOF,
      );
    });

    it("names every bad field", function () {
      expect(() => parseDeviceProof("{", "x.proof.json")).to.throw("x.proof.json: not JSON");
      const { serial: _drop, ...noSerial } = PROOF;
      void _drop;
      expect(() =>
        parseDeviceProof({ ...noSerial, keyAlgorithm: 256, proof: [H("7"), "0x12"], extra: 1 }, "p.json"),
      ).to.throw(
        "p.json: serial Required; keyAlgorithm Number must be less than or equal to 255; proof.1 must be 0x followed by 64 hex digits; (file) Unrecognized key(s) in object: 'extra'",
      );
      expect(() => parseDeviceProof({ ...PROOF, registry: "0x1234" })).to.throw(
        "device proof: registry must be an address (0x followed by 40 hex digits)",
      );
    });
  });

  describe("proofFileName", function () {
    it("keeps safe serials and escapes every other byte", function () {
      expect(proofFileName("LINE7-0000001")).to.equal("LINE7-0000001.proof.json");
      expect(proofFileName("line/7:a b")).to.equal("line%2F7%3Aa%20b.proof.json");
      expect(proofFileName("..")).to.equal("%2E..proof.json");
      expect(proofFileName(".hidden")).to.equal("%2Ehidden.proof.json");
      expect(proofFileName("a%2F")).to.equal("a%252F.proof.json");
      expect(proofFileName("é")).to.equal("%C3%A9.proof.json");
    });

    it("gives two different serials two different names", function () {
      const rand = prng(testSeed());
      const alphabet = "aA0._-/%: é\\";
      const seen = new Map<string, string>();
      for (let i = 0; i < 5_000; i++) {
        const s = Array.from(
          { length: 1 + Math.floor(rand() * 6) },
          () => alphabet[Math.floor(rand() * alphabet.length)],
        ).join("");
        const name = proofFileName(s);
        expect(name).to.match(/^[A-Za-z0-9_%-][A-Za-z0-9_.%-]*\.proof\.json$/);
        const other = seen.get(name);
        if (other !== undefined) expect(other, `${JSON.stringify(s)} and ${JSON.stringify(other)}`).to.equal(s);
        seen.set(name, s);
      }
    });
  });

  describe("createIdHasher (the ids of register --anchor and of the manifest check)", function () {
    it("equals deviceIdFor on random serials of every length (UTF-8 too)", async function () {
      const rand = prng(testSeed());
      const maker = Wallet.createRandom().address;
      const idOf = createIdHasher(await createKeccak(256), maker);
      const chars = "abcXYZ019-/_ é€😀";
      for (let i = 0; i < 2_000; i++) {
        const serial = Array.from(
          { length: 1 + Math.floor(rand() * 80) },
          () => [...chars][Math.floor(rand() * [...chars].length)],
        ).join("");
        expect(idOf(serial), serial).to.equal(deviceIdFor(maker, serial));
      }
      // a long serial after short ones (the buffer grows), then a short one again
      expect(idOf("x".repeat(1000))).to.equal(deviceIdFor(maker, "x".repeat(1000)));
      expect(idOf("y")).to.equal(deviceIdFor(maker, "y"));
    });
  });
});
