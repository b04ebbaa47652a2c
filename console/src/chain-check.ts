/**
 * "Check against the chain": recompute a device's history head from the entries the API showed,
 * with the same code the indexer and `dtl audit` use (common/history.ts, bundled, not copied),
 * and compare it with `historyHead(id)` read from the registry at the same block.
 */
import { EVENT_KINDS, upperSnake, type DeviceEventName } from "../../common/codes";
import { GENESIS_HEAD, nextHistoryHead } from "../../common/history";

export interface ShownEntry {
  seq: number;
  kind: string;
  fields: Record<string, unknown>;
  headAfter: string;
}

export interface ChainHead {
  atBlock: number;
  historyHead: string;
  eventCount: number;
}

export interface CheckResult {
  ok: boolean;
  recomputed: string;
  chain: ChainHead;
  entries: number;
  /** seq of the first entry whose recomputed head differs from the headAfter the API gave. */
  firstBadSeq?: number;
  /** Plain sentences: what matched and what did not. */
  findings: string[];
}

const BY_GRAPHQL_KIND = new Map<string, DeviceEventName>(
  EVENT_KINDS.filter((n): n is DeviceEventName => n !== "").map((n) => [upperSnake(n), n]),
);

export function checkAgainstChain(entries: readonly ShownEntry[], chain: ChainHead): CheckResult {
  let head = GENESIS_HEAD;
  let firstBadSeq: number | undefined;
  const findings: string[] = [];
  for (const e of entries) {
    const name = BY_GRAPHQL_KIND.get(e.kind);
    if (!name) throw new Error(`entry ${e.seq} has an unknown kind ${e.kind}`);
    head = nextHistoryHead(head, name, e.fields);
    if (firstBadSeq === undefined && head !== e.headAfter.toLowerCase()) firstBadSeq = e.seq;
  }
  if (entries.length !== chain.eventCount)
    findings.push(
      `The chain counts ${chain.eventCount} events at block ${chain.atBlock}; ${entries.length} are shown.`,
    );
  if (firstBadSeq !== undefined)
    findings.push(`Entry ${firstBadSeq} does not hash to the head the API gave for it: its fields were altered.`);
  const ok = head === chain.historyHead.toLowerCase() && entries.length === chain.eventCount;
  findings.unshift(
    ok
      ? `The ${entries.length} entries shown hash to the chain's head at block ${chain.atBlock}.`
      : `MISMATCH: the entries shown hash to ${head}, the chain's head at block ${chain.atBlock} is ${chain.historyHead}.`,
  );
  return { ok, recomputed: head, chain, entries: entries.length, firstBadSeq, findings };
}
