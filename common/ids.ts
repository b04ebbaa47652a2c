/** Identifiers and short names shared by the CLI, indexer and API. */
import { AbiCoder, decodeBytes32String, encodeBytes32String, getAddress, keccak256, zeroPadValue } from "ethers";

const coder = AbiCoder.defaultAbiCoder();

/** The CLI's device id: keccak256(abi.encode(manufacturer, serial)). */
export function deviceIdFor(manufacturer: string, serial: string): string {
  if (serial.length === 0) throw new Error("serial must not be empty");
  return keccak256(coder.encode(["address", "string"], [getAddress(manufacturer), serial]));
}

/** Packs a short name (≤ 31 UTF-8 bytes, e.g. "plant-3/hvac") left-aligned into bytes32. */
export function encodeShortName(what: string, name: string): string {
  try {
    return encodeBytes32String(name);
  } catch {
    throw new Error(`${what} "${name}" is longer than 31 bytes`);
  }
}

/** Unpacks a bytes32 short name; a value that is not valid packed UTF-8 is returned as hex. */
export function decodeShortName(bytes32: string): string {
  try {
    return decodeBytes32String(bytes32);
  } catch {
    return bytes32;
  }
}

export const ZERO_BYTES32 = zeroPadValue("0x", 32);

/*
 * Normal forms, applied once where a value enters (GraphQL input scalars, CLI flags, event
 * decoding) so that everything inside compares with ===:
 * - a device id, hash or other bytes32: "0x" + 64 lower-case hex digits ({@link parseBytes32});
 * - an address: EIP-55 checksummed ({@link parseAddress});
 * - a short name (segment, attestation kind): its UTF-8 text, packed by {@link encodeShortName}.
 */

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** Validates a bytes32 hex string and returns its normal form (lower case); throws naming `what`. */
export function parseBytes32(what: string, value: string): string {
  if (typeof value !== "string" || !BYTES32.test(value)) {
    throw new Error(`${what} must be 0x followed by 64 hex digits, got "${String(value)}"`);
  }
  return value.toLowerCase();
}

/**
 * Validates an address and returns its normal form (EIP-55). Any case is accepted: a mixed-case
 * typo still names the same 20 bytes the caller meant. Throws naming `what`.
 */
export function parseAddress(what: string, value: string): string {
  if (typeof value !== "string" || !ADDRESS.test(value)) {
    throw new Error(`${what} must be 0x followed by 40 hex digits, got "${String(value)}"`);
  }
  return getAddress(value.toLowerCase());
}
