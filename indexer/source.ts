/**
 * The indexer's input stage, reusable by anyone who replays the chain (`dtl audit`): fetch the
 * registry's logs of a block range with plain JSON-RPC and decode them into typed device and role
 * events with a precomputed topic → decoder map (no ethers Interface on the hot path), plus the
 * block headers the indexer needs (timestamps, hashes for the reorg window).
 *
 * Every device event's fields are all static ABI types (bytes32, address, uint8, uint40), so the
 * decoder reads 32-byte words straight from `topics`/`data` and re-encodes the decoded values
 * into the canonical words the history head commits to ({@link DeviceEvent.encodedFields}).
 */
import { getAddress } from "ethers";
import { LRUCache } from "lru-cache";
import {
  BATCH_EVENT_NAMES,
  DEVICE_EVENT_NAMES,
  ROLE_EVENT_NAMES,
  eventFragment,
  registryInterface,
  type BatchEventName,
} from "../common/abi";
import { eventKindCode, type DeviceEventName } from "../common/codes";
import { hexToNumber, numberToHex, type RpcCall, type RpcClient } from "../common/rpc";
import { InconsistentNodeError } from "./errors";

/** A log as eth_getLogs returns it. */
export interface RawLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  blockHash: string;
  transactionHash: string;
  logIndex: string;
  removed?: boolean;
}

export interface LogLocation {
  blockNumber: number;
  blockHash: string;
  transactionHash: string;
  logIndex: number;
}

export interface DeviceEvent extends LogLocation {
  type: "device";
  name: DeviceEventName;
  /** EventKind code (the `kind` of the history head formula). */
  kind: number;
  deviceId: string;
  /** All fields but `head`, JSON-safe (bytes32 lowercase hex, addresses EIP-55, uints as numbers). */
  fields: Record<string, string | number>;
  /** Who caused it: manufacturer, attester or `by`. */
  actor: string;
  /** The head the event reports. */
  head: string;
  /** abi.encode(<fields but head>) re-encoded from the decoded values, hex without 0x. */
  encodedFields: string;
}

export interface RoleEvent extends LogLocation {
  type: "role";
  name: (typeof ROLE_EVENT_NAMES)[number];
  role: string;
  account: string;
  sender: string;
}

/** An anchored-batch event (DESIGN §10); fields by name, JSON-safe like a device event's. */
export type BatchEvent = LogLocation & { type: "batch" } & (
    | {
        name: "DevicesAnchored";
        batchId: string;
        manufacturer: string;
        root: string;
        count: number;
        manifestHash: string;
        manifestUri: string;
      }
    | { name: "BatchRevoked"; batchId: string; manufacturer: string; by: string; reason: number }
    | { name: "DeviceMaterialized"; batchId: string; deviceId: string }
  );

export type RegistryEvent = DeviceEvent | RoleEvent | BatchEvent;

export interface BlockHeader {
  number: number;
  hash: string;
  parentHash: string;
  timestamp: number;
}

// ------------------------------------------------------------------ decoding

/** EIP-55 of a 32-byte word's low 20 bytes, memoised: a registry sees few distinct accounts. */
const addresses = new LRUCache<string, string>({ max: 100_000, memoMethod: (low) => getAddress("0x" + low) });

function wordToAddress(word: string): string {
  return addresses.memo(word.slice(-40).toLowerCase());
}

type FieldType = "bytes32" | "address" | "uint8" | "uint40";

interface FieldSpec {
  name: string;
  type: FieldType;
  /** Topic index (1..3) when indexed, else the word index in data. */
  topic?: number;
  word?: number;
}

interface DeviceDecoder {
  name: DeviceEventName;
  kind: number;
  fields: FieldSpec[];
  /** Word index of `head` in data. */
  headWord: number;
  actorField: string;
  topicCount: number;
  dataWords: number;
}

const MAX_UINT: Record<string, number> = { uint8: 0xff, uint40: 0xff_ffff_ffff };

function fieldSpecs(name: string): { specs: FieldSpec[]; topicCount: number; dataWords: number } {
  let topic = 1;
  let word = 0;
  const specs = eventFragment(name).inputs.map((i): FieldSpec => {
    if (!["bytes32", "address", "uint8", "uint40"].includes(i.type))
      throw new Error(`${name}.${i.name}: unsupported type ${i.type}`);
    const type = i.type as FieldType;
    return i.indexed ? { name: i.name, type, topic: topic++ } : { name: i.name, type, word: word++ };
  });
  return { specs, topicCount: topic, dataWords: word };
}

const DEVICE_DECODERS = new Map<string, DeviceDecoder>(
  DEVICE_EVENT_NAMES.map((name) => {
    const { specs, topicCount, dataWords } = fieldSpecs(name);
    const head = specs.find((s) => s.name === "head");
    if (!head || head.word === undefined) throw new Error(`${name} has no head in data`);
    const actorField = ["manufacturer", "attester", "by"].find((n) => specs.some((s) => s.name === n));
    if (!actorField) throw new Error(`${name} names no actor`);
    const decoder: DeviceDecoder = {
      name,
      kind: eventKindCode(name),
      fields: specs.filter((s) => s.name !== "head"),
      headWord: head.word,
      actorField,
      topicCount,
      dataWords,
    };
    return [eventFragment(name).topicHash, decoder];
  }),
);

const FIELD_NAMES = new Map<DeviceEventName, readonly string[]>(
  [...DEVICE_DECODERS.values()].map((d) => [d.name, d.fields.map((f) => f.name)]),
);

/** A device event's field names in ABI order, without `head`. */
export function deviceEventFieldNames(name: DeviceEventName): readonly string[] {
  return FIELD_NAMES.get(name)!;
}

const ROLE_DECODERS = new Map<string, RoleEvent["name"]>(ROLE_EVENT_NAMES.map((n) => [eventFragment(n).topicHash, n]));

const BATCH_DECODERS = new Map<string, BatchEventName>(BATCH_EVENT_NAMES.map((n) => [eventFragment(n).topicHash, n]));

/** topic0 of every event the indexer applies: the filter of its eth_getLogs calls. */
export const INDEXED_TOPICS: readonly string[] = [
  ...DEVICE_DECODERS.keys(),
  ...ROLE_DECODERS.keys(),
  ...BATCH_DECODERS.keys(),
];

/**
 * A batch event through ethers' ABI coder: rare (one per batch or per materialized device) and
 * DevicesAnchored carries a string, so the word reader of device events does not apply.
 */
function decodeBatchLog(log: RawLog, name: BatchEventName, loc: LogLocation): BatchEvent {
  let r: ReturnType<typeof registryInterface.decodeEventLog>;
  try {
    r = registryInterface.decodeEventLog(name, log.data, log.topics);
  } catch (err) {
    throw malformed(log, `${name}: ${(err as Error).message.slice(0, 200)}`);
  }
  const b32 = (v: unknown) => String(v).toLowerCase();
  switch (name) {
    case "DevicesAnchored":
      return {
        type: "batch",
        name,
        ...loc,
        batchId: b32(r.batchId),
        manufacturer: getAddress(String(r.manufacturer)),
        root: b32(r.root),
        count: Number(r.count),
        manifestHash: b32(r.manifestHash),
        manifestUri: String(r.manifestUri),
      };
    case "BatchRevoked":
      return {
        type: "batch",
        name,
        ...loc,
        batchId: b32(r.batchId),
        manufacturer: getAddress(String(r.manufacturer)),
        by: getAddress(String(r.by)),
        reason: Number(r.reason),
      };
    case "DeviceMaterialized":
      return { type: "batch", name, ...loc, batchId: b32(r.batchId), deviceId: b32(r.deviceId) };
  }
}

const ADDRESS_PAD = "000000000000000000000000";

function malformed(log: RawLog, what: string): InconsistentNodeError {
  return new InconsistentNodeError(
    `malformed log at block ${hexToNumber(log.blockNumber)} index ${hexToNumber(log.logIndex)}: ${what}`,
  );
}

/** Decodes one log of the registry; throws {@link InconsistentNodeError} on a malformed one. */
export function decodeLog(log: RawLog): RegistryEvent {
  const topic0 = log.topics[0]?.toLowerCase() ?? "";
  const loc: LogLocation = {
    blockNumber: hexToNumber(log.blockNumber),
    blockHash: log.blockHash.toLowerCase(),
    transactionHash: log.transactionHash.toLowerCase(),
    logIndex: hexToNumber(log.logIndex),
  };
  const role = ROLE_DECODERS.get(topic0);
  if (role) {
    if (log.topics.length !== 4) throw malformed(log, `${role} with ${log.topics.length} topics`);
    return {
      type: "role",
      name: role,
      ...loc,
      role: log.topics[1]!.toLowerCase(),
      account: wordToAddress(log.topics[2]!),
      sender: wordToAddress(log.topics[3]!),
    };
  }
  const batch = BATCH_DECODERS.get(topic0);
  if (batch) return decodeBatchLog(log, batch, loc);
  const d = DEVICE_DECODERS.get(topic0);
  if (!d) throw malformed(log, `unknown topic ${topic0}`);
  const data = log.data.startsWith("0x") ? log.data.slice(2) : log.data;
  if (log.topics.length !== d.topicCount || data.length !== d.dataWords * 64 || !/^[0-9a-fA-F]*$/.test(data)) {
    throw malformed(log, `${d.name} with ${log.topics.length} topics and ${data.length / 2} data bytes`);
  }
  const fields: Record<string, string | number> = {};
  let encoded = "";
  for (const f of d.fields) {
    const raw = (
      f.topic !== undefined ? log.topics[f.topic]!.slice(2) : data.slice(f.word! * 64, f.word! * 64 + 64)
    ).toLowerCase();
    if (raw.length !== 64) throw malformed(log, `${d.name}.${f.name} is not a 32-byte word`);
    switch (f.type) {
      case "bytes32":
        fields[f.name] = "0x" + raw;
        encoded += raw;
        break;
      case "address":
        if (!raw.startsWith(ADDRESS_PAD)) throw malformed(log, `${d.name}.${f.name} is not an address`);
        fields[f.name] = wordToAddress(raw);
        encoded += raw;
        break;
      default: {
        const n = Number.parseInt(raw, 16);
        if (!(n <= MAX_UINT[f.type]!)) throw malformed(log, `${d.name}.${f.name} out of ${f.type} range`);
        fields[f.name] = n;
        encoded += n.toString(16).padStart(64, "0");
      }
    }
  }
  return {
    type: "device",
    name: d.name,
    kind: d.kind,
    ...loc,
    deviceId: fields.deviceId as string,
    fields,
    actor: fields[d.actorField] as string,
    head: "0x" + data.slice(d.headWord * 64, d.headWord * 64 + 64).toLowerCase(),
    encodedFields: encoded,
  };
}

// ------------------------------------------------------------------ fetching

/**
 * The registry's indexed logs of [from, to], checked to be what was asked for: the registry's
 * address, inside the range, not `removed`, in chain order.
 */
export async function fetchRegistryLogs(
  client: RpcClient,
  registry: string,
  from: number,
  to: number,
  opts: { timeoutMs?: number } = {},
): Promise<RawLog[]> {
  const logs = await client.call<RawLog[]>(
    "eth_getLogs",
    [{ address: registry, fromBlock: numberToHex(from), toBlock: numberToHex(to), topics: [INDEXED_TOPICS] }],
    opts,
  );
  checkLogs(logs, registry, from, to);
  return logs;
}

/** The checks of {@link fetchRegistryLogs} for logs obtained another way (e.g. in a batch). */
export function checkLogs(logs: unknown, registry: string, from: number, to: number): asserts logs is RawLog[] {
  if (!Array.isArray(logs)) throw new InconsistentNodeError(`eth_getLogs ${from}..${to} did not answer a list`);
  const address = registry.toLowerCase();
  let prevBlock = -1;
  let prevIndex = -1;
  for (const l of logs as RawLog[]) {
    if (
      typeof l !== "object" ||
      l === null ||
      typeof l.address !== "string" ||
      !Array.isArray(l.topics) ||
      typeof l.data !== "string"
    ) {
      throw new InconsistentNodeError(`eth_getLogs ${from}..${to} answered a malformed log`);
    }
    const b = hexToNumber(l.blockNumber);
    const i = hexToNumber(l.logIndex);
    if (l.address.toLowerCase() !== address)
      throw new InconsistentNodeError(`eth_getLogs ${from}..${to} answered a log of ${l.address}`);
    if (!(b >= from && b <= to))
      throw new InconsistentNodeError(`eth_getLogs ${from}..${to} answered a log of block ${b}`);
    if (l.removed === true)
      throw new InconsistentNodeError(`eth_getLogs ${from}..${to} answered a removed log at block ${b}`);
    if (b < prevBlock || (b === prevBlock && i <= prevIndex)) {
      throw new InconsistentNodeError(`eth_getLogs ${from}..${to} answered logs out of order at block ${b}`);
    }
    prevBlock = b;
    prevIndex = i;
  }
}

interface RawHeader {
  number: string;
  hash: string;
  parentHash: string;
  timestamp: string;
}

export function parseHeader(raw: unknown, expected?: number): BlockHeader {
  const h = raw as RawHeader | null;
  if (!h || typeof h.hash !== "string" || typeof h.parentHash !== "string") {
    throw new InconsistentNodeError(`the node has no block ${expected ?? "latest"}`);
  }
  const header = {
    number: hexToNumber(h.number),
    hash: h.hash.toLowerCase(),
    parentHash: h.parentHash.toLowerCase(),
    timestamp: hexToNumber(h.timestamp),
  };
  if (expected !== undefined && header.number !== expected) {
    throw new InconsistentNodeError(`asked for block ${expected}, the node answered block ${header.number}`);
  }
  return header;
}

/** The eth_getBlockByNumber call for a header (no transactions). */
export function headerCall(block: number | "latest"): RpcCall {
  return { method: "eth_getBlockByNumber", params: [block === "latest" ? "latest" : numberToHex(block), false] };
}

/** Headers of the given blocks in JSON-RPC batches of `batchSize`; a missing block is an error. */
export async function fetchHeaders(
  client: RpcClient,
  numbers: Iterable<number>,
  opts: { batchSize?: number; timeoutMs?: number } = {},
): Promise<Map<number, BlockHeader>> {
  const list = [...new Set(numbers)];
  const size = opts.batchSize ?? 500;
  const out = new Map<number, BlockHeader>();
  for (let i = 0; i < list.length; i += size) {
    const part = list.slice(i, i + size);
    const raws = await client.batch(part.map(headerCall), opts);
    part.forEach((n, j) => out.set(n, parseHeader(raws[j], n)));
  }
  return out;
}

export async function fetchHead(client: RpcClient): Promise<BlockHeader> {
  return parseHeader(await client.call("eth_getBlockByNumber", ["latest", false]));
}

// ------------------------------------------------------------------ one range, decoded

export interface DecodedRange {
  from: number;
  to: number;
  logs: RawLog[];
  events: RegistryEvent[];
  /**
   * Headers of every block with a log, of `to`, and of `from − 1` when from > 0; in a
   * {@link readWindowRange} every header of [from − 1, to].
   */
  headers: Map<number, BlockHeader>;
}

/**
 * Logs of [from, to] decoded, with the headers of their blocks; each log's block hash is checked
 * against its header (a mismatch means the chain moved during the fetch: retry). For ranges far
 * behind the head, where only the blocks with logs and the range's ends matter.
 */
export async function readRegistryRange(
  client: RpcClient,
  registry: string,
  from: number,
  to: number,
): Promise<DecodedRange> {
  const logs = await fetchRegistryLogs(client, registry, from, to);
  const events = logs.map(decodeLog);
  const wanted = new Set(events.map((e) => e.blockNumber));
  wanted.add(to);
  if (from > 0) wanted.add(from - 1);
  const headers = await fetchHeaders(client, wanted);
  checkLogBlocks(events, headers);
  return { from, to, logs, events, headers };
}

/**
 * Inside the reorg window: the logs of [from, to] and every header of [from − 1, to] in ONE
 * JSON-RPC batch (one state of the node), checked to link block by block by `parentHash`.
 */
export async function readWindowRange(
  client: RpcClient,
  registry: string,
  from: number,
  to: number,
): Promise<DecodedRange> {
  const calls: RpcCall[] = [
    {
      method: "eth_getLogs",
      params: [{ address: registry, fromBlock: numberToHex(from), toBlock: numberToHex(to), topics: [INDEXED_TOPICS] }],
    },
  ];
  for (let n = from - 1; n <= to; n++) calls.push(headerCall(n));
  const [logs, ...rawHeaders] = await client.batch<unknown>(calls);
  checkLogs(logs, registry, from, to);
  const headers = new Map<number, BlockHeader>();
  rawHeaders.forEach((h, i) => headers.set(from - 1 + i, parseHeader(h, from - 1 + i)));
  for (let n = from; n <= to; n++) {
    if (headers.get(n)!.parentHash !== headers.get(n - 1)!.hash) {
      throw new InconsistentNodeError(`block ${n} does not link to block ${n - 1} (the chain moved during the fetch)`);
    }
  }
  const events = logs.map(decodeLog);
  checkLogBlocks(events, headers);
  return { from, to, logs, events, headers };
}

/** The node's hash of each block (lowercase), `undefined` for a block it does not have. One batch. */
export async function readBlockHashes(client: RpcClient, numbers: readonly number[]): Promise<(string | undefined)[]> {
  const raws = await client.batch<unknown>(numbers.map(headerCall));
  return raws.map((raw) => {
    const hash = (raw as { hash?: unknown } | null)?.hash;
    return typeof hash === "string" ? hash.toLowerCase() : undefined;
  });
}

/** Every event's block hash equals its block's header hash. */
export function checkLogBlocks(events: readonly LogLocation[], headers: ReadonlyMap<number, BlockHeader>): void {
  for (const e of events) {
    const h = headers.get(e.blockNumber);
    if (!h) throw new InconsistentNodeError(`no header fetched for block ${e.blockNumber}`);
    if (h.hash !== e.blockHash) {
      throw new InconsistentNodeError(
        `log of block ${e.blockNumber} has block hash ${e.blockHash}, the header says ${h.hash} (the chain moved)`,
      );
    }
  }
}
