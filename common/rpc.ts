/**
 * A raw JSON-RPC client over fetch: single calls and batches, a time-out per request, and errors
 * sorted into what a caller can act on. The indexer reads logs through it (ethers' transport
 * re-copies large bodies and runs ~15× slower on Hardhat's `eth_getLogs`), and `dtl audit` replays
 * the chain through it.
 *
 * Error kinds (all {@link JsonRpcError}, `retryable` tells whether trying again may help):
 * - {@link RpcTransportError}: no answer — connection refused or reset, time-out, HTTP 5xx/429,
 *   a body that is not JSON (truncated) or not a JSON-RPC answer. Retryable.
 * - {@link RpcRangeLimitError}: the node refuses a log query as too large ("query returned more
 *   than 10000 results", "block range is too wide", code -32005…). Retryable with a smaller range.
 * - {@link RpcResponseError}: any other JSON-RPC error object; `code` and `data` as the node sent
 *   them. Retryable (nodes answer transient trouble this way too) unless the code says the method
 *   or the params are wrong.
 */

export class JsonRpcError extends Error {
  override name = "JsonRpcError";
  constructor(
    message: string,
    readonly method: string,
    options?: { cause?: unknown },
    readonly retryable = true,
  ) {
    super(message, options);
  }
}

export class RpcTransportError extends JsonRpcError {
  override name = "RpcTransportError";
  constructor(
    message: string,
    method: string,
    readonly httpStatus?: number,
    options?: { cause?: unknown; timedOut?: boolean },
  ) {
    super(message, method, options);
    this.timedOut = options?.timedOut ?? false;
  }
  /** The request hit its time-out (a sign the range is too large for the node). */
  readonly timedOut: boolean;
}

export class RpcResponseError extends JsonRpcError {
  override name = "RpcResponseError";
  constructor(
    message: string,
    method: string,
    readonly code: number | undefined,
    readonly data?: unknown,
    retryable?: boolean,
  ) {
    // -32601 method not found, -32602 invalid params (unless it is a range limit, see below)
    super(message, method, undefined, retryable ?? (code !== -32601 && code !== -32602));
  }
}

export class RpcRangeLimitError extends RpcResponseError {
  override name = "RpcRangeLimitError";
  constructor(message: string, method: string, code: number | undefined, data?: unknown) {
    super(message, method, code, data, true);
  }
}

/**
 * Nodes have no common code for "your log query is too large": Infura/Besu/Geth-style answers
 * use -32005 and providers word it differently. Codes first, then the known wordings.
 */
const RANGE_LIMIT_CODES = new Set([-32005]);
const RANGE_LIMIT_WORDING =
  /too many results|more than \d+ results|query returned more than|block range|range is too (wide|large)|response size|limit exceeded|exceed(s|ed)? .*(range|limit)|too large/i;

function responseError(method: string, err: { code?: unknown; message?: unknown; data?: unknown }): RpcResponseError {
  const code = typeof err.code === "number" ? err.code : undefined;
  const message = typeof err.message === "string" ? err.message : "error";
  const text = `RPC ${method} failed: ${message}${code === undefined ? "" : ` (code ${code})`}`;
  if (
    method === "eth_getLogs" &&
    ((code !== undefined && RANGE_LIMIT_CODES.has(code)) || RANGE_LIMIT_WORDING.test(message))
  ) {
    return new RpcRangeLimitError(text, method, code, err.data);
  }
  return new RpcResponseError(text, method, code, err.data);
}

export interface RpcCall {
  method: string;
  params: unknown[];
}

export interface RpcClient {
  readonly url: string;
  call<T = unknown>(method: string, params?: unknown[], opts?: { timeoutMs?: number }): Promise<T>;
  /**
   * Several calls in one JSON-RPC batch (answers in request order). A failed transport or any
   * failed call rejects the whole batch with that call's error.
   */
  batch<T = unknown>(calls: readonly RpcCall[], opts?: { timeoutMs?: number }): Promise<T[]>;
}

export interface RpcClientOptions {
  /** Per-request time-out (default 30 s). */
  timeoutMs?: number;
  /** Extra headers (e.g. an API key of a hosted node). */
  headers?: Record<string, string>;
}

interface RpcAnswer {
  id?: unknown;
  result?: unknown;
  error?: { code?: unknown; message?: unknown; data?: unknown };
}

function fetchFailure(err: unknown): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) return "timed out";
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET") return "connection reset";
  return cause instanceof Error ? cause.message : String(cause);
}

export function createRpcClient(url: string, opts: RpcClientOptions = {}): RpcClient {
  const defaultTimeout = opts.timeoutMs ?? 30_000;
  const headers = { "content-type": "application/json", ...opts.headers };

  async function post(method: string, body: string, timeoutMs: number): Promise<unknown> {
    let text: string;
    let status: number;
    try {
      const res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(timeoutMs) });
      status = res.status;
      text = await res.text();
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
      throw new RpcTransportError(`RPC ${method} to ${url}: ${fetchFailure(err)}`, method, undefined, {
        cause: err,
        timedOut,
      });
    }
    if (status >= 500 || status === 429) {
      throw new RpcTransportError(`RPC ${method} to ${url}: HTTP ${status}`, method, status);
    }
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new RpcTransportError(
        `RPC ${method} to ${url}: HTTP ${status} with a body that is not JSON (${text.length} bytes)`,
        method,
        status,
        { cause: err },
      );
    }
  }

  function resultOf(method: string, answer: unknown): unknown {
    if (typeof answer !== "object" || answer === null) {
      throw new RpcTransportError(`RPC ${method} to ${url}: not a JSON-RPC answer`, method);
    }
    const a = answer as RpcAnswer;
    if (a.error) throw responseError(method, a.error);
    if (!("result" in a)) throw new RpcTransportError(`RPC ${method} to ${url}: answer without result`, method);
    return a.result;
  }

  return {
    url,
    async call<T>(method: string, params: unknown[] = [], o: { timeoutMs?: number } = {}): Promise<T> {
      const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method, params });
      return resultOf(method, await post(method, body, o.timeoutMs ?? defaultTimeout)) as T;
    },
    async batch<T>(calls: readonly RpcCall[], o: { timeoutMs?: number } = {}): Promise<T[]> {
      if (calls.length === 0) return [];
      const label = calls.length === 1 ? calls[0]!.method : `batch of ${calls.length} (${calls[0]!.method}…)`;
      const body = JSON.stringify(calls.map((c, i) => ({ jsonrpc: "2.0", id: i, method: c.method, params: c.params })));
      const answers = await post(label, body, o.timeoutMs ?? defaultTimeout);
      if (!Array.isArray(answers)) {
        // a node without batch support answers one error object
        resultOf(label, answers);
        throw new RpcTransportError(`RPC ${url} answered a batch with a single object`, label);
      }
      const byId = new Array<RpcAnswer | undefined>(calls.length);
      for (const a of answers as RpcAnswer[]) {
        if (typeof a === "object" && a !== null && typeof a.id === "number" && a.id >= 0 && a.id < calls.length)
          byId[a.id] = a;
      }
      return calls.map((c, i) => {
        const a = byId[i];
        if (!a) throw new RpcTransportError(`RPC ${url}: batch answer misses ${c.method} #${i}`, c.method);
        return resultOf(c.method, a) as T;
      });
    },
  };
}

/** 0x-hex quantity → number (block numbers, log indexes). */
export function hexToNumber(hex: string): number {
  return Number.parseInt(hex, 16);
}

export function numberToHex(n: number): string {
  return "0x" + n.toString(16);
}
