/**
 * `dtl` — the Device Trust Ledger command line. Commands are loaded on demand so that simple
 * ones start fast. Any error ends in ONE line on stderr (`dtl: …`) and a non-zero exit code:
 * 1 error, 3 not trusted (verify), 4 inconsistent (audit).
 */
import { RegistryRevertError, TransactionError } from "../common/chain";
import { JsonRpcError } from "../common/rpc";
import { parse } from "./args";
import type { Command } from "./command";
import { CliError, CliReportError, EXIT, processIo, type Io } from "./io";

type Loader = () => Promise<Command>;

/**
 * Lazy loading keeps simple commands fast: only the chosen command's modules are loaded.
 * (require, not import(): the CLI is CommonJS and also runs from source through ts-node.)
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = <T>(module: string): T => require(module) as T;

/** Every command, in the order `dtl --help` lists them. */
const COMMANDS: [string, Loader][] = [
  ["dev", async () => load<typeof import("./commands/dev")>("./commands/dev").command],
  ["serve", async () => load<typeof import("./commands/serve")>("./commands/serve").command],
  ["gateway", async () => load<typeof import("./commands/gateway")>("./commands/gateway").command],
  ["monitor", async () => load<typeof import("./commands/monitor")>("./commands/monitor").command],
  ["deploy", async () => load<typeof import("./commands/deploy")>("./commands/deploy").command],
  ["grant", async () => load<typeof import("./commands/roles")>("./commands/roles").grant],
  ["revoke-role", async () => load<typeof import("./commands/roles")>("./commands/roles").revokeRole],
  ["device keygen", async () => load<typeof import("./commands/device")>("./commands/device").keygen],
  ["device sign", async () => load<typeof import("./commands/device")>("./commands/device").sign],
  ["device id", async () => load<typeof import("./commands/device")>("./commands/device").id],
  ["device connect-token", async () => load<typeof import("./commands/device")>("./commands/device").connectToken],
  ["register", async () => load<typeof import("./commands/register")>("./commands/register").command],
  ["device proof", async () => load<typeof import("./commands/batch")>("./commands/batch").deviceProof],
  ["batch list", async () => load<typeof import("./commands/batch")>("./commands/batch").list],
  ["batch show", async () => load<typeof import("./commands/batch")>("./commands/batch").show],
  ["batch revoke", async () => load<typeof import("./commands/batch")>("./commands/batch").revoke],
  ["attest", async () => load<typeof import("./commands/attest")>("./commands/attest").attest],
  ["revoke-attestation", async () => load<typeof import("./commands/attest")>("./commands/attest").revokeAttestation],
  ["update-firmware", async () => load<typeof import("./commands/lifecycle")>("./commands/lifecycle").updateFirmware],
  ["rotate-key", async () => load<typeof import("./commands/lifecycle")>("./commands/lifecycle").rotateKey],
  ["suspend", async () => load<typeof import("./commands/lifecycle")>("./commands/lifecycle").suspend],
  ["reinstate", async () => load<typeof import("./commands/lifecycle")>("./commands/lifecycle").reinstate],
  ["revoke", async () => load<typeof import("./commands/lifecycle")>("./commands/lifecycle").revoke],
  ["challenge", async () => load<typeof import("./commands/verify")>("./commands/verify").challenge],
  ["verify", async () => load<typeof import("./commands/verify")>("./commands/verify").verify],
  ["history", async () => load<typeof import("./commands/history")>("./commands/history").command],
  ["audit", async () => load<typeof import("./commands/audit")>("./commands/audit").command],
];

async function help(io: Io): Promise<void> {
  io.out("dtl — Device Trust Ledger: register, attest, revoke and verify IoT devices on a permissioned chain\n");
  io.out("usage: dtl <command> [options]   (dtl <command> --help for its options)\n");
  for (const [, load] of COMMANDS) {
    const c = await load();
    io.out(`  ${c.name.padEnd(20)} ${c.summary}`);
  }
  io.out("\nconfiguration: flags override DTL_* environment variables (see README.md, Configuration)");
  io.out("exit codes: 0 ok, 1 error, 3 not trusted (verify), 4 inconsistent (audit)");
}

function find(argv: readonly string[]): { loader: Loader; rest: string[] } | undefined {
  const two = argv.slice(0, 2).join(" ");
  const byTwo = COMMANDS.find(([n]) => n === two);
  if (byTwo) return { loader: byTwo[1], rest: argv.slice(2) };
  const byOne = COMMANDS.find(([n]) => n === argv[0]);
  return byOne ? { loader: byOne[1], rest: argv.slice(1) } : undefined;
}

/** Runs one command line; returns the exit code. */
export async function main(
  argv: readonly string[],
  io: Io = processIo(),
  env: NodeJS.ProcessEnv = process.env,
  signal: AbortSignal = new AbortController().signal,
): Promise<number> {
  try {
    if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
      await help(io);
      return argv.length === 0 ? EXIT.error : EXIT.ok;
    }
    if (argv[0] === "--version" || argv[0] === "-v") {
      io.out(load<typeof import("../common/paths")>("../common/paths").packageVersion());
      return EXIT.ok;
    }
    const found = find(argv);
    if (!found) {
      if (argv[0] === "batch")
        throw new CliError(`batch: expected list, show or revoke${argv[1] ? `, got "${argv[1]}"` : ""}`);
      if (argv[0] === "device")
        throw new CliError(
          `device: expected keygen, sign, id, connect-token or proof${argv[1] ? `, got "${argv[1]}"` : ""}`,
        );
      throw new CliError(`unknown command "${argv[0]}" (see dtl --help)`);
    }
    const cmd = await found.loader();
    const parsed = parse(cmd.name, found.rest, cmd.options);
    if (parsed.values.help === true) {
      io.out(`usage: ${cmd.usage}\n\n${cmd.summary}`);
      return EXIT.ok;
    }
    if (!cmd.graceful) return (await cmd.run({ ...parsed, io, env, signal })) ?? EXIT.ok;
    const stop = new AbortController();
    signal.addEventListener("abort", () => stop.abort(), { once: true });
    // Ctrl-C (SIGINT) comes from a person at a terminal: tell them a second one quits at once.
    // SIGTERM comes from a service manager or `kill`: stop quietly, with a plain log line.
    const onSignal = (sig: NodeJS.Signals) => {
      if (stop.signal.aborted) process.exit(130);
      io.err(sig === "SIGINT" ? "stopping… (press Ctrl-C again to quit at once)" : `stopping (${sig})…`);
      stop.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      return (await cmd.run({ ...parsed, io, env, signal: stop.signal })) ?? EXIT.ok;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  } catch (err) {
    return reportError(io, err);
  }
}

function reportError(io: Io, err: unknown): number {
  if (err instanceof CliReportError) for (const line of err.lines) io.err(line);
  if (err instanceof CliError) {
    io.err(`dtl: ${err.message}`);
    return err.exitCode;
  }
  if (err instanceof RegistryRevertError || err instanceof JsonRpcError || err instanceof TransactionError) {
    io.err(`dtl: ${err.message}`);
    return EXIT.error;
  }
  const msg = err instanceof Error ? err.message.split("\n")[0] : String(err);
  io.err(`dtl: ${msg}`);
  if (process.env.DTL_DEBUG) io.err(err instanceof Error ? (err.stack ?? "") : "");
  return EXIT.error;
}
