import { afterEach, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex, utf8 } from '../../src/core/bytes.js';
import { nobleCrypto, setCryptoProvider, type CryptoProvider } from '../../src/core/crypto.js';
import {
  addSignatures,
  decodeVerifierKey,
  ed25519Signer,
  formatNote,
  formatSignatureLine,
  formatSignerKey,
  formatVerifierKey,
  generateSignerKey,
  isValidKeyName,
  keyId,
  MAX_SIGNATURES,
  NoteError,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type NoteErrorCode,
  type NoteVerifier,
} from '../../src/core/note.js';
import { nodeCrypto } from '../../src/platform/node-crypto.js';

function code(f: () => unknown): NoteErrorCode | string {
  try {
    f();
  } catch (e) {
    if (e instanceof NoteError) return e.code;
    throw e;
  }
  return 'no error';
}

// C2SP signed-note, opening example (the revision stored for this project):
// no public key is given, so it is checked for structure only.
const QUASIMODO_NOTE =
  'Ognuno sta solo sul cuor della terra\n' +
  'trafitto da un raggio di sole:\n' +
  '\n' +
  'ed è subito sera.\n' +
  '\n' +
  '— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n';

// C2SP signed-note, section "Example" (revision d4c16da5, the one that adds
// verifier keys; quoted identically by several implementations): vkey and note.
const SPEC_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const SPEC_NOTE =
  'This is an example message.\n' +
  '\n' +
  '— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

// golang.org/x/mod/sumdb/note, package doc and note_test.go (TestSign, TestOpen).
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

// The go.sum database key built into cmd/go: its base64 holds '+' characters.
const SUMDB_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';

describe('spec vectors', () => {
  it('parses the signed-note opening example, a text with an inner blank line', () => {
    const n = parseNote(QUASIMODO_NOTE);
    expect(n.text).toBe('Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n');
    expect(n.signatures).toHaveLength(1);
    expect(n.signatures[0]!.name).toBe('quasimodo.example/salvatore');
    expect(toHex(n.signatures[0]!.keyId)).toBe('367ba04b');
    expect(n.signatures[0]!.signature).toHaveLength(64);
    expect(formatNote(n)).toBe(QUASIMODO_NOTE);
    // No key of that name is known: the note is refused as unverified.
    expect(code(() => openNote(QUASIMODO_NOTE, [parseVerifierKey(SPEC_VKEY)]))).toBe('unverified');
  });

  it('parses the signed-note example vkey and computes its key ID', () => {
    const v = parseVerifierKey(SPEC_VKEY);
    expect(v.name).toBe('example.com/foo');
    expect(toHex(v.keyId)).toBe('530d903a');
    expect(v.keyType).toBe(0x01);
    expect(toHex(keyId('example.com/foo', 0x01, v.publicKey))).toBe('530d903a');
    expect(formatVerifierKey('example.com/foo', 0x01, v.publicKey)).toBe(SPEC_VKEY);
    expect(v.vkey).toBe(SPEC_VKEY);
  });

  it('verifies the signed-note example note', () => {
    const { note, verified } = openNote(SPEC_NOTE, [parseVerifierKey(SPEC_VKEY)]);
    expect(note.text).toBe('This is an example message.\n');
    expect(verified).toHaveLength(1);
    expect(verified[0]!.verifier.name).toBe('example.com/foo');
    expect(formatNote(note)).toBe(SPEC_NOTE);
    expect(openNote(utf8(SPEC_NOTE), [parseVerifierKey(SPEC_VKEY)]).note.text).toBe('This is an example message.\n');
  });

  it("reproduces Go's PeterNeumann note byte for byte from its signer key", () => {
    const s = parseSignerKey(PETER_SKEY);
    expect(s.name).toBe('PeterNeumann');
    expect(toHex(s.keyId)).toBe('c74f20a3');
    expect(s.vkey).toBe(PETER_VKEY);
    expect(formatSignerKey('PeterNeumann', s.seed)).toBe(PETER_SKEY);
    expect(signNote(GO_TEXT, [s])).toBe(GO_TEXT + '\n' + PETER_SIG);
  });

  it("opens Go's two-signature note: one or both keys known", () => {
    const note = GO_TEXT + '\n' + PETER_SIG + ENOCH_SIG;
    const peter = parseVerifierKey(PETER_VKEY);
    const enoch = parseVerifierKey(ENOCH_VKEY);
    const one = openNote(note, [peter]);
    expect(one.verified.map((v) => v.verifier)).toEqual([peter]);
    expect(one.note.signatures.map((s) => s.name)).toEqual(['PeterNeumann', 'EnochRoot']);
    const both = openNote(note, [peter, enoch]);
    expect(both.verified.map((v) => v.verifier)).toEqual([peter, enoch]);
    expect(toHex(both.verified[1]!.signature.keyId)).toBe('af0cfe78');
    expect(code(() => openNote(note, []))).toBe('unverified');
  });

  it('parses a vkey whose base64 holds "+"', () => {
    const v = parseVerifierKey(SUMDB_VKEY);
    expect(v.name).toBe('sum.golang.org');
    expect(toHex(v.keyId)).toBe('033de0ae');
    expect(v.vkey).toBe(SUMDB_VKEY);
  });
});

describe.each<[string, CryptoProvider]>([
  ['noble', nobleCrypto],
  ['node:crypto', nodeCrypto],
])('with crypto provider %s', (_name, provider) => {
  afterEach(() => setCryptoProvider(nobleCrypto));
  it('verifies the spec example and signs the Go example identically', () => {
    setCryptoProvider(provider);
    expect(openNote(SPEC_NOTE, [parseVerifierKey(SPEC_VKEY)]).verified).toHaveLength(1);
    expect(signNote(GO_TEXT, [parseSignerKey(PETER_SKEY)])).toBe(GO_TEXT + '\n' + PETER_SIG);
    const tampered = SPEC_NOTE.replace('example message', 'example massage');
    expect(code(() => openNote(tampered, [parseVerifierKey(SPEC_VKEY)]))).toBe('invalid-signature');
  });
});

describe('tampering', () => {
  const peter = parseVerifierKey(PETER_VKEY);
  const enoch = parseVerifierKey(ENOCH_VKEY);
  const note = GO_TEXT + '\n' + PETER_SIG + ENOCH_SIG;

  function flipBit(s: string, at: number, bit = 1): string {
    const b = utf8(s);
    b[at]! ^= bit;
    return new TextDecoder().decode(b);
  }

  it('refuses a flipped bit in the text', () => {
    expect(code(() => openNote(flipBit(note, 3), [peter]))).toBe('invalid-signature');
  });

  it('refuses a flipped bit in each signature', () => {
    const n = parseNote(note);
    for (let i = 0; i < n.signatures.length; i++) {
      const sigs = n.signatures.map((s) => ({ ...s, signature: s.signature.slice() }));
      sigs[i]!.signature[10]! ^= 0x01;
      const bad = formatNote({ text: n.text, signatures: sigs });
      expect(code(() => openNote(bad, [peter, enoch]))).toBe('invalid-signature');
    }
  });

  it('treats a flipped key-ID bit as an unknown key', () => {
    const n = parseNote(GO_TEXT + '\n' + PETER_SIG);
    n.signatures[0]!.keyId[3]! ^= 0x01;
    const bad = formatNote(n);
    expect(code(() => openNote(bad, [peter]))).toBe('unverified');
    // ... so a valid known signature beside it still opens the note.
    expect(openNote(bad.slice(0, -1) + '\n' + ENOCH_SIG, [peter, enoch]).verified.map((v) => v.verifier)).toEqual([enoch]);
  });

  it('refuses a note whose known key signed badly even when another known key verifies', () => {
    const n = parseNote(note);
    n.signatures[1]!.signature[0]! ^= 0x80;
    expect(code(() => openNote(formatNote(n), [peter, enoch]))).toBe('invalid-signature');
    // With the bad key unknown, the line is ignored.
    expect(openNote(formatNote(n), [peter]).verified).toHaveLength(1);
  });

  it('ignores lines that share only the name or only the key ID of a known key', () => {
    const other = ed25519Signer('PeterNeumann', new Uint8Array(32).fill(7));
    const sameName = signNote(GO_TEXT, [other]);
    expect(code(() => openNote(sameName, [peter]))).toBe('unverified');
    const sameId = GO_TEXT + '\n' + PETER_SIG.replace('PeterNeumann', 'PeterNeumann2');
    expect(code(() => openNote(sameId, [peter]))).toBe('unverified');
  });

  it('refuses two different verifiers for one (name, key ID), unless no line needs them', () => {
    const twin: NoteVerifier = { name: peter.name, keyId: peter.keyId, verify: () => true };
    expect(code(() => openNote(GO_TEXT + '\n' + PETER_SIG, [peter, twin]))).toBe('ambiguous-verifier');
    expect(openNote(GO_TEXT + '\n' + PETER_SIG, [peter, peter]).verified).toHaveLength(1);
    expect(openNote(GO_TEXT + '\n' + ENOCH_SIG, [enoch, peter, twin]).verified).toHaveLength(1);
  });

  it('keeps a leading byte-order mark as part of the text', () => {
    const bytes = utf8('\uFEFF' + SPEC_NOTE);
    expect(parseNote(bytes).text.startsWith('\uFEFF')).toBe(true);
    expect(code(() => openNote(bytes, [parseVerifierKey(SPEC_VKEY)]))).toBe('invalid-signature');
  });

  it('lists a verifier once when its line repeats', () => {
    const r = openNote(GO_TEXT + '\n' + PETER_SIG + PETER_SIG, [peter]);
    expect(r.verified).toHaveLength(1);
    expect(r.note.signatures).toHaveLength(2);
  });
});

describe('malformed notes', () => {
  const cases: [string, string | Uint8Array, NoteErrorCode][] = [
    ['text only, no signatures', GO_TEXT, 'missing-blank-line'],
    ['blank line but no signatures', GO_TEXT + '\n', 'no-signatures'],
    ['no final newline', GO_TEXT + '\n' + PETER_SIG.slice(0, -1), 'missing-final-newline'],
    ['empty note', '', 'missing-final-newline'],
    ['signature right after the text', GO_TEXT + PETER_SIG, 'missing-blank-line'],
    ['a control character', '\u0001' + GO_TEXT + '\n' + PETER_SIG, 'control-character'],
    ['a carriage return', GO_TEXT + '\n' + PETER_SIG.slice(0, -1) + '\r\n', 'control-character'],
    ['a tab in the text', 'a\tb\n\n' + PETER_SIG, 'control-character'],
    ['invalid UTF-8 bytes', new Uint8Array([0xff, ...utf8(GO_TEXT + '\n' + PETER_SIG)]), 'not-utf8'],
    ['a lone surrogate', '\uD800' + GO_TEXT + '\n' + PETER_SIG, 'not-utf8'],
    ['a line after the signatures', GO_TEXT + '\n' + PETER_SIG + 'Unexpected line.\n', 'malformed-signature-line'],
    ['a hyphen instead of the em dash', GO_TEXT + '\n' + PETER_SIG.replace('—', '-'), 'malformed-signature-line'],
    ['an en dash instead of the em dash', GO_TEXT + '\n' + PETER_SIG.replace('—', '–'), 'malformed-signature-line'],
    ['no space after the dash', GO_TEXT + '\n' + PETER_SIG.replace('— ', '—'), 'malformed-signature-line'],
    ['no signature after the name', GO_TEXT + '\n— PeterNeumann\n', 'malformed-signature-line'],
    ['an empty name', GO_TEXT + '\n—  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n', 'invalid-key-name'],
    ['a name with "+"', GO_TEXT + '\n' + PETER_SIG.replace('PeterNeumann', 'Peter+Neumann'), 'invalid-key-name'],
    ['a name with a no-break space', GO_TEXT + '\n' + PETER_SIG.replace('PeterNeumann', 'Peter\u00a0Neumann'), 'invalid-key-name'],
    ['a name with an ideographic space', GO_TEXT + '\n' + PETER_SIG.replace('PeterNeumann', 'Peter\u3000Neumann'), 'invalid-key-name'],
    ['two spaces before the signature', GO_TEXT + '\n' + PETER_SIG.replace('PeterNeumann ', 'PeterNeumann  '), 'invalid-base64'],
    ['a trailing space', GO_TEXT + '\n' + PETER_SIG.replace('=\n', '= \n'), 'invalid-base64'],
    ['base64 without padding', GO_TEXT + '\n' + PETER_SIG.replace('=\n', '\n'), 'invalid-base64'],
    ['URL-safe base64', GO_TEXT + '\n' + PETER_SIG.replace('x08go/', 'x08go_'), 'invalid-base64'],
    ['non-zero trailing bits', GO_TEXT + '\n' + PETER_SIG.replace('AM=\n', 'AN=\n'), 'invalid-base64'],
    ['an empty signature', GO_TEXT + '\n— PeterNeumann \n', 'signature-too-short'],
    ['a 3-byte key ID', GO_TEXT + '\n— PeterNeumann x08g\n', 'signature-too-short'],
    ['a key ID without a signature', GO_TEXT + '\n— PeterNeumann x08gow==\n', 'signature-too-short'],
  ];
  it.each(cases)('refuses %s', (_what, input, want) => {
    expect(code(() => parseNote(input))).toBe(want);
    expect(code(() => openNote(input, [parseVerifierKey(PETER_VKEY)]))).toBe(want);
  });

  it('accepts a one-byte signature and an empty-line-only text', () => {
    const n = parseNote('\n\n— a AAAAAAE=\n');
    expect(n.text).toBe('\n');
    expect(n.signatures[0]!.signature).toEqual(new Uint8Array([1]));
  });
});

describe('signature count', () => {
  const signers = Array.from({ length: MAX_SIGNATURES + 1 }, (_, i) => ed25519Signer(`signer.example/${i}`, new Uint8Array(32).fill(i)));
  const verifiers = signers.map((s) => parseVerifierKey(s.vkey));

  it('accepts and verifies 16 signatures', () => {
    const note = signNote(GO_TEXT, signers.slice(0, 16));
    expect(openNote(note, verifiers).verified).toHaveLength(16);
  });

  it(`accepts ${MAX_SIGNATURES} signatures and refuses ${MAX_SIGNATURES + 1}`, () => {
    const full = signNote(GO_TEXT, signers.slice(0, MAX_SIGNATURES));
    expect(parseNote(full).signatures).toHaveLength(MAX_SIGNATURES);
    const over = full + formatSignatureLine(parseNote(signNote(GO_TEXT, [signers[MAX_SIGNATURES]!])).signatures[0]!);
    expect(code(() => parseNote(over))).toBe('too-many-signatures');
    expect(code(() => signNote(GO_TEXT, signers))).toBe('too-many-signatures');
    expect(code(() => addSignatures(full, parseNote(signNote(GO_TEXT, [signers[MAX_SIGNATURES]!])).signatures))).toBe('too-many-signatures');
    expect(MAX_SIGNATURES).toBe(100);
  });
});

describe('signing and formatting', () => {
  it('refuses texts that cannot be a note text', () => {
    const s = parseSignerKey(PETER_SKEY);
    expect(code(() => signNote('abc', [s]))).toBe('missing-final-newline');
    expect(code(() => signNote('', [s]))).toBe('missing-final-newline');
    expect(code(() => signNote('a\rb\n', [s]))).toBe('control-character');
    expect(code(() => signNote('\uDC00\n', [s]))).toBe('not-utf8');
    expect(code(() => signNote(GO_TEXT, []))).toBe('no-signatures');
  });

  it('round-trips texts with inner blank lines and Unicode', () => {
    const s = ed25519Signer('example.com/ü', new Uint8Array(32).fill(3));
    for (const text of ['\n', 'a\n\n', '\n\nb\n', 'ed è subito sera.\n\n\n', '\uFEFFx\n', 'emoji 🙂\n']) {
      const note = signNote(text, [s]);
      const opened = openNote(note, [parseVerifierKey(s.vkey)]);
      expect(opened.note.text).toBe(text);
      expect(formatNote(opened.note)).toBe(note);
    }
  });

  it('formats signature lines exactly and refuses bad ones', () => {
    const sig = { name: 'a.example/b', keyId: new Uint8Array([1, 2, 3, 4]), signature: new Uint8Array([5]) };
    expect(formatSignatureLine(sig)).toBe('\u2014 a.example/b AQIDBAU=\n');
    expect(code(() => formatSignatureLine({ ...sig, keyId: new Uint8Array(3) }))).toBe('bad-key-id');
    expect(code(() => formatSignatureLine({ ...sig, signature: new Uint8Array(0) }))).toBe('signature-too-short');
    expect(code(() => formatSignatureLine({ ...sig, name: 'a b' }))).toBe('invalid-key-name');
    expect(code(() => formatNote({ text: 'x\n', signatures: [] }))).toBe('no-signatures');
    expect(code(() => formatNote({ text: 'x', signatures: [sig] }))).toBe('missing-final-newline');
  });

  it('adds signatures after the existing ones, once each', () => {
    const peter = parseSignerKey(PETER_SKEY);
    const other = ed25519Signer('other.example', new Uint8Array(32).fill(9));
    const note = signNote(GO_TEXT, [peter]);
    const otherSig = parseNote(signNote(GO_TEXT, [other])).signatures[0]!;
    const added = addSignatures(note, [otherSig, otherSig]);
    expect(added).toBe(note + formatSignatureLine(otherSig));
    expect(addSignatures(added, [otherSig])).toBe(added);
    const opened = openNote(added, [parseVerifierKey(PETER_VKEY), parseVerifierKey(other.vkey)]);
    expect(opened.verified.map((v) => v.verifier.name)).toEqual(['PeterNeumann', 'other.example']);
    expect(code(() => addSignatures(GO_TEXT, [otherSig]))).toBe('missing-blank-line');
  });

  it('generates key pairs that sign and verify', () => {
    const { skey, vkey } = generateSignerKey('gen.example/log');
    const s = parseSignerKey(skey);
    expect(s.vkey).toBe(vkey);
    expect(skey).toMatch(/^PRIVATE\+KEY\+gen\.example\/log\+[0-9a-f]{8}\+A[A-Za-z0-9+/]{43}$/);
    expect(openNote(signNote('hello\n', [s]), [parseVerifierKey(vkey)]).verified).toHaveLength(1);
    expect(generateSignerKey('gen.example/log').skey).not.toBe(skey);
    expect(code(() => generateSignerKey('bad name'))).toBe('invalid-key-name');
  });

  it('refuses seeds that are not 32 bytes', () => {
    expect(code(() => ed25519Signer('a', new Uint8Array(31)))).toBe('invalid-seed');
    expect(code(() => formatSignerKey('a', new Uint8Array(33)))).toBe('invalid-seed');
  });
});

describe('key names', () => {
  it('follows the signed-note name rule', () => {
    for (const ok of ['a', 'example.com/log', 'oid/1.3.6.1.4.1', 'ü', '\uFEFF']) expect(isValidKeyName(ok)).toBe(true);
    for (const bad of ['', 'a b', 'a+b', 'a\tb', 'a\nb', 'a\u0085b', 'a\u00a0b', 'a\u2003b', 'a\u2028b', 'a\u3000b', 'a\u0001b', '\uD800']) {
      expect(isValidKeyName(bad)).toBe(false);
      expect(code(() => keyId(bad, 1, new Uint8Array(32)))).toBe('invalid-key-name');
    }
  });
});

describe('verifier and signer keys', () => {
  it('refuses every truncation and every single-byte change of a vkey', () => {
    // As Go's TestNewVerifier: no proper substring and no altered byte parses.
    const b = utf8(PETER_VKEY);
    const dec = new TextDecoder();
    for (let i = 0; i <= b.length; i++) {
      for (let j = i + 1; j <= b.length; j++) {
        if (i === 0 && j === b.length) continue;
        expect(() => parseVerifierKey(dec.decode(b.subarray(i, j)))).toThrow(NoteError);
      }
    }
    for (let i = 0; i < b.length; i++) {
      const c = b.slice();
      c[i]! += 1;
      expect(() => parseVerifierKey(dec.decode(c))).toThrow(NoteError);
    }
  });

  it('refuses every truncation and every single-byte change of a signer key', () => {
    const b = utf8(PETER_SKEY);
    const dec = new TextDecoder();
    for (let i = 0; i <= b.length; i++) {
      for (let j = i + 1; j <= b.length; j++) {
        if (i === 0 && j === b.length) continue;
        expect(() => parseSignerKey(dec.decode(b.subarray(i, j)))).toThrow(NoteError);
      }
    }
    for (let i = 0; i < b.length; i++) {
      const c = b.slice();
      c[i]! += 1;
      expect(() => parseSignerKey(dec.decode(c))).toThrow(NoteError);
    }
  });

  it('gives the exact code for each vkey fault', () => {
    const pub = parseVerifierKey(PETER_VKEY).publicKey;
    // Go's note_test.go: wrong key length and unknown type, each with a matching key hash.
    expect(code(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=='))).toBe('invalid-vkey');
    expect(code(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe('unsupported-key-type');
    expect(code(() => parseVerifierKey('PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe('bad-key-id');
    expect(code(() => parseVerifierKey('PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe('invalid-vkey');
    expect(code(() => parseVerifierKey('PeterNeumann+c74f20a3'))).toBe('invalid-vkey');
    expect(code(() => parseVerifierKey('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T'))).toBe('invalid-vkey');
    expect(code(() => parseVerifierKey('Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe('invalid-key-name');
    expect(code(() => parseVerifierKey('+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'))).toBe('invalid-key-name');
    expect(code(() => parseVerifierKey(PETER_SKEY))).toBe('invalid-vkey');
    // Upper-case hex is read (Go reads it too); the canonical form is lower case.
    expect(parseVerifierKey('PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW').vkey).toBe(PETER_VKEY);
    // Any type byte decodes structurally; only 0x01 parses here.
    expect(decodeVerifierKey(formatVerifierKey('x', 0x04, pub)).keyType).toBe(0x04);
    expect(code(() => parseVerifierKey(formatVerifierKey('x', 0x04, pub)))).toBe('unsupported-key-type');
  });

  it('refuses Ed25519 public keys that are small-order or not canonical points', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1; // the neutral element, order 1
    const nonCanonical = new Uint8Array(32).fill(0xff);
    nonCanonical[0] = 0xed;
    nonCanonical[31] = 0x7f; // y = p, a non-canonical encoding of y = 0
    const notOnCurve = new Uint8Array(32);
    notOnCurve[0] = 2; // y = 2: (y^2 - 1) / (d y^2 + 1) has no square root mod p
    for (const pub of [identity, nonCanonical, notOnCurve]) {
      expect(code(() => parseVerifierKey(formatVerifierKey('k', 1, pub)))).toBe('invalid-public-key');
    }
    const valid = new Uint8Array(32);
    valid[0] = 3; // y = 3 is a point of large order
    expect(parseVerifierKey(formatVerifierKey('k', 1, valid)).publicKey).toEqual(valid);
  });

  it('gives the exact code for each skey fault, never quoting the key', () => {
    const seedB64 = PETER_SKEY.split('+').slice(4).join('+');
    expect(code(() => parseSignerKey(PETER_VKEY))).toBe('invalid-skey');
    expect(code(() => parseSignerKey('PRIVATE+KEY+PeterNeumann+c74f20a4+' + seedB64))).toBe('bad-key-id');
    const four = toBase64(Uint8Array.of(4, ...fromBase64(seedB64).slice(1)));
    expect(code(() => parseSignerKey('PRIVATE+KEY+PeterNeumann+c74f20a3+' + four))).toBe('unsupported-key-type');
    expect(code(() => parseSignerKey('PRIVATE+KEY+PeterNeumann+c74f20a3+AQID'))).toBe('invalid-skey');
    try {
      parseSignerKey('PRIVATE+KEY+PeterNeumann+c74f20a4+' + seedB64);
    } catch (e) {
      expect((e as Error).message).not.toContain(seedB64);
    }
  });
});
