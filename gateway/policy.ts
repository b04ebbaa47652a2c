/**
 * The gateway's policy file (`--policy gateway.json`, reloaded on SIGHUP): per segment a trust
 * policy (the API's TrustPolicyInput, validated by api/policy.ts normalizePolicy — one engine, one
 * validation) and extra topic rules; `"*"` is the policy of segments not listed. A device whose
 * segment has no entry and no `"*"` is refused with SEGMENT_NOT_ALLOWED.
 *
 * ```json
 * { "maxStalenessSeconds": 300,
 *   "segments": { "*": { "trust": {} },
 *                 "plant-9": { "trust": { "requiredAttestations": ["firmware"] },
 *                              "publish": ["dtl/plant-9/alarms"], "subscribe": ["dtl/plant-9/config/+"] } } }
 * ```
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseAddress, parseBytes32 } from "../common/ids";
import { normalizePolicy, type TrustPolicyArg } from "../api/policy";
import type { TrustPolicy } from "../api/trust-engine";

/** Default bound on how old the replica may get with every upstream gone. */
export const DEFAULT_MAX_STALENESS_SECONDS = 300;

const topicList = z.array(z.string().min(1).max(256)).max(64).default([]);

const TRUST = z
  .object({
    requiredAttestations: z.array(z.string()).optional(),
    maxAttestationAgeSeconds: z.number().int().optional(),
    allowedManufacturers: z.array(z.string()).optional(),
    allowedSegments: z.array(z.string()).optional(),
    allowedFirmware: z.array(z.string()).optional(),
    requireProof: z.boolean().optional(),
    requirePostQuantum: z.boolean().optional(),
    maxLagBlocks: z.number().int().optional(),
  })
  .strict();

const FILE = z
  .object({
    maxStalenessSeconds: z.number().int().min(1).max(31_536_000).default(DEFAULT_MAX_STALENESS_SECONDS),
    /** Refuse tokens without an RFC 9266 tls-exporter channel binding (TLS listeners only). */
    requireChannelBinding: z.boolean().default(false),
    segments: z
      .record(
        z.string().max(31),
        z.object({ trust: TRUST.default({}), publish: topicList, subscribe: topicList }).strict(),
      )
      .default({ "*": {} }),
  })
  .strict();

export interface SegmentRules {
  trust: TrustPolicy;
  /** Extra topic filters a device of the segment may publish to / subscribe to. */
  publish: readonly string[];
  subscribe: readonly string[];
}

export interface GatewayPolicy {
  maxStalenessSeconds: number;
  requireChannelBinding: boolean;
  segments: ReadonlyMap<string, SegmentRules>;
}

/** A policy file that does not hold; `problems` has one line per bad value. */
export class PolicyError extends Error {
  override name = "PolicyError";
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: ${problems.join("; ")}`);
  }
}

/** Validates a parsed policy document; every problem is reported at once. */
export function parsePolicy(doc: unknown, source = "policy"): GatewayPolicy {
  const parsed = FILE.safeParse(doc);
  if (!parsed.success)
    throw new PolicyError(
      source,
      parsed.error.issues.map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`),
    );
  const problems: string[] = [];
  const segments = new Map<string, SegmentRules>();
  for (const [name, rules] of Object.entries(parsed.data.segments)) {
    const at = `segments.${name}.trust`;
    const arg: TrustPolicyArg = { ...rules.trust };
    try {
      arg.allowedManufacturers = rules.trust.allowedManufacturers?.map((a, i) =>
        parseAddress(`${at}.allowedManufacturers[${i}]`, a),
      );
      arg.allowedFirmware = rules.trust.allowedFirmware?.map((f, i) => parseBytes32(`${at}.allowedFirmware[${i}]`, f));
      const trust = normalizePolicy(arg);
      segments.set(name, { trust, publish: rules.publish, subscribe: rules.subscribe });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      problems.push(msg.startsWith("policy.") ? `${at}.${msg.slice("policy.".length)}` : msg);
    }
  }
  if (problems.length) throw new PolicyError(source, problems);
  return {
    maxStalenessSeconds: parsed.data.maxStalenessSeconds,
    requireChannelBinding: parsed.data.requireChannelBinding,
    segments,
  };
}

/** Reads and validates a policy file; without a file, the default policy (every segment, no extra rules). */
export function loadPolicy(file: string | undefined): GatewayPolicy {
  if (file === undefined) return parsePolicy({});
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new PolicyError(file, [`cannot read: ${(err as { code?: string }).code ?? String(err)}`]);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new PolicyError(file, [`not JSON: ${err instanceof Error ? err.message : String(err)}`]);
  }
  return parsePolicy(doc, file);
}

/** The rules for a device's segment: its own entry, else `"*"`, else none (SEGMENT_NOT_ALLOWED). */
export function rulesFor(policy: GatewayPolicy, segment: string): SegmentRules {
  const own = policy.segments.get(segment) ?? policy.segments.get("*");
  if (own) return own;
  // no entry: the same engine says why, through an allow-list that names only the listed segments
  return { trust: { allowedSegments: [...policy.segments.keys()] }, publish: [], subscribe: [] };
}
