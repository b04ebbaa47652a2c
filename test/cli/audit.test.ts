/**
 * End to end: `dtl audit` against a real `dtl serve` over a real chain, and behind a tampering
 * proxy that rewrites ONE field of the device records (or verdicts) the API serves — the lie a
 * gateway would act on. Each case must exit 4 and name exactly that difference: device, field,
 * the block the API's answer reflects and the block of the chain's last change to the field.
 */
import { expect } from "chai";
import path from "node:path";
import type { Deployment } from "../../common/deployment";
import { MANUFACTURER_ROLE } from "../../common/roles";
import { writeDeployment } from "../../scripts/deploy";
import { startHardhatNode, type NodeHandle } from "../helpers/chain";
import { startJsonProxy, type Proxy } from "../helpers/cli-proxy";
import { ensureBuilt, runDtl, startServe, tempDir, waitIndexed, type RunningServe } from "../helpers/cli-run";
import { deployFleetRegistry, randomHash, testHash, writeFleet, type FleetActors } from "../helpers/fleet";

interface Problem {
  deviceId?: string;
  block: number;
  seq?: number;
  field?: string;
  atBlock?: number;
  source: string;
  message: string;
}
interface AuditJson {
  consistent: boolean;
  block: number;
  devices: number;
  problems: Problem[];
}
interface Node {
  id: string;
  [field: string]: unknown;
}
interface Entry {
  kind: string;
  blockNumber: number;
  fields: Record<string, string | number>;
}

describe("dtl audit: every field of the device records and verdicts", function () {
  let node: NodeHandle;
  let tmp: ReturnType<typeof tempDir>;
  let deployment: Deployment;
  let deploymentFile: string;
  let actors: FleetActors;
  let api: RunningServe;
  let proxy: Proxy | undefined;
  /** Devices by what the cases need, with the history the honest API reports. */
  const dev: Record<string, { id: string; history: Entry[] }> = {};
  let atBlock: number;
  let roleRevokedAt: number;

  const graphql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const res = await fetch(api.apiUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    return ((await res.json()) as { data: T }).data;
  };
  const history = async (id: string): Promise<Entry[]> =>
    (
      await graphql<{ device: { history: { edges: { node: Entry }[] } } }>(
        "query($id: Bytes32!) { device(id: $id) { history(first: 500) { edges { node { kind blockNumber fields } } } } }",
        { id },
      )
    ).device.history.edges.map((e) => e.node);
  const lastBlock = (h: Entry[], kind: string) => h.filter((e) => e.kind === kind).pop()!.blockNumber;
  const audit = (apiUrl: string, json = true) =>
    runDtl(["audit", ...(json ? ["--json"] : [])], {
      env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile, DTL_API_URL: apiUrl },
      cwd: tmp.dir,
    });

  before(async function () {
    ensureBuilt();
    tmp = tempDir();
    node = await startHardhatNode();
    ({ deployment, actors } = await deployFleetRegistry(node.url));
    deploymentFile = writeDeployment(deployment, path.join(tmp.dir, "deployment.json"));
    // 20 devices of two manufacturers: attested (with and without expiry), suspended, revoked
    const fleet = await writeFleet(actors, { devices: 20, suspendedFraction: 0.1, revokedFraction: 0.1 });
    const reg = actors.registry;
    const [rotated, attested, attRevoked] = [fleet.deviceIds[4]!, fleet.attested[0]!, fleet.attested[1]!];
    await (await reg.manufacturer.getFunction("rotateKey")(rotated, 3, testHash("rotated/key"))).wait();
    await (await reg.manufacturer.getFunction("updateFirmware")(rotated, testHash("fw/new"))).wait();
    await (await reg.officer.getFunction("reinstateDevice")(fleet.suspended[0]!)).wait();
    const logs = await actors.provider.getLogs({
      address: deployment.registry,
      fromBlock: 0,
      topics: [reg.attester.interface.getEvent("Attested")!.topicHash, attRevoked],
    });
    await (await reg.attester.getFunction("revokeAttestation")(attRevoked, logs[0]!.topics[2]!, 4)).wait();
    // manufacturer2 loses its role: the default policy must say MANUFACTURER_NOT_TRUSTED for its devices
    const revoke = await (
      await reg.admin.getFunction("revokeRole")(MANUFACTURER_ROLE, actors.addresses.manufacturer2)
    ).wait();
    roleRevokedAt = revoke!.blockNumber;

    api = await startServe(path.join(tmp.dir, "index"), {
      env: { DTL_RPC_URL: node.url, DTL_DEPLOYMENT: deploymentFile, DTL_LOG_LEVEL: "warn" },
      cwd: tmp.dir,
    });
    await waitIndexed(api.apiUrl, node.url);
    atBlock = Number(await node.rpc<string>("eth_blockNumber"));
    const pick = async (name: string, id: string) => (dev[name] = { id, history: await history(id) });
    await pick("revoked", fleet.revoked[0]!); // a manufacturer2 device (the last ones are revoked)
    await pick("plain", fleet.deviceIds[2]!);
    await pick("rotated", rotated);
    await pick("attested", attested);
    await pick("attRevoked", attRevoked);
    await pick("untrustedMaker", fleet.deviceIds[12]!);
  });
  after(async function () {
    await proxy?.close();
    await api?.serve.stop();
    await node?.stop();
    tmp?.cleanup();
  });
  afterEach(async function () {
    await proxy?.close();
    proxy = undefined;
  });

  it("finds the honest API consistent (exit 0), roles and expiries included", async function () {
    const r = await audit(api.apiUrl);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const rep = r.json<AuditJson>();
    expect(rep).to.deep.include({ consistent: true, block: atBlock, devices: 20, problems: [] });
    // what the honest run agreed with is not trivial: a device of the manufacturer without its role
    const [v] = (
      await graphql<{ verifyDevices: { trusted: boolean; reasons: string[] }[] }>(
        "query($ids: [Bytes32!]!) { verifyDevices(ids: $ids) { trusted reasons } }",
        { ids: [dev.untrustedMaker!.id] },
      )
    ).verifyDevices;
    expect(v).to.deep.equal({ trusted: false, reasons: ["MANUFACTURER_NOT_TRUSTED"] });
  });

  /** Rewrites the record of `id` in every device page the API answers. */
  const tamperRecord = (id: string, change: (node: Node) => void) => (_req: unknown, answer: unknown) => {
    const edges = (answer as { data?: { devices?: { edges: { node: Node }[] } } }).data?.devices?.edges;
    for (const e of edges ?? []) if (e.node.id === id) change(e.node);
    return answer;
  };
  const tamperVerdict =
    (id: string, change: (v: { trusted: boolean; reasons: string[] }) => void) => (_req: unknown, answer: unknown) => {
      const vs = (answer as { data?: { verifyDevices?: { deviceId: string; trusted: boolean; reasons: string[] }[] } })
        .data?.verifyDevices;
      for (const v of vs ?? []) if (v.deviceId === id) change(v);
      return answer;
    };

  /** The audit exits 4 and names exactly one difference, at the block the API's answer reflects. */
  const expectOneProblem = (
    r: Awaited<ReturnType<typeof audit>>,
    deviceId: string,
    block: number,
    field: string,
    message: string,
  ) => {
    expect(r.code, r.stdout + r.stderr).to.equal(4);
    expect(r.json<AuditJson>().problems).to.deep.equal([{ deviceId, block, field, atBlock, source: "api", message }]);
  };

  /** Each case rewrites one field of one device's record: [api, chain] are the values the audit names. */
  const fake = randomHash();
  const recordCases: { title: string; device: string; field: string; event: string; values: () => [string, string] }[] =
    [
      {
        title: "status (REVOKED → ACTIVE)",
        device: "revoked",
        field: "status",
        event: "DEVICE_REVOKED",
        values: () => ["ACTIVE", "REVOKED"],
      },
      {
        title: "revocation reason",
        device: "revoked",
        field: "revocation.reason",
        event: "DEVICE_REVOKED",
        values: () => ["KEY_COMPROMISE", "DECOMMISSIONED"],
      },
      {
        title: "manufacturer",
        device: "plain",
        field: "manufacturer",
        event: "DEVICE_REGISTERED",
        values: () => [actors.addresses.officer, actors.addresses.manufacturer],
      },
      {
        title: "key algorithm",
        device: "rotated",
        field: "keyAlgorithm",
        event: "KEY_ROTATED",
        values: () => ["P256", "ED25519"],
      },
      {
        title: "key hash",
        device: "rotated",
        field: "keyHash",
        event: "KEY_ROTATED",
        values: () => [fake, testHash("rotated/key")],
      },
      {
        title: "firmware hash",
        device: "rotated",
        field: "firmwareHash",
        event: "FIRMWARE_UPDATED",
        values: () => [fake, testHash("fw/new")],
      },
      {
        title: "segment",
        device: "plain",
        field: "segment",
        event: "DEVICE_REGISTERED",
        values: () => ["plant-9/vault", "plant-1/hvac"],
      },
    ];
  for (const c of recordCases) {
    it(`names a rewritten ${c.title}`, async function () {
      const d = dev[c.device]!;
      const [apiValue, chainValue] = c.values();
      const path = c.field.split(".");
      proxy = await startJsonProxy(
        api.apiUrl,
        tamperRecord(d.id, (n) => {
          let o = n as Record<string, unknown>;
          for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
          o[path[path.length - 1]!] = apiValue;
        }),
      );
      const block = lastBlock(d.history, c.event);
      expectOneProblem(
        await audit(proxy.url),
        d.id,
        block,
        c.field,
        `${c.field}: the API says ${apiValue}, the chain says ${chainValue} (the API's answer reflects block ${atBlock}, the chain's last change to it is at block ${block})`,
      );
    });
  }
  it("names a rewritten attestation expiry and a hidden attestation revocation", async function () {
    for (const [device, key, value, chain, kind] of [
      ["attested", "expiresAt", "2099-01-01T00:00:00.000Z", new Date(4_000_000_000 * 1000).toISOString(), "ATTESTED"],
      ["attRevoked", "revoked", false, true, "ATTESTATION_REVOKED"],
    ] as const) {
      const d = dev[device]!;
      const uid = String(d.history.find((e) => e.kind === "ATTESTED")!.fields.uid);
      proxy = await startJsonProxy(
        api.apiUrl,
        tamperRecord(d.id, (n) => {
          const a = (n.attestations as Record<string, unknown>[]).find((x) => x.uid === uid)!;
          a[key] = value;
        }),
      );
      const r = await audit(proxy.url);
      await proxy.close();
      proxy = undefined;
      const block = lastBlock(d.history, kind);
      const field = `attestations[${uid}].${key}`;
      expectOneProblem(
        r,
        d.id,
        block,
        field,
        `${field}: the API says ${String(value)}, the chain says ${String(chain)} (the API's answer reflects block ${atBlock}, the chain's last change to it is at block ${block})`,
      );
    }
  });

  for (const [what, change, field, api_, chain] of [
    ["trusted flag", (v: { trusted: boolean }) => (v.trusted = true), "verdict.trusted", "true", "false"],
    [
      "reasons",
      (v: { reasons: string[] }) => (v.reasons = ["SUSPENDED"]),
      "verdict.reasons",
      '["SUSPENDED"]',
      '["REVOKED","MANUFACTURER_NOT_TRUSTED"]',
    ],
  ] as const) {
    it(`names a rewritten verdict ${what}`, async function () {
      const d = dev.revoked!;
      proxy = await startJsonProxy(
        api.apiUrl,
        tamperVerdict(d.id, change as (v: { trusted: boolean; reasons: string[] }) => void),
      );
      // the verdict's last cause: manufacturer2 lost its role after the device was revoked
      const block = Math.max(lastBlock(d.history, "DEVICE_REVOKED"), roleRevokedAt);
      expectOneProblem(
        await audit(proxy.url),
        d.id,
        block,
        field,
        `${field}: the API says ${api_}, the default policy on the chain's record gives ${chain} (the API's answer reflects block ${atBlock})`,
      );
    });
  }

  it("prints each difference for people, then INCONSISTENT", async function () {
    const d = dev.revoked!;
    proxy = await startJsonProxy(
      api.apiUrl,
      tamperRecord(d.id, (n) => (n.status = "ACTIVE")),
    );
    const r = await audit(proxy.url, false);
    expect(r.code).to.equal(4);
    const block = lastBlock(d.history, "DEVICE_REVOKED");
    expect(r.stdout).to.include(
      `  ✗ device ${d.id} block ${block} field status [api]: status: the API says ACTIVE, the chain says REVOKED (the API's answer reflects block ${atBlock}, the chain's last change to it is at block ${block})\n`,
    );
    expect(r.stdout.trimEnd().split("\n").pop()).to.equal("INCONSISTENT: 1 difference");
  });
});
