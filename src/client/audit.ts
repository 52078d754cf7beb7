// Checking log entries as an auditor: every leaf is decoded strictly, its
// payload checked against its kind's schema, and its producer signature
// checked against the producer registry AS THE LOG ITSELF RECORDED IT: the
// 'producer' entries (signed by the log key) are replayed in index order, so
// the registry at entry i is exactly the keys added and not revoked before i.
//
// Pure: bytes in, verdicts out. Entries must be given in index order.

import { fromBase64 } from '../core/bytes.js';
import { keyIdOf, verifyEnvelope, type Envelope } from '../core/dsse.js';
import { decodeLeaf, EntryError, validatePayload, type LeafRecord, type ProducerKind } from '../core/entry.js';
import { hashLeaf } from '../core/merkle.js';

/** One producer key as the log's registry entries define it. */
export interface ProducerRecord {
  name: string;
  /** Lowercase hex SHA-256 of the raw public key. */
  keyid: string;
  /** Standard base64 of the raw 32-byte Ed25519 public key. */
  publicKey: string;
  types: ProducerKind[];
  /** Index of the 'producer' entry that added the key. */
  addedIndex: number;
  /** Index of the entry that revoked it, or null while it is active. */
  revokedIndex: number | null;
}

/** What an auditor carries from one entry to the next (JSON-serialisable). */
export interface AuditorState {
  /** The index of the next entry to check. */
  next: number;
  producers: ProducerRecord[];
}

/**
 * Why an entry is bad:
 * - invalid-entry: the leaf, its envelope or its payload is malformed, or a
 *   registry entry is not signed by the log key or does not apply;
 * - unknown-key: no signature verifies under any key the registry ever held
 *   at that position;
 * - revoked-key: the only key that signed it was revoked before the entry;
 * - type-not-allowed: an active key signed it, but may not write that kind.
 */
export type EntryProblemCode = 'invalid-entry' | 'unknown-key' | 'revoked-key' | 'type-not-allowed';

export interface EntryVerdict {
  index: number;
  leafHash: Uint8Array;
  /** The decoded leaf (absent when it does not decode). */
  record?: LeafRecord;
  /** The parsed payload, when it passed its schema. */
  payload?: Record<string, unknown>;
  /** Producer entries: the key added or revoked; other kinds: the registered key that signed it. */
  producer?: ProducerRecord;
  /** Producer entries: what they did to the registry. */
  change?: 'add' | 'revoke';
  /** Absent when the entry is good. */
  problem?: { code: EntryProblemCode; message: string };
}

export class AuditError extends Error {
  override readonly name = 'AuditError';
  constructor(
    readonly code: 'out-of-order',
    message: string,
  ) {
    super(message);
  }
}

export class EntryAuditor {
  readonly #logPublicKey: Uint8Array;
  #next: number;
  readonly #producers: ProducerRecord[];
  readonly #keys = new Map<string, Uint8Array>();

  /** `logPublicKey`: the raw Ed25519 key of the pinned log vkey, which signs registry entries. */
  constructor(logPublicKey: Uint8Array, state: AuditorState = { next: 0, producers: [] }) {
    this.#logPublicKey = logPublicKey.slice();
    this.#next = state.next;
    this.#producers = state.producers.map(copy);
  }

  get state(): AuditorState {
    return { next: this.#next, producers: this.#producers.map(copy) };
  }

  /** Checks entry `index` (which must be the next one) and applies it to the registry if it is a registry entry. */
  check(index: number, leaf: Uint8Array): EntryVerdict {
    if (index !== this.#next) throw new AuditError('out-of-order', `entry ${index} given where entry ${this.#next} is next`);
    this.#next++;
    const v: EntryVerdict = { index, leafHash: hashLeaf(leaf) };
    const bad = (code: EntryProblemCode, message: string): EntryVerdict => ({ ...v, problem: { code, message: `entry ${index}: ${message}` } });
    try {
      v.record = decodeLeaf(leaf);
    } catch (e) {
      if (e instanceof EntryError) return bad('invalid-entry', `${e.code}: ${e.message}`);
      throw e;
    }
    const { kind, envelope } = v.record;
    try {
      v.payload = validatePayload(kind, envelope.payload); // format only: old entries are judged by their schema, not today's clock
    } catch (e) {
      if (e instanceof EntryError) return bad('invalid-entry', `${kind} payload: ${e.code}: ${e.message}`);
      throw e;
    }
    if (kind === 'producer') return this.#registryEntry(v, bad);

    const signers = this.#signers(envelope, kind);
    const usable = signers.find((r) => r.revokedIndex === null && r.types.includes(kind));
    if (usable) return { ...v, producer: copy(usable) };
    const revoked = signers.find((r) => r.revokedIndex !== null);
    if (revoked) return { ...bad('revoked-key', `signed by ${revoked.name} (keyid ${revoked.keyid}), revoked at entry ${revoked.revokedIndex}`), producer: copy(revoked) };
    if (signers.length > 0) return { ...bad('type-not-allowed', `${signers[0]!.name} may write ${signers[0]!.types.join(', ')}, not ${kind}`), producer: copy(signers[0]!) };
    const hints = envelope.signatures.map((s) => s.keyid || '(none)').join(', ');
    return bad('unknown-key', `no signature verifies under a registered producer key (keyid hints: ${hints})`);
  }

  /** Registry records whose key signed the envelope; keys named by a keyid hint are tried first. */
  #signers(env: Envelope, kind: ProducerKind): ProducerRecord[] {
    const hints = new Set(env.signatures.map((s) => s.keyid));
    const signed = (r: ProducerRecord) => {
      try {
        verifyEnvelope(env, [{ id: r.keyid, publicKey: this.#key(r) }]);
        return true;
      } catch {
        return false;
      }
    };
    const hinted = this.#producers.filter((r) => hints.has(r.keyid) && signed(r));
    if (hinted.some((r) => r.revokedIndex === null && r.types.includes(kind))) return hinted;
    return [...hinted, ...this.#producers.filter((r) => !hints.has(r.keyid) && signed(r))];
  }

  #key(r: ProducerRecord): Uint8Array {
    let k = this.#keys.get(r.keyid);
    if (!k) {
      k = fromBase64(r.publicKey);
      this.#keys.set(r.keyid, k);
    }
    return k;
  }

  /** spec/entries.md "producer": signed by the log key; add a new key or revoke an active one. */
  #registryEntry(v: EntryVerdict, bad: (c: EntryProblemCode, m: string) => EntryVerdict): EntryVerdict {
    try {
      verifyEnvelope(v.record!.envelope, [{ id: 'log', publicKey: this.#logPublicKey }]);
    } catch {
      return bad('invalid-entry', 'registry entry is not signed by the log key');
    }
    const p = v.payload as { action: 'add' | 'revoke'; name: string; keyid: string; publicKey: string; types: ProducerKind[] };
    if (keyIdOf(fromBase64(p.publicKey)) !== p.keyid) return bad('invalid-entry', `registry entry: keyid ${p.keyid} is not the SHA-256 of its public key`);
    if (p.keyid === keyIdOf(this.#logPublicKey)) return bad('invalid-entry', 'registry entry registers the log key as a producer');
    const existing = this.#producers.find((r) => r.keyid === p.keyid);
    if (p.action === 'add') {
      if (existing) return bad('invalid-entry', `registry entry adds key ${p.keyid}, already registered as ${existing.name} at entry ${existing.addedIndex}`);
      const rec: ProducerRecord = { name: p.name, keyid: p.keyid, publicKey: p.publicKey, types: [...p.types], addedIndex: v.index, revokedIndex: null };
      this.#producers.push(rec);
      return { ...v, producer: copy(rec), change: 'add' };
    }
    if (!existing || existing.revokedIndex !== null) return bad('invalid-entry', `registry entry revokes key ${p.keyid}, which is not active`);
    existing.revokedIndex = v.index;
    return { ...v, producer: copy(existing), change: 'revoke' };
  }
}

function copy(r: ProducerRecord): ProducerRecord {
  return { ...r, types: [...r.types] };
}
