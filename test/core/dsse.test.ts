import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64, fromHex, toBase64, toBase64Url, toHex, utf8 } from '../../src/core/bytes.js';
import { ed25519Verify } from '../../src/core/crypto.js';
import {
  EnvelopeError,
  envelopeToJSON,
  keyIdOf,
  pae,
  parseEnvelope,
  signEnvelope,
  verifyEnvelope,
  type Envelope,
  type TrustedKey,
} from '../../src/core/dsse.js';
import { KeyError } from '../../src/core/pem.js';

// RFC 8032 §7.1 TEST 1 and TEST 2, the keys of the DSSE test vectors (testvectors/vectors.json).
const A = {
  seed: fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
  pub: fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'),
  keyid: '21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9',
};
const B = {
  seed: fromHex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'),
  pub: fromHex('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c'),
  keyid: '39f713d0a644253f04529421b9f51b9b08979d08295959c4f3990ee617f5139f',
};
const KEYS: Record<string, TrustedKey> = { A: { id: 'A', publicKey: A.pub }, B: { id: 'B', publicKey: B.pub } };

const STATEMENT = 'eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEifQ==';
const INTOTO = 'application/vnd.in-toto+json';
const SIG_A = '2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA==';
const SIG_B = 'c1+67/aT0yqEpwx8PsVY3MLHsj9D0CZ014/Fv/QlG59P+9CobUZ7xECJ/V3USG0Ob9CiE5LjReEZUzNF2l7eBw==';
const PAE_STATEMENT =
  '445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d';

interface Vector {
  id: string;
  envelope: unknown;
  trustedKeys: string[];
  threshold: number;
  supportedPayloadTypes: string[];
  pae: string; // what the signatures cover
  expect: 'accept' | 'reject';
  code?: string; // our error code when verifyEnvelope itself rejects
}

// secure-systems-lab/dsse testvectors/vectors.json, every vector.
const VECTORS: Vector[] = [
  {
    id: 'single-signature',
    envelope: { payload: STATEMENT, payloadType: INTOTO, signatures: [{ sig: SIG_A, keyid: 'A' }] },
    trustedKeys: ['A'],
    threshold: 1,
    supportedPayloadTypes: [INTOTO],
    pae: PAE_STATEMENT,
    expect: 'accept',
  },
  {
    id: 'url-safe-base64',
    envelope: {
      payload: '-_-_Pj8=',
      payloadType: INTOTO,
      signatures: [
        {
          sig: 'P-_KHICeR7tI6S_YyejJTRtrXhcQyQ2LYPaL8h90KjC9qN8HU_svOQ6TuDOT1HIrsGW886DbWNWcCmX5twLrAw==',
          keyid: 'A',
        },
      ],
    },
    trustedKeys: ['A'],
    threshold: 1,
    supportedPayloadTypes: [INTOTO],
    pae: '445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203520fbffbf3e3f',
    expect: 'accept',
  },
  {
    id: 'payload-type-swapped',
    envelope: {
      payload: STATEMENT,
      payloadType: 'application/vnd.example.other+json',
      signatures: [{ sig: SIG_A, keyid: 'A' }],
    },
    trustedKeys: ['A'],
    threshold: 1,
    supportedPayloadTypes: [INTOTO, 'application/vnd.example.other+json'],
    pae: PAE_STATEMENT, // the signed PAE, not the PAE of the claimed type
    expect: 'reject',
    code: 'no-valid-signature',
  },
  {
    id: 'non-ascii-payload-type',
    envelope: {
      payload: STATEMENT,
      payloadType: 'application/vnd.exämple+json',
      signatures: [
        {
          sig: 'xmSk/ug66ysT7ayhkCIjhAq42zgZXSsEWuzUaNL7w2eGAdF/NU6/fRXPtmfN+5DNSAs5/i2lUnHjbbjPsu0tAw==',
          keyid: 'A',
        },
      ],
    },
    trustedKeys: ['A'],
    threshold: 1,
    supportedPayloadTypes: ['application/vnd.exämple+json'],
    pae: '445353457631203239206170706c69636174696f6e2f766e642e6578c3a46d706c652b6a736f6e203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d',
    expect: 'accept',
  },
  {
    id: 'empty-payload',
    envelope: {
      payload: '',
      payloadType: INTOTO,
      signatures: [
        {
          sig: 'gSggCAaTLTYyRH6FIDBem6meyIynsYy8RTHVzwx9tnTb7Bg/1jMWnuVgI/gffqmbsC2VX5/jHfkkDqsj7CDbDg==',
          keyid: 'A',
        },
      ],
    },
    trustedKeys: ['A'],
    threshold: 1,
    supportedPayloadTypes: [INTOTO],
    pae: '445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203020',
    expect: 'accept',
  },
  {
    // The signature is good; the rejection is the supported-type check, which is the caller's.
    id: 'empty-payload-type',
    envelope: {
      payload: STATEMENT,
      payloadType: '',
      signatures: [
        {
          sig: 'iC3q/+3Rm0+lpAJRueDmDh15PnwCfxKmS0NAfKsbv+zgulXQC/WM9trc+j1XEqlwDIg/vf/uNfebeD6sxInrDg==',
          keyid: 'A',
        },
      ],
    },
    trustedKeys: ['A'],
    threshold: 1,
    supportedPayloadTypes: [INTOTO],
    pae: '445353457631203020203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e742f7631227d',
    expect: 'reject',
  },
  {
    id: 'threshold-two-distinct-keys',
    envelope: {
      payload: STATEMENT,
      payloadType: INTOTO,
      signatures: [
        { sig: SIG_A, keyid: 'A' },
        { sig: SIG_B, keyid: 'B' },
      ],
    },
    trustedKeys: ['A', 'B'],
    threshold: 2,
    supportedPayloadTypes: [INTOTO],
    pae: PAE_STATEMENT,
    expect: 'accept',
  },
  {
    id: 'threshold-two-one-key-twice',
    envelope: {
      payload: STATEMENT,
      payloadType: INTOTO,
      signatures: [
        { sig: SIG_A, keyid: 'A' },
        { sig: SIG_A, keyid: 'A' },
      ],
    },
    trustedKeys: ['A', 'B'],
    threshold: 2,
    supportedPayloadTypes: [INTOTO],
    pae: PAE_STATEMENT,
    expect: 'reject',
    code: 'threshold-not-met',
  },
  {
    id: 'threshold-two-without-keyids',
    envelope: { payload: STATEMENT, payloadType: INTOTO, signatures: [{ sig: SIG_A }, { sig: SIG_B }] },
    trustedKeys: ['A', 'B'],
    threshold: 2,
    supportedPayloadTypes: [INTOTO],
    pae: PAE_STATEMENT,
    expect: 'accept',
  },
];

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof EnvelopeError || e instanceof KeyError) return e.code;
    throw e;
  }
  throw new Error('expected an error');
}

describe('PAE', () => {
  it('matches the example of protocol.md', () => {
    const out = pae('http://example.com/HelloWorld', utf8('hello world'));
    expect(new TextDecoder().decode(out)).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
  });
  it('counts bytes, not characters, and keeps the trailing space of an empty body', () => {
    expect(toHex(pae('application/vnd.exämple+json', new Uint8Array(0)))).toBe(
      toHex(utf8('DSSEv1 29 application/vnd.exämple+json 0 ')),
    );
    expect(toHex(pae('', new Uint8Array(0)))).toBe(toHex(utf8('DSSEv1 0  0 ')));
  });
  it('refuses a payloadType with a lone surrogate (it has no UTF-8 form)', () => {
    expect(code(() => pae('a\ud800b', new Uint8Array(0)))).toBe('bad-string');
  });
});

describe('the protocol.md example envelope (ECDSA P-256)', () => {
  // The only signature in protocol.md is ECDSA; checking it with node:crypto proves PAE byte for byte.
  it('verifies over our PAE', () => {
    const env = parseEnvelope(`{"payload": "aGVsbG8gd29ybGQ=",
 "payloadType": "http://example.com/HelloWorld",
 "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}`);
    const be = (dec: string) => fromHex(BigInt(dec).toString(16).padStart(64, '0'));
    const key = createPublicKey({
      format: 'jwk',
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: toBase64Url(be('46950820868899156662930047687818585632848591499744589407958293238635476079160')),
        y: toBase64Url(be('5640078356564379163099075877009565129882514886557779369047442380624545832820')),
      },
    });
    const msg = pae(env.payloadType, env.payload);
    const sig = env.signatures[0]!.sig;
    expect(env.signatures[0]!.keyid).toBe('');
    expect(nodeVerify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
    msg[msg.length - 1]! ^= 1;
    expect(nodeVerify('sha256', msg, { key, dsaEncoding: 'ieee-p1363' }, sig)).toBe(false);
  });
});

describe('DSSE test vectors (testvectors/vectors.json)', () => {
  it.each(VECTORS.map((v) => [v.id, v] as const))('%s', (_id, v) => {
    const env = parseEnvelope(v.envelope);
    // Every vector signature covers v.pae; our PAE of the envelope equals it except where the type was swapped.
    // (The keyid-less vector has A's signature first, then B's.)
    env.signatures.forEach((s, i) => {
      const signer = KEYS[s.keyid || ['A', 'B'][i]!]!;
      expect(ed25519Verify(signer.publicKey, fromHex(v.pae), s.sig)).toBe(true);
    });
    expect(toHex(pae(env.payloadType, env.payload)) === v.pae).toBe(v.id !== 'payload-type-swapped');
    const trusted = v.trustedKeys.map((k) => KEYS[k]!);
    if (v.code) {
      expect(v.expect).toBe('reject');
      expect(code(() => verifyEnvelope(env, trusted, v.threshold))).toBe(v.code);
      return;
    }
    const accepted = verifyEnvelope(env, trusted, v.threshold);
    expect(accepted.length).toBe(v.threshold);
    expect(v.supportedPayloadTypes.includes(env.payloadType)).toBe(v.expect === 'accept');
  });
});

describe('keyIdOf and signEnvelope', () => {
  it('keyid is the lowercase hex SHA-256 of the raw key', () => {
    expect(keyIdOf(A.pub)).toBe(A.keyid);
    expect(keyIdOf(B.pub)).toBe(B.keyid);
    expect(code(() => keyIdOf(new Uint8Array(31)))).toBe('bad-key-length');
  });
  it('signs PAE with Ed25519 deterministically (RFC 8032), reproducing the vector signature', () => {
    const env = signEnvelope(INTOTO, fromBase64(STATEMENT), A.seed);
    expect(env.signatures).toHaveLength(1);
    expect(env.signatures[0]!.keyid).toBe(A.keyid);
    expect(toBase64(env.signatures[0]!.sig)).toBe(SIG_A);
    expect(verifyEnvelope(env, [KEYS['A']!])).toEqual(['A']);
    expect(code(() => signEnvelope(INTOTO, new Uint8Array(1), new Uint8Array(64)))).toBe('bad-key-length');
  });
  it('round-trips through envelopeToJSON and JSON text', () => {
    const env = signEnvelope('application/vnd.ledger.evidence.v1+json', utf8('{"a":1}'), B.seed);
    const json = envelopeToJSON(env);
    expect(json).toEqual({
      payloadType: 'application/vnd.ledger.evidence.v1+json',
      payload: 'eyJhIjoxfQ==',
      signatures: [{ keyid: B.keyid, sig: toBase64(env.signatures[0]!.sig) }],
    });
    const back = parseEnvelope(JSON.stringify(json));
    expect(back).toEqual(env);
    expect(parseEnvelope(utf8(JSON.stringify(json)))).toEqual(env);
  });
});

describe('verifyEnvelope', () => {
  const payload = utf8('{"ts":"2025-01-01T00:00:00Z"}');
  const type = 'application/vnd.ledger.evidence.v1+json';
  const signed = (seed: Uint8Array) => signEnvelope(type, payload, seed);
  const both = (): Envelope => ({
    payloadType: type,
    payload,
    signatures: [...signed(A.seed).signatures, ...signed(B.seed).signatures],
  });

  it('flipping a payload bit, a signature bit or changing payloadType gives no-valid-signature', () => {
    const good = signed(A.seed);
    expect(verifyEnvelope(good, [KEYS['A']!])).toEqual(['A']);

    const p = structuredClone(good);
    p.payload[3]! ^= 0x01;
    expect(code(() => verifyEnvelope(p, [KEYS['A']!]))).toBe('no-valid-signature');

    const s = structuredClone(good);
    s.signatures[0]!.sig[40]! ^= 0x80;
    expect(code(() => verifyEnvelope(s, [KEYS['A']!]))).toBe('no-valid-signature');

    const t = { ...structuredClone(good), payloadType: 'application/vnd.ledger.trust-score.v1+json' };
    expect(code(() => verifyEnvelope(t, [KEYS['A']!]))).toBe('no-valid-signature');

    expect(code(() => verifyEnvelope(good, [KEYS['B']!]))).toBe('no-valid-signature');
  });

  it('keyid is only a hint: a wrong or foreign keyid still verifies, a matching keyid on a bad sig does not', () => {
    const env = signed(A.seed);
    env.signatures[0]!.keyid = B.keyid; // points at the wrong trusted key
    expect(verifyEnvelope(env, [KEYS['B']!, KEYS['A']!])).toEqual(['A']);
    env.signatures[0]!.keyid = 'something-else';
    expect(verifyEnvelope(env, [KEYS['A']!])).toEqual(['A']);
    env.signatures[0]!.keyid = 'B'; // the caller's id is a hint too
    expect(verifyEnvelope(env, [KEYS['A']!, KEYS['B']!])).toEqual(['A']);
    const forged = signed(B.seed);
    forged.signatures[0]!.keyid = A.keyid;
    expect(code(() => verifyEnvelope(forged, [KEYS['A']!]))).toBe('no-valid-signature');
  });

  it('threshold 2 with two keys accepts; one key signing twice counts once', () => {
    expect(verifyEnvelope(both(), [KEYS['A']!, KEYS['B']!], 2)).toEqual(['A', 'B']);
    const twice: Envelope = {
      payloadType: type,
      payload,
      signatures: [...signed(A.seed).signatures, ...signed(A.seed).signatures],
    };
    expect(code(() => verifyEnvelope(twice, [KEYS['A']!, KEYS['B']!], 2))).toBe('threshold-not-met');
    // The same key trusted under two names still counts once.
    const aliases = [KEYS['A']!, { id: 'A-again', publicKey: A.pub.slice() }];
    expect(code(() => verifyEnvelope(both(), aliases, 2))).toBe('threshold-not-met');
    expect(verifyEnvelope(both(), aliases, 1)).toEqual(['A']);
    // Three required, two keys exist.
    expect(code(() => verifyEnvelope(both(), [KEYS['A']!, KEYS['B']!], 3))).toBe('threshold-not-met');
  });

  it('an untrusted extra signature neither helps nor hurts', () => {
    const env = both();
    expect(verifyEnvelope(env, [KEYS['B']!])).toEqual(['B']);
    expect(code(() => verifyEnvelope(env, [KEYS['B']!], 2))).toBe('threshold-not-met');
  });

  it('refuses empty signature lists, empty trust sets and bad thresholds with their own codes', () => {
    expect(code(() => verifyEnvelope({ payloadType: type, payload, signatures: [] }, [KEYS['A']!]))).toBe(
      'no-signatures',
    );
    expect(code(() => verifyEnvelope(signed(A.seed), []))).toBe('no-trusted-keys');
    expect(code(() => verifyEnvelope(signed(A.seed), [KEYS['A']!], 0))).toBe('bad-threshold');
    expect(code(() => verifyEnvelope(signed(A.seed), [KEYS['A']!], 1.5))).toBe('bad-threshold');
    expect(code(() => verifyEnvelope(signed(A.seed), [{ id: 'short', publicKey: new Uint8Array(31) }]))).toBe(
      'bad-key-length',
    );
  });
});

describe('parseEnvelope', () => {
  const ok = { payloadType: INTOTO, payload: STATEMENT, signatures: [{ keyid: 'A', sig: SIG_A }] };
  const sigA = fromBase64(SIG_A);

  it('accepts the URL-safe form of the same bytes and ignores unknown fields', () => {
    const url = {
      payloadType: INTOTO,
      payload: STATEMENT.replace(/\+/g, '-').replace(/\//g, '_'),
      signatures: [{ sig: SIG_A.replace(/\+/g, '-').replace(/\//g, '_'), extra: true }],
      unknown: { nested: [1, 2] },
    };
    const env = parseEnvelope(JSON.stringify(url));
    expect(env.signatures[0]!.sig).toEqual(sigA);
    expect(env.signatures[0]!.keyid).toBe('');
    expect(verifyEnvelope(env, [KEYS['A']!])).toEqual(['A']);
    expect(parseEnvelope({ ...ok, signatures: [{ keyid: '', sig: SIG_A }] }).signatures[0]!.keyid).toBe('');
  });

  it('accepts an empty signature list (envelope.md: required even if empty); verification refuses it', () => {
    const env = parseEnvelope({ ...ok, signatures: [] });
    expect(env.signatures).toEqual([]);
    expect(code(() => verifyEnvelope(env, [KEYS['A']!]))).toBe('no-signatures');
  });

  const bad: [string, unknown, string][] = [
    ['not JSON', '{"payloadType":', 'malformed-json'],
    ['trailing garbage', JSON.stringify(ok) + 'x', 'malformed-json'],
    ['invalid UTF-8 bytes', new Uint8Array([0x7b, 0xff, 0x7d]), 'malformed-json'],
    ['a JSON array', '[]', 'wrong-type'],
    ['JSON null', 'null', 'wrong-type'],
    ['a JSON string', '"x"', 'wrong-type'],
    ['no payload', { payloadType: INTOTO, signatures: [] }, 'missing-field'],
    ['no payloadType', { payload: '', signatures: [] }, 'missing-field'],
    ['no signatures', { payloadType: INTOTO, payload: '' }, 'missing-field'],
    ['no sig', { ...ok, signatures: [{ keyid: 'A' }] }, 'missing-field'],
    ['numeric payloadType', { ...ok, payloadType: 7 }, 'wrong-type'],
    ['null payload', { ...ok, payload: null }, 'wrong-type'],
    ['signatures an object', { ...ok, signatures: { sig: SIG_A } }, 'wrong-type'],
    ['signature a string', { ...ok, signatures: [SIG_A] }, 'wrong-type'],
    ['signature null', { ...ok, signatures: [null] }, 'wrong-type'],
    ['numeric keyid', { ...ok, signatures: [{ keyid: 1, sig: SIG_A }] }, 'wrong-type'],
    ['null keyid', { ...ok, signatures: [{ keyid: null, sig: SIG_A }] }, 'wrong-type'],
    ['sig an array', { ...ok, signatures: [{ sig: [1, 2] }] }, 'wrong-type'],
    ['payload not base64', { ...ok, payload: 'not base64!' }, 'bad-base64'],
    ['payload without padding', { ...ok, payload: STATEMENT.replace(/=+$/, '') }, 'bad-base64'],
    ['payload with whitespace', { ...ok, payload: 'aGVs bG8=' }, 'bad-base64'],
    ['payload mixing alphabets', { ...ok, payload: '+_-/' }, 'bad-base64'],
    ['payload with non-zero trailing bits', { ...ok, payload: 'aGVsbG9=' }, 'bad-base64'],
    ['sig not base64', { ...ok, signatures: [{ sig: '***' }] }, 'bad-base64'],
    ['payloadType with a lone surrogate', '{"payloadType":"\\ud800","payload":"","signatures":[]}', 'bad-string'],
    ['payload with a lone surrogate', '{"payloadType":"t","payload":"aGVs\\ud800bG8=","signatures":[]}', 'bad-string'],
    ['sig with a lone surrogate', '{"payloadType":"t","payload":"","signatures":[{"sig":"\\udbff"}]}', 'bad-string'],
    ['payload in URL-safe base64 with non-ASCII', { ...ok, payload: 'aGVs-_\u00e9=' }, 'bad-base64'],
    [
      'keyid with a lone surrogate',
      `{"payloadType":"t","payload":"","signatures":[{"keyid":"\\udc00","sig":""}]}`,
      'bad-string',
    ],
  ];
  it.each(bad)('%s → %s', (_what, input, want) => {
    expect(code(() => parseEnvelope(input))).toBe(want);
  });

  it('the padded form of the payload refused above is accepted', () => {
    expect(parseEnvelope(ok).payload).toEqual(fromBase64(STATEMENT));
  });
});
