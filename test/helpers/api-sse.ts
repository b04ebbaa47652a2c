/** A minimal GraphQL-over-SSE client (Yoga's distinct-connections mode) for tests and benchmarks. */
import { readSseFrames } from "../../common/sse";

export interface SseSubscription<T> {
  /** Payloads received so far (`data` of each `next` event). */
  received: T[];
  /** Resolves with the first payload (from now on) that satisfies `pred`. */
  next(pred?: (p: T) => boolean, timeoutMs?: number): Promise<T>;
  close(): void;
}

export async function subscribeSse<T>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<SseSubscription<T>> {
  const ac = new AbortController();
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", ...headers },
    body: JSON.stringify({ query, variables }),
    signal: ac.signal,
  });
  if (res.status !== 200 || !res.body) throw new Error(`subscription refused: ${res.status} ${await res.text()}`);
  const received: T[] = [];
  const waiters: { pred: (p: T) => boolean; resolve: (p: T) => void }[] = [];
  const deliver = (p: T) => {
    received.push(p);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.pred(p)) waiters.splice(i, 1)[0]!.resolve(p);
    }
  };
  void readSseFrames(res.body as unknown as AsyncIterable<Uint8Array>, (event, data) => {
    if (event === "next" && data) deliver(JSON.parse(data) as T);
  }).catch(() => undefined); // aborted by close()
  return {
    received,
    next(pred = () => true, timeoutMs = 10_000) {
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no matching SSE event within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          pred,
          resolve: (p) => {
            clearTimeout(t);
            resolve(p);
          },
        });
      });
    },
    close: () => ac.abort(),
  };
}
