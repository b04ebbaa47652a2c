/**
 * The console's only way to the data: the public GraphQL API at /graphql of the origin that
 * served the page (queries over POST, `deviceEvents` over Server-Sent Events), with the API key
 * when the server asks for one. Every failure becomes an {@link ApiError} with a sentence the page
 * shows; nothing is swallowed.
 */

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    message: string,
    /** extensions.code of the first GraphQL error, or NETWORK / HTTP_<status>. */
    readonly code: string,
  ) {
    super(message);
  }
}

const ENDPOINT = "/graphql";
const KEY_STORAGE = "dtl-api-key";

/** The API key, when the server asks for one (kept for this tab only). */
export const apiKey = {
  get: (): string => sessionStorage.getItem(KEY_STORAGE) ?? "",
  set: (k: string): void => (k ? sessionStorage.setItem(KEY_STORAGE, k) : sessionStorage.removeItem(KEY_STORAGE)),
};

export async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const headers = { "content-type": "application/json", accept: "application/json", ...authHeaders() };
  let res: Response;
  try {
    res = await fetch(ENDPOINT, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  } catch (err) {
    throw new ApiError(`The API at ${location.origin}${ENDPOINT} does not answer (${String(err)}).`, "NETWORK");
  }
  let body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new ApiError(`The API answered HTTP ${res.status} with a body that is not JSON.`, `HTTP_${res.status}`);
  }
  const first = body.errors?.[0];
  if (first) throw new ApiError(first.message, first.extensions?.code ?? `HTTP_${res.status}`);
  if (!res.ok || body.data === undefined)
    throw new ApiError(`The API answered HTTP ${res.status} without data.`, `HTTP_${res.status}`);
  return body.data;
}

export interface Subscription {
  close(): void;
}

/** Pause before reconnecting a broken live feed. */
const RECONNECT_MS = 2000;

function authHeaders(): Record<string, string> {
  const key = apiKey.get();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** The first GraphQL error of a JSON body, or a sentence about the HTTP status. */
async function failure(res: Response): Promise<ApiError> {
  try {
    const body = (await res.json()) as { errors?: { message: string; extensions?: { code?: string } }[] };
    const first = body.errors?.[0];
    if (first) return new ApiError(first.message, first.extensions?.code ?? `HTTP_${res.status}`);
  } catch {
    // not JSON: the status says it
  }
  return new ApiError(`The API answered HTTP ${res.status}.`, `HTTP_${res.status}`);
}

/**
 * A GraphQL subscription over Server-Sent Events (POST /graphql, Accept: text/event-stream), read
 * with fetch so the API key goes along as a header (EventSource cannot send one). Every break is
 * reported to `error`; the feed reconnects by itself and `open` says when it is back.
 */
/** Errors a retry cannot cure (the server runs no such service, the query is wrong): the feed stops. */
const FINAL_CODES = new Set(["MONITOR_DISABLED", "BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"]);

export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  on: { next(data: T): void; error(e: ApiError): void; open?(): void },
): Subscription {
  const abort = new AbortController();
  let closed = false;
  const stop = () => {
    closed = true;
    abort.abort();
  };
  const deliver = (block: string) => {
    const event = /^event: ?(.*)$/m.exec(block)?.[1];
    const data = block
      .split("\n")
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).trimStart())
      .join("\n");
    if (event !== "next" || !data) return;
    const msg = JSON.parse(data) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
    const first = msg.errors?.[0];
    if (first) {
      const code = first.extensions?.code ?? "SUBSCRIPTION";
      if (FINAL_CODES.has(code)) stop();
      on.error(new ApiError(first.message, code));
    } else if (msg.data) on.next(msg.data);
  };
  const run = async () => {
    while (!closed) {
      try {
        const res = await fetch(ENDPOINT, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "text/event-stream", ...authHeaders() },
          body: JSON.stringify({ query, variables }),
          signal: abort.signal,
        });
        if (!res.ok || !res.body) {
          const err = await failure(res);
          if (FINAL_CODES.has(err.code)) {
            stop();
            on.error(err);
            return;
          }
          throw err;
        }
        on.open?.();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          for (let i = buffer.indexOf("\n\n"); i >= 0; i = buffer.indexOf("\n\n")) {
            deliver(buffer.slice(0, i));
            buffer = buffer.slice(i + 2);
          }
        }
        throw new ApiError("The live feed ended; reconnecting…", "CLOSED");
      } catch (err) {
        if (closed) return;
        on.error(
          err instanceof ApiError
            ? err
            : new ApiError(`The live feed is cut off (${String(err)}); reconnecting…`, "NETWORK"),
        );
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
      }
    }
  };
  void run();
  return { close: stop };
}
