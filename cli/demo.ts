/**
 * The dev stack's registry setup and demo fleet: roles for the public hardhat accounts and a few
 * devices with real keys (one per algorithm and state) whose key files land in the data folder.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { NonceManager, Wallet, encodeBytes32String, type JsonRpcProvider } from "ethers";
import { registryContract, sendRegistryTx } from "../common/chain";
import type { Deployment } from "../common/deployment";
import { HARDHAT_KEYS } from "../common/hardhat-node";
import { deviceIdFor } from "../common/ids";
import { KEY_ALGORITHMS, generateKeyPair, keyHash, type KeyAlgorithmName } from "../common/keys";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole } from "../common/roles";
import { keccak256, toUtf8Bytes } from "ethers";

export const DEMO_KINDS = ["firmware", "iec62443"] as const;

export interface DemoActors {
  /** Account #0: admin, and on the dev chain also manufacturer, officer and attester (the CLI's default signer). */
  admin: string;
  manufacturer: string;
  attester: string;
  officer: string;
}

export interface DemoDevice {
  serial: string;
  algorithm: KeyAlgorithmName;
  deviceId: string;
  keyFile: string;
  publicKey: string;
  state: "ACTIVE" | "SUSPENDED" | "REVOKED";
  attestations: string[];
  /** Its segment (the gateway's topics are dtl/<segment>/<deviceId>/#). */
  segment: string;
  /** What `dtl verify` says with no policy. */
  trusted: boolean;
}

const signer = (i: number, provider: JsonRpcProvider) => new NonceManager(new Wallet(HARDHAT_KEYS[i]!, provider));

/** Grants account #0 every role (so the tour works with no key set) and #1–#3 one role each. */
export async function grantDevRoles(provider: JsonRpcProvider, deployment: Deployment): Promise<DemoActors> {
  const admin = registryContract(deployment.registry, signer(0, provider));
  const addr = (i: number) => new Wallet(HARDHAT_KEYS[i]!).address;
  const actors: DemoActors = { admin: addr(0), manufacturer: addr(1), attester: addr(2), officer: addr(3) };
  const kinds = DEMO_KINDS.map((k) => attesterRole(encodeBytes32String(k)));
  const grants: [string, string][] = [
    [MANUFACTURER_ROLE, actors.admin],
    [SECURITY_OFFICER_ROLE, actors.admin],
    ...kinds.map((r): [string, string] => [r, actors.admin]),
    [MANUFACTURER_ROLE, actors.manufacturer],
    ...kinds.map((r): [string, string] => [r, actors.attester]),
    [SECURITY_OFFICER_ROLE, actors.officer],
  ];
  for (const [role, who] of grants) await sendRegistryTx(admin, "grantRole", [role, who]);
  return actors;
}

const PLAN: { serial: string; algorithm: KeyAlgorithmName; attest: string[]; state: DemoDevice["state"] }[] = [
  { serial: "demo-secp256k1-1", algorithm: "secp256k1", attest: ["firmware"], state: "ACTIVE" },
  { serial: "demo-p256-1", algorithm: "p256", attest: ["firmware", "iec62443"], state: "ACTIVE" },
  { serial: "demo-ed25519-1", algorithm: "ed25519", attest: ["firmware"], state: "ACTIVE" },
  { serial: "demo-p256-2", algorithm: "p256", attest: [], state: "ACTIVE" },
  { serial: "demo-secp256k1-2", algorithm: "secp256k1", attest: ["firmware"], state: "SUSPENDED" },
  { serial: "demo-ed25519-2", algorithm: "ed25519", attest: [], state: "REVOKED" },
];

/** Registers the demo fleet (manufacturer #1), attests (attester #2), suspends and revokes (officer #3). */
export async function writeDemoFleet(
  provider: JsonRpcProvider,
  deployment: Deployment,
  actors: DemoActors,
  keyDir: string,
): Promise<DemoDevice[]> {
  mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  const maker = registryContract(deployment.registry, signer(1, provider));
  const attester = registryContract(deployment.registry, signer(2, provider));
  const officer = registryContract(deployment.registry, signer(3, provider));
  const firmware = keccak256(toUtf8Bytes("demo-firmware-1.0.0"));
  const devices: DemoDevice[] = PLAN.map((p, i) => {
    const pair = generateKeyPair(p.algorithm);
    const keyFile = path.join(keyDir, `${p.serial}.key`);
    writeFileSync(keyFile, JSON.stringify(pair, null, 2) + "\n", { mode: 0o600 });
    return {
      serial: p.serial,
      algorithm: p.algorithm,
      deviceId: deviceIdFor(actors.manufacturer, p.serial),
      keyFile,
      publicKey: pair.publicKey,
      state: p.state,
      attestations: p.attest,
      segment: i % 2 ? "plant-1/door" : "plant-1/hvac",
      trusted: p.state === "ACTIVE",
    };
  });
  await sendRegistryTx(maker, "registerDevices", [
    devices.map((d) => ({
      deviceId: d.deviceId,
      keyAlgorithm: KEY_ALGORITHMS[d.algorithm],
      keyHash: keyHash(KEY_ALGORITHMS[d.algorithm], d.publicKey),
      firmwareHash: firmware,
      segment: encodeBytes32String(d.segment),
    })),
  ]);
  // firmware attestations hold for 90 days, the IEC 62443 certificate lapses in 20 (the console's
  // "expiring soon" has something to show)
  const now = Math.floor(Date.now() / 1000);
  const requests = devices.flatMap((d) =>
    d.attestations.map((k) => ({
      deviceId: d.deviceId,
      kind: encodeBytes32String(k),
      evidenceHash: keccak256(toUtf8Bytes(`demo-evidence/${d.serial}/${k}`)),
      expiresAt: now + (k === "iec62443" ? 20 : 90) * 86_400,
    })),
  );
  await sendRegistryTx(attester, "attestDevices", [requests]);
  for (const d of devices) {
    if (d.state === "SUSPENDED") await sendRegistryTx(officer, "suspendDevice", [d.deviceId, 8]); // anomaly detected
    if (d.state === "REVOKED") await sendRegistryTx(officer, "revokeDevice", [d.deviceId, 1]); // key compromise
  }
  return devices;
}
