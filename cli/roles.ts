/** Role names as users type them ↔ role ids as the registry stores them. */
import { ROLE_LIST, ROLES, type RoleName } from "../common/codes";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole } from "../common/roles";
import { CliError } from "./io";
import { shortName } from "./input";

export interface RoleRef {
  word: RoleName;
  id: string;
  /** e.g. "MANUFACTURER_ROLE", "ATTESTER_ROLE(firmware)". */
  label: string;
  kind?: string;
}

export function roleRef(command: string, word: string, kind: string | undefined): RoleRef {
  switch (word) {
    case "manufacturer":
    case "officer":
      if (kind !== undefined) throw new CliError(`${command}: --kind applies to the attester role only`);
      return { word, id: word === "manufacturer" ? MANUFACTURER_ROLE : SECURITY_OFFICER_ROLE, label: ROLES[word] };
    case "attester": {
      if (kind === undefined) throw new CliError(`${command}: the attester role needs --kind <kind> (e.g. firmware)`);
      return { word, id: attesterRole(shortName(command, "--kind", kind)), label: `${ROLES.attester}(${kind})`, kind };
    }
    default:
      throw new CliError(`${command}: unknown role "${word}" (expected ${ROLE_LIST.join(", ")})`);
  }
}

/** Names for AccessControlUnauthorizedAccount when the command knows the attestation kind. */
export function attesterRoleNames(kinds: string[]): Record<string, string> {
  return Object.fromEntries(kinds.map((k) => [attesterRole(shortName("", "kind", k)), `${ROLES.attester}(${k})`]));
}
