/**
 * The monitor's public names on the API (issue 13), against a real hardhat node, the real indexer
 * and real HTTP: reportObservations with gateway keys and its refusals, deviceRisk, the alerts SSE
 * stream, the kept alerts, /metrics, policy maxRiskScore → RISK_TOO_HIGH, firmware checked against
 * the index, and a reinstatement on chain clearing the device's risk.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { startApiServer, type ApiServer } from "../../api/server";
import { silentLogger } from "../../common/logger";
import { startMonitorHost } from "../../monitor/host";
import {
  apiFor,
  gql,
  registerTestDevice,
  startApiFixture,
  type ApiFixture,
  type TestDevice,
} from "../helpers/api-fixture";
import { subscribeSse } from "../helpers/api-sse";
import { SITES } from "./helpers";

const KEYS = [
  { gateway: "gw-a1", key: "key-of-gateway-a1-0123456789" },
  { gateway: "gw-b1", key: "key-of-gateway-b1-0123456789" },
  { gateway: "gw-x", key: "key-of-gateway-x-0123456789" },
];
/** A device id no other test reports on: nothing refused may create its profile. */
const FRESH = "0x" + "77".repeat(32);
const auth = (gateway: string) => ({ authorization: `Bearer ${KEYS.find((k) => k.gateway === gateway)!.key}` });
const REPORT = `mutation R($o: [ObservationInput!]!) { reportObservations(observations: $o) { accepted alerts } }`;
const RISK = `query Q($id: Bytes32!) { deviceRisk(id: $id) { deviceId score signals { kind evidence at gateway } } }`;
const VERIFY = `query V($id: Bytes32!, $max: Float) { verifyDevice(id: $id, policy: { maxRiskScore: $max }) { trusted reasons } }`;

describe("monitor on the API", function () {
  this.timeout(120_000);
  let fx: ApiFixture;
  let dir: string;
  let host: Awaited<ReturnType<typeof startMonitorHost>>;
  let server: ApiServer;
  let device: TestDevice;

  before(async () => {
    fx = await startApiFixture();
    dir = mkdtempSync(path.join(tmpdir(), "dtl-monitor-api-"));
    const store = fx.indexer.store;
    const sitesFile = path.join(dir, "sites.json");
    writeFileSync(sitesFile, JSON.stringify({ gateways: SITES, minTravelMinutes: 30 }));
    host = await startMonitorHost({
      dir: path.join(dir, "m"),
      store,
      sitesFile,
      gatewayKeys: KEYS.map((k) => `${k.gateway}=${k.key}`).join(","),
      logger: silentLogger,
      gatewayRate: { perSecond: 50, burst: 200 },
    });
    server = await startApiServer({ store, monitor: host, port: 0 });
    device = await registerTestDevice(fx.actors);
    await fx.sync();
  });
  after(async () => {
    await server?.close();
    await host?.close();
    await fx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const session = (gateway: string, deviceId: string, ts = Date.now()) => ({
    type: "SESSION",
    event: "start",
    gateway,
    deviceId,
    segment: "plant-1/hvac",
    ts: new Date(ts).toISOString(),
  });

  describe("reportObservations refuses", () => {
    it("a request without a gateway key, and observations of another gateway", async () => {
      const api = apiFor(fx, { monitor: host });
      const none = await gql(api, REPORT, { o: [session("gw-a1", device.id)] });
      expect(none.errors?.[0]?.extensions?.code).to.equal("UNAUTHENTICATED");
      const other = await gql(
        api,
        REPORT,
        { o: [session("gw-a1", device.id), session("gw-b1", device.id)] },
        auth("gw-a1"),
      );
      expect(other.errors?.[0]).to.deep.include({
        message: 'observations[1].gateway: "gw-b1" is not the gateway this key belongs to (gw-a1)',
      });
      expect(other.errors?.[0]?.extensions?.code).to.equal("GATEWAY_MISMATCH");
    });

    it("malformed, unknown-gateway, future and flooding batches as a whole, with the field named", async () => {
      const api = apiFor(fx, { monitor: host });
      const bad = await gql(
        api,
        REPORT,
        { o: [session("gw-a1", FRESH), { ...session("gw-a1", "0x12"), type: "SESSION" }] },
        auth("gw-a1"),
      );
      expect(bad.errors?.[0]?.message).to.equal("observations[1].deviceId: must be 0x + 64 hex digits");
      expect(bad.errors?.[0]?.extensions?.code).to.equal("BAD_USER_INPUT");
      const unknown = await gql(api, REPORT, { o: [session("gw-x", FRESH)] }, auth("gw-x"));
      expect(unknown.errors?.[0]?.extensions?.code).to.equal("UNKNOWN_GATEWAY");
      const future = await gql(api, REPORT, { o: [session("gw-a1", FRESH, Date.now() + 3_600_000)] }, auth("gw-a1"));
      expect(future.errors?.[0]?.extensions?.code).to.equal("OBSERVATION_IN_FUTURE");
      expect(future.errors?.[0]?.message).to.match(/^observations\[0\]\.ts: .* ms ahead of the monitor's clock/);
      const flood = Array.from({ length: 201 }, () => ({
        type: "TRAFFIC",
        gateway: "gw-a1",
        deviceId: FRESH,
        ts: new Date().toISOString(),
        intervalMs: 60_000,
        messages: 1,
        bytes: 10,
        topics: ["t"],
      }));
      const flooded = await gql(api, REPORT, { o: flood }, auth("gw-a1"));
      expect(flooded.errors?.[0]?.extensions?.code).to.equal("RATE_LIMITED");
      // nothing of the refused batches reached a profile
      expect(host.engine.profile(FRESH)).to.equal(undefined);
    });
  });

  it("a clone reported by two gateways: SSE alert, deviceRisk, kept alert, metrics, RISK_TOO_HIGH", async () => {
    const api = apiFor(fx, { monitor: host });
    const url = server.url;
    const sub = await subscribeSse<{ data: { alerts: Record<string, unknown> } }>(
      url,
      `subscription { alerts(kinds: [CLONE]) { seq kind deviceId gateway score evidence evidenceHash } }`,
    );
    await new Promise((r) => setTimeout(r, 200));
    const a = await gql(api, REPORT, { o: [session("gw-a1", device.id)] }, auth("gw-a1"));
    expect(a.data).to.deep.equal({ reportObservations: { accepted: 1, alerts: 0 } });
    const trustedBefore = await gql(api, VERIFY, { id: device.id, max: 0.5 });
    expect(trustedBefore.data).to.deep.equal({ verifyDevice: { trusted: true, reasons: [] } });
    const b = await gql(api, REPORT, { o: [session("gw-b1", device.id)] }, auth("gw-b1"));
    expect(b.data).to.deep.equal({ reportObservations: { accepted: 1, alerts: 1 } });
    const pushed = await sub.next();
    sub.close();
    expect(pushed.data.alerts).to.deep.include({ kind: "CLONE", deviceId: device.id, gateway: "gw-b1", score: 0.9 });
    expect(pushed.data.alerts.evidenceHash).to.match(/^0x[0-9a-f]{64}$/);

    const risk = await gql<{ deviceRisk: { score: number; signals: { kind: string; evidence: { why: string } }[] } }>(
      api,
      RISK,
      { id: device.id },
    );
    expect(risk.data!.deviceRisk.score).to.be.closeTo(0.9, 1e-9);
    expect(risk.data!.deviceRisk.signals.map((s) => [s.kind, s.evidence.why])).to.deep.equal([
      ["CLONE", "concurrent sessions at two sites"],
    ]);
    const verdict = await gql(api, VERIFY, { id: device.id, max: 0.5 });
    expect(verdict.data).to.deep.equal({ verifyDevice: { trusted: false, reasons: ["RISK_TOO_HIGH"] } });
    const lenient = await gql(api, VERIFY, { id: device.id, max: 0.95 });
    expect(lenient.data).to.deep.equal({ verifyDevice: { trusted: true, reasons: [] } });
    const badMax = await gql(api, VERIFY, { id: device.id, max: 1.5 });
    expect(badMax.errors?.[0]?.message).to.equal("policy.maxRiskScore: must be from 0 to 1, got 1.5");

    const kept = await gql<{ alerts: { seq: number; kind: string }[] }>(api, `{ alerts(afterSeq: 0) { seq kind } }`);
    expect(kept.data!.alerts.map((x) => x.kind)).to.deep.equal(["CLONE"]);
    const metrics = await (await api.yoga.fetch("http://api.test/metrics")).text();
    expect(metrics).to.match(/dtl_monitor_alerts_total\{kind="clone"\} 1/);
    expect(metrics).to.match(/dtl_monitor_observations_total\{type="session"\} 2/);

    // the officer deals with it: suspended, then reinstated on chain → its signals stop counting
    await (await fx.actors.registry.officer.getFunction("suspendDevice")(device.id, 8)).wait();
    await (await fx.actors.registry.officer.getFunction("reinstateDevice")(device.id)).wait();
    await fx.sync();
    for (let i = 0; host.engine.risk(device.id).score > 0 && i < 100; i++) await new Promise((r) => setTimeout(r, 20));
    const after = await gql<{ deviceRisk: { score: number; signals: unknown[] } }>(api, RISK, { id: device.id });
    expect(after.data!.deviceRisk).to.deep.include({ score: 0, signals: [] });
  });

  it("firmware: the hash reported is checked against the index", async () => {
    const api = apiFor(fx, { monitor: host });
    const other = await registerTestDevice(fx.actors);
    await fx.sync();
    const fw = (hash: string) => ({
      type: "FIRMWARE",
      gateway: "gw-a1",
      deviceId: other.id,
      hash,
      ts: new Date().toISOString(),
    });
    const same = await gql(api, REPORT, { o: [fw(other.firmware)] }, auth("gw-a1"));
    expect(same.data).to.deep.equal({ reportObservations: { accepted: 1, alerts: 0 } });
    const swapped = await gql(api, REPORT, { o: [fw("0x" + "ee".repeat(32))] }, auth("gw-a1"));
    expect(swapped.data).to.deep.equal({ reportObservations: { accepted: 1, alerts: 1 } });
    const risk = await gql<{ deviceRisk: { signals: { kind: string; evidence: { registered: string } }[] } }>(
      api,
      RISK,
      {
        id: other.id,
      },
    );
    expect(risk.data!.deviceRisk.signals.map((s) => [s.kind, s.evidence.registered])).to.deep.equal([
      ["FIRMWARE", other.firmware],
    ]);
  });

  it("without a monitor: MONITOR_DISABLED for its fields and for maxRiskScore", async () => {
    const api = apiFor(fx);
    const r = await gql(api, RISK, { id: device.id });
    expect(r.errors?.[0]?.extensions?.code).to.equal("MONITOR_DISABLED");
    const v = await gql(api, VERIFY, { id: device.id, max: 0.5 });
    expect(v.errors?.[0]?.extensions?.code).to.equal("MONITOR_DISABLED");
  });
});
