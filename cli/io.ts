/** How the CLI talks to its user: stdout for results, stderr for notes and progress, exit codes. */

/** Exit codes (DESIGN.md §6). */
export const EXIT = { ok: 0, error: 1, notTrusted: 3, inconsistent: 4 } as const;

/** An error the CLI reports as one line (`dtl: <message>`) with its exit code; no stack trace. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Lines printed before the final error line (e.g. every bad row of a device file). */
export class CliReportError extends CliError {
  constructor(
    readonly lines: string[],
    message: string,
    exitCode: number = EXIT.error,
  ) {
    super(message, exitCode);
  }
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Prints one JSON document on stdout. */
  json(value: unknown): void;
  /** Writes raw text to stderr (progress bars). */
  errRaw(text: string): void;
  stderrIsTty: boolean;
  stdinIsTty: boolean;
}

export function processIo(): Io {
  return {
    out: (line) => process.stdout.write(line + "\n"),
    err: (line) => process.stderr.write(line + "\n"),
    json: (value) => process.stdout.write(JSON.stringify(value, jsonReplacer, 2) + "\n"),
    errRaw: (text) => process.stderr.write(text),
    stderrIsTty: Boolean(process.stderr.isTTY),
    stdinIsTty: Boolean(process.stdin.isTTY),
  };
}

function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
