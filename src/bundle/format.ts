// The export bundle: one deterministic CBOR (RFC 8949 §4.2.1) map that carries
// everything an auditor needs to check a selection of log entries offline
// (spec/bundle.md):
//
//   { "format": "ledger-bundle/v1", "origin", "checkpoint", ["earlier"],
//     "tiles", "entries", "producers", "anchors", "manifest" }
//
// Inclusion is proven by hash tiles (C2SP tlog-tiles) rather than one proof per
// entry: the verifier binds every tile to the signed root and reads each leaf
// hash out of its level-0 tile, so thousands of entries share their siblings.
//
// Pure: bytes in, values out. Decoding is strict: every field is typed, nothing
// unknown is accepted, and the file must be in deterministic form, so each
// bundle has exactly one encoding.

import { Decoder } from 'cbor-x';
import { encodeCanonical, readHead, sortsBefore, validUtf8, type CborValue } from '../core/cbor.js';
import { sha256 } from '../core/crypto.js';

export const BUNDLE_FORMAT = 'ledger-bundle/v1';

/** How inclusion is proven: hash tiles bound to the signed root. */
export const PROOF_METHOD = 'tiles';

/** A failure to read a bundle's structure; `code` is stable (spec/bundle.md). */
export class BundleFormatError extends Error {
  override readonly name = 'BundleFormatError';
  constructor(
    /** 'truncated-bundle' | 'malformed-bundle' | 'unsupported-format' */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** One log entry: its index and its exact leaf bytes. */
export interface BundleEntry {
  index: number;
  leaf: Uint8Array;
}

/** A tlog-tiles hash tile of the checkpoint's tree; its width is data.length / 32. */
export interface BundleTile {
  level: number;
  index: number;
  data: Uint8Array;
}

/** An S3 Object Lock receipt (JSON text, as the log stored it) for the checkpoint of `size`. */
export interface BundleAnchor {
  size: number;
  receipt: string;
}

/** An earlier checkpoint and the RFC 9162 consistency proof from it to the bundle's checkpoint. */
export interface BundleEarlier {
  checkpoint: string;
  proof: Uint8Array[];
}

/** What the exporter was asked for (indices inclusive, times ms since the epoch, inclusive). */
export interface Selection {
  from?: number;
  to?: number;
  fromTime?: number;
  toTime?: number;
  /** Producer names or DSSE keyids. */
  producers?: string[];
  /** Entry kinds. */
  types?: string[];
  /** Trust-score `subject`, evidence `artifact` or in-toto subject names. */
  subjects?: string[];
}

export interface ManifestCounts {
  entries: number;
  producers: number;
  tiles: number;
  anchors: number;
}

/**
 * SHA-256 of the deterministic CBOR encoding of each top-level field's value,
 * which is exactly that field's bytes in the file; `earlier` only when present.
 */
export interface ManifestDigests {
  checkpoint: Uint8Array;
  earlier?: Uint8Array;
  tiles: Uint8Array;
  entries: Uint8Array;
  producers: Uint8Array;
  anchors: Uint8Array;
}

/** The fields the manifest's digests cover, in report order. */
export const DIGESTED_FIELDS = ['checkpoint', 'earlier', 'tiles', 'entries', 'producers', 'anchors'] as const;

export interface Manifest {
  treeSize: number;
  proofs: string;
  selection: Selection;
  counts: ManifestCounts;
  digests: ManifestDigests;
}

export interface Bundle {
  origin: string;
  /** The signed checkpoint note (log signature and witness cosignatures). */
  checkpoint: string;
  earlier?: BundleEarlier;
  tiles: BundleTile[];
  entries: BundleEntry[];
  /** Producer registrations and revocations the entries' signatures depend on (not selected themselves). */
  producers: BundleEntry[];
  anchors: BundleAnchor[];
  manifest: Manifest;
}

export type BundleContent = Omit<Bundle, 'manifest'>;

// ---------------------------------------------------------------------------
// Encoding

function entriesValue(es: readonly BundleEntry[]): CborValue {
  return es.map((e) => ({ index: e.index, leaf: e.leaf }));
}

function selectionValue(s: Selection): CborValue {
  const out: Record<string, CborValue> = {};
  if (s.from !== undefined) out.from = s.from;
  if (s.to !== undefined) out.to = s.to;
  if (s.fromTime !== undefined) out.fromTime = s.fromTime;
  if (s.toTime !== undefined) out.toTime = s.toTime;
  if (s.producers !== undefined) out.producers = [...s.producers];
  if (s.types !== undefined) out.types = [...s.types];
  if (s.subjects !== undefined) out.subjects = [...s.subjects];
  return out;
}

type Digested = Exclude<keyof ManifestDigests, 'earlier'>;

/** The top-level fields the manifest's digests cover, as CBOR values. */
function fieldValues(b: BundleContent): Record<Digested, CborValue> & { earlier?: CborValue } {
  const v: Record<Digested, CborValue> & { earlier?: CborValue } = {
    checkpoint: b.checkpoint,
    tiles: b.tiles.map((t) => ({ level: t.level, index: t.index, data: t.data })),
    entries: entriesValue(b.entries),
    producers: entriesValue(b.producers),
    anchors: b.anchors.map((a) => ({ size: a.size, receipt: a.receipt })),
  };
  if (b.earlier) v.earlier = { checkpoint: b.earlier.checkpoint, proof: [...b.earlier.proof] };
  return v;
}

/** The digests a manifest must carry for these contents. */
export function manifestDigests(b: BundleContent): ManifestDigests {
  const v = fieldValues(b);
  const d = (x: CborValue) => sha256(encodeCanonical(x));
  const out: ManifestDigests = { checkpoint: d(v.checkpoint), tiles: d(v.tiles), entries: d(v.entries), producers: d(v.producers), anchors: d(v.anchors) };
  if (v.earlier !== undefined) out.earlier = d(v.earlier);
  return out;
}

/** The manifest for these contents, selection and tree size. */
export function buildManifest(b: BundleContent, selection: Selection, treeSize: number): Manifest {
  return {
    treeSize,
    proofs: PROOF_METHOD,
    selection,
    counts: { entries: b.entries.length, producers: b.producers.length, tiles: b.tiles.length, anchors: b.anchors.length },
    digests: manifestDigests(b),
  };
}

function manifestValue(m: Manifest): CborValue {
  const d = m.digests;
  const digests: Record<string, CborValue> = { checkpoint: d.checkpoint, tiles: d.tiles, entries: d.entries, producers: d.producers, anchors: d.anchors };
  if (d.earlier) digests.earlier = d.earlier;
  return { treeSize: m.treeSize, proofs: m.proofs, selection: selectionValue(m.selection), counts: { ...m.counts }, digests };
}

/** Encodes a bundle (deterministic CBOR); the manifest is written as given. */
export function encodeBundle(b: Bundle): Uint8Array {
  const top: Record<string, CborValue> = { format: BUNDLE_FORMAT, origin: b.origin, ...fieldValues(b), manifest: manifestValue(b.manifest) };
  return encodeCanonical(top);
}

// ---------------------------------------------------------------------------
// Decoding

const cbor = new Decoder({ useRecords: false, mapsAsObjects: true });
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const HEAD_PROBLEMS = {
  indefinite: 'an indefinite length or a reserved head',
  float: 'a floating-point value',
  'not-shortest': 'an integer or length not in its shortest form',
  'too-large': 'an integer or length beyond 2^53',
} as const;

interface Frame {
  /** Items still to read (a map of n pairs has 2n). */
  remaining: number;
  map: boolean;
  /** The previous key's encoded bytes [start, end), for the order check. */
  prevKey?: [number, number];
}

/**
 * One pass over the CBOR item heads that proves the file is ONE item in the
 * deterministic encoding this format uses (RFC 8949 §4.2.1), without decoding
 * or re-encoding it: shortest heads, definite lengths, text map keys in
 * strictly increasing bytewise order of their encodings (so none repeated),
 * valid UTF-8 text, integers within 2^53, no tags, no floats, no simple value
 * but false, true and null. A file cut short is 'truncated-bundle', anything
 * else 'malformed-bundle'. Returns the byte range of each top-level field's value.
 */
export function scanBundle(bytes: Uint8Array): Map<string, [number, number]> {
  const n = bytes.length;
  const fields = new Map<string, [number, number]>();
  const truncated = () => new BundleFormatError('truncated-bundle', `the file ends after ${n} bytes, inside the bundle (it was cut short)`);
  const malformed = (at: number, why: string) => new BundleFormatError('malformed-bundle', `byte ${at}: ${why} (not a bundle in deterministic CBOR)`);
  const stack: Frame[] = [{ remaining: 1, map: false }];
  let pending = 1; // items still to read in all open containers; each needs at least one byte
  let pos = 0;
  let field: string | undefined; // the top-level field whose value is being read
  let fieldStart = 0;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.remaining === 0) {
      stack.pop();
      continue;
    }
    if (pending > n - pos) throw truncated();
    const start = pos;
    const isKey = frame.map && frame.remaining % 2 === 0;
    const top = stack.length === 2; // directly inside the top-level map
    if (top && isKey && field !== undefined) fields.set(field, [fieldStart, start]);
    frame.remaining--;
    pending--;
    const h = readHead(bytes, pos);
    if (h === 'cut') throw truncated();
    if (typeof h === 'string') throw malformed(start, HEAD_PROBLEMS[h]);
    const { major, arg } = h;
    pos = h.end;
    if (isKey && major !== 3) throw malformed(start, 'a map key that is not a text string');
    switch (major) {
      case 2:
      case 3: {
        if (arg > n - pos) throw truncated();
        const body = bytes.subarray(pos, pos + arg);
        pos += arg;
        if (major === 3 && !validUtf8(body)) throw malformed(start, 'a text string that is not UTF-8');
        if (isKey) {
          if (frame.prevKey && !sortsBefore(bytes, frame.prevKey[0], frame.prevKey[1], start, pos)) throw malformed(start, 'map keys out of order or repeated');
          frame.prevKey = [start, pos];
          const key = strictUtf8.decode(body);
          if (key === '__proto__') throw malformed(start, 'the map key "__proto__"');
          if (top) {
            field = key;
            fieldStart = pos;
          }
        }
        break;
      }
      case 4:
        stack.push({ remaining: arg, map: false });
        pending += arg;
        break;
      case 5:
        stack.push({ remaining: 2 * arg, map: true });
        pending += 2 * arg;
        break;
      case 6:
        throw malformed(start, 'a CBOR tag');
      case 7:
        if (arg < 20 || arg > 22) throw malformed(start, `the simple value ${arg}`);
        break;
      default: // 0 and 1: integers, the argument only
    }
  }
  if (field !== undefined) fields.set(field, [fieldStart, pos]);
  if (pos !== n) throw new BundleFormatError('malformed-bundle', `${n - pos} bytes follow the bundle`);
  return fields;
}

type Map_ = { [k: string]: CborValue };

function isMap(v: CborValue | undefined): v is Map_ {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v);
}

const bad = (path: string, what: string) => new BundleFormatError('malformed-bundle', `${path}: ${what}`);

function map(v: CborValue | undefined, path: string, required: readonly string[], optional: readonly string[] = []): Map_ {
  if (!isMap(v)) throw bad(path, 'must be a map');
  for (const k of required) if (!(k in v)) throw bad(path, `missing field "${k}"`);
  for (const k of Object.keys(v)) if (!required.includes(k) && !optional.includes(k)) throw bad(path, `unexpected field "${k}"`);
  return v;
}
function text(v: CborValue | undefined, path: string): string {
  if (typeof v !== 'string') throw bad(path, 'must be a text string');
  return v;
}
function uint(v: CborValue | undefined, path: string): number {
  // cbor-x gives 8-byte integers as BigInt; scanBundle has bounded them by 2^53.
  const x = typeof (v as unknown) === 'bigint' ? Number(v as unknown as bigint) : v;
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) throw bad(path, 'must be an unsigned integer');
  return x;
}
function bytes(v: CborValue | undefined, path: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw bad(path, 'must be a byte string');
  return v;
}
function array(v: CborValue | undefined, path: string): CborValue[] {
  if (!Array.isArray(v)) throw bad(path, 'must be an array');
  return v;
}
function hash(v: CborValue | undefined, path: string): Uint8Array {
  const h = bytes(v, path);
  if (h.length !== 32) throw bad(path, `must be 32 bytes, got ${h.length}`);
  return h;
}
function textList(v: CborValue | undefined, path: string): string[] {
  return array(v, path).map((x, i) => text(x, `${path}[${i}]`));
}

function decodeEntries(v: CborValue | undefined, path: string): BundleEntry[] {
  return array(v, path).map((x, i) => {
    const m = map(x, `${path}[${i}]`, ['index', 'leaf']);
    return { index: uint(m.index, `${path}[${i}].index`), leaf: bytes(m.leaf, `${path}[${i}].leaf`) };
  });
}

function decodeSelection(v: CborValue | undefined, path: string): Selection {
  const m = map(v, path, [], ['from', 'to', 'fromTime', 'toTime', 'producers', 'types', 'subjects']);
  const s: Selection = {};
  if (m.from !== undefined) s.from = uint(m.from, `${path}.from`);
  if (m.to !== undefined) s.to = uint(m.to, `${path}.to`);
  if (m.fromTime !== undefined) s.fromTime = uint(m.fromTime, `${path}.fromTime`);
  if (m.toTime !== undefined) s.toTime = uint(m.toTime, `${path}.toTime`);
  if (m.producers !== undefined) s.producers = textList(m.producers, `${path}.producers`);
  if (m.types !== undefined) s.types = textList(m.types, `${path}.types`);
  if (m.subjects !== undefined) s.subjects = textList(m.subjects, `${path}.subjects`);
  return s;
}

function decodeManifest(v: CborValue | undefined): Manifest {
  const m = map(v, 'manifest', ['treeSize', 'proofs', 'selection', 'counts', 'digests']);
  const c = map(m.counts, 'manifest.counts', ['entries', 'producers', 'tiles', 'anchors']);
  const d = map(m.digests, 'manifest.digests', ['checkpoint', 'tiles', 'entries', 'producers', 'anchors'], ['earlier']);
  const digests: ManifestDigests = {
    checkpoint: hash(d.checkpoint, 'manifest.digests.checkpoint'),
    tiles: hash(d.tiles, 'manifest.digests.tiles'),
    entries: hash(d.entries, 'manifest.digests.entries'),
    producers: hash(d.producers, 'manifest.digests.producers'),
    anchors: hash(d.anchors, 'manifest.digests.anchors'),
  };
  if (d.earlier !== undefined) digests.earlier = hash(d.earlier, 'manifest.digests.earlier');
  return {
    treeSize: uint(m.treeSize, 'manifest.treeSize'),
    proofs: text(m.proofs, 'manifest.proofs'),
    selection: decodeSelection(m.selection, 'manifest.selection'),
    counts: {
      entries: uint(c.entries, 'manifest.counts.entries'),
      producers: uint(c.producers, 'manifest.counts.producers'),
      tiles: uint(c.tiles, 'manifest.counts.tiles'),
      anchors: uint(c.anchors, 'manifest.counts.anchors'),
    },
    digests,
  };
}

/** A decoded bundle, with the digests of its fields' bytes as they stand in the file. */
export interface DecodedBundle {
  bundle: Bundle;
  digests: ManifestDigests;
}

/**
 * Strict decoding of a bundle file: one complete item of deterministic CBOR
 * (scanBundle) with exactly the fields above. Semantics (signatures, proofs,
 * the manifest's values) are verify.ts's concern.
 */
export function readBundle(file: Uint8Array): DecodedBundle {
  const ranges = scanBundle(file);
  let v: CborValue;
  try {
    v = cbor.decode(file) as CborValue;
  } catch (e) {
    throw new BundleFormatError('malformed-bundle', `not a CBOR item: ${(e as Error).message}`);
  }
  if (!isMap(v) || typeof v.format !== 'string') throw bad('bundle', 'not a bundle (a CBOR map with a "format" field)');
  if (v.format !== BUNDLE_FORMAT) {
    throw new BundleFormatError('unsupported-format', `bundle format ${JSON.stringify(v.format)} is not ${JSON.stringify(BUNDLE_FORMAT)}`);
  }
  const top = map(v, 'bundle', ['format', 'origin', 'checkpoint', 'tiles', 'entries', 'producers', 'anchors', 'manifest'], ['earlier']);
  const b: Bundle = {
    origin: text(top.origin, 'origin'),
    checkpoint: text(top.checkpoint, 'checkpoint'),
    tiles: array(top.tiles, 'tiles').map((x, i) => {
      const t = map(x, `tiles[${i}]`, ['level', 'index', 'data']);
      return { level: uint(t.level, `tiles[${i}].level`), index: uint(t.index, `tiles[${i}].index`), data: bytes(t.data, `tiles[${i}].data`) };
    }),
    entries: decodeEntries(top.entries, 'entries'),
    producers: decodeEntries(top.producers, 'producers'),
    anchors: array(top.anchors, 'anchors').map((x, i) => {
      const a = map(x, `anchors[${i}]`, ['size', 'receipt']);
      return { size: uint(a.size, `anchors[${i}].size`), receipt: text(a.receipt, `anchors[${i}].receipt`) };
    }),
    manifest: decodeManifest(top.manifest),
  };
  if (top.earlier !== undefined) {
    const e = map(top.earlier, 'earlier', ['checkpoint', 'proof']);
    b.earlier = {
      checkpoint: text(e.checkpoint, 'earlier.checkpoint'),
      proof: array(e.proof, 'earlier.proof').map((h, i) => hash(h, `earlier.proof[${i}]`)),
    };
  }
  const digest = (f: string) => {
    const [start, end] = ranges.get(f)!;
    return sha256(file.subarray(start, end));
  };
  const digests: ManifestDigests = { checkpoint: digest('checkpoint'), tiles: digest('tiles'), entries: digest('entries'), producers: digest('producers'), anchors: digest('anchors') };
  if (b.earlier) digests.earlier = digest('earlier');
  return { bundle: b, digests };
}

/** readBundle without the digests. */
export function decodeBundle(file: Uint8Array): Bundle {
  return readBundle(file).bundle;
}

// ---------------------------------------------------------------------------
// Selection semantics (shared by the exporter and the verifier)

/** What a selection is matched against: an entry's position, time, kind, payload and signer. */
export interface EntryFacts {
  index: number;
  /** ms since the epoch at which the log accepted the entry. */
  time: number;
  kind: string;
  /** The parsed JSON payload. */
  payload: Record<string, unknown>;
  /** The producer whose key signed it (undefined for registry entries, which the log signs). */
  signer?: { name: string; keyid: string };
}

/**
 * The subjects an entry is about: a trust-score's `subject`, an evidence
 * record's `artifact`, an in-toto statement's subject names; for a registry
 * entry, nothing.
 */
export function subjectsOf(kind: string, payload: Record<string, unknown>): string[] {
  const s = (v: unknown): string[] => (typeof v === 'string' ? [v] : []);
  if (kind === 'trust-score') return s(payload.subject);
  if (kind === 'evidence') return s(payload.artifact);
  if (kind === 'in-toto' && Array.isArray(payload.subject)) {
    return payload.subject.flatMap((x: unknown) => (typeof x === 'object' && x !== null ? s((x as { name?: unknown }).name) : []));
  }
  return [];
}

/** Why an entry is outside the selection, or undefined when it matches. */
export function selectionMismatch(s: Selection, e: EntryFacts): string | undefined {
  if (s.from !== undefined && e.index < s.from) return `index ${e.index} is below the selection's first index ${s.from}`;
  if (s.to !== undefined && e.index > s.to) return `index ${e.index} is above the selection's last index ${s.to}`;
  if (s.fromTime !== undefined && e.time < s.fromTime) return `accepted at ${new Date(e.time).toISOString()}, before the selection's window`;
  if (s.toTime !== undefined && e.time > s.toTime) return `accepted at ${new Date(e.time).toISOString()}, after the selection's window`;
  if (s.types !== undefined && !s.types.includes(e.kind)) return `kind ${e.kind} is not one of ${s.types.join(', ')}`;
  if (s.subjects !== undefined) {
    const subjects = subjectsOf(e.kind, e.payload);
    if (!subjects.some((x) => s.subjects!.includes(x))) return `subject ${subjects.length ? subjects.join(', ') : '(none)'} is not one of ${s.subjects.join(', ')}`;
  }
  if (s.producers !== undefined) {
    // The producer whose key signed the entry; registry entries are signed by the log, so match no producer.
    const who = e.signer ? [e.signer.name, e.signer.keyid] : [];
    if (!who.some((x) => s.producers!.includes(x))) return `${e.signer ? `producer ${e.signer.name}` : 'the log'} signed it, not ${s.producers.join(', ')}`;
  }
  return undefined;
}

/** A selection by index range alone: the bundle must then hold every entry of the range. */
export function isRangeOnly(s: Selection): boolean {
  return s.fromTime === undefined && s.toTime === undefined && s.producers === undefined && s.types === undefined && s.subjects === undefined;
}

/** A producer key as replayed from the registry entries of the log. */
export interface RegistryKey {
  keyid: string;
  name: string;
  publicKey: Uint8Array;
  types: string[];
  /** Index of the entry that registered it. */
  addIndex: number;
  /** Index of the entry that revoked it, if any. */
  revokeIndex?: number;
}
