import { afterEach, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex } from '../../src/core/bytes.js';
import { nobleCrypto, setCryptoProvider, type CryptoProvider } from '../../src/core/crypto.js';
import {
  CheckpointError,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  type Checkpoint,
  type CheckpointErrorCode,
} from '../../src/core/checkpoint.js';
import { ed25519Signer, NoteError, parseNote, parseVerifierKey, signNote } from '../../src/core/note.js';
import { nodeCrypto } from '../../src/platform/node-crypto.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof NoteError) return e.code;
    throw e;
  }
  return 'no error';
}

// C2SP tlog-checkpoint, opening example (also in tlog-cosignature and tlog-witness).
const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SPEC_SIG_LINE =
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';
const SPEC_NOTE = SPEC_TEXT + '\n' + SPEC_SIG_LINE;
// C2SP tlog-witness, add-checkpoint example request: the same checkpoint with a second log signature.
const WITNESS_SECOND_SIG_LINE =
  '— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n';

// The spec's example signature carries key ID 033de0ae, the go.sum database's:
// the example is a sum.golang.org checkpoint with its origin line renamed. With
// the original origin restored it verifies under Go's published sumdb key.
const SUMDB_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';
const SUMDB_ORIGIN = 'go.sum database tree';
const SUMDB_NOTE = SPEC_NOTE.replace('example.com/behind-the-sofa\n', `${SUMDB_ORIGIN}\n`).replace(
  '— example.com/behind-the-sofa',
  '— sum.golang.org',
);

describe('spec vectors', () => {
  it('parses the tlog-checkpoint example and formats it back byte for byte', () => {
    const n = parseNote(SPEC_NOTE);
    expect(n.text).toBe(SPEC_TEXT);
    expect(toHex(n.signatures[0]!.keyId)).toBe('033de0ae');
    const c = parseCheckpoint(n.text);
    expect(c.origin).toBe('example.com/behind-the-sofa');
    expect(c.size).toBe(20852163);
    expect(toHex(c.rootHash)).toBe('0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62');
    expect(c.extensions).toEqual([]);
    expect(formatCheckpoint(c)).toBe(SPEC_TEXT);
  });

  it('verifies the example signature over the original sum.golang.org checkpoint', () => {
    const r = openCheckpoint(SUMDB_NOTE, SUMDB_ORIGIN, [parseVerifierKey(SUMDB_VKEY)]);
    expect(r.checkpoint.size).toBe(20852163);
    expect(r.text).toBe(`${SUMDB_ORIGIN}\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n`);
    expect(r.verified).toHaveLength(1);
    // Under the renamed origin, as printed in the spec, no known key signed it.
    expect(code(() => openCheckpoint(SPEC_NOTE, 'example.com/behind-the-sofa', [parseVerifierKey(SUMDB_VKEY)]))).toBe('unverified');
  });

  it('parses the tlog-witness example checkpoint with two log signatures', () => {
    const n = parseNote(SPEC_NOTE + WITNESS_SECOND_SIG_LINE);
    expect(n.signatures.map((s) => toHex(s.keyId))).toEqual(['033de0ae', 'a292ea05']);
    expect(n.signatures.every((s) => s.signature.length === 64)).toBe(true);
    // The second line is from an unknown key: ignored, the known one decides.
    const withSecond = SUMDB_NOTE + WITNESS_SECOND_SIG_LINE.replace('— example.com/behind-the-sofa', '— sum.golang.org');
    expect(openCheckpoint(withSecond, SUMDB_ORIGIN, [parseVerifierKey(SUMDB_VKEY)]).verified).toHaveLength(1);
  });
});

describe.each<[string, CryptoProvider]>([
  ['noble', nobleCrypto],
  ['node:crypto', nodeCrypto],
])('with crypto provider %s', (_name, provider) => {
  afterEach(() => setCryptoProvider(nobleCrypto));
  it('verifies the sum.golang.org checkpoint and refuses a flipped root bit', () => {
    setCryptoProvider(provider);
    expect(openCheckpoint(SUMDB_NOTE, SUMDB_ORIGIN, [parseVerifierKey(SUMDB_VKEY)]).checkpoint.size).toBe(20852163);
    const root = fromBase64('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    root[31]! ^= 1;
    const tampered = SUMDB_NOTE.replace('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', toBase64(root));
    expect(code(() => openCheckpoint(tampered, SUMDB_ORIGIN, [parseVerifierKey(SUMDB_VKEY)]))).toBe('invalid-signature');
  });
});

describe('openCheckpoint', () => {
  const log = ed25519Signer('example.com/ledger-test', new Uint8Array(32).fill(1));
  const verifier = parseVerifierKey(log.vkey);
  const c: Checkpoint = { origin: 'example.com/ledger-test', size: 5, rootHash: new Uint8Array(32).fill(0xab), extensions: [] };

  it('round-trips a signed checkpoint', () => {
    const note = signNote(formatCheckpoint(c), [log]);
    const r = openCheckpoint(note, c.origin, [verifier]);
    expect(r.checkpoint).toEqual(c);
    expect(r.note.signatures).toHaveLength(1);
  });

  it('refuses a verified checkpoint of another origin', () => {
    const note = signNote(formatCheckpoint({ ...c, origin: 'example.com/other' }), [log]);
    expect(code(() => openCheckpoint(note, c.origin, [verifier]))).toBe('origin-mismatch');
  });

  it('checks the signature before the text', () => {
    const note = signNote('not a checkpoint\n', [log]);
    expect(code(() => openCheckpoint(note, c.origin, [verifier]))).toBe('too-few-lines');
    const other = ed25519Signer('example.com/ledger-test', new Uint8Array(32).fill(2));
    expect(code(() => openCheckpoint(signNote('not a checkpoint\n', [other]), c.origin, [verifier]))).toBe('unverified');
  });

  it('refuses a flipped bit in the size line', () => {
    const note = signNote(formatCheckpoint(c), [log]).replace('\n5\n', '\n4\n');
    expect(code(() => openCheckpoint(note, c.origin, [verifier]))).toBe('invalid-signature');
  });

  it('covers extension lines with the signature', () => {
    const withExt = { ...c, extensions: ['ext one', 'ext two'] };
    const note = signNote(formatCheckpoint(withExt), [log]);
    expect(openCheckpoint(note, c.origin, [verifier]).checkpoint.extensions).toEqual(['ext one', 'ext two']);
    expect(code(() => openCheckpoint(note.replace('ext two', 'ext twO'), c.origin, [verifier]))).toBe('invalid-signature');
  });
});

describe('parseCheckpoint', () => {
  const ROOT = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';

  it('accepts size 0, extensions, and any non-empty origin', () => {
    expect(parseCheckpoint(`o\n0\n${ROOT}\n`).size).toBe(0);
    expect(parseCheckpoint(`o\n${Number.MAX_SAFE_INTEGER}\n${ROOT}\n`).size).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseCheckpoint(`o\n1\n${ROOT}\na\nb c\n`).extensions).toEqual(['a', 'b c']);
    // tlog-checkpoint: clients MUST NOT assume the origin is a URL without spaces or '+'.
    expect(parseCheckpoint(`log one+two\n1\n${ROOT}\n`).origin).toBe('log one+two');
  });

  const cases: [string, string, CheckpointErrorCode][] = [
    ['no final newline', `o\n1\n${ROOT}`, 'missing-final-newline'],
    ['two lines', `o\n1\n`, 'too-few-lines'],
    ['empty text', '', 'missing-final-newline'],
    ['an empty origin', `\n1\n${ROOT}\n`, 'invalid-origin'],
    ['a leading zero', `o\n020852163\n${ROOT}\n`, 'invalid-size'],
    ['"00"', `o\n00\n${ROOT}\n`, 'invalid-size'],
    ['a sign', `o\n+1\n${ROOT}\n`, 'invalid-size'],
    ['a negative size', `o\n-1\n${ROOT}\n`, 'invalid-size'],
    ['a decimal point', `o\n1.0\n${ROOT}\n`, 'invalid-size'],
    ['an exponent', `o\n1e3\n${ROOT}\n`, 'invalid-size'],
    ['a space', `o\n 1\n${ROOT}\n`, 'invalid-size'],
    ['hex digits', `o\n0x10\n${ROOT}\n`, 'invalid-size'],
    ['non-ASCII digits', `o\n١\n${ROOT}\n`, 'invalid-size'],
    ['an empty size', `o\n\n${ROOT}\n`, 'invalid-size'],
    ['a size above 2^53-1', `o\n9007199254740992\n${ROOT}\n`, 'size-out-of-range'],
    ['a 31-byte root', `o\n1\n${toBase64(new Uint8Array(31))}\n`, 'invalid-root-hash'],
    ['a 33-byte root', `o\n1\n${toBase64(new Uint8Array(33))}\n`, 'invalid-root-hash'],
    ['an unpadded root', `o\n1\n${ROOT.slice(0, -1)}\n`, 'invalid-root-hash'],
    ['a URL-safe root', `o\n1\n${toBase64(new Uint8Array(32).fill(0xff)).replace(/\//g, '_')}\n`, 'invalid-root-hash'],
    ['non-zero trailing bits in the root', `o\n1\n${ROOT.replace('2I=', '2J=')}\n`, 'invalid-root-hash'],
    ['a hex root', `o\n1\n${'00'.repeat(32)}\n`, 'invalid-root-hash'],
    ['an empty root line', `o\n1\n\n`, 'invalid-root-hash'],
    ['an empty extension line', `o\n1\n${ROOT}\n\next\n`, 'invalid-extension'],
    ['a trailing empty extension line', `o\n1\n${ROOT}\n\n`, 'invalid-extension'],
    ['a carriage return', `o\r\n1\n${ROOT}\n`, 'control-character'],
    ['a lone surrogate', `\uD800\n1\n${ROOT}\n`, 'not-utf8'],
  ];
  it.each(cases)('refuses %s', (_what, text, want) => {
    expect(code(() => parseCheckpoint(text))).toBe(want);
  });
});

describe('formatCheckpoint', () => {
  const c: Checkpoint = { origin: 'o', size: 1, rootHash: new Uint8Array(32), extensions: [] };
  it('refuses what parseCheckpoint would refuse', () => {
    expect(code(() => formatCheckpoint({ ...c, origin: '' }))).toBe('invalid-origin');
    expect(code(() => formatCheckpoint({ ...c, origin: 'a\nb' }))).toBe('invalid-origin');
    expect(code(() => formatCheckpoint({ ...c, origin: 'a\tb' }))).toBe('control-character');
    expect(code(() => formatCheckpoint({ ...c, size: -1 }))).toBe('invalid-size');
    expect(code(() => formatCheckpoint({ ...c, size: 1.5 }))).toBe('invalid-size');
    expect(code(() => formatCheckpoint({ ...c, size: 2 ** 53 }))).toBe('invalid-size');
    expect(code(() => formatCheckpoint({ ...c, rootHash: new Uint8Array(31) }))).toBe('invalid-root-hash');
    expect(code(() => formatCheckpoint({ ...c, extensions: [''] }))).toBe('invalid-extension');
    expect(code(() => formatCheckpoint({ ...c, extensions: ['a\nb'] }))).toBe('invalid-extension');
  });
  it('writes the exact text', () => {
    expect(formatCheckpoint({ ...c, extensions: ['x'] })).toBe('o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nx\n');
  });
});
