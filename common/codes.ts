/** On-chain codes and their names, one table each (statuses, reasons, event kinds). */

/** Device status codes as stored on chain (IDeviceRegistry.DeviceStatus). */
export const DEVICE_STATUS = ["NONE", "ACTIVE", "SUSPENDED", "REVOKED"] as const;
export type DeviceStatusName = (typeof DEVICE_STATUS)[number];

/** Revocation reason codes (RFC 5280 CRLReason-like), index = on-chain code. */
export const REASONS = [
  "UNSPECIFIED",
  "KEY_COMPROMISE",
  "MANUFACTURER_COMPROMISE",
  "OWNERSHIP_CHANGED",
  "SUPERSEDED",
  "DECOMMISSIONED",
  "PRIVILEGE_WITHDRAWN",
  "POLICY_VIOLATION",
  "ANOMALY_DETECTED",
] as const;
export type ReasonName = (typeof REASONS)[number];

/** Parses "key-compromise", "KEY_COMPROMISE", "keyCompromise" or "1" into a reason code. */
export function parseReason(input: string): number {
  const norm = input
    .trim()
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .replace(/-/g, "_")
    .toUpperCase();
  const i = REASONS.indexOf(norm as ReasonName);
  if (i >= 0) return i;
  if (/^[0-8]$/.test(norm)) return Number(norm);
  throw new Error(
    `unknown reason "${input}" (expected one of ${REASONS.map((r) => r.toLowerCase().replace(/_/g, "-")).join(", ")})`,
  );
}

/**
 * Device event kinds as used in the history head (IDeviceRegistry.EventKind): index = kind code,
 * value = event name. GraphQL's HistoryEntry.kind is the upper snake case of the name.
 */
export const EVENT_KINDS = [
  "",
  "DeviceRegistered",
  "FirmwareUpdated",
  "KeyRotated",
  "DeviceSuspended",
  "DeviceReinstated",
  "DeviceRevoked",
  "Attested",
  "AttestationRevoked",
] as const;
export type DeviceEventName = Exclude<(typeof EVENT_KINDS)[number], "">;

export function eventKindCode(name: DeviceEventName): number {
  return EVENT_KINDS.indexOf(name);
}

/** "DeviceRevoked" → "DEVICE_REVOKED". */
export function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}
