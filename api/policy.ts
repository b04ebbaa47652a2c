/** TrustPolicyInput → TrustPolicy, validated; errors name the offending field. */
import { toUtf8Bytes } from "ethers";
import { badInput } from "./errors";
import type { TrustPolicy } from "./trust-engine";

export interface TrustPolicyArg {
  requiredAttestations?: string[] | null;
  maxAttestationAgeSeconds?: number | null;
  allowedManufacturers?: string[] | null;
  allowedSegments?: string[] | null;
  allowedFirmware?: string[] | null;
  requireProof?: boolean | null;
  requirePostQuantum?: boolean | null;
  maxLagBlocks?: number | null;
  maxRiskScore?: number | null;
}

/** Longest list a policy may carry. */
export const MAX_POLICY_LIST = 256;

function list(field: string, xs: string[] | null | undefined, shortNames: boolean): string[] | undefined {
  if (xs == null) return undefined;
  if (xs.length > MAX_POLICY_LIST) throw badInput(field, `at most ${MAX_POLICY_LIST} entries, got ${xs.length}`);
  if (shortNames) {
    for (const x of xs) {
      if (toUtf8Bytes(x).length > 31) throw badInput(field, `"${x.slice(0, 40)}" is longer than 31 bytes`);
    }
  }
  return xs;
}

function nonNegative(field: string, n: number | null | undefined): number | undefined {
  if (n == null) return undefined;
  if (n < 0) throw badInput(field, `must be ≥ 0, got ${n}`);
  return n;
}

function riskScore(n: number | null | undefined): number | undefined {
  if (n == null) return undefined;
  if (!(n >= 0 && n <= 1)) throw badInput("policy.maxRiskScore", `must be from 0 to 1, got ${n}`);
  return n;
}

const EMPTY: TrustPolicy = Object.freeze({});

export function normalizePolicy(arg: TrustPolicyArg | null | undefined): TrustPolicy {
  if (!arg) return EMPTY;
  const policy: TrustPolicy = {
    requiredAttestations: list("policy.requiredAttestations", arg.requiredAttestations, true),
    maxAttestationAgeSeconds: nonNegative("policy.maxAttestationAgeSeconds", arg.maxAttestationAgeSeconds),
    allowedManufacturers: list("policy.allowedManufacturers", arg.allowedManufacturers, false),
    allowedSegments: list("policy.allowedSegments", arg.allowedSegments, true),
    allowedFirmware: list("policy.allowedFirmware", arg.allowedFirmware, false),
    requireProof: arg.requireProof ?? undefined,
    requirePostQuantum: arg.requirePostQuantum ?? undefined,
    maxLagBlocks: nonNegative("policy.maxLagBlocks", arg.maxLagBlocks),
    maxRiskScore: riskScore(arg.maxRiskScore),
  };
  return policy;
}
