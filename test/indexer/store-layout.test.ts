/**
 * The store writes through abstract-level's public batch() with each operation's sublevel doing
 * the prefixing and the value encoding. This pins the bytes on disk (schema version 3): one
 * sublevel per entity and per index, binary device / attestation / list / history values laid
 * out as codec.ts says, the tallies in `meta/counts`. Any change of layout must bump SCHEMA_VERSION; a
 * store of another version (a v1 store of the former indexer) is refused with a rebuild error.
 */
import { expect } from "chai";
import { ClassicLevel } from "classic-level";
import { StoreSchemaError } from "../../indexer";
import { SCHEMA_VERSION, SUBLEVELS, keys } from "../../indexer/store/schema";
import { openLevelStore } from "../../indexer/store/store";
import { createBase, createWriteSet } from "../../indexer/store/writeset";
import { withHistoryKey } from "../../indexer/store/codec";
import type { AttestationRecord, DeviceRecord, HistoryEntryRecord } from "../../indexer/types";
import { removeTempDirs, tempDir } from "../helpers/indexer-scenario";

const ID = "0x" + "ab".repeat(32);
const UID = "0x" + "cd".repeat(32);
const MANUFACTURER = "0x1111111111111111111111111111111111111111";
const OFFICER = "0x2222222222222222222222222222222222222222";
const h = (byte: string) => "0x" + byte.repeat(32);
const cursor = { block: 9, hash: h("09"), digest: h("d0"), undoFloor: 9, events: 0 };
const identity = { chainId: 31337, registry: MANUFACTURER, deployBlock: 10, deployBlockHash: h("0a") };

const device: DeviceRecord = {
  id: ID,
  manufacturer: MANUFACTURER,
  status: "REVOKED",
  keyAlgorithm: 2,
  keyHash: h("01"),
  firmwareHash: h("02"),
  segment: "plant-1/hvac",
  registeredAt: 1_700_000_000,
  registeredBlock: 10,
  eventCount: 3,
  historyHead: h("03"),
  updatedBlock: 12,
  revocation: { reason: 5, at: 1_700_000_100, by: OFFICER, blockNumber: 12, transactionHash: h("04") },
};
const attestation: AttestationRecord = {
  uid: UID,
  deviceId: ID,
  kind: "firmware",
  kindBytes32: "0x6669726d77617265" + "00".repeat(24),
  attester: OFFICER,
  evidenceHash: h("05"),
  issuedAt: 1_700_000_050,
  expiresAt: 0,
  revoked: false,
  blockNumber: 11,
  transactionHash: h("06"),
};

const entry: HistoryEntryRecord = {
  deviceId: ID,
  seq: 2,
  kind: "Attested",
  blockNumber: 11,
  blockHash: h("07"),
  transactionHash: h("06"),
  logIndex: 3,
  timestamp: 1_700_000_050,
  actor: OFFICER,
  fields: {
    deviceId: ID,
    uid: UID,
    kind: attestation.kindBytes32,
    attester: OFFICER,
    evidenceHash: h("05"),
    expiresAt: 1_800_000_000,
  },
  headAfter: h("08"),
};

/** Big-endian bytes of `n` in `width` bytes, as hex. */
const be = (n: number, width: number) => n.toString(16).padStart(width * 2, "0");
const hex = (s: string) => s.slice(2);

async function rawContent(dir: string): Promise<Record<string, string>> {
  const db = new ClassicLevel<string, Buffer>(dir, { keyEncoding: "utf8", valueEncoding: "buffer" });
  try {
    return Object.fromEntries((await db.iterator().all()).map(([k, v]) => [k, v.toString("hex")]));
  } finally {
    await db.close();
  }
}

const utf8 = (s: string) => Buffer.from(s).toString("hex");

describe("indexer: store layout on disk", function () {
  after(removeTempDirs);

  it("has one sublevel per entity and per index", function () {
    expect(SUBLEVELS).to.deep.equal([
      "meta",
      "dev",
      "att",
      "devAtt",
      "hist",
      "role",
      "byMfr",
      "byStatus",
      "bySegment",
      "byKind",
      "blk",
      "undo",
      "batch",
      "mfst",
      "mleaf",
      "mdev",
    ]);
  });

  it("writes `!<sublevel>!<key>` → the encodings schema version 3 and codec.ts describe", async function () {
    expect(SCHEMA_VERSION).to.equal(3);
    const dir = tempDir();
    const store = await openLevelStore(dir);
    await store.initialize(identity, cursor);
    const w = createWriteSet(createBase(), { recordUndo: false });
    w.put("dev", keys.id(ID), device);
    w.put("att", keys.id(UID), attestation);
    w.put("devAtt", keys.id(ID), [UID]);
    w.put("byMfr", keys.byMfr(MANUFACTURER, ID), "");
    w.put("byStatus", keys.byStatus("REVOKED", ID), "");
    w.put("hist", keys.hist(ID, 2), entry);
    const counts = [[MANUFACTURER, "REVOKED", "plant-1/hvac", 1, [[attestation.kindBytes32, 1]]]];
    w.put("meta", "counts", counts);
    const next = { ...cursor, block: 10, undoFloor: 10 };
    await store.commitRange({ w, cursor: next, blocks: new Map(), undo: new Map(), pruneBelow: 0 });
    // the records read back through the store (the cache was written through)
    expect(await store.getRecord("dev", keys.id(ID))).to.deep.equal(device);
    expect(store.state.cursor).to.deep.equal(next);
    await store.close();

    const raw = await rawContent(dir);
    const id = hex(ID);
    const segment = utf8("plant-1/hvac");
    expect(raw).to.deep.equal({
      "!meta!schema": utf8("3"),
      "!meta!identity": utf8(JSON.stringify(identity)),
      "!meta!cursor": utf8(JSON.stringify(next)),
      "!meta!counts": utf8(JSON.stringify(counts)),
      [`!blk!${keys.block(9)}`]: utf8(JSON.stringify({ hash: cursor.hash, digest: cursor.digest, events: 0 })),
      [`!dev!${id}`]: [
        id,
        hex(MANUFACTURER),
        "03", // REVOKED
        "02",
        hex(device.keyHash),
        hex(device.firmwareHash),
        hex(device.historyHead),
        be(device.registeredAt, 6),
        be(10, 6),
        be(12, 6),
        be(3, 4),
        "02", // flags: revoked
        be(12, 1) + segment,
        "05" + be(1_700_000_100, 6) + be(12, 6) + hex(OFFICER) + hex(h("04")),
      ].join(""),
      [`!att!${hex(UID)}`]: [
        hex(UID),
        id,
        hex(attestation.kindBytes32),
        hex(OFFICER),
        hex(attestation.evidenceHash),
        be(attestation.issuedAt, 6),
        be(0, 6),
        be(11, 6),
        hex(attestation.transactionHash),
        "00",
      ].join(""),
      [`!devAtt!${id}`]: hex(UID),
      [`!byMfr!${hex(MANUFACTURER)}${id}`]: "",
      [`!byStatus!3${id}`]: "",
      [`!hist!${id}00000002`]: [
        "07", // Attested
        be(11, 6),
        hex(h("07")),
        hex(h("06")),
        be(3, 4),
        be(1_700_000_050, 6),
        hex(OFFICER),
        hex(h("08")),
        hex(UID),
        hex(attestation.kindBytes32),
        hex(OFFICER),
        hex(h("05")),
        be(1_800_000_000, 5),
      ].join(""),
    });

    // reopened: read from disk (a new, empty cache), and deletes go through the same path
    const again = await openLevelStore(dir);
    expect(await again.getRecord("dev", keys.id(ID))).to.deep.equal(device);
    expect(await again.getRecord("att", keys.id(UID))).to.deep.equal(attestation);
    expect(await again.getRecord("devAtt", keys.id(ID))).to.deep.equal([UID]);
    // a history entry comes back whole once its key has said the device and seq
    const [key, value] = (await again.subs.hist.iterator().all())[0] as [string, HistoryEntryRecord];
    expect(withHistoryKey(value, key)).to.deep.equal(entry);
    const d = createWriteSet(createBase(), { recordUndo: false });
    d.del("byMfr", keys.byMfr(MANUFACTURER, ID));
    d.del("dev", keys.id(ID));
    await again.commitRange({
      w: d,
      cursor: { ...next, block: 11 },
      blocks: new Map(),
      undo: new Map(),
      pruneBelow: 0,
    });
    expect(await again.getRecord("dev", keys.id(ID))).to.equal(undefined);
    await again.close();
    const after = Object.keys(await rawContent(dir));
    expect(after).to.not.include(`!byMfr!${hex(MANUFACTURER)}${id}`);
    expect(after).to.not.include(`!dev!${id}`);
  });

  it("refuses a store of another schema version (a v1 store) with a rebuild error; allowWipe empties it", async function () {
    const dir = tempDir();
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: "utf8", valueEncoding: "utf8" });
    await db.put("!meta!schema", "1");
    await db.put("!idx!m" + hex(MANUFACTURER) + hex(ID), '""');
    await db.close();
    const err = await openLevelStore(dir).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(StoreSchemaError);
    expect((err as Error).message).to.equal(
      `the store ${dir} has schema version 1, this indexer writes version 3: rebuild it`,
    );
    const wiped = await openLevelStore(dir, { allowWipe: true });
    expect(wiped.state.cursor).to.equal(undefined);
    await wiped.close();
    expect(await rawContent(dir)).to.deep.equal({});
  });
});
