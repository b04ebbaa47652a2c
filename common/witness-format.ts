/**
 * The text forms of witness keys and witness names (DESIGN §11, §12), without any crypto library:
 * common/config.ts validates settings with these at start (every command loads it, so it stays
 * light), common/checkpoint.ts turns them into signers and verifiers.
 */

/** The size of an ML-DSA-44 public key (FIPS 204), the one post-quantum witness algorithm. */
export const ML_DSA_44_PUBLIC_KEY_BYTES = 1312;
export const ML_DSA_KEY_PREFIX = "ml-dsa-44:";

const SECP256K1_KEY = /^(0x)?[0-9a-fA-F]{64}$/;
const ML_DSA_SEED = /^ml-dsa-44:0x[0-9a-fA-F]{64}$/i;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const ML_DSA_PUBLIC_KEY = new RegExp(`^0x[0-9a-fA-F]{${2 * ML_DSA_44_PUBLIC_KEY_BYTES}}$`);

/** Why a witness key (DTL_WITNESS_KEY) is malformed, never echoing it; undefined when well-formed. */
export function witnessKeyProblem(key: string): string | undefined {
  const k = key.trim();
  if (k.toLowerCase().startsWith(ML_DSA_KEY_PREFIX))
    return ML_DSA_SEED.test(k) ? undefined : "an ML-DSA-44 witness key is ml-dsa-44:0x<hex of its 32-byte seed>";
  return SECP256K1_KEY.test(k) ? undefined : "must be 32 bytes of hex (a secp256k1 key) or ml-dsa-44:0x<32-byte seed>";
}

/** What a witness name is: an address (secp256k1) or an ML-DSA-44 public key; a message when neither. */
export function witnessKind(input: string): "address" | "ml-dsa-44" | { problem: string } {
  const s = input.trim();
  if (ADDRESS.test(s)) return "address";
  if (ML_DSA_PUBLIC_KEY.test(s)) return "ml-dsa-44";
  return {
    problem: `"${s.slice(0, 20)}${s.length > 20 ? "…" : ""}" is neither an address (0x + 40 hex digits) nor an ML-DSA-44 public key (0x + ${2 * ML_DSA_44_PUBLIC_KEY_BYTES} hex digits)`,
  };
}
