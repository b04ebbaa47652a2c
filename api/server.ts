/**
 * Listens: serves the API of api/yoga.ts over node:http at /graphql, /healthz, /readyz, /metrics.
 * Binds 127.0.0.1 unless told otherwise; port 0 picks a free port.
 */
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { loadFastPostQuantumVerifier } from "../common/keys-pq";
import { createApi, type ApiOptions } from "./yoga";

/** How long close() lets in-flight requests finish before it cuts connections (SSE streams). */
const CLOSE_GRACE_MS = 300;

export interface ApiServer {
  /** http://host:port */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startApiServer(opts: ApiOptions & { host?: string; port?: number }): Promise<ApiServer> {
  const host = opts.host ?? "127.0.0.1";
  // ML-DSA proofs verify through liboqs (WebAssembly), ~9× the reference; loaded before listening
  await loadFastPostQuantumVerifier();
  const api = createApi(opts);
  const server: Server = createServer(api.yoga);
  // keep-alive clients (gateways, autocannon) reuse sockets; SSE streams stay open: track to close
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  opts.logger?.info({ msg: "api listening", url: `http://${shownHost}:${port}/graphql` });
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        api.close();
        server.close(() => resolve());
        server.closeIdleConnections();
        // in-flight requests get a moment to finish; open SSE streams never end by themselves
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, CLOSE_GRACE_MS).unref();
      })),
  };
}
