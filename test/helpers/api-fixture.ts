/**
 * API test fixture: a real hardhat node, a registry with the standard fleet roles, the REAL
 * indexer on a temporary LevelDB, and the API over it (in-process `yoga.fetch()` and/or real HTTP).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { encodeBytes32String } from "ethers";
import { generateKeyPair, KEY_ALGORITHMS, type DeviceKeyPair, type KeyAlgorithmName } from "../../common/keys";
import { keyHash } from "../../common/keys";
import { createIndexer } from "../../indexer/index";
import { createApi, type Api, type ApiOptions } from "../../api/yoga";
import { startHardhatNode, type NodeHandle } from "./chain";
import { deployFleetRegistry, randomHash, testHash, type FleetActors } from "./fleet";
import type { Deployment } from "../../common/deployment";

export type Indexer = Awaited<ReturnType<typeof createIndexer>>;

export interface ApiFixture {
  node: NodeHandle;
  deployment: Deployment;
  actors: FleetActors;
  indexer: Indexer;
  dataDir: string;
  /** Waits until the indexer has applied the chain's current head. */
  sync(): Promise<void>;
  stop(): Promise<void>;
}

export async function startApiFixture(opts: { pollMs?: number } = {}): Promise<ApiFixture> {
  const node = await startHardhatNode();
  const dataDir = mkdtempSync(path.join(tmpdir(), "dtl-api-test-"));
  try {
    const { deployment, actors } = await deployFleetRegistry(node.url);
    const indexer = await createIndexer({ rpcUrl: node.url, deployment, dataDir, pollMs: opts.pollMs ?? 20 });
    await indexer.start();
    const sync = async () => {
      const head = Number(await node.rpc<string>("eth_blockNumber"));
      await indexer.waitForBlock(head);
    };
    await sync();
    return {
      node,
      deployment,
      actors,
      indexer,
      dataDir,
      sync,
      async stop() {
        await indexer.stop();
        await node.stop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await node.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
}

export interface TestDevice {
  id: string;
  pair: DeviceKeyPair;
  firmware: string;
  segment: string;
}

/** Registers one device with a fresh real key (by `manufacturer`, default the fleet's first). */
export async function registerTestDevice(
  actors: FleetActors,
  opts: { alg?: KeyAlgorithmName; segment?: string; firmware?: string; by?: "manufacturer" | "manufacturer2" } = {},
): Promise<TestDevice> {
  const pair = generateKeyPair(opts.alg ?? "secp256k1");
  const id = randomHash();
  const firmware = opts.firmware ?? testHash("fw/test");
  const segment = opts.segment ?? "plant-1/hvac";
  const reg = actors.registry[opts.by ?? "manufacturer"];
  const alg = KEY_ALGORITHMS[pair.algorithm];
  await (
    await reg.getFunction("registerDevice")(
      id,
      alg,
      keyHash(alg, pair.publicKey),
      firmware,
      encodeBytes32String(segment),
    )
  ).wait();
  return { id, pair, firmware, segment };
}

export interface GqlResult<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
}

/** One GraphQL request through `yoga.fetch()` (no port). */
export async function gql<T = Record<string, unknown>>(
  api: Api,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GqlResult<T>> {
  const res = await api.yoga.fetch("http://api.test/graphql", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...((await res.json()) as object) };
}

/** One GraphQL request over real HTTP. */
export async function httpGql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GqlResult<T>> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...((await res.json()) as object) };
}

export function apiFor(fx: ApiFixture, opts: Partial<ApiOptions> = {}): Api {
  return createApi({ store: fx.indexer.store, ...opts });
}
