import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromBase64, fromHex, toBase64, toHex, utf8 } from '../../src/core/bytes.js';
import { ed25519PublicKey, ed25519Sign, ed25519Verify } from '../../src/core/crypto.js';
import {
  formatPrivateKeyPem,
  formatPublicKeyPem,
  KeyError,
  parsePrivateKeyPem,
  parsePublicKeyPem,
} from '../../src/core/pem.js';

// RFC 8410 §10.1 and §10.3: an Ed25519 public key and its private key.
const RFC8410_PUBLIC = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
-----END PUBLIC KEY-----
`;
const RFC8410_PRIVATE = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC
-----END PRIVATE KEY-----
`;
const RFC8410_PUB_HEX = '19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1';
const RFC8410_SEED_HEX = 'd4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof KeyError) return e.code;
    throw e;
  }
  throw new Error('expected an error');
}

function pem(label: string, der: Uint8Array): string {
  return `-----BEGIN ${label}-----\n${toBase64(der)}\n-----END ${label}-----\n`;
}

describe('RFC 8410 examples', () => {
  it('parse to the raw key and seed, and format back byte for byte', () => {
    const pub = parsePublicKeyPem(RFC8410_PUBLIC);
    const seed = parsePrivateKeyPem(RFC8410_PRIVATE);
    expect(toHex(pub)).toBe(RFC8410_PUB_HEX);
    expect(toHex(seed)).toBe(RFC8410_SEED_HEX);
    expect(toHex(ed25519PublicKey(seed))).toBe(RFC8410_PUB_HEX);
    expect(formatPublicKeyPem(pub)).toBe(RFC8410_PUBLIC);
    expect(formatPrivateKeyPem(seed)).toBe(RFC8410_PRIVATE);
  });
  it('refuses the §10.3 OneAsymmetricKey v2 form with attributes and a public key', () => {
    const v2 =
      'MHICAQEwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhCoB8wHQYKKoZIhvcNAQkJFDEPDA1DdXJkbGUgQ2hhaXJzgSEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=';
    expect(code(() => parsePrivateKeyPem(pem('PRIVATE KEY', fromBase64(v2))))).toBe('bad-der');
  });
});

describe('interoperability with node:crypto', () => {
  it('reads the PEM node exports and node reads the PEM we write', () => {
    for (let i = 0; i < 8; i++) {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const spki = publicKey.export({ format: 'pem', type: 'spki' }) as string;
      const pkcs8 = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
      const jwk = privateKey.export({ format: 'jwk' });
      const pub = parsePublicKeyPem(spki);
      const seed = parsePrivateKeyPem(pkcs8);
      expect(toHex(pub)).toBe(toHex(new Uint8Array(Buffer.from(jwk.x!, 'base64url'))));
      expect(toHex(seed)).toBe(toHex(new Uint8Array(Buffer.from(jwk.d!, 'base64url'))));
      // Our output is exactly node's output.
      expect(formatPublicKeyPem(pub)).toBe(spki);
      expect(formatPrivateKeyPem(seed)).toBe(pkcs8);
      // Keys cross over: node signs with our private PEM, we verify; we sign, node verifies our public PEM.
      const msg = utf8(`message ${i}`);
      const nodeSig = nodeSign(null, msg, createPrivateKey(formatPrivateKeyPem(seed)));
      expect(ed25519Verify(pub, msg, new Uint8Array(nodeSig))).toBe(true);
      expect(nodeVerify(null, msg, createPublicKey(formatPublicKeyPem(pub)), ed25519Sign(seed, msg))).toBe(true);
    }
  });

  it('accepts CRLF line ends and explanatory text around the block (RFC 7468 §5.2)', () => {
    const crlf = RFC8410_PUBLIC.replace(/\n/g, '\r\n');
    expect(toHex(parsePublicKeyPem(crlf))).toBe(RFC8410_PUB_HEX);
    expect(toHex(parsePublicKeyPem(`Producer key of ci-bot\n${RFC8410_PUBLIC}\ntrailing note\n`))).toBe(
      RFC8410_PUB_HEX,
    );
    // A body split over several lines.
    const split = RFC8410_PUBLIC.replace('MCowBQYDK2VwAyEAGb9ECWmE', 'MCowBQYDK2VwAyEAGb9ECWmE\n');
    expect(toHex(parsePublicKeyPem(split))).toBe(RFC8410_PUB_HEX);
  });
});

describe('other key types are refused by name', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const x25519 = generateKeyPairSync('x25519');
  const ed448 = generateKeyPairSync('ed448');

  it.each([
    ['RSA SPKI', () => rsa.publicKey.export({ format: 'pem', type: 'spki' }), 'RSA'],
    ['EC SPKI', () => ec.publicKey.export({ format: 'pem', type: 'spki' }), 'EC'],
    ['X25519 SPKI', () => x25519.publicKey.export({ format: 'pem', type: 'spki' }), 'X25519'],
    ['Ed448 SPKI', () => ed448.publicKey.export({ format: 'pem', type: 'spki' }), 'Ed448'],
  ])('public %s', (_what, make, name) => {
    const text = make() as string;
    expect(code(() => parsePublicKeyPem(text))).toBe('unsupported-key-type');
    expect(() => parsePublicKeyPem(text)).toThrow(name);
  });

  it.each([
    ['RSA PKCS#8', () => rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }), 'unsupported-key-type'],
    ['EC PKCS#8', () => ec.privateKey.export({ format: 'pem', type: 'pkcs8' }), 'unsupported-key-type'],
    ['Ed448 PKCS#8', () => ed448.privateKey.export({ format: 'pem', type: 'pkcs8' }), 'unsupported-key-type'],
    ['RSA PKCS#1', () => rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }), 'unsupported-key-type'],
    ['EC SEC 1', () => ec.privateKey.export({ format: 'pem', type: 'sec1' }), 'unsupported-key-type'],
    [
      'encrypted PKCS#8',
      () =>
        generateKeyPairSync('ed25519').privateKey.export({
          format: 'pem',
          type: 'pkcs8',
          cipher: 'aes-256-cbc',
          passphrase: 'pw',
        }),
      'encrypted-key',
    ],
  ])('private %s', (_what, make, want) => {
    expect(code(() => parsePrivateKeyPem(make() as string))).toBe(want);
  });

  it('RSA PKCS#1 public keys and swapped public/private PEMs', () => {
    expect(code(() => parsePublicKeyPem(rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }) as string))).toBe(
      'unsupported-key-type',
    );
    expect(code(() => parsePublicKeyPem(RFC8410_PRIVATE))).toBe('wrong-pem-label');
    expect(code(() => parsePrivateKeyPem(RFC8410_PUBLIC))).toBe('wrong-pem-label');
  });
});

describe('malformed PEM and DER', () => {
  const spki = fromBase64('MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=');
  const pkcs8 = fromBase64('MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC');
  const edit = (b: Uint8Array, f: (c: Uint8Array) => void) => {
    const c = b.slice();
    f(c);
    return c;
  };

  it.each<[string, string, string]>([
    ['no PEM at all', 'Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=', 'bad-pem'],
    ['empty text', '', 'bad-pem'],
    ['no END line', '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n', 'bad-pem'],
    ['END label differs', RFC8410_PUBLIC.replace('END PUBLIC', 'END PRIVATE'), 'bad-pem'],
    ['two blocks', RFC8410_PUBLIC + RFC8410_PUBLIC, 'bad-pem'],
    ['bad base64 body', RFC8410_PUBLIC.replace('MCow', 'MC*w'), 'bad-pem'],
    ['empty body', '-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n', 'bad-pem'],
    ['PEM header line', RFC8410_PUBLIC.replace('MCow', 'Proc-Type: 4,ENCRYPTED\n\nMCow'), 'bad-pem'],
    ['unknown label', RFC8410_PUBLIC.replace(/PUBLIC KEY/g, 'SOMETHING'), 'wrong-pem-label'],
    ['a certificate', RFC8410_PUBLIC.replace(/PUBLIC KEY/g, 'CERTIFICATE'), 'wrong-pem-label'],
    ['a label named like an Object member', RFC8410_PUBLIC.replace(/PUBLIC KEY/g, 'constructor'), 'wrong-pem-label'],
    ['trailing DER byte', pem('PUBLIC KEY', edit(new Uint8Array([...spki, 0]), (c) => (c[1] = 0x2b))), 'bad-der'],
    ['byte after the DER', pem('PUBLIC KEY', new Uint8Array([...spki, 0])), 'bad-der'],
    ['truncated key', pem('PUBLIC KEY', edit(spki.subarray(0, 43), (c) => ((c[1] = 0x29), (c[11] = 0x20)))), 'bad-der'],
    ['33-byte key', pem('PUBLIC KEY', edit(new Uint8Array([...spki, 7]), (c) => ((c[1] = 0x2b), (c[10] = 0x22)))), 'bad-der'],
    ['BIT STRING with unused bits', pem('PUBLIC KEY', edit(spki, (c) => (c[11] = 1))), 'bad-der'],
    ['wrong outer tag', pem('PUBLIC KEY', edit(spki, (c) => (c[0] = 0x31))), 'bad-der'],
    [
      'NULL parameters present',
      pem('PUBLIC KEY', fromHex('302c300706032b65700500032100' + RFC8410_PUB_HEX)),
      'bad-der',
    ],
    [
      'non-minimal DER length',
      pem('PUBLIC KEY', fromHex('30812a300506032b6570032100' + RFC8410_PUB_HEX)),
      'bad-der',
    ],
  ])('public: %s', (_what, text, want) => {
    expect(code(() => parsePublicKeyPem(text))).toBe(want);
  });

  it.each<[string, Uint8Array, string]>([
    ['version 1', edit(pkcs8, (c) => (c[4] = 1)), 'bad-der'],
    ['short seed', edit(pkcs8.subarray(0, 47), (c) => ((c[1] = 0x2d), (c[13] = 0x21), (c[15] = 0x1f))), 'bad-der'],
    ['X25519 OID', edit(pkcs8, (c) => (c[11] = 0x6e)), 'unsupported-key-type'],
    ['OID tag missing', edit(pkcs8, (c) => (c[7] = 0x04)), 'bad-der'],
  ])('private: %s', (_what, der, want) => {
    expect(code(() => parsePrivateKeyPem(pem('PRIVATE KEY', der)))).toBe(want);
  });

  it('format refuses wrong lengths', () => {
    expect(code(() => formatPublicKeyPem(new Uint8Array(33)))).toBe('bad-key-length');
    expect(code(() => formatPrivateKeyPem(new Uint8Array(64)))).toBe('bad-key-length');
  });
});
