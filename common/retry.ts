/**
 * The one retry helper: exponential backoff with full jitter, a bound on attempts, a `retryable`
 * predicate, an `onRetry` hook (for logging and counting) and an abort signal.
 *
 *   await retry(() => client.call("eth_chainId"), { attempts: 5, onRetry: ({ err }) => log(err) });
 *
 * Attempt n (1-based) that fails with a retryable error waits a random time in
 * [0, min(maxMs, baseMs · 2^(n−1))) before attempt n + 1 ("full jitter": callers that fail
 * together do not retry together). A non-retryable error, the last attempt's error, or the
 * signal's abort reason is thrown as is.
 */

export interface RetryInfo {
  err: unknown;
  /** The attempt that failed (1-based). */
  attempt: number;
  /** The wait before the next attempt. */
  delayMs: number;
}

export interface RetryOptions {
  /** Attempts in all, the first included (default: unbounded). */
  attempts?: number;
  /** First delay ceiling (default 100 ms). */
  baseMs?: number;
  /** Largest delay ceiling (default 10 s). */
  maxMs?: number;
  /** Whether an error may pass on a later attempt (default {@link isRetryable}). */
  retryable?: (err: unknown) => boolean;
  /** Called before each wait. */
  onRetry?: (info: RetryInfo) => void;
  /** Aborting ends the wait and the retries with the signal's reason. */
  signal?: AbortSignal;
  /** Source of jitter in [0, 1) (default Math.random; tests pass a seeded one). */
  random?: () => number;
}

/** Errors that say so: `err.retryable === true` (JsonRpcError, RetryableIndexerError). */
export function isRetryable(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { retryable?: unknown }).retryable === true;
}

/** The wait after the `failures`-th consecutive failure: uniform in [0, min(maxMs, baseMs · 2^(failures−1))). */
export function backoffDelay(failures: number, opts: Pick<RetryOptions, "baseMs" | "maxMs" | "random"> = {}): number {
  const base = opts.baseMs ?? 100;
  const max = opts.maxMs ?? 10_000;
  const ceiling = Math.min(max, base * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.floor((opts.random ?? Math.random)() * ceiling);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Runs `fn` (given the 1-based attempt number) until it resolves; see the module comment. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? Infinity;
  if (!(attempts >= 1)) throw new RangeError(`attempts must be at least 1, got ${attempts}`);
  const retryable = opts.retryable ?? isRetryable;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (attempt >= attempts || !retryable(err)) throw err;
      const delayMs = backoffDelay(attempt, opts);
      opts.onRetry?.({ err, attempt, delayMs });
      await sleep(delayMs, opts.signal);
    }
  }
}
