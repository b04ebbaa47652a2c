/**
 * The key that signs transactions: DTL_PRIVATE_KEY, or an encrypted JSON keystore (DTL_KEYSTORE)
 * unlocked with DTL_KEYSTORE_PASSWORD or a password typed at a terminal. On the local dev chain
 * (chain id 31337) with no key configured, hardhat's public test account #0 signs — and the CLI
 * says so. Never on any other chain. Keys are never printed or logged.
 */
import { readFileSync } from "node:fs";
import { Wallet, getAddress, type Provider } from "ethers";
import type { Config } from "../common/config";
import { CliError, type Io } from "./io";

export type SignerConfig = Config<"signer">["signer"];

export type SignerSource = "DTL_PRIVATE_KEY" | "DTL_KEYSTORE" | "dev-account";

export const DEV_CHAIN_ID = 31337;

/** Reads a password from the terminal without echoing it. */
export async function promptPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let buf = "";
    stdin.setRawMode?.(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    const done = (err?: Error) => {
      stdin.setRawMode?.(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return done();
        if (ch === "\u0003") return done(new CliError("cancelled"));
        if (ch === "\u007f" || ch === "\b") buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    stdin.on("data", onData);
  });
}

function readKeystore(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new CliError(
      `DTL_KEYSTORE: cannot read ${file}: ${code === "ENOENT" ? "no such file" : String(code ?? err)}`,
    );
  }
}

/** The address a configured key belongs to, without decrypting a keystore (its JSON names it). */
export function configuredAddress(cfg: SignerConfig): string | undefined {
  if (cfg.privateKey) return new Wallet(cfg.privateKey).address;
  if (cfg.keystore) {
    const addr = (JSON.parse(readKeystore(cfg.keystore)) as { address?: string }).address;
    if (addr) return getAddress(addr.startsWith("0x") ? addr : `0x${addr}`);
  }
  return undefined;
}

export interface ResolvedSigner {
  wallet: Wallet;
  source: SignerSource;
}

export async function resolveSigner(
  cfg: SignerConfig,
  chainId: number,
  provider: Provider,
  io: Io,
): Promise<ResolvedSigner> {
  if (cfg.privateKey) return { wallet: new Wallet(cfg.privateKey, provider), source: "DTL_PRIVATE_KEY" };
  if (cfg.keystore) {
    const json = readKeystore(cfg.keystore);
    let password = cfg.keystorePassword;
    if (password === undefined) {
      if (!io.stdinIsTty)
        throw new CliError(
          "DTL_KEYSTORE is set but no password: set DTL_KEYSTORE_PASSWORD or run in a terminal to type it",
        );
      password = await promptPassword(`password for ${cfg.keystore}: `);
    }
    try {
      const w = await Wallet.fromEncryptedJson(json, password);
      return { wallet: new Wallet(w.privateKey, provider), source: "DTL_KEYSTORE" };
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new CliError(
        /password/i.test(msg)
          ? `DTL_KEYSTORE ${cfg.keystore}: wrong password`
          : `DTL_KEYSTORE ${cfg.keystore}: not an encrypted JSON wallet`,
      );
    }
  }
  if (chainId === DEV_CHAIN_ID) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { HARDHAT_KEYS } = require("../common/hardhat-node") as typeof import("../common/hardhat-node");
    const wallet = new Wallet(HARDHAT_KEYS[0]!, provider);
    io.err(
      `note: no DTL_PRIVATE_KEY or DTL_KEYSTORE set; using the public hardhat dev account #0 ${wallet.address} (local dev chain ${DEV_CHAIN_ID} only)`,
    );
    return { wallet, source: "dev-account" };
  }
  throw new CliError(
    `no signing key: set DTL_PRIVATE_KEY or DTL_KEYSTORE (chain ${chainId} is not the local dev chain)`,
  );
}
