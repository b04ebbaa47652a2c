/**
 * Crash safety of the manifest loader: a real indexer process is SIGKILLed while it indexes a
 * 100,000-device manifest (after a few of its chunks are committed) and restarted; the restart
 * resumes at the manifest's persisted cursor (its first chunk is not the manifest's first) and
 * ends with exactly the store of an uninterrupted run: records, indexes, manifest rows, claims,
 * manifest state, cursor and digest.
 */
import { expect } from "chai";
import { anchor, batchRows, buildBatch, writeManifest } from "../helpers/anchor";
import { startHardhatNode, type NodeHandle } from "../helpers/chain";
import { deployFleetRegistry } from "../helpers/fleet";
import { buildIndexer, spawnIndexer, writeDeploymentFile } from "../helpers/indexer-process";
import { dumpStore, removeTempDirs, tempDir } from "../helpers/indexer-scenario";

const DEVICES = 100_000;

describe("indexer: SIGKILL while a 100,000-device manifest is indexed", function () {
  this.timeout(300_000);
  let node: NodeHandle;
  let env: Record<string, string>;
  let batchId: string;

  before(async function () {
    buildIndexer();
    node = await startHardhatNode();
    const { deployment, actors } = await deployFleetRegistry(node.url);
    const batch = await buildBatch(await batchRows(actors.addresses.manufacturer, DEVICES, "crash-line"));
    const manifestDir = tempDir("dtl-manifests-");
    writeManifest(manifestDir, "line.jsonl", batch.manifest);
    ({ batchId } = await anchor(actors.registry.manufacturer, batch, "file:line.jsonl"));
    const dir = tempDir();
    env = {
      DTL_RPC_URL: node.url,
      DTL_DEPLOYMENT: writeDeploymentFile(dir, deployment),
      DTL_MANIFEST_DIR: manifestDir,
      DTL_LOG_LEVEL: "debug",
    };
  });

  after(async function () {
    await node?.stop();
    removeTempDirs();
  });

  const loaded = (l: Record<string, unknown>) => l.msg === "manifest loaded" && l.batch_id === batchId;
  const chunk = (l: Record<string, unknown>) => l.msg === "manifest chunk indexed" && l.batch_id === batchId;

  async function uninterrupted(dataDir: string) {
    const p = spawnIndexer({ ...env, DTL_DATA_DIR: dataDir });
    await p.waitFor(loaded, 120_000);
    await p.kill("SIGTERM");
    return dumpStore(dataDir);
  }

  it("restarts at the manifest's cursor and ends with the store of an uninterrupted run", async function () {
    const reference = await uninterrupted(tempDir());
    const dataDir = tempDir();
    const first = spawnIndexer({ ...env, DTL_DATA_DIR: dataDir });
    const at = await first.waitFor((l) => chunk(l) && (l.indexed as number) >= 30_000, 120_000);
    await first.kill("SIGKILL");
    expect(first.lines.some(loaded), "killed after the manifest was loaded: no crash in the middle").to.equal(false);
    const second = spawnIndexer({ ...env, DTL_DATA_DIR: dataDir });
    const resumed = await second.waitFor(chunk, 120_000);
    // resumed from the persisted cursor, not from the first row
    expect(resumed.indexed as number).to.be.greaterThan(at.indexed as number);
    await second.waitFor(loaded, 120_000);
    await second.kill("SIGTERM");
    const after = await dumpStore(dataDir);
    expect(after.cursor).to.deep.equal(reference.cursor);
    const rows = reference.content.filter(([k]) => k.startsWith("mleaf/")).length;
    expect(rows).to.equal(DEVICES);
    expect(after.content.length).to.equal(reference.content.length);
    // 300,000 entries: chai's deep equality takes minutes here; the first difference is as clear
    const differs = after.content.findIndex(
      ([k, v], i) => k !== reference.content[i]![0] || v !== reference.content[i]![1],
    );
    expect(differs === -1 ? null : [after.content[differs], reference.content[differs]]).to.equal(null);
  });
});
