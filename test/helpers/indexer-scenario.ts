/**
 * Shared pieces of the indexer tests: a chain with a fleet on it, the single-item operations the
 * fleet writer does not make (firmware updates, key rotations, reinstatements, attestation
 * revocations, role changes), temp data dirs, and a canonical dump of a store's content to
 * compare two stores with.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { encodeBytes32String } from "ethers";
import { ClassicLevel } from "classic-level";
import type { Deployment } from "../../common/deployment";
import { DEVICE_STATUS } from "../../common/codes";
import { SUBLEVELS } from "../../indexer/store/schema";
import type { DeviceFilter, DeviceRecord } from "../../indexer/types";
import { MANUFACTURER_ROLE } from "../../common/roles";
import { startHardhatNode, type NodeHandle } from "./chain";
import { FLEET_KINDS, deployFleetRegistry, testHash, writeFleet, type FleetActors, type FleetResult } from "./fleet";

export interface FleetChain {
  node: NodeHandle;
  deployment: Deployment;
  actors: FleetActors;
  fleet: FleetResult;
}

export async function startFleetChain(devices: number, label = "fleet"): Promise<FleetChain> {
  const node = await startHardhatNode();
  try {
    const { deployment, actors } = await deployFleetRegistry(node.url);
    const fleet = await writeFleet(actors, { devices, label });
    return { node, deployment, actors, fleet };
  } catch (err) {
    await node.stop();
    throw err;
  }
}

/**
 * One of every event kind the fleet writer does not produce, on fleet devices (active, not
 * suspended/revoked ones): firmware update, key rotation, attestation revocation, suspend +
 * reinstate, a role grant and revoke. Returns the number of registry logs written.
 */
export async function writeSingleOps(chain: FleetChain, tag: string): Promise<number> {
  const { actors, fleet } = chain;
  const reg = actors.registry;
  const active = fleet.deviceIds.filter((id) => !fleet.suspended.includes(id) && !fleet.revoked.includes(id));
  const [a, b, c] = [active[2]!, active[3]!, active[4]!];
  const half = Math.ceil(fleet.deviceIds.length / 2);
  const regOf = (id: string) => (fleet.deviceIds.indexOf(id) < half ? reg.manufacturer : reg.manufacturer2);
  await (await regOf(a).getFunction("updateFirmware")(a, testHash(`${tag}/fw`))).wait();
  await (await regOf(b).getFunction("rotateKey")(b, 2, testHash(`${tag}/key`))).wait();
  await (await reg.officer.getFunction("suspendDevice")(c, 1)).wait();
  await (await reg.officer.getFunction("reinstateDevice")(c)).wait();
  const kind = encodeBytes32String("iec62443");
  const tx = await reg.attester.getFunction("attest")(c, kind, testHash(`${tag}/ev`), 0);
  const receipt = await tx.wait();
  const log = receipt!.logs.find((l: { topics: readonly string[] }) => l.topics.length === 4);
  const uid = log!.topics[2]!;
  await (await reg.attester.getFunction("revokeAttestation")(c, uid, 4)).wait();
  const someone = await chain.actors.officer.getAddress();
  await (await reg.admin.getFunction("grantRole")(MANUFACTURER_ROLE, someone)).wait();
  await (await reg.admin.getFunction("revokeRole")(MANUFACTURER_ROLE, someone)).wait();
  return 8;
}

const dirs: string[] = [];

/** A fresh temp directory (removed by {@link removeTempDirs}). */
export function tempDir(prefix = "dtl-indexer-"): string {
  const d = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Sublevels holding the mirror's content (blk/undo depend on how ranges were split). */
const CONTENT = SUBLEVELS.filter((s) => !["meta", "blk", "undo", "ckpt"].includes(s));

/**
 * Canonical dump of a closed store: every content key and value (as hex: some are binary), the
 * persisted device tallies, plus the cursor's block, hash, digest and event count. Two stores with
 * equal dumps hold the same mirror.
 */
export async function dumpStore(dataDir: string): Promise<{ cursor: unknown; content: [string, string][] }> {
  const db = new ClassicLevel<string, Buffer>(dataDir, { keyEncoding: "utf8", valueEncoding: "buffer" });
  await db.open({ createIfMissing: false });
  try {
    const content: [string, string][] = [];
    for (const sub of CONTENT) {
      for await (const [k, v] of db.sublevel<string, Buffer>(sub, { valueEncoding: "buffer" }).iterator())
        content.push([`${sub}/${k}`, v.toString("hex")]);
    }
    const meta = db.sublevel<string, string>("meta", { valueEncoding: "utf8" });
    content.push(["meta/counts", (await meta.get("counts")) ?? "none"]);
    const raw = JSON.parse((await meta.get("cursor")) ?? "null") as {
      block: number;
      hash: string;
      digest: string;
      events: number;
    } | null;
    const cursor = raw && { block: raw.block, hash: raw.hash, digest: raw.digest, events: raw.events };
    return { cursor, content };
  } finally {
    await db.close();
  }
}

/** The segments the indexer tests register devices in. */
export const TEST_SEGMENTS = ["plant-1/hvac", "plant-2/door", "plant-3/lab"];
/** The statuses a device filter may name (DEVICE_STATUS without its zero entry). */
export const FILTER_STATUSES = DEVICE_STATUS.slice(1) as DeviceRecord["status"][];

/**
 * Every combination of the filter fields (each may be absent): the given manufacturers, every
 * status, `TEST_SEGMENTS` and `FLEET_KINDS`, each list extended by `extra` (values that match
 * nothing, to check empty answers).
 */
export function allDeviceFilters(
  manufacturers: string[],
  extra: { manufacturers?: string[]; segments?: string[]; kinds?: string[] } = {},
): DeviceFilter[] {
  const out: DeviceFilter[] = [];
  for (const m of [undefined, ...manufacturers, ...(extra.manufacturers ?? [])])
    for (const status of [undefined, ...FILTER_STATUSES])
      for (const segment of [undefined, ...TEST_SEGMENTS, ...(extra.segments ?? [])])
        for (const kind of [undefined, ...FLEET_KINDS, ...(extra.kinds ?? [])])
          out.push({
            ...(m && { manufacturer: m }),
            ...(status && { status }),
            ...(segment && { segment }),
            ...(kind && { attestationKind: kind }),
          });
  return out;
}
