/**
 * The pure trust engine (no I/O; api/trust-service.ts does the reading and calls it).
 *
 * The trust policy engine (DESIGN.md §5): a pure function from what the index says about a device
 * (role look-ups already resolved), the index lag, the policy, the outcome of a proof check and
 * the evaluator's clock to `{ trusted, reasons }`. No I/O here: every input is in the argument.
 *
 * `trusted` is true only when no reason applies; `reasons` lists every reason that applies, each
 * once, in the order of {@link VERDICT_REASONS}.
 */
import { POST_QUANTUM_KEY_ALGORITHMS, VERDICT_REASONS, type KeyAlgorithm, type VerdictReason } from "../common/codes";
import type { AttestationRecord, DeviceRecord } from "../indexer/types";

export { VERDICT_REASONS, type VerdictReason };

/** Reasons a proof check can yield (see api/proof.ts). */
export type ProofReason = Extract<
  VerdictReason,
  | "KEY_MISMATCH"
  | "BAD_SIGNATURE"
  | "CHALLENGE_UNKNOWN"
  | "CHALLENGE_EXPIRED"
  | "CHALLENGE_REUSED"
  | "CHALLENGE_WRONG_DEVICE"
>;

/** A policy after input validation; absent lists mean "anything allowed". */
export interface TrustPolicy {
  /** Kinds (short names) that need a valid attestation. */
  requiredAttestations?: readonly string[];
  maxAttestationAgeSeconds?: number;
  /** Addresses in their normal form (EIP-55, common/ids.ts parseAddress). */
  allowedManufacturers?: readonly string[];
  allowedSegments?: readonly string[];
  /** bytes32 hex in its normal form (lower case, common/ids.ts parseBytes32). */
  allowedFirmware?: readonly string[];
  requireProof?: boolean;
  /** Only post-quantum keys (POST_QUANTUM_KEY_ALGORITHMS) pass. */
  requirePostQuantum?: boolean;
  maxLagBlocks?: number;
}

/** An attestation with its attester's current role already looked up. */
export interface AttestationWithTrust {
  attestation: Pick<AttestationRecord, "kind" | "issuedAt" | "expiresAt" | "revoked">;
  /** Whether the attester still holds attesterRole(kind). */
  attesterTrusted: boolean;
}

export type ProofOutcome =
  /** No proof was given. */
  | { type: "none" }
  /** A proof was checked; `reasons` is empty when it holds. */
  | { type: "checked"; reasons: readonly ProofReason[] };

export interface TrustInput {
  device:
    | (Pick<DeviceRecord, "status" | "manufacturer" | "segment" | "firmwareHash" | "keyAlgorithm"> &
        Partial<Pick<DeviceRecord, "batchRevoked" | "duplicateIdentity">>)
    | undefined;
  /** A registration proof was given (verifyDevice `registration:`) and does not hold. */
  registrationProofInvalid?: boolean;
  /** The device's attestations (any kinds; the engine picks the required ones). */
  attestations: readonly AttestationWithTrust[];
  /** Whether the device's manufacturer still holds MANUFACTURER_ROLE. */
  manufacturerTrusted: boolean;
  /** Chain head minus indexed block. */
  lagBlocks: number;
  /** The server's allowed lag, used unless the policy sets maxLagBlocks. */
  defaultMaxLagBlocks: number;
  /** The indexer stopped on a fatal error: its data no longer follows the chain (fail closed). */
  indexStopped?: boolean;
  policy: TrustPolicy;
  proof: ProofOutcome;
  /** The evaluator's clock, unix seconds (may be fractional). */
  now: number;
}

export interface TrustResult {
  trusted: boolean;
  reasons: VerdictReason[];
}

const ORDER = new Map<VerdictReason, number>(VERDICT_REASONS.map((r, i) => [r, i]));

/** Why one attestation does not satisfy a required kind (empty when it does). */
function attestationFailures(a: AttestationWithTrust, policy: TrustPolicy, now: number): VerdictReason[] {
  const out: VerdictReason[] = [];
  if (!a.attesterTrusted) out.push("ATTESTER_NOT_TRUSTED");
  // Expiry edge: an attestation whose expiresAt equals `now` is already expired (valid strictly before).
  if (a.attestation.expiresAt !== 0 && a.attestation.expiresAt <= now) out.push("ATTESTATION_EXPIRED");
  // Age edge: exactly maxAttestationAgeSeconds old is still young enough; one second more is too old.
  const maxAge = policy.maxAttestationAgeSeconds;
  if (maxAge !== undefined && now - a.attestation.issuedAt > maxAge) out.push("ATTESTATION_TOO_OLD");
  return out;
}

/**
 * For each required kind: satisfied when at least one unrevoked attestation of that kind passes
 * every check; ATTESTATION_MISSING when there is no unrevoked one at all; otherwise the reasons of
 * the failing candidates (all that apply to them).
 */
function attestationReasons(input: TrustInput, into: Set<VerdictReason>): void {
  for (const kind of input.policy.requiredAttestations ?? []) {
    const candidates = input.attestations.filter((a) => a.attestation.kind === kind && !a.attestation.revoked);
    if (candidates.length === 0) {
      into.add("ATTESTATION_MISSING");
      continue;
    }
    const failures = candidates.map((a) => attestationFailures(a, input.policy, input.now));
    if (failures.some((f) => f.length === 0)) continue;
    for (const f of failures) for (const r of f) into.add(r);
  }
}

export function evaluateTrust(input: TrustInput): TrustResult {
  const { device, policy } = input;
  const reasons = new Set<VerdictReason>();
  if (!device) {
    reasons.add("NOT_REGISTERED");
  } else {
    if (device.status === "REVOKED") reasons.add("REVOKED");
    if (device.status === "SUSPENDED") reasons.add("SUSPENDED");
    if (device.batchRevoked) reasons.add("BATCH_REVOKED");
    if (device.duplicateIdentity) reasons.add("DUPLICATE_IDENTITY");
    if (!input.manufacturerTrusted) reasons.add("MANUFACTURER_NOT_TRUSTED");
    if (policy.allowedManufacturers && !policy.allowedManufacturers.includes(device.manufacturer)) {
      reasons.add("MANUFACTURER_NOT_ALLOWED");
    }
    if (policy.allowedSegments && !policy.allowedSegments.includes(device.segment)) reasons.add("SEGMENT_NOT_ALLOWED");
    if (policy.allowedFirmware && !policy.allowedFirmware.includes(device.firmwareHash)) {
      reasons.add("FIRMWARE_NOT_ALLOWED");
    }
    if (policy.requirePostQuantum && !POST_QUANTUM_KEY_ALGORITHMS.includes(device.keyAlgorithm as KeyAlgorithm)) {
      reasons.add("KEY_NOT_POST_QUANTUM");
    }
    attestationReasons(input, reasons);
  }
  if (input.registrationProofInvalid) reasons.add("REGISTRATION_PROOF_INVALID");
  if (input.proof.type === "none") {
    if (policy.requireProof) reasons.add("PROOF_REQUIRED");
  } else {
    for (const r of input.proof.reasons) reasons.add(r);
  }
  const maxLag = policy.maxLagBlocks ?? input.defaultMaxLagBlocks;
  if (input.lagBlocks > maxLag || input.indexStopped) reasons.add("STALE_INDEX");
  const list = [...reasons].sort((a, b) => ORDER.get(a)! - ORDER.get(b)!);
  return { trusted: list.length === 0, reasons: list };
}
