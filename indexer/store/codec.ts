/**
 * Value encodings of the store's records, set on their sublevels (schema.ts).
 *
 * Devices and attestations — read on every lookup, written on every event — are fixed-layout
 * binary: 32-byte words and 20-byte addresses as bytes, numbers big-endian (6 bytes for times
 * and blocks, the chain's uint40 fits), optional parts behind a flag byte. A device takes ~187
 * bytes instead of ~530 as JSON (~370 as a JSON array without names); encoding one costs ~1.5 µs
 * instead of ~8 µs (JSON.stringify + UTF-8), decoding ~4 µs instead of ~5–8 µs (200,000 records
 * timed on this machine, 3 runs). Addresses come back EIP-55 through a small memo (a registry has
 * few manufacturers, attesters and officers).
 *
 *   device       id 32 | manufacturer 20 | status 1 | keyAlgorithm 1 | keyHash 32 | firmwareHash 32 |
 *                historyHead 32 | registeredAt 6 | registeredBlock 6 | updatedBlock 6 | eventCount 4 |
 *                flags 1 (1 suspended, 2 revoked) | segment length 1 + UTF-8 |
 *                [suspension: reason 1 | at 6 | blockNumber 6 | by 20] |
 *                [revocation: reason 1 | at 6 | blockNumber 6 | by 20 | transactionHash 32]
 *   attestation  uid 32 | deviceId 32 | kindBytes32 32 | attester 20 | evidenceHash 32 | issuedAt 6 |
 *                expiresAt 6 | blockNumber 6 | transactionHash 32 | flags 1 (1 revoked) |
 *                [revokedAt 6 | revocationReason 1 | revokedBy 20]
 *   uid list     uid 32 × n (oldest first)
 *
 * History entries, the most numerous records, are a JSON array without field names and without
 * what the key already says (device id, seq):
 *
 *   [kindCode, blockNumber, blockHash, transactionHash, logIndex, timestamp, actor, headAfter,
 *    ...the event's fields after deviceId in ABI order]
 */
import { getAddress } from "ethers";
import { LRUCache } from "lru-cache";
import { DEVICE_STATUS, EVENT_KINDS, eventKindCode, type DeviceEventName } from "../../common/codes";
import { decodeShortName } from "../../common/ids";
import { deviceEventFieldNames } from "../source";
import type { AttestationRecord, DeviceRecord, HistoryEntryRecord } from "../types";

// ------------------------------------------------------------------ binary helpers

/** EIP-55 of a lowercase address, memoised. */
const checksummed = new LRUCache<string, string>({ max: 10_000, memoMethod: (low) => getAddress(low) });
const shortNames = new LRUCache<string, string>({ max: 10_000, memoMethod: decodeShortName });

class Writer {
  readonly buf: Buffer;
  at = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  hex(value: string, bytes: number): void {
    const n = this.buf.write(value.slice(2), this.at, bytes, "hex");
    if (n !== bytes || value.length !== 2 + 2 * bytes)
      throw new Error(`codec: ${value} is not ${bytes} bytes of 0x hex`);
    this.at += bytes;
  }
  u8(n: number): void {
    this.buf[this.at++] = n;
  }
  u32(n: number): void {
    this.at = this.buf.writeUInt32BE(n, this.at);
  }
  u48(n: number): void {
    this.at = this.buf.writeUIntBE(n, this.at, 6);
  }
  text(s: string, len: number): void {
    this.u8(len);
    this.at += this.buf.write(s, this.at, len, "utf8");
  }
}

class Reader {
  at = 0;
  constructor(readonly buf: Buffer) {}
  hex(bytes: number): string {
    const s = "0x" + this.buf.toString("hex", this.at, this.at + bytes);
    this.at += bytes;
    return s;
  }
  address(): string {
    return checksummed.memo(this.hex(20));
  }
  u8(): number {
    return this.buf[this.at++]!;
  }
  u32(): number {
    const n = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return n;
  }
  u48(): number {
    const n = this.buf.readUIntBE(this.at, 6);
    this.at += 6;
    return n;
  }
  text(): string {
    const len = this.u8();
    const s = this.buf.toString("utf8", this.at, this.at + len);
    this.at += len;
    return s;
  }
}

/** A level-transcoder encoding over bytes (`format: "buffer"`), named with the schema version. */
function binary<T>(name: string, encode: (v: T) => Buffer, decode: (b: Reader) => T) {
  return { name: `dtl-${name}-v2`, format: "buffer" as const, encode, decode: (b: Buffer) => decode(new Reader(b)) };
}

// ------------------------------------------------------------------ device

const SUSPENDED = 1;
const REVOKED = 2;

function encodeDevice(d: DeviceRecord): Buffer {
  const segmentBytes = Buffer.byteLength(d.segment, "utf8");
  if (segmentBytes > 255) throw new Error(`codec: segment of ${d.id} is ${segmentBytes} bytes`);
  const w = new Writer(173 + 1 + segmentBytes + (d.suspension ? 33 : 0) + (d.revocation ? 65 : 0));
  w.hex(d.id, 32);
  w.hex(d.manufacturer, 20);
  w.u8(DEVICE_STATUS.indexOf(d.status));
  w.u8(d.keyAlgorithm);
  w.hex(d.keyHash, 32);
  w.hex(d.firmwareHash, 32);
  w.hex(d.historyHead, 32);
  w.u48(d.registeredAt);
  w.u48(d.registeredBlock);
  w.u48(d.updatedBlock);
  w.u32(d.eventCount);
  w.u8((d.suspension ? SUSPENDED : 0) | (d.revocation ? REVOKED : 0));
  w.text(d.segment, segmentBytes);
  if (d.suspension) {
    const s = d.suspension;
    w.u8(s.reason);
    w.u48(s.at);
    w.u48(s.blockNumber);
    w.hex(s.by, 20);
  }
  if (d.revocation) {
    const r = d.revocation;
    w.u8(r.reason);
    w.u48(r.at);
    w.u48(r.blockNumber);
    w.hex(r.by, 20);
    w.hex(r.transactionHash, 32);
  }
  return w.buf;
}

function decodeDevice(r: Reader): DeviceRecord {
  const id = r.hex(32);
  const manufacturer = r.address();
  const status = DEVICE_STATUS[r.u8()] as DeviceRecord["status"];
  const keyAlgorithm = r.u8();
  const keyHash = r.hex(32);
  const firmwareHash = r.hex(32);
  const historyHead = r.hex(32);
  const registeredAt = r.u48();
  const registeredBlock = r.u48();
  const updatedBlock = r.u48();
  const eventCount = r.u32();
  const flags = r.u8();
  const segment = r.text();
  const d: DeviceRecord = {
    id,
    manufacturer,
    status,
    keyAlgorithm,
    keyHash,
    firmwareHash,
    segment,
    registeredAt,
    registeredBlock,
    eventCount,
    historyHead,
    updatedBlock,
  };
  if (flags & SUSPENDED) d.suspension = { reason: r.u8(), at: r.u48(), blockNumber: r.u48(), by: r.address() };
  if (flags & REVOKED)
    d.revocation = { reason: r.u8(), at: r.u48(), blockNumber: r.u48(), by: r.address(), transactionHash: r.hex(32) };
  return d;
}

export const deviceEncoding = binary("device", encodeDevice, decodeDevice);

// ------------------------------------------------------------------ attestation

function encodeAttestation(a: AttestationRecord): Buffer {
  const w = new Writer(199 + (a.revoked ? 27 : 0));
  w.hex(a.uid, 32);
  w.hex(a.deviceId, 32);
  w.hex(a.kindBytes32, 32);
  w.hex(a.attester, 20);
  w.hex(a.evidenceHash, 32);
  w.u48(a.issuedAt);
  w.u48(a.expiresAt);
  w.u48(a.blockNumber);
  w.hex(a.transactionHash, 32);
  w.u8(a.revoked ? 1 : 0);
  if (a.revoked) {
    w.u48(a.revokedAt!);
    w.u8(a.revocationReason!);
    w.hex(a.revokedBy!, 20);
  }
  return w.buf;
}

function decodeAttestation(r: Reader): AttestationRecord {
  const uid = r.hex(32);
  const deviceId = r.hex(32);
  const kindBytes32 = r.hex(32);
  const a: AttestationRecord = {
    uid,
    deviceId,
    kind: shortNames.memo(kindBytes32),
    kindBytes32,
    attester: r.address(),
    evidenceHash: r.hex(32),
    issuedAt: r.u48(),
    expiresAt: r.u48(),
    revoked: false,
    blockNumber: r.u48(),
    transactionHash: r.hex(32),
  };
  if (r.u8() & 1) {
    a.revoked = true;
    a.revokedAt = r.u48();
    a.revocationReason = r.u8();
    a.revokedBy = r.address();
  }
  return a;
}

export const attestationEncoding = binary("attestation", encodeAttestation, decodeAttestation);

// ------------------------------------------------------------------ uid list

export const uidListEncoding = binary(
  "uid-list",
  (uids: readonly string[]) => {
    const w = new Writer(32 * uids.length);
    for (const u of uids) w.hex(u, 32);
    return w.buf;
  },
  (r): string[] => {
    const out: string[] = [];
    while (r.at < r.buf.length) out.push(r.hex(32));
    return out;
  },
);

// ------------------------------------------------------------------ history

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
