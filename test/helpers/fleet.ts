/**
 * Builds real registry histories on a real node: deploys the registry, grants roles and writes a
 * mixed fleet (registrations, attestations, suspensions, revocations) in batches of up to 100
 * events per transaction — the fast way to make tens of thousands of events.
 */
import {
  Contract,
  JsonRpcProvider,
  NonceManager,
  Wallet,
  encodeBytes32String,
  hexlify,
  keccak256,
  toUtf8Bytes,
} from "ethers";
import { registryAbi } from "../../common/abi";
import type { Deployment } from "../../common/deployment";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole } from "../../common/roles";
import { deployRegistry } from "../../scripts/deploy";
import { HARDHAT_KEYS } from "./chain";

export interface FleetActors {
  provider: JsonRpcProvider;
  admin: NonceManager;
  manufacturer: NonceManager;
  manufacturer2: NonceManager;
  attester: NonceManager;
  officer: NonceManager;
  addresses: { admin: string; manufacturer: string; manufacturer2: string; attester: string; officer: string };
  /** The registry connected to each actor. */
  registry: { admin: Contract; manufacturer: Contract; manufacturer2: Contract; attester: Contract; officer: Contract };
}

export const FLEET_KINDS = ["firmware", "iec62443"] as const;

/** A provider that sends one request per HTTP call (ethers' 10 ms batching costs ~5× in tx/s). */
export function fastProvider(url: string): JsonRpcProvider {
  return new JsonRpcProvider(url, undefined, {
    batchMaxCount: 1,
    staticNetwork: true,
    cacheTimeout: -1,
    pollingInterval: 50,
  });
}

/** Deploys a registry and grants the standard test roles (accounts 0..4 of the hardhat node). */
export async function deployFleetRegistry(url: string): Promise<{ deployment: Deployment; actors: FleetActors }> {
  const provider = fastProvider(url);
  const [admin, manufacturer, manufacturer2, attester, officer] = HARDHAT_KEYS.slice(0, 5).map(
    (k) => new NonceManager(new Wallet(k, provider)),
  ) as [NonceManager, NonceManager, NonceManager, NonceManager, NonceManager];
  const deployment = await deployRegistry(admin, { adminDelay: 3600 });
  const at = (s: NonceManager) => new Contract(deployment.registry, registryAbi, s);
  const reg = at(admin);
  const addresses = {
    admin: await admin.getAddress(),
    manufacturer: await manufacturer.getAddress(),
    manufacturer2: await manufacturer2.getAddress(),
    attester: await attester.getAddress(),
    officer: await officer.getAddress(),
  };
  const grants: [string, string][] = [
    [MANUFACTURER_ROLE, addresses.manufacturer],
    [MANUFACTURER_ROLE, addresses.manufacturer2],
    [SECURITY_OFFICER_ROLE, addresses.officer],
    ...FLEET_KINDS.map((k): [string, string] => [attesterRole(encodeBytes32String(k)), addresses.attester]),
  ];
  for (const [role, who] of grants) await (await reg.getFunction("grantRole")(role, who)).wait();
  return {
    deployment,
    actors: {
      provider,
      admin,
      manufacturer,
      manufacturer2,
      attester,
      officer,
      addresses,
      registry: {
        admin: reg,
        manufacturer: at(manufacturer),
        manufacturer2: at(manufacturer2),
        attester: at(attester),
        officer: at(officer),
      },
    },
  };
}

/** Deterministic 32-byte test value. */
export function testHash(label: string): string {
  return keccak256(toUtf8Bytes(label));
}

export interface FleetOptions {
  /** Devices to register (split between the two manufacturers). */
  devices: number;
  /** Fraction of devices attested for "firmware" (default 0.5). */
  attestedFraction?: number;
  /** Fraction suspended (default 0.02) and revoked (default 0.05). */
  suspendedFraction?: number;
  revokedFraction?: number;
  /** Label that makes ids unique across calls (default "fleet"). */
  label?: string;
  /** Items per transaction (default 100). */
  batchSize?: number;
}

export interface FleetResult {
  deviceIds: string[];
  attested: string[];
  suspended: string[];
  revoked: string[];
  /** Total registry device events written. */
  events: number;
}

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/**
 * Writes a mixed history: registrations (keys of all three algorithms, two segments), firmware
 * attestations with and without expiry, suspensions and revocations, batched 100 per transaction.
 */
export async function writeFleet(actors: FleetActors, opts: FleetOptions): Promise<FleetResult> {
  const label = opts.label ?? "fleet";
  const batch = opts.batchSize ?? 100;
  const ids = Array.from({ length: opts.devices }, (_, i) => testHash(`${label}/device/${i}`));
  const segments = [encodeBytes32String("plant-1/hvac"), encodeBytes32String("plant-2/door")];
  let events = 0;
  const half = Math.ceil(ids.length / 2);
  for (const [reg, part] of [
    [actors.registry.manufacturer, ids.slice(0, half)],
    [actors.registry.manufacturer2, ids.slice(half)],
  ] as const) {
    for (const c of chunks(part, batch)) {
      const regs = c.map((id, i) => ({
        deviceId: id,
        keyAlgorithm: (i % 3) + 1,
        keyHash: testHash(`${id}/key`),
        firmwareHash: testHash(`fw/${i % 4}`),
        segment: segments[i % 2]!,
      }));
      await (await reg.getFunction("registerDevices")(regs, { gasLimit: 16_000_000 })).wait();
      events += c.length;
    }
  }
  const attested = ids.filter((_, i) => i % Math.max(1, Math.round(1 / (opts.attestedFraction ?? 0.5))) === 0);
  const kind = encodeBytes32String("firmware");
  for (const c of chunks(attested, batch)) {
    const reqs = c.map((id, i) => ({
      deviceId: id,
      kind,
      evidenceHash: testHash(`${id}/evidence`),
      expiresAt: i % 2 ? 0 : 4_000_000_000,
    }));
    await (await actors.registry.attester.getFunction("attestDevices")(reqs, { gasLimit: 16_000_000 })).wait();
    events += c.length;
  }
  const nSusp = Math.floor(ids.length * (opts.suspendedFraction ?? 0.02));
  const nRev = Math.floor(ids.length * (opts.revokedFraction ?? 0.05));
  const suspended = ids.slice(1, 1 + nSusp);
  const revoked = ids.slice(ids.length - nRev);
  for (const id of suspended) {
    await (await actors.registry.officer.getFunction("suspendDevice")(id, 8)).wait();
    events += 1;
  }
  for (const c of chunks(revoked, batch)) {
    if (c.length === 0) continue;
    await (await actors.registry.officer.getFunction("revokeDevices")(c, 5, { gasLimit: 16_000_000 })).wait();
    events += c.length;
  }
  return { deviceIds: ids, attested, suspended, revoked, events };
}

export const randomHash = (): string => hexlify(crypto.getRandomValues(new Uint8Array(32)));
