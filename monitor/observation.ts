/**
 * What the monitor ingests (DESIGN §13): the gateway's observations (gateway/observations.ts writes
 * decisions, sessions, ACL refusals and policy reloads as JSON lines) plus the kinds only the
 * monitor reads — per-interval traffic of a session, failed proofs, the firmware hash a device
 * reports. One zod model; `parseObservation` turns any input (a JSON line, a GraphQL
 * `ObservationInput`) into a typed observation with `ts` in epoch ms, or a clear error naming the
 * field. Nothing that fails here reaches a profile.
 */
import { z } from "zod";

const bytes32 = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, "must be 0x + 64 hex digits")
  .transform((s) => s.toLowerCase());
const shortText = (max: number) => z.string().min(1, "must not be empty").max(max, `must be at most ${max} characters`);
const count = (max: number) => z.number().int("must be a whole number").min(0, "must not be negative").max(max);

/** `ts`: epoch milliseconds or ISO 8601 (what the gateway's JSON lines carry). */
const timestamp = z.union([
  z.number().int("must be whole milliseconds").positive("must be positive"),
  z
    .string()
    .datetime({ offset: true, message: "must be ISO 8601 or epoch milliseconds" })
    .transform((s) => Date.parse(s)),
]);

const base = { ts: timestamp, gateway: shortText(64) };

/** Refusal reasons that mean "the credentials presented were wrong" (a failed proof). */
export const FAILED_PROOF_REASONS: ReadonlySet<string> = new Set([
  "BAD_SIGNATURE",
  "KEY_MISMATCH",
  "TOKEN_REPLAYED",
  "CHANNEL_BINDING_MISMATCH",
]);

export const observationSchema = z.discriminatedUnion("type", [
  z.object({
    ...base,
    type: z.literal("decision"),
    clientId: z.string().max(80),
    deviceId: bytes32.optional(),
    outcome: z.enum(["admitted", "refused"]),
    reasons: z.array(shortText(64)).max(32),
    segment: shortText(31).optional(),
    detail: z.string().max(200).optional(),
    remote: shortText(64).optional(),
    tls: z.boolean().optional(),
    channelBound: z.boolean().optional(),
  }),
  z.object({
    ...base,
    type: z.literal("session"),
    event: z.enum(["start", "end"]),
    deviceId: bytes32,
    segment: shortText(31).optional(),
    remote: shortText(64).optional(),
    cause: shortText(64).optional(),
    reasons: z.array(shortText(64)).max(32).optional(),
    durationMs: count(1e12).optional(),
  }),
  z.object({
    ...base,
    type: z.literal("traffic"),
    deviceId: bytes32,
    /** The interval the counts cover, ending at `ts`. */
    intervalMs: z.number().int().min(1_000, "must be at least 1000").max(3_600_000, "must be at most 3600000"),
    messages: count(1e7),
    bytes: count(1e11),
    /** Topic suffixes under the device's prefix `dtl/<segment>/<deviceId>/` the interval used. */
    topics: z.array(shortText(128)).max(64, "at most 64 topics per interval"),
  }),
  z.object({
    ...base,
    type: z.literal("proof"),
    outcome: z.literal("failed"),
    deviceId: bytes32.optional(),
    remote: shortText(64).optional(),
    reason: shortText(64),
  }),
  z.object({ ...base, type: z.literal("firmware"), deviceId: bytes32, hash: bytes32 }),
  z.object({
    ...base,
    type: z.literal("acl"),
    deviceId: z.string().max(80),
    action: z.enum(["publish", "subscribe"]),
    topic: z.string().max(256),
    outcome: z.literal("refused"),
  }),
  z.object({
    ...base,
    type: z.literal("policy"),
    event: z.enum(["reloaded", "reload-failed"]),
    detail: z.string().optional(),
  }),
]);

export type Observation = z.infer<typeof observationSchema>;
export type ObservationType = Observation["type"];

/** Why an observation was refused: `code` is stable (GraphQL extensions.code), `message` names the field. */
export class ObservationError extends Error {
  override name = "ObservationError";
  constructor(
    readonly code: "OBSERVATION_MALFORMED" | "UNKNOWN_GATEWAY" | "OBSERVATION_IN_FUTURE" | "OBSERVATION_TOO_OLD",
    message: string,
  ) {
    super(message);
  }
}

/** One observation from untrusted input, or an ObservationError naming every bad field. */
export function parseObservation(input: unknown): Observation {
  const r = observationSchema.safeParse(input);
  if (r.success) return r.data;
  const msg = r.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "observation"}: ${i.message}`).join("; ");
  throw new ObservationError("OBSERVATION_MALFORMED", msg);
}
