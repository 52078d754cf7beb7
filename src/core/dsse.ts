// DSSE v1, the Dead Simple Signing Envelope (secure-systems-lab/dsse):
// protocol.md (PAE, signing, (t, n) multi-signature verification) and
// envelope.md (the JSON envelope and its parsing rules), with Ed25519 keys.
//
// Pure: bytes and strings in, results out.

import { concat, fromBase64, fromUtf8, toBase64, toHex, utf8 } from './bytes.js';
import { ed25519PublicKey, ed25519Sign, ed25519Verify, sha256 } from './crypto.js';
import { KeyError } from './pem.js';

export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
  constructor(
    /** Stable machine-readable reason, e.g. 'bad-base64' or 'no-valid-signature'. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface EnvelopeSignature {
  /** Unauthenticated hint; '' when the producer left it out (envelope.md: unset equals empty). */
  keyid: string;
  sig: Uint8Array;
}

export interface Envelope {
  payloadType: string;
  payload: Uint8Array;
  signatures: EnvelopeSignature[];
}

export interface EnvelopeJSON {
  payloadType: string;
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

/**
 * PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
 * (protocol.md, "Signature Definition"); LEN is the decimal byte length with no
 * leading zeros and the type is UTF-8 encoded.
 */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const head = paeHead(payloadType);
  const len = String(payload.length); // ASCII digits
  const out = new Uint8Array(head.length + len.length + 2 + payload.length);
  out.set(head);
  let o = head.length;
  out[o++] = 0x20;
  for (let i = 0; i < len.length; i++) out[o++] = len.charCodeAt(i);
  out[o++] = 0x20;
  out.set(payload, o);
  return out;
}

// "DSSEv1 LEN(type) type" of the few payload types in use (bounded), built once each.
const paeHeads = new Map<string, Uint8Array>();
function paeHead(payloadType: string): Uint8Array {
  let h = paeHeads.get(payloadType);
  if (h === undefined) {
    assertWellFormed(payloadType, 'payloadType');
    const type = utf8(payloadType);
    h = concat(utf8(`DSSEv1 ${type.length} `), type);
    if (paeHeads.size >= 64) paeHeads.clear();
    paeHeads.set(payloadType, h);
  }
  return h;
}

/**
 * Parses a JSON envelope (envelope.md, "Parsing rules"): `payload`,
 * `payloadType`, `signatures` and each `sig` are required (they may be empty),
 * `keyid` is optional (unset is the same as ''), unknown fields are ignored.
 * Base64 fields accept the standard or the URL-safe alphabet (protocol.md: verifiers
 * MUST accept either), one alphabet per field, with RFC 4648 padding.
 *
 * Accepts the JSON text, its UTF-8 bytes, or an already parsed value.
 */
export function parseEnvelope(json: string | Uint8Array | unknown): Envelope {
  let value: unknown = json;
  if (json instanceof Uint8Array) {
    try {
      value = fromUtf8(json);
    } catch {
      throw new EnvelopeError('malformed-json', 'envelope is not valid UTF-8');
    }
  }
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (e) {
      throw new EnvelopeError('malformed-json', `envelope is not valid JSON: ${(e as Error).message}`);
    }
  }
  const obj = asObject(value, 'envelope');
  const payloadType = requiredString(obj, 'payloadType', 'envelope');
  const payload = decodeBase64Field(requiredString(obj, 'payload', 'envelope', false), 'payload');
  if (!Object.hasOwn(obj, 'signatures')) throw new EnvelopeError('missing-field', 'envelope has no "signatures" field');
  const list = obj['signatures'];
  if (!Array.isArray(list)) throw new EnvelopeError('wrong-type', '"signatures" must be an array');
  const signatures = list.map((item: unknown, i: number): EnvelopeSignature => {
    const where = `signatures[${i}]`;
    const s = asObject(item, where);
    const sig = decodeBase64Field(requiredString(s, 'sig', where, false), `${where}.sig`);
    let keyid = '';
    if (Object.hasOwn(s, 'keyid')) {
      const k = s['keyid'];
      if (typeof k !== 'string') throw new EnvelopeError('wrong-type', `${where}.keyid must be a string`);
      assertWellFormed(k, `${where}.keyid`);
      keyid = k;
    }
    return { keyid, sig };
  });
  return { payloadType, payload, signatures };
}

/** The JSON envelope with standard padded base64 (keyid always present, '' when unset). */
export function envelopeToJSON(e: Envelope): EnvelopeJSON {
  return {
    payloadType: e.payloadType,
    payload: toBase64(e.payload),
    signatures: e.signatures.map((s) => ({ keyid: s.keyid, sig: toBase64(s.sig) })),
  };
}

/** The ledger's DSSE keyid: lowercase hex SHA-256 of the raw 32-byte Ed25519 public key. */
export function keyIdOf(publicKey: Uint8Array): string {
  if (publicKey.length !== 32) {
    throw new KeyError('bad-key-length', `an Ed25519 public key is 32 bytes, got ${publicKey.length}`);
  }
  return toHex(sha256(publicKey));
}

/** Signs PAE(payloadType, payload) with Ed25519 (protocol.md, "To sign"). */
export function signEnvelope(payloadType: string, payload: Uint8Array, seed: Uint8Array): Envelope {
  if (seed.length !== 32) {
    throw new KeyError('bad-key-length', `an Ed25519 private key is a 32-byte seed, got ${seed.length}`);
  }
  const sig = ed25519Sign(seed, pae(payloadType, payload));
  return { payloadType, payload: payload.slice(), signatures: [{ keyid: keyIdOf(ed25519PublicKey(seed)), sig }] };
}

export interface TrustedKey {
  /** Any name the caller uses for the key; returned when the key is accepted. */
  id: string;
  publicKey: Uint8Array;
}

/**
 * (t, n) verification (protocol.md, "Multi-signature Verification"): the
 * envelope is valid when its signatures verify under at least `threshold`
 * distinct trusted public keys. keyid only orders the search (a trusted key
 * whose keyIdOf() or id equals it is tried first); the signature decides.
 * A public key counts once, however many signatures or trusted entries it has.
 *
 * Returns the ids of the accepted keys, in the order they were accepted.
 * Checking payloadType against the supported types is the caller's step.
 */
export function verifyEnvelope(e: Envelope, trusted: readonly TrustedKey[], threshold = 1): string[] {
  if (!Number.isSafeInteger(threshold) || threshold < 1) {
    throw new EnvelopeError('bad-threshold', `threshold must be a positive integer, got ${threshold}`);
  }
  // One candidate per distinct public key (the first trusted entry names it).
  const keys: { id: string; publicKey: Uint8Array; keyid: string }[] = [];
  for (const t of trusted) {
    const keyid = keyIdOf(t.publicKey);
    if (!keys.some((k) => k.keyid === keyid)) keys.push({ id: t.id, publicKey: t.publicKey, keyid });
  }
  if (keys.length === 0) throw new EnvelopeError('no-trusted-keys', 'no trusted keys to verify the envelope with');
  if (e.signatures.length === 0) throw new EnvelopeError('no-signatures', 'the envelope carries no signatures');

  const msg = pae(e.payloadType, e.payload);
  const accepted = new Set<string>(); // keyIdOf of accepted keys
  const ids: string[] = [];
  for (const s of e.signatures) {
    if (accepted.size >= threshold) break;
    const open = keys.filter((k) => !accepted.has(k.keyid));
    const hinted = open.filter((k) => s.keyid !== '' && (k.keyid === s.keyid || k.id === s.keyid));
    const order = [...hinted, ...open.filter((k) => !hinted.includes(k))];
    const match = order.find((k) => ed25519Verify(k.publicKey, msg, s.sig));
    if (match) {
      accepted.add(match.keyid);
      ids.push(match.id);
    }
  }
  if (accepted.size === 0) {
    throw new EnvelopeError(
      'no-valid-signature',
      `none of the ${e.signatures.length} signature(s) verifies under a trusted key`,
    );
  }
  if (accepted.size < threshold) {
    throw new EnvelopeError(
      'threshold-not-met',
      `${accepted.size} distinct trusted key(s) signed (${ids.join(', ')}), ${threshold} required`,
    );
  }
  return ids;
}

function asObject(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new EnvelopeError('wrong-type', `${where} must be a JSON object`);
  }
  return v as Record<string, unknown>;
}

/** A string field; `wellFormed` false leaves the surrogate check to the caller (decodeBase64Field makes it only on a failure). */
function requiredString(obj: Record<string, unknown>, field: string, where: string, wellFormed = true): string {
  if (!Object.hasOwn(obj, field)) throw new EnvelopeError('missing-field', `${where} has no "${field}" field`);
  const v = obj[field];
  if (typeof v !== 'string') throw new EnvelopeError('wrong-type', `${where}.${field} must be a string`);
  if (wellFormed) assertWellFormed(v, `${where}.${field}`);
  return v;
}

/**
 * Either the standard (RFC 4648 §4) or the URL-safe (§5) alphabet, not both in
 * one value; padding as RFC 4648 §3.2 requires (DSSE does not waive it); no
 * whitespace; non-zero trailing bits refused, so each byte string has one form
 * per alphabet.
 */
function decodeBase64Field(s: string, where: string): Uint8Array {
  // Nearly every field is standard base64: decoded in one pass. Only when that
  // fails are the alphabets and the string looked at (the same answers, found
  // the long way: a string standard base64 accepts has no '-', '_' or non-ASCII).
  try {
    return fromBase64(s);
  } catch {
    /* below */
  }
  assertWellFormed(s, where);
  const std = /[+/]/.test(s);
  const url = /[-_]/.test(s);
  if (std && url) throw new EnvelopeError('bad-base64', `${where} mixes the standard and URL-safe base64 alphabets`);
  try {
    return fromBase64(s, { urlSafe: url });
  } catch (e) {
    throw new EnvelopeError('bad-base64', `${where} is not valid base64 (${(e as Error).message})`);
  }
}

/**
 * A JS string with a lone surrogate has no UTF-8 form (TextEncoder would turn it
 * into U+FFFD and sign other bytes than the ones shown), so such strings are refused.
 */
function assertWellFormed(s: string, where: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
      throw new EnvelopeError('bad-string', `${where} contains a lone UTF-16 surrogate`);
    }
    if (c >= 0xdc00 && c <= 0xdfff) throw new EnvelopeError('bad-string', `${where} contains a lone UTF-16 surrogate`);
  }
}
