/** dtl history <deviceId> [--json] — a device's full history as the API reports it, every page. */
import { reasonWord } from "../../common/codes";
import { decodeShortName } from "../../common/ids";
import { KEY_ALGORITHM_NAMES } from "../../common/keys";
import { API_OPTIONS, JSON_OPTION, positionals } from "../args";
import type { Command } from "../command";
import { apiClient, gql, type GraphqlClient } from "../graphql";
import { bytes32 } from "../input";
import { CliError } from "../io";

export interface HistoryEntry {
  seq: number;
  kind: string;
  blockNumber: number;
  blockHash: string;
  transactionHash: string;
  logIndex: number;
  timestamp: string;
  actor: string;
  fields: Record<string, string | number>;
  headAfter: string;
}

export interface DeviceHistory {
  deviceId: string;
  status: string;
  manufacturer: string;
  historyHead: string;
  eventCount: number;
  atBlock: number;
  entries: HistoryEntry[];
}

const PAGE = gql<Page>(`query History($id: Bytes32!, $after: String) {
  device(id: $id) {
    id status manufacturer historyHead eventCount atBlock
    history(first: 500, after: $after) {
      edges { node { seq kind blockNumber blockHash transactionHash logIndex timestamp actor fields headAfter } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`);

interface Page {
  device: {
    id: string;
    status: string;
    manufacturer: string;
    historyHead: string;
    eventCount: number;
    atBlock: number;
    history: { edges: { node: HistoryEntry }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
  } | null;
}

/** Every history page of a device; undefined when the API does not know the device. */
export async function fetchHistory(
  api: GraphqlClient,
  deviceId: string,
  maxPages = 1000,
): Promise<DeviceHistory | undefined> {
  let after: string | null = null;
  let out: DeviceHistory | undefined;
  for (let i = 0; i < maxPages; i++) {
    const { device }: Page = await api.request(PAGE, { id: deviceId, after });
    if (!device) return undefined;
    out ??= {
      deviceId: device.id,
      status: device.status,
      manufacturer: device.manufacturer,
      historyHead: device.historyHead,
      eventCount: device.eventCount,
      atBlock: device.atBlock,
      entries: [],
    };
    out.entries.push(...device.history.edges.map((e) => e.node));
    if (!device.history.pageInfo.hasNextPage) return out;
    after = device.history.pageInfo.endCursor;
  }
  throw new CliError(`history of ${deviceId} has more than ${maxPages} pages`);
}

/** The event's fields for people: names for codes, short names unpacked, dates. */
function describe(e: HistoryEntry): string {
  const skip = new Set(["deviceId", "by", "manufacturer", "attester"]);
  const show = (k: string, v: string | number): string => {
    if (k === "reason") return `reason=${reasonWord(Number(v))}`;
    if (k === "keyAlgorithm") return `alg=${KEY_ALGORITHM_NAMES[Number(v)] ?? v}`;
    if (k === "segment" || k === "kind") return `${k}=${decodeShortName(String(v)) || '""'}`;
    if (k === "expiresAt") return `expires=${Number(v) ? new Date(Number(v) * 1000).toISOString() : "never"}`;
    return `${k}=${v}`;
  };
  return Object.entries(e.fields)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => show(k, v))
    .join(" ");
}

export const command: Command = {
  name: "history",
  usage: "dtl history <deviceId> [--api URL] [--json]",
  summary: "a device's full history (every event, with block and actor)",
  options: { ...API_OPTIONS, ...JSON_OPTION },
  async run(inv) {
    const [raw] = positionals("history", inv, ["deviceId"]) as [string];
    const id = bytes32("history", "<deviceId>", raw);
    const h = await fetchHistory(apiClient(inv.values, inv.env), id);
    if (!h) throw new CliError(`history: no device ${id} in the index`);
    if (inv.values.json === true) {
      inv.io.json(h);
      return;
    }
    inv.io.out(
      `${h.deviceId}  ${h.status}  manufacturer ${h.manufacturer}  ${h.eventCount} events  head ${h.historyHead}  (block ${h.atBlock})`,
    );
    for (const e of h.entries) {
      inv.io.out(
        `  #${String(e.seq).padEnd(3)} block ${String(e.blockNumber).padEnd(6)} ${e.timestamp}  ${e.kind.padEnd(19)} by ${e.actor}  ${describe(e)}`.trimEnd(),
      );
    }
  },
};
