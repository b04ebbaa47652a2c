/**
 * One source of truth (STYLE 19): common/codes.ts against the contract (its Solidity enums from the
 * compiler's AST, its events, the codes it accepts, its role constants) and against every enum of
 * api/schema.graphql. Adding a status, reason, event kind, algorithm, verdict reason or role in
 * one place and not the other turns this red.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import hre from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { GraphQLEnumType, buildSchema } from "graphql";
import {
  DEVICE_STATUS,
  EVENT_KINDS,
  BATCH_STREAM_KINDS,
  KEY_ALGORITHMS,
  KEY_ALGORITHM_LIST,
  REASONS,
  ROLES,
  VERDICT_REASONS,
  keyAlgorithmEnum,
  parseReason,
  upperSnake,
} from "../../common/codes";
import { parseKeyAlgorithm } from "../../common/keys";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, attesterRole } from "../../common/roles";
import { encodeShortName } from "../../common/ids";
import { deployRegistryFixture, register, registration } from "../helpers/contracts-fixture";

interface AstNode {
  nodeType: string;
  name?: string;
  nodes?: AstNode[];
  members?: { name: string }[];
}

/** The members of Solidity enum `name` in IDeviceRegistry, read from the compiler's AST. */
async function solidityEnum(name: string): Promise<string[]> {
  const info = await hre.artifacts.getBuildInfo("contracts/IDeviceRegistry.sol:IDeviceRegistry");
  const ast = info!.output.sources["contracts/IDeviceRegistry.sol"]!.ast as AstNode;
  const found: AstNode[] = [];
  const walk = (n: AstNode) => {
    if (n.nodeType === "EnumDefinition" && n.name === name) found.push(n);
    n.nodes?.forEach(walk);
  };
  walk(ast);
  expect(found, `enum ${name} in IDeviceRegistry.sol`).to.have.length(1);
  return found[0]!.members!.map((m) => m.name);
}

const schema = buildSchema(readFileSync(path.join(__dirname, "..", "..", "api", "schema.graphql"), "utf8"));
function schemaEnum(name: string): string[] {
  const t = schema.getType(name);
  expect(t, `enum ${name} in schema.graphql`).to.be.instanceOf(GraphQLEnumType);
  return (t as GraphQLEnumType).getValues().map((v) => v.name);
}

describe("common/codes: one source of truth", function () {
  describe("against the contract", function () {
    it("DEVICE_STATUS is IDeviceRegistry.DeviceStatus, in order", async function () {
      expect((await solidityEnum("DeviceStatus")).map(upperSnake)).to.deep.equal([...DEVICE_STATUS]);
    });

    it("EVENT_KINDS is IDeviceRegistry.EventKind, in order, and each is a device event indexed by id", async function () {
      const kinds = await solidityEnum("EventKind");
      expect(kinds).to.deep.equal(["None", ...EVENT_KINDS.slice(1)]);
      const abi = (await hre.artifacts.readArtifact("DeviceRegistry")).abi as {
        type: string;
        name: string;
        inputs: { name: string; indexed?: boolean }[];
      }[];
      for (const name of EVENT_KINDS.slice(1)) {
        const ev = abi.find((x) => x.type === "event" && x.name === name);
        expect(ev, `event ${name}`).to.not.equal(undefined);
        expect(ev!.inputs[0], `${name}'s first argument`).to.deep.include({ name: "deviceId", indexed: true });
      }
    });

    it("the registry accepts exactly the reason codes of REASONS", async function () {
      const { registry, manufacturer } = await loadFixture(deployRegistryFixture);
      const r = registration("codes-reason");
      await register(registry, manufacturer, r);
      const last = REASONS.length - 1;
      await registry.connect(manufacturer).suspendDevice.staticCall(r.deviceId, last);
      await expect(registry.connect(manufacturer).suspendDevice(r.deviceId, last + 1))
        .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownReason")
        .withArgs(last + 1);
    });

    it("the registry accepts exactly the key algorithm codes of KEY_ALGORITHMS", async function () {
      const { registry, manufacturer } = await loadFixture(deployRegistryFixture);
      const codes = Object.values(KEY_ALGORITHMS);
      for (const code of codes) {
        const r = registration(`codes-alg-${code}`, { keyAlgorithm: code });
        await registry
          .connect(manufacturer)
          .registerDevice.staticCall(r.deviceId, r.keyAlgorithm, r.keyHash, r.firmwareHash, r.segment);
      }
      for (const bad of [0, Math.max(...codes) + 1]) {
        const r = registration(`codes-alg-${bad}`, { keyAlgorithm: bad });
        await expect(
          registry
            .connect(manufacturer)
            .registerDevice(r.deviceId, r.keyAlgorithm, r.keyHash, r.firmwareHash, r.segment),
        )
          .to.be.revertedWithCustomError(registry, "DeviceRegistryUnknownKeyAlgorithm")
          .withArgs(bad);
      }
    });

    it("ROLES are the registry's role constants", async function () {
      const { registry } = await loadFixture(deployRegistryFixture);
      expect(await registry.MANUFACTURER_ROLE()).to.equal(MANUFACTURER_ROLE);
      expect(await registry.SECURITY_OFFICER_ROLE()).to.equal(SECURITY_OFFICER_ROLE);
      const kind = encodeShortName("kind", "firmware");
      expect(await registry.attesterRole(kind)).to.equal(attesterRole(kind));
      expect(Object.values(ROLES)).to.deep.equal(["MANUFACTURER_ROLE", "SECURITY_OFFICER_ROLE", "ATTESTER_ROLE"]);
    });
  });

  describe("against api/schema.graphql", function () {
    it("DeviceStatus", function () {
      expect(schemaEnum("DeviceStatus")).to.deep.equal(DEVICE_STATUS.slice(1));
    });
    it("RevocationReason", function () {
      expect(schemaEnum("RevocationReason")).to.deep.equal([...REASONS]);
    });
    it("EventKind", function () {
      expect(schemaEnum("EventKind")).to.deep.equal([...EVENT_KINDS.slice(1), ...BATCH_STREAM_KINDS].map(upperSnake));
    });
    it("KeyAlgorithm", function () {
      expect(schemaEnum("KeyAlgorithm")).to.deep.equal(
        KEY_ALGORITHM_LIST.map((n) => keyAlgorithmEnum(KEY_ALGORITHMS[n])),
      );
    });
    it("VerdictReason, in the order verdicts list them", function () {
      expect(schemaEnum("VerdictReason")).to.deep.equal([...VERDICT_REASONS]);
    });
  });

  describe("parsing user input", function () {
    it("reasons by word, name, camel case or code; nothing else", function () {
      expect(parseReason("key-compromise")).to.equal(1);
      expect(parseReason("KEY_COMPROMISE")).to.equal(1);
      expect(parseReason("anomalyDetected")).to.equal(8);
      expect(parseReason(String(REASONS.length - 1))).to.equal(REASONS.length - 1);
      expect(() => parseReason(String(REASONS.length))).to.throw(`unknown reason "${REASONS.length}"`);
      expect(() => parseReason("lost")).to.throw(/expected one of unspecified, key-compromise, .*anomaly-detected/);
    });
    it("key algorithms by name or code; nothing else", function () {
      for (const [name, code] of Object.entries(KEY_ALGORITHMS)) {
        expect(parseKeyAlgorithm(name)).to.equal(code);
        expect(parseKeyAlgorithm(String(code))).to.equal(code);
      }
      expect(parseKeyAlgorithm("P-256")).to.equal(KEY_ALGORITHMS.p256);
      expect(() => parseKeyAlgorithm("0")).to.throw(
        'unknown key algorithm "0" (expected secp256k1, p256, ed25519, ml-dsa-44, ml-dsa-65, ed25519+ml-dsa-44)',
      );
      expect(() => parseKeyAlgorithm("rsa")).to.throw('unknown key algorithm "rsa"');
    });
  });
});
