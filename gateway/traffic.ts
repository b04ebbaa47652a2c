/**
 * Traffic observations for the monitor (DESIGN §13): per session and per interval, the messages,
 * bytes and topics a device published (topics as suffixes under `dtl/<segment>/<deviceId>/`), one
 * `traffic` line per open session every `intervalMs` (zero-message intervals too: a rate needs its
 * quiet minutes) and one for the partial interval when a session ends. A publish on
 * `dtl/<segment>/<deviceId>/firmware` whose payload is a bytes32 hex string is the firmware hash
 * the device reports: one `firmware` line.
 */
import type { ObservationLog } from "./observations";

interface Counts {
  segment: string;
  since: number;
  messages: number;
  bytes: number;
  topics: Set<string>;
}

export interface TrafficMeter {
  started(deviceId: string, segment: string): void;
  /** A PUBLISH the broker accepted from `deviceId` (after the ACL). */
  published(deviceId: string, topic: string, payload: Buffer): void;
  ended(deviceId: string): void;
  stop(): void;
}

/** Most distinct topics one interval lists (the monitor takes 64). */
const MAX_TOPICS = 64;
const HASH = /^0x[0-9a-fA-F]{64}$/;

export function createTrafficMeter(observe: ObservationLog, intervalMs: number): TrafficMeter {
  const open = new Map<string, Counts>();
  const flush = (deviceId: string, c: Counts, now: number): void => {
    const span = now - c.since;
    if (span >= 1_000)
      observe.write({
        type: "traffic",
        deviceId,
        intervalMs: Math.min(span, 3_600_000),
        messages: c.messages,
        bytes: c.bytes,
        topics: [...c.topics],
      });
    c.since = now;
    c.messages = 0;
    c.bytes = 0;
    c.topics.clear();
  };
  const timer = setInterval(() => {
    const now = Date.now();
    for (const [id, c] of open) flush(id, c, now);
  }, intervalMs);
  timer.unref();
  return {
    started(deviceId, segment) {
      open.set(deviceId, { segment, since: Date.now(), messages: 0, bytes: 0, topics: new Set() });
    },
    published(deviceId, topic, payload) {
      const c = open.get(deviceId);
      if (!c) return;
      const prefix = `dtl/${c.segment}/${deviceId}/`;
      if (!topic.startsWith(prefix)) return;
      const suffix = topic.slice(prefix.length).slice(0, 128);
      c.messages++;
      c.bytes += payload.length;
      if (c.topics.size < MAX_TOPICS && suffix) c.topics.add(suffix);
      if (suffix === "firmware") {
        const hash = payload.toString("utf8").trim();
        if (HASH.test(hash)) observe.write({ type: "firmware", deviceId, hash: hash.toLowerCase() });
      }
    },
    ended(deviceId) {
      const c = open.get(deviceId);
      if (!c) return;
      flush(deviceId, c, Date.now());
      open.delete(deviceId);
    },
    stop() {
      clearInterval(timer);
      const now = Date.now();
      for (const [id, c] of open) flush(id, c, now);
      open.clear();
    },
  };
}
