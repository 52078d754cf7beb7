// The SQLite store's layout: lookups by hash, tiles, and the migration of a
// database written by the first layout (keys in the entry rows, tiles in a
// WITHOUT ROWID table).

import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { encodeEntryBundle } from '../../src/core/tiles.js';
import { LedgerStore, lookupKey } from '../../storage/sqlite/store.js';
import { entryOf, leafOf, tempDbPaths } from '../helpers/store.js';

const dbPath = tempDbPaths('ledger-store-');

/** The first layout's tables, as that version created them. */
const LAYOUT_1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE entries (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL, ekey INTEGER NOT NULL, lkey INTEGER NOT NULL);
CREATE INDEX entries_ekey ON entries(ekey);
CREATE INDEX entries_lkey ON entries(lkey);
CREATE TABLE tiles (level INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE tree (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, frontier BLOB NOT NULL);
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL, created_at INTEGER NOT NULL, published_at INTEGER);
CREATE TABLE producers (keyid TEXT PRIMARY KEY, name TEXT NOT NULL, public_key BLOB NOT NULL, types TEXT NOT NULL, added_idx INTEGER NOT NULL, revoked_idx INTEGER);
CREATE INDEX producers_name ON producers(name);
CREATE TABLE anchors (size INTEGER PRIMARY KEY, receipt TEXT NOT NULL);
`;
const key48 = (h: Uint8Array) => h[0]! * 2 ** 40 + h[1]! * 2 ** 32 + ((h[2]! << 24) >>> 0) + (h[3]! << 16) + (h[4]! << 8) + h[5]!;

describe('LedgerStore', () => {
  it('finds entries by envelope digest and by leaf hash, confirming nothing itself', () => {
    const store = new LedgerStore(dbPath());
    store.write(() => store.appendInTx([0, 1, 2].map(entryOf)));
    expect(store.entriesByEnvelopeDigest(entryOf(1).digest)).toEqual([{ idx: 1, leaf: leafOf(1) }]);
    expect(store.indicesByLeafHash(entryOf(2).leafHash)).toEqual([2]);
    expect(store.indicesByLeafHash(entryOf(7).leafHash)).toEqual([]);
    // Two hashes that share the first 31 bits: both are candidates; the caller tells them apart.
    const twin = entryOf(1).leafHash.slice();
    twin[31] ^= 1;
    expect(lookupKey(twin)).toBe(lookupKey(entryOf(1).leafHash));
    store.write(() => store.appendInTx([{ leaf: leafOf(9), leafHash: twin, digest: entryOf(1).digest }]));
    expect(store.indicesByLeafHash(entryOf(1).leafHash)).toEqual([1, 3]);
    expect(store.entriesByEnvelopeDigest(entryOf(1).digest).map((e) => e.idx)).toEqual([1, 3]);
    store.close();
  });

  it('packs a tile of 256 entries into one bundle row and reads them back the same', () => {
    const store = new LedgerStore(dbPath());
    store.write(() => store.appendInTx(Array.from({ length: 600 }, (_, i) => entryOf(i))));
    const all = Array.from({ length: 600 }, (_, i) => leafOf(i));
    const leafBytes = all.reduce((n, l) => n + l.length, 0);
    expect(store.write(() => store.packBundleInTx(2))).toBe(false); // 88 entries: not complete
    expect(store.write(() => [store.packBundleInTx(0), store.packBundleInTx(1)])).toEqual([true, true]);
    expect(store.write(() => store.packBundleInTx(0))).toBe(false); // packed already
    expect(store.db.prepare('SELECT COUNT(*) FROM entries').pluck().get()).toBe(88);
    expect(store.getEntryBundle(1)).toEqual(encodeEntryBundle(all.slice(256, 512)));
    expect(store.getEntryBundle(2)).toBeUndefined();
    expect(store.entryCount()).toBe(600);
    expect(store.leafBytes()).toBe(leafBytes);
    for (const i of [0, 255, 256, 300, 511, 512, 599]) expect(store.getEntry(i)).toEqual(all[i]);
    expect(store.getEntry(600)).toBeUndefined();
    for (const [a, b] of [[0, 600], [10, 300], [255, 257], [500, 700], [600, 610], [256, 512]] as const) {
      expect(store.getEntries(a, b)).toEqual(all.slice(a, b));
    }
    expect(store.entriesByEnvelopeDigest(entryOf(300).digest)).toEqual([{ idx: 300, leaf: leafOf(300) }]);
    // With every row packed, the count and the next index come from the bundles.
    store.write(() => store.appendInTx(Array.from({ length: 168 }, (_, i) => entryOf(600 + i))));
    expect(store.write(() => store.packBundleInTx(2))).toBe(true);
    expect(store.db.prepare('SELECT COUNT(*) FROM entries').pluck().get()).toBe(0);
    expect(store.entryCount()).toBe(768);
    expect(store.write(() => store.appendInTx([entryOf(768)]))).toBe(768);
    expect(store.getEntries(760, 800)).toEqual(Array.from({ length: 9 }, (_, i) => leafOf(760 + i)));
    store.close();
  });

  it('keeps tiles by level and index', () => {
    const store = new LedgerStore(dbPath());
    const a = new Uint8Array(8192).fill(1);
    const b = new Uint8Array(64).fill(2);
    store.write(() => {
      store.putTileInTx(0, 0, a);
      store.putTileInTx(1, 0, b);
      store.putTileInTx(0, 2 ** 40, b);
    });
    expect(store.getTile(0, 0)).toEqual(a);
    expect(store.getTile(1, 0)).toEqual(b);
    expect(store.getTile(0, 2 ** 40)).toEqual(b);
    expect(store.getTile(0, 1)).toBeUndefined();
    expect(store.getMeta('schema')).toBe('3');
    store.close();
  });

  it('migrates a database of the first layout, keeping every entry, key and tile', () => {
    const path = dbPath();
    const old = new Database(path);
    old.pragma('journal_mode = WAL');
    old.exec(LAYOUT_1);
    const entries = Array.from({ length: 300 }, (_, i) => entryOf(i));
    const ins = old.prepare('INSERT INTO entries (idx, leaf, ekey, lkey) VALUES (?, ?, ?, ?)');
    entries.forEach((e, i) => ins.run(i, e.leaf, key48(e.digest), key48(e.leafHash)));
    const tile0 = new Uint8Array(8192).fill(7);
    const tile1 = new Uint8Array(32 * 44).fill(9);
    old.prepare('INSERT INTO tiles (level, idx, data) VALUES (?, ?, ?)').run(0, 0, tile0);
    old.prepare('INSERT INTO tiles (level, idx, data) VALUES (?, ?, ?)').run(0, 1, tile1);
    old.prepare("INSERT INTO meta (key, value) VALUES ('origin', 'example.com/log')").run();
    old.close();

    const store = new LedgerStore(path);
    expect(store.getMeta('schema')).toBe('3');
    expect(store.getMeta('origin')).toBe('example.com/log');
    expect(store.entryCount()).toBe(300);
    expect(store.getTile(0, 0)).toEqual(tile0);
    expect(store.getTile(0, 1)).toEqual(tile1);
    for (const i of [0, 150, 299]) {
      expect(store.entriesByEnvelopeDigest(entries[i]!.digest)).toEqual([{ idx: i, leaf: leafOf(i) }]);
      expect(store.indicesByLeafHash(entries[i]!.leafHash)).toEqual([i]);
    }
    const cols = (store.db.prepare('PRAGMA table_info(entries)').all() as { name: string }[]).map((c) => c.name);
    expect(cols).toEqual(['idx', 'leaf']);
    store.write(() => store.appendInTx([entryOf(300)]));
    expect(store.indicesByLeafHash(entryOf(300).leafHash)).toEqual([300]);
    store.close();
    // Opened again: nothing left to migrate.
    const again = new LedgerStore(path);
    expect(again.entryCount()).toBe(301);
    again.close();
  });

  it('migrates a database of the second layout: every key it holds counts as merged', () => {
    const path = dbPath();
    const store = new LedgerStore(path, { keyChunk: 4 });
    store.write(() => store.appendInTx(Array.from({ length: 10 }, (_, i) => entryOf(i))));
    store.close();
    // Turn it into what layout 2 wrote: every key in the key tables, no recent_keys.
    const db = new Database(path);
    db.exec(`
      INSERT INTO envelope_keys (k, idx) SELECT ek, idx FROM recent_keys;
      INSERT INTO leaf_keys (k, idx) SELECT lk, idx FROM recent_keys;
      DROP TABLE recent_keys;
      DELETE FROM meta WHERE key = 'keys_merged';
      UPDATE meta SET value = '2' WHERE key = 'schema';
    `);
    db.close();
    const again = new LedgerStore(path, { keyChunk: 4 });
    expect(again.getMeta('schema')).toBe('3');
    expect(again.keysMerged()).toBe(10);
    expect(again.unmergedKeys()).toBe(0);
    for (const i of [0, 9]) expect(again.indicesByLeafHash(entryOf(i).leafHash)).toEqual([i]);
    again.write(() => again.appendInTx([entryOf(10)]));
    expect(again.entriesByEnvelopeDigest(entryOf(10).digest)).toEqual([{ idx: 10, leaf: leafOf(10) }]);
    again.close();
  });

  it('refuses a layout newer than it knows, changing nothing', () => {
    const path = dbPath();
    new LedgerStore(path).close();
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = '4' WHERE key = 'schema'").run();
    db.close();
    expect(() => new LedgerStore(path)).toThrow(/layout 4/);
    const check = new Database(path);
    expect(check.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get()).toBe('4');
    check.close();
  });
});
