/**
 * The auditor's own view of each device record, and its comparison with what an API serves.
 *
 * A gateway acts on the device record (status, revocation, keys, firmware, segment,
 * attestations) and on the verdict, not on the history: so the audit folds the replayed chain
 * events into the record an honest API must serve at the block its answer reflects — written
 * here from the events' meaning (IDeviceRegistry.sol), independently of the indexer's
 * indexer/apply.ts, which it checks — and compares every field. Each difference names the device,
 * the field, the block the API's answer reflects (`atBlock`) and the block of the last chain event
 * that touched the field (`block`).
 */
import { MANUFACTURER_ROLE } from "../common/roles";
import { REASONS, keyAlgorithmEnum, type DeviceStatusName } from "../common/codes";
import { decodeShortName } from "../common/ids";
import type { RoleEvent } from "../indexer/source";
import { gql } from "./graphql";
import type { HistoryEntry } from "./commands/history";

/** One replayed history entry, in the API's vocabulary (the chain replay has no block timestamps). */
export type ReplayedEntry = Omit<HistoryEntry, "timestamp">;

/** The chain's view of a field the API serves, with the block of the last event that set it. */
export interface FieldDifference {
  field: string;
  api: unknown;
  chain: unknown;
  /** Block of the last chain event touching the field (the answer's block when none did). */
  block: number;
}

// ------------------------------------------------------------------ what the API serves

interface ApiRevocation {
  reason: string;
  reasonCode: number;
  at: string;
  by: string;
  blockNumber: number;
  transactionHash: string;
}

interface ApiSuspension {
  reason: string;
  reasonCode: number;
  at: string;
  by: string;
  blockNumber: number;
}

export interface ApiAttestation {
  id: string;
  uid: string;
  deviceId: string;
  kind: string;
  kindBytes32: string;
  attester: string;
  evidenceHash: string;
  issuedAt: string;
  expiresAt: string | null;
  revoked: boolean;
  revokedAt: string | null;
  revokedBy: string | null;
  revocationReason: string | null;
  blockNumber: number;
  transactionHash: string;
}

/** Every field the API serves about a device (but its history, which the audit compares entry by entry). */
export interface ApiDevice {
  id: string;
  manufacturer: string;
  status: Exclude<DeviceStatusName, "NONE">;
  keyAlgorithm: string;
  keyHash: string;
  firmwareHash: string;
  segment: string;
  registeredAt: string;
  registeredBlock: number;
  revocation: ApiRevocation | null;
  suspension: ApiSuspension | null;
  attestations: ApiAttestation[];
  historyHead: string;
  eventCount: number;
  updatedBlock: number;
  atBlock: number;
}

export interface ApiVerdict {
  deviceId: string;
  trusted: boolean;
  reasons: string[];
  atBlock: number;
  lagBlocks: number;
}

const DEVICE_SELECTION = `id manufacturer status keyAlgorithm keyHash firmwareHash segment registeredAt registeredBlock
      revocation { reason reasonCode at by blockNumber transactionHash }
      suspension { reason reasonCode at by blockNumber }
      attestations {
        id uid deviceId kind kindBytes32 attester evidenceHash issuedAt expiresAt
        revoked revokedAt revokedBy revocationReason blockNumber transactionHash
      }
      historyHead eventCount updatedBlock atBlock`;

/** Devices in pages of 200, every field (500 would pass the API's query cost limit). */
export const DEVICES_PAGE = gql<{
  devices: { edges: { node: ApiDevice }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}>(`query AuditDevices($after: String) {
  devices(first: 200, after: $after) {
    edges { node { ${DEVICE_SELECTION} } }
    pageInfo { hasNextPage endCursor }
  }
}`);

/** Default-policy verdicts of up to 1,000 devices. */
export const VERDICTS = gql<{ verifyDevices: ApiVerdict[] }>(`query AuditVerdicts($ids: [Bytes32!]!) {
  verifyDevices(ids: $ids) { deviceId trusted reasons atBlock lagBlocks }
}`);
export const MAX_VERDICT_IDS = 1000;

// ------------------------------------------------------------------ what the chain says

/** A device record as the API must serve it, built from the chain alone. */
export type ExpectedDevice = Omit<ApiDevice, "atBlock">;

export interface ExpectedRecord {
  device: ExpectedDevice;
  /** Block of the last event that touched each field ("attestations[<uid>]" per attestation). */
  touched: Map<string, number>;
}

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const reasonName = (code: number) => REASONS[code] ?? "UNSPECIFIED";
const keyAlgorithmName = (code: number) => keyAlgorithmEnum(code) ?? String(code);

/**
 * Folds a device's replayed entries (chain order) into the record an API must serve after the
 * last of them; `timeOf` gives a block's timestamp. Undefined when there are no entries.
 */
export function expectedRecord(
  entries: readonly ReplayedEntry[],
  timeOf: (block: number) => number,
): ExpectedRecord | undefined {
  let d: ExpectedDevice | undefined;
  const touched = new Map<string, number>();
  const touch = (block: number, ...fields: string[]) => fields.forEach((f) => touched.set(f, block));
  for (const e of entries) {
    const f = e.fields;
    const b = e.blockNumber;
    const at = iso(timeOf(b));
    if (e.kind === "DEVICE_REGISTERED") {
      d = {
        id: String(f.deviceId),
        manufacturer: String(f.manufacturer),
        status: "ACTIVE",
        keyAlgorithm: keyAlgorithmName(Number(f.keyAlgorithm)),
        keyHash: String(f.keyHash),
        firmwareHash: String(f.firmwareHash),
        segment: decodeShortName(String(f.segment)),
        registeredAt: at,
        registeredBlock: b,
        revocation: null,
        suspension: null,
        attestations: [],
        historyHead: e.headAfter,
        eventCount: 0,
        updatedBlock: b,
      };
      touch(b, ...Object.keys(d));
    }
    if (!d) continue; // a chain whose first event is not a registration fails the head check
    switch (e.kind) {
      case "FIRMWARE_UPDATED":
        d.firmwareHash = String(f.firmwareHash);
        touch(b, "firmwareHash");
        break;
      case "KEY_ROTATED":
        d.keyAlgorithm = keyAlgorithmName(Number(f.keyAlgorithm));
        d.keyHash = String(f.keyHash);
        touch(b, "keyAlgorithm", "keyHash");
        break;
      case "DEVICE_SUSPENDED": {
        const reason = Number(f.reason);
        d.status = "SUSPENDED";
        d.suspension = { reason: reasonName(reason), reasonCode: reason, at, by: e.actor, blockNumber: b };
        touch(b, "status", "suspension");
        break;
      }
      case "DEVICE_REINSTATED":
        d.status = "ACTIVE";
        d.suspension = null;
        touch(b, "status", "suspension");
        break;
      case "DEVICE_REVOKED": {
        const reason = Number(f.reason);
        d.status = "REVOKED";
        d.suspension = null;
        d.revocation = {
          reason: reasonName(reason),
          reasonCode: reason,
          at,
          by: e.actor,
          blockNumber: b,
          transactionHash: e.transactionHash,
        };
        touch(b, "status", "suspension", "revocation");
        break;
      }
      case "ATTESTED": {
        const uid = String(f.uid);
        const expiresAt = Number(f.expiresAt);
        d.attestations.push({
          id: uid,
          uid,
          deviceId: d.id,
          kind: decodeShortName(String(f.kind)),
          kindBytes32: String(f.kind),
          attester: String(f.attester),
          evidenceHash: String(f.evidenceHash),
          issuedAt: at,
          expiresAt: expiresAt === 0 ? null : iso(expiresAt),
          revoked: false,
          revokedAt: null,
          revokedBy: null,
          revocationReason: null,
          blockNumber: b,
          transactionHash: e.transactionHash,
        });
        touch(b, `attestations[${uid}]`);
        break;
      }
      case "ATTESTATION_REVOKED": {
        const uid = String(f.uid);
        const a = d.attestations.find((x) => x.uid === uid);
        if (a)
          Object.assign(a, {
            revoked: true,
            revokedAt: at,
            revokedBy: e.actor,
            revocationReason: reasonName(Number(f.reason)),
          });
        touch(b, `attestations[${uid}]`);
        break;
      }
    }
    d.historyHead = e.headAfter;
    d.eventCount++;
    d.updatedBlock = b;
    touch(b, "historyHead", "eventCount", "updatedBlock");
  }
  return d && { device: d, touched };
}

/** Role membership replayed from RoleGranted/RoleRevoked, asked at any block. */
export function roleHistory(events: readonly RoleEvent[]) {
  const byKey = new Map<string, RoleEvent[]>();
  for (const e of events) {
    const k = `${e.role.toLowerCase()}/${e.account.toLowerCase()}`;
    byKey.set(k, [...(byKey.get(k) ?? []), e]);
  }
  /** The last RoleGranted/RoleRevoked of `account` for `role` at or before `block`. */
  const lastAt = (role: string, account: string, block: number) =>
    (byKey.get(`${role.toLowerCase()}/${account.toLowerCase()}`) ?? []).filter((e) => e.blockNumber <= block).pop();
  return {
    lastAt,
    isManufacturer: (account: string, block: number) =>
      lastAt(MANUFACTURER_ROLE, account, block)?.name === "RoleGranted",
  };
}
export type RoleHistory = ReturnType<typeof roleHistory>;

// ------------------------------------------------------------------ comparing

/** One normal form for comparing: hex in lower case, date-times as ISO in UTC, absent as null. */
function norm(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === "string" && /^0x[0-9a-fA-F]*$/.test(v)) return v.toLowerCase();
  if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v)))
    return new Date(v).toISOString();
  return v;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A value for a message: strings as they are, objects and lists as compact JSON, absent as (none). */
export function show(v: unknown): string {
  if (v === null || v === undefined) return "(none)";
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * Every field where the API's record differs from the chain's. A nested object present on one
 * side only is one difference (e.g. `revocation`); attestations are matched by uid.
 */
export function recordDifferences(
  api: Omit<ApiDevice, "atBlock">,
  chain: ExpectedRecord,
  atBlock: number,
): FieldDifference[] {
  const out: FieldDifference[] = [];
  const blockOf = (top: string) => chain.touched.get(top) ?? atBlock;
  const walk = (path: string, top: string, a: unknown, c: unknown) => {
    if (isObject(a) && isObject(c)) {
      for (const k of new Set([...Object.keys(c), ...Object.keys(a)])) walk(`${path}.${k}`, top, a[k], c[k]);
    } else if (JSON.stringify(norm(a)) !== JSON.stringify(norm(c))) {
      out.push({ field: path, api: a ?? null, chain: c ?? null, block: blockOf(top) });
    }
  };
  const a = api as unknown as Record<string, unknown>;
  const c = chain.device as unknown as Record<string, unknown>;
  for (const k of Object.keys(c)) {
    if (k === "attestations") continue;
    walk(k, k, a[k], c[k]);
  }
  const apiAtts = new Map((api.attestations ?? []).map((x) => [String(x.uid).toLowerCase(), x]));
  for (const att of chain.device.attestations) {
    const key = `attestations[${att.uid}]`;
    const mine = apiAtts.get(att.uid);
    apiAtts.delete(att.uid);
    if (!mine) out.push({ field: key, api: null, chain: att.kind, block: blockOf(key) });
    else walk(key, key, mine, att);
  }
  for (const [uid, extra] of apiAtts)
    out.push({ field: `attestations[${uid}]`, api: extra.kind, chain: null, block: atBlock });
  return out;
}
