/**
 * A proxy between the browser and a real API that serves everything as it is (the page, the
 * bundles, SSE streams piped through) except the JSON answers to POST /graphql, which `rewrite`
 * may alter: a tampering middlebox the console must catch.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface TamperProxy {
  origin: string;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startTamperProxy(
  target: string,
  rewrite: (query: string, answer: { data?: Record<string, unknown> }) => void,
): Promise<TamperProxy> {
  const upstream = new URL(target);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const headers = { ...req.headers, host: upstream.host };
    const stream = req.headers.accept?.includes("text/event-stream") ?? false;
    if (req.method === "POST" && req.url === "/graphql" && !stream) {
      void (async () => {
        const sent = await body(req);
        const answer = await fetch(new URL("/graphql", upstream), {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: sent,
        });
        const json = (await answer.json()) as { data?: Record<string, unknown> };
        rewrite((JSON.parse(sent.toString()) as { query: string }).query, json);
        res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8" });
        res.end(JSON.stringify(json));
      })().catch((err: unknown) => res.destroy(err as Error));
      return;
    }
    const up = httpRequest(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", (err) => res.destroy(err));
    req.pipe(up);
  });
  const sockets = new Set<Socket>();
  server.on("connection", (s) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
