/**
 * ABI access for the registry: one Interface, the device event fragments and their topics.
 * Everything that decodes or encodes registry data goes through here.
 */
import { EventFragment, Interface } from "ethers";
import { DeviceRegistry__factory } from "../typechain-types/factories/contracts/DeviceRegistry__factory";
import { EVENT_KINDS, type DeviceEventName } from "./codes";

export const registryAbi = DeviceRegistry__factory.abi;
export const registryBytecode = DeviceRegistry__factory.bytecode;
export const registryInterface = new Interface(registryAbi);

export const DEVICE_EVENT_NAMES = EVENT_KINDS.filter((n): n is DeviceEventName => n !== "");

/**
 * Anchored-batch events (DESIGN §10) the indexer follows besides the device events: they change
 * a batch, not a device's history (DeviceMaterialized only marks the DeviceRegistered before it).
 */
export const BATCH_EVENT_NAMES = ["DevicesAnchored", "BatchRevoked", "DeviceMaterialized"] as const;
export type BatchEventName = (typeof BATCH_EVENT_NAMES)[number];

/** Role events the indexer follows besides the device events. */
export const ROLE_EVENT_NAMES = ["RoleGranted", "RoleRevoked"] as const;

export function eventFragment(name: string): EventFragment {
  const f = registryInterface.getEvent(name);
  if (!f) throw new Error(`registry ABI has no event ${name}`);
  return f;
}

/** topic0 of every device event, by name. */
export const DEVICE_EVENT_TOPICS: Record<DeviceEventName, string> = Object.fromEntries(
  DEVICE_EVENT_NAMES.map((n) => [n, eventFragment(n).topicHash]),
) as Record<DeviceEventName, string>;

/** Role ids as the contract computes them. */
export { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole, DEFAULT_ADMIN_ROLE } from "./roles";
