/**
 * End to end: `dtl register --file` — 500 devices in chunks, every bad row named before anything
 * is sent, an interrupted run resumed (skipping and reporting what is on-chain), a failing chunk
 * naming its file lines.
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import path from "node:path";
import { Wallet } from "ethers";
import { deviceIdFor } from "../../common/ids";
import { keyHash } from "../../common/keys";
import { readDevices } from "../../common/registry-views";
import { createRpcClient } from "../../common/rpc";
import { writeDeployment } from "../../scripts/deploy";
import { HARDHAT_KEYS, startHardhatNode, type NodeHandle } from "../helpers/chain";
import { firmwareHash, makeDevices, toCsv, writeCsv } from "../helpers/cli-fixtures";
import { deployFleetRegistry, type FleetActors } from "../helpers/fleet";
import { ensureBuilt, runDtl, startDtl, tempDir, type RunResult } from "../helpers/cli-run";
import type { Deployment } from "../../common/deployment";

const MAKER = new Wallet(HARDHAT_KEYS[1]!);
/** stderr without the progress lines (a test of them is below). */
const withoutProgress = (stderr: string) => stderr.replace(/^progress: .*\n/gm, "");
const NOBODY = new Wallet(HARDHAT_KEYS[5]!);

describe("dtl register --file", function () {
  let node: NodeHandle;
  let tmp: ReturnType<typeof tempDir>;
  let deployment: Deployment;
  let deploymentFile: string;
  let actors: FleetActors;
  const env = (as: Wallet) => ({
    DTL_RPC_URL: node.url,
    DTL_DEPLOYMENT: deploymentFile,
    DTL_PRIVATE_KEY: as.privateKey,
  });
  const dtl = (args: string[], as: Wallet = MAKER): Promise<RunResult> => runDtl(args, { env: env(as), cwd: tmp.dir });
  const blockNumber = async () => Number(await node.rpc<string>("eth_blockNumber"));

  before(async function () {
    ensureBuilt();
    tmp = tempDir();
    node = await startHardhatNode();
    ({ deployment, actors } = await deployFleetRegistry(node.url));
    deploymentFile = writeDeployment(deployment, path.join(tmp.dir, "deployment.json"));
  });
  after(async function () {
    await node?.stop();
    tmp?.cleanup();
  });

  it("names every bad row with its line before sending anything", async function () {
    const good = makeDevices(3, "BAD");
    const fw = firmwareHash("x");
    const lines = [
      toCsv(good).trimEnd(),
      `BAD-00002,p256,${good[1]!.publicKey},${fw},`, // line 5: duplicate serial of line 3
      `BAD-9,rsa,0x02,${fw},`, // line 6: unknown algorithm
      `BAD-10,ed25519,0xnothex,${fw},`, // line 7: bad hex
      `BAD-11,p256,${good[1]!.publicKey},0x1234,`, // line 8: bad firmware
      `BAD-12,p256,${good[1]!.publicKey},${fw},${"s".repeat(32)}`, // line 9: segment > 31 bytes
      `BAD-13,p256`, // line 10: short row
    ];
    const file = path.join(tmp.dir, "bad.csv");
    writeFileSync(file, lines.join("\n") + "\n");
    const before = await blockNumber();
    const r = await dtl(["register", "--file", file]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/^progress: checking rows: 0\/9 rows .*\nprogress: checking rows: 9\/9 rows 100% /);
    expect(withoutProgress(r.stderr).trimEnd().split("\n")).to.deep.equal([
      'bad.csv:5: duplicate serial "BAD-00002" (first at bad.csv:3)',
      'bad.csv:6: unknown key algorithm "rsa" (expected secp256k1, p256, ed25519, ml-dsa-44, ml-dsa-65, ed25519+ml-dsa-44)',
      "bad.csv:7: publicKey: public key must be 0x-prefixed hex with an even number of digits",
      'bad.csv:8: firmware must be 0x followed by 64 hex digits, got "0x1234"',
      `bad.csv:9: segment "${"s".repeat(32)}" is longer than 31 bytes`,
      "bad.csv:10: 2 fields, the header has 5",
      "bad.csv:10: missing publicKey, firmware",
      `dtl: ${file}: 6 bad rows; nothing was sent`,
    ]);
    expect(await blockNumber()).to.equal(before);
  });

  it("shows every phase on stderr and reports the wall time of the whole command", async function () {
    const file = writeCsv(path.join(tmp.dir, "phases.csv"), makeDevices(30, "PHASE"));
    const t0 = performance.now();
    const r = await dtl(["register", "--file", file, "--chunk", "10", "--json"]);
    const wall = (performance.now() - t0) / 1000;
    expect(r.code, r.stderr).to.equal(0);
    const lines = r.stderr.trimEnd().split("\n");
    const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
    const order = [
      /^progress: checking rows: 0\/30 rows 0% /,
      /^progress: checking rows: 30\/30 rows 100% /,
      /^progress: checking the chain: 0\/30 devices 0% /,
      /^progress: checking the chain: 30\/30 devices 100% /,
      /^progress: sending: 10\/30 devices 33% /,
      /^progress: sending: 20\/30 devices 66% /,
      /^progress: sending: 30\/30 devices 100% /,
    ].map(at);
    expect(order, r.stderr).to.deep.equal([0, 1, 2, 3, 4, 5, 6]);
    const out = r.json<{
      registered: number;
      seconds: number;
      phases: { checkingRows: number; checkingChain: number; sending: number };
    }>();
    expect(out.registered).to.equal(30);
    // the command's own clock starts with its process, the test's a moment before the spawn;
    // it stops before the process exits: the two differ by start-up and exit only
    expect(out.seconds).to.be.within(wall - 1, wall);
    const { checkingRows, checkingChain, sending } = out.phases;
    expect(checkingRows + checkingChain + sending).to.be.below(out.seconds);
  });

  it("registers 500 devices in chunks, resumes after Ctrl-C and skips what is on-chain", async function () {
    const devices = makeDevices(500, "FLEET");
    const file = writeCsv(path.join(tmp.dir, "fleet.csv"), devices);
    // the test mines: each chunk's transaction waits in the pool until the test mines its block,
    // so Ctrl-C lands while exactly the third chunk of 50 is in flight
    const pending = async () => {
      for (let i = 0; i < 600; i++) {
        const b = await node.rpc<{ transactions: string[] }>("eth_getBlockByNumber", ["pending", false]);
        if (b.transactions.length) return;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error("no chunk was sent");
    };
    await node.rpc("evm_setAutomine", [false]);
    const first = startDtl(["register", "--file", file, "--chunk", "50"], { env: env(MAKER), cwd: tmp.dir });
    let code: number | null;
    try {
      for (const sent of [50, 100]) {
        await pending();
        await node.rpc("evm_mine");
        await first.waitFor(new RegExp(`progress: sending: ${sent}/500 devices`));
      }
      await pending(); // the third chunk
      first.proc.kill("SIGINT");
      await first.waitFor(/stopping… \(press Ctrl-C again to quit at once\)/);
      await node.rpc("evm_mine");
      code = await Promise.race([
        first.exited,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`still running after Ctrl-C:\n${first.stderr()}`)), 30_000).unref(),
        ),
      ]);
    } finally {
      await node.rpc("evm_setAutomine", [true]);
      await first.stop("SIGKILL");
    }
    const stderr = first.stderr();
    expect(code).to.equal(1);
    expect(stderr.trimEnd().split("\n").slice(-3)).to.deep.equal([
      "stopping… (press Ctrl-C again to quit at once)",
      stderr.match(/progress: sending: 150\/500 devices .*/)![0],
      "dtl: register: interrupted after 150 devices; run the same command again to resume",
    ]);

    const again = await dtl(["register", "--file", file, "--chunk", "200", "--json"]);
    expect(again.code, again.stderr).to.equal(0);
    const out = again.json<{
      registered: number;
      skipped: number;
      skippedLines: number[];
      transactions: string[];
      devices: { line: number; deviceId: string }[];
    }>();
    expect(out.skipped).to.equal(150);
    expect(out.skippedLines).to.deep.equal(Array.from({ length: 150 }, (_, i) => i + 2));
    expect(out.registered).to.equal(350);
    expect(out.transactions).to.have.length(2);

    const ids = devices.map((d) => deviceIdFor(MAKER.address, d.serial));
    expect(out.devices.map((d) => d.deviceId)).to.deep.equal(ids);
    const onChain = await readDevices(createRpcClient(node.url), deployment.registry, ids);
    expect(
      onChain.every((d) => d.status === "ACTIVE" && d.manufacturer === MAKER.address && d.eventCount === 1),
    ).to.equal(true);
    expect(onChain.map((d) => d.keyAlgorithm)).to.deep.equal(devices.map((_, i) => (i % 3) + 1));

    const third = await dtl(["register", "--file", file]);
    expect(third.code).to.equal(0);
    expect(third.stderr).to.include("skipping 500 of 500 devices already registered on-chain (lines 2–501)\n");
    expect(third.stdout).to.match(
      /^registered 0 devices in 0 transactions \(\d+\.\d s; checking rows \d+\.\d s, checking the chain \d+\.\d s, sending \d+\.\d s\); 500 already on-chain\n$/,
    );
  });

  it("reads a JSON array and the key hashes it registers are the canonical ones", async function () {
    const devices = makeDevices(3, "JSON");
    const file = path.join(tmp.dir, "devices.json");
    writeFileSync(file, JSON.stringify(devices));
    const r = await dtl(["register", "--file", file, "--json"]);
    expect(r.code, r.stderr).to.equal(0);
    const logs = await actors.provider.getLogs({
      address: deployment.registry,
      topics: [null, deviceIdFor(MAKER.address, "JSON-00002")],
    });
    expect(logs).to.have.length(1);
    const ev = actors.registry.manufacturer.interface.parseLog(logs[0]!)!;
    expect(ev.args.keyHash).to.equal(keyHash(2, devices[1]!.publicKey));
    expect(ev.args.firmwareHash).to.equal(devices[1]!.firmware);
    const bad = path.join(tmp.dir, "bad.json");
    writeFileSync(bad, JSON.stringify([{ ...devices[0], serial: "J-X", colour: "red" }]));
    const b = await dtl(["register", "--file", bad]);
    expect(b.code).to.equal(1);
    expect(withoutProgress(b.stderr)).to.equal(
      `bad.json item 1: unknown field "colour" (expected serial, alg, publicKey, firmware, segment)\ndtl: ${bad}: 1 bad row; nothing was sent\n`,
    );
  });

  it("names the file lines of a chunk the registry refuses", async function () {
    const file = writeCsv(path.join(tmp.dir, "nobody.csv"), makeDevices(5, "NOBODY"));
    const r = await dtl(["register", "--file", file, "--chunk", "3"], NOBODY);
    expect(r.code).to.equal(1);
    expect(r.stderr.trimEnd().split("\n").pop()).to.equal(
      `dtl: register: chunk of 3 devices (${file} lines 2–4) failed: registry refused: AccessControlUnauthorizedAccount(account=${NOBODY.address}, neededRole=MANUFACTURER_ROLE); 0 devices registered before it, re-run to resume`,
    );
  });

  it("refuses rows whose id another manufacturer holds", async function () {
    const devices = makeDevices(2, "TAKEN");
    const squatted = deviceIdFor(MAKER.address, devices[1]!.serial);
    await (
      await actors.registry.manufacturer2.getFunction("registerDevice")(
        squatted,
        1,
        keyHash(1, makeDevices(1)[0]!.publicKey),
        firmwareHash("x"),
        "0x" + "00".repeat(32),
      )
    ).wait();
    const file = writeCsv(path.join(tmp.dir, "taken.csv"), devices);
    const r = await dtl(["register", "--file", file]);
    expect(r.code).to.equal(1);
    expect(withoutProgress(r.stderr)).to.equal(
      `taken.csv:3: device id ${squatted} (serial "TAKEN-00002") is registered by another manufacturer, ${actors.addresses.manufacturer2}\n` +
        `dtl: ${file}: 1 device id(s) belong to another manufacturer; nothing was sent\n`,
    );
  });
});
