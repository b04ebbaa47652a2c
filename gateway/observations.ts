/**
 * Observations (DESIGN §11, §13): every admission decision, session start and end, and topic
 * refusal as one JSON line in a local file the monitor reads (`<data-dir>/observations.jsonl`).
 * Lines are appended in the order things happen; each carries `ts` (ISO 8601) and `gateway`.
 */
import { createWriteStream } from "node:fs";

export type Observation =
  | {
      type: "decision";
      clientId: string;
      deviceId?: string;
      outcome: "admitted" | "refused";
      reasons: string[];
      segment?: string;
      detail?: string;
      remote?: string;
      tls: boolean;
      channelBound?: boolean;
    }
  | { type: "session"; event: "start"; deviceId: string; segment: string; remote?: string }
  | { type: "session"; event: "end"; deviceId: string; cause: string; reasons?: string[]; durationMs: number }
  | { type: "acl"; deviceId: string; action: "publish" | "subscribe"; topic: string; outcome: "refused" }
  | { type: "policy"; event: "reloaded" | "reload-failed"; detail?: string }
  | { type: "traffic"; deviceId: string; intervalMs: number; messages: number; bytes: number; topics: string[] }
  | { type: "firmware"; deviceId: string; hash: string };

export interface ObservationLog {
  write(o: Observation): void;
  close(): Promise<void>;
}

export function openObservationLog(file: string, gateway: string): ObservationLog {
  const out = createWriteStream(file, { flags: "a" });
  return {
    write(o) {
      out.write(JSON.stringify({ ts: new Date().toISOString(), gateway, ...o }) + "\n");
    },
    close: () => new Promise<void>((resolve) => out.end(resolve)),
  };
}
