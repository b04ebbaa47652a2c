/**
 * Connections through `yoga.fetch()` over the real indexer: one cursor per edge (the store's own
 * cursor of that item, no second encoding, no skip), exact pagination while devices are added
 * between page fetches, `totalCount` on every page, and cursors the API did not issue refused
 * with BAD_USER_INPUT naming the field. The counts themselves: test/indexer/counts.test.ts.
 */
import { expect } from "chai";
import { encodeBytes32String } from "ethers";
import type { Api } from "../../api/yoga";
import { apiFor, gql, startApiFixture, type ApiFixture, type GqlResult } from "../helpers/api-fixture";
import { testHash, writeFleet, type FleetResult } from "../helpers/fleet";

interface Conn<N> {
  edges: { cursor: string; node: N }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
}

const DEVICES = `query($first: Int, $after: String, $filter: DeviceFilter) {
  devices(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id } } pageInfo { hasNextPage endCursor } totalCount
  }
}`;
const HISTORY = `query($id: Bytes32!, $first: Int, $after: String) {
  device(id: $id) { eventCount history(first: $first, after: $after) {
    edges { cursor node { seq } } pageInfo { hasNextPage endCursor } totalCount
  } }
}`;

/** The id one above `id` (as a number): it sorts right after `id`. */
const idAfter = (id: string) => "0x" + (BigInt(id) + 1n).toString(16).padStart(64, "0");

describe("api connections: one cursor, exact pages, totalCount", function () {
  let fx: ApiFixture;
  let api: Api;
  let fleet: FleetResult;

  async function devices(vars: { first?: number; after?: string | null; filter?: object }) {
    const r = await gql<{ devices: Conn<{ id: string }> }>(api, DEVICES, vars);
    expect(r.errors, JSON.stringify(r.errors)).to.equal(undefined);
    return r.data!.devices;
  }

  /** Every page from `after` on, `first` at a time; checks totalCount and endCursor on each page. */
  async function rest(first: number, after: string | null, filter?: object): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const page = await devices({ first, after, filter });
      ids.push(...page.edges.map((e) => e.node.id));
      if (page.edges.length) expect(page.pageInfo.endCursor).to.equal(page.edges[page.edges.length - 1]!.cursor);
      if (!page.pageInfo.hasNextPage) {
        expect(page.totalCount).to.be.at.least(ids.length);
        return ids;
      }
      after = page.pageInfo.endCursor;
    }
    throw new Error("pagination did not end");
  }

  async function register(id: string, by: "manufacturer" | "manufacturer2" = "manufacturer"): Promise<void> {
    await (
      await fx.actors.registry[by].getFunction("registerDevice")(
        id,
        1,
        testHash(`${id}/key`),
        testHash("fw/conn"),
        encodeBytes32String("plant-1/hvac"),
      )
    ).wait();
  }

  before(async function () {
    fx = await startApiFixture();
    fleet = await writeFleet(fx.actors, { devices: 60, label: "api-connections" });
    await fx.sync();
    api = apiFor(fx);
  });

  after(async () => {
    api?.close();
    await fx?.stop();
  });

  it("gives every edge the store's own cursor: each continues right after its edge, in the API and in the store", async () => {
    const all = await rest(500, null);
    const filter = { manufacturer: fx.actors.addresses.manufacturer2 };
    let after: string | null = null;
    const seen: string[] = [];
    for (;;) {
      const page = await devices({ first: 7, after, filter });
      expect(page.totalCount).to.equal(fleet.deviceIds.length - Math.ceil(fleet.deviceIds.length / 2));
      for (const [i, edge] of page.edges.entries()) {
        const next = page.edges[i + 1]?.node.id;
        const viaApi = await devices({ first: 1, after: edge.cursor, filter });
        if (next) expect(viaApi.edges.map((e) => e.node.id)).to.deep.equal([next]);
        // the API's cursor is the store's cursor: the store continues from it as it is
        const viaStore = await fx.indexer.store.listDevices(filter, 1, edge.cursor);
        expect(viaStore.items.map((d) => d.id)).to.deep.equal(viaApi.edges.map((e) => e.node.id));
        expect(viaStore.cursors).to.deep.equal(viaApi.edges.map((e) => e.cursor));
      }
      seen.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).to.deep.equal([...fleet.deviceIds.slice(Math.ceil(fleet.deviceIds.length / 2))].sort());
    expect(all).to.deep.equal([...fleet.deviceIds].sort());
  });

  it("skips and repeats nothing when devices are added between page fetches", async () => {
    const before = await rest(500, null);
    const page = await devices({ first: 10 });
    const ids = page.edges.map((e) => e.node.id);
    // new devices right after the 3rd, 5th and 10th edges (inside and after the page just read), and one
    // before the whole page (already passed: not seen by this reader)
    const added = [idAfter(ids[2]!), idAfter(ids[4]!), idAfter(ids[9]!), "0x" + "00".repeat(31) + "01"];
    for (const id of added) await register(id);
    await fx.sync();
    // go on from an inner edge and from the end of the page
    const fromInner = await rest(4, page.edges[5]!.cursor);
    const fromEnd = await rest(4, page.pageInfo.endCursor);
    const now = [...before, ...added].sort();
    expect(fromInner).to.deep.equal(now.filter((id) => id > ids[5]!));
    expect(fromEnd).to.deep.equal(now.filter((id) => id > ids[9]!));
    expect((await devices({ first: 0 })).totalCount).to.equal(now.length);
  });

  it("first: 0 counts without edges; totalCount follows the filter", async () => {
    const none = await devices({ first: 0, filter: { status: "REVOKED" } });
    expect(none.edges).to.deep.equal([]);
    expect(none.pageInfo).to.deep.equal({ hasNextPage: true, endCursor: null });
    expect(none.totalCount).to.equal(fleet.revoked.length);
    const suspended = await devices({ first: 500, filter: { status: "SUSPENDED" } });
    expect(suspended.totalCount).to.equal(fleet.suspended.length).and.to.equal(suspended.edges.length);
    const firmware = await devices({ first: 1, filter: { attestationKind: "firmware", status: "ACTIVE" } });
    const listed = await rest(500, null, { attestationKind: "firmware", status: "ACTIVE" });
    expect(firmware.totalCount).to.equal(listed.length).and.to.be.greaterThan(1);
  });

  it("history: totalCount is the event count on every page; each entry's cursor continues after it", async () => {
    const id = fleet.attested.find((d) => fleet.suspended.includes(d)) ?? fleet.suspended[0]!;
    const seqs: number[] = [];
    let after: string | null = null;
    for (;;) {
      const r: GqlResult<{ device: { eventCount: number; history: Conn<{ seq: number }> } }> = await gql(api, HISTORY, {
        id,
        first: 1,
        after,
      });
      expect(r.errors, JSON.stringify(r.errors)).to.equal(undefined);
      const { eventCount, history } = r.data!.device;
      expect(history.totalCount).to.equal(eventCount);
      seqs.push(...history.edges.map((e) => e.node.seq));
      if (!history.pageInfo.hasNextPage) break;
      after = history.pageInfo.endCursor;
    }
    expect(seqs.length).to.be.greaterThan(1);
    expect(seqs).to.deep.equal(seqs.map((_, i) => i + 1));
  });

  it("refuses a cursor it did not issue with BAD_USER_INPUT naming the field", async () => {
    const page = await devices({ first: 2 });
    const deviceCursor = page.edges[0]!.cursor;
    const h = await gql<{ device: { history: Conn<unknown> } }>(api, HISTORY, { id: fleet.deviceIds[0], first: 1 });
    const historyCursor = h.data!.device.history.edges[0]!.cursor;
    const b64 = (s: string) => Buffer.from(s).toString("base64url");
    const bad = [
      "",
      "abc",
      "not-a-cursor",
      b64("[1,2]"),
      // the old two-part cursor (store cursor + skip)
      b64(JSON.stringify([deviceCursor, 3])),
      b64("d:" + "0".repeat(63)),
      b64("h:1"),
      // the right bytes in another spelling (padding): not what the API issued
      deviceCursor + "=",
      historyCursor + "==",
      "x".repeat(2000),
    ];
    const refused = async (query: string, vars: Record<string, unknown>, field: string) => {
      const r = await gql(api, query, vars);
      expect(r.errors, `${field} ${JSON.stringify(vars)}`).to.have.length(1);
      expect(r.errors![0]!.message).to.equal(`${field}: is not a cursor this API issued`);
      expect(r.errors![0]!.extensions?.code).to.equal("BAD_USER_INPUT");
    };
    for (const c of [...bad, historyCursor]) await refused(DEVICES, { after: c }, "after");
    for (const c of [...bad, deviceCursor])
      await refused(HISTORY, { id: fleet.deviceIds[0], after: c }, "history.after");
  });
});
