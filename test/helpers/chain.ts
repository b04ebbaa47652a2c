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
