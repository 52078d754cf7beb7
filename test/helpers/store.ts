// Fixtures for tests of the SQLite store: database paths in temporary
// directories (removed after each test), and small synthetic entries.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { sha256 } from '../../src/core/crypto.js';
import { hashLeaf } from '../../src/core/merkle.js';

/** Call at the top of a test file: returns a maker of fresh `ledger.db` paths, each in a directory removed after its test. */
export function tempDbPaths(prefix: string): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return join(d, 'ledger.db');
  };
}

/** The leaf of synthetic entry i. */
export const leafOf = (i: number): Uint8Array => new TextEncoder().encode(`leaf ${i}`);

/** Synthetic entry i as the store takes it (its digest stands in for an envelope digest). */
export const entryOf = (i: number) => ({ leaf: leafOf(i), leafHash: hashLeaf(leafOf(i)), digest: sha256(leafOf(i)) });
