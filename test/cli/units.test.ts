/**
 * In-process checks of the CLI's pure parts: revert decoding (common/chain.ts), configuration
 * (common/config.ts) and device-file parsing (cli/devices-file.ts).
 */
import { expect } from "chai";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { AbiCoder, Interface, encodeBytes32String, id } from "ethers";
import { registryInterface } from "../../common/abi";
import { decodeRevert, describeChainError, formatRevert } from "../../common/chain";
import { ConfigError, loadConfig } from "../../common/config";
import { attesterRole } from "../../common/roles";
import { lineRanges, parseCsv, readDeviceFile } from "../../cli/devices-file";
import type { Io } from "../../cli/io";
import { createProgress } from "../../cli/progress";
import { makeDevices, toCsv } from "../helpers/cli-fixtures";
import { tempDir } from "../helpers/cli-run";

const ID = "0x" + "ab".repeat(32);
const ACCOUNT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

describe("CLI units", function () {
  describe("decodeRevert", function () {
    it("decodes a registry error with its arguments and status names", function () {
      const data = registryInterface.encodeErrorResult("DeviceRegistryDeviceNotActive", [ID, 2]);
      expect(formatRevert(decodeRevert(data)!)).to.equal(
        `DeviceRegistryDeviceNotActive(deviceId=${ID}, status=SUSPENDED)`,
      );
    });

    it("decodes a batch failure down to the item's own error", function () {
      const inner = registryInterface.encodeErrorResult("DeviceRegistryDeviceAlreadyRegistered", [ID]);
      const d = decodeRevert(registryInterface.encodeErrorResult("DeviceRegistryBatchItemFailed", [7, inner]))!;
      expect(d.item?.index).to.equal(7);
      expect(formatRevert(d)).to.equal(`item 7 of the batch: DeviceRegistryDeviceAlreadyRegistered(deviceId=${ID})`);
    });

    it("names OpenZeppelin's missing role, attester roles when told the kind", function () {
      const role = attesterRole(encodeBytes32String("firmware"));
      const data = registryInterface.encodeErrorResult("AccessControlUnauthorizedAccount", [ACCOUNT, role]);
      expect(formatRevert(decodeRevert(data)!)).to.equal(
        `AccessControlUnauthorizedAccount(account=${ACCOUNT}, neededRole=${role})`,
      );
      expect(formatRevert(decodeRevert(data, { [role]: "ATTESTER_ROLE(firmware)" })!)).to.equal(
        `AccessControlUnauthorizedAccount(account=${ACCOUNT}, neededRole=ATTESTER_ROLE(firmware))`,
      );
      const maker = registryInterface.encodeErrorResult("AccessControlUnauthorizedAccount", [
        ACCOUNT,
        id("MANUFACTURER_ROLE"),
      ]);
      expect(formatRevert(decodeRevert(maker)!)).to.equal(
        `AccessControlUnauthorizedAccount(account=${ACCOUNT}, neededRole=MANUFACTURER_ROLE)`,
      );
    });

    it("finds revert data nested in a provider error, and leaves unknown data alone", function () {
      const data = registryInterface.encodeErrorResult("DeviceRegistryUnknownDevice", [ID]);
      const err = { code: "CALL_EXCEPTION", shortMessage: "execution reverted", info: { error: { code: 3, data } } };
      expect(describeChainError(err)).to.equal(`registry refused: DeviceRegistryUnknownDevice(deviceId=${ID})`);
      const foreign = new Interface(["error Nope(uint256)"]).encodeErrorResult("Nope", [1]);
      expect(decodeRevert(foreign)).to.equal(undefined);
      expect(describeChainError({ code: "CALL_EXCEPTION", data: foreign })).to.equal(
        `the transaction reverted without a reason the registry ABI knows (data ${foreign})`,
      );
      const text = "0x08c379a0" + AbiCoder.defaultAbiCoder().encode(["string"], ["plain reason"]).slice(2);
      expect(formatRevert(decodeRevert(text)!)).to.equal("plain reason");
    });
  });

  describe("loadConfig", function () {
    it("takes flags over env over defaults", function () {
      const c = loadConfig(
        ["chain", "server", "client"],
        { rpc: "http://node:1" },
        { DTL_RPC_URL: "http://env:2", DTL_PORT: "4100" },
      );
      expect(c.chain).to.deep.equal({ rpcUrl: "http://node:1" });
      expect(c.server).to.include({ host: "127.0.0.1", port: 4100, maxLagBlocks: 2, logLevel: "info" });
      expect(c.client.apiUrl).to.equal("http://127.0.0.1:4100/graphql");
    });

    it("reports every bad value, one line each, naming where it came from, never a secret", function () {
      let err: unknown;
      try {
        loadConfig(
          ["chain", "indexer", "server", "signer"],
          { port: "99999" },
          {
            DTL_RPC_URL: "nope",
            DTL_CONFIRMATIONS: "-1",
            DTL_API_KEYS: "short",
            DTL_PRIVATE_KEY: "0xsecret",
            DTL_LOG_LEVEL: "loud",
          },
        );
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as ConfigError).problems).to.deep.equal([
        'DTL_RPC_URL: must be an http(s) URL (got "nope")',
        'DTL_CONFIRMATIONS: must be a whole number from 0 to 1000 (got "-1")',
        '--port: must be a whole number from 0 to 65535 (got "99999")',
        "DTL_API_KEYS: every key must be at least 16 characters",
        'DTL_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent (got "loud")',
        "DTL_PRIVATE_KEY: must be 32 bytes of hex (64 hex digits, 0x optional)",
      ]);
    });
  });

  describe("device files", function () {
    it("parses quoted CSV fields and CRLF line ends, keeping line numbers", function () {
      expect(parseCsv('serial,alg\r\n"a,""b""",p256\r\n\r\nc,ed25519')).to.deep.equal({
        rows: [
          [1, ["serial", "alg"]],
          [2, ['a,"b"', "p256"]],
          [4, ["c", "ed25519"]],
        ],
        errors: [],
      });
      expect(lineRanges([2, 3, 4, 7, 9, 10])).to.equal("2–4, 7, 9–10");
    });

    it("skips a byte order mark and blank lines, takes mixed line ends and a field over two lines", function () {
      expect(parseCsv('\ufeffserial,alg\n\n  \r\n"multi\nline",p256\rb,ed25519\r\n\n')).to.deep.equal({
        rows: [
          [1, ["serial", "alg"]],
          [3, ["  "]],
          [4, ["multi\nline", "p256"]],
          [6, ["b", "ed25519"]],
        ],
        errors: [],
      });
    });

    it("names every row with a quoting error by its line and goes on", function () {
      const tmp = tempDir();
      try {
        const file = path.join(tmp.dir, "q.csv");
        const [a, b] = makeDevices(2);
        const row = (d: typeof a, serial: string) => `${serial},${d!.alg},${d!.publicKey},${d!.firmware},`;
        writeFileSync(
          file,
          ["serial,alg,publicKey,firmware,segment", row(a, '"Q-1"x'), row(b, "Q-2"), row(a, '"Q-3'), ""].join("\n"),
        );
        expect(readDeviceFile(file)).to.deep.equal({
          ok: false,
          badRows: 2,
          problems: [
            'q.csv:2: Invalid Closing Quote: got "x" instead of delimiter, record delimiter, trimable character (if activated) or comment',
            "q.csv:4: Quote Not Closed: the parsing is finished with an opening quote",
          ],
        });
      } finally {
        tmp.cleanup();
      }
    });

    it("rejects unknown and missing columns by name", function () {
      const tmp = tempDir();
      try {
        const file = path.join(tmp.dir, "d.csv");
        writeFileSync(file, "serial,algo,publicKey\nx,p256,0x02\n");
        expect(readDeviceFile(file)).to.deep.equal({
          ok: false,
          badRows: 0,
          problems: [
            'd.csv:1: unknown column "algo" (expected serial,alg,publicKey,firmware,segment)',
            'd.csv:1: missing column "alg"',
            'd.csv:1: missing column "firmware"',
          ],
        });
        writeFileSync(file, toCsv(makeDevices(2)));
        const ok = readDeviceFile(file);
        expect(ok.ok && ok.rows.map((r) => [r.line, r.serial, r.keyAlgorithm])).to.deep.equal([
          [2, "SN-00001", 1],
          [3, "SN-00002", 2],
        ]);
      } finally {
        tmp.cleanup();
      }
    });
  });

  describe("progress", function () {
    const fakeIo = (tty: boolean) => {
      const err: string[] = [];
      const raw: string[] = [];
      const io: Io = {
        out: () => undefined,
        err: (l) => err.push(l),
        json: () => undefined,
        errRaw: (t) => raw.push(t),
        stderrIsTty: tty,
        stdinIsTty: false,
      };
      return { io, err, raw };
    };

    it("redraws a bar with rate and ETA on a terminal", function () {
      let now = 0;
      const { io, raw } = fakeIo(true);
      const p = createProgress(io, 1000, "devices", { phase: "sending", now: () => now });
      now = 2000;
      p.update(400);
      now = 2500;
      expect(p.finish()).to.equal(2.5);
      expect(raw).to.deep.equal([
        `\r[############..................] sending: 400/1,000 devices 40%  200/s  ETA 3s\x1b[K`,
        "\n",
      ]);
    });

    it("prints plain lines elsewhere", function () {
      let now = 0;
      const { io, err, raw } = fakeIo(false);
      const p = createProgress(io, 10_000, "devices", { phase: "checking the chain", now: () => now });
      now = 10_000;
      p.update(2_000);
      now = 50_000;
      p.update(10_000);
      expect(p.finish()).to.equal(50);
      expect(err).to.deep.equal([
        "progress: checking the chain: 2,000/10,000 devices 20%  200/s  ETA 40s",
        "progress: checking the chain: 10,000/10,000 devices 100%  200/s  ETA 0s",
      ]);
      expect(raw).to.deep.equal([]);
    });
  });
});
