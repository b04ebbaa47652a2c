/**
 * The indexer against a misbehaving RPC endpoint (a real proxy in front of a real node):
 * - faults (drops, delays past the time-out, HTTP 5xx/429, JSON-RPC errors, "too many results"
 *   range limits, truncated bodies): it keeps going, narrows its ranges, skips no block and ends
 *   with the store and digest of a direct run;
 * - a lying node (one event's field altered): the history-head check stops it loudly, naming the
 *   device and the block, and nothing of that range is applied.
 */
import { expect } from "chai";
import { createIndexer, HistoryHeadMismatchError, type Indexer, type IndexerOptions } from "../../indexer";
import { DEVICE_EVENT_TOPICS } from "../../common/abi";
import { createRpcClient } from "../../common/rpc";
import { replayRegistry } from "../../indexer/replay";
import { fetchRegistryLogs, type RawLog } from "../../indexer/source";
import { startRpcProxy, type Fault, type ProxiedRequest, type RpcProxy } from "../helpers/indexer-proxy";
import {
  dumpStore,
  removeTempDirs,
  startFleetChain,
  tempDir,
  writeSingleOps,
  type FleetChain,
} from "../helpers/indexer-scenario";
import { prng, testSeed } from "../helpers/seed";

type GetLogsParams = { fromBlock: string; toBlock: string };

function getLogsRanges(req: { body: unknown }): [number, number][] {
  const calls = (Array.isArray(req.body) ? req.body : [req.body]) as { method: string; params: GetLogsParams[] }[];
  return calls
    .filter((c) => c.method === "eth_getLogs")
    .map((c) => [Number(BigInt(c.params[0]!.fromBlock)), Number(BigInt(c.params[0]!.toBlock))]);
}

/** Rewrites every log matching `match` in whatever eth_getLogs answers the (batch) answer holds. */
function rewriteLogs(answer: unknown, match: (l: RawLog) => boolean, change: (l: RawLog) => void): unknown {
  for (const a of (Array.isArray(answer) ? answer : [answer]) as { result?: unknown }[]) {
    if (!Array.isArray(a.result)) continue;
    for (const l of a.result as RawLog[])
      if (l && typeof l === "object" && Array.isArray(l.topics) && match(l)) change(l);
  }
  return answer;
}

/** Flips the last hex digit of data word `i`. */
function alterWord(l: RawLog, i: number): void {
  const pos = 2 + i * 64 + 63;
  const c = l.data[pos]!;
  l.data = l.data.slice(0, pos) + (c === "0" ? "1" : "0") + l.data.slice(pos + 1);
}

describe("indexer: RPC faults and a lying node", function () {
  this.timeout(180_000);
  let chain: FleetChain;
  const proxies: RpcProxy[] = [];
  const indexers: Indexer[] = [];
  const head = async () => Number(BigInt(await chain.node.rpc<string>("eth_blockNumber")));

  const viaProxy = (proxy: RpcProxy, extra: Partial<IndexerOptions> = {}): Indexer => {
    const ix = createIndexer({
      rpcUrl: proxy.url,
      deployment: chain.deployment,
      dataDir: tempDir(),
      pollMs: 20,
      rpcTimeoutMs: 1000,
      retry: { baseMs: 5, maxMs: 100 },
      reorgWindow: 16,
      ...extra,
    });
    indexers.push(ix);
    return ix;
  };

  async function waitFatal(ix: Indexer, timeoutMs = 30_000): Promise<Error> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no fatal error")), timeoutMs);
      ix.onFatal((e) => {
        clearTimeout(t);
        resolve(e);
      });
    });
  }

  before(async function () {
    chain = await startFleetChain(1000, "faults");
    await writeSingleOps(chain, "faults");
  });

  afterEach(async function () {
    for (const ix of indexers.splice(0)) await ix.stop();
    for (const p of proxies.splice(0)) await p.close();
  });

  after(async function () {
    await chain?.node.stop();
    removeTempDirs();
  });

  it("keeps going through drops, delays, 5xx, JSON-RPC errors, range limits and truncation, and converges", async function () {
    const seed = testSeed();
    const random = prng(seed);
    const LIMIT = 8;
    let rangeLimited = 0;
    let faulted = 0;
    const policy = (req: ProxiedRequest): Fault => {
      const ranges = getLogsRanges(req);
      if (ranges.some(([f, t]) => t - f + 1 > LIMIT)) {
        rangeLimited++;
        return { type: "rpcError", code: -32005, message: "query returned more than 10000 results" };
      }
      if (random() > 0.35) return { type: "pass" };
      const faults: Fault[] = [
        { type: "drop" },
        { type: "delay", ms: 50 + Math.floor(random() * 200) },
        { type: "delay", ms: 700 }, // past the indexer's 500 ms time-out
        { type: "http", status: [500, 502, 503, 429][Math.floor(random() * 4)]! },
        { type: "rpcError", code: -32000, message: "internal error" },
        { type: "truncate" },
      ];
      // every kind at least once, then at random
      return faults[faulted < faults.length ? faulted++ : Math.floor(random() * faults.length)]!;
    };
    const proxy = await startRpcProxy(chain.node.url, policy);
    proxies.push(proxy);
    const faultyDir = tempDir();
    const ix = viaProxy(proxy, { dataDir: faultyDir, rpcTimeoutMs: 500 });
    await ix.start();
    await ix.caughtUp();
    // and while following
    const ids = chain.fleet.deviceIds;
    for (let i = 0; i < 6; i++)
      await (await chain.actors.registry.officer.getFunction("suspendDevice")(ids[100 + i * 7]!, 3)).wait();
    const end = await head();
    await ix.waitForBlock(end, 60_000);
    const status = ix.store.status();
    expect(status.rpcErrors, `seed ${seed}`).to.be.greaterThan(5);
    expect(status.fatalError, `seed ${seed}`).to.equal(undefined);
    const faults = new Set(proxy.log.map((l) => l.fault));
    expect([...faults].sort(), `seed ${seed}`).to.include.members([
      "drop",
      "delay",
      "http",
      "rpcError",
      "truncate",
      "pass",
    ]);
    // told "too many results", it narrowed and stayed narrow instead of retrying wide ranges
    expect(rangeLimited).to.be.at.least(1);
    expect(rangeLimited, `seed ${seed}: range-limit answers`).to.be.at.most(12);
    // the ranges the node answered cover every block from the deployment to the end
    const answered = proxy.log
      .filter((l) => l.detail.type === "pass" || (l.detail.type === "delay" && l.detail.ms < 500))
      .flatMap((l) => getLogsRanges(l));
    const covered = new Set<number>();
    for (const [f, t] of answered) for (let b = f; b <= t; b++) covered.add(b);
    for (let b = chain.deployment.deployBlock; b <= end; b++)
      expect(covered.has(b), `block ${b} never fetched (seed ${seed})`).to.equal(true);

    const reference = await replayRegistry(chain.node.url, chain.deployment, { toBlock: end });
    expect(status.digest, `seed ${seed}`).to.equal(reference.digest);
    expect(status.events).to.equal(reference.events);
    for (const [id, h] of [...reference.heads].slice(0, 300)) {
      const d = (await ix.store.getDevice(id))!;
      expect({ head: d.historyHead, eventCount: d.eventCount }).to.deep.equal(h);
    }
    // byte for byte the store of a direct run
    const dir = tempDir();
    const direct = createIndexer({ rpcUrl: chain.node.url, deployment: chain.deployment, dataDir: dir });
    await direct.start();
    await direct.waitForBlock(end);
    await direct.stop();
    await ix.stop();
    indexers.splice(indexers.indexOf(ix), 1);
    expect(await dumpStore(faultyDir)).to.deep.equal(await dumpStore(dir));
  });

  it("stops with HistoryHeadMismatchError naming device and block when a backfilled event was altered", async function () {
    const client = createRpcClient(chain.node.url);
    const logs = await fetchRegistryLogs(client, chain.deployment.registry, chain.deployment.deployBlock, await head());
    const victim = chain.fleet.deviceIds[777]!;
    const target = logs.find((l) => l.topics[0] === DEVICE_EVENT_TOPICS.DeviceRegistered && l.topics[1] === victim)!;
    const targetBlock = Number(BigInt(target.blockNumber));
    const failing: [number, number][] = [];
    const proxy = await startRpcProxy(chain.node.url, (req) => ({
      type: "rewrite",
      fn: (answer) =>
        rewriteLogs(
          answer,
          (l) => l.transactionHash === target.transactionHash && l.logIndex === target.logIndex,
          (l) => {
            alterWord(l, 1); // keyHash
            failing.push(...getLogsRanges(req));
          },
        ),
    }));
    proxies.push(proxy);
    const ix = viaProxy(proxy, { ranges: { maxSpan: 3 }, reorgWindow: 4 });
    const fatal = waitFatal(ix);
    await ix.start();
    const err = await fatal;
    expect(err).to.be.instanceOf(HistoryHeadMismatchError);
    expect(err.message).to.include(victim).and.include(`block ${targetBlock}`);
    expect((err as HistoryHeadMismatchError).deviceId).to.equal(victim);
    expect((err as HistoryHeadMismatchError).blockNumber).to.equal(targetBlock);
    const s = ix.store.status();
    expect(s.fatalErrorName).to.equal("HistoryHeadMismatchError");
    // nothing of the failing range was applied: the cursor stands right before it
    const from = failing[0]![0];
    expect(from).to.be.at.most(targetBlock);
    expect(s.indexedBlock).to.equal(from - 1);
    expect(await ix.store.getDevice(victim)).to.equal(undefined);
    const reference = await replayRegistry(chain.node.url, chain.deployment, { toBlock: from - 1 });
    expect(s.digest).to.equal(reference.digest);
  });

  it("stops with HistoryHeadMismatchError when an event is altered while following", async function () {
    let lie = false;
    let victim = "";
    const proxy = await startRpcProxy(chain.node.url, () =>
      lie
        ? {
            type: "rewrite",
            fn: (answer) =>
              rewriteLogs(
                answer,
                (l) => l.topics[0] === DEVICE_EVENT_TOPICS.DeviceRevoked && l.topics[1] === victim,
                (l) => alterWord(l, 0), // reason
              ),
          }
        : { type: "pass" },
    );
    proxies.push(proxy);
    const ix = viaProxy(proxy);
    await ix.start();
    await ix.caughtUp();
    const { fleet } = chain;
    victim = fleet.deviceIds.find((id, i) => i > 500 && !fleet.revoked.includes(id) && !fleet.suspended.includes(id))!;
    const before = await ix.store.getDevice(victim);
    const fatal = waitFatal(ix);
    lie = true;
    const receipt = await (await chain.actors.registry.officer.getFunction("revokeDevice")(victim, 1)).wait();
    const err = await fatal;
    expect(err).to.be.instanceOf(HistoryHeadMismatchError);
    expect(err.message).to.include(victim).and.include(`block ${receipt!.blockNumber}`);
    expect(ix.store.status().indexedBlock).to.equal(receipt!.blockNumber - 1);
    expect(await ix.store.getDevice(victim)).to.deep.equal(before);
  });
});
