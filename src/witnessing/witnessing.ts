// The log's side of witnessing: for each new signed checkpoint, ask every
// witness in parallel for a cosignature (C2SP tlog-witness add-checkpoint),
// and publish the checkpoint only once the cosignatures meet the trust policy
// (C2SP tlog-policy). Fail closed: below quorum, cosign() returns null and
// GET /checkpoint keeps serving the last checkpoint that met it.
//
// Per witness, the size it last cosigned is remembered (in ledger.db), so the
// consistency proof goes from there; a 409 says the witness is elsewhere (its
// state was lost, or another client moved it) and the request is sent again
// from the size it reports.

import { equal } from '../core/bytes.js';
import { parseCosignatureVerifierKey, verifyCosignature, type CosignatureVerifier } from '../core/cosignature.js';
import { addSignatures, parseNote, type NoteSignature } from '../core/note.js';
import { evaluateQuorum, parsePolicy, type Policy } from '../core/policy.js';
import type { WitnessConfig } from '../log/config.js';
import type { Ledger, Witnessing } from '../log/ledger.js';
import type { StoredCheckpoint } from '../../storage/sqlite/store.js';
import { formatAddCheckpointRequest, parseSizeBody, ProtocolError } from './protocol.js';

export class WitnessingError extends Error {
  constructor(
    readonly code: 'duplicate-witness' | 'unsatisfiable-policy',
    message: string,
  ) {
    super(message);
    this.name = 'WitnessingError';
  }
}

/** Why one witness gave no cosignature this round; `status` labels the failure metric. */
export class WitnessFailure extends Error {
  constructor(
    /** An HTTP status ("403", "409", ...), or timeout, network, bad-response, no-cosignature, invalid-cosignature, witness-ahead. */
    readonly status: string,
    message: string,
  ) {
    super(message);
    this.name = 'WitnessFailure';
  }
}

export interface WitnessTarget {
  /** The name used in metrics and logs (the configured name, or the policy name). */
  name: string;
  /** The witness's submission prefix. */
  url: string;
  verifier: CosignatureVerifier;
  /** The witness's name in the policy, if its cosignatures count toward the quorum. */
  policyName?: string;
}

/**
 * The witnesses to ask: every configured witness, and every policy witness that
 * has a URL and is not configured. A configured witness counts toward the
 * quorum when the policy lists the same vkey (name, key ID and key); one the
 * policy does not list is still asked and its cosignatures still appended, but
 * they never publish a checkpoint. Throws 'unsatisfiable-policy' when even all
 * of them together could not meet the quorum.
 */
export function witnessTargets(witnesses: readonly WitnessConfig[], policy: Policy): WitnessTarget[] {
  const targets: WitnessTarget[] = [];
  const add = (t: WitnessTarget) => {
    const dup = targets.find((o) => equal(o.verifier.publicKey, t.verifier.publicKey));
    if (dup) throw new WitnessingError('duplicate-witness', `witnesses ${dup.name} and ${t.name} have the same public key`);
    targets.push(t);
  };
  const inPolicy = [...policy.witnesses.values()];
  for (const w of witnesses) {
    const verifier = parseCosignatureVerifierKey(w.vkey);
    const p = inPolicy.find((x) => x.verifier.vkey === verifier.vkey);
    add({ name: w.name, url: w.url, verifier, ...(p ? { policyName: p.name } : {}) });
  }
  for (const p of inPolicy) {
    if (p.url !== undefined && !targets.some((t) => t.policyName === p.name)) {
      add({ name: p.name, url: p.url, verifier: p.verifier, policyName: p.name });
    }
  }
  const reachable = new Set(targets.flatMap((t) => (t.policyName ? [t.policyName] : [])));
  if (!evaluateQuorum(policy, reachable)) {
    throw new WitnessingError(
      'unsatisfiable-policy',
      `the policy's quorum "${policy.quorum}" cannot be met even if every witness this log asks (${targets.map((t) => t.name).join(', ') || 'none'}) cosigns`,
    );
  }
  return targets;
}

/** The witness's cosignature line(s) in a 200 body; lines of other keys are ignored (tlog-witness). */
export function verifyCosignatureResponse(checkpointText: string, body: string, v: CosignatureVerifier): NoteSignature {
  let lines: NoteSignature[];
  try {
    // tlog-witness: "the client MAY concatenate it to the checkpoint" and parse a note.
    lines = parseNote(`${checkpointText}\n${body}`).signatures;
  } catch (e) {
    throw new WitnessFailure('bad-response', `the 200 body is not signature lines: ${(e as Error).message}`);
  }
  const own = lines.filter((s) => s.name === v.name && equal(s.keyId, v.keyId));
  if (own.length === 0) throw new WitnessFailure('no-cosignature', `the 200 body holds no line from ${v.vkey}`);
  for (const s of own) {
    try {
      verifyCosignature(checkpointText, s, v);
    } catch (e) {
      throw new WitnessFailure('invalid-cosignature', (e as Error).message);
    }
  }
  return own[0]!;
}

export interface WitnessingOptions {
  /** How long one witness round may take (default: config.witnessTimeoutMs). */
  timeoutMs?: number;
  /** How soon an unpublished checkpoint is tried again (default: the checkpoint interval, at least 1 s). */
  retryMs?: number;
  fetch?: typeof fetch;
}

const SIZES_TABLE = `CREATE TABLE IF NOT EXISTS witness_sizes (
  vkey TEXT PRIMARY KEY, size INTEGER NOT NULL, updated_at INTEGER NOT NULL
) WITHOUT ROWID`;

/** At most this many requests per witness per round: the first and two re-sends after 409. */
const MAX_ATTEMPTS = 3;

export class LedgerWitnessing implements Witnessing {
  readonly policy: Policy;
  readonly targets: WitnessTarget[];
  private readonly sizes = new Map<string, number>();
  private readonly healthy = new Map<string, boolean>();
  private readonly timeoutMs: number;
  private readonly retryMs: number;
  private readonly fetch: typeof fetch;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly st;
  private readonly m;

  constructor(
    private readonly ledger: Ledger,
    opts: WitnessingOptions = {},
  ) {
    const c = ledger.config;
    this.policy = parsePolicy(c.witnessPolicy ?? 'quorum none\n');
    this.targets = witnessTargets(c.witnesses, this.policy);
    this.timeoutMs = opts.timeoutMs ?? c.witnessTimeoutMs;
    this.retryMs = opts.retryMs ?? Math.max(1000, c.checkpointIntervalMs);
    this.fetch = opts.fetch ?? fetch;

    const db = ledger.store.db;
    db.exec(SIZES_TABLE);
    this.st = {
      all: db.prepare('SELECT vkey, size FROM witness_sizes'),
      put: db.prepare('INSERT OR REPLACE INTO witness_sizes (vkey, size, updated_at) VALUES (?, ?, ?)'),
    };
    for (const r of this.st.all.all() as { vkey: string; size: number }[]) this.sizes.set(r.vkey, r.size);

    const metrics = ledger.metrics;
    this.m = {
      cosignatures: metrics.counter('ledger_witness_cosignatures_total', 'Valid cosignatures received, by witness'),
      failures: metrics.counter('ledger_witness_failures_total', 'Witness rounds without a cosignature, by witness and status'),
      resyncs: metrics.counter('ledger_witness_resyncs_total', '409 answers followed by a re-send from the size the witness reported, by witness'),
      quorum: metrics.histogram('ledger_witness_quorum_seconds', 'Time from asking the witnesses to meeting the policy', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
    };
    metrics.gauge('ledger_witness_size', 'Size each witness last cosigned, as far as the log knows', () =>
      this.targets.map((t) => ({ labels: { witness: t.name }, value: this.sizes.get(t.verifier.vkey) ?? 0 })),
    );
  }

  /** Tries to publish a checkpoint left unpublished by an earlier run. */
  start(): void {
    void this.ledger.publish();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** One witness round for `cp`: the note with the collected cosignatures, or null below quorum. */
  async cosign(cp: StoredCheckpoint): Promise<string | null> {
    const started = performance.now();
    const text = parseNote(cp.note).text;
    const signal = AbortSignal.timeout(this.timeoutMs);
    const got: (NoteSignature | undefined)[] = this.targets.map(() => undefined);
    const satisfied = new Set<string>();
    let quorumAt: number | undefined;
    await Promise.all(
      this.targets.map(async (t, i) => {
        try {
          got[i] = await this.ask(t, cp, text, signal);
          this.m.cosignatures.inc({ witness: t.name });
          this.setHealthy(t, true);
          if (t.policyName) satisfied.add(t.policyName);
          if (quorumAt === undefined && evaluateQuorum(this.policy, satisfied)) quorumAt = performance.now();
        } catch (e) {
          const f = e instanceof WitnessFailure ? e : new WitnessFailure('internal', (e as Error).message);
          this.m.failures.inc({ witness: t.name, status: f.status });
          this.setHealthy(t, false, f);
        }
      }),
    );
    if (!evaluateQuorum(this.policy, satisfied)) {
      this.retrySoon();
      return null;
    }
    this.m.quorum.observe(((quorumAt ?? started) - started) / 1000);
    // Cosignature lines in the configured order, after the log's signature.
    return addSignatures(cp.note, got.filter((s): s is NoteSignature => s !== undefined));
  }

  /** The add-checkpoint exchange with one witness, re-sent after a 409. */
  private async ask(t: WitnessTarget, cp: StoredCheckpoint, text: string, signal: AbortSignal): Promise<NoteSignature> {
    // tlog-witness: "If a client doesn't have information on the latest cosigned
    // checkpoint, it MAY initially make a request with a old size of zero to obtain it."
    let old = this.sizes.get(t.verifier.vkey) ?? 0;
    if (old > cp.size) old = 0;
    for (let attempt = 1; ; attempt++) {
      const proof = this.ledger.integrator.proveConsistency(old, cp.size);
      const { status, body } = await this.post(t, formatAddCheckpointRequest({ oldSize: old, proof, note: cp.note }), signal);
      if (status === 200) {
        const sig = verifyCosignatureResponse(text, body, t.verifier);
        this.remember(t, cp.size);
        return sig;
      }
      if (status !== 409) throw new WitnessFailure(String(status), `${t.name} answered ${status}: ${body.slice(0, 300)}`);
      let size: number;
      try {
        size = parseSizeBody(body);
      } catch (e) {
        if (e instanceof ProtocolError) throw new WitnessFailure('bad-response', `${t.name}: 409 body: ${e.message}`);
        throw e;
      }
      this.remember(t, size);
      if (size > cp.size) throw new WitnessFailure('witness-ahead', `${t.name} has cosigned size ${size}, beyond checkpoint ${cp.size}`);
      if (size === old || attempt === MAX_ATTEMPTS) throw new WitnessFailure('409', `${t.name} answered 409 (size ${size}) to a request from ${old}`);
      this.m.resyncs.inc({ witness: t.name });
      old = size;
    }
  }

  private async post(t: WitnessTarget, body: string, signal: AbortSignal): Promise<{ status: number; body: string }> {
    try {
      const res = await this.fetch(`${t.url.replace(/\/+$/, '')}/add-checkpoint`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        signal,
      });
      return { status: res.status, body: await res.text() };
    } catch (e) {
      if (signal.aborted) throw new WitnessFailure('timeout', `${t.name} did not answer within ${this.timeoutMs} ms`);
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new WitnessFailure('network', `${t.name}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
  }

  /**
   * Notes the size a witness has cosigned. Only a hint for the next request's old
   * size (a wrong one costs a 409 and a re-send), so it is written without a sync
   * of its own: a synced commit here blocked the event loop for an fsync, once per
   * witness and round. The next synced commit makes it durable.
   */
  private remember(t: WitnessTarget, size: number): void {
    this.sizes.set(t.verifier.vkey, size);
    if (this.ledger.store.db.open) this.ledger.store.writeUnsynced(() => this.st.put.run(t.verifier.vkey, size, Date.now()));
  }

  /** Logs a witness going down or coming back, once per change (not every round). */
  private setHealthy(t: WitnessTarget, ok: boolean, why?: WitnessFailure): void {
    if (this.healthy.get(t.name) === ok) return;
    this.healthy.set(t.name, ok);
    if (ok) console.error(`witness ${t.name}: cosigning`);
    else console.error(`witness ${t.name}: no cosignature (${why!.status}): ${why!.message}`);
  }

  /** Below quorum no new checkpoint may come to retry with, so retry on a timer. */
  private retrySoon(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.ledger.publish();
    }, this.retryMs);
    this.retryTimer.unref();
  }
}

/** Installs witnessing on a ledger whose configuration names witnesses or a policy. */
export function attachWitnessing(ledger: Ledger, opts: WitnessingOptions = {}): LedgerWitnessing | undefined {
  const c = ledger.config;
  if (c.witnesses.length === 0 && c.witnessPolicy === undefined) return undefined;
  const w = new LedgerWitnessing(ledger, opts);
  ledger.witnessing = w;
  return w;
}
