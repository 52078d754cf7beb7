// The producer registry: which Ed25519 keys may write which payload kinds.
//
// The registry lives in the `producers` table, and every change to it is also
// an entry in the log (kind "producer", a DSSE envelope signed by the log key),
// appended in the same transaction, so an auditor can replay the registry at
// any position.

import { toBase64, utf8 } from '../core/bytes.js';
import { ed25519PublicKey, ed25519Verify, ed25519KeyProblem, sha256 } from '../core/crypto.js';
import { keyIdOf, pae, signEnvelope, type Envelope } from '../core/dsse.js';
import { encodeLeaf, envelopeDigest, payloadTypeOf, producerPayload, PRODUCER_KINDS, type ProducerKind } from '../core/entry.js';
import { hashLeaf } from '../core/merkle.js';
import type { LedgerStore, NewEntry, ProducerRow } from '../../storage/sqlite/store.js';
import { LedgerError } from './errors.js';

/** A leaf ready to store: with its leaf hash and its envelope's digest. */
export function newEntryOf(leaf: Uint8Array, envelope: Envelope): NewEntry {
  const leafHash = hashLeaf(leaf);
  const at = envelopeOffset(leaf);
  const digest = at === undefined ? envelopeDigest(envelope) : sha256(leaf.subarray(at));
  return { leaf, leafHash, digest };
}

const ENVELOPE_KEY = [0x68, ...utf8('envelope')];

/**
 * Where the envelope's encoding starts in a leaf from encodeLeaf. Deterministic
 * CBOR (RFC 8949 §4.2.1) sorts the record's keys shortest first, so the leaf is
 * a4, "v" 1, "kind" <text>, "time" <uint>, "envelope" <map>: the envelope comes
 * last, and as the encoding of a value does not depend on what surrounds it, the
 * bytes after its key are exactly encodeCanonical(envelope), the bytes
 * envelopeDigest hashes (saving a second encoding per entry). Returns undefined
 * (the caller encodes again) for any other layout.
 */
function envelopeOffset(leaf: Uint8Array): number | undefined {
  const KIND = [0x64, ...utf8('kind')];
  const TIME = [0x64, ...utf8('time')];
  const at = (o: number, bytes: number[]) => bytes.every((b, i) => leaf[o + i] === b);
  if (leaf[0] !== 0xa4 || leaf[1] !== 0x61 || leaf[2] !== 0x76 || leaf[3] !== 0x01 || !at(4, KIND)) return undefined;
  let o = 9;
  const t = leaf[o]!; // kind: a text string
  if (t >= 0x60 && t <= 0x77) o += 1 + (t - 0x60);
  else if (t === 0x78) o += 2 + leaf[o + 1]!;
  else return undefined;
  if (!at(o, TIME)) return undefined;
  o += 5;
  const u = leaf[o]!; // time: an unsigned integer, argument in the head or 1, 2, 4 or 8 bytes after it
  if (u <= 0x17) o += 1;
  else if (u >= 0x18 && u <= 0x1b) o += 1 + 2 ** (u - 0x18);
  else return undefined;
  if (!at(o, ENVELOPE_KEY)) return undefined;
  return o + ENVELOPE_KEY.length;
}

export class ProducerRegistry {
  private rows: ProducerRow[] = [];
  private version = -1;
  private checkedThisTurn = false;

  constructor(private readonly store: LedgerStore) {
    this.refresh(true);
  }

  /** Reloads from the database if another connection (the CLI) changed it. */
  refresh(force = false): void {
    const v = this.store.dataVersion();
    if (!force && v === this.version) return;
    this.version = v;
    this.rows = this.store.producers();
  }

  /**
   * refresh(), checking the database at most once per event-loop turn: every
   * request handled in this turn had arrived before the check, so they may all
   * be judged by the registry it saw. (The sequencer still refreshes inside its
   * write transaction, where revocations must be exact.)
   */
  refreshThisTurn(): void {
    if (this.checkedThisTurn) return;
    this.checkedThisTurn = true;
    setImmediate(() => (this.checkedThisTurn = false));
    this.refresh();
  }

  active(): ProducerRow[] {
    return this.rows.filter((r) => r.revokedIndex === null);
  }

  all(): ProducerRow[] {
    return this.rows;
  }

  /**
   * Returns the keyids of the active producers allowed to write `kind` whose
   * signature on the envelope verifies. Throws 403 when there is none.
   */
  authorize(env: Envelope, kind: ProducerKind): string[] {
    return authorizeEnvelope(this.rows, env, kind);
  }
}

/**
 * The registry decision on rows of the producers table (pure, so worker threads
 * take it too): the keyids of the active producers allowed to write `kind` whose
 * signature on the envelope verifies, or 403 with the precise reason.
 */
export function authorizeEnvelope(rows: readonly ProducerRow[], env: Envelope, kind: ProducerKind): string[] {
  const active = rows.filter((r) => r.revokedIndex === null);
  const allowed = active.filter((r) => r.types.includes(kind));
  const hinted = new Set(env.signatures.map((s) => s.keyid));
  // Try hinted keys first; fall back to all allowed keys (the keyid is only a hint).
  const ordered = [...allowed.filter((r) => hinted.has(r.keyid)), ...allowed.filter((r) => !hinted.has(r.keyid))];
  let signer: string | undefined;
  try {
    signer = ordered.length > 0 ? firstSigner(env, ordered) : undefined;
  } catch {
    /* as verifyEnvelope's errors: fall through to the precise reason below */
  }
  if (signer !== undefined) return [signer];
  const known = rows.filter((r) => hinted.has(r.keyid));
  if (known.some((r) => r.revokedIndex !== null) && !known.some((r) => r.revokedIndex === null))
    throw new LedgerError(403, 'revoked-key', 'the signing key has been revoked');
  if (known.some((r) => r.revokedIndex === null && !r.types.includes(kind)))
    throw new LedgerError(403, 'type-not-allowed', `the signing producer may not write ${kind} entries`);
  if (known.length === 0 && allowed.length === 0 && active.length === 0)
    throw new LedgerError(403, 'unknown-key', 'no producer is registered');
  if (known.length > 0) throw new LedgerError(403, 'no-valid-signature', 'no signature verifies with a registered producer key');
  throw new LedgerError(403, 'unknown-key', 'the envelope is not signed by a registered producer key');
}

/**
 * verifyEnvelope(env, keys, 1) of core/dsse.ts for registry rows, whose keyids
 * (keyIdOf of the public key, distinct: the table's primary key) are already
 * known, so no key is hashed again per entry: for each signature in order, the
 * keys it names first, then the others in the given order; the first key under
 * which a signature verifies is the signer.
 */
function firstSigner(env: Envelope, keys: readonly ProducerRow[]): string | undefined {
  if (env.signatures.length === 0) return undefined;
  const msg = pae(env.payloadType, env.payload);
  for (const s of env.signatures) {
    const hinted = s.keyid === '' ? [] : keys.filter((k) => k.keyid === s.keyid);
    const order = hinted.length === 0 ? keys : [...hinted, ...keys.filter((k) => k.keyid !== s.keyid)];
    const match = order.find((k) => ed25519Verify(k.publicKey, msg, s.sig));
    if (match) return match.keyid;
  }
  return undefined;
}

export interface ProducerChange {
  action: 'add' | 'revoke';
  name: string;
  publicKey: Uint8Array;
  types: ProducerKind[];
}

/**
 * Applies a registry change and appends its log entry in one transaction.
 * Returns the index of the entry.
 */
export function applyProducerChange(store: LedgerStore, logSeed: Uint8Array, change: ProducerChange, now = Date.now()): { index: number; keyid: string } {
  if (change.publicKey.length !== 32) throw new LedgerError(400, 'bad-key', 'producer key must be a 32-byte Ed25519 public key');
  const problem = change.action === 'add' ? ed25519KeyProblem(change.publicKey) : undefined;
  if (problem === 'not-a-point') throw new LedgerError(400, 'bad-key', 'producer key is not the canonical encoding of an Ed25519 point');
  if (problem === 'small-order') throw new LedgerError(400, 'bad-key', 'producer key is an Ed25519 point of small order, under which one fixed signature can verify any message');
  for (const t of change.types) if (!PRODUCER_KINDS.includes(t)) throw new LedgerError(400, 'bad-type', `unknown payload kind ${t}`);
  const keyid = keyIdOf(change.publicKey);
  if (keyid === keyIdOf(ed25519PublicKey(logSeed))) throw new LedgerError(400, 'bad-key', 'the log key cannot be a producer key');
  const payload = producerPayload({
    action: change.action,
    name: change.name,
    keyid,
    publicKey: toBase64(change.publicKey),
    types: change.types,
    ts: new Date(now).toISOString(),
  });
  const env = signEnvelope(payloadTypeOf('producer'), payload, logSeed);
  const leaf = encodeLeaf({ kind: 'producer', time: now, envelope: env });
  const entry = newEntryOf(leaf, env);
  return store.write(() => {
    const existing = store.producers().find((r) => r.keyid === keyid);
    if (change.action === 'add') {
      if (existing?.revokedIndex !== null && existing !== undefined)
        throw new LedgerError(409, 'key-revoked', `key ${keyid} was revoked at index ${existing.revokedIndex}; register a new key`);
      if (existing) throw new LedgerError(409, 'key-exists', `key ${keyid} is already registered as ${existing.name}`);
      const index = store.appendInTx([entry]);
      store.addProducerInTx({ name: change.name, keyid, publicKey: change.publicKey, types: change.types, addedIndex: index });
      return { index, keyid };
    }
    if (!existing || existing.revokedIndex !== null) throw new LedgerError(404, 'no-such-producer', `no active producer key ${keyid}`);
    const index = store.appendInTx([entry]);
    store.revokeProducerInTx(keyid, index);
    return { index, keyid };
  });
}
