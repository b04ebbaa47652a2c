/**
 * An HTTP proxy on 127.0.0.1 that forwards POSTs to a real server and lets a test rewrite the
 * JSON answers: a tampering GraphQL API for `dtl audit`, a JSON-RPC node that claims another
 * chain id. The server behind it is real; only the answers the test names are altered.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

export interface Proxy {
  url: string;
  close(): Promise<void>;
}

/** `rewrite(request, answer)` returns the answer to send (JSON values, already parsed). */
export type Rewrite = (request: unknown, answer: unknown) => unknown;

async function body(req: IncomingMessage): Promise<string> {
  let s = "";
  for await (const chunk of req) s += String(chunk);
  return s;
}

export async function startJsonProxy(target: string, rewrite: Rewrite): Promise<Proxy> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      try {
        const reqText = await body(req);
        const upstream = await fetch(new URL(req.url ?? "/", target), {
          method: req.method,
          headers: {
            "content-type": "application/json",
            accept: "application/json",
            ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
          },
          body: req.method === "GET" || req.method === "HEAD" ? undefined : reqText,
        });
        const text = await upstream.text();
        let out = text;
        try {
          out = JSON.stringify(rewrite(reqText ? JSON.parse(reqText) : undefined, JSON.parse(text)));
        } catch {
          // not JSON: pass through untouched
        }
        res.writeHead(upstream.status, { "content-type": "application/json" });
        res.end(out);
      } catch (err) {
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(String(err));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}${new URL(target).pathname === "/" ? "" : new URL(target).pathname}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
