/**
 * The gateway's side of the public GraphQL API (DESIGN §5): the queries a replica is built from and
 * the `deviceEvents` subscription over Server-Sent Events (Yoga's distinct-connections mode).
 * Only the public API: the gateway never reads an indexer's store.
 */
import type { SignedCheckpoint, WitnessAlgorithm } from "../common/checkpoint";
import { keyAlgorithmOfEnum } from "../common/codes";
import type { BlockHeader, RawLog } from "../indexer/source";
import { readSseFrames } from "../common/sse";

/** What the replica keeps of a device: what the trust engine needs, with the roles resolved. */
export interface ReplicaDevice {
  id: string;
  status: "ACTIVE" | "SUSPENDED" | "REVOKED";
  manufacturer: string;
  manufacturerTrusted: boolean;
  segment: string;
  firmwareHash: string;
  keyAlgorithm: number;
  keyHash: string;
  updatedBlock: number;
  attestations: ReplicaAttestation[];
}

export interface ReplicaAttestation {
  uid: string;
  kind: string;
  kindBytes32: string;
  attester: string;
  attesterTrusted: boolean;
  /** Unix seconds; expiresAt 0 = never. */
  issuedAt: number;
  expiresAt: number;
  revoked: boolean;
}

export interface UpstreamStatus {
  chainId: number;
  registry: string;
  indexedBlock: number;
  lagBlocks: number;
  maxLagBlocks: number;
  digest: string;
  fatalError: string | null;
}

export class UpstreamError extends Error {
  override name = "UpstreamError";
}

const DEVICE_FIELDS = `id status manufacturer manufacturerTrusted segment firmwareHash keyAlgorithm keyHash updatedBlock
  attestations { uid kind kindBytes32 attester attesterTrusted issuedAt expiresAt revoked }`;
const STATUS_FIELDS = "chainId registry indexedBlock lagBlocks maxLagBlocks digest fatalError";

interface WireDevice extends Omit<ReplicaDevice, "keyAlgorithm" | "attestations"> {
  keyAlgorithm: string;
  attestations: (Omit<ReplicaAttestation, "issuedAt" | "expiresAt"> & { issuedAt: string; expiresAt: string | null })[];
}

const seconds = (iso: string) => Date.parse(iso) / 1000;

function fromWire(d: WireDevice): ReplicaDevice {
  return {
    ...d,
    keyAlgorithm: keyAlgorithmOfEnum(d.keyAlgorithm) ?? 0,
    attestations: d.attestations.map((a) => ({
      ...a,
      issuedAt: seconds(a.issuedAt),
      expiresAt: a.expiresAt === null ? 0 : seconds(a.expiresAt),
    })),
  };
}

/** One upstream API at `url` (…/graphql). */
export interface Upstream {
  url: string;
  status(roleChecks: readonly RoleCheck[]): Promise<{ status: UpstreamStatus; roles: boolean[] }>;
  device(id: string): Promise<ReplicaDevice | null>;
  /** One page of devices in id order, with the total the API counts. */
  devices(
    first: number,
    after: string | null,
  ): Promise<{ devices: ReplicaDevice[]; endCursor: string | null; hasNextPage: boolean; totalCount: number }>;
  /** Opens the deviceEvents stream; resolves once the API has accepted it. */
  subscribe(onEvent: (e: DeviceEvent) => void, signal: AbortSignal): Promise<{ ended: Promise<void> }>;
  /** Witness mode (gateway/witness.ts): what the upstream says it follows, deploy block included. */
  identity(): Promise<UpstreamIdentity>;
  /** Witness checkpoints the upstream serves at blocks ≥ fromBlock (unverified). */
  checkpoints(fromBlock: number, first: number): Promise<SignedCheckpoint[]>;
  /** Raw registry logs of [fromBlock, ≤ toBlock] with their blocks' headers (unverified). */
  chainLogs(fromBlock: number, toBlock: number): Promise<ChainLogs>;
}

export interface UpstreamIdentity {
  chainId: number;
  registry: string;
  deployBlock: number;
  deployBlockHash: string | null;
}

export interface ChainLogs {
  fromBlock: number;
  toBlock: number;
  logs: RawLog[];
  blocks: BlockHeader[];
}

export interface RoleCheck {
  role: string;
  account: string;
}

export interface DeviceEvent {
  deviceId: string;
  kind: string;
  blockNumber: number;
  seq: number;
  retracted: boolean;
}

export function createUpstream(url: string, timeoutMs = 5_000): Upstream {
  async function query<T>(q: string, variables: Record<string, unknown> = {}): Promise<T> {
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query: q, variables }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new UpstreamError(`${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const body = (await res.json().catch(() => null)) as { data?: T; errors?: { message: string }[] } | null;
    if (!body || body.errors?.length || !body.data)
      throw new UpstreamError(`${url}: ${body?.errors?.[0]?.message ?? `HTTP ${res.status}`}`);
    return body.data;
  }

  return {
    url,
    async status(roleChecks) {
      const d = await query<{ indexerStatus: UpstreamStatus; hasRoles: boolean[] }>(
        `query($checks: [RoleCheckInput!]!) { indexerStatus { ${STATUS_FIELDS} } hasRoles(checks: $checks) }`,
        { checks: roleChecks },
      );
      return { status: d.indexerStatus, roles: d.hasRoles };
    },
    async device(id) {
      const d = await query<{ device: WireDevice | null }>(
        `query($id: Bytes32!) { device(id: $id) { ${DEVICE_FIELDS} } }`,
        {
          id,
        },
      );
      return d.device ? fromWire(d.device) : null;
    },
    async devices(first, after) {
      const d = await query<{
        devices: {
          edges: { node: WireDevice }[];
          pageInfo: { endCursor: string | null; hasNextPage: boolean };
          totalCount: number;
        };
      }>(
        `query($first: Int!, $after: String) { devices(first: $first, after: $after) {
          edges { node { ${DEVICE_FIELDS} } } pageInfo { endCursor hasNextPage } totalCount } }`,
        { first, after },
      );
      return {
        devices: d.devices.edges.map((e) => fromWire(e.node)),
        endCursor: d.devices.pageInfo.endCursor,
        hasNextPage: d.devices.pageInfo.hasNextPage,
        totalCount: d.devices.totalCount,
      };
    },
    async subscribe(onEvent, signal) {
      let res: Response;
      try {
        res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", accept: "text/event-stream" },
          body: JSON.stringify({
            query: "subscription { deviceEvents { deviceId kind blockNumber seq retracted } }",
          }),
          signal,
        });
      } catch (err) {
        throw new UpstreamError(`${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      if (res.status !== 200 || !res.body) throw new UpstreamError(`${url}: subscription refused (HTTP ${res.status})`);
      const body = res.body as unknown as AsyncIterable<Uint8Array>;
      const ended = readSseFrames(body, (event, data) => {
        if (event === "complete") return false;
        if (event !== "next" || !data) return true;
        const payload = JSON.parse(data) as {
          data?: { deviceEvents: DeviceEvent };
          errors?: { message: string }[];
        };
        if (payload.errors?.length) throw new UpstreamError(`${url}: stream: ${payload.errors[0]!.message}`);
        if (payload.data) onEvent(payload.data.deviceEvents);
        return true;
      });
      return { ended };
    },
    async identity() {
      const d = await query<{ indexerStatus: UpstreamIdentity }>(
        "{ indexerStatus { chainId registry deployBlock deployBlockHash } }",
      );
      return d.indexerStatus;
    },
    async checkpoints(fromBlock, first) {
      const d = await query<{ checkpoints: (Omit<SignedCheckpoint, "algorithm"> & { algorithm: string })[] }>(
        `query($from: Int!, $first: Int!) { checkpoints(fromBlock: $from, first: $first) {
          chainId registry block blockHash digest witness signature algorithm } }`,
        { from: fromBlock, first },
      );
      return d.checkpoints.map((c) => ({ ...c, algorithm: c.algorithm as WitnessAlgorithm }));
    },
    async chainLogs(fromBlock, toBlock) {
      const hex = (n: number) => "0x" + n.toString(16);
      const d = await query<{
        chainLogs: {
          fromBlock: number;
          toBlock: number;
          logs: (Omit<RawLog, "blockNumber" | "logIndex"> & { blockNumber: number; logIndex: number })[];
          blocks: BlockHeader[];
        };
      }>(
        `query($from: Int!, $to: Int!) { chainLogs(fromBlock: $from, toBlock: $to) { fromBlock toBlock
          logs { blockNumber blockHash transactionHash logIndex address topics data }
          blocks { number hash parentHash timestamp } } }`,
        { from: fromBlock, to: toBlock },
      );
      const c = d.chainLogs;
      return {
        fromBlock: c.fromBlock,
        toBlock: c.toBlock,
        logs: c.logs.map((l) => ({ ...l, blockNumber: hex(l.blockNumber), logIndex: hex(l.logIndex) })),
        blocks: c.blocks,
      };
    },
  };
}
