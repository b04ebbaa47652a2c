/**
 * Compact value encoding of history entries, the largest and most numerous records: a JSON array
 * without field names and without what the key already says (device id, seq):
 *
 *   [kindCode, blockNumber, blockHash, transactionHash, logIndex, timestamp, actor, headAfter,
 *    ...the event's fields after deviceId in ABI order]
 *
 * ~45% of the bytes of the plain object, which is most of what a backfill writes.
 */
import { EVENT_KINDS, eventKindCode, type DeviceEventName } from "../../common/codes";
import { deviceEventFieldNames } from "../source";
import type { HistoryEntryRecord } from "../types";

export type EncodedHistoryEntry = (string | number)[];

export function encodeHistoryEntry(e: HistoryEntryRecord): EncodedHistoryEntry {
  const out: EncodedHistoryEntry = [
    eventKindCode(e.kind),
    e.blockNumber,
    e.blockHash,
    e.transactionHash,
    e.logIndex,
    e.timestamp,
    e.actor,
    e.headAfter,
  ];
  for (const name of deviceEventFieldNames(e.kind)) if (name !== "deviceId") out.push(e.fields[name]!);
  return out;
}

export function decodeHistoryEntry(deviceId: string, seq: number, v: EncodedHistoryEntry): HistoryEntryRecord {
  const kind = EVENT_KINDS[v[0] as number] as DeviceEventName;
  const fields: Record<string, string | number> = {};
  let i = 8;
  for (const name of deviceEventFieldNames(kind)) fields[name] = name === "deviceId" ? deviceId : v[i++]!;
  return {
    deviceId,
    seq,
    kind,
    blockNumber: v[1] as number,
    blockHash: v[2] as string,
    transactionHash: v[3] as string,
    logIndex: v[4] as number,
    timestamp: v[5] as number,
    actor: v[6] as string,
    fields,
    headAfter: v[7] as string,
  };
}

/** Device id and seq of a `hist` key. */
export function parseHistoryKey(key: string): { deviceId: string; seq: number } {
  return { deviceId: "0x" + key.slice(0, 64), seq: Number.parseInt(key.slice(64), 16) };
}
