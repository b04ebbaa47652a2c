/** Resolvers of api/schema.graphql. Store records are served as they are; fields map names/units. */
import { Repeater } from "graphql-yoga";
import { REASONS, keyAlgorithmEnum, upperSnake } from "../common/codes";
import { MANUFACTURER_ROLE, attesterRole } from "../common/roles";
import type {
  AttestationRecord,
  BatchFilter,
  BatchView,
  DeviceRecord,
  HistoryEntryRecord,
  StoreChange,
} from "../indexer/types";
import { checkRegistrationProof, type RegistrationProofArg } from "./registration";
import { readConnection } from "./cursor";
import type { ApiContext } from "./context";
import { isReady } from "./context";
import { ERROR_CODES, apiError, badInput } from "./errors";
import { normalizePolicy, type TrustPolicyArg } from "./policy";
import { checkProof, type ProofInput } from "./proof";
import { scalarResolvers } from "./scalars";
import { verdictsFor } from "./trust-service";
import { TooManyChallengesError } from "./challenges";
import { chainHistoryHead } from "./chain-head";

/** Largest page a connection serves. */
export const MAX_PAGE = 500;
/** Most ids one verifyDevices call takes. */
export const MAX_VERIFY_IDS = 1000;
/** Most role checks one hasRoles call takes. */
export const MAX_ROLE_CHECKS = 1000;
/** Most device ids one deviceEvents subscription filters on. */
export const MAX_SUBSCRIBE_IDS = 1000;

export type HistoryEntryView = HistoryEntryRecord & { retracted?: boolean };

interface RegistrationView {
  kind: "DIRECT" | "ANCHORED";
  device: DeviceRecord;
  batchId: string | null;
}

function pageSize(ctx: ApiContext, field: string, first: number | null | undefined): number {
  const n = first ?? 50;
  if (n < 0) throw badInput(field, `must be ≥ 0, got ${n}`);
  if (n > MAX_PAGE) throw badInput(field, `must be ≤ ${MAX_PAGE}, got ${n}`);
  ctx.itemBudget.left -= n;
  if (ctx.itemBudget.left < 0) {
    throw apiError(
      ERROR_CODES.queryTooComplex,
      `${field}: the query asks for more than the allowed number of items in total; ask for smaller pages`,
      {
        field,
      },
    );
  }
  return n;
}

function shortName(field: string, value: string): void {
  if (Buffer.byteLength(value, "utf8") > 31) throw badInput(field, `"${value.slice(0, 40)}" is longer than 31 bytes`);
}

const reasonName = (code: number | undefined) => (code === undefined ? null : (REASONS[code] ?? "UNSPECIFIED"));

const ts = (seconds: number | undefined) => (seconds === undefined ? null : seconds);

function entryMatches(entry: HistoryEntryRecord, ids: Set<string> | null, kinds: Set<string> | null): boolean {
  return (!ids || ids.has(entry.deviceId)) && (!kinds || kinds.has(upperSnake(entry.kind)));
}

export const resolvers = {
  ...scalarResolvers,
  Query: {
    device: (_: unknown, { id }: { id: string }, ctx: ApiContext) => {
      ctx.snapshot();
      return ctx.state.store.getDevice(id).then((d) => d ?? null);
    },
    devices: async (
      _: unknown,
      args: {
        filter?: {
          manufacturer?: string;
          status?: DeviceRecord["status"];
          segment?: string;
          attestationKind?: string;
        } | null;
        first?: number;
        after?: string | null;
      },
      ctx: ApiContext,
    ) => {
      const first = pageSize(ctx, "first", args.first);
      ctx.snapshot();
      const f = args.filter ?? {};
      if (f.segment != null) shortName("filter.segment", f.segment);
      if (f.attestationKind != null) shortName("filter.attestationKind", f.attestationKind);
      const filter = {
        ...(f.manufacturer != null && { manufacturer: f.manufacturer }),
        ...(f.status != null && { status: f.status }),
        ...(f.segment != null && { segment: f.segment }),
        ...(f.attestationKind != null && { attestationKind: f.attestationKind }),
      };
      const conn = await readConnection("after", first, args.after, (n, after) =>
        ctx.state.store.listDevices(filter, n, after),
      );
      return { ...conn, atBlock: ctx.snapshot().atBlock };
    },
    attestation: (_: unknown, { id }: { id: string }, ctx: ApiContext) => {
      ctx.snapshot();
      return ctx.state.store.getAttestation(id).then((a) => a ?? null);
    },
    verifyDevice: async (
      _: unknown,
      args: {
        id: string;
        policy?: TrustPolicyArg | null;
        proof?: ProofInput | null;
        registration?: RegistrationProofArg | null;
      },
      ctx: ApiContext,
    ) => {
      const policy = normalizePolicy(args.policy);
      ctx.snapshot();
      let device = await ctx.state.store.getDevice(args.id);
      let registrationProofInvalid = false;
      if (args.registration) {
        const r = await checkRegistrationProof(ctx.state.store, args.id, args.registration);
        if (!r.valid) registrationProofInvalid = true;
        // known only by its own proof: the proof is the registration
        else if (!device) device = r.device;
        // the chain (or a manifest) has the id under another manufacturer: ambiguous, fail closed
        else if (device.manufacturer !== r.device.manufacturer) device = { ...device, duplicateIdentity: true };
      }
      const proof = checkProof(ctx.state.challenges, args.id, device, args.proof);
      const [verdict] = await verdictsFor(ctx, [args.id], [device], policy, proof, { registrationProofInvalid });
      return verdict!;
    },
    verifyDevices: async (_: unknown, args: { ids: string[]; policy?: TrustPolicyArg | null }, ctx: ApiContext) => {
      if (args.ids.length > MAX_VERIFY_IDS)
        throw badInput("ids", `at most ${MAX_VERIFY_IDS} ids per request, got ${args.ids.length}`);
      const policy = normalizePolicy(args.policy);
      ctx.snapshot();
      const devices = args.ids.length ? await ctx.state.store.getDevices(args.ids) : [];
      return verdictsFor(ctx, args.ids, devices, policy);
    },
    indexerStatus: (_: unknown, __: unknown, ctx: ApiContext) => {
      const { status, lagBlocks } = ctx.snapshot();
      return {
        ...status,
        lagBlocks,
        maxLagBlocks: ctx.state.maxLagBlocks,
        ready: isReady(status, ctx.state.maxLagBlocks),
        manifestsDigest: ctx.state.store.manifestsDigest(),
      };
    },
    hasRoles: (_: unknown, args: { checks: { role: string; account: string }[] }, ctx: ApiContext) => {
      if (args.checks.length > MAX_ROLE_CHECKS)
        throw badInput("checks", `at most ${MAX_ROLE_CHECKS} checks per request, got ${args.checks.length}`);
      ctx.snapshot();
      return Promise.all(args.checks.map((c) => ctx.state.store.hasRole(c.role, c.account)));
    },
    chainHistoryHead,
    batch: (_: unknown, { id }: { id: string }, ctx: ApiContext) => {
      ctx.snapshot();
      return ctx.state.store.getBatch(id).then((b) => b ?? null);
    },
    batches: async (
      _: unknown,
      args: { filter?: BatchFilter | null; first?: number; after?: string | null },
      ctx: ApiContext,
    ) => {
      const first = pageSize(ctx, "first", args.first);
      ctx.snapshot();
      const f = args.filter ?? {};
      const filter: BatchFilter = {
        ...(f.manufacturer != null && { manufacturer: f.manufacturer }),
        ...(f.revoked != null && { revoked: f.revoked }),
        ...(f.manifestStatus != null && { manifestStatus: f.manifestStatus }),
      };
      const conn = await readConnection("after", first, args.after, (n, after) =>
        ctx.state.store.listBatches(filter, n, after),
      );
      return { ...conn, atBlock: ctx.snapshot().atBlock };
    },
  },
  Mutation: {
    issueChallenge: async (_: unknown, { deviceId }: { deviceId: string }, ctx: ApiContext) => {
      const device = await ctx.state.store.getDevice(deviceId);
      if (!device)
        throw apiError(ERROR_CODES.deviceNotFound, `deviceId: no device ${deviceId} is registered`, {
          field: "deviceId",
        });
      try {
        const c = ctx.state.challenges.issue(deviceId);
        return { ...c, expiresAt: new Date(c.expiresAt) };
      } catch (err) {
        if (err instanceof TooManyChallengesError) throw apiError(ERROR_CODES.tooManyChallenges, err.message);
        throw err;
      }
    },
  },
  Subscription: {
    deviceEvents: {
      subscribe: (_: unknown, args: { deviceIds?: string[] | null; kinds?: string[] | null }, ctx: ApiContext) => {
        if (args.deviceIds && args.deviceIds.length > MAX_SUBSCRIBE_IDS) {
          throw badInput(
            "deviceIds",
            `at most ${MAX_SUBSCRIBE_IDS} ids per subscription, got ${args.deviceIds.length}`,
          );
        }
        const subs = ctx.state.subscriptions;
        if (subs.open >= subs.max)
          throw apiError(ERROR_CODES.tooManySubscriptions, `at most ${subs.max} subscriptions may be open`);
        const ids = args.deviceIds ? new Set(args.deviceIds) : null;
        const kinds = args.kinds ? new Set(args.kinds) : null;
        return new Repeater<HistoryEntryView>(async (push, stop) => {
          subs.open++;
          ctx.state.metrics.sseSubscribers(1);
          const unsubscribe = ctx.state.store.onChange((change: StoreChange) => {
            for (const entry of change.entries) {
              if (!entryMatches(entry, ids, kinds)) continue;
              // a subscriber more than ~1,000 events behind overflows the repeater: end its stream
              // (with an error it can see) rather than drop events silently; it resubscribes
              try {
                void push(change.type === "retracted" ? { ...entry, retracted: true } : entry).catch((err: unknown) =>
                  stop(err),
                );
              } catch (err) {
                stop(err);
                return;
              }
            }
          });
          await stop;
          unsubscribe();
          subs.open--;
          ctx.state.metrics.sseSubscribers(-1);
        });
      },
      resolve: (entry: HistoryEntryView) => entry,
    },
  },
  Device: {
    keyAlgorithm: (d: DeviceRecord) => keyAlgorithmEnum(d.keyAlgorithm),
    attestations: async (
      d: DeviceRecord,
      args: { kind?: string | null; includeRevoked?: boolean | null },
      ctx: ApiContext,
    ) => {
      const all = await ctx.state.store.listAttestations(d.id);
      return all.filter(
        (a) => (args.kind == null || a.kind === args.kind) && (args.includeRevoked !== false || !a.revoked),
      );
    },
    history: async (d: DeviceRecord, args: { first?: number; after?: string | null }, ctx: ApiContext) => {
      const first = pageSize(ctx, "history.first", args.first);
      const conn = await readConnection("history.after", first, args.after, (n, after) =>
        ctx.state.store.getHistory(d.id, n, after),
      );
      return { ...conn, atBlock: ctx.snapshot().atBlock };
    },
    atBlock: (_: DeviceRecord, __: unknown, ctx: ApiContext) => ctx.snapshot().atBlock,
    manufacturerTrusted: (d: DeviceRecord, _: unknown, ctx: ApiContext) =>
      ctx.state.store.hasRole(MANUFACTURER_ROLE, d.manufacturer),
    registration: (d: DeviceRecord) =>
      d.batchId ? { kind: "ANCHORED", device: d, batchId: d.batchId } : { kind: "DIRECT", device: d, batchId: null },
  },
  Registration: {
    batch: (r: RegistrationView, _: unknown, ctx: ApiContext) =>
      r.batchId ? ctx.state.store.getBatch(r.batchId).then((b) => b ?? null) : null,
    proof: async (r: RegistrationView, _: unknown, ctx: ApiContext) =>
      r.batchId ? ((await ctx.state.trees.proofOf(r.batchId, r.device.id))?.proof ?? null) : null,
    serial: async (r: RegistrationView, _: unknown, ctx: ApiContext) =>
      r.batchId ? ((await ctx.state.trees.proofOf(r.batchId, r.device.id))?.serial ?? null) : null,
    materialized: (r: RegistrationView) => r.device.eventCount > 0,
  },
  Batch: {
    manifestStatus: (b: BatchView) => b.manifest.status,
    manifestError: (b: BatchView) => b.manifest.error ?? null,
    manifestIndexed: (b: BatchView) => b.manifest.indexed,
    anchoredAt: (b: BatchView) => ({ block: b.blockNumber, tx: b.transactionHash, timestamp: b.timestamp }),
    revoked: (b: BatchView) => b.revocation !== undefined,
    revokedReason: (b: BatchView) => reasonName(b.revocation?.reason),
    revokedAt: (b: BatchView) =>
      b.revocation
        ? { block: b.revocation.blockNumber, tx: b.revocation.transactionHash, timestamp: b.revocation.at }
        : null,
    revokedBy: (b: BatchView) => b.revocation?.by ?? null,
    atBlock: (_: BatchView, __: unknown, ctx: ApiContext) => ctx.snapshot().atBlock,
  },
  Revocation: {
    reason: (r: { reason: number }) => reasonName(r.reason),
    reasonCode: (r: { reason: number }) => r.reason,
  },
  Suspension: {
    reason: (r: { reason: number }) => reasonName(r.reason),
    reasonCode: (r: { reason: number }) => r.reason,
  },
  Attestation: {
    id: (a: AttestationRecord) => a.uid,
    device: (a: AttestationRecord, _: unknown, ctx: ApiContext) =>
      ctx.state.store.getDevice(a.deviceId).then((d) => d ?? null),
    expiresAt: (a: AttestationRecord) => (a.expiresAt === 0 ? null : a.expiresAt),
    revokedAt: (a: AttestationRecord) => ts(a.revokedAt),
    revocationReason: (a: AttestationRecord) => reasonName(a.revocationReason),
    atBlock: (_: AttestationRecord, __: unknown, ctx: ApiContext) => ctx.snapshot().atBlock,
    attesterTrusted: (a: AttestationRecord, _: unknown, ctx: ApiContext) =>
      ctx.state.store.hasRole(attesterRole(a.kindBytes32), a.attester),
  },
  HistoryEntry: {
    kind: (e: HistoryEntryRecord) => upperSnake(e.kind),
    data: (e: HistoryEntryRecord) => e.fields,
    retracted: (e: HistoryEntryView) => e.retracted === true,
  },
};
