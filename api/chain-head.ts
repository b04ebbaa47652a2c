/**
 * Query.chainHistoryHead: registry.historyHead(id) read from the chain (eth_call at a block), not
 * from the index — what the console's "check against the chain" compares the entries it was
 * shown with. The index may lag the chain, never lead it: the default block is the indexed one.
 */
import { readHistoryHeads } from "../common/registry-views";
import { JsonRpcError } from "../common/rpc";
import type { ApiContext } from "./context";
import { ERROR_CODES, apiError, badInput } from "./errors";

export async function chainHistoryHead(
  _: unknown,
  args: { id: string; atBlock?: number | null },
  ctx: ApiContext,
): Promise<{ deviceId: string; atBlock: number; historyHead: string; eventCount: number }> {
  const chain = ctx.state.chain;
  if (!chain)
    throw apiError(ERROR_CODES.chainUnavailable, "chainHistoryHead: this server was started without a chain RPC URL");
  const snap = ctx.snapshot();
  const block = args.atBlock ?? snap.atBlock;
  if (block < 0 || block > snap.status.headBlock)
    throw badInput("atBlock", `must be between 0 and the chain head ${snap.status.headBlock}, got ${block}`);
  try {
    const [head] = await readHistoryHeads(chain.client, chain.registry, [args.id], block);
    return { deviceId: args.id, atBlock: block, historyHead: head!.head, eventCount: head!.eventCount };
  } catch (err) {
    if (!(err instanceof JsonRpcError)) throw err;
    ctx.state.logger.warn({ err, block }, "chainHistoryHead: the chain did not answer");
    throw apiError(ERROR_CODES.chainUnavailable, `chainHistoryHead: the chain did not answer at block ${block}`);
  }
}
