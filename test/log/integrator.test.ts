// The integrator takes leaf hashes from the sequencer when it can, and reads the
// leaves back when it cannot (entries another process appended, a restart, a gap):
// either way the tree is the tree of the stored leaves.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/core/crypto.js';
import { hashLeaf, rootOfLeafHashes } from '../../src/core/merkle.js';
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
});
