/** Argument parsing on node:util parseArgs, with one-line errors that name the command. */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { CliError } from "./io";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;
export type Values = Record<string, string | boolean | string[] | undefined>;

/** Options every command that talks to the chain accepts. */
export const CHAIN_OPTIONS: OptionSpec = {
  rpc: { type: "string" },
  deployment: { type: "string" },
  keystore: { type: "string" },
};
/** Options of commands that ask the GraphQL API. */
export const API_OPTIONS: OptionSpec = { api: { type: "string" } };
export const JSON_OPTION: OptionSpec = { json: { type: "boolean" } };

export interface Parsed {
  values: Values;
  positionals: string[];
}

export function parse(command: string, argv: readonly string[], options: OptionSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const opt = /'(-[^' ]+)/.exec(e.message ?? "")?.[1];
    if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION")
      throw new CliError(`${command}: unknown option ${opt ?? ""} (see dtl ${command} --help)`);
    if (e.code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE")
      throw new CliError(`${command}: option ${opt ?? ""} needs a value`);
    throw new CliError(`${command}: ${e.message ?? String(err)}`);
  }
}

/** A string option that must be present. */
export function required(command: string, values: Values, name: string, what = "<value>"): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new CliError(`${command}: missing --${name} ${what}`);
  return v;
}

export function optional(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** Exactly `n` positionals, named for the error message. */
export function positionals(command: string, parsed: Parsed, names: string[]): string[] {
  if (parsed.positionals.length < names.length)
    throw new CliError(
      `${command}: missing ${names
        .slice(parsed.positionals.length)
        .map((n) => `<${n}>`)
        .join(" ")}`,
    );
  if (parsed.positionals.length > names.length)
    throw new CliError(`${command}: unexpected argument "${parsed.positionals[names.length]}"`);
  return parsed.positionals;
}
