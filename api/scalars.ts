/**
 * Custom scalars: Bytes32 (lowercase out), Address (EIP-55 out), DateTime (ISO 8601 UTC), JSON,
 * HexBytes. Invalid input is a GraphQL error with code BAD_USER_INPUT; graphql-js prefixes the
 * message with the argument or variable it came from.
 */
import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from "graphql";
import { getAddress, isAddress } from "ethers";
import { ERROR_CODES } from "./errors";

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const HEX_BYTES = /^0x(?:[0-9a-fA-F]{2})*$/;
/** Longest HexBytes input accepted (a DER P-256 signature is ≤ 72 bytes, a key ≤ 65). */
const MAX_HEX_BYTES = 256;

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

export function parseBytes32Value(value: unknown): string {
  if (typeof value !== "string" || !BYTES32.test(value)) {
    throw invalid("Bytes32", `must be 0x followed by 64 hex digits, got ${show(value)}`);
  }
  return value.toLowerCase();
}

export function parseAddressValue(value: unknown): string {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(value) || !isAddress(value.toLowerCase())) {
    throw invalid("Address", `must be 0x followed by 40 hex digits, got ${show(value)}`);
  }
  // accept any case on input (a mixed-case typo is still the same 20 bytes the caller meant to send)
  return getAddress(value.toLowerCase());
}

export function parseHexBytesValue(value: unknown): string {
  if (typeof value !== "string" || !HEX_BYTES.test(value)) {
    throw invalid("HexBytes", `must be 0x-prefixed hex with an even number of digits, got ${show(value)}`);
  }
  if ((value.length - 2) / 2 > MAX_HEX_BYTES) throw invalid("HexBytes", `must be at most ${MAX_HEX_BYTES} bytes`);
  return value.toLowerCase();
}

export function parseDateTimeValue(value: unknown): Date {
  const d = typeof value === "string" ? new Date(value) : undefined;
  if (!d || Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}T/.test(value as string)) {
    throw invalid("DateTime", `must be an ISO 8601 date-time, got ${show(value)}`);
  }
  return d;
}

/** Unix seconds (the store's unit), Date or ISO string → ISO 8601 UTC. */
export function serializeDateTime(value: unknown): string {
  if (typeof value === "number") return new Date(value * 1000).toISOString();
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "string") return parseDateTimeValue(value).toISOString();
  throw new GraphQLError(`DateTime cannot represent ${show(value)}`);
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

export const DateTime = new GraphQLScalarType({
  name: "DateTime",
  serialize: serializeDateTime,
  parseValue: (v) => parseDateTimeValue(v),
  parseLiteral: (ast) => parseDateTimeValue(stringLiteral("DateTime", ast)),
});

function literalToJson(ast: ValueNode, variables?: Record<string, unknown> | null): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map((v) => literalToJson(v, variables));
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literalToJson(f.value, variables)]));
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
    case Kind.ENUM:
      return ast.value;
  }
}

export const JSONScalar = new GraphQLScalarType({
  name: "JSON",
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: literalToJson,
});

export const scalarResolvers = { Bytes32, Address, HexBytes, DateTime, JSON: JSONScalar };
