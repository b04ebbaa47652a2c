/**
 * The HTTP edge inside Yoga (so `yoga.fetch()` tests see it too): /healthz, /readyz, /metrics,
 * bearer API keys, request metrics and error codes on every result. Bodies are Yoga's to parse
 * (the size limit is api/limits.ts's `bodyLimitPlugin`).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { GraphQLError } from "graphql";
import { shouldRenderGraphiQL, type Plugin } from "graphql-yoga";
import type { ApiState } from "./context";
import { isReady } from "./context";
import { ERROR_CODES, ensureErrorCode, type ErrorCode } from "./errors";

export interface HttpOptions {
  graphqlEndpoint: string;
  apiKeys: readonly string[];
  graphiql: boolean;
}

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };

function errorResponse(
  status: number,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
    status,
    headers: { ...JSON_HEADERS, ...headers },
  });
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Constant-time check of `Authorization: Bearer <key>` against the configured keys. */
function authorised(header: string | null, keys: readonly Buffer[]): boolean {
  const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!m) return false;
  const given = digest(m[1]!);
  let ok = false;
  for (const k of keys) ok = timingSafeEqual(given, k) || ok;
  return ok;
}

const ROUTES = new Set(["/graphql", "/healthz", "/readyz", "/metrics"]);

export function httpPlugin(state: ApiState, opts: HttpOptions): Plugin {
  const keys = opts.apiKeys.map(digest);
  const started = new WeakMap<Request, { t0: number; route: string }>();
  return {
    onRequest({ request, url, endResponse }) {
      const path = url.pathname;
      started.set(request, { t0: performance.now(), route: ROUTES.has(path) ? path.slice(1) : "other" });
      if (path === "/healthz") return endResponse(new Response('{"status":"ok"}', { headers: JSON_HEADERS }));
      if (path === "/readyz") {
        const status = state.store.status();
        const lagBlocks = Math.max(0, status.headBlock - status.indexedBlock);
        const ready = isReady(status, state.maxLagBlocks);
        const body = {
          status: ready ? "ready" : "not ready",
          caughtUp: status.caughtUp,
          indexedBlock: status.indexedBlock,
          headBlock: status.headBlock,
          lagBlocks,
          maxLagBlocks: state.maxLagBlocks,
          ...(status.fatalError !== undefined && { fatalError: status.fatalError }),
        };
        return endResponse(new Response(JSON.stringify(body), { status: ready ? 200 : 503, headers: JSON_HEADERS }));
      }
      // the GraphiQL page itself is static and stays open (Yoga renders it instead of executing
      // anything); the queries it sends need the key like any other
      const graphiqlPage = opts.graphiql && path === opts.graphqlEndpoint && shouldRenderGraphiQL(request);
      if (keys.length && !graphiqlPage && !authorised(request.headers.get("authorization"), keys)) {
        return endResponse(
          errorResponse(
            401,
            ERROR_CODES.unauthenticated,
            "authorization: a valid API key is required (Authorization: Bearer <key>)",
            {
              "www-authenticate": 'Bearer realm="dtl"',
            },
          ),
        );
      }
      if (path === "/metrics") {
        const status = state.store.status();
        const ready = isReady(status, state.maxLagBlocks);
        const challenges = state.challenges.size();
        // the only asynchronous path: every other request stays synchronous here
        return state.store
          .storeStats()
          .then((store) => state.metrics.render({ status, ready, challenges, store }))
          .then((text) => endResponse(new Response(text, { headers: { "content-type": state.metrics.contentType } })));
      }
    },
    onResultProcess({ result }) {
      const results = Array.isArray(result) ? result : Symbol.asyncIterator in result ? [] : [result];
      for (const r of results) {
        for (const e of (r.errors ?? []) as GraphQLError[]) {
          ensureErrorCode(e);
          // Yoga marks a malformed request (body not JSON, not an object, no query string) as a
          // "spec" error, which it answers with 200 to a client accepting application/json; the
          // GraphQL-over-HTTP spec says 400 (audit BCF8), so the 400 it carries stands
          const http = e.extensions?.http as { spec?: boolean } | undefined;
          if (http?.spec && e.extensions.code === ERROR_CODES.badRequest) delete http.spec;
          state.metrics.countError(String(e.extensions?.code ?? "UNKNOWN"));
        }
      }
    },
    onResponse({ request, response }) {
      const seen = started.get(request);
      if (seen) state.metrics.observeRequest(seen.route, response.status, (performance.now() - seen.t0) / 1000);
    },
  };
}
