/**
 * The indexer's settings (reorg window, max block range, rebuild, …) come from the one zod config
 * (common/config.ts): `dtl serve` flags override DTL_* variables; the standalone indexer
 * (indexer/main.ts) uses the same loader; every bad value is named in ONE error.
 */
import { expect } from "chai";
import { ConfigError, loadConfig } from "../../common/config";
import { ensureBuilt, runDtl } from "../helpers/cli-run";
import { spawnIndexer } from "../helpers/indexer-process";

const BAD_ENV = {
  DTL_REORG_WINDOW: "0",
  DTL_MAX_BLOCK_RANGE: "lots",
  DTL_REBUILD: "maybe",
  DTL_POLL_MS: "-1",
  DTL_CONFIRMATIONS: "1.5",
  DTL_CACHE_MB: "0",
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

describe("indexer: settings through the shared config", function () {
  this.timeout(120_000);

  describe("loadConfig(['indexer'])", function () {
    it("has the defaults of createIndexer", function () {
      const { indexer } = loadConfig(["indexer"], {}, {});
      expect(indexer).to.deep.include({
        confirmations: 0,
        pollMs: 100,
        reorgWindow: 64,
        maxBlockRange: 100_000,
        rebuild: false,
        cacheMb: 64,
      });
    });

    it("reads DTL_REORG_WINDOW, DTL_MAX_BLOCK_RANGE and DTL_REBUILD; flags override them", function () {
      const env = { DTL_REORG_WINDOW: "16", DTL_MAX_BLOCK_RANGE: "2", DTL_REBUILD: "1" };
      expect(loadConfig(["indexer"], {}, env).indexer).to.deep.include({
        reorgWindow: 16,
        maxBlockRange: 2,
        rebuild: true,
      });
      const flags = { "reorg-window": "128", "max-block-range": "500", rebuild: false };
      expect(loadConfig(["indexer"], flags, env).indexer).to.deep.include({
        reorgWindow: 128,
        maxBlockRange: 500,
        rebuild: false,
      });
      expect(loadConfig(["indexer"], { rebuild: true }, {}).indexer.rebuild).to.equal(true);
      expect(loadConfig(["indexer"], {}, { DTL_REBUILD: "false" }).indexer.rebuild).to.equal(false);
    });

    it("names every bad value at once, each with where it came from", function () {
      const problems = problemsOf(() =>
        loadConfig(["indexer"], { "max-block-range": "0" }, { ...BAD_ENV, DTL_MAX_BLOCK_RANGE: "100" }),
      );
      expect(problems).to.deep.equal([
        `DTL_CONFIRMATIONS: must be a whole number from 0 to 1000 (got "1.5")`,
        `DTL_POLL_MS: must be a whole number from 10 to 600000 (got "-1")`,
        `DTL_REORG_WINDOW: must be a whole number from 1 to 100000 (got "0")`,
        `--max-block-range: must be a whole number from 1 to 10000000 (got "0")`,
        `DTL_REBUILD: must be one of 1, 0, true, false (got "maybe")`,
        `DTL_CACHE_MB: must be a whole number from 1 to 16384 (got "0")`,
      ]);
    });

    it("reads DTL_CACHE_MB (MiB) and --cache-mb; refuses 0, non-numbers and more than 16 GiB", function () {
      expect(loadConfig(["indexer"], {}, { DTL_CACHE_MB: "8" }).indexer.cacheMb).to.equal(8);
      expect(loadConfig(["indexer"], { "cache-mb": "256" }, { DTL_CACHE_MB: "8" }).indexer.cacheMb).to.equal(256);
      for (const bad of ["0", "abc", "16385", "1e3", "-4", "0.5"])
        expect(problemsOf(() => loadConfig(["indexer"], {}, { DTL_CACHE_MB: bad }))).to.deep.equal([
          `DTL_CACHE_MB: must be a whole number from 1 to 16384 (got "${bad}")`,
        ]);
      expect(problemsOf(() => loadConfig(["indexer"], { "cache-mb": "lots" }, {}))).to.deep.equal([
        `--cache-mb: must be a whole number from 1 to 16384 (got "lots")`,
      ]);
    });
  });

  it("the standalone indexer stops with one error naming every bad variable, before any RPC", async function () {
    const p = spawnIndexer({ ...BAD_ENV, DTL_LOG_LEVEL: "loud", DTL_RPC_URL: "ftp://nowhere", DTL_DEPLOYMENT: "" });
    const { code } = await p.exited;
    expect(code).to.equal(1);
    const err = p.stderr();
    const [first, ...lines] = err.trim().split("\n");
    expect(first).to.equal("indexer: ConfigError: bad settings");
    expect(lines, err).to.have.length(9);
    for (const name of [...Object.keys(BAD_ENV), "DTL_LOG_LEVEL", "DTL_RPC_URL", "DTL_DEPLOYMENT"])
      expect(err, name).to.match(new RegExp(`^${name}: `, "m"));
  });

  it("dtl serve takes --reorg-window, --max-block-range, --cache-mb and --rebuild, and names every bad one at once", async function () {
    ensureBuilt();
    const r = await runDtl(
      ["serve", "--reorg-window", "0", "--max-block-range", "x", "--cache-mb", "99999", "--rpc", "http://127.0.0.1:1"],
      { env: { DTL_REBUILD: "sometimes", DTL_POLL_MS: "5" } },
    );
    expect(r.code).to.not.equal(0);
    for (const name of ["--reorg-window", "--max-block-range", "--cache-mb", "DTL_REBUILD", "DTL_POLL_MS"])
      expect(r.stderr, name).to.include(`${name}: `);
  });
});
