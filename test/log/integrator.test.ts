// The integrator takes leaf hashes from the sequencer when it can, and reads the
// leaves back when it cannot (entries another process appended, a restart, a gap):
// either way the tree is the tree of the stored leaves.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cryptoProvider, setCryptoProvider, sha256 } from '../../src/core/crypto.js';
import { hashLeaf, inclusionProof, rootOfLeafHashes } from '../../src/core/merkle.js';
import { ed25519Signer } from '../../src/core/note.js';
import { Integrator } from '../../src/log/integrator.js';
import { LedgerStore } from '../../storage/sqlite/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const leafOf = (i: number) => new TextEncoder().encode(`entry ${i}`);
const entryOf = (i: number) => ({ leaf: leafOf(i), leafHash: hashLeaf(leafOf(i)), digest: sha256(leafOf(i)) });

describe('Integrator', () => {
  it('builds the tree of the stored leaves from handed-over hashes, gaps and restarts included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-integrator-'));
    dirs.push(dir);
    const store = new LedgerStore(join(dir, 'ledger.db'));
    const signer = ed25519Signer('example.com/log', new Uint8Array(32).fill(1));
    let integ = new Integrator(store, 'example.com/log', signer);
    let next = 0;
    /** Appends n entries; `tell` hands their hashes over as the sequencer does (a wrong hash would show in the root). */
    const append = (n: number, tell: boolean) => {
      const es = Array.from({ length: n }, () => entryOf(next++));
      const first = store.write(() => store.appendInTx(es));
      if (tell) integ.noteSequenced(first, es.map((e) => e.leafHash));
    };
    const check = () => {
      while (integ.integrate(1000) > 0);
      expect(integ.treeSize).toBe(next);
      const cp = integ.checkpoint();
      expect(cp?.root).toEqual(rootOfLeafHashes(Array.from({ length: next }, (_, i) => hashLeaf(leafOf(i)))));
    };
    append(300, true);
    check();
    append(10, true);
    append(5, false); // another process appended these
    append(700, true); // after a gap: the integrator reads up to here, then goes on from the hashes
    check();
    append(2500, true); // more than one integrate(1000) call
    check();
    append(20, true);
    integ = new Integrator(store, 'example.com/log', signer); // a restart forgets the hashes
    append(30, true);
    check();
    store.close();
  });

  it('after a restart, warms the proof cache so that a proof through any full tile costs a few hashes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ledger-integrator-'));
    dirs.push(dir);
    const store = new LedgerStore(join(dir, 'ledger.db'));
    const signer = ed25519Signer('example.com/log', new Uint8Array(32).fill(1));
    const n = 40 * 256 + 17; // 40 full level-0 tiles and a partial one
    store.write(() => store.appendInTx(Array.from({ length: n }, (_, i) => entryOf(i))));
    let integ = new Integrator(store, 'example.com/log', signer);
    while (integ.integrate() > 0);
    const leafHashes = Array.from({ length: n }, (_, i) => hashLeaf(leafOf(i)));
    let hashes = 0;
    const base = cryptoProvider();
    setCryptoProvider({ ...base, sha256: (d) => (hashes++, base.sha256(d)) });
    try {
      /** Hashes a proof of index i costs, checked against the proof from the leaves. */
      const cost = (i: number): number => {
        hashes = 0;
        const proof = inclusionProof(i, n, integ.reader(n));
        const spent = hashes;
        expect(proof).toEqual(inclusionProof(i, n, (ids) => ids.map((id) => rootOfLeafHashes(leafHashes.slice(id.index * 2 ** id.level, (id.index + 1) * 2 ** id.level)))));
        return spent;
      };
      // A proof of the last entry puts the right-edge tiles (the partial level-0
      // and level-1 tiles) in the LRU; each proof after it goes through a full
      // level-0 tile the LRU has never held.
      integ = new Integrator(store, 'example.com/log', signer); // a restart: no summaries
      cost(n - 1);
      expect(cost(5 * 256 + 3)).toBeGreaterThan(240);
      integ = new Integrator(store, 'example.com/log', signer);
      expect(integ.warmSummaries(0)).toBe(true); // one tile per call at least, newest first
      while (integ.warmSummaries(50));
      expect(integ.warmSummaries(50)).toBe(false);
      cost(n - 1);
      for (const i of [0, 5 * 256 + 3, 39 * 256 + 255]) expect(cost(i)).toBeLessThanOrEqual(9 + 6); // 9 in the level-0 tile, a few in the partial level-1 tile
    } finally {
      setCryptoProvider(base);
    }
    store.close();
  });
});
