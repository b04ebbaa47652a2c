/**
 * Configuration (DESIGN.md §8): command-line flags override DTL_* environment variables, which
 * override the local defaults. One zod model per concern, all checked at start; every bad value
 * is reported at once, one line each naming the flag or variable it came from. The rest of the
 * code sees a typed camelCase object. Secrets (private key, keystore password, API keys) are
 * never echoed in an error and never taken from the command line.
 */
import { z } from "zod";
import { witnessKeyProblem, witnessKind } from "./witness-format";

/** Where each setting comes from: its flag (if it may be given as one) and its env var. */
export const SETTINGS = {
  rpcUrl: { env: "DTL_RPC_URL", flag: "rpc" },
  deployment: { env: "DTL_DEPLOYMENT", flag: "deployment" },
  confirmations: { env: "DTL_CONFIRMATIONS", flag: "confirmations" },
  pollMs: { env: "DTL_POLL_MS", flag: "poll-ms" },
  reorgWindow: { env: "DTL_REORG_WINDOW", flag: "reorg-window" },
  maxBlockRange: { env: "DTL_MAX_BLOCK_RANGE", flag: "max-block-range" },
  rebuild: { env: "DTL_REBUILD", flag: "rebuild" },
  cacheMb: { env: "DTL_CACHE_MB", flag: "cache-mb" },
  manifestDir: { env: "DTL_MANIFEST_DIR", flag: "manifest-dir" },
  dataDir: { env: "DTL_DATA_DIR", flag: "data-dir" },
  host: { env: "DTL_HOST", flag: "host" },
  port: { env: "DTL_PORT", flag: "port" },
  maxLagBlocks: { env: "DTL_MAX_LAG_BLOCKS", flag: "max-lag-blocks" },
  apiKeys: { env: "DTL_API_KEYS", secret: true },
  logLevel: { env: "DTL_LOG_LEVEL", flag: "log-level" },
  apiUrl: { env: "DTL_API_URL", flag: "api" },
  apiKey: { env: "DTL_API_KEY", secret: true },
  privateKey: { env: "DTL_PRIVATE_KEY", secret: true },
  keystore: { env: "DTL_KEYSTORE", flag: "keystore" },
  keystorePassword: { env: "DTL_KEYSTORE_PASSWORD", secret: true },
  upstreams: { env: "DTL_GATEWAY_UPSTREAMS", flag: "upstream" },
  policyFile: { env: "DTL_GATEWAY_POLICY", flag: "policy" },
  gatewayId: { env: "DTL_GATEWAY_ID", flag: "id" },
  gatewayDataDir: { env: "DTL_GATEWAY_DATA_DIR", flag: "data-dir" },
  gatewayHost: { env: "DTL_GATEWAY_HOST", flag: "host" },
  mqttPort: { env: "DTL_MQTT_PORT", flag: "mqtt-port" },
  httpPort: { env: "DTL_GATEWAY_HTTP_PORT", flag: "http-port" },
  tlsCert: { env: "DTL_TLS_CERT", flag: "tls-cert" },
  tlsKey: { env: "DTL_TLS_KEY", flag: "tls-key" },
  insecurePlain: { env: "DTL_INSECURE_PLAIN", flag: "insecure-plain" },
  heartbeatMs: { env: "DTL_GATEWAY_HEARTBEAT_MS", flag: "heartbeat-ms" },
  witnesses: { env: "DTL_GATEWAY_WITNESSES", flag: "witness" },
  witnessThreshold: { env: "DTL_GATEWAY_WITNESS_THRESHOLD", flag: "witness-threshold" },
  witnessKey: { env: "DTL_WITNESS_KEY", secret: true },
  checkpointInterval: { env: "DTL_CHECKPOINT_INTERVAL", flag: "checkpoint-interval" },
} as const satisfies Record<string, { env: string; flag?: string; secret?: boolean }>;

export type SettingName = keyof typeof SETTINGS;

export const DEFAULT_RPC_URL = "http://127.0.0.1:8545";
export const DEFAULT_PORT = 4000;
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_DATA_DIR = ".dtl/data";
/**
 * The index's memory for records (MiB): a quarter is LevelDB's block cache, the rest the record
 * cache (indexer/store/store.ts). At most 16 GiB: LevelDB takes its block cache size as a 32-bit
 * number of bytes.
 */
export const DEFAULT_CACHE_MB = 64;
export const MAX_CACHE_MB = 16_384;
/** The gateway's MQTT ports: mqtts by default, plain MQTT only with --insecure-plain. */
export const DEFAULT_MQTTS_PORT = 8883;
export const DEFAULT_MQTT_PLAIN_PORT = 1883;
export const DEFAULT_GATEWAY_HTTP_PORT = 9100;
export const DEFAULT_GATEWAY_DATA_DIR = ".dtl/gateway";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const httpUrl = z
  .string()
  .url("must be an http(s) URL")
  .refine((u) => /^https?:\/\//i.test(u), "must be an http(s) URL");

const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be a whole number from ${min} to ${max}`);

const nonEmpty = z.string().min(1, "must not be empty");

const BOOLEANS = ["1", "0", "true", "false"] as const;
const bool = z
  .enum(BOOLEANS, { errorMap: () => ({ message: `must be one of ${BOOLEANS.join(", ")}` }) })
  .transform((v) => v === "1" || v === "true");

const logLevel = z
  .enum(LOG_LEVELS, { errorMap: () => ({ message: `must be one of ${LOG_LEVELS.join(", ")}` }) })
  .default("info");

/** One model per concern; inputs are the raw strings, outputs typed values. */
export const MODELS = {
  /** Where the chain and the registry are. */
  chain: z.object({
    rpcUrl: httpUrl.default(DEFAULT_RPC_URL),
    /** Path of deployments/<chainId>.json; undefined = that default once the chain id is known. */
    deployment: nonEmpty.optional(),
  }),
  /** The indexer (dtl serve, dtl dev). */
  indexer: z.object({
    dataDir: nonEmpty.default(DEFAULT_DATA_DIR),
    confirmations: int(0, 1000).default("0"),
    pollMs: int(10, 600_000).default("100"),
    /** Blocks of undo data kept for reorgs. */
    reorgWindow: int(1, 100_000).default("64"),
    /** Most blocks per eth_getLogs call (for nodes with a range limit). */
    maxBlockRange: int(1, 10_000_000).default("100000"),
    /** Wipe and rebuild a store of another chain/registry or an older schema. */
    rebuild: bool.default("false"),
    /** Memory for cached records and LevelDB's block cache, in MiB. */
    cacheMb: int(1, MAX_CACHE_MB).default(String(DEFAULT_CACHE_MB)),
    /** Where `file:<name>` manifests of anchored batches are (DESIGN §10); none: they stay UNAVAILABLE. */
    manifestDir: nonEmpty.optional(),
  }),
  /** A process's logs (the standalone indexer; dtl serve has them in `server`). */
  log: z.object({ logLevel }),
  /** The GraphQL server (dtl serve, dtl dev). */
  server: z.object({
    host: nonEmpty.default(DEFAULT_HOST),
    port: int(0, 65535).default(String(DEFAULT_PORT)),
    maxLagBlocks: int(0, 1_000_000).default("2"),
    apiKeys: z
      .string()
      .transform((s) =>
        s
          .split(",")
          .map((k) => k.trim())
          .filter(Boolean),
      )
      .refine((keys) => keys.every((k) => k.length >= 16), "every key must be at least 16 characters")
      .default(""),
    logLevel,
  }),
  /** A client of the GraphQL API (verify, history, audit). */
  client: z.object({
    apiUrl: httpUrl.default(`http://${DEFAULT_HOST}:${DEFAULT_PORT}/graphql`),
    apiKey: nonEmpty.optional(),
  }),
  /** The edge gateway (dtl gateway). */
  gateway: z.object({
    /** Upstream APIs (…/graphql), comma-separated in the env var; --upstream is repeatable. */
    upstreams: z
      .string()
      .transform((s) =>
        s
          .split(",")
          .map((u) => u.trim())
          .filter(Boolean),
      )
      .refine((us) => us.length > 0, "at least one upstream API URL is needed")
      .refine((us) => us.every((u) => httpUrl.safeParse(u).success), "every upstream must be an http(s) URL"),
    policyFile: nonEmpty.optional(),
    /** The name devices put in their tokens (`gateway`); default: the host name. */
    gatewayId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,128}$/, "must be 1–128 characters of [A-Za-z0-9._-]")
      .optional(),
    gatewayDataDir: nonEmpty.default(DEFAULT_GATEWAY_DATA_DIR),
    gatewayHost: nonEmpty.default(DEFAULT_HOST),
    /** Default: 8883 with TLS, 1883 with --insecure-plain. */
    mqttPort: int(0, 65535).optional(),
    httpPort: int(0, 65535).default(String(DEFAULT_GATEWAY_HTTP_PORT)),
    tlsCert: nonEmpty.optional(),
    tlsKey: nonEmpty.optional(),
    insecurePlain: bool.default("false"),
    heartbeatMs: int(50, 60_000).default("1000"),
    /**
     * Witnesses whose checkpoints the gateway requires (comma-separated in the env var; --witness
     * is repeatable): addresses (secp256k1) or ML-DSA-44 public keys. None: the replica trusts its
     * upstream as before.
     */
    witnesses: z
      .string()
      .transform((s, ctx) => {
        const out: string[] = [];
        for (const w of s
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean)) {
          const kind = witnessKind(w);
          if (typeof kind === "object") {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: kind.problem });
            return z.NEVER;
          }
          const dup = out.find((o) => o.toLowerCase() === w.toLowerCase());
          if (dup) {
            ctx.addIssue({ code: z.ZodIssueCode.custom, message: `witness ${dup.slice(0, 42)} is given twice` });
            return z.NEVER;
          }
          out.push(w);
        }
        return out;
      })
      .default(""),
    /** How many distinct witnesses must sign a checkpoint (default: all of them). */
    witnessThreshold: int(1, 100).optional(),
    logLevel,
  }),
  /** A witness: the indexer signs checkpoints (dtl serve with DTL_WITNESS_KEY). */
  witness: z.object({
    witnessKey: z
      .string()
      .superRefine((k, ctx) => {
        const problem = witnessKeyProblem(k);
        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
      })
      .optional(),
    /** Blocks between checkpoints (a checkpoint at every block that is a multiple of it). */
    checkpointInterval: int(1, 1_000_000).default("10"),
  }),
  /** The key that signs transactions. */
  signer: z.object({
    privateKey: z
      .string()
      .regex(/^(0x)?[0-9a-fA-F]{64}$/, "must be 32 bytes of hex (64 hex digits, 0x optional)")
      .transform((k) => (k.startsWith("0x") ? k : `0x${k}`))
      .optional(),
    keystore: nonEmpty.optional(),
    keystorePassword: z.string().optional(),
  }),
} as const;

export type Concern = keyof typeof MODELS;
export type Config<K extends Concern> = { [P in K]: z.output<(typeof MODELS)[P]> };

/** A configuration problem; `problems` holds one line per bad value. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

export type Flags = Readonly<Record<string, string | boolean | string[] | undefined>>;

/**
 * Reads the settings of `concerns` from flags (by flag name, e.g. `{ rpc: "http://…" }`) and the
 * environment. Throws a {@link ConfigError} listing every bad value.
 */
export function loadConfig<K extends Concern>(
  concerns: readonly K[],
  flags: Flags = {},
  env: NodeJS.ProcessEnv = process.env,
): Config<K> {
  const problems: string[] = [];
  const out = {} as Config<K>;
  for (const concern of concerns) {
    const model = MODELS[concern];
    const input: Record<string, string> = {};
    const from: Record<string, string> = {};
    for (const key of Object.keys(model.shape) as SettingName[]) {
      const s: { env: string; flag?: string } = SETTINGS[key];
      const flagValue = s.flag ? flags[s.flag] : undefined;
      if (typeof flagValue === "string" || typeof flagValue === "boolean") {
        input[key] = String(flagValue);
        from[key] = `--${s.flag}`;
      } else if (env[s.env] !== undefined && env[s.env] !== "") {
        input[key] = env[s.env]!;
        from[key] = s.env;
      }
    }
    // the API URL follows DTL_PORT when only the port was changed
    if (concern === "client" && input.apiUrl === undefined && env.DTL_PORT && /^\d+$/.test(env.DTL_PORT)) {
      input.apiUrl = `http://${DEFAULT_HOST}:${env.DTL_PORT}/graphql`;
      from.apiUrl = "DTL_PORT";
    }
    const parsed = model.safeParse(input);
    if (parsed.success) {
      (out as Record<string, unknown>)[concern] = parsed.data;
      continue;
    }
    const reported = new Set<string>();
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0]) as SettingName;
      if (reported.has(key)) continue; // one line per bad value
      reported.add(key);
      const name = from[key] ?? SETTINGS[key]?.env ?? key;
      const secret = "secret" in SETTINGS[key] && SETTINGS[key].secret;
      const shown = secret || input[key] === undefined ? "" : ` (got "${input[key]}")`;
      problems.push(`${name}: ${issue.message}${shown}`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}

/** deployments/<chainId>.json unless a deployment file was configured. */
export function deploymentPath(chain: Config<"chain">["chain"], chainId: number): string {
  return chain.deployment ?? `deployments/${chainId}.json`;
}
