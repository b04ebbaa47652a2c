/**
 * The gateway over TLS (issue 12 "Encrypted by default"): a client that is not ours — Debian's
 * mosquitto-clients — connects with `--cafile` and a token made by `dtl device connect-token`;
 * a client that does not trust the gateway's certificate cannot connect; a token bound to one TLS
 * connection (RFC 9266 tls-exporter) is refused on another. The local CA is the one `dtl dev` makes
 * (gateway/tls.ts). `.ci/run` installs mosquitto-clients; tests never apt-get.
 */
import { expect } from "chai";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { MqttClient } from "mqtt";
import { writeDeployment } from "../../scripts/deploy";
import { ensureLocalCa, type LocalCa } from "../../gateway/tls";
import { CONNECT_USERNAME, makeConnectToken } from "../../gateway/token";
import { registerTestDevice, type TestDevice } from "../helpers/api-fixture";
import { startHardhatNode, type NodeHandle } from "../helpers/chain";
import { ensureBuilt, runDtl, startServe, tempDir, waitIndexed, type RunningDtl } from "../helpers/cli-run";
import { deployFleetRegistry } from "../helpers/fleet";
import { startGatewayProcess, type RunningGateway } from "../helpers/gateway-run";

function run(cmd: string, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stderr }),
    );
  });
}

describe("dtl gateway over TLS (mosquitto-clients, channel binding)", function () {
  this.timeout(180_000);
  let node: NodeHandle;
  let tmp: ReturnType<typeof tempDir>;
  let serve: RunningDtl;
  let gw: RunningGateway;
  let ca: LocalCa;
  let dev: TestDevice;
  let port: number;

  before(async function () {
    ensureBuilt();
    tmp = tempDir("dtl-gw-tls-");
    node = await startHardhatNode();
    const fleet = await deployFleetRegistry(node.url);
    const deploymentFile = writeDeployment(fleet.deployment, path.join(tmp.dir, "deployment.json"));
    dev = await registerTestDevice(fleet.actors, { alg: "ed25519", segment: "plant-1" });
    writeFileSync(path.join(tmp.dir, "device.key"), JSON.stringify(dev.pair));
    let apiUrl: string;
    ({ serve, apiUrl } = await startServe(path.join(tmp.dir, "index"), {
      env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile, DTL_LOG_LEVEL: "warn" },
      cwd: tmp.dir,
    }));
    await waitIndexed(apiUrl, node.url);
    ca = ensureLocalCa(path.join(tmp.dir, "tls"));
    gw = await startGatewayProcess(
      [
        "--upstream",
        apiUrl,
        "--id",
        "gw-tls",
        "--tls-cert",
        ca.certFile,
        "--tls-key",
        ca.keyFile,
        "--data-dir",
        path.join(tmp.dir, "gw"),
      ],
      { env: { DTL_LOG_LEVEL: "warn" }, cwd: tmp.dir },
    );
    await gw.ready();
    port = Number(new URL(gw.mqttUrl).port);
  });

  after(async function () {
    await gw?.stop("SIGTERM");
    await serve?.stop();
    await node?.stop();
    tmp?.cleanup();
  });

  const cliToken = async () => {
    const r = await runDtl(
      ["device", "connect-token", "--key", path.join(tmp.dir, "device.key"), "--gateway", "gw-tls", "--device", dev.id],
      { cwd: tmp.dir },
    );
    expect(r.code, r.stderr).to.equal(0);
    return r.stdout.trim();
  };
  const mosquittoPub = (password: string, trust: string[]) =>
    run("mosquitto_pub", [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      ...trust,
      "-V",
      "mqttv311",
      "-i",
      dev.id,
      "-u",
      CONNECT_USERNAME,
      "-P",
      password,
      "-t",
      `dtl/plant-1/${dev.id}/hello`,
      "-m",
      "hi",
    ]);

  it("listens with TLS by default: mqtts in the banner, no plain-MQTT warning", function () {
    expect(gw.mqttUrl).to.match(/^mqtts:\/\/127\.0\.0\.1:\d+$/);
    expect(gw.proc.stderr()).not.to.include("PLAIN MQTT");
  });

  it("admits mosquitto_pub over TLS with --cafile and a token from `dtl device connect-token`", async function () {
    const r = await mosquittoPub(await cliToken(), ["--cafile", ca.caFile]);
    expect(r, r.stderr).to.deep.equal({ code: 0, stderr: "" });
    const admitted = await gw.observed((o) => o.type === "decision" && o.deviceId === dev.id);
    expect(admitted).to.deep.include({ outcome: "admitted", tls: true });
  });

  it("is refused by a client that does not trust the gateway's certificate", async function () {
    const r = await mosquittoPub(await cliToken(), ["--capath", "/etc/ssl/certs"]);
    expect(r.code).to.not.equal(0);
    expect(r.stderr).to.match(/certificate verify failed|Protocol error|A TLS error occurred/);
  });

  it("refuses a channel-bound token replayed on a second TLS connection", async function () {
    const ca_ = readFileSync(ca.caFile);
    const socket = (): Promise<TLSSocket> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({ host: "127.0.0.1", port, ca: ca_, servername: "localhost" }, () => resolve(s));
        s.once("error", reject);
      });
    const exporter = (s: TLSSocket) =>
      "0x" + s.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)).toString("hex");
    const connectOn = (s: TLSSocket, password: string) =>
      new Promise<number>((resolve) => {
        const c = new MqttClient(() => s, {
          clientId: dev.id,
          username: CONNECT_USERNAME,
          password,
          protocolVersion: 4,
          reconnectPeriod: 0,
        });
        c.once("connect", () => c.end(true, () => resolve(0)));
        c.once("error", (err) => {
          c.end(true);
          resolve((err as { code?: number }).code ?? -1);
        });
      });
    const first = await socket();
    const bound = exporter(first);
    const token = JSON.stringify(makeConnectToken(dev.pair, dev.id, "gw-tls", { cb: bound }));
    expect(await connectOn(first, token)).to.equal(0);
    const second = await socket();
    expect(exporter(second)).to.not.equal(bound);
    expect(await connectOn(second, token)).to.equal(4);
    const refused = await gw.observed((o) => o.type === "decision" && o.deviceId === dev.id && o.outcome === "refused");
    expect(refused).to.deep.include({ reasons: ["CHANNEL_BINDING_MISMATCH"], tls: true });
  });
});
