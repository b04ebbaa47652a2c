/** Role ids, computed exactly as DeviceRegistry does (see attesterRole in the contract). */
import { ROLES } from "./codes";
import { AbiCoder, ZeroHash, encodeBytes32String, id, keccak256 } from "ethers";

export const DEFAULT_ADMIN_ROLE = ZeroHash;
export const MANUFACTURER_ROLE = id(ROLES.manufacturer);
export const SECURITY_OFFICER_ROLE = id(ROLES.officer);
const ATTESTER_ROLE = encodeBytes32String(ROLES.attester);

/** keccak256(abi.encode(bytes32("ATTESTER_ROLE"), kind)), kind a bytes32 (packed short name). */
export function attesterRole(kindBytes32: string): string {
  return keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32", "bytes32"], [ATTESTER_ROLE, kindBytes32]));
}
