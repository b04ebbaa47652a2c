/**
 * Gas is a tracked figure: measures every registry operation in-process (the same measurement as
 * `npm run bench -- gas`, test/helpers/contracts-gas.ts) and compares it, exactly, with the
 * committed snapshots/gas.json — gas is deterministic, so any change shows in review.
 * Accept a deliberate change with
 *   UPDATE_GAS_SNAPSHOT=1 npx hardhat test test/contracts/gas-snapshot.test.ts
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

describe("gas snapshot", function () {
  // Declared only for the real bytecode (under coverage the figures would differ by design).
  if (!UNDER_COVERAGE) {
    it("matches snapshots/gas.json exactly", async function () {
      const { figures } = await loadFixture(fixture);
      if (process.env.UPDATE_GAS_SNAPSHOT === "1") {
        writeFileSync(SNAPSHOT, JSON.stringify(figures, null, 2) + "\n");
        return;
      }
      const snapshot = JSON.parse(readFileSync(SNAPSHOT, "utf8")) as GasFigures;
      const diffs = GAS_FIGURE_NAMES.filter((k) => figures[k] !== snapshot[k]).map(
        (k) => `${k}: snapshot ${snapshot[k]}, measured ${figures[k]}`,
      );
      expect(diffs, `gas changed — run \`${UPDATE}\` to accept:\n${diffs.join("\n")}`).to.deep.equal([]);
    });

    it("meets every gas bound of issue 8 (docs/gas.md)", async function () {
      const { figures } = await loadFixture(fixture);
      const over = Object.entries(GAS_TARGETS)
        .filter(([k, bound]) => figures[k as keyof GasFigures] > bound)
        .map(([k, bound]) => `${k}: ${figures[k as keyof GasFigures]} > ${bound}`);
      expect(Object.keys(GAS_TARGETS)).to.have.lengthOf(5);
      expect(over, "over the bound").to.deep.equal([]);
    });
  }

  it("measures every figure of the snapshot", async function () {
    const { figures } = await loadFixture(fixture);
    expect(Object.keys(figures).sort()).to.deep.equal([...GAS_FIGURE_NAMES].sort());
    for (const k of GAS_FIGURE_NAMES) expect(figures[k], k).to.be.greaterThan(21_000 / 100);
  });
});
