/**
 * Hostile and broken input over real HTTP against the real indexer: every failure is a GraphQL
 * error with a code and a message naming the field, never a stack trace, and the server stays up
 * (checked after 1,200 generated malformed requests; their seed is printed, DTL_TEST_SEED replays it).
 */
import { expect } from "chai";
import { request as httpRequest } from "node:http";
import fc from "fast-check";
import { startApiServer, type ApiServer } from "../../api/server";
import { httpGql, registerTestDevice, startApiFixture, type ApiFixture, type TestDevice } from "../helpers/api-fixture";
import { randomHash } from "../helpers/fleet";
import { testSeed } from "../helpers/seed";

interface Raw {
  status: number;
  text: string;
}

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Raw> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  return { status: res.status, text: await res.text() };
}

/**
 * POST with Transfer-Encoding: chunked (no Content-Length), in 64 KiB chunks. A server that stops
 * reading mid-body closes the connection: `reset` then names the socket error (the status and
 * text are what arrived before it, if anything).
 */
function postChunked(url: string, body: string): Promise<Raw & { reset?: string }> {
  return new Promise((resolve) => {
    let status = 0;
    let text = "";
    const req = httpRequest(
      `${url}/graphql`,
      {
        method: "POST",
        agent: false, // a connection of its own: one the server closed is never reused
        headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
      },
      (res) => {
        status = res.statusCode!;
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status, text }));
      },
    );
    req.on("error", (err: NodeJS.ErrnoException) => resolve({ status, text, reset: err.code ?? err.message }));
    for (let i = 0; i * 65536 < body.length; i++) req.write(body.slice(i * 65536, (i + 1) * 65536));
    req.end();
  });
}

/** Every error answer: JSON, at least one error, each with a message and a code, nothing internal. */
function expectCleanErrors(raw: Raw, what: string): { message: string; extensions: Record<string, unknown> }[] {
  expect(raw.status, `${what}: status`).to.be.oneOf([200, 400, 401, 405, 413, 415]);
  expect(raw.text, `${what}: no stack trace`).to.not.match(/\n\s+at |node_modules|\.ts:\d+/);
  const body = JSON.parse(raw.text) as { errors?: { message: string; extensions: Record<string, unknown> }[] };
  expect(body.errors, `${what}: errors in ${raw.text.slice(0, 300)}`)
    .to.be.an("array")
    .with.length.greaterThan(0);
  for (const e of body.errors!) {
    expect(e.message, what).to.be.a("string").and.not.equal("");
    expect(e.extensions?.code, `${what}: code of ${JSON.stringify(e)}`).to.be.a("string");
  }
  return body.errors!;
}

describe("api bad input over real HTTP", function () {
  let fx: ApiFixture;
  let server: ApiServer;
  let device: TestDevice;

  before(async () => {
    fx = await startApiFixture();
    device = await registerTestDevice(fx.actors);
    await fx.sync();
    server = await startApiServer({ store: fx.indexer.store, port: 0 });
  });
  after(async () => {
    await server?.close();
    await fx?.stop();
  });

  async function firstError(query: string, variables?: Record<string, unknown>) {
    const raw = await post(server.url, JSON.stringify({ query, variables }));
    return expectCleanErrors(raw, query.slice(0, 60))[0]!;
  }

  it("binds 127.0.0.1 on a free port", () => {
    expect(server.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.port).to.be.greaterThan(0);
  });

  it("malformed Bytes32, inline and as a variable, names the argument", async () => {
    const inline = await firstError(`{ verifyDevice(id: "0x1234") { trusted } }`);
    expect(inline.message).to.equal('id: Bytes32 must be 0x followed by 64 hex digits, got "0x1234"');
    expect(inline.extensions).to.deep.include({ code: "BAD_USER_INPUT", field: "id" });
    const variable = await firstError(`query($id: Bytes32!) { device(id: $id) { id } }`, { id: "0x" + "g".repeat(64) });
    expect(variable.message).to.match(
      /^Variable "\$id" got invalid value "0xg+"; Bytes32 must be 0x followed by 64 hex digits/,
    );
    expect(variable.extensions.code).to.equal("BAD_USER_INPUT");
    const number = await firstError(`{ device(id: 12) { id } }`);
    expect(number.message).to.equal("id: Bytes32 must be a string, got a intvalue literal");
  });

  it("malformed Address names the argument (also inside the filter and the policy)", async () => {
    const f = await firstError(`{ devices(filter: { manufacturer: "0x123" }) { edges { cursor } } }`);
    expect(f.message).to.match(/^filter: Address must be 0x followed by 40 hex digits/);
    const p = await firstError(
      `query($p: TrustPolicyInput) { verifyDevice(id: "${device.id}", policy: $p) { trusted } }`,
      {
        p: { allowedManufacturers: ["nope"] },
      },
    );
    expect(p.message).to.match(
      /^Variable "\$p" got invalid value "nope" at "p.allowedManufacturers\[0\]"; Address must be/,
    );
  });

  it("first over the cap, negative first, bad cursors and bad policy numbers name their field", async () => {
    const over = await firstError(`{ devices(first: 501) { edges { cursor } } }`);
    expect(over).to.deep.include({ message: "first: must be ≤ 500, got 501" });
    expect(over.extensions).to.deep.include({ code: "BAD_USER_INPUT", field: "first" });
    expect((await firstError(`{ devices(first: -1) { edges { cursor } } }`)).message).to.equal(
      "first: must be ≥ 0, got -1",
    );
    const hist = await firstError(`{ device(id: "${device.id}") { history(first: 1000) { edges { cursor } } } }`);
    expect(hist.message).to.equal("history.first: must be ≤ 500, got 1000");
    expect((await firstError(`{ devices(after: "not-a-cursor") { edges { cursor } } }`)).message).to.equal(
      "after: is not a cursor this API issued",
    );
    const age = await firstError(
      `{ verifyDevice(id: "${device.id}", policy: { maxAttestationAgeSeconds: -5 }) { trusted } }`,
    );
    expect(age.message).to.equal("policy.maxAttestationAgeSeconds: must be ≥ 0, got -5");
    const kind = await firstError(
      `{ verifyDevice(id: "${device.id}", policy: { requiredAttestations: ["${"k".repeat(40)}"] }) { trusted } }`,
    );
    expect(kind.message).to.match(/^policy.requiredAttestations: "k+" is longer than 31 bytes$/);
  });

  it("more than 1,000 ids names ids", async () => {
    const ids = Array.from({ length: 1500 }, () => randomHash());
    const e = await firstError(`query($ids: [Bytes32!]!) { verifyDevices(ids: $ids) { trusted } }`, { ids });
    expect(e.message).to.equal("ids: at most 1000 ids per request, got 1500");
  });

  it("deep queries, costly queries, item floods, alias floods, token floods and directive floods are refused with their own codes", async () => {
    const deep = `{ device(id: "${device.id}") { attestations { device { attestations { device { attestations { device { attestations { device { attestations { device { id } } } } } } } } } } } }`;
    expect((await firstError(deep)).extensions.code).to.equal("QUERY_TOO_DEEP");
    const fields =
      "id manufacturer status keyAlgorithm keyHash firmwareHash segment registeredAt historyHead eventCount updatedBlock atBlock";
    const costly = `{ devices(first: 500) { edges { node { ${fields} history(first: 10) { edges { node { seq kind } } } attestations { kind device { ${fields} } } } } } }`;
    const cost = await firstError(costly);
    expect(cost.message).to.match(/^Query Cost limit of 100000 exceeded, found \d+\.$/);
    expect(cost.extensions.code).to.equal("QUERY_TOO_COMPLEX");
    // page sizes hidden in variables escape the static cost: the per-request item budget stops them
    const pages = Array.from(
      { length: 19 },
      (_, i) => `p${i}: devices(first: $n) { edges { node { history(first: $n) { edges { cursor } } } } }`,
    ).join(" ");
    const itemsRaw = await post(
      server.url,
      JSON.stringify({ query: `query($n: Int) { ${pages} }`, variables: { n: 500 } }),
    );
    const itemErrs = expectCleanErrors(itemsRaw, "item budget");
    expect(itemErrs[0]!.extensions).to.deep.include({ code: "QUERY_TOO_COMPLEX", field: "history.first" });
    const aliases = `{ ${Array.from({ length: 200 }, (_, i) => `a${i}: indexerStatus { chainId }`).join(" ")} }`;
    const a = await firstError(aliases);
    expect(a).to.deep.include({ message: "Aliases limit of 20 exceeded, found 200." });
    expect(a.extensions.code).to.equal("TOO_MANY_ALIASES");
    const tokens = `{ ${"indexerStatus { chainId } ".repeat(2000)} }`;
    expect((await firstError(tokens)).extensions.code).to.equal("TOO_MANY_TOKENS");
    const directives = `{ indexerStatus { chainId ${"@include(if: true) ".repeat(50)} } }`;
    expect((await firstError(directives)).extensions.code).to.equal("TOO_MANY_DIRECTIVES");
  });

  it("a 2 MB body gets 413 PAYLOAD_TOO_LARGE, with Content-Length and chunked; small chunked bodies are served", async () => {
    const big = JSON.stringify({
      query: "{ indexerStatus { chainId } }",
      variables: { pad: "x".repeat(2 * 1024 * 1024) },
    });
    const raw = await post(server.url, big);
    expect(raw.status).to.equal(413);
    expect(expectCleanErrors(raw, "2MB")[0]!).to.deep.equal({
      message: "request body: larger than the limit of 1048576 bytes",
      extensions: { code: "PAYLOAD_TOO_LARGE" },
    });
    // a chunked body is counted as it arrives and reading stops at the limit: the 413 arrives, and
    // the server closes that connection (hence a fresh connection per chunked request)
    const chunked = await postChunked(server.url, big);
    expect(chunked).to.not.have.property("reset");
    expect(chunked.status).to.equal(413);
    expectCleanErrors(chunked, "2MB chunked");
    // a chunked body within the limit is served; broken ones get the same codes as with a length
    const small = await postChunked(server.url, JSON.stringify({ query: "{ indexerStatus { chainId } }" }));
    expect(small).to.deep.include({ status: 200 });
    expect(JSON.parse(small.text)).to.deep.equal({ data: { indexerStatus: { chainId: 31337 } } });
    for (const bad of ["{oops", "42", "[]"]) {
      const r = await postChunked(server.url, bad);
      expect(r.status, bad).to.equal(400);
      expect(expectCleanErrors(r, bad)[0]!.extensions.code).to.equal("BAD_REQUEST");
    }
  });

  it("invalid JSON, non-object bodies, missing query and unknown fields get coded errors", async () => {
    // GraphQL over HTTP: a body that is not a GraphQL request is a 400, whatever the client accepts
    for (const accept of ["application/json", "application/graphql-response+json", "*/*"]) {
      const raw = await post(server.url, "{not json", { accept });
      expect(raw.status, accept).to.equal(400);
      expect(expectCleanErrors(raw, "invalid JSON")[0]).to.deep.equal({
        message: "POST body sent invalid JSON.",
        extensions: { code: "BAD_REQUEST" },
      });
      for (const body of ["42", "{}", ""]) {
        const r = await post(server.url, body, { accept });
        expect(r.status, `${accept} ${JSON.stringify(body)}`).to.equal(400);
        expect(expectCleanErrors(r, body)[0]!.extensions.code).to.equal("BAD_REQUEST");
      }
    }
    const unknown = expectCleanErrors(
      await post(server.url, JSON.stringify({ query: '{ device(id: "' + device.id + '") { id serialNumber } }' })),
      "unknown",
    )[0]!;
    expect(unknown.message).to.match(/^Cannot query field "serialNumber" on type "Device"/);
    expect(unknown.extensions.code).to.equal("GRAPHQL_VALIDATION_FAILED");
    const unknownArg = expectCleanErrors(
      await post(server.url, JSON.stringify({ query: "{ devices(last: 3) { edges { cursor } } }" })),
      "unknown arg",
    )[0]!;
    expect(unknownArg.message).to.match(/^Unknown argument "last" on field "Query.devices"/);
  });

  it("survives 1,200 generated malformed requests: each kind refused with its own codes, then a normal query", async function () {
    this.timeout(120_000);
    const hex = fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEFxg"), maxLength: 80 });
    const junkValue = fc.oneof(
      hex,
      fc.string({ maxLength: 40 }),
      fc.integer(),
      fc.array(hex, { maxLength: 3 }),
      fc.boolean(),
    );
    const gqlBody = (query: string, variables?: unknown) => JSON.stringify({ query, variables });
    /**
     * Each kind of malformed request with the codes it may be refused with (the first one it must
     * be refused with at least once in the run), and whether it may also, by chance, be valid (`mayPass`: e.g. `[]` is an empty input object to
     * graphql-js, and a random selection may name a real field).
     */
    const kinds: Record<string, { arb: fc.Arbitrary<string>; codes: string[]; status?: number; mayPass?: boolean }> = {
      notJson: { arb: fc.string({ maxLength: 200 }), codes: ["BAD_REQUEST"], status: 400 },
      jsonNotRequest: { arb: fc.json({ maxDepth: 3 }), codes: ["BAD_REQUEST"], status: 400 },
      brokenDocument: {
        arb: fc.string({ maxLength: 200 }).map((q) => gqlBody(q)),
        codes: ["GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST"],
      },
      brokenSelection: {
        arb: fc.string({ maxLength: 60 }).map((q) => gqlBody(`{ device(id: "${device.id}") { ${q} } }`)),
        codes: ["GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED"],
        mayPass: true,
      },
      inlineBytes32: {
        arb: hex.map((id) => gqlBody(`{ verifyDevice(id: ${JSON.stringify(id)}) { trusted } }`)),
        codes: ["BAD_USER_INPUT"],
      },
      variableBytes32: {
        arb: junkValue.map((id) => gqlBody("query($id: Bytes32!) { verifyDevice(id: $id) { trusted } }", { id })),
        codes: ["BAD_USER_INPUT"],
      },
      variableAddress: {
        arb: junkValue.map((m) =>
          gqlBody("query($m: Address) { devices(filter: { manufacturer: $m }) { edges { cursor } } }", { m }),
        ),
        codes: ["BAD_USER_INPUT"],
      },
      variablePolicy: {
        arb: junkValue.map((p) =>
          gqlBody(`query($p: TrustPolicyInput) { verifyDevice(id: "${device.id}", policy: $p) { trusted } }`, { p }),
        ),
        codes: ["BAD_USER_INPUT"],
        mayPass: true,
      },
      variableProof: {
        arb: junkValue.map((proof) =>
          gqlBody(`query($proof: ProofInput) { verifyDevice(id: "${device.id}", proof: $proof) { trusted } }`, {
            proof,
          }),
        ),
        codes: ["BAD_USER_INPUT"],
      },
      firstOverCap: {
        arb: fc.integer({ min: 501, max: 1e9 }).map((n) => gqlBody(`{ devices(first: ${n}) { edges { cursor } } }`)),
        codes: ["BAD_USER_INPUT", "QUERY_TOO_COMPLEX"],
      },
      badCursor: {
        arb: fc
          .string({ maxLength: 100 })
          .map((c) => gqlBody("query($c: String) { devices(after: $c) { edges { cursor } } }", { c })),
        codes: ["BAD_USER_INPUT"],
        mayPass: true,
      },
      tooDeep: {
        arb: fc
          .integer({ min: 5, max: 30 })
          .map((n) =>
            gqlBody(`{ device(id: "${device.id}") { ${"attestations { device { ".repeat(n)}id${" } }".repeat(n)} } }`),
          ),
        codes: ["QUERY_TOO_DEEP", "QUERY_TOO_COMPLEX"],
      },
      tooManyAliases: {
        arb: fc
          .integer({ min: 21, max: 300 })
          .map((n) =>
            gqlBody(`{ ${Array.from({ length: n }, (_, i) => `s${i}: indexerStatus { chainId }`).join(" ")} }`),
          ),
        codes: ["TOO_MANY_ALIASES"],
      },
      badOperationName: {
        arb: fc
          .json()
          .map((v) => JSON.stringify({ query: "{ indexerStatus { chainId } }", variables: v, operationName: 7 })),
        codes: ["BAD_REQUEST"],
        status: 400,
      },
    };
    const bodies = fc.oneof(...Object.entries(kinds).map(([kind, k]) => k.arb.map((body) => ({ kind, body }))));
    const seed = testSeed();
    const samples = fc.sample(bodies, { numRuns: 1200, seed });
    const seen = new Map<string, Set<string>>();
    let i = 0;
    const worker = async () => {
      for (;;) {
        const sample = samples[i++];
        if (sample === undefined) return;
        const { kind, body } = sample;
        const { codes, status, mayPass } = kinds[kind]!;
        const what = `${kind} (seed ${seed}): ${body.slice(0, 200)}`;
        const raw = await post(server.url, body);
        if (status !== undefined) expect(raw.status, what).to.equal(status);
        expect(raw.text, what).to.not.match(/\n\s+at |node_modules|\.ts:\d+/);
        const parsed = JSON.parse(raw.text) as { errors?: { message: string; extensions?: { code?: string } }[] };
        if (!parsed.errors && mayPass) continue;
        expect(parsed.errors, `${what} → ${raw.text.slice(0, 300)}`)
          .to.be.an("array")
          .with.length.greaterThan(0);
        for (const e of parsed.errors!) {
          // never an internal failure ("Unexpected error."), always the code of this kind of mistake
          expect(e.extensions?.code, `${what} → ${raw.text.slice(0, 300)}`).to.be.oneOf(codes);
          let s = seen.get(kind);
          if (!s) seen.set(kind, (s = new Set()));
          s.add(e.extensions!.code!);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    // every kind was generated and refused with its own code at least once (a limit that stopped
    // working, so that its kind always passed or failed for another reason, shows here)
    for (const [kind, k] of Object.entries(kinds)) expect([...(seen.get(kind) ?? [])], kind).to.include(k.codes[0]);
    const ok = await httpGql<{ verifyDevice: { trusted: boolean } }>(
      server.url,
      `query($id: Bytes32!) { verifyDevice(id: $id) { trusted } }`,
      { id: device.id },
    );
    expect(ok).to.deep.equal({ status: 200, data: { verifyDevice: { trusted: true } } });
    const health = await fetch(`${server.url}/healthz`);
    expect(health.status).to.equal(200);
    // and counted them by code
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const count = (code: string) =>
      Number(new RegExp(`^dtl_api_graphql_errors_total\\{code="${code}"\\} (\\d+)$`, "m").exec(metrics)?.[1] ?? 0);
    expect(count("BAD_USER_INPUT")).to.be.greaterThan(100);
    expect(count("GRAPHQL_VALIDATION_FAILED") + count("GRAPHQL_PARSE_FAILED")).to.be.greaterThan(100);
  });
});
