// The per-entry work of a submission, spread over worker threads.
//
// Checking an envelope costs far more than sequencing it: JSON and base64
// decoding, the payload schema, an Ed25519 verification (about 0.1 ms, most of
// the total), the deterministic CBOR leaf and two SHA-256 hashes. checkEnvelope()
// does all of it as a pure function; VerifyPool runs it on one worker thread per
// core and hands the results back IN SUBMISSION ORDER, so the sequencer sees
// entries in the order they arrived (a batch keeps its order) exactly as when
// the check ran on the main thread. The registry rows a check uses are sent to
// the workers before any check submitted after they changed.

import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { cryptoProvider } from '../core/crypto.js';
import { EnvelopeError, parseEnvelope } from '../core/dsse.js';
import { EntryError, MAX_ENTRY_SIZE, PAYLOAD_TYPES, encodeLeaf, validatePayload, type ProducerKind } from '../core/entry.js';
import type { NewEntry, ProducerRow } from '../../storage/sqlite/store.js';
import { useCryptoNamed } from '../platform/sodium.js';
import { LedgerError, badRequest } from './errors.js';
import { authorizeEnvelope, newEntryOf } from './producers.js';

export interface CheckLimits {
  maxFutureSeconds: number;
  maxAgeSeconds: number;
}

/** Signatures accepted on one envelope. */
export const MAX_SIGNATURES = 16;

/** An envelope that passed every check up to and including the producer signature. */
export interface Checked {
  kind: ProducerKind;
  /** keyids of the producers whose signatures authorised it. */
  signers: string[];
  leafSize: number;
  /** The leaf and its keys; absent when leafSize is over MAX_ENTRY_SIZE (refused by the caller, after its rate limit). */
  entry?: NewEntry;
}

/**
 * Validates an envelope given as parsed JSON, authorises it against the
 * producer rows and builds its leaf (accepted at `now`). Throws LedgerError
 * (400 for the envelope or payload, 403 for the signature or registry).
 */
export function checkEnvelope(body: unknown, now: number, limits: CheckLimits, rows: readonly ProducerRow[]): Checked {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badRequest('malformed-envelope', 'the body must be a DSSE envelope: a JSON object with payloadType, payload and signatures');
  let env;
  try {
    env = parseEnvelope(body);
  } catch (e) {
    if (e instanceof EnvelopeError) throw badRequest(e.code, e.message);
    throw e;
  }
  // Verification costs signatures x keys: bound the first factor.
  if (env.signatures.length > MAX_SIGNATURES)
    throw badRequest('too-many-signatures', `an envelope may carry at most ${MAX_SIGNATURES} signatures`);
  const kind = PAYLOAD_TYPES[env.payloadType];
  if (!kind || kind === 'producer')
    throw badRequest('unknown-payload-type', `payloadType ${JSON.stringify(env.payloadType)} is not accepted; use one of ${Object.keys(PAYLOAD_TYPES).filter((t) => PAYLOAD_TYPES[t] !== 'producer').join(', ')}`);
  try {
    validatePayload(kind, env.payload, { now, maxFutureSeconds: limits.maxFutureSeconds, maxAgeSeconds: limits.maxAgeSeconds });
  } catch (e) {
    if (e instanceof EntryError) throw badRequest(e.code, e.message);
    throw e;
  }
  const signers = authorizeEnvelope(rows, env, kind as ProducerKind);
  const leaf = encodeLeaf({ kind, time: now, envelope: env });
  if (leaf.length > MAX_ENTRY_SIZE) return { kind: kind as ProducerKind, signers, leafSize: leaf.length };
  return { kind: kind as ProducerKind, signers, leafSize: leaf.length, entry: newEntryOf(leaf, env) };
}

// ---------------------------------------------------------------- messages

const ROLE = 'ledger-verify-pool';

type ToWorker = { rows: readonly ProducerRow[] } | { seq: number; items: unknown[]; now: number[] };

/** One result: ok [kind, signers, leafSize, offset in buf], too large [kind, signers, leafSize], refused, or an internal error. */
type Out =
  | { k: ProducerKind; s: string[]; n: number; o?: number }
  | { e: [status: number, code: string, message: string, retryAfter?: number] }
  | { x: string };

interface FromWorker {
  seq: number;
  /** leaf ‖ leafHash ‖ digest of each accepted entry, back to back. */
  buf: ArrayBuffer;
  out: Out[];
}

// ---------------------------------------------------------------- worker side

function runWorker(): void {
  const data = workerData as { role: string; crypto: string; limits: CheckLimits };
  useCryptoNamed(data.crypto); // the main thread's provider
  let rows: readonly ProducerRow[] = [];
  parentPort!.on('message', (m: ToWorker) => {
    if ('rows' in m) {
      rows = m.rows;
      return;
    }
    const checked: (Checked | Out)[] = m.items.map((body, i) => {
      try {
        return checkEnvelope(body, m.now[i]!, data.limits, rows);
      } catch (e) {
        if (e instanceof LedgerError) return { e: e.retryAfter === undefined ? [e.status, e.code, e.message] : [e.status, e.code, e.message, e.retryAfter] };
        return { x: (e as Error).message };
      }
    });
    let total = 0;
    for (const c of checked) if ('entry' in c && c.entry) total += c.entry.leaf.length + 64;
    const buf = new ArrayBuffer(total);
    const bytes = new Uint8Array(buf);
    let o = 0;
    const out: Out[] = checked.map((c) => {
      if (!('signers' in c)) return c;
      if (!c.entry) return { k: c.kind, s: c.signers, n: c.leafSize };
      const at = o;
      bytes.set(c.entry.leaf, o);
      bytes.set(c.entry.leafHash, o + c.leafSize);
      bytes.set(c.entry.digest, o + c.leafSize + 32);
      o += c.leafSize + 64;
      return { k: c.kind, s: c.signers, n: c.leafSize, o: at };
    });
    const reply: FromWorker = { seq: m.seq, buf, out };
    parentPort!.postMessage(reply, [buf]);
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) runWorker();

// ---------------------------------------------------------------- main side

interface Waiting {
  body: unknown;
  now: number;
  rows: readonly ProducerRow[];
  resolve: (c: Checked) => void;
  reject: (e: unknown) => void;
}

interface Job {
  items: Waiting[];
  worker: Slot;
  reply?: FromWorker;
  error?: Error;
}

interface Slot {
  worker: Worker;
  /** Jobs sent to it and not yet answered. */
  jobs: number;
  /** Envelopes in those jobs. */
  load: number;
}

/** V8 young-generation size of a worker (the default, 16 MB semi-spaces, costs about 25 MB more per worker). */
const YOUNG_GENERATION_MB = 8;

/** Largest number of envelopes sent to one worker in one message. */
const CHUNK = 64;
/**
 * Jobs one worker holds at once: the one it works on and the next. Further
 * envelopes wait here and go out together when a worker answers, so under load
 * each message carries many envelopes (fewer wake-ups and copies per entry)
 * while an idle pool still starts on an envelope at once.
 */
const IN_FLIGHT = 2;

export class VerifyPool {
  private readonly slots: Slot[] = [];
  private queue: Waiting[] = [];
  private scheduled = false;
  /** The registry rows the workers hold. */
  private sentRows: readonly ProducerRow[] | null = null;
  private readonly jobs = new Map<number, Job>();
  private nextSeq = 0;
  private nextRelease = 0;
  private closed = false;

  /**
   * `threads` worker threads (default: one per core). With 0, or when this
   * module runs from TypeScript source (which a worker cannot load), checks run
   * inline on the calling thread.
   */
  constructor(
    private readonly limits: CheckLimits,
    threads = availableParallelism(),
  ) {
    if (import.meta.url.endsWith('.ts')) threads = 0;
    for (let i = 0; i < threads; i++) this.slots.push(this.spawn());
  }

  get threads(): number {
    return this.slots.length;
  }

  /**
   * Checks one envelope (see checkEnvelope) against the registry `rows` as they
   * are now; results come back in call order.
   */
  check(body: unknown, now: number, rows: readonly ProducerRow[]): Promise<Checked> {
    if (this.closed) return Promise.reject(new LedgerError(503, 'shutting-down', 'the server is shutting down'));
    if (this.slots.length === 0) {
      try {
        return Promise.resolve(checkEnvelope(body, now, this.limits, rows));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ body, now, rows, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // Everything that arrives in this event-loop turn goes out together.
        setImmediate(() => this.dispatch());
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const err = new LedgerError(503, 'shutting-down', 'the server is shutting down');
    for (const w of this.queue) w.reject(err);
    this.queue = [];
    for (const j of this.jobs.values()) for (const w of j.items) w.reject(err);
    this.jobs.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private spawn(): Slot {
    const worker = new Worker(new URL(import.meta.url), {
      // A check allocates little that lives: a small young generation keeps each
      // worker's heap (and the server's resident memory) small at no measurable cost.
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      workerData: { role: ROLE, crypto: cryptoProvider().name, limits: { maxFutureSeconds: this.limits.maxFutureSeconds, maxAgeSeconds: this.limits.maxAgeSeconds } },
    });
    const slot: Slot = { worker, jobs: 0, load: 0 };
    if (this.sentRows) worker.postMessage({ rows: this.sentRows } satisfies ToWorker);
    worker.on('message', (r: FromWorker) => {
      const job = this.jobs.get(r.seq);
      if (!job) return;
      if (--slot.jobs === 0) worker.unref();
      slot.load -= job.items.length;
      job.reply = r;
      this.release();
      this.dispatch();
    });
    const fail = (e: Error) => {
      if (this.closed) return;
      // Fail what this worker held, and put a fresh one (with the current rows) in its place.
      for (const job of this.jobs.values()) {
        if (job.worker === slot && !job.reply) job.error = new Error(`verification worker failed: ${e.message}`);
      }
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots[i] = this.spawn();
      this.release();
      this.dispatch();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
    // An idle pool does not keep the process alive, a busy one does (dispatch refs
    // it). After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    return slot;
  }

  /** Sends queued envelopes to workers with room, in queue order, spread evenly. */
  private dispatch(): void {
    this.scheduled = false;
    while (this.queue.length > 0) {
      const open = this.slots.filter((s) => s.jobs < IN_FLIGHT);
      if (open.length === 0) return; // resumed when a worker answers
      const slot = open.reduce((a, b) => (b.load < a.load ? b : a));
      const room = open.reduce((n, s) => n + IN_FLIGHT - s.jobs, 0);
      const want = Math.min(CHUNK, Math.ceil(this.queue.length / Math.max(1, Math.min(room, Math.ceil(this.queue.length / 8)))));
      // A job is checked against one version of the registry: cut it where the rows change.
      const rows = this.queue[0]!.rows;
      let size = 1;
      while (size < want && this.queue[size]!.rows === rows) size++;
      const chunk = this.queue.splice(0, size);
      if (rows !== this.sentRows) {
        // Jobs sent before this message are checked with the rows they were queued under.
        this.sentRows = rows;
        for (const s of this.slots) s.worker.postMessage({ rows } satisfies ToWorker);
      }
      if (slot.jobs++ === 0) slot.worker.ref();
      slot.load += chunk.length;
      const seq = this.nextSeq++;
      this.jobs.set(seq, { items: chunk, worker: slot });
      slot.worker.postMessage({ seq, items: chunk.map((w) => w.body), now: chunk.map((w) => w.now) } satisfies ToWorker);
    }
  }

  /** Settles finished jobs strictly in the order they were submitted. */
  private release(): void {
    for (;;) {
      const job = this.jobs.get(this.nextRelease);
      if (!job || (!job.reply && !job.error)) return;
      this.jobs.delete(this.nextRelease++);
      if (job.error) {
        for (const w of job.items) w.reject(job.error);
        continue;
      }
      const { buf, out } = job.reply!;
      job.items.forEach((w, i) => {
        const r = out[i]!;
        if ('e' in r) w.reject(new LedgerError(r.e[0], r.e[1], r.e[2], r.e[3]));
        else if ('x' in r) w.reject(new Error(r.x));
        else if (r.o === undefined) w.resolve({ kind: r.k, signers: r.s, leafSize: r.n });
        else {
          const leaf = new Uint8Array(buf, r.o, r.n);
          const leafHash = new Uint8Array(buf, r.o + r.n, 32);
          const digest = new Uint8Array(buf, r.o + r.n + 32, 32);
          w.resolve({ kind: r.k, signers: r.s, leafSize: r.n, entry: { leaf, leafHash, digest } });
        }
      });
    }
  }
}
