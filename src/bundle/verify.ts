// Offline verification of export bundles and C2SP tlog-proof files
// (spec/bundle.md). PURE: the file's bytes and the auditor's tlog-policy in, a
// report out. Every key that decides anything comes from the policy; nothing
// in the file is trusted until it verifies under those keys:
//
//  1. the checkpoint carries a valid signature of the policy's log for the
//     bundle's origin, and witness cosignatures meeting the policy's quorum;
//  2. an earlier checkpoint, if carried, satisfies the policy too and is
//     consistent with it (RFC 9162 §2.1.4.2); an auditor's own checkpoint
//     (--trusted-checkpoint) is consistent with the bundle's;
//  3. every hash tile is bound to the signed root (core/tiles verifiedTileReader),
//     and every entry's leaf hash is the one its level-0 tile holds at its index;
//  4. the producer registry is replayed in index order from the registration and
//     revocation entries (DSSE envelopes signed by the log key), and every other
//     entry's envelope verifies (DSSE PAE, Ed25519) under a key registered, not
//     revoked and allowed its kind at that entry's position;
//  5. every payload satisfies its schema; anchor receipts and the manifest agree
//     with the contents.
//
// A failure names its code (stable, kebab-case), a precise message and the entry
// index where it applies. Failures that leave nothing to check (an unreadable
// bundle, a checkpoint that does not verify, a tile that does not hash up to the
// root) stop verification; per-entry failures are collected.

import { md5 } from '@noble/hashes/legacy.js';
import { equal, fromBase64, toBase64, toHex, utf8 } from '../core/bytes.js';
import { CheckpointError, parseCheckpoint, type Checkpoint } from '../core/checkpoint.js';
import { ed25519Verify, sha256 } from '../core/crypto.js';
import { EnvelopeError, keyIdOf, pae, verifyEnvelope, type Envelope, type TrustedKey } from '../core/dsse.js';
import { decodeLeaf, EntryError, validatePayload, type LeafRecord } from '../core/entry.js';
import { consistencyProof, emptyRoot, hashLeaf, ProofError, verifyConsistency, verifyInclusion, type HashReader } from '../core/merkle.js';
import { NoteError, openNote, parseNote } from '../core/note.js';
import { PolicyError, verifyCheckpointWithPolicy, type Policy, type PolicyLog } from '../core/policy.js';
import { TileError, TILE_HEIGHT, TILE_WIDTH, tilePath, verifiedTileReader, type TileId } from '../core/tiles.js';
import { parseTlogProof, TLOG_PROOF_HEADER, TlogProofError, type TlogProof } from '../core/tlog-proof.js';
import {
  BundleFormatError,
  DIGESTED_FIELDS,
  isRangeOnly,
  PROOF_METHOD,
  readBundle,
  selectionMismatch,
  type Bundle,
  type BundleEntry,
  type ManifestDigests,
  type Selection,
  type RegistryKey,
} from './format.js';

// ---------------------------------------------------------------------------
// Report

export interface Failure {
  /** Stable machine-readable reason (spec/bundle.md lists them). */
  code: string;
  message: string;
  /** The log index of the entry the failure is about, when there is one. */
  index?: number;
}

export interface CheckpointSummary {
  size: number;
  /** Standard base64, as in the checkpoint. */
  rootHash: string;
  /** Policy names of the witnesses whose cosignatures verified. */
  witnesses: string[];
  /** Each of those witnesses' cosignature time (POSIX seconds). */
  cosignedAt: Record<string, number>;
}

export interface ProducerSummary {
  name: string;
  keyid: string;
  /** Selected entries this producer's key signed. */
  entries: number;
}

export interface VerifyReport {
  valid: boolean;
  format: 'bundle' | 'tlog-proof';
  origin?: string;
  /** The policy's quorum name ('none' when no cosignature is required). */
  quorum: string;
  checkpoint?: CheckpointSummary;
  earlier?: CheckpointSummary & { consistent: boolean };
  trustedCheckpoint?: { size: number; rootHash: string; consistent: boolean };
  /** Selected entries (for a tlog-proof: 1). */
  entries: number;
  /** Registry entries carried beside the selection. */
  producerEntries: number;
  /** Selected entries by kind. */
  kinds: Record<string, number>;
  producers: ProducerSummary[];
  firstIndex?: number;
  lastIndex?: number;
  /** Earliest and latest time the log accepted a selected entry (RFC 3339). */
  firstTime?: string;
  lastTime?: string;
  tiles: number;
  anchors: number;
  selection?: Selection;
  /** 'not-checked' for a tlog-proof of a producer's entry: a proof file carries no registry to check the signer against. */
  authorisation: 'checked' | 'not-checked';
  failures: Failure[];
  /** Failures beyond maxFailures, counted but not listed. */
  moreFailures: number;
}

/** One Ed25519 check: signature over message under a raw 32-byte public key. */
export interface SignatureCheck {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/**
 * Checks many signatures at once; the results are in order. The default runs
 * the core's ed25519Verify one by one; a program may pass one that spreads the
 * work over threads (ledger-verify does, with node:crypto).
 */
export type BatchVerifier = (checks: readonly SignatureCheck[]) => Promise<boolean[]>;

export const sequentialVerifier: BatchVerifier = async (checks) => checks.map((c) => ed25519Verify(c.publicKey, c.message, c.signature));

export interface VerifyOptions {
  /** A checkpoint note the auditor saw before: the bundle's checkpoint must be consistent with it. */
  trustedCheckpoint?: string;
  verifySignatures?: BatchVerifier;
  /** Called after each chunk of entries. */
  onProgress?: (done: number, total: number) => void;
  /** Failures listed in the report (default 100); the rest are counted. */
  maxFailures?: number;
}

export interface TlogProofOptions extends VerifyOptions {
  /** The entry's leaf bytes, when the proof's extra line does not carry them (or to override it). */
  leaf?: Uint8Array;
  /** Or only the leaf hash: inclusion is then all that can be checked. */
  leafHash?: Uint8Array;
}

/** Whether a file is a C2SP tlog-proof (rather than a bundle). */
export function isTlogProof(file: Uint8Array): boolean {
  const h = utf8(`${TLOG_PROOF_HEADER}\n`);
  return file.length >= h.length && equal(file.subarray(0, h.length), h);
}

const CHUNK = 1024;
/** Chunks whose signatures are being verified while the next is prepared. */
const IN_FLIGHT = 3;

class Fatal extends Error {}

class Collector {
  readonly list: Failure[] = [];
  more = 0;
  constructor(private readonly max: number) {}
  add(f: Failure): void {
    if (this.list.length < this.max) this.list.push(f);
    else this.more++;
  }
  fatal(code: string, message: string, index?: number): never {
    this.add(index === undefined ? { code, message } : { code, message, index });
    throw new Fatal(message);
  }
}

function newReport(format: VerifyReport['format'], policy: Policy): VerifyReport {
  return {
    valid: false,
    format,
    quorum: policy.quorum,
    entries: 0,
    producerEntries: 0,
    kinds: {},
    producers: [],
    tiles: 0,
    anchors: 0,
    authorisation: 'checked',
    failures: [],
    moreFailures: 0,
  };
}

async function run(report: VerifyReport, max: number, body: (f: Collector) => Promise<void>): Promise<VerifyReport> {
  const f = new Collector(max);
  try {
    await body(f);
  } catch (e) {
    // Anything not already recorded is a defect the file provoked: report it, never crash.
    if (!(e instanceof Fatal)) f.add({ code: 'unexpected-error', message: `verification stopped: ${(e as Error)?.message ?? String(e)}` });
  }
  report.failures = f.list;
  report.moreFailures = f.more;
  report.valid = f.list.length === 0 && f.more === 0;
  return report;
}

// ---------------------------------------------------------------------------
// Checkpoints

interface CheckedCheckpoint {
  checkpoint: Checkpoint;
  witnesses: string[];
  cosignedAt: Record<string, number>;
}

function summary(c: CheckedCheckpoint): CheckpointSummary {
  return { size: c.checkpoint.size, rootHash: toBase64(c.checkpoint.rootHash), witnesses: c.witnesses, cosignedAt: c.cosignedAt };
}

/** The policy's logs whose key name is `origin` (tlog-policy "Defining a log"). */
function logsFor(policy: Policy, origin: string): PolicyLog[] {
  return policy.logs.filter((l) => l.origin === origin);
}

/**
 * A checkpoint note judged by the policy: well-formed, of `origin`, signed by
 * the policy's log key for it (checked on its own first, so that a bad log
 * signature and a bad cosignature are told apart), cosigned to the quorum.
 */
function checkCheckpoint(note: string, policy: Policy, logs: PolicyLog[], origin: string, what: string): CheckedCheckpoint | Failure {
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(parseNote(note).text);
  } catch (e) {
    if (e instanceof NoteError || e instanceof CheckpointError) return { code: 'malformed-checkpoint', message: `${what}: ${e.code}: ${e.message}` };
    throw e;
  }
  if (checkpoint.origin !== origin) {
    return { code: 'origin-mismatch', message: `${what} is of origin ${JSON.stringify(checkpoint.origin)}, the bundle's origin is ${JSON.stringify(origin)}` };
  }
  try {
    openNote(note, logs.map((l) => l.verifier));
  } catch (e) {
    if (!(e instanceof NoteError)) throw e;
    const why = e.code === 'unverified' ? `carries no signature by the policy's log key ${logs.map((l) => l.vkey).join(' or ')}` : e.message;
    return { code: 'log-signature-invalid', message: `${what} of size ${checkpoint.size}: ${why}` };
  }
  try {
    const v = verifyCheckpointWithPolicy(note, policy);
    return { checkpoint, witnesses: v.witnesses, cosignedAt: v.cosignedAt };
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    const code =
      e.code === 'quorum-not-met' ? 'quorum-not-met' : e.code === 'invalid-signature' ? 'cosignature-invalid' : e.code.startsWith('malformed') ? 'malformed-checkpoint' : 'log-signature-invalid';
    return { code, message: `${what} of size ${checkpoint.size}: ${e.message}` };
  }
}

function isFailure(x: CheckedCheckpoint | Failure): x is Failure {
  return 'code' in x;
}

/**
 * The auditor's checkpoint against the bundle's: signed by the policy's log for
 * the origin (no quorum: the auditor vouches for it), and the same tree or a
 * prefix of it. The consistency proof is the earlier checkpoint's (same size),
 * or is computed from the bundle's tiles when they hold the hashes it needs.
 */
function checkTrusted(
  note: string,
  logs: PolicyLog[],
  origin: string,
  latest: Checkpoint,
  earlier: Checkpoint | undefined,
  reader: HashReader | undefined,
  report: VerifyReport,
  f: Collector,
): void {
  let cp: Checkpoint;
  try {
    cp = parseCheckpoint(parseNote(note).text);
  } catch (e) {
    if (e instanceof NoteError || e instanceof CheckpointError) {
      f.add({ code: 'trusted-checkpoint-invalid', message: `trusted checkpoint: ${e.code}: ${e.message}` });
      return;
    }
    throw e;
  }
  if (cp.origin !== origin) {
    f.add({ code: 'trusted-checkpoint-invalid', message: `trusted checkpoint is of origin ${JSON.stringify(cp.origin)}, the file's is ${JSON.stringify(origin)}` });
    return;
  }
  try {
    openNote(note, logs.map((l) => l.verifier));
  } catch (e) {
    if (!(e instanceof NoteError)) throw e;
    f.add({ code: 'trusted-checkpoint-invalid', message: `trusted checkpoint of size ${cp.size} is not signed by the policy's log key: ${e.message}` });
    return;
  }
  const t = { size: cp.size, rootHash: toBase64(cp.rootHash), consistent: false };
  report.trustedCheckpoint = t;
  const forked = (n: number) =>
    f.add({ code: 'trusted-checkpoint-inconsistent', message: `the trusted checkpoint and the file's checkpoint both have size ${n} but different roots: the log forked` });
  if (cp.size === latest.size || (earlier && cp.size === earlier.size)) {
    const other = cp.size === latest.size ? latest : earlier!;
    if (equal(cp.rootHash, other.rootHash)) t.consistent = true;
    else forked(cp.size);
    return;
  }
  if (cp.size === 0) {
    if (equal(cp.rootHash, emptyRoot())) t.consistent = true;
    else f.add({ code: 'trusted-checkpoint-inconsistent', message: 'the trusted checkpoint of size 0 does not have the empty tree root' });
    return;
  }
  if (cp.size > latest.size || reader === undefined) {
    f.add({
      code: 'no-consistency-proof',
      message: `the trusted checkpoint (size ${cp.size}) is ${cp.size > latest.size ? 'newer than' : 'not provable against'} the file's checkpoint (size ${latest.size}); export with --since ${cp.size}`,
    });
    return;
  }
  let proof: Uint8Array[];
  try {
    proof = consistencyProof(cp.size, latest.size, reader);
  } catch (e) {
    if (!(e instanceof MissingTileError)) throw e;
    f.add({ code: 'no-consistency-proof', message: `the bundle holds no consistency proof from the trusted size ${cp.size} to ${latest.size}; export with --since ${cp.size}` });
    return;
  }
  try {
    verifyConsistency(cp.size, latest.size, proof, cp.rootHash, latest.rootHash);
    t.consistent = true;
  } catch (e) {
    if (!(e instanceof ProofError)) throw e;
    f.add({ code: 'trusted-checkpoint-inconsistent', message: `the trusted checkpoint (size ${cp.size}) is not a prefix of the file's tree (size ${latest.size}): ${e.message}` });
  }
}

// ---------------------------------------------------------------------------
// Tiles

class MissingTileError extends Error {}

function tileKey(level: number, index: number): string {
  return `${level}/${index}`;
}

/** The bundle's tiles by level and index. */
function tileMap(b: Bundle): Map<string, Uint8Array> {
  const tiles = new Map<string, Uint8Array>();
  for (const t of b.tiles) tiles.set(tileKey(t.level, t.index), t.data);
  return tiles;
}

/** A verifying HashReader over the bundle's tiles; a tile it lacks is a MissingTileError. */
function tileReader(tiles: Map<string, Uint8Array>, cp: Checkpoint): HashReader {
  return verifiedTileReader(cp.size, cp.rootHash, (t: TileId) => {
    const data = tiles.get(tileKey(t.level, t.index));
    if (data === undefined) throw new MissingTileError(`the bundle lacks tile ${tilePath(t)}`);
    return data;
  });
}

/** The first carried entry whose proof runs through tile (level, index), for messages. */
function firstEntryUnder(level: number, index: number, all: readonly BundleEntry[]): number | undefined {
  const lo = index * TILE_WIDTH ** (level + 1);
  const hi = lo + TILE_WIDTH ** (level + 1);
  let a = 0;
  let z = all.length;
  while (a < z) {
    const m = (a + z) >>> 1;
    if (all[m]!.index < lo) a = m + 1;
    else z = m;
  }
  return a < all.length && all[a]!.index < hi ? all[a]!.index : undefined;
}

/**
 * Binds every tile of the bundle to the signed root (each through its parents
 * up to the right edge, which hashes to the root), so that none goes unchecked
 * and a leaf hash can then be read straight from its level-0 tile.
 */
function bindTiles(b: Bundle, cp: Checkpoint, reader: HashReader, all: readonly BundleEntry[], f: Collector): void {
  let prev: { level: number; index: number } | undefined;
  for (const t of b.tiles) {
    const path = `tile ${t.level}/${t.index}`;
    const fail = (code: string, message: string): never => {
      const at = firstEntryUnder(t.level, t.index, all);
      return f.fatal(code, `${message}${at === undefined ? '' : ` (on the proof of entry ${at})`}`, at);
    };
    if (prev && (t.level < prev.level || (t.level === prev.level && t.index <= prev.index))) {
      fail('unexpected-tile', `${path} is out of order or repeated (tiles are sorted by level, then index)`);
    }
    prev = t;
    // Tile (L, n) exists in a tree of size N when N >= (256n + 1) * 256^L (tlog-tiles "Merkle Tree").
    if (t.level > 63 || (t.index * TILE_WIDTH + 1) * TILE_WIDTH ** t.level > cp.size) {
      fail('unexpected-tile', `${path} is not a tile of the tree of size ${cp.size}`);
    }
    try {
      reader([{ level: TILE_HEIGHT * t.level, index: t.index * TILE_WIDTH }]);
    } catch (e) {
      if (e instanceof TileError) {
        fail(e.code === 'wrong-tile-size' || e.code === 'tile-mismatch' ? e.code : 'unexpected-tile', e.message);
      }
      if (e instanceof MissingTileError) fail('missing-tile', `${e.message}, which binds ${path} to the root`);
      throw e;
    }
  }
}

// ---------------------------------------------------------------------------
// Producer registry


/** Keys (from verified registry entries) by keyid. */
type Registry = Map<string, RegistryKey>;

function activeAt(k: RegistryKey, i: number): boolean {
  return k.addIndex < i && (k.revokeIndex === undefined || i < k.revokeIndex);
}

interface RegistryChange {
  action: 'add' | 'revoke';
  key: Omit<RegistryKey, 'addIndex' | 'revokeIndex'>;
}

/**
 * A registry entry on its own: schema, keyid = SHA-256 of the key, and the
 * envelope signed by the log's key (the policy's, never the bundle's).
 */
function checkProducerEntry(index: number, rec: LeafRecord, logKeys: TrustedKey[]): RegistryChange | Failure {
  let p: Record<string, unknown>;
  try {
    p = validatePayload('producer', rec.envelope.payload);
  } catch (e) {
    if (!(e instanceof EntryError)) throw e;
    return { code: 'schema-invalid', index, message: `producer entry ${index}: ${e.code}: ${e.message}` };
  }
  const publicKey = fromBase64(p.publicKey as string);
  const keyid = p.keyid as string;
  if (keyIdOf(publicKey) !== keyid) {
    return { code: 'producer-entry-invalid', index, message: `producer entry ${index}: keyid ${keyid} is not the SHA-256 of its public key` };
  }
  try {
    verifyEnvelope(rec.envelope, logKeys);
  } catch (e) {
    if (!(e instanceof EnvelopeError)) throw e;
    return { code: 'producer-signature-invalid', index, message: `producer entry ${index} (${p.action as string} ${p.name as string}) is not signed by the log's key: ${e.message}` };
  }
  return { action: p.action as 'add' | 'revoke', key: { keyid, name: p.name as string, publicKey, types: p.types as string[] } };
}

/** Replays one verified registry change at `index`: a key is registered once and revoked at most once. */
function applyChange(index: number, c: RegistryChange, registry: Registry): Failure | undefined {
  const keyid = c.key.keyid;
  const known = registry.get(keyid);
  if (c.action === 'add') {
    if (known) {
      return { code: 'producer-history-invalid', index, message: `producer entry ${index} registers key ${keyid} again (registered at ${known.addIndex})` };
    }
    registry.set(keyid, { ...c.key, addIndex: index });
    return undefined;
  }
  if (!known) return { code: 'producer-history-invalid', index, message: `producer entry ${index} revokes key ${keyid}, which no earlier entry of the bundle registers` };
  if (known.revokeIndex !== undefined) {
    return { code: 'producer-history-invalid', index, message: `producer entry ${index} revokes key ${keyid} again (revoked at ${known.revokeIndex})` };
  }
  known.revokeIndex = index;
  return undefined;
}

/**
 * Why no authorised key signed entry i, given the whole registry (every
 * registry entry of the bundle is known by now): the first signature that
 * verifies under some registered key decides the reason.
 */
function diagnose(i: number, kind: string, env: Envelope, registry: Registry): { signer?: RegistryKey; failure?: Failure } {
  const keys = [...registry.values()];
  const trusted = (ks: RegistryKey[]) => ks.map((k) => ({ id: k.keyid, publicKey: k.publicKey }));
  // The keyid is only a hint: an authorised key may have signed under another hint.
  const allowed = keys.filter((k) => activeAt(k, i) && k.types.includes(kind));
  const tryKeys = (ks: RegistryKey[]): RegistryKey | undefined => {
    if (ks.length === 0 || env.signatures.length === 0) return undefined;
    try {
      return registry.get(verifyEnvelope(env, trusted(ks))[0]!);
    } catch (e) {
      if (e instanceof EnvelopeError) return undefined;
      throw e;
    }
  };
  const ok = tryKeys(allowed);
  if (ok) return { signer: ok };
  const k = tryKeys(keys.filter((x) => !allowed.includes(x)));
  const who = (x: RegistryKey) => `${x.name} (keyid ${x.keyid})`;
  if (k) {
    if (k.addIndex >= i) {
      return { failure: { code: 'producer-not-yet-registered', index: i, message: `entry ${i} is signed by ${who(k)}, registered only at index ${k.addIndex}` } };
    }
    if (k.revokeIndex !== undefined && k.revokeIndex < i) {
      return { failure: { code: 'producer-revoked', index: i, message: `entry ${i} is signed by ${who(k)}, revoked at index ${k.revokeIndex}` } };
    }
    return { failure: { code: 'type-not-allowed', index: i, message: `entry ${i} is a ${kind} entry, which ${who(k)} may not write (allowed: ${k.types.join(', ') || 'none'})` } };
  }
  if (env.signatures.length === 0) return { failure: { code: 'envelope-signature-invalid', index: i, message: `entry ${i}'s envelope carries no signature` } };
  const hinted = env.signatures.map((s) => registry.get(s.keyid)).filter((x): x is RegistryKey => x !== undefined);
  if (hinted.length > 0) {
    return { failure: { code: 'envelope-signature-invalid', index: i, message: `entry ${i}: the signature of ${who(hinted[0]!)} does not verify over the envelope` } };
  }
  return {
    failure: {
      code: 'unknown-producer-key',
      index: i,
      message: `entry ${i} is signed by no producer key the bundle registers (keyid hint ${env.signatures.map((s) => s.keyid || '(none)').join(', ')})`,
    },
  };
}

// ---------------------------------------------------------------------------
// Bundles

/** Verifies an export bundle against the auditor's policy. */
export function verifyBundle(file: Uint8Array, policy: Policy, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const report = newReport('bundle', policy);
  return run(report, opts.maxFailures ?? 100, (f) => bundleChecks(file, policy, opts, report, f));
}

async function bundleChecks(file: Uint8Array, policy: Policy, opts: VerifyOptions, report: VerifyReport, f: Collector): Promise<void> {
  let b: Bundle;
  let digests: ManifestDigests;
  try {
    ({ bundle: b, digests } = readBundle(file));
  } catch (e) {
    if (e instanceof BundleFormatError) f.fatal(e.code, e.message);
    throw e;
  }
  report.origin = b.origin;
  report.selection = b.manifest.selection;
  report.tiles = b.tiles.length;
  report.anchors = b.anchors.length;

  // 1. The checkpoint, by the policy's keys for this origin.
  const logs = logsFor(policy, b.origin);
  if (logs.length === 0) f.fatal('unknown-origin', `the policy lists no log for origin ${JSON.stringify(b.origin)} (it knows ${policy.logs.map((l) => l.origin).join(', ') || 'none'})`);
  const latest = checkCheckpoint(b.checkpoint, policy, logs, b.origin, 'checkpoint');
  if (isFailure(latest)) f.fatal(latest.code, latest.message);
  const cp = latest.checkpoint;
  report.checkpoint = summary(latest);

  // 2. The earlier checkpoint and its consistency proof.
  let earlierCp: Checkpoint | undefined;
  if (b.earlier) {
    const e = checkCheckpoint(b.earlier.checkpoint, policy, logs, b.origin, 'earlier checkpoint');
    if (isFailure(e)) f.add(e);
    else {
      earlierCp = e.checkpoint;
      report.earlier = { ...summary(e), consistent: false };
      try {
        verifyConsistency(e.checkpoint.size, cp.size, b.earlier.proof, e.checkpoint.rootHash, cp.rootHash);
        report.earlier.consistent = true;
      } catch (err) {
        if (!(err instanceof ProofError)) throw err;
        f.add({ code: 'consistency-proof-invalid', message: `the earlier checkpoint (size ${e.checkpoint.size}) is not proven consistent with the checkpoint (size ${cp.size}): ${err.code}: ${err.message}` });
      }
    }
  }

  // 3. Tiles, bound to the signed root.
  const all = mergeSections(b, f);
  const tiles = tileMap(b);
  const reader = tileReader(tiles, cp);
  bindTiles(b, cp, reader, all, f);
  if (opts.trustedCheckpoint !== undefined) checkTrusted(opts.trustedCheckpoint, logs, b.origin, cp, earlierCp, reader, report, f);

  // 4. Entries and registry entries, in index order.
  await checkEntries(b, all, cp, tiles, logs, opts, report, f);

  // 5. Anchors and manifest.
  checkAnchors(b, cp, earlierCp, f);
  checkManifest(b, digests, cp, f);
}

interface Carried extends BundleEntry {
  section: 'entries' | 'producers';
}

/** Both sections in index order; each must be sorted and no index carried twice. */
function mergeSections(b: Bundle, f: Collector): Carried[] {
  for (const section of ['entries', 'producers'] as const) {
    const list = b[section];
    for (let k = 1; k < list.length; k++) {
      if (list[k]!.index <= list[k - 1]!.index) {
        f.fatal('bad-entry-order', `${section}: index ${list[k]!.index} follows ${list[k - 1]!.index} (indices must increase strictly)`, list[k]!.index);
      }
    }
  }
  const all: Carried[] = [...b.entries.map((e) => ({ ...e, section: 'entries' as const })), ...b.producers.map((e) => ({ ...e, section: 'producers' as const }))];
  all.sort((x, y) => x.index - y.index);
  for (let k = 1; k < all.length; k++) {
    if (all[k]!.index === all[k - 1]!.index) f.fatal('bad-entry-order', `index ${all[k]!.index} is carried in both entries and producers`, all[k]!.index);
  }
  return all;
}

interface Pending {
  index: number;
  kind: string;
  record: LeafRecord;
  payload: Record<string, unknown>;
  /** Positions in the chunk's check list and the key each would prove. */
  checks: { at: number; key: RegistryKey }[];
}

async function checkEntries(
  b: Bundle,
  all: Carried[],
  cp: Checkpoint,
  tiles: Map<string, Uint8Array>,
  logs: PolicyLog[],
  opts: VerifyOptions,
  report: VerifyReport,
  f: Collector,
): Promise<void> {
  const verify = opts.verifySignatures ?? sequentialVerifier;
  const logKeys: TrustedKey[] = logs.map((l) => ({ id: l.vkey, publicKey: l.verifier.publicKey }));
  const registry: Registry = new Map();
  const failures: Failure[] = [];
  const counts = new Map<string, number>();
  const needDiagnosis: Pending[] = [];
  const selection = b.manifest.selection;
  let firstTime = Infinity;
  let lastTime = -Infinity;

  const selected = (p: Pending, signer: RegistryKey | undefined) => {
    report.kinds[p.kind] = (report.kinds[p.kind] ?? 0) + 1;
    firstTime = Math.min(firstTime, p.record.time);
    lastTime = Math.max(lastTime, p.record.time);
    if (signer) counts.set(signer.keyid, (counts.get(signer.keyid) ?? 0) + 1);
    const why = selectionMismatch(selection, {
      index: p.index,
      time: p.record.time,
      kind: p.kind,
      payload: p.payload,
      ...(signer ? { signer: { name: signer.name, keyid: signer.keyid } } : {}),
    });
    if (why !== undefined) failures.push({ code: 'selection-mismatch', index: p.index, message: `entry ${p.index} is outside the bundle's selection: ${why}` });
  };

  /** Inclusion, leaf decoding and schema; registry entries are applied here. */
  const prepare = (e: Carried, checks: SignatureCheck[]): Pending | undefined => {
    const i = e.index;
    if (i >= cp.size) {
      failures.push({ code: 'index-out-of-range', index: i, message: `entry ${i} is not in the checkpoint's tree of size ${cp.size}` });
      return undefined;
    }
    // Every tile of the bundle is bound to the root (bindTiles), so the level-0
    // tile's hash at i is the signed tree's leaf hash at i.
    const tile = tiles.get(tileKey(0, Math.floor(i / TILE_WIDTH)));
    if (tile === undefined) {
      failures.push({ code: 'missing-tile', index: i, message: `entry ${i}: the bundle lacks tile ${tilePath({ level: 0, index: Math.floor(i / TILE_WIDTH), width: Math.min(TILE_WIDTH, cp.size - Math.floor(i / TILE_WIDTH) * TILE_WIDTH) })}` });
      return undefined;
    }
    const at = (i % TILE_WIDTH) * 32;
    if (!equal(hashLeaf(e.leaf), tile.subarray(at, at + 32))) {
      const code = e.section === 'producers' ? 'producer-entry-not-included' : 'entry-not-included';
      failures.push({ code, index: i, message: `${e.section === 'producers' ? 'producer entry' : 'entry'} ${i}: its leaf hash is not the one the tree signed at size ${cp.size} holds at index ${i}` });
      return undefined;
    }
    let record: LeafRecord;
    try {
      record = decodeLeaf(e.leaf);
    } catch (err) {
      if (!(err instanceof EntryError)) throw err;
      failures.push({ code: 'bad-leaf', index: i, message: `entry ${i}: ${err.code}: ${err.message}` });
      return undefined;
    }
    const kind = record.kind;
    if (kind === 'producer') {
      const change = checkProducerEntry(i, record, logKeys);
      const failure = 'code' in change ? change : applyChange(i, change, registry);
      if (failure) {
        failures.push(failure);
        return undefined;
      }
      if (e.section === 'producers') return undefined;
      return { index: i, kind, record, payload: validatePayload(kind, record.envelope.payload), checks: [] };
    }
    if (e.section === 'producers') {
      failures.push({ code: 'producer-entry-invalid', index: i, message: `producers: entry ${i} is a ${kind} entry, not a registry entry` });
      return undefined;
    }
    let payload: Record<string, unknown>;
    try {
      // No time window: an old entry is as valid as the day the log accepted it.
      payload = validatePayload(kind, record.envelope.payload);
    } catch (err) {
      if (!(err instanceof EntryError)) throw err;
      failures.push({ code: 'schema-invalid', index: i, message: `entry ${i} (${kind}): ${err.code}: ${err.message}` });
      return undefined;
    }
    // Fast path: the keys the signatures name that are active and allowed here (DSSE PAE, Ed25519).
    const p: Pending = { index: i, kind, record, payload, checks: [] };
    const msg = pae(record.envelope.payloadType, record.envelope.payload);
    for (const s of record.envelope.signatures) {
      const k = registry.get(s.keyid);
      if (k && k.revokeIndex === undefined && k.types.includes(kind) && !p.checks.some((c) => c.key === k)) {
        p.checks.push({ at: checks.length, key: k });
        checks.push({ publicKey: k.publicKey, message: msg, signature: s.sig });
      }
    }
    return p;
  };

  const finish = (batch: Pending[], results: boolean[]) => {
    for (const p of batch) {
      if (p.kind === 'producer') {
        selected(p, undefined);
        continue;
      }
      const ok = p.checks.find((c) => results[c.at] === true);
      if (ok) selected(p, ok.key);
      else needDiagnosis.push(p);
    }
  };

  report.entries = b.entries.length;
  report.producerEntries = b.producers.length;
  // Chunks' signatures verify (on other threads, with a parallel verifier) while
  // the next chunks are prepared; up to IN_FLIGHT chunks are handed over at once,
  // so a thread that finishes its share early starts on the next, and chunks
  // finish in order.
  let finished: Promise<void> = Promise.resolve();
  const inflight: Promise<void>[] = [];
  for (let start = 0; start < all.length; start += CHUNK) {
    const checks: SignatureCheck[] = [];
    const batch: Pending[] = [];
    for (let k = start; k < Math.min(all.length, start + CHUNK); k++) {
      const p = prepare(all[k]!, checks);
      if (p !== undefined) batch.push(p);
    }
    if (inflight.length >= IN_FLIGHT) await inflight.shift();
    const done = Math.min(all.length, start + CHUNK);
    const results = verify(checks);
    results.catch(() => {}); // its failure surfaces through `finished`, in order
    finished = finished.then(async () => {
      finish(batch, await results);
      opts.onProgress?.(done, all.length);
    });
    finished.catch(() => {}); // awaited below, or through the last one
    inflight.push(finished);
  }
  await finished;

  // Entries no fast-path key proved: decided against the whole registry.
  for (const p of needDiagnosis) {
    const d = diagnose(p.index, p.kind, p.record.envelope, registry);
    if (d.failure) failures.push(d.failure);
    else selected(p, d.signer);
  }

  if (isRangeOnly(selection)) {
    const from = selection.from ?? 0;
    const to = Math.min(selection.to ?? cp.size - 1, cp.size - 1);
    const have = new Set(b.entries.map((e) => e.index));
    for (let i = from; i <= to; i++) {
      if (!have.has(i)) {
        failures.push({ code: 'selection-mismatch', index: i, message: `the selection is every entry of ${from}..${to}, and entry ${i} is missing` });
        break;
      }
    }
  }

  failures.sort((x, y) => (x.index ?? -1) - (y.index ?? -1));
  for (const x of failures) f.add(x);

  if (b.entries.length > 0) {
    report.firstIndex = b.entries[0]!.index;
    report.lastIndex = b.entries[b.entries.length - 1]!.index;
  }
  if (firstTime !== Infinity) {
    report.firstTime = new Date(firstTime).toISOString();
    report.lastTime = new Date(lastTime).toISOString();
  }
  report.producers = [...counts].map(([keyid, n]) => ({ name: registry.get(keyid)!.name, keyid, entries: n })).sort((x, y) => x.name.localeCompare(y.name));
}

// ---------------------------------------------------------------------------
// Anchors and manifest

const RECEIPT_FIELDS = ['bucket', 'key', 'versionId', 'etag', 'retainUntil', 'mode'];

/**
 * An S3 receipt is checked online by `ledger anchor verify`; offline we check
 * that it names a checkpoint of the bundle, at that checkpoint's archive key
 * (spec/anchoring.md), in COMPLIANCE mode, and that a plain single-part ETag
 * is the MD5 of exactly that checkpoint's bytes.
 */
function checkAnchors(b: Bundle, cp: Checkpoint, earlier: Checkpoint | undefined, f: Collector): void {
  const notes = new Map<number, string>([[cp.size, b.checkpoint]]);
  if (earlier && b.earlier) notes.set(earlier.size, b.earlier.checkpoint);
  b.anchors.forEach((a, k) => {
    const bad = (why: string) => f.add({ code: 'anchor-receipt-invalid', message: `anchors[${k}] (size ${a.size}): ${why}` });
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(a.receipt) as Record<string, unknown>;
    } catch {
      return bad('the receipt is not JSON');
    }
    if (typeof r !== 'object' || r === null) return bad('the receipt is not a JSON object');
    for (const field of RECEIPT_FIELDS) if (typeof r[field] !== 'string' || r[field] === '') return bad(`the receipt has no "${field}"`);
    const note = notes.get(a.size);
    if (note === undefined) return bad('no checkpoint of the bundle has that size');
    if (r.mode !== 'COMPLIANCE') return bad(`retention mode is ${String(r.mode)}, not COMPLIANCE`);
    const suffix = `checkpoints/${toHex(sha256(utf8(b.origin)))}/${String(a.size).padStart(20, '0')}`;
    if (!(r.key as string).endsWith(suffix)) return bad(`key ${String(r.key)} is not the archive key of that checkpoint (…${suffix})`);
    const etag = r.etag as string;
    if (/^[0-9a-f]{32}$/.test(etag) && etag !== toHex(md5(utf8(note)))) return bad(`ETag ${etag} is not the MD5 of the checkpoint's bytes`);
    return undefined;
  });
}

function checkManifest(b: Bundle, digests: ManifestDigests, cp: Checkpoint, f: Collector): void {
  const m = b.manifest;
  const bad = (what: string) => f.add({ code: 'manifest-mismatch', message: `manifest: ${what}` });
  if (m.treeSize !== cp.size) bad(`treeSize ${m.treeSize} is not the checkpoint's size ${cp.size}`);
  if (m.proofs !== PROOF_METHOD) bad(`proofs ${JSON.stringify(m.proofs)} is not ${JSON.stringify(PROOF_METHOD)}`);
  const counts = { entries: b.entries.length, producers: b.producers.length, tiles: b.tiles.length, anchors: b.anchors.length };
  for (const [k, v] of Object.entries(counts)) {
    const said = m.counts[k as keyof typeof counts];
    if (said !== v) bad(`counts.${k} is ${said}, the bundle holds ${v}`);
  }
  for (const k of DIGESTED_FIELDS) {
    const said = m.digests[k];
    const is = digests[k];
    if (said === undefined && is === undefined) continue;
    if (said === undefined || is === undefined) bad(`digests.${k} is ${said ? 'given' : 'missing'}, the bundle ${is ? 'has' : 'has no'} field ${k}`);
    else if (!equal(said, is)) bad(`digests.${k} is ${toHex(said)}, the field hashes to ${toHex(is)}`);
  }
}

// ---------------------------------------------------------------------------
// tlog-proof files

/**
 * Verifies a C2SP tlog-proof: the checkpoint by the policy, and the inclusion
 * of the entry. The entry comes from opts (leaf bytes or hash) or from the
 * proof's extra line, which this ledger's exporter fills with the exact leaf
 * bytes; extra data is unauthenticated, so it counts only through the leaf hash
 * the inclusion proof then binds. A leaf the file carries or the caller gives
 * is decoded and schema-checked; a registry entry's log signature is checked.
 * A proof file carries no registry, so a producer's authorisation is not.
 */
export function verifyTlogProofFile(file: Uint8Array, policy: Policy, opts: TlogProofOptions = {}): Promise<VerifyReport> {
  const report = newReport('tlog-proof', policy);
  return run(report, opts.maxFailures ?? 100, async (f) => tlogProofChecks(file, policy, opts, report, f));
}

function tlogProofChecks(file: Uint8Array, policy: Policy, opts: TlogProofOptions, report: VerifyReport, f: Collector): void {
  let p: TlogProof;
  try {
    p = parseTlogProof(file);
  } catch (e) {
    if (e instanceof TlogProofError) f.fatal('malformed-tlog-proof', `${e.code}: ${e.message}`);
    throw e;
  }
  let origin: string;
  try {
    origin = parseCheckpoint(parseNote(p.checkpoint).text).origin;
  } catch (e) {
    if (e instanceof NoteError || e instanceof CheckpointError) f.fatal('malformed-checkpoint', `checkpoint: ${e.code}: ${e.message}`);
    throw e;
  }
  report.origin = origin;
  const logs = logsFor(policy, origin);
  if (logs.length === 0) f.fatal('unknown-origin', `the policy lists no log for origin ${JSON.stringify(origin)}`);
  const c = checkCheckpoint(p.checkpoint, policy, logs, origin, 'checkpoint');
  if (isFailure(c)) f.fatal(c.code, c.message);
  const cp = c.checkpoint;
  report.checkpoint = summary(c);
  const leaf = opts.leaf ?? p.extra;
  if (leaf === undefined && opts.leafHash === undefined) f.fatal('missing-leaf', `the proof of entry ${p.index} carries no entry (no extra line); give the leaf or its hash`, p.index);
  const leafHash = opts.leafHash ?? hashLeaf(leaf!);
  report.entries = 1;
  report.firstIndex = report.lastIndex = p.index;
  if (p.index >= cp.size) f.fatal('index-out-of-range', `entry ${p.index} is not in the checkpoint's tree of size ${cp.size}`, p.index);
  try {
    verifyInclusion(leafHash, p.index, cp.size, p.proof, cp.rootHash);
  } catch (e) {
    if (!(e instanceof ProofError)) throw e;
    f.fatal('entry-not-included', `entry ${p.index}: the inclusion proof does not lead to the checkpoint's root (${e.code}: ${e.message})`, p.index);
  }
  if (opts.trustedCheckpoint !== undefined) checkTrusted(opts.trustedCheckpoint, logs, origin, cp, undefined, undefined, report, f);
  report.authorisation = 'not-checked';
  if (opts.leafHash !== undefined && opts.leaf === undefined) return;
  let rec: LeafRecord;
  try {
    rec = decodeLeaf(leaf!);
  } catch (e) {
    if (!(e instanceof EntryError)) throw e;
    f.fatal('bad-leaf', `entry ${p.index}: ${e.code}: ${e.message}`, p.index);
  }
  report.kinds[rec.kind] = 1;
  report.firstTime = report.lastTime = new Date(rec.time).toISOString();
  if (rec.kind === 'producer') {
    const change = checkProducerEntry(p.index, rec, logs.map((l) => ({ id: l.vkey, publicKey: l.verifier.publicKey })));
    if ('code' in change) f.fatal(change.code, change.message, p.index);
    report.authorisation = 'checked';
    return;
  }
  try {
    validatePayload(rec.kind, rec.envelope.payload);
  } catch (e) {
    if (!(e instanceof EntryError)) throw e;
    f.fatal('schema-invalid', `entry ${p.index} (${rec.kind}): ${e.code}: ${e.message}`, p.index);
  }
}
