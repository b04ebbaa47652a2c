/**
 * Expected failures of the API as GraphQL errors with a code in `extensions.code` (error masking
 * stays on: anything else reaches the client as "Unexpected error." without a stack).
 */
import { GraphQLError } from "graphql";
import { createGraphQLError } from "graphql-yoga";

export const ERROR_CODES = {
  badUserInput: "BAD_USER_INPUT",
  deviceNotFound: "DEVICE_NOT_FOUND",
  unauthenticated: "UNAUTHENTICATED",
  queryTooDeep: "QUERY_TOO_DEEP",
  queryTooComplex: "QUERY_TOO_COMPLEX",
  tooManyAliases: "TOO_MANY_ALIASES",
  tooManyTokens: "TOO_MANY_TOKENS",
  tooManyDirectives: "TOO_MANY_DIRECTIVES",
  tooManyChallenges: "TOO_MANY_CHALLENGES",
  tooManySubscriptions: "TOO_MANY_SUBSCRIPTIONS",
  validationFailed: "GRAPHQL_VALIDATION_FAILED",
  parseFailed: "GRAPHQL_PARSE_FAILED",
  payloadTooLarge: "PAYLOAD_TOO_LARGE",
  badRequest: "BAD_REQUEST",
  chainUnavailable: "CHAIN_UNAVAILABLE",
  monitorDisabled: "MONITOR_DISABLED",
  gatewayMismatch: "GATEWAY_MISMATCH",
  unknownGateway: "UNKNOWN_GATEWAY",
  observationInFuture: "OBSERVATION_IN_FUTURE",
  observationTooOld: "OBSERVATION_TOO_OLD",
  rateLimited: "RATE_LIMITED",
} as const;
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** A client error naming the argument or field at fault (`field` lands in extensions too). */
export function badInput(field: string, message: string): GraphQLError {
  return createGraphQLError(`${field}: ${message}`, { extensions: { code: ERROR_CODES.badUserInput, field } });
}

export function apiError(code: ErrorCode, message: string, extra: Record<string, unknown> = {}): GraphQLError {
  return createGraphQLError(message, { extensions: { code, ...extra } });
}

/**
 * Gives a code to errors graphql-js and Yoga produce without one (syntax, validation and variable
 * coercion errors), so every error a client sees carries `extensions.code`.
 */
export function ensureErrorCode(error: GraphQLError): void {
  const ext = error.extensions as Record<string, unknown>;
  try {
    // Yoga attaches the JSON parser's error to BAD_REQUEST answers: the message says enough
    if ("originalError" in ext) delete ext.originalError;
    if (error.message.includes("Token limit")) ext.code = ERROR_CODES.tooManyTokens;
  } catch {
    // frozen extensions: leave them
  }
  if (ext.code !== undefined) return;
  const msg = error.message;
  let code: ErrorCode = ERROR_CODES.validationFailed;
  if (msg.startsWith("Syntax Error")) code = ERROR_CODES.parseFailed;
  else if (
    msg.startsWith("Variable ") ||
    msg.includes("got invalid value") ||
    msg.startsWith("Expected value of type")
  ) {
    code = ERROR_CODES.badUserInput;
  }
  try {
    ext.code = code;
  } catch {
    // a frozen extensions object keeps its (missing) code; nothing else to do
  }
}
