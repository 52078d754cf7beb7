// Crash safety: `ledger serve` under concurrent load is killed with SIGKILL at
// random moments (group commit, integration, checkpoint signing all run
// continuously under this load) and restarted, 20 times. After every cycle:
// every acknowledged index holds the same leaf, every checkpoint ever served is
// consistent with the current tree, sizes never regress, and no two
// checkpoints of one size differ. Lookup keys are merged every 64 entries, so
// kills also land in merges: after every restart, acknowledged envelopes sent
// again are answered with their index, and found by their leaf hash.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { fromBase64, toHex } from '../../src/core/bytes.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { hashLeaf, verifyConsistency } from '../../src/core/merkle.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { formatPublicKeyPem } from '../../src/core/pem.js';
import { decodeEntryBundle, entriesPath } from '../../src/core/tiles.js';
import { BIN, cliOk, startServe, tmp, type Server } from '../helpers/procs.js';
import { TestProducer, evidence } from '../helpers/producer.js';

const ORIGIN = 'crash.test/log';
const CYCLES = 20;

describe('crash safety under SIGKILL', () => {
  let server: Server | undefined;
  afterAll(async () => {
    await server?.kill('SIGKILL');
  });

  it(`loses no acknowledged entry and never forks or rolls back across ${CYCLES} kills`, async () => {
    const dir = join(tmp(), 'data');
    const vkey = cliOk(BIN.ledger, ['init', '--data', dir, '--origin', ORIGIN]).trim();
    const verifier = parseVerifierKey(vkey);
    const producer = new TestProducer();
    const pub = join(dir, '..', 'p.pub');
    writeFileSync(pub, formatPublicKeyPem(producer.publicKey));
    cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', 'p', '--key', pub]);
    // A short checkpoint interval so that signing happens often during the load,
    // and small key merges so that they do too.
    const cfgPath = join(dir, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, checkpointIntervalMs: 50, keyMergeEntries: 64 }));

    const acked = new Map<number, string>(); // index -> leaf hash (base64)
    const sent = new Map<number, string>(); // index -> the request body that got it (single submissions)
    const seen = new Map<number, string>(); // checkpoint size -> root (hex)
    let maxSeen = 0;
    let port = 0;

    const record = (note: string) => {
      const { checkpoint } = openCheckpoint(note, ORIGIN, [verifier]);
      const root = toHex(checkpoint.rootHash);
      const prev = seen.get(checkpoint.size);
      expect(prev === undefined || prev === root, `two checkpoints of size ${checkpoint.size} differ`).toBe(true);
      seen.set(checkpoint.size, root);
      return checkpoint;
    };

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      server = await startServe(BIN.ledger, dir, port);
      port = server.port; // same port on restart
      const url = server.url;

      // Invariants first, on the restarted server.
      const settle = await fetch(`${url}/v1/entries?wait=checkpoint`, { method: 'POST', body: JSON.stringify(producer.envelope('evidence', evidence())) });
      expect(settle.status).toBe(201);
      const s = (await settle.json()) as { index: number; leafHash: string };
      acked.set(s.index, s.leafHash);
      const current = record(await (await fetch(`${url}/checkpoint`)).text());
      expect(current.size, 'checkpoint size regressed').toBeGreaterThanOrEqual(maxSeen);
      // Every leaf of the tree, read through the entry bundles of the tile API.
      const leaves: Uint8Array[] = [];
      for (let n = 0; n * 256 < current.size; n++) {
        const width = Math.min(256, current.size - n * 256);
        const r = await fetch(`${url}/${entriesPath(n, width)}`);
        leaves.push(...decodeEntryBundle(new Uint8Array(await r.arrayBuffer())));
      }
      for (const [index, leafHash] of acked)
        expect(toHex(hashLeaf(leaves[index]!)), `acknowledged entry ${index} changed or vanished`).toBe(toHex(fromBase64(leafHash)));
      expect([...acked.keys()].every((i) => i < current.size), 'an acknowledged entry is missing from the tree').toBe(true);
      for (const [size, root] of seen) {
        if (size === 0 || size === current.size) continue;
        const c = (await (await fetch(`${url}/v1/proof/consistency?from=${size}&to=${current.size}`)).json()) as { proof: string[] };
        verifyConsistency(size, current.size, c.proof.map((p) => fromBase64(p)), fromBase64(Buffer.from(root, 'hex').toString('base64')), current.rootHash);
      }
      maxSeen = current.size;
      // Lookups by envelope (duplicates) and by leaf hash, for a sample of the acknowledged entries.
      const sample = [...sent].sort(() => Math.random() - 0.5).slice(0, 25);
      for (const [index, body] of sample) {
        const again = await fetch(`${url}/v1/entries`, { method: 'POST', body });
        expect(again.status, `entry ${index} sent again`).toBe(200);
        expect(((await again.json()) as { index: number }).index).toBe(index);
        const byHash = await fetch(`${url}/v1/proof/inclusion?leafHash=${Buffer.from(acked.get(index)!, 'base64').toString('hex')}`);
        expect(byHash.status).toBe(200);
        expect(((await byHash.json()) as { index: number }).index).toBe(index);
      }

      // Then load, and a kill at a random moment.
      let stop = false;
      const client = async (batch: boolean) => {
        while (!stop) {
          try {
            if (batch) {
              const envelopes = Array.from({ length: 32 }, () => producer.envelope('evidence', evidence()));
              const r = await fetch(`${url}/v1/entries:batch`, { method: 'POST', body: JSON.stringify({ envelopes }) });
              const body = (await r.json()) as { results: { status: number; index: number; leafHash: string }[] };
              for (const x of body.results) if (x.status === 201 || x.status === 200) acked.set(x.index, x.leafHash);
            } else {
              const body = JSON.stringify(producer.envelope('evidence', evidence()));
              const r = await fetch(`${url}/v1/entries`, { method: 'POST', body });
              if (r.status === 201) {
                const x = (await r.json()) as { index: number; leafHash: string };
                acked.set(x.index, x.leafHash);
                sent.set(x.index, body);
              }
            }
            const cp = await fetch(`${url}/checkpoint`);
            if (cp.status === 200) {
              const c = record(await cp.text());
              expect(c.size).toBeGreaterThanOrEqual(maxSeen);
              maxSeen = c.size;
            }
          } catch {
            return; // the server was killed mid-request: that answer was never acknowledged
          }
        }
      };
      const before = sent.size;
      const clients = [client(false), client(false), client(false), client(true), client(true)];
      // At least 12 single submissions a cycle, so that the run holds several merges'
      // worth however busy the machine is; then the kill, at a random moment.
      for (const until = Date.now() + 20_000; sent.size < before + 12 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, Math.random() * 400));
      await server.kill('SIGKILL');
      stop = true;
      await Promise.all(clients);
    }
    expect(acked.size).toBeGreaterThan(CYCLES * 10);
    expect(sent.size).toBeGreaterThan(64 * 3); // several merges' worth
    const db = new Database(join(dir, 'ledger.db'), { readonly: true });
    expect(Number(db.prepare("SELECT value FROM meta WHERE key = 'keys_merged'").pluck().get())).toBeGreaterThan(64 * 3);
    db.close();
    expect(seen.size).toBeGreaterThan(CYCLES);
  }, 300_000);
});
