// C2SP tlog-tiles: the static encoding of the log's Merkle tree as hash tiles and of
// its entries as entry bundles, plus readers that serve Merkle hashes from tiles.
//
// A tile at level L, index N holds the hashes of the complete subtrees at Merkle
// level 8L with indices N*256 .. N*256+W-1 (tlog-tiles "Merkle Tree": the n-th tile
// at level l is MTH(D[(n*256+i)*256^l : (n*256+i+1)*256^l]) for i in 0..W-1). A node at
// Merkle level 8L+r (r < 8) is the root of 2^r consecutive hashes of one such tile.

import { concat, equal } from './bytes.js';
import {
  HASH_SIZE,
  hashChildren,
  treeHash,
  treeHashPlan,
  type HashReader,
  type NodeId,
} from './merkle.js';
import { CodedError } from './errors.js';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;

/** A hash tile: width 1..256 hashes; 256 = full, fewer = partial (rightmost) tile. */
export interface TileId {
  level: number;
  index: number;
  width: number;
}

export class TileError extends CodedError {}

/** tlog-tiles: `<L>` is a decimal integer between 0 and 63. */
const MAX_LEVEL = 63;

// ---------------------------------------------------------------------------
// Paths (tlog-tiles "Merkle Tree" and "Log entries")

/**
 * `<N>` of a tile path: zero-padded 3-digit elements, all but the last prefixed
 * with "x": 1234067 -> "x001/x234/067", 5 -> "005".
 */
export function formatIndexPath(n: number): string {
  checkIndex(n, 'tile index');
  let s = pad3(n % 1000);
  for (let rest = Math.floor(n / 1000); rest > 0; rest = Math.floor(rest / 1000)) {
    s = `x${pad3(rest % 1000)}/${s}`;
  }
  return s;
}

/** "tile/<L>/<N>" for a full tile, "tile/<L>/<N>.p/<W>" for a partial one. */
export function tilePath(t: TileId): string {
  checkTile(t);
  return `tile/${t.level}/${formatIndexPath(t.index)}${widthSuffix(t.width)}`;
}

/** "tile/entries/<N>" for a full bundle of 256 entries, "tile/entries/<N>.p/<W>" for a partial one. */
export function entriesPath(index: number, width: number): string {
  checkIndex(index, 'bundle index');
  checkWidth(width);
  return `tile/entries/${formatIndexPath(index)}${widthSuffix(width)}`;
}

export type ParsedTilePath =
  | { kind: 'hash'; tile: TileId }
  | { kind: 'entries'; index: number; width: number };

/**
 * Strict parse of a request path (without a leading '/'). Only the exact canonical
 * form tilePath/entriesPath produce is accepted, so one resource has one path:
 * `<L>` 0..63 without leading zeros; `<N>` as 3-digit groups, "x" on all but the
 * last, no leading "x000" group; `<W>` 1..255 without leading zeros.
 */
export function parseTilePath(path: string): ParsedTilePath {
  const fail = (code: string, why: string): TileError => new TileError(code, `bad tile path ${JSON.stringify(path)}: ${why}`);
  const parts = path.split('/');
  if (parts.length < 3 || parts[0] !== 'tile') throw fail('bad-tile-path', 'expected tile/<L>/<N> or tile/entries/<N>');
  const kind = parts[1]!;
  let level = 0;
  if (kind !== 'entries') {
    if (!/^(0|[1-9][0-9]?)$/.test(kind) || Number(kind) > MAX_LEVEL) {
      throw fail('bad-tile-level', 'the level must be a decimal integer 0..63 without leading zeros');
    }
    level = Number(kind);
  }
  let elems = parts.slice(2);
  let width = TILE_WIDTH;
  const beforeLast = elems[elems.length - 2];
  if (beforeLast !== undefined && beforeLast.endsWith('.p')) {
    const w = elems[elems.length - 1]!;
    if (!/^[1-9][0-9]{0,2}$/.test(w) || Number(w) >= TILE_WIDTH) {
      throw fail('bad-tile-width', 'the width of a partial tile must be 1..255 without leading zeros');
    }
    width = Number(w);
    elems = [...elems.slice(0, -2), beforeLast.slice(0, -2)];
  }
  let index = 0;
  elems.forEach((el, i) => {
    const last = i === elems.length - 1;
    if (!(last ? /^[0-9]{3}$/ : /^x[0-9]{3}$/).test(el)) {
      throw fail('bad-tile-index', 'the index must be 3-digit elements, all but the last starting with x');
    }
    index = index * 1000 + Number(last ? el : el.slice(1));
  });
  if (elems.length > 1 && elems[0] === 'x000') throw fail('bad-tile-index', 'the index has a leading zero element');
  if (!Number.isSafeInteger(index)) throw fail('bad-tile-index', 'the index is too large');
  return kind === 'entries' ? { kind: 'entries', index, width } : { kind: 'hash', tile: { level, index, width } };
}

// ---------------------------------------------------------------------------
// Which tiles a tree has, and where a node's hash lives

/** Number of hashes at Merkle level 8L in a tree of `size`: floor(size / 256^L). */
function hashesAtTileLevel(level: number, size: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/** The width tile (level, index) has in a tree of `size` (0 if it does not exist yet). */
function widthInTree(level: number, index: number, size: number): number {
  return Math.max(0, Math.min(TILE_WIDTH, hashesAtTileLevel(level, size) - index * TILE_WIDTH));
}

/**
 * The tiles (levels 0 up) a tree of `size` consists of: all full tiles and the
 * rightmost partial tile of each level, whose width is floor(size / 256^L) mod 256
 * (tlog-tiles "Partial Tiles"). Empty tiles do not exist.
 */
export function* iterateTiles(size: number): Generator<TileId> {
  checkIndex(size, 'tree size');
  for (let level = 0; hashesAtTileLevel(level, size) > 0; level++) {
    const count = hashesAtTileLevel(level, size);
    const full = Math.floor(count / TILE_WIDTH);
    for (let index = 0; index < full; index++) yield { level, index, width: TILE_WIDTH };
    if (count % TILE_WIDTH !== 0) yield { level, index: full, width: count % TILE_WIDTH };
  }
}

/** All tiles of a tree of `size`, as iterateTiles lists them (use iterateTiles for large trees). */
export function tilesForSize(size: number): TileId[] {
  return [...iterateTiles(size)];
}

/**
 * The tile, with the width it has in a tree of `size`, that holds the level-8L
 * hashes a complete subtree is computed from (L = floor(level / 8)).
 */
export function tileForNode(id: NodeId, size: number): TileId {
  checkIndex(size, 'tree size');
  checkNode(id);
  if ((id.index + 1) * 2 ** id.level > size) {
    throw new TileError('node-out-of-range', `subtree ${id.level}/${id.index} is not complete in a tree of size ${size}`);
  }
  const level = Math.floor(id.level / TILE_HEIGHT);
  const first = id.index * 2 ** (id.level % TILE_HEIGHT); // position of its first hash at level 8L
  const index = Math.floor(first / TILE_WIDTH);
  return { level, index, width: widthInTree(level, index, size) };
}

/** The tile one level up that holds the hash of full tile t (its MTH), with its width in a tree of `size`. */
function parentTile(t: TileId, size: number): TileId {
  const index = Math.floor(t.index / TILE_WIDTH);
  return { level: t.level + 1, index, width: widthInTree(t.level + 1, index, size) };
}

/** Hash of a complete subtree computed from a tile's data (concatenated 32-byte hashes). */
export function nodeHashFromTile(tile: TileId, data: Uint8Array, id: NodeId): Uint8Array {
  return new TileNodes(tile, data).nodeFor(id);
}

/**
 * The in-tile subtree heights a summary keeps: the 32 nodes of height 3, the 8 of
 * height 5 and the 4 of height 6 (44 hashes, 1,408 bytes). From them any node of
 * the tile costs at most 3 hashes, and an inclusion proof through the tile 6:
 * 1 and 3 for the siblings of heights 1 and 2, 1 each for heights 4 and 7 (up to
 * 247 without a summary).
 */
const SUMMARY_HEIGHTS = [3, 5, 6] as const;

/** Slot of in-tile node (h, j), h in 1..8, in a packed array of 255 hashes: height 1 first. */
const slotOf = (h: number, j: number): number => TILE_WIDTH - (2 * TILE_WIDTH >> h) + j;

/**
 * A tile's data with its in-tile subtree hashes, computed on demand and kept in
 * one packed array: the subtree of height h at position j is the MTH of hashes
 * j*2^h .. (j+1)*2^h - 1. A full tile may start from a summary (SUMMARY_HEIGHTS).
 */
class TileNodes {
  readonly tile: TileId;
  readonly #data: Uint8Array;
  readonly #inner = new Uint8Array((TILE_WIDTH - 1) * HASH_SIZE);
  readonly #have = new Uint8Array(TILE_WIDTH - 1);

  constructor(tile: TileId, data: Uint8Array, summary?: Uint8Array) {
    this.tile = tile;
    this.#data = checkTileData(tile, data).slice();
    if (summary !== undefined && tile.width === TILE_WIDTH) {
      let o = 0;
      for (const h of SUMMARY_HEIGHTS) {
        const at = slotOf(h, 0);
        const n = TILE_WIDTH >> h;
        this.#inner.set(summary.subarray(o, o + n * HASH_SIZE), at * HASH_SIZE);
        this.#have.fill(1, at, at + n);
        o += n * HASH_SIZE;
      }
    }
  }

  node(h: number, j: number): Uint8Array {
    if (h === 0) return this.#data.subarray(j * HASH_SIZE, (j + 1) * HASH_SIZE);
    const slot = slotOf(h, j);
    const at = slot * HASH_SIZE;
    if (this.#have[slot] === 0) {
      this.#inner.set(hashChildren(this.node(h - 1, 2 * j), this.node(h - 1, 2 * j + 1)), at);
      this.#have[slot] = 1;
    }
    return this.#inner.subarray(at, at + HASH_SIZE);
  }

  /** The hash of a complete subtree whose level-8L hashes all lie in this tile. */
  nodeFor(id: NodeId): Uint8Array {
    checkNode(id);
    const h = id.level - TILE_HEIGHT * this.tile.level;
    const span = 2 ** h;
    const j = id.index - (this.tile.index * TILE_WIDTH) / span; // an integer when 0 <= h < 8
    if (h < 0 || h >= TILE_HEIGHT || j < 0 || (j + 1) * span > this.tile.width) {
      throw new TileError('node-not-in-tile', `subtree ${id.level}/${id.index} is not computable from tile ${tilePath(this.tile)}`);
    }
    return this.node(h, j).slice();
  }

  /** MTH of a full tile: the hash its parent tile holds for it. */
  fullTileHash(): Uint8Array {
    return this.node(TILE_HEIGHT, 0);
  }

  /** A full tile's subtree hashes at SUMMARY_HEIGHTS (computed if need be), packed. */
  summary(): Uint8Array {
    const parts = SUMMARY_HEIGHTS.map((h) => {
      const n = TILE_WIDTH >> h;
      for (let j = 0; j < n; j++) this.node(h, j);
      const at = slotOf(h, 0) * HASH_SIZE;
      return this.#inner.subarray(at, at + n * HASH_SIZE);
    });
    return concat(...parts);
  }
}

// ---------------------------------------------------------------------------
// Readers

/**
 * The in-tile hashes of ONE log's tiles, for the server's proofs: an LRU of
 * `maxTiles` tiles with all their computed subtree hashes (about 16 KB each), and
 * the summaries (1,408 bytes each) of up to `maxSummaries` full tiles, so that a
 * tile read again from storage needs a few hashes, not up to 255. Tiles are immutable
 * (a partial tile of a given width never changes), so one cache serves every
 * tree size of one log; do not share it between logs.
 */
export class TileHashCache {
  readonly #max: number;
  readonly #maxSummaries: number;
  readonly #map = new Map<number, TileNodes>();
  readonly #summaries = new Map<number, Uint8Array>();

  constructor(maxTiles = 64, maxSummaries = 0) {
    if (!Number.isSafeInteger(maxTiles) || maxTiles < 1) throw new TileError('bad-cache-size', `cache size ${maxTiles} must be a positive integer`);
    if (!Number.isSafeInteger(maxSummaries) || maxSummaries < 0) throw new TileError('bad-cache-size', `summary count ${maxSummaries} must be a non-negative integer`);
    this.#max = maxTiles;
    this.#maxSummaries = maxSummaries;
  }

  /**
   * The hash of complete subtree `id` from tile t, taken from the cache or from
   * getTile(t) (then cached). A tile is held at one width, the widest asked for:
   * tiles only grow at the end, so it serves every narrower request as well.
   */
  nodeHash(t: TileId, getTile: (t: TileId) => Uint8Array, id: NodeId): Uint8Array {
    const key = summaryKey(t);
    let v = this.#map.get(key);
    if (v !== undefined && v.tile.width >= t.width) {
      this.#map.delete(key); // most recently used goes last
    } else {
      if (v !== undefined) this.#map.delete(key);
      v = new TileNodes(t, getTile(t), this.#summaries.get(key));
      if (this.#map.size >= this.#max) {
        const [oldKey, old] = this.#map.entries().next().value!;
        this.#map.delete(oldKey);
        this.rememberFullTile(old);
      }
    }
    this.#map.set(key, v);
    return v.nodeFor(id);
  }

  /** Number of full-tile summaries held. */
  get summaries(): number {
    return this.#summaries.size;
  }

  /** Whether another summary fits without dropping one. */
  get summaryRoom(): boolean {
    return this.#summaries.size < this.#maxSummaries;
  }

  /**
   * Computes the summary of full tile t from getTile(t) unless it is held or
   * there is no room (the summaries held are never dropped for it): for tiles
   * built before this cache existed, after a restart. True if it computed one.
   */
  warm(t: TileId, getTile: (t: TileId) => Uint8Array): boolean {
    if (t.width !== TILE_WIDTH || !this.summaryRoom || this.#summaries.has(summaryKey(t))) return false;
    this.#summaries.set(summaryKey(t), new TileNodes(t, getTile(t)).summary());
    return true;
  }

  /** Records the summary of a full tile whose in-tile hashes were computed (integration, or leaving the LRU); ignores partial tiles. */
  rememberFullTile(tn: { tile: TileId; summary(): Uint8Array }): void {
    if (this.#maxSummaries === 0 || tn.tile.width !== TILE_WIDTH) return;
    const k = summaryKey(tn.tile);
    if (this.#summaries.has(k)) return;
    if (this.#summaries.size >= this.#maxSummaries) this.#summaries.delete(this.#summaries.keys().next().value!);
    this.#summaries.set(k, tn.summary());
  }
}

const summaryKey = (t: TileId): number => t.index * 64 + t.level;

/**
 * Trusted reader (server side, tiles from our own storage): a HashReader over a sync
 * tile getter. getTile(t) must return exactly t.width hashes; a store that only kept
 * a wider version of the tile may return its first t.width hashes (tiles only grow
 * at the end). Pass one long-lived cache per log to make repeated proofs cheap.
 */
export function storedTileReader(
  size: number,
  getTile: (t: TileId) => Uint8Array,
  cache: TileHashCache = new TileHashCache(),
): HashReader {
  checkIndex(size, 'tree size');
  return (ids) => ids.map((id) => cache.nodeHash(tileForNode(id, size), getTile, id));
}

/**
 * Which tiles verifiedTileReader(size, ...) fetches to serve `ids`, so that async
 * callers can fetch them first: the right-edge (partial) tiles that the root is
 * computed from, the tiles holding the ids, and the parents of full tiles up to a
 * partial tile.
 */
export function tilesNeeded(size: number, ids: readonly NodeId[]): TileId[] {
  checkIndex(size, 'tree size');
  const out = new Map<string, TileId>();
  const add = (t: TileId): void => {
    out.set(tilePath(t), t);
  };
  if (ids.length === 0) return [];
  for (const id of treeHashPlan(size)) add(tileForNode(id, size));
  for (const id of ids) {
    let t = tileForNode(id, size);
    for (; t.width === TILE_WIDTH; t = parentTile(t, size)) add(t);
    add(t);
  }
  return [...out.values()];
}

/**
 * VERIFYING reader (client and auditor side). No hash is returned from a tile before
 * the tile is bound to the signed root:
 *  - the partial tiles at the right edge of each level together give MTH(D[size]),
 *    which must equal `root` (every hash of every partial tile takes part);
 *  - a full tile's MTH must equal the hash its parent tile (level L+1) holds for it,
 *    the parent being bound first, recursively, up to a partial tile.
 * Each tile is fetched once per reader and kept. A tile of the wrong length is
 * refused ('wrong-tile-size'), a tile that does not hash up to the root
 * ('tile-mismatch'). This closes the bug class where a tile not bound to the root
 * was trusted.
 */
export function verifiedTileReader(size: number, root: Uint8Array, getTile: (t: TileId) => Uint8Array): HashReader {
  checkIndex(size, 'tree size');
  if (!(root instanceof Uint8Array) || root.length !== HASH_SIZE) {
    throw new TileError('wrong-hash-size', `root must be ${HASH_SIZE} bytes`);
  }
  const verified = new Map<string, TileNodes>();
  const fetch = (t: TileId): TileNodes => new TileNodes(t, getTile(t));

  const bindRightEdge = (): void => {
    const edge = new Map<string, TileNodes>();
    const computed = treeHash(size, (ids) =>
      ids.map((id) => {
        const t = tileForNode(id, size);
        const key = tilePath(t);
        let tn = edge.get(key);
        if (tn === undefined) {
          tn = fetch(t);
          edge.set(key, tn);
        }
        return tn.nodeFor(id);
      }),
    );
    if (!equal(computed, root)) {
      throw new TileError('tile-mismatch', `the right-edge tiles of the tree of size ${size} do not hash to the signed root`);
    }
    for (const [key, tn] of edge) verified.set(key, tn);
  };

  const bound = (t: TileId): TileNodes => {
    const known = verified.get(tilePath(t));
    if (known !== undefined) return known;
    // Every partial tile of the tree is on the right edge and already bound to the
    // root, so t is full: bind it through the hash its parent holds for it.
    const parent = bound(parentTile(t, size));
    const tn = fetch(t);
    const expected = parent.nodeFor({ level: TILE_HEIGHT * parent.tile.level, index: t.index });
    if (!equal(tn.fullTileHash(), expected)) {
      throw new TileError('tile-mismatch', `tile ${tilePath(t)} does not hash to its entry in tile ${tilePath(parent.tile)}`);
    }
    verified.set(tilePath(t), tn);
    return tn;
  };

  let edgeBound = false;
  return (ids) => {
    const tiles = ids.map((id) => tileForNode(id, size)); // refuses nodes not in the tree before any fetch
    if (ids.length > 0 && !edgeBound) {
      bindRightEdge();
      edgeBound = true;
    }
    return ids.map((id, i) => bound(tiles[i]!).nodeFor(id));
  };
}

// ---------------------------------------------------------------------------
// Entry bundles (tlog-tiles "Log entries")

/** The largest entry a bundle can hold: its length is a big-endian uint16. */
export const MAX_ENTRY_SIZE = 65535;

/** A bundle: each entry as a big-endian uint16 length and then its bytes. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  entries.forEach((e, i) => {
    if (e.length > MAX_ENTRY_SIZE) {
      throw new TileError('entry-too-large', `entry ${i} is ${e.length} bytes, more than ${MAX_ENTRY_SIZE}`);
    }
    n += 2 + e.length;
  });
  const out = new Uint8Array(n);
  let o = 0;
  for (const e of entries) {
    out[o] = e.length >> 8;
    out[o + 1] = e.length & 0xff;
    out.set(e, o + 2);
    o += 2 + e.length;
  }
  return out;
}

/**
 * Strict decoding: a length prefix or an entry cut short is refused
 * ('truncated-bundle'); given the bundle's width (entries expected), another count
 * is refused ('wrong-bundle-size').
 */
export function decodeEntryBundle(data: Uint8Array, width?: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let o = 0;
  while (o < data.length) {
    if (o + 2 > data.length) throw new TileError('truncated-bundle', `entry bundle ends inside the length of entry ${out.length}`);
    const len = (data[o]! << 8) | data[o + 1]!;
    if (o + 2 + len > data.length) {
      throw new TileError('truncated-bundle', `entry ${out.length} needs ${len} bytes, the bundle has ${data.length - o - 2} left`);
    }
    out.push(data.slice(o + 2, o + 2 + len));
    o += 2 + len;
  }
  if (width !== undefined && out.length !== width) {
    throw new TileError('wrong-bundle-size', `entry bundle holds ${out.length} entries, want ${width}`);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Integration

/**
 * For the log's integrator: the tiles that a tree of `newSize` has and a tree of
 * `oldSize` has not (grown partial tiles, new full and partial tiles, every level),
 * given the new leaf hashes. readTile is asked only for the old tree's partial tiles
 * whose hashes the grown tiles start with. Given the log's cache, the summary of
 * every new full tile goes into it (those hashes are computed here anyway).
 */
export function tilesAfterAppend(
  oldSize: number,
  newSize: number,
  readTile: (t: TileId) => Uint8Array,
  newLeafHashes: readonly Uint8Array[],
  cache?: TileHashCache,
): { tile: TileId; data: Uint8Array }[] {
  checkIndex(oldSize, 'old tree size');
  checkIndex(newSize, 'new tree size');
  if (newSize < oldSize || newLeafHashes.length !== newSize - oldSize) {
    throw new TileError('bad-append', `growing a tree from ${oldSize} to ${newSize} needs ${newSize - oldSize} leaf hashes, got ${newLeafHashes.length}`);
  }
  newLeafHashes.forEach((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw new TileError('wrong-hash-size', `new leaf hash ${i} must be ${HASH_SIZE} bytes`);
  });
  const out: { tile: TileId; data: Uint8Array }[] = [];
  // fresh = the new hashes at Merkle level 8L, at positions oldCount .. oldCount+fresh.length-1.
  let fresh: readonly Uint8Array[] = newLeafHashes;
  for (let level = 0; fresh.length > 0; level++) {
    const oldCount = hashesAtTileLevel(level, oldSize);
    const newCount = oldCount + fresh.length;
    const next: Uint8Array[] = []; // MTHs of the full tiles made here: the new hashes one level up
    let k = 0;
    for (let index = Math.floor(oldCount / TILE_WIDTH); index * TILE_WIDTH < newCount; index++) {
      const start = index * TILE_WIDTH;
      const width = Math.min(TILE_WIDTH, newCount - start);
      const data = new Uint8Array(width * HASH_SIZE);
      let pos = Math.max(start, oldCount);
      if (pos > start) {
        const prefix: TileId = { level, index, width: pos - start };
        data.set(checkTileData(prefix, readTile(prefix)), 0);
      }
      for (; pos < start + width; pos++) data.set(fresh[k++]!, (pos - start) * HASH_SIZE);
      const tile = { level, index, width };
      out.push({ tile, data });
      if (width === TILE_WIDTH) {
        const tn = new TileNodes(tile, data);
        next.push(tn.fullTileHash().slice());
        cache?.rememberFullTile(tn);
      }
    }
    fresh = next;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Checks and small helpers

/** Tile data must be exactly width 32-byte hashes (tlog-tiles: a full tile is 8,192 bytes). */
function checkTileData(t: TileId, data: Uint8Array): Uint8Array {
  checkTile(t);
  if (!(data instanceof Uint8Array) || data.length !== t.width * HASH_SIZE) {
    const got = data instanceof Uint8Array ? `${data.length} bytes` : typeof data;
    throw new TileError('wrong-tile-size', `tile ${tilePath(t)} must be ${t.width * HASH_SIZE} bytes, got ${got}`);
  }
  return data;
}

function pad3(n: number): string {
  return String(n).padStart(3, '0');
}

function widthSuffix(width: number): string {
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

function checkIndex(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new TileError('bad-tile-index', `${what} ${n} is not an integer in 0..2^53-1`);
}

function checkWidth(w: number): void {
  if (!Number.isSafeInteger(w) || w < 1 || w > TILE_WIDTH) throw new TileError('bad-tile-width', `tile width ${w} is not in 1..256`);
}

function checkTile(t: TileId): void {
  if (!Number.isSafeInteger(t.level) || t.level < 0 || t.level > MAX_LEVEL) {
    throw new TileError('bad-tile-level', `tile level ${t.level} is not in 0..63`);
  }
  checkIndex(t.index, 'tile index');
  checkWidth(t.width);
}

function checkNode(id: NodeId): void {
  if (!Number.isSafeInteger(id.level) || id.level < 0 || id.level > MAX_LEVEL || !Number.isSafeInteger(id.index) || id.index < 0) {
    throw new TileError('bad-node', `subtree ${id.level}/${id.index} is not a valid node id`);
  }
}
