/**
 * dtl gateway — the edge gateway (DESIGN §11): an MQTT broker that admits only trusted devices,
 * deciding from its own replica of the trust state, fed by one or more upstream APIs.
 * Logs are pino JSON on stdout; one human line on stderr says where it listens, which upstreams it
 * follows and how stale its replica is. SIGHUP reloads the policy file.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { ConfigError, DEFAULT_MQTTS_PORT, DEFAULT_MQTT_PLAIN_PORT, loadConfig, type Config } from "../../common/config";
import { parseWitness } from "../../common/checkpoint";
import { startGateway } from "../../gateway/gateway";
import { PolicyError, loadPolicy } from "../../gateway/policy";
import type { Command } from "../command";
import { CliError } from "../io";
import { cliLogger } from "../logging";
import { aborted } from "../stack";

export const command: Command = {
  name: "gateway",
  usage:
    "dtl gateway --upstream URL [--upstream URL]… [--policy gateway.json] [--id NAME] [--tls-cert FILE --tls-key FILE | --insecure-plain] [--host 127.0.0.1] [--mqtt-port 8883] [--http-port 9100] [--data-dir .dtl/gateway] [--heartbeat-ms 1000] [--witness ADDRESS|MLDSA44_PUBKEY]… [--witness-threshold K] [--log-level info]",
  summary: "run the edge gateway: an MQTT broker that admits only trusted devices",
  graceful: true,
  options: {
    upstream: { type: "string", multiple: true },
    policy: { type: "string" },
    id: { type: "string" },
    "data-dir": { type: "string" },
    host: { type: "string" },
    "mqtt-port": { type: "string" },
    "http-port": { type: "string" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "insecure-plain": { type: "boolean" },
    "heartbeat-ms": { type: "string" },
    witness: { type: "string", multiple: true },
    "witness-threshold": { type: "string" },
    "log-level": { type: "string" },
  },
  async run(inv) {
    if (inv.positionals.length) throw new CliError(`gateway: unexpected argument "${inv.positionals[0]}"`);
    const upstream = inv.values.upstream;
    const witness = inv.values.witness;
    const flags = {
      ...inv.values,
      upstream: Array.isArray(upstream) ? upstream.join(",") : upstream,
      witness: Array.isArray(witness) ? witness.join(",") : witness,
    };
    const problems: string[] = [];
    let cfg: Config<"gateway">["gateway"];
    try {
      cfg = loadConfig(["gateway"], flags, inv.env).gateway;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      // the rest is checked too, so that every bad value is reported at once
      cfg = loadConfig(["gateway"], { upstream: "http://unused" }, {}).gateway;
      cfg.policyFile = typeof inv.values.policy === "string" ? inv.values.policy : inv.env.DTL_GATEWAY_POLICY;
      cfg.insecurePlain = true;
    }
    const threshold = cfg.witnessThreshold ?? cfg.witnesses.length;
    if (cfg.witnessThreshold !== undefined && cfg.witnesses.length === 0)
      problems.push("--witness-threshold: give the witnesses it counts (--witness, repeatable)");
    else if (threshold > cfg.witnesses.length)
      problems.push(
        `--witness-threshold: ${threshold} signatures cannot come from ${cfg.witnesses.length} witness${cfg.witnesses.length === 1 ? "" : "es"}`,
      );
    if (cfg.insecurePlain && (cfg.tlsCert || cfg.tlsKey))
      problems.push("--insecure-plain: give either --tls-cert/--tls-key or --insecure-plain, not both");
    if (!cfg.insecurePlain && !(cfg.tlsCert && cfg.tlsKey))
      problems.push(
        "--tls-cert/--tls-key: the gateway serves MQTT over TLS; give a certificate and its key (or --insecure-plain for plain MQTT)",
      );
    let tls: { cert: Buffer; key: Buffer } | undefined;
    if (cfg.tlsCert && cfg.tlsKey && !cfg.insecurePlain) {
      const read = (flag: string, file: string) => {
        try {
          return readFileSync(file);
        } catch (err) {
          problems.push(`${flag}: cannot read ${file}: ${(err as { code?: string }).code ?? String(err)}`);
          return Buffer.alloc(0);
        }
      };
      tls = { cert: read("--tls-cert", cfg.tlsCert), key: read("--tls-key", cfg.tlsKey) };
    }
    let policy;
    try {
      policy = loadPolicy(cfg.policyFile);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      problems.push(...err.problems.map((p) => `--policy ${err.source}: ${p}`));
    }
    if (problems.length || !policy)
      throw new CliError(
        problems.length === 1 ? `bad configuration: ${problems[0]}` : `bad configuration:\n  ${problems.join("\n  ")}`,
      );
    const logger = cliLogger(cfg.logLevel, "stdout");
    const gatewayId = cfg.gatewayId ?? hostname();
    const gw = await startGateway({
      gatewayId,
      upstreams: cfg.upstreams,
      policy,
      dataDir: cfg.gatewayDataDir,
      host: cfg.gatewayHost,
      mqttPort: cfg.mqttPort ?? (tls ? DEFAULT_MQTTS_PORT : DEFAULT_MQTT_PLAIN_PORT),
      httpPort: cfg.httpPort,
      ...(tls && { tls }),
      heartbeatMs: cfg.heartbeatMs,
      logger,
      ...(cfg.witnesses.length > 0 && { witnesses: { list: cfg.witnesses.map(parseWitness), threshold } }),
    });
    const last = gw.replica.lastContactMs();
    const age =
      last === undefined
        ? "empty replica"
        : `replica of ${gw.replica.size()} devices, ${Math.round((Date.now() - last) / 1000)} s old`;
    const v = gw.verification?.();
    const witnesses = v
      ? `; witnesses ${v.witnesses.join(", ")} (${v.threshold} must sign; verified up to block ${v.verifiedBlock})`
      : "";
    inv.io.err(
      `dtl gateway ${gatewayId}: MQTT at ${gw.mqttUrl}${tls ? "" : " — PLAIN MQTT, NOT ENCRYPTED (--insecure-plain)"}; ops at ${gw.httpUrl}; upstreams ${cfg.upstreams.join(", ")}${witnesses}; ${age} (max ${policy.maxStalenessSeconds} s); observations ${gw.observationsFile}`,
    );
    const onHup = () => {
      try {
        gw.setPolicy(loadPolicy(cfg.policyFile));
        inv.io.err(`dtl gateway: policy reloaded${cfg.policyFile ? ` from ${cfg.policyFile}` : ""}`);
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        gw.policyChangeFailed(detail);
        inv.io.err(`dtl gateway: policy NOT reloaded, keeping the previous one: ${detail}`);
      }
    };
    process.on("SIGHUP", onHup);
    try {
      await aborted(inv.signal);
    } finally {
      process.off("SIGHUP", onHup);
    }
    await gw.stop();
    inv.io.err("dtl gateway: stopped");
  },
};
