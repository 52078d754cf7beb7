// The sequencer acknowledges an index only once a WAL sync that started after
// its commit has finished; a failed sync acknowledges nothing, and a retry finds
// the committed entry as a duplicate.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeLeaf } from '../../src/core/entry.js';
import { LedgerError } from '../../src/log/errors.js';
import { newEntryOf, ProducerRegistry } from '../../src/log/producers.js';
import { Sequencer, type Prepared } from '../../src/log/sequencer.js';
import { LedgerStore } from '../../storage/sqlite/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-sequencer-'));
  dirs.push(dir);
  const store = new LedgerStore(join(dir, 'ledger.db'));
  store.write(() => store.addProducerInTx({ name: 'p', keyid: 'k1', publicKey: new Uint8Array(32), types: ['evidence'], addedIndex: 0 }));
  const realSync = store.syncWal.bind(store);
  const gates: { open: () => void; fail: (e: Error) => void; started: number }[] = [];
  // Each sync waits for the test to open (or fail) it, then really syncs.
  store.syncWal = () =>
    new Promise<void>((resolve, reject) => {
      const started = store.entryCount();
      gates.push({ open: () => realSync().then(resolve, reject), fail: reject, started });
    });
  const seq = new Sequencer(store, new ProducerRegistry(store));
  return { store, seq, gates };
}

let n = 0;
function item(): Prepared {
  const payload = { n: n++ };
  const envelope = { payloadType: 'application/vnd.ledger.evidence.v1+json', payload: new TextEncoder().encode(JSON.stringify(payload)), signatures: [{ keyid: 'k1', sig: new Uint8Array(64).fill(1) }] };
  return { ...newEntryOf(encodeLeaf({ kind: 'evidence', time: 1, envelope }), envelope), signers: ['k1'] };
}

const settledSoon = async <T>(p: Promise<T>): Promise<boolean> => {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setTimeout(r, 50));
  return done;
};

describe('Sequencer', () => {
  it('answers only after the sync that covers the commit; what arrives during a sync is committed after it', async () => {
    const { store, seq, gates } = setup();
    const a = seq.submit(item());
    expect(await settledSoon(a)).toBe(false);
    expect(store.entryCount()).toBe(1); // committed, not answered
    expect(gates.length).toBe(1);
    // A second submission waits for the running sync to end, then is committed and synced on its own.
    const b = seq.submit(item());
    expect(await settledSoon(b)).toBe(false);
    expect(gates.length).toBe(1);
    expect(store.entryCount()).toBe(1);
    gates[0]!.open();
    expect((await a).index).toBeGreaterThanOrEqual(0);
    expect(await settledSoon(b)).toBe(false);
    await new Promise((r) => setTimeout(r, 20));
    expect(gates.length).toBe(2);
    gates[1]!.open();
    expect((await b).index).toBe((await a).index + 1);
    store.close();
  });

  it('acknowledges nothing when the sync fails; a retry finds the committed entry as a duplicate', async () => {
    const { store, seq, gates } = setup();
    const it1 = item();
    const first = seq.submit(it1);
    await new Promise((r) => setTimeout(r, 20));
    gates[0]!.fail(Object.assign(new Error('EIO'), { code: 'EIO' }));
    const err = await first.catch((e) => e);
    expect(err).toBeInstanceOf(LedgerError);
    expect((err as LedgerError).status).toBe(503);
    expect((err as LedgerError).code).toBe('storage-error');
    const again = seq.submit(it1);
    await new Promise((r) => setTimeout(r, 20));
    gates[1]!.open();
    const r = await again;
    expect(r.duplicate).toBe(true);
    expect(store.getEntry(r.index)).toEqual(it1.leaf);
    store.close();
  });
});
