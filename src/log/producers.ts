// The producer registry: which Ed25519 keys may write which payload kinds.
//
// The registry lives in the `producers` table, and every change to it is also
// an entry in the log (kind "producer", a DSSE envelope signed by the log key),
// appended in the same transaction, so an auditor can replay the registry at
// any position.

import { toBase64 } from '../core/bytes.js';
import { ed25519PublicKey } from '../core/crypto.js';
import { keyIdOf, signEnvelope, verifyEnvelope, type Envelope } from '../core/dsse.js';
import { encodeLeaf, envelopeDigest, payloadTypeOf, producerPayload, PRODUCER_KINDS, type ProducerKind } from '../core/entry.js';
import { hashLeaf } from '../core/merkle.js';
import type { LedgerStore, NewEntry, ProducerRow } from '../../storage/sqlite/store.js';
import { LedgerError } from './errors.js';

export function key48(hash: Uint8Array): number {
  // 48-bit prefix as a safe integer: an index key; matches are confirmed against full bytes.
  return hash[0]! * 2 ** 40 + hash[1]! * 2 ** 32 + ((hash[2]! << 24) >>> 0) + (hash[3]! << 16) + (hash[4]! << 8) + hash[5]!;
}

export function newEntryOf(leaf: Uint8Array, envelope: Envelope): NewEntry & { leafHash: Uint8Array; digest: Uint8Array } {
  const leafHash = hashLeaf(leaf);
  const digest = envelopeDigest(envelope);
  return { leaf, ekey: key48(digest), lkey: key48(leafHash), leafHash, digest };
}

export class ProducerRegistry {
  private rows: ProducerRow[] = [];
  private version = -1;

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
    const allowed = this.active().filter((r) => r.types.includes(kind));
    const hinted = new Set(env.signatures.map((s) => s.keyid));
    // Try hinted keys first; fall back to all allowed keys (the keyid is only a hint).
    const ordered = [...allowed.filter((r) => hinted.has(r.keyid)), ...allowed.filter((r) => !hinted.has(r.keyid))];
    if (ordered.length > 0) {
      try {
        return verifyEnvelope(env, ordered.map((r) => ({ id: r.keyid, publicKey: r.publicKey })), 1);
      } catch {
        /* fall through to the precise reason below */
      }
    }
    const known = this.rows.filter((r) => hinted.has(r.keyid));
    if (known.some((r) => r.revokedIndex !== null) && !known.some((r) => r.revokedIndex === null))
      throw new LedgerError(403, 'revoked-key', 'the signing key has been revoked');
    if (known.some((r) => r.revokedIndex === null && !r.types.includes(kind)))
      throw new LedgerError(403, 'type-not-allowed', `the signing producer may not write ${kind} entries`);
    if (known.length === 0 && allowed.length === 0 && this.active().length === 0)
      throw new LedgerError(403, 'unknown-key', 'no producer is registered');
    if (known.length > 0) throw new LedgerError(403, 'no-valid-signature', 'no signature verifies with a registered producer key');
    throw new LedgerError(403, 'unknown-key', 'the envelope is not signed by a registered producer key');
  }
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
