/** The pure trust policy engine, table-tested: each reason alone, combinations, policy fields, clock edges. */
import { expect } from "chai";
import {
  evaluateTrust,
  VERDICT_REASONS,
  type AttestationWithTrust,
  type TrustInput,
  type VerdictReason,
} from "../../api/trust-engine";
import { KEY_ALGORITHMS, KEY_ALGORITHM_LIST } from "../../common/codes";

const NOW = 1_800_000_000;
const MANUFACTURER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const FIRMWARE = "0x" + "ab".repeat(32);

function att(over: Partial<AttestationWithTrust["attestation"]> = {}, attesterTrusted = true): AttestationWithTrust {
  return {
    attestation: { kind: "firmware", issuedAt: NOW - 100, expiresAt: 0, revoked: false, ...over },
    attesterTrusted,
  };
}

function base(over: Partial<TrustInput> = {}): TrustInput {
  return {
    device: {
      status: "ACTIVE",
      manufacturer: MANUFACTURER,
      segment: "plant-1/hvac",
      firmwareHash: FIRMWARE,
      keyAlgorithm: KEY_ALGORITHMS.ed25519,
    },
    attestations: [att()],
    manufacturerTrusted: true,
    lagBlocks: 0,
    defaultMaxLagBlocks: 2,
    policy: {},
    proof: { type: "none" },
    now: NOW,
    ...over,
  };
}

const cases: { name: string; input: TrustInput; reasons: VerdictReason[] }[] = [
  { name: "an active device of a trusted manufacturer, no policy", input: base(), reasons: [] },
  { name: "an unknown device", input: base({ device: undefined, attestations: [] }), reasons: ["NOT_REGISTERED"] },
  { name: "a revoked device", input: base({ device: { ...base().device!, status: "REVOKED" } }), reasons: ["REVOKED"] },
  {
    name: "a suspended device",
    input: base({ device: { ...base().device!, status: "SUSPENDED" } }),
    reasons: ["SUSPENDED"],
  },
  {
    name: "a manufacturer whose role was revoked",
    input: base({ manufacturerTrusted: false }),
    reasons: ["MANUFACTURER_NOT_TRUSTED"],
  },
  ...KEY_ALGORITHM_LIST.map((name) => ({
    name: `requirePostQuantum with a ${name} key`,
    input: base({
      device: { ...base().device!, keyAlgorithm: KEY_ALGORITHMS[name] },
      policy: { requirePostQuantum: true },
    }),
    reasons: (["ml-dsa-44", "ml-dsa-65", "ed25519+ml-dsa-44"].includes(name)
      ? []
      : ["KEY_NOT_POST_QUANTUM"]) as VerdictReason[],
  })),
  {
    name: "requirePostQuantum: false lets a classical key pass",
    input: base({ policy: { requirePostQuantum: false } }),
    reasons: [],
  },
  { name: "lag one block over the default (2)", input: base({ lagBlocks: 3 }), reasons: ["STALE_INDEX"] },
  { name: "lag exactly the default", input: base({ lagBlocks: 2 }), reasons: [] },
  {
    name: "policy.maxLagBlocks tightens the lag",
    input: base({ lagBlocks: 1, policy: { maxLagBlocks: 0 } }),
    reasons: ["STALE_INDEX"],
  },
  {
    name: "an indexer stopped by a fatal error, whatever the lag",
    input: base({ lagBlocks: 0, indexStopped: true }),
    reasons: ["STALE_INDEX"],
  },
  {
    name: "policy.maxLagBlocks loosens the lag",
    input: base({ lagBlocks: 10, policy: { maxLagBlocks: 10 } }),
    reasons: [],
  },
  {
    name: "manufacturer outside allowedManufacturers",
    input: base({ policy: { allowedManufacturers: ["0x0000000000000000000000000000000000000001"] } }),
    reasons: ["MANUFACTURER_NOT_ALLOWED"],
  },
  {
    // inputs reach the engine in their normal form: any case is settled by the Address scalar
    name: "manufacturer inside allowedManufacturers",
    input: base({ policy: { allowedManufacturers: ["0x0000000000000000000000000000000000000001", MANUFACTURER] } }),
    reasons: [],
  },
  {
    name: "segment outside allowedSegments",
    input: base({ policy: { allowedSegments: ["plant-2/door"] } }),
    reasons: ["SEGMENT_NOT_ALLOWED"],
  },
  {
    name: "segment inside allowedSegments",
    input: base({ policy: { allowedSegments: ["plant-2/door", "plant-1/hvac"] } }),
    reasons: [],
  },
  {
    name: "empty allowedSegments allows nothing",
    input: base({ policy: { allowedSegments: [] } }),
    reasons: ["SEGMENT_NOT_ALLOWED"],
  },
  {
    name: "firmware outside allowedFirmware",
    input: base({ policy: { allowedFirmware: ["0x" + "cd".repeat(32)] } }),
    reasons: ["FIRMWARE_NOT_ALLOWED"],
  },
  {
    name: "firmware inside allowedFirmware",
    input: base({ policy: { allowedFirmware: [FIRMWARE] } }),
    reasons: [],
  },
  {
    name: "a required kind with a valid attestation",
    input: base({ policy: { requiredAttestations: ["firmware"] } }),
    reasons: [],
  },
  {
    name: "a required kind without any attestation",
    input: base({ policy: { requiredAttestations: ["iec62443"] } }),
    reasons: ["ATTESTATION_MISSING"],
  },
  {
    name: "a required kind whose only attestation is revoked",
    input: base({ attestations: [att({ revoked: true })], policy: { requiredAttestations: ["firmware"] } }),
    reasons: ["ATTESTATION_MISSING"],
  },
  {
    name: "expiry exactly now counts as expired",
    input: base({ attestations: [att({ expiresAt: NOW })], policy: { requiredAttestations: ["firmware"] } }),
    reasons: ["ATTESTATION_EXPIRED"],
  },
  {
    name: "expiry one second after now is still valid",
    input: base({ attestations: [att({ expiresAt: NOW + 1 })], policy: { requiredAttestations: ["firmware"] } }),
    reasons: [],
  },
  {
    name: "expiry in the past",
    input: base({ attestations: [att({ expiresAt: NOW - 1 })], policy: { requiredAttestations: ["firmware"] } }),
    reasons: ["ATTESTATION_EXPIRED"],
  },
  {
    name: "expired attestations are ignored when no kind is required",
    input: base({ attestations: [att({ expiresAt: NOW - 1 })] }),
    reasons: [],
  },
  {
    name: "an attester whose kind role was revoked",
    input: base({ attestations: [att({}, false)], policy: { requiredAttestations: ["firmware"] } }),
    reasons: ["ATTESTER_NOT_TRUSTED"],
  },
  {
    name: "age exactly maxAttestationAgeSeconds is young enough",
    input: base({
      attestations: [att({ issuedAt: NOW - 3600 })],
      policy: { requiredAttestations: ["firmware"], maxAttestationAgeSeconds: 3600 },
    }),
    reasons: [],
  },
  {
    name: "one second older than maxAttestationAgeSeconds",
    input: base({
      attestations: [att({ issuedAt: NOW - 3601 })],
      policy: { requiredAttestations: ["firmware"], maxAttestationAgeSeconds: 3600 },
    }),
    reasons: ["ATTESTATION_TOO_OLD"],
  },
  {
    name: "one good attestation among bad ones satisfies the kind",
    input: base({
      attestations: [att({ expiresAt: NOW - 5 }), att({}, false), att()],
      policy: { requiredAttestations: ["firmware"] },
    }),
    reasons: [],
  },
  {
    name: "all failing candidates report their reasons",
    input: base({
      attestations: [att({ expiresAt: NOW - 5 }), att({ issuedAt: NOW - 10_000 }, false)],
      policy: { requiredAttestations: ["firmware"], maxAttestationAgeSeconds: 1000 },
    }),
    reasons: ["ATTESTATION_EXPIRED", "ATTESTATION_TOO_OLD", "ATTESTER_NOT_TRUSTED"],
  },
  {
    name: "requireProof without a proof",
    input: base({ policy: { requireProof: true } }),
    reasons: ["PROOF_REQUIRED"],
  },
  {
    name: "requireProof with a good proof",
    input: base({ policy: { requireProof: true }, proof: { type: "checked", reasons: [] } }),
    reasons: [],
  },
  {
    name: "a failed proof reports its reasons even when not required",
    input: base({ proof: { type: "checked", reasons: ["KEY_MISMATCH", "BAD_SIGNATURE"] } }),
    reasons: ["KEY_MISMATCH", "BAD_SIGNATURE"],
  },
  {
    name: "challenge reasons pass through",
    input: base({
      proof: { type: "checked", reasons: ["CHALLENGE_REUSED", "CHALLENGE_EXPIRED", "CHALLENGE_WRONG_DEVICE"] },
    }),
    reasons: ["CHALLENGE_EXPIRED", "CHALLENGE_REUSED", "CHALLENGE_WRONG_DEVICE"],
  },
  {
    name: "an unknown device with a stale index and a required proof",
    input: base({
      device: undefined,
      lagBlocks: 5,
      policy: { requireProof: true, requiredAttestations: ["firmware"] },
    }),
    reasons: ["NOT_REGISTERED", "PROOF_REQUIRED", "STALE_INDEX"],
  },
  {
    name: "every device reason at once, in enum order",
    input: base({
      device: { status: "REVOKED", manufacturer: MANUFACTURER, segment: "x", firmwareHash: FIRMWARE, keyAlgorithm: 1 },
      manufacturerTrusted: false,
      lagBlocks: 100,
      attestations: [att({ expiresAt: NOW, issuedAt: NOW - 99_999 }, false)],
      policy: {
        allowedManufacturers: [],
        allowedSegments: ["y"],
        allowedFirmware: [],
        requiredAttestations: ["firmware", "iec62443"],
        maxAttestationAgeSeconds: 10,
        requireProof: true,
        requirePostQuantum: true,
      },
    }),
    reasons: [
      "REVOKED",
      "MANUFACTURER_NOT_TRUSTED",
      "MANUFACTURER_NOT_ALLOWED",
      "SEGMENT_NOT_ALLOWED",
      "FIRMWARE_NOT_ALLOWED",
      "KEY_NOT_POST_QUANTUM",
      "ATTESTATION_MISSING",
      "ATTESTATION_EXPIRED",
      "ATTESTATION_TOO_OLD",
      "ATTESTER_NOT_TRUSTED",
      "PROOF_REQUIRED",
      "STALE_INDEX",
    ],
  },
  {
    name: "suspended with a revoked manufacturer",
    input: base({ device: { ...base().device!, status: "SUSPENDED" }, manufacturerTrusted: false }),
    reasons: ["SUSPENDED", "MANUFACTURER_NOT_TRUSTED"],
  },
];

describe("api/trust-engine evaluateTrust", () => {
  for (const c of cases) {
    it(`${c.name} → ${c.reasons.length ? c.reasons.join(", ") : "trusted"}`, () => {
      const out = evaluateTrust(c.input);
      expect(out.reasons).to.deep.equal(c.reasons);
      expect(out.trusted).to.equal(c.reasons.length === 0);
    });
  }

  it("is pure: the same input gives the same output and is not modified", () => {
    const input = base({ attestations: [att({ expiresAt: NOW })], policy: { requiredAttestations: ["firmware"] } });
    const copy = structuredClone(input);
    expect(evaluateTrust(input)).to.deep.equal(evaluateTrust(input));
    expect(input).to.deep.equal(copy);
  });

  it("the reason order is the GraphQL enum's", async () => {
    const { readFileSync } = await import("node:fs");
    const { buildSchema } = await import("graphql");
    const schema = buildSchema(readFileSync(`${__dirname}/../../api/schema.graphql`, "utf8"));
    const values = (schema.getType("VerdictReason") as import("graphql").GraphQLEnumType)
      .getValues()
      .map((v) => v.name);
    expect(values).to.deep.equal([...VERDICT_REASONS]);
  });
});
