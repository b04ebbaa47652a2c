/**
 * Adaptive eth_getLogs ranges (retry pacing is common/retry.ts).
 *
 * The span (blocks per call) aims at `targetLogs` logs per answer: it grows (at most ×2 per
 * call) while answers are small and shrinks when they are large; a "too many results"/range
 * limit halves it and caps later growth below the size that failed; a time-out halves it.
 */

export interface RangeSizer {
  readonly span: number;
  /** A call over `span` blocks answered `logs` logs. */
  succeeded(blocks: number, logs: number): void;
  /**
   * A call over `blocks` blocks failed: halve. A range limit (`limit`) also caps later growth
   * below that size; a time-out may be passing, so the span may grow back.
   */
  narrow(blocks: number, limit: boolean): void;
}

export interface RangeSizerOptions {
  initialSpan?: number;
  maxSpan?: number;
  targetLogs?: number;
}

export function createRangeSizer(opts: RangeSizerOptions = {}): RangeSizer {
  let cap = opts.maxSpan ?? 100_000;
  let span = Math.min(opts.initialSpan ?? 20, cap);
  const target = opts.targetLogs ?? 2_500;
  return {
    get span() {
      return span;
    },
    succeeded(blocks, logs) {
      const ratio = Math.min(2, Math.max(0.25, target / Math.max(1, logs)));
      span = Math.max(1, Math.min(cap, Math.floor(Math.max(blocks, 1) * ratio)));
    },
    narrow(blocks, limit) {
      span = Math.max(1, Math.floor(Math.min(blocks, span) / 2));
      if (limit) cap = Math.max(1, Math.min(cap, blocks - 1));
    },
  };
}
