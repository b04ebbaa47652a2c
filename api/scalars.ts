/**
 * Custom scalars: Bytes32 (lowercase out), Address (EIP-55 out), HexBytes; DateTime (ISO 8601 UTC)
 * and JSON come from graphql-scalars. Invalid input is a GraphQL error with code BAD_USER_INPUT;
 * graphql-js prefixes the message with the argument or variable it came from.
 */
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from "graphql";
import { DateTimeISOResolver, JSONResolver } from "graphql-scalars";
import { parseAddress, parseBytes32 } from "../common/ids";
import { ERROR_CODES } from "./errors";

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const HEX_BYTES = /^0x[0-9a-fA-F]*$/;
/**
 * Longest HexBytes input accepted: the largest key or signature of an algorithm we take (an
 * ML-DSA-65 signature, 3,309 bytes; DESIGN §12) with room to spare, nothing more.
 */
const MAX_HEX_BYTES = 4096;

function invalid(type: string, message: string): GraphQLError {
  return new GraphQLError(`${type} ${message}`, { extensions: { code: ERROR_CODES.badUserInput } });
}

function show(value: unknown): string {
  const s = typeof value === "string" ? JSON.stringify(value) : String(value);
  return s.length > 80 ? `${s.slice(0, 77)}…` : s;
}

function stringLiteral(type: string, ast: ValueNode): string {
  if (ast.kind !== Kind.STRING) throw invalid(type, `must be a string, got a ${ast.kind.toLowerCase()} literal`);
  return ast.value;
}

/** Input in any case, out in the normal form of common/ids.ts. */
export function parseBytes32Value(value: unknown): string {
  if (typeof value !== "string" || !BYTES32.test(value)) {
    throw invalid("Bytes32", `must be 0x followed by 64 hex digits, got ${show(value)}`);
  }
  return parseBytes32("Bytes32", value);
}

/** Input in any case, out in the normal form of common/ids.ts (EIP-55). */
export function parseAddressValue(value: unknown): string {
  if (typeof value !== "string" || !ADDRESS.test(value)) {
    throw invalid("Address", `must be 0x followed by 40 hex digits, got ${show(value)}`);
  }
  return parseAddress("Address", value);
}

export function parseHexBytesValue(value: unknown): string {
  if (typeof value !== "string" || value.length % 2 !== 0 || !HEX_BYTES.test(value)) {
    throw invalid("HexBytes", `must be 0x-prefixed hex with an even number of digits, got ${show(value)}`);
  }
  if ((value.length - 2) / 2 > MAX_HEX_BYTES) throw invalid("HexBytes", `must be at most ${MAX_HEX_BYTES} bytes`);
  return value.toLowerCase();
}

export const Bytes32 = new GraphQLScalarType({
  name: "Bytes32",
  serialize: (v) => parseBytes32Value(v),
  parseValue: parseBytes32Value,
  parseLiteral: (ast) => parseBytes32Value(stringLiteral("Bytes32", ast)),
});

export const Address = new GraphQLScalarType({
  name: "Address",
  serialize: (v) => parseAddressValue(v),
  parseValue: parseAddressValue,
  parseLiteral: (ast) => parseAddressValue(stringLiteral("Address", ast)),
});

export const HexBytes = new GraphQLScalarType({
  name: "HexBytes",
  serialize: (v) => parseHexBytesValue(v),
  parseValue: parseHexBytesValue,
  parseLiteral: (ast) => parseHexBytesValue(stringLiteral("HexBytes", ast)),
});

/**
 * graphql-scalars' DateTimeISO (RFC 3339 in; `Date#toISOString()` out, UTC with milliseconds) under
 * the schema's name. The store counts unix seconds, which that scalar would read as milliseconds:
 * a number becomes a Date first.
 */
export const DateTime = new GraphQLScalarType({
  ...DateTimeISOResolver.toConfig(),
  name: "DateTime",
  serialize: (v) => DateTimeISOResolver.serialize(typeof v === "number" ? new Date(v * 1000) : v),
});

export const scalarResolvers = { Bytes32, Address, HexBytes, DateTime, JSON: JSONResolver };
