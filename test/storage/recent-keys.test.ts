// Lookup keys of new entries: held in memory (and in recent_keys, in index
// order), then merged into the key tables a chunk at a time. A lookup must find
// every entry whatever state its keys are in: not merged, half merged by a merge
// that was cut off, merged, or appended by another connection.

import { describe, expect, it } from 'vitest';
import { chunkSizeAt, GROWN_CHUNK, KEY_CHUNK, RecentKeys } from '../../storage/sqlite/recent-keys.js';
import { LedgerStore, lookupKey } from '../../storage/sqlite/store.js';
import { entryOf, leafOf, tempDbPaths } from '../helpers/store.js';

const dbPath = tempDbPaths('ledger-keys-');
const go = () => Promise.resolve(true);
const count = (store: LedgerStore, table: string) => store.db.prepare(`SELECT COUNT(*) FROM ${table}`).pluck().get() as number;

/** Every entry 0..n-1 is found by both its keys, and only there. */
function expectAllFound(store: LedgerStore, n: number): void {
  for (let i = 0; i < n; i++) {
    expect(store.indicesByLeafHash(entryOf(i).leafHash)).toEqual([i]);
    expect(store.entriesByEnvelopeDigest(entryOf(i).digest)).toEqual([{ idx: i, leaf: leafOf(i) }]);
  }
  expect(store.indicesByLeafHash(entryOf(n).leafHash)).toEqual([]);
}

describe('RecentKeys', () => {
  it('finds every index holding a key, across chunks and shared keys', () => {
    const r = new RecentKeys(100, 4);
    const keys = [7, 9, 7, 2 ** 31 - 1, 7, 12, 0, 9, 7, 5];
    keys.forEach((k, i) => r.add(100 + i, k, k ^ 1));
    expect(r.find('envelope', 7)).toEqual([100, 102, 104, 108]);
    expect(r.find('leaf', 7 ^ 1)).toEqual([100, 102, 104, 108]);
    expect(r.find('envelope', 2 ** 31 - 1)).toEqual([103]);
    expect(r.find('envelope', 8)).toEqual([]);
    expect(() => r.add(111, 1, 1)).toThrow(/expected index 110/);
    expect([r.start, r.end, r.length]).toEqual([100, 110, 10]);
    // Only complete chunks are offered for merging, sorted by key then index.
    const first = r.firstFull()!;
    expect([first.start, first.end]).toEqual([100, 104]);
    const sorted = first.sorted('envelope');
    expect([...sorted.keys].map((k, i) => [k, sorted.indices[i]])).toEqual([[7, 100], [7, 102], [9, 101], [2 ** 31 - 1, 103]]);
    r.dropBefore(104);
    expect(r.find('envelope', 7)).toEqual([104, 108]);
    r.dropBefore(109); // the chunk 108..111 is not complete: kept
    expect([r.start, r.length]).toEqual([108, 2]);
    expect(r.firstFull()).toBeUndefined();
  });
});

describe('chunk sizes', () => {
  it('start at the minimum and double while a chunk is at most 1/32 of the entries before it, up to GROWN_CHUNK', () => {
    expect([0, 127, 128, 255, 256, 511, 512].map((start) => chunkSizeAt(start, 4))).toEqual([4, 4, 8, 8, 16, 16, 32]);
    // The default stays 65,536 up to 2,097,152 entries (the benchmark's 1,000,000 included).
    expect([1_000_000, 2_097_151, 2_097_152, 16_000_000].map((start) => chunkSizeAt(start, KEY_CHUNK))).toEqual([65536, 65536, 131072, 524288]);
    expect([2 ** 25, 2 ** 30].map((start) => chunkSizeAt(start, KEY_CHUNK))).toEqual([GROWN_CHUNK, GROWN_CHUNK]);
    expect(chunkSizeAt(2 ** 30, 1_500_000)).toBe(1_500_000); // a configured size above the cap is kept
    // Below the cap, a grown chunk is between 1/32 and 1/16 of the entries before it.
    for (let start = 0; start < 40_000; start += 37) {
      const s = chunkSizeAt(start, 3);
      if (s > 3) expect(start / s).toBeGreaterThanOrEqual(16);
      expect(start / s).toBeLessThan(32);
    }
  });

  it('are cut by RecentKeys from its base as the rule says, and dropped once merged past', () => {
    const r = new RecentKeys(100, 4);
    for (let i = 100; i < 700; i++) r.add(i, i * 7919, i * 104729);
    const cuts: [number, number][] = [];
    for (let c = r.firstFull(); c; c = r.firstFull()) {
      cuts.push([c.start, c.end - c.start]);
      r.dropBefore(c.end);
    }
    expect(cuts.length).toBeGreaterThan(10);
    let at = 100;
    for (const [start, size] of cuts) {
      expect([start, size]).toEqual([at, chunkSizeAt(at, 4)]);
      at += size;
    }
    expect(new Set(cuts.map(([, size]) => size))).toEqual(new Set([4, 8, 16, 32])); // it grew
    expect(at + r.length).toBe(700); // the incomplete last chunk is kept
    expect(r.find('envelope', 699 * 7919)).toEqual([699]);
  });
});

describe('LedgerStore lookup keys', () => {
  it('finds entries before, during and after a merge, and the merge empties recent_keys', async () => {
    const store = new LedgerStore(dbPath(), { keyChunk: 16 });
    store.write(() => store.appendInTx(Array.from({ length: 40 }, (_, i) => entryOf(i))));
    expect([store.keysMerged(), store.unmergedKeys(), count(store, 'envelope_keys')]).toEqual([0, 40, 0]);
    expectAllFound(store, 40);
    // Slices of 5 rows: every lookup between slices still finds everything.
    let pauses = 0;
    const checking = async () => {
      pauses++;
      expectAllFound(store, 40);
      return true;
    };
    expect(await store.mergeRecentKeys(checking, 5)).toBe(true);
    expect(pauses).toBe(8); // 16 keys of each kind, 4 slices each
    expect([store.keysMerged(), store.unmergedKeys(), count(store, 'envelope_keys'), count(store, 'leaf_keys'), count(store, 'recent_keys')]).toEqual([16, 24, 16, 16, 24]);
    expect(await store.mergeRecentKeys(go)).toBe(true);
    expect(await store.mergeRecentKeys(go)).toBe(false); // 32..39 is not a whole chunk
    expect([store.keysMerged(), store.unmergedKeys(), count(store, 'recent_keys')]).toEqual([32, 8, 8]);
    expectAllFound(store, 40);
    // Keys in the tables come out in key order: the merge inserted them sorted.
    const ks = store.db.prepare('SELECT k FROM leaf_keys').pluck().all() as number[];
    expect(ks).toEqual(Array.from({ length: 32 }, (_, i) => lookupKey(entryOf(i).leafHash)).sort((a, b) => a - b));
    store.close();
  });

  it('rebuilds the in-memory keys on open, and finishes a merge that was cut off', async () => {
    const path = dbPath();
    const store = new LedgerStore(path, { keyChunk: 16 });
    store.write(() => store.appendInTx(Array.from({ length: 20 }, (_, i) => entryOf(i))));
    // Stop after the first slice: part of the chunk is in the key tables, keys_merged has not moved.
    let slices = 0;
    expect(await store.mergeRecentKeys(async () => ++slices < 2, 4)).toBe(false);
    expect([store.keysMerged(), count(store, 'envelope_keys')]).toEqual([0, 8]);
    store.close();

    const again = new LedgerStore(path, { keyChunk: 16 });
    expect(again.unmergedKeys()).toBe(20);
    expectAllFound(again, 20); // found once each, though some are in both places
    expect(await again.mergeRecentKeys(go)).toBe(true);
    expect([again.keysMerged(), count(again, 'envelope_keys'), count(again, 'recent_keys')]).toEqual([16, 16, 4]);
    expectAllFound(again, 20);
    again.close();
  });

  it('sees entries that another connection appended and merged', async () => {
    const path = dbPath();
    const a = new LedgerStore(path, { keyChunk: 8 });
    const b = new LedgerStore(path, { keyChunk: 8 });
    a.write(() => a.appendInTx(Array.from({ length: 5 }, (_, i) => entryOf(i))));
    expectAllFound(b, 5);
    b.write(() => b.appendInTx(Array.from({ length: 15 }, (_, i) => entryOf(5 + i))));
    expectAllFound(a, 20);
    // b merges both chunks; a, holding all of them in memory, drops what was merged.
    expect(await b.mergeRecentKeys(go)).toBe(true);
    expect(await b.mergeRecentKeys(go)).toBe(true);
    expect(a.unmergedKeys()).toBe(4);
    expectAllFound(a, 20);
    a.write(() => a.appendInTx([entryOf(20)]));
    expectAllFound(b, 21);
    a.close();
    b.close();
  });

  it('does not take rows of a transaction that rolls back', () => {
    const store = new LedgerStore(dbPath(), { keyChunk: 8 });
    store.write(() => store.appendInTx([entryOf(0)]));
    expect(() =>
      store.write(() => {
        store.appendInTx([entryOf(1), entryOf(2)]);
        expect(store.indicesByLeafHash(entryOf(1).leafHash)).toEqual([]); // not read back inside the transaction
        throw new Error('roll back');
      }),
    ).toThrow('roll back');
    expect(store.indicesByLeafHash(entryOf(1).leafHash)).toEqual([]);
    // The indices the rolled-back rows had are given to the next entries, which are found.
    store.write(() => store.appendInTx([entryOf(7), entryOf(8)]));
    expect(store.indicesByLeafHash(entryOf(7).leafHash)).toEqual([1]);
    expect(store.indicesByLeafHash(entryOf(8).leafHash)).toEqual([2]);
    store.close();
  });

  it('merges chunks that grow with the log and still finds every entry', async () => {
    const store = new LedgerStore(dbPath(), { keyChunk: 2 });
    const n = 300;
    store.write(() => store.appendInTx(Array.from({ length: n }, (_, i) => entryOf(i))));
    const marks: number[] = [];
    while (await store.mergeRecentKeys(go)) marks.push(store.keysMerged());
    // Each merge moved the chunk the rule cuts at the last mark: 2s up to 64, 4s up to 128, 8s up to 256, then 16s.
    let at = 0;
    for (const m of marks) {
      expect(m - at).toBe(chunkSizeAt(at, 2));
      at = m;
    }
    expect(marks.slice(-3)).toEqual([256, 272, 288]);
    expect([store.unmergedKeys(), count(store, 'envelope_keys'), count(store, 'recent_keys')]).toEqual([n - 288, 288, n - 288]);
    expectAllFound(store, n);
    store.close();
  });
});
