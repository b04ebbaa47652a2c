/**
 * dtl monitor (DESIGN §13, issue 13) — the monitor's two jobs outside the API:
 *   --observations FILE   follows a gateway's observations.jsonl (tail -f; --from-start reads it
 *                         all first) and pushes it to the API's monitor with reportObservations,
 *                         in batches, with DTL_API_KEY = that gateway's key (DTL_MONITOR_GATEWAY_KEYS).
 *   --respond suspend     follows the API's `alerts` stream and suspends each device whose score
 *                         reaches --threshold, with reason AnomalyDetected, signed with the officer
 *                         key of DTL_PRIVATE_KEY / DTL_KEYSTORE. A token bucket (--max-per-minute,
 *                         --burst) bounds how many devices it suspends: a flood of alerts cannot
 *                         suspend the fleet; what it holds back is printed, never dropped silently.
 * The registry's suspendDevice(deviceId, reason) has no evidence field, so the alert's
 * evidenceHash rides as 32 bytes after the ABI-encoded arguments (the contract ignores trailing
 * calldata; the transaction, and so the chain, commits to it). The evidence itself stays in the
 * API's monitor store (`alerts(afterSeq:)`), found by that hash.
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { REASONS } from "../../common/codes";
import { toChainError } from "../../common/chain";
import { readSseFrames } from "../../common/sse";
import { SECURITY_OFFICER_ROLE } from "../../common/roles";
import { createTokenBucket } from "../../monitor/token-bucket";
import { API_OPTIONS, CHAIN_OPTIONS, optional } from "../args";
import type { Command, Invocation } from "../command";
import { config, connectSigned } from "../context";
import { apiClient, gql } from "../graphql";
import { CliError } from "../io";

const ANOMALY_DETECTED = REASONS.indexOf("ANOMALY_DETECTED");

/** Waits `ms`, or less when `signal` aborts (its listener removed either way). */
function sleep(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

const REPORT = gql<{ reportObservations: { accepted: number; alerts: number } }>(
  `mutation Report($observations: [ObservationInput!]!) { reportObservations(observations: $observations) { accepted alerts } }`,
);

const ALERTS_SUBSCRIPTION = `subscription Alerts($minScore: Float) {
  alerts(minScore: $minScore) { seq kind deviceId gateway score evidenceHash evidence }
}`;

interface AlertEvent {
  seq: number;
  kind: string;
  deviceId: string | null;
  gateway: string;
  score: number;
  evidenceHash: string;
  evidence: unknown;
}

function number(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new CliError(`monitor: --${name} must be from ${min} to ${max}, got "${v}"`);
  return n;
}

/** A gateway JSON line → ObservationInput (type in upper case; fields the input does not take dropped). */
const INPUT_FIELDS = new Set([
  "ts",
  "gateway",
  "deviceId",
  "clientId",
  "outcome",
  "reasons",
  "segment",
  "remote",
  "detail",
  "tls",
  "channelBound",
  "event",
  "cause",
  "durationMs",
  "intervalMs",
  "messages",
  "bytes",
  "topics",
  "reason",
  "hash",
  "action",
  "topic",
]);
function toInput(line: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { type: String(line.type ?? "").toUpperCase() };
  for (const [k, v] of Object.entries(line)) if (INPUT_FIELDS.has(k)) out[k] = v;
  return out;
}

async function follow(inv: Invocation, file: string, fromStart: boolean): Promise<void> {
  const api = apiClient(inv.values, inv.env);
  let offset = fromStart
    ? 0
    : (() => {
        try {
          return statSync(file).size;
        } catch {
          return 0;
        }
      })();
  let partial = "";
  const buf = Buffer.alloc(1 << 20);
  inv.io.err(`dtl monitor: following ${file} from ${fromStart ? "its start" : "its end"}, reporting to ${api.url}`);
  while (!inv.signal.aborted) {
    let fd: number | undefined;
    const lines: string[] = [];
    try {
      fd = openSync(file, "r");
      if (statSync(file).size < offset) offset = 0; // rotated or truncated: start over
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        const text = partial + buf.subarray(0, n).toString("utf8");
        const parts = text.split("\n");
        partial = parts.pop()!;
        lines.push(...parts.filter((l) => l.trim()));
        if (lines.length >= 5_000) break;
      }
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOENT") throw err;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    let batch: Record<string, unknown>[] = [];
    for (const l of lines) {
      try {
        batch.push(toInput(JSON.parse(l) as Record<string, unknown>));
      } catch {
        inv.io.err(`dtl monitor: skipped a line that is not JSON: ${l.slice(0, 80)}`);
      }
    }
    // a refused observation refuses its batch: name it, drop it, send the rest
    while (batch.length) {
      try {
        const r = await api.request(REPORT, { observations: batch });
        if (r.reportObservations.alerts) inv.io.err(`dtl monitor: ${r.reportObservations.alerts} alert(s) raised`);
        break;
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        const m = /observations\[(\d+)\]/.exec(msg);
        inv.io.err(`dtl monitor: ${msg}`);
        if (!m || /RATE_LIMITED/.test(msg)) {
          await new Promise((r) => setTimeout(r, 1_000));
          if (!m) break;
          continue;
        }
        batch = batch.filter((_, i) => i !== Number(m[1]));
      }
    }
    if (lines.length < 5_000) await sleep(inv.signal, 200);
  }
}

async function respond(inv: Invocation, threshold: number, perMinute: number, burst: number): Promise<void> {
  const ctx = await connectSigned(inv.values, inv.io, inv.env);
  const { client } = config(["client"], inv.values, inv.env);
  const api = apiClient(inv.values, inv.env);
  const bucket = createTokenBucket(burst, perMinute / 60);
  const suspended = new Set<string>();
  const registry = ctx.signed;
  inv.io.err(
    `dtl monitor: responding: suspend (AnomalyDetected) at risk ≥ ${threshold}, at most ${perMinute}/min (burst ${burst}), as ${ctx.account}`,
  );
  const act = async (a: AlertEvent): Promise<void> => {
    const id = a.deviceId;
    if (!id || a.score < threshold || suspended.has(id)) return;
    if (!bucket.take(Date.now())) {
      inv.io.out(
        `held back ${id} (${a.kind}, score ${a.score}): suspension rate limit reached; evidence ${a.evidenceHash}`,
      );
      return;
    }
    suspended.add(id);
    const data =
      registry.interface.encodeFunctionData("suspendDevice", [id, ANOMALY_DETECTED]) + a.evidenceHash.slice(2);
    try {
      const tx = await ctx.wallet.sendTransaction({ to: await registry.getAddress(), data });
      const receipt = await tx.wait();
      inv.io.out(
        `suspended ${id} (${a.kind.toLowerCase()}, score ${a.score}, alert ${a.seq}) in block ${receipt?.blockNumber} tx ${tx.hash} evidence ${a.evidenceHash}`,
      );
    } catch (err) {
      suspended.delete(id);
      inv.io.err(
        `dtl monitor: could not suspend ${id}: ${toChainError(err, { [SECURITY_OFFICER_ROLE]: "SECURITY_OFFICER_ROLE" }).message}`,
      );
    }
  };
  while (!inv.signal.aborted) {
    const ac = new AbortController();
    const stop = () => ac.abort();
    inv.signal.addEventListener("abort", stop, { once: true });
    try {
      const res = await fetch(api.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "text/event-stream",
          ...(client.apiKey && { authorization: `Bearer ${client.apiKey}` }),
        },
        body: JSON.stringify({ query: ALERTS_SUBSCRIPTION, variables: { minScore: threshold } }),
        signal: ac.signal,
      });
      if (res.status !== 200 || !res.body)
        throw new CliError(`monitor: the API refused the alerts stream (HTTP ${res.status})`);
      let chain = Promise.resolve();
      await readSseFrames(res.body as unknown as AsyncIterable<Uint8Array>, (event, data) => {
        if (event !== "next" || !data) return;
        const body = JSON.parse(data) as { data?: { alerts: AlertEvent }; errors?: { message: string }[] };
        if (body.errors?.length) throw new CliError(`monitor: alerts stream: ${body.errors[0]!.message}`);
        const a = body.data?.alerts;
        // one at a time, in order: the bucket and the set see every decision
        if (a) chain = chain.then(() => act(a));
      });
      await chain;
    } catch (err) {
      if (inv.signal.aborted) break;
      if (err instanceof CliError && /refused/.test(err.message)) throw err;
      inv.io.err(`dtl monitor: alerts stream lost (${err instanceof Error ? err.message : String(err)}); reconnecting`);
    } finally {
      inv.signal.removeEventListener("abort", stop);
    }
    await sleep(inv.signal, 1_000);
  }
}

export const command: Command = {
  name: "monitor",
  usage:
    "dtl monitor [--api URL] [--observations FILE [--from-start]] [--respond suspend [--threshold 0.8] [--max-per-minute 6] [--burst 3]]",
  summary: "push a gateway's observations to the monitor, and/or suspend devices whose risk is too high",
  graceful: true,
  options: {
    ...CHAIN_OPTIONS,
    ...API_OPTIONS,
    observations: { type: "string" },
    "from-start": { type: "boolean" },
    respond: { type: "string" },
    threshold: { type: "string" },
    "max-per-minute": { type: "string" },
    burst: { type: "string" },
  },
  async run(inv) {
    if (inv.positionals.length) throw new CliError(`monitor: unexpected argument "${inv.positionals[0]}"`);
    const file = optional(inv.values, "observations");
    const mode = optional(inv.values, "respond");
    if (mode !== undefined && mode !== "suspend")
      throw new CliError(`monitor: --respond takes "suspend", got "${mode}"`);
    if (file === undefined && mode === undefined)
      throw new CliError("monitor: give --observations FILE, --respond suspend, or both");
    const threshold = number("threshold", optional(inv.values, "threshold"), 0.8, 0, 1);
    const perMinute = number("max-per-minute", optional(inv.values, "max-per-minute"), 6, 0.01, 10_000);
    const burst = number("burst", optional(inv.values, "burst"), 3, 1, 10_000);
    const jobs: Promise<void>[] = [];
    if (file !== undefined) jobs.push(follow(inv, file, inv.values["from-start"] === true));
    if (mode === "suspend") jobs.push(respond(inv, threshold, perMinute, burst));
    await Promise.all(jobs);
    inv.io.err("dtl monitor: stopped");
  },
};
