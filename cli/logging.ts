/** The CLI's pino logger: JSON objects, to stdout for `dtl serve`, to stderr for `dtl dev` (the banner owns stdout). */
import pino, { type Logger } from "pino";

export function cliLogger(level: string, to: "stdout" | "stderr"): Logger {
  return pino({ name: "dtl", level }, pino.destination({ fd: to === "stdout" ? 1 : 2, sync: true }));
}
