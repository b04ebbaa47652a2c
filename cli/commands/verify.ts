/**
 * dtl verify <deviceId> [policy flags] [proof flags] [--json] — what a gateway asks: exit 0 when
 * trusted, 3 when not (every reason listed). dtl challenge <deviceId> — issue a challenge for the
 * challenge–response walk-through (the device signs it with `dtl device sign`).
 */
import { VERDICT_REASON_TEXT } from "../../common/codes";
import { API_OPTIONS, JSON_OPTION, optional, positionals } from "../args";
import type { Command, Invocation } from "../command";
import { readDeviceProofFile, registrationInput } from "../device-tx";
import { apiClient, gql } from "../graphql";
import { address, bytes32, duration } from "../input";
import { CliError, EXIT } from "../io";

const VERDICT = gql<{
  verifyDevice: Verdict;
}>(`query Verify($id: Bytes32!, $policy: TrustPolicyInput, $proof: ProofInput, $registration: RegistrationProofInput) {
  verifyDevice(id: $id, policy: $policy, proof: $proof, registration: $registration) {
    deviceId trusted reasons evaluatedAt atBlock lagBlocks
    device {
      status manufacturer keyAlgorithm keyHash firmwareHash segment registeredAt historyHead eventCount
      revocation { reason at by }
      suspension { reason at by }
      attestations(includeRevoked: false) { uid kind attester issuedAt expiresAt }
    }
  }
}`);

interface Verdict {
  deviceId: string;
  trusted: boolean;
  reasons: string[];
  evaluatedAt: string;
  atBlock: number;
  lagBlocks: number;
  device: {
    status: string;
    manufacturer: string;
    keyAlgorithm: string;
    keyHash: string;
    firmwareHash: string;
    segment: string;
    registeredAt: string;
    historyHead: string;
    eventCount: number;
    revocation: { reason: string; at: string; by: string } | null;
    suspension: { reason: string; at: string; by: string } | null;
    attestations: { uid: string; kind: string; attester: string; issuedAt: string; expiresAt: string | null }[];
  } | null;
}

const list = (inv: Invocation, name: string): string[] => {
  const v = inv.values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
};

function policyOf(inv: Invocation): Record<string, unknown> | undefined {
  const n = "verify";
  const policy: Record<string, unknown> = {};
  const kinds = list(inv, "require-attestation");
  if (kinds.length) policy.requiredAttestations = kinds;
  const age = optional(inv.values, "max-attestation-age");
  if (age !== undefined) policy.maxAttestationAgeSeconds = duration(n, "max-attestation-age", age);
  const makers = list(inv, "allow-manufacturer");
  if (makers.length) policy.allowedManufacturers = makers.map((m) => address(n, "--allow-manufacturer", m));
  const segments = list(inv, "allow-segment");
  if (segments.length) policy.allowedSegments = segments;
  const fw = list(inv, "allow-firmware");
  if (fw.length) policy.allowedFirmware = fw.map((f) => bytes32(n, "--allow-firmware", f));
  if (inv.values["require-proof"] === true) policy.requireProof = true;
  if (inv.values["require-post-quantum"] === true) policy.requirePostQuantum = true;
  const lag = optional(inv.values, "max-lag-blocks");
  if (lag !== undefined) {
    if (!/^\d+$/.test(lag)) throw new CliError(`${n}: --max-lag-blocks must be a whole number, got "${lag}"`);
    policy.maxLagBlocks = Number(lag);
  }
  return Object.keys(policy).length ? policy : undefined;
}

function proofOf(inv: Invocation): Record<string, string> | undefined {
  const challengeId = optional(inv.values, "challenge");
  const publicKey = optional(inv.values, "public-key");
  const signature = optional(inv.values, "signature");
  const given = [challengeId, publicKey, signature].filter((x) => x !== undefined).length;
  if (given === 0) return undefined;
  if (given < 3)
    throw new CliError("verify: a proof needs all of --challenge <id>, --public-key <hex> and --signature <hex>");
  return { challengeId: challengeId!, publicKey: publicKey!, signature: signature! };
}

function print(inv: Invocation, v: Verdict): void {
  const io = inv.io;
  io.out(
    `${v.trusted ? "TRUSTED" : "NOT TRUSTED"}  ${v.deviceId}  (block ${v.atBlock}, index lag ${v.lagBlocks}, ${v.evaluatedAt})`,
  );
  for (const r of v.reasons) io.out(`  - ${r}: ${(VERDICT_REASON_TEXT as Record<string, string>)[r] ?? r}`);
  const d = v.device;
  if (!d) return;
  io.out(
    `  status ${d.status}, ${d.keyAlgorithm} key, manufacturer ${d.manufacturer}${d.segment ? `, segment ${d.segment}` : ""}`,
  );
  if (d.revocation) io.out(`  revoked (${d.revocation.reason}) at ${d.revocation.at} by ${d.revocation.by}`);
  if (d.suspension) io.out(`  suspended (${d.suspension.reason}) at ${d.suspension.at} by ${d.suspension.by}`);
  for (const a of d.attestations)
    io.out(`  attested ${a.kind} by ${a.attester} at ${a.issuedAt}, expires ${a.expiresAt ?? "never"}`);
}

export const verify: Command = {
  name: "verify",
  usage: [
    "dtl verify <deviceId> [--require-attestation <kind>]… [--max-attestation-age 90d] [--allow-manufacturer <address>]…",
    "           [--allow-segment <name>]… [--allow-firmware <hex32>]… [--require-proof] [--require-post-quantum]",
    "           [--max-lag-blocks n]",
    "           [--challenge <id> --public-key <hex> --signature <hex>] [--registration <serial>.proof.json] [--api URL] [--json]",
    "exit 0 trusted, 3 not trusted",
  ].join("\n       "),
  summary: "ask the API whether a device may in: exit 0 trusted, 3 not trusted (reasons listed)",
  options: {
    ...API_OPTIONS,
    ...JSON_OPTION,
    "require-attestation": { type: "string", multiple: true },
    "max-attestation-age": { type: "string" },
    "allow-manufacturer": { type: "string", multiple: true },
    "allow-segment": { type: "string", multiple: true },
    "allow-firmware": { type: "string", multiple: true },
    "require-proof": { type: "boolean" },
    "require-post-quantum": { type: "boolean" },
    "max-lag-blocks": { type: "string" },
    challenge: { type: "string" },
    "public-key": { type: "string" },
    signature: { type: "string" },
    registration: { type: "string" },
  },
  async run(inv) {
    const [raw] = positionals("verify", inv, ["deviceId"]) as [string];
    const id = bytes32("verify", "<deviceId>", raw);
    const policy = policyOf(inv);
    const proof = proofOf(inv);
    const file = optional(inv.values, "registration");
    // a device of an anchored batch presents its own proof: verifiable where its manifest never arrived
    const registration =
      file === undefined ? undefined : registrationInput(readDeviceProofFile("verify", "--registration", file));
    const api = apiClient(inv.values, inv.env);
    const { verifyDevice } = await api.request(VERDICT, { id, policy, proof, registration });
    if (inv.values.json === true) inv.io.json(verifyDevice);
    else print(inv, verifyDevice);
    return verifyDevice.trusted ? EXIT.ok : EXIT.notTrusted;
  },
};

const CHALLENGE = gql<{ issueChallenge: { id: string; message: string; expiresAt: string } }>(
  "mutation Challenge($id: Bytes32!) { issueChallenge(deviceId: $id) { id message expiresAt } }",
);

export const challenge: Command = {
  name: "challenge",
  usage: "dtl challenge <deviceId> [--api URL] [--json]",
  summary: "issue a single-use challenge for a device to sign (challenge–response)",
  options: { ...API_OPTIONS, ...JSON_OPTION },
  async run(inv) {
    const [raw] = positionals("challenge", inv, ["deviceId"]) as [string];
    const deviceId = bytes32("challenge", "<deviceId>", raw);
    const api = apiClient(inv.values, inv.env);
    const { issueChallenge: c } = await api.request(CHALLENGE, { id: deviceId });
    if (inv.values.json === true) inv.io.json({ deviceId, ...c });
    else {
      inv.io.out(`challenge  ${c.id}`);
      inv.io.out(`message    ${c.message}`);
      inv.io.out(`expires    ${c.expiresAt}`);
    }
  },
};
