// The WAL checkpointer: a worker thread with its own connection copies the WAL
// back into the database file, so the writer's commits never do it. The worker
// needs compiled JavaScript, so this test loads the built module from dist/.

import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { WalCheckpointer as WalCheckpointerType } from '../../storage/sqlite/wal-checkpointer.js';
import { LedgerStore } from '../../storage/sqlite/store.js';
import { tempDbPaths } from '../helpers/store.js';

const dbPath = tempDbPaths('ledger-wal-');
const load = async () => (await import('../../dist/storage/sqlite/wal-checkpointer.js' as string)) as { WalCheckpointer: typeof WalCheckpointerType };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await sleep(25);
  expect(ok(), what).toBe(true);
}

/** About 4 MB of new pages in one commit. */
function writeMegabytes(store: LedgerStore, first: number): void {
  store.write(() => {
    for (let i = 0; i < 1000; i++) store.putTileInTx(0, first + i, new Uint8Array(4000).fill(i & 255));
  });
}

describe('WalCheckpointer', () => {
  it('copies the WAL into the database off the writing thread, which checkpoints nothing itself', async () => {
    const { WalCheckpointer } = await load();
    const path = dbPath();
    const store = new LedgerStore(path);
    const before = statSync(path).size;
    const ckpt = new WalCheckpointer(path, store.db, { intervalMs: 20, restartPages: 1_000_000 });
    expect(ckpt.running).toBe(true);
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    writeMegabytes(store, 0);
    writeMegabytes(store, 1000);
    // The pages reach the database file although this connection never checkpointed.
    await until('the database file holds the new pages', () => statSync(path).size > before + 7_000_000);
    await until('the worker reported its checkpoints', () => ckpt.stats.passive > 0 && ckpt.stats.restart === 0);
    expect(store.getTile(0, 1500)).toEqual(new Uint8Array(4000).fill(500 & 255));
    ckpt.close();
    expect(store.db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    store.close();
  });

  it('rewinds a WAL that outgrew restartPages with a RESTART checkpoint', async () => {
    const { WalCheckpointer } = await load();
    const path = dbPath();
    const store = new LedgerStore(path);
    const ckpt = new WalCheckpointer(path, store.db, { intervalMs: 20, restartPages: 500 });
    writeMegabytes(store, 0);
    await until('a RESTART checkpoint ran', () => ckpt.stats.restart > 0);
    // The next commit starts the WAL from its beginning: it holds only that commit's frames.
    store.write(() => store.putTileInTx(1, 0, new Uint8Array(64)));
    const log = (store.db.pragma('wal_checkpoint(PASSIVE)') as { log: number }[])[0]!.log;
    expect(log).toBeLessThan(20);
    ckpt.close();
    store.close();
  });
});
