/**
 * Post-quantum device keys (DESIGN §12): ML-DSA-44 and ML-DSA-65 (FIPS 204, pure, empty context)
 * and the hybrid Ed25519 ‖ ML-DSA-44, where both halves must verify.
 *
 * `@noble/post-quantum` is the reference: it makes keys and signatures and verifies them
 * everywhere. A server that verifies many proofs loads liboqs (WebAssembly, `@oqs/liboqs-js`)
 * once with {@link loadFastPostQuantumVerifier}: about 9× faster verification here (10,000 vs
 * 1,100 ML-DSA-44 verifies/s); the tests hold it against the reference on every algorithm.
 */
import { ml_dsa44, ml_dsa65 } from "@noble/post-quantum/ml-dsa.js";

/** Byte sizes of the FIPS 204 encodings (public key, expanded secret key, signature) and the seed. */
export const ML_DSA = {
  4: { name: "ML-DSA-44", impl: ml_dsa44, publicKey: 1312, secretKey: 2560, signature: 2420, seed: 32 },
  5: { name: "ML-DSA-65", impl: ml_dsa65, publicKey: 1952, secretKey: 4032, signature: 3309, seed: 32 },
} as const;
export type MlDsaCode = keyof typeof ML_DSA;

/** The hybrid's halves: Ed25519 first, then ML-DSA-44. */
export const HYBRID = {
  name: "Ed25519+ML-DSA-44",
  ed25519: { publicKey: 32, signature: 64, seed: 32 },
  mlDsa: 4 as const,
  publicKey: 32 + 1312,
  signature: 64 + 2420,
};

/** A generated ML-DSA key: the 32-byte FIPS 204 seed (ξ) is the private key; the rest follows from it. */
export function mlDsaKeygen(code: MlDsaCode, seed?: Uint8Array): { seed: Uint8Array; publicKey: Uint8Array } {
  const s = seed ?? crypto.getRandomValues(new Uint8Array(ML_DSA[code].seed));
  return { seed: s, publicKey: ML_DSA[code].impl.keygen(s).publicKey };
}

/**
 * The expanded secret key of a private key given as the 32-byte seed or as the FIPS 204 secret
 * key itself (what liboqs and other implementations store); undefined for any other length.
 */
export function mlDsaSecretKey(code: MlDsaCode, key: Uint8Array): Uint8Array | undefined {
  const p = ML_DSA[code];
  if (key.length === p.seed) return p.impl.keygen(key).secretKey;
  if (key.length === p.secretKey) return key;
  return undefined;
}

export function mlDsaSign(code: MlDsaCode, secretKey: Uint8Array, msg: Uint8Array): Uint8Array {
  return ML_DSA[code].impl.sign(msg, secretKey);
}

/** Reference verification (@noble/post-quantum); false for a signature of the wrong length. */
export function mlDsaVerifyReference(
  code: MlDsaCode,
  publicKey: Uint8Array,
  msg: Uint8Array,
  sig: Uint8Array,
): boolean {
  if (sig.length !== ML_DSA[code].signature || publicKey.length !== ML_DSA[code].publicKey) return false;
  return ML_DSA[code].impl.verify(sig, msg, publicKey);
}

interface LiboqsSig {
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
}
let fast: Partial<Record<MlDsaCode, LiboqsSig>> = {};

/**
 * Loads liboqs' ML-DSA verifiers (WebAssembly) for {@link mlDsaVerify}; until it resolves, the
 * reference verifies. Idempotent.
 */
export async function loadFastPostQuantumVerifier(): Promise<void> {
  if (fast[4] && fast[5]) return;
  const oqs = await import("@oqs/liboqs-js/sig");
  const [a, b] = await Promise.all([oqs.createMLDSA44(), oqs.createMLDSA65()]);
  fast = { 4: a as LiboqsSig, 5: b as LiboqsSig };
}

/** Whether {@link loadFastPostQuantumVerifier} has loaded liboqs. */
export const fastPostQuantumLoaded = (): boolean => fast[4] !== undefined;

/** Same answer as {@link mlDsaVerifyReference}, through liboqs when loaded. */
export function mlDsaVerify(code: MlDsaCode, publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  const v = fast[code];
  if (!v) return mlDsaVerifyReference(code, publicKey, msg, sig);
  if (sig.length !== ML_DSA[code].signature || publicKey.length !== ML_DSA[code].publicKey) return false;
  return v.verify(plain(msg), plain(sig), plain(publicKey));
}

/**
 * liboqs-js refuses anything but a Uint8Array itself ("Message must be Uint8Array" for a Node
 * Buffer, a subclass): the same bytes as a plain view, no copy.
 */
const plain = (a: Uint8Array): Uint8Array =>
  a.constructor === Uint8Array ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
