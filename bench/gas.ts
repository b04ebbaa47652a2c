/**
 * `npm run bench -- gas`: gas used by every registry operation (DESIGN.md §9 `gas.*` keys), measured
 * on a started hardhat node with the shared measurement of test/helpers/contracts-gas.ts (the same
 * code checks the committed snapshot, snapshots/gas.json). See docs/gas.md for the targets.
 */
import { startHardhatNode } from "../test/helpers/chain";
import { measureGas } from "../test/helpers/contracts-gas";
import { deployFleetRegistry } from "../test/helpers/fleet";

export async function run(): Promise<Record<string, number>> {
  const node = await startHardhatNode();
  try {
    const { actors } = await deployFleetRegistry(node.url);
    const figures = await measureGas({
      manufacturer: actors.registry.manufacturer,
      attester: actors.registry.attester,
    });
    return { ...figures };
  } finally {
    await node.stop();
  }
}
