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

/** Keys of entries base, base+1, … (end excluded), in chunks of `size` indices. */
export class RecentKeys {
  private chunks: Chunk[] = [];
  private _end: number;

  constructor(
    base: number,
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK) throw new RangeError(`chunk size must be 1..${MAX_CHUNK}`);
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
      last = new Chunk(this._end, this.size);
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
    while (this.chunks.length > 0 && this.chunks[0]!.start + this.chunks[0]!.count <= mark && this.chunks[0]!.count === this.size) this.chunks.shift();
  }

  /** Entries held. */
  get length(): number {
    return this._end - this.start;
  }
}
