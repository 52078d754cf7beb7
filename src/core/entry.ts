// Entry kinds, payload schemas and the leaf record.
//
// A leaf is the deterministic CBOR map
//   { "v": 1, "kind": <text>, "time": <uint ms since the epoch, when the log accepted it>,
//     "envelope": { "payloadType": <text>, "payload": <bytes>, "signatures": [ { "keyid": <text>, "sig": <bytes> } ] } }
// The envelope is the producer's DSSE envelope, byte for byte in its decoded form, so its
// signatures verify from the leaf alone. Producer registrations and revocations are leaves
// of their own kinds whose envelope the log signs with its own key.

import { fromUtf8, utf8 } from './bytes.js';
import { CborError, decodeCanonical, encodeCanonical, encodeOrdered, type CborValue } from './cbor.js';
import { sha256 } from './crypto.js';

export const MAX_ENTRY_SIZE = 65_535;
export const LEAF_VERSION = 1;

export type ProducerKind = 'evidence' | 'trust-score' | 'in-toto';
export type EntryKind = ProducerKind | 'producer';

// No prototype: a payloadType such as "constructor" must find nothing here.
export const PAYLOAD_TYPES: Readonly<Record<string, EntryKind>> = Object.assign(Object.create(null) as Record<string, EntryKind>, {
  'application/vnd.ledger.evidence.v1+json': 'evidence',
  'application/vnd.ledger.trust-score.v1+json': 'trust-score',
  'application/vnd.in-toto+json': 'in-toto',
  'application/vnd.ledger.producer.v1+json': 'producer',
});

export const PRODUCER_KINDS: readonly ProducerKind[] = ['evidence', 'trust-score', 'in-toto'];

export function payloadTypeOf(kind: EntryKind): string {
  for (const [t, k] of Object.entries(PAYLOAD_TYPES)) if (k === kind) return t;
  throw new Error(`unknown kind ${kind}`);
}

export class EntryError extends Error {
  readonly code: string;
  readonly field?: string;
  constructor(code: string, message: string, field?: string) {
    super(message);
    this.name = 'EntryError';
    this.code = code;
    if (field !== undefined) this.field = field;
  }
}

export interface EnvelopeRecord {
  payloadType: string;
  payload: Uint8Array;
  signatures: { keyid: string; sig: Uint8Array }[];
}

export interface LeafRecord {
  kind: EntryKind;
  /** Milliseconds since the Unix epoch at which the log accepted the entry. */
  time: number;
  envelope: EnvelopeRecord;
}

function envelopeValue(e: EnvelopeRecord): CborValue {
  return {
    payloadType: e.payloadType,
    payload: e.payload,
    signatures: e.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })),
  };
}

/**
 * The leaf's bytes: encodeCanonical of { v, kind, time, envelope }. The record
 * has a fixed shape, so its maps are built here already in deterministic key
 * order (shorter keys first, then bytewise: v, kind, time, envelope; payload,
 * signatures, payloadType; sig, keyid) and handed to the encoder without the
 * generic sort. A test holds the two to the same bytes.
 */
export function encodeLeaf(r: LeafRecord): Uint8Array {
  const e = r.envelope;
  const shaped =
    typeof r.kind === 'string' &&
    Number.isSafeInteger(r.time) &&
    typeof e.payloadType === 'string' &&
    e.payload instanceof Uint8Array &&
    Array.isArray(e.signatures) &&
    e.signatures.every((s) => typeof s.keyid === 'string' && s.sig instanceof Uint8Array);
  // Anything else (only an untyped caller can pass it) takes the generic path, with its refusals.
  if (!shaped) return encodeCanonical({ v: LEAF_VERSION, kind: r.kind, time: r.time, envelope: envelopeValue(e) });
  const time = Math.abs(r.time) >= 2 ** 32 ? BigInt(r.time) : r.time; // cbor-x writes a larger Number as a float
  const signatures = e.signatures.map((s) => ({ sig: s.sig, keyid: s.keyid }));
  return encodeOrdered({ v: LEAF_VERSION, kind: r.kind, time, envelope: { payload: e.payload, signatures, payloadType: e.payloadType } });
}

/** The identity used for deduplication: same payload type, payload and signatures. */
export function envelopeDigest(e: EnvelopeRecord): Uint8Array {
  return sha256(encodeCanonical(envelopeValue(e)));
}

function isMap(v: CborValue | undefined): v is { [k: string]: CborValue } {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
}

const ENTRY_KINDS = new Set<EntryKind>(Object.values(PAYLOAD_TYPES));
const LEAF_KEYS = ['v', 'kind', 'time', 'envelope'];
const ENVELOPE_KEYS = ['payload', 'signatures', 'payloadType'];
const SIGNATURE_KEYS = ['sig', 'keyid'];

/** Whether map m has exactly the keys `keys` (a map's keys are distinct). */
function hasKeys(m: { [k: string]: CborValue }, keys: readonly string[]): boolean {
  const own = Object.keys(m);
  return own.length === keys.length && own.every((k) => keys.includes(k));
}

// The first bytes encodeLeaf writes: a map of 4, key "v", the version (one byte),
// key "kind"; the kind's text string follows.
const LEAF_PREFIX = Uint8Array.of(0xa4, 0x61, 0x76, LEAF_VERSION, 0x64, 0x6b, 0x69, 0x6e, 0x64);

/**
 * The kind a leaf names, read from its first bytes without decoding it, or
 * undefined when they are not laid out as encodeLeaf lays them out. A leaf it
 * names as kind K either decodes to kind K or does not decode at all (the map is
 * deterministic, so "kind" is its second key and cannot occur twice): a scan for
 * one kind need only decode the leaves it names as that kind, or as none.
 */
export function peekLeafKind(leaf: Uint8Array): string | undefined {
  const n = LEAF_PREFIX.length;
  if (leaf.length <= n) return undefined;
  for (let i = 0; i < n; i++) if (leaf[i] !== LEAF_PREFIX[i]) return undefined;
  const head = leaf[n]!;
  const len = head - 0x60; // a text string shorter than 24 bytes: its length is in the head
  if (len < 0 || len >= 24 || leaf.length < n + 1 + len) return undefined;
  let kind = '';
  for (let i = n + 1; i < n + 1 + len; i++) kind += String.fromCharCode(leaf[i]!);
  return kind;
}

/** Strict decoding of a leaf: deterministic CBOR, exactly the fields above, a known kind. */
export function decodeLeaf(leaf: Uint8Array): LeafRecord {
  if (leaf.length > MAX_ENTRY_SIZE) throw new EntryError('entry-too-large', `leaf is ${leaf.length} bytes, over ${MAX_ENTRY_SIZE}`);
  let v: CborValue;
  try {
    v = decodeCanonical(leaf);
  } catch (e) {
    throw new EntryError('bad-leaf-encoding', (e as CborError).message);
  }
  const bad = (m: string) => new EntryError('bad-leaf', `leaf record: ${m}`);
  if (!isMap(v)) throw bad('not a map');
  if (!hasKeys(v, LEAF_KEYS)) throw bad(`unexpected fields ${Object.keys(v).sort().join(',')}`);
  if (v.v !== LEAF_VERSION) throw bad(`unsupported version ${String(v.v)}`);
  const kind = v.kind;
  if (typeof kind !== 'string' || !ENTRY_KINDS.has(kind as EntryKind)) throw bad(`unknown kind ${String(kind)}`);
  if (typeof v.time !== 'number' || v.time < 0) throw bad('time is not a non-negative integer');
  const env = v.envelope;
  if (!isMap(env) || !hasKeys(env, ENVELOPE_KEYS)) throw bad('malformed envelope');
  if (typeof env.payloadType !== 'string' || !(env.payload instanceof Uint8Array) || !Array.isArray(env.signatures))
    throw bad('malformed envelope fields');
  const signatures = env.signatures.map((s) => {
    if (!isMap(s) || !hasKeys(s, SIGNATURE_KEYS) || typeof s.keyid !== 'string' || !(s.sig instanceof Uint8Array))
      throw bad('malformed signature');
    return { keyid: s.keyid, sig: s.sig };
  });
  if (PAYLOAD_TYPES[env.payloadType] !== kind) throw bad(`payload type ${env.payloadType} does not match kind ${kind}`);
  return { kind: kind as EntryKind, time: v.time, envelope: { payloadType: env.payloadType, payload: env.payload, signatures } };
}

// ---------------------------------------------------------------------------
// Payload schemas. Unknown fields are allowed and kept (the payload is stored as
// the producer's exact bytes); the known ones are checked for type and range.

export interface SchemaOptions {
  /** Current time in ms; the payload's `ts` must lie within the window around it. */
  now?: number;
  /** How far in the future `ts` may be (clock skew), seconds. Default 300. */
  maxFutureSeconds?: number;
  /** How far in the past `ts` may be, seconds. Default 86,400. Infinity disables. */
  maxAgeSeconds?: number;
}

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/;

/** Days in month mo (1-12) of year y, proleptic Gregorian. */
function daysIn(y: number, mo: number): number {
  if (mo === 2) return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
  return mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
}

/** Parses an RFC 3339 timestamp in UTC ("Z"); returns ms since the epoch. Years before 0100 are refused. */
export function parseRfc3339Utc(s: string): number {
  const m = RFC3339_UTC.exec(s);
  if (!m) throw new Error('not an RFC 3339 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.frac]Z)');
  const y = +m[1]!;
  const mo = +m[2]!;
  const d = +m[3]!;
  const h = +m[4]!;
  const mi = +m[5]!;
  const se = +m[6]!;
  // (Date.UTC reads years 0-99 as 1900-1999: those are refused, not moved.)
  if (y < 100 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || se > 59) throw new Error('not a valid calendar date and time');
  return Date.UTC(y, mo - 1, d, h, mi, se) + (m[7] ? Math.floor(Number(m[7]) * 1000) : 0);
}

type Obj = Record<string, unknown>;
const fail = (field: string, message: string) => new EntryError('schema', `${field}: ${message}`, field);

function obj(v: unknown, field: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(field, 'must be an object');
  return v as Obj;
}
function str(o: Obj, key: string, path: string, required: boolean, max = 4096): void {
  const v = o[key];
  if (v === undefined && !required) return;
  if (typeof v !== 'string' || v.length === 0) throw fail(path + key, 'must be a non-empty string');
  if (v.length > max) throw fail(path + key, `longer than ${max} characters`);
}
function unit(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1) throw fail(field, 'must be a number from 0 to 1');
}
function timestamp(o: Obj, key: string, path: string, opts: SchemaOptions): void {
  const v = o[key];
  if (typeof v !== 'string') throw fail(path + key, 'must be an RFC 3339 UTC timestamp string');
  let t: number;
  try {
    t = parseRfc3339Utc(v);
  } catch (e) {
    throw fail(path + key, (e as Error).message);
  }
  if (opts.now === undefined) return;
  const future = (opts.maxFutureSeconds ?? 300) * 1000;
  const age = (opts.maxAgeSeconds ?? 86_400) * 1000;
  if (t > opts.now + future) throw new EntryError('timestamp-out-of-window', `${path + key}: ${v} is more than ${future / 1000} s in the future`, path + key);
  if (t < opts.now - age) throw new EntryError('timestamp-out-of-window', `${path + key}: ${v} is more than ${age / 1000} s in the past`, path + key);
}

function checkEvidence(p: Obj, opts: SchemaOptions): void {
  timestamp(p, 'ts', '', opts);
  for (const k of ['actor', 'action', 'artifact', 'policy', 'target', 'mode', 'trace', 'result']) str(p, k, '', true);
  str(p, 'reason', '', false, 16_384);
  if (p.change !== undefined) {
    const c = obj(p.change, 'change');
    for (const k of ['repo', 'commit', 'run', 'artifactDigest']) str(c, k, 'change.', false);
    if (c.pr !== undefined && !(typeof c.pr === 'string' && c.pr.length > 0) && !(Number.isSafeInteger(c.pr) && (c.pr as number) > 0))
      throw fail('change.pr', 'must be a positive integer or a non-empty string');
  }
  if (p.control !== undefined) {
    const c = obj(p.control, 'control');
    for (const k of ['id', 'decision', 'policyDigest', 'approver', 'ticket']) str(c, k, 'control.', false);
    if (c.exception !== undefined && typeof c.exception !== 'boolean' && !(typeof c.exception === 'string' && c.exception.length > 0) && (typeof c.exception !== 'object' || c.exception === null))
      throw fail('control.exception', 'must be a boolean, a non-empty string or an object');
  }
  if (p.execution !== undefined) {
    const e = obj(p.execution, 'execution');
    for (const k of ['principal', 'environment']) str(e, k, 'execution.', false);
    if (e.tools !== undefined) {
      if (!Array.isArray(e.tools)) throw fail('execution.tools', 'must be an array');
      e.tools.forEach((t, i) => {
        if (typeof t === 'string' && t.length > 0) return;
        const o = obj(t, `execution.tools[${i}]`);
        str(o, 'name', `execution.tools[${i}].`, true);
        str(o, 'version', `execution.tools[${i}].`, false);
      });
    }
  }
}

function checkTrustScore(p: Obj, opts: SchemaOptions): void {
  str(p, 'subject', '', true);
  timestamp(p, 'ts', '', opts);
  unit(p.score, 'score');
  const comps = obj(p.components, 'components');
  for (const [name, v] of Object.entries(comps)) unit(v, `components.${name}`);
  str(p, 'model', '', true);
  str(p, 'policy', '', true);
  if (!Number.isSafeInteger(p.ttlSeconds) || (p.ttlSeconds as number) <= 0) throw fail('ttlSeconds', 'must be a positive integer');
  if (p.evidence !== undefined) {
    if (!Array.isArray(p.evidence)) throw fail('evidence', 'must be an array of strings');
    p.evidence.forEach((x, i) => {
      if (typeof x !== 'string' || x.length === 0) throw fail(`evidence[${i}]`, 'must be a non-empty string');
    });
  }
}

function checkInToto(p: Obj): void {
  if (p._type !== 'https://in-toto.io/Statement/v1') throw fail('_type', 'must be "https://in-toto.io/Statement/v1"');
  if (!Array.isArray(p.subject) || p.subject.length === 0) throw fail('subject', 'must be a non-empty array');
  p.subject.forEach((s, i) => {
    const o = obj(s, `subject[${i}]`);
    if (o.name !== undefined && typeof o.name !== 'string') throw fail(`subject[${i}].name`, 'must be a string');
    const d = obj(o.digest, `subject[${i}].digest`);
    if (Object.keys(d).length === 0) throw fail(`subject[${i}].digest`, 'must name at least one digest');
    for (const [alg, h] of Object.entries(d)) if (typeof h !== 'string' || !/^[0-9a-fA-F]+$/.test(h)) throw fail(`subject[${i}].digest.${alg}`, 'must be a hex string');
  });
  str(p, 'predicateType', '', true);
  if (p.predicate !== undefined) obj(p.predicate, 'predicate');
}

export interface ProducerAction {
  action: 'add' | 'revoke';
  name: string;
  /** lowercase hex SHA-256 of the raw public key (the DSSE keyid). */
  keyid: string;
  /** base64 of the raw 32-byte Ed25519 public key. */
  publicKey: string;
  types: ProducerKind[];
  ts: string;
}

function checkProducer(p: Obj): void {
  if (p.action !== 'add' && p.action !== 'revoke') throw fail('action', 'must be "add" or "revoke"');
  str(p, 'name', '', true, 256);
  if (typeof p.keyid !== 'string' || !/^[0-9a-f]{64}$/.test(p.keyid)) throw fail('keyid', 'must be 64 lowercase hex characters');
  if (typeof p.publicKey !== 'string' || !/^[A-Za-z0-9+/]{43}=$/.test(p.publicKey)) throw fail('publicKey', 'must be base64 of 32 bytes');
  if (!Array.isArray(p.types) || p.types.some((t) => !PRODUCER_KINDS.includes(t as ProducerKind))) throw fail('types', `must be a list of ${PRODUCER_KINDS.join(', ')}`);
  timestamp(p, 'ts', '', {});
}

/**
 * Parses a payload (UTF-8 JSON) and checks it against the schema of its kind.
 * Returns the parsed JSON value.
 */
export function validatePayload(kind: EntryKind, payload: Uint8Array, opts: SchemaOptions = {}): Obj {
  let text: string;
  try {
    text = fromUtf8(payload);
  } catch {
    throw new EntryError('payload-not-utf8', 'payload is not valid UTF-8');
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new EntryError('payload-not-json', `payload is not JSON: ${(e as Error).message}`);
  }
  const p = obj(v, 'payload');
  switch (kind) {
    case 'evidence':
      checkEvidence(p, opts);
      break;
    case 'trust-score':
      checkTrustScore(p, opts);
      break;
    case 'in-toto':
      checkInToto(p);
      break;
    case 'producer':
      checkProducer(p);
      break;
  }
  return p;
}

export function producerPayload(a: ProducerAction): Uint8Array {
  return utf8(JSON.stringify({ action: a.action, name: a.name, keyid: a.keyid, publicKey: a.publicKey, types: a.types, ts: a.ts }));
}
