/**
 * Replays the registry's history straight from a node, without a store: what `dtl audit` uses to
 * check an API's answers and digest, and what tests use as an independent reference. It reads
 * the same logs as the indexer (source.ts), re-checks every device's history head and folds the
 * same state digest (hashing.ts).
 */
import { ZeroHash } from "ethers";
import type { Deployment } from "../common/deployment";
import { loadKeccak } from "../common/keccak";
import { createRpcClient, hexToNumber, type RpcClient } from "../common/rpc";
import { HistoryHeadMismatchError } from "./errors";
import { createHashers } from "./hashing";
import { readRegistryRange, type DeviceEvent, type RegistryEvent } from "./source";

export interface ReplayResult {
  /** Last block replayed. */
  block: number;
  blockHash: string;
  /** State digest after `block` (equals an indexer's at the same block). */
  digest: string;
  /** Registry logs replayed. */
  events: number;
  /** Per device: head and event count after `block`. */
  heads: Map<string, { head: string; eventCount: number }>;
  /** The state after each block of {@link ReplayOptions.marks} (what a witness checkpoint signs). */
  marks: Map<number, { blockHash: string; digest: string }>;
}

export interface ReplayOptions {
  /** Last block to replay (default: the head). */
  toBlock?: number;
  /** Blocks per eth_getLogs call (default 2,000). */
  span?: number;
  /** Called for each event in chain order (after its head was checked). */
  onEvent?(event: RegistryEvent): void;
  client?: RpcClient;
  /** Blocks whose hash and digest after them to report (witness checkpoints to check). */
  marks?: readonly number[];
}

/**
 * Replays [deployBlock, toBlock]. Throws {@link HistoryHeadMismatchError} (device id and block in
 * the message) when an event's head does not follow from the device's history.
 */
export async function replayRegistry(
  rpcUrl: string,
  deployment: Deployment,
  opts: ReplayOptions = {},
): Promise<ReplayResult> {
  const client = opts.client ?? createRpcClient(rpcUrl);
  const hashers = createHashers(await loadKeccak());
  const toBlock = opts.toBlock ?? hexToNumber(await client.call<string>("eth_blockNumber"));
  const span = opts.span ?? 2_000;
  const heads = new Map<string, { head: string; eventCount: number }>();
  let digest = hashers.genesisDigest(deployment);
  let events = 0;
  let blockHash = "";
  const want = [...new Set(opts.marks ?? [])].filter((n) => n >= deployment.deployBlock).sort((a, b) => a - b);
  const marks = new Map<number, { blockHash: string; digest: string }>();
  let next = 0;
  for (let from = deployment.deployBlock; from <= toBlock; from += span) {
    const to = Math.min(toBlock, from + span - 1);
    const range = await readRegistryRange(client, deployment.registry, from, to, want);
    // the state after each wanted block up to `upTo`: the digest as folded so far
    const mark = (upTo: number) => {
      for (; next < want.length && want[next]! <= upTo; next++)
        marks.set(want[next]!, { blockHash: range.headers.get(want[next]!)!.hash, digest });
    };
    let i = 0;
    while (i < range.events.length) {
      const start = i;
      const b = range.events[i]!.blockNumber;
      mark(b - 1);
      for (; i < range.events.length && range.events[i]!.blockNumber === b; i++) {
        const e = range.events[i]!;
        if (e.type === "device") checkHead(heads, e, hashers.nextHead);
        opts.onEvent?.(e);
      }
      digest = hashers.foldBlock(digest, b, range.events[start]!.blockHash, range.logs.slice(start, i));
    }
    mark(to);
    events += range.events.length;
    blockHash = range.headers.get(to)!.hash;
  }
  return { block: toBlock, blockHash, digest, events, heads, marks };
}

function checkHead(
  heads: Map<string, { head: string; eventCount: number }>,
  e: DeviceEvent,
  nextHead: (prev: string, kind: number, fields: string) => string,
): void {
  const prev = heads.get(e.deviceId);
  const expected = nextHead(prev?.head ?? ZeroHash, e.kind, e.encodedFields);
  if (expected !== e.head) throw new HistoryHeadMismatchError(e.deviceId, e.blockNumber, e.name, expected, e.head);
  heads.set(e.deviceId, { head: e.head, eventCount: (prev?.eventCount ?? 0) + 1 });
}
