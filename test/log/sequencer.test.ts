// The sequencer's split commit: a transaction goes to the WAL unsynced, one
// fdatasync of the WAL then makes it durable, and only then is it answered,
// counted durable, integrated and served. These tests hold the sync of a real
// store (its syncWal) to look at the state in between.

import { describe, expect, it } from 'vitest';
import { utf8 } from '../../src/core/bytes.js';
import { encodeLeaf, payloadTypeOf } from '../../src/core/entry.js';
import { LedgerError } from '../../src/log/errors.js';
import { newEntryOf, ProducerRegistry } from '../../src/log/producers.js';
import { Sequencer } from '../../src/log/sequencer.js';
import { LedgerStore } from '../../storage/sqlite/store.js';
import { entryOf, tempDbPaths } from '../helpers/store.js';

const dbPath = tempDbPaths('ledger-seq-');

/** A distinct evidence entry signed (as far as the sequencer looks) by keyid k1. */
function item(n: number) {
  const envelope = { payloadType: payloadTypeOf('evidence'), payload: utf8(`{"n":${n}}`), signatures: [{ keyid: 'k1', sig: new Uint8Array(64).fill(n) }] };
  return { ...newEntryOf(encodeLeaf({ kind: 'evidence', time: 1_764_000_000_000 + n, envelope }), envelope), signers: ['k1'] };
}

function setup() {
  const store = new LedgerStore(dbPath());
  store.write(() => {
    store.appendInTx([entryOf(0)]);
    store.addProducerInTx({ name: 'p', keyid: 'k1', publicKey: new Uint8Array(32).fill(9), types: ['evidence'], addedIndex: 0 });
  });
  // Each sync waits until the test lets it run (the real fdatasync) or fail;
  // run() resolves once that sync and the answers after it are done.
  const held: { run: () => Promise<void>; fail: () => void }[] = [];
  const realSync = store.syncWal.bind(store);
  store.syncWal = () =>
    new Promise<void>((resolve, reject) =>
      held.push({
        run: () => realSync().then(resolve, reject).then(turn),
        fail: () => reject(new Error('EIO')),
      }),
    );
  const seq = new Sequencer(store, new ProducerRegistry(store));
  return { store, seq, held };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

function watch<T>(p: Promise<T>) {
  const w: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then(
    (value) => Object.assign(w, { done: true, value }),
    (error) => Object.assign(w, { done: true, error }),
  );
  return w;
}

describe('sequencer: commit, then sync, then answer', () => {
  it('answers a submission only once the WAL sync is done, and counts the entry durable only then', async () => {
    const { store, seq, held } = setup();
    expect(seq.durable).toBe(1);
    const w = watch(seq.submit(item(1)));
    await turn();
    expect(store.entryCount()).toBe(2); // committed to the WAL
    expect(held).toHaveLength(1);
    expect(seq.durable).toBe(1); // not yet durable: not integrated, not served
    await turn();
    expect(w.done).toBe(false);
    await held[0]!.run();
    expect(w.value).toEqual({ index: 1, leafHash: item(1).leafHash, duplicate: false });
    expect(seq.durable).toBe(2);
    store.close();
  });

  it('commits made during a sync share the next one, answered in order', async () => {
    const { store, seq, held } = setup();
    const a = watch(seq.submit(item(1)));
    await turn();
    const b = watch(seq.submit(item(2)));
    const c = watch(seq.submit(item(3)));
    await turn();
    expect(store.entryCount()).toBe(4);
    expect(held).toHaveLength(1); // one sync at a time
    await held[0]!.run();
    expect(a.value).toMatchObject({ index: 1 });
    expect(b.done).toBe(false); // its commit came after the first sync started
    expect(seq.durable).toBe(2);
    expect(held).toHaveLength(2);
    await held[1]!.run();
    expect([b.value, c.value]).toMatchObject([{ index: 2 }, { index: 3 }]);
    expect(seq.durable).toBe(4);
    store.close();
  });

  it('a failed sync answers 503 and keeps the entry from counting durable; the retry gets its index as a duplicate after a good sync', async () => {
    const { store, seq, held } = setup();
    const first = watch(seq.submit(item(1)));
    await turn();
    held[0]!.fail();
    await turn();
    expect(first.error).toBeInstanceOf(LedgerError);
    expect((first.error as LedgerError).status).toBe(503);
    expect((first.error as LedgerError).code).toBe('storage-error');
    expect(store.entryCount()).toBe(2);
    expect(seq.durable).toBe(1); // in the WAL, not known to be on disk
    const again = watch(seq.submit(item(1)));
    await turn();
    expect(held).toHaveLength(2);
    expect(again.done).toBe(false); // the duplicate names an entry not yet durable: it waits too
    await held[1]!.run();
    expect(again.value).toEqual({ index: 1, leafHash: item(1).leafHash, duplicate: true });
    expect(seq.durable).toBe(2);
    store.close();
  });

  it('close syncs once more and answers what was waiting for its sync', async () => {
    const { store, seq, held } = setup();
    const w = watch(seq.submit(item(1)));
    await turn();
    expect(held).toHaveLength(1);
    seq.close();
    await turn();
    expect(w.value).toMatchObject({ index: 1, duplicate: false });
    held[0]!.fail(); // the sync that was running ends after close: ignored
    await turn();
    expect(w.error).toBeUndefined();
    store.close();
  });
});
