/** The shape of a CLI command module. */
import type { Parsed, OptionSpec } from "./args";
import type { Io } from "./io";

export interface Invocation extends Parsed {
  io: Io;
  env: NodeJS.ProcessEnv;
  /** Aborted on SIGINT/SIGTERM (long-running commands stop cleanly). */
  signal: AbortSignal;
}

export interface Command {
  /** e.g. "register" or "device keygen". */
  name: string;
  usage: string;
  summary: string;
  options: OptionSpec;
  /**
   * Long-running or multi-step commands stop cleanly on SIGINT/SIGTERM: the first signal aborts
   * `signal`, a second one exits at once. Other commands keep Node's default (exit at once).
   */
  graceful?: boolean;
  /** Returns the exit code (default 0). */
  run(inv: Invocation): Promise<number | void>;
}
