/**
 * Query.chainHistoryHead reads registry.historyHead(id) from the chain (eth_call at a block), not
 * from the index: the console checks the entries it was shown against it.
 */
import { expect } from "chai";
import { ZeroHash } from "ethers";
import { startApiFixture, apiFor, gql, registerTestDevice, type ApiFixture } from "../helpers/api-fixture";

const QUERY = `query ($id: Bytes32!, $at: Int) {
  chainHistoryHead(id: $id, atBlock: $at) { deviceId atBlock historyHead eventCount }
  device(id: $id) { historyHead eventCount atBlock }
}`;

describe("API chainHistoryHead", function () {
  let fx: ApiFixture;
  before(async function () {
    fx = await startApiFixture();
  });
  after(async function () {
    await fx?.stop();
  });

  it("answers the chain's head at the indexed block by default, and an older one when asked", async function () {
    const d = await registerTestDevice(fx.actors);
    await fx.sync();
    const registered = fx.indexer.store.status().indexedBlock;
    await (await fx.actors.registry.officer.getFunction("suspendDevice")(d.id, 1)).wait();
    await fx.sync();
    const api = apiFor(fx, { chain: { rpcUrl: fx.node.url, registry: fx.deployment.registry } });
    type Answer = {
      chainHistoryHead: { deviceId: string; atBlock: number; historyHead: string; eventCount: number };
      device: { historyHead: string; eventCount: number; atBlock: number };
    };
    const now = await gql<Answer>(api, QUERY, { id: d.id });
    expect(now.errors).to.equal(undefined);
    const { chainHistoryHead: head, device } = now.data!;
    expect(head).to.deep.equal({
      deviceId: d.id,
      atBlock: device.atBlock,
      historyHead: device.historyHead,
      eventCount: 2,
    });
    const then = await gql<Answer>(api, QUERY, { id: d.id, at: registered });
    expect(then.data!.chainHistoryHead.eventCount).to.equal(1);
    expect(then.data!.chainHistoryHead.historyHead).not.to.equal(device.historyHead);
    const before = await gql<Answer>(api, QUERY, { id: d.id, at: registered - 1 });
    expect(before.data!.chainHistoryHead).to.deep.include({ historyHead: ZeroHash, eventCount: 0 });
  });

  it("says BAD_USER_INPUT past the chain head and CHAIN_UNAVAILABLE without a chain or when it is down", async function () {
    const id = ZeroHash.replace(/0$/, "1");
    const head = fx.indexer.store.status().headBlock;
    const withChain = apiFor(fx, { chain: { rpcUrl: fx.node.url, registry: fx.deployment.registry } });
    const past = await gql(withChain, QUERY, { id, at: head + 1 });
    expect(past.errors?.map((e) => [e.message, e.extensions?.code])).to.deep.equal([
      [`atBlock: must be between 0 and the chain head ${head}, got ${head + 1}`, "BAD_USER_INPUT"],
    ]);
    const without = await gql(apiFor(fx), QUERY, { id });
    expect(without.errors?.map((e) => [e.message, e.extensions?.code])).to.deep.equal([
      ["chainHistoryHead: this server was started without a chain RPC URL", "CHAIN_UNAVAILABLE"],
    ]);
    // a port nothing listens on: connection refused, retried, then named
    const down = apiFor(fx, { chain: { rpcUrl: "http://127.0.0.1:9", registry: fx.deployment.registry } });
    const res = await gql(down, QUERY, { id, at: head });
    expect(res.errors?.map((e) => [e.message, e.extensions?.code])).to.deep.equal([
      [`chainHistoryHead: the chain did not answer at block ${head}`, "CHAIN_UNAVAILABLE"],
    ]);
  });
});
