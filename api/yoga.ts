/**
 * Builds the GraphQL API (DESIGN.md §5) on graphql-yoga, schema-first. No port here: tests call
 * `yoga.fetch()`; api/server.ts listens. Error masking stays on (never a stack trace): expected
 * failures carry `extensions.code`, anything else is "Unexpected error." and is logged.
 */
import { readFileSync } from "node:fs";
import { getOperationAST, getVariableValues, type ExecutionArgs } from "graphql";
import path from "node:path";
import { createSchema, createYoga, maskError, type YogaInitialContext, type YogaServerInstance } from "graphql-yoga";
import { useGraphQlJit } from "@envelop/graphql-jit";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { silentLogger, type Logger } from "../common/logger";
import { createRpcClient } from "../common/rpc";
import type { StoreReader } from "../indexer/types";
import { createChallengeStore, type ChallengeStore } from "./challenges";
import { consolePlugin } from "./console";
import { createContext, type ApiContext, type ApiState } from "./context";
import { createTreeCache } from "./registration";
import { httpPlugin } from "./http";
import { DEFAULT_LIMITS, bodyLimitPlugin, limitsPlugin, type QueryLimits } from "./limits";
import { createMetrics } from "./metrics";
import { resolvers } from "./resolvers";

export interface ApiOptions {
  store: StoreReader;
  logger?: Logger;
  /** Bearer keys; when non-empty every /graphql and /metrics request needs one. */
  apiKeys?: string[];
  /** Allowed index lag before verdicts say STALE_INDEX and /readyz says 503 (default 2). */
  maxLagBlocks?: number;
  /** Challenge lifetime (default 60 s). */
  challengeTtlMs?: number;
  /** Serve GraphiQL at GET /graphql (default true). */
  graphiql?: boolean;
  /** Serve the console at GET / (default true; built into dist/console by bin/build.js). */
  console?: boolean;
  /** Overrides of the query limits. */
  limits?: Partial<QueryLimits>;
  /** CORS for browser apps on other origins (default off); true allows any origin. */
  cors?: boolean;
  /** Execute queries and mutations with graphql-jit (default true). */
  jit?: boolean;
  /** Most open deviceEvents subscriptions (default 1,000). */
  maxSubscriptions?: number;
  /** The chain the index follows, for chainHistoryHead (without it that field says CHAIN_UNAVAILABLE). */
  chain?: { rpcUrl: string; registry: string };
}

export interface Api {
  yoga: YogaServerInstance<Record<string, unknown>, ApiContext>;
  challenges: ChallengeStore;
  close(): void;
}

export const typeDefs = readFileSync(path.join(__dirname, "schema.graphql"), "utf8");

/**
 * graphql-jit compiles each document once and runs it several times faster than graphql-js, but
 * its own variable coercion words errors differently and fails on some garbage. So it runs only
 * queries and mutations whose variables graphql-js has already coerced without error; anything
 * else (bad variables, subscriptions) takes graphql-js's path and its messages.
 */
function jitEligible(args: ExecutionArgs): boolean {
  const op = getOperationAST(args.document, args.operationName);
  if (!op || op.operation === "subscription") return false;
  if (!op.variableDefinitions?.length) return true;
  return !getVariableValues(args.schema, op.variableDefinitions, args.variableValues ?? {}, { maxErrors: 1 }).errors;
}

/**
 * GraphiQL from the package, not Yoga's default page (which loads its JS, CSS and editor workers
 * from a CDN and stays blank offline). The page is ~9 MB and takes ~150 ms to render: built once.
 */
const graphiqlPages = new Map<string, string>();
function offlineGraphiQL(opts?: Parameters<typeof renderGraphiQL>[0]): string {
  const key = JSON.stringify(opts ?? {});
  let page = graphiqlPages.get(key);
  if (page === undefined) graphiqlPages.set(key, (page = renderGraphiQL(opts)));
  return page;
}

function yogaLogger(logger: Logger) {
  const log =
    (level: "debug" | "info" | "warn" | "error") =>
    (...args: unknown[]) => {
      const [first, ...rest] = args;
      if (first instanceof Error) logger[level]({ err: first, args: rest.length ? rest : undefined }, first.message);
      else logger[level]({ args: rest.length ? rest : undefined }, String(first));
    };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

export function createApi(opts: ApiOptions): Api {
  const logger = (opts.logger ?? silentLogger).child({ module: "api" });
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const challenges = createChallengeStore({ ttlMs: opts.challengeTtlMs ?? 60_000 });
  const metrics = createMetrics();
  const store = metrics.timed(opts.store);
  const trees = createTreeCache(store);
  // a batch whose manifest was (re)loaded, purged or rolled back: its tree is rebuilt on next use
  const unsubscribeTrees = store.onChange((c) => {
    if (c.type === "batches") for (const id of c.batchIds) trees.forget(id);
  });
  const state: ApiState = {
    // every read the API makes is timed into dtl_store_read_duration_seconds
    store,
    trees,
    challenges,
    metrics,
    logger,
    maxLagBlocks: opts.maxLagBlocks ?? 2,
    subscriptions: { open: 0, max: opts.maxSubscriptions ?? 1000 },
    chain: opts.chain && { client: createRpcClient(opts.chain.rpcUrl), registry: opts.chain.registry },
  };
  const yoga = createYoga<Record<string, unknown>, ApiContext>({
    schema: createSchema<Record<string, unknown> & YogaInitialContext & ApiContext>({ typeDefs, resolvers }),
    graphqlEndpoint: "/graphql",
    graphiql: opts.graphiql === false ? false : { title: "Device Trust Ledger" },
    renderGraphiQL: offlineGraphiQL,
    landingPage: false,
    batching: false,
    // bodyLimitPlugin (api/limits.ts) does the same for less: see the figure there
    maxRequestBodySize: false,
    // gateways and the CLI are not browsers; GraphiQL is served from the same origin
    cors: opts.cors ?? false,
    logging: yogaLogger(logger),
    // never leak internals: isDev is forced off whatever NODE_ENV says
    maskedErrors: { maskError: (error, message) => maskError(error, message, false) },
    context: () => createContext(state),
    plugins: [
      // first: the console's page and bundles are static and open, like GraphiQL
      ...(opts.console === false ? [] : [consolePlugin()]),
      httpPlugin(state, {
        graphqlEndpoint: "/graphql",
        apiKeys: opts.apiKeys ?? [],
        graphiql: opts.graphiql !== false,
      }),
      bodyLimitPlugin(limits.maxBodyBytes),
      limitsPlugin(limits),
      ...(opts.jit === false ? [] : [useGraphQlJit({}, { enableIf: jitEligible })]),
    ],
  });
  return {
    yoga,
    challenges,
    close: () => {
      unsubscribeTrees();
      challenges.clear();
    },
  };
}
