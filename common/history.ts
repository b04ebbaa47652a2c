/**
 * The per-device history head, reproduced from IDeviceRegistry's NatSpec:
 *
 *   head' = keccak256(abi.encode(head, uint8(kind), keccak256(abi.encode(<event fields>))))
 *
 * starting from bytes32(0); <event fields> are all of the event's fields in declaration order
 * except the trailing `head`. Used by the indexer (zero trust toward the node), the auditor and tests.
 */
import { AbiCoder, ZeroHash, keccak256 } from "ethers";
import { eventFragment } from "./abi";
import { eventKindCode, type DeviceEventName } from "./codes";

const coder = AbiCoder.defaultAbiCoder();

interface FieldCodec {
  kind: number;
  names: string[];
  types: string[];
}

const codecs = new Map<string, FieldCodec>();

function codecFor(name: DeviceEventName): FieldCodec {
  let c = codecs.get(name);
  if (!c) {
    const inputs = eventFragment(name).inputs.filter((i) => i.name !== "head");
    c = { kind: eventKindCode(name), names: inputs.map((i) => i.name), types: inputs.map((i) => i.type) };
    codecs.set(name, c);
  }
  return c;
}

/** keccak256(abi.encode(<event fields>)) for a device event given its fields by name. */
export function eventFieldsHash(name: DeviceEventName, fields: Readonly<Record<string, unknown>>): string {
  const c = codecFor(name);
  return keccak256(
    coder.encode(
      c.types,
      c.names.map((n) => {
        if (!(n in fields)) throw new Error(`${name} is missing field ${n}`);
        return fields[n];
      }),
    ),
  );
}

/** The head after applying one event to `head`. */
export function nextHistoryHead(
  head: string,
  name: DeviceEventName,
  fields: Readonly<Record<string, unknown>>,
): string {
  return keccak256(
    coder.encode(["bytes32", "uint8", "bytes32"], [head, codecFor(name).kind, eventFieldsHash(name, fields)]),
  );
}

/** Recomputes a device's head from its events in order, starting from bytes32(0). */
export function computeHistoryHead(
  events: Iterable<{ name: DeviceEventName; fields: Readonly<Record<string, unknown>> }>,
): string {
  let head = ZeroHash;
  for (const e of events) head = nextHistoryHead(head, e.name, e.fields);
  return head;
}

export const GENESIS_HEAD = ZeroHash;
