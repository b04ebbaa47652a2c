/**
 * A small TypeScript model of DeviceRegistry for the randomized test
 * (test/contracts/DeviceRegistry.model.test.ts): it predicts, for any operation by any actor,
 * either the exact custom error (name + args, in the contract's check order) or the device events
 * the call emits (fields without the head). The history head itself is recomputed from the events
 * with common/history.ts, never here.
 */
import { AbiCoder, keccak256 } from "ethers";
import type { DeviceEventName } from "../../common/codes";
import { deviceIdFor } from "../../common/ids";
import { batchIdFor } from "../../common/merkle";
import { DEFAULT_ADMIN_ROLE, MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole } from "../../common/roles";
import { encodedError } from "./contracts-fixture";

const coder = AbiCoder.defaultAbiCoder();
const ZERO = "0x" + "00".repeat(32);
const MAX_REASON = 8;

export const STATUS_NONE = 0;
export const STATUS_ACTIVE = 1;
export const STATUS_SUSPENDED = 2;
export const STATUS_REVOKED = 3;

export interface ModelDevice {
  manufacturer: string;
  status: number;
  keyAlgorithm: number;
  eventCount: number;
  /** The current suspension was made as an officer (by anyone but the manufacturer holding its role). */
  suspendedByOfficer: boolean;
}

export interface ModelBatch {
  manufacturer: string;
  revoked: boolean;
}

export interface ModelAttestation {
  attester: string;
  revoked: boolean;
}

export interface PredictedEvent {
  name: DeviceEventName;
  fields: Record<string, unknown>;
}

/** What a call does: the exact revert, or the events (in order) when it succeeds. */
export type Outcome = { type: "revert"; error: string; args: unknown[] } | { type: "ok"; events: PredictedEvent[] };

export interface Registration {
  deviceId: string;
  keyAlgorithm: number;
  keyHash: string;
  firmwareHash: string;
  segment: string;
}

export interface AttestationRequest {
  deviceId: string;
  kind: string;
  evidenceHash: string;
  expiresAt: number;
}

/** A registry operation as the randomized test issues it (`by` = the caller's address). */
export type Op =
  | { type: "registerDevice"; by: string; reg: Registration }
  | { type: "registerDevices"; by: string; regs: Registration[] }
  | { type: "updateFirmware"; by: string; deviceId: string; firmwareHash: string }
  | { type: "rotateKey"; by: string; deviceId: string; keyAlgorithm: number; keyHash: string }
  | { type: "suspendDevice"; by: string; deviceId: string; reason: number }
  | { type: "reinstateDevice"; by: string; deviceId: string }
  | { type: "revokeDevice"; by: string; deviceId: string; reason: number }
  | { type: "revokeDevices"; by: string; deviceIds: string[]; reason: number }
  | { type: "attest"; by: string; req: AttestationRequest }
  | { type: "attestDevices"; by: string; reqs: AttestationRequest[] }
  | { type: "revokeAttestation"; by: string; deviceId: string; uid: string; reason: number }
  | { type: "grantRole" | "revokeRole"; by: string; role: string; account: string }
  | { type: "anchorDevices"; by: string; root: string; count: number }
  | {
      type: "materializeDevice";
      by: string;
      batchId: string;
      serial: string;
      reg: Registration;
      proof: string[];
    }
  | { type: "revokeBatch"; by: string; batchId: string; reason: number }
  /** `calls` in one transaction, each with the same `by`; all or nothing. */
  | { type: "multicall"; by: string; calls: Op[] };

/** An item error: thrown inside the model, caught by batches to wrap it with the index. */
class ItemError extends Error {
  constructor(
    readonly error: string,
    readonly args: unknown[],
  ) {
    super(error);
  }
}

const fail = (error: string, ...args: unknown[]): never => {
  throw new ItemError(error, args);
};

export interface RegistryModel {
  devices: Map<string, ModelDevice>;
  /** key `${deviceId}/${uid}` */
  attestations: Map<string, ModelAttestation>;
  /** role id → holders (lower-case addresses) */
  roles: Map<string, Set<string>>;
  batches: Map<string, ModelBatch>;
  /** Predicts `op` at block time `now`; applies it to the model when it succeeds. */
  apply(op: Op, now: number): Outcome;
  /** Every uid the model knows for `deviceId`. */
  uidsOf(deviceId: string): string[];
}

export function uidOf(deviceId: string, kind: string, attester: string, eventCount: number): string {
  return keccak256(coder.encode(["bytes32", "bytes32", "address", "uint32"], [deviceId, kind, attester, eventCount]));
}

function cloneDevices(m: Map<string, ModelDevice>): Map<string, ModelDevice> {
  return new Map([...m].map(([k, v]) => [k, { ...v }]));
}

/**
 * A model with `admin` holding the default admin role and `grants` applied. `processProof` gives
 * the root a Merkle proof leads to from a leaf (common/merkle.ts, held against
 * @openzeppelin/merkle-tree by its own test).
 */
export function createRegistryModel(
  admin: string,
  grants: [role: string, account: string][],
  processProof: (leaf: Registration, proof: readonly string[]) => string,
): RegistryModel {
  const roles = new Map<string, Set<string>>([[DEFAULT_ADMIN_ROLE, new Set([admin.toLowerCase()])]]);
  const has = (role: string, account: string) => roles.get(role)?.has(account.toLowerCase()) ?? false;
  const grant = (role: string, account: string) => {
    if (!roles.has(role)) roles.set(role, new Set());
    roles.get(role)!.add(account.toLowerCase());
  };
  for (const [role, account] of grants) grant(role, account);

  let devices = new Map<string, ModelDevice>();
  let attestations = new Map<string, ModelAttestation>();
  let batches = new Map<string, ModelBatch>();

  // --- the contract's checks, in its order, against a working copy (`ds`, `as`) ---

  function live(ds: Map<string, ModelDevice>, id: string): ModelDevice {
    const d = ds.get(id);
    if (!d) return fail("DeviceRegistryUnknownDevice", id);
    if (d.status === STATUS_REVOKED) return fail("DeviceRegistryDeviceRevoked", id);
    return d;
  }
  /** A device `by` may manage, and whether `by` manages it as an officer (not as its manufacturer). */
  function managed(ds: Map<string, ModelDevice>, id: string, by: string): { d: ModelDevice; asOfficer: boolean } {
    const d = live(ds, id);
    const own = d.manufacturer === by && has(MANUFACTURER_ROLE, by);
    if (!own && !has(SECURITY_OFFICER_ROLE, by)) fail("DeviceRegistryNotDeviceManager", id, by);
    return { d, asOfficer: !own };
  }
  function checkKey(id: string, alg: number, keyHash: string): void {
    if (alg < 1 || alg > 6) fail("DeviceRegistryUnknownKeyAlgorithm", alg);
    if (keyHash === ZERO) fail("DeviceRegistryZeroKeyHash", id);
  }
  function liveBatch(batchId: string): ModelBatch {
    const b = batches.get(batchId);
    if (!b) return fail("DeviceRegistryUnknownBatch", batchId);
    if (b.revoked) fail("DeviceRegistryBatchRevoked", batchId);
    return b;
  }
  function checkReason(reason: number): void {
    if (reason > MAX_REASON) fail("DeviceRegistryUnknownReason", reason);
  }
  function requireRole(role: string, by: string): void {
    if (!has(role, by)) fail("AccessControlUnauthorizedAccount", by, role);
  }
  function register(ds: Map<string, ModelDevice>, r: Registration, by: string): PredictedEvent {
    if (r.deviceId === ZERO) fail("DeviceRegistryZeroDeviceId");
    checkKey(r.deviceId, r.keyAlgorithm, r.keyHash);
    if (ds.has(r.deviceId)) fail("DeviceRegistryDeviceAlreadyRegistered", r.deviceId);
    ds.set(r.deviceId, {
      manufacturer: by,
      status: STATUS_ACTIVE,
      keyAlgorithm: r.keyAlgorithm,
      eventCount: 1,
      suspendedByOfficer: false,
    });
    return { name: "DeviceRegistered", fields: { ...r, manufacturer: by } };
  }
  function revoke(ds: Map<string, ModelDevice>, id: string, by: string, reason: number): PredictedEvent {
    const { d } = managed(ds, id, by);
    d.status = STATUS_REVOKED;
    d.eventCount++;
    return { name: "DeviceRevoked", fields: { deviceId: id, by, reason } };
  }
  function attest(
    ds: Map<string, ModelDevice>,
    as: Map<string, ModelAttestation>,
    q: AttestationRequest,
    by: string,
    now: number,
  ): PredictedEvent {
    if (q.kind === ZERO) fail("DeviceRegistryZeroKind");
    requireRole(attesterRole(q.kind), by);
    if (q.expiresAt !== 0 && q.expiresAt <= now) fail("DeviceRegistryExpiryInPast", q.expiresAt, now);
    const d = live(ds, q.deviceId);
    const uid = uidOf(q.deviceId, q.kind, by, d.eventCount);
    as.set(`${q.deviceId}/${uid}`, { attester: by, revoked: false });
    d.eventCount++;
    return {
      name: "Attested",
      fields: {
        deviceId: q.deviceId,
        uid,
        kind: q.kind,
        attester: by,
        evidenceHash: q.evidenceHash,
        expiresAt: q.expiresAt,
      },
    };
  }
  /** Runs `items` one by one on working copies; the first failure becomes the batch error. */
  function batch<T>(
    items: T[],
    each: (ds: Map<string, ModelDevice>, as: Map<string, ModelAttestation>, item: T) => PredictedEvent,
  ) {
    if (items.length === 0) fail("DeviceRegistryEmptyBatch");
    const ds = cloneDevices(devices);
    const as = new Map([...attestations].map(([k, v]) => [k, { ...v }]));
    const events = items.map((item, i) => {
      try {
        return each(ds, as, item);
      } catch (err) {
        if (err instanceof ItemError) fail("DeviceRegistryBatchItemFailed", i, encodedError(err.error, err.args));
        throw err;
      }
    });
    devices = ds;
    attestations = as;
    return events;
  }
  /** A single-item operation on working copies, committed when it succeeds. */
  function single(
    each: (ds: Map<string, ModelDevice>, as: Map<string, ModelAttestation>) => PredictedEvent,
  ): PredictedEvent[] {
    const ds = cloneDevices(devices);
    const as = new Map([...attestations].map(([k, v]) => [k, { ...v }]));
    const e = each(ds, as);
    devices = ds;
    attestations = as;
    return [e];
  }

  function predict(op: Op, now: number): PredictedEvent[] {
    const by = op.by;
    switch (op.type) {
      case "registerDevice":
        requireRole(MANUFACTURER_ROLE, by);
        return single((ds) => register(ds, op.reg, by));
      case "registerDevices":
        requireRole(MANUFACTURER_ROLE, by);
        return batch(op.regs, (ds, _as, r) => register(ds, r, by));
      case "updateFirmware":
        return single((ds) => {
          const d = live(ds, op.deviceId);
          if (d.manufacturer !== by || !has(MANUFACTURER_ROLE, by))
            fail("DeviceRegistryNotDeviceManufacturer", op.deviceId, by);
          d.eventCount++;
          return { name: "FirmwareUpdated", fields: { deviceId: op.deviceId, by, firmwareHash: op.firmwareHash } };
        });
      case "rotateKey":
        checkKey(op.deviceId, op.keyAlgorithm, op.keyHash);
        return single((ds) => {
          const d = live(ds, op.deviceId);
          if (d.manufacturer !== by || !has(MANUFACTURER_ROLE, by))
            fail("DeviceRegistryNotDeviceManufacturer", op.deviceId, by);
          d.keyAlgorithm = op.keyAlgorithm;
          d.eventCount++;
          return {
            name: "KeyRotated",
            fields: { deviceId: op.deviceId, by, keyAlgorithm: op.keyAlgorithm, keyHash: op.keyHash },
          };
        });
      case "suspendDevice":
        checkReason(op.reason);
        return single((ds) => {
          const { d, asOfficer } = managed(ds, op.deviceId, by);
          if (d.status !== STATUS_ACTIVE) fail("DeviceRegistryDeviceNotActive", op.deviceId, d.status);
          d.status = STATUS_SUSPENDED;
          d.suspendedByOfficer = asOfficer;
          d.eventCount++;
          return { name: "DeviceSuspended", fields: { deviceId: op.deviceId, by, reason: op.reason } };
        });
      case "reinstateDevice":
        return single((ds) => {
          const { d } = managed(ds, op.deviceId, by);
          if (d.status !== STATUS_SUSPENDED) fail("DeviceRegistryDeviceNotSuspended", op.deviceId, d.status);
          // an officer's suspension is lifted only by an officer
          if (d.suspendedByOfficer && !has(SECURITY_OFFICER_ROLE, by))
            fail("DeviceRegistrySuspendedByOfficer", op.deviceId, by);
          d.status = STATUS_ACTIVE;
          d.eventCount++;
          return { name: "DeviceReinstated", fields: { deviceId: op.deviceId, by } };
        });
      case "revokeDevice":
        checkReason(op.reason);
        return single((ds) => revoke(ds, op.deviceId, by, op.reason));
      case "revokeDevices":
        if (op.deviceIds.length === 0) fail("DeviceRegistryEmptyBatch");
        checkReason(op.reason);
        return batch(op.deviceIds, (ds, _as, id) => revoke(ds, id, by, op.reason));
      case "attest":
        return single((ds, as) => attest(ds, as, op.req, by, now));
      case "attestDevices":
        return batch(op.reqs, (ds, as, q) => attest(ds, as, q, by, now));
      case "revokeAttestation":
        checkReason(op.reason);
        return single((ds, as) => {
          const a = as.get(`${op.deviceId}/${op.uid}`);
          if (!a) return fail("DeviceRegistryUnknownAttestation", op.deviceId, op.uid);
          if (a.revoked) fail("DeviceRegistryAttestationAlreadyRevoked", op.uid);
          if (a.attester !== by && !has(SECURITY_OFFICER_ROLE, by))
            fail("DeviceRegistryNotAttestationManager", op.uid, by);
          const d = ds.get(op.deviceId)!;
          if (d.status === STATUS_REVOKED) fail("DeviceRegistryDeviceRevoked", op.deviceId);
          a.revoked = true;
          d.eventCount++;
          return { name: "AttestationRevoked", fields: { deviceId: op.deviceId, uid: op.uid, by, reason: op.reason } };
        });
      case "anchorDevices": {
        requireRole(MANUFACTURER_ROLE, by);
        if (op.root === ZERO) fail("DeviceRegistryZeroRoot");
        if (op.count === 0) fail("DeviceRegistryEmptyBatch");
        const batchId = batchIdFor(by, op.root);
        if (batches.has(batchId)) fail("DeviceRegistryBatchAlreadyAnchored", batchId);
        batches = new Map(batches).set(batchId, { manufacturer: by, revoked: false });
        return [];
      }
      case "materializeDevice": {
        const { manufacturer } = liveBatch(op.batchId);
        const id = op.reg.deviceId;
        if (id !== deviceIdFor(manufacturer, op.serial))
          fail("DeviceRegistryDeviceIdMismatch", id, manufacturer, op.serial);
        if (batchIdFor(manufacturer, processProof(op.reg, op.proof)) !== op.batchId)
          fail("DeviceRegistryInvalidProof", op.batchId, id);
        return single((ds) => register(ds, op.reg, manufacturer));
      }
      case "revokeBatch": {
        checkReason(op.reason);
        const b = liveBatch(op.batchId);
        if (!(b.manufacturer === by && has(MANUFACTURER_ROLE, by)) && !has(SECURITY_OFFICER_ROLE, by))
          fail("DeviceRegistryNotBatchManager", op.batchId, by);
        batches = new Map(batches).set(op.batchId, { ...b, revoked: true });
        return [];
      }
      case "multicall": {
        // every call commits to the model as it succeeds: a failing call restores what was before
        const before = { devices, attestations, batches };
        try {
          return op.calls.flatMap((c) => predict(c, now));
        } catch (err) {
          ({ devices, attestations, batches } = before);
          throw err;
        }
      }
      case "grantRole":
      case "revokeRole":
        requireRole(DEFAULT_ADMIN_ROLE, by);
        if (op.type === "grantRole") grant(op.role, op.account);
        else roles.get(op.role)?.delete(op.account.toLowerCase());
        return [];
    }
  }

  return {
    get devices() {
      return devices;
    },
    get attestations() {
      return attestations;
    },
    get batches() {
      return batches;
    },
    roles,
    apply(op, now) {
      try {
        return { type: "ok", events: predict(op, now) };
      } catch (err) {
        if (err instanceof ItemError) return { type: "revert", error: err.error, args: err.args };
        throw err;
      }
    },
    uidsOf(deviceId) {
      return [...attestations.keys()]
        .filter((k) => k.startsWith(`${deviceId}/`))
        .map((k) => k.slice(deviceId.length + 1));
    },
  };
}
