/**
 * Post-quantum device keys (DESIGN §12): ML-DSA-44, ML-DSA-65 and the hybrid Ed25519 ‖ ML-DSA-44.
 * Keys and signatures from @noble/post-quantum; a second implementation (liboqs, WebAssembly)
 * must accept ours and we must accept its; the fast verifier the API uses must answer exactly as
 * the reference; every malformed input gets its own error.
 */
import { expect } from "chai";
import { ed25519 } from "@noble/curves/ed25519.js";
import { getBytes, hexlify, keccak256, toUtf8Bytes } from "ethers";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  KeyError,
  canonicalPublicKey,
  checkSignatureLength,
  generateKeyPair,
  keyHash,
  parseKeyAlgorithm,
  signMessage,
  verifySignature,
  verifySignatureFast,
  type KeyAlgorithmName,
} from "../../common/keys";
import {
  ML_DSA,
  fastPostQuantumLoaded,
  loadFastPostQuantumVerifier,
  mlDsaKeygen,
  mlDsaVerify,
} from "../../common/keys-pq";
import { prng, testSeed } from "../helpers/seed";

interface OqsSig {
  generateKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array };
  sign(message: Uint8Array, secretKey: Uint8Array): Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
}

const PQ: KeyAlgorithmName[] = ["ml-dsa-44", "ml-dsa-65", "ed25519+ml-dsa-44"];
const MSG = "dtl challenge 7f3a…: prove you hold the key";

/** Flips one bit of byte `i` of a 0x hex string. */
const flip = (hex: string, i: number) => {
  const b = getBytes(hex);
  b[i]! ^= 1;
  return hexlify(b);
};

describe("post-quantum device keys", function () {
  let oqs: { 4: OqsSig; 5: OqsSig };

  before(async function () {
    const lib = await import("@oqs/liboqs-js/sig");
    oqs = { 4: (await lib.createMLDSA44()) as OqsSig, 5: (await lib.createMLDSA65()) as OqsSig };
  });

  it("keygen from the FIPS 204 seed gives NIST's ACVP public key", function () {
    const vectors = JSON.parse(
      readFileSync(path.join(__dirname, "../fixtures/fips204-ml-dsa-keygen.json"), "utf8"),
    ) as { tests: { seed: string; pk: string }[] };
    for (const v of vectors.tests) {
      const { publicKey } = mlDsaKeygen(4, getBytes("0x" + v.seed));
      expect(hexlify(publicKey)).to.equal("0x" + v.pk.toLowerCase());
    }
  });

  for (const name of PQ) {
    const alg = parseKeyAlgorithm(name);
    it(`${name}: generates, signs and verifies; another message, another key or one flipped bit fails`, function () {
      const pair = generateKeyPair(name);
      const other = generateKeyPair(name);
      const sig = signMessage(pair, MSG);
      expect(keyHash(alg, pair.publicKey)).to.equal(keccak256(pair.publicKey));
      for (const verify of [verifySignature, verifySignatureFast]) {
        expect(verify(alg, pair.publicKey, MSG, sig)).to.equal(true);
        expect(verify(alg, pair.publicKey, MSG + ".", sig)).to.equal(false);
        expect(verify(alg, other.publicKey, MSG, sig)).to.equal(false);
        expect(verify(alg, pair.publicKey, MSG, flip(sig, 70))).to.equal(false);
      }
    });
  }

  it("names the algorithms the same way in every spelling", function () {
    expect(parseKeyAlgorithm("ml-dsa-44")).to.equal(4);
    expect(parseKeyAlgorithm("ML_DSA_65")).to.equal(5);
    expect(parseKeyAlgorithm("ed25519+ml-dsa-44")).to.equal(6);
    expect(parseKeyAlgorithm("ED25519_ML_DSA_44")).to.equal(6);
    expect(parseKeyAlgorithm("6")).to.equal(6);
    expect(() => parseKeyAlgorithm("ml-dsa-87")).to.throw(
      'unknown key algorithm "ml-dsa-87" (expected secp256k1, p256, ed25519, ml-dsa-44, ml-dsa-65, ed25519+ml-dsa-44)',
    );
    expect(() => parseKeyAlgorithm("7")).to.throw('unknown key algorithm "7"');
  });

  describe("interoperability with liboqs (a second implementation)", function () {
    for (const code of [4, 5] as const) {
      const name = code === 4 ? "ml-dsa-44" : "ml-dsa-65";
      it(`${name}: liboqs keys and signatures verify here; ours verify in liboqs`, function () {
        const theirs = oqs[code].generateKeyPair();
        const theirSig = oqs[code].sign(toUtf8Bytes(MSG), theirs.secretKey);
        const pub = hexlify(theirs.publicKey);
        expect(verifySignature(code, pub, MSG, hexlify(theirSig))).to.equal(true);
        expect(verifySignatureFast(code, pub, MSG, hexlify(theirSig))).to.equal(true);
        // a private key as liboqs stores it (the FIPS 204 secret key) signs here too
        const withTheirKey = signMessage({ algorithm: name, privateKey: hexlify(theirs.secretKey) }, MSG);
        expect(oqs[code].verify(toUtf8Bytes(MSG), getBytes(withTheirKey), theirs.publicKey)).to.equal(true);

        const ours = generateKeyPair(name);
        const ourSig = signMessage(ours, MSG);
        expect(oqs[code].verify(toUtf8Bytes(MSG), getBytes(ourSig), getBytes(ours.publicKey))).to.equal(true);
        expect(oqs[code].verify(toUtf8Bytes(MSG + "."), getBytes(ourSig), getBytes(ours.publicKey))).to.equal(false);
      });
    }

    it("ed25519+ml-dsa-44: a hybrid made of a liboqs ML-DSA-44 key and an Ed25519 key verifies here", function () {
      const ml = oqs[4].generateKeyPair();
      const ed = ed25519.keygen();
      const msg = toUtf8Bytes(MSG);
      const pub = hexlify(new Uint8Array([...ed.publicKey, ...ml.publicKey]));
      const sig = hexlify(new Uint8Array([...ed25519.sign(msg, ed.secretKey), ...oqs[4].sign(msg, ml.secretKey)]));
      expect(verifySignature(6, pub, MSG, sig)).to.equal(true);
      expect(verifySignatureFast(6, pub, MSG, sig)).to.equal(true);
    });
  });

  it("the fast verifier (liboqs) answers exactly as the reference on every algorithm", async function () {
    await loadFastPostQuantumVerifier();
    expect(fastPostQuantumLoaded()).to.equal(true);
    const seed = testSeed();
    const random = prng(seed);
    for (let i = 0; i < 60; i++) {
      const name = PQ[i % PQ.length]!;
      const alg = parseKeyAlgorithm(name);
      const pair = generateKeyPair(name);
      let sig = signMessage(pair, MSG);
      const tamper = Math.floor(random() * 4);
      if (tamper === 1) sig = flip(sig, Math.floor(random() * getBytes(sig).length));
      const pub = tamper === 2 ? generateKeyPair(name).publicKey : pair.publicKey;
      const msg = tamper === 3 ? MSG + i : MSG;
      const want = verifySignature(alg, pub, msg, sig);
      expect(verifySignatureFast(alg, pub, msg, sig), `${name} case ${i} (seed ${seed})`).to.equal(want);
      expect(want).to.equal(tamper === 0);
    }
  });

  it("the fast verifier takes bytes in any Uint8Array: a Node Buffer, a view into a larger buffer", async function () {
    await loadFastPostQuantumVerifier();
    for (const code of [4, 5] as const) {
      const pair = generateKeyPair(code === 4 ? "ml-dsa-44" : "ml-dsa-65");
      const [pub, sig, msg] = [getBytes(pair.publicKey), getBytes(signMessage(pair, MSG)), toUtf8Bytes(MSG)];
      const view = (a: Uint8Array) => {
        const big = new Uint8Array(a.length + 16);
        big.set(a, 9);
        return big.subarray(9, 9 + a.length);
      };
      expect(mlDsaVerify(code, Buffer.from(pub), Buffer.from(msg), Buffer.from(sig)), `${code} Buffer`).to.equal(true);
      expect(mlDsaVerify(code, view(pub), view(msg), view(sig)), `${code} views`).to.equal(true);
      expect(
        mlDsaVerify(code, Buffer.from(pub), Buffer.from(MSG + "!"), Buffer.from(sig)),
        `${code} other msg`,
      ).to.equal(false);
    }
  });

  describe("bad input, each with its own error", function () {
    it("a key of the wrong length, per algorithm", function () {
      const k = (n: number) => "0x" + "11".repeat(n);
      expect(() => canonicalPublicKey(4, k(1311))).to.throw(
        KeyError,
        "an ML-DSA-44 public key is 1312 bytes, got 1311",
      );
      expect(() => canonicalPublicKey(5, k(1312))).to.throw(
        KeyError,
        "an ML-DSA-65 public key is 1952 bytes, got 1312",
      );
      expect(() => canonicalPublicKey(6, k(1312))).to.throw(
        KeyError,
        "an Ed25519+ML-DSA-44 public key is 1344 bytes (Ed25519 32 ‖ ML-DSA-44 1312), got 1312",
      );
      expect(() => canonicalPublicKey(4, "0x123")).to.throw(KeyError, "public key must be 0x-prefixed hex");
    });

    it("a hybrid key whose Ed25519 half is not a point", function () {
      const good = generateKeyPair("ed25519+ml-dsa-44").publicKey;
      // y = 2 is not the y of any Ed25519 point
      const badEd = "0x02" + "00".repeat(31) + good.slice(2 + 64);
      expect(() => canonicalPublicKey(6, badEd)).to.throw(
        KeyError,
        "the Ed25519 half of an Ed25519+ML-DSA-44 public key is not a valid Ed25519 point",
      );
    });

    it("a signature of the wrong length: named by checkSignatureLength, false when verified", function () {
      const pair = generateKeyPair("ml-dsa-44");
      const sig = signMessage(pair, MSG);
      const short = sig.slice(0, -2);
      expect(() => checkSignatureLength(4, short)).to.throw(KeyError, "an ML-DSA-44 signature is 2420 bytes, got 2419");
      expect(() => checkSignatureLength(5, sig)).to.throw(KeyError, "an ML-DSA-65 signature is 3309 bytes, got 2420");
      expect(() => checkSignatureLength(6, sig)).to.throw(
        KeyError,
        "an Ed25519+ML-DSA-44 signature is 2484 bytes, got 2420",
      );
      expect(() => checkSignatureLength(4, sig)).not.to.throw();
      expect(verifySignature(4, pair.publicKey, MSG, short)).to.equal(false);
      expect(verifySignatureFast(4, pair.publicKey, MSG, short)).to.equal(false);
    });

    it("a hybrid signature with one half wrong is refused (either half)", function () {
      const pair = generateKeyPair("ed25519+ml-dsa-44");
      const sig = signMessage(pair, MSG);
      expect(verifySignature(6, pair.publicKey, MSG, sig)).to.equal(true);
      for (const at of [10, 64 + 10]) {
        expect(verifySignature(6, pair.publicKey, MSG, flip(sig, at)), `byte ${at}`).to.equal(false);
        expect(verifySignatureFast(6, pair.publicKey, MSG, flip(sig, at)), `byte ${at}`).to.equal(false);
      }
      // each half alone is not enough: the Ed25519 half of another hybrid key's signature
      const other = generateKeyPair("ed25519+ml-dsa-44");
      const mixed = signMessage(other, MSG).slice(0, 2 + 128) + sig.slice(2 + 128);
      expect(verifySignature(6, pair.publicKey, MSG, mixed)).to.equal(false);
    });

    it("a private key of the wrong length", function () {
      expect(() => signMessage({ algorithm: "ml-dsa-44", privateKey: "0x" + "11".repeat(33) }, MSG)).to.throw(
        KeyError,
        "an ML-DSA-44 private key is 32 bytes (seed) or 2560 bytes (FIPS 204 secret key), got 33",
      );
      expect(() => signMessage({ algorithm: "ed25519+ml-dsa-44", privateKey: "0x" + "11".repeat(40) }, MSG)).to.throw(
        KeyError,
        "the ML-DSA-44 half of an Ed25519+ML-DSA-44 private key is 32 bytes (seed) or 2560 bytes (FIPS 204 secret key), got 8",
      );
    });
  });

  it("sizes are FIPS 204's", function () {
    expect(ML_DSA[4]).to.deep.include({ publicKey: 1312, secretKey: 2560, signature: 2420 });
    expect(ML_DSA[5]).to.deep.include({ publicKey: 1952, secretKey: 4032, signature: 3309 });
  });
});
