/**
 * A token bucket on a caller's clock (the monitor runs on observation time in the simulator and on
 * wall time in the API): `capacity` tokens, refilled at `perSecond`. No kept library fits a clock
 * that is passed in (limiter, bottleneck read Date.now themselves); it is these few lines,
 * tested against the arithmetic in test/monitor/engine.test.ts.
 */
export interface TokenBucket {
  /** Takes `n` tokens at time `now` (ms) if there are that many; false (nothing taken) otherwise. */
  take(now: number, n?: number): boolean;
  available(now: number): number;
}

export function createTokenBucket(capacity: number, perSecond: number): TokenBucket {
  let tokens = capacity;
  let at: number | undefined;
  const refill = (now: number): void => {
    if (at !== undefined && now > at) tokens = Math.min(capacity, tokens + ((now - at) / 1000) * perSecond);
    if (at === undefined || now > at) at = now;
  };
  return {
    take(now, n = 1) {
      refill(now);
      if (tokens < n) return false;
      tokens -= n;
      return true;
    },
    available(now) {
      refill(now);
      return tokens;
    },
  };
}
