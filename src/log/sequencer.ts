// Group commit: submissions that arrive while a transaction is being written
// wait for the next one, so many entries share one fsync. An index is handed
// out only after the transaction that holds its entry has committed.

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

export class Sequencer {
  private queue: Pending[] = [];
  private scheduled = false;
  /** Called after every commit that added entries: the first index, and the leaf hashes in order. */
  onCommit: (first: number, leafHashes: Uint8Array[]) => void = () => {};
  readonly stats = { transactions: 0, entries: 0, duplicates: 0 };

  constructor(
    private readonly store: LedgerStore,
    private readonly registry: ProducerRegistry,
    private readonly maxPerTransaction = 4096,
  ) {}

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
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxPerTransaction);
      const results: (Sequenced | LedgerError)[] = new Array(batch.length);
      let added = 0;
      let first = 0;
      let hashes: Uint8Array[] = [];
      try {
        this.store.write(() => {
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
      batch.forEach((p, pos) => {
        const r = results[pos]!;
        if (r instanceof LedgerError) p.reject(r);
        else {
          if (r.duplicate) this.stats.duplicates++;
          p.resolve(r);
        }
      });
      if (added > 0) this.onCommit(first, hashes);
    }
  }
}

function isBusy(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_FULL') || code.startsWith('SQLITE_LOCKED') || code.startsWith('SQLITE_IOERR');
}
