/**
 * The one TypeScript source of every enumeration the chain, the API and the CLI share (STYLE 19):
 * device statuses, revocation reasons, event kinds, key algorithms, verdict reasons and role names.
 * Each is one `as const` table; types derive from it. `test/common/codes.test.ts` holds these
 * tables against the contract (Solidity enums, events, accepted codes) and the GraphQL schema
 * enums, so a new algorithm or reason is one edit here plus the places those tests name.
 */

/** Device status codes as stored on chain (IDeviceRegistry.DeviceStatus), index = code. */
export const DEVICE_STATUS = ["NONE", "ACTIVE", "SUSPENDED", "REVOKED"] as const;
export type DeviceStatusName = (typeof DEVICE_STATUS)[number];

/** Revocation and suspension reason codes (RFC 5280 CRLReason-like), index = on-chain code. */
export const REASONS = [
  "UNSPECIFIED",
  "KEY_COMPROMISE",
  "MANUFACTURER_COMPROMISE",
  "OWNERSHIP_CHANGED",
  "SUPERSEDED",
  "DECOMMISSIONED",
  "PRIVILEGE_WITHDRAWN",
  "POLICY_VIOLATION",
  "ANOMALY_DETECTED",
] as const;
export type ReasonName = (typeof REASONS)[number];

/** "KEY_COMPROMISE" → "key-compromise": how the CLI writes a reason. */
export const cliWord = (name: string): string => name.toLowerCase().replace(/_/g, "-");

/** The CLI word of reason `code` ("key-compromise"); an unknown code is given as its number. */
export const reasonWord = (code: number): string => (REASONS[code] ? cliWord(REASONS[code]) : String(code));

/** Parses "key-compromise", "KEY_COMPROMISE", "keyCompromise" or "1" into a reason code. */
export function parseReason(input: string): number {
  const norm = input
    .trim()
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .replace(/-/g, "_")
    .toUpperCase();
  const i = REASONS.indexOf(norm as ReasonName);
  if (i >= 0) return i;
  if (/^\d+$/.test(norm) && Number(norm) < REASONS.length) return Number(norm);
  throw new Error(`unknown reason "${input}" (expected one of ${REASONS.map(cliWord).join(", ")})`);
}

/**
 * Device event kinds as used in the history head (IDeviceRegistry.EventKind): index = kind code,
 * value = event name. GraphQL's HistoryEntry.kind is the upper snake case of the name.
 */
export const EVENT_KINDS = [
  "",
  "DeviceRegistered",
  "FirmwareUpdated",
  "KeyRotated",
  "DeviceSuspended",
  "DeviceReinstated",
  "DeviceRevoked",
  "Attested",
  "AttestationRevoked",
] as const;
export type DeviceEventName = Exclude<(typeof EVENT_KINDS)[number], "">;

export function eventKindCode(name: DeviceEventName): number {
  return EVENT_KINDS.indexOf(name);
}

/** "DeviceRevoked" → "DEVICE_REVOKED". */
export function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/**
 * Device key algorithms (DESIGN §3, §7, §12): CLI name → on-chain code. 4–6 are post-quantum:
 * ML-DSA-44 and ML-DSA-65 (FIPS 204) and the hybrid Ed25519 ‖ ML-DSA-44 (both halves must verify).
 * The GraphQL `KeyAlgorithm` enum value is the name in upper case with `-` and `+` as `_`
 * ({@link keyAlgorithmEnum}: "ed25519+ml-dsa-44" → "ED25519_ML_DSA_44").
 */
export const KEY_ALGORITHMS = {
  secp256k1: 1,
  p256: 2,
  ed25519: 3,
  "ml-dsa-44": 4,
  "ml-dsa-65": 5,
  "ed25519+ml-dsa-44": 6,
} as const;
export type KeyAlgorithmName = keyof typeof KEY_ALGORITHMS;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[KeyAlgorithmName];
export const KEY_ALGORITHM_LIST = Object.keys(KEY_ALGORITHMS) as [KeyAlgorithmName, ...KeyAlgorithmName[]];

/** CLI names by on-chain code. */
export const KEY_ALGORITHM_NAMES = Object.fromEntries(
  Object.entries(KEY_ALGORITHMS).map(([name, code]) => [code, name]),
) as Record<KeyAlgorithm, KeyAlgorithmName> & Record<number, KeyAlgorithmName | undefined>;

/** The codes whose signatures a quantum computer is not known to forge (policy `requirePostQuantum`). */
export const POST_QUANTUM_KEY_ALGORITHMS: readonly KeyAlgorithm[] = [4, 5, 6];

/** The GraphQL `KeyAlgorithm` enum value of an on-chain code ("SECP256K1"); null when unknown. */
export const keyAlgorithmEnum = (code: number): string | null =>
  KEY_ALGORITHM_NAMES[code]?.toUpperCase().replace(/[-+]/g, "_") ?? null;

/** The on-chain code of a GraphQL `KeyAlgorithm` enum value; undefined when unknown. */
export const keyAlgorithmOfEnum = (value: string): KeyAlgorithm | undefined =>
  KEY_ALGORITHM_LIST.map((n) => KEY_ALGORITHMS[n]).find((code) => keyAlgorithmEnum(code) === value);

/**
 * Trust verdict reasons (DESIGN §5) in the order a verdict lists them, each with what it means
 * for people (the CLI prints it).
 */
export const VERDICT_REASON_TEXT = {
  NOT_REGISTERED: "no device with this id is registered",
  REGISTRATION_PROOF_INVALID:
    "the registration proof does not lead to an anchored batch of the device's manufacturer (wrong batch, serial, leaf fields or proof)",
  REVOKED: "the device is revoked",
  BATCH_REVOKED: "the device's anchored batch is revoked",
  SUSPENDED: "the device is suspended",
  DUPLICATE_IDENTITY: "the device id is claimed under more than one manufacturer (fail closed)",
  MANUFACTURER_NOT_TRUSTED: "its manufacturer no longer holds the manufacturer role",
  MANUFACTURER_NOT_ALLOWED: "its manufacturer is not in the allowed list",
  SEGMENT_NOT_ALLOWED: "its segment is not in the allowed list",
  FIRMWARE_NOT_ALLOWED: "its firmware is not in the allowed list",
  KEY_NOT_POST_QUANTUM: "the policy requires a post-quantum key (ML-DSA or hybrid) and the device's is classical",
  ATTESTATION_MISSING: "a required attestation is missing or revoked",
  ATTESTATION_EXPIRED: "a required attestation expired",
  ATTESTATION_TOO_OLD: "a required attestation is older than allowed",
  ATTESTER_NOT_TRUSTED: "the attester lost its role for that kind",
  PROOF_REQUIRED: "the policy requires a proof of key possession",
  KEY_MISMATCH: "the public key given does not match the registered key hash",
  BAD_SIGNATURE: "the signature does not verify",
  CHALLENGE_UNKNOWN: "the challenge id is unknown",
  CHALLENGE_EXPIRED: "the challenge expired",
  CHALLENGE_REUSED: "the challenge was used already",
  CHALLENGE_WRONG_DEVICE: "the challenge was issued for another device",
  STALE_INDEX: "the index lags the chain by more than allowed (fail closed)",
} as const;
export type VerdictReason = keyof typeof VERDICT_REASON_TEXT;
export const VERDICT_REASONS = Object.keys(VERDICT_REASON_TEXT) as [VerdictReason, ...VerdictReason[]];

/** The roles the CLI grants and revokes (`dtl grant <role>`), and the contract's role constants. */
export const ROLES = {
  manufacturer: "MANUFACTURER_ROLE",
  officer: "SECURITY_OFFICER_ROLE",
  attester: "ATTESTER_ROLE",
} as const;
export type RoleName = keyof typeof ROLES;
export const ROLE_LIST = Object.keys(ROLES) as [RoleName, ...RoleName[]];
