/**
 * Witness checkpoints (DESIGN §11): an indexer given a witness key (`DTL_WITNESS_KEY`) signs
 * `{ chainId, registry, block, blockHash, digest }` at final blocks; gateways and `dtl audit`
 * verify them. One place for the typed data, the signing and the verification.
 *
 * The signed bytes are the EIP-712 hash of the checkpoint under the domain
 * `{ name: "DeviceTrustLedger Checkpoint", version: "1", chainId, verifyingContract: registry }`:
 * a secp256k1 witness signs that hash (65-byte r‖s‖v, what `eth_signTypedData_v4` gives, so
 * `verifyTypedData` recovers its address); an ML-DSA-44 witness (DESIGN §12) signs the same
 * 32 bytes with FIPS 204 (pure, empty context). An ML-DSA witness's `address` is the Ethereum
 * form of its key, `keccak256(publicKey)[12:]`, so both kinds are named the same way.
 */
import {
  SigningKey,
  TypedDataEncoder,
  computeAddress,
  getAddress,
  getBytes,
  hexlify,
  keccak256,
  recoverAddress,
} from "ethers";
import { mlDsaKeygen, mlDsaSecretKey, mlDsaSign, mlDsaVerify } from "./keys-pq";
import { ML_DSA_KEY_PREFIX, witnessKeyProblem, witnessKind } from "./witness-format";

export const CHECKPOINT_DOMAIN_NAME = "DeviceTrustLedger Checkpoint";
export const CHECKPOINT_DOMAIN_VERSION = "1";
export const CHECKPOINT_TYPES = {
  Checkpoint: [
    { name: "chainId", type: "uint256" },
    { name: "registry", type: "address" },
    { name: "block", type: "uint64" },
    { name: "blockHash", type: "bytes32" },
    { name: "digest", type: "bytes32" },
  ],
};

/** The witness algorithms, as the API's KeyAlgorithm enum names them. */
export type WitnessAlgorithm = "SECP256K1" | "ML_DSA_44";

/** What a witness signs: the state digest after `block` (hash `blockHash`) of `registry` on `chainId`. */
export interface CheckpointBody {
  chainId: number;
  registry: string;
  block: number;
  blockHash: string;
  digest: string;
}

export interface SignedCheckpoint extends CheckpointBody {
  /** The witness's address (EIP-55). */
  witness: string;
  algorithm: WitnessAlgorithm;
  signature: string;
}

export interface WitnessIdentity {
  address: string;
  algorithm: WitnessAlgorithm;
  /** secp256k1: the compressed key; ML-DSA-44: the 1,312-byte FIPS 204 key. */
  publicKey: string;
}

export interface WitnessSigner {
  identity: WitnessIdentity;
  sign(body: CheckpointBody): SignedCheckpoint;
}

export class WitnessKeyError extends Error {
  override name = "WitnessKeyError";
}

export function checkpointDomain(chainId: number, registry: string) {
  return {
    name: CHECKPOINT_DOMAIN_NAME,
    version: CHECKPOINT_DOMAIN_VERSION,
    chainId,
    verifyingContract: getAddress(registry),
  };
}

/** The EIP-712 hash a witness signs. */
export function checkpointHash(b: CheckpointBody): string {
  return TypedDataEncoder.hash(checkpointDomain(b.chainId, b.registry), CHECKPOINT_TYPES, {
    chainId: b.chainId,
    registry: getAddress(b.registry),
    block: b.block,
    blockHash: b.blockHash,
    digest: b.digest,
  });
}

/** The Ethereum-style address of an ML-DSA-44 public key. */
export const mlDsaWitnessAddress = (publicKey: Uint8Array): string =>
  getAddress("0x" + keccak256(publicKey).slice(-40));

/**
 * A witness key: `0x` + 64 hex digits (secp256k1), or `ml-dsa-44:0x…` with the 32-byte FIPS 204
 * seed (common/witness-format.ts). Throws {@link WitnessKeyError} (never echoing the key).
 */
export function createWitnessSigner(key: string): WitnessSigner {
  const problem = witnessKeyProblem(key);
  if (problem) throw new WitnessKeyError(problem);
  const k = key.trim();
  if (k.toLowerCase().startsWith(ML_DSA_KEY_PREFIX)) {
    // the seed, not the expanded secret key: FIPS 204 keeps no t1 in it, so only the seed names the public key
    const seed = getBytes(k.slice(ML_DSA_KEY_PREFIX.length));
    const secretKey = mlDsaSecretKey(4, seed)!;
    const publicKey = mlDsaKeygen(4, seed).publicKey;
    const identity: WitnessIdentity = {
      address: mlDsaWitnessAddress(publicKey),
      algorithm: "ML_DSA_44",
      publicKey: hexlify(publicKey),
    };
    return {
      identity,
      sign: (body) => ({
        ...body,
        witness: identity.address,
        algorithm: "ML_DSA_44",
        signature: hexlify(mlDsaSign(4, secretKey, getBytes(checkpointHash(body)))),
      }),
    };
  }
  let sk: SigningKey;
  try {
    sk = new SigningKey(k.startsWith("0x") ? k : `0x${k}`);
  } catch {
    throw new WitnessKeyError("is not a valid secp256k1 private key");
  }
  const identity: WitnessIdentity = {
    address: computeAddress(sk.publicKey),
    algorithm: "SECP256K1",
    publicKey: sk.compressedPublicKey,
  };
  return {
    identity,
    sign: (body) => ({
      ...body,
      witness: identity.address,
      algorithm: "SECP256K1",
      signature: sk.sign(checkpointHash(body)).serialized,
    }),
  };
}

/** A witness a verifier trusts. */
export interface TrustedWitness {
  address: string;
  algorithm: WitnessAlgorithm;
  /** ML-DSA-44: its public key (a secp256k1 witness is recovered from its signatures). */
  publicKey?: Uint8Array;
}

/**
 * A witness from what an operator writes: an address (`0x` + 40 hex digits: a secp256k1 witness)
 * or an ML-DSA-44 public key (`0x` + 2,624 hex digits). Throws {@link WitnessKeyError}.
 */
export function parseWitness(input: string): TrustedWitness {
  const s = input.trim();
  const kind = witnessKind(s);
  if (typeof kind === "object") throw new WitnessKeyError(kind.problem);
  if (kind === "address") return { address: getAddress(s.toLowerCase()), algorithm: "SECP256K1" };
  const publicKey = getBytes(s);
  return { address: mlDsaWitnessAddress(publicKey), algorithm: "ML_DSA_44", publicKey };
}

/**
 * Whether `cp` carries a valid signature of the witness `w` (its address, and for ML-DSA its public
 * key). Never throws on malformed input: a malformed signature is simply not valid.
 */
export function verifyCheckpoint(cp: SignedCheckpoint, w: TrustedWitness): boolean {
  try {
    if (cp.algorithm !== w.algorithm || getAddress(cp.witness) !== w.address) return false;
    const hash = checkpointHash(cp);
    if (w.algorithm === "SECP256K1") return recoverAddress(hash, cp.signature) === w.address;
    if (!w.publicKey) return false;
    // a copy: liboqs reads a Buffer from the pool (byteOffset ≠ 0) wrongly and answers false
    return mlDsaVerify(4, new Uint8Array(w.publicKey), getBytes(hash), getBytes(cp.signature));
  } catch {
    return false;
  }
}
