/**
 * Proof-of-possession challenges (DESIGN.md §7): random, single-use, bound to one device, expiring.
 * Kept in memory, bounded: at most `maxOutstanding` entries; expired ones are swept in issue order
 * (constant TTL ⇒ insertion order is expiry order). A consumed or expired challenge is remembered
 * for one more TTL so a replay says CHALLENGE_REUSED / CHALLENGE_EXPIRED rather than UNKNOWN.
 */
import { randomBytes } from "node:crypto";
import type { ProofReason } from "./trust-engine";

export interface Challenge {
  id: string;
  deviceId: string;
  /** The exact text the device signs (UTF-8). */
  message: string;
  /** Unix milliseconds. */
  expiresAt: number;
}

interface Entry {
  challenge: Challenge;
  used: boolean;
}

export type ConsumeResult =
  /** Valid: the caller must now check the signature over `challenge.message`. */
  { type: "ok"; challenge: Challenge } | { type: "rejected"; reasons: ProofReason[] };

export interface ChallengeStore {
  issue(deviceId: string): Challenge;
  /** Marks the challenge used (first attempt wins, whatever the outcome) and says why it fails. */
  consume(challengeId: string, deviceId: string): ConsumeResult;
  /** Entries held (outstanding plus remembered). */
  size(): number;
  clear(): void;
}

export class TooManyChallengesError extends Error {
  override name = "TooManyChallengesError";
}

export interface ChallengeStoreOptions {
  ttlMs?: number;
  maxOutstanding?: number;
  /** Clock in unix milliseconds (tests move it). */
  now?: () => number;
}

export const CHALLENGE_PREFIX = "dtl-challenge";

export function challengeMessage(deviceId: string, id: string, expiresAt: number): string {
  return `${CHALLENGE_PREFIX}:${deviceId}:${id}:${new Date(expiresAt).toISOString()}`;
}

export function createChallengeStore(opts: ChallengeStoreOptions = {}): ChallengeStore {
  const ttlMs = opts.ttlMs ?? 60_000;
  const max = opts.maxOutstanding ?? 100_000;
  const now = opts.now ?? Date.now;
  if (!(ttlMs > 0)) throw new RangeError(`challenge TTL must be positive, got ${ttlMs}`);
  const entries = new Map<string, Entry>();

  /** Forgets entries whose remembrance window (expiry + one TTL) is over; `all` also drops expired ones. */
  function sweep(t: number, dropExpired: boolean): void {
    for (const [id, e] of entries) {
      const horizon = dropExpired ? e.challenge.expiresAt : e.challenge.expiresAt + ttlMs;
      if (horizon > t) break;
      entries.delete(id);
    }
  }

  return {
    issue(deviceId) {
      const t = now();
      sweep(t, false);
      if (entries.size >= max) sweep(t, true);
      if (entries.size >= max) {
        throw new TooManyChallengesError(
          `${max} challenges are outstanding; try again within ${Math.ceil(ttlMs / 1000)} s`,
        );
      }
      const id = randomBytes(16).toString("hex");
      const expiresAt = t + ttlMs;
      const challenge = { id, deviceId, expiresAt, message: challengeMessage(deviceId, id, expiresAt) };
      entries.set(id, { challenge, used: false });
      return challenge;
    },
    consume(challengeId, deviceId) {
      const t = now();
      const e = entries.get(challengeId);
      if (!e) return { type: "rejected", reasons: ["CHALLENGE_UNKNOWN"] };
      const reasons: ProofReason[] = [];
      if (e.used) reasons.push("CHALLENGE_REUSED");
      // expiry edge: a challenge is valid strictly before expiresAt
      if (e.challenge.expiresAt <= t) reasons.push("CHALLENGE_EXPIRED");
      if (e.challenge.deviceId !== deviceId) reasons.push("CHALLENGE_WRONG_DEVICE");
      e.used = true;
      return reasons.length ? { type: "rejected", reasons } : { type: "ok", challenge: e.challenge };
    },
    size: () => entries.size,
    clear: () => entries.clear(),
  };
}
