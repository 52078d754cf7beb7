// Between checkpoints the server folds new entries into the tree (every 100 ms),
// so that a due checkpoint has only the last moments' entries left to integrate.
// Seen from outside: the tree (ledger_tree_size) runs ahead of the signed
// checkpoint while the interval has not passed, and the next checkpoint covers
// everything acknowledged before it.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatPublicKeyPem } from '../../src/core/pem.js';
import { BIN, cliOk, startServe, tmp, type Server } from '../helpers/procs.js';
import { TestProducer, evidence } from '../helpers/producer.js';

const ORIGIN = 'fold.test/log';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('folding between checkpoints', () => {
  let server: Server | undefined;
  afterAll(async () => {
    await server?.kill();
  });

  it('integrates new entries before the checkpoint is due, and the checkpoint then covers them', async () => {
    const dir = join(tmp(), 'data');
    cliOk(BIN.ledger, ['init', '--data', dir, '--origin', ORIGIN]);
    const producer = new TestProducer();
    const pub = join(dir, '..', 'p.pub');
    writeFileSync(pub, formatPublicKeyPem(producer.publicKey));
    cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', 'p', '--key', pub]);
    const cfgPath = join(dir, 'config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), checkpointIntervalMs: 4000 }));
    server = await startServe(BIN.ledger, dir);
    const submit = async (wait = false) => {
      const r = await fetch(`${server!.url}/v1/entries${wait ? '?wait=checkpoint' : ''}`, { method: 'POST', body: JSON.stringify(producer.envelope('evidence', evidence())) });
      expect(r.status).toBe(201);
      return (await r.json()) as { index: number; treeSize?: number };
    };
    const metric = async (name: string) => {
      const m = await (await fetch(`${server!.url}/metrics`)).text();
      return Number(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(m)![1]);
    };

    // After a quiet spell the first entry is checkpointed at once; the next checkpoint is then 4 s away.
    const first = await submit(true);
    const signed = await metric('ledger_checkpoint_size{state="signed"}');
    expect(signed).toBe(first.treeSize);
    let last = first.index;
    for (let i = 0; i < 20; i++) last = (await submit()).index;
    await sleep(400);
    expect(await metric('ledger_checkpoint_size{state="signed"}')).toBe(signed); // not due yet
    expect(await metric('ledger_tree_size')).toBe(last + 1); // but already in the tree
    expect(await metric('ledger_integration_lag_entries')).toBe(0);
    // The next checkpoint holds them all.
    const next = await submit(true);
    expect(next.treeSize).toBeGreaterThan(last + 1);
  }, 20_000);
});
