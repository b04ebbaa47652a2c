/**
 * Crash safety: a real indexer process is SIGKILLed at random points of a backfill of thousands
 * of events, again and again, and restarted each time — every other time with the smallest cache
 * (DTL_CACHE_MB=1, smaller than the fleet) — and the store it ends with must equal the one an
 * uninterrupted run with the default cache builds: same records, indexes, tallies, histories,
 * cursor and digest.
 */
import { expect } from "chai";
import { createIndexer } from "../../indexer";
import { buildIndexer, spawnIndexer, writeDeploymentFile } from "../helpers/indexer-process";
import {
  dumpStore,
  removeTempDirs,
  startFleetChain,
  tempDir,
  writeSingleOps,
  type FleetChain,
} from "../helpers/indexer-scenario";
import { prng, testSeed } from "../helpers/seed";

describe("indexer: crash safety (SIGKILL during backfill)", function () {
  this.timeout(240_000);
  let chain: FleetChain;
  let reference: Awaited<ReturnType<typeof dumpStore>>;

  before(async function () {
    buildIndexer();
    chain = await startFleetChain(2000, "crash");
    await writeSingleOps(chain, "crash");
    const dir = tempDir();
    const indexer = createIndexer({
      rpcUrl: chain.node.url,
      deployment: chain.deployment,
      dataDir: dir,
      reorgWindow: 16,
    });
    await indexer.start();
    await indexer.caughtUp();
    await indexer.stop();
    reference = await dumpStore(dir);
  });

  after(async function () {
    await chain?.node.stop();
    removeTempDirs();
  });

  it("ends, after 12 kills and restarts, with the store of an uninterrupted run", async function () {
    const seed = testSeed();
    const random = prng(seed);
    const dir = tempDir();
    const env = {
      DTL_RPC_URL: chain.node.url,
      DTL_DEPLOYMENT: writeDeploymentFile(dir, chain.deployment),
      DTL_DATA_DIR: `${dir}/store`,
      DTL_LOG_LEVEL: "debug",
      // small ranges: many commits to land between; a window of 16 so most of it is backfill
      DTL_MAX_BLOCK_RANGE: "2",
      DTL_REORG_WINDOW: "16",
    };
    const total = (reference.cursor as { events: number }).events;
    expect(total).to.be.greaterThan(3000);
    let midBackfill = 0;
    const progress: number[] = [];
    for (let i = 0; i < 12; i++) {
      const p = spawnIndexer({ ...env, DTL_CACHE_MB: i % 2 ? "1" : "64" });
      try {
        const started = await p.waitFor((l) => l.msg === "indexer started");
        progress.push(started.events as number);
        // let it commit 1–3 ranges, then kill it somewhere inside the next one
        const commits = 1 + Math.floor(random() * 3);
        let seen = 0;
        await p.waitFor((l) => l.msg === "applied" && ++seen >= commits, 30_000);
        await new Promise((r) => setTimeout(r, random() * 15));
      } finally {
        await p.kill("SIGKILL");
      }
      const applied = p.lines.filter((l) => l.msg === "applied");
      const last = (applied[applied.length - 1]?.events as number | undefined) ?? 0;
      if (last < total && !p.lines.some((l) => l.msg === "caught up")) midBackfill++;
    }
    expect(midBackfill, `kills that landed before the backfill ended (seed ${seed})`).to.be.at.least(10);
    // it made progress across restarts and never went backwards
    expect(progress).to.deep.equal([...progress].sort((a, b) => a - b));
    expect(progress[progress.length - 1]).to.be.greaterThan(0);

    const final = spawnIndexer({ ...env, DTL_CACHE_MB: "1" });
    try {
      await final.waitFor((l) => l.msg === "caught up", 60_000);
    } finally {
      await final.kill("SIGTERM");
    }
    expect((await final.exited).code).to.equal(0);
    const dump = await dumpStore(`${dir}/store`);
    expect(dump.cursor).to.deep.equal(reference.cursor);
    expect(dump.content.length).to.equal(reference.content.length);
    expect(dump.content, `seed ${seed}`).to.deep.equal(reference.content);
  });
});
