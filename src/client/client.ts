// LedgerClient: the typed client producers and auditors use against a ledger
// server. It submits signed envelopes, and it never takes the server's word
// for anything it returns: every checkpoint is verified with the pinned log
// key (and, given a C2SP tlog-policy, its witness cosignatures), every proof
// is checked locally against a verified checkpoint (RFC 9162 §2.1.3.2 and
// §2.1.4.2), and every tile and entry bundle is bound to a verified root
// before a hash or an entry is used (tlog-tiles, core verifiedTileReader).
//
// Transient failures (429, 502, 503, 504 and network errors) are retried with
// exponential backoff and full jitter, honouring Retry-After. Retrying a POST
// is safe: the log answers a resubmitted envelope with the entry it already
// has (spec/entries.md, "Deduplication").
//
// No node: imports: the client runs wherever fetch does.

import { equal, fromBase64, toBase64, toHex } from '../core/bytes.js';
import { CheckpointError, openCheckpoint } from '../core/checkpoint.js';
import { envelopeToJSON, parseEnvelope, type Envelope, type EnvelopeJSON } from '../core/dsse.js';
import { decodeLeaf, envelopeDigest, EntryError } from '../core/entry.js';
import {
  consistencyProof,
  consistencyProofPlan,
  emptyRoot,
  hashLeaf,
  inclusionProof,
  inclusionProofPlan,
  ProofError,
  treeHash,
  treeHashPlan,
  verifyConsistency,
  verifyInclusion,
  type HashReader,
  type NodeId,
} from '../core/merkle.js';
import { NoteError, parseVerifierKey, type Ed25519Verifier } from '../core/note.js';
import { evaluateQuorum, NONE, parsePolicy, PolicyError, verifyCheckpointWithPolicy, type Policy } from '../core/policy.js';
import {
  decodeEntryBundle,
  entriesPath,
  TILE_WIDTH,
  TileError,
  tilePath,
  tilesNeeded,
  verifiedTileReader,
  type TileId,
} from '../core/tiles.js';
import { formatTlogProof } from '../core/tlog-proof.js';

// ---------------------------------------------------------------------------
// Errors

export type LedgerClientErrorCode =
  | 'bad-options' // the client was configured wrongly (bad vkey or policy, no pinned key for a verifying call)
  | 'network' // the server could not be reached (after retries)
  | 'unavailable' // 429 or 5xx (after retries, or Retry-After beyond the limit)
  | 'rejected' // a 4xx answer: `status` and `serverCode` say which
  | 'bad-response' // an answer that is not what the API defines (JSON fields, tile length, bundle size)
  | 'bad-checkpoint' // the checkpoint does not verify with the pinned key or policy, or is malformed
  | 'quorum-not-met' // the policy's witness quorum is not met by the checkpoint's cosignatures
  | 'proof-invalid' // an inclusion or consistency proof does not verify against the checkpoint(s)
  | 'tile-mismatch' // a tile does not hash to the verified root
  | 'leaf-mismatch' // entry bytes do not hash to the leaf in the tree, or do not hold the submitted envelope
  | 'not-included' // the index is not inside the checkpoint's tree (yet)
  | 'timeout'; // waitForInclusion gave up

export class LedgerClientError extends Error {
  override readonly name = 'LedgerClientError';
  /** HTTP status, for 'rejected' and 'unavailable'. */
  readonly status?: number;
  /** The server's error code (`{"error":{"code"}}`), for 'rejected' and 'unavailable'. */
  readonly serverCode?: string;
  constructor(
    readonly code: LedgerClientErrorCode,
    message: string,
    extra: { status?: number; serverCode?: string; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.serverCode !== undefined) this.serverCode = extra.serverCode;
  }
}

// ---------------------------------------------------------------------------
// Options and result types

export interface RetryOptions {
  /** Retries after the first attempt (default 5). */
  retries: number;
  /** Backoff base, ms: attempt n waits a random time in [0, min(maxDelayMs, baseDelayMs * 2^n)) (default 200). */
  baseDelayMs: number;
  /** Backoff cap, ms (default 10,000). */
  maxDelayMs: number;
  /** A Retry-After longer than this (ms) is not waited for: the call fails at once (default 60,000). */
  maxRetryAfterMs: number;
}

export interface LedgerClientOptions {
  /** Base URL of the log (http://host:port, optionally with a path prefix). */
  url: string;
  /** The pinned log key: a C2SP signed-note verifier key of type 0x01; its name is the log's origin. */
  vkey?: string;
  /**
   * A C2SP tlog-policy (text or parsed): the log keys and witness quorum to
   * verify checkpoints with. With a vkey as well, the policy must list that log.
   */
  policy?: string | Policy;
  retry?: Partial<RetryOptions>;
  /** Per-attempt request timeout, ms (default 30,000). */
  timeoutMs?: number;
  /** Extra request headers (for example an Authorization bearer token). */
  headers?: Record<string, string>;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof globalThis.fetch;
  /** Largest number of envelopes sent in one batch request (default 1000, the server's default). */
  maxBatch?: number;
}

/** A tree size and its RFC 9162 root hash. */
export interface TreeHead {
  size: number;
  rootHash: Uint8Array;
}

/** A checkpoint whose log signature verified with the pinned key (and policy). */
export interface VerifiedCheckpoint {
  /** The signed note exactly as served. */
  note: string;
  origin: string;
  size: number;
  rootHash: Uint8Array;
  /** Policy names of the witnesses whose cosignatures verified (empty without a policy). */
  witnesses: string[];
  /** Each of those witnesses' cosignature time, POSIX seconds. */
  cosignedAt: Record<string, number>;
  /** Whether the policy's quorum is met (true without a policy, which requires none). */
  quorumMet: boolean;
}

/** What the log answered to a submission. The leaf hash is the server's claim until waitForInclusion checks it. */
export interface Submission {
  index: number;
  leafHash: Uint8Array;
  /** True when the log already held this envelope (200) rather than adding it (201). */
  duplicate: boolean;
  envelope: EnvelopeJSON;
  /** With `submit(env, { wait: true })`: the server's checkpoint and proof, NOT verified (see submit). */
  unverified?: { checkpoint: string; treeSize: number; proof: Uint8Array[] };
}

export type BatchResult =
  | ({ ok: true } & Submission)
  | { ok: false; status: number; code: string; message: string; envelope: EnvelopeJSON };

/** An entry proved to be in the tree of a verified checkpoint. */
export interface VerifiedInclusion {
  index: number;
  leafHash: Uint8Array;
  /** The leaf bytes; hashLeaf(leaf) = leafHash was checked. */
  leaf: Uint8Array;
  treeSize: number;
  /** RFC 9162 inclusion proof, the leaf's sibling first. */
  proof: Uint8Array[];
  checkpoint: VerifiedCheckpoint;
}

export interface VerifiedConsistency {
  from: number;
  to: number;
  proof: Uint8Array[];
}

/** An entry read from an entry bundle whose leaf hash was matched against tiles bound to a verified root. */
export interface VerifiedEntry {
  index: number;
  leaf: Uint8Array;
  leafHash: Uint8Array;
}

export interface GetCheckpointOptions {
  /** Throw 'quorum-not-met' when the policy's quorum is not met (default true). False returns quorumMet: false. */
  requireQuorum?: boolean;
}

export interface WaitOptions {
  /** Give up after this long, ms (default 60,000). */
  timeoutMs?: number;
  /** First polling interval, ms; it doubles up to 2,000 (default 100). */
  pollMs?: number;
}

const DEFAULT_RETRY: RetryOptions = { retries: 5, baseDelayMs: 200, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date. Returns the
 * delay in ms, or undefined when the header is absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const s = value.trim();
  if (/^[0-9]+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

// ---------------------------------------------------------------------------
// The client

export class LedgerClient {
  readonly url: string;
  /** The log's origin (the pinned key's name), when a key or policy is pinned. */
  readonly origin?: string;
  readonly #logKey?: Ed25519Verifier;
  readonly #policy?: Policy;
  readonly #retry: RetryOptions;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #fetch: typeof globalThis.fetch;
  readonly #maxBatch: number;

  constructor(opts: LedgerClientOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new LedgerClientError('bad-options', `url ${JSON.stringify(opts.url)} is not an absolute URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new LedgerClientError('bad-options', `url must be http or https, got ${u.protocol}`);
    this.url = u.href.replace(/\/+$/, '');
    this.#retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.#timeoutMs = opts.timeoutMs ?? 30_000;
    this.#headers = { ...opts.headers };
    this.#fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.#maxBatch = opts.maxBatch ?? 1000;

    let key: Ed25519Verifier | undefined;
    if (opts.vkey !== undefined) {
      try {
        key = parseVerifierKey(opts.vkey.trim());
      } catch (e) {
        throw new LedgerClientError('bad-options', `log vkey: ${(e as Error).message}`, { cause: e });
      }
    }
    if (opts.policy !== undefined) {
      let policy: Policy;
      try {
        policy = typeof opts.policy === 'string' ? parsePolicy(opts.policy) : opts.policy;
      } catch (e) {
        throw new LedgerClientError('bad-options', `policy: ${(e as Error).message}`, { cause: e });
      }
      if (key) {
        const k = key;
        const listed = policy.logs.find((l) => l.verifier.name === k.name && equal(l.verifier.publicKey, k.publicKey));
        if (!listed) throw new LedgerClientError('bad-options', `the policy does not list the pinned log key ${k.vkey}`);
      } else {
        if (policy.logs.length !== 1) {
          throw new LedgerClientError('bad-options', `the policy lists ${policy.logs.length} logs; pin this log's vkey too to say which`);
        }
        key = policy.logs[0]!.verifier;
      }
      this.#policy = policy;
    }
    if (key) {
      this.#logKey = key;
      this.origin = key.name;
    }
  }

  /** The pinned log's raw Ed25519 public key (it also signs the log's producer-registry entries). */
  get logPublicKey(): Uint8Array {
    return this.#pinned().publicKey.slice();
  }

  #pinned(): Ed25519Verifier {
    if (!this.#logKey) throw new LedgerClientError('bad-options', 'no log key is pinned: give a vkey or a policy');
    return this.#logKey;
  }

  // ------------------------------------------------------------- HTTP

  /**
   * One request with retries; returns the status and body of a 2xx answer or
   * throws LedgerClientError. The body is read inside the retry loop, so a
   * connection lost halfway through an answer is retried like any network error.
   */
  async #send(path: string, init: { method?: 'GET' | 'POST'; body?: string; accept: string; timeoutMs?: number }): Promise<{ status: number; body: Uint8Array }> {
    const method = init.method ?? 'GET';
    const url = this.url + path;
    const headers: Record<string, string> = { accept: init.accept, ...this.#headers };
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    for (let attempt = 0; ; attempt++) {
      let res: Response | undefined;
      let failure: unknown;
      try {
        res = await this.#fetch(url, { method, headers, body: init.body, signal: AbortSignal.timeout(init.timeoutMs ?? this.#timeoutMs) });
        if (res.ok) return { status: res.status, body: new Uint8Array(await res.arrayBuffer()) };
      } catch (e) {
        failure = e;
        res = undefined;
      }
      if (res && !RETRYABLE_STATUS.has(res.status)) throw await httpError(res, method, path);
      const retryAfter = res ? parseRetryAfter(res.headers.get('retry-after')) : undefined;
      if (attempt >= this.#retry.retries || (retryAfter !== undefined && retryAfter > this.#retry.maxRetryAfterMs)) {
        if (res) throw await httpError(res, method, path);
        throw new LedgerClientError('network', `${method} ${url}: ${(failure as Error).message}`, { cause: failure });
      }
      await res?.body?.cancel().catch(() => {});
      // Full jitter (the backoff is a random time below the exponential cap), on top
      // of Retry-After when the server gave one, so clients do not retry in step.
      const jitter = Math.random() * Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** attempt);
      await sleep((retryAfter ?? 0) + jitter);
    }
  }

  async #json(path: string, init: { method?: 'GET' | 'POST'; body?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await this.#send(path, {
      accept: 'application/json',
      ...(init.method ? { method: init.method } : {}),
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      ...(init.timeoutMs !== undefined ? { timeoutMs: init.timeoutMs } : {}),
    });
    let body: unknown;
    try {
      body = JSON.parse(strictUtf8.decode(res.body));
    } catch (e) {
      throw new LedgerClientError('bad-response', `${path}: the answer is not UTF-8 JSON: ${(e as Error).message}`);
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new LedgerClientError('bad-response', `${path}: the answer is not a JSON object`);
    return { status: res.status, body: body as Record<string, unknown> };
  }

  async #bytes(path: string, accept: string): Promise<Uint8Array> {
    return (await this.#send(path, { accept })).body;
  }

  // ------------------------------------------------------------- writes

  /**
   * Submits one DSSE envelope (JSON form, or decoded with payload bytes).
   * With `wait: true` the server answers once a published checkpoint holds the
   * entry and includes that checkpoint and a proof, returned as `unverified`:
   * for a verified answer use waitForInclusion, which needs a pinned key.
   */
  async submit(envelope: EnvelopeJSON | Envelope, opts: { wait?: boolean } = {}): Promise<Submission> {
    const env = toEnvelopeJSON(envelope);
    const path = `/v1/entries${opts.wait ? '?wait=checkpoint' : ''}`;
    const { status, body } = await this.#json(path, { method: 'POST', body: env, ...(opts.wait ? { timeoutMs: Math.max(this.#timeoutMs, 60_000) } : {}) });
    const sub: Submission = { index: intField(body, 'index', path), leafHash: hashField(body, 'leafHash', path), duplicate: status === 200, envelope: env };
    if (opts.wait) {
      const checkpoint = body.checkpoint;
      if (typeof checkpoint !== 'string') throw new LedgerClientError('bad-response', `${path}: no checkpoint in the answer`);
      sub.unverified = { checkpoint, treeSize: intField(body, 'treeSize', path), proof: hashList(body, 'proof', path) };
    }
    return sub;
  }

  /** Submits envelopes in batches of at most maxBatch; one result per envelope, in order. */
  async submitBatch(envelopes: readonly (EnvelopeJSON | Envelope)[]): Promise<BatchResult[]> {
    const envs = envelopes.map(toEnvelopeJSON);
    const out: BatchResult[] = [];
    for (let i = 0; i < envs.length; i += this.#maxBatch) {
      const chunk = envs.slice(i, i + this.#maxBatch);
      const path = '/v1/entries:batch';
      const { body } = await this.#json(path, { method: 'POST', body: { envelopes: chunk } });
      const results = body.results;
      if (!Array.isArray(results) || results.length !== chunk.length) {
        throw new LedgerClientError('bad-response', `${path}: expected ${chunk.length} results`);
      }
      results.forEach((r: unknown, j) => {
        const o = asObject(r, `${path} results[${j}]`);
        const status = intField(o, 'status', path);
        const envelope = chunk[j]!;
        if (status === 200 || status === 201) {
          out.push({ ok: true, index: intField(o, 'index', path), leafHash: hashField(o, 'leafHash', path), duplicate: status === 200, envelope });
        } else {
          const err = asObject(o.error, `${path} results[${j}].error`);
          out.push({ ok: false, status, code: String(err.code), message: String(err.message), envelope });
        }
      });
    }
    return out;
  }

  /**
   * Waits until a verified checkpoint includes the submission, then proves its
   * inclusion and checks the entry: its leaf hash is the one the server gave
   * at submission, and its leaf record holds exactly the submitted envelope.
   */
  async waitForInclusion(sub: Pick<Submission, 'index'> & Partial<Pick<Submission, 'leafHash' | 'envelope'>>, opts: WaitOptions = {}): Promise<VerifiedInclusion> {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
    let delay = opts.pollMs ?? 100;
    for (;;) {
      let cp: VerifiedCheckpoint | undefined;
      try {
        cp = await this.getCheckpoint();
      } catch (e) {
        // A new log has no checkpoint until its first integration.
        if (!(e instanceof LedgerClientError && e.serverCode === 'no-checkpoint')) throw e;
      }
      if (cp && cp.size > sub.index) {
        const inc = await this.proveInclusion({ index: sub.index }, cp);
        if (sub.leafHash && !equal(sub.leafHash, inc.leafHash)) {
          throw new LedgerClientError('leaf-mismatch', `entry ${sub.index} has leaf hash ${toBase64(inc.leafHash)}, not the ${toBase64(sub.leafHash)} the server answered at submission`);
        }
        if (sub.envelope) checkHoldsEnvelope(inc, sub.envelope);
        return inc;
      }
      if (Date.now() + delay > deadline) {
        throw new LedgerClientError('timeout', `entry ${sub.index} is not in a published checkpoint after ${opts.timeoutMs ?? 60_000} ms`);
      }
      await sleep(delay * (0.5 + Math.random() / 2));
      delay = Math.min(2000, delay * 2);
    }
  }

  // ------------------------------------------------------------- checkpoints

  /** Fetches GET /checkpoint and verifies it (verifyCheckpointNote). */
  async getCheckpoint(opts: GetCheckpointOptions = {}): Promise<VerifiedCheckpoint> {
    this.#pinned();
    return this.verifyCheckpointNote(await this.#bytes('/checkpoint', 'text/plain'), opts);
  }

  /**
   * Verifies a signed checkpoint note (for example one kept from earlier):
   * the pinned log's signature (C2SP signed-note), the checkpoint text
   * (C2SP tlog-checkpoint) and its origin, and with a policy the witness
   * cosignatures (C2SP tlog-policy).
   */
  verifyCheckpointNote(note: string | Uint8Array, opts: GetCheckpointOptions = {}): VerifiedCheckpoint {
    const key = this.#pinned();
    let text: string;
    try {
      text = typeof note === 'string' ? note : strictUtf8.decode(note);
    } catch {
      throw new LedgerClientError('bad-checkpoint', 'the checkpoint note is not valid UTF-8');
    }
    try {
      const { checkpoint } = openCheckpoint(text, key.name, [key]);
      const out: VerifiedCheckpoint = { note: text, origin: checkpoint.origin, size: checkpoint.size, rootHash: checkpoint.rootHash, witnesses: [], cosignedAt: {}, quorumMet: true };
      if (this.#policy) {
        // Cosignatures are verified with no quorum required, then the quorum is
        // judged here, so a caller that tolerates a missing quorum (a monitor) still
        // learns which witnesses signed.
        const p = verifyCheckpointWithPolicy(text, { ...this.#policy, quorum: NONE });
        out.witnesses = p.witnesses;
        out.cosignedAt = p.cosignedAt;
        out.quorumMet = evaluateQuorum(this.#policy, new Set(p.witnesses));
        if (!out.quorumMet && opts.requireQuorum !== false) {
          throw new LedgerClientError('quorum-not-met', `checkpoint ${checkpoint.size}: quorum "${this.#policy.quorum}" is not met; valid cosignatures from: ${p.witnesses.join(', ') || '(none)'}`);
        }
      }
      return out;
    } catch (e) {
      if (e instanceof NoteError || e instanceof CheckpointError || e instanceof PolicyError) {
        throw new LedgerClientError('bad-checkpoint', `checkpoint does not verify with the pinned log key ${key.vkey}: ${e.code}: ${e.message}`, { cause: e });
      }
      throw e;
    }
  }

  // ------------------------------------------------------------- proofs

  /**
   * Proves an entry's inclusion in a verified checkpoint (the latest when none
   * is given), by index or by leaf hash. The entry is fetched and hashed here;
   * the proof from GET /v1/proof/inclusion must lead from that hash to the
   * checkpoint's root.
   */
  async proveInclusion(target: { index: number } | { leafHash: Uint8Array }, checkpoint?: VerifiedCheckpoint): Promise<VerifiedInclusion> {
    const cp = checkpoint ?? (await this.getCheckpoint());
    const wanted = 'index' in target ? target.index : undefined;
    let query: string;
    if (wanted !== undefined) {
      if (!Number.isSafeInteger(wanted) || wanted < 0) throw new LedgerClientError('bad-options', `index ${wanted} is not a non-negative integer`);
      if (wanted >= cp.size) throw new LedgerClientError('not-included', `index ${wanted} is not in the checkpoint's tree of size ${cp.size}`);
      query = `index=${wanted}`;
    } else {
      const h = (target as { leafHash: Uint8Array }).leafHash;
      if (h.length !== 32) throw new LedgerClientError('bad-options', `leaf hash is ${h.length} bytes, not 32`);
      if (cp.size === 0) throw new LedgerClientError('not-included', "the checkpoint's tree is empty");
      query = `leafHash=${toHex(h)}`;
    }
    const path = `/v1/proof/inclusion?${query}&treeSize=${cp.size}`;
    const { body } = await this.#json(path);
    const gotIndex = intField(body, 'index', path);
    if ((wanted !== undefined && gotIndex !== wanted) || gotIndex >= cp.size) throw new LedgerClientError('bad-response', `${path}: answered for index ${gotIndex}`);
    if (intField(body, 'treeSize', path) !== cp.size) throw new LedgerClientError('bad-response', `${path}: answered for another tree size`);
    const proof = hashList(body, 'proof', path);
    const leaf = await this.#entryData(gotIndex);
    const leafHash = hashLeaf(leaf);
    if ('leafHash' in target && !equal(leafHash, target.leafHash)) {
      throw new LedgerClientError('leaf-mismatch', `entry ${gotIndex} does not hash to the leaf hash asked for`);
    }
    try {
      verifyInclusion(leafHash, gotIndex, cp.size, proof, cp.rootHash);
    } catch (e) {
      if (e instanceof ProofError) throw new LedgerClientError('proof-invalid', `inclusion proof of entry ${gotIndex} in tree ${cp.size}: ${e.code}: ${e.message}`, { cause: e });
      throw e;
    }
    return { index: gotIndex, leafHash, leaf, treeSize: cp.size, proof, checkpoint: cp };
  }

  /** GET /v1/entries/<i>: the leaf bytes (checked only against the leaf hash the server states; callers prove them). */
  async #entryData(index: number): Promise<Uint8Array> {
    const path = `/v1/entries/${index}`;
    const { body } = await this.#json(path);
    if (intField(body, 'index', path) !== index) throw new LedgerClientError('bad-response', `${path}: answered for another index`);
    const data = b64Field(body, 'data', path);
    if (!equal(hashLeaf(data), hashField(body, 'leafHash', path))) throw new LedgerClientError('leaf-mismatch', `${path}: data does not hash to the stated leaf hash`);
    return data;
  }

  /**
   * Proves that the tree `to` (the latest verified checkpoint when left out)
   * extends the tree `from`, with GET /v1/proof/consistency checked locally.
   * Each side is a verified checkpoint or a size and root the caller trusts
   * (for example one VerifiedTiles.rootAt computed); `to` must not be larger
   * than the log's latest checkpoint.
   */
  async proveConsistency(from: TreeHead, to?: TreeHead): Promise<VerifiedConsistency> {
    const cp = to ?? (await this.getCheckpoint());
    let proof: Uint8Array[] = [];
    // From the empty tree there is nothing to prove (every tree extends it).
    if (from.size !== 0) {
      if (from.size < cp.size) {
        const path = `/v1/proof/consistency?from=${from.size}&to=${cp.size}`;
        const { body } = await this.#json(path);
        if (intField(body, 'from', path) !== from.size || intField(body, 'to', path) !== cp.size) throw new LedgerClientError('bad-response', `${path}: answered for other sizes`);
        proof = hashList(body, 'proof', path);
      }
      try {
        verifyConsistency(from.size, cp.size, proof, from.rootHash, cp.rootHash);
      } catch (e) {
        if (e instanceof ProofError) throw new LedgerClientError('proof-invalid', `consistency ${from.size} -> ${cp.size}: ${e.code}: ${e.message}`, { cause: e });
        throw e;
      }
    }
    return { from: from.size, to: cp.size, proof };
  }

  /** A C2SP tlog-proof file (c2sp.org/tlog-proof@v1) for a verified inclusion. */
  static tlogProof(inc: VerifiedInclusion): string {
    return formatTlogProof({ index: inc.index, proof: inc.proof, checkpoint: inc.checkpoint.note });
  }

  // ------------------------------------------------------------- tiles

  /**
   * GET /tile/<L>/<N>[.p/<W>]: exactly width hashes (NOT yet bound to a root;
   * see tiles()). A partial tile the log no longer serves (404) is read as the
   * first W hashes of the full tile (tlog-tiles "Merkle Tree": logs MAY delete
   * a partial tile once the full one exists, clients MAY fall back to it).
   */
  async tile(t: TileId): Promise<Uint8Array> {
    const data = await this.#partialOrFull(tilePath(t), t.width, tilePath({ ...t, width: TILE_WIDTH }));
    const want = t.width * 32;
    if (data.length !== want && !(data.length === TILE_WIDTH * 32 && t.width < TILE_WIDTH)) {
      throw new LedgerClientError('bad-response', `/${tilePath(t)}: ${data.length} bytes, want ${want}`);
    }
    return data.subarray(0, want);
  }

  /** GET /tile/entries/<N>[.p/<W>]: the bundle's entries (NOT yet bound to a root; see entries()), with the same fallback. */
  async entryBundle(index: number, width: number): Promise<Uint8Array[]> {
    const path = entriesPath(index, width);
    const data = await this.#partialOrFull(path, width, entriesPath(index, TILE_WIDTH));
    try {
      const entries = decodeEntryBundle(data);
      if (entries.length !== width && !(entries.length === TILE_WIDTH && width < TILE_WIDTH)) {
        throw new TileError('wrong-bundle-size', `entry bundle holds ${entries.length} entries, want ${width}`);
      }
      return entries.slice(0, width);
    } catch (e) {
      if (e instanceof TileError) throw new LedgerClientError('bad-response', `/${path}: ${e.code}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  async #partialOrFull(path: string, width: number, fullPath: string): Promise<Uint8Array> {
    try {
      return await this.#bytes('/' + path, 'application/octet-stream');
    } catch (e) {
      if (width === TILE_WIDTH || !(e instanceof LedgerClientError && e.status === 404)) throw e;
      return this.#bytes('/' + fullPath, 'application/octet-stream');
    }
  }

  /** A reader of Merkle hashes from tiles, each tile bound to the checkpoint's root before use. */
  tiles(cp: VerifiedCheckpoint): VerifiedTiles {
    return new VerifiedTiles(this, cp);
  }

  /**
   * The entries [start, end) of a verified checkpoint's tree, read from entry
   * bundles; each entry's leaf hash must equal the level-0 hash in a tile bound
   * to the root ('leaf-mismatch' otherwise), so every entry yielded is proved in
   * the tree.
   */
  async *entries(start: number, end: number, cp: VerifiedCheckpoint): AsyncGenerator<VerifiedEntry> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end > cp.size) {
      throw new LedgerClientError('bad-options', `entries [${start}, ${end}) are not in a tree of size ${cp.size}`);
    }
    let tiles = this.tiles(cp);
    for (let b = Math.floor(start / TILE_WIDTH), n = 1; b * TILE_WIDTH < end; b++, n++) {
      // A fresh reader now and then keeps memory bounded on long scans.
      if (n % 64 === 0) tiles = this.tiles(cp);
      const first = b * TILE_WIDTH;
      const leaves = await this.entryBundle(b, Math.min(TILE_WIDTH, cp.size - first));
      const lo = Math.max(start, first);
      const hi = Math.min(end, first + leaves.length);
      const ids: NodeId[] = [];
      for (let i = lo; i < hi; i++) ids.push({ level: 0, index: i });
      const hashes = await tiles.hashes(ids);
      for (let i = lo; i < hi; i++) {
        const leaf = leaves[i - first]!;
        const leafHash = hashLeaf(leaf);
        if (!equal(leafHash, hashes[i - lo]!)) {
          throw new LedgerClientError('leaf-mismatch', `entry ${i} in bundle ${entriesPath(b, leaves.length)} is not the leaf the tree of size ${cp.size} holds`);
        }
        yield { index: i, leaf, leafHash };
      }
    }
  }
}

/**
 * Merkle hashes of one verified checkpoint's tree, served from tiles. Tiles
 * are fetched (at most 8 at a time) before the synchronous core reader
 * (verifiedTileReader) binds each to the root and computes from it.
 */
export class VerifiedTiles {
  readonly checkpoint: VerifiedCheckpoint;
  readonly #client: LedgerClient;
  readonly #data = new Map<string, Uint8Array>();
  readonly #read: HashReader;

  constructor(client: LedgerClient, cp: VerifiedCheckpoint) {
    this.#client = client;
    this.checkpoint = cp;
    this.#read = verifiedTileReader(cp.size, cp.rootHash, (t) => {
      const d = this.#data.get(tilePath(t));
      if (!d) throw new Error(`tile ${tilePath(t)} was not fetched`); // tilesNeeded lists every tile the reader asks for
      return d;
    });
  }

  /** A synchronous reader for `ids` (and any subset), once their tiles are fetched. */
  async reader(ids: readonly NodeId[]): Promise<HashReader> {
    let todo: TileId[];
    try {
      todo = tilesNeeded(this.checkpoint.size, ids).filter((t) => !this.#data.has(tilePath(t)));
    } catch (e) {
      if (e instanceof TileError) throw new LedgerClientError('bad-options', `${e.code}: ${e.message}`, { cause: e });
      throw e;
    }
    for (let i = 0; i < todo.length; i += 8) {
      const got = await Promise.all(todo.slice(i, i + 8).map((t) => this.#client.tile(t)));
      got.forEach((d, j) => this.#data.set(tilePath(todo[i + j]!), d));
    }
    return (x) => {
      try {
        return this.#read(x);
      } catch (e) {
        if (e instanceof TileError) throw new LedgerClientError(e.code === 'tile-mismatch' ? 'tile-mismatch' : 'bad-response', `${e.code}: ${e.message}`, { cause: e });
        throw e;
      }
    };
  }

  async hashes(ids: readonly NodeId[]): Promise<Uint8Array[]> {
    return (await this.reader(ids))(ids);
  }

  /** MTH of the first `size` leaves, from tiles bound to this checkpoint (size ≤ its size). */
  async rootAt(size: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.checkpoint.size) {
      throw new LedgerClientError('bad-options', `size ${size} is not within the tree of size ${this.checkpoint.size}`);
    }
    if (size === 0) return emptyRoot();
    return treeHash(size, await this.reader(treeHashPlan(size)));
  }

  /** An inclusion proof computed from the tiles and verified against the root. */
  async inclusionProof(index: number, leafHash: Uint8Array): Promise<Uint8Array[]> {
    const size = this.checkpoint.size;
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new LedgerClientError('not-included', `index ${index} is not in a tree of size ${size}`);
    const proof = inclusionProof(index, size, await this.reader(inclusionProofPlan(index, size)));
    try {
      verifyInclusion(leafHash, index, size, proof, this.checkpoint.rootHash);
    } catch (e) {
      if (e instanceof ProofError) throw new LedgerClientError('proof-invalid', `entry ${index} in tree ${size}: ${e.code}: ${e.message}`, { cause: e });
      throw e;
    }
    return proof;
  }

  /**
   * Proves from the tiles that this checkpoint's tree extends an earlier tree
   * (size and root). Throws 'proof-invalid' when it does not: a fork, if the
   * earlier root came from a checkpoint signed by the same log.
   */
  async proveExtends(from: TreeHead): Promise<Uint8Array[]> {
    const to = this.checkpoint;
    if (from.size === 0) return [];
    if (from.size > to.size) throw new LedgerClientError('proof-invalid', `tree ${to.size} is smaller than the earlier tree ${from.size}`);
    const proof = consistencyProof(from.size, to.size, await this.reader(consistencyProofPlan(from.size, to.size)));
    try {
      verifyConsistency(from.size, to.size, proof, from.rootHash, to.rootHash);
    } catch (e) {
      if (e instanceof ProofError) throw new LedgerClientError('proof-invalid', `consistency ${from.size} -> ${to.size}: ${e.code}: ${e.message}`, { cause: e });
      throw e;
    }
    return proof;
  }
}

// ---------------------------------------------------------------------------
// Helpers

function toEnvelopeJSON(e: EnvelopeJSON | Envelope): EnvelopeJSON {
  return typeof e.payload === 'string' ? (e as EnvelopeJSON) : envelopeToJSON(e as Envelope);
}

/** The leaf must hold the submitted envelope: same payload type, payload and signatures. */
function checkHoldsEnvelope(inc: VerifiedInclusion, envelope: EnvelopeJSON): void {
  let held: Uint8Array;
  try {
    held = envelopeDigest(decodeLeaf(inc.leaf).envelope);
  } catch (e) {
    if (e instanceof EntryError) throw new LedgerClientError('leaf-mismatch', `entry ${inc.index} is not a valid leaf record: ${e.code}: ${e.message}`, { cause: e });
    throw e;
  }
  if (!equal(held, envelopeDigest(parseEnvelope(envelope)))) {
    throw new LedgerClientError('leaf-mismatch', `entry ${inc.index} does not hold the submitted envelope`);
  }
}

async function httpError(res: Response, method: string, path: string): Promise<LedgerClientError> {
  let serverCode: string | undefined;
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') serverCode = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    /* not the JSON error shape: status text only */
  }
  const code = res.status === 429 || res.status >= 500 ? 'unavailable' : 'rejected';
  return new LedgerClientError(code, `${method} ${path}: ${res.status}${serverCode ? ` ${serverCode}` : ''}: ${message}`, {
    status: res.status,
    ...(serverCode !== undefined ? { serverCode } : {}),
  });
}

function asObject(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new LedgerClientError('bad-response', `${where}: not a JSON object`);
  return v as Record<string, unknown>;
}

function intField(o: Record<string, unknown>, k: string, where: string): number {
  const v = o[k];
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new LedgerClientError('bad-response', `${where}: "${k}" is not a non-negative integer`);
  return v as number;
}

function decodeB64(v: unknown, what: string): Uint8Array {
  try {
    if (typeof v !== 'string') throw new Error('not a string');
    return fromBase64(v);
  } catch (e) {
    throw new LedgerClientError('bad-response', `${what} is not base64: ${(e as Error).message}`);
  }
}

function decodeHash(v: unknown, what: string): Uint8Array {
  const h = decodeB64(v, what);
  if (h.length !== 32) throw new LedgerClientError('bad-response', `${what} is ${h.length} bytes, not a 32-byte hash`);
  return h;
}

function b64Field(o: Record<string, unknown>, k: string, where: string): Uint8Array {
  return decodeB64(o[k], `${where}: "${k}"`);
}

function hashField(o: Record<string, unknown>, k: string, where: string): Uint8Array {
  return decodeHash(o[k], `${where}: "${k}"`);
}

function hashList(o: Record<string, unknown>, k: string, where: string): Uint8Array[] {
  const v = o[k];
  if (!Array.isArray(v)) throw new LedgerClientError('bad-response', `${where}: "${k}" is not an array`);
  return v.map((x, i) => decodeHash(x, `${where}: "${k}"[${i}]`));
}
