/**
 * The edge gateway end to end (DESIGN §11): a real hardhat node, `dtl serve` as the upstream, a
 * `dtl gateway` process (real aedes broker, real LevelDB replica) and real MQTT clients (mqtt.js).
 * Admission for every key algorithm; a refusal for each verdict reason the fleet can show and for
 * each token fault; 1,000 seeded malformed CONNECTs; topic ACLs; a revocation and an attestation
 * expiry while connected. The reasons are read from the observations file the gateway writes.
 */
import { expect } from "chai";
import path from "node:path";
import { encodeBytes32String } from "ethers";
import type { MqttClient } from "mqtt";
import { KEY_ALGORITHM_LIST } from "../../common/codes";
import { generateKeyPair } from "../../common/keys";
import { MANUFACTURER_ROLE, attesterRole } from "../../common/roles";
import { writeDeployment } from "../../scripts/deploy";
import { makeConnectToken } from "../../gateway/token";
import { registerTestDevice, type TestDevice } from "../helpers/api-fixture";
import { startHardhatNode, type NodeHandle } from "../helpers/chain";
import { ensureBuilt, startServe, tempDir, waitIndexed, type RunningDtl } from "../helpers/cli-run";
import { deployFleetRegistry, testHash, type FleetActors } from "../helpers/fleet";
import { closed, connectDevice, refusedWith, startTestGateway, type RunningGateway } from "../helpers/gateway-run";
import { prng, testSeed } from "../helpers/seed";

const GOOD_FIRMWARE = testHash("fw/good");

const POLICY = {
  maxStalenessSeconds: 600,
  segments: {
    "plant-1": {},
    "plant-2": { trust: { requiredAttestations: ["firmware"] }, publish: ["dtl/plant-2/shared/#"] },
    "plant-3": { trust: { requiredAttestations: ["iec62443"] } },
    pq: { trust: { requirePostQuantum: true } },
    fw: { trust: { allowedFirmware: [GOOD_FIRMWARE] } },
  },
};

describe("dtl gateway (MQTT broker, real processes)", function () {
  this.timeout(180_000);
  let node: NodeHandle;
  let actors: FleetActors;
  let tmp: ReturnType<typeof tempDir>;
  let serve: RunningDtl;
  let apiUrl: string;
  let gw: RunningGateway;
  const open: MqttClient[] = [];
  const byAlg: Record<string, TestDevice> = {};
  const d: Record<string, TestDevice> = {};

  const mined = async (p: Promise<{ wait(): Promise<unknown> }>) => {
    await (await p).wait();
    await waitIndexed(apiUrl, node.url);
  };
  const connect = async (dev: TestDevice, extra: Parameters<typeof connectDevice>[1] | object = {}) => {
    const c = await connectDevice(gw.mqttUrl, { deviceId: dev.id, pair: dev.pair, ...extra });
    open.push(c);
    return c;
  };
  /** How many decisions the gateway has observed so far. */
  const decisions = () => gw.observations().filter((o) => o.type === "decision").length;
  /**
   * The last decision the gateway observed for `clientId`, once it has observed more than `seen`
   * decisions (the file is written asynchronously: the line may land just after the CONNACK).
   */
  const lastDecision = async (clientId: string, seen: number) => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const all = gw.observations().filter((o) => o.type === "decision");
      if (all.length > seen || Date.now() > deadline) {
        const mine = all.filter((o) => o.clientId === clientId);
        return mine[mine.length - 1] as { outcome: string; reasons: string[] } | undefined;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  /** Retries `check` until it holds (the gateway hears of a change through SSE or a heartbeat). */
  const eventually = async <T>(check: () => Promise<T>, timeoutMs = 10_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await check();
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const refusedFor = async (dev: TestDevice, reasons: string[], code = 5) => {
    const seen = decisions();
    expect(await refusedWith(connectDevice(gw.mqttUrl, { deviceId: dev.id, pair: dev.pair }))).to.equal(code);
    expect(await lastDecision(dev.id, seen)).to.deep.include({ outcome: "refused", reasons });
  };

  before(async function () {
    ensureBuilt();
    tmp = tempDir("dtl-gw-");
    node = await startHardhatNode();
    const fleet = await deployFleetRegistry(node.url);
    actors = fleet.actors;
    const deploymentFile = writeDeployment(fleet.deployment, path.join(tmp.dir, "deployment.json"));
    for (const alg of KEY_ALGORITHM_LIST) byAlg[alg] = await registerTestDevice(actors, { alg, segment: "plant-1" });
    d.revoked = await registerTestDevice(actors, { alg: "ed25519", segment: "plant-1" });
    d.suspended = await registerTestDevice(actors, { alg: "ed25519", segment: "plant-1" });
    d.otherSegment = await registerTestDevice(actors, { alg: "ed25519", segment: "plant-9" });
    d.noAttestation = await registerTestDevice(actors, { alg: "ed25519", segment: "plant-2" });
    d.attested = await registerTestDevice(actors, { alg: "ed25519", segment: "plant-2" });
    d.iec = await registerTestDevice(actors, { alg: "p256", segment: "plant-3" });
    d.classical = await registerTestDevice(actors, { alg: "ed25519", segment: "pq" });
    d.badFirmware = await registerTestDevice(actors, { alg: "ed25519", segment: "fw" });
    d.maker2 = await registerTestDevice(actors, { alg: "ed25519", segment: "plant-1", by: "manufacturer2" });
    d.peer = await registerTestDevice(actors, { alg: "ed25519", segment: "plant-1" });
    d.watched = await registerTestDevice(actors, { alg: "ed25519", segment: "plant-1" });
    const reg = actors.registry;
    await (await reg.officer.getFunction("revokeDevice")(d.revoked.id, 1)).wait();
    await (await reg.officer.getFunction("suspendDevice")(d.suspended.id, 8)).wait();
    const firmware = encodeBytes32String("firmware");
    const iec = encodeBytes32String("iec62443");
    await (await reg.attester.getFunction("attest")(d.attested.id, firmware, testHash("ev"), 0)).wait();
    await (await reg.attester.getFunction("attest")(d.iec.id, iec, testHash("ev"), 0)).wait();
    ({ serve, apiUrl } = await startServe(path.join(tmp.dir, "index"), {
      env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile, DTL_LOG_LEVEL: "warn" },
      cwd: tmp.dir,
    }));
    await waitIndexed(apiUrl, node.url);
    ({ gw } = await startTestGateway(apiUrl, tmp.dir, POLICY));
  });

  after(async function () {
    await Promise.all(open.map((c) => c.endAsync(true).catch(() => undefined)));
    await gw?.stop("SIGTERM");
    await serve?.stop();
    await node?.stop();
    tmp?.cleanup();
  });

  it("announces where it listens, says loudly that MQTT is plain, and names its upstream", function () {
    expect(gw.proc.stderr()).to.match(
      new RegExp(
        `^dtl gateway gw-test: MQTT at mqtt://127\\.0\\.0\\.1:\\d+ — PLAIN MQTT, NOT ENCRYPTED \\(--insecure-plain\\); ops at http://127\\.0\\.0\\.1:\\d+; upstreams ${apiUrl.replace(/[/.]/g, "\\$&")}; `,
      ),
    );
  });

  describe("admission", function () {
    for (const alg of KEY_ALGORITHM_LIST) {
      it(`admits a trusted ${alg} device with a token signed by its key`, async function () {
        const dev = byAlg[alg]!;
        const seen = decisions();
        const c = await connect(dev);
        expect(c.connected).to.equal(true);
        expect(await lastDecision(dev.id, seen)).to.deep.include({ outcome: "admitted", reasons: [] });
        await c.endAsync();
      });
    }

    it("refuses with every verdict reason that applies (read from the observations)", async function () {
      await refusedFor(d.revoked!, ["REVOKED"]);
      await refusedFor(d.suspended!, ["SUSPENDED"]);
      await refusedFor(d.otherSegment!, ["SEGMENT_NOT_ALLOWED"]);
      await refusedFor(d.noAttestation!, ["ATTESTATION_MISSING"]);
      await refusedFor(d.classical!, ["KEY_NOT_POST_QUANTUM"]);
      await refusedFor(d.badFirmware!, ["FIRMWARE_NOT_ALLOWED"]);
      const unknown = { ...byAlg.ed25519!, id: testHash("never-registered") };
      await refusedFor(unknown, ["NOT_REGISTERED"]);
    });

    it("refuses another device's key (KEY_MISMATCH) and a bad signature (BAD_SIGNATURE)", async function () {
      const dev = byAlg.ed25519!;
      const other = generateKeyPair("ed25519");
      let seen = decisions();
      expect(await refusedWith(connectDevice(gw.mqttUrl, { deviceId: dev.id, pair: other }))).to.equal(5);
      expect(await lastDecision(dev.id, seen)).to.deep.include({ outcome: "refused", reasons: ["KEY_MISMATCH"] });
      const token = makeConnectToken(dev.pair, dev.id, "gw-test");
      const flipped = token.sig.slice(0, -2) + (token.sig.endsWith("00") ? "01" : "00");
      const password = JSON.stringify({ ...token, sig: flipped });
      seen = decisions();
      expect(await refusedWith(connectDevice(gw.mqttUrl, { deviceId: dev.id, password }))).to.equal(5);
      expect(await lastDecision(dev.id, seen)).to.deep.include({ outcome: "refused", reasons: ["BAD_SIGNATURE"] });
    });

    it("refuses another gateway's token, a token older than 30 s, a replayed nonce, a wrong username or clientId", async function () {
      const dev = byAlg.p256!;
      const token = (opts: Parameters<typeof makeConnectToken>[3] = {}, gateway = "gw-test") =>
        JSON.stringify(makeConnectToken(dev.pair, dev.id, gateway, opts));
      const cases: [string, Parameters<typeof connectDevice>[1], string][] = [
        ["TOKEN_WRONG_GATEWAY", { deviceId: dev.id, password: token({}, "gw-other") }, dev.id],
        ["TOKEN_STALE", { deviceId: dev.id, password: token({ ts: Date.now() - 31_000 }) }, dev.id],
        ["TOKEN_STALE", { deviceId: dev.id, password: token({ ts: Date.now() + 31_000 }) }, dev.id],
        ["BAD_USERNAME", { deviceId: dev.id, password: token(), username: "admin" }, dev.id],
        ["CLIENT_ID_MISMATCH", { deviceId: dev.id, password: token(), clientId: d.peer!.id }, d.peer!.id],
      ];
      for (const [reason, opts, clientId] of cases) {
        const seen = decisions();
        expect(await refusedWith(connectDevice(gw.mqttUrl, opts)), reason).to.equal(4);
        expect(await lastDecision(clientId, seen), reason).to.deep.include({ outcome: "refused", reasons: [reason] });
      }
      const once = token();
      const first = await connectDevice(gw.mqttUrl, { deviceId: dev.id, password: once });
      await first.endAsync();
      const seen = decisions();
      expect(await refusedWith(connectDevice(gw.mqttUrl, { deviceId: dev.id, password: once }))).to.equal(4);
      expect(await lastDecision(dev.id, seen)).to.deep.include({ outcome: "refused", reasons: ["TOKEN_REPLAYED"] });
    });

    it("refuses 1,000 generated malformed CONNECTs, every one, and keeps serving", async function () {
      const rand = prng(testSeed());
      const dev = byAlg.ed25519!;
      const good = makeConnectToken(dev.pair, dev.id, "gw-test") as unknown as Record<string, unknown>;
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const junk = (n: number) =>
        Array.from({ length: n }, () => String.fromCharCode(32 + Math.floor(rand() * 95))).join("");
      const hex = (n: number) => "0x" + Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join("");
      const mutations: (() => string)[] = [
        () => junk(1 + Math.floor(rand() * 200)),
        () => JSON.stringify(good).slice(0, Math.floor(rand() * JSON.stringify(good).length)),
        () => JSON.stringify({ ...good, [pick(Object.keys(good))]: pick([null, 7, "", [], {}, junk(10), hex(64)]) }),
        () => {
          const copy = { ...good };
          delete copy[pick(Object.keys(good))];
          return JSON.stringify(copy);
        },
        () => JSON.stringify({ ...good, extra: junk(5) }),
        () => JSON.stringify({ ...good, alg: pick(["rsa", "ED25519", "", "ed448"]) }),
        () => JSON.stringify({ ...good, publicKey: hex(2 * (1 + Math.floor(rand() * 40))) }),
        () => JSON.stringify({ ...good, ts: pick([-1, 1.5, "now", 1e300]) }),
        () => JSON.stringify({ ...good, nonce: pick(["", "short", junk(70), "a b c d e f g h"]) }),
        () => JSON.stringify({ ...good, sig: hex(2 * (1 + Math.floor(rand() * 100))) }),
        () => JSON.stringify({ ...good, deviceId: hex(64), nonce: `n${Math.floor(rand() * 1e9)}x` }),
        () => "[" + JSON.stringify(good) + "]",
      ];
      const codes: number[] = [];
      for (let batch = 0; batch < 50; batch++) {
        codes.push(
          ...(await Promise.all(
            Array.from({ length: 20 }, () => {
              const password = pick(mutations)();
              return refusedWith(connectDevice(gw.mqttUrl, { deviceId: dev.id, password }));
            }),
          )),
        );
      }
      expect(codes).to.have.length(1000);
      expect(codes.filter((c) => c !== 4 && c !== 5)).to.deep.equal([]);
      const c = await connect(dev);
      expect(c.connected).to.equal(true);
      await c.endAsync();
    });
  });

  describe("topic ACLs", function () {
    it("lets a device use its own topics and its segment's broadcast, refuses the rest and counts it", async function () {
      const dev = d.peer!;
      const c = await connect(dev);
      const own = `dtl/plant-1/${dev.id}`;
      // mqtt.js rejects a SUBACK with a refused filter; the granted codes travel on the error
      const suback = (topics: string[]) =>
        c.subscribeAsync(topics).then(
          (gs) => gs.map((g) => g.qos),
          (err: { packet?: { granted?: number[] } }) => err.packet?.granted ?? [],
        );
      const grants = await suback([
        `${own}/#`,
        "dtl/plant-1/broadcast/#",
        `dtl/plant-1/${byAlg.ed25519!.id}/#`,
        "dtl/plant-2/broadcast/#",
        "$SYS/#",
        "#",
      ]);
      expect(grants).to.deep.equal([0, 0, 128, 128, 128, 128]);
      const got = new Promise<string>((resolve) => c.once("message", (topic) => resolve(topic)));
      await c.publishAsync(`${own}/telemetry`, "21.5");
      expect(await got).to.equal(`${own}/telemetry`);
      // a publish outside its topics is refused: MQTT 3.1.1 cannot say so, the gateway closes the connection
      const gone = closed(c);
      c.publish(`dtl/plant-1/${byAlg.ed25519!.id}/telemetry`, "spoof", { qos: 1 });
      await gone;
      const metrics = await gw.metrics();
      expect(metrics).to.match(/dtl_gateway_acl_refusals_total\{action="subscribe"\} [4-9]/);
      expect(metrics).to.match(/dtl_gateway_acl_refusals_total\{action="publish"\} [1-9]/);
      const refused = gw.observations().filter((o) => o.type === "acl" && o.deviceId === dev.id);
      expect(refused.map((o) => `${String(o.action)} ${String(o.topic)}`)).to.deep.equal([
        `subscribe dtl/plant-1/${byAlg.ed25519!.id}/#`,
        "subscribe dtl/plant-2/broadcast/#",
        "subscribe $SYS/#",
        "subscribe #",
        `publish dtl/plant-1/${byAlg.ed25519!.id}/telemetry`,
      ]);
    });

    it("lets a segment's extra publish rule through (plant-2: dtl/plant-2/shared/#)", async function () {
      const c = await connect(d.attested!);
      await c.publishAsync("dtl/plant-2/shared/alarms", "on", { qos: 1 });
      expect(c.connected).to.equal(true);
      await c.endAsync();
    });
  });

  describe("continuous verification", function () {
    it("disconnects a connected device when it is revoked, and refuses its reconnect", async function () {
      const dev = d.watched!;
      const c = await connect(dev);
      const gone = closed(c);
      await (await actors.registry.officer.getFunction("revokeDevice")(dev.id, 1)).wait();
      const minedAt = Date.now();
      const at = await gone;
      expect(at - minedAt).to.be.below(2_000);
      const end = await gw.observed((o) => o.type === "session" && o.event === "end" && o.deviceId === dev.id);
      expect(end).to.deep.include({ cause: "device_changed", reasons: ["REVOKED"] });
      await refusedFor(dev, ["REVOKED"]);
    });

    it("disconnects a device when its manufacturer loses the role (heartbeat), admits it again when restored", async function () {
      const dev = d.maker2!;
      const c = await connect(dev);
      const gone = closed(c);
      await mined(actors.registry.admin.getFunction("revokeRole")(MANUFACTURER_ROLE, actors.addresses.manufacturer2));
      await gone;
      await refusedFor(dev, ["MANUFACTURER_NOT_TRUSTED"]);
      await mined(actors.registry.admin.getFunction("grantRole")(MANUFACTURER_ROLE, actors.addresses.manufacturer2));
      await eventually(async () => (await connect(dev)).endAsync());
    });

    it("disconnects a device when the attester loses its role for a required kind (ATTESTER_NOT_TRUSTED)", async function () {
      const dev = d.iec!;
      const c = await connect(dev);
      const gone = closed(c);
      const role = attesterRole(encodeBytes32String("iec62443"));
      await mined(actors.registry.admin.getFunction("revokeRole")(role, actors.addresses.attester));
      await gone;
      await refusedFor(dev, ["ATTESTER_NOT_TRUSTED"]);
      await mined(actors.registry.admin.getFunction("grantRole")(role, actors.addresses.attester));
    });

    it("disconnects a device at the instant its required attestation expires (a timer), then refuses ATTESTATION_EXPIRED", async function () {
      const dev = await registerTestDevice(actors, { alg: "ed25519", segment: "plant-2" });
      // the node's block times run ahead of the wall clock after a burst of blocks: expire after both
      const block = await actors.provider.getBlock("latest");
      const expiresAt = Math.max(block!.timestamp + 3, Math.floor(Date.now() / 1000) + 4);
      await mined(
        actors.registry.attester.getFunction("attest")(
          dev.id,
          encodeBytes32String("firmware"),
          testHash("ev-exp"),
          expiresAt,
        ),
      );
      const c = await eventually(() => connect(dev));
      const at = await closed(c);
      // valid strictly before expiresAt: the gateway closes it at that instant (timer + TCP close)
      expect(at - expiresAt * 1000).to.be.within(0, 300);
      await refusedFor(dev, ["ATTESTATION_EXPIRED"]);
    });
  });
});
