/**
 * Query.checkpoints, Query.witness and Query.chainLogs (DESIGN §11 "Witness checkpoints"): what a
 * gateway or an auditor needs to check this server instead of trusting it — the checkpoints its
 * witness signed, and the registry's raw logs from the chain (not the index) to recompute the
 * state digest with indexer/hashing.ts.
 */
import { keyAlgorithmEnum } from "../common/codes";
import { JsonRpcError } from "../common/rpc";
import { IndexerError } from "../indexer/errors";
import { readRegistryRange } from "../indexer/source";
import type { ApiContext } from "./context";
import { ERROR_CODES, apiError, badInput } from "./errors";

/** Most blocks one chainLogs call covers. */
export const MAX_CHAIN_LOG_BLOCKS = 10_000;
/** An answer stops at the first block boundary after this many logs. */
export const MAX_CHAIN_LOGS = 5_000;
/** Most checkpoints per page. */
export const MAX_CHECKPOINTS = 500;

const ALGORITHM = { SECP256K1: keyAlgorithmEnum(1), ML_DSA_44: keyAlgorithmEnum(4) } as const;

export const witnessResolvers = {
  checkpoints: async (_: unknown, args: { fromBlock: number; first?: number | null }, ctx: ApiContext) => {
    const first = args.first ?? 100;
    if (first < 0 || first > MAX_CHECKPOINTS) throw badInput("first", `must be 0 to ${MAX_CHECKPOINTS}, got ${first}`);
    if (args.fromBlock < 0) throw badInput("fromBlock", `must be ≥ 0, got ${args.fromBlock}`);
    ctx.snapshot();
    const cps = await ctx.state.store.listCheckpoints(args.fromBlock, first);
    return cps.map((c) => ({ ...c, algorithm: ALGORITHM[c.algorithm] }));
  },
  witness: (_: unknown, __: unknown, ctx: ApiContext) => {
    const w = ctx.state.witness;
    return w ? { ...w, algorithm: ALGORITHM[w.algorithm] } : null;
  },
  chainLogs: async (_: unknown, args: { fromBlock: number; toBlock: number }, ctx: ApiContext) => {
    const chain = ctx.state.chain;
    if (!chain)
      throw apiError(ERROR_CODES.chainUnavailable, "chainLogs: this server was started without a chain RPC URL");
    const { fromBlock, toBlock } = args;
    const snap = ctx.snapshot();
    if (fromBlock < 0) throw badInput("fromBlock", `must be ≥ 0, got ${fromBlock}`);
    if (toBlock < fromBlock) throw badInput("toBlock", `must be ≥ fromBlock ${fromBlock}, got ${toBlock}`);
    if (toBlock > snap.atBlock)
      throw badInput("toBlock", `must be ≤ the indexed block ${snap.atBlock}, got ${toBlock}`);
    if (toBlock - fromBlock + 1 > MAX_CHAIN_LOG_BLOCKS)
      throw badInput(
        "toBlock",
        `at most ${MAX_CHAIN_LOG_BLOCKS} blocks per call, asked for ${toBlock - fromBlock + 1}`,
      );
    let range;
    try {
      range = await readRegistryRange(chain.client, chain.registry, fromBlock, toBlock);
    } catch (err) {
      if (!(err instanceof JsonRpcError) && !(err instanceof IndexerError)) throw err;
      ctx.state.logger.warn({ err, fromBlock, toBlock }, "chainLogs: the chain did not answer");
      throw apiError(
        ERROR_CODES.chainUnavailable,
        `chainLogs: the chain did not answer for blocks ${fromBlock}–${toBlock}`,
      );
    }
    let logs = range.logs;
    let to = toBlock;
    if (logs.length > MAX_CHAIN_LOGS) {
      // whole blocks only: stop after the block holding log number MAX_CHAIN_LOGS
      const last = logs[MAX_CHAIN_LOGS - 1]!.blockNumber;
      logs = logs.filter((l) => l.blockNumber <= last);
      to = Number.parseInt(last, 16);
    }
    const blocks = [...range.headers.values()]
      .filter((h) => h.number >= fromBlock - 1 && h.number <= to)
      .sort((a, b) => a.number - b.number);
    return {
      fromBlock,
      toBlock: to,
      logs: logs.map((l) => ({
        blockNumber: Number.parseInt(l.blockNumber, 16),
        blockHash: l.blockHash,
        transactionHash: l.transactionHash,
        logIndex: Number.parseInt(l.logIndex, 16),
        address: l.address,
        topics: l.topics,
        data: l.data.toLowerCase(),
      })),
      blocks,
    };
  },
};
