// Storage trouble, made real: another SQLite connection holding the write lock
// past the server's busy timeout, a file system that is really full (a tiny
// tmpfs, where mounting is permitted), and the database size cap. Each must
// answer 503 storage-busy with Retry-After, store nothing half-way, keep the
// read API serving, and recover without a restart once the trouble is gone.

import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromBase64, toHex } from '../../src/core/bytes.js';
import { hashLeaf } from '../../src/core/merkle.js';
import { BIN, startServe, tmp, type Server } from '../helpers/procs.js';
import { evidence, type TestProducer } from '../helpers/producer.js';
import { makeLog, postJson, setConfig } from './log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function integrity(dir: string): string {
  const db = new Database(join(dir, 'ledger.db'), { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

/** Waits until the published checkpoint holds at least `size` entries; returns its size. */
async function checkpointReaches(url: string, size: number, withinMs = 10_000): Promise<number> {
  const until = Date.now() + withinMs;
  for (;;) {
    const r = await fetch(`${url}/healthz`);
    const h = (await r.json()) as { published: number };
    if (h.published >= size) return h.published;
    if (Date.now() > until) throw new Error(`checkpoint stuck at ${h.published}, want ${size}`);
    await sleep(50);
  }
}

/** Every acknowledged index still holds the acknowledged leaf. */
async function expectAcked(url: string, acked: Map<number, string>): Promise<void> {
  for (const [index, leafHash] of acked) {
    const e = (await (await fetch(`${url}/v1/entries/${index}`)).json()) as { data: string };
    expect(toHex(hashLeaf(fromBase64(e.data))), `entry ${index}`).toBe(toHex(fromBase64(leafHash)));
  }
}

function expectStorageBusy(r: { status: number; headers: Headers; body: any }): void {
  expect(r.status).toBe(503);
  expect(r.body.error.code).toBe('storage-busy');
  expect(r.headers.get('retry-after')).toBe('1');
}

/** Submits entries of about 2 KB until one is refused; returns the refusal. Acknowledged ones go into `acked`. */
async function submitUntilRefused(url: string, p: TestProducer, acked: Map<number, string>, max: number) {
  for (let i = 0; i < max; i++) {
    const r = await postJson(`${url}/v1/entries`, p.envelope('evidence', evidence({ reason: 'r'.repeat(2000) })));
    if (r.status !== 201) return r;
    acked.set(r.body.index, r.body.leafHash);
  }
  throw new Error(`${max} entries were all accepted`);
}

describe('SQLite busy: another connection holds the write lock', () => {
  it('answers 503 storage-busy with Retry-After, stores nothing, keeps serving reads, and accepts again once the lock is released', async () => {
    const log = makeLog({ busyTimeoutMs: 200, checkpointIntervalMs: 50 });
    const p = log.producers[0]!;
    const server = await startServe(BIN.ledger, log.dir);
    try {
      const first = await postJson(`${server.url}/v1/entries?wait=checkpoint`, p.envelope('evidence', evidence()));
      expect(first.status).toBe(201);
      const refused = p.envelope('evidence', evidence());
      const db = new Database(join(log.dir, 'ledger.db'));
      db.exec('BEGIN IMMEDIATE'); // the write lock, held past the server's 200 ms busy timeout
      try {
        const t0 = Date.now();
        expectStorageBusy(await postJson(`${server.url}/v1/entries`, refused));
        expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
        const batch = await postJson(`${server.url}/v1/entries:batch`, { envelopes: [p.envelope('evidence', evidence())] });
        expect(batch.body.results[0].status).toBe(503);
        expect(batch.body.results[0].error.code).toBe('storage-busy');
        expect(batch.headers.get('retry-after')).toBe('1');
        // WAL readers are not blocked by the writer.
        expect((await fetch(`${server.url}/checkpoint`)).status).toBe(200);
        expect((await fetch(`${server.url}/v1/entries/${first.body.index}`)).status).toBe(200);
      } finally {
        db.exec('ROLLBACK');
        db.close();
      }
      const again = await postJson(`${server.url}/v1/entries?wait=checkpoint`, refused);
      expect(again.status).toBe(201);
      expect(again.body.index).toBe(first.body.index + 1); // nothing of the refused attempts was stored
      expect(server.proc.exitCode).toBeNull();
    } finally {
      await server.kill();
    }
    expect(integrity(log.dir)).toBe('ok');
  });

  it('resumes integration and signing by itself after the lock is released, with no new submission', async () => {
    const log = makeLog({ busyTimeoutMs: 100, checkpointIntervalMs: 800 });
    const p = log.producers[0]!;
    const server = await startServe(BIN.ledger, log.dir);
    try {
      await postJson(`${server.url}/v1/entries?wait=checkpoint`, p.envelope('evidence', evidence()));
      // Sequenced within the checkpoint interval: integrated only when it ends, which is while the lock is held.
      const acked = new Map<number, string>();
      for (let i = 0; i < 5; i++) {
        const r = await postJson(`${server.url}/v1/entries`, p.envelope('evidence', evidence()));
        expect(r.status).toBe(201);
        acked.set(r.body.index, r.body.leafHash);
      }
      const db = new Database(join(log.dir, 'ledger.db'));
      db.exec('BEGIN IMMEDIATE');
      await sleep(2000);
      const during = (await (await fetch(`${server.url}/healthz`)).json()) as { treeSize: number; sequenced: number };
      expect(during.treeSize).toBeLessThan(during.sequenced);
      db.exec('ROLLBACK');
      db.close();
      await checkpointReaches(server.url, Math.max(...acked.keys()) + 1);
      await expectAcked(server.url, acked);
      expect(server.stderr()).toMatch(/integration failed: database is locked/);
    } finally {
      await server.kill();
    }
    expect(integrity(log.dir)).toBe('ok');
  });
});

// A real full disk needs a mount; without the permission, the size-cap test below covers SQLITE_FULL.
const mountPoint = tmp('ledger-tmpfs-');
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m,mode=0700', 'tmpfs', mountPoint]).status === 0;

describe('disk full', () => {
  afterAll(() => {
    if (mounted) spawnSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it.skipIf(!mounted)('on a full tmpfs answers 503 storage-busy, keeps every acknowledged entry, and recovers by itself once space is freed', async () => {
    const log = makeLog({ busyTimeoutMs: 200, checkpointIntervalMs: 50 }, 1, mountPoint);
    const p = log.producers[0]!;
    const server = await startServe(BIN.ledger, log.dir);
    const acked = new Map<number, string>();
    const filler = join(mountPoint, 'filler');
    try {
      const first = await postJson(`${server.url}/v1/entries?wait=checkpoint`, p.envelope('evidence', evidence()));
      acked.set(first.body.index, first.body.leafHash);
      // Fill the file system to the last byte.
      const fd = openSync(filler, 'w');
      for (const size of [65536, 4096, 1]) {
        const chunk = new Uint8Array(size);
        try {
          for (;;) writeSync(fd, chunk);
        } catch (e) {
          expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
        }
      }
      closeSync(fd);

      expectStorageBusy(await submitUntilRefused(server.url, p, acked, 2000));
      // The WAL checkpointer may rewind the WAL meanwhile, and a commit that fits in WAL
      // space already on disk is stored (durably; it is checked below like every other).
      // Once that space is used up too, the refusals come back.
      expectStorageBusy(await submitUntilRefused(server.url, p, acked, 200));
      expect((await fetch(`${server.url}/checkpoint`)).status).toBe(200);
      await expectAcked(server.url, acked);

      unlinkSync(filler);
      const after = await postJson(`${server.url}/v1/entries?wait=checkpoint`, p.envelope('evidence', evidence()));
      expect(after.status).toBe(201);
      acked.set(after.body.index, after.body.leafHash);
      expect(after.body.index).toBe(Math.max(...acked.keys())); // nothing refused took an index
      await checkpointReaches(server.url, after.body.index + 1);
      await expectAcked(server.url, acked);
      expect(server.proc.exitCode).toBeNull();
    } finally {
      await server.kill();
      rmSync(filler, { force: true });
    }
    expect(integrity(log.dir)).toBe('ok');
    const restarted = await startServe(BIN.ledger, log.dir);
    try {
      await expectAcked(restarted.url, acked);
    } finally {
      await restarted.kill();
    }
  });

  it('at the database size cap (maxDatabaseBytes, SQLITE_FULL) answers 503 storage-busy, keeps serving, and continues once the cap is raised', async () => {
    const log = makeLog({ busyTimeoutMs: 200, checkpointIntervalMs: 50, maxDatabaseBytes: 256 * 1024 });
    const p = log.producers[0]!;
    const acked = new Map<number, string>();
    let server: Server = await startServe(BIN.ledger, log.dir);
    try {
      expectStorageBusy(await submitUntilRefused(server.url, p, acked, 1000));
      expect(acked.size).toBeGreaterThan(10);
      expectStorageBusy(await postJson(`${server.url}/v1/entries`, p.envelope('evidence', evidence({ reason: 'r'.repeat(2000) }))));
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      await expectAcked(server.url, acked);
      expect(server.proc.exitCode).toBeNull();
    } finally {
      await server.kill();
    }
    expect(integrity(log.dir)).toBe('ok');
    setConfig(log.dir, { maxDatabaseBytes: undefined });
    server = await startServe(BIN.ledger, log.dir);
    try {
      const next = await postJson(`${server.url}/v1/entries?wait=checkpoint`, p.envelope('evidence', evidence()));
      expect(next.status).toBe(201);
      expect(next.body.index).toBe(Math.max(...acked.keys()) + 1);
      await checkpointReaches(server.url, next.body.index + 1);
      await expectAcked(server.url, acked);
    } finally {
      await server.kill();
    }
  });
});
