/**
 * Each detector on crafted sequences (issue 13): it fires on the attack and stays quiet on the
 * normal twin — hand-overs between gateways of one site, relocations slower than travel allows,
 * stray failed proofs, daily cycles, firmware updates registered before they are reported.
 */
import { expect } from "chai";
import { DEFAULT_DETECTOR_PARAMS } from "../../monitor/detectors";
import { MIN, T0, dev, driven, end, refused, start, traffic } from "./helpers";

const HOUR = 60 * MIN;
const D = dev(1);

describe("monitor detectors", () => {
  describe("clone", () => {
    it("fires when one device holds sessions at two sites at once", async () => {
      const m = await driven();
      await m.feed(start("gw-a1", D, T0 + 1_000));
      const alerts = await m.feed(start("gw-b1", D, T0 + 5_000));
      expect(alerts.map((a) => [a.kind, a.deviceId, a.evidence.why])).to.deep.equal([
        ["clone", D, "concurrent sessions at two sites"],
      ]);
      expect(alerts[0]!.evidence.gateways).to.deep.equal(["gw-a1", "gw-b1"]);
      expect(m.monitor.risk(D).score).to.be.greaterThan(0.85);
    });

    it("fires on travel between sites faster than allowed, not on a slower relocation", async () => {
      const m = await driven();
      await m.feed(start("gw-a1", D, T0), end("gw-a1", D, T0 + HOUR));
      const fast = await m.feed(start("gw-b1", D, T0 + HOUR + 5 * MIN));
      expect(fast.map((a) => a.evidence.why)).to.deep.equal(["impossible travel"]);

      const twin = await driven();
      const E = dev(2);
      await twin.feed(start("gw-a1", E, T0), end("gw-a1", E, T0 + HOUR));
      expect(await twin.feed(start("gw-b1", E, T0 + HOUR + DEFAULT_DETECTOR_PARAMS.minTravelMs + 1))).to.deep.equal([]);
    });

    it("stays quiet on hand-overs within a site, graceful or abrupt (old session ends after the new starts)", async () => {
      const m = await driven();
      await m.feed(start("gw-a1", D, T0), traffic("gw-a1", D, T0 + MIN, 5, 500));
      // graceful: end, then start at the other gateway
      await m.feed(end("gw-a1", D, T0 + 90_000), start("gw-a2", D, T0 + 92_000));
      // abrupt: the new session starts, the old one stays open (silent) until its keep-alive timeout
      await m.feed(start("gw-a1", D, T0 + 10 * MIN));
      for (let k = 11; k <= 11; k++)
        await m.feed(traffic("gw-a1", D, T0 + k * MIN, 4, 400), traffic("gw-a2", D, T0 + k * MIN, 0, 0));
      await m.feed(end("gw-a2", D, T0 + 11 * MIN + 20_000));
      for (let k = 12; k < 30; k++) await m.feed(traffic("gw-a1", D, T0 + k * MIN, 5, 500));
      expect(m.alerts).to.deep.equal([]);
    });

    it("fires when two sessions within one site both carry messages after the newer one started", async () => {
      const m = await driven();
      await m.feed(start("gw-a1", D, T0), traffic("gw-a1", D, T0 + MIN, 5, 500));
      await m.feed(start("gw-a2", D, T0 + MIN + 10_000));
      expect(await m.feed(traffic("gw-a2", D, T0 + 2 * MIN, 3, 300))).to.deep.equal([]); // the new one talking is fine
      // the old session's next full interval began after the clone connected: two devices
      const alerts = await m.feed(traffic("gw-a1", D, T0 + 3 * MIN, 5, 500));
      expect(alerts.map((a) => a.evidence.why)).to.deep.equal(["two sessions carrying messages at once"]);
    });

    it("fires when an overlap within a site outlives the hand-over grace", async () => {
      const m = await driven();
      await m.feed(start("gw-a1", D, T0), start("gw-a2", D, T0 + 1_000));
      expect(
        await m.feed(traffic("gw-a2", D, T0 + 1_000 + DEFAULT_DETECTOR_PARAMS.handoverGraceMs, 1, 50)),
      ).to.deep.equal([]);
      const alerts = await m.feed(traffic("gw-a2", D, T0 + 2_000 + DEFAULT_DETECTOR_PARAMS.handoverGraceMs, 1, 50));
      expect(alerts.map((a) => a.evidence.why)).to.deep.equal([
        "sessions at two gateways outlived the hand-over grace",
      ]);
    });
  });

  describe("credential", () => {
    it("fires on a burst of failed proofs for one device, not on the same failures spread out or on stale tokens", async () => {
      const m = await driven();
      const src = "203.0.113.9";
      await m.feed(refused("gw-a1", D, T0, src), refused("gw-a1", D, T0 + 2_000, src));
      const alerts = await m.feed(refused("gw-a1", D, T0 + 4_000, src));
      expect(alerts.map((a) => [a.kind, a.deviceId, a.evidence.failures])).to.deep.equal([["credential", D, 3]]);

      const twin = await driven();
      const E = dev(2);
      for (let k = 0; k < 6; k++) await twin.feed(refused("gw-a1", E, T0 + k * 2 * MIN, "10.0.0.1"));
      for (let k = 0; k < 6; k++)
        await twin.feed(refused("gw-a1", E, T0 + HOUR + k * 1_000, "10.0.0.1", "TOKEN_STALE"));
      expect(twin.alerts).to.deep.equal([]);
    });

    it("fires on stuffing from one source address across devices, naming the devices tried", async () => {
      const m = await driven();
      const src = "198.51.100.7";
      for (let k = 0; k < 9; k++) await m.feed(refused("gw-b1", dev(100 + k), T0 + k * 500, src));
      expect(m.alerts).to.deep.equal([]);
      const alerts = await m.feed(refused("gw-b1", dev(200), T0 + 9 * 500, src, "KEY_MISMATCH"));
      expect(alerts.map((a) => [a.kind, a.source, (a.evidence.devices as string[]).length])).to.deep.equal([
        ["credential", src, 10],
      ]);
      expect(m.monitor.risk(dev(100)).score).to.be.greaterThan(0);
    });
  });

  describe("drift", () => {
    /** An actuator: ~6 messages a minute of ~120 bytes from 07:00 to 19:00 UTC, silent at night. */
    const normal = (ts: number, k: number): Record<string, unknown> => {
      const h = new Date(ts).getUTCHours();
      const day = h >= 7 && h < 19;
      const n = day ? 5 + (k % 3) : 0;
      return traffic("gw-a1", D, ts, n, n * (115 + (k % 11)), k % 2 ? ["state"] : ["ack"]);
    };
    const learnedDay = async () => {
      const m = await driven();
      await m.feed(start("gw-a1", D, T0));
      for (let k = 1; k <= 1440; k++) await m.feed(normal(T0 + k * MIN, k));
      expect(m.alerts, "warm-up").to.deep.equal([]);
      return m;
    };

    it("stays quiet through a second day of the same daily cycle", async () => {
      const m = await learnedDay();
      for (let k = 1441; k <= 2880; k++) await m.feed(normal(T0 + k * MIN, k));
      expect(m.alerts).to.deep.equal([]);
    });

    it("fires on rate drift (sustained, not one interval)", async () => {
      const m = await learnedDay();
      const t = T0 + 1440 * MIN + 12 * HOUR;
      expect(await m.feed(traffic("gw-a1", D, t, 60, 60 * 120, ["state"]))).to.deep.equal([]);
      await m.feed(traffic("gw-a1", D, t + MIN, 60, 60 * 120, ["state"]));
      const alerts = await m.feed(traffic("gw-a1", D, t + 2 * MIN, 60, 60 * 120, ["state"]));
      expect(alerts.map((a) => [a.kind, a.evidence.why])).to.deep.equal([["drift", "rate out of profile"]]);
    });

    it("fires on payload size drift and on activity in the device's silent hours", async () => {
      const m = await learnedDay();
      const noon = T0 + 1440 * MIN + 12 * HOUR;
      for (let k = 0; k < 3; k++) await m.feed(traffic("gw-a1", D, noon + k * MIN, 6, 6 * 900, ["state"]));
      expect(m.alerts.map((a) => a.evidence.why)).to.deep.equal(["size out of profile"]);
      const n = await learnedDay();
      const night = T0 + 1440 * MIN + 2 * HOUR;
      for (let k = 0; k < 6; k++) await n.feed(traffic("gw-a1", D, night + k * MIN, 3, 3 * 120, ["state"]));
      expect(n.alerts.map((a) => a.evidence.why)).to.deep.equal(["activity in a silent hour out of profile"]);
    });

    it("fires on a topic the device never used, seen in several intervals; one stray use is not enough", async () => {
      const m = await learnedDay();
      const t = T0 + 1440 * MIN + 10 * HOUR;
      await m.feed(traffic("gw-a1", D, t, 5, 600, ["state", "shell"]));
      await m.feed(traffic("gw-a1", D, t + MIN, 5, 600, ["state"]));
      expect(m.alerts).to.deep.equal([]);
      await m.feed(traffic("gw-a1", D, t + 2 * MIN, 5, 600, ["shell"]));
      await m.feed(traffic("gw-a1", D, t + 3 * MIN, 5, 600, ["shell"]));
      expect(m.alerts.map((a) => [a.evidence.why, a.evidence.topic])).to.deep.equal([
        ["topic never seen in the profile", "shell"],
      ]);
    });

    it("does not learn out-of-profile intervals: a long hijack stays out of profile after the cool-down", async () => {
      const m = await learnedDay();
      const t = T0 + 1440 * MIN + 9 * HOUR;
      for (let k = 0; k < 90; k++) await m.feed(traffic("gw-a1", D, t + k * MIN, 60, 60 * 120, ["state"]));
      const before = m.monitor.profile(D)!.rateBins.join(",");
      for (let k = 90; k < 130; k++) await m.feed(traffic("gw-a1", D, t + k * MIN, 60, 60 * 120, ["state"]));
      expect(m.monitor.profile(D)!.rateBins.join(",")).to.equal(before);
      // raised again after each 1 h cool-down (minutes 2, 62, 122): it never became the profile
      expect(m.alerts.map((a) => a.kind)).to.deep.equal(["drift", "drift", "drift"]);
    });
  });

  describe("firmware", () => {
    const H1 = "0x" + "11".repeat(32);
    const H2 = "0x" + "22".repeat(32);
    it("fires when the reported hash is not the registered one; quiet when equal or updated on chain first", async () => {
      const registered = new Map([[D, H1]]);
      const m = await driven({ firmwareOf: (id) => registered.get(id) });
      const fw = (hash: string, ts: number) => ({ type: "firmware", gateway: "gw-a1", deviceId: D, hash, ts });
      expect(await m.feed(fw(H1, T0))).to.deep.equal([]);
      registered.set(D, H2); // a legitimate update: registered before the device reports it
      expect(await m.feed(fw(H2, T0 + MIN))).to.deep.equal([]);
      const alerts = await m.feed(fw(H1.toUpperCase().replace("0X", "0x"), T0 + 2 * MIN));
      expect(alerts.map((a) => [a.kind, a.evidence.reported, a.evidence.registered])).to.deep.equal([
        ["firmware", H1, H2],
      ]);
    });
  });
});
