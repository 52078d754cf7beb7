// The witness's state in SQLite: for each origin the latest checkpoint it
// cosigned, and the fork evidence it kept.
//
// Durability as the ledger's store: WAL with synchronous=FULL, so a state is on
// disk before the transaction that wrote it returns, and so before the witness
// answers. Every check-and-update runs in one BEGIN IMMEDIATE transaction (see
// Witness.addCheckpoint): SQLite's single writer lock serialises requests, also
// between processes sharing the file.

import Database from 'better-sqlite3';

export interface CosignedState {
  origin: string;
  size: number;
  root: Uint8Array;
  /** The checkpoint note as cosigned: the verified log signature(s) and the witness's cosignature. */
  note: string;
  /** ms since epoch. */
  updatedAt: number;
}

export type ForkReason = 'root-mismatch' | 'inconsistent-proof';

export interface ForkEvidence {
  id: number;
  origin: string;
  reason: ForkReason;
  receivedAt: number;
  /** The request as refused: old size, proof (base64 lines) and the log-signed note. */
  oldSize: number;
  proof: string[];
  submittedNote: string;
  /** The checkpoint the witness had cosigned, which the submitted one contradicts. */
  cosignedNote: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS checkpoints (
  origin TEXT PRIMARY KEY, origin_hash TEXT NOT NULL UNIQUE,
  size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL, updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS forks (
  id INTEGER PRIMARY KEY, origin TEXT NOT NULL, reason TEXT NOT NULL, received_at INTEGER NOT NULL,
  old_size INTEGER NOT NULL, proof TEXT NOT NULL, submitted_note TEXT NOT NULL, cosigned_note TEXT NOT NULL,
  digest TEXT NOT NULL UNIQUE
);
`;

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

interface StateRow {
  origin: string;
  size: number;
  root: Buffer;
  note: string;
  updated_at: number;
}

export class WitnessStore {
  readonly db: Database.Database;
  private readonly st;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(SCHEMA);
    this.st = {
      get: this.db.prepare('SELECT origin, size, root, note, updated_at FROM checkpoints WHERE origin = ?'),
      byHash: this.db.prepare('SELECT origin, size, root, note, updated_at FROM checkpoints WHERE origin_hash = ?'),
      all: this.db.prepare('SELECT origin, size, root, note, updated_at FROM checkpoints ORDER BY origin'),
      put: this.db.prepare(
        'INSERT INTO checkpoints (origin, origin_hash, size, root, note, updated_at) VALUES (?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT(origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note, updated_at = excluded.updated_at',
      ),
      addFork: this.db.prepare(
        'INSERT OR IGNORE INTO forks (origin, reason, received_at, old_size, proof, submitted_note, cosigned_note, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      forks: this.db.prepare('SELECT * FROM forks ORDER BY id'),
    };
  }

  close(): void {
    this.db.close();
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE): all or nothing, durable on return. */
  write<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  private state(r: StateRow | undefined): CosignedState | undefined {
    return r && { origin: r.origin, size: r.size, root: u8(r.root), note: r.note, updatedAt: r.updated_at };
  }

  get(origin: string): CosignedState | undefined {
    return this.state(this.st.get.get(origin) as StateRow | undefined);
  }

  /** By the lowercase hex SHA-256 of the origin (the monitoring path). */
  getByOriginHash(hex: string): CosignedState | undefined {
    return this.state(this.st.byHash.get(hex) as StateRow | undefined);
  }

  all(): CosignedState[] {
    return (this.st.all.all() as StateRow[]).map((r) => this.state(r)!);
  }

  /** Must run inside write(). */
  putInTx(s: CosignedState, originHash: string): void {
    this.st.put.run(s.origin, originHash, s.size, s.root, s.note, s.updatedAt);
  }

  /** Must run inside write(). The same evidence (same digest) is kept once. */
  addForkInTx(f: Omit<ForkEvidence, 'id'>, digest: string): void {
    this.st.addFork.run(f.origin, f.reason, f.receivedAt, f.oldSize, JSON.stringify(f.proof), f.submittedNote, f.cosignedNote, digest);
  }

  forks(): ForkEvidence[] {
    return (
      this.st.forks.all() as { id: number; origin: string; reason: ForkReason; received_at: number; old_size: number; proof: string; submitted_note: string; cosigned_note: string }[]
    ).map((r) => ({
      id: r.id,
      origin: r.origin,
      reason: r.reason,
      receivedAt: r.received_at,
      oldSize: r.old_size,
      proof: JSON.parse(r.proof) as string[],
      submittedNote: r.submitted_note,
      cosignedNote: r.cosigned_note,
    }));
  }
}
