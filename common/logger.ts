/** pino logger: objects like { msg, block_number, duration_ms }, child loggers per action. */
import pino, { type Logger } from "pino";

export type { Logger };

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({ name: opts.name ?? "dtl", level: opts.level ?? process.env.DTL_LOG_LEVEL ?? "info" });
}

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = pino({ level: "silent" });
