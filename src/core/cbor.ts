// Deterministic CBOR (RFC 8949 §4.2.1) on top of cbor-x.
//
// cbor-x writes definite lengths and shortest integer heads, but it writes
// integers above 2^32 as float64 unless given a BigInt, and it keeps the
// caller's map key order. This module closes both gaps: map keys are sorted
// by the bytewise order of their encodings (for text keys: shorter first,
// then bytewise), integers of any size are written as integers, and floats
// are refused (the records we write carry none). Decoding re-encodes and
// demands the same bytes, so every accepted value has exactly one encoding.

import { Decoder, Encoder } from 'cbor-x';
import { compare, utf8 } from './bytes.js';
import { CodedError } from './errors.js';

export class CborError extends CodedError {}

export type CborValue =
  | number
  | string
  | boolean
  | null
  | Uint8Array
  | CborValue[]
  | { [key: string]: CborValue };

const encoder = new Encoder({ useRecords: false, mapsAsObjects: true, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

// Records repeat the same few map keys: keep their UTF-8 bytes (bounded).
const keyCache = new Map<string, Uint8Array>();
function keyBytes(k: string): Uint8Array {
  let e = keyCache.get(k);
  if (e === undefined) {
    e = utf8(k);
    if (keyCache.size >= 256) keyCache.clear();
    keyCache.set(k, e);
  }
  return e;
}

function prepare(v: CborValue, depth: number): unknown {
  if (depth > 32) throw new CborError('too-deep', 'CBOR value nested more than 32 levels');
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new CborError('not-an-integer', `only safe integers are encoded, got ${v}`);
    // cbor-x writes integers beyond 32 bits as float64 unless they are BigInts.
    return Math.abs(v) >= 2 ** 32 ? BigInt(v) : v;
  }
  if (typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map((x) => prepare(x, depth + 1));
  if (typeof v === 'object') {
    const keys = Object.keys(v).map((k) => ({ k, e: keyBytes(k) }));
    // §4.2.1: keys sorted by the bytewise order of their deterministic encodings.
    // A text key's encoding is its length head then its bytes, so length decides first.
    keys.sort((a, b) => a.e.length - b.e.length || compare(a.e, b.e));
    const out: Record<string, unknown> = {};
    for (const { k } of keys) {
      const x = v[k];
      if (x === undefined) continue;
      out[k] = prepare(x, depth + 1);
    }
    return out;
  }
  throw new CborError('unsupported-type', `cannot encode a value of type ${typeof v}`);
}

export function encodeCanonical(v: CborValue): Uint8Array {
  const b = encoder.encode(prepare(v, 0));
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/**
 * encodeCanonical for a value the caller has already put in the form the
 * generic path produces: every map's keys in deterministic order, every
 * integer of 2^32 or more as a BigInt, only the types CborValue allows. For
 * records of a fixed shape (the leaf), where the sort would cost more than the
 * encoding; a test holds such callers to encodeCanonical's bytes.
 */
export function encodeOrdered(v: unknown): Uint8Array {
  const b = encoder.encode(v);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

function normalise(v: unknown, depth: number): CborValue {
  if (depth > 32) throw new CborError('too-deep', 'CBOR value nested more than 32 levels');
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
      throw new CborError('not-an-integer', 'integer outside the safe range');
    return Number(v);
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new CborError('not-an-integer', 'floating-point values are not allowed');
    return v;
  }
  if (typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
  if (v instanceof Uint8Array) return new Uint8Array(v.buffer, v.byteOffset, v.length);
  if (Array.isArray(v)) return v.map((x) => normalise(x, depth + 1));
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, CborValue> = {};
    for (const k of Object.keys(v)) out[k] = normalise((v as Record<string, unknown>)[k], depth + 1);
    return out;
  }
  throw new CborError('unsupported-type', 'CBOR item of an unsupported type (tag, undefined or non-text map key)');
}

/** Decodes one CBOR item and checks that it is in deterministic form. */
export function decodeCanonical(bytes: Uint8Array): CborValue {
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (e) {
    throw new CborError('malformed', `malformed CBOR: ${(e as Error).message}`);
  }
  const v = normalise(raw, 0);
  // Equivalent to encodeCanonical(v) being `bytes` once normalise accepted v (a test
  // compares the two on mutated encodings), without encoding again.
  if (!isDeterministic(bytes)) throw new CborError('not-deterministic', 'CBOR is not in deterministic encoding (RFC 8949 §4.2.1)');
  return v;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Whether b is valid UTF-8 (ASCII without a decoder call). */
export function validUtf8(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    if (b[i]! >= 0x80) {
      try {
        strictUtf8.decode(b);
        return true;
      } catch {
        return false;
      }
    }
  }
  return true;
}

/** Bytewise order of b[x0..x1) and b[y0..y1): true when the first sorts strictly first. */
export function sortsBefore(b: Uint8Array, x0: number, x1: number, y0: number, y1: number): boolean {
  const n = Math.min(x1 - x0, y1 - y0);
  for (let i = 0; i < n; i++) if (b[x0 + i] !== b[y0 + i]) return b[x0 + i]! < b[y0 + i]!;
  return x1 - x0 < y1 - y0;
}

/**
 * One pass over the item heads: whether `b` is exactly one item in the
 * deterministic encoding encodeCanonical writes (RFC 8949 §4.2.1): every
 * argument in its shortest form, definite lengths, text map keys in strictly
 * increasing bytewise order of their encodings (so none repeated), valid UTF-8
 * text, no tag, no float, no simple value but false, true and null, at most 32
 * levels deep, nothing after the item.
 */
export function isDeterministic(b: Uint8Array): boolean {
  const n = b.length;
  let pos = 0;
  const item = (depth: number): boolean => {
    if (depth > 32) return false;
    const h = readHead(b, pos);
    if (typeof h === 'string') return false;
    const { major, arg } = h;
    pos = h.end;
    switch (major) {
      case 0:
      case 1:
        return true;
      case 2:
      case 3: {
        if (arg > n - pos) return false;
        const start = pos;
        pos += arg;
        return major === 2 || validUtf8(b.subarray(start, pos));
      }
      case 4:
        for (let i = 0; i < arg; i++) if (!item(depth + 1)) return false;
        return true;
      case 5: {
        let prev = -1;
        let prevEnd = -1;
        for (let i = 0; i < arg; i++) {
          const key = pos;
          if (key >= n || b[key]! >> 5 !== 3 || !item(depth + 1)) return false;
          if (prev >= 0 && !sortsBefore(b, prev, prevEnd, key, pos)) return false;
          prev = key;
          prevEnd = pos;
          if (!item(depth + 1)) return false;
        }
        return true;
      }
      case 6:
        return false; // a tag
      default:
        return arg >= 20 && arg <= 22; // false, true, null
    }
  };
  return item(0) && pos === n;
}

/** An item's head (RFC 8949 §3.1): its major type, its argument, and where its content starts. */
export interface CborHead {
  major: number;
  arg: number;
  end: number;
}

/**
 * Reads the head at b[pos] as deterministic encoding wants it (§4.2.1), or
 * says what is wrong: 'cut' (b ends inside it), 'indefinite' (an indefinite
 * length or a reserved head), 'float', 'not-shortest' (the argument not in the
 * fewest bytes), 'too-large' (an argument beyond 2^53).
 */
export function readHead(b: Uint8Array, pos: number): CborHead | 'cut' | 'indefinite' | 'float' | 'not-shortest' | 'too-large' {
  if (pos >= b.length) return 'cut';
  const head = b[pos]!;
  const major = head >> 5;
  const ai = head & 0x1f;
  if (ai < 24) return { major, arg: ai, end: pos + 1 };
  if (ai > 27) return 'indefinite';
  const len = 1 << (ai - 24);
  if (pos + 1 + len > b.length) return 'cut';
  if (major === 7) return 'float';
  let arg = 0;
  for (let i = 1; i <= len; i++) arg = arg * 256 + b[pos + i]!;
  if (arg < (len === 1 ? 24 : 2 ** (4 * len))) return 'not-shortest';
  if (!Number.isSafeInteger(arg)) return 'too-large';
  return { major, arg, end: pos + 1 + len };
}
