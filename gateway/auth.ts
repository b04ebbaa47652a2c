/**
 * Admission (DESIGN §11): the checks of a CONNECT, in order — username `dtl1`, the token's shape,
 * clientId = deviceId, the token is for this gateway, |now − ts| ≤ 30 s, the channel binding
 * (when present or required), the nonce unseen in the window, then the verdict of the SAME trust
 * engine the API uses (api/trust-engine.ts evaluateTrust) over the replica, with the token as the
 * proof of possession: key ↔ keyHash (KEY_MISMATCH) and the signature (BAD_SIGNATURE) are proof
 * reasons, so a refusal lists every verdict reason that applies.
 */
import { KeyError, keyHash, verifySignatureFast, type KeyAlgorithm } from "../common/keys";
import { MANUFACTURER_ROLE, attesterRole } from "../common/roles";
import { evaluateTrust, type ProofReason, type TrustResult, type VerdictReason } from "../api/trust-engine";
import { rulesFor, type GatewayPolicy, type SegmentRules } from "./policy";
import type { Replica } from "./replica";
import { CONNECT_USERNAME, TOKEN_WINDOW_MS, connectMessage, parseConnectToken } from "./token";
import type { ReplicaDevice } from "./upstream";

/** Refusals that come before a verdict: the token itself is not acceptable. */
export const TOKEN_REFUSALS = {
  BAD_USERNAME: `the MQTT username is not ${CONNECT_USERNAME}`,
  TOKEN_MALFORMED: "the password is not a well-formed connect token",
  CLIENT_ID_MISMATCH: "the MQTT clientId is not the token's deviceId",
  TOKEN_WRONG_GATEWAY: "the token is for another gateway",
  TOKEN_STALE: "the token's ts is more than 30 s from the gateway's clock",
  TOKEN_REPLAYED: "the token's nonce was used already",
  CHANNEL_BINDING_MISMATCH: "the token is bound to another TLS connection",
  CHANNEL_BINDING_REQUIRED: "the policy requires a token bound to the TLS connection",
} as const;
export type TokenRefusal = keyof typeof TOKEN_REFUSALS;
export type Reason = VerdictReason | TokenRefusal;

export type Decision =
  | { ok: true; deviceId: string; device: ReplicaDevice; rules: SegmentRules; keyHash: string; reasons: [] }
  | { ok: false; deviceId?: string; reasons: Reason[]; detail?: string; tokenRefusal: boolean };

/** Nonces seen within the token window, forgotten once they could no longer pass the ts check. */
export function createNonceCache(windowMs = TOKEN_WINDOW_MS): { seen(key: string, ts: number, now: number): boolean } {
  const byKey = new Map<string, number>();
  let lastSweep = 0;
  return {
    seen(key, ts, now) {
      if (now - lastSweep > windowMs) {
        lastSweep = now;
        // a token with this ts is refused as stale after ts + window: its nonce can go then
        for (const [k, t] of byKey) if (t + windowMs < now) byKey.delete(k);
      }
      if (byKey.has(key)) return true;
      byKey.set(key, ts);
      return false;
    },
  };
}

export interface TrustContext {
  replica: Replica;
  policy(): GatewayPolicy;
  /** The replica is older than the policy's maxStalenessSeconds (or was never fresh). */
  stale(nowMs: number): boolean;
}

/** The verdict on a device already identified (admission and every later re-check). */
export function verdictFor(
  ctx: TrustContext,
  device: ReplicaDevice | undefined,
  proofReasons: readonly ProofReason[],
  nowMs: number,
): TrustResult & { rules: SegmentRules } {
  const rules = rulesFor(ctx.policy(), device?.segment ?? "");
  const status = ctx.replica.status();
  const result = evaluateTrust({
    device,
    attestations: (device?.attestations ?? []).map((a) => ({
      attestation: a,
      attesterTrusted: ctx.replica.hasRole(attesterRole(a.kindBytes32), a.attester),
    })),
    manufacturerTrusted: device ? ctx.replica.hasRole(MANUFACTURER_ROLE, device.manufacturer) : false,
    lagBlocks: status?.lagBlocks ?? 0,
    defaultMaxLagBlocks: status?.maxLagBlocks ?? 0,
    indexStopped: ctx.stale(nowMs) || !status || status.fatalError !== null,
    policy: rules.trust,
    proof: { type: "checked", reasons: proofReasons },
    now: nowMs / 1000,
  });
  return { ...result, rules };
}

export function decideConnect(
  ctx: TrustContext & { gatewayId: string; nonces: ReturnType<typeof createNonceCache> },
  conn: { clientId: string; username: string | undefined; password: Buffer | undefined; channelBinding?: string },
  nowMs: number,
): Decision {
  const refuse = (reason: TokenRefusal, detail?: string, deviceId?: string): Decision => ({
    ok: false,
    reasons: [reason],
    tokenRefusal: true,
    ...(detail !== undefined && { detail }),
    ...(deviceId !== undefined && { deviceId }),
  });
  if (conn.username !== CONNECT_USERNAME) return refuse("BAD_USERNAME");
  const parsed = parseConnectToken(conn.password);
  if (!parsed.ok) return refuse("TOKEN_MALFORMED", parsed.problem);
  const { token, alg } = parsed;
  const deviceId = token.deviceId.toLowerCase();
  if (conn.clientId.toLowerCase() !== deviceId) return refuse("CLIENT_ID_MISMATCH", undefined, deviceId);
  if (token.gateway !== ctx.gatewayId) return refuse("TOKEN_WRONG_GATEWAY", `for ${token.gateway}`, deviceId);
  if (Math.abs(nowMs - token.ts) > TOKEN_WINDOW_MS)
    return refuse("TOKEN_STALE", `${Math.round((nowMs - token.ts) / 1000)} s off`, deviceId);
  if (token.cb !== undefined && token.cb !== conn.channelBinding)
    return refuse("CHANNEL_BINDING_MISMATCH", undefined, deviceId);
  if (token.cb === undefined && ctx.policy().requireChannelBinding)
    return refuse("CHANNEL_BINDING_REQUIRED", undefined, deviceId);
  const device = ctx.replica.device(deviceId);
  const proof: ProofReason[] = [];
  let presentedHash: string;
  try {
    presentedHash = keyHash(alg, token.publicKey);
    if (!verifySignatureFast(alg, token.publicKey, connectMessage(token), token.sig)) proof.push("BAD_SIGNATURE");
  } catch (err) {
    if (err instanceof KeyError) return refuse("TOKEN_MALFORMED", `publicKey: ${err.message}`, deviceId);
    throw err;
  }
  if (device && (device.keyHash !== presentedHash || device.keyAlgorithm !== (alg as KeyAlgorithm)))
    proof.push("KEY_MISMATCH");
  // only a token whose signature holds spends its nonce: garbage cannot fill the cache or burn nonces
  if (!proof.includes("BAD_SIGNATURE") && ctx.nonces.seen(`${deviceId}:${token.nonce}`, token.ts, nowMs))
    return refuse("TOKEN_REPLAYED", undefined, deviceId);
  const verdict = verdictFor(ctx, device, proof, nowMs);
  if (!verdict.trusted || !device) return { ok: false, deviceId, reasons: verdict.reasons, tokenRefusal: false };
  return { ok: true, deviceId, device, rules: verdict.rules, keyHash: presentedHash, reasons: [] };
}
