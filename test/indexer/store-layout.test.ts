/**
 * The store writes through abstract-level's public batch() with each operation's sublevel doing
 * the prefixing and the value encoding. This pins the bytes on disk (schema version 1): a store
 * written by an older indexer must read back unchanged, so any change of layout must bump
 * SCHEMA_VERSION (and is then refused with a rebuild error).
 */
import { expect } from "chai";
import { ClassicLevel } from "classic-level";
import { StoreSchemaError } from "../../indexer";
import { SCHEMA_VERSION, keys } from "../../indexer/store/schema";
import { openLevelStore } from "../../indexer/store/store";
import { createWriteSet } from "../../indexer/store/writeset";
import { removeTempDirs, tempDir } from "../helpers/indexer-scenario";

const ID = "0x" + "ab".repeat(32);
const MANUFACTURER = "0x" + "11".repeat(20);
const cursor = { block: 9, hash: "0x" + "09".repeat(32), digest: "0x" + "d0".repeat(32), undoFloor: 9, events: 0 };
const identity = { chainId: 31337, registry: MANUFACTURER, deployBlock: 10, deployBlockHash: "0x" + "0a".repeat(32) };

async function rawContent(dir: string): Promise<Record<string, string>> {
  const db = new ClassicLevel<string, string>(dir, { keyEncoding: "utf8", valueEncoding: "utf8" });
  try {
    return Object.fromEntries(await db.iterator().all());
  } finally {
    await db.close();
  }
}

describe("indexer: store layout on disk", function () {
  after(removeTempDirs);

  it("writes `!<sublevel>!<key>` → JSON text, as schema version 1 says", async function () {
    expect(SCHEMA_VERSION).to.equal(1);
    const dir = tempDir();
    const store = await openLevelStore(dir);
    await store.initialize(identity, cursor);
    const w = createWriteSet(store.state, { recordUndo: false });
    const device = { id: ID, manufacturer: MANUFACTURER, status: "ACTIVE", eventCount: 1 };
    w.put("dev", keys.id(ID), device);
    w.put("idx", keys.byManufacturer(MANUFACTURER, ID), "");
    w.put("hist", keys.hist(ID, 1), [1, 10, "0x01"]);
    const next = { ...cursor, block: 10, undoFloor: 10 };
    await store.commitRange({ w, cursor: next, blocks: new Map(), undo: new Map(), pruneBelow: 0 });
    // memory follows the commit
    expect(store.state.devices.get(ID)).to.deep.equal(device);
    expect(store.state.cursor).to.deep.equal(next);
    await store.close();

    const raw = await rawContent(dir);
    const id = ID.slice(2);
    expect(raw).to.deep.equal({
      "!meta!schema": "1",
      "!meta!identity": JSON.stringify(identity),
      "!meta!cursor": JSON.stringify(next),
      [`!blk!${keys.block(9)}`]: JSON.stringify({ hash: cursor.hash, digest: cursor.digest, events: 0 }),
      [`!dev!${id}`]: JSON.stringify(device),
      [`!idx!m${MANUFACTURER.slice(2)}${id}`]: '""',
      [`!hist!${id}00000001`]: JSON.stringify([1, 10, "0x01"]),
    });

    // and deletes go through the same path
    const again = await openLevelStore(dir);
    expect(again.state.devices.get(ID)).to.deep.equal(device);
    const d = createWriteSet(again.state, { recordUndo: false });
    d.del("idx", keys.byManufacturer(MANUFACTURER, ID));
    await again.commitRange({
      w: d,
      cursor: { ...next, block: 11 },
      blocks: new Map(),
      undo: new Map(),
      pruneBelow: 0,
    });
    await again.close();
    expect(Object.keys(await rawContent(dir))).to.not.include(`!idx!m${MANUFACTURER.slice(2)}${id}`);
  });

  it("refuses a store of another schema version with a rebuild error", async function () {
    const dir = tempDir();
    const db = new ClassicLevel<string, string>(dir, { keyEncoding: "utf8", valueEncoding: "utf8" });
    await db.put("!meta!schema", String(SCHEMA_VERSION + 1));
    await db.close();
    const err = await openLevelStore(dir).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(StoreSchemaError);
    expect((err as Error).message).to.match(/schema version 2, this indexer writes version 1: rebuild it/);
    const wiped = await openLevelStore(dir, { allowWipe: true });
    expect(wiped.state.cursor).to.equal(undefined);
    await wiped.close();
  });
});
