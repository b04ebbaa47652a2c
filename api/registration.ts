/**
 * Anchored registrations (DESIGN §10) on the API side: a device's `registration` (its kind, batch
 * and the inclusion proof computed from the batch's loaded manifest) and the check of a proof a
 * device presents itself (`verifyDevice(registration:)`), so a device is verifiable where its
 * manifest never arrived. The Merkle code is common/merkle.ts (held against
 * @openzeppelin/merkle-tree in test/common/merkle.test.ts).
 */
import { LRUCache } from "lru-cache";
import { keyAlgorithmOfEnum } from "../common/codes";
import { encodeShortName } from "../common/ids";
import { loadDeviceIdOf } from "../common/manifest";
import { loadAnchorMerkle, type AnchorLeaf, type AnchorTree } from "../common/merkle";
import { anchoredDevice } from "../indexer/store/reader";
import type { AnchoredLeafRecord, BatchView, DeviceRecord, StoreReader } from "../indexer/types";
import { badInput } from "./errors";

/** The GraphQL RegistrationProofInput. */
export interface RegistrationProofArg {
  batchId: string;
  serial: string;
  keyAlgorithm: string;
  keyHash: string;
  firmwareHash: string;
  segment: string;
  proof: string[];
}

/** Most proof steps accepted: a tree of 2^64 leaves is deeper than any batch (count is a uint32). */
export const MAX_PROOF_STEPS = 64;

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** The leaf's segment word: a bytes32 as given, else a short name packed (input of the field `field`). */
export function segmentWord(field: string, segment: string): string {
  if (BYTES32.test(segment)) return segment.toLowerCase();
  try {
    return encodeShortName("segment", segment).toLowerCase();
  } catch (err) {
    throw badInput(field, (err as Error).message);
  }
}

export type RegistrationCheck =
  /** The proof holds: the device as the proof describes it (its batch's manufacturer, status ACTIVE). */
  { valid: true; device: DeviceRecord; batch: BatchView } | { valid: false; why: string };

/** Checks a device's own registration proof against the anchored batch it names. */
export async function checkRegistrationProof(
  store: StoreReader,
  deviceId: string,
  arg: RegistrationProofArg,
): Promise<RegistrationCheck> {
  if (arg.proof.length > MAX_PROOF_STEPS)
    throw badInput("registration.proof", `at most ${MAX_PROOF_STEPS} steps, got ${arg.proof.length}`);
  if (arg.serial.length === 0) throw badInput("registration.serial", "must not be empty");
  const keyAlgorithm = keyAlgorithmOfEnum(arg.keyAlgorithm);
  if (keyAlgorithm === undefined) throw badInput("registration.keyAlgorithm", `unknown algorithm ${arg.keyAlgorithm}`);
  const segment = segmentWord("registration.segment", arg.segment);
  const batch = await store.getBatch(arg.batchId);
  if (!batch) return { valid: false, why: `no batch ${arg.batchId} is anchored` };
  // keccak256(abi.encode(manufacturer, serial)) as common/ids.ts deviceIdFor, ~500× faster here
  const deviceIdOf = await loadDeviceIdOf();
  if (deviceIdOf(batch.manufacturer, arg.serial) !== deviceId.toLowerCase())
    return { valid: false, why: `the id is not keccak256(abi.encode(${batch.manufacturer}, serial))` };
  const leaf: AnchorLeaf = {
    deviceId: deviceId.toLowerCase(),
    keyAlgorithm,
    keyHash: arg.keyHash.toLowerCase(),
    firmwareHash: arg.firmwareHash.toLowerCase(),
    segment,
  };
  const merkle = await loadAnchorMerkle();
  if (merkle.processProof(leaf, arg.proof) !== batch.root)
    return { valid: false, why: "the proof does not lead to the batch's root" };
  const row: AnchoredLeafRecord = { ...leaf, batchId: batch.id, index: -1, serial: arg.serial };
  const device = anchoredDevice(row, batch);
  return { valid: true, device: batch.revocation ? { ...device, batchRevoked: true } : device, batch };
}

/**
 * Trees of loaded manifests, rebuilt from the store's rows on first use and kept in a small LRU
 * (a tree is 64 bytes a leaf: ~96 MB with its leaf hashes for 1,000,000 devices, so only two).
 * A device's row and serial come from its manifest claim (`mdev`), not from the cache.
 */
export function createTreeCache(store: StoreReader, max = 2) {
  const trees = new LRUCache<string, AnchorTree>({ max });
  const building = new Map<string, Promise<AnchorTree | undefined>>();
  async function build(batchId: string): Promise<AnchorTree | undefined> {
    const leaves = await store.getManifestLeaves(batchId);
    if (!leaves) return undefined;
    const tree = (await loadAnchorMerkle()).build(leaves);
    trees.set(batchId, tree);
    return tree;
  }
  return {
    /** The proof and serial of `deviceId` in batch `batchId`; undefined unless its manifest is LOADED. */
    async proofOf(batchId: string, deviceId: string): Promise<{ proof: string[]; serial: string } | undefined> {
      const key = batchId.toLowerCase();
      const claim = (await store.getAnchoredClaims(deviceId)).find((c) => c.batchId === key);
      if (!claim) return undefined;
      let tree = trees.get(key);
      if (!tree) {
        let p = building.get(key);
        if (!p) {
          p = build(key).finally(() => building.delete(key));
          building.set(key, p);
        }
        tree = await p;
      }
      // rows are listed in tree order: the row number is the leaf's index in the rebuilt tree
      if (!tree || claim.index >= tree.count) return undefined;
      return { proof: tree.proof(claim.index), serial: claim.serial };
    },
    /** Forgets a batch's tree (its manifest or the batch changed). */
    forget(batchId: string): void {
      trees.delete(batchId.toLowerCase());
    },
  };
}
export type TreeCache = ReturnType<typeof createTreeCache>;
