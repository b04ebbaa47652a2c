/** Parsing of user input into chain values; every failure is a one-line CliError naming the flag. */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { KEY_ALGORITHM_LIST, parseReason } from "../common/codes";
import { encodeShortName, parseAddress, parseBytes32 } from "../common/ids";
import {
  KEY_ALGORITHM_NAMES,
  canonicalPublicKey,
  keyHash,
  parseKeyAlgorithm,
  type DeviceKeyPair,
  type KeyAlgorithm,
} from "../common/keys";
import { CliError } from "./io";

function wrap<T>(command: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(`${command}: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
  }
}

export const bytes32 = (command: string, what: string, value: string): string =>
  wrap(command, () => parseBytes32(what, value));

export const address = (command: string, what: string, value: string): string =>
  wrap(command, () => parseAddress(what, value));

export const algorithm = (command: string, value: string): KeyAlgorithm =>
  wrap(command, () => parseKeyAlgorithm(value));

export const reason = (command: string, value: string | undefined): number =>
  value === undefined ? 0 : wrap(command, () => parseReason(value));

export const shortName = (command: string, what: string, value: string): string =>
  wrap(command, () => encodeShortName(what, value));

/** keyHash of a public key given in hex (compressed or uncompressed). */
export const publicKeyHash = (command: string, alg: KeyAlgorithm, hex: string): string =>
  wrap(command, () => keyHash(alg, hex));

const keyFileSchema = z.object({
  algorithm: z.enum(KEY_ALGORITHM_LIST),
  // 32 bytes for secp256k1, P-256, Ed25519 and an ML-DSA seed; 64 for the hybrid's two seeds;
  // an ML-DSA key made elsewhere may be the FIPS 204 secret key (signMessage checks each length)
  privateKey: z.string().regex(/^0x([0-9a-fA-F]{2})+$/, "must be 0x followed by hex digits"),
  publicKey: z.string().regex(/^0x[0-9a-fA-F]+$/, "must be 0x hex"),
});

/** Reads a device key file written by `dtl device keygen`. */
export function readKeyFile(command: string, file: string): DeviceKeyPair {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new CliError(
      `${command}: cannot read key file ${file}: ${code === "ENOENT" ? "no such file" : err instanceof Error ? err.message : String(err)}`,
    );
  }
  const parsed = keyFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new CliError(`${command}: key file ${file}: ${issue.path.join(".") || "(root)"} ${issue.message}`);
  }
  const pair = parsed.data;
  const alg = parseKeyAlgorithm(pair.algorithm);
  return { ...pair, publicKey: wrap(command, () => canonicalPublicKey(alg, pair.publicKey)) };
}

export { KEY_ALGORITHM_NAMES };

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

/** "30d", "12h", "90m", "3600s" or plain seconds → seconds. */
export function duration(command: string, flag: string, value: string): number {
  const m = /^(\d+)\s*([smhdw]?)$/.exec(value.trim());
  if (!m || Number(m[1]) <= 0)
    throw new CliError(`${command}: --${flag} must be a duration like 30d, 12h, 90m or 3600s, got "${value}"`);
  return Number(m[1]) * UNITS[m[2] || "s"]!;
}

/** An ISO 8601 date → unix seconds. */
export function isoDate(command: string, flag: string, value: string): number {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(t))
    throw new CliError(
      `${command}: --${flag} must be an ISO 8601 date like 2027-01-31 or 2027-01-31T12:00:00Z, got "${value}"`,
    );
  return Math.floor(t / 1000);
}

/**
 * The firmware hash of a command: `--firmware <hex32>`, or `--firmware-file <image>` whose
 * SHA-256 is taken. Exactly one of them.
 */
export function firmwareArg(command: string, values: Record<string, unknown>): string {
  const hex = values.firmware;
  const file = values["firmware-file"];
  if (typeof hex === "string" && typeof file === "string")
    throw new CliError(`${command}: give --firmware or --firmware-file, not both`);
  if (typeof file === "string") {
    try {
      return "0x" + createHash("sha256").update(readFileSync(file)).digest("hex");
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new CliError(
        `${command}: cannot read --firmware-file ${file}: ${code === "ENOENT" ? "no such file" : String(code ?? err)}`,
      );
    }
  }
  if (typeof hex !== "string" || hex === "")
    throw new CliError(`${command}: missing --firmware <hex32> (or --firmware-file <image>)`);
  return bytes32(command, "--firmware", hex);
}
