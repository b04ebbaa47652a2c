/**
 * Query limits (graphql-armor rules: depth, cost, aliases, tokens, directives) reporting errors with
 * a code, and the request body limit (`bodyLimitPlugin`). Connection sizes are limited in the resolvers (`first` ≤ 500
 * and a per-request item budget), id lists by their fields.
 */
import {
  GraphQLError,
  ValuesOfCorrectTypeRule,
  specifiedRules,
  validate,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import { createGraphQLError, type Plugin } from "graphql-yoga";
import { costLimitRule } from "@escape.tech/graphql-armor-cost-limit";
import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthRule } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesRule } from "@escape.tech/graphql-armor-max-directives";
import { maxTokensPlugin } from "@escape.tech/graphql-armor-max-tokens";
import { ERROR_CODES, type ErrorCode } from "./errors";

export interface QueryLimits {
  maxDepth: number;
  maxCost: number;
  maxAliases: number;
  maxTokens: number;
  maxDirectives: number;
  /** Request body limit in bytes; false: none (the bench's reference only). */
  maxBodyBytes: number | false;
}

export const DEFAULT_LIMITS: QueryLimits = {
  maxDepth: 10,
  // armor multiplies a selection's cost by its literal `first`: 100,000 lets a page of 500 devices
  // with a few dozen fields through, and stops nested pages (500 devices × 500 history entries)
  maxCost: 100_000,
  maxAliases: 20,
  maxTokens: 5000,
  maxDirectives: 20,
  maxBodyBytes: 1024 * 1024,
};

/** armor reports through onReject; re-report with our code, without armor's "Syntax Error:" prefix. */
function reject(code: ErrorCode) {
  return [
    (ctx: ValidationContext | null, err: GraphQLError) => {
      const message = err.message.replace(/^Syntax Error: /, "");
      ctx?.reportError(new GraphQLError(message, { extensions: { code } }));
    },
  ];
}

/**
 * graphql-js's ValuesOfCorrectTypeRule with the argument named in each message: an inline
 * `device(id: "0x12")` says `id: Bytes32 must be …`, as a variable would say `Variable "$id" …`.
 */
export const NamedValuesOfCorrectTypeRule: ValidationRule = (context) => {
  const named = new Proxy(context, {
    get(target, prop, receiver) {
      if (prop === "reportError") {
        return (error: GraphQLError) => {
          const arg = target.getArgument()?.name;
          if (!arg || error.message.startsWith(`${arg}: `)) return target.reportError(error);
          target.reportError(
            new GraphQLError(`${arg}: ${error.message}`, {
              nodes: error.nodes,
              originalError: error.originalError,
              extensions: { ...error.extensions, code: error.extensions.code ?? ERROR_CODES.badUserInput, field: arg },
            }),
          );
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return ValuesOfCorrectTypeRule(named);
};

export function limitsPlugin(limits: QueryLimits): Plugin {
  const common = { propagateOnRejection: false, exposeLimits: true } as const;
  const rules = [
    maxDepthRule({
      ...common,
      n: limits.maxDepth,
      ignoreIntrospection: true,
      onReject: reject(ERROR_CODES.queryTooDeep),
    }),
    costLimitRule({
      ...common,
      maxCost: limits.maxCost,
      ignoreIntrospection: true,
      onReject: reject(ERROR_CODES.queryTooComplex),
    }),
    maxAliasesRule({ ...common, n: limits.maxAliases, onReject: reject(ERROR_CODES.tooManyAliases) }),
    maxDirectivesRule({ ...common, n: limits.maxDirectives, onReject: reject(ERROR_CODES.tooManyDirectives) }),
  ];
  return {
    onPluginInit({ addPlugin }) {
      // token counting happens at parse time (before a huge document is turned into an AST)
      addPlugin(
        maxTokensPlugin({
          n: limits.maxTokens,
          exposeLimits: true,
          onReject: [],
          propagateOnRejection: true,
        }) as Plugin,
      );
    },
    onValidate({ addValidationRule, setValidationFn, params }) {
      for (const r of rules) addValidationRule(r);
      const base = params.rules ?? specifiedRules;
      if (base.includes(ValuesOfCorrectTypeRule)) {
        setValidationFn((schema, doc, rulesNow, typeInfo, options) =>
          validate(
            schema,
            doc,
            (rulesNow ?? base).map((r: ValidationRule) =>
              r === ValuesOfCorrectTypeRule ? NamedValuesOfCorrectTypeRule : r,
            ),
            options,
            typeInfo,
          ),
        );
      }
    },
  };
}

/**
 * The request body limit (HTTP 413, PAYLOAD_TOO_LARGE) in front of Yoga's own parsers. A body with
 * Content-Length is judged by the header (node:http reads no more than it announces); a chunked
 * one is counted as it arrives, on its way to Yoga's parser. Yoga's `maxRequestBodySize` does the
 * same but pipes every body, Content-Length or not, through a TransformStream into a new Request:
 * in a bench run with it, that cost 16.2% of verifyReqPerSec (2,112 vs 2,521 req/s,
 * `bodyLimitCostPct` of `npm run bench -- api --json`), and 60% of a trivial query's rate (2,623
 * vs 6,545 req/s, medians of 5 interleaved rounds); this plugin measured within noise of no limit.
 */
export function bodyLimitPlugin(maxBodyBytes: number | false): Plugin {
  if (maxBodyBytes === false) return {};
  const max = maxBodyBytes;
  const tooLarge = () =>
    createGraphQLError(`request body: larger than the limit of ${max} bytes`, {
      extensions: { code: ERROR_CODES.payloadTooLarge, http: { status: 413 } },
    });
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const length = request.headers.get("content-length");
      if (length !== null) {
        if (Number(length) > max) throw tooLarge();
        return;
      }
      if (!requestParser || !request.body) return;
      setRequestParser((req) => {
        let size = 0;
        // a native stream needs the native TransformStream (as in Yoga's own limit)
        const Transform = req.body instanceof ReadableStream ? TransformStream : fetchAPI.TransformStream;
        const counted = req.body!.pipeThrough(
          new Transform<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              size += chunk.byteLength;
              if (size > max) controller.error(tooLarge());
              else controller.enqueue(chunk);
            },
          }),
        );
        const init = { method: req.method, headers: req.headers, body: counted, duplex: "half" };
        return requestParser(new fetchAPI.Request(req.url, init as RequestInit));
      });
    },
  };
}
