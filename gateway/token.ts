/**
 * Connect tokens (DESIGN §11): the MQTT password a device presents to a gateway. A token is JSON
 * `{ deviceId, alg, publicKey, gateway, ts, nonce, sig, cb? }`; `sig` signs the UTF-8 bytes of
 * `dtl-connect:v1:<gatewayId>:<deviceId>:<ts>:<nonce>` (plus `:<cb>` when the token carries an
 * RFC 9266 tls-exporter channel binding) under the rules of §7 and §12 (common/keys.ts).
 * `dtl device connect-token` makes one; the gateway parses it here and checks it in auth.ts.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { KEY_ALGORITHM_LIST } from "../common/codes";
import { KEY_ALGORITHMS, signMessage, type DeviceKeyPair, type KeyAlgorithm } from "../common/keys";

/** The MQTT username every device gives. */
export const CONNECT_USERNAME = "dtl1";
/** How far a token's `ts` may be from the gateway's clock, either way (ms). */
export const TOKEN_WINDOW_MS = 30_000;
/** A password longer than this is refused before it is parsed (an ML-DSA-65 token is ~11 KB). */
export const MAX_TOKEN_BYTES = 16_384;

const hex = (max: number) =>
  z
    .string()
    .regex(/^0x([0-9a-fA-F]{2})+$/, "must be 0x-prefixed hex")
    .max(max);

const TOKEN = z
  .object({
    deviceId: z.string().regex(/^0x[0-9a-fA-F]{64}$/, "must be a bytes32"),
    alg: z.enum(KEY_ALGORITHM_LIST),
    publicKey: hex(4_000),
    gateway: z.string().min(1).max(128),
    ts: z.number().int().nonnegative(),
    nonce: z.string().regex(/^[0-9A-Za-z_-]{8,64}$/, "must be 8–64 characters of [0-9A-Za-z_-]"),
    sig: hex(7_000),
    /** RFC 9266 tls-exporter value of the connection the token is for (0x hex, 32 bytes). */
    cb: z
      .string()
      .regex(/^0x[0-9a-f]{64}$/, "must be 32 bytes of lower-case hex")
      .optional(),
  })
  .strict();

export type ConnectToken = z.output<typeof TOKEN>;

/** The exact text a token's signature covers. */
export function connectMessage(t: Pick<ConnectToken, "gateway" | "deviceId" | "ts" | "nonce" | "cb">): string {
  const base = `dtl-connect:v1:${t.gateway}:${t.deviceId.toLowerCase()}:${t.ts}:${t.nonce}`;
  return t.cb === undefined ? base : `${base}:${t.cb}`;
}

/** Makes a signed token for `deviceId` at `gateway` (ts = now unless given). */
export function makeConnectToken(
  pair: Pick<DeviceKeyPair, "algorithm" | "privateKey" | "publicKey">,
  deviceId: string,
  gateway: string,
  opts: { ts?: number; nonce?: string; cb?: string } = {},
): ConnectToken {
  const unsigned = {
    deviceId: deviceId.toLowerCase(),
    alg: pair.algorithm,
    publicKey: pair.publicKey,
    gateway,
    ts: opts.ts ?? Date.now(),
    nonce: opts.nonce ?? randomBytes(12).toString("base64url"),
    ...(opts.cb !== undefined && { cb: opts.cb.toLowerCase() }),
  };
  return { ...unsigned, sig: signMessage(pair, connectMessage(unsigned)) };
}

/** A parsed token, or why it is malformed (one line). */
export function parseConnectToken(
  password: Buffer | undefined,
): { ok: true; token: ConnectToken; alg: KeyAlgorithm } | { ok: false; problem: string } {
  if (!password || password.length === 0) return { ok: false, problem: "no password" };
  if (password.length > MAX_TOKEN_BYTES) return { ok: false, problem: `longer than ${MAX_TOKEN_BYTES} bytes` };
  let json: unknown;
  try {
    json = JSON.parse(password.toString("utf8"));
  } catch {
    return { ok: false, problem: "not JSON" };
  }
  const parsed = TOKEN.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, problem: `${issue.path.join(".") || "token"}: ${issue.message}` };
  }
  return { ok: true, token: parsed.data, alg: KEY_ALGORITHMS[parsed.data.alg] };
}
