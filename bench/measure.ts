/**
 * Measuring helpers the bench sections share: a process's RSS, percentiles, rounding, timed
 * sequential requests on one keep-alive connection, and the node's raw log rate.
 */
import { readFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { numberToHex } from "../common/rpc";
import { INDEXED_TOPICS } from "../indexer/source";

/** Resident set size of process `pid` in MiB (from /proc). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** The p-th percentile (nearest rank) of ascending `sorted`. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const round = (x: number, digits = 0): number => Math.round(x * 10 ** digits) / 10 ** digits;

export interface Timed {
  /** Milliseconds of each timed request, in order. */
  times: number[];
  /** Each timed request's response body. */
  answers: string[];
}

/**
 * POSTs `bodies` one after another on one keep-alive connection, each timed with
 * performance.now() (autocannon's latencies are whole milliseconds, too coarse near 1 ms), after
 * `warmup` untimed requests of the first body. A status other than 200 rejects.
 */
export async function timedPosts(url: string, bodies: readonly string[], warmup = 0): Promise<Timed> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const once = (body: string) =>
    new Promise<string>((resolve, reject) => {
      const req = httpRequest(
        url,
        {
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          if (res.statusCode !== 200) reject(new Error(`POST ${url}: HTTP ${res.statusCode}`));
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  try {
    for (let i = 0; i < warmup; i++) await once(bodies[0]!);
    const times: number[] = [];
    const answers: string[] = [];
    for (const body of bodies) {
      const t = performance.now();
      answers.push(await once(body));
      times.push(performance.now() - t);
    }
    return { times, answers };
  } finally {
    agent.destroy();
  }
}

/**
 * The registry's indexed logs of [from, to] by one raw eth_getLogs: plain fetch + JSON.parse,
 * nothing decoded (the reference an indexer's backfill is measured against). Answers how many.
 */
export async function rawLogCount(url: string, registry: string, from: number, to: number): Promise<number> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "eth_getLogs",
      params: [{ address: registry, fromBlock: numberToHex(from), toBlock: numberToHex(to), topics: [INDEXED_TOPICS] }],
    }),
  });
  const answer = JSON.parse(await res.text()) as { result?: unknown[]; error?: { message: string } };
  if (!answer.result) throw new Error(`eth_getLogs ${from}..${to}: ${answer.error?.message ?? "no result"}`);
  return answer.result.length;
}
