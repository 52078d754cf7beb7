import { describe, expect, it } from 'vitest';
import { equal, toHex, utf8 } from '../../src/core/bytes.js';
import { cryptoProvider, setCryptoProvider } from '../../src/core/crypto.js';
import {
  CompactRange,
  HASH_SIZE,
  consistencyProof,
  consistencyProofPlan,
  hashLeaf,
  inclusionProof,
  inclusionProofPlan,
  rootOfLeafHashes,
  treeHash,
  verifyConsistency,
  verifyInclusion,
  type HashReader,
  type NodeId,
} from '../../src/core/merkle.js';
import {
  TILE_HEIGHT,
  TILE_WIDTH,
  TileError,
  TileHashCache,
  decodeEntryBundle,
  encodeEntryBundle,
  entriesPath,
  formatIndexPath,
  iterateTiles,
  nodeHashFromTile,
  parseTilePath,
  storedTileReader,
  tileForNode,
  tilePath,
  tilesAfterAppend,
  tilesForSize,
  tilesNeeded,
  verifiedTileReader,
  type TileId,
} from '../../src/core/tiles.js';
import { useNodeCrypto } from '../../src/platform/node-crypto.js';
import { rng } from '../helpers/prng.js';

// Many hashes below: the node:crypto provider (test/core/crypto.test.ts shows it agrees with the default).
useNodeCrypto();

function expectTileError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof TileError && e.code === code) return;
    throw new Error(`expected TileError ${code}, got ${String(e)}${e instanceof TileError ? ` (${e.code})` : ''}`);
  }
  throw new Error(`expected TileError ${code}, nothing was thrown`);
}

const key = (t: { level: number; index: number }) => `${t.level}/${t.index}`;

/** Tiles of a tree, keeping for each (level, index) the widest version seen; serves any smaller tree by prefix. */
class TileStore {
  readonly tiles = new Map<string, Uint8Array>();
  put(tile: TileId, data: Uint8Array): void {
    const old = this.tiles.get(key(tile));
    if (old && !equal(data.subarray(0, old.length), old)) throw new Error(`tile ${tilePath(tile)} changed`); // tiles only grow at the end
    if (!old || old.length < data.length) this.tiles.set(key(tile), data);
  }
  get = (t: TileId): Uint8Array => {
    const d = this.tiles.get(key(t));
    if (!d || d.length < t.width * HASH_SIZE) throw new Error(`no tile ${tilePath(t)}`);
    return d.subarray(0, t.width * HASH_SIZE);
  };
}

function tilesOf(leafHashes: Uint8Array[]): TileStore {
  const s = new TileStore();
  for (const { tile, data } of tilesAfterAppend(0, leafHashes.length, s.get, leafHashes)) s.put(tile, data);
  return s;
}

// One tree of 70,000 leaves, leaf i being the decimal string of i (spec/tiles.md vectors):
// tiles at levels 0, 1 and 2, as in the tlog-tiles example.
const N = 70_000;
const CHECK_SIZES = [1, 2, 3, 255, 256, 257, 511, 512, 513, 4096, 65535, 65536, 65537, 69999, N];
const leaves: Uint8Array[] = [];
const nodes = new Map<string, Uint8Array>();
const roots = new Map<number, Uint8Array>();
{
  const range = new CompactRange();
  for (let i = 0; i < N; i++) {
    const h = hashLeaf(utf8(String(i)));
    leaves.push(h);
    for (const { id, hash } of range.append(h)) nodes.set(key(id), hash);
    if (CHECK_SIZES.includes(i + 1)) roots.set(i + 1, range.root());
  }
}
const memoryRead: HashReader = (ids) => ids.map((id) => nodes.get(key(id))!);
const store = tilesOf(leaves);

// ---------------------------------------------------------------------------

describe('paths (tlog-tiles)', () => {
  it('encodes indices in 3-digit elements', () => {
    expect(formatIndexPath(1234067)).toBe('x001/x234/067');
    expect(formatIndexPath(5)).toBe('005');
    expect(formatIndexPath(0)).toBe('000');
    expect(formatIndexPath(999)).toBe('999');
    expect(formatIndexPath(1000)).toBe('x001/000');
    expect(formatIndexPath(1000000)).toBe('x001/x000/000');
    expect(formatIndexPath(Number.MAX_SAFE_INTEGER)).toBe('x009/x007/x199/x254/x740/991');
    expectTileError(() => formatIndexPath(-1), 'bad-tile-index');
    expectTileError(() => formatIndexPath(1.5), 'bad-tile-index');
  });
  it('names hash tiles and entry bundles', () => {
    expect(tilePath({ level: 0, index: 1234067, width: 256 })).toBe('tile/0/x001/x234/067');
    expect(tilePath({ level: 0, index: 1234067, width: 17 })).toBe('tile/0/x001/x234/067.p/17');
    expect(tilePath({ level: 2, index: 0, width: 1 })).toBe('tile/2/000.p/1');
    expect(tilePath({ level: 63, index: 0, width: 255 })).toBe('tile/63/000.p/255');
    expect(entriesPath(1234067, 256)).toBe('tile/entries/x001/x234/067');
    expect(entriesPath(273, 112)).toBe('tile/entries/273.p/112');
    expectTileError(() => tilePath({ level: 0, index: 0, width: 0 }), 'bad-tile-width');
    expectTileError(() => tilePath({ level: 0, index: 0, width: 257 }), 'bad-tile-width');
    expectTileError(() => tilePath({ level: 64, index: 0, width: 1 }), 'bad-tile-level');
    expectTileError(() => entriesPath(-1, 1), 'bad-tile-index');
  });
  it('parses exactly the canonical paths back', () => {
    expect(parseTilePath('tile/0/x001/x234/067')).toEqual({ kind: 'hash', tile: { level: 0, index: 1234067, width: 256 } });
    expect(parseTilePath('tile/1/x001/x234/067.p/17')).toEqual({ kind: 'hash', tile: { level: 1, index: 1234067, width: 17 } });
    expect(parseTilePath('tile/entries/273.p/112')).toEqual({ kind: 'entries', index: 273, width: 112 });
    expect(parseTilePath('tile/entries/000')).toEqual({ kind: 'entries', index: 0, width: 256 });
    expect(parseTilePath('tile/63/000.p/255')).toEqual({ kind: 'hash', tile: { level: 63, index: 0, width: 255 } });
    const rand = rng(3);
    for (let k = 0; k < 2000; k++) {
      const t = { level: rand(64), index: [rand(1000), rand(1e6), rand(2 ** 31) * 4096 + rand(4096)][k % 3]!, width: 1 + rand(256) };
      expect(parseTilePath(tilePath(t))).toEqual({ kind: 'hash', tile: t });
      expect(parseTilePath(entriesPath(t.index, t.width))).toEqual({ kind: 'entries', index: t.index, width: t.width });
    }
  });
  it.each([
    ['', 'bad-tile-path'],
    ['/tile/0/000', 'bad-tile-path'],
    ['tiles/0/000', 'bad-tile-path'],
    ['tile/0', 'bad-tile-path'],
    ['tile/00/000', 'bad-tile-level'],
    ['tile/01/000', 'bad-tile-level'],
    ['tile/64/000', 'bad-tile-level'],
    ['tile/-1/000', 'bad-tile-level'],
    ['tile/+1/000', 'bad-tile-level'],
    ['tile/1e1/000', 'bad-tile-level'],
    ['tile/data/000', 'bad-tile-level'],
    ['tile/ 0/000', 'bad-tile-level'],
    ['tile/0/5', 'bad-tile-index'],
    ['tile/0/0005', 'bad-tile-index'],
    ['tile/0/x005', 'bad-tile-index'],
    ['tile/0/001/005', 'bad-tile-index'],
    ['tile/0/x000/005', 'bad-tile-index'],
    ['tile/entries/x000/x001/005', 'bad-tile-index'],
    ['tile/0/X001/005', 'bad-tile-index'],
    ['tile/0/x001//005', 'bad-tile-index'],
    ['tile/0/../005', 'bad-tile-index'],
    ['tile/0/./005', 'bad-tile-index'],
    ['tile/0/005/', 'bad-tile-index'],
    ['tile/0/00a', 'bad-tile-index'],
    ['tile/0/+05', 'bad-tile-index'],
    ['tile/0/005.p', 'bad-tile-index'],
    ['tile/0/005.P/5', 'bad-tile-index'],
    ['tile/0/x009/x007/x199/x254/x740/992', 'bad-tile-index'],
    ['tile/0/x999/x999/x999/x999/x999/x999/999', 'bad-tile-index'],
    ['tile/0/005.p/0', 'bad-tile-width'],
    ['tile/0/005.p/256', 'bad-tile-width'],
    ['tile/0/005.p/017', 'bad-tile-width'],
    ['tile/0/005.p/-1', 'bad-tile-width'],
    ['tile/0/005.p/', 'bad-tile-width'],
    ['tile/0/005.p/1/', 'bad-tile-index'],
    ['tile/entries/005.p/300', 'bad-tile-width'],
  ])('refuses %j', (path, code) => {
    expectTileError(() => parseTilePath(path), code);
  });
});

describe('the tiles of a tree', () => {
  it('are the full tiles and one partial tile per level (the tlog-tiles examples)', () => {
    const t70k = tilesForSize(70_000);
    const count = (level: number, width: number) => t70k.filter((t) => t.level === level && t.width === width).length;
    expect(count(0, 256)).toBe(273);
    expect(t70k.filter((t) => t.level === 0 && t.width < 256)).toEqual([{ level: 0, index: 273, width: 112 }]);
    expect(count(1, 256)).toBe(1);
    expect(t70k.filter((t) => t.level === 1 && t.width < 256)).toEqual([{ level: 1, index: 1, width: 17 }]);
    expect(t70k.filter((t) => t.level === 2)).toEqual([{ level: 2, index: 0, width: 1 }]);
    expect(t70k.length).toBe(273 + 1 + 1 + 1 + 1);
    expect(tilesForSize(256)).toEqual([
      { level: 0, index: 0, width: 256 },
      { level: 1, index: 0, width: 1 },
    ]);
    expect(tilesForSize(0)).toEqual([]);
    expect(tilesForSize(5)).toEqual([{ level: 0, index: 0, width: 5 }]);
    // The generator walks huge trees lazily.
    const it = iterateTiles(2 ** 53 - 1);
    expect(it.next().value).toEqual({ level: 0, index: 0, width: 256 });
    expectTileError(() => tilesForSize(-1), 'bad-tile-index');
  });

  it('hold every node where tileForNode says', () => {
    expect(tileForNode({ level: 0, index: 300 }, N)).toEqual({ level: 0, index: 1, width: 256 });
    expect(tileForNode({ level: 4, index: 273 * 16 }, N)).toEqual({ level: 0, index: 273, width: 112 });
    expect(tileForNode({ level: 7, index: 3 }, N)).toEqual({ level: 0, index: 1, width: 256 });
    expect(tileForNode({ level: 8, index: 272 }, N)).toEqual({ level: 1, index: 1, width: 17 });
    expect(tileForNode({ level: 12, index: 16 }, N)).toEqual({ level: 1, index: 1, width: 17 });
    expect(tileForNode({ level: 16, index: 0 }, N)).toEqual({ level: 2, index: 0, width: 1 });
    expectTileError(() => tileForNode({ level: 0, index: N }, N), 'node-out-of-range');
    expectTileError(() => tileForNode({ level: 16, index: 0 }, 65535), 'node-out-of-range');
    expectTileError(() => tileForNode({ level: -1, index: 0 }, N), 'bad-node');
    // Every complete subtree of the 70,000 tree, computed from its tile.
    const rand = rng(5);
    let checked = 0;
    for (const [k, hash] of nodes) {
      const [level, index] = k.split('/').map(Number) as [number, number];
      if (level < TILE_HEIGHT && rand(50) !== 0) continue; // every node of level 8 and up, 1 in 50 below
      const id = { level, index };
      checked++;
      const t = tileForNode(id, N);
      if (!equal(nodeHashFromTile(t, store.get(t), id), hash)) throw new Error(`node ${k} differs`);
    }
    expect(checked).toBeGreaterThan(2500);
  });

  it('nodeHashFromTile refuses a node outside the tile and data of the wrong length', () => {
    const t = { level: 0, index: 1, width: 256 };
    expectTileError(() => nodeHashFromTile(t, store.get(t), { level: 0, index: 5 }), 'node-not-in-tile');
    expectTileError(() => nodeHashFromTile(t, store.get(t), { level: 8, index: 1 }), 'node-not-in-tile');
    const p = { level: 0, index: 273, width: 112 };
    expectTileError(() => nodeHashFromTile(p, store.get(p), { level: 7, index: 273 * 2 }), 'node-not-in-tile');
    expectTileError(() => nodeHashFromTile(t, store.get(t).subarray(1), { level: 0, index: 256 }), 'wrong-tile-size');
  });
});

describe('spec/tiles.md vectors', () => {
  it('gives the literal roots and tile hashes', () => {
    expect(toHex(roots.get(256)!)).toBe('828515d033c19d8c901f37eccb8aed919667703486f8d2fff1cf7040321c5db1');
    expect(toHex(roots.get(N)!)).toBe('1a4cdfcb66374a0c0dcbef49acbd4976d13ee864fb3cb241fc943cad04f02f7e');
    const hashAt = (t: TileId, i: number) => toHex(store.get(t).subarray(i * 32, (i + 1) * 32));
    expect(hashAt({ level: 0, index: 0, width: 256 }, 0)).toBe('db3426e878068d28d269b6c87172322ce5372b65756d0789001d34835f601c03');
    expect(hashAt({ level: 0, index: 0, width: 256 }, 255)).toBe('299f3f20708171a9d52c5c3ae2906cbdca538301e6073d0725b4765a6c059ff6');
    expect(hashAt({ level: 1, index: 0, width: 1 }, 0)).toBe('828515d033c19d8c901f37eccb8aed919667703486f8d2fff1cf7040321c5db1');
    expect(hashAt({ level: 0, index: 273, width: 112 }, 0)).toBe('24745ef74134478303cee70b9cb9f167f7df540b6a8656a1cf56a8a7c3b477c6');
    expect(hashAt({ level: 1, index: 1, width: 17 }, 16)).toBe('697ab7922e297d589c2206488f0f384ed1a7c13a81cdd82ca7a7f958b9ebeda8');
    expect(hashAt({ level: 2, index: 0, width: 1 }, 0)).toBe('f025d06ed804859fd274a1bdacadd6e48ea87634aa91e1edb20143f9498cd02b');
    expect(toHex(encodeEntryBundle([utf8('hello'), utf8(''), utf8('world!')]))).toBe('000568656c6c6f00000006776f726c6421');
  });
});

describe('readers give the proofs of the in-memory tree', () => {
  const rand = rng(11);
  it.each(CHECK_SIZES)('tree size %i', (size) => {
    const root = roots.get(size)!;
    const cache = new TileHashCache();
    const stored = storedTileReader(size, store.get, cache);
    expect(treeHash(size, stored)).toEqual(root);
    const fetched: string[] = [];
    const ids: NodeId[] = [];
    const verified = verifiedTileReader(size, root, (t) => {
      fetched.push(tilePath(t));
      return store.get(t);
    });
    for (const i of [0, size - 1, rand(size), rand(size), rand(size)]) {
      const want = inclusionProof(i, size, memoryRead);
      expect(inclusionProof(i, size, stored)).toEqual(want);
      expect(inclusionProof(i, size, verified)).toEqual(want);
      verifyInclusion(leaves[i]!, i, size, want, root);
      ids.push(...inclusionProofPlan(i, size));
    }
    for (const m of CHECK_SIZES.filter((m) => m < size)) {
      const want = consistencyProof(m, size, memoryRead);
      expect(consistencyProof(m, size, stored)).toEqual(want);
      expect(consistencyProof(m, size, verified)).toEqual(want);
      verifyConsistency(m, size, want, roots.get(m)!, root);
      ids.push(...consistencyProofPlan(m, size));
    }
    // The verifying reader fetched each tile once, and only tiles tilesNeeded names.
    expect(new Set(fetched).size).toBe(fetched.length);
    expect(new Set(fetched)).toEqual(new Set(tilesNeeded(size, ids).map(tilePath)));
  });

  /** store.get, counting its calls. */
  const countingStore = () => {
    const reads = { calls: 0, get: (t: TileId) => (reads.calls++, store.get(t)) };
    return reads;
  };

  it('storedTileReader reuses a shared cache and stays bounded', () => {
    const reads = countingStore();
    const cache = new TileHashCache(8);
    const want = inclusionProof(12345, N, memoryRead);
    expect(inclusionProof(12345, N, storedTileReader(N, reads.get, cache))).toEqual(want);
    const first = reads.calls;
    expect(first).toBeGreaterThan(0);
    expect(inclusionProof(12345, N, storedTileReader(N, reads.get, cache))).toEqual(want);
    expect(reads.calls).toBe(first);
    const tiny = new TileHashCache(1);
    reads.calls = 0;
    inclusionProof(12345, N, storedTileReader(N, reads.get, tiny));
    inclusionProof(12345, N, storedTileReader(N, reads.get, tiny));
    expect(reads.calls).toBeGreaterThan(first);
    expectTileError(() => new TileHashCache(0), 'bad-cache-size');
    expectTileError(() => new TileHashCache(1, -1), 'bad-cache-size');
  });

  it('a tile evicted from the cache keeps its summary: proofs stay exact and cost a few hashes', () => {
    let hashes = 0;
    const base = cryptoProvider();
    setCryptoProvider({ ...base, sha256: (d) => (hashes++, base.sha256(d)) });
    try {
      const proofCost = (cache: TileHashCache, i: number): number => {
        // Evict: fill the one-tile LRU with another tile first.
        inclusionProof((i + 40_000) % 65_536, 65_536, storedTileReader(65_536, store.get, cache));
        hashes = 0;
        expect(inclusionProof(i, 65_536, storedTileReader(65_536, store.get, cache))).toEqual(inclusionProof(i, 65_536, memoryRead));
        return hashes;
      };
      const plain = new TileHashCache(1);
      const summarised = new TileHashCache(1, 1024);
      const rand = rng(5);
      for (const i of [0, 255, 256, 12_345, 65_535, rand(65_536), rand(65_536)]) {
        inclusionProof(i, 65_536, storedTileReader(65_536, store.get, summarised)); // first visit: computes everything
        const without = proofCost(plain, i);
        const withSummary = proofCost(summarised, i);
        expect(without).toBeGreaterThan(240);
        expect(withSummary).toBeLessThanOrEqual(2 * 6); // 6 per full tile: a level-0 and a level-1 tile
      }
      expect(summarised.summaries).toBeGreaterThan(0);
      expect(plain.summaries).toBe(0);
      // Integration hands the summaries of the full tiles it builds to the cache.
      const fed = new TileHashCache(1, 1024);
      tilesAfterAppend(0, 4096, () => new Uint8Array(0), leaves.slice(0, 4096), fed);
      expect(fed.summaries).toBe(16 + 0); // 16 full level-0 tiles; level 1 is partial
      hashes = 0;
      expect(inclusionProof(1000, 4096, storedTileReader(4096, store.get, fed))).toEqual(inclusionProof(1000, 4096, memoryRead));
      expect(hashes).toBeLessThanOrEqual(6 + 11); // 6 in the summarised level-0 tile, 11 in the partial level-1 tile of 16 hashes
    } finally {
      setCryptoProvider(base);
    }
  });

  it('one cache serves a partial tile at every width: the widest read so far answers the narrower', () => {
    // The rightmost level-0 tile of a tree of 1,000 grows from width 1 to 232; proofs
    // against growing and then older sizes, through one cache, are exact, and a
    // narrower request after a wider one reads no tile.
    const reads = countingStore();
    const cache = new TileHashCache(4);
    const sizes = [769, 800, 1000, 900, 770, 1000];
    for (const n of sizes) {
      const before = reads.calls;
      for (const i of [768, n - 1]) expect(inclusionProof(i, n, storedTileReader(n, reads.get, cache))).toEqual(inclusionProof(i, n, memoryRead));
      if (n === 900 || n === 770) expect(reads.calls).toBe(before); // tile 0/3 is held at width 232
    }
  });

  it('storedTileReader refuses a tile of the wrong length', () => {
    const reader = storedTileReader(N, (t) => store.get(t).subarray(32));
    expectTileError(() => reader([{ level: 0, index: 5 }]), 'wrong-tile-size');
  });
});

describe('verifiedTileReader binds every tile to the signed root', () => {
  // An inclusion proof in the 70,000 tree whose tiles span levels 0, 1 and 2, full and partial.
  const INDEX = 300;
  const ids = inclusionProofPlan(INDEX, N);
  const needed = tilesNeeded(N, ids);
  const root = roots.get(N)!;
  const other = tilesOf(leaves.map((_, i) => hashLeaf(utf8(`other ${i}`))));

  const readWith = (replace: (t: TileId, data: Uint8Array) => Uint8Array) => () =>
    inclusionProof(INDEX, N, verifiedTileReader(N, root, (t) => replace(t, store.get(t))));

  it('needs full and partial tiles on every level', () => {
    expect(needed.map(tilePath).sort()).toEqual(['tile/0/001', 'tile/0/273.p/112', 'tile/1/000', 'tile/1/001.p/17', 'tile/2/000.p/1']);
    expect(readWith((_t, d) => d)()).toEqual(inclusionProof(INDEX, N, memoryRead));
  });

  it('refuses any tile with one flipped bit', () => {
    const rand = rng(17);
    for (const bad of needed) {
      const size = bad.width * HASH_SIZE;
      for (const bit of [0, 7, size * 8 - 1, rand(size * 8), rand(size * 8), rand(size * 8)]) {
        const run = readWith((t, d) => {
          if (tilePath(t) !== tilePath(bad)) return d;
          const c = d.slice();
          c[bit >> 3]! ^= 1 << (bit & 7);
          return c;
        });
        expectTileError(run, 'tile-mismatch');
      }
    }
  });

  it('refuses a truncated or padded tile', () => {
    for (const bad of needed) {
      for (const change of [(d: Uint8Array) => d.subarray(0, d.length - 1), (d: Uint8Array) => d.subarray(0, d.length - 32), (d: Uint8Array) => new Uint8Array([...d, 0])]) {
        expectTileError(
          readWith((t, d) => (tilePath(t) === tilePath(bad) ? change(d) : d)),
          'wrong-tile-size',
        );
      }
    }
  });

  it('refuses a correct tile of another tree', () => {
    for (const bad of needed) {
      expect(other.get(bad)).not.toEqual(store.get(bad));
      expectTileError(
        readWith((t, d) => (tilePath(t) === tilePath(bad) ? other.get(t) : d)),
        'tile-mismatch',
      );
    }
  });

  it('refuses tiles for another root or size, and nodes outside the tree before fetching', () => {
    const other70k = rootOfLeafHashes(leaves.slice(1).concat([hashLeaf(utf8('x'))]));
    expectTileError(() => inclusionProof(INDEX, N, verifiedTileReader(N, other70k, store.get)), 'tile-mismatch');
    expectTileError(() => inclusionProof(INDEX, N, verifiedTileReader(N, roots.get(69999)!, store.get)), 'tile-mismatch');
    expectTileError(() => inclusionProof(INDEX, 69999, verifiedTileReader(69999, root, store.get)), 'tile-mismatch');
    let calls = 0;
    const reader = verifiedTileReader(N, root, (t) => {
      calls++;
      return store.get(t);
    });
    expectTileError(() => reader([{ level: 0, index: N }]), 'node-out-of-range');
    expect(calls).toBe(0);
    expectTileError(() => verifiedTileReader(N, root.subarray(1), store.get), 'wrong-hash-size');
    expect(tilesNeeded(N, [])).toEqual([]);
  });
});

describe('entry bundles', () => {
  it('round-trip entries of every length class', () => {
    const entries = [new Uint8Array(0), utf8('a'), new Uint8Array(255).fill(7), new Uint8Array(256).fill(8), new Uint8Array(65535).fill(9)];
    const b = encodeEntryBundle(entries);
    expect(b.length).toBe(entries.reduce((s, e) => s + 2 + e.length, 0));
    expect([...b.subarray(0, 5)]).toEqual([0, 0, 0, 1, 0x61]);
    for (const decoded of [decodeEntryBundle(b), decodeEntryBundle(b, 5)]) {
      expect(decoded.length).toBe(entries.length);
      decoded.forEach((d, i) => expect(equal(d, entries[i]!)).toBe(true));
    }
    expect(decodeEntryBundle(new Uint8Array(0))).toEqual([]);
    expect([...encodeEntryBundle([new Uint8Array(0x1234)]).subarray(0, 2)]).toEqual([0x12, 0x34]);
  });
  it('refuses entries too large, truncation and a wrong count', () => {
    expectTileError(() => encodeEntryBundle([new Uint8Array(65536)]), 'entry-too-large');
    const b = encodeEntryBundle([utf8('hello'), utf8(''), utf8('world!')]);
    for (let cut = 1; cut < b.length; cut++) {
      if (cut === 7 || cut === 9) continue; // entry boundaries: a shorter, well-formed bundle
      expectTileError(() => decodeEntryBundle(b.subarray(0, cut)), 'truncated-bundle');
    }
    expectTileError(() => decodeEntryBundle(b.subarray(0, 9), 3), 'wrong-bundle-size');
    expectTileError(() => decodeEntryBundle(new Uint8Array([...b, 0, 0]), 3), 'wrong-bundle-size');
    expectTileError(() => decodeEntryBundle(new Uint8Array([...b, 0])), 'truncated-bundle');
  });
});

describe('tilesAfterAppend', () => {
  it('built in random batches gives the tiles built at once, and only the new tiles each time', () => {
    const rand = rng(23);
    const inc = new TileStore();
    let size = 0;
    while (size < N) {
      const batch = Math.min(N - size, [1, 2, 255, 256, 257, rand(3000) + 1, rand(600) + 1][rand(7)]!);
      const asked: TileId[] = [];
      const out = tilesAfterAppend(
        size,
        size + batch,
        (t) => {
          asked.push(t);
          return inc.get(t);
        },
        leaves.slice(size, size + batch),
      );
      const before = new Set(tilesForSize(size).map(tilePath));
      const wantNew = tilesForSize(size + batch).map(tilePath).filter((p) => !before.has(p));
      expect(out.map((o) => tilePath(o.tile)).sort()).toEqual(wantNew.sort());
      // Only the old tree's partial tiles are read.
      for (const t of asked) expect(t.width < TILE_WIDTH && before.has(tilePath(t))).toBe(true);
      for (const { tile, data } of out) inc.put(tile, data);
      size += batch;
    }
    expect([...inc.tiles.keys()].sort()).toEqual([...store.tiles.keys()].sort());
    for (const [k, d] of store.tiles) expect(equal(inc.tiles.get(k)!, d), k).toBe(true);
    // Level-1 hashes are the MTH of the full level-0 tiles.
    const l1 = store.get({ level: 1, index: 0, width: 256 });
    expect(l1.subarray(5 * 32, 6 * 32)).toEqual(rootOfLeafHashes(leaves.slice(5 * 256, 6 * 256)));
  });

  it('refuses inconsistent arguments and a wrong old tile', () => {
    const h = leaves.slice(0, 3);
    expectTileError(() => tilesAfterAppend(0, 2, store.get, h), 'bad-append');
    expectTileError(() => tilesAfterAppend(3, 2, store.get, []), 'bad-append');
    expectTileError(() => tilesAfterAppend(0, 1, store.get, [new Uint8Array(31)]), 'wrong-hash-size');
    expectTileError(() => tilesAfterAppend(1, 2, (t) => store.get(t).subarray(1), [leaves[1]!]), 'wrong-tile-size');
    expect(tilesAfterAppend(5, 5, store.get, [])).toEqual([]);
  });
});
