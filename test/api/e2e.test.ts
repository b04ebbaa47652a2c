/**
 * End to end over real HTTP: real hardhat node → real indexer → API server. A gateway registers a
 * device, verifies it (trusted), subscribes to its events over SSE, the device is revoked on
 * chain, and the next verification says REVOKED while the subscriber hears the revocation.
 */
import { expect } from "chai";
import { startApiServer, type ApiServer } from "../../api/server";
import { signMessage } from "../../common/keys";
import { httpGql, registerTestDevice, startApiFixture, type ApiFixture } from "../helpers/api-fixture";
import { subscribeSse } from "../helpers/api-sse";

interface EventPayload {
  data: {
    deviceEvents: {
      deviceId: string;
      kind: string;
      seq: number;
      blockNumber: number;
      data: Record<string, unknown>;
      retracted: boolean;
    };
  };
}

describe("api end to end (real HTTP, real indexer, real node)", function () {
  let fx: ApiFixture;
  let server: ApiServer;

  before(async () => {
    fx = await startApiFixture({ pollMs: 20 });
    server = await startApiServer({ store: fx.indexer.store, port: 0, apiKeys: ["gateway-key"] });
  });
  after(async () => {
    await server?.close();
    await fx?.stop();
  });

  const auth = { authorization: "Bearer gateway-key" };

  it("register → verify trusted (with a proof) → revoke → REVOKED and the SSE subscriber heard it", async () => {
    const d = await registerTestDevice(fx.actors, { alg: "p256" });
    await fx.sync();

    const challenge = await httpGql<{ issueChallenge: { id: string; message: string } }>(
      server.url,
      `mutation($id: Bytes32!) { issueChallenge(deviceId: $id) { id message } }`,
      { id: d.id },
      auth,
    );
    const c = challenge.data!.issueChallenge;
    const proof = { challengeId: c.id, publicKey: d.pair.publicKey, signature: signMessage(d.pair, c.message) };
    const VERIFY = `query($id: Bytes32!, $proof: ProofInput) { verifyDevice(id: $id, policy: { requireProof: true }, proof: $proof) { trusted reasons atBlock } }`;
    const first = await httpGql<{ verifyDevice: { trusted: boolean; reasons: string[]; atBlock: number } }>(
      server.url,
      VERIFY,
      { id: d.id, proof },
      auth,
    );
    expect(first.data!.verifyDevice).to.deep.include({ trusted: true, reasons: [] });

    const sub = await subscribeSse<EventPayload>(
      server.url,
      `subscription($ids: [Bytes32!]) { deviceEvents(deviceIds: $ids) { deviceId kind seq blockNumber data retracted } }`,
      { ids: [d.id] },
      auth,
    );
    const other = await subscribeSse<EventPayload>(
      server.url,
      `subscription { deviceEvents(kinds: [DEVICE_REGISTERED]) { deviceId kind } }`,
      undefined,
      auth,
    );
    try {
      const heard = sub.next((p) => p.data.deviceEvents.kind === "DEVICE_REVOKED");
      const receipt = await (await fx.actors.registry.officer.getFunction("revokeDevice")(d.id, 1)).wait();
      const event = await heard;
      expect(event.data.deviceEvents).to.deep.include({
        deviceId: d.id,
        kind: "DEVICE_REVOKED",
        seq: 2,
        blockNumber: receipt.blockNumber,
        retracted: false,
      });
      expect(event.data.deviceEvents.data).to.deep.include({ reason: 1, by: fx.actors.addresses.officer });

      const c2 = (
        await httpGql<{ issueChallenge: { id: string; message: string } }>(
          server.url,
          `mutation($id: Bytes32!) { issueChallenge(deviceId: $id) { id message } }`,
          { id: d.id },
          auth,
        )
      ).data!.issueChallenge;
      const after = await httpGql<{ verifyDevice: { trusted: boolean; reasons: string[]; atBlock: number } }>(
        server.url,
        VERIFY,
        {
          id: d.id,
          proof: { challengeId: c2.id, publicKey: d.pair.publicKey, signature: signMessage(d.pair, c2.message) },
        },
        auth,
      );
      expect(after.data!.verifyDevice).to.deep.include({ trusted: false, reasons: ["REVOKED"] });
      expect(after.data!.verifyDevice.atBlock).to.be.at.least(receipt.blockNumber);
      // the filtered subscriptions heard nothing else
      expect(sub.received.map((p) => p.data.deviceEvents.kind)).to.deep.equal(["DEVICE_REVOKED"]);
      expect(other.received).to.deep.equal([]);
    } finally {
      sub.close();
      other.close();
    }
  });

  it("a reorg that removes an event sends it again with retracted: true, and the verdict follows the new chain", async () => {
    const sub = await subscribeSse<EventPayload>(
      server.url,
      `subscription { deviceEvents { deviceId kind seq retracted } }`,
      undefined,
      auth,
    );
    try {
      const snapshot = await fx.node.rpc<string>("evm_snapshot");
      const d = await registerTestDevice(fx.actors);
      const applied = await sub.next((p) => p.data.deviceEvents.deviceId === d.id && !p.data.deviceEvents.retracted);
      expect(applied.data.deviceEvents).to.deep.include({ kind: "DEVICE_REGISTERED", seq: 1 });
      const VERIFY = `query($id: Bytes32!) { verifyDevice(id: $id) { trusted reasons } }`;
      expect(
        (await httpGql<{ verifyDevice: { trusted: boolean } }>(server.url, VERIFY, { id: d.id }, auth)).data!
          .verifyDevice.trusted,
      ).to.equal(true);
      const retracted = sub.next((p) => p.data.deviceEvents.deviceId === d.id && p.data.deviceEvents.retracted, 20_000);
      await fx.node.rpc("evm_revert", [snapshot]);
      // the manufacturer's transaction is gone: its nonce counts from the chain again
      fx.actors.manufacturer.reset();
      for (let i = 0; i < 3; i++) await fx.node.rpc("evm_mine");
      const r = await retracted;
      expect(r.data.deviceEvents).to.deep.equal({ deviceId: d.id, kind: "DEVICE_REGISTERED", seq: 1, retracted: true });
      await fx.sync();
      expect(
        (await httpGql<{ verifyDevice: { reasons: string[] } }>(server.url, VERIFY, { id: d.id }, auth)).data!
          .verifyDevice.reasons,
      ).to.deep.equal(["NOT_REGISTERED"]);
    } finally {
      sub.close();
    }
  });

  it("caps subscriptions at maxSubscriptions with a coded error, and a closed stream frees its slot", async () => {
    type Payload = EventPayload & { errors?: { message: string; extensions: { code: string } }[] };
    const small = await startApiServer({ store: fx.indexer.store, port: 0, maxSubscriptions: 1 });
    const streams: { close(): void }[] = [];
    try {
      const first = await subscribeSse<Payload>(small.url, `subscription { deviceEvents { kind } }`);
      streams.push(first);
      const second = await subscribeSse<Payload>(small.url, `subscription { deviceEvents { kind } }`);
      streams.push(second);
      const refused = await second.next();
      expect(refused.errors![0]!.extensions.code).to.equal("TOO_MANY_SUBSCRIPTIONS");
      first.close();
      // the server has seen the close once its gauge of open subscriptions reads 0 again
      for (let i = 0; ; i++) {
        const metrics = await (await fetch(`${small.url}/metrics`)).text();
        if (/^dtl_api_sse_subscribers 0$/m.test(metrics)) break;
        if (i === 200) throw new Error("the closed subscription still counts as open after 10 s");
        await new Promise((r) => setTimeout(r, 50));
      }
      // the freed slot serves a new subscription: its first payload is the next event, not an error
      const third = await subscribeSse<Payload>(
        small.url,
        `subscription { deviceEvents(kinds: [DEVICE_REGISTERED]) { deviceId kind } }`,
      );
      streams.push(third);
      const heard = third.next();
      const d = await registerTestDevice(fx.actors);
      const payload = await heard;
      expect(payload.errors, JSON.stringify(payload.errors)).to.equal(undefined);
      expect(payload.data.deviceEvents).to.deep.equal({ deviceId: d.id, kind: "DEVICE_REGISTERED" });
    } finally {
      for (const s of streams) s.close();
      await small.close();
    }
  });

  it("refuses a subscription to more than 1,000 device ids with BAD_USER_INPUT", async () => {
    const ids = Array.from({ length: 1001 }, () => "0x" + "ab".repeat(32));
    const wide = await subscribeSse<{ errors?: { message: string; extensions: { code: string } }[] }>(
      server.url,
      `subscription($ids: [Bytes32!]) { deviceEvents(deviceIds: $ids) { kind } }`,
      { ids },
      auth,
    );
    try {
      const err = (await wide.next()).errors![0]!;
      expect(err.message).to.equal("deviceIds: at most 1000 ids per subscription, got 1001");
      expect(err.extensions.code).to.equal("BAD_USER_INPUT");
    } finally {
      wide.close();
    }
  });

  it("serves the GraphiQL page at GET /graphql to a browser (the page needs no key, its queries do)", async () => {
    const res = await fetch(`${server.url}/graphql`, { headers: { accept: "text/html" } });
    expect(res.status).to.equal(200);
    expect(res.headers.get("content-type")).to.match(/text\/html/);
    expect(await res.text()).to.include("Device Trust Ledger");
    const query = await fetch(`${server.url}/graphql?query=${encodeURIComponent("{ indexerStatus { chainId } }")}`, {
      headers: { accept: "application/json" },
    });
    expect(query.status).to.equal(401);
    await query.body?.cancel();
  });

  it("refuses a subscription without the API key", async () => {
    const res = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ query: "subscription { deviceEvents { kind } }" }),
    });
    expect(res.status).to.equal(401);
    await res.body?.cancel();
  });
});
