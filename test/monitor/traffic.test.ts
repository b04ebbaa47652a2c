/**
 * The gateway's traffic meter (gateway/traffic.ts) writing through the real observation log to a
 * real file, read back by the monitor's own parser: what `dtl monitor --observations` will push.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { openObservationLog } from "../../gateway/observations";
import { createTrafficMeter } from "../../gateway/traffic";
import { parseObservation } from "../../monitor/observation";
import { dev } from "./helpers";

describe("gateway traffic meter", () => {
  it("writes per-session counts each interval, a partial one at the end, and reported firmware", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "dtl-traffic-"));
    try {
      const file = path.join(dir, "observations.jsonl");
      const log = openObservationLog(file, "gw-a1");
      const meter = createTrafficMeter(log, 1_100);
      const id = dev(5);
      const p = `dtl/plant-1/${id}/`;
      meter.started(id, "plant-1");
      meter.published(id, p + "telemetry", Buffer.alloc(100));
      meter.published(id, p + "telemetry", Buffer.alloc(50));
      meter.published(id, "dtl/plant-1/broadcast/x", Buffer.alloc(7)); // not the device's own: not counted
      meter.published(id, p + "firmware", Buffer.from("0x" + "AB".repeat(32)));
      meter.published(id, p + "firmware", Buffer.from("not a hash"));
      await new Promise((r) => setTimeout(r, 1_300));
      meter.published(id, p + "status", Buffer.alloc(3));
      await new Promise((r) => setTimeout(r, 1_050));
      meter.ended(id);
      meter.stop();
      await log.close();
      const lines = readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((l) => parseObservation(JSON.parse(l)));
      expect(lines.map((o) => o.type)).to.deep.equal(["firmware", "traffic", "traffic"]);
      const [fw, first, second] = lines as [any, any, any]; // eslint-disable-line @typescript-eslint/no-explicit-any
      expect(fw.hash).to.equal("0x" + "ab".repeat(32));
      expect(first).to.deep.include({ gateway: "gw-a1", deviceId: id, messages: 4, bytes: 100 + 50 + 66 + 10 });
      expect(first.topics).to.deep.equal(["telemetry", "firmware"]);
      expect(second).to.deep.include({ messages: 1, bytes: 3, topics: ["status"] });
      expect(second.intervalMs).to.be.within(1_000, 1_300);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
