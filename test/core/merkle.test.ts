import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fromBase64, fromHex, toHex, utf8 } from '../../src/core/bytes.js';
import { nobleCrypto, setCryptoProvider } from '../../src/core/crypto.js';
import {
  CompactRange,
  HASH_SIZE,
  ProofError,
  RangeHashMemo,
  consistencyProof,
  consistencyProofPlan,
  emptyRoot,
  hashChildren,
  hashLeaf,
  inclusionProof,
  inclusionProofPlan,
  rootFromInclusionProof,
  rootOfLeafHashes,
  treeHash,
  treeHashPlan,
  verifyConsistency,
  verifyInclusion,
  type HashReader,
} from '../../src/core/merkle.js';
import { nodeCrypto, useNodeCrypto } from '../../src/platform/node-crypto.js';
import { rng } from '../helpers/prng.js';

// The property tests hash a lot: use the node:crypto provider (test/core/crypto.test.ts
// shows both providers agree); the reference roots are also checked with the default one.
useNodeCrypto();

// ---------------------------------------------------------------------------
// helpers

function expectProofError(fn: () => unknown, codes: string | string[]): void {
  const want = typeof codes === 'string' ? [codes] : codes;
  try {
    fn();
  } catch (e) {
    if (e instanceof ProofError && want.includes(e.code)) return;
    throw new Error(`expected ProofError ${want.join('|')}, got ${String(e)}${e instanceof ProofError ? ` (${e.code})` : ''}`);
  }
  throw new Error(`expected ProofError ${want.join('|')}, nothing was thrown`);
}

function flipBit(h: Uint8Array, bit: number): Uint8Array {
  const c = h.slice();
  c[bit >> 3]! ^= 1 << (bit & 7);
  return c;
}

/** An in-memory tree: every complete subtree's hash, as CompactRange.append reports them. */
class MemoryTree {
  readonly leaves: Uint8Array[] = [];
  readonly nodes = new Map<string, Uint8Array>();
  readonly range = new CompactRange();
  append(leafHash: Uint8Array): void {
    this.leaves.push(leafHash);
    for (const { id, hash } of this.range.append(leafHash)) this.nodes.set(`${id.level}/${id.index}`, hash);
  }
  readonly read: HashReader = (ids) =>
    ids.map((id) => {
      const h = this.nodes.get(`${id.level}/${id.index}`);
      if (!h) throw new Error(`no node ${id.level}/${id.index}`);
      return h;
    });
}

/** Proof lengths from the generator: the number of proof elements, not of subtrees. */
const zeroReader: HashReader = (ids) => ids.map(() => new Uint8Array(HASH_SIZE));
const inclusionLength = (i: number, n: number) => inclusionProof(i, n, zeroReader).length;
const consistencyLength = (a: number, b: number) => consistencyProof(a, b, zeroReader).length;

// RFC 6962 reference leaves and the roots of their prefixes (transparency-dev/merkle proof/verify_test.go).
const REF_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(fromHex);
const REF_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

function refTree(): MemoryTree {
  const t = new MemoryTree();
  for (const l of REF_LEAVES) t.append(hashLeaf(l));
  return t;
}

// ---------------------------------------------------------------------------
// literal vectors

describe('hashing (RFC 9162 §2.1.1)', () => {
  it('gives the literal values', () => {
    expect(toHex(emptyRoot())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(toHex(hashLeaf(new Uint8Array(0)))).toBe(REF_ROOTS[0]);
    expect(toHex(hashLeaf(utf8('data')))).toBe(toHex(fromBase64('DTrtAjFI/9KiWfvQzcf7PPl1ZYdg03dbgq9vkKrMLfw=')));
    expect(toHex(hashChildren(hashLeaf(REF_LEAVES[0]!), hashLeaf(REF_LEAVES[1]!)))).toBe(REF_ROOTS[1]);
  });
  it('gives the roots of the RFC 6962 reference leaves, for every prefix', () => {
    const t = refTree();
    for (let n = 1; n <= 8; n++) {
      const leafHashes = REF_LEAVES.slice(0, n).map(hashLeaf);
      expect(toHex(rootOfLeafHashes(leafHashes))).toBe(REF_ROOTS[n - 1]);
      expect(toHex(treeHash(n, t.read))).toBe(REF_ROOTS[n - 1]);
    }
    expect(t.range.root()).toEqual(fromBase64('XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg='));
    expect(rootOfLeafHashes([])).toEqual(emptyRoot());
  });
  it('gives the same roots with the portable default crypto provider', () => {
    setCryptoProvider(nobleCrypto);
    try {
      expect(toHex(emptyRoot())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      expect(toHex(rootOfLeafHashes(REF_LEAVES.map(hashLeaf)))).toBe(REF_ROOTS[7]);
    } finally {
      setCryptoProvider(nodeCrypto);
    }
  });
  it('refuses hashes that are not 32 bytes', () => {
    expectProofError(() => hashChildren(new Uint8Array(31), new Uint8Array(32)), 'wrong-hash-size');
    expectProofError(() => hashChildren(new Uint8Array(32), new Uint8Array(33)), 'wrong-hash-size');
    expectProofError(() => rootOfLeafHashes([new Uint8Array(32), new Uint8Array(0)]), 'wrong-hash-size');
  });
});

describe('proof plans', () => {
  it('lists the complete subtrees of the RFC recursion', () => {
    expect(treeHashPlan(0)).toEqual([]);
    expect(treeHashPlan(7)).toEqual([
      { level: 2, index: 0 },
      { level: 1, index: 2 },
      { level: 0, index: 6 },
    ]);
    // PATH(2, D[5]) = [leaf 3, MTH(D[0:2]), leaf 4]
    expect(inclusionProofPlan(2, 5)).toEqual([
      { level: 0, index: 3 },
      { level: 1, index: 0 },
      { level: 0, index: 4 },
    ]);
    // PATH(0, D[7]): leaf 1, MTH(D[2:4]), MTH(D[4:7]) = MTH(D[4:6]) + leaf 6
    expect(inclusionProofPlan(0, 7)).toEqual([
      { level: 0, index: 1 },
      { level: 1, index: 1 },
      { level: 1, index: 2 },
      { level: 0, index: 6 },
    ]);
    // PROOF(3, D[7]) = [leaf 2, leaf 3, MTH(D[0:2]), MTH(D[4:7])] (RFC 9162 §2.1.4.3 example tree)
    expect(consistencyProofPlan(3, 7)).toEqual([
      { level: 0, index: 2 },
      { level: 0, index: 3 },
      { level: 1, index: 0 },
      { level: 1, index: 2 },
      { level: 0, index: 6 },
    ]);
    expect(consistencyProofPlan(4, 7)).toEqual([
      { level: 1, index: 2 },
      { level: 0, index: 6 },
    ]);
    expect(consistencyProofPlan(7, 7)).toEqual([]);
    expect(consistencyProofPlan(0, 7)).toEqual([]);
  });
  it('refuses indices and sizes out of range', () => {
    expectProofError(() => inclusionProofPlan(5, 5), 'index-out-of-range');
    expectProofError(() => inclusionProofPlan(-1, 5), 'index-out-of-range');
    expectProofError(() => inclusionProofPlan(0.5, 5), 'index-out-of-range');
    expectProofError(() => inclusionProofPlan(0, 0), 'index-out-of-range');
    expectProofError(() => inclusionProofPlan(0, 2 ** 53), 'size-out-of-range');
    expectProofError(() => consistencyProofPlan(6, 5), 'size-out-of-range');
    expectProofError(() => consistencyProofPlan(-1, 5), 'size-out-of-range');
    expectProofError(() => treeHashPlan(Number.NaN), 'size-out-of-range');
  });
  it('refuses a hash reader that returns the wrong count or size of hashes', () => {
    const t = refTree();
    expectProofError(() => inclusionProof(2, 5, (ids) => t.read(ids).slice(1)), 'wrong-hash-count');
    expectProofError(() => inclusionProof(2, 5, (ids) => t.read(ids).map((h) => h.subarray(1))), 'wrong-hash-size');
  });
  it('handles sizes beyond 2^32 exactly (a tree whose leaves are all equal)', () => {
    // Every complete subtree of level l hashes to z[l], so any size can be built.
    const z = [hashLeaf(utf8('same'))];
    for (let l = 1; l <= 53; l++) z.push(hashChildren(z[l - 1]!, z[l - 1]!));
    const read: HashReader = (ids) => ids.map((id) => z[id.level]!);
    for (const n of [2 ** 32 + 1, 2 ** 33 - 1, 2 ** 40 + 12345, 2 ** 53 - 1]) {
      const plan = treeHashPlan(n);
      expect(plan.reduce((s, id) => s + 2 ** id.level, 0)).toBe(n);
      const root = treeHash(n, read);
      for (const i of [0, 2 ** 31, 2 ** 32 - 1, n - 2, n - 1]) {
        for (const id of inclusionProofPlan(i, n)) expect((id.index + 1) * 2 ** id.level).toBeLessThanOrEqual(n);
        verifyInclusion(z[0]!, i, n, inclusionProof(i, n, read), root);
      }
      for (const m of [1, 2 ** 32 - 5, 2 ** 32, n - 1]) {
        verifyConsistency(m, n, consistencyProof(m, n, read), treeHash(m, read), root);
      }
    }
  });
});

// ---------------------------------------------------------------------------
// transparency-dev/merkle vectors

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}
interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

const VECTORS = fileURLToPath(new URL('../vectors/rfc6962-proofs/', import.meta.url));
function jsonFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? jsonFiles(p) : p.endsWith('.json') ? [p] : [];
    });
}
const b64 = (s: string) => fromBase64(s);
const name = (p: string) => relative(VECTORS, p);

/**
 * The one vector decided more strictly: it accepts two equal 12-byte placeholder
 * roots for sizes 1 -> 1; we refuse any hash that is not 32 bytes.
 */
const STRICTER: Record<string, string> = {
  'consistency/additional/sizes-are-equal-one-and-proof-is-empty.json': 'wrong-hash-size',
};

/** The code our verifier must give for a refused inclusion vector, in its order of checks. */
function inclusionCode(v: InclusionVector, proof: Uint8Array[]): string {
  if (!Number.isSafeInteger(v.leafIdx) || v.leafIdx < 0 || v.leafIdx >= v.treeSize) return 'index-out-of-range';
  if ([b64(v.leafHash), b64(v.root), ...proof].some((h) => h.length !== 32)) return 'wrong-hash-size';
  if (proof.length !== inclusionLength(v.leafIdx, v.treeSize)) return 'wrong-proof-size';
  return 'root-mismatch';
}

function consistencyCodes(v: ConsistencyVector, proof: Uint8Array[]): string[] {
  if (v.size1 > v.size2) return ['size-out-of-range'];
  if (v.size1 === 0) return ['empty-first-tree'];
  if ([b64(v.root1), b64(v.root2), ...proof].some((h) => h.length !== 32)) return ['wrong-hash-size'];
  if (proof.length !== (v.size1 === v.size2 ? 0 : consistencyLength(v.size1, v.size2))) return ['wrong-proof-size'];
  return v.size1 === v.size2 ? ['second-root-mismatch'] : ['first-root-mismatch', 'second-root-mismatch'];
}

describe('transparency-dev/merkle inclusion vectors', () => {
  const files = jsonFiles(join(VECTORS, 'inclusion'));
  it('are all present', () => expect(files.length).toBe(98));
  it.each(files.map((f) => [name(f), f]))('%s', (_n, file) => {
    const v = JSON.parse(readFileSync(file, 'utf8')) as InclusionVector;
    const proof = (v.proof ?? []).map(b64);
    const run = () => verifyInclusion(b64(v.leafHash), v.leafIdx, v.treeSize, proof, b64(v.root));
    if (v.wantErr) {
      expectProofError(run, inclusionCode(v, proof));
    } else {
      run();
      expect(rootFromInclusionProof(b64(v.leafHash), v.leafIdx, v.treeSize, proof)).toEqual(b64(v.root));
    }
  });
  it('happy paths are the proofs the generator makes', () => {
    const t = refTree();
    const happy = files.filter((f) => /inclusion\/\d\/happy-path\.json$/.test(f));
    expect(happy.length).toBe(5);
    for (const f of happy) {
      const v = JSON.parse(readFileSync(f, 'utf8')) as InclusionVector;
      expect(inclusionProof(v.leafIdx, v.treeSize, t.read)).toEqual((v.proof ?? []).map(b64));
    }
  });
});

describe('transparency-dev/merkle consistency vectors', () => {
  const files = jsonFiles(join(VECTORS, 'consistency'));
  it('are all present', () => expect(files.length).toBe(98));
  it.each(files.map((f) => [name(f), f]))('%s', (n, file) => {
    const v = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyVector;
    const proof = (v.proof ?? []).map(b64);
    const run = () => verifyConsistency(v.size1, v.size2, proof, b64(v.root1), b64(v.root2));
    const stricter = STRICTER[n];
    if (stricter !== undefined) {
      expect(v.wantErr).toBe(false);
      expectProofError(run, stricter);
      // The case itself (equal sizes, empty proof, equal roots) is accepted with real hashes.
      const r = hashLeaf(utf8('x'));
      verifyConsistency(v.size1, v.size2, proof, r, r.slice());
    } else if (v.wantErr) {
      expectProofError(run, consistencyCodes(v, proof));
    } else {
      run();
    }
  });
  it('happy paths are the proofs the generator makes', () => {
    const t = refTree();
    const happy = files.filter((f) => /consistency\/\d\/happy-path\.json$/.test(f));
    expect(happy.length).toBe(5);
    for (const f of happy) {
      const v = JSON.parse(readFileSync(f, 'utf8')) as ConsistencyVector;
      expect(consistencyProof(v.size1, v.size2, t.read)).toEqual((v.proof ?? []).map(b64));
    }
  });
});

// ---------------------------------------------------------------------------
// properties

describe('trees of every size 1..300', () => {
  const N = 300;
  const t = new MemoryTree();
  const roots: Uint8Array[] = [emptyRoot()];
  for (let i = 0; i < N; i++) {
    t.append(hashLeaf(utf8(`leaf ${i}`)));
    roots.push(t.range.root());
  }
  const rand = rng(1);
  const sample = (n: number, all: number) => (n <= all ? [...Array(n).keys()] : [0, 1, n - 1, rand(n), rand(n), rand(n)]);

  it('CompactRange, rootOfLeafHashes and treeHash agree', () => {
    for (let n = 1; n <= N; n++) {
      expect(rootOfLeafHashes(t.leaves.slice(0, n))).toEqual(roots[n]);
      expect(treeHash(n, t.read)).toEqual(roots[n]);
    }
  });

  it('append reports exactly the complete subtrees it completed, with their MTH', () => {
    const r = new CompactRange();
    for (let n = 0; n < 64; n++) {
      const done = r.append(t.leaves[n]!);
      let trailingOnes = 0;
      for (let s = n; s % 2 === 1; s = Math.floor(s / 2)) trailingOnes++;
      expect(done.length).toBe(1 + trailingOnes);
      done.forEach(({ id, hash }, k) => {
        expect(id.level).toBe(k);
        expect((id.index + 1) * 2 ** id.level).toBe(n + 1);
        expect(hash).toEqual(rootOfLeafHashes(t.leaves.slice(id.index * 2 ** id.level, (id.index + 1) * 2 ** id.level)));
      });
    }
  });

  it('every sampled inclusion proof verifies; a wrong index, size or root fails', () => {
    let count = 0;
    for (let n = 1; n <= N; n++) {
      for (const i of sample(n, 32)) {
        const leaf = t.leaves[i]!;
        const proof = inclusionProof(i, n, t.read);
        verifyInclusion(leaf, i, n, proof, roots[n]!);
        expect(rootFromInclusionProof(leaf, i, n, proof)).toEqual(roots[n]);
        count++;
        if (i + 1 < n) expectProofError(() => verifyInclusion(leaf, i + 1, n, proof, roots[n]!), ['root-mismatch', 'wrong-proof-size']);
        if (i > 0) expectProofError(() => verifyInclusion(leaf, i - 1, n, proof, roots[n]!), ['root-mismatch', 'wrong-proof-size']);
        // The same proof does not show inclusion in the trees one leaf smaller or larger.
        if (n < N) expectProofError(() => verifyInclusion(leaf, i, n + 1, proof, roots[n + 1]!), ['root-mismatch', 'wrong-proof-size']);
        if (i < n - 1) expectProofError(() => verifyInclusion(leaf, i, n - 1, proof, roots[n - 1]!), ['root-mismatch', 'wrong-proof-size']);
        if (n > 1) expectProofError(() => verifyInclusion(t.leaves[(i + 1) % n]!, i, n, proof, roots[n]!), 'root-mismatch');
        // One random bit flipped in a proof hash, the root, or the leaf hash.
        if (proof.length > 0) {
          const k = rand(proof.length);
          const bad = proof.map((p, j) => (j === k ? flipBit(p, rand(256)) : p));
          expectProofError(() => verifyInclusion(leaf, i, n, bad, roots[n]!), 'root-mismatch');
        }
        expectProofError(() => verifyInclusion(leaf, i, n, proof, flipBit(roots[n]!, rand(256))), 'root-mismatch');
        expectProofError(() => verifyInclusion(flipBit(leaf, rand(256)), i, n, proof, roots[n]!), 'root-mismatch');
        // A hash added or removed.
        expectProofError(() => verifyInclusion(leaf, i, n, [...proof, roots[n]!], roots[n]!), 'wrong-proof-size');
        if (proof.length > 0) expectProofError(() => verifyInclusion(leaf, i, n, proof.slice(1), roots[n]!), 'wrong-proof-size');
      }
    }
    expect(count).toBeGreaterThan(2000);
  });

  it('a RangeHashMemo shared by every size gives the same proofs and skips the folded right edge', () => {
    // One memo for all sizes of the log (as the server keeps one), and a tiny one that
    // keeps starting over: both must give exactly the proofs computed without a memo.
    const shared = new RangeHashMemo();
    const tiny = new RangeHashMemo(2);
    let read = 0;
    const counted: HashReader = (ids) => {
      read += ids.length;
      return t.read(ids);
    };
    let skipped = 0;
    for (let n = 1; n <= N; n++) {
      for (const i of sample(n, 16)) {
        const want = inclusionProof(i, n, t.read);
        expect(inclusionProof(i, n, t.read, tiny)).toEqual(want);
        expect(inclusionProof(i, n, counted, shared)).toEqual(want);
        read = 0;
        expect(inclusionProof(i, n, counted, shared)).toEqual(want);
        const plan = inclusionProofPlan(i, n).length;
        // Asked again, only the single-subtree elements are read: one id per element.
        expect(read).toBeLessThanOrEqual(want.length);
        if (plan > want.length) skipped++;
      }
      for (const m of sample(n, 16).map((x) => x + 1)) {
        const want = consistencyProof(m, n, t.read);
        expect(consistencyProof(m, n, t.read, tiny)).toEqual(want);
        expect(consistencyProof(m, n, counted, shared)).toEqual(want);
        read = 0;
        expect(consistencyProof(m, n, counted, shared)).toEqual(want);
        expect(read).toBeLessThanOrEqual(want.length);
      }
    }
    expect(skipped).toBeGreaterThan(500);
    expect(shared.size).toBeGreaterThan(0);
    expect(tiny.size).toBeLessThanOrEqual(2);
    expectProofError(() => new RangeHashMemo(0), 'bad-memo-size');
  });

  it('every bit of a proof hash, the root and the leaf hash matters', () => {
    for (const [i, n] of [
      [5, 13],
      [0, 1],
      [257, 300],
    ] as const) {
      const leaf = t.leaves[i]!;
      const proof = inclusionProof(i, n, t.read);
      for (let bit = 0; bit < 256; bit++) {
        expectProofError(() => verifyInclusion(leaf, i, n, proof, flipBit(roots[n]!, bit)), 'root-mismatch');
        expectProofError(() => verifyInclusion(flipBit(leaf, bit), i, n, proof, roots[n]!), 'root-mismatch');
        for (let k = 0; k < proof.length; k++) {
          const bad = proof.map((p, j) => (j === k ? flipBit(p, bit) : p));
          expectProofError(() => verifyInclusion(leaf, i, n, bad, roots[n]!), 'root-mismatch');
        }
      }
    }
    for (const [a, b] of [
      [3, 7],
      [4, 8],
      [37, 300],
    ] as const) {
      const proof = consistencyProof(a, b, t.read);
      for (let bit = 0; bit < 256; bit++) {
        // When a is a power of two its root is the proof's seed, and a change shows in the second root.
        expectProofError(() => verifyConsistency(a, b, proof, flipBit(roots[a]!, bit), roots[b]!), ['first-root-mismatch', 'second-root-mismatch']);
        expectProofError(() => verifyConsistency(a, b, proof, roots[a]!, flipBit(roots[b]!, bit)), 'second-root-mismatch');
        for (let k = 0; k < proof.length; k++) {
          const bad = proof.map((p, j) => (j === k ? flipBit(p, bit) : p));
          expectProofError(() => verifyConsistency(a, b, bad, roots[a]!, roots[b]!), ['first-root-mismatch', 'second-root-mismatch']);
        }
      }
    }
  });

  it('every sampled consistency proof verifies; wrong sizes, roots or hashes fail', () => {
    let count = 0;
    for (let n = 1; n <= N; n++) {
      expect(consistencyProof(n, n, t.read)).toEqual([]);
      expect(consistencyProof(0, n, t.read)).toEqual([]);
      verifyConsistency(n, n, [], roots[n]!, roots[n]!);
      expectProofError(() => verifyConsistency(0, n, [], emptyRoot(), roots[n]!), 'empty-first-tree');
      for (const m of sample(n, 32).filter((m) => m > 0 && m < n)) {
        const proof = consistencyProof(m, n, t.read);
        expect(proof.length).toBe(consistencyLength(m, n));
        verifyConsistency(m, n, proof, roots[m]!, roots[n]!);
        count++;
        const mismatch = ['first-root-mismatch', 'second-root-mismatch', 'wrong-proof-size'];
        if (m + 1 < n) expectProofError(() => verifyConsistency(m + 1, n, proof, roots[m + 1]!, roots[n]!), mismatch);
        if (m > 1) expectProofError(() => verifyConsistency(m - 1, n, proof, roots[m - 1]!, roots[n]!), mismatch);
        if (n < N) expectProofError(() => verifyConsistency(m, n + 1, proof, roots[m]!, roots[n + 1]!), mismatch);
        expectProofError(() => verifyConsistency(m, n, proof, roots[n]!, roots[m]!), mismatch);
        const k = rand(proof.length);
        const bad = proof.map((p, j) => (j === k ? flipBit(p, rand(256)) : p));
        expectProofError(() => verifyConsistency(m, n, bad, roots[m]!, roots[n]!), ['first-root-mismatch', 'second-root-mismatch']);
        expectProofError(() => verifyConsistency(m, n, proof, flipBit(roots[m]!, rand(256)), roots[n]!), ['first-root-mismatch', 'second-root-mismatch']);
        expectProofError(() => verifyConsistency(m, n, proof, roots[m]!, flipBit(roots[n]!, rand(256))), 'second-root-mismatch');
        expectProofError(() => verifyConsistency(m, n, [...proof, proof[0]!], roots[m]!, roots[n]!), 'wrong-proof-size');
        expectProofError(() => verifyConsistency(m, n, proof.slice(0, -1), roots[m]!, roots[n]!), 'wrong-proof-size');
        expectProofError(() => verifyConsistency(m, n, [...proof.slice(0, -1), new Uint8Array(31)], roots[m]!, roots[n]!), 'wrong-hash-size');
      }
    }
    expect(count).toBeGreaterThan(1800);
  });

  it('refuses malformed arguments with precise codes', () => {
    const proof = inclusionProof(2, 5, t.read);
    expectProofError(() => verifyInclusion(t.leaves[2]!, 2, 5, proof, roots[5]!.subarray(1)), 'wrong-hash-size');
    expectProofError(() => verifyInclusion(t.leaves[2]!, 2, 2 ** 53, proof, roots[5]!), 'size-out-of-range');
    expectProofError(() => verifyInclusion(t.leaves[2]!, 2, -5, proof, roots[5]!), 'size-out-of-range');
    expectProofError(() => verifyInclusion(t.leaves[2]!, Number.NaN, 5, proof, roots[5]!), 'index-out-of-range');
    expectProofError(() => verifyConsistency(5, 4, [], roots[5]!, roots[4]!), 'size-out-of-range');
    expectProofError(() => verifyConsistency(1.5, 4, [], roots[1]!, roots[4]!), 'size-out-of-range');
    expectProofError(() => verifyConsistency(5, 5, [roots[5]!], roots[5]!, roots[5]!), 'wrong-proof-size');
    expectProofError(() => verifyConsistency(5, 5, [], roots[5]!, roots[6]!), 'second-root-mismatch');
    expectProofError(() => verifyConsistency(3, 5, [], roots[3]!, roots[5]!), 'wrong-proof-size');
  });
});

describe('CompactRange', () => {
  it('resumes from stored state and validates it', () => {
    const t = new MemoryTree();
    for (let i = 0; i < 100; i++) t.append(hashLeaf(utf8(`r${i}`)));
    for (const cut of [0, 1, 2, 3, 31, 32, 33, 64, 99]) {
      const full = new CompactRange();
      for (let i = 0; i < cut; i++) full.append(t.leaves[i]!);
      const resumed = new CompactRange(full.size, full.frontier);
      expect(resumed.frontier.length).toBe(treeHashPlan(cut).length);
      for (let i = cut; i < 100; i++) resumed.append(t.leaves[i]!);
      expect(resumed.root()).toEqual(t.range.root());
      expect(resumed.size).toBe(100);
    }
    expect(new CompactRange().root()).toEqual(emptyRoot());
    const h = hashLeaf(utf8('x'));
    expectProofError(() => new CompactRange(3, [h]), 'wrong-frontier-size');
    expectProofError(() => new CompactRange(0, [h]), 'wrong-frontier-size');
    expectProofError(() => new CompactRange(2, [h.subarray(1)]), 'wrong-hash-size');
    expectProofError(() => new CompactRange(-1, []), 'size-out-of-range');
    expectProofError(() => new CompactRange(2 ** 53, []), 'size-out-of-range');
    expectProofError(() => new CompactRange().append(new Uint8Array(0)), 'wrong-hash-size');
    const frontier = new Array(53).fill(h);
    expectProofError(() => new CompactRange(Number.MAX_SAFE_INTEGER, frontier).append(h), 'size-out-of-range');
  });

  it('frontier is a copy', () => {
    const r = new CompactRange();
    r.append(hashLeaf(utf8('a')));
    const root = r.root();
    r.frontier[0]![0]! ^= 1;
    expect(r.root()).toEqual(root);
  });

  it('agrees with rootOfLeafHashes and treeHash for random sizes up to 100,000', () => {
    const rand = rng(7);
    const sizes = [65536, 65537, 99999, 100000, ...Array.from({ length: 3 }, () => 1 + rand(100000))].sort((a, b) => a - b);
    const t = new MemoryTree();
    const roots = new Map<number, Uint8Array>();
    for (let i = 0; i < sizes[sizes.length - 1]!; i++) {
      t.append(hashLeaf(utf8(String(i))));
      if (sizes.includes(i + 1)) roots.set(i + 1, t.range.root());
    }
    for (const n of sizes) {
      const root = roots.get(n)!;
      expect(treeHash(n, t.read)).toEqual(root);
      for (const i of [0, rand(n), n - 1]) verifyInclusion(t.leaves[i]!, i, n, inclusionProof(i, n, t.read), root);
      for (const m of sizes.filter((m) => m < n)) verifyConsistency(m, n, consistencyProof(m, n, t.read), roots.get(m)!, root);
    }
    for (const n of sizes.slice(0, 1)) expect(rootOfLeafHashes(t.leaves.slice(0, n))).toEqual(roots.get(n));
  });
});
