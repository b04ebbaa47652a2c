/**
 * Registry views for many devices at once over raw JSON-RPC batches (one HTTP request per
 * `batchSize` calls): getDevice and historyHead, at a given block if asked.
 */
import { getAddress } from "ethers";
import { registryInterface } from "./abi";
import { retry } from "./retry";
import { JsonRpcError, type RpcClient } from "./rpc";
import { DEVICE_STATUS, type DeviceStatusName } from "./codes";

export interface OnChainDevice {
  manufacturer: string;
  status: DeviceStatusName;
  keyAlgorithm: number;
  registeredAt: number;
  eventCount: number;
}

export interface OnChainHead {
  head: string;
  eventCount: number;
}

type BlockTag = number | "latest";
const tag = (b: BlockTag) => (typeof b === "number" ? `0x${b.toString(16)}` : b);

/** Views are idempotent: a dropped connection or a busy node is retried (3 more times, backing off). */
const VIEW_RETRIES = {
  attempts: 4,
  baseMs: 400,
  maxMs: 1_600,
  retryable: (err: unknown) => err instanceof JsonRpcError && err.retryable,
} as const;

async function batchedCalls<T>(
  client: RpcClient,
  registry: string,
  fn: string,
  argsList: readonly unknown[][],
  decode: (data: string) => T,
  block: BlockTag,
  batchSize: number,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < argsList.length; i += batchSize) {
    const part = argsList.slice(i, i + batchSize);
    const calls = part.map((args) => ({
      method: "eth_call",
      params: [{ to: registry, data: registryInterface.encodeFunctionData(fn, args) }, tag(block)],
    }));
    const answers = await retry(() => client.batch<string>(calls), VIEW_RETRIES);
    for (const a of answers) out.push(decode(a));
  }
  return out;
}

/** getDevice(id) for every id (status NONE when not registered). */
export function readDevices(
  client: RpcClient,
  registry: string,
  ids: readonly string[],
  block: BlockTag = "latest",
  batchSize = 500,
): Promise<OnChainDevice[]> {
  return batchedCalls(
    client,
    registry,
    "getDevice",
    ids.map((id) => [id]),
    (data) => {
      const [d] = registryInterface.decodeFunctionResult("getDevice", data) as unknown as [
        { manufacturer: string; status: bigint; keyAlgorithm: bigint; registeredAt: bigint; eventCount: bigint },
      ];
      return {
        manufacturer: getAddress(d.manufacturer),
        status: DEVICE_STATUS[Number(d.status)] ?? "NONE",
        keyAlgorithm: Number(d.keyAlgorithm),
        registeredAt: Number(d.registeredAt),
        eventCount: Number(d.eventCount),
      };
    },
    block,
    batchSize,
  );
}

/** historyHead(id) for every id. */
export function readHistoryHeads(
  client: RpcClient,
  registry: string,
  ids: readonly string[],
  block: BlockTag = "latest",
  batchSize = 500,
): Promise<OnChainHead[]> {
  return batchedCalls(
    client,
    registry,
    "historyHead",
    ids.map((id) => [id]),
    (data) => {
      const [head, eventCount] = registryInterface.decodeFunctionResult("historyHead", data);
      return { head: String(head).toLowerCase(), eventCount: Number(eventCount) };
    },
    block,
    batchSize,
  );
}
