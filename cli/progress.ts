/**
 * Progress on stderr, one phase at a time ("checking rows", "checking the chain", "sending"): a
 * redrawn bar with rate and ETA on a terminal, plain lines otherwise (logs, CI, tests). Each
 * phase says how long it took; {@link commandSeconds} is the wall time of the whole command.
 */
import { performance } from "node:perf_hooks";
import type { Io } from "./io";

export interface Progress {
  update(done: number): void;
  /** Ends the phase (a newline after a bar); returns its seconds. */
  finish(): number;
}

export interface ProgressOptions {
  /** What the phase does, e.g. "checking rows" (shown before the counts). */
  phase?: string;
  /** Clock in ms (tests pass their own). */
  now?: () => number;
}

/** Seconds since the process started: the wall time of the command, start-up included. */
export const commandSeconds = (): number => performance.now() / 1000;

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.ceil(s % 60)).padStart(2, "0")}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

export function createProgress(io: Io, total: number, unit: string, opts: ProgressOptions = {}): Progress {
  const now = opts.now ?? (() => Date.now());
  const label = opts.phase ? `${opts.phase}: ` : "";
  const start = now();
  let last = 0;
  let drawn = false;
  const line = (done: number): string => {
    const secs = Math.max((now() - start) / 1000, 1e-3);
    const rate = done / secs;
    const eta = rate > 0 ? (total - done) / rate : Infinity;
    const pct = total ? Math.floor((done / total) * 100) : 100;
    const counts = `${done.toLocaleString("en-US")}/${total.toLocaleString("en-US")} ${unit}`;
    return `${label}${counts} ${pct}%  ${Math.round(rate).toLocaleString("en-US")}/s  ETA ${done >= total ? "0s" : fmtSeconds(eta)}`;
  };
  return {
    update(done) {
      if (io.stderrIsTty) {
        const t = now();
        if (t - last < 100 && done < total) return;
        last = t;
        drawn = true;
        const width = 30;
        const filled = total ? Math.round((done / total) * width) : width;
        io.errRaw(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${line(done)}\x1b[K`);
      } else io.err(`progress: ${line(done)}`);
    },
    finish() {
      if (io.stderrIsTty && drawn) io.errRaw("\n");
      drawn = false;
      return (now() - start) / 1000;
    },
  };
}
