/**
 * /metrics tells an operator how the store serves: record cache hits and misses by record,
 * evictions, the cache's bytes and bound, LevelDB's block cache, the store's size on disk and
 * the latency of each store read by operation — on the real indexer over a real node.
 */
import { expect } from "chai";
import { gql, registerTestDevice, startApiFixture, apiFor, type ApiFixture } from "../helpers/api-fixture";
import { testHash } from "../helpers/fleet";
import type { Api } from "../../api/yoga";

/** The value of one sample line (`name{labels} value`), 0 when absent. */
function sample(metrics: string, name: string, labels = ""): number {
  const escaped = (name + labels).replace(/[{}"[\]]/g, "\\$&");
  const m = new RegExp(`^${escaped} (\\S+)$`, "m").exec(metrics);
  return m ? Number(m[1]) : 0;
}

describe("api: store metrics", function () {
  this.timeout(120_000);
  let fx: ApiFixture;
  let api: Api;

  before(async function () {
    fx = await startApiFixture();
    api = apiFor(fx);
  });

  after(async function () {
    api?.close();
    await fx?.stop();
  });

  const scrape = async () => (await api.yoga.fetch("http://api.test/metrics")).text();
  const lookup = (id: string) =>
    gql<{ device: { id: string } | null }>(api, `query($id: Bytes32!) { device(id: $id) { id } }`, { id });

  it("names every store metric with its type", async function () {
    const metrics = await scrape();
    const types = Object.fromEntries([...metrics.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(types).to.deep.include({
      dtl_store_cache_hits_total: "counter",
      dtl_store_cache_misses_total: "counter",
      dtl_store_cache_evictions_total: "counter",
      dtl_store_cache_bytes: "gauge",
      dtl_store_cache_max_bytes: "gauge",
      dtl_store_cache_entries: "gauge",
      dtl_store_block_cache_bytes: "gauge",
      dtl_store_disk_bytes: "gauge",
      dtl_store_read_duration_seconds: "histogram",
    });
    // the default budget of 64 MiB: three quarters for records, a quarter for LevelDB's blocks
    expect(sample(metrics, "dtl_store_cache_max_bytes")).to.equal(48 * 1024 * 1024);
    expect(sample(metrics, "dtl_store_block_cache_bytes")).to.equal(16 * 1024 * 1024);
    expect(sample(metrics, "dtl_store_disk_bytes")).to.be.greaterThan(0);
  });

  it("counts hits and misses by record, and times every read by operation", async function () {
    const d = await registerTestDevice(fx.actors);
    await fx.sync();
    const stranger = testHash("store-metrics/stranger");
    const before = await scrape();
    const device = (m: string, name: string) => sample(m, name, `{record="device"}`);
    const timed = (m: string) => sample(m, "dtl_store_read_duration_seconds_count", `{operation="getDevice"}`);

    // each misses once, then is cached: the device's record and the stranger's absence alike (the
    // indexer's own reads and commits add nothing to the cache)
    for (const id of [d.id, d.id, stranger, stranger])
      expect((await lookup(id)).data).to.deep.equal({ device: id === d.id ? { id } : null });
    const after = await scrape();
    expect(device(after, "dtl_store_cache_hits_total") - device(before, "dtl_store_cache_hits_total")).to.equal(2);
    expect(device(after, "dtl_store_cache_misses_total") - device(before, "dtl_store_cache_misses_total")).to.equal(2);
    expect(timed(after) - timed(before)).to.equal(4);
    expect(sample(after, "dtl_store_cache_entries")).to.be.greaterThan(0);
    expect(sample(after, "dtl_store_cache_bytes")).to.be.within(1, 48 * 1024 * 1024);
    expect(sample(after, "dtl_store_cache_evictions_total")).to.equal(0);
    const history = (m: string) => sample(m, "dtl_store_read_duration_seconds_count", `{operation="getHistory"}`);
    await gql(api, `query($id: Bytes32!) { device(id: $id) { history(first: 5) { totalCount } } }`, { id: d.id });
    expect(history(await scrape()) - history(after)).to.equal(1);
  });
});
