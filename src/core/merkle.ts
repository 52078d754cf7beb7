// The log's Merkle tree, exactly as RFC 9162 §2.1 (the same tree as RFC 6962 §2.1):
// hashing, proof generation, proof verification, and the append-only compact range
// the integrator keeps.
//
// Sizes and indices are JS numbers (safe integers, below 2^53). Bit operators in JS
// work on 32 bits only, so halving is Math.floor(x / 2) and LSB(x) is x % 2.
//
// Proof generation is split in two: a *plan* (the complete subtrees a proof is made
// of, so that a caller can fetch them in one batch, e.g. from tiles) and the
// computation of the proof from a HashReader that returns those subtrees' hashes.

import { equal } from './bytes.js';
import { sha256 } from './crypto.js';
import { CodedError } from './errors.js';

export const HASH_SIZE = 32;

/** Every failure of this module: `code` is stable and machine-readable. */
export class ProofError extends CodedError {}

/** A complete (perfect) subtree: 2^level leaves starting at leaf index*2^level. Level 0 = leaf hash. */
export interface NodeId {
  level: number;
  index: number;
}

/** Returns the hashes of the given complete subtrees, in order; throws if one is not available. */
export type HashReader = (ids: readonly NodeId[]) => Uint8Array[];

// ---------------------------------------------------------------------------
// Hashing (RFC 9162 §2.1.1)

/** The hash of a leaf: SHA-256(0x00 || data). */
export function hashLeaf(data: Uint8Array): Uint8Array {
  const n = 1 + data.length;
  const buf = n <= LEAF_INPUT.length ? LEAF_INPUT.subarray(0, n) : new Uint8Array(n);
  buf[0] = 0x00;
  buf.set(data, 1);
  return sha256(buf);
}

// The input of hashLeaf for leaves up to 64 KiB (every entry of this log), reused
// as NODE_INPUT below is: hashing consumes it before returning.
const LEAF_INPUT = new Uint8Array(1 + 65_536);

// The 65-byte input of hashChildren, reused: hashing consumes it before returning,
// and a fresh one would be a typed array too large for V8's heap (about 1 µs each).
const NODE_INPUT = new Uint8Array(1 + 2 * HASH_SIZE);
NODE_INPUT[0] = 0x01;

/** The hash of an interior node: SHA-256(0x01 || left || right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  checkHash(left, 'left child hash');
  checkHash(right, 'right child hash');
  NODE_INPUT.set(left, 1);
  NODE_INPUT.set(right, 1 + HASH_SIZE);
  return sha256(NODE_INPUT);
}

/** MTH({}) = SHA-256() of nothing: the root of the empty tree. */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}

/** MTH(D[n]) over the given leaf hashes, by the recursive definition of RFC 9162 §2.1.1. */
export function rootOfLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return emptyRoot();
  leafHashes.forEach((h, i) => checkHash(h, `leaf hash ${i}`));
  const mth = (lo: number, hi: number): Uint8Array => {
    if (hi - lo === 1) return leafHashes[lo]!.slice();
    const k = splitPoint(hi - lo);
    return hashChildren(mth(lo, lo + k), mth(lo + k, hi));
  };
  return mth(0, leafHashes.length);
}

// ---------------------------------------------------------------------------
// Proof plans and generation (RFC 9162 §2.1.3.1 and §2.1.4.1)

/** The complete subtrees that make up the whole tree of `size` leaves, left to right. */
export function treeHashPlan(size: number): NodeId[] {
  checkSize(size, 'tree size');
  return rangeNodes(0, size);
}

/** MTH(D[size]) from the hashes of its complete subtrees. */
export function treeHash(size: number, read: HashReader): Uint8Array {
  if (size === 0) return emptyRoot();
  return computeSegments([{ lo: 0, hi: size, nodes: treeHashPlan(size) }], read)[0]!;
}

/** The complete subtrees an inclusion proof for leaf `index` in a tree of `size` is made of. */
export function inclusionProofPlan(index: number, size: number): NodeId[] {
  return inclusionSegments(index, size).flatMap((s) => s.nodes);
}

/**
 * PATH(index, D[size]) of RFC 9162 §2.1.3.1, ordered from the leaf's sibling up to
 * the root. `memo` (one per log) keeps the elements that are several subtrees
 * folded together, so repeated proofs skip reading and hashing them again.
 */
export function inclusionProof(index: number, size: number, read: HashReader, memo?: RangeHashMemo): Uint8Array[] {
  return computeSegments(inclusionSegments(index, size), read, memo);
}

/** The complete subtrees a consistency proof from `from` to `to` is made of. */
export function consistencyProofPlan(from: number, to: number): NodeId[] {
  return consistencySegments(from, to).flatMap((s) => s.nodes);
}

/**
 * PROOF(from, D[to]) of RFC 9162 §2.1.4.1. Empty when from = to, and empty when
 * from = 0 (nothing to prove; C2SP tlog-witness requires the proof from an old size
 * of 0 to be empty).
 */
export function consistencyProof(from: number, to: number, read: HashReader, memo?: RangeHashMemo): Uint8Array[] {
  return computeSegments(consistencySegments(from, to), read, memo);
}

/**
 * MTH(D[lo:hi]) of the proof elements that are not one complete subtree but
 * several folded together: these lie on the right edge of a tree (hi is its
 * size), so proofs against one tree size keep asking for the same few. A range's
 * hash never changes in an append-only log, so a memo serves every size of ONE
 * log; do not share it between logs. When full it starts over.
 */
export class RangeHashMemo {
  readonly #max: number;
  readonly #map = new Map<string, Uint8Array>();

  constructor(max = 1024) {
    if (!Number.isSafeInteger(max) || max < 1) throw new ProofError('bad-memo-size', `memo size ${max} must be a positive integer`);
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  get(lo: number, hi: number): Uint8Array | undefined {
    return this.#map.get(`${lo}:${hi}`);
  }

  set(lo: number, hi: number, hash: Uint8Array): void {
    if (this.#map.size >= this.#max) this.#map.clear();
    this.#map.set(`${lo}:${hi}`, hash.slice());
  }
}

/** One proof element: MTH(D[lo:hi]), which is the fold of `nodes`. */
interface Segment {
  lo: number;
  hi: number;
  nodes: NodeId[];
}

/**
 * Each proof element is MTH(D[lo:hi]) of a subtree of the RFC recursion; a segment
 * lists the complete subtrees it is made of.
 */
function inclusionSegments(index: number, size: number): Segment[] {
  checkSize(size, 'tree size');
  checkIndex(index, size);
  // Walk down from the root, collecting the sibling of the subtree holding the leaf;
  // PATH lists them from the bottom up.
  const ranges: [number, number][] = [];
  let lo = 0;
  let hi = size;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (index < lo + k) {
      ranges.push([lo + k, hi]); // PATH(m, D[0:k]) : MTH(D[k:n])
      hi = lo + k;
    } else {
      ranges.push([lo, lo + k]); // PATH(m - k, D[k:n]) : MTH(D[0:k])
      lo += k;
    }
  }
  return ranges.reverse().map(([lo, hi]) => ({ lo, hi, nodes: rangeNodes(lo, hi) }));
}

function consistencySegments(from: number, to: number): Segment[] {
  checkSize(from, 'first tree size');
  checkSize(to, 'second tree size');
  if (from > to) throw new ProofError('size-out-of-range', `first tree size ${from} exceeds second tree size ${to}`);
  if (from === 0) return [];
  // SUBPROOF(m, D[lo:hi], b), walked from the root down and then reversed.
  const ranges: [number, number][] = [];
  let lo = 0;
  let hi = to;
  let m = from;
  let b = true;
  while (m !== hi - lo) {
    const k = splitPoint(hi - lo);
    if (m <= k) {
      ranges.push([lo + k, hi]); // SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
      hi = lo + k;
    } else {
      ranges.push([lo, lo + k]); // SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
      lo += k;
      m -= k;
      b = false;
    }
  }
  if (!b) ranges.push([lo, hi]); // SUBPROOF(m, D[m], false) = {MTH(D[m])}
  return ranges.reverse().map(([lo, hi]) => ({ lo, hi, nodes: rangeNodes(lo, hi) }));
}

/**
 * Reads all segments' subtrees in one batch and hashes each segment into one proof
 * element; segments of several subtrees found in `memo` are neither read nor hashed.
 */
function computeSegments(segments: Segment[], read: HashReader, memo?: RangeHashMemo): Uint8Array[] {
  const known = segments.map((s) => (memo !== undefined && s.nodes.length > 1 ? memo.get(s.lo, s.hi) : undefined));
  const ids = segments.flatMap((s, i) => (known[i] === undefined ? s.nodes : []));
  const hashes = ids.length === 0 ? [] : read(ids);
  if (hashes.length !== ids.length) {
    throw new ProofError('wrong-hash-count', `hash reader returned ${hashes.length} hashes for ${ids.length} subtrees`);
  }
  hashes.forEach((h, i) => checkHash(h, `hash of subtree ${ids[i]!.level}/${ids[i]!.index}`));
  let at = 0;
  return segments.map((s, i) => {
    const k = known[i];
    if (k !== undefined) return k.slice();
    const h = foldRight(hashes.slice(at, at + s.nodes.length));
    at += s.nodes.length;
    if (memo !== undefined && s.nodes.length > 1) memo.set(s.lo, s.hi, h);
    return h;
  });
}

/**
 * MTH of a subtree that is a sequence of complete subtrees of decreasing size: the
 * RFC recursion splits off the largest power of two on the left each time, so the
 * hashes combine from the right.
 */
function foldRight(hs: readonly Uint8Array[]): Uint8Array {
  let h: Uint8Array = hs[hs.length - 1]!.slice();
  for (let i = hs.length - 2; i >= 0; i--) h = hashChildren(hs[i]!, h);
  return h;
}

/**
 * The complete subtrees that make up D[lo:hi], left to right. `lo` must be a multiple
 * of a power of two >= hi - lo, as is every subtree of the RFC recursion.
 */
function rangeNodes(lo: number, hi: number): NodeId[] {
  const out: NodeId[] = [];
  let remaining = hi - lo;
  let p = 1;
  let level = 0;
  while (p * 2 <= remaining) {
    p *= 2;
    level++;
  }
  for (let start = lo; remaining > 0; p /= 2, level--) {
    if (remaining >= p) {
      out.push({ level, index: start / p });
      start += p;
      remaining -= p;
    }
  }
  return out;
}

/** k of RFC 9162 §2.1.1: the largest power of two smaller than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// ---------------------------------------------------------------------------
// Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)

/**
 * The root that an inclusion proof gives for `leafHash` at `index` in a tree of `size`
 * (RFC 9162 §2.1.3.2 steps 1-4 and the sn check of step 5).
 */
export function rootFromInclusionProof(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): Uint8Array {
  checkSize(size, 'tree size');
  checkIndex(index, size); // step 1
  checkHash(leafHash, 'leaf hash');
  proof.forEach((p, i) => checkHash(p, `proof hash ${i}`));
  let fn = index; // step 2
  let sn = size - 1;
  let r = leafHash; // step 3
  for (const p of proof) {
    // step 4
    if (sn === 0) throw wrongProofSize(proof.length, inclusionSegments(index, size).length); // 4a
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(p, r); // 4b i
      while (fn % 2 === 0 && fn !== 0) {
        // 4b ii
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = hashChildren(r, p); // 4b otherwise
    }
    fn = half(fn); // 4c
    sn = half(sn);
  }
  if (sn !== 0) throw wrongProofSize(proof.length, inclusionSegments(index, size).length); // step 5
  return r.slice();
}

/** Checks an inclusion proof against a signed root (RFC 9162 §2.1.3.2). Throws ProofError on failure. */
export function verifyInclusion(
  leafHash: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  checkSize(size, 'tree size');
  checkIndex(index, size);
  checkHash(root, 'root');
  const r = rootFromInclusionProof(leafHash, index, size, proof);
  if (!equal(r, root)) {
    throw new ProofError('root-mismatch', `inclusion proof for leaf ${index} gives another root than the tree of size ${size}`);
  }
}

/**
 * Checks a consistency proof between two signed tree heads (RFC 9162 §2.1.4.2).
 * Before the RFC algorithm (defined for 0 < from < to), the edge cases are decided
 * as the transparency-dev/merkle reference verifier and its test vectors do:
 * from > to is refused, from = 0 is refused (a proof from the empty tree proves
 * nothing), and from = to needs an empty proof and identical roots.
 */
export function verifyConsistency(
  from: number,
  to: number,
  proof: readonly Uint8Array[],
  fromRoot: Uint8Array,
  toRoot: Uint8Array,
): void {
  checkSize(from, 'first tree size');
  checkSize(to, 'second tree size');
  if (from > to) throw new ProofError('size-out-of-range', `first tree size ${from} exceeds second tree size ${to}`);
  if (from === 0) {
    throw new ProofError('empty-first-tree', 'a consistency proof from the empty tree is meaningless and is refused');
  }
  checkHash(fromRoot, 'first root');
  checkHash(toRoot, 'second root');
  proof.forEach((p, i) => checkHash(p, `proof hash ${i}`));
  if (from === to) {
    if (proof.length !== 0) throw wrongProofSize(proof.length, 0);
    if (!equal(fromRoot, toRoot)) {
      throw new ProofError('second-root-mismatch', `two trees of the same size ${to} have different roots`);
    }
    return;
  }
  const want = () => consistencySegments(from, to).length;
  if (proof.length === 0) throw wrongProofSize(0, want()); // step 1
  const path = isPowerOfTwo(from) ? [fromRoot, ...proof] : [...proof]; // step 2
  let fn = from - 1; // step 3
  let sn = to - 1;
  while (fn % 2 === 1) {
    // step 4
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!; // step 5
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    // step 6
    if (sn === 0) throw wrongProofSize(proof.length, want()); // 6a
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr); // 6b i
      sr = hashChildren(c, sr); // 6b ii
      while (fn % 2 === 0 && fn !== 0) {
        // 6b iii
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = hashChildren(sr, c); // 6b otherwise
    }
    fn = half(fn); // 6c
    sn = half(sn);
  }
  // step 7
  if (sn !== 0) throw wrongProofSize(proof.length, want());
  if (!equal(fr, fromRoot)) {
    throw new ProofError('first-root-mismatch', `consistency proof ${from} -> ${to} does not give the first root`);
  }
  if (!equal(sr, toRoot)) {
    throw new ProofError('second-root-mismatch', `consistency proof ${from} -> ${to} does not give the second root`);
  }
}

// ---------------------------------------------------------------------------
// Compact range

/**
 * Append-only builder used by the log's integrator: holds the right-edge frontier,
 * one hash per set bit of size (the complete subtrees of treeHashPlan(size)), largest first.
 */
export class CompactRange {
  #size: number;
  #frontier: Uint8Array[];

  /** Resumes from stored state; the frontier must have one 32-byte hash per set bit of size. */
  constructor(size = 0, frontier: readonly Uint8Array[] = []) {
    checkSize(size, 'compact range size');
    const want = rangeNodes(0, size).length;
    if (frontier.length !== want) {
      throw new ProofError('wrong-frontier-size', `a compact range of size ${size} has ${want} frontier hashes, got ${frontier.length}`);
    }
    frontier.forEach((h, i) => checkHash(h, `frontier hash ${i}`));
    this.#size = size;
    this.#frontier = frontier.map((h) => h.slice());
  }

  get size(): number {
    return this.#size;
  }

  get frontier(): Uint8Array[] {
    return this.#frontier.map((h) => h.slice());
  }

  /** Appends one leaf hash; returns every complete subtree this append completed (level 0 first), with its hash. */
  append(leafHash: Uint8Array): { id: NodeId; hash: Uint8Array }[] {
    checkHash(leafHash, 'leaf hash');
    if (this.#size >= Number.MAX_SAFE_INTEGER) {
      throw new ProofError('size-out-of-range', 'the tree cannot grow beyond 2^53 - 1 leaves');
    }
    let h: Uint8Array = leafHash.slice();
    let index = this.#size;
    const done = [{ id: { level: 0, index }, hash: h.slice() }];
    // Each trailing 1 bit of the old size is a complete subtree of that level that the
    // new node now pairs with, as in binary addition.
    for (let s = this.#size, level = 1; s % 2 === 1; s = half(s), level++) {
      h = hashChildren(this.#frontier.pop()!, h);
      index = half(index);
      done.push({ id: { level, index }, hash: h.slice() });
    }
    this.#frontier.push(h);
    this.#size++;
    return done;
  }

  /** MTH of the leaves appended so far; emptyRoot() for size 0. */
  root(): Uint8Array {
    if (this.#size === 0) return emptyRoot();
    return foldRight(this.#frontier);
  }
}

// ---------------------------------------------------------------------------
// Checks

function checkSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ProofError('size-out-of-range', `${what} ${n} is not an integer in 0..2^53-1`);
  }
}

function checkIndex(index: number, size: number): void {
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new ProofError('index-out-of-range', `leaf index ${index} is not in a tree of size ${size}`);
  }
}

function checkHash(h: Uint8Array, what: string): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    const got = h instanceof Uint8Array ? `${h.length} bytes` : typeof h;
    throw new ProofError('wrong-hash-size', `${what} must be ${HASH_SIZE} bytes, got ${got}`);
  }
}

function wrongProofSize(got: number, want: number): ProofError {
  return new ProofError('wrong-proof-size', `proof has ${got} hashes, want ${want}`);
}

function half(x: number): number {
  return Math.floor(x / 2);
}

function isPowerOfTwo(n: number): boolean {
  let p = 1;
  while (p < n) p *= 2;
  return p === n;
}
