// Ed25519 keys in PEM (RFC 7468) as producers exchange them:
//   public:  "PUBLIC KEY",  SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, RFC 8410 §4)
//   private: "PRIVATE KEY", PKCS#8 OneAsymmetricKey v1 (RFC 5958, RFC 8410 §7)
// Only the one DER form RFC 8410 gives for Ed25519 is accepted (parameters
// absent, 32-byte key); other algorithms are named in the error.
//
// Pure: strings and bytes in, results out.

import { concat, equal, fromBase64, fromHex, toBase64 } from './bytes.js';

export class KeyError extends Error {
  override readonly name = 'KeyError';
  constructor(
    /** Stable machine-readable reason, e.g. 'unsupported-key-type' or 'bad-der'. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// SEQUENCE(42) { SEQUENCE(5) { OID 1.3.101.112 } BIT STRING(33) { 0 unused bits, key } }
const SPKI_PREFIX = fromHex('302a300506032b6570032100');
// SEQUENCE(46) { INTEGER 0, SEQUENCE(5) { OID 1.3.101.112 }, OCTET STRING(34) { OCTET STRING(32) seed } }
const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');
const ED25519_OID = '1.3.101.112';

/** Algorithm OIDs that producers hand us by mistake, named in the errors. */
const ALGORITHMS = new Map<string, string>([
  ['1.2.840.113549.1.1.1', 'RSA'],
  ['1.2.840.113549.1.1.10', 'RSASSA-PSS'],
  ['1.2.840.10045.2.1', 'EC (ECDSA)'],
  ['1.2.840.10040.4.1', 'DSA'],
  ['1.3.101.110', 'X25519'],
  ['1.3.101.111', 'X448'],
  ['1.3.101.113', 'Ed448'],
]);

/** PEM labels of other key formats: the code and what to tell the user. */
const OTHER_LABELS = new Map<string, [code: string, what: string]>([
  ['RSA PUBLIC KEY', ['unsupported-key-type', 'an RSA public key (PKCS#1)']],
  ['RSA PRIVATE KEY', ['unsupported-key-type', 'an RSA private key (PKCS#1)']],
  ['EC PRIVATE KEY', ['unsupported-key-type', 'an EC private key (SEC 1)']],
  ['DSA PRIVATE KEY', ['unsupported-key-type', 'a DSA private key']],
  ['OPENSSH PRIVATE KEY', ['unsupported-key-type', 'an OpenSSH private key (convert it to PKCS#8 PEM)']],
  ['ENCRYPTED PRIVATE KEY', ['encrypted-key', 'an encrypted PKCS#8 private key (decrypt it first)']],
  ['CERTIFICATE', ['wrong-pem-label', 'a certificate, not a key']],
]);

export function parsePublicKeyPem(pem: string): Uint8Array {
  const der = readPem(pem, 'PUBLIC KEY');
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  const spki = readOuterSequence(der);
  const alg = readTlv(der, spki.start, spki.end, 0x30, 'AlgorithmIdentifier');
  checkAlgorithm(der, alg);
  if (der.length !== SPKI_PREFIX.length + 32 || !equal(der.subarray(0, SPKI_PREFIX.length), SPKI_PREFIX)) {
    throw new KeyError('bad-der', 'not the RFC 8410 Ed25519 SubjectPublicKeyInfo (parameters absent, 32-byte key)');
  }
  return der.slice(SPKI_PREFIX.length);
}

export function formatPublicKeyPem(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) {
    throw new KeyError('bad-key-length', `an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  }
  return writePem('PUBLIC KEY', concat(SPKI_PREFIX, publicKey));
}

/** Returns the 32-byte Ed25519 seed (RFC 8032 private key). */
export function parsePrivateKeyPem(pem: string): Uint8Array {
  const der = readPem(pem, 'PRIVATE KEY');
  // OneAsymmetricKey ::= SEQUENCE { version INTEGER, privateKeyAlgorithm AlgorithmIdentifier, privateKey OCTET STRING, ... }
  const p8 = readOuterSequence(der);
  const version = readTlv(der, p8.start, p8.end, 0x02, 'version');
  const alg = readTlv(der, version.end, p8.end, 0x30, 'AlgorithmIdentifier');
  checkAlgorithm(der, alg);
  if (der.length !== PKCS8_PREFIX.length + 32 || !equal(der.subarray(0, PKCS8_PREFIX.length), PKCS8_PREFIX)) {
    throw new KeyError(
      'bad-der',
      'not the RFC 8410 Ed25519 PKCS#8 key (version 0, parameters absent, 32-byte seed, no attributes or public key)',
    );
  }
  return der.slice(PKCS8_PREFIX.length);
}

export function formatPrivateKeyPem(seed: Uint8Array): string {
  if (seed.length !== 32) {
    throw new KeyError('bad-key-length', `an Ed25519 private key is a 32-byte seed, got ${seed.length}`);
  }
  return writePem('PRIVATE KEY', concat(PKCS8_PREFIX, seed));
}

function writePem(label: string, der: Uint8Array): string {
  const b64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * Exactly one PEM block (RFC 7468 §2) with the wanted label; text around the
 * block is ignored as RFC 7468 §5.2 allows; CRLF line ends are accepted; the
 * body is strict padded standard base64 split over lines.
 */
function readPem(pem: string, want: string): Uint8Array {
  const lines = pem.split(/\r?\n/).map((l) => l.replace(/[ \t]+$/, ''));
  const begins = lines.flatMap((l, i) => (l.startsWith('-----BEGIN ') ? [i] : []));
  if (begins.length === 0) throw new KeyError('bad-pem', 'no "-----BEGIN ...-----" line: not a PEM file');
  if (begins.length > 1) throw new KeyError('bad-pem', `${begins.length} PEM blocks, expected exactly one`);
  const b = begins[0]!;
  const m = /^-----BEGIN ([\x20-\x7e]*?)-----$/.exec(lines[b]!);
  if (!m) throw new KeyError('bad-pem', `malformed PEM begin line: ${JSON.stringify(lines[b])}`);
  const label = m[1]!;
  const e = lines.indexOf(`-----END ${label}-----`, b + 1);
  if (e < 0) throw new KeyError('bad-pem', `no "-----END ${label}-----" line`);
  if (label !== want) {
    const other = OTHER_LABELS.get(label);
    if (other) throw new KeyError(other[0], `expected a PEM "${want}", got ${other[1]}`);
    throw new KeyError('wrong-pem-label', `expected a PEM "${want}", got "${label}"`);
  }
  const body = lines.slice(b + 1, e).map((l) => l.trim());
  if (body.some((l) => l.includes(':'))) {
    throw new KeyError('bad-pem', 'PEM headers (RFC 1421 "Proc-Type:" etc.) are not supported');
  }
  try {
    const der = fromBase64(body.join(''));
    if (der.length === 0) throw new Error('empty');
    return der;
  } catch (err) {
    throw new KeyError('bad-pem', `the PEM body is not valid base64 (${(err as Error).message})`);
  }
}

interface Tlv {
  start: number; // first content byte
  end: number; // one past the last content byte
}

/** One DER TLV with the expected tag at `at`, inside [at, limit); definite, minimal length. */
function readTlv(der: Uint8Array, at: number, limit: number, tag: number, what: string): Tlv {
  if (at + 2 > limit || der[at] !== tag) throw new KeyError('bad-der', `DER: expected ${what}`);
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || start + n > limit) throw new KeyError('bad-der', `DER: bad length of ${what}`);
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | der[start + i]!;
    // DER (X.690 §10.1): the shortest length form only.
    if (len < 0x80 || der[start] === 0) throw new KeyError('bad-der', `DER: non-minimal length of ${what}`);
    start += n;
  }
  if (start + len > limit) throw new KeyError('bad-der', `DER: ${what} runs past its container`);
  return { start, end: start + len };
}

function readOuterSequence(der: Uint8Array): Tlv {
  const seq = readTlv(der, 0, der.length, 0x30, 'SEQUENCE');
  if (seq.end !== der.length) throw new KeyError('bad-der', 'DER: trailing bytes after the key');
  return seq;
}

/** Refuses anything but Ed25519, naming the algorithm found. */
function checkAlgorithm(der: Uint8Array, alg: Tlv): void {
  const oid = readTlv(der, alg.start, alg.end, 0x06, 'algorithm OID');
  const dotted = oidToString(der.subarray(oid.start, oid.end));
  if (dotted !== ED25519_OID) {
    const name = ALGORITHMS.get(dotted) ?? 'unknown';
    throw new KeyError('unsupported-key-type', `${name} key (OID ${dotted}); only Ed25519 (OID ${ED25519_OID}) is accepted`);
  }
}

function oidToString(b: Uint8Array): string {
  if (b.length === 0) throw new KeyError('bad-der', 'DER: empty OID');
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i]! & 0x7f);
    if (!(b[i]! & 0x80)) {
      arcs.push(v);
      v = 0;
    } else if (i === b.length - 1 || v > 2 ** 40) {
      throw new KeyError('bad-der', 'DER: malformed OID');
    }
  }
  const first = arcs[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join('.');
}
