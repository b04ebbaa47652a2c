/**
 * Child-process entry for benchmarks (autocannon in the server's process would distort figures):
 *   api   — the real indexer + the API server on a free port
 *   floor — a stock graphql-yoga server with a trivial resolver (the reference)
 * Prints one line `READY <url>` on stdout once serving (`api` adds a second URL: the same API without a
 * request body limit, the reference for what the limit costs); SIGTERM closes everything.
 * Config comes as JSON in argv[3]: { rpcUrl, deployment, dataDir, pollMs? } for `api`.
 */
import { createServer } from "node:http";
import { createSchema, createYoga } from "graphql-yoga";
import { startApiServer } from "../../api/server";
import type { Deployment } from "../../common/deployment";
import { createIndexer } from "../../indexer/index";

interface ApiConfig {
  rpcUrl: string;
  deployment: Deployment;
  dataDir: string;
  pollMs?: number;
}

async function serveApi(cfg: ApiConfig): Promise<() => Promise<void>> {
  const indexer = await createIndexer({
    rpcUrl: cfg.rpcUrl,
    deployment: cfg.deployment,
    dataDir: cfg.dataDir,
    pollMs: cfg.pollMs ?? 20,
  });
  await indexer.start();
  await indexer.caughtUp(300_000);
  const opts = { store: indexer.store, port: 0, graphiql: false, maxLagBlocks: 2 };
  const server = await startApiServer(opts);
  // the same API on the same store without a body limit: the reference for what the limit costs
  const unlimited = await startApiServer({ ...opts, limits: { maxBodyBytes: false } });
  process.stdout.write(`READY ${server.url} ${unlimited.url}\n`);
  return async () => {
    await server.close();
    await unlimited.close();
    await indexer.stop();
  };
}

async function serveFloor(): Promise<() => Promise<void>> {
  const yoga = createYoga({
    schema: createSchema({ typeDefs: "type Query { ok: Boolean! }", resolvers: { Query: { ok: () => true } } }),
  });
  const server = createServer(yoga);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  process.stdout.write(`READY http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}\n`);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const stop =
    mode === "floor"
      ? await serveFloor()
      : mode === "api"
        ? await serveApi(JSON.parse(process.argv[3] ?? "{}") as ApiConfig)
        : undefined;
  if (!stop) throw new Error(`usage: api-serve api '<json config>' | floor`);
  const shutdown = () => {
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", shutdown);
  process.once("SIGINT", shutdown);
  // the parent's end of the pipe closing means the bench is gone
  process.stdin.on("end", shutdown);
  process.stdin.resume();
}

// an entry point for child processes: do nothing when a test runner merely loads the file
if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`api-serve: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
