/**
 * The monitor inside `dtl serve` / `dtl dev` (DESIGN §13): its own LevelDB folder, the site map
 * and the gateways' keys (one zod model, checked at start), registered firmware read from the
 * index, and a device's signals cleared when the chain says it was reinstated (the officer dealt
 * with it: `DeviceReinstated` reaches the index).
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import type { Logger } from "../common/logger";
import type { StoreReader } from "../indexer/types";
import { createMonitor, type MonitorOptions } from "./engine";
import { monitorHost, parseGatewayKeys, type MonitorHost } from "./graphql";
import { openMonitorStore } from "./store";

/** `--monitor-sites FILE`: which site each gateway is at, and the least travel time between sites. */
export const sitesFileSchema = z
  .object({
    gateways: z.record(z.string().min(1).max(64), z.string().min(1).max(64)),
    minTravelMinutes: z.number().positive().max(10_080).optional(),
  })
  .strict();

export function readSitesFile(file: string): z.infer<typeof sitesFileSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`monitor sites file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const r = sitesFileSchema.safeParse(raw);
  if (!r.success)
    throw new Error(
      `monitor sites file ${file}: ${r.error.issues.map((i) => `${i.path.join(".") || "file"}: ${i.message}`).join("; ")}`,
    );
  return r.data;
}

export interface MonitorHostOptions {
  dir: string;
  store: StoreReader;
  sitesFile?: string;
  /** DTL_MONITOR_GATEWAY_KEYS ("gw-1=key1,gw-2=key2"). */
  gatewayKeys?: string;
  logger: Logger;
  gatewayRate?: MonitorOptions["gatewayRate"];
}

export async function startMonitorHost(o: MonitorHostOptions): Promise<MonitorHost & { close(): Promise<void> }> {
  const sites = o.sitesFile ? readSitesFile(o.sitesFile) : undefined;
  const keys = parseGatewayKeys(o.gatewayKeys);
  const log = o.logger.child({ module: "monitor" });
  const engine = await createMonitor({
    params: {
      sites: sites?.gateways ?? {},
      ...(sites?.minTravelMinutes !== undefined && { minTravelMs: sites.minTravelMinutes * 60_000 }),
    },
    store: await openMonitorStore(o.dir),
    firmwareOf: async (id) => (await o.store.getDevice(id))?.firmwareHash,
    ...(o.gatewayRate && { gatewayRate: o.gatewayRate }),
  });
  engine.onAlert((a) =>
    log.warn({
      msg: "alert",
      kind: a.kind,
      device_id: a.deviceId,
      source: a.source,
      gateway: a.gateway,
      score: a.score,
    }),
  );
  const off = o.store.onChange((change) => {
    if (change.type !== "applied") return;
    for (const e of change.entries)
      if (e.kind === "DeviceReinstated")
        engine.clear(e.deviceId, Date.now()).catch((err: unknown) => log.error({ msg: "clear failed", err }));
  });
  return {
    ...monitorHost(engine, keys),
    async close() {
      off();
      await engine.close();
    },
  };
}
