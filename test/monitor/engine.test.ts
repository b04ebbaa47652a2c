/**
 * The monitor engine (issue 13): bad observations are refused with clear errors and leave every
 * profile as it was; a flood from one gateway is cut by its rate limit, not by refusing the
 * others; a restart keeps the profiles (LevelDB) and does not raise old alerts again; the score
 * stays in 0..1 and a reinstated device's signals stop counting.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { createMonitor } from "../../monitor/engine";
import { openMonitorStore } from "../../monitor/store";
import { createTokenBucket } from "../../monitor/token-bucket";
import { MIN, SITES, T0, dev, driven, refused, start, traffic } from "./helpers";

const D = dev(1);

describe("monitor engine", () => {
  describe("bad observations", () => {
    it("refuses each with its code and a message naming the field, applies the rest of the batch", async () => {
      const m = await driven();
      m.clock.now = T0 + MIN;
      const r = await m.monitor.ingest([
        traffic("gw-a1", D, T0, 5, 500),
        { ...traffic("gw-a1", D, T0, 5, 500), deviceId: "0x1234" },
        { ...traffic("gw-a1", D, T0, 5, 500), messages: -1 },
        { type: "teleport", gateway: "gw-a1", ts: T0 },
        "not an object",
        { ...start("gw-zz", D, T0) },
        { ...start("gw-a1", D, T0 + MIN + 31_000) },
        { ...start("gw-a1", D, T0 - 2 * 3_600_000) },
        { ...traffic("gw-a1", D, T0, 5, 500), ts: "yesterday" },
      ]);
      expect(r.accepted).to.equal(1);
      expect(r.refused.map((x) => [x.index, x.code])).to.deep.equal([
        [1, "OBSERVATION_MALFORMED"],
        [2, "OBSERVATION_MALFORMED"],
        [3, "OBSERVATION_MALFORMED"],
        [4, "OBSERVATION_MALFORMED"],
        [5, "UNKNOWN_GATEWAY"],
        [6, "OBSERVATION_IN_FUTURE"],
        [7, "OBSERVATION_TOO_OLD"],
        [8, "OBSERVATION_MALFORMED"],
      ]);
      const msg = Object.fromEntries(r.refused.map((x) => [x.index, x.message]));
      expect(msg[1]).to.equal("deviceId: must be 0x + 64 hex digits");
      expect(msg[2]).to.match(/^messages: must not be negative/);
      expect(msg[3]).to.match(/^type: Invalid discriminator value/);
      expect(msg[5]).to.equal('gateway: "gw-zz" is not in the monitor\'s site map');
      expect(msg[6]).to.match(/^ts: .* is 31000 ms ahead of the monitor's clock \(at most 30000\)$/);
      expect(msg[8]).to.match(/^ts: /);
    });

    it("cannot poison a profile: refused observations change nothing", async () => {
      const m = await driven();
      await m.feed(start("gw-a1", D, T0), traffic("gw-a1", D, T0 + MIN, 5, 500));
      const before = JSON.stringify(m.monitor.profile(D));
      m.clock.now = T0 + 2 * MIN;
      const r = await m.monitor.ingest([
        { ...traffic("gw-a1", D, T0 + 2 * MIN, 5_000, 5e6), intervalMs: 10 }, // malformed interval
        { ...traffic("gw-zz", D, T0 + 2 * MIN, 5_000, 5e6) }, // unknown gateway
        { ...traffic("gw-a1", D, T0 + 3 * 3_600_000, 5_000, 5e6) }, // far in the future
        start("gw-zz", D, T0 + 2 * MIN), // a "clone" from nowhere
      ]);
      expect(r.accepted).to.equal(0);
      expect(JSON.stringify(m.monitor.profile(D))).to.equal(before);
      expect(m.alerts).to.deep.equal([]);
    });

    it("limits each gateway's rate: a flood is cut, another gateway still gets through", async () => {
      const m = await driven({ gatewayRate: { perSecond: 10, burst: 20 } });
      m.clock.now = T0;
      const flood = Array.from({ length: 50 }, (_, k) =>
        refused("gw-a1", dev(1000 + k), T0, "10.0.0.1", "TOKEN_STALE"),
      );
      const r = await m.monitor.ingest([...flood, traffic("gw-b1", D, T0, 1, 10)]);
      expect(r.accepted).to.equal(21);
      expect(r.refused).to.have.length(30);
      expect(r.refused[0]).to.deep.equal({
        index: 20,
        code: "RATE_LIMITED",
        message: 'gateway "gw-a1" sent more than 10 observations/s (burst 20)',
      });
      m.clock.now = T0 + 1_000; // one second refills ten
      const again = await m.monitor.ingest(flood.slice(0, 15).map((o) => ({ ...o, ts: T0 + 1_000 })));
      expect(again.accepted).to.equal(10);
    });

    it("token bucket: capacity, refill per second, never above capacity", () => {
      const b = createTokenBucket(3, 2);
      expect([b.take(0), b.take(0), b.take(0), b.take(0)]).to.deep.equal([true, true, true, false]);
      expect(b.take(499)).to.equal(false);
      expect(b.take(500)).to.equal(true);
      expect(b.available(100_000)).to.equal(3);
      expect(b.take(100_000, 4)).to.equal(false);
    });
  });

  describe("restart", () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "dtl-monitor-test-"))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("keeps profiles and alerts, and replayed observations raise no alert again", async () => {
      let now = T0;
      const open = async () =>
        createMonitor({ params: { sites: SITES }, now: () => now, store: await openMonitorStore(path.join(dir, "m")) });
      const seq = [
        start("gw-a1", D, T0 + 1_000),
        traffic("gw-a1", D, T0 + MIN, 5, 500),
        start("gw-b1", D, T0 + MIN + 5_000),
      ];
      now = T0 + 2 * MIN;
      const first = await open();
      const r1 = await first.ingest(seq);
      expect(r1.alerts.map((a) => [a.seq, a.kind])).to.deep.equal([[1, "clone"]]);
      const profile = JSON.stringify(first.profile(D));
      await first.close();

      const second = await open();
      expect(JSON.stringify(second.profile(D))).to.equal(profile);
      expect(second.lastAlertSeq()).to.equal(1);
      const heard: unknown[] = [];
      second.onAlert((a) => heard.push(a));
      const r2 = await second.ingest(seq); // the gateway's file read again from the start
      expect(r2.alerts).to.deep.equal([]);
      expect(heard).to.deep.equal([]);
      const kept = await second.alerts(0);
      expect(kept.map((a) => [a.seq, a.kind, a.deviceId])).to.deep.equal([[1, "clone", D]]);
      expect(kept[0]!.evidenceHash).to.equal(r1.alerts[0]!.evidenceHash);
      // a new finding after the restart continues the sequence
      now = T0 + 3 * MIN;
      const src = "203.0.113.1";
      const E = dev(2);
      const r3 = await second.ingest([0, 1, 2].map((k) => refused("gw-a1", E, T0 + 2 * MIN + k * 1_000, src)));
      expect(r3.alerts.map((a) => [a.seq, a.kind, a.deviceId])).to.deep.equal([[2, "credential", E]]);
      await second.close();
    });
  });

  describe("risk", () => {
    it("is 0 for an unknown device, in 0..1, and a cleared (reinstated) device's signals stop counting", async () => {
      const m = await driven();
      expect(m.monitor.risk(D)).to.deep.equal({ deviceId: D, score: 0, signals: [] });
      await m.feed(start("gw-a1", D, T0), start("gw-b1", D, T0 + 1_000));
      for (let k = 0; k < 3; k++) await m.feed(refused("gw-a1", D, T0 + 2_000 + k, "203.0.113.2"));
      const r = m.monitor.risk(D);
      expect(r.signals.map((s) => s.kind)).to.deep.equal(["clone", "credential"]);
      expect(r.score).to.be.closeTo(1 - (1 - 0.9) * (1 - 0.6), 0.01);
      // credential evidence fades (half-life 1 h), a clone does not
      expect(m.monitor.risk(D, T0 + 3_600_000 + 2_000).score).to.be.closeTo(1 - 0.1 * 0.7, 0.01);
      await m.monitor.clear(D, T0 + 10_000);
      expect(m.monitor.risk(D)).to.deep.equal({ deviceId: D, score: 0, signals: [] });
    });
  });
});
