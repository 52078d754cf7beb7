// The ledger's SQLite store: tables and bytes, no proofs.
//
// Durability: WAL journal with synchronous=FULL, so a transaction is on disk
// (the WAL fsynced) before commit returns. The exception is writeUnsynced():
// for what can be rebuilt (the integrator's tiles and tree state), which the
// next FULL commit syncs along with everything before it, and for the
// sequencer's commits, which syncWal() makes durable before any of their
// entries is acknowledged (src/log/sequencer.ts).
//
// Sequencing happens inside a write transaction (BEGIN IMMEDIATE): the next
// index is MAX(idx)+1 read under SQLite's single writer lock, so the server and
// an administrative CLI appending at the same time can never assign an index twice.

import Database from 'better-sqlite3';
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';
import { decodeEntryBundle, encodeEntryBundle, MAX_ENTRY_SIZE, TILE_WIDTH } from '../../src/core/tiles.js';
import { KEY_CHUNK, type KeyKind, RecentKeys } from './recent-keys.js';

export interface StoredCheckpoint {
  size: number;
  root: Uint8Array;
  /** The signed note (log signature, plus cosignatures once published). */
  note: string;
  /** ms since epoch when signed. */
  createdAt: number;
  /** ms since epoch when published (met the witness policy), or null. */
  publishedAt: number | null;
}

export interface ProducerRow {
  name: string;
  keyid: string;
  publicKey: Uint8Array;
  types: string[];
  addedIndex: number;
  revokedIndex: number | null;
}

export interface NewEntry {
  leaf: Uint8Array;
  /** SHA-256 of the envelope's deterministic encoding (duplicate detection). */
  digest: Uint8Array;
  /** RFC 9162 leaf hash (lookups by leaf hash). */
  leafHash: Uint8Array;
}

/**
 * The lookup key of a hash: its first 31 bits, which SQLite stores in 4 bytes.
 * Keys only narrow a search; every candidate is confirmed against the full hash,
 * so a shared key costs a second read, never a wrong answer.
 */
export function lookupKey(hash: Uint8Array): number {
  return ((hash[0]! << 24) | (hash[1]! << 16) | (hash[2]! << 8) | hash[3]!) >>> 1;
}

/** Row id of a hash tile: index × 64 + level (levels are 0..63). */
const tileId = (level: number, index: number): number => index * 64 + level;

/** Bumped when the layout changes; older layouts are migrated on open (migrate()). */
const SCHEMA_VERSION = '3';

// An entry is first a row of its own (entries); once its tile of 256 is in the
// tree, the integrator packs the 256 leaves into one row of bundles, in the
// tlog-tiles entry-bundle encoding (a 16-bit length before each leaf), which
// saves the per-row overhead and page slack (about 44 bytes per entry of 650).
// The two lookup keys live in their own tables: an entry's keys are first a row
// of recent_keys (an append, in index order), and move to the key tables a chunk
// at a time (meta keys_merged: every index below it is in the key tables, every
// index at or above it in recent_keys). The hash tiles are in a rowid table:
// a WITHOUT ROWID table keeps whole rows in its interior pages, so each search
// step there read an 8 KB tile from overflow pages.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS bundles (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS envelope_keys (k INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (k, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leaf_keys (k INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (k, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recent_keys (idx INTEGER PRIMARY KEY, ek INTEGER NOT NULL, lk INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tiles (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tree (
  id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL, frontier BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
  size INTEGER PRIMARY KEY, root BLOB NOT NULL, note TEXT NOT NULL,
  created_at INTEGER NOT NULL, published_at INTEGER
);
CREATE TABLE IF NOT EXISTS producers (
  keyid TEXT PRIMARY KEY, name TEXT NOT NULL, public_key BLOB NOT NULL, types TEXT NOT NULL,
  added_idx INTEGER NOT NULL, revoked_idx INTEGER
);
CREATE INDEX IF NOT EXISTS producers_name ON producers(name);
CREATE TABLE IF NOT EXISTS anchors (
  size INTEGER PRIMARY KEY, receipt TEXT NOT NULL
);
`;

const u8 = (b: Buffer | Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export class LedgerStore {
  readonly db: Database.Database;
  private readonly st;

  /** Keys of entries at or above keys_merged, loaded on first use. */
  private recent: RecentKeys | undefined;
  private readonly keyChunk: number;
  /** Own appends so far, and inside the current transaction (whose rows are not read back). */
  private appends = 0;
  private appendsInTx = 0;
  private recentSeen = { version: -1, appends: -1 };

  constructor(path: string, opts: { readonly?: boolean; busyTimeoutMs?: number; keyChunk?: number } = {}) {
    this.keyChunk = opts.keyChunk ?? KEY_CHUNK;
    this.db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      // After a checkpoint has copied the WAL back, cut its file to the size of the
      // auto-checkpoint threshold (1000 pages): a large transaction otherwise leaves
      // the file at its high-water mark for good. Durability is unchanged.
      this.db.pragma(`journal_size_limit = ${1000 * (this.db.pragma('page_size', { simple: true }) as number)}`);
      try {
        if (layoutOf(this.db) !== SCHEMA_VERSION) {
          this.write(() => {
            if (layoutOf(this.db) === SCHEMA_VERSION) return; // another process got there first
            const fresh = layoutOf(this.db) === undefined;
            if (!fresh) migrate(this.db);
            this.db.exec(SCHEMA);
            if (fresh) this.db.prepare("INSERT INTO meta (key, value) VALUES ('keys_merged', '0')").run();
            this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', ?)").run(SCHEMA_VERSION);
          });
        }
      } catch (e) {
        this.db.close();
        throw e;
      }
    }
    this.st = {
      maxIdx: this.db.prepare('SELECT MAX(idx) AS m FROM entries'),
      insert: this.db.prepare('INSERT INTO entries (idx, leaf) VALUES (?, ?)'),
      insertRecent: this.db.prepare('INSERT INTO recent_keys (idx, ek, lk) VALUES (?, ?, ?)'),
      recentFrom: this.db.prepare('SELECT idx, ek, lk FROM recent_keys WHERE idx >= ? ORDER BY idx').raw(),
      recentDelete: this.db.prepare('DELETE FROM recent_keys WHERE idx < ?'),
      mergeEkey: this.db.prepare('INSERT OR IGNORE INTO envelope_keys (k, idx) VALUES (?, ?)'),
      mergeLkey: this.db.prepare('INSERT OR IGNORE INTO leaf_keys (k, idx) VALUES (?, ?)'),
      byEkey: this.db.prepare('SELECT idx FROM envelope_keys WHERE k = ?').pluck(),
      bundleGet: this.db.prepare('SELECT data FROM bundles WHERE idx = ?').pluck(),
      bundleMax: this.db.prepare('SELECT MAX(idx) FROM bundles').pluck(),
      bundlePut: this.db.prepare('INSERT INTO bundles (idx, data) VALUES (?, ?)'),
      rangeLeaves: this.db.prepare('SELECT leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx').pluck(),
      deleteRange: this.db.prepare('DELETE FROM entries WHERE idx >= ? AND idx < ?'),
      leafBytes: this.db.prepare(`SELECT (SELECT COALESCE(SUM(LENGTH(leaf)), 0) FROM entries) + (SELECT COALESCE(SUM(LENGTH(data)), 0) - 2 * ${TILE_WIDTH} * COUNT(*) FROM bundles)`).pluck(),
      byLkey: this.db.prepare('SELECT idx FROM leaf_keys WHERE k = ?').pluck(),
      get: this.db.prepare('SELECT leaf FROM entries WHERE idx = ?'),
      tileGet: this.db.prepare('SELECT data FROM tiles WHERE id = ?').pluck(),
      tilePut: this.db.prepare('INSERT OR REPLACE INTO tiles (id, data) VALUES (?, ?)'),
      treeGet: this.db.prepare('SELECT size, frontier FROM tree WHERE id = 1'),
      treePut: this.db.prepare('INSERT OR REPLACE INTO tree (id, size, frontier) VALUES (1, ?, ?)'),
      cpLatest: this.db.prepare('SELECT * FROM checkpoints ORDER BY size DESC LIMIT 1'),
      cpLatestPublished: this.db.prepare('SELECT * FROM checkpoints WHERE published_at IS NOT NULL ORDER BY size DESC LIMIT 1'),
      cpGet: this.db.prepare('SELECT * FROM checkpoints WHERE size = ?'),
      cpInsert: this.db.prepare('INSERT INTO checkpoints (size, root, note, created_at, published_at) VALUES (?, ?, ?, ?, ?)'),
      cpPublish: this.db.prepare('UPDATE checkpoints SET note = ?, published_at = ? WHERE size = ?'),
      metaGet: this.db.prepare('SELECT value FROM meta WHERE key = ?'),
      metaPut: this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)'),
      producers: this.db.prepare('SELECT * FROM producers ORDER BY added_idx'),
      producerInsert: this.db.prepare('INSERT INTO producers (keyid, name, public_key, types, added_idx, revoked_idx) VALUES (?, ?, ?, ?, ?, NULL)'),
      producerRevoke: this.db.prepare('UPDATE producers SET revoked_idx = ? WHERE keyid = ? AND revoked_idx IS NULL'),
      cpPublishedAfter: this.db.prepare('SELECT * FROM checkpoints WHERE published_at IS NOT NULL AND size > ? ORDER BY size LIMIT ?'),
      anchorMax: this.db.prepare('SELECT MAX(size) AS m FROM anchors'),
      anchorPut: this.db.prepare('INSERT OR REPLACE INTO anchors (size, receipt) VALUES (?, ?)'),
      anchorGet: this.db.prepare('SELECT receipt FROM anchors WHERE size = ?'),
      anchors: this.db.prepare('SELECT size, receipt FROM anchors ORDER BY size'),
      dataVersion: this.db.prepare('PRAGMA data_version').pluck(),
      syncNormal: this.db.prepare('PRAGMA synchronous = NORMAL'),
      syncFull: this.db.prepare('PRAGMA synchronous = FULL'),
    };
  }

  close(): void {
    if (this.#walFd !== undefined) closeSync(this.#walFd);
    this.#walFd = undefined;
    this.db.close();
  }

  #walFd: number | undefined;

  /** The WAL file, opened once (it exists from this write connection's first commit on). */
  #wal(): number {
    this.#walFd ??= openSync(`${this.db.name}-wal`, 'r+');
    return this.#walFd;
  }

  /**
   * Makes every commit written so far durable: fdatasync of the WAL file, on
   * libuv's thread pool, so the event loop goes on meanwhile. With
   * writeUnsynced this is a FULL commit split in two: the frames first, the
   * sync after (the sequencer acknowledges only after it).
   */
  syncWal(): Promise<void> {
    let fd: number;
    try {
      fd = this.#wal();
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
  }

  /** syncWal, blocking (at start, for what an earlier process committed without a sync). */
  syncWalNow(): void {
    try {
      fdatasyncSync(this.#wal());
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e; // no WAL: nothing to sync
    }
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE): all or nothing, durable on return. */
  write<T>(fn: () => T): T {
    const outermost = !this.db.inTransaction;
    try {
      return this.db.transaction(fn).immediate();
    } finally {
      if (outermost) this.appendsInTx = 0;
    }
  }

  /**
   * Runs fn in one write transaction (all or nothing) whose commit is written to
   * the WAL but not synced (synchronous=NORMAL for this commit; SQLite still
   * syncs in the right order around its checkpoints). For data that can be
   * rebuilt: it becomes durable with the next FULL commit.
   */
  writeUnsynced<T>(fn: () => T): T {
    this.st.syncNormal.run();
    try {
      return this.write(fn);
    } finally {
      this.st.syncFull.run();
    }
  }

  /** A counter that changes whenever another connection commits (PRAGMA data_version). */
  dataVersion(): number {
    return this.st.dataVersion.get() as number;
  }

  getMeta(key: string): string | undefined {
    return (this.st.metaGet.get(key) as { value: string } | undefined)?.value;
  }
  setMeta(key: string, value: string): void {
    this.st.metaPut.run(key, value);
  }

  /** Number of sequenced entries (the next index). */
  entryCount(): number {
    return countOf((this.st.maxIdx.get() as { m: number | null }).m, this.st.bundleMax.get() as number | null);
  }

  /** Total length of all leaves (bundles without their length prefixes). */
  leafBytes(): number {
    return this.st.leafBytes.get() as number;
  }

  /** Must run inside write(): appends entries at the next indices; returns the first index. */
  appendInTx(entries: readonly NewEntry[]): number {
    const first = this.entryCount();
    let i = first;
    for (const e of entries) {
      this.st.insert.run(i, e.leaf);
      this.st.insertRecent.run(i, lookupKey(e.digest), lookupKey(e.leafHash));
      i++;
    }
    this.appends += entries.length;
    this.appendsInTx += entries.length;
    return first;
  }

  /** Entries whose envelope digest may be `digest` (same lookup key): the caller confirms. */
  entriesByEnvelopeDigest(digest: Uint8Array): { idx: number; leaf: Uint8Array }[] {
    const out: { idx: number; leaf: Uint8Array }[] = [];
    for (const idx of this.byKey('envelope', lookupKey(digest))) {
      const leaf = this.getEntry(idx);
      if (leaf) out.push({ idx, leaf });
    }
    return out;
  }
  /** Indices of entries whose leaf hash may be `leafHash` (same lookup key): the caller confirms. */
  indicesByLeafHash(leafHash: Uint8Array): number[] {
    return this.byKey('leaf', lookupKey(leafHash));
  }

  private byKey(kind: KeyKind, k: number): number[] {
    const merged = (kind === 'envelope' ? this.st.byEkey : this.st.byLkey).all(k) as number[];
    const recent = this.recentKeys().find(kind, k);
    if (recent.length === 0) return merged;
    if (merged.length === 0) return recent;
    // A chunk being merged (or merged by another process) can be in both.
    return [...new Set([...merged, ...recent])].sort((a, b) => a - b);
  }

  /** Every index at or above this has its keys in recent_keys, every one below in the key tables. */
  keysMerged(): number {
    return Number(this.getMeta('keys_merged') ?? 0);
  }

  /**
   * The in-memory index of recent_keys, brought up to date with what this and
   * other connections have committed. Rows this connection appended in the
   * transaction it is in are not taken: the transaction may still roll back.
   */
  private recentKeys(): RecentKeys {
    const version = this.dataVersion();
    const committed = this.appends - this.appendsInTx;
    if (this.recent && version === this.recentSeen.version && committed === this.recentSeen.appends) return this.recent;
    const mark = this.keysMerged();
    if (!this.recent || this.recent.end < mark) this.recent = new RecentKeys(mark, this.keyChunk);
    const r = this.recent;
    r.dropBefore(mark);
    // Own uncommitted rows are the last ones (this connection holds the write lock).
    const limit = this.appendsInTx > 0 ? this.entryCount() - this.appendsInTx : Infinity;
    for (const [idx, ek, lk] of this.st.recentFrom.iterate(r.end) as Iterable<[number, number, number]>) {
      if (idx >= limit) break;
      r.add(idx, ek, lk);
    }
    this.recentSeen = { version, appends: committed };
    return r;
  }

  /** Entries whose keys are not yet in the key tables (held in memory). */
  unmergedKeys(): number {
    return this.recentKeys().length;
  }

  /**
   * Moves the oldest complete chunk of recent keys into the key tables: sorted,
   * so that each page of a key table is written about once per chunk, in
   * transactions of at most `slice` rows that end once `sliceMs` have passed,
   * awaiting pause() between them (false: stop). The time bound keeps each
   * transaction from holding the event loop long, whatever the size of the
   * tables (4,096 rows took 30 to 100 ms at 1,000,000 entries, and every request
   * in flight waited that long at each of its turns of the loop).
   * The transactions are written unsynced: until the last one moves keys_merged
   * and deletes the chunk's recent_keys rows, a lost or repeated slice only
   * means the chunk is merged again (INSERT OR IGNORE). True if a chunk was merged.
   */
  async mergeRecentKeys(pause: () => Promise<boolean>, slice = 4096, sliceMs = 8): Promise<boolean> {
    const chunk = this.recentKeys().firstFull();
    if (!chunk) return false;
    for (const kind of ['envelope', 'leaf'] as const) {
      const stmt = kind === 'envelope' ? this.st.mergeEkey : this.st.mergeLkey;
      const { keys, indices } = chunk.sorted(kind);
      for (let i = 0; i < keys.length; ) {
        const from = i;
        this.writeUnsynced(() => {
          const until = performance.now() + sliceMs;
          const last = Math.min(keys.length, from + slice);
          for (let j = from; j < last; ) {
            // The clock is read every 64 rows.
            for (const end = Math.min(last, j + 64); j < end; j++) stmt.run(keys[j]!, indices[j]!);
            i = j;
            if (performance.now() >= until) break;
          }
        });
        if (!(await pause())) return false;
      }
    }
    this.writeUnsynced(() => {
      this.st.recentDelete.run(chunk.end);
      if (this.keysMerged() < chunk.end) this.setMeta('keys_merged', String(chunk.end));
    });
    this.recent?.dropBefore(chunk.end);
    return true;
  }

  getEntry(idx: number): Uint8Array | undefined {
    const r = this.st.get.get(idx) as { leaf: Buffer } | undefined;
    if (r) return u8(r.leaf);
    const bundle = this.getEntryBundle(Math.floor(idx / TILE_WIDTH));
    return bundle && decodeEntryBundle(bundle)[idx % TILE_WIDTH];
  }

  /** Entries with start <= idx < end, in order (fewer if the log ends before `end`). */
  getEntries(start: number, end: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = start; i < end; ) {
      const n = Math.floor(i / TILE_WIDTH);
      const stop = Math.min(end, (n + 1) * TILE_WIDTH);
      const bundle = this.getEntryBundle(n);
      if (bundle) {
        const all = decodeEntryBundle(bundle);
        for (; i < stop; i++) out.push(all[i - n * TILE_WIDTH]!);
        continue;
      }
      const rows = this.st.rangeLeaves.all(i, stop) as Buffer[];
      for (const r of rows) out.push(u8(r));
      if (rows.length < stop - i) break; // the log ends here
      i = stop;
    }
    return out;
  }

  /** The stored bundle of entries N*256 .. N*256+255, once packed (tlog-tiles entry-bundle bytes). */
  getEntryBundle(n: number): Uint8Array | undefined {
    const data = this.st.bundleGet.get(n) as Buffer | undefined;
    return data && u8(data);
  }

  /**
   * Must run inside write(): packs the 256 entry rows of bundle N into one
   * bundle row and deletes them. Does nothing (false) if it is packed already or
   * not complete.
   */
  packBundleInTx(n: number): boolean {
    if (this.st.bundleGet.get(n) !== undefined) return false;
    const leaves = this.st.rangeLeaves.all(n * TILE_WIDTH, (n + 1) * TILE_WIDTH) as Buffer[];
    if (leaves.length !== TILE_WIDTH || leaves.some((l) => l.length > MAX_ENTRY_SIZE)) return false;
    this.st.bundlePut.run(n, encodeEntryBundle(leaves.map(u8)));
    this.st.deleteRange.run(n * TILE_WIDTH, (n + 1) * TILE_WIDTH);
    return true;
  }

  getTile(level: number, idx: number): Uint8Array | undefined {
    const data = this.st.tileGet.get(tileId(level, idx)) as Buffer | undefined;
    return data && u8(data);
  }
  putTileInTx(level: number, idx: number, data: Uint8Array): void {
    this.st.tilePut.run(tileId(level, idx), data);
  }

  treeState(): { size: number; frontier: Uint8Array } {
    const r = this.st.treeGet.get() as { size: number; frontier: Buffer } | undefined;
    return r ? { size: r.size, frontier: u8(r.frontier) } : { size: 0, frontier: new Uint8Array(0) };
  }
  setTreeStateInTx(size: number, frontier: Uint8Array): void {
    this.st.treePut.run(size, frontier);
  }

  private cp(r: { size: number; root: Buffer; note: string; created_at: number; published_at: number | null } | undefined): StoredCheckpoint | undefined {
    return r && { size: r.size, root: u8(r.root), note: r.note, createdAt: r.created_at, publishedAt: r.published_at };
  }
  latestCheckpoint(): StoredCheckpoint | undefined {
    return this.cp(this.st.cpLatest.get() as never);
  }
  latestPublishedCheckpoint(): StoredCheckpoint | undefined {
    return this.cp(this.st.cpLatestPublished.get() as never);
  }
  getCheckpoint(size: number): StoredCheckpoint | undefined {
    return this.cp(this.st.cpGet.get(size) as never);
  }
  /** The checkpoint of this size if the log published it (as published, with its cosignatures). */
  getPublishedCheckpoint(size: number): StoredCheckpoint | undefined {
    const cp = this.getCheckpoint(size);
    return cp !== undefined && cp.publishedAt !== null ? cp : undefined;
  }
  /** A signed checkpoint; published at once when `publishedAt` is given (a log without witnesses). */
  insertCheckpoint(size: number, root: Uint8Array, note: string, createdAt: number, publishedAt: number | null = null): void {
    this.st.cpInsert.run(size, root, note, createdAt, publishedAt);
  }
  publishCheckpoint(size: number, note: string, publishedAt: number): void {
    this.st.cpPublish.run(note, publishedAt, size);
  }

  producers(): ProducerRow[] {
    return (this.st.producers.all() as { keyid: string; name: string; public_key: Buffer; types: string; added_idx: number; revoked_idx: number | null }[]).map(
      (r) => ({ name: r.name, keyid: r.keyid, publicKey: u8(r.public_key), types: JSON.parse(r.types) as string[], addedIndex: r.added_idx, revokedIndex: r.revoked_idx }),
    );
  }
  addProducerInTx(p: Omit<ProducerRow, 'revokedIndex'>): void {
    this.st.producerInsert.run(p.keyid, p.name, p.publicKey, JSON.stringify(p.types), p.addedIndex);
  }
  revokeProducerInTx(keyid: string, idx: number): boolean {
    return this.st.producerRevoke.run(idx, keyid).changes === 1;
  }

  /** Published checkpoints larger than `size`, smallest first. */
  publishedCheckpointsAfter(size: number, limit: number): StoredCheckpoint[] {
    return (this.st.cpPublishedAfter.all(size, limit) as never[]).map((r) => this.cp(r)!);
  }

  /** The largest anchored size, or -1. */
  lastAnchoredSize(): number {
    return (this.st.anchorMax.get() as { m: number | null }).m ?? -1;
  }

  putAnchor(size: number, receipt: string): void {
    this.st.anchorPut.run(size, receipt);
  }
  getAnchor(size: number): string | undefined {
    return (this.st.anchorGet.get(size) as { receipt: string } | undefined)?.receipt;
  }
  anchors(): { size: number; receipt: string }[] {
    return this.st.anchors.all() as { size: number; receipt: string }[];
  }
}

/** Entries in the log, from the largest index with a row of its own and the largest packed bundle. */
function countOf(maxRow: number | null, maxBundle: number | null): number {
  return Math.max(maxRow === null ? 0 : maxRow + 1, maxBundle === null ? 0 : (maxBundle + 1) * TILE_WIDTH);
}

/** The layout of an existing database ('1' for one that predates the meta row), or undefined for a new one. */
function layoutOf(db: Database.Database): string | undefined {
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'").get() === undefined) return undefined;
  return (db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get() as string | undefined) ?? '1';
}

/**
 * Brings a database of an earlier layout to this one, inside the caller's write
 * transaction (all or nothing), one layout at a time.
 */
function migrate(db: Database.Database): void {
  const version = layoutOf(db);
  if (version === '1') migrate1(db);
  else if (version !== '2') throw new Error(`ledger.db has layout ${version}; this version of ledger reads layouts 1 to ${SCHEMA_VERSION}`);
  migrate2(db);
}

/** Layout 1 kept 48-bit keys in the entry rows with two indexes, and the tiles in a WITHOUT ROWID table keyed by (level, idx). */
function migrate1(db: Database.Database): void {
  db.exec(`
    CREATE TABLE envelope_keys (k INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (k, idx)) WITHOUT ROWID;
    CREATE TABLE leaf_keys (k INTEGER NOT NULL, idx INTEGER NOT NULL, PRIMARY KEY (k, idx)) WITHOUT ROWID;
    INSERT INTO envelope_keys (k, idx) SELECT ekey >> 17, idx FROM entries ORDER BY 1, 2;
    INSERT INTO leaf_keys (k, idx) SELECT lkey >> 17, idx FROM entries ORDER BY 1, 2;
    DROP INDEX entries_ekey;
    DROP INDEX entries_lkey;
    ALTER TABLE entries DROP COLUMN ekey;
    ALTER TABLE entries DROP COLUMN lkey;
    ALTER TABLE tiles RENAME TO tiles_v1;
    CREATE TABLE tiles (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
    INSERT INTO tiles (id, data) SELECT idx * 64 + level, data FROM tiles_v1;
    DROP TABLE tiles_v1;
  `);
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema', '2')").run();
}

/** Layout 2 kept every key in the key tables: all of them are merged. */
function migrate2(db: Database.Database): void {
  const rows = db.prepare('SELECT MAX(idx) FROM entries').pluck().get() as number | null;
  const hasBundles = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bundles'").get() !== undefined;
  const bundles = hasBundles ? (db.prepare('SELECT MAX(idx) FROM bundles').pluck().get() as number | null) : null;
  const count = countOf(rows, bundles);
  db.exec('CREATE TABLE recent_keys (idx INTEGER PRIMARY KEY, ek INTEGER NOT NULL, lk INTEGER NOT NULL)');
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('keys_merged', ?)").run(String(count));
}
