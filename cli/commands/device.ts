/** dtl device keygen | sign | id — device-side key handling, no chain needed. */
import { existsSync, writeFileSync } from "node:fs";
import { deviceIdFor, parseBytes32 } from "../../common/ids";
import { KEY_ALGORITHM_LIST } from "../../common/codes";
import { KEY_ALGORITHMS, generateKeyPair, keyHash, signMessage, type KeyAlgorithmName } from "../../common/keys";
import { CONNECT_USERNAME, makeConnectToken } from "../../gateway/token";
import { JSON_OPTION, optional, positionals, required } from "../args";
import type { Command } from "../command";
import { config, connectProvider } from "../context";
import { address, algorithm, readKeyFile, KEY_ALGORITHM_NAMES } from "../input";
import { CliError } from "../io";
import { report } from "../output";
import { DEV_CHAIN_ID, configuredAddress, resolveSigner } from "../signer";

export const keygen: Command = {
  name: "device keygen",
  usage: `dtl device keygen --alg ${KEY_ALGORITHM_LIST.join("|")} --out <keyfile> [--force]`,
  summary: "make a device key pair; writes the key file (mode 0600) and prints the public key",
  options: { ...JSON_OPTION, alg: { type: "string" }, out: { type: "string" }, force: { type: "boolean" } },
  async run(inv) {
    positionals("device keygen", inv, []);
    const name: KeyAlgorithmName =
      KEY_ALGORITHM_NAMES[
        algorithm("device keygen", required("device keygen", inv.values, "alg", KEY_ALGORITHM_LIST.join("|")))
      ]!;
    const out = required("device keygen", inv.values, "out", "<keyfile>");
    if (existsSync(out) && inv.values.force !== true)
      throw new CliError(`device keygen: ${out} exists; not overwriting a key (use --force)`);
    const pair = generateKeyPair(name);
    try {
      writeFileSync(out, JSON.stringify(pair, null, 2) + "\n", {
        mode: 0o600,
        flag: inv.values.force === true ? "w" : "wx",
      });
    } catch (err) {
      throw new CliError(`device keygen: cannot write ${out}: ${(err as { code?: string }).code ?? String(err)}`);
    }
    const hash = keyHash(KEY_ALGORITHMS[name], pair.publicKey);
    if (inv.values.json === true) inv.io.json({ algorithm: name, publicKey: pair.publicKey, keyHash: hash, file: out });
    else {
      inv.io.out(pair.publicKey);
      inv.io.err(`wrote ${name} key to ${out} (mode 0600); key hash ${hash}`);
    }
  },
};

export const sign: Command = {
  name: "device sign",
  usage: "dtl device sign --key <keyfile> --message <text>",
  summary: "sign a challenge message with a device key; prints the signature (hex)",
  options: { ...JSON_OPTION, key: { type: "string" }, message: { type: "string" } },
  async run(inv) {
    positionals("device sign", inv, []);
    const pair = readKeyFile("device sign", required("device sign", inv.values, "key", "<keyfile>"));
    const message = inv.values.message;
    if (typeof message !== "string") throw new CliError("device sign: missing --message <text>");
    const signature = signMessage(pair, message);
    report(inv, signature, { algorithm: pair.algorithm, publicKey: pair.publicKey, signature });
  },
};

export const id: Command = {
  name: "device id",
  usage: "dtl device id --serial <serial> [--manufacturer <address>]",
  summary: "print the device id keccak256(abi.encode(manufacturer, serial))",
  options: {
    ...JSON_OPTION,
    serial: { type: "string" },
    manufacturer: { type: "string" },
    keystore: { type: "string" },
    rpc: { type: "string" },
  },
  async run(inv) {
    positionals("device id", inv, []);
    const serial = required("device id", inv.values, "serial", "<serial>");
    const given = optional(inv.values, "manufacturer");
    let manufacturer: string;
    if (given !== undefined) manufacturer = address("device id", "--manufacturer", given);
    else {
      const { signer } = config(["chain", "signer"], inv.values, inv.env);
      const fromKey = configuredAddress(signer);
      if (fromKey) manufacturer = fromKey;
      else {
        // like the signing commands: on the local dev chain the default signer is dev account #0
        const { chainId, provider } = await connectProvider(inv.values, inv.env).catch(() => ({
          chainId: 0,
          provider: undefined,
        }));
        if (chainId !== DEV_CHAIN_ID || !provider)
          throw new CliError(
            "device id: missing --manufacturer <address> (or set DTL_PRIVATE_KEY / DTL_KEYSTORE to use its address)",
          );
        manufacturer = (await resolveSigner(signer, chainId, provider, inv.io)).wallet.address;
        provider.destroy();
      }
    }
    const deviceId = deviceIdFor(manufacturer, serial);
    report(inv, deviceId, { deviceId, manufacturer, serial });
  },
};

export const connectToken: Command = {
  name: "device connect-token",
  usage: "dtl device connect-token --key <keyfile> --gateway <gatewayId> --device <deviceId> [--cb <tls-exporter hex>]",
  summary: `print a connect token for an MQTT gateway (the password; username ${CONNECT_USERNAME}, clientId = device id)`,
  options: {
    ...JSON_OPTION,
    key: { type: "string" },
    gateway: { type: "string" },
    device: { type: "string" },
    cb: { type: "string" },
  },
  async run(inv) {
    const cmd = "device connect-token";
    positionals(cmd, inv, []);
    const pair = readKeyFile(cmd, required(cmd, inv.values, "key", "<keyfile>"));
    const gateway = required(cmd, inv.values, "gateway", "<gatewayId>");
    let deviceId: string;
    try {
      deviceId = parseBytes32("--device", required(cmd, inv.values, "device", "<deviceId>"));
    } catch (err) {
      throw new CliError(`${cmd}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const cb = optional(inv.values, "cb");
    if (cb !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(cb))
      throw new CliError(`${cmd}: --cb must be the 32-byte tls-exporter value as 0x hex, got "${cb}"`);
    const token = makeConnectToken(pair, deviceId, gateway, cb === undefined ? {} : { cb });
    const text = JSON.stringify(token);
    report(inv, text, { username: CONNECT_USERNAME, clientId: deviceId, password: text, token });
  },
};
