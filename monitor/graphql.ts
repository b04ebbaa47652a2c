/**
 * The monitor's public names on the API (DESIGN §13): `reportObservations` (gateways push, with
 * their own API key), `deviceRisk`, `alerts` (query: kept alerts; subscription: SSE, the same
 * transport as deviceEvents) and the risk score that policy `maxRiskScore` reads. api/resolvers.ts
 * spreads these in; api/yoga.ts makes the host when the server runs a monitor.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { Repeater, type YogaInitialContext } from "graphql-yoga";
import type { ApiContext } from "../api/context";
import { ERROR_CODES, apiError, badInput, type ErrorCode } from "../api/errors";
import type { Alert, Monitor, Refusal } from "./engine";
import type { SignalKind } from "./detectors";

/** Most observations one reportObservations call takes. */
export const MAX_REPORT = 5_000;
/** Most alerts one alerts query returns. */
export const MAX_ALERTS_PAGE = 500;

export interface MonitorHost {
  engine: Monitor;
  /** sha256(key) → the gateway id that key belongs to. */
  gatewayKeys: { digest: Buffer; gateway: string }[];
  /** The keys themselves, for the API's bearer check when DTL_API_KEYS is set. */
  keys: string[];
}

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

/** `DTL_MONITOR_GATEWAY_KEYS`: "gw-1=key1,gw-2=key2" → the host's key list (keys never echoed). */
export function parseGatewayKeys(spec: string | undefined): { gateway: string; key: string }[] {
  if (!spec?.trim()) return [];
  return spec.split(",").map((part, i) => {
    const eq = part.indexOf("=");
    const gateway = part.slice(0, eq).trim();
    const key = part.slice(eq + 1).trim();
    if (eq <= 0 || !gateway || key.length < 16)
      throw new Error(`DTL_MONITOR_GATEWAY_KEYS entry ${i + 1}: expected <gateway id>=<key of at least 16 characters>`);
    return { gateway, key };
  });
}

export function monitorHost(engine: Monitor, keys: readonly { gateway: string; key: string }[]): MonitorHost {
  return {
    engine,
    gatewayKeys: keys.map((k) => ({ digest: digest(k.key), gateway: k.gateway })),
    keys: keys.map((k) => k.key),
  };
}

type Ctx = ApiContext & Partial<YogaInitialContext>;

const host = (ctx: Ctx): MonitorHost => {
  const m = ctx.state.monitor;
  if (!m) throw apiError(ERROR_CODES.monitorDisabled, "this server runs no monitor (dtl serve --no-monitor)");
  return m;
};

/** The gateway whose key the request carries, compared in constant time; undefined when none. */
function gatewayOf(h: MonitorHost, ctx: Ctx): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(ctx.request?.headers.get("authorization") ?? "");
  if (!m) return undefined;
  const given = digest(m[1]!);
  let found: string | undefined;
  for (const k of h.gatewayKeys) if (timingSafeEqual(given, k.digest)) found ??= k.gateway;
  return found;
}

const REFUSAL_CODES: Record<Refusal["code"], ErrorCode> = {
  OBSERVATION_MALFORMED: ERROR_CODES.badUserInput,
  UNKNOWN_GATEWAY: ERROR_CODES.unknownGateway,
  OBSERVATION_IN_FUTURE: ERROR_CODES.observationInFuture,
  OBSERVATION_TOO_OLD: ERROR_CODES.observationTooOld,
  RATE_LIMITED: ERROR_CODES.rateLimited,
};

/** ObservationInput (GraphQL) → the monitor's input shape: enum to lower case, ts to ms, nulls dropped. */
function fromInput(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== null && v !== undefined) out[k] = v;
  out.type = String(o.type).toLowerCase();
  out.ts = o.ts instanceof Date ? o.ts.getTime() : o.ts;
  return out;
}

const alertView = (a: Alert) => ({ ...a, kind: a.kind.toUpperCase(), at: new Date(a.at) });

export const monitorResolvers = {
  Query: {
    deviceRisk: (_: unknown, { id }: { id: string }, ctx: Ctx) => {
      const r = host(ctx).engine.risk(id);
      return {
        deviceId: r.deviceId,
        score: r.score,
        signals: r.signals.map((s) => ({ ...s, kind: s.kind.toUpperCase(), at: new Date(s.at) })),
      };
    },
    alerts: async (_: unknown, args: { afterSeq?: number | null; first?: number | null }, ctx: Ctx) => {
      const first = args.first ?? 100;
      if (first < 0 || first > MAX_ALERTS_PAGE)
        throw badInput("first", `must be from 0 to ${MAX_ALERTS_PAGE}, got ${first}`);
      const after = args.afterSeq ?? 0;
      if (after < 0) throw badInput("afterSeq", `must be ≥ 0, got ${after}`);
      return (await host(ctx).engine.alerts(after, first)).map(alertView);
    },
  },
  Mutation: {
    reportObservations: async (_: unknown, args: { observations: Record<string, unknown>[] }, ctx: Ctx) => {
      const h = host(ctx);
      const gateway = gatewayOf(h, ctx);
      if (gateway === undefined)
        throw apiError(
          ERROR_CODES.unauthenticated,
          "reportObservations: needs a gateway's API key (Authorization: Bearer <key> of DTL_MONITOR_GATEWAY_KEYS)",
        );
      const obs = args.observations;
      if (obs.length > MAX_REPORT) throw badInput("observations", `at most ${MAX_REPORT} per call, got ${obs.length}`);
      const wrong = obs.findIndex((o) => o.gateway !== gateway);
      if (wrong >= 0)
        throw apiError(
          ERROR_CODES.gatewayMismatch,
          `observations[${wrong}].gateway: "${String(obs[wrong]!.gateway)}" is not the gateway this key belongs to (${gateway})`,
          { field: `observations[${wrong}].gateway` },
        );
      const r = await h.engine.ingest(obs.map(fromInput), { atomic: true });
      const first = r.refused[0];
      if (first) {
        const more = r.refused.length > 1 ? ` (and ${r.refused.length - 1} more)` : "";
        throw apiError(REFUSAL_CODES[first.code], `observations[${first.index}].${first.message}${more}`, {
          field: `observations[${first.index}]`,
          refused: r.refused.slice(0, 20),
        });
      }
      return { accepted: r.accepted, alerts: r.alerts.length };
    },
  },
  Subscription: {
    alerts: {
      subscribe: (
        _: unknown,
        args: { deviceIds?: string[] | null; kinds?: string[] | null; minScore?: number | null },
        ctx: Ctx,
      ) => {
        const h = host(ctx);
        const subs = ctx.state.subscriptions;
        if (subs.open >= subs.max)
          throw apiError(ERROR_CODES.tooManySubscriptions, `at most ${subs.max} subscriptions may be open`);
        const ids = args.deviceIds ? new Set(args.deviceIds) : null;
        const kinds = args.kinds ? new Set(args.kinds.map((k) => k.toLowerCase() as SignalKind)) : null;
        const min = args.minScore ?? 0;
        return new Repeater<Alert>(async (push, stop) => {
          subs.open++;
          ctx.state.metrics.sseSubscribers(1);
          const off = h.engine.onAlert((a) => {
            if (ids && (a.deviceId === undefined || !ids.has(a.deviceId))) return;
            if (kinds && !kinds.has(a.kind)) return;
            if (a.score < min) return;
            void push(a).catch((err: unknown) => stop(err));
          });
          await stop;
          off();
          subs.open--;
          ctx.state.metrics.sseSubscribers(-1);
        });
      },
      resolve: (a: Alert) => alertView(a),
    },
  },
};
