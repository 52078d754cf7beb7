import { afterEach, describe, expect, it } from 'vitest';
import { fromHex, toBase64, toHex, utf8 } from '../../src/core/bytes.js';
import { nobleCrypto, setCryptoProvider, type CryptoProvider } from '../../src/core/crypto.js';
import { formatCheckpoint } from '../../src/core/checkpoint.js';
import {
  cosign,
  cosignatureMessage,
  cosignatureTimestamp,
  cosignerFromSeed,
  CosignatureError,
  formatCosignatureVerifierKey,
  formatCosignerKey,
  generateCosignerKey,
  KEY_TYPE_COSIGNATURE_V1,
  openCosignedNote,
  parseAnyVerifierKey,
  parseCosignatureVerifierKey,
  parseCosignerKey,
  verifyCosignature,
} from '../../src/core/cosignature.js';
import {
  addSignatures,
  ed25519Signer,
  formatNote,
  formatSignatureLine,
  formatSignerKey,
  formatVerifierKey,
  keyId,
  NoteError,
  openNote,
  parseNote,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  type NoteSignature,
} from '../../src/core/note.js';
import { nodeCrypto } from '../../src/platform/node-crypto.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CosignatureError || e instanceof NoteError) return e.code;
    throw e;
  }
  return 'no error';
}

// C2SP tlog-cosignature, opening example: a checkpoint with a cosignature line.
const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SPEC_NOTE =
  SPEC_TEXT +
  '\n' +
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n' +
  '— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n';
// C2SP tlog-cosignature, "Ed25519 signed message": the message for that checkpoint at time 1679315147.
const SPEC_MESSAGE =
  'cosignature/v1\n' +
  'time 1679315147\n' +
  'example.com/behind-the-sofa\n' +
  '20852163\n' +
  'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
// C2SP tlog-witness, add-checkpoint example response body (no public keys given).
const WITNESS_RESPONSE =
  '— witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n' +
  '— witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==\n' +
  '— witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n';

// transparency-dev/formats note/note_cosigv1_test.go: a native type 0x04 vkey,
// and a cosignature whose timestamp is 1727964367 (TestCosignatureTimestamp).
const REMORA_VKEY = 'remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2';
const FORMATS_COSIG_B64 = 'ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==';

// Our own vectors (spec/cosignature.md), cross-checked against node:crypto directly.
const WIT_SEED = fromHex('202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f');
const WIT_SKEY = 'PRIVATE+KEY+witness.example/w-test+d06791ee+BCAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/';
const WIT_VKEY = 'witness.example/w-test+d06791ee+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X';
const WIT_SPEC_LINE =
  '— witness.example/w-test 0GeR7gAAAABkGFDL6ade/xdmW0GepsICyPher/bBsso0aCocxkD4MgnQ2J3N/61CxrucC0uO4wzUWe3K7XvjkEYtewKXIfP/U7l4Cw==\n';
const LOG_SEED = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
const LOG_SKEY = 'PRIVATE+KEY+example.com/ledger-test+c62fdc89+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f';
const LOG_VKEY = 'example.com/ledger-test+c62fdc89+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4';
const LEDGER_FULL_NOTE =
  'example.com/ledger-test\n5\n/hQBC0/oMwOFLwRnyRnvmnygibkeluOq19Qm3YcHkpc=\n\n' +
  '— example.com/ledger-test xi/ciX2g1cllTyL4Ys2sh4bN5SYGsDFJIMjoZrYIq87D5AkOkiA04w4SzMvKYYbTEx1CGIWf6Yyok3mq30FOwgC6Hw0=\n' +
  '— witness.example/w-test 0GeR7gAAAABlU/EARyfdeChyf3TB0GJwmjxwH3x6SPX5tLx6fNpsx0YG/iVRdscpLoLUxyBXpYBuIlPQf/3KwPz+jbpAEwkPQ/JIBA==\n';

describe('spec vectors', () => {
  it('builds the tlog-cosignature signed message exactly', () => {
    expect(new TextDecoder().decode(cosignatureMessage(SPEC_TEXT, 1679315147))).toBe(SPEC_MESSAGE);
    expect(cosignatureMessage(SPEC_TEXT, 0)).toEqual(utf8('cosignature/v1\ntime 0\n' + SPEC_TEXT));
  });

  it('reads the tlog-cosignature example line: key ID, 72 bytes, and the time of the message example', () => {
    const sig = parseNote(SPEC_NOTE).signatures[1]!;
    expect(sig.name).toBe('witness.example.com/w1');
    expect(toHex(sig.keyId)).toBe('8d66cf3f');
    expect(sig.signature).toHaveLength(72);
    expect(cosignatureTimestamp(sig)).toBe(1679315147);
    expect(formatNote(parseNote(SPEC_NOTE))).toBe(SPEC_NOTE);
  });

  it('reads the tlog-witness example response lines, whose timestamp fields are out of range', () => {
    const n = parseNote(SPEC_TEXT + '\n' + WITNESS_RESPONSE);
    expect(n.signatures.map((s) => [s.name, toHex(s.keyId), s.signature.length])).toEqual([
      ['witness.example/w1', '08ca7ee8', 72],
      ['witness.example/w1', '23bac4a6', 72],
      ['witness.example/w2', '016ba2f1', 72],
    ]);
    // The first two exceed 2^63-1 (the spec's MUST NOT); the third exceeds 2^53-1.
    for (const s of n.signatures) expect(code(() => cosignatureTimestamp(s))).toBe('timestamp-out-of-range');
    expect(() => cosignatureTimestamp(n.signatures[0]!)).toThrow('exceeds 2^63-1');
    expect(() => cosignatureTimestamp(n.signatures[2]!)).toThrow('exceeds 2^53-1');
    // Appending a response to the checkpoint, as tlog-witness suggests, keeps every line.
    expect(addSignatures(SPEC_NOTE, n.signatures)).toBe(SPEC_NOTE + WITNESS_RESPONSE);
  });

  it('parses the transparency-dev/formats type 0x04 vkey and timestamp vector', () => {
    const v = parseCosignatureVerifierKey(REMORA_VKEY);
    expect(v.name).toBe('remora.n621.de');
    expect(toHex(v.keyId)).toBe('da77ade7');
    expect(v.keyType).toBe(KEY_TYPE_COSIGNATURE_V1);
    expect(v.vkey).toBe(REMORA_VKEY);
    expect(formatCosignatureVerifierKey('remora.n621.de', v.publicKey)).toBe(REMORA_VKEY);
    expect(toHex(keyId('remora.n621.de', 0x04, v.publicKey))).toBe('da77ade7');
    const sig = parseNote(`${SPEC_TEXT}\n— x ${FORMATS_COSIG_B64}\n`).signatures[0]!;
    expect(toHex(sig.keyId)).toBe('646846b9');
    expect(cosignatureTimestamp(sig)).toBe(1727964367);
  });
});

describe('our vectors', () => {
  it('stores the witness key as a type 0x04 signer key and publishes a type 0x04 vkey', () => {
    const c = parseCosignerKey(WIT_SKEY);
    expect(c.name).toBe('witness.example/w-test');
    expect(c.vkey).toBe(WIT_VKEY);
    expect(c.seed).toEqual(WIT_SEED);
    expect(formatCosignerKey('witness.example/w-test', WIT_SEED)).toBe(WIT_SKEY);
    expect(cosignerFromSeed('witness.example/w-test', WIT_SEED).vkey).toBe(WIT_VKEY);
  });

  it('cosigns the spec checkpoint deterministically', () => {
    const sig = cosign(SPEC_TEXT, 'witness.example/w-test', WIT_SEED, 1679315147);
    expect(formatSignatureLine(sig)).toBe(WIT_SPEC_LINE);
    expect(verifyCosignature(SPEC_TEXT, sig, parseCosignatureVerifierKey(WIT_VKEY))).toEqual({ timestamp: 1679315147 });
  });

  it('reproduces and opens a log-signed, witness-cosigned checkpoint', () => {
    const log = ed25519Signer('example.com/ledger-test', LOG_SEED);
    expect(log.vkey).toBe(LOG_VKEY);
    expect(formatSignerKey('example.com/ledger-test', LOG_SEED)).toBe(LOG_SKEY);
    expect(parseSignerKey(LOG_SKEY).vkey).toBe(LOG_VKEY);
    const text = parseNote(LEDGER_FULL_NOTE).text;
    const note = addSignatures(signNote(text, [log]), [parseCosignerKey(WIT_SKEY).cosign(text, 1700000000)]);
    expect(note).toBe(LEDGER_FULL_NOTE);
    const r = openCosignedNote(LEDGER_FULL_NOTE, [parseAnyVerifierKey(LOG_VKEY), parseAnyVerifierKey(WIT_VKEY)]);
    expect(r.verified.map((v) => [v.name, toHex(v.keyId), v.keyType, v.timestamp])).toEqual([
      ['example.com/ledger-test', 'c62fdc89', 1, undefined],
      ['witness.example/w-test', 'd06791ee', 4, 1700000000],
    ]);
  });
});

describe.each<[string, CryptoProvider]>([
  ['noble', nobleCrypto],
  ['node:crypto', nodeCrypto],
])('with crypto provider %s', (_name, provider) => {
  afterEach(() => setCryptoProvider(nobleCrypto));
  it('signs and verifies our vectors', () => {
    setCryptoProvider(provider);
    expect(formatSignatureLine(cosign(SPEC_TEXT, 'witness.example/w-test', WIT_SEED, 1679315147))).toBe(WIT_SPEC_LINE);
    const r = openCosignedNote(LEDGER_FULL_NOTE, [parseAnyVerifierKey(LOG_VKEY), parseAnyVerifierKey(WIT_VKEY)]);
    expect(r.verified).toHaveLength(2);
    const bad = LEDGER_FULL_NOTE.replace('0GeR7gAAAABlU/EA', '0GeR7gAAAABlU/EB');
    expect(code(() => openCosignedNote(bad, [parseAnyVerifierKey(LOG_VKEY), parseAnyVerifierKey(WIT_VKEY)]))).toBe('invalid-signature');
  });
});

describe('tampering', () => {
  const w = cosignerFromSeed('witness.example/w-test', WIT_SEED);
  const v = parseCosignatureVerifierKey(WIT_VKEY);
  const good = (): NoteSignature => w.cosign(SPEC_TEXT, 1679315147);

  it('refuses a flipped bit in every byte of the timestamp and the signature', () => {
    for (let i = 0; i < 72; i++) {
      const sig = good();
      sig.signature[i]! ^= i < 8 ? 0x01 : 0x10;
      // Byte 0 holds bits 56..63: any bit there is beyond 2^53-1, refused before verifying.
      expect(code(() => verifyCosignature(SPEC_TEXT, sig, v))).toBe(i === 0 ? 'timestamp-out-of-range' : 'invalid-signature');
    }
  });

  it('refuses a timestamp with the top bit set before verifying', () => {
    const sig = good();
    sig.signature[0]! ^= 0x80;
    expect(code(() => verifyCosignature(SPEC_TEXT, sig, v))).toBe('timestamp-out-of-range');
  });

  it('refuses a flipped bit in the checkpoint text', () => {
    const text = SPEC_TEXT.replace('20852163', '20852162');
    expect(code(() => verifyCosignature(text, good(), v))).toBe('invalid-signature');
  });

  it('refuses a signature of another key or another length', () => {
    const sig = good();
    sig.keyId[0]! ^= 1;
    expect(code(() => verifyCosignature(SPEC_TEXT, sig, v))).toBe('key-mismatch');
    expect(code(() => verifyCosignature(SPEC_TEXT, { ...good(), name: 'witness.example/w-other' }, v))).toBe('key-mismatch');
    expect(code(() => verifyCosignature(SPEC_TEXT, { ...good(), signature: good().signature.subarray(0, 71) }, v))).toBe('bad-signature-length');
    expect(code(() => verifyCosignature(SPEC_TEXT, { ...good(), signature: good().signature.subarray(8) }, v))).toBe('bad-signature-length');
  });

  it('refuses a cosignature over text that is not a checkpoint', () => {
    expect(code(() => verifyCosignature('hello\n', good(), v))).toBe('invalid-checkpoint');
    expect(code(() => cosign('hello\n', w.name, WIT_SEED, 1))).toBe('invalid-checkpoint');
    expect(code(() => cosignatureMessage(SPEC_TEXT.slice(0, -1), 1))).toBe('invalid-checkpoint');
  });

  it('in a note: a flipped key ID makes the line unknown, a flipped timestamp bit rejects the note', () => {
    const verifiers = [parseAnyVerifierKey(LOG_VKEY), parseAnyVerifierKey(WIT_VKEY)];
    const n = parseNote(LEDGER_FULL_NOTE);
    const idFlipped = { ...n, signatures: [n.signatures[0]!, { ...n.signatures[1]!, keyId: n.signatures[1]!.keyId.slice() }] };
    idFlipped.signatures[1]!.keyId[2]! ^= 4;
    const r = openCosignedNote(formatNote(idFlipped), verifiers);
    expect(r.verified.map((k) => k.keyType)).toEqual([1]);
    const tsFlipped = { ...n, signatures: [n.signatures[0]!, { ...n.signatures[1]!, signature: n.signatures[1]!.signature.slice() }] };
    tsFlipped.signatures[1]!.signature[7]! ^= 1;
    expect(code(() => openCosignedNote(formatNote(tsFlipped), verifiers))).toBe('invalid-signature');
    // Without the witness key, the same note opens on the log signature alone.
    expect(openCosignedNote(formatNote(tsFlipped), [verifiers[0]!]).verified).toHaveLength(1);
  });
});

describe('key types', () => {
  it('keeps 0x01 and 0x04 keys of one seed and name apart', () => {
    const seed = new Uint8Array(32).fill(5);
    const asLog = ed25519Signer('dual.example', seed);
    const asWitness = cosignerFromSeed('dual.example', seed);
    expect(asLog.publicKey).toEqual(asWitness.publicKey);
    expect(toHex(asLog.keyId)).not.toBe(toHex(asWitness.keyId));
    const text = SPEC_TEXT;
    // A cosignature is not a plain Ed25519 signature of the text, and vice versa.
    const cosigned = formatNote({ text, signatures: [asWitness.cosign(text, 1)] });
    expect(code(() => openNote(cosigned, [parseVerifierKey(asLog.vkey)]))).toBe('unverified');
    const forged = formatNote({ text, signatures: [{ ...parseNote(signNote(text, [asLog])).signatures[0]!, keyId: asWitness.keyId }] });
    expect(code(() => openNote(forged, [parseCosignatureVerifierKey(asWitness.vkey)]))).toBe('invalid-signature');
  });

  it('dispatches vkeys on the type byte', () => {
    expect(parseAnyVerifierKey(LOG_VKEY).keyType).toBe(0x01);
    expect(parseAnyVerifierKey(WIT_VKEY).keyType).toBe(0x04);
    expect(parseAnyVerifierKey(REMORA_VKEY).keyType).toBe(0x04);
    const pub = parseAnyVerifierKey(WIT_VKEY).publicKey;
    expect(code(() => parseAnyVerifierKey(formatVerifierKey('x', 0x02, pub)))).toBe('unsupported-key-type');
    expect(code(() => parseAnyVerifierKey(formatVerifierKey('x', 0x06, pub)))).toBe('unsupported-key-type');
    expect(code(() => parseCosignatureVerifierKey(LOG_VKEY))).toBe('unsupported-key-type');
    expect(code(() => parseCosignatureVerifierKey(WIT_VKEY.replace('d06791ee', 'd06791ef')))).toBe('bad-key-id');
    expect(code(() => parseAnyVerifierKey('witness.example/w-test+d06791ee'))).toBe('invalid-vkey');
  });

  it('refuses a 0x01 signer key as a cosigner key and a 0x04 one as a log key', () => {
    const logSkey = parseSignerKey('PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz');
    expect(logSkey.name).toBe('PeterNeumann');
    expect(code(() => parseCosignerKey('PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'))).toBe('unsupported-key-type');
    expect(code(() => parseSignerKey(WIT_SKEY))).toBe('unsupported-key-type');
    expect(code(() => parseCosignerKey(WIT_SKEY.replace('d06791ee', 'd06791ed')))).toBe('bad-key-id');
  });

  it('generates witness keys that cosign and verify', () => {
    const { skey, vkey } = generateCosignerKey('gen.example/witness');
    expect(skey).toMatch(/^PRIVATE\+KEY\+gen\.example\/witness\+[0-9a-f]{8}\+B[A-Za-z0-9+/]{43}$/);
    const c = parseCosignerKey(skey);
    expect(c.vkey).toBe(vkey);
    const sig = c.cosign(SPEC_TEXT, 1234);
    expect(verifyCosignature(SPEC_TEXT, sig, parseCosignatureVerifierKey(vkey)).timestamp).toBe(1234);
  });
});

describe('timestamps', () => {
  it('writes the timestamp big-endian and in decimal without leading zeros', () => {
    const sig = cosign(SPEC_TEXT, 'w', WIT_SEED, 1679315147);
    expect(toHex(sig.signature.subarray(0, 8))).toBe('00000000641850cb');
    const max = cosign(SPEC_TEXT, 'w', WIT_SEED, Number.MAX_SAFE_INTEGER);
    expect(toHex(max.signature.subarray(0, 8))).toBe('001fffffffffffff');
    expect(cosignatureTimestamp(max)).toBe(Number.MAX_SAFE_INTEGER);
    expect(new TextDecoder().decode(cosignatureMessage(SPEC_TEXT, 10))).toContain('\ntime 10\n');
  });

  it('refuses timestamps it cannot sign or read exactly', () => {
    for (const t of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) {
      expect(code(() => cosign(SPEC_TEXT, 'w', WIT_SEED, t))).toBe('invalid-timestamp');
    }
    const sig = cosign(SPEC_TEXT, 'w', WIT_SEED, 1);
    sig.signature.set(fromHex('0020000000000000'), 0);
    expect(code(() => cosignatureTimestamp(sig))).toBe('timestamp-out-of-range');
    expect(code(() => cosign(SPEC_TEXT, 'w', new Uint8Array(31), 1))).toBe('invalid-seed');
  });

  it('signs the exact message bytes (independent check of the message format)', () => {
    const sig = cosign(formatCheckpoint({ origin: 'o', size: 0, rootHash: new Uint8Array(32), extensions: ['e'] }), 'w', WIT_SEED, 7);
    const msg = utf8('cosignature/v1\ntime 7\no\n0\n' + toBase64(new Uint8Array(32)) + '\ne\n');
    expect(nodeCrypto.verify(parseCosignerKey(WIT_SKEY).publicKey, msg, sig.signature.subarray(8))).toBe(true);
  });
});
