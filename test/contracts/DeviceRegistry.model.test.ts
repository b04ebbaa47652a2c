/**
 * Randomized model test: seeded sequences of every state-changing operation (anchored batches and
 * multicalls of materialize + an action included), by random actors on a small pool of device ids
 * (some of them devices of anchored batches), run against the registry and against the
 * TypeScript model (test/helpers/contracts-model.ts). Each step must revert with exactly the error
 * the model predicts, or emit exactly the predicted events; after each step every device's status,
 * key algorithm and event count match the model, and historyHead(id) equals the head recomputed by
 * common/history.ts from the device's events decoded from the receipts; at the end every batch's
 * word matches the model.
 *
 * The base seed is printed once (test/helpers/seed.ts); run k uses base + k, named in every failure
 * message. Replay with DTL_TEST_SEED=<base>, or one run alone with DTL_TEST_SEED=<seed> MODEL_RUNS=1.
 */
import { expect } from "chai";
import hre from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionResponse } from "ethers";
import { registryInterface } from "../../common/abi";
import { computeHistoryHead, nextHistoryHead, GENESIS_HEAD } from "../../common/history";
import { batchIdFor, loadAnchorMerkle, type AnchorTree } from "../../common/merkle";
import { MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE } from "../../common/roles";
import {
  FAR_EXPIRY,
  KIND_FIRMWARE,
  KIND_IEC62443,
  MANIFEST_HASH,
  MANIFEST_URI,
  SEGMENT,
  anchoredDevice,
  deployRegistryFixture,
  deviceEvents,
  leafOf,
  testHash,
  type AnchoredDevice,
  type DeviceEvent,
} from "../helpers/contracts-fixture";
import { prng, testSeed } from "../helpers/seed";
import { createRegistryModel, type AttestationRequest, type Op, type Registration } from "../helpers/contracts-model";

/** Under solidity-coverage (instrumented, ~4× slower) fewer runs: coverage needs breadth, not depth. */
const UNDER_COVERAGE = (hre as { __SOLIDITY_COVERAGE_RUNNING?: boolean }).__SOLIDITY_COVERAGE_RUNNING === true;
const RUNS = Number(process.env.MODEL_RUNS ?? (UNDER_COVERAGE ? 6 : 25));
const STEPS = Number(process.env.MODEL_STEPS ?? 40);

const ZERO = "0x" + "00".repeat(32);
const GAS = { gasLimit: 5_000_000 };

/** Seeded choices, so every run is reproducible from its seed. */
function rng(seed: number) {
  const next = prng(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => next() < p;
  return { int, pick, chance };
}

async function fixture() {
  return deployRegistryFixture();
}

describe("DeviceRegistry randomized model", function () {
  this.timeout(480_000); // 25 runs took 2–3 min on the shared 2-core machine under load

  it(`agrees with the TypeScript model over ${RUNS} runs × ${STEPS} steps`, async function () {
    const base = testSeed();
    for (let run = 0; run < RUNS; run++) {
      await runOnce((base + run) >>> 0);
    }
  });
});

async function runOnce(seed: number): Promise<void> {
  const f = await loadFixture(fixture); // reverts to the deployed registry: runs are isolated
  const r = rng(seed);
  const actors: HardhatEthersSigner[] = [
    f.admin,
    f.manufacturer,
    f.manufacturer2,
    f.attester,
    f.attester2,
    f.officer,
    f.stranger,
  ];
  const merkle = await loadAnchorMerkle();
  const model = createRegistryModel(
    f.admin.address,
    [
      [f.roles.manufacturer, f.manufacturer.address],
      [f.roles.manufacturer, f.manufacturer2.address],
      [f.roles.firmware, f.attester.address],
      [f.roles.iec62443, f.attester2.address],
      [f.roles.officer, f.officer.address],
    ],
    (leaf, proof) => merkle.processProof(leaf, proof),
  );
  // Anchored batches: three devices of each manufacturer, and a batch of manufacturer2 that lists
  // manufacturer's devices (their ids are not manufacturer2's: never materialized under it).
  const makers = [f.manufacturer, f.manufacturer2];
  const anchoredOf = (m: HardhatEthersSigner, k: number) =>
    Array.from({ length: 3 }, (_, i) =>
      anchoredDevice(m.address, `model/${seed}/m${k}/${i}`, {
        keyAlgorithm: r.chance(0.1) ? r.pick([0, 7]) : 1 + r.int(6),
        keyHash: r.chance(0.05) ? ZERO : testHash(`model/${seed}/m${k}/key/${i}`),
      }),
    );
  const [own1, own2] = [anchoredOf(f.manufacturer, 1), anchoredOf(f.manufacturer2, 2)];
  const sets: { owner: HardhatEthersSigner; devices: AnchoredDevice[]; tree: AnchorTree }[] = [
    { owner: f.manufacturer, devices: own1 },
    { owner: f.manufacturer2, devices: own2 },
    { owner: f.manufacturer2, devices: own1 },
  ].map((x) => ({ ...x, tree: merkle.build(x.devices) }));
  const ids = [
    ...Array.from({ length: 8 }, (_, i) => testHash(`model/${seed}/device/${i}`)),
    ...[...own1, ...own2].map((d) => d.deviceId),
  ];
  /** Device events decoded from the receipts, per device: the auditor's view. */
  const history = new Map<string, DeviceEvent[]>(ids.map((id) => [id, []]));
  const roleIds = [MANUFACTURER_ROLE, SECURITY_OFFICER_ROLE, f.roles.firmware, f.roles.iec62443];

  // Mostly valid values, sometimes the edge each check exists for.
  // a live device (registered, not revoked) most of the time, so that most steps can succeed
  const liveIds = () => ids.filter((id) => (model.devices.get(id)?.status ?? 3) !== 3);
  const anyId = () => {
    if (r.chance(0.03)) return ZERO;
    const live = liveIds();
    return live.length && r.chance(0.7) ? r.pick(live) : r.pick(ids);
  };
  const freshId = () => {
    const unregistered = ids.filter((id) => !model.devices.has(id));
    return unregistered.length && r.chance(0.8) ? r.pick(unregistered) : anyId();
  };
  const alg = () => (r.chance(0.08) ? r.pick([0, 7, 200]) : 1 + r.int(6));
  const keyHash = (tag: string) => (r.chance(0.05) ? ZERO : testHash(`key/${seed}/${tag}`));
  const reason = () => (r.chance(0.08) ? 9 : r.int(9));
  const kind = () => (r.chance(0.05) ? ZERO : r.pick([KIND_FIRMWARE, KIND_IEC62443]));
  const registration = (tag: string): Registration => ({
    deviceId: freshId(),
    keyAlgorithm: alg(),
    keyHash: keyHash(tag),
    firmwareHash: testHash(`fw/${tag}`),
    segment: r.chance(0.5) ? SEGMENT : ZERO,
  });
  const request = (tag: string): AttestationRequest => ({
    deviceId: anyId(),
    kind: kind(),
    evidenceHash: testHash(`evidence/${tag}`),
    expiresAt: r.pick([0, FAR_EXPIRY, FAR_EXPIRY, 1]),
  });
  const someUid = (deviceId: string) => {
    const known = model.uidsOf(deviceId);
    return known.length && !r.chance(0.1) ? r.pick(known) : testHash(`uid/${r.int(1000)}`);
  };
  const batchOf = <T>(make: (i: number) => T) =>
    Array.from({ length: r.chance(0.05) ? 0 : 1 + r.int(4) }, (_, i) => make(i));

  function nextOp(step: number): Op {
    const tag = `${step}`;
    // the caller: usually someone for whom the operation makes sense, sometimes anyone
    const by = (preferred: HardhatEthersSigner[]) => (r.chance(0.75) ? r.pick(preferred) : r.pick(actors)).address;
    // for an operation on a device: usually its own manufacturer
    const owner = (deviceId: string, others: HardhatEthersSigner[]) =>
      model.devices.get(deviceId) && r.chance(0.6) ? model.devices.get(deviceId)!.manufacturer : by(others);
    const managers = [f.manufacturer, f.manufacturer2, f.officer];
    const attesters = [f.attester, f.attester2];
    // every run opens with the three batch functions called empty (by a random caller: the role
    // check of registerDevices comes before the emptiness check, the others have none)…
    if (step === 0) return { type: "registerDevices", by: by(makers), regs: [] };
    if (step === 1) return { type: "revokeDevices", by: by(managers), deviceIds: [], reason: reason() };
    if (step === 2) return { type: "attestDevices", by: by(attesters), reqs: [] };
    // few live devices: register more, or most operations can only fail
    // a materialization of device i of a random set: mostly right, sometimes the wrong batch, serial or proof
    const materializeOp = (): Extract<Op, { type: "materializeDevice" }> => {
      const set = r.pick(sets);
      const i = r.int(set.devices.length);
      const d = set.devices[i]!;
      return {
        type: "materializeDevice",
        by: r.pick(actors).address,
        batchId: batchIdFor((r.chance(0.85) ? set.owner : r.pick(makers)).address, set.tree.root),
        serial: r.chance(0.05) ? `${d.serial}/x` : d.serial,
        reg: leafOf(d),
        proof: set.tree.proof(r.chance(0.07) ? (i + 1) % set.devices.length : i),
      };
    };
    const anchorOp = (set: (typeof sets)[number], root = set.tree.root, count = set.devices.length): Op => ({
      type: "anchorDevices",
      by: set.owner.address,
      root,
      count,
    });
    // then each manufacturer anchors its own batch, so that materializations can succeed
    if (step === 3 || step === 4) return anchorOp(sets[step - 3]!);
    const registerFirst = liveIds().length < 3 && r.chance(0.6);
    switch (registerFirst ? r.int(3) : r.int(20)) {
      case 0:
      case 1:
        return { type: "registerDevice", by: by(makers), reg: registration(tag) };
      case 2:
        return { type: "registerDevices", by: by(makers), regs: batchOf((i) => registration(`${tag}/${i}`)) };
      case 3: {
        const deviceId = anyId();
        return { type: "updateFirmware", by: owner(deviceId, makers), deviceId, firmwareHash: testHash(`fw/${tag}`) };
      }
      case 4: {
        const deviceId = anyId();
        return { type: "rotateKey", by: owner(deviceId, makers), deviceId, keyAlgorithm: alg(), keyHash: keyHash(tag) };
      }
      case 5: {
        const deviceId = anyId();
        // often the officer: its suspensions are the ones the manufacturer may not lift
        const suspender = r.chance(0.35) ? f.officer.address : owner(deviceId, managers);
        return { type: "suspendDevice", by: suspender, deviceId, reason: reason() };
      }
      case 6: {
        // reinstate what is suspended, mostly
        const suspended = ids.filter((id) => model.devices.get(id)?.status === 2);
        const deviceId = suspended.length && r.chance(0.7) ? r.pick(suspended) : anyId();
        return { type: "reinstateDevice", by: owner(deviceId, managers), deviceId };
      }
      case 7: {
        const deviceId = anyId();
        return { type: "revokeDevice", by: owner(deviceId, managers), deviceId, reason: reason() };
      }
      case 8:
        return { type: "revokeDevices", by: by(managers), deviceIds: batchOf(() => anyId()), reason: reason() };
      case 9:
      case 10:
      case 14: {
        // usually an attester with its own kind
        const attester = r.pick(attesters);
        const req = request(tag);
        if (req.kind !== ZERO && r.chance(0.75)) req.kind = attester === f.attester ? KIND_FIRMWARE : KIND_IEC62443;
        return { type: "attest", by: r.chance(0.85) ? attester.address : by(attesters), req };
      }
      case 11:
        return { type: "attestDevices", by: by(attesters), reqs: batchOf((i) => request(`${tag}/${i}`)) };
      case 12: {
        const deviceId = r.pick(ids);
        return {
          type: "revokeAttestation",
          by: by([...attesters, f.officer]),
          deviceId,
          uid: someUid(deviceId),
          reason: reason(),
        };
      }
      case 15: {
        const set = r.pick(sets);
        const op = anchorOp(set, r.chance(0.04) ? ZERO : set.tree.root, r.chance(0.04) ? 0 : set.devices.length);
        return { ...op, by: r.chance(0.8) ? op.by : by(makers) };
      }
      case 16:
      case 17:
        return materializeOp();
      case 18: {
        const known = [...model.batches.keys()];
        const batchId = known.length && r.chance(0.9) ? r.pick(known) : testHash(`batch/${r.int(1000)}`);
        return { type: "revokeBatch", by: by(managers), batchId, reason: reason() };
      }
      case 19: {
        // materialize and act in one transaction, as the CLI does for an anchored device
        const m = materializeOp();
        const id = m.reg.deviceId;
        const then: Op = r.pick<Op>([
          { type: "revokeDevice", by: "", deviceId: id, reason: reason() },
          { type: "suspendDevice", by: "", deviceId: id, reason: reason() },
          { type: "rotateKey", by: "", deviceId: id, keyAlgorithm: alg(), keyHash: keyHash(tag) },
          { type: "attest", by: "", req: { ...request(tag), deviceId: id, kind: KIND_FIRMWARE } },
        ]);
        const caller = (then.type === "attest" ? r.pick(attesters) : r.pick(managers)).address;
        return {
          type: "multicall",
          by: caller,
          calls: [
            { ...m, by: caller },
            { ...then, by: caller },
          ],
        };
      }
      default: {
        const account = r.pick(actors.slice(1)).address;
        return { type: r.chance(0.5) ? "grantRole" : "revokeRole", by: by([f.admin]), role: r.pick(roleIds), account };
      }
    }
  }

  /** The registry function and arguments of `op`. */
  function callOf(op: Op): [string, unknown[]] {
    switch (op.type) {
      case "registerDevice": {
        const x = op.reg;
        return [op.type, [x.deviceId, x.keyAlgorithm, x.keyHash, x.firmwareHash, x.segment]];
      }
      case "registerDevices":
        return [op.type, [op.regs]];
      case "updateFirmware":
        return [op.type, [op.deviceId, op.firmwareHash]];
      case "rotateKey":
        return [op.type, [op.deviceId, op.keyAlgorithm, op.keyHash]];
      case "suspendDevice":
      case "revokeDevice":
        return [op.type, [op.deviceId, op.reason]];
      case "reinstateDevice":
        return [op.type, [op.deviceId]];
      case "revokeDevices":
        return [op.type, [op.deviceIds, op.reason]];
      case "attest":
        return [op.type, [op.req.deviceId, op.req.kind, op.req.evidenceHash, op.req.expiresAt]];
      case "attestDevices":
        return [op.type, [op.reqs]];
      case "revokeAttestation":
        return [op.type, [op.deviceId, op.uid, op.reason]];
      case "grantRole":
      case "revokeRole":
        return [op.type, [op.role, op.account]];
      case "anchorDevices":
        return [op.type, [op.root, op.count, MANIFEST_HASH, MANIFEST_URI]];
      case "materializeDevice":
        return [op.type, [op.batchId, op.serial, op.reg, op.proof]];
      case "revokeBatch":
        return [op.type, [op.batchId, op.reason]];
      case "multicall":
        return [op.type, [op.calls.map((c) => registryInterface.encodeFunctionData(...callOf(c)))]];
    }
  }

  function send(op: Op): Promise<ContractTransactionResponse> {
    const signer = actors.find((a) => a.address === op.by)!;
    const [fn, args] = callOf(op);
    return f.registry.connect(signer).getFunction(fn)(...args, GAS) as Promise<ContractTransactionResponse>;
  }

  let ok = 0;
  let now = await time.latest();
  for (let step = 0; step < STEPS; step++) {
    const op = nextOp(step);
    const where = `seed ${seed} step ${step} ${JSON.stringify(op)}`;
    now += 1; // later than any block so far, mined or not
    await time.setNextBlockTimestamp(now); // the block the call lands in: ExpiryInPast names it
    const outcome = model.apply(op, now);
    if (process.env.MODEL_TRACE)
      console.log(step, op.type, op.by.slice(0, 6), outcome.type === "revert" ? outcome.error : "ok");
    if (outcome.type === "revert") {
      await expect(send(op), where)
        .to.be.revertedWithCustomError(f.registry, outcome.error)
        .withArgs(...outcome.args);
    } else {
      ok++;
      const receipt = (await (await send(op)).wait())!;
      const emitted = deviceEvents(receipt);
      expect(
        emitted.map((e) => e.name),
        where,
      ).to.deep.equal(outcome.events.map((e) => e.name));
      for (const [i, e] of emitted.entries()) {
        const past = history.get(e.deviceId) ?? [];
        // the event's fields are the predicted ones: the head chained over them must be the emitted head
        const prev = past.length ? past[past.length - 1]!.head : GENESIS_HEAD;
        expect(e.head, `${where} event ${i}`).to.equal(
          nextHistoryHead(prev, outcome.events[i]!.name, outcome.events[i]!.fields),
        );
        history.set(e.deviceId, [...past, e]);
      }
    }
    const onChain = await Promise.all(
      ids.map((id) => Promise.all([f.registry.getDevice(id), f.registry.historyHead(id)])),
    );
    for (const [k, id] of ids.entries()) {
      const [d, [head, eventCount]] = onChain[k]!;
      const m = model.devices.get(id);
      expect(
        [Number(d.status), Number(d.keyAlgorithm), Number(d.eventCount), d.manufacturer],
        `${where}: device ${id}`,
      ).to.deep.equal(
        m
          ? [m.status, m.keyAlgorithm, m.eventCount, m.manufacturer]
          : [0, 0, 0, "0x0000000000000000000000000000000000000000"],
      );
      expect(Number(eventCount), `${where}: eventCount ${id}`).to.equal(history.get(id)!.length);
      expect(head, `${where}: historyHead ${id}`).to.equal(computeHistoryHead(history.get(id)!));
    }
  }
  // every batch the model knows, as storage holds it
  for (const [batchId, b] of model.batches) {
    const onChain = await f.registry.getBatch(batchId);
    expect([onChain.manufacturer, onChain.revoked], `seed ${seed}: batch ${batchId}`).to.deep.equal([
      b.manufacturer,
      b.revoked,
    ]);
  }
  // every attestation the model knows, as storage holds it
  for (const [key, a] of model.attestations) {
    const [deviceId, uid] = key.split("/") as [string, string];
    const onChain = await f.registry.getAttestation(deviceId, uid);
    expect([onChain.attester, onChain.revoked], `seed ${seed}: attestation ${uid}`).to.deep.equal([
      a.attester,
      a.revoked,
    ]);
  }
  // a run where almost everything reverts would test little: insist on real progress
  expect(ok, `seed ${seed}: successful steps`).to.be.at.least(Math.floor(STEPS / 5));
}
