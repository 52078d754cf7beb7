// Export then verify, in-process, on a real log (SQLite store, sequencer,
// integrator, witnessed publication): every selection round-trips; every part
// of a bundle, tampered, fails with its own code and index; policies that do
// not trust the bundle, and a log that broke its own rules, are caught.

import { beforeAll, describe, expect, it } from 'vitest';
import { equal, toBase64, utf8 } from '../../src/core/bytes.js';
import { hashLeaf } from '../../src/core/merkle.js';
import { formatCheckpoint, parseCheckpoint } from '../../src/core/checkpoint.js';
import { cosignerFromSeed } from '../../src/core/cosignature.js';
import { ed25519PublicKey, randomBytes } from '../../src/core/crypto.js';
import { keyIdOf } from '../../src/core/dsse.js';
import { decodeLeaf, producerPayload, type LeafRecord } from '../../src/core/entry.js';
import { ed25519Signer, generateSignerKey, parseNote, signNote } from '../../src/core/note.js';
import { parsePolicy, type Policy } from '../../src/core/policy.js';
import { formatTlogProof, parseTlogProof } from '../../src/core/tlog-proof.js';
import { useNodeCrypto } from '../../src/platform/node-crypto.js';
import { DirSource, exportBundle, exportTlogProofs, type ExportOptions } from '../../src/bundle/export.js';
import { buildManifest, decodeBundle, encodeBundle, type Bundle, type Selection } from '../../src/bundle/format.js';
import { verifyBundle, verifyTlogProofFile, type VerifyReport } from '../../src/bundle/verify.js';
import type { RegistrySnapshot } from '../../src/bundle/registry-cache.js';
import { TestProducer, evidence, trustScore } from '../helpers/producer.js';
import { checkpointOf, leavesOf, signed, TestLog } from './fixture.js';

useNodeCrypto();

const ORIGIN = 'ledger.test/bundle';
const log = new TestLog(ORIGIN);
const alice = new TestProducer();
const bob = new TestProducer();
const carol = new TestProducer();
let policy: Policy;
let records: LeafRecord[] = [];
let sizes: { s1: number; s2: number; s3: number };
let windowB: { from: number; to: number };

const keyid = (p: TestProducer) => keyIdOf(p.publicKey);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function inToto(name: string) {
  return { _type: 'https://in-toto.io/Statement/v1', subject: [{ name, digest: { sha256: 'ab'.repeat(32) } }], predicateType: 'https://slsa.dev/provenance/v1', predicate: {} };
}

beforeAll(async () => {
  log.register('alice', alice); // 0
  log.register('bob', bob, ['evidence']); // 1
  log.register('carol', carol, ['evidence']); // 2
  const subjects = ['spiffe://svc/a', 'spiffe://svc/b'];
  await log.submit([
    ...Array.from({ length: 150 }, () => alice.envelope('evidence', evidence())),
    ...Array.from({ length: 50 }, (_, i) => alice.envelope('trust-score', trustScore(subjects[i % 2]!, 0.5 + i / 200))),
  ]);
  const s1 = await log.flush(); // 203
  log.anchor(s1);
  await sleep(20);
  const from = Date.now();
  await log.submit([...Array.from({ length: 100 }, () => bob.envelope('evidence', evidence())), ...Array.from({ length: 10 }, () => carol.envelope('evidence', evidence()))]);
  log.revoke('carol', carol);
  const to = Date.now();
  windowB = { from, to };
  await sleep(20);
  const s2 = await log.flush(); // 314: inside the second level-0 tile
  await log.submit([
    ...Array.from({ length: 200 }, () => alice.envelope('evidence', evidence())),
    ...Array.from({ length: 20 }, (_, i) => alice.envelope('trust-score', trustScore(subjects[i % 2]!, 0.9))),
    alice.envelope('in-toto', inToto('pkg:npm/ledger@1.0.0')),
  ]);
  const s3 = await log.flush();
  log.anchor(s3);
  sizes = { s1, s2, s3 };
  log.close();
  policy = parsePolicy(log.policy(2));
  records = leavesOf(log.dir).map((l) => decodeLeaf(l));
}, 120_000);

async function exportOf(selection: Selection, extra: Omit<ExportOptions, 'selection'> = {}) {
  const src = new DirSource(log.dir);
  try {
    return await exportBundle(src, { selection, ...extra });
  } finally {
    src.close();
  }
}

const signerOf = (r: LeafRecord) => r.envelope.signatures[0]!.keyid;
const indicesWhere = (pred: (r: LeafRecord, i: number) => boolean) => records.flatMap((r, i) => (pred(r, i) ? [i] : []));

function expectValid(r: VerifyReport) {
  expect(r.failures).toEqual([]);
  expect(r.valid).toBe(true);
}

describe('export then verify, for each selection', () => {
  it('the log is as the fixture built it', () => {
    expect(sizes).toEqual({ s1: 203, s2: 314, s3: 535 });
    expect(records.filter((r) => r.kind === 'producer').length).toBe(4);
  });

  it('everything: every entry, no separate registry entries, every signer counted', async () => {
    const { bytes, bundle } = await exportOf({});
    expect(bundle.entries.map((e) => e.index)).toEqual(indicesWhere(() => true));
    expect(bundle.producers).toEqual([]);
    expect(bundle.anchors.map((a) => a.size)).toEqual([sizes.s3]);
    // Three level-0 tiles and the level-1 tile over them: shared by all 535 entries.
    expect(bundle.tiles.map((t) => `${t.level}/${t.index}/${t.data.length / 32}`)).toEqual(['0/0/256', '0/1/256', '0/2/23', '1/0/2']);
    const r = await verifyBundle(bytes, policy);
    expectValid(r);
    expect(r.checkpoint).toMatchObject({ size: sizes.s3, witnesses: ['w1', 'w2', 'w3'] });
    expect(r.entries).toBe(sizes.s3);
    expect(r.kinds).toEqual({ producer: 4, evidence: 460, 'trust-score': 70, 'in-toto': 1 });
    expect(r.producers.map((p) => [p.name, p.entries])).toEqual([
      ['alice', 421],
      ['bob', 100],
      ['carol', 10],
    ]);
    expect(r.firstIndex).toBe(0);
    expect(r.lastIndex).toBe(sizes.s3 - 1);
  });

  it('an index range, with the registrations of the keys that signed in it', async () => {
    const { bytes, bundle } = await exportOf({ from: 250, to: 320 });
    expect(bundle.entries.map((e) => e.index)).toEqual(indicesWhere((_, i) => i >= 250 && i <= 320));
    expect(bundle.producers.map((e) => e.index)).toEqual([0, 1, 2]); // the signers' registrations; carol's revocation (313) is selected
    expectValid(await verifyBundle(bytes, policy));
  });

  it('a time window (when the log accepted the entries)', async () => {
    const sel = { fromTime: windowB.from, toTime: windowB.to };
    const { bytes, bundle } = await exportOf(sel);
    const want = indicesWhere((r) => r.time >= windowB.from && r.time <= windowB.to);
    expect(want.length).toBe(111);
    expect(bundle.entries.map((e) => e.index)).toEqual(want);
    const r = await verifyBundle(bytes, policy);
    expectValid(r);
    expect(r.selection).toEqual(sel);
  });

  it('a producer, by name or keyid', async () => {
    for (const who of ['bob', keyid(bob)]) {
      const { bytes, bundle } = await exportOf({ producers: [who] });
      expect(bundle.entries.map((e) => e.index)).toEqual(indicesWhere((r) => r.kind !== 'producer' && signerOf(r) === keyid(bob)));
      expect(bundle.producers.map((e) => e.index)).toEqual([1]);
      const r = await verifyBundle(bytes, policy);
      expectValid(r);
      expect(r.producers).toEqual([{ name: 'bob', keyid: keyid(bob), entries: 100 }]);
      expect(r.producerEntries).toBe(1);
    }
  });

  it('a payload type', async () => {
    const { bytes, bundle } = await exportOf({ types: ['trust-score'] });
    expect(bundle.entries.map((e) => e.index)).toEqual(indicesWhere((r) => r.kind === 'trust-score'));
    expect(bundle.producers.map((e) => e.index)).toEqual([0]);
    const r = await verifyBundle(bytes, policy);
    expectValid(r);
    expect(r.kinds).toEqual({ 'trust-score': 70 });
  });

  it('a subject: a trust-score subject, an evidence artifact, an in-toto subject', async () => {
    const artifact = JSON.parse(new TextDecoder().decode(records[5]!.envelope.payload)).artifact as string;
    const { bytes, bundle } = await exportOf({ subjects: ['spiffe://svc/a', artifact, 'pkg:npm/ledger@1.0.0'] });
    const want = indicesWhere((r) => {
      const p = JSON.parse(new TextDecoder().decode(r.envelope.payload));
      return p.subject === 'spiffe://svc/a' || p.artifact === artifact || (r.kind === 'in-toto' && p.subject[0].name === 'pkg:npm/ledger@1.0.0');
    });
    expect(want.length).toBe(37);
    expect(bundle.entries.map((e) => e.index)).toEqual(want);
    expectValid(await verifyBundle(bytes, policy));
  });

  it('with an earlier checkpoint and the consistency proof to it', async () => {
    const { bytes, bundle } = await exportOf({ producers: ['bob'] }, { since: { size: sizes.s1 } });
    expect(bundle.earlier?.proof.length).toBeGreaterThan(0);
    expect(bundle.anchors.map((a) => a.size)).toEqual([sizes.s1, sizes.s3]);
    const r = await verifyBundle(bytes, policy);
    expectValid(r);
    expect(r.earlier).toMatchObject({ size: sizes.s1, consistent: true, witnesses: ['w1', 'w2', 'w3'] });
  });

  it('is deterministic: the same selection at the same checkpoint gives the same bytes', async () => {
    const a = await exportOf({ types: ['evidence'], to: 100 });
    const b = await exportOf({ types: ['evidence'], to: 100 });
    expect(equal(a.bytes, b.bytes)).toBe(true);
  });

  it('an empty selection is a valid, empty bundle', async () => {
    const { bytes, bundle } = await exportOf({ subjects: ['nothing'] });
    expect(bundle.entries).toEqual([]);
    const r = await verifyBundle(bytes, policy);
    expectValid(r);
    expect(r.entries).toBe(0);
  });
});

// ---------------------------------------------------------------------------

function indexOf(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * A copy of `bytes` with the byte at offset `at` of the first occurrence of
 * `needle` changed (after the field name `after`, when a hash could also stand in a tile).
 */
function tamper(bytes: Uint8Array, needle: Uint8Array, at: number, to?: number, after?: string): Uint8Array {
  const i = indexOf(bytes, needle, after === undefined ? 0 : indexOf(bytes, utf8(after)));
  expect(i).toBeGreaterThanOrEqual(0);
  const out = bytes.slice();
  out[i + at] = to ?? out[i + at]! ^ 0x01;
  return out;
}

/** Changes one base64 character of a text inside the file to another valid one. */
function tamperBase64(bytes: Uint8Array, text: string, at: number): Uint8Array {
  const c = text[at]!;
  return tamper(bytes, utf8(text), at, (c === 'A' ? 'B' : 'A').charCodeAt(0));
}

function reencode(bytes: Uint8Array, mutate: (b: Bundle) => void, keepManifest = true): Uint8Array {
  const b = decodeBundle(bytes);
  mutate(b);
  if (!keepManifest) b.manifest = buildManifest(b, b.manifest.selection, b.manifest.treeSize);
  return encodeBundle(b);
}

async function firstFailure(bytes: Uint8Array, p: Policy = policy, opts = {}) {
  const r = await verifyBundle(bytes, p, opts);
  expect(r.valid).toBe(false);
  expect(r.failures.map((f) => f.code)).not.toContain('unexpected-error');
  return r.failures[0]!;
}

describe('the registry found by a scan (a server has no index of it)', () => {
  // The data directory's source without its index of registry entries, as an HTTP
  // source is: the exporter must find the registrations and carol's revocation
  // (index 313) among the other entries before the range, which it skips undecoded.
  async function scanned(selection: Selection) {
    const dir = new DirSource(log.dir);
    const src = { ...dirMethods(dir), producerIndices: undefined };
    try {
      return await exportBundle(src, { selection });
    } finally {
      dir.close();
    }
  }
  const dirMethods = (d: DirSource) => ({
    latestCheckpoint: () => d.latestCheckpoint(),
    entries: (a: number, b: number, n: number) => d.entries(a, b),
    tile: (t: Parameters<DirSource['tile']>[0]) => d.tile(t),
    checkpointAt: (n: number) => d.checkpointAt(n),
    anchor: (n: number) => d.anchor(n),
    close: () => {},
  });

  // A source that serves another leaf (alice's entry 10) in place of entry `at`, or a tile with a byte flipped.
  async function tampered(selection: Selection, t: { at?: number; tile?: string }) {
    const dir = new DirSource(log.dir);
    const src = {
      ...dirMethods(dir),
      producerIndices: undefined,
      entries: async (a: number, b: number) => {
        const out = await dir.entries(a, b);
        if (t.at !== undefined && t.at >= a && t.at < b) out[t.at - a] = (await dir.entries(10, 11))[0]!;
        return out;
      },
      tile: async (id: Parameters<DirSource['tile']>[0]) => {
        const data = await dir.tile(id);
        if (`${id.level}/${id.index}` === t.tile) data[7] ^= 0x01;
        return data;
      },
    };
    try {
      return await exportBundle(src, { selection });
    } finally {
      dir.close();
    }
  }

  it('refuses a source that hides an entry a filter would select by serving another leaf', async () => {
    // Without the check, the bundle held 99 of bob's 100 entries and verified: a
    // filtered selection's completeness is not something a verifier can see.
    await expect(tampered({ producers: ['bob'] }, { at: 250 })).rejects.toMatchObject({
      code: 'source-inconsistent',
      message: "entry 250 read from the source is not the one the checkpoint's tree holds",
    });
  });

  it("refuses a source that hides carol's revocation before the range by serving another leaf", async () => {
    await expect(tampered({ from: 314 }, { at: 313 })).rejects.toMatchObject({
      code: 'source-inconsistent',
      message: "entry 313 read from the source is not the one the checkpoint's tree holds",
    });
  });

  it('refuses a scanned tile that does not bind to the signed root', async () => {
    await expect(tampered({ from: 314 }, { tile: '0/0' })).rejects.toMatchObject({
      code: 'source-inconsistent',
      message: expect.stringMatching(/^the source's tiles for entries 0\.\.\d+: tile-mismatch: /),
    });
  });

  describe('with a registry cache', () => {
    // A source as a server is, at the published checkpoint of size `at` (or the
    // latest), which records the indices of the leaves it serves.
    function counted(at?: number) {
      const dir = new DirSource(log.dir);
      const read: number[] = [];
      const src = {
        ...dirMethods(dir),
        producerIndices: undefined,
        latestCheckpoint: async () => (at === undefined ? dir.latestCheckpoint() : (await dir.checkpointAt(at))!),
        entries: async (a: number, b: number) => {
          for (let i = a; i < b; i++) read.push(i);
          return dir.entries(a, b);
        },
      };
      return { src, read, close: () => dir.close() };
    }
    async function run(selection: Selection, registry?: RegistrySnapshot, at?: number) {
      const c = counted(at);
      try {
        return { ...(await exportBundle(c.src, { selection, ...(registry ? { registry } : {}) })), read: c.read };
      } finally {
        c.close();
      }
    }

    it('reads the log from where the cache ended, and writes the bytes a full read writes', async () => {
      const first = await run({ from: 250 }, undefined, sizes.s2);
      expect(first.read[0]).toBe(0);
      const snap = first.registry!;
      expect([snap.origin, snap.size, snap.entries.map((e) => e.index)]).toEqual([ORIGIN, sizes.s2, [0, 1, 2, 313]]);
      expect(equal(snap.root, parseCheckpoint(parseNote(checkpointOf(log.dir, sizes.s2)).text).rootHash)).toBe(true);
      // The latest checkpoint extends the cached tree: only entries from s2 on are read.
      const next = await run({ from: sizes.s3 - 20 }, snap);
      expect(Math.min(...next.read)).toBe(sizes.s2);
      expect(Buffer.from(next.bytes).equals(Buffer.from((await exportOf({ from: sizes.s3 - 20 })).bytes))).toBe(true);
      expect(next.registry!.size).toBe(sizes.s3);
      expect(next.registry!.entries.map((e) => e.index)).toEqual([0, 1, 2, 313]);
      // A selection that starts below the cached size reads from its start, with the same bytes.
      const low = await run({ producers: ['carol'], from: 300 }, snap);
      expect(Math.min(...low.read)).toBe(300);
      expect(Buffer.from(low.bytes).equals(Buffer.from((await exportOf({ producers: ['carol'], from: 300 })).bytes))).toBe(true);
      expectValid(await verifyBundle(next.bytes, policy));
    });

    it('refuses a log whose checkpoint does not extend the cached tree (a fork), naming both sizes', async () => {
      const snap = (await run({ from: 250 }, undefined, sizes.s2)).registry!;
      const forked = { ...snap, root: snap.root.slice() };
      forked.root[0]! ^= 0x01;
      await expect(run({ from: 400 }, forked)).rejects.toMatchObject({
        code: 'source-inconsistent',
        message: expect.stringContaining(`the log's checkpoint (size ${sizes.s3}) does not extend the tree of size ${sizes.s2} the registry cache holds: `),
      });
      await expect(run({ from: 250 }, forked, sizes.s2)).rejects.toMatchObject({ code: 'source-inconsistent', message: expect.stringContaining('another root at the same size') });
      await expect(run({ from: 400 }, { ...snap, origin: 'other.example/log' })).rejects.toMatchObject({ code: 'bad-registry-cache' });
    });

    it('reads from 0 when the checkpoint is older than the cache, and gives no snapshot when the read stopped short', async () => {
      const snap = (await run({})).registry!;
      expect(snap.size).toBe(sizes.s3);
      const older = await run({ from: 250 }, snap, sizes.s2);
      expect(older.read[0]).toBe(0);
      expect((await run({ from: 10, to: 20 })).registry).toBeUndefined();
    });
  });

  it.each([{ from: 314 }, { from: 250, to: 320 }, { producer: ['carol'] }, {}])('gives the bytes the index gives: %j', async (selection) => {
    const a = await scanned(selection as Selection);
    const b = await exportOf(selection as Selection);
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true);
    expectValid(await verifyBundle(a.bytes, policy));
  });
});

describe('tampering with each part of a bundle', () => {
  let base: Uint8Array;
  let b: Bundle;
  beforeAll(async () => {
    // Bob's entries: entries, a registry entry, tiles, an earlier checkpoint, anchors.
    ({ bytes: base, bundle: b } = await exportOf({ producers: ['bob'] }, { since: { size: sizes.s1 } }));
  });

  const sigLine = (note: string, name: string) => note.split('\n').find((l) => l.startsWith(`— ${name} `))!.split(' ')[2]!;

  it('the base bundle verifies', async () => {
    expectValid(await verifyBundle(base, policy));
  });

  it('an entry: entry-not-included, at its index', async () => {
    const e = b.entries[7]!;
    expect(await firstFailure(tamper(base, e.leaf, e.leaf.length - 60))).toMatchObject({ code: 'entry-not-included', index: e.index });
  });

  it('a proof hash (a full tile, the right-edge tile): tile-mismatch', async () => {
    const full = b.tiles.find((t) => t.level === 0 && t.data.length === 256 * 32)!;
    const f1 = await firstFailure(tamper(base, full.data, 100));
    expect(f1.code).toBe('tile-mismatch');
    // The first carried entry whose proof runs through that tile (bob's registration, index 1, for tile 0/0).
    expect(f1.index).toBe([...b.producers, ...b.entries].map((e) => e.index).sort((x, y) => x - y).find((i) => Math.floor(i / 256) === full.index));
    const edge = b.tiles.find((t) => t.level === 0 && t.data.length < 256 * 32)!;
    expect((await firstFailure(tamper(base, edge.data, 5))).code).toBe('tile-mismatch');
    const upper = b.tiles.find((t) => t.level === 1)!;
    expect((await firstFailure(tamper(base, upper.data, 33))).code).toBe('tile-mismatch');
  });

  it('a tile cut short: wrong-tile-size; a tile left out: missing-tile', async () => {
    const short = reencode(base, (x) => (x.tiles[0]!.data = x.tiles[0]!.data.subarray(32)));
    expect((await firstFailure(short)).code).toBe('wrong-tile-size');
    const missing = reencode(base, (x) => x.tiles.splice(0, 1), false);
    expect((await firstFailure(missing)).code).toBe('missing-tile');
  });

  it('the consistency proof: consistency-proof-invalid', async () => {
    expect((await firstFailure(tamper(base, b.earlier!.proof[0]!, 3, undefined, 'earlier'))).code).toBe('consistency-proof-invalid');
  });

  it('a checkpoint line: the root (log-signature-invalid), the origin (origin-mismatch)', async () => {
    const root = b.checkpoint.split('\n')[2]!;
    expect((await firstFailure(tamperBase64(base, root, 10))).code).toBe('log-signature-invalid');
    const size = `\n${sizes.s3}\n`;
    expect((await firstFailure(tamper(base, utf8(size), 1, '4'.charCodeAt(0)))).code).toBe('log-signature-invalid');
    expect((await firstFailure(tamper(base, utf8(`${ORIGIN}\n${sizes.s3}`), 0, 'L'.charCodeAt(0)))).code).toBe('origin-mismatch');
  });

  it("the log's signature: log-signature-invalid", async () => {
    const f = await firstFailure(tamperBase64(base, sigLine(b.checkpoint, ORIGIN), 30));
    expect(f.code).toBe('log-signature-invalid');
    expect(f.message).toMatch(/checkpoint of size 535/);
  });

  it("a witness's cosignature: cosignature-invalid", async () => {
    const f = await firstFailure(tamperBase64(base, sigLine(b.checkpoint, 'w2'), 40));
    expect(f.code).toBe('cosignature-invalid');
    expect(f.message).toMatch(/w2/);
    // The earlier checkpoint's cosignatures are checked as well.
    expect((await firstFailure(tamperBase64(base, sigLine(b.earlier!.checkpoint, 'w1'), 40))).code).toBe('cosignature-invalid');
  });

  it('a producer registration: producer-entry-not-included, at its index', async () => {
    const p = b.producers[0]!;
    expect(await firstFailure(tamper(base, p.leaf, p.leaf.length - 30))).toMatchObject({ code: 'producer-entry-not-included', index: 1 });
  });

  it('the manifest: a digest, a count, the tree size, the selection', async () => {
    const f = await firstFailure(tamper(base, b.manifest.digests.entries, 0));
    expect(f.code).toBe('manifest-mismatch');
    expect(f.message).toMatch(/digests\.entries/);
    const counts = reencode(base, (x) => (x.manifest.counts.tiles += 1));
    expect((await firstFailure(counts)).message).toMatch(/counts\.tiles is \d+, the bundle holds/);
    expect((await firstFailure(reencode(base, (x) => (x.manifest.treeSize -= 1)))).code).toBe('manifest-mismatch');
    const sel = await firstFailure(reencode(base, (x) => (x.manifest.selection = { producers: ['alice'] })));
    expect(sel).toMatchObject({ code: 'selection-mismatch', index: b.entries[0]!.index });
  });

  it('an anchor receipt: anchor-receipt-invalid', async () => {
    const etag = (JSON.parse(b.anchors[0]!.receipt) as { etag: string }).etag;
    const f = await firstFailure(tamper(base, utf8(etag), 4, etag[4] === 'a' ? 0x62 : 0x61));
    expect(f.code).toBe('anchor-receipt-invalid');
    expect(f.message).toMatch(/MD5/);
  });

  it('the origin: unknown-origin', async () => {
    expect((await firstFailure(tamper(base, utf8(ORIGIN), 0, 'L'.charCodeAt(0)))).code).toBe('unknown-origin');
  });

  it('the file cut short: truncated-bundle; another format: unsupported-format', async () => {
    for (const n of [0, 1, 100, base.length >> 1, base.length - 1]) expect((await firstFailure(base.subarray(0, n))).code).toBe('truncated-bundle');
    expect((await firstFailure(tamper(base, utf8('ledger-bundle/v1'), 15, '2'.charCodeAt(0)))).code).toBe('unsupported-format');
  });

  it('entries out of order or carried twice: bad-entry-order', async () => {
    expect((await firstFailure(reencode(base, (x) => x.entries.reverse(), false))).code).toBe('bad-entry-order');
    expect((await firstFailure(reencode(base, (x) => x.producers.push({ ...x.entries[0]! }), false))).code).toBe('bad-entry-order');
  });

  it('a byte flipped anywhere (500 places across every field): invalid with a named reason, never a crash', async () => {
    const small = (await exportOf({ from: 3, to: 4 }, { since: { size: sizes.s2 } })).bytes;
    const seen = new Set<string>();
    const stride = Math.ceil(small.length / 500);
    for (let k = 0, at = 0; at < small.length; k++, at = k * stride + (k % stride)) {
      const bad = small.slice();
      bad[at] ^= 0x04;
      const r = await verifyBundle(bad, policy);
      if (r.valid || r.failures.some((f) => f.code === 'unexpected-error')) throw new Error(`flipping byte ${at} gave ${JSON.stringify(r.failures)}`);
      seen.add(r.failures[0]!.code);
    }
    expect(seen).toContain('tile-mismatch');
    expect(seen).toContain('malformed-bundle');
    expect(seen).toContain('manifest-mismatch');
  }, 60_000);
});

describe('what the auditor trusts', () => {
  let all: Uint8Array;
  beforeAll(async () => {
    all = (await exportOf({})).bytes;
  });

  it('a policy with another key for the origin: log-signature-invalid', async () => {
    const other = generateSignerKey(ORIGIN).vkey;
    const p = parsePolicy(log.policy(2).replace(log.vkey, other));
    expect((await firstFailure(all, p)).code).toBe('log-signature-invalid');
  });

  it('a witness quorum not met', async () => {
    const w4 = cosignerFromSeed('w4', randomBytes(32));
    const text = log.policy(2).replace('group all-witnesses 2 w1 w2 w3', `witness w4 ${w4.vkey}\ngroup all-witnesses all w1 w2 w3 w4`);
    const f = await firstFailure(all, parsePolicy(text));
    expect(f.code).toBe('quorum-not-met');
    expect(f.message).toMatch(/w1, w2, w3/);
    // Witnesses the policy names but with other keys: their lines are not theirs.
    const strangers = log.witnesses.reduce((t, w) => t.replace(w.vkey, cosignerFromSeed(w.name, randomBytes(32)).vkey), log.policy(1));
    expect((await firstFailure(all, parsePolicy(strangers))).code).toBe('quorum-not-met');
    // quorum none: the log's signature alone.
    expectValid(await verifyBundle(all, parsePolicy(`log ${log.vkey}\nquorum none\n`)));
  });

  it('a bundle from another origin: unknown-origin', async () => {
    const other = new TestLog('other.test/log');
    const p = new TestProducer();
    other.register('p', p);
    await other.submit([p.envelope('evidence', evidence())]);
    await other.flush();
    other.close();
    const src = new DirSource(other.dir);
    const { bytes } = await exportBundle(src, { selection: {} });
    src.close();
    const f = await firstFailure(bytes);
    expect(f.code).toBe('unknown-origin');
    expect(f.message).toMatch(/other\.test\/log/);
    expectValid(await verifyBundle(bytes, parsePolicy(other.policy(3))));
  });

  it('a trusted checkpoint: consistent (same size, earlier size, or proven from the tiles)', async () => {
    const at = (size: number) => checkpointOf(log.dir, size);
    for (const size of [sizes.s3, sizes.s1, sizes.s2]) {
      const r = await verifyBundle(all, policy, { trustedCheckpoint: at(size) });
      expectValid(r);
      expect(r.trustedCheckpoint).toMatchObject({ size, consistent: true });
    }
    const withEarlier = (await exportOf({ from: 3, to: 4 }, { since: { size: sizes.s1 } })).bytes;
    expectValid(await verifyBundle(withEarlier, policy, { trustedCheckpoint: at(sizes.s1) }));
  });

  it('a trusted checkpoint the bundle cannot reach: no-consistency-proof', async () => {
    const narrow = (await exportOf({ from: 3, to: 4 })).bytes;
    const f = await firstFailure(narrow, policy, { trustedCheckpoint: checkpointOf(log.dir, sizes.s2) });
    expect(f.code).toBe('no-consistency-proof');
    expect(f.message).toMatch(/--since 314/);
  });

  it('a trusted checkpoint of a fork, or not signed by the log: refused', async () => {
    const forked = signNote(formatCheckpoint({ origin: ORIGIN, size: sizes.s2, rootHash: randomBytes(32), extensions: [] }), [log.ledger.signer]);
    expect((await firstFailure(all, policy, { trustedCheckpoint: forked })).code).toBe('trusted-checkpoint-inconsistent');
    const sameSize = signNote(formatCheckpoint({ origin: ORIGIN, size: sizes.s3, rootHash: randomBytes(32), extensions: [] }), [log.ledger.signer]);
    expect((await firstFailure(all, policy, { trustedCheckpoint: sameSize })).message).toMatch(/forked/);
    const text = checkpointOf(log.dir, sizes.s2).split('\n\n')[0]! + '\n';
    const impostor = signNote(text, [ed25519Signer(ORIGIN, randomBytes(32))]);
    expect((await firstFailure(all, policy, { trustedCheckpoint: impostor })).code).toBe('trusted-checkpoint-invalid');
  });
});

describe('a log that broke its own rules', () => {
  const rogue = new TestLog('rogue.test/log');
  const a = new TestProducer();
  const b = new TestProducer();
  const c = new TestProducer();
  const mallory = new TestProducer();
  const dave = new TestProducer();
  let bytes: Uint8Array;
  let want: [number, string][];

  beforeAll(async () => {
    rogue.register('a', a); // 0
    rogue.register('b', b, ['evidence']); // 1
    rogue.register('c', c, ['evidence']); // 2
    await rogue.submit([a.envelope('evidence', evidence())]); // 3
    rogue.revoke('c', c); // 4
    const revoked = rogue.inject('evidence', signed(c.seed, 'evidence', evidence()));
    const wrongType = rogue.inject('trust-score', signed(b.seed, 'trust-score', trustScore('spiffe://x', 0.1)));
    const unknown = rogue.inject('evidence', signed(mallory.seed, 'evidence', evidence()));
    const forged = signed(a.seed, 'evidence', evidence());
    forged.signatures[0]!.sig[0]! ^= 1;
    const badSig = rogue.inject('evidence', forged);
    const { result: _omit, ...noResult } = evidence();
    const badSchema = rogue.inject('evidence', signed(a.seed, 'evidence', noResult));
    const early = rogue.inject('evidence', signed(dave.seed, 'evidence', evidence()));
    rogue.register('dave', dave);
    const pub = ed25519PublicKey(randomBytes(32));
    const fakeRegistration = producerPayload({ action: 'add', name: 'eve', keyid: keyIdOf(pub), publicKey: toBase64(pub), types: ['evidence'], ts: new Date().toISOString() });
    const notByLog = rogue.inject('producer', signed(a.seed, 'producer', fakeRegistration));
    await rogue.submit([a.envelope('evidence', evidence())]);
    await rogue.flush();
    rogue.close();
    want = [
      [revoked, 'producer-revoked'],
      [wrongType, 'type-not-allowed'],
      [unknown, 'unknown-producer-key'],
      [badSig, 'envelope-signature-invalid'],
      [badSchema, 'schema-invalid'],
      [early, 'producer-not-yet-registered'],
      [notByLog, 'producer-signature-invalid'],
    ];
    const src = new DirSource(rogue.dir);
    bytes = (await exportBundle(src, { selection: {} })).bytes;
    src.close();
  }, 60_000);

  it('each entry fails with its own reason at its own index, and nothing else fails', async () => {
    const r = await verifyBundle(bytes, parsePolicy(rogue.policy(2)));
    expect(r.valid).toBe(false);
    expect(r.failures.map((f) => [f.index, f.code])).toEqual(want);
    const revoked = r.failures.find((f) => f.code === 'producer-revoked')!;
    expect(revoked.message).toMatch(/revoked at index 4/);
    expect(r.failures.find((f) => f.code === 'producer-not-yet-registered')!.message).toMatch(/registered only at index/);
  });

  it('a producer revoked before an entry is caught from a bundle of that entry alone', async () => {
    const index = want[0]![0];
    const src = new DirSource(rogue.dir);
    const one = await exportBundle(src, { selection: { from: index, to: index } });
    src.close();
    // The exporter carries the registration and the revocation the entry depends on.
    expect(one.bundle.producers.map((e) => e.index)).toEqual([2, 4]);
    const r = await verifyBundle(one.bytes, parsePolicy(rogue.policy(2)));
    expect(r.failures.map((f) => [f.index, f.code])).toEqual([[index, 'producer-revoked']]);
  });
});

describe('tlog-proof files', () => {
  let files: { index: number; text: string }[] = [];
  beforeAll(async () => {
    const src = new DirSource(log.dir);
    await exportTlogProofs(src, { selection: { types: ['trust-score', 'producer'], to: 220 } }, (index, text) => {
      files.push({ index, text });
    });
    src.close();
  });

  it('one per entry, each verifying on its own, its entry in the extra line', async () => {
    expect(files.map((f) => f.index)).toEqual(indicesWhere((r, i) => i <= 220 && (r.kind === 'trust-score' || r.kind === 'producer')));
    for (const f of files) {
      const r = await verifyTlogProofFile(utf8(f.text), policy);
      expectValid(r);
      expect(r.firstIndex).toBe(f.index);
      expect(r.authorisation).toBe(records[f.index]!.kind === 'producer' ? 'checked' : 'not-checked');
    }
  });

  it('tampered: a proof hash, the index, the entry, the checkpoint', async () => {
    const f = files.find((x) => records[x.index]!.kind === 'trust-score')!;
    const p = parseTlogProof(f.text);
    const code = async (text: string, opts = {}) => (await verifyTlogProofFile(utf8(text), policy, opts)).failures[0]?.code;
    const hash = p.proof[2]!.slice();
    hash[0]! ^= 1;
    expect(await code(formatTlogProof({ ...p, proof: [...p.proof.slice(0, 2), hash, ...p.proof.slice(3)] }))).toBe('entry-not-included');
    expect(await code(formatTlogProof({ ...p, index: p.index + 1 }))).toBe('entry-not-included');
    const leaf = p.extra!.slice();
    leaf[leaf.length - 20]! ^= 1;
    expect(await code(formatTlogProof({ ...p, extra: leaf }))).toBe('entry-not-included');
    expect(await code(formatTlogProof({ ...p, index: sizes.s3 + 5 }))).toBe('index-out-of-range');
    const w1 = f.text.split('\n').find((l) => l.startsWith('— w1 '))!;
    const flipped = w1.slice(0, 40) + (w1[40] === 'A' ? 'B' : 'A') + w1.slice(41);
    expect(await code(f.text.replace(w1, flipped))).toBe('cosignature-invalid');
    expect(await code(f.text.replace('index ', 'index  '))).toBe('malformed-tlog-proof');
    const { extra: _x, ...bare } = p;
    expect(await code(formatTlogProof(bare))).toBe('missing-leaf');
    // Without the entry, the auditor's own leaf (or leaf hash) decides.
    expectValid(await verifyTlogProofFile(utf8(formatTlogProof(bare)), policy, { leaf: p.extra! }));
    const byHash = await verifyTlogProofFile(utf8(formatTlogProof(bare)), policy, { leafHash: hashLeaf(p.extra!) });
    expectValid(byHash);
    expect(byHash.kinds).toEqual({});
    expect(await code(formatTlogProof(bare), { leafHash: hashLeaf(leaf) })).toBe('entry-not-included');
  });

  it('a trusted checkpoint against a tlog-proof', async () => {
    const f = files[files.length - 1]!;
    const same = await verifyTlogProofFile(utf8(f.text), policy, { trustedCheckpoint: checkpointOf(log.dir, sizes.s3) });
    expectValid(same);
    const older = await verifyTlogProofFile(utf8(f.text), policy, { trustedCheckpoint: checkpointOf(log.dir, sizes.s1) });
    expect(older.failures.map((x) => x.code)).toEqual(['no-consistency-proof']);
  });
});
