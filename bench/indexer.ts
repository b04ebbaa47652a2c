/**
 * `npm run bench -- indexer`: the indexer against the raw node, in one run on one node.
 *
 * - getLogsEventsPerSec: plain fetch + JSON.parse of eth_getLogs over the whole history in windows
 *   of ≤ 5,000 logs (the node's raw rate, the reference);
 * - backfillEventsPerSec: a real indexer process (compiled JavaScript, as `dtl serve` runs it)
 *   on an empty store, from spawn to caught up — same node, same logs;
 * - restartMs: that process SIGKILLed and started again → caught up (process start included);
 * - followP50Ms / followP99Ms: transaction sent → its entry visible through the store module,
 *   default poll interval;
 * - rssAfterBackfillMb / rssAfterFollowMb: the indexer process's RSS after the backfill and
 *   after 10,000 more events followed.
 *
 * DTL_BENCH_DEVICES sets the fleet size (default 32,000 devices ≈ 50,000 events).
 */
import { createRpcClient, hexToNumber } from "../common/rpc";
import { createIndexer } from "../indexer";
import { startHardhatNode } from "../test/helpers/chain";
import { deployFleetRegistry, testHash, writeFleet } from "../test/helpers/fleet";
import { buildIndexer, spawnIndexer, writeDeploymentFile } from "../test/helpers/indexer-process";
import { removeTempDirs, tempDir } from "../test/helpers/indexer-scenario";
import { percentile, rawLogCount, round, rssMb } from "./measure";

export async function run(): Promise<Record<string, number>> {
  const devices = Number(process.env.DTL_BENCH_DEVICES ?? 32_000);
  buildIndexer();
  const node = await startHardhatNode();
  try {
    const { deployment, actors } = await deployFleetRegistry(node.url);
    process.stderr.write(`  writing a fleet of ${devices} devices…\n`);
    await writeFleet(actors, { devices, label: "bench" });
    const client = createRpcClient(node.url);
    const head = hexToNumber(await client.call<string>("eth_blockNumber"));

    // ------------------------------------------------ the node's raw rate
    let rawLogs = 0;
    const rawStart = performance.now();
    let span = 50;
    for (let from = deployment.deployBlock; from <= head;) {
      const to = Math.min(head, from + span - 1);
      const logs = await rawLogCount(node.url, deployment.registry, from, to);
      if (logs > 5_000 && span > 1) {
        span = Math.max(1, Math.floor(span / 2));
        continue;
      }
      rawLogs += logs;
      from = to + 1;
    }
    const rawSec = (performance.now() - rawStart) / 1000;
    const getLogsEventsPerSec = rawLogs / rawSec;

    // ------------------------------------------------ cold backfill: a real indexer process
    // (compiled JavaScript, as `dtl serve` runs it), from spawn to its "caught up" line
    const dir = tempDir("dtl-bench-indexer-");
    const dataDir = `${dir}/store`;
    const env = {
      DTL_RPC_URL: node.url,
      DTL_DEPLOYMENT: writeDeploymentFile(dir, deployment),
      DTL_DATA_DIR: dataDir,
      DTL_LOG_LEVEL: "info",
    };
    const t0 = performance.now();
    const first = spawnIndexer(env);
    const caught = await first.waitFor((l) => l.msg === "caught up", 600_000);
    const backfillSec = (performance.now() - t0) / 1000;
    const events = caught.events as number;
    if (events !== rawLogs) throw new Error(`indexed ${events} events, the node returned ${rawLogs}`);
    const rssAfterBackfillMb = rssMb(first.proc.pid!);

    // ------------------------------------------------ restart after SIGKILL
    // a few more events arrive while it follows, then it is killed
    await writeFleet(actors, { devices: 200, label: "bench-pre-kill" });
    await first.kill("SIGKILL");
    const target = hexToNumber(await client.call<string>("eth_blockNumber"));
    const r0 = performance.now();
    const second = spawnIndexer({ ...env, DTL_LOG_LEVEL: "debug" });
    await second.waitFor((l) => l.msg === "caught up" && (l.block_number as number) >= target, 120_000);
    const restartMs = performance.now() - r0;

    // ------------------------------------------------ memory while following 10,000 more events
    process.stderr.write("  following 10,000 more events…\n");
    const more = await writeFleet(actors, { devices: 6_400, label: "bench-more" });
    const moreHead = hexToNumber(await client.call<string>("eth_blockNumber"));
    await second.waitFor((l) => l.msg === "applied" && (l.to_block as number) >= moreHead, 120_000);
    const rssAfterFollowMb = rssMb(second.proc.pid!);
    await second.kill("SIGTERM");

    // ------------------------------------------------ follow latency, default poll interval
    const follower = createIndexer({ rpcUrl: node.url, deployment, dataDir });
    await follower.start();
    await follower.caughtUp();
    const seen = new Map<string, number>();
    follower.store.onChange((c) => {
      if (c.type === "applied") for (const e of c.entries) seen.set(e.transactionHash, performance.now());
    });
    const latencies: number[] = [];
    const reg = actors.registry.manufacturer;
    const ids = more.deviceIds.slice(0, Math.ceil(more.deviceIds.length / 2));
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 10 + Math.random() * 90));
      const sent = performance.now();
      const tx = await reg.getFunction("updateFirmware")(ids[i]!, testHash(`bench/fw/${i}`), { gasLimit: 200_000 });
      const hash = tx.hash as string;
      for (let j = 0; j < 2000 && !seen.has(hash); j++) await new Promise((r) => setTimeout(r, 1));
      if (!seen.has(hash)) throw new Error(`tx ${hash} never became visible`);
      latencies.push(seen.get(hash)! - sent);
    }
    await follower.stop();
    latencies.sort((a, b) => a - b);

    return {
      events,
      getLogsEventsPerSec: round(getLogsEventsPerSec),
      backfillEventsPerSec: round(events / backfillSec),
      backfillRatio: round(events / backfillSec / getLogsEventsPerSec, 3),
      restartMs: round(restartMs),
      followP50Ms: round(percentile(latencies, 50), 1),
      followP99Ms: round(percentile(latencies, 99), 1),
      rssAfterBackfillMb,
      rssAfterFollowMb,
      followedEvents: more.events,
    };
  } finally {
    await node.stop();
    removeTempDirs();
  }
}
