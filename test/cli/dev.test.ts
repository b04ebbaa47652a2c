/**
 * End to end: `dtl dev` (what `npm start` runs) as a child process — one banner with the URLs,
 * the registry, the data folder and a demo fleet whose copy-paste verify line works; Ctrl-C stops
 * the chain, the indexer and the API; a second run on the same data folder starts clean.
 */
import { expect } from "chai";
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { HARDHAT_KEYS, rpcCall } from "../helpers/chain";
import { ensureBuilt, runDtl, startDtl, tempDir, type RunningDtl } from "../helpers/cli-run";

/** The `npx dtl …` lines of the banner, as argument lists. */
function tryLines(banner: string): string[][] {
  return [...banner.matchAll(/^ {4}npx dtl (.+?)(?:\s+#.*)?$/gm)].map((m) => m[1]!.trim().split(/\s+/));
}

/** True only when nothing listens at `url` any more (connection refused); no answer in 2 s is NOT closed. */
async function closed(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch (err) {
    return (err as { cause?: { code?: string } }).cause?.code === "ECONNREFUSED";
  }
}

describe("dtl dev (npm start)", function () {
  let tmp: ReturnType<typeof tempDir>;
  let dev: RunningDtl | undefined;
  let env: Record<string, string>;

  before(async function () {
    ensureBuilt();
    tmp = tempDir();
    env = { DTL_DATA_DIR: path.join(tmp.dir, "dev"), DTL_DEPLOYMENT: path.join(tmp.dir, "deployments", "31337.json") };
  });
  afterEach(async function () {
    await dev?.stop("SIGKILL");
    dev = undefined;
  });
  after(function () {
    tmp?.cleanup();
  });

  // port 0 for both: the OS picks free ones, the banner says which (no port guessed in advance)
  const start = (extra: string[] = []) =>
    startDtl(["dev", "--port", "0", "--chain-port", "0", ...extra], { env, cwd: tmp.dir });
  /** The chain and GraphQL URLs the banner names. */
  const urls = (banner: string) => ({
    chainUrl: /^ {2}chain {9}(http:\/\/127\.0\.0\.1:\d+) /m.exec(banner)![1]!,
    graphql: /^ {2}GraphQL {7}(http:\/\/127\.0\.0\.1:\d+\/graphql) /m.exec(banner)![1]!,
  });

  it("counts a server that takes the connection but never answers as open, not closed", async function () {
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    try {
      expect(await closed(`http://127.0.0.1:${port}/`)).to.equal(false);
    } finally {
      silent.close();
    }
    expect(await closed(`http://127.0.0.1:${port}/`)).to.equal(true);
  });

  it("prints one banner, serves the demo fleet, and stops everything on Ctrl-C", async function () {
    dev = start();
    await dev.waitFor(/Ctrl-C stops everything\./, 90_000);
    const out = dev.stdout();
    const { chainUrl, graphql } = urls(out);
    expect(chainUrl).not.to.match(/:0$/);
    expect(out.match(/dev stack is running/g)).to.have.length(1);
    expect(out).to.include(`  chain         ${chainUrl}  (chain id 31337`);
    expect(out).to.match(/\n {2}registry {6}0x[0-9a-fA-F]{40} {2}\(/);
    expect(out).to.include(`  GraphQL       ${graphql}`);
    expect(out).to.include(`  data folder   ${env.DTL_DATA_DIR}`);
    // no private key in the banner, not even the public test ones
    for (const k of HARDHAT_KEYS) expect(out + dev.stderr()).not.to.include(k.slice(2));
    // the demo fleet: every key algorithm, some attested, one suspended, one revoked
    const rows = [
      ...out.matchAll(
        /^ {4}(demo-\S+)\s+(secp256k1|p256|ed25519)\s+(ACTIVE|SUSPENDED|REVOKED)\s+(\S+)\s+(0x[0-9a-f]{64})$/gm,
      ),
    ];
    expect(new Set(rows.map((r) => r[2]))).to.deep.equal(new Set(["secp256k1", "p256", "ed25519"]));
    expect(rows.filter((r) => r[3] === "SUSPENDED")).to.have.length(1);
    expect(rows.filter((r) => r[3] === "REVOKED")).to.have.length(1);
    expect(rows.filter((r) => r[4] !== "-").length).to.be.greaterThan(1);
    // key files of the demo devices, private
    for (const r of rows)
      expect(statSync(path.join(env.DTL_DATA_DIR!, "demo-keys", `${r[1]}.key`)).mode & 0o777).to.equal(0o600);
    expect(JSON.parse(readFileSync(env.DTL_DEPLOYMENT!, "utf8")).chainId).to.equal(31337);

    // the copy-paste lines work as printed
    const lines = tryLines(out);
    expect(lines.map((l) => l[0])).to.deep.equal(["verify", "verify", "history", "audit"]);
    const [trusted, revoked, history, audit] = await Promise.all(lines.map((l) => runDtl(l, { cwd: tmp.dir })));
    expect(trusted!.code, trusted!.stderr).to.equal(0);
    expect(trusted!.stdout).to.match(/^TRUSTED /);
    expect(revoked!.code).to.equal(3);
    expect(revoked!.stdout).to.include("REVOKED");
    expect(history!.code).to.equal(0);
    expect(audit!.code, audit!.stdout + audit!.stderr).to.equal(0);
    // the tour's default signer on the dev chain: account #0 holds every role
    const suspended = rows.find((r) => r[3] === "SUSPENDED")!;
    const reinstate = await runDtl(
      ["reinstate", suspended[5]!, "--rpc", chainUrl, "--deployment", env.DTL_DEPLOYMENT!],
      { cwd: tmp.dir },
    );
    expect(reinstate.code, reinstate.stderr).to.equal(0);

    expect(await dev.stop("SIGINT")).to.equal(0);
    expect(dev.stderr()).to.include("dev stack stopped");
    expect(await closed(graphql)).to.equal(true);
    expect(await closed(chainUrl)).to.equal(true);
  });

  it("starts clean again on the same data folder: a new chain never meets the old index", async function () {
    const oldDeployment = JSON.parse(readFileSync(env.DTL_DEPLOYMENT!, "utf8")) as { deployBlockHash: string };
    expect(existsSync(path.join(env.DTL_DATA_DIR!, "index"))).to.equal(true);
    dev = start(["--no-demo"]);
    await dev.waitFor(/Ctrl-C stops everything\./, 90_000);
    expect(dev.stdout()).not.to.include("demo fleet");
    const fresh = JSON.parse(readFileSync(env.DTL_DEPLOYMENT!, "utf8")) as { deployBlockHash: string };
    expect(fresh.deployBlockHash).not.to.equal(oldDeployment.deployBlockHash);
    const { chainUrl, graphql } = urls(dev.stdout());
    const res = await fetch(graphql, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ devices(first: 5) { edges { node { id } } } indexerStatus { deployBlock } }" }),
    });
    const body = (await res.json()) as { data: { devices: { edges: unknown[] } } };
    expect(body.data.devices.edges).to.deep.equal([]);
    expect(await rpcCall(chainUrl, "eth_chainId")).to.equal("0x7a69");
    expect(await dev.stop("SIGINT")).to.equal(0);
  });

  it("says which port is taken", async function () {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    const { port } = busy.address() as { port: number };
    try {
      const r = await runDtl(["dev", "--port", "0", "--chain-port", String(port)], { env, cwd: tmp.dir });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        `dtl: dev: port ${port} on 127.0.0.1 is in use (another dtl dev or hardhat node?): use --chain-port\n`,
      );
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });
});
