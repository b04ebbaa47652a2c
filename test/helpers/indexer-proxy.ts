/**
 * A JSON-RPC fault proxy for the indexer tests: a real HTTP server on 127.0.0.1 in front of a
 * real node. Per request a policy decides to pass it, drop the connection, delay it, answer an
 * HTTP error, a JSON-RPC error or a range-limit error, truncate the answer, or rewrite it (a
 * lying node). It records what it did so tests can check coverage.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ProxiedRequest {
  /** Sequence number of the HTTP request. */
  n: number;
  /** Parsed JSON-RPC body (object or batch array). */
  body: unknown;
  /** Methods in the request, in order. */
  methods: string[];
}

export type Fault =
  | { type: "pass" }
  | { type: "drop" }
  | { type: "delay"; ms: number }
  | { type: "http"; status: number }
  | { type: "rpcError"; code: number; message: string }
  | { type: "truncate" }
  /** Forward, then rewrite the parsed answer (return it modified). */
  | { type: "rewrite"; fn: (answer: unknown, req: ProxiedRequest) => unknown };

export interface RpcProxy {
  url: string;
  /** What was done per request. */
  log: { n: number; methods: string[]; fault: Fault["type"]; detail: Fault; body: unknown }[];
  setPolicy(policy: (req: ProxiedRequest) => Fault): void;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (s += c));
    req.on("end", () => resolve(s));
    req.on("error", reject);
  });
}

function errorAnswer(body: unknown, code: number, message: string): unknown {
  const one = (id: unknown) => ({ jsonrpc: "2.0", id, error: { code, message } });
  return Array.isArray(body) ? body.map((b: { id?: unknown }) => one(b.id)) : one((body as { id?: unknown }).id);
}

export async function startRpcProxy(
  target: string,
  policy: (req: ProxiedRequest) => Fault = () => ({ type: "pass" }),
): Promise<RpcProxy> {
  let current = policy;
  let n = 0;
  const log: RpcProxy["log"] = [];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const methods = (Array.isArray(body) ? body : [body]).map((b) =>
      String((b as { method?: unknown } | undefined)?.method),
    );
    const r: ProxiedRequest = { n: n++, body, methods };
    const fault = current(r);
    log.push({ n: r.n, methods, fault: fault.type, detail: fault, body });
    const send = (status: number, payload: string) => {
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
      res.end(payload);
    };
    switch (fault.type) {
      case "drop":
        req.socket.destroy();
        return;
      case "http":
        send(fault.status, `<html>${fault.status}</html>`);
        return;
      case "rpcError":
        send(200, JSON.stringify(errorAnswer(body, fault.code, fault.message)));
        return;
      default:
        break;
    }
    if (fault.type === "delay") await new Promise((resolve) => setTimeout(resolve, fault.ms));
    const upstream = await fetch(target, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: text,
    });
    let answer = await upstream.text();
    if (fault.type === "truncate") {
      answer = answer.slice(0, Math.floor(answer.length / 2));
    } else if (fault.type === "rewrite") {
      answer = JSON.stringify(fault.fn(JSON.parse(answer), r));
    }
    if (res.destroyed) return;
    send(upstream.status, answer);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    setPolicy(p) {
      current = p;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
