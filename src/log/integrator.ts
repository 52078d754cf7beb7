// The integrator folds sequenced entries into the Merkle tree: it computes leaf
// hashes, writes the hash tiles that change, advances the stored tree state, and
// signs checkpoints. It is the only code that signs a checkpoint, and it never
// signs one that is smaller than, or inconsistent with, the last one it signed.

import { formatCheckpoint } from '../core/checkpoint.js';
import { concat } from '../core/bytes.js';
import { CompactRange, consistencyProof, hashLeaf, HASH_SIZE, inclusionProof, RangeHashMemo, verifyConsistency } from '../core/merkle.js';
import { signNote, type NoteSigner } from '../core/note.js';
import { storedTileReader, TileHashCache, tilesAfterAppend, TILE_WIDTH, type TileId } from '../core/tiles.js';
import type { HashReader } from '../core/merkle.js';
import type { LedgerStore, StoredCheckpoint } from '../../storage/sqlite/store.js';

/** Leaf hashes held for integration at most (32 MB); past it, integration reads the leaves. */
const MAX_RECENT = 1 << 20;

export class Integrator {
  private range: CompactRange;
  /**
   * In-tile hashes for every proof this log serves: the 256 most recently used
   * tiles in full (about 4 MB), and the summary of up to 32,768 full tiles
   * (8,388,608 entries; 1.4 KB each, 46 MB at most), so that a proof through a
   * tile that is no longer cached costs one tile read and about 6 hashes.
   */
  private readonly tileCache = new TileHashCache(256, 1 << 15);

  /** The right-edge proof elements already folded (see RangeHashMemo): a few per tree size. */
  private readonly rangeMemo = new RangeHashMemo();

  constructor(
    private readonly store: LedgerStore,
    private readonly origin: string,
    private readonly signer: NoteSigner,
  ) {
    const t = store.treeState();
    const frontier: Uint8Array[] = [];
    for (let o = 0; o < t.frontier.length; o += HASH_SIZE) frontier.push(t.frontier.subarray(o, o + HASH_SIZE));
    this.range = new CompactRange(t.size, frontier);
    this.warmNext = Math.floor(t.size / TILE_WIDTH) - 1;
  }

  /**
   * Leaf hashes of entries this process sequenced, from index recentFirst on and
   * not yet integrated: the sequencer hands them over so that integration need
   * not read the leaves back and hash them again. Anything else (entries appended
   * by another process, or after a restart) is read from the store.
   */
  private recent: Uint8Array[] = [];
  private recentFirst = 0;

  noteSequenced(first: number, leafHashes: readonly Uint8Array[]): void {
    if (first !== this.recentFirst + this.recent.length || this.recent.length + leafHashes.length > MAX_RECENT) {
      this.recent = [];
      this.recentFirst = first;
    }
    if (first < this.range.size) return;
    for (const h of leafHashes) this.recent.push(h);
  }

  get treeSize(): number {
    return this.range.size;
  }

  /** The next full level-0 tile warmSummaries() looks at (from the newest at start, down). */
  private warmNext: number;

  /**
   * The cache's summaries come from integration, so after a restart it has none
   * for the tiles already in the tree, and a proof through one of them costs up
   * to 247 hashes until that tile has been read twice. This computes them for
   * about `budgetMs`, newest tile first (recent entries are the ones proofs are
   * asked for most), up to the cache's bound. False once there is nothing left.
   */
  warmSummaries(budgetMs: number): boolean {
    const until = performance.now() + budgetMs;
    while (this.warmNext >= 0 && this.tileCache.summaryRoom) {
      this.tileCache.warm({ level: 0, index: this.warmNext--, width: TILE_WIDTH }, this.readTile);
      if (performance.now() >= until) break;
    }
    return this.warmNext >= 0 && this.tileCache.summaryRoom;
  }

  readTile = (t: TileId): Uint8Array => {
    const data = this.store.getTile(t.level, t.index);
    if (!data || data.length < t.width * HASH_SIZE) throw new Error(`tile ${t.level}/${t.index} (width ${t.width}) is not stored`);
    return data.length === t.width * HASH_SIZE ? data : data.subarray(0, t.width * HASH_SIZE);
  };

  /** A reader of the stored tree at `size` (trusted: our own tiles). */
  reader(size: number): HashReader {
    return storedTileReader(size, this.readTile, this.tileCache);
  }

  /** The leaf hash of `index` and its inclusion proof in the stored tree of `size`. */
  proveInclusion(index: number, size: number): { leafHash: Uint8Array; proof: Uint8Array[] } {
    const read = this.reader(size);
    const [leafHash] = read([{ level: 0, index }]); // from its tile, which the proof reads anyway
    return { leafHash: leafHash!, proof: inclusionProof(index, size, read, this.rangeMemo) };
  }

  /** The consistency proof from size `from` to the stored tree of size `to`. */
  proveConsistency(from: number, to: number): Uint8Array[] {
    return consistencyProof(from, to, this.reader(to), this.rangeMemo);
  }

  /** Integrates up to `max` sequenced entries; returns how many. */
  integrate(max = 16_384): number {
    const oldSize = this.range.size;
    const hashes =
      this.recentFirst === oldSize && this.recent.length > 0
        ? this.recent.slice(0, max)
        : this.store.getEntries(oldSize, oldSize + max).map(hashLeaf);
    if (hashes.length === 0) return 0;
    const range = new CompactRange(oldSize, this.range.frontier);
    for (const h of hashes) range.append(h);
    const newSize = range.size;
    const tiles = tilesAfterAppend(oldSize, newSize, this.readTile, hashes, this.tileCache);
    // Not synced here: tiles and tree state can always be rebuilt from the entries,
    // and the checkpoint's commit (synchronous=FULL) makes everything before it durable.
    this.store.writeUnsynced(() => {
      for (const t of tiles) {
        this.store.putTileInTx(t.tile.level, t.tile.index, t.data);
        // A full level-0 tile: its 256 entries are in the tree, pack them into one bundle row.
        if (t.tile.level === 0 && t.tile.width === TILE_WIDTH) this.store.packBundleInTx(t.tile.index);
      }
      this.store.setTreeStateInTx(newSize, concat(...range.frontier));
    });
    this.range = range;
    if (this.recentFirst <= newSize) {
      this.recent = this.recent.slice(Math.min(this.recent.length, newSize - this.recentFirst));
      this.recentFirst = newSize;
    }
    return hashes.length;
  }

  /**
   * Signs a checkpoint for the current tree if it is larger than the last one.
   * Before signing, proves the new tree consistent with the last signed checkpoint.
   */
  checkpoint(now = Date.now(), opts: { publish?: boolean } = {}): StoredCheckpoint | undefined {
    const size = this.range.size;
    const last = this.store.latestCheckpoint();
    if (last && last.size >= size) return undefined;
    const root = this.range.root();
    if (last && last.size > 0) {
      const proof = consistencyProof(last.size, size, this.reader(size));
      verifyConsistency(last.size, size, proof, last.root, root); // throws: never sign a fork
    }
    const text = formatCheckpoint({ origin: this.origin, size, rootHash: root, extensions: [] });
    const note = signNote(text, [this.signer]);
    this.store.write(() => {
      const again = this.store.latestCheckpoint();
      if (again && again.size >= size) throw new Error('checkpoint raced');
      this.store.insertCheckpoint(size, root, note, now, opts.publish ? now : null);
    });
    return { size, root, note, createdAt: now, publishedAt: opts.publish ? now : null };
  }
}
