/**
 * The two hashes the indexer computes per event, on the fast keccak (common/keccak.ts):
 *
 * - the history head, exactly common/history.ts `nextHistoryHead` (tests assert equality) but
 *   fed with the canonical words {@link DeviceEvent.encodedFields} re-encoded from the decoded
 *   values instead of going through ethers' AbiCoder (~175 µs → ~3 µs per event);
 * - the state digest, a rolling hash over every applied log, folded once per block that has
 *   logs, so it does not depend on how block ranges were split:
 *
 *     genesis = keccak256("dtl/digest/v1" ‖ uint256 chainId ‖ address registry ‖ deployBlockHash)
 *     digest' = keccak256(digest ‖ uint64 blockNumber ‖ blockHash ‖
 *                         keccak256(for each log in order: txHash ‖ uint32 logIndex ‖ topics… ‖ data))
 *
 * Anyone who replays the chain (dtl audit) computes the same value with {@link createHashers}.
 */
import type { KeccakHex } from "../common/keccak";
import type { RawLog } from "./source";

export interface Hashers {
  nextHead(prevHead: string, kind: number, encodedFields: string): string;
  genesisDigest(identity: { chainId: number; registry: string; deployBlockHash: string }): string;
  /** Folds one block's logs (all from that block, in order) into the digest. */
  foldBlock(digest: string, blockNumber: number, blockHash: string, logs: readonly RawLog[]): string;
}

const strip = (h: string) => (h.startsWith("0x") ? h.slice(2) : h).toLowerCase();
const word = (n: number, hexDigits = 64) => n.toString(16).padStart(hexDigits, "0");

export function createHashers(keccak: KeccakHex): Hashers {
  return {
    nextHead(prevHead, kind, encodedFields) {
      return keccak(strip(prevHead) + word(kind) + strip(keccak(encodedFields)));
    },
    genesisDigest({ chainId, registry, deployBlockHash }) {
      return keccak(
        Buffer.from("dtl/digest/v1").toString("hex") +
          word(chainId) +
          strip(registry).padStart(64, "0") +
          strip(deployBlockHash),
      );
    },
    foldBlock(digest, blockNumber, blockHash, logs) {
      let body = "";
      for (const l of logs) {
        body += strip(l.transactionHash) + word(Number.parseInt(l.logIndex, 16), 8);
        for (const t of l.topics) body += strip(t);
        body += strip(l.data);
      }
      return keccak(strip(digest) + word(blockNumber, 16) + strip(blockHash) + strip(keccak(body)));
    },
  };
}
