/**
 * Topic rules (DESIGN §11, least privilege): a device publishes and subscribes only under
 * `dtl/<segment>/<deviceId>/#`, subscribes to `dtl/<segment>/broadcast/#`, plus the extra filters
 * its segment's policy names; anything else, `$SYS` and every `$` topic included, is refused.
 */
import type { SegmentRules } from "./policy";

/** The filters a device owns and may read. */
export function ownFilter(segment: string, deviceId: string): string {
  return `dtl/${segment}/${deviceId}/#`;
}
export function broadcastFilter(segment: string): string {
  return `dtl/${segment}/broadcast/#`;
}

/**
 * Whether every topic `filter` can match is matched by `allowed` (MQTT wildcards `+` and `#`).
 * A concrete topic is a filter without wildcards. `a/#` also covers `a` itself (MQTT 3.1.1 §4.7.1.2).
 */
export function within(filter: string, allowed: string): boolean {
  const f = filter.split("/");
  const a = allowed.split("/");
  for (let i = 0; i < a.length; i++) {
    const al = a[i]!;
    if (al === "#") return i === a.length - 1;
    const fl = f[i];
    if (fl === undefined) return false;
    if (al === "+") {
      if (fl === "#") return false;
      continue;
    }
    if (fl !== al) return false;
  }
  if (f.length === a.length) return true;
  // `a/b/#` covers `a/b` (the parent level)
  return false;
}

const covers = (topic: string, filters: readonly string[]) =>
  !topic.startsWith("$") && filters.some((f) => within(topic, f) || (f.endsWith("/#") && topic === f.slice(0, -2)));

export function mayPublish(topic: string, segment: string, deviceId: string, rules: SegmentRules): boolean {
  return covers(topic, [ownFilter(segment, deviceId), ...rules.publish]);
}

export function maySubscribe(filter: string, segment: string, deviceId: string, rules: SegmentRules): boolean {
  return covers(filter, [ownFilter(segment, deviceId), broadcastFilter(segment), ...rules.subscribe]);
}
