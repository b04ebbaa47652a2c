/**
 * The console's only way to the data: the public GraphQL API at /graphql of the origin that
 * served the page (queries over POST, `deviceEvents` over Server-Sent Events). Every failure
 * becomes an {@link ApiError} with a sentence the page shows; nothing is swallowed.
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
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  const key = apiKey.get();
  if (key) headers.authorization = `Bearer ${key}`;
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

/**
 * A GraphQL subscription over SSE (Yoga answers GET /graphql with text/event-stream). `onError`
 * hears every break; EventSource reconnects by itself and `onOpen` says when it is back.
 */
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  on: { next(data: T): void; error(e: ApiError): void; open?(): void },
): Subscription {
  const url = `${ENDPOINT}?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify(variables))}`;
  const es = new EventSource(url);
  es.addEventListener("open", () => on.open?.());
  es.addEventListener("next", (ev) => {
    const msg = JSON.parse((ev as MessageEvent<string>).data) as {
      data?: T;
      errors?: { message: string; extensions?: { code?: string } }[];
    };
    const first = msg.errors?.[0];
    if (first) on.error(new ApiError(first.message, first.extensions?.code ?? "SUBSCRIPTION"));
    else if (msg.data) on.next(msg.data);
  });
  es.addEventListener("error", () =>
    on.error(new ApiError("The live feed is cut off; reconnecting…", es.readyState === 2 ? "CLOSED" : "NETWORK")),
  );
  return { close: () => es.close() };
}
