/**
 * Proof of possession for every key algorithm, keys made by @noble/curves and ethers: valid, wrong
 * key, wrong device, tampered signature, replayed, expired, unknown, uncompressed key input.
 */
import { expect } from "chai";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { Wallet, SigningKey, getBytes, hexlify, toUtf8Bytes } from "ethers";
import { createChallengeStore, type ChallengeStore } from "../../api/challenges";
import { checkProof } from "../../api/proof";
import { KeyError, keyHash, verifySignature, verifySignatureFast, type KeyAlgorithm } from "../../common/keys";
import { randomHash } from "../helpers/fleet";

interface TestKey {
  name: string;
  alg: KeyAlgorithm;
  /** Public key as the device would present it (compressed/raw). */
  publicKey: string;
  /** Another encoding of the same key (uncompressed), when the algorithm has one. */
  uncompressed?: string;
  sign(message: string): string;
}

function secpKey(): TestKey {
  const w = Wallet.createRandom();
  return {
    name: "secp256k1 (EIP-191, ethers)",
    alg: 1,
    publicKey: SigningKey.computePublicKey(w.publicKey, true),
    uncompressed: SigningKey.computePublicKey(w.publicKey, false),
    sign: (m) => w.signMessageSync(m),
  };
}

function p256Key(format: "compact" | "der"): TestKey {
  const sk = p256.utils.randomSecretKey();
  return {
    name: `P-256 (${format === "compact" ? "raw r‖s" : "DER"}, @noble/curves)`,
    alg: 2,
    publicKey: hexlify(p256.getPublicKey(sk, true)),
    uncompressed: hexlify(p256.getPublicKey(sk, false)),
    sign: (m) => hexlify(p256.sign(toUtf8Bytes(m), sk, { format })),
  };
}

function edKey(): TestKey {
  const sk = ed25519.utils.randomSecretKey();
  return {
    name: "Ed25519 (@noble/curves)",
    alg: 3,
    publicKey: hexlify(ed25519.getPublicKey(sk)),
    sign: (m) => hexlify(ed25519.sign(toUtf8Bytes(m), sk)),
  };
}

function tamper(sigHex: string): string {
  const b = getBytes(sigHex);
  b[10] = b[10]! ^ 0x01;
  return hexlify(b);
}

const makers = [secpKey, () => p256Key("compact"), () => p256Key("der"), edKey];

describe("api/proof checkProof", () => {
  let clock = 1_700_000_000_000;
  let store: ChallengeStore;
  beforeEach(() => {
    store = createChallengeStore({ ttlMs: 60_000, now: () => clock });
  });

  for (const make of makers) {
    const sample = make();
    describe(sample.name, () => {
      const deviceId = randomHash();
      let key: TestKey;
      let device: { keyAlgorithm: number; keyHash: string };
      beforeEach(() => {
        key = make();
        device = { keyAlgorithm: key.alg, keyHash: keyHash(key.alg, key.publicKey) };
      });

      it("accepts a valid signature by the registered key", () => {
        const c = store.issue(deviceId);
        const out = checkProof(store, deviceId, device, {
          challengeId: c.id,
          publicKey: key.publicKey,
          signature: key.sign(c.message),
        });
        expect(out).to.deep.equal({ type: "checked", reasons: [] });
      });

      it("says KEY_MISMATCH for another key of the same algorithm (signature by that key is fine)", () => {
        const other = make();
        const c = store.issue(deviceId);
        const out = checkProof(store, deviceId, device, {
          challengeId: c.id,
          publicKey: other.publicKey,
          signature: other.sign(c.message),
        });
        expect(out).to.deep.equal({ type: "checked", reasons: ["KEY_MISMATCH"] });
      });

      it("says BAD_SIGNATURE for a signature by another key under the registered key", () => {
        const other = make();
        const c = store.issue(deviceId);
        const out = checkProof(store, deviceId, device, {
          challengeId: c.id,
          publicKey: key.publicKey,
          signature: other.sign(c.message),
        });
        expect(out).to.deep.equal({ type: "checked", reasons: ["BAD_SIGNATURE"] });
      });

      it("says BAD_SIGNATURE for a tampered signature", () => {
        const c = store.issue(deviceId);
        const out = checkProof(store, deviceId, device, {
          challengeId: c.id,
          publicKey: key.publicKey,
          signature: tamper(key.sign(c.message)),
        });
        expect(out).to.deep.equal({ type: "checked", reasons: ["BAD_SIGNATURE"] });
      });

      it("says BAD_SIGNATURE for a signature over another message", () => {
        const c = store.issue(deviceId);
        const out = checkProof(store, deviceId, device, {
          challengeId: c.id,
          publicKey: key.publicKey,
          signature: key.sign(c.message + "x"),
        });
        expect(out).to.deep.equal({ type: "checked", reasons: ["BAD_SIGNATURE"] });
      });

      it("says CHALLENGE_WRONG_DEVICE for a challenge issued to another device", () => {
        const c = store.issue(randomHash());
        const out = checkProof(store, deviceId, device, {
          challengeId: c.id,
          publicKey: key.publicKey,
          signature: key.sign(c.message),
        });
        expect(out).to.deep.equal({ type: "checked", reasons: ["CHALLENGE_WRONG_DEVICE"] });
      });

      it("says CHALLENGE_REUSED when a valid proof is replayed", () => {
        const c = store.issue(deviceId);
        const proof = { challengeId: c.id, publicKey: key.publicKey, signature: key.sign(c.message) };
        expect(checkProof(store, deviceId, device, proof).type).to.equal("checked");
        expect(checkProof(store, deviceId, device, proof)).to.deep.equal({
          type: "checked",
          reasons: ["CHALLENGE_REUSED"],
        });
      });

      it("says CHALLENGE_EXPIRED at exactly the expiry time", () => {
        const c = store.issue(deviceId);
        clock += 60_000;
        const out = checkProof(store, deviceId, device, {
          challengeId: c.id,
          publicKey: key.publicKey,
          signature: key.sign(c.message),
        });
        expect(out).to.deep.equal({ type: "checked", reasons: ["CHALLENGE_EXPIRED"] });
      });

      it("accepts one millisecond before expiry", () => {
        const c = store.issue(deviceId);
        clock += 59_999;
        const out = checkProof(store, deviceId, device, {
          challengeId: c.id,
          publicKey: key.publicKey,
          signature: key.sign(c.message),
        });
        expect(out).to.deep.equal({ type: "checked", reasons: [] });
      });

      it("says CHALLENGE_UNKNOWN for a challenge never issued", () => {
        const out = checkProof(store, deviceId, device, {
          challengeId: "00".repeat(16),
          publicKey: key.publicKey,
          signature: "0x00",
        });
        expect(out).to.deep.equal({ type: "checked", reasons: ["CHALLENGE_UNKNOWN"] });
      });

      if (sample.uncompressed) {
        it("canonicalises an uncompressed public key", () => {
          const c = store.issue(deviceId);
          const out = checkProof(store, deviceId, device, {
            challengeId: c.id,
            publicKey: key.uncompressed!,
            signature: key.sign(c.message),
          });
          expect(out).to.deep.equal({ type: "checked", reasons: [] });
        });
      }

      it("says KEY_MISMATCH and BAD_SIGNATURE for bytes that are no key of the algorithm", () => {
        const c = store.issue(deviceId);
        const out = checkProof(store, deviceId, device, {
          challengeId: c.id,
          publicKey: "0x" + "07".repeat(33),
          signature: key.sign(c.message),
        });
        expect(out).to.deep.equal({ type: "checked", reasons: ["KEY_MISMATCH", "BAD_SIGNATURE"] });
      });
    });
  }

  it("gives no reasons and no check without a proof", () => {
    expect(checkProof(store, randomHash(), undefined, undefined)).to.deep.equal({ type: "none" });
  });
});

describe("api/challenges createChallengeStore", () => {
  let clock = 1_000_000;
  const now = () => clock;

  it("issues random challenges bound to the device with the documented message", () => {
    const store = createChallengeStore({ ttlMs: 1000, now });
    const id = randomHash();
    const a = store.issue(id);
    const b = store.issue(id);
    expect(a.id).to.match(/^[0-9a-f]{32}$/);
    expect(a.id).to.not.equal(b.id);
    expect(a.expiresAt).to.equal(clock + 1000);
    expect(a.message).to.equal(`dtl-challenge:${id}:${a.id}:${new Date(clock + 1000).toISOString()}`);
  });

  it("remembers a used or expired challenge for one TTL, then forgets it (UNKNOWN)", () => {
    const store = createChallengeStore({ ttlMs: 1000, now });
    const id = randomHash();
    const c = store.issue(id);
    clock += 1500;
    expect(store.consume(c.id, id)).to.deep.equal({ type: "rejected", reasons: ["CHALLENGE_EXPIRED"] });
    expect(store.consume(c.id, id)).to.deep.equal({
      type: "rejected",
      reasons: ["CHALLENGE_REUSED", "CHALLENGE_EXPIRED"],
    });
    clock += 600;
    store.issue(id); // sweeps
    expect(store.consume(c.id, id)).to.deep.equal({ type: "rejected", reasons: ["CHALLENGE_UNKNOWN"] });
    expect(store.size()).to.equal(1);
  });

  it("is bounded: refuses when full of live challenges, makes room by dropping expired ones", () => {
    const store = createChallengeStore({ ttlMs: 1000, maxOutstanding: 3, now });
    const id = randomHash();
    for (let i = 0; i < 3; i++) store.issue(id);
    expect(() => store.issue(id)).to.throw("3 challenges are outstanding");
    clock += 1000;
    store.issue(id);
    expect(store.size()).to.equal(1);
  });
});

describe("common/keys verifySignatureFast (node:crypto) agrees with verifySignature (@noble/curves, ethers)", () => {
  const P256_N = p256.Point.CURVE().n;

  function variants(key: TestKey, message: string): string[] {
    const good = key.sign(message);
    const out = [good, tamper(good), key.sign(message + "!"), "0x", "0x00", good.slice(0, -2), good + "00"];
    if (key.alg === 2) {
      const sk = getBytes(good);
      if (sk.length === 64) {
        // the same signature with high S, and in DER
        const r = BigInt(hexlify(sk.slice(0, 32)));
        const s = BigInt(hexlify(sk.slice(32)));
        const hi = P256_N - s;
        const compact = new p256.Signature(r, hi).toBytes("compact");
        out.push(
          hexlify(compact),
          hexlify(new p256.Signature(r, hi).toBytes("der")),
          hexlify(new p256.Signature(r, s).toBytes("der")),
        );
      }
    }
    return out;
  }

  for (const make of makers) {
    const sample = make();
    it(`${sample.name}: same answer for valid, high-S, DER, tampered, truncated and garbage signatures`, () => {
      for (let i = 0; i < 6; i++) {
        const key = make();
        const message = `dtl-challenge:${randomHash()}:${i}`;
        for (const sig of variants(key, message)) {
          for (const pub of [key.publicKey, key.uncompressed ?? key.publicKey, make().publicKey]) {
            const slow = verifySignature(key.alg, pub, message, sig);
            expect(verifySignatureFast(key.alg, pub, message, sig), `${key.name} ${sig}`).to.equal(slow);
          }
        }
        expect(verifySignatureFast(key.alg, key.publicKey, message, key.sign(message))).to.equal(true);
      }
    });
  }

  it("throws the same KeyError for a malformed key", () => {
    expect(() => verifySignatureFast(2, "0x1234", "m", "0x00")).to.throw(KeyError, "not a valid p256 point");
    expect(() => verifySignatureFast(3, "0x" + "00".repeat(31), "m", "0x00")).to.throw(
      KeyError,
      "Ed25519 public key is 32 bytes",
    );
  });
});
