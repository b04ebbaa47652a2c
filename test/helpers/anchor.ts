/**
 * Anchored batches for the indexer and API tests: rows of a batch (ids derived from the serial
 * as the registry checks them), its tree (common/merkle.ts), its manifest (common/manifest.ts) and
 * the anchoring transaction, plus a real node:http server that serves manifests.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Contract } from "ethers";
import { deviceIdFor, encodeShortName } from "../../common/ids";
import { loadKeccak } from "../../common/keccak";
import { formatManifest, manifestHashOf, type ManifestRow } from "../../common/manifest";
import { loadAnchorMerkle, type AnchorTree } from "../../common/merkle";
import { registryInterface } from "../../common/abi";

export interface TestBatch {
  rows: ManifestRow[];
  tree: AnchorTree;
  manifest: Buffer;
  manifestHash: string;
  root: string;
}

/** `n` devices of `manufacturer` with serials `<label>/<i>`, keys and firmware derived from the label. */
export async function batchRows(
  manufacturer: string,
  n: number,
  label: string,
  segment = "line-7",
): Promise<ManifestRow[]> {
  const keccak = await loadKeccak();
  const seg = encodeShortName("segment", segment).toLowerCase();
  const rows: ManifestRow[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const serial = `${label}/${i}`;
    rows[i] = {
      serial,
      deviceId: deviceIdFor(manufacturer, serial),
      keyAlgorithm: 1 + (i % 3),
      keyHash: keccak(Buffer.from(`key/${serial}`)),
      firmwareHash: keccak(Buffer.from(`fw/${label}`)),
      segment: seg,
    };
  }
  return rows;
}

/** Builds the batch's tree and manifest. */
export async function buildBatch(rows: ManifestRow[]): Promise<TestBatch> {
  const tree = (await loadAnchorMerkle()).build(rows);
  const manifest = formatManifest(rows, tree.order);
  return { rows, tree, manifest, manifestHash: await manifestHashOf(manifest), root: tree.root };
}

/** Anchors `batch` with `registry` (connected to its manufacturer); returns the batch id and block. */
export async function anchor(
  registry: Contract,
  batch: TestBatch,
  manifestUri: string,
  opts: { manifestHash?: string; count?: number } = {},
): Promise<{ batchId: string; blockNumber: number }> {
  const tx = await registry.getFunction("anchorDevices")(
    batch.root,
    opts.count ?? batch.rows.length,
    opts.manifestHash ?? batch.manifestHash,
    manifestUri,
  );
  const receipt = await tx.wait();
  const ev = receipt.logs
    .map((l: { topics: string[]; data: string }) => registryInterface.parseLog(l))
    .find((p: { name: string } | null) => p?.name === "DevicesAnchored");
  return { batchId: (ev!.args.getValue("batchId") as string).toLowerCase(), blockNumber: receipt.blockNumber };
}

/** The `materializeDevice` arguments of row `i` (input order) of `batch`. */
export function materializeArgs(batchId: string, batch: TestBatch, i: number): unknown[] {
  const r = batch.rows[i]!;
  const leaf = {
    deviceId: r.deviceId,
    keyAlgorithm: r.keyAlgorithm,
    keyHash: r.keyHash,
    firmwareHash: r.firmwareHash,
    segment: r.segment,
  };
  return [batchId, r.serial, leaf, batch.tree.proof(i)];
}

/** Writes `bytes` as `name` in `dir`. */
export function writeManifest(dir: string, name: string, bytes: Uint8Array): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, name), bytes);
}

/** A real HTTP server on port 0 serving the files put into `files` (404 otherwise), counting requests. */
export async function startManifestServer(): Promise<{
  url: string;
  files: Map<string, Uint8Array>;
  requests: string[];
  stop(): Promise<void>;
}> {
  const files = new Map<string, Uint8Array>();
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    const body = files.get(req.url ?? "");
    if (!body) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": "application/x-ndjson", "content-length": body.byteLength }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    files,
    requests,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
