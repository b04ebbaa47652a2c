/**
 * Checks a proof of possession: the challenge (via the store), then that keccak256(canonical
 * public key) equals the device's registered key hash and that the signature over the challenge
 * message verifies under that key. All crypto is common/keys.ts.
 */
import { KeyError, keyHash, verifySignatureFast, type KeyAlgorithm } from "../common/keys";
import type { DeviceRecord } from "../indexer/types";
import type { ChallengeStore } from "./challenges";
import type { ProofOutcome, ProofReason } from "./trust-engine";

export interface ProofInput {
  challengeId: string;
  publicKey: string;
  signature: string;
}

export function checkProof(
  challenges: ChallengeStore,
  deviceId: string,
  device: Pick<DeviceRecord, "keyAlgorithm" | "keyHash"> | undefined,
  proof: ProofInput | null | undefined,
): ProofOutcome {
  if (!proof) return { type: "none" };
  const consumed = challenges.consume(proof.challengeId, deviceId);
  if (consumed.type === "rejected") return { type: "checked", reasons: consumed.reasons };
  // nothing to check the key against: the verdict already says NOT_REGISTERED
  if (!device) return { type: "checked", reasons: [] };
  const alg = device.keyAlgorithm as KeyAlgorithm;
  const reasons: ProofReason[] = [];
  let validKey = true;
  try {
    if (keyHash(alg, proof.publicKey) !== device.keyHash) reasons.push("KEY_MISMATCH");
  } catch (err) {
    // not a point of the registered algorithm: it cannot be the registered key
    if (!(err instanceof KeyError)) throw err;
    reasons.push("KEY_MISMATCH");
    validKey = false;
  }
  if (!validKey || !verifySignatureFast(alg, proof.publicKey, consumed.challenge.message, proof.signature)) {
    reasons.push("BAD_SIGNATURE");
  }
  return { type: "checked", reasons };
}
