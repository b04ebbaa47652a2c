/**
 * Real chain processes for tests and benchmarks: a `hardhat node` child process on a free port.
 * No mocks: every indexer, API and CLI test talks JSON-RPC over HTTP to one of these.
 * The implementation lives in common/hardhat-node.ts (`dtl dev` starts the same node).
 */
export {
  freePort,
  rpcCall,
  startHardhatNode,
  HARDHAT_MNEMONIC,
  HARDHAT_KEYS,
  type NodeHandle,
  type HardhatNodeOptions,
} from "../../common/hardhat-node";
import { rpcCall } from "../../common/hardhat-node";

/** Mines `n` empty blocks, one evm_mine each (hardhat_mine's reserved blocks do not link by parentHash). */
export async function mineBlocks(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await rpcCall(url, "evm_mine");
}
