// The lookup keys of the newest entries, held in memory until they are merged
// into the on-disk key tables in bulk.
//
// Inserting each entry's two keys into the key tables as it is sequenced dirtied
// a random page of each table per entry: at 1,000,000 entries a commit of 256
// entries wrote about 2 MB of WAL and took 25 ms, against 1 ms without the keys.
// So the sequencer writes the keys to a table ordered by index (an append), this
// index answers lookups for them, and the store moves them to the key tables a
// chunk at a time, sorted, so that each page is written once per chunk.
//
// Each chunk covers `size` consecutive indices and has two open-addressing hash
// tables (one per kind of key) of offsets into its key arrays. No Map, no
// per-entry object: a chunk of 65,536 entries takes 1.5 MB.

export type KeyKind = 'envelope' | 'leaf';

/** Entries whose keys are merged into the key tables at a time, unless configured otherwise. */
export const KEY_CHUNK = 65536;

/** The largest chunk: an offset in it fits in 21 bits (see Chunk.sorted). */
export const MAX_CHUNK = 2 ** 21;

/** Chunks grow with the log up to this size (about 25 MB of memory), unless configured larger. */
export const GROWN_CHUNK = 2 ** 20;

/**
 * The size of the chunk that starts at index `start`: `min`, doubled while it
 * is at most 1/32 of the entries before it, up to GROWN_CHUNK. A merge dirties
 * nearly every page of a key table once the table has fewer pages than the
 * chunk has keys, so what a merge writes per key follows the ratio of the
 * table to the chunk, not the table's size: measured in isolation, about 250
 * bytes of WAL a key at a ratio of 16 (tables of 1,000,000 and 16,000,000
 * keys), 500 at 32 and 900 to 1,000 at 64 (4,000,000 and 16,000,000). Fixed
 * chunks let that ratio, and the writes per entry, grow with the log; growing
 * chunks hold it between 16 and 32 until the log reaches 32 × GROWN_CHUNK
 * entries. The size depends only on `start` and `min`, so every connection
 * that starts from the same keys_merged cuts the same chunks.
 */
export function chunkSizeAt(start: number, min: number): number {
  let size = min;
  while (size < GROWN_CHUNK && size * 32 <= start) size *= 2;
  return size;
}

class Chunk {
  readonly ek: Uint32Array;
  readonly lk: Uint32Array;
  private readonly eslots: Int32Array;
  private readonly lslots: Int32Array;
  private readonly mask: number;
  count = 0;

  constructor(
    readonly start: number,
    readonly size: number,
  ) {
    this.ek = new Uint32Array(size);
    this.lk = new Uint32Array(size);
    let slots = 2;
    while (slots < size * 2) slots *= 2; // at most half full
    this.mask = slots - 1;
    this.eslots = new Int32Array(slots).fill(-1);
    this.lslots = new Int32Array(slots).fill(-1);
  }

  add(ek: number, lk: number): void {
    const off = this.count++;
    this.ek[off] = ek;
    this.lk[off] = lk;
    this.place(this.eslots, ek, off);
    this.place(this.lslots, lk, off);
  }

  private place(slots: Int32Array, key: number, off: number): void {
    let s = key & this.mask; // keys are hash bits: the low ones are as good as any
    while (slots[s] !== -1) s = (s + 1) & this.mask;
    slots[s] = off;
  }

  find(kind: KeyKind, key: number, out: number[]): void {
    const [slots, keys] = kind === 'envelope' ? [this.eslots, this.ek] : [this.lslots, this.lk];
    for (let s = key & this.mask; slots[s] !== -1; s = (s + 1) & this.mask) {
      if (keys[slots[s]!] === key) out.push(this.start + slots[s]!);
    }
  }

  /** The (key, index) pairs of one kind, sorted by key then index, as two arrays (12 bytes a pair). */
  sorted(kind: KeyKind): SortedKeys {
    const keys = kind === 'envelope' ? this.ek : this.lk;
    // key × MAX_CHUNK + offset is exact in a double (31 + 21 bits), so one numeric sort does it.
    const packed = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) packed[i] = keys[i]! * MAX_CHUNK + i;
    packed.sort();
    const out: SortedKeys = { keys: new Uint32Array(this.count), indices: new Float64Array(this.count) };
    for (let i = 0; i < this.count; i++) {
      out.keys[i] = Math.floor(packed[i]! / MAX_CHUNK);
      out.indices[i] = this.start + (packed[i]! % MAX_CHUNK);
    }
    return out;
  }
}

/** Sorted lookup keys of one kind and the index each belongs to, position by position. */
export interface SortedKeys {
  keys: Uint32Array;
  indices: Float64Array;
}

/** Keys of entries base, base+1, … (end excluded), in chunks of at least `minSize` indices (chunkSizeAt). */
export class RecentKeys {
  private chunks: Chunk[] = [];
  private _end: number;

  constructor(
    base: number,
    readonly minSize: number,
  ) {
    if (!Number.isInteger(minSize) || minSize < 1 || minSize > MAX_CHUNK) throw new RangeError(`chunk size must be 1..${MAX_CHUNK}`);
    this._end = base;
  }

  /** The next index this index expects. */
  get end(): number {
    return this._end;
  }

  /** Adds the keys of entry `idx`, which must be `end`. */
  add(idx: number, ek: number, lk: number): void {
    if (idx !== this._end) throw new Error(`recent keys: expected index ${this._end}, got ${idx}`);
    let last = this.chunks[this.chunks.length - 1];
    if (!last || last.count === last.size) {
      last = new Chunk(this._end, chunkSizeAt(this._end, this.minSize));
      this.chunks.push(last);
    }
    last.add(ek, lk);
    this._end++;
  }

  /** Indices whose key of this kind is `key`, in order. */
  find(kind: KeyKind, key: number): number[] {
    const out: number[] = [];
    for (const c of this.chunks) c.find(kind, key, out);
    return out;
  }

  /** The oldest chunk, if it is complete: what a merge moves next. */
  firstFull(): { start: number; end: number; sorted: (kind: KeyKind) => SortedKeys } | undefined {
    const c = this.chunks[0];
    if (!c || c.count !== c.size) return undefined;
    return { start: c.start, end: c.start + c.size, sorted: (kind) => c.sorted(kind) };
  }

  /** The first index held (end, when empty). */
  get start(): number {
    return this.chunks[0]?.start ?? this._end;
  }

  /** Drops every chunk that ends at or before `mark` (merged, here or by another process). */
  dropBefore(mark: number): void {
    for (let c = this.chunks[0]; c && c.count === c.size && c.start + c.size <= mark; c = this.chunks[0]) this.chunks.shift();
  }

  /** Entries held. */
  get length(): number {
    return this._end - this.start;
  }
}
