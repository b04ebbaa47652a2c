/**
 * Gas is a tracked figure: measures every registry operation in-process (the same measurement as
 * `npm run bench -- gas`, test/helpers/contracts-gas.ts) and compares it, exactly, with the
 * committed snapshots/gas.json — gas is deterministic, so any change shows in review.
 * Accept a deliberate change with
 *   UPDATE_GAS_SNAPSHOT=1 npx hardhat test test/contracts/gas-snapshot.test.ts
 * which rewrites the file and then FAILS ("snapshot updated, re-run without UPDATE_GAS_SNAPSHOT"):
 * a run that rewrote the snapshot has compared nothing, so it can never be green. Under CI (`CI`
 * set) the variable is refused outright; .ci/run refuses it too.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import hre from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { GAS_FIGURE_NAMES, GAS_TARGETS, measureGas, type GasFigures } from "../helpers/contracts-gas";
import { deployRegistryFixture } from "../helpers/contracts-fixture";

const SNAPSHOT = path.resolve(__dirname, "..", "..", "snapshots", "gas.json");
const UPDATE = "UPDATE_GAS_SNAPSHOT=1 npx hardhat test test/contracts/gas-snapshot.test.ts";
/** Any non-empty value asks for an update (so `UPDATE_GAS_SNAPSHOT=true` cannot compare silently). */
const UPDATING = (process.env.UPDATE_GAS_SNAPSHOT ?? "") !== "";
const IN_CI = (process.env.CI ?? "") !== "";
/** solidity-coverage runs instrumented bytecode: its gas is not the deployed contract's. */
const UNDER_COVERAGE = (hre as { __SOLIDITY_COVERAGE_RUNNING?: boolean }).__SOLIDITY_COVERAGE_RUNNING === true;

async function fixture() {
  const f = await deployRegistryFixture();
  const figures = await measureGas({
    manufacturer: f.registry.connect(f.manufacturer),
    attester: f.registry.connect(f.attester),
  });
  return { ...f, figures };
}

/** "name: snapshot X, measured Y" for every figure that differs. */
function differences(snapshot: Partial<GasFigures>, figures: GasFigures): string[] {
  return GAS_FIGURE_NAMES.filter((k) => figures[k] !== snapshot[k]).map(
    (k) => `${k}: snapshot ${snapshot[k]}, measured ${figures[k]}`,
  );
}

describe("gas snapshot", function () {
  // Declared only for the real bytecode (under coverage the figures would differ by design).
  if (!UNDER_COVERAGE) {
    it("matches snapshots/gas.json exactly", async function () {
      if (UPDATING && IN_CI) {
        throw new Error("CI refuses UPDATE_GAS_SNAPSHOT: the gas snapshot must be compared, not rewritten");
      }
      const { figures } = await loadFixture(fixture);
      const snapshot = JSON.parse(readFileSync(SNAPSHOT, "utf8")) as GasFigures;
      const diffs = differences(snapshot, figures);
      if (UPDATING) {
        writeFileSync(SNAPSHOT, JSON.stringify(figures, null, 2) + "\n");
        expect.fail(
          `snapshot updated, re-run without UPDATE_GAS_SNAPSHOT (${diffs.length} figure(s) changed` +
            (diffs.length ? `:\n${diffs.join("\n")})` : ")"),
        );
      }
      expect(diffs, `gas changed — run \`${UPDATE}\` to accept:\n${diffs.join("\n")}`).to.deep.equal([]);
    });

    it("meets every gas bound of issues 8 and 10 (docs/gas.md)", async function () {
      const { figures } = await loadFixture(fixture);
      const over = Object.entries(GAS_TARGETS)
        .filter(([k, bound]) => figures[k as keyof GasFigures] > bound)
        .map(([k, bound]) => `${k}: ${figures[k as keyof GasFigures]} > ${bound}`);
      expect(Object.keys(GAS_TARGETS)).to.have.lengthOf(6);
      expect(over, "over the bound").to.deep.equal([]);
    });
  }

  it("measures every figure of the snapshot", async function () {
    const { figures } = await loadFixture(fixture);
    expect(Object.keys(figures).sort()).to.deep.equal([...GAS_FIGURE_NAMES].sort());
    for (const k of GAS_FIGURE_NAMES) expect(figures[k], k).to.be.greaterThan(21_000 / 100);
  });
});
