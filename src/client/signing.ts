// Producer keys and signed payloads: what a CI gate, an admission controller
// or a scoring engine needs to turn a record into a DSSE envelope the ledger
// accepts (spec/dsse.md, spec/entries.md).

import { utf8 } from '../core/bytes.js';
import { ed25519PublicKey, randomBytes } from '../core/crypto.js';
import { envelopeToJSON, keyIdOf, signEnvelope, type EnvelopeJSON } from '../core/dsse.js';
import { EntryError, payloadTypeOf, PRODUCER_KINDS, validatePayload, type ProducerKind } from '../core/entry.js';
import { formatPrivateKeyPem, formatPublicKeyPem, KeyError, parsePrivateKeyPem } from '../core/pem.js';

/** An evidence record (application/vnd.ledger.evidence.v1+json); unknown fields are kept. */
export interface EvidencePayload {
  /** RFC 3339 UTC; the time of signing when left out. */
  ts?: string;
  actor: string;
  action: string;
  artifact: string;
  policy: string;
  target: string;
  mode: string;
  trace: string;
  result: string;
  reason?: string;
  change?: { repo?: string; commit?: string; pr?: number | string; run?: string; artifactDigest?: string };
  control?: { id?: string; decision?: string; policyDigest?: string; approver?: string; ticket?: string; exception?: boolean | string | Record<string, unknown> };
  execution?: { principal?: string; environment?: string; tools?: (string | { name: string; version?: string })[] };
  [extra: string]: unknown;
}

/** A trust-score snapshot (application/vnd.ledger.trust-score.v1+json); unknown fields are kept. */
export interface TrustScorePayload {
  /** The workload identity scored, e.g. a SPIFFE ID. */
  subject: string;
  /** RFC 3339 UTC; the time of signing when left out. */
  ts?: string;
  /** 0..1 */
  score: number;
  /** name -> 0..1 */
  components: Record<string, number>;
  model: string;
  policy: string;
  ttlSeconds: number;
  /** Leaf hashes or digests the score rests on. */
  evidence?: string[];
  [extra: string]: unknown;
}

export interface SignOptions {
  /** The clock (ms) for a default `ts` and the schema's time window (default Date.now()). */
  now?: number;
  /**
   * Check the payload against its kind's schema, with the server's default time
   * window, before signing (default true). Throws the core's EntryError.
   */
  validate?: boolean;
}

/** An Ed25519 producer key. The private seed never leaves the object except through toPrivatePem(). */
export class ProducerKey {
  readonly #seed: Uint8Array;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** DSSE keyid: lowercase hex SHA-256 of the raw public key. */
  readonly keyid: string;

  private constructor(seed: Uint8Array) {
    if (seed.length !== 32) throw new KeyError('bad-key-length', `an Ed25519 private key is a 32-byte seed, got ${seed.length}`);
    this.#seed = seed.slice();
    this.publicKey = ed25519PublicKey(this.#seed);
    this.keyid = keyIdOf(this.publicKey);
  }

  static generate(): ProducerKey {
    return new ProducerKey(randomBytes(32));
  }

  static fromSeed(seed: Uint8Array): ProducerKey {
    return new ProducerKey(seed);
  }

  /** From a PKCS#8 PEM private key (what `ledger keygen` writes). Throws the core's KeyError. */
  static fromPem(pem: string): ProducerKey {
    return new ProducerKey(parsePrivateKeyPem(pem));
  }

  toPrivatePem(): string {
    return formatPrivateKeyPem(this.#seed);
  }

  /** SPKI PEM, what `ledger producers add --key` registers. */
  toPublicPem(): string {
    return formatPublicKeyPem(this.publicKey);
  }

  /**
   * Signs a payload of the given kind. An object is serialised with
   * JSON.stringify (a missing `ts` is set to the signing time); bytes are
   * signed exactly as given.
   */
  sign(kind: ProducerKind, payload: Record<string, unknown> | Uint8Array, opts: SignOptions = {}): EnvelopeJSON {
    if (!PRODUCER_KINDS.includes(kind)) throw new EntryError('unknown-kind', `kind ${String(kind)} is not one of ${PRODUCER_KINDS.join(', ')}`);
    const now = opts.now ?? Date.now();
    let bytes: Uint8Array;
    if (payload instanceof Uint8Array) {
      bytes = payload;
    } else {
      const withTs = kind !== 'in-toto' && payload.ts === undefined ? { ...payload, ts: new Date(now).toISOString() } : payload;
      bytes = utf8(JSON.stringify(withTs));
    }
    if (opts.validate !== false) validatePayload(kind, bytes, { now });
    return envelopeToJSON(signEnvelope(payloadTypeOf(kind), bytes, this.#seed));
  }

  signEvidence(payload: EvidencePayload, opts?: SignOptions): EnvelopeJSON {
    return this.sign('evidence', payload, opts);
  }

  signTrustScore(payload: TrustScorePayload, opts?: SignOptions): EnvelopeJSON {
    return this.sign('trust-score', payload, opts);
  }
}
