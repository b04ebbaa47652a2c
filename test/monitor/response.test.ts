/**
 * The response path end to end (issue 13) with real processes: a hardhat node, `dtl serve` (its
 * monitor on, a site map, gateway keys), `dtl gateway`, `dtl monitor --observations <the
 * gateway's file> --respond suspend` with the officer's key, and a real MQTT device. A simulated
 * clone (the same device reported at a gateway of another site) → alert → suspension mined
 * (reason AnomalyDetected, the alert's evidence hash in the transaction) → the gateway drops the
 * device → the officer reinstates it → it connects again and the monitor leaves it alone.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import type { MqttClient } from "mqtt";
import { writeDeployment } from "../../scripts/deploy";
import { registerTestDevice, type TestDevice } from "../helpers/api-fixture";
import { HARDHAT_KEYS, startHardhatNode, type NodeHandle } from "../helpers/chain";
import { ensureBuilt, startDtl, startServe, tempDir, waitIndexed, type RunningDtl } from "../helpers/cli-run";
import { deployFleetRegistry, type FleetActors } from "../helpers/fleet";
import { closed, connectDevice, startTestGateway, type RunningGateway } from "../helpers/gateway-run";

const KEY_TEST = "key-of-gw-test-0123456789";
const KEY_FAR = "key-of-gw-far-0123456789";

describe("monitor response path (real processes)", function () {
  this.timeout(240_000);
  let node: NodeHandle;
  let actors: FleetActors;
  let tmp: ReturnType<typeof tempDir>;
  let serve: RunningDtl;
  let apiUrl: string;
  let gw: RunningGateway;
  let monitor: RunningDtl;
  let device: TestDevice;
  const open: MqttClient[] = [];

  const gql = async (query: string, variables: Record<string, unknown> = {}, key?: string) => {
    const res = await fetch(apiUrl, {
      method: "POST",
      headers: { "content-type": "application/json", ...(key && { authorization: `Bearer ${key}` }) },
      body: JSON.stringify({ query, variables }),
    });
    return (await res.json()) as { data?: Record<string, any>; errors?: { message: string }[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const metric = async (pattern: RegExp, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const text = await (await fetch(apiUrl.replace(/\/graphql$/, "/metrics"))).text();
      if (pattern.test(text)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no ${pattern} in /metrics within ${timeoutMs} ms`);
  };

  before(async function () {
    ensureBuilt();
    tmp = tempDir("dtl-monitor-e2e-");
    node = await startHardhatNode();
    const fleet = await deployFleetRegistry(node.url);
    actors = fleet.actors;
    const deploymentFile = writeDeployment(fleet.deployment, path.join(tmp.dir, "deployment.json"));
    device = await registerTestDevice(actors, { alg: "ed25519", segment: "plant-1" });
    const sites = path.join(tmp.dir, "sites.json");
    writeFileSync(sites, JSON.stringify({ gateways: { "gw-test": "site-a", "gw-far": "site-b" } }));
    ({ serve, apiUrl } = await startServe(
      path.join(tmp.dir, "index"),
      {
        env: {
          DTL_RPC_URL: node.url,
          DTL_DEPLOYMENT: deploymentFile,
          DTL_LOG_LEVEL: "warn",
          DTL_MONITOR_GATEWAY_KEYS: `gw-test=${KEY_TEST},gw-far=${KEY_FAR}`,
        },
        cwd: tmp.dir,
      },
      ["--monitor-sites", sites],
    ));
    await waitIndexed(apiUrl, node.url);
    ({ gw } = await startTestGateway(apiUrl, tmp.dir, { maxStalenessSeconds: 600, segments: { "plant-1": {} } }));
    monitor = startDtl(
      ["monitor", "--observations", gw.observationsFile, "--from-start", "--respond", "suspend", "--threshold", "0.8"],
      {
        env: {
          DTL_API_URL: apiUrl,
          DTL_API_KEY: KEY_TEST,
          DTL_RPC_URL: node.url,
          DTL_DEPLOYMENT: deploymentFile,
          DTL_PRIVATE_KEY: HARDHAT_KEYS[4]!, // the fleet's security officer
        },
        cwd: tmp.dir,
      },
    );
    await monitor.waitFor(/responding: suspend/);
  });

  after(async () => {
    await Promise.all(open.map((c) => c.endAsync(true).catch(() => undefined)));
    await monitor?.stop();
    await gw?.stop("SIGTERM");
    await serve?.stop();
    await node?.stop();
    tmp?.cleanup();
  });

  it("clone → alert → suspension mined with the evidence hash → gateway drops it → officer reinstates", async () => {
    const c = await connectDevice(gw.mqttUrl, { deviceId: device.id, pair: device.pair });
    open.push(c);
    // the gateway's session start reached the monitor through dtl monitor --observations
    await metric(/dtl_monitor_observations_total\{type="session"\} 1\b/);
    const gone = closed(c);
    const t0 = Date.now();
    const clone = await gql(
      `mutation R($o: [ObservationInput!]!) { reportObservations(observations: $o) { accepted alerts } }`,
      {
        o: [{ type: "SESSION", event: "start", gateway: "gw-far", deviceId: device.id, ts: new Date().toISOString() }],
      },
      KEY_FAR,
    );
    expect(clone.data).to.deep.equal({ reportObservations: { accepted: 1, alerts: 1 } });
    const droppedAt = await gone;
    console.log(`      alert → suspension mined → gateway disconnect: ${droppedAt - t0} ms`);

    const m = await monitor.waitFor(
      /suspended (0x[0-9a-f]{64}) \(clone, score 0\.9, alert 1\) in block \d+ tx (0x[0-9a-f]{64}) evidence (0x[0-9a-f]{64})/,
    );
    expect(m[1]).to.equal(device.id);
    const tx = (await node.rpc<{ input: string; from: string }>("eth_getTransactionByHash", [m[2]]))!;
    expect(tx.input.endsWith(m[3]!.slice(2))).to.equal(true);
    expect(tx.from.toLowerCase()).to.equal(actors.addresses.officer.toLowerCase());
    const alerts = await gql(`{ alerts(afterSeq: 0) { seq kind deviceId evidenceHash evidence } }`);
    expect(alerts.data!.alerts).to.have.length(1);
    expect(alerts.data!.alerts[0]).to.deep.include({ kind: "CLONE", deviceId: device.id, evidenceHash: m[3] });
    await waitIndexed(apiUrl, node.url);
    const dev = await gql(`query D($id: Bytes32!) { device(id: $id) { status suspension { reason } } }`, {
      id: device.id,
    });
    expect(dev.data!.device).to.deep.equal({ status: "SUSPENDED", suspension: { reason: "ANOMALY_DETECTED" } });

    // the officer looked into it: reinstated on chain → the risk is cleared, the device comes back
    await (await actors.registry.officer.getFunction("reinstateDevice")(device.id)).wait();
    await waitIndexed(apiUrl, node.url);
    const deadline = Date.now() + 10_000;
    let risk = 1;
    while (Date.now() < deadline && risk > 0) {
      risk = (await gql(`query Q($id: Bytes32!) { deviceRisk(id: $id) { score } }`, { id: device.id })).data!.deviceRisk
        .score as number;
      if (risk > 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(risk).to.equal(0);
    await new Promise((r) => setTimeout(r, 1_000)); // the gateway's replica hears of the reinstatement
    const again = await connectDevice(gw.mqttUrl, { deviceId: device.id, pair: device.pair, gateway: "gw-test" });
    open.push(again);
    await metric(/dtl_monitor_observations_total\{type="session"\} [4-9]\b/); // start, end (dropped), clone, start again
    // it reports its firmware (the gateway turns the publish into an observation): the registered one
    await again.publishAsync(`dtl/plant-1/${device.id}/firmware`, device.firmware);
    await metric(/dtl_monitor_observations_total\{type="firmware"\} 1\b/);
    await new Promise((r) => setTimeout(r, 500));
    expect(monitor.stdout().match(/^suspended /gm)).to.have.length(1);
    expect((await gql(`{ alerts(afterSeq: 1) { seq } }`)).data!.alerts).to.deep.equal([]);
    expect(again.connected).to.equal(true);
  });
});
