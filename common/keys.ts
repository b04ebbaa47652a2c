/**
 * Device keys and proofs of possession (DESIGN.md §7), one place for the indexer, API and CLI.
 *
 * Canonical public key: SEC1 compressed (33 bytes) for secp256k1 and P-256, raw 32 bytes for
 * Ed25519; keyHash = keccak256(canonical key). Signed bytes are the UTF-8 message:
 * secp256k1 with EIP-191 personal_sign, P-256 ECDSA over SHA-256 (raw r‖s or DER, any S),
 * Ed25519 pure. Post-quantum (§12): ML-DSA-44/65 keys are the FIPS 204 encodings, the hybrid key
 * is Ed25519 ‖ ML-DSA-44 and its signature Ed25519 ‖ ML-DSA-44 (keys-pq.ts). Only well-kept
 * libraries: ethers, @noble/curves, @noble/post-quantum (and liboqs for fast verification).
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { createPublicKey, verify as nodeVerify, type KeyObject } from "node:crypto";
import { LRUCache } from "lru-cache";
import { SigningKey, computeAddress, getBytes, hexlify, keccak256, toUtf8Bytes, verifyMessage, Wallet } from "ethers";

import {
  KEY_ALGORITHMS,
  KEY_ALGORITHM_LIST,
  KEY_ALGORITHM_NAMES,
  type KeyAlgorithm,
  type KeyAlgorithmName,
} from "./codes";
import {
  HYBRID,
  ML_DSA,
  mlDsaKeygen,
  mlDsaSecretKey,
  mlDsaSign,
  mlDsaVerify,
  mlDsaVerifyReference,
  type MlDsaCode,
} from "./keys-pq";

export { KEY_ALGORITHMS, KEY_ALGORITHM_NAMES, type KeyAlgorithm, type KeyAlgorithmName };

export class KeyError extends Error {
  override name = "KeyError";
}

/** A name with case, `-`, `_` and `+` ignored: "P-256" = "p256", "ED25519_ML_DSA_44" = "ed25519+ml-dsa-44". */
const loose = (name: string) => name.trim().toLowerCase().replace(/[-_+]/g, "");
const BY_LOOSE_NAME = new Map(KEY_ALGORITHM_LIST.map((n) => [loose(n), KEY_ALGORITHMS[n]]));

/**
 * Parses an algorithm given by name ("secp256k1", "p256"/"p-256", "ed25519", "ml-dsa-44",
 * "ml-dsa-65", "ed25519+ml-dsa-44"; also the GraphQL enum spelling) or code ("1".."6").
 */
export function parseKeyAlgorithm(input: string | number): KeyAlgorithm {
  const s = String(input).trim();
  const byName = BY_LOOSE_NAME.get(loose(s));
  if (byName) return byName;
  if (/^\d+$/.test(s) && KEY_ALGORITHM_NAMES[Number(s)]) return Number(s) as KeyAlgorithm;
  throw new KeyError(`unknown key algorithm "${input}" (expected ${KEY_ALGORITHM_LIST.join(", ")})`);
}

function hexBytes(what: string, hex: string): Uint8Array {
  // a character class and a length check: ~2× the `(?:[0-9a-f]{2})*` group on an ML-DSA signature
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^0x[0-9a-fA-F]*$/.test(hex)) {
    throw new KeyError(`${what} must be 0x-prefixed hex with an even number of digits`);
  }
  // Buffer's decoder: ~5× ethers' getBytes on the 2,420-byte ML-DSA-44 signature of every proof
  return new Uint8Array(Buffer.from(hex.slice(2), "hex"));
}

/** Returns the canonical form (0x hex) of a public key given compressed or uncompressed. */
export function canonicalPublicKey(alg: KeyAlgorithm, publicKeyHex: string): string {
  const bytes = hexBytes("public key", publicKeyHex);
  try {
    switch (alg) {
      case 1:
        return hexlify(secp256k1.Point.fromBytes(bytes).toBytes(true));
      case 2:
        return hexlify(p256.Point.fromBytes(bytes).toBytes(true));
      case 3:
        if (bytes.length !== 32) throw new KeyError(`an Ed25519 public key is 32 bytes, got ${bytes.length}`);
        ed25519.Point.fromBytes(bytes); // rejects bytes that are not a curve point
        return hexlify(bytes);
      case 4:
      case 5: {
        // a FIPS 204 public key is ρ ‖ t1 packed: every byte string of the right length decodes
        const { name, publicKey } = ML_DSA[alg];
        if (bytes.length !== publicKey)
          throw new KeyError(`an ${name} public key is ${publicKey} bytes, got ${bytes.length}`);
        return hexlify(bytes);
      }
      case 6: {
        if (bytes.length !== HYBRID.publicKey) {
          throw new KeyError(
            `an ${HYBRID.name} public key is ${HYBRID.publicKey} bytes (Ed25519 32 ‖ ML-DSA-44 1312), got ${bytes.length}`,
          );
        }
        try {
          ed25519.Point.fromBytes(bytes.subarray(0, 32));
        } catch {
          throw new KeyError(`the Ed25519 half of an ${HYBRID.name} public key is not a valid Ed25519 point`);
        }
        return hexlify(bytes);
      }
    }
  } catch (err) {
    if (err instanceof KeyError) throw err;
  }
  throw new KeyError(`public key is not a valid ${KEY_ALGORITHM_NAMES[alg]} point`);
}

/** keccak256 of the canonical public key: what the registry stores in events as keyHash. */
export function keyHash(alg: KeyAlgorithm, publicKeyHex: string): string {
  return parsedKey(alg, publicKeyHex).hash;
}

interface ParsedKey {
  /** Canonical public key, 0x hex. */
  canonical: string;
  bytes: Uint8Array;
  /** keccak256(canonical): the registered keyHash. */
  hash: string;
}

/**
 * Parsed public keys by `<alg>:<hex as given>`, bounded by bytes: a device presents the same key
 * with every proof, and an ML-DSA key is 1,312–1,952 bytes to check and hash (~0.25 ms here).
 * Only keys that parse are kept; a malformed one throws each time.
 */
const parsedKeys = new LRUCache<string, ParsedKey>({
  maxSize: 16 * 1024 * 1024,
  sizeCalculation: (v, k) => k.length + v.canonical.length + v.bytes.length + 200,
  memoMethod: (id) => {
    const sep = id.indexOf(":");
    const canonical = canonicalPublicKey(Number(id.slice(0, sep)) as KeyAlgorithm, id.slice(sep + 1));
    return { canonical, bytes: hexBytes("public key", canonical), hash: keccak256(canonical) };
  },
});

function parsedKey(alg: KeyAlgorithm, publicKeyHex: string): ParsedKey {
  return parsedKeys.memo(`${alg}:${publicKeyHex}`);
}

export interface DeviceKeyPair {
  algorithm: KeyAlgorithmName;
  privateKey: string;
  /** Canonical public key. */
  publicKey: string;
}

export function generateKeyPair(name: KeyAlgorithmName): DeviceKeyPair {
  const alg = KEY_ALGORITHMS[name];
  switch (alg) {
    case 1: {
      const w = Wallet.createRandom();
      return { algorithm: name, privateKey: w.privateKey, publicKey: SigningKey.computePublicKey(w.publicKey, true) };
    }
    case 2: {
      const { secretKey, publicKey } = p256.keygen();
      return { algorithm: name, privateKey: hexlify(secretKey), publicKey: hexlify(publicKey) };
    }
    case 3: {
      const { secretKey, publicKey } = ed25519.keygen();
      return { algorithm: name, privateKey: hexlify(secretKey), publicKey: hexlify(publicKey) };
    }
    case 4:
    case 5: {
      // the private key is the 32-byte FIPS 204 seed ξ (the expanded key follows from it)
      const { seed, publicKey } = mlDsaKeygen(alg);
      return { algorithm: name, privateKey: hexlify(seed), publicKey: hexlify(publicKey) };
    }
    case 6: {
      const ed = ed25519.keygen();
      const ml = mlDsaKeygen(HYBRID.mlDsa);
      return {
        algorithm: name,
        privateKey: hexlify(concatBytes(ed.secretKey, ml.seed)),
        publicKey: hexlify(concatBytes(ed.publicKey, ml.publicKey)),
      };
    }
  }
}

const concatBytes = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

/** The expanded ML-DSA secret key of a private key (seed or FIPS 204 secret key), or a KeyError. */
function mlDsaPrivate(code: MlDsaCode, key: Uint8Array, what: string): Uint8Array {
  const sk = mlDsaSecretKey(code, key);
  if (!sk) {
    const p = ML_DSA[code];
    throw new KeyError(
      `${what} is ${p.seed} bytes (seed) or ${p.secretKey} bytes (FIPS 204 secret key), got ${key.length}`,
    );
  }
  return sk;
}

/** Signature sizes of the algorithms with a fixed one. */
const SIGNATURE_BYTES: Partial<Record<KeyAlgorithm, number>> = {
  3: 64,
  4: ML_DSA[4].signature,
  5: ML_DSA[5].signature,
  6: HYBRID.signature,
};

/**
 * Throws a {@link KeyError} naming the expected size when `signatureHex` cannot be a signature of
 * `alg` by its length alone (verification of such a signature is simply false).
 */
export function checkSignatureLength(alg: KeyAlgorithm, signatureHex: string): void {
  const n = hexBytes("signature", signatureHex).length;
  const want = SIGNATURE_BYTES[alg];
  if (want !== undefined && n !== want) {
    throw new KeyError(`an ${ALGORITHM_TITLES[alg]} signature is ${want} bytes, got ${n}`);
  }
}

/** How people write each algorithm. */
export const ALGORITHM_TITLES: Record<KeyAlgorithm, string> = {
  1: "secp256k1",
  2: "P-256",
  3: "Ed25519",
  4: ML_DSA[4].name,
  5: ML_DSA[5].name,
  6: HYBRID.name,
};

/** Signs the UTF-8 bytes of `message` the way a device proves possession; returns 0x hex. */
export function signMessage(pair: Pick<DeviceKeyPair, "algorithm" | "privateKey">, message: string): string {
  const key = hexBytes("private key", pair.privateKey);
  const msg = toUtf8Bytes(message);
  switch (KEY_ALGORITHMS[pair.algorithm]) {
    case 1:
      return new Wallet(pair.privateKey).signMessageSync(msg);
    case 2:
      return hexlify(p256.sign(msg, key));
    case 3:
      return hexlify(ed25519.sign(msg, key));
    case 4:
    case 5: {
      const alg = KEY_ALGORITHMS[pair.algorithm] as MlDsaCode;
      return hexlify(mlDsaSign(alg, mlDsaPrivate(alg, key, `an ${ML_DSA[alg].name} private key`), msg));
    }
    case 6: {
      if (key.length < 32)
        throw new KeyError(`an ${HYBRID.name} private key is Ed25519 (32) ‖ ML-DSA-44, got ${key.length} bytes`);
      const ml = mlDsaPrivate(HYBRID.mlDsa, key.subarray(32), `the ML-DSA-44 half of an ${HYBRID.name} private key`);
      return hexlify(concatBytes(ed25519.sign(msg, key.subarray(0, 32)), mlDsaSign(HYBRID.mlDsa, ml, msg)));
    }
  }
}

/** Both halves of a hybrid signature verify (each by the verifier given). */
function verifyHybrid(
  pub: Uint8Array,
  msg: Uint8Array,
  sig: Uint8Array,
  ed: (sig: Uint8Array, msg: Uint8Array, pub: Uint8Array) => boolean,
  ml: typeof mlDsaVerify,
): boolean {
  if (sig.length !== HYBRID.signature) return false;
  const split = HYBRID.ed25519.signature;
  return (
    ed(sig.subarray(0, split), msg, pub.subarray(0, 32)) && ml(HYBRID.mlDsa, pub.subarray(32), msg, sig.subarray(split))
  );
}

/**
 * Whether `signatureHex` is a valid signature of the UTF-8 `message` by `publicKeyHex` under
 * `alg`. Malformed keys throw {@link KeyError}; malformed signatures return false.
 */
export function verifySignature(
  alg: KeyAlgorithm,
  publicKeyHex: string,
  message: string,
  signatureHex: string,
): boolean {
  const pub = getBytes(canonicalPublicKey(alg, publicKeyHex));
  const sig = hexBytes("signature", signatureHex);
  const msg = toUtf8Bytes(message);
  try {
    switch (alg) {
      case 1:
        return verifyMessage(msg, hexlify(sig)) === computeAddress(hexlify(pub));
      case 2: {
        const format = sig.length === 64 ? "compact" : "der";
        return p256.verify(sig, msg, pub, { prehash: true, lowS: false, format });
      }
      case 3:
        return sig.length === 64 && ed25519.verify(sig, msg, pub);
      case 4:
      case 5:
        return mlDsaVerifyReference(alg, pub, msg, sig);
      case 6:
        return verifyHybrid(
          pub,
          msg,
          sig,
          (s, m, p) => s.length === 64 && ed25519.verify(s, m, p),
          mlDsaVerifyReference,
        );
    }
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- native verification (additive)

/** SubjectPublicKeyInfo DER prefixes for a compressed P-256 point and a raw Ed25519 key. */
const SPKI_PREFIX = {
  2: Buffer.from("3039301306072a8648ce3d020106082a8648ce3d030107032200", "hex"),
  3: Buffer.from("302a300506032b6570032100", "hex"),
} as const;

/** Parsed node:crypto keys by `<alg><canonical key>`, least recently used evicted first. */
const nativeKeys = new LRUCache<string, KeyObject>({
  max: 10_000,
  memoMethod: (id) =>
    createPublicKey({
      key: Buffer.concat([SPKI_PREFIX[Number(id[0]) as 2 | 3], getBytes(id.slice(1))]),
      format: "der",
      type: "spki",
    }),
});

function nativeKey(alg: 2 | 3, canonical: string): KeyObject {
  return nativeKeys.memo(`${alg}${canonical}`);
}

/**
 * Same contract as {@link verifySignature}, faster where it matters for a server: P-256 and
 * Ed25519 through node:crypto (OpenSSL, ~20× @noble/curves' pure-JS verify), ML-DSA through
 * liboqs once `loadFastPostQuantumVerifier()` (keys-pq.ts) has resolved, secp256k1 as
 * verifySignature does (EIP-191 via ethers). The key is still parsed and canonicalised by
 * {@link canonicalPublicKey}, so malformed keys throw the same {@link KeyError}.
 */
export function verifySignatureFast(
  alg: KeyAlgorithm,
  publicKeyHex: string,
  message: string,
  signatureHex: string,
): boolean {
  if (alg === 1) return verifySignature(alg, publicKeyHex, message, signatureHex);
  const { canonical, bytes } = parsedKey(alg, publicKeyHex);
  const sig = hexBytes("signature", signatureHex);
  const msg = toUtf8Bytes(message);
  try {
    if (alg === 4 || alg === 5) return mlDsaVerify(alg, bytes, msg, sig);
    if (alg === 6) {
      const ed = (s: Uint8Array, m: Uint8Array, p: Uint8Array) =>
        s.length === 64 && nodeVerify(null, m, nativeKey(3, hexlify(p)), s);
      return verifyHybrid(bytes, msg, sig, ed, mlDsaVerify);
    }
    if (alg === 2) {
      return nodeVerify(
        "sha256",
        msg,
        { key: nativeKey(2, canonical), dsaEncoding: sig.length === 64 ? "ieee-p1363" : "der" },
        sig,
      );
    }
    return sig.length === 64 && nodeVerify(null, msg, nativeKey(3, canonical), sig);
  } catch {
    return false;
  }
}
