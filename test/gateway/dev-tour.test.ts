/**
 * The README tour of the gateway, as `dtl dev` prints it: make a token with the CLI, connect a demo
 * device with Debian's `mosquitto_sub` over TLS (the local CA `dtl dev` made), revoke the device
 * with the CLI, and watch mosquitto_sub drop. The lines run are the banner's own.
 */
import { expect } from "chai";
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ensureBuilt, runDtl, startDtl, tempDir, type RunningDtl } from "../helpers/cli-run";

describe("dtl dev: the gateway tour (mosquitto_sub, revoke, drop)", function () {
  this.timeout(240_000);
  let tmp: ReturnType<typeof tempDir>;
  let dev: RunningDtl | undefined;

  after(async function () {
    await dev?.stop("SIGKILL");
    tmp?.cleanup();
  });

  it("connects a demo device with the banner's mosquitto_sub line and drops it when revoked", async function () {
    ensureBuilt();
    tmp = tempDir("dtl-gw-dev-");
    const env = {
      DTL_DATA_DIR: path.join(tmp.dir, "dev"),
      DTL_DEPLOYMENT: path.join(tmp.dir, "deployments", "31337.json"),
    };
    dev = startDtl(["dev", "--port", "0", "--chain-port", "0"], { env, cwd: tmp.dir });
    await dev.waitFor(/Ctrl-C stops everything/, 180_000);
    const banner = dev.stdout();
    expect(banner).to.match(/^ {2}gateway {7}mqtts:\/\/127\.0\.0\.1:\d+ {2}\(MQTT over TLS, id dtl-dev; /m);
    const tokenLine = /^ {4}TOKEN=\$\(npx dtl (.+)\)$/m.exec(banner)![1]!;
    const subLine = /^ {4}(mosquitto_sub .+)$/m.exec(banner)![1]!;
    const revokeLine = /^ {4}\(another terminal\) npx dtl (revoke .+)$/m.exec(banner)![1]!;
    const token = await runDtl(tokenLine.split(" "), { env, cwd: tmp.dir });
    expect(token.code, token.stderr).to.equal(0);
    const sub = spawn("bash", ["-c", subLine], {
      cwd: tmp.dir,
      env: { ...process.env, TOKEN: token.stdout.trim() },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let subErr = "";
    sub.stderr.on("data", (c: Buffer) => (subErr += c.toString()));
    const exited = new Promise<number | null>((resolve) => sub.once("exit", (code) => resolve(code)));
    const observations = path.join(env.DTL_DATA_DIR, "gateway", "observations.jsonl");
    // connected: the gateway observed the session start
    const deadline = Date.now() + 20_000;
    for (;;) {
      const text = existsSync(observations) ? readFileSync(observations, "utf8") : "";
      if (text.includes('"event":"start"')) break;
      if (Date.now() > deadline || sub.exitCode !== null) throw new Error(`mosquitto_sub did not connect: ${subErr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const revoke = await runDtl(revokeLine.split(" "), { env, cwd: tmp.dir });
    expect(revoke.code, revoke.stderr).to.equal(0);
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("still running"), 15_000))]);
    sub.kill("SIGKILL");
    expect(code).to.not.equal("still running");
    expect(code).to.not.equal(0);
    const end = readFileSync(observations, "utf8");
    expect(end).to.match(
      /"type":"session","event":"end","deviceId":"0x[0-9a-f]{64}","cause":"device_changed","reasons":\["REVOKED"\]/,
    );
  });
});
