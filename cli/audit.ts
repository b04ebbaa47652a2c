/**
 * The auditor's check (`dtl audit`): replay the registry's logs straight from the chain (the
 * indexer's replay: its log source over raw JSON-RPC and its state digest), recompute every
 * device's history head (common/history.ts), then compare
 *   (a) each recomputed head with `historyHead(id)` on chain,
 *   (b) what an API reports — device list, every history entry, head, event count, digest — at
 *       one block: the API's indexed block when the audit starts (entries the API added later
 *       are outside the audit), and
 *   (c) every field of every device record the API serves, and its default-policy verdict, with
 *       the record the chain gives at the block each answer reflects (cli/audit-records.ts).
 * Every difference names the device, the block, and for a record the field.
 */
import { getAddress } from "ethers";
import pLimit from "p-limit";
import { decodeShortName } from "../common/ids";
import { MANUFACTURER_ROLE } from "../common/roles";
import { GENESIS_HEAD, nextHistoryHead } from "../common/history";
import { readHistoryHeads } from "../common/registry-views";
import type { RpcClient } from "../common/rpc";
import { hexToNumber } from "../common/rpc";
import { keyAlgorithmOfEnum, upperSnake, type DeviceEventName } from "../common/codes";
import { DEVICE_EVENT_NAMES } from "../common/abi";
import type { Deployment } from "../common/deployment";
import { evaluateTrust } from "../api/trust-engine";
import { HistoryHeadMismatchError } from "../indexer/errors";
import { replayRegistry } from "../indexer/replay";
import {
  fetchHeaders,
  readRegistryRange,
  type DeviceEvent,
  type RegistryEvent,
  type RoleEvent,
} from "../indexer/source";
import {
  DEVICES_PAGE,
  MAX_VERDICT_IDS,
  VERDICTS,
  expectedRecord,
  recordDifferences,
  roleHistory,
  show,
  type ApiDevice,
  type ApiVerdict,
  type ExpectedRecord,
  type ReplayedEntry,
  type RoleHistory,
} from "./audit-records";
import { gql, type DataOf, type GraphqlClient } from "./graphql";
import { fetchHistory, type HistoryEntry } from "./commands/history";

export interface AuditProblem {
  /** Device concerned; absent for registry-wide problems (digest, block hash). */
  deviceId?: string;
  /** Block of the first entry that differs (or the audit block). */
  block: number;
  /** Position in the device's history, when it is about an entry. */
  seq?: number;
  /** The record field that differs ("status", "revocation.reason", "attestations[<uid>].expiresAt", "verdict.reasons"). */
  field?: string;
  /** The block the API's answer reflects (its `atBlock`), for a record or verdict difference. */
  atBlock?: number;
  source: "chain" | "api";
  message: string;
}

export interface AuditReport {
  consistent: boolean;
  chainId: number;
  registry: string;
  /** The block audited (the API's indexed block). */
  block: number;
  blockHash: string;
  devices: number;
  events: number;
  logs: number;
  digest: { replayed: string; api: string };
  problems: AuditProblem[];
}

interface ApiStatus {
  chainId: number;
  registry: string;
  indexedBlock: number;
  indexedBlockHash: string;
  digest: string;
  maxLagBlocks: number;
  fatalError: string | null;
}

interface Replay {
  logs: number;
  digest: string;
  /** Device entries up to the replayed block. */
  devices: Map<string, ReplayedEntry[]>;
  /** Role events up to the replayed block. */
  roles: RoleEvent[];
  problems: AuditProblem[];
  /** Adds one more event (after the replayed block) to `devices` and `roles`. */
  add(ev: RegistryEvent): void;
}

/**
 * Replays [deployBlock, to] with the indexer's replay (its log source and digest), recomputing
 * each device's head independently with common/history.ts. An event whose carried head does not
 * follow from the device's history ends the replay with a problem against the chain.
 */
export async function replayChain(client: RpcClient, deployment: Deployment, to: number): Promise<Replay> {
  const devices = new Map<string, ReplayedEntry[]>();
  const roles: RoleEvent[] = [];
  const problems: AuditProblem[] = [];
  const onEvent = (ev: RegistryEvent) => {
    if (ev.type === "batch") return;
    if (ev.type !== "device") return void roles.push(ev);
    const entries = devices.get(ev.deviceId) ?? [];
    const prev = entries[entries.length - 1]?.headAfter ?? GENESIS_HEAD;
    entries.push(toEntry(ev, entries.length + 1, nextHistoryHead(prev, ev.name, ev.fields)));
    devices.set(ev.deviceId, entries);
  };
  try {
    const r = await replayRegistry(client.url, deployment, { toBlock: to, client, onEvent });
    return { logs: r.events, digest: r.digest, devices, roles, problems, add: onEvent };
  } catch (err) {
    if (!(err instanceof HistoryHeadMismatchError)) throw err;
    problems.push({ block: to, source: "chain", message: `the chain's own events do not chain: ${err.message}` });
    return { logs: 0, digest: "", devices, roles, problems, add: onEvent };
  }
}

function toEntry(ev: DeviceEvent, seq: number, head: string): ReplayedEntry {
  return {
    seq,
    kind: upperSnake(ev.name),
    blockNumber: ev.blockNumber,
    blockHash: ev.blockHash,
    transactionHash: ev.transactionHash,
    logIndex: ev.logIndex,
    actor: ev.actor,
    fields: ev.fields,
    headAfter: head,
  };
}

const NAME_BY_KIND = new Map<string, DeviceEventName>(DEVICE_EVENT_NAMES.map((n) => [upperSnake(n), n]));

const canon = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : typeof x === "string" && /^0x[0-9a-fA-F]{64}$/.test(x)
        ? x.toLowerCase()
        : x,
  );

const describe = (e: { seq: number; kind: string; blockNumber: number; logIndex: number }) =>
  `#${e.seq} ${e.kind} (block ${e.blockNumber}, log ${e.logIndex})`;

/** Which fields of an API entry differ from the chain's (names only, with both values). */
function entryDiff(api: HistoryEntry, chain: ReplayedEntry): string[] {
  const out: string[] = [];
  for (const k of [
    "seq",
    "kind",
    "blockNumber",
    "blockHash",
    "transactionHash",
    "logIndex",
    "actor",
    "headAfter",
  ] as const) {
    if (canon(api[k]) !== canon(chain[k])) out.push(`${k} ${String(api[k])} ≠ ${String(chain[k])}`);
  }
  const keys = new Set([...Object.keys(api.fields ?? {}), ...Object.keys(chain.fields)]);
  for (const k of keys) {
    const a = api.fields?.[k];
    const c = chain.fields[k];
    if (canon(a) !== canon(c))
      out.push(
        `fields.${k} ${a === undefined ? "(missing)" : String(a)} ≠ ${c === undefined ? "(none)" : k === "kind" || k === "segment" ? `${c} (${decodeShortName(String(c))})` : String(c)}`,
      );
  }
  return out;
}

/** Compares one device's API history (entries up to the audit block) with the replay. */
export function compareHistory(
  deviceId: string,
  api: HistoryEntry[],
  chain: ReplayedEntry[],
  block: number,
): AuditProblem[] {
  const problems: AuditProblem[] = [];
  const p = (b: number, message: string, seq?: number) =>
    problems.push({ deviceId, block: b, seq, source: "api", message });
  const chainKey = (e: { blockNumber: number; logIndex: number }) => `${e.blockNumber}/${e.logIndex}`;
  const inChain = new Map(chain.map((e) => [chainKey(e), e]));
  const inApi = new Set(api.map(chainKey));
  // entries the API lacks or invented, by chain position (block, log index)
  for (const e of chain) if (!inApi.has(chainKey(e))) p(e.blockNumber, `the API's history lacks ${describe(e)}`, e.seq);
  for (const e of api)
    if (!inChain.has(chainKey(e)))
      p(e.blockNumber, `the API's history has ${describe(e)}, which is not on chain`, e.seq);
  // order: the API's sequence must list the chain's entries in chain order
  const common = api.filter((e) => inChain.has(chainKey(e)));
  for (let i = 1; i < common.length; i++) {
    const prev = inChain.get(chainKey(common[i - 1]!))!;
    const cur = inChain.get(chainKey(common[i]!))!;
    if (cur.seq < prev.seq)
      p(cur.blockNumber, `the API lists ${describe(cur)} after ${describe(prev)}: reordered`, common[i]!.seq);
  }
  // contents of entries present on both sides
  for (const e of api) {
    const c = inChain.get(chainKey(e));
    if (!c) continue;
    const diff = entryDiff(e, c);
    if (diff.length)
      p(c.blockNumber, `the API's entry ${describe(e)} differs from the chain: ${diff.join("; ")}`, e.seq);
  }
  // an auditor holding only the API's history: does it hash to the head the chain holds?
  if (!problems.length && chain.length) {
    const chainHead = chain[chain.length - 1]!.headAfter;
    let head = GENESIS_HEAD;
    try {
      for (const e of api) {
        const name = NAME_BY_KIND.get(e.kind);
        if (!name) throw new Error(`unknown event kind ${e.kind}`);
        head = nextHistoryHead(head, name, e.fields);
      }
    } catch (err) {
      head = `(cannot hash: ${(err as Error).message})`;
    }
    if (head !== chainHead) p(block, `the API's history hashes to ${head}, the chain's head is ${chainHead}`);
  }
  return problems;
}

const STATUS_QUERY = gql<{ indexerStatus: ApiStatus }>(
  "query AuditStatus { indexerStatus { chainId registry indexedBlock indexedBlockHash digest maxLagBlocks fatalError } }",
);

/** Every device the API lists, with every field (pages of 200). */
async function apiDevices(api: GraphqlClient): Promise<Map<string, ApiDevice>> {
  const out = new Map<string, ApiDevice>();
  let after: string | null = null;
  for (let i = 0; i < 100_000; i++) {
    const { devices }: DataOf<typeof DEVICES_PAGE> = await api.request(DEVICES_PAGE, { after });
    for (const { node } of devices.edges) out.set(node.id.toLowerCase(), node);
    if (!devices.pageInfo.hasNextPage) break;
    after = devices.pageInfo.endCursor;
  }
  return out;
}

export interface AuditOptions {
  client: RpcClient;
  deployment: Deployment;
  api: GraphqlClient;
  /** Parallel API requests (default 8). */
  concurrency?: number;
  onProgress?: (what: string) => void;
}

/** The record the chain gives for `id` at `block` (undefined when not registered by then). */
function recordAt(
  replay: Replay,
  id: string,
  block: number,
  timeOf: (block: number) => number,
): ExpectedRecord | undefined {
  return expectedRecord(
    (replay.devices.get(id) ?? []).filter((e) => e.blockNumber <= block),
    timeOf,
  );
}

/** Every field of the API's record of `id` that differs from the chain's record at the answer's block. */
function compareRecord(id: string, api: ApiDevice, replay: Replay, timeOf: (block: number) => number): AuditProblem[] {
  const chain = recordAt(replay, id, api.atBlock, timeOf);
  if (!chain)
    return [
      {
        deviceId: id,
        block: api.atBlock,
        atBlock: api.atBlock,
        source: "api",
        message: `the API serves a record of this device at block ${api.atBlock}, the chain has no such device then`,
      },
    ];
  return recordDifferences(api, chain, api.atBlock).map((d) => ({
    deviceId: id,
    block: d.block,
    field: d.field,
    atBlock: api.atBlock,
    source: "api" as const,
    message: `${d.field}: the API says ${show(d.api)}, the chain says ${show(d.chain)} (the API's answer reflects block ${api.atBlock}, the chain's last change to it is at block ${d.block})`,
  }));
}

/**
 * The API's default-policy verdict against the trust engine run on the chain's record and roles
 * at the verdict's block. STALE_INDEX depends on the chain head when the API answered: it must be
 * absent when the head then (read after the answer) was within the allowed lag, present when the
 * API reports its indexer stopped, and either in between.
 */
function compareVerdict(
  v: ApiVerdict,
  replay: Replay,
  roles: RoleHistory,
  st: ApiStatus,
  headAfter: number,
  timeOf: (block: number) => number,
): AuditProblem[] {
  const id = v.deviceId.toLowerCase();
  const rec = recordAt(replay, id, v.atBlock, timeOf);
  const stopped = st.fatalError != null;
  const lag = Math.max(0, headAfter - v.atBlock);
  const expected = evaluateTrust({
    device: rec && { ...rec.device, keyAlgorithm: keyAlgorithmOfEnum(rec.device.keyAlgorithm) ?? 0 },
    attestations: [],
    manufacturerTrusted: rec ? roles.isManufacturer(rec.device.manufacturer, v.atBlock) : false,
    lagBlocks: lag,
    defaultMaxLagBlocks: st.maxLagBlocks,
    indexStopped: stopped,
    policy: {},
    proof: { type: "none" },
    now: Date.now() / 1000,
  });
  const unsure = !stopped && lag > st.maxLagBlocks; // the API's head may have been older than ours
  const reasons = (rs: readonly string[]) => (unsure ? rs.filter((r) => r !== "STALE_INDEX") : [...rs]);
  const manufacturerRole = rec && roles.lastAt(MANUFACTURER_ROLE, rec.device.manufacturer, v.atBlock)?.blockNumber;
  const block = Math.max(rec?.touched.get("status") ?? 0, manufacturerRole ?? 0) || v.atBlock;
  const out: AuditProblem[] = [];
  const differ = (field: string, api: unknown, chain: unknown) =>
    out.push({
      deviceId: id,
      block,
      field,
      atBlock: v.atBlock,
      source: "api",
      message: `${field}: the API says ${show(api)}, the default policy on the chain's record gives ${show(chain)} (the API's answer reflects block ${v.atBlock})`,
    });
  if (!unsure && v.trusted !== expected.trusted) differ("verdict.trusted", v.trusted, expected.trusted);
  if (JSON.stringify(reasons(v.reasons)) !== JSON.stringify(reasons(expected.reasons)))
    differ("verdict.reasons", reasons(v.reasons), reasons(expected.reasons));
  return out;
}

export async function audit(o: AuditOptions): Promise<AuditReport> {
  const { indexerStatus: st } = await o.api.request(STATUS_QUERY);
  const registry = getAddress(o.deployment.registry);
  if (st.chainId !== o.deployment.chainId || getAddress(st.registry) !== registry) {
    throw new Error(
      `the API serves registry ${st.registry} on chain ${st.chainId}, the deployment is ${registry} on chain ${o.deployment.chainId}`,
    );
  }
  const block = st.indexedBlock;
  const problems: AuditProblem[] = [];
  const header = await o.client.call<{ hash: string } | null>("eth_getBlockByNumber", [
    `0x${block.toString(16)}`,
    false,
  ]);
  if (!header) throw new Error(`the chain has no block ${block}, the API's indexed block`);
  if (header.hash.toLowerCase() !== st.indexedBlockHash.toLowerCase()) {
    problems.push({
      block,
      source: "api",
      message: `the API's indexed block ${block} has hash ${st.indexedBlockHash}, the chain's is ${header.hash}`,
    });
  }
  o.onProgress?.(`replaying the chain from block ${o.deployment.deployBlock} to ${block}`);
  const replay = await replayChain(o.client, o.deployment, block);
  problems.push(...replay.problems);
  const ids = replay.digest ? [...replay.devices.keys()] : []; // a broken chain of heads: nothing to compare with
  const upTo = (id: string) => replay.devices.get(id)!.filter((e) => e.blockNumber <= block);

  o.onProgress?.(`checking ${ids.length} history heads on chain`);
  const onChain = await readHistoryHeads(o.client, o.deployment.registry, ids, block);
  ids.forEach((id, i) => {
    const entries = replay.devices.get(id)!;
    const last = entries[entries.length - 1]!;
    const h = onChain[i]!;
    if (h.head !== last.headAfter || h.eventCount !== entries.length) {
      problems.push({
        deviceId: id,
        block,
        source: "chain",
        message: `historyHead() on chain is ${h.head} over ${h.eventCount} events, the replayed logs give ${last.headAfter} over ${entries.length}`,
      });
    }
  });

  const limit = pLimit(o.concurrency ?? 8);
  o.onProgress?.(`comparing the API's records and default-policy verdicts of ${ids.length} devices`);
  const records = replay.digest ? await apiDevices(o.api) : new Map<string, ApiDevice>();
  const askIds = [...new Set([...ids, ...records.keys()])];
  const chunks = Array.from({ length: Math.ceil(askIds.length / MAX_VERDICT_IDS) }, (_, i) =>
    askIds.slice(i * MAX_VERDICT_IDS, (i + 1) * MAX_VERDICT_IDS),
  );
  const verdicts = (
    await Promise.all(chunks.map((c) => limit(async () => (await o.api.request(VERDICTS, { ids: c })).verifyDevices)))
  ).flat();
  const headAfter = hexToNumber(await o.client.call<string>("eth_blockNumber"));
  // answers may reflect blocks after the audited one (the API kept indexing): read those events too
  const latest = Math.max(block, ...[...records.values(), ...verdicts].map((a) => a.atBlock));
  for (let from = block + 1; from <= latest; from += 2_000) {
    const range = await readRegistryRange(o.client, o.deployment.registry, from, Math.min(latest, from + 1_999));
    range.events.forEach(replay.add);
  }
  const blocks = new Set([...replay.devices.values()].flatMap((es) => es.map((e) => e.blockNumber)));
  const headers = await fetchHeaders(o.client, blocks);
  const timeOf = (b: number) => headers.get(b)!.timestamp;
  const roles = roleHistory(replay.roles);

  for (const id of ids)
    if (!records.has(id))
      problems.push({
        deviceId: id,
        block: replay.devices.get(id)![0]!.blockNumber,
        source: "api",
        message: "the API does not list this device",
      });
  for (const [id, rec] of records) {
    if (!replay.devices.has(id) && rec.atBlock <= block)
      problems.push({ deviceId: id, block, source: "api", message: "the API lists a device that is not on chain" });
    else problems.push(...compareRecord(id, rec, replay, timeOf));
  }
  for (const v of verdicts) problems.push(...compareVerdict(v, replay, roles, st, headAfter, timeOf));

  const perDevice = await Promise.all(
    ids.map((id) =>
      limit(async (): Promise<AuditProblem[]> => {
        const chain = upTo(id);
        const h = await fetchHistory(o.api, id);
        if (!h)
          return [
            {
              deviceId: id,
              block: chain[0]!.blockNumber,
              source: "api",
              message: "the API does not know this device",
            },
          ];
        const within = h.entries.filter((e) => e.blockNumber <= block);
        const found = compareHistory(id, within, chain, block);
        if (within.length === h.entries.length) {
          const last = chain[chain.length - 1]!;
          if (h.historyHead.toLowerCase() !== last.headAfter)
            found.push({
              deviceId: id,
              block: last.blockNumber,
              source: "api",
              message: `the API reports head ${h.historyHead}, the chain's is ${last.headAfter}`,
            });
          if (h.eventCount !== chain.length)
            found.push({
              deviceId: id,
              block: last.blockNumber,
              source: "api",
              message: `the API reports ${h.eventCount} events, the chain has ${chain.length}`,
            });
        }
        return found;
      }),
    ),
  );
  for (const f of perDevice) problems.push(...f);

  if (replay.digest && st.digest.toLowerCase() !== replay.digest) {
    problems.push({
      block,
      source: "api",
      message: `the API's state digest at block ${block} is ${st.digest}, the replay computes ${replay.digest}`,
    });
  }
  problems.sort(
    (a, b) =>
      a.block - b.block ||
      (a.deviceId ?? "").localeCompare(b.deviceId ?? "") ||
      (a.seq ?? 0) - (b.seq ?? 0) ||
      (a.field ?? "").localeCompare(b.field ?? ""),
  );
  return {
    consistent: problems.length === 0,
    chainId: o.deployment.chainId,
    registry,
    block,
    blockHash: header.hash.toLowerCase(),
    devices: ids.length,
    events: ids.reduce((n, id) => n + upTo(id).length, 0),
    logs: replay.logs,
    digest: { replayed: replay.digest, api: st.digest.toLowerCase() },
    problems,
  };
}
