/**
 * The scale benchmark's chain: an Anvil node (npm `@foundry-rs/anvil-linux-amd64`, offline) holding
 * the registry with N devices registered by `registerDevices` (300 per transaction, under the
 * 16,777,216 gas cap of EIP-7825, which the node enforces here) plus lifecycle events: attestations,
 * revocations, suspensions, reinstatements, key rotations and firmware updates.
 *
 * Every device is a pure function of (seed, index) — serial, id (`deviceIdFor`: manufacturer +
 * serial), key algorithm, key hash, firmware, segment and fate — so the bench can pick any device
 * and know what the chain must say about it without storing a list.
 *
 * The chain is built once and cached under `.bench/scale/<key>/` (`state.json` from Anvil's
 * `--dump-state`, `deployment.json`, `meta.json`), keyed by the registry's code hash (its bytecode
 * without the compiler's metadata), the device count, the seed and {@link BUILDER_VERSION}. A dump
 * keeps blocks, receipts and logs: a node
 * started with `--load-state` answers `eth_getLogs` and `eth_getBlockByNumber` for the old blocks
 * with the same hashes, parent hashes, timestamps and logs (checked on a small chain before this
 * builder was written; `npm run bench -- scale` checks the loaded head against `meta.json`).
 *
 * Transactions are signed here (raw, explicit nonces) and sent by each account concurrently with
 * a few in flight; ethers' provider round trips would make a build take hours.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Wallet, getAddress } from "ethers";
import pLimit from "p-limit";
import { DEVICE_EVENT_TOPICS, registryBytecode, registryInterface } from "../common/abi";
import { DEVICE_STATUS, KEY_ALGORITHMS, REASONS, type DeviceStatusName, type KeyAlgorithmName } from "../common/codes";
import type { Deployment } from "../common/deployment";
import { HARDHAT_KEYS, freePort } from "../common/hardhat-node";
import { deviceIdFor, encodeShortName } from "../common/ids";
import { loadKeccak, type KeccakHex } from "../common/keccak";
import { PROJECT_ROOT } from "../common/paths";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole } from "../common/roles";
import { createRpcClient, hexToNumber, numberToHex, type RpcClient } from "../common/rpc";
import { deployRegistry } from "../scripts/deploy";
import { fastProvider } from "../test/helpers/fleet";
import { prng } from "../test/helpers/seed";
import { round } from "./measure";

/** Bump when the chain a build makes changes (fields, fates, batch sizes): old caches are ignored. */
export const BUILDER_VERSION = 1;
/** The default seed of every device's fields. */
export const SCALE_SEED = 20_261_202;
/** Devices per registerDevices / attestDevices / revokeDevices transaction. */
export const BATCH = 300;
/** EIP-7825: the most gas one transaction may use (Osaka); the node enforces it (`--tx-gas-limit`). */
export const TX_GAS_CAP = 16_777_216;

const ANVIL = path.join(path.dirname(require.resolve("@foundry-rs/anvil-linux-amd64/package.json")), "bin", "anvil");
const CACHE = path.join(PROJECT_ROOT, ".bench", "scale");

// ------------------------------------------------------------------ the node

export interface Anvil {
  url: string;
  proc: ChildProcess;
  client: RpcClient;
  /** SIGTERM, and wait for the exit (Anvil writes `--dump-state` then). */
  stop(): Promise<void>;
}

/**
 * Starts a quiet Anvil (`--silent`: no line per request) on a free port and waits until it answers
 * (loading a big `--load-state` takes a while); `args` add `--load-state FILE` etc.
 */
export async function startAnvil(args: readonly string[] = [], timeoutMs = 900_000): Promise<Anvil> {
  for (let attempt = 1; ; attempt++) {
    // freePort() releases the port before Anvil binds it: another process may take it in between
    const port = await freePort();
    const proc = spawn(ANVIL, ["--silent", "--host", "127.0.0.1", "--port", String(port), ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const onData = (c: Buffer) => {
      if (out.length < 20_000) out += c.toString();
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    const url = `http://127.0.0.1:${port}`;
    const client = createRpcClient(url, { timeoutMs: 300_000 });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        if (/address already in use/i.test(out) && attempt < 5) break;
        throw new Error(`anvil exited with ${proc.exitCode ?? proc.signalCode}:\n${out}`);
      }
      if (Date.now() > deadline) {
        proc.kill("SIGKILL");
        throw new Error(`anvil did not answer within ${timeoutMs} ms:\n${out}`);
      }
      try {
        await client.call("eth_chainId", [], { timeoutMs: 2_000 });
        return {
          url,
          proc,
          client,
          stop: () =>
            new Promise<void>((resolve) => {
              if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
              proc.once("exit", () => resolve());
              proc.kill("SIGTERM");
            }),
        };
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}

// ------------------------------------------------------------------ the devices

/** Accounts of Anvil's (= Hardhat's) test mnemonic and what each does. */
const ADMIN = 0;
const MANUFACTURERS = [1, 2, 3] as const;
const ATTESTER = 4;
const OFFICER = 5;

export const SEGMENTS = [
  "plant-1/hvac",
  "plant-1/door",
  "plant-2/press",
  "plant-2/hvac",
  "plant-3/meter",
  "depot/cold-chain",
  "field/pump",
  "field/gateway",
] as const;
export const ATTESTATION_KINDS = ["firmware", "iec62443"] as const;
const FIRMWARE_VERSIONS = 12;

/**
 * What happens to a device after its registration, and the share of devices it happens to:
 * the rest stay as registered. One lifecycle event each, except `reinstated` (suspended, then
 * reinstated: two).
 */
export const FATES = {
  attested: 0.1,
  revoked: 0.01,
  suspended: 0.002,
  reinstated: 0.0005,
  rotated: 0.002,
  updated: 0.002,
} as const;
export type Fate = keyof typeof FATES | "registered";

export interface ScaleDevice {
  index: number;
  manufacturer: string;
  serial: string;
  id: string;
  keyAlgorithm: number;
  keyHash: string;
  firmwareHash: string;
  /** bytes32 short name */
  segment: string;
  fate: Fate;
  /** Reason code of a revocation or suspension. */
  reason: number;
  /** The attestation kind (short name) of an attested device. */
  kind: string;
  /** Attestation expiry (0 = never). */
  expiresAt: number;
  /** Key and firmware after a rotation / update. */
  newKeyAlgorithm: number;
  newKeyHash: string;
  newFirmwareHash: string;
}

export interface Expected {
  manufacturer: string;
  status: DeviceStatusName;
  keyAlgorithm: number;
  keyHash: string;
  firmwareHash: string;
  segment: string;
  eventCount: number;
}

/** The fleet's key algorithms (every name of common/codes.ts) and their shares: mostly classical. */
export const ALGORITHM_SHARES: Record<KeyAlgorithmName, number> = {
  secp256k1: 0.4,
  p256: 0.35,
  ed25519: 0.17,
  "ml-dsa-44": 0.04,
  "ml-dsa-65": 0.02,
  "ed25519+ml-dsa-44": 0.02,
};
const addresses = HARDHAT_KEYS.map((k) => new Wallet(k).address);

/** Derives the devices of one seed (random access: device i costs one keccak). */
export async function deviceSource(seed = SCALE_SEED): Promise<(index: number) => ScaleDevice> {
  const keccak = await loadKeccak();
  const firmware = Array.from({ length: FIRMWARE_VERSIONS }, (_, v) => keccak(Buffer.from(`fw/${seed}/v${v}`)));
  const segments = SEGMENTS.map((s) => encodeShortName("segment", s));
  const kinds = ATTESTATION_KINDS.map((k) => encodeShortName("kind", k));
  const fateEdges = Object.entries(FATES).reduce<[Fate, number][]>(
    (acc, [f, share]) => [...acc, [f as Fate, (acc.at(-1)?.[1] ?? 0) + share]],
    [],
  );
  const algorithmEdges = Object.entries(ALGORITHM_SHARES).reduce<[number, number][]>(
    (acc, [name, share]) => [...acc, [KEY_ALGORITHMS[name as KeyAlgorithmName], (acc.at(-1)?.[1] ?? 0) + share]],
    [],
  );
  const algorithm = (x: number) => (algorithmEdges.find(([, edge]) => x < edge) ?? algorithmEdges.at(-1)!)[0];
  const hex32 = (r: () => number) => {
    let h = "0x";
    for (let i = 0; i < 8; i++) h += (Math.floor(r() * 2 ** 32) >>> 0).toString(16).padStart(8, "0");
    return h;
  };
  return (index) => {
    // one generator per device, seeded from (seed, index): any device without the ones before it
    const r = prng((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0);
    const manufacturer = addresses[MANUFACTURERS[index % MANUFACTURERS.length]!]!;
    const serial = `SN-${(seed % 10_000).toString().padStart(4, "0")}-${index.toString().padStart(8, "0")}`;
    const keyAlgorithm = algorithm(r());
    const keyHash = hex32(r);
    // most devices run one of the newest firmware versions
    const firmwareHash = firmware[Math.min(FIRMWARE_VERSIONS - 1, Math.floor(-Math.log(1 - r()) * 2))]!;
    const segment = segments[Math.floor(r() * segments.length)]!;
    const f = r();
    const fate = fateEdges.find(([, edge]) => f < edge)?.[0] ?? "registered";
    return {
      index,
      manufacturer,
      serial,
      id: fastDeviceId(keccak, manufacturer, serial),
      keyAlgorithm,
      keyHash,
      firmwareHash,
      segment,
      fate,
      reason: 1 + Math.floor(r() * (REASONS.length - 1)),
      kind: kinds[Math.floor(r() * kinds.length)]!,
      expiresAt: r() < 0.5 ? 0 : 4_000_000_000,
      newKeyAlgorithm: algorithm(r()),
      newKeyHash: hex32(r),
      newFirmwareHash: firmware[Math.floor(r() * FIRMWARE_VERSIONS)]!,
    };
  };
}

/**
 * `deviceIdFor(manufacturer, serial)` with the WebAssembly keccak: keccak256(abi.encode(address,
 * string)) laid out by hand (~1 µs instead of ~200 µs; a million ids take seconds, not minutes).
 * The build holds it against `deviceIdFor` for a sample of devices.
 */
function fastDeviceId(keccak: KeccakHex, manufacturer: string, serial: string): string {
  const s = Buffer.from(serial, "utf8");
  const buf = Buffer.alloc(96 + Math.ceil(s.length / 32) * 32);
  Buffer.from(manufacturer.slice(2), "hex").copy(buf, 12);
  buf.writeUInt32BE(0x40, 60);
  buf.writeUInt32BE(s.length, 92);
  s.copy(buf, 96);
  return keccak(buf);
}

/** What the chain (and so the index) must say about a device after the build. */
export function expectedOf(d: ScaleDevice): Expected {
  const status: DeviceStatusName = d.fate === "revoked" ? "REVOKED" : d.fate === "suspended" ? "SUSPENDED" : "ACTIVE";
  return {
    manufacturer: d.manufacturer,
    status,
    keyAlgorithm: d.fate === "rotated" ? d.newKeyAlgorithm : d.keyAlgorithm,
    keyHash: d.fate === "rotated" ? d.newKeyHash : d.keyHash,
    firmwareHash: d.fate === "updated" ? d.newFirmwareHash : d.firmwareHash,
    segment: d.segment,
    eventCount: d.fate === "registered" ? 1 : d.fate === "reinstated" ? 3 : 2,
  };
}

// ------------------------------------------------------------------ sending

interface TxRequest {
  account: number;
  data: string;
  gasLimit: number;
}

/** The gas of one block: 40 transactions at the per-transaction cap (12,000 registrations). */
export const BLOCK_GAS = 40 * TX_GAS_CAP;
/** Gas limit of a single-device transaction (they use ~40,000). */
const SINGLE_GAS = 200_000;

/**
 * Mines `txs` into blocks of up to {@link BLOCK_GAS} (counted by gas limit): sends a block's worth
 * (a few requests at once) with explicit nonces, then `evm_mine`s them (the node runs with
 * automine off). Anvil signs them (`eth_sendTransaction` from its unlocked test accounts — the
 * same keys as HARDHAT_KEYS): ethers' signing hashes a 50 kB registration in JavaScript, ~60 ms.
 * Few, full blocks: Anvil recomputes its state root for every block, at a cost that grows with
 * the state (~0.2 s per block at 30,000 devices), so one transaction per block would take hours
 * at a million devices. Returns the number of blocks mined.
 */
let lastBlockMs = 0;

async function mineAll(client: RpcClient, to: string, txs: Iterable<TxRequest>): Promise<number> {
  const nonces = new Map<number, number>();
  const limit = pLimit(4);
  let pending: object[] = [];
  let gas = 0;
  let blocks = 0;
  const flush = async () => {
    if (!pending.length) return;
    const batch = pending;
    pending = [];
    gas = 0;
    await Promise.all(batch.map((tx) => limit(() => client.call("eth_sendTransaction", [tx]))));
    for (let tries = 0; ; tries++) {
      const t = performance.now();
      await client.call("evm_mine");
      lastBlockMs = performance.now() - t;
      blocks++;
      const pool = await client.call<{ pending: string; queued: string }>("txpool_status");
      if (hexToNumber(pool.pending) === 0 && hexToNumber(pool.queued) === 0) break;
      if (tries >= 3) throw new Error(`the node left ${pool.pending} pending / ${pool.queued} queued transactions`);
    }
  };
  for (const tx of txs) {
    let nonce = nonces.get(tx.account);
    nonce ??= hexToNumber(await client.call<string>("eth_getTransactionCount", [addresses[tx.account], "latest"]));
    nonces.set(tx.account, nonce + 1);
    if (gas + tx.gasLimit > BLOCK_GAS) await flush();
    pending.push({
      from: addresses[tx.account],
      to,
      nonce: numberToHex(nonce),
      gas: numberToHex(tx.gasLimit),
      maxFeePerGas: numberToHex(1_000_000_000),
      maxPriorityFeePerGas: "0x1",
      data: tx.data,
    });
    gas += tx.gasLimit;
  }
  await flush();
  return blocks;
}

const REGISTER_SELECTOR = registryInterface.getFunction("registerDevices")!.selector;

/**
 * `registerDevices(rows)` calldata laid out by hand (a static tuple array: offset, length, five
 * words a row); ethers' encoder takes ~35 ms for 300 rows. The build holds the first batch
 * against `encodeFunctionData`.
 */
function encodeRegistrations(rows: readonly ScaleDevice[]): string {
  const words = [numberToHex(0x20), numberToHex(rows.length)];
  for (const d of rows) words.push(d.id, numberToHex(d.keyAlgorithm), d.keyHash, d.firmwareHash, d.segment);
  return REGISTER_SELECTOR + words.map((w) => w.slice(2).padStart(64, "0")).join("");
}

function* batches<T>(xs: Iterable<T>, n: number): Generator<T[]> {
  let c: T[] = [];
  for (const x of xs) {
    c.push(x);
    if (c.length === n) {
      yield c;
      c = [];
    }
  }
  if (c.length) yield c;
}

// ------------------------------------------------------------------ the build

export interface ScaleMeta {
  builderVersion: number;
  devices: number;
  seed: number;
  /** {@link registryCodeHash} of the deployed registry. */
  codeHash: string;
  anvil: string;
  /** Device events by event name, as the builder sent them. */
  events: Record<string, number>;
  /** Role events (RoleGranted) the indexer also reads. */
  roleEvents: number;
  headBlock: number;
  headHash: string;
  buildMs: number;
  phasesMs: Record<string, number>;
  stateBytes: number;
}

export interface ScaleChain {
  dir: string;
  stateFile: string;
  deploymentFile: string;
  deployment: Deployment;
  meta: ScaleMeta;
}

/**
 * sha256 of the registry's creation code without the compiler's metadata (the CBOR the last two
 * bytes give the length of): a change of a comment changes the metadata hash, not the code, and
 * must not make the bench build a million devices again.
 */
export function registryCodeHash(bytecode = registryBytecode): string {
  const code = Buffer.from(bytecode.slice(2), "hex");
  const cbor = code.readUInt16BE(code.length - 2) + 2;
  return createHash("sha256")
    .update(code.subarray(0, Math.max(0, code.length - cbor)))
    .digest("hex");
}

export function chainKey(devices: number, seed = SCALE_SEED): string {
  return `${devices}-s${seed}-r${registryCodeHash().slice(0, 12)}-v${BUILDER_VERSION}`;
}

function load(dir: string): ScaleChain {
  return {
    dir,
    stateFile: path.join(dir, "state.json"),
    deploymentFile: path.join(dir, "deployment.json"),
    deployment: JSON.parse(readFileSync(path.join(dir, "deployment.json"), "utf8")) as Deployment,
    meta: JSON.parse(readFileSync(path.join(dir, "meta.json"), "utf8")) as ScaleMeta,
  };
}

const say = (msg: string) => process.stderr.write(`  ${msg}\n`);

/** The cached chain of `devices` devices, built first if there is none. */
export async function scaleChain(devices: number, seed = SCALE_SEED): Promise<ScaleChain> {
  const dir = path.join(CACHE, chainKey(devices, seed));
  if (existsSync(path.join(dir, "meta.json"))) return load(dir);
  const work = `${dir}.building-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    await build(work, devices, seed);
  } catch (err) {
    // a dump that failed its checks is kept for a look (the next build starts afresh)
    if (!existsSync(path.join(work, "state.json"))) rmSync(work, { recursive: true, force: true });
    else say(`the failed build's dump is in ${work}`);
    throw err;
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  return load(dir);
}

async function build(dir: string, devices: number, seed: number): Promise<void> {
  say(`building a chain of ${devices.toLocaleString("en")} devices (cached in ${path.relative(PROJECT_ROOT, CACHE)})…`);
  const t0 = performance.now();
  const phasesMs: Record<string, number> = {};
  const stateFile = path.join(dir, "state.json");
  // full blocks would raise the EIP-1559 base fee ~10% a block: it starts at zero and stays near it
  const anvil = await startAnvil([
    "--tx-gas-limit",
    "--gas-limit",
    String(BLOCK_GAS),
    "--block-base-fee-per-gas",
    "0",
    // no historical states kept: blocks, receipts and logs stay (and are dumped), the per-block
    // cost grows less
    "--prune-history",
    "--dump-state",
    stateFile,
  ]);
  let stopped = false;
  try {
    const { client } = anvil;
    const device = await deviceSource(seed);

    // deploy and grant with ethers (a handful of transactions, automined), then mine by hand
    let t = performance.now();
    const provider = fastProvider(anvil.url);
    const admin = new Wallet(HARDHAT_KEYS[ADMIN]!, provider);
    const deployment = await deployRegistry(admin, { adminDelay: 3600 });
    provider.destroy();
    await client.call("evm_setAutomine", [false]);
    const registry = deployment.registry;
    const tx = (account: number, fn: string, args: unknown[], gasLimit = SINGLE_GAS): TxRequest => ({
      account,
      data: registryInterface.encodeFunctionData(fn, args),
      gasLimit,
    });
    const grants = [
      ...MANUFACTURERS.map((m) => tx(ADMIN, "grantRole", [MANUFACTURER_ROLE, addresses[m]!])),
      tx(ADMIN, "grantRole", [SECURITY_OFFICER_ROLE, addresses[OFFICER]!]),
      ...ATTESTATION_KINDS.map((k) =>
        tx(ADMIN, "grantRole", [attesterRole(encodeShortName("kind", k)), addresses[ATTESTER]!]),
      ),
    ];
    await mineAll(client, registry, grants);
    phasesMs.deploy = performance.now() - t;

    // one pass over the fleet: the ids held against deviceIdFor, the devices with a fate kept
    // (the registrations below derive each device again rather than hold a million of them)
    t = performance.now();
    const fated = new Map<Fate, ScaleDevice[]>(Object.keys(FATES).map((f) => [f as Fate, []]));
    for (let i = 0; i < devices; i++) {
      const d = device(i);
      if (i % 997 === 0 || i === devices - 1) {
        const want = deviceIdFor(d.manufacturer, d.serial);
        if (d.id !== want) throw new Error(`device ${i}: fast id ${d.id} ≠ deviceIdFor ${want}`);
      }
      fated.get(d.fate)?.push(d);
    }
    const fate = (f: Fate) => fated.get(f) ?? [];
    phasesMs.derive = performance.now() - t;

    // registrations: 300 per transaction, the three manufacturers' transactions interleaved
    t = performance.now();
    let done = 0;
    const registrations = function* () {
      for (let first = 0; first < devices; first += BATCH * MANUFACTURERS.length) {
        for (const [k, m] of MANUFACTURERS.entries()) {
          const c: ScaleDevice[] = [];
          for (let j = 0; j < BATCH; j++) {
            const i = first + j * MANUFACTURERS.length + k;
            if (i < devices) c.push(device(i));
          }
          if (!c.length) continue;
          const data = encodeRegistrations(c);
          if (first === 0 && k === 0) {
            const rows = c.map((d) => ({
              deviceId: d.id,
              keyAlgorithm: d.keyAlgorithm,
              keyHash: d.keyHash,
              firmwareHash: d.firmwareHash,
              segment: d.segment,
            }));
            if (data !== registryInterface.encodeFunctionData("registerDevices", [rows]))
              throw new Error("encodeRegistrations differs from the ABI encoding of registerDevices");
          }
          yield { account: m, data, gasLimit: TX_GAS_CAP };
          done += c.length;
        }
      }
    };
    const progress = setInterval(
      () =>
        say(`registered ${done.toLocaleString("en")} devices (the last block took ${round(lastBlockMs / 1000, 1)} s)`),
      30_000,
    );
    let blocks: number;
    try {
      blocks = await mineAll(client, registry, registrations());
    } finally {
      clearInterval(progress);
    }
    phasesMs.register = performance.now() - t;
    say(
      `registered ${devices.toLocaleString("en")} devices in ${Math.round(phasesMs.register / 1000)} s (${blocks} blocks)`,
    );

    // lifecycle: batches of attestations and revocations, then single suspensions, reinstatements
    // (after the suspension: same account, later nonce), key rotations and firmware updates
    t = performance.now();
    const lifecycle = function* () {
      for (const c of batches(fate("attested"), BATCH))
        yield tx(
          ATTESTER,
          "attestDevices",
          [c.map((d) => ({ deviceId: d.id, kind: d.kind, evidenceHash: d.newKeyHash, expiresAt: d.expiresAt }))],
          TX_GAS_CAP,
        );
      const revoked = fate("revoked");
      for (let reason = 1; reason < REASONS.length; reason++)
        for (const c of batches(
          revoked.filter((d) => d.reason === reason),
          BATCH,
        ))
          yield tx(OFFICER, "revokeDevices", [c.map((d) => d.id), reason], TX_GAS_CAP);
      for (const d of [...fate("suspended"), ...fate("reinstated")])
        yield tx(OFFICER, "suspendDevice", [d.id, d.reason]);
      for (const d of fate("reinstated")) yield tx(OFFICER, "reinstateDevice", [d.id]);
      const mfr = (d: ScaleDevice) => addresses.indexOf(d.manufacturer);
      for (const d of fate("rotated")) yield tx(mfr(d), "rotateKey", [d.id, d.newKeyAlgorithm, d.newKeyHash]);
      for (const d of fate("updated")) yield tx(mfr(d), "updateFirmware", [d.id, d.newFirmwareHash]);
    };
    await mineAll(client, registry, lifecycle());
    phasesMs.lifecycle = performance.now() - t;

    const head = await client.call<{ number: string; hash: string }>("eth_getBlockByNumber", ["latest", false]);
    writeFileSync(path.join(dir, "deployment.json"), JSON.stringify(deployment, null, 2) + "\n");
    t = performance.now();
    await anvil.stop();
    stopped = true;
    phasesMs.dump = performance.now() - t;
    if (!existsSync(stateFile)) throw new Error(`anvil wrote no state to ${stateFile}`);

    // the dump, loaded as the bench will load it, holds what was sent: the same head, the event
    // counts by kind, and a sample of devices as the builder meant them
    t = performance.now();
    const loaded = await startAnvil(["--load-state", stateFile]);
    phasesMs.load = performance.now() - t;
    t = performance.now();
    const events: Record<string, number> = {
      DeviceRegistered: devices,
      Attested: fate("attested").length,
      DeviceRevoked: fate("revoked").length,
      DeviceSuspended: fate("suspended").length + fate("reinstated").length,
      DeviceReinstated: fate("reinstated").length,
      KeyRotated: fate("rotated").length,
      FirmwareUpdated: fate("updated").length,
    };
    let counted: Record<string, number>;
    try {
      const again = await loaded.client.call<{ number: string; hash: string }>("eth_getBlockByNumber", [
        "latest",
        false,
      ]);
      if (again.hash !== head.hash)
        throw new Error(`build: the dump's head is ${again.hash}, the node's was ${head.hash}`);
      counted = await countEvents(loaded.client, registry, deployment.deployBlock, hexToNumber(head.number));
      for (const [name, n] of Object.entries(events)) {
        if ((counted[name] ?? 0) !== n)
          throw new Error(
            `build: the chain has ${counted[name] ?? 0} ${name} events, sent ${n} (${JSON.stringify(counted)})`,
          );
      }
      const pick = prng(seed);
      for (let k = 0; k < 200; k++) {
        const d = device(Math.floor(pick() * devices));
        const problems = await checkOnChain(loaded.client, registry, d);
        if (problems.length) throw new Error(`build: device ${d.index} (${d.id}): ${problems.join("; ")}`);
      }
    } finally {
      await loaded.stop();
    }
    phasesMs.check = performance.now() - t;

    const meta: ScaleMeta = {
      builderVersion: BUILDER_VERSION,
      devices,
      seed,
      codeHash: registryCodeHash(),
      anvil: anvilVersion(),
      events,
      roleEvents: counted.RoleGranted ?? 0,
      headBlock: hexToNumber(head.number),
      headHash: head.hash,
      buildMs: Math.round(performance.now() - t0),
      phasesMs: Object.fromEntries(Object.entries(phasesMs).map(([k, v]) => [k, Math.round(v)])),
      stateBytes: statSync(stateFile).size,
    };
    writeFileSync(path.join(dir, "meta.json"), JSON.stringify(meta, null, 2) + "\n");
    say(
      `built in ${Math.round(meta.buildMs / 1000)} s (${Object.entries(meta.phasesMs)
        .map(([k, v]) => `${k} ${Math.round(v / 1000)} s`)
        .join(", ")}); state ${Math.round(meta.stateBytes / 2 ** 20)} MiB, head block ${meta.headBlock}`,
    );
  } finally {
    if (!stopped) await anvil.stop();
  }
}

function anvilVersion(): string {
  return spawnSync(ANVIL, ["--version"], { encoding: "utf8" }).stdout.split("\n")[0]!.trim();
}

/** Registry events by event name over [from, to] (topic 0 only, nothing decoded). */
export async function countEvents(
  client: RpcClient,
  registry: string,
  from: number,
  to: number,
): Promise<Record<string, number>> {
  const names = new Map<string, string>(Object.entries(DEVICE_EVENT_TOPICS).map(([name, topic]) => [topic, name]));
  for (const name of ["RoleGranted", "RoleRevoked"]) names.set(registryInterface.getEvent(name)!.topicHash, name);
  const counts: Record<string, number> = {};
  // one block a call: a block holds up to 12,000 registrations (~8 MB of JSON)
  for (let a = from; a <= to; a++) {
    const logs = await client.call<{ topics: string[] }[]>("eth_getLogs", [
      { address: registry, fromBlock: numberToHex(a), toBlock: numberToHex(a) },
    ]);
    for (const l of logs) {
      const name = names.get(l.topics[0]!) ?? l.topics[0]!;
      counts[name] = (counts[name] ?? 0) + 1;
    }
  }
  return counts;
}

/** What the registry's storage says of `d` against {@link expectedOf} (problems, empty when it agrees). */
export async function checkOnChain(client: RpcClient, registry: string, d: ScaleDevice): Promise<string[]> {
  const want = expectedOf(d);
  const raw = await client.call<string>("eth_call", [
    { to: registry, data: registryInterface.encodeFunctionData("getDevice", [d.id]) },
    "latest",
  ]);
  const [dev] = registryInterface.decodeFunctionResult("getDevice", raw) as unknown as [
    { manufacturer: string; status: bigint; keyAlgorithm: bigint; eventCount: bigint },
  ];
  const problems: string[] = [];
  if (getAddress(dev.manufacturer) !== want.manufacturer)
    problems.push(`manufacturer ${dev.manufacturer} ≠ ${want.manufacturer}`);
  if (DEVICE_STATUS[Number(dev.status)] !== want.status)
    problems.push(`status ${DEVICE_STATUS[Number(dev.status)]} ≠ ${want.status}`);
  if (Number(dev.keyAlgorithm) !== want.keyAlgorithm)
    problems.push(`key algorithm ${dev.keyAlgorithm} ≠ ${want.keyAlgorithm}`);
  if (Number(dev.eventCount) !== want.eventCount) problems.push(`event count ${dev.eventCount} ≠ ${want.eventCount}`);
  return problems;
}
