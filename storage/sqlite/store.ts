// The ledger's SQLite store: tables and bytes, no proofs.
//
// Durability: WAL journal with synchronous=FULL, so a transaction is on disk
// (the WAL fsynced) before commit returns; an index is acknowledged only
// after the commit that holds its entry returns.
//
// Sequencing happens inside a write transaction (BEGIN IMMEDIATE): the next
// index is MAX(idx)+1 read under SQLite's single writer lock, so the server and
// an administrative CLI appending at the same time can never assign an index twice.

import Database from 'better-sqlite3';

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
  /** 48-bit prefix of the envelope digest (dedup lookups). */
  ekey: number;
  /** 48-bit prefix of the leaf hash (lookups by leaf hash). */
  lkey: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
  idx INTEGER PRIMARY KEY,
  leaf BLOB NOT NULL,
  ekey INTEGER NOT NULL,
  lkey INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_ekey ON entries(ekey);
CREATE INDEX IF NOT EXISTS entries_lkey ON entries(lkey);
CREATE TABLE IF NOT EXISTS tiles (
  level INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;
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

  constructor(path: string, opts: { readonly?: boolean; busyTimeoutMs?: number } = {}) {
    this.db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
    if (!opts.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      // After a checkpoint has copied the WAL back, cut its file to the size of the
      // auto-checkpoint threshold (1000 pages): a large transaction otherwise leaves
      // the file at its high-water mark for good. Durability is unchanged.
      this.db.pragma(`journal_size_limit = ${1000 * (this.db.pragma('page_size', { simple: true }) as number)}`);
      this.db.exec(SCHEMA);
    }
    this.st = {
      maxIdx: this.db.prepare('SELECT MAX(idx) AS m FROM entries'),
      insert: this.db.prepare('INSERT INTO entries (idx, leaf, ekey, lkey) VALUES (?, ?, ?, ?)'),
      byEkey: this.db.prepare('SELECT idx, leaf FROM entries WHERE ekey = ?'),
      byLkey: this.db.prepare('SELECT idx, leaf FROM entries WHERE lkey = ?'),
      get: this.db.prepare('SELECT leaf FROM entries WHERE idx = ?'),
      range: this.db.prepare('SELECT idx, leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx'),
      tileGet: this.db.prepare('SELECT data FROM tiles WHERE level = ? AND idx = ?'),
      tilePut: this.db.prepare('INSERT OR REPLACE INTO tiles (level, idx, data) VALUES (?, ?, ?)'),
      treeGet: this.db.prepare('SELECT size, frontier FROM tree WHERE id = 1'),
      treePut: this.db.prepare('INSERT OR REPLACE INTO tree (id, size, frontier) VALUES (1, ?, ?)'),
      cpLatest: this.db.prepare('SELECT * FROM checkpoints ORDER BY size DESC LIMIT 1'),
      cpLatestPublished: this.db.prepare('SELECT * FROM checkpoints WHERE published_at IS NOT NULL ORDER BY size DESC LIMIT 1'),
      cpGet: this.db.prepare('SELECT * FROM checkpoints WHERE size = ?'),
      cpInsert: this.db.prepare('INSERT INTO checkpoints (size, root, note, created_at, published_at) VALUES (?, ?, ?, ?, NULL)'),
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
    };
  }

  close(): void {
    this.db.close();
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE): all or nothing, durable on return. */
  write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
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
    const m = (this.st.maxIdx.get() as { m: number | null }).m;
    return m === null ? 0 : m + 1;
  }

  /** Must run inside write(): appends entries at the next indices; returns the first index. */
  appendInTx(entries: readonly NewEntry[]): number {
    const first = this.entryCount();
    let i = first;
    for (const e of entries) this.st.insert.run(i++, e.leaf, e.ekey, e.lkey);
    return first;
  }

  entriesByEnvelopeKey(ekey: number): { idx: number; leaf: Uint8Array }[] {
    return (this.st.byEkey.all(ekey) as { idx: number; leaf: Buffer }[]).map((r) => ({ idx: r.idx, leaf: u8(r.leaf) }));
  }
  entriesByLeafKey(lkey: number): { idx: number; leaf: Uint8Array }[] {
    return (this.st.byLkey.all(lkey) as { idx: number; leaf: Buffer }[]).map((r) => ({ idx: r.idx, leaf: u8(r.leaf) }));
  }

  getEntry(idx: number): Uint8Array | undefined {
    const r = this.st.get.get(idx) as { leaf: Buffer } | undefined;
    return r && u8(r.leaf);
  }

  /** Entries with start <= idx < end, in order. */
  getEntries(start: number, end: number): Uint8Array[] {
    return (this.st.range.all(start, end) as { leaf: Buffer }[]).map((r) => u8(r.leaf));
  }

  getTile(level: number, idx: number): Uint8Array | undefined {
    const r = this.st.tileGet.get(level, idx) as { data: Buffer } | undefined;
    return r && u8(r.data);
  }
  putTileInTx(level: number, idx: number, data: Uint8Array): void {
    this.st.tilePut.run(level, idx, data);
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
  insertCheckpoint(size: number, root: Uint8Array, note: string, createdAt: number): void {
    this.st.cpInsert.run(size, root, note, createdAt);
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
