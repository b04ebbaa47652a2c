/**
 * The gateway without its upstream (DESIGN §11, issue 12 "Offline"): with `dtl serve` killed the
 * gateway keeps deciding from its replica until the policy's maxStalenessSeconds, then refuses
 * everything with STALE_INDEX (connected devices are dropped at that instant, ±1 s); when the
 * upstream comes back it catches up — a revocation mined while it was away is applied, nothing
 * else is lost — and admits again. Also: a policy reload on SIGHUP re-evaluates connected devices,
 * and a bad policy file is refused while the old policy stays.
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { MqttClient } from "mqtt";
import { writeDeployment } from "../../scripts/deploy";
import { registerTestDevice, type TestDevice } from "../helpers/api-fixture";
import { startHardhatNode, type NodeHandle } from "../helpers/chain";
import { ensureBuilt, startServe, tempDir, waitIndexed, type RunningDtl } from "../helpers/cli-run";
import { deployFleetRegistry, type FleetActors } from "../helpers/fleet";
import { closed, connectDevice, refusedWith, startTestGateway, type RunningGateway } from "../helpers/gateway-run";

const MAX_STALENESS_S = 3;

describe("dtl gateway offline: staleness bound and recovery (real processes)", function () {
  this.timeout(180_000);
  let node: NodeHandle;
  let actors: FleetActors;
  let tmp: ReturnType<typeof tempDir>;
  let serve: RunningDtl;
  let apiUrl: string;
  let deploymentFile: string;
  let gw: RunningGateway;
  let policyFile: string;
  const open: MqttClient[] = [];
  const dev: Record<string, TestDevice> = {};

  const connect = async (d: TestDevice) => {
    const c = await connectDevice(gw.mqttUrl, { deviceId: d.id, pair: d.pair });
    open.push(c);
    return c;
  };
  const refusal = async (d: TestDevice) => {
    const code = await refusedWith(connectDevice(gw.mqttUrl, { deviceId: d.id, pair: d.pair }));
    // the observation lands just after the CONNACK: wait for it
    for (let i = 0; i < 100; i++) {
      const mine = gw.observations().filter((o) => o.type === "decision" && o.clientId === d.id);
      const last = mine[mine.length - 1] as { outcome: string; reasons: string[] } | undefined;
      if (last?.outcome === "refused") return { code, reasons: last.reasons };
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error("no refusal observed");
  };
  const startApi = async (port = "0") => {
    ({ serve, apiUrl } = await startServe(
      path.join(tmp.dir, "index"),
      { env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile, DTL_LOG_LEVEL: "warn" }, cwd: tmp.dir },
      ["--port", port],
    ));
    await waitIndexed(apiUrl, node.url);
  };

  before(async function () {
    ensureBuilt();
    tmp = tempDir("dtl-gw-off-");
    node = await startHardhatNode();
    const fleet = await deployFleetRegistry(node.url);
    actors = fleet.actors;
    deploymentFile = writeDeployment(fleet.deployment, path.join(tmp.dir, "deployment.json"));
    for (const name of ["a", "b", "c", "d"]) dev[name] = await registerTestDevice(actors, { alg: "ed25519" });
    await startApi();
    ({ gw, policyFile } = await startTestGateway(apiUrl, tmp.dir, { maxStalenessSeconds: MAX_STALENESS_S }));
  });

  after(async function () {
    await Promise.all(open.map((c) => c.endAsync(true).catch(() => undefined)));
    await gw?.stop("SIGTERM");
    await serve?.stop();
    await node?.stop();
    tmp?.cleanup();
  });

  it("keeps deciding from the replica, refuses all with STALE_INDEX at the bound (±1 s), recovers with what it missed", async function () {
    const connected = await connect(dev.a!);
    const port = new URL(apiUrl).port;
    await serve.stop("SIGKILL");
    const dropped = closed(connected);
    // the gateway's own measure of its last contact with the upstream: it computed the age between
    // the moment the request went out and the moment the answer came back, so its last contact lies
    // between (sent − age) and (received − age) — on a busy machine that window is some ms wide
    const sent = Date.now();
    const age = ((await (await fetch(`${gw.httpUrl}/readyz`)).json()) as { replicaAgeSeconds: number })
      .replicaAgeSeconds;
    const received = Date.now();
    // within the bound: still deciding, from the replica
    const early = await connect(dev.b!);
    expect(early.connected).to.equal(true);
    await early.endAsync();
    // a revocation the gateway cannot hear of while its upstream is down
    await (await actors.registry.officer.getFunction("revokeDevice")(dev.c!.id, 1)).wait();
    const at = await dropped;
    const bound = MAX_STALENESS_S * 1000 - age * 1000;
    // the error (first refusal − the configured bound) is at least `earliest` and at most `latest`
    const [earliest, latest] = [at - (received + bound), at - (sent + bound)];
    console.log(`      stalenessBoundErrorMs ${Math.round(earliest)}..${Math.round(latest)}`);
    expect(latest, "dropped before the bound").to.be.at.least(0);
    expect(earliest, "dropped more than 1 s after the bound").to.be.at.most(1000);
    expect(await refusal(dev.b!)).to.deep.equal({ code: 5, reasons: ["STALE_INDEX"] });
    expect((await fetch(`${gw.httpUrl}/readyz`)).status).to.equal(503);
    const end = await gw.observed((o) => o.type === "session" && o.event === "end" && o.deviceId === dev.a!.id);
    expect(end).to.deep.include({ cause: "stale", reasons: ["STALE_INDEX"] });

    // the upstream returns (same port, same index): the gateway catches up and admits again
    await startApi(port);
    await gw.ready();
    const back = await connect(dev.b!);
    expect(back.connected).to.equal(true);
    await back.endAsync();
    expect(await refusal(dev.c!)).to.deep.equal({ code: 5, reasons: ["REVOKED"] });
  });

  it("re-evaluates connected devices on SIGHUP with the new policy, and keeps the old one when the file is bad", async function () {
    const c = await connect(dev.d!);
    writeFileSync(policyFile, JSON.stringify({ maxStalenessSeconds: "soon" }));
    gw.proc.proc.kill("SIGHUP");
    await gw.proc.waitFor(/policy NOT reloaded, keeping the previous one: .*maxStalenessSeconds: Expected number/);
    expect(c.connected).to.equal(true);
    const gone = closed(c);
    writeFileSync(
      policyFile,
      JSON.stringify({
        maxStalenessSeconds: MAX_STALENESS_S,
        segments: { "*": { trust: { requiredAttestations: ["firmware"] } } },
      }),
    );
    gw.proc.proc.kill("SIGHUP");
    await gone;
    const end = await gw.observed((o) => o.type === "session" && o.event === "end" && o.deviceId === dev.d!.id);
    expect(end).to.deep.include({ cause: "policy_reload", reasons: ["ATTESTATION_MISSING"] });
    expect(await refusal(dev.d!)).to.deep.equal({ code: 5, reasons: ["ATTESTATION_MISSING"] });
  });
});
