// Group commit: submissions that arrive while a transaction is being written
// wait for the next one, so many entries share one fsync. An index is handed
// out only after the transaction that holds its entry is durable.
//
// The commit and its fsync are split: a transaction is written to the WAL
// without a sync (the event loop is not blocked for the disk), then one
// fdatasync of the WAL on libuv's thread pool makes it and every commit before
// it durable, and only then are its submissions answered. One sync runs at a
// time; the commits written meanwhile share the next one. Until its sync
// completes an entry is not `durable`: it is neither integrated nor served.

import { decodeLeaf, envelopeDigest } from '../core/entry.js';
import { equal, toHex } from '../core/bytes.js';
import { hashLeaf } from '../core/merkle.js';
import type { LedgerStore, NewEntry } from '../../storage/sqlite/store.js';
import { LedgerError } from './errors.js';
import type { ProducerRegistry } from './producers.js';

export interface Prepared extends NewEntry {
  /** keyids of the producers whose signatures authorised it. */
  signers: string[];
}

export interface Sequenced {
  index: number;
  leafHash: Uint8Array;
  duplicate: boolean;
}

interface Pending {
  item: Prepared;
  resolve: (r: Sequenced) => void;
  reject: (e: unknown) => void;
}

/** A commit written to the WAL and waiting for its sync: how to answer it. */
interface Unsynced {
  settle: () => void;
  fail: (e: LedgerError) => void;
  first: number;
  leafHashes: Uint8Array[];
}

export class Sequencer {
  private queue: Pending[] = [];
  private scheduled = false;
  private unsynced: Unsynced[] = [];
  private syncing = false;
  /** The commits the running sync covers. */
  private inSync: Unsynced[] = [];
  private closed = false;
  /** Entries on disk when the last sync started (so durable once it completed). */
  private synced = 0;
  /** A sync failed: commits stand in the WAL that are not known to be on disk. */
  private dirty = false;
  /** Called after every commit that added entries: the first index, and the leaf hashes in order. */
  onCommit: (first: number, leafHashes: Uint8Array[]) => void = () => {};
  readonly stats = { transactions: 0, entries: 0, duplicates: 0 };

  constructor(
    private readonly store: LedgerStore,
    private readonly registry: ProducerRegistry,
    private readonly maxPerTransaction = 4096,
  ) {
    // What an earlier process committed without its sync (it crashed in between) is made durable now.
    store.syncWalNow();
  }

  /**
   * Entries known to be on disk. Every committed entry when none of ours awaits
   * its sync (other writers, the CLI, commit with a full sync); else those
   * that were committed when the last completed sync started.
   */
  get durable(): number {
    return this.allSynced ? this.store.entryCount() : this.synced;
  }

  /** No commit of ours is waiting for a sync, running one, or left unsynced by a failed one. */
  private get allSynced(): boolean {
    return this.unsynced.length === 0 && !this.syncing && !this.dirty;
  }

  submit(item: Prepared): Promise<Sequenced> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private findDuplicate(item: Prepared): Sequenced | undefined {
    for (const c of this.store.entriesByEnvelopeDigest(item.digest)) {
      try {
        if (equal(envelopeDigest(decodeLeaf(c.leaf).envelope), item.digest)) return { index: c.idx, leafHash: hashLeaf(c.leaf), duplicate: true };
      } catch {
        /* a stored leaf always decodes; ignore a candidate that does not */
      }
    }
    return undefined;
  }

  private flush(): void {
    this.scheduled = false;
    // Everything committed so far is durable when nothing of ours awaits a sync:
    // that is the durable count until the commits below have had theirs.
    if (this.allSynced) this.synced = this.store.entryCount();
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxPerTransaction);
      const results: (Sequenced | LedgerError)[] = new Array(batch.length);
      let added = 0;
      let first = 0;
      let hashes: Uint8Array[] = [];
      try {
        this.store.writeUnsynced(() => {
          // Inside the write lock: the registry is exactly what this transaction sees,
          // so an entry is never sequenced after its key's revocation.
          this.registry.refresh();
          const active = new Set(this.registry.active().map((r) => r.keyid));
          const inBatch = new Map<string, number>(); // digest -> position in `fresh`
          const fresh: Prepared[] = [];
          const slot: number[] = new Array(batch.length).fill(-1); // position in `fresh` of a new or in-batch duplicate entry
          batch.forEach((p, pos) => {
            if (!p.item.signers.some((k) => active.has(k))) {
              results[pos] = new LedgerError(403, 'revoked-key', 'the signing key has been revoked');
              return;
            }
            const dk = toHex(p.item.digest);
            const same = inBatch.get(dk);
            if (same !== undefined) {
              slot[pos] = same;
              return;
            }
            const dup = this.findDuplicate(p.item);
            if (dup) {
              results[pos] = dup;
              return;
            }
            inBatch.set(dk, fresh.length);
            slot[pos] = fresh.length;
            fresh.push(p.item);
          });
          first = this.store.appendInTx(fresh);
          hashes = fresh.map((f) => f.leafHash);
          batch.forEach((p, pos) => {
            const f = slot[pos]!;
            if (f < 0) return;
            results[pos] = { index: first + f, leafHash: fresh[f]!.leafHash, duplicate: fresh[f] !== p.item };
          });
          added = fresh.length;
        });
      } catch (e) {
        const err = isBusy(e)
          ? new LedgerError(503, 'storage-busy', 'the database is busy or full; retry', 1)
          : new LedgerError(503, 'storage-error', 'the entry could not be stored; retry', 1);
        for (const p of batch) p.reject(err);
        continue;
      }
      this.stats.transactions++;
      this.stats.entries += added;
      this.unsynced.push({
        settle: () =>
          batch.forEach((p, pos) => {
            const r = results[pos]!;
            if (r instanceof LedgerError) p.reject(r);
            else {
              if (r.duplicate) this.stats.duplicates++;
              p.resolve(r);
            }
          }),
        fail: (e) => batch.forEach((p) => p.reject(e)),
        first,
        leafHashes: added > 0 ? hashes : [],
      });
    }
    this.sync();
  }

  /**
   * One fdatasync of the WAL for every commit written before it started; then
   * their answers, in commit order, and the next sync if commits came meanwhile.
   * A duplicate answered from an entry still awaiting its sync waits for this
   * same sync or a later one, so no answer ever names a non-durable entry.
   */
  private sync(): void {
    if (this.closed || this.syncing || (this.unsynced.length === 0 && !this.dirty)) return;
    this.syncing = true;
    const taken = this.unsynced;
    this.inSync = taken;
    this.unsynced = [];
    const upTo = this.store.entryCount();
    this.store.syncWal().then(
      () => {
        if (this.closed) return; // answered by close()
        this.synced = upTo;
        this.syncing = false;
        this.dirty = false;
        for (const u of taken) {
          u.settle();
          if (u.leafHashes.length > 0) this.onCommit(u.first, u.leafHashes);
        }
        this.sync();
      },
      () => {
        if (this.closed) return;
        this.syncing = false;
        this.dirty = true;
        // Committed but not known to be on disk: the client retries and, once a
        // later sync has succeeded, gets the entry's index as a duplicate (200).
        const err = new LedgerError(503, 'storage-error', 'the entry could not be made durable; retry', 1);
        for (const u of taken) u.fail(err);
        setTimeout(() => this.sync(), 1000).unref();
      },
    );
  }

  /**
   * Before the store closes: syncs the WAL once more, blocking, and answers
   * every commit still waiting for its sync (they are durable now).
   */
  close(): void {
    if (this.closed) return;
    const waiting = this.syncing ? [...this.inSync, ...this.unsynced] : this.unsynced;
    this.closed = true;
    this.unsynced = [];
    if (waiting.length === 0) return;
    try {
      this.store.syncWalNow();
    } catch {
      const err = new LedgerError(503, 'shutting-down', 'the server is shutting down; retry');
      for (const u of waiting) u.fail(err);
      return;
    }
    for (const u of waiting) u.settle();
  }
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_FULL') || code.startsWith('SQLITE_LOCKED') || code.startsWith('SQLITE_IOERR');
}
