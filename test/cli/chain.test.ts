/**
 * End to end: the built `dtl` CLI as a child process against a real `hardhat node` — deploy,
 * roles, registration, lifecycle and attestations, each with its exit code, its output and the
 * one error line for bad input (reverts decoded into words).
 */
import { expect } from "chai";
import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Contract, Wallet, encodeBytes32String, encryptKeystoreJsonSync } from "ethers";
import { registryAbi } from "../../common/abi";
import { createProvider } from "../../common/chain";
import { deviceIdFor } from "../../common/ids";
import { KEY_ALGORITHMS, keyHash, verifySignature, type KeyAlgorithmName } from "../../common/keys";
import { HARDHAT_KEYS, freePort, startHardhatNode, type NodeHandle } from "../helpers/chain";
import { firmwareHash, randomHex32 } from "../helpers/cli-fixtures";
import { startJsonProxy } from "../helpers/cli-proxy";
import { ensureBuilt, runDtl, tempDir, type RunResult } from "../helpers/cli-run";

const [ADMIN, MAKER, MAKER2, ATTESTER, OFFICER, NOBODY] = HARDHAT_KEYS.map((k) => new Wallet(k)) as Wallet[] as [
  Wallet,
  Wallet,
  Wallet,
  Wallet,
  Wallet,
  Wallet,
];

describe("dtl CLI against a hardhat node", function () {
  let node: NodeHandle;
  let tmp: ReturnType<typeof tempDir>;
  let deploymentFile: string;
  let registry: Contract;
  /** Runs dtl with the node and deployment configured, signing as `as` (no key when null). */
  const dtl = (args: string[], as: Wallet | null = null, env: Record<string, string> = {}): Promise<RunResult> =>
    runDtl(args, {
      env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile, DTL_PRIVATE_KEY: as?.privateKey, ...env },
      cwd: tmp.dir,
    });
  const ok = (r: RunResult): RunResult => {
    expect(r.stderr.replace(/^(note: |wrote |skipping |progress: ).*\n/gm, ""), `stderr of a successful run`).to.equal(
      "",
    );
    expect(r.code, r.stderr).to.equal(0);
    return r;
  };
  const fails = (r: RunResult, line: string | RegExp, code = 1): void => {
    expect(r.code, `exit code; stdout ${r.stdout}`).to.equal(code);
    const lines = r.stderr.trim().split("\n");
    const last = lines[lines.length - 1]!;
    if (typeof line === "string") expect(last).to.equal(line);
    else expect(last).to.match(line);
    expect(r.stderr).not.to.match(/\n\s+at /); // no stack trace
  };

  before(async function () {
    ensureBuilt();
    tmp = tempDir();
    deploymentFile = path.join(tmp.dir, "deployments", "31337.json");
    node = await startHardhatNode();
  });
  after(async function () {
    await node?.stop();
    tmp?.cleanup();
  });

  describe("deploy", function () {
    it("deploys the registry and writes the deployment file", async function () {
      const r = ok(await dtl(["deploy", "--admin-delay", "1h", "--json"], ADMIN));
      const out = r.json<{
        registry: string;
        chainId: number;
        deployBlock: number;
        deployBlockHash: string;
        file: string;
        adminDelay: number;
      }>();
      expect(out.chainId).to.equal(31337);
      expect(out.adminDelay).to.equal(3600);
      expect(out.file).to.equal(deploymentFile);
      const written = JSON.parse(readFileSync(deploymentFile, "utf8")) as { registry: string; deployBlockHash: string };
      expect(written.registry).to.equal(out.registry);
      const block = await node.rpc<{ hash: string }>("eth_getBlockByNumber", [
        `0x${out.deployBlock.toString(16)}`,
        false,
      ]);
      expect(written.deployBlockHash).to.equal(block.hash);
      registry = new Contract(out.registry, registryAbi, createProvider(node.url, 31337));
      expect(await registry.getFunction("hasRole")(encodeBytes32String(""), ADMIN.address)).to.equal(true);
    });

    it("says when no deployment file exists for the chain", async function () {
      fails(
        await dtl(["suspend", randomHex32()], OFFICER, { DTL_DEPLOYMENT: path.join(tmp.dir, "none.json") }),
        /^dtl: no deployment for chain 31337: .*none\.json not found/,
      );
    });
  });

  describe("grant / revoke-role", function () {
    it("grants every role, and says when it is held already", async function () {
      const grants: [string[], string][] = [
        [["grant", "manufacturer", MAKER.address], "MANUFACTURER_ROLE"],
        [["grant", "manufacturer", MAKER2.address], "MANUFACTURER_ROLE"],
        [["grant", "attester", ATTESTER.address, "--kind", "firmware"], "ATTESTER_ROLE(firmware)"],
        [["grant", "officer", OFFICER.address], "SECURITY_OFFICER_ROLE"],
      ];
      for (const [args, label] of grants) {
        const r = ok(await dtl(args, ADMIN));
        expect(r.stdout).to.match(
          new RegExp(
            `^granted ${label.replace(/[()]/g, "\\$&")} to ${args[2]} \\(tx 0x[0-9a-f]{64}, block \\d+\\)\\n$`,
          ),
        );
      }
      const again = ok(await dtl(["grant", "manufacturer", MAKER.address], ADMIN));
      expect(again.stdout).to.equal(`${MAKER.address} already holds MANUFACTURER_ROLE; nothing sent\n`);
    });

    it("revokes a role", async function () {
      ok(await dtl(["grant", "attester", NOBODY.address, "--kind", "iec62443"], ADMIN));
      const r = ok(await dtl(["revoke-role", "attester", NOBODY.address, "--kind", "iec62443", "--json"], ADMIN));
      expect(r.json()).to.include({ role: "ATTESTER_ROLE(iec62443)", account: NOBODY.address, changed: true });
    });

    it("decodes the missing admin role into words", async function () {
      fails(
        await dtl(["grant", "manufacturer", NOBODY.address], NOBODY),
        `dtl: registry refused: AccessControlUnauthorizedAccount(account=${NOBODY.address}, neededRole=DEFAULT_ADMIN_ROLE)`,
      );
    });

    it("rejects bad role arguments before sending anything", async function () {
      const [unknown, noKind, kindOnOfficer, badAddr, missing] = await Promise.all([
        dtl(["grant", "king", MAKER.address], ADMIN),
        dtl(["grant", "attester", MAKER.address], ADMIN),
        dtl(["revoke-role", "officer", MAKER.address, "--kind", "x"], ADMIN),
        dtl(["grant", "officer", "0x1234"], ADMIN),
        dtl(["grant", "officer"], ADMIN),
      ]);
      fails(unknown, 'dtl: grant: unknown role "king" (expected manufacturer, officer, attester)');
      fails(noKind, "dtl: grant: the attester role needs --kind <kind> (e.g. firmware)");
      fails(kindOnOfficer, "dtl: revoke-role: --kind applies to the attester role only");
      fails(badAddr, 'dtl: grant: <address> must be 0x followed by 40 hex digits, got "0x1234"');
      fails(missing, "dtl: grant: missing <address>");
    });
  });

  describe("device keygen / sign / id", function () {
    for (const alg of Object.keys(KEY_ALGORITHMS) as KeyAlgorithmName[]) {
      it(`makes a ${alg} key file (0600) whose signatures verify`, async function () {
        const file = path.join(tmp.dir, `${alg}.key`);
        const r = ok(await dtl(["device", "keygen", "--alg", alg, "--out", file]));
        const pair = JSON.parse(readFileSync(file, "utf8")) as {
          algorithm: string;
          privateKey: string;
          publicKey: string;
        };
        expect(pair.algorithm).to.equal(alg);
        expect(r.stdout).to.equal(`${pair.publicKey}\n`);
        expect(statSync(file).mode & 0o777).to.equal(0o600);
        const s = ok(await dtl(["device", "sign", "--key", file, "--message", "dtl-challenge:abc"]));
        expect(s.stdout).not.to.include(pair.privateKey.slice(2));
        expect(verifySignature(KEY_ALGORITHMS[alg], pair.publicKey, "dtl-challenge:abc", s.stdout.trim())).to.equal(
          true,
        );
      });
    }

    it("refuses to overwrite a key and rejects unknown algorithms", async function () {
      const file = path.join(tmp.dir, "keep.key");
      ok(await dtl(["device", "keygen", "--alg", "ed25519", "--out", file]));
      const before = readFileSync(file, "utf8");
      const [again, rsa, noOut, badFile] = await Promise.all([
        dtl(["device", "keygen", "--alg", "ed25519", "--out", file]),
        dtl(["device", "keygen", "--alg", "rsa", "--out", path.join(tmp.dir, "rsa.key")]),
        dtl(["device", "keygen", "--alg", "p256"]),
        dtl(["device", "sign", "--key", path.join(tmp.dir, "missing.key"), "--message", "m"]),
      ]);
      fails(again, `dtl: device keygen: ${file} exists; not overwriting a key (use --force)`);
      expect(readFileSync(file, "utf8")).to.equal(before);
      fails(
        rsa,
        'dtl: device keygen: unknown key algorithm "rsa" (expected secp256k1, p256, ed25519, ml-dsa-44, ml-dsa-65, ed25519+ml-dsa-44)',
      );
      fails(noOut, "dtl: device keygen: missing --out <keyfile>");
      fails(badFile, `dtl: device sign: cannot read key file ${path.join(tmp.dir, "missing.key")}: no such file`);
    });

    it("prints the device id of a serial for a manufacturer (given, or the signer's)", async function () {
      const given = ok(await dtl(["device", "id", "--serial", "SN-1", "--manufacturer", MAKER.address.toLowerCase()]));
      expect(given.stdout).to.equal(`${deviceIdFor(MAKER.address, "SN-1")}\n`);
      const own = ok(await dtl(["device", "id", "--serial", "SN-1"], MAKER));
      expect(own.stdout).to.equal(given.stdout);
      // no key on the dev chain: the dev account #0, as for signing commands
      const dev = await dtl(["device", "id", "--serial", "SN-1"]);
      expect([dev.code, dev.stdout]).to.deep.equal([0, `${deviceIdFor(ADMIN.address, "SN-1")}\n`]);
      expect(dev.stderr).to.match(
        /^note: no DTL_PRIVATE_KEY or DTL_KEYSTORE set; using the public hardhat dev account #0/,
      );
      fails(
        await dtl(["device", "id", "--serial", "SN-1", "--rpc", `http://127.0.0.1:${await freePort()}`]),
        "dtl: device id: missing --manufacturer <address> (or set DTL_PRIVATE_KEY / DTL_KEYSTORE to use its address)",
      );
    });
  });

  describe("register / lifecycle / attest", function () {
    let keyFile: string;
    let pub: string;
    let id: string;
    const fw = firmwareHash("1.0.0");

    before(async function () {
      keyFile = path.join(tmp.dir, "device-1.key");
      pub = ok(await dtl(["device", "keygen", "--alg", "p256", "--out", keyFile])).stdout.trim();
      id = deviceIdFor(MAKER.address, "SN-0001");
    });

    it("registers one device", async function () {
      const r = ok(
        await dtl(
          ["register", "--serial", "SN-0001", "--alg", "p256", "--public-key", pub, "--firmware", fw].concat([
            "--segment",
            "plant-1/hvac",
            "--json",
          ]),
          MAKER,
        ),
      );
      const out = r.json<Record<string, unknown>>();
      expect(out).to.include({
        deviceId: id,
        serial: "SN-0001",
        manufacturer: MAKER.address,
        keyAlgorithm: 2,
        keyHash: keyHash(2, pub),
        firmwareHash: fw,
      });
      const d = (await registry.getFunction("getDevice")(id)) as {
        manufacturer: string;
        status: bigint;
        keyAlgorithm: bigint;
      };
      expect([d.manufacturer, d.status, d.keyAlgorithm]).to.deep.equal([MAKER.address, 1n, 2n]);
    });

    it("registers from a key file, hashing a firmware image", async function () {
      const image = path.join(tmp.dir, "firmware.bin");
      writeFileSync(image, "firmware image 1.0.0");
      const r = ok(await dtl(["register", "--serial", "SN-0002", "--key", keyFile, "--firmware-file", image], MAKER));
      expect(r.stdout).to.match(
        new RegExp(
          `^registered SN-0002 as ${deviceIdFor(MAKER.address, "SN-0002")} \\(tx 0x[0-9a-f]{64}, block \\d+\\)\\n$`,
        ),
      );
      const logs = await node.rpc<{ data: string }[]>("eth_getLogs", [
        {
          address: await registry.getAddress(),
          fromBlock: "0x0",
          topics: [null, deviceIdFor(MAKER.address, "SN-0002")],
        },
      ]);
      const ev = registry.interface.parseLog(logs[0] as { topics: string[]; data: string })!;
      expect(ev.args.firmwareHash).to.equal("0x" + createHash("sha256").update("firmware image 1.0.0").digest("hex"));
    });

    it("refuses bad registrations with one line each", async function () {
      const [dup, role, badHex, badKey, alg, noFw, seg] = await Promise.all([
        dtl(["register", "--serial", "SN-0001", "--alg", "p256", "--public-key", pub, "--firmware", fw], MAKER),
        dtl(["register", "--serial", "SN-9", "--alg", "p256", "--public-key", pub, "--firmware", fw], NOBODY),
        dtl(["register", "--serial", "SN-9", "--alg", "p256", "--public-key", pub, "--firmware", "0xzz"], MAKER),
        dtl(["register", "--serial", "SN-9", "--alg", "ed25519", "--public-key", "0x1234", "--firmware", fw], MAKER),
        dtl(["register", "--serial", "SN-9", "--alg", "rsa", "--public-key", pub, "--firmware", fw], MAKER),
        dtl(["register", "--serial", "SN-9", "--alg", "p256", "--public-key", pub], MAKER),
        dtl(
          [
            "register",
            "--serial",
            "SN-9",
            "--alg",
            "p256",
            "--public-key",
            pub,
            "--firmware",
            fw,
            "--segment",
            "x".repeat(32),
          ],
          MAKER,
        ),
      ]);
      fails(dup, `dtl: registry refused: DeviceRegistryDeviceAlreadyRegistered(deviceId=${id})`);
      fails(
        role,
        `dtl: registry refused: AccessControlUnauthorizedAccount(account=${NOBODY.address}, neededRole=MANUFACTURER_ROLE)`,
      );
      fails(badHex, 'dtl: register: --firmware must be 0x followed by 64 hex digits, got "0xzz"');
      fails(badKey, "dtl: register: an Ed25519 public key is 32 bytes, got 2");
      fails(
        alg,
        'dtl: register: unknown key algorithm "rsa" (expected secp256k1, p256, ed25519, ml-dsa-44, ml-dsa-65, ed25519+ml-dsa-44)',
      );
      fails(noFw, "dtl: register: missing --firmware <hex32> (or --firmware-file <image>)");
      fails(seg, `dtl: register: --segment "${"x".repeat(32)}" is longer than 31 bytes`);
    });

    it("suspends, reinstates, updates firmware, rotates the key", async function () {
      const status = async () => Number(((await registry.getFunction("getDevice")(id)) as { status: bigint }).status);
      expect(ok(await dtl(["suspend", id, "--reason", "anomaly-detected"], OFFICER)).stdout).to.match(
        new RegExp(`^suspended \\(anomaly-detected\\) ${id} \\(tx `),
      );
      expect(await status()).to.equal(2);
      fails(
        await dtl(["suspend", id], OFFICER),
        `dtl: registry refused: DeviceRegistryDeviceNotActive(deviceId=${id}, status=SUSPENDED)`,
      );
      // an officer's suspension is lifted only by an officer
      fails(
        await dtl(["reinstate", id], MAKER),
        `dtl: registry refused: DeviceRegistrySuspendedByOfficer(deviceId=${id}, account=${MAKER.address})`,
      );
      expect(await status()).to.equal(2);
      ok(await dtl(["reinstate", id], OFFICER));
      expect(await status()).to.equal(1);
      fails(
        await dtl(["reinstate", id], MAKER),
        `dtl: registry refused: DeviceRegistryDeviceNotSuspended(deviceId=${id}, status=ACTIVE)`,
      );
      const fw2 = firmwareHash("1.1.0");
      expect(ok(await dtl(["update-firmware", id, "--firmware", fw2, "--json"], MAKER)).json()).to.include({
        deviceId: id,
        firmwareHash: fw2,
        by: MAKER.address,
      });
      const newKey = path.join(tmp.dir, "device-1b.key");
      const pub2 = ok(await dtl(["device", "keygen", "--alg", "ed25519", "--out", newKey])).stdout.trim();
      expect(ok(await dtl(["rotate-key", id, "--key", newKey, "--json"], MAKER)).json()).to.include({
        keyAlgorithm: 3,
        keyHash: keyHash(3, pub2),
      });
      const [head, count] = (await registry.getFunction("historyHead")(id)) as [string, bigint];
      expect(head).to.match(/^0x[0-9a-f]{64}$/);
      expect(count).to.equal(5n);
    });

    it("decodes who may not manage a device", async function () {
      const [other, notMaker, unknown, badId, badReason] = await Promise.all([
        dtl(["suspend", id], MAKER2),
        dtl(["update-firmware", id, "--firmware", fw], OFFICER),
        dtl(["suspend", "0x" + "ab".repeat(32)], OFFICER),
        dtl(["suspend", "0x1234"], OFFICER),
        dtl(["revoke", id, "--reason", "boredom"], OFFICER),
      ]);
      fails(other, `dtl: registry refused: DeviceRegistryNotDeviceManager(deviceId=${id}, account=${MAKER2.address})`);
      fails(
        notMaker,
        `dtl: registry refused: DeviceRegistryNotDeviceManufacturer(deviceId=${id}, account=${OFFICER.address})`,
      );
      fails(unknown, `dtl: registry refused: DeviceRegistryUnknownDevice(deviceId=0x${"ab".repeat(32)})`);
      fails(badId, 'dtl: suspend: <deviceId> must be 0x followed by 64 hex digits, got "0x1234"');
      fails(
        badReason,
        'dtl: revoke: unknown reason "boredom" (expected one of unspecified, key-compromise, manufacturer-compromise, ownership-changed, superseded, decommissioned, privilege-withdrawn, policy-violation, anomaly-detected)',
      );
      fails(await dtl(["revoke", id], OFFICER), "dtl: revoke: missing --reason <reason>");
      const [noAlg, badKey, bothKeys, noFw, badFw, noId] = await Promise.all([
        dtl(["rotate-key", id, "--public-key", "0x02"], MAKER),
        dtl(["rotate-key", id, "--alg", "secp256k1", "--public-key", "0x02" + "00".repeat(32)], MAKER),
        dtl(["rotate-key", id, "--alg", "p256", "--key", path.join(tmp.dir, "device-1.key")], MAKER),
        dtl(["update-firmware", id], MAKER),
        dtl(["update-firmware", id, "--firmware", "1234"], MAKER),
        dtl(["reinstate"], OFFICER),
      ]);
      fails(noAlg, "dtl: rotate-key: missing --alg secp256k1|p256|ed25519|ml-dsa-44|ml-dsa-65|ed25519+ml-dsa-44");
      fails(badKey, "dtl: rotate-key: public key is not a valid secp256k1 point");
      fails(bothKeys, "dtl: rotate-key: give either --key <keyfile> or --alg with --public-key, not both");
      fails(noFw, "dtl: update-firmware: missing --firmware <hex32> (or --firmware-file <image>)");
      fails(badFw, 'dtl: update-firmware: --firmware must be 0x followed by 64 hex digits, got "1234"');
      fails(noId, "dtl: reinstate: missing <deviceId>");
    });

    it("attests with an expiry and revokes the attestation by uid alone", async function () {
      const evidence = randomHex32();
      const inDays = ok(
        await dtl(
          ["attest", id, "--kind", "firmware", "--evidence", evidence, "--expires-in", "30d", "--json"],
          ATTESTER,
        ),
      ).json<{
        uid: string;
        expiresAt: string;
      }>();
      const expected = Date.now() + 30 * 86_400_000;
      expect(Math.abs(Date.parse(inDays.expiresAt) - expected)).to.be.lessThan(60_000);
      const at = ok(
        await dtl(
          [
            "attest",
            id,
            "--kind",
            "firmware",
            "--evidence",
            evidence,
            "--expires-at",
            "2031-01-31T00:00:00Z",
            "--json",
          ],
          ATTESTER,
        ),
      ).json<{
        uid: string;
        expiresAt: string;
      }>();
      expect(at.expiresAt).to.equal("2031-01-31T00:00:00.000Z");
      const a = (await registry.getFunction("getAttestation")(id, at.uid)) as {
        attester: string;
        expiresAt: bigint;
        revoked: boolean;
      };
      expect([a.attester, a.expiresAt, a.revoked]).to.deep.equal([
        ATTESTER.address,
        BigInt(Date.parse("2031-01-31T00:00:00Z") / 1000),
        false,
      ]);
      const r = ok(await dtl(["revoke-attestation", at.uid, "--reason", "superseded"], ATTESTER));
      expect(r.stdout).to.match(new RegExp(`^revoked attestation ${at.uid} of ${id} \\(superseded; tx `));
      expect(((await registry.getFunction("getAttestation")(id, at.uid)) as { revoked: boolean }).revoked).to.equal(
        true,
      );
      fails(
        await dtl(["revoke-attestation", at.uid], ATTESTER),
        `dtl: registry refused: DeviceRegistryAttestationAlreadyRevoked(uid=${at.uid})`,
      );
      fails(
        await dtl(["revoke-attestation", inDays.uid], NOBODY),
        `dtl: registry refused: DeviceRegistryNotAttestationManager(uid=${inDays.uid}, account=${NOBODY.address})`,
      );
      // --device skips the log lookup
      ok(await dtl(["revoke-attestation", inDays.uid, "--device", id], OFFICER));
    });

    it("refuses bad attestations with one line each", async function () {
      const ev = randomHex32();
      const [role, past, both, badDate, badDur, unknownUid] = await Promise.all([
        dtl(["attest", id, "--kind", "iec62443", "--evidence", ev], ATTESTER),
        dtl(["attest", id, "--kind", "firmware", "--evidence", ev, "--expires-at", "2020-01-01"], ATTESTER),
        dtl(
          ["attest", id, "--kind", "firmware", "--evidence", ev, "--expires-in", "1d", "--expires-at", "2031-01-01"],
          ATTESTER,
        ),
        dtl(["attest", id, "--kind", "firmware", "--evidence", ev, "--expires-at", "tomorrow"], ATTESTER),
        dtl(["attest", id, "--kind", "firmware", "--evidence", ev, "--expires-in", "soon"], ATTESTER),
        dtl(["revoke-attestation", "0x" + "44".repeat(32)], OFFICER),
      ]);
      fails(
        role,
        `dtl: registry refused: AccessControlUnauthorizedAccount(account=${ATTESTER.address}, neededRole=ATTESTER_ROLE(iec62443))`,
      );
      fails(
        past,
        /^dtl: registry refused: DeviceRegistryExpiryInPast\(expiresAt=1577836800 \(2020-01-01T00:00:00Z\), now=\d+ \(20\d\d-/,
      );
      fails(both, "dtl: attest: give --expires-in or --expires-at, not both");
      fails(
        badDate,
        'dtl: attest: --expires-at must be an ISO 8601 date like 2027-01-31 or 2027-01-31T12:00:00Z, got "tomorrow"',
      );
      fails(badDur, 'dtl: attest: --expires-in must be a duration like 30d, 12h, 90m or 3600s, got "soon"');
      fails(unknownUid, `dtl: revoke-attestation: no attestation 0x${"44".repeat(32)} on this registry`);
    });

    it("revokes for good", async function () {
      expect(ok(await dtl(["revoke", id, "--reason", "key-compromise", "--json"], OFFICER)).json()).to.include({
        deviceId: id,
        reason: "KEY_COMPROMISE",
      });
      fails(
        await dtl(["reinstate", id], OFFICER),
        `dtl: registry refused: DeviceRegistryDeviceRevoked(deviceId=${id})`,
      );
    });
  });

  describe("keys and configuration", function () {
    it("signs with an encrypted keystore and never prints the key", async function () {
      const file = path.join(tmp.dir, "officer.keystore.json");
      writeFileSync(
        file,
        encryptKeystoreJsonSync({ address: OFFICER.address, privateKey: OFFICER.privateKey }, "correct horse", {
          scrypt: { N: 1024 },
        }),
      );
      const dev = deviceIdFor(MAKER.address, "SN-0002");
      const r = ok(
        await dtl(["suspend", dev, "--json"], null, { DTL_KEYSTORE: file, DTL_KEYSTORE_PASSWORD: "correct horse" }),
      );
      expect(r.json()).to.include({ deviceId: dev, by: OFFICER.address });
      const [wrong, noPassword] = await Promise.all([
        dtl(["reinstate", dev], null, { DTL_KEYSTORE: file, DTL_KEYSTORE_PASSWORD: "wrong" }),
        dtl(["reinstate", dev], null, { DTL_KEYSTORE: file }),
      ]);
      fails(wrong, `dtl: DTL_KEYSTORE ${file}: wrong password`);
      fails(
        noPassword,
        "dtl: DTL_KEYSTORE is set but no password: set DTL_KEYSTORE_PASSWORD or run in a terminal to type it",
      );
      for (const out of [r.stdout, r.stderr, wrong.stderr]) {
        expect(out.toLowerCase()).not.to.include(OFFICER.privateKey.slice(2).toLowerCase());
        expect(out).not.to.include("correct horse");
      }
    });

    it("signs with hardhat's dev account #0 on the dev chain when no key is set, and says so", async function () {
      const r = await dtl(["grant", "officer", OFFICER.address]);
      expect(r.code).to.equal(0);
      expect(r.stderr).to.equal(
        `note: no DTL_PRIVATE_KEY or DTL_KEYSTORE set; using the public hardhat dev account #0 ${ADMIN.address} (local dev chain 31337 only)\n`,
      );
    });

    it("never falls back to a dev account on another chain", async function () {
      // a real node behind a proxy that says it is chain 1
      const proxy = await startJsonProxy(node.url, (req, answer) =>
        (req as { method?: string }).method === "eth_chainId" ? { ...(answer as object), result: "0x1" } : answer,
      );
      try {
        const file = path.join(tmp.dir, "chain-1.json");
        writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(deploymentFile, "utf8")), chainId: 1 }));
        const r = await dtl(["suspend", randomHex32()], null, { DTL_RPC_URL: proxy.url, DTL_DEPLOYMENT: file });
        fails(r, "dtl: no signing key: set DTL_PRIVATE_KEY or DTL_KEYSTORE (chain 1 is not the local dev chain)");
        expect(r.stderr).not.to.include("note:");
      } finally {
        await proxy.close();
      }
    });

    it("reports every bad setting at once, one line each, and never echoes a secret", async function () {
      const secret = "0xnot-a-key-but-secret";
      const r = await dtl(["suspend", randomHex32()], null, {
        DTL_RPC_URL: "ftp://x",
        DTL_PRIVATE_KEY: secret,
        DTL_KEYSTORE: "",
      });
      expect(r.code).to.equal(1);
      expect(r.stderr).to.equal(
        [
          "dtl: bad configuration:",
          '  DTL_RPC_URL: must be an http(s) URL (got "ftp://x")',
          "  DTL_PRIVATE_KEY: must be 32 bytes of hex (64 hex digits, 0x optional)",
          "",
        ].join("\n"),
      );
      const flag = await dtl(["suspend", randomHex32(), "--rpc", "http://127.0.0.1:1"], OFFICER);
      fails(flag, /^dtl: RPC eth_chainId to http:\/\/127\.0\.0\.1:1: /);
    });

    it("names unknown options and commands", async function () {
      const [opt, cmd, dev] = await Promise.all([
        dtl(["suspend", randomHex32(), "--force"]),
        dtl(["frobnicate"]),
        dtl(["device", "shred"]),
      ]);
      fails(opt, "dtl: suspend: unknown option --force (see dtl suspend --help)");
      fails(cmd, 'dtl: unknown command "frobnicate" (see dtl --help)');
      fails(dev, 'dtl: device: expected keygen, sign, id, connect-token or proof, got "shred"');
    });
  });
});
