/**
 * The I/O side of trust: it reads the store and the clock, then asks the pure api/trust-engine.ts.
 *
 * It reads the device, its attestations (only when the policy needs them)
 * and the roles, then calls the pure {@link evaluateTrust}. Shared by verifyDevice and verifyDevices.
 */
import { MANUFACTURER_ROLE, attesterRole } from "../common/roles";
import type { AttestationRecord, DeviceRecord } from "../indexer/types";
import type { ApiContext } from "./context";
import { ERROR_CODES, apiError } from "./errors";
import {
  evaluateTrust,
  type AttestationWithTrust,
  type ProofOutcome,
  type TrustPolicy,
  type VerdictReason,
} from "./trust-engine";

export interface VerdictView {
  deviceId: string;
  trusted: boolean;
  reasons: VerdictReason[];
  device: DeviceRecord | null;
  evaluatedAt: Date;
  atBlock: number;
  lagBlocks: number;
}

const NO_PROOF: ProofOutcome = { type: "none" };

async function attestationsWithTrust(
  ctx: ApiContext,
  device: DeviceRecord,
  kinds: readonly string[],
): Promise<AttestationWithTrust[]> {
  const all = await ctx.state.store.listAttestations(device.id);
  const wanted = all.filter((a) => kinds.includes(a.kind));
  return Promise.all(
    wanted.map(async (a: AttestationRecord) => ({
      attestation: a,
      attesterTrusted: await ctx.state.store.hasRole(attesterRole(a.kindBytes32), a.attester),
    })),
  );
}

/** Verdicts for devices already read (`devices[i]` for `ids[i]`), evaluated at one clock reading. */
export async function verdictsFor(
  ctx: ApiContext,
  ids: readonly string[],
  devices: readonly (DeviceRecord | undefined)[],
  policy: TrustPolicy,
  proof: ProofOutcome = NO_PROOF,
  opts: { registrationProofInvalid?: boolean } = {},
): Promise<VerdictView[]> {
  // refused before any read: a policy this server cannot apply
  if (policy.maxRiskScore !== undefined && !ctx.state.monitor)
    throw apiError(ERROR_CODES.monitorDisabled, "policy.maxRiskScore: this server runs no monitor", {
      field: "policy.maxRiskScore",
    });
  const snapshot = ctx.snapshot();
  const { atBlock, lagBlocks } = snapshot;
  const kinds = policy.requiredAttestations ?? [];
  // look-ups first, once per distinct manufacturer (a fleet has few), then one synchronous pass
  const manufacturers = [...new Set(devices.flatMap((d) => (d ? [d.manufacturer] : [])))];
  const roles = await Promise.all(manufacturers.map((m) => ctx.state.store.hasRole(MANUFACTURER_ROLE, m)));
  const trustedManufacturer = new Map(manufacturers.map((m, i) => [m, roles[i]!]));
  const attestations = kinds.length
    ? await Promise.all(devices.map((d) => (d ? attestationsWithTrust(ctx, d, kinds) : [])))
    : undefined;
  const nowMs = Date.now();
  const evaluatedAt = new Date(nowMs);
  const out: VerdictView[] = new Array(ids.length);
  let good = 0;
  for (let i = 0; i < ids.length; i++) {
    const device = devices[i];
    const { trusted, reasons } = evaluateTrust({
      device,
      attestations: attestations?.[i] ?? [],
      manufacturerTrusted: device ? trustedManufacturer.get(device.manufacturer)! : false,
      lagBlocks,
      defaultMaxLagBlocks: ctx.state.maxLagBlocks,
      indexStopped: snapshot.status.fatalError !== undefined,
      policy,
      proof,
      registrationProofInvalid: opts.registrationProofInvalid,
      now: nowMs / 1000,
      ...(policy.maxRiskScore !== undefined && { riskScore: ctx.state.monitor!.engine.risk(ids[i]!, nowMs).score }),
    });
    if (trusted) good++;
    out[i] = { deviceId: ids[i]!, trusted, reasons, device: device ?? null, evaluatedAt, atBlock, lagBlocks };
  }
  ctx.state.metrics.countVerdicts(good, out.length - good);
  return out;
}
