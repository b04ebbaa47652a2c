/** Scalars (what goes in, what comes out, what is refused) and readiness. Cursors: connections.test.ts. */
import { expect } from "chai";
import { GraphQLError, parseValue } from "graphql";
import { Address, Bytes32, DateTime, HexBytes, scalarResolvers } from "../../api/scalars";
import { isReady } from "../../api/context";

const ADDR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const JSONScalar = scalarResolvers.JSON;

function refused(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(GraphQLError);
    expect((err as GraphQLError).message).to.match(message);
    expect((err as GraphQLError).extensions.code).to.equal("BAD_USER_INPUT");
    return;
  }
  expect.fail("not refused");
}

describe("api/scalars", () => {
  it("Bytes32: any case in, lowercase out; wrong length, missing 0x and non-hex refused", () => {
    const upper = "0x" + "AB".repeat(32);
    expect(Bytes32.parseValue(upper)).to.equal(upper.toLowerCase());
    expect(Bytes32.serialize(upper)).to.equal(upper.toLowerCase());
    for (const bad of ["0x" + "ab".repeat(31), "ab".repeat(32), "0x" + "zz".repeat(32), 12, null]) {
      refused(() => Bytes32.parseValue(bad), /^Bytes32 must be 0x followed by 64 hex digits/);
    }
  });

  it("Address: any case in, EIP-55 out; a wrong checksum in mixed case is taken as the bytes it names", () => {
    expect(Address.parseValue(ADDR.toLowerCase())).to.equal(ADDR);
    expect(Address.parseValue(ADDR.toUpperCase().replace("0X", "0x"))).to.equal(ADDR);
    expect(Address.serialize(ADDR.toLowerCase())).to.equal(ADDR);
    for (const bad of ["0x1234", ADDR.slice(2), ADDR + "00", 5])
      refused(() => Address.parseValue(bad), /^Address must be 0x followed by 40 hex digits/);
  });

  it("DateTime (graphql-scalars): unix seconds, Dates and RFC 3339 strings out as ISO 8601 UTC with ms; garbage refused", () => {
    expect(DateTime.serialize(1_700_000_000)).to.equal("2023-11-14T22:13:20.000Z");
    expect(DateTime.serialize(1_700_000_000.5)).to.equal("2023-11-14T22:13:20.500Z");
    expect(DateTime.serialize(new Date(0))).to.equal("1970-01-01T00:00:00.000Z");
    expect(DateTime.serialize("2023-11-14T23:13:20+01:00")).to.equal("2023-11-14T22:13:20.000Z");
    expect(DateTime.parseValue("2023-11-14T22:13:20Z")).to.deep.equal(new Date(1_700_000_000_000));
    for (const bad of ["yesterday", "2023-11-14", 5]) expect(() => DateTime.parseValue(bad)).to.throw(GraphQLError);
    expect(() => DateTime.serialize({})).to.throw(GraphQLError);
  });

  it("JSON (graphql-scalars): values pass through; literals become JSON, variables inside them resolved", () => {
    const value = { a: [1, "two", null, { b: true }] };
    expect(JSONScalar.serialize(value)).to.equal(value);
    expect(JSONScalar.parseValue(value)).to.equal(value);
    const ast = parseValue('{ a: [1, 2.5, "s", null, { b: false }], v: $v }');
    expect(JSONScalar.parseLiteral(ast, { v: "from a variable" })).to.deep.equal({
      a: [1, 2.5, "s", null, { b: false }],
      v: "from a variable",
    });
  });

  it("HexBytes: even-length hex only, bounded", () => {
    expect(HexBytes.parseValue("0xABcd")).to.equal("0xabcd");
    expect(HexBytes.parseValue("0x")).to.equal("0x");
    refused(() => HexBytes.parseValue("0xabc"), /^HexBytes must be 0x-prefixed hex/);
    refused(() => HexBytes.parseValue("0x" + "00".repeat(4097)), /^HexBytes must be at most 4096 bytes/);
    expect(HexBytes.parseValue("0x" + "00".repeat(3309))).to.have.length(2 + 6618); // an ML-DSA-65 signature
  });
});

describe("api/context isReady", () => {
  const status = {
    chainId: 1,
    registry: ADDR,
    deployBlock: 1,
    indexedBlock: 10,
    indexedBlockHash: "0x",
    headBlock: 12,
    digest: "0x",
    caughtUp: true,
    reorgs: 0,
    rpcErrors: 0,
  };
  it("needs caught up, lag within the limit and no fatal error", () => {
    expect(isReady(status, 2)).to.equal(true);
    expect(isReady(status, 1)).to.equal(false);
    expect(isReady({ ...status, caughtUp: false }, 2)).to.equal(false);
    expect(isReady({ ...status, fatalError: "reorg deeper than the window" }, 2)).to.equal(false);
  });
});
