/**
 * dtl dev [--port 4000] [--chain-port 8545] [--no-demo] (port 0: any free port, shown in the banner) — what `npm start` runs: an embedded
 * hardhat chain, the registry deployed, dev roles granted, a demo fleet with real keys, the
 * indexer + API, and ONE banner. Ctrl-C stops everything. Each run starts from a new chain, so
 * the index is rebuilt (the deploy block hash differs) and never meets a stale store.
 */
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { Wallet } from "ethers";
import { createProvider } from "../../common/chain";
import { DEFAULT_DATA_DIR, DEFAULT_MQTTS_PORT, DEFAULT_PORT } from "../../common/config";
import { startGateway, type Gateway } from "../../gateway/gateway";
import { parsePolicy } from "../../gateway/policy";
import { ensureLocalCa } from "../../gateway/tls";
import { HARDHAT_CHAIN_ID, HARDHAT_KEYS, startHardhatNode, type NodeHandle } from "../../common/hardhat-node";
import { deployRegistry, writeDeployment } from "../../scripts/deploy";
import { optional } from "../args";
import type { Command } from "../command";
import { config } from "../context";
import { grantDevRoles, writeDemoFleet, type DemoActors, type DemoDevice } from "../demo";
import { CliError, type Io } from "../io";
import { cliLogger } from "../logging";
import { aborted, startStack, type Stack } from "../stack";

const DEFAULT_CHAIN_PORT = 8545;
const DEV_DATA_DIR = ".dtl/dev";
/** The gateway id `dtl dev` gives its gateway (what a device's connect token names). */
const DEV_GATEWAY_ID = "dtl-dev";

function portNumber(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new CliError(`dev: --${flag} must be a port number from 0 (any free port) to 65535, got "${value}"`);
  return n;
}

function portFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

interface BannerInfo {
  chainUrl: string;
  registry: string;
  deploymentFile: string;
  graphqlUrl: string;
  dataDir: string;
  actors: DemoActors;
  devices: DemoDevice[];
  /** The gateway (mqtts) and the CA file a device trusts it with. */
  gatewayUrl: string;
  gatewayId: string;
  caFile: string;
  /** Flags a copy-paste command needs when ports or files differ from the defaults. */
  apiFlags: string;
  chainFlags: string;
}

function banner(io: Io, o: BannerInfo): void {
  const lines = [
    "",
    "Device Trust Ledger — dev stack is running",
    "",
    `  chain         ${o.chainUrl}  (chain id ${HARDHAT_CHAIN_ID}, embedded hardhat node, a fresh chain every run)`,
    `  registry      ${o.registry}  (${o.deploymentFile})`,
    `  GraphQL       ${o.graphqlUrl}  (open it in a browser for GraphiQL)`,
    `  console       ${o.graphqlUrl.replace(/graphql$/, "")}  (open it in a browser: fleet, devices, live feed)`,
    `  gateway       ${o.gatewayUrl}  (MQTT over TLS, id ${o.gatewayId}; devices trust the local CA ${o.caFile})`,
    `  data folder   ${o.dataDir}  (index and demo device keys)`,
    `  signing       no key needed here: on chain ${HARDHAT_CHAIN_ID} the CLI signs with hardhat's public test account #0`,
    `                ${o.actors.admin} (admin, manufacturer, officer, attester of firmware and iec62443)`,
    "                when no DTL_PRIVATE_KEY / DTL_KEYSTORE is set. It never does that on any other chain.",
  ];
  if (o.devices.length) {
    lines.push(
      "",
      `  demo fleet    manufacturer ${o.actors.manufacturer}, attester ${o.actors.attester}, officer ${o.actors.officer}`,
    );
    lines.push(
      `    ${"serial".padEnd(18)} ${"key".padEnd(10)} ${"state".padEnd(10)} ${"attested".padEnd(19)} device id`,
    );
    for (const d of o.devices) {
      lines.push(
        `    ${d.serial.padEnd(18)} ${d.algorithm.padEnd(10)} ${d.state.padEnd(10)} ${(d.attestations.join(",") || "-").padEnd(19)} ${d.deviceId}`,
      );
    }
    const good = o.devices.find((d) => d.trusted && d.attestations.includes("firmware"))!;
    const revoked = o.devices.find((d) => d.state === "REVOKED");
    lines.push("", "  try (in another terminal):");
    lines.push(`    npx dtl verify ${good.deviceId}${o.apiFlags}`);
    if (revoked) lines.push(`    npx dtl verify ${revoked.deviceId}${o.apiFlags}   # exit code 3: not trusted`);
    lines.push(`    npx dtl history ${good.deviceId}${o.apiFlags}`);
    lines.push(`    npx dtl audit${o.chainFlags}${o.apiFlags}`);
    lines.push(`  device keys: ${path.join(o.dataDir, "demo-keys")}/<serial>.key (for dtl device sign)`);
    const port = new URL(o.gatewayUrl.replace(/^mqtts:/, "http:")).port;
    lines.push(
      "",
      "  connect a demo device to the gateway (mosquitto-clients), then revoke it and watch it drop:",
      `    TOKEN=$(npx dtl device connect-token --key ${good.keyFile} --gateway ${o.gatewayId} --device ${good.deviceId})`,
      `    mosquitto_sub -h 127.0.0.1 -p ${port} --cafile ${o.caFile} -V mqttv311 -i ${good.deviceId} -u dtl1 -P "$TOKEN" -t 'dtl/${good.segment}/${good.deviceId}/#' -v`,
      `    (another terminal) npx dtl revoke ${good.deviceId} --reason key-compromise${o.chainFlags}`,
    );
  }
  lines.push("", "  Ctrl-C stops everything.", "");
  for (const l of lines) io.out(l);
}

export const command: Command = {
  name: "dev",
  usage:
    "dtl dev [--port 4000] [--chain-port 8545] [--mqtt-port 8883] [--no-demo] [--data-dir .dtl/dev] [--cache-mb 64]   (port 0: any free port; --port 0 makes the gateway's default 0 too)",
  summary: "embedded chain + registry + demo fleet + indexer + API, one banner (what `npm start` runs)",
  graceful: true,
  options: {
    port: { type: "string" },
    "chain-port": { type: "string" },
    "mqtt-port": { type: "string" },
    "no-demo": { type: "boolean" },
    "data-dir": { type: "string" },
    "cache-mb": { type: "string" },
    deployment: { type: "string" },
    "log-level": { type: "string" },
  },
  async run(inv) {
    if (inv.positionals.length) throw new CliError(`dev: unexpected argument "${inv.positionals[0]}"`);
    const v = inv.values;
    const apiPort = portNumber("port", optional(v, "port") ?? inv.env.DTL_PORT, DEFAULT_PORT);
    const chainPort = portNumber("chain-port", optional(v, "chain-port"), DEFAULT_CHAIN_PORT);
    const mqttPort = portNumber("mqtt-port", optional(v, "mqtt-port"), apiPort === 0 ? 0 : DEFAULT_MQTTS_PORT);
    const env = {
      ...inv.env,
      DTL_DATA_DIR: inv.env.DTL_DATA_DIR ?? DEV_DATA_DIR,
      DTL_LOG_LEVEL: inv.env.DTL_LOG_LEVEL ?? "error",
    };
    const cfg = config(["chain", "indexer", "server"], { ...v, port: String(apiPort) }, env);
    if (cfg.indexer.dataDir === DEFAULT_DATA_DIR)
      throw new CliError(`dev: use a data folder of its own, not ${DEFAULT_DATA_DIR} (that of dtl serve)`);
    for (const [what, port] of [
      ["--chain-port", chainPort],
      ["--port", apiPort],
      ["--mqtt-port", mqttPort],
    ] as const) {
      if (port !== 0 && !(await portFree(port)))
        throw new CliError(`dev: port ${port} on 127.0.0.1 is in use (another dtl dev or hardhat node?): use ${what}`);
    }
    const logger = cliLogger(cfg.server.logLevel, "stderr");
    let node: NodeHandle | undefined;
    let stack: Stack | undefined;
    let gateway: Gateway | undefined;
    try {
      inv.io.err(`starting the dev chain on 127.0.0.1:${chainPort || "<any free port>"}…`);
      // port 0: startHardhatNode picks a free port (and another one if that was taken meanwhile)
      node = await startHardhatNode({ port: chainPort || undefined });
      if (inv.signal.aborted) return;
      const provider = createProvider(node.url, HARDHAT_CHAIN_ID);
      const deployment = await deployRegistry(new Wallet(HARDHAT_KEYS[0]!, provider), { adminDelay: 3600 });
      const deploymentFile = writeDeployment(deployment, cfg.chain.deployment);
      const actors = await grantDevRoles(provider, deployment);
      const devices =
        v["no-demo"] === true
          ? []
          : await writeDemoFleet(provider, deployment, actors, path.join(cfg.indexer.dataDir, "demo-keys"));
      provider.destroy();
      if (inv.signal.aborted) return;
      stack = await startStack({
        rpcUrl: node.url,
        deployment,
        dataDir: path.join(cfg.indexer.dataDir, "index"),
        // a new chain every run: a fresh monitor too (profiles of another chain's devices mean nothing)
        monitor: {
          dir: freshDir(path.join(cfg.indexer.dataDir, "monitor")),
          gatewayKeys: inv.env.DTL_MONITOR_GATEWAY_KEYS,
        },
        confirmations: 0,
        pollMs: cfg.indexer.pollMs,
        cacheMb: cfg.indexer.cacheMb,
        host: cfg.server.host,
        port: apiPort,
        maxLagBlocks: cfg.server.maxLagBlocks,
        apiKeys: cfg.server.apiKeys,
        rebuild: true,
        logger,
      });
      await stack.caughtUp(60_000);
      // the gateway: TLS with a local CA made once per data folder; a fresh replica (a new chain every run)
      const ca = ensureLocalCa(path.join(cfg.indexer.dataDir, "tls"));
      const gatewayDir = path.join(cfg.indexer.dataDir, "gateway");
      rmSync(gatewayDir, { recursive: true, force: true });
      gateway = await startGateway({
        gatewayId: DEV_GATEWAY_ID,
        upstreams: [stack.graphqlUrl],
        policy: parsePolicy({}),
        dataDir: gatewayDir,
        host: cfg.server.host,
        mqttPort,
        httpPort: 0,
        tls: { cert: readFileSync(ca.certFile), key: readFileSync(ca.keyFile) },
        heartbeatMs: 1000,
        logger,
      });
      banner(inv.io, {
        chainUrl: node.url,
        registry: deployment.registry,
        deploymentFile,
        graphqlUrl: stack.graphqlUrl,
        dataDir: cfg.indexer.dataDir,
        actors,
        devices,
        gatewayUrl: gateway.mqttUrl,
        gatewayId: DEV_GATEWAY_ID,
        caFile: ca.caFile,
        apiFlags: apiPort !== DEFAULT_PORT ? ` --api ${stack.graphqlUrl}` : "",
        chainFlags:
          (chainPort !== DEFAULT_CHAIN_PORT ? ` --rpc ${node.url}` : "") +
          (cfg.chain.deployment ? ` --deployment ${deploymentFile}` : ""),
      });
      const chainExit = new Promise<Error>((resolve) =>
        node!.proc.once("exit", (code) => resolve(new Error(`the dev chain exited (code ${code})`))),
      );
      const outcome = await Promise.race([aborted(inv.signal).then(() => undefined), stack.fatal, chainExit]);
      // Ctrl-C in a terminal reaches the chain process too: its exit is then no error
      if (outcome) await new Promise((r) => setTimeout(r, 300));
      if (outcome && !inv.signal.aborted) throw new CliError(`dev: ${outcome.message}`);
    } finally {
      await gateway?.stop();
      await stack?.stop();
      await node?.stop();
      if (inv.signal.aborted) inv.io.err("dev stack stopped");
    }
  },
};

/** `dir`, emptied. */
function freshDir(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  return dir;
}
