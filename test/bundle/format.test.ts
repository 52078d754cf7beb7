// The bundle format: deterministic encoding, strict decoding, the one-pass
// canonical-form scan, and the spec's test vector (spec/bundle.md).

import { describe, expect, it } from 'vitest';
import { concat, fromHex, toHex, utf8 } from '../../src/core/bytes.js';
import { encodeCanonical } from '../../src/core/cbor.js';
import { sha256 } from '../../src/core/crypto.js';
import { parsePolicy } from '../../src/core/policy.js';
import { BundleFormatError, buildManifest, decodeBundle, encodeBundle, readBundle, scanBundle, selectionMismatch, subjectsOf, type Bundle } from '../../src/bundle/format.js';
import { verifyBundle } from '../../src/bundle/verify.js';
import { buildSynthetic } from './synthetic.js';

/** spec/bundle.md "Test vector": fixed seeds and times give these exact bytes. */
function specVector() {
  return buildSynthetic({
    origin: 'example.com/ledger',
    logSeed: new Uint8Array(32).fill(1),
    witnesses: [{ name: 'witness.example', seed: new Uint8Array(32).fill(3) }],
    cosignedAt: 1764000000,
    producers: [{ name: 'ci-gate', seed: new Uint8Array(32).fill(2), types: ['evidence'] }],
    registeredAt: 1764000000000,
    entries: [
      {
        producer: 0,
        kind: 'evidence',
        time: 1764000000123,
        payload: { ts: '2025-11-24T16:00:00Z', actor: 'ci', action: 'deploy', artifact: 'app@sha256:01', policy: 'gate', target: 'prod', mode: 'enforce', trace: 't-1', result: 'allow' },
      },
    ],
  });
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof BundleFormatError) return e.code;
    throw e;
  }
  return 'none';
}

describe('the spec test vector', () => {
  const v = specVector();

  it('encodes to the bytes spec/bundle.md lists, and verifies', async () => {
    expect(v.bytes.length).toBe(1744);
    expect(toHex(sha256(v.bytes))).toBe('5156b5a7c5cde43e67cef0e5c1f94c4e51c23930c5dd9aacc601b6e7f69afbd0');
    expect(v.policy).toBe(
      'log example.com/ledger+3481d542+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c\n' +
        'witness witness.example witness.example+ade2488a+BO1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR\n' +
        'group witnesses all witness.example\nquorum witnesses\n',
    );
    // The top-level keys in deterministic order: shorter first, then bytewise.
    expect(toHex(v.bytes.subarray(0, 7))).toBe('a86574696c6573'); // map(8), "tiles"
    const r = await verifyBundle(v.bytes, parsePolicy(v.policy));
    expect(r.failures).toEqual([]);
    expect(r.valid).toBe(true);
    expect(r.checkpoint?.rootHash).toBe('gQeFqKdubZSpV5WUlA09xn4YcCLjHIzBAhsBELE3F3c=');
    expect(r.producers).toEqual([{ name: 'ci-gate', keyid: '6a3803d5f059902a1c6dafbc9ba4729212f7caac08634cc3ae76b27529f03827', entries: 1 }]);
  });

  it('round-trips: decode then encode gives the same bytes, and digests hash the fields as they stand', () => {
    const { bundle, digests } = readBundle(v.bytes);
    expect(toHex(encodeBundle(bundle))).toBe(toHex(v.bytes));
    expect(toHex(digests.entries)).toBe(toHex(bundle.manifest.digests.entries));
    expect(toHex(digests.checkpoint)).toBe(toHex(sha256(encodeCanonical(bundle.checkpoint))));
    expect(digests.earlier).toBeUndefined();
  });
});

describe('scanBundle: one item of deterministic CBOR', () => {
  const v = specVector().bytes;

  it('names a file cut short at any point truncated-bundle', () => {
    for (let n = 0; n < v.length; n++) expect(code(() => decodeBundle(v.subarray(0, n)))).toBe('truncated-bundle');
  });

  it('refuses bytes after the bundle', () => {
    expect(code(() => decodeBundle(concat(v, Uint8Array.of(0))))).toBe('malformed-bundle');
  });

  it('refuses what the deterministic encoding rules out', () => {
    const cases: [string, Uint8Array][] = [
      ['non-shortest integer', fromHex('a161611801')],
      ['non-shortest length', fromHex('a178016100')],
      ['keys out of order', fromHex('a2617a00616100')],
      ['repeated key', fromHex('a2616100616100')],
      ['longer key first', fromHex('a262616100616200')],
      ['indefinite array', fromHex('a161619f00ff')],
      ['a tag', fromHex('a16161c100')],
      ['a float', fromHex('a16161fa3f800000')],
      ['undefined', fromHex('a16161f7')],
      ['integer key', fromHex('a10000')],
      ['invalid UTF-8', fromHex('a1616162c328')],
      ['__proto__ key', concat(fromHex('a169'), utf8('__proto__'), fromHex('00'))],
    ];
    for (const [what, bytes] of cases) expect([what, code(() => scanBundle(bytes))]).toEqual([what, 'malformed-bundle']);
    // And what it accepts: shortest heads, keys in order, null/true/false.
    expect([...scanBundle(fromHex('a3616100616218186163f6')).keys()]).toEqual(['a', 'b', 'c']);
  });

  it('gives each top-level field the byte range of its value', () => {
    const ranges = scanBundle(v);
    const [s, e] = ranges.get('origin')!;
    expect(v.subarray(s, e)).toEqual(encodeCanonical('example.com/ledger'));
  });
});

describe('decodeBundle: the fields, strictly', () => {
  const { bundle } = specVector();
  const reencode = (mutate: (m: Record<string, unknown>) => void) => {
    const top: Record<string, unknown> = {
      format: 'ledger-bundle/v1',
      origin: bundle.origin,
      checkpoint: bundle.checkpoint,
      tiles: bundle.tiles.map((t) => ({ ...t })),
      entries: bundle.entries.map((e) => ({ ...e })),
      producers: [],
      anchors: [],
      manifest: {
        treeSize: 2,
        proofs: 'tiles',
        selection: {},
        counts: { ...bundle.manifest.counts },
        digests: { ...bundle.manifest.digests },
      },
    };
    mutate(top);
    return encodeCanonical(top as never);
  };

  it('refuses another format, unknown and missing fields, wrong types', () => {
    expect(code(() => decodeBundle(reencode((t) => (t.format = 'ledger-bundle/v2'))))).toBe('unsupported-format');
    expect(code(() => decodeBundle(reencode((t) => (t.extra = 1))))).toBe('malformed-bundle');
    expect(code(() => decodeBundle(reencode((t) => delete t.anchors)))).toBe('malformed-bundle');
    expect(code(() => decodeBundle(reencode((t) => (t.origin = 7))))).toBe('malformed-bundle');
    expect(code(() => decodeBundle(reencode((t) => ((t.entries as { index: unknown }[])[0]!.index = 'one'))))).toBe('malformed-bundle');
    expect(code(() => decodeBundle(reencode((t) => ((t.manifest as { digests: { tiles: Uint8Array } }).digests.tiles = new Uint8Array(31)))))).toBe('malformed-bundle');
    expect(code(() => decodeBundle(encodeCanonical([1, 2])))).toBe('malformed-bundle');
    expect(code(() => decodeBundle(reencode(() => {})))).toBe('none');
  });

  it('carries large integers (times beyond 2^32) exactly', () => {
    const content = { ...bundle, manifest: undefined } as unknown as Omit<Bundle, 'manifest'>;
    const sel = { fromTime: 1764000000000, toTime: 1764000000999, producers: ['ci-gate'], types: ['evidence'], subjects: ['app@sha256:01'], from: 1, to: 1 };
    const b: Bundle = { ...content, manifest: buildManifest(content, sel, 2) };
    expect(decodeBundle(encodeBundle(b)).manifest.selection).toEqual(sel);
  });
});

describe('selection semantics', () => {
  const facts = { index: 5, time: 1000, kind: 'trust-score', payload: { subject: 'spiffe://a' }, signer: { name: 'alice', keyid: 'ab' } };
  it('matches every filter and says which one failed', () => {
    expect(selectionMismatch({}, facts)).toBeUndefined();
    expect(selectionMismatch({ from: 5, to: 5, fromTime: 1000, toTime: 1000, producers: ['ab'], types: ['trust-score'], subjects: ['spiffe://a'] }, facts)).toBeUndefined();
    expect(selectionMismatch({ from: 6 }, facts)).toMatch(/below/);
    expect(selectionMismatch({ to: 4 }, facts)).toMatch(/above/);
    expect(selectionMismatch({ toTime: 999 }, facts)).toMatch(/after/);
    expect(selectionMismatch({ producers: ['bob'] }, facts)).toMatch(/producer alice/);
    expect(selectionMismatch({ subjects: ['spiffe://b'] }, facts)).toMatch(/subject spiffe:\/\/a/);
  });
  it('reads subjects per kind', () => {
    expect(subjectsOf('evidence', { artifact: 'x' })).toEqual(['x']);
    expect(subjectsOf('in-toto', { subject: [{ name: 'a' }, { name: 'b' }, {}] })).toEqual(['a', 'b']);
    expect(subjectsOf('producer', { name: 'p' })).toEqual([]);
  });
});
