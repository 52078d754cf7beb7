// An auditor's monitor: follows a log through its tiles, proving each new
// checkpoint consistent with the last one it verified, and checks every new
// entry (EntryAuditor). It reports a stream of events (checkpoints, entries,
// alerts) and hands its state to the caller to persist after every step, so
// a restart resumes where it stopped. spec/client.md documents the events.
//
// Pure of I/O besides the client's HTTP: persistence and output are the
// caller's (src/cli/monitor.ts writes JSON lines and an atomic state file).

import { equal, toBase64 } from '../core/bytes.js';
import { EntryAuditor, type EntryProblemCode, type ProducerRecord } from './audit.js';
import { LedgerClientError, type LedgerClient, type VerifiedCheckpoint } from './client.js';

export const MONITOR_STATE_VERSION = 1;

export interface MonitorState {
  version: typeof MONITOR_STATE_VERSION;
  origin: string;
  /** The newest checkpoint (signed note) proved consistent with every earlier one; null before the first. */
  checkpoint: string | null;
  /** Entries [0, next) have been checked. */
  next: number;
  /** Acceptance time (ms since the epoch) of entry next-1; null before the first entry. */
  lastEntryTime: number | null;
  /** The producer registry replayed from entries [0, next). */
  producers: ProducerRecord[];
}

export function newMonitorState(origin: string): MonitorState {
  return { version: MONITOR_STATE_VERSION, origin, checkpoint: null, next: 0, lastEntryTime: null, producers: [] };
}

export type AlertCode =
  | 'fork' // the new checkpoint's tree does not extend the last verified one
  | 'rollback' // the new checkpoint is smaller than the last verified one
  | 'bad-checkpoint' // the checkpoint does not verify with the pinned key
  | 'bad-log-data' // tiles or entry bundles that do not hash to a verified root
  | EntryProblemCode // invalid-entry, unknown-key, revoked-key, type-not-allowed
  | 'stale-checkpoint' // the freshest evidence of the checkpoint is older than maxAgeSeconds
  | 'witness-quorum' // the policy's witness quorum is not met
  | 'low-score' // a trust-score snapshot below its threshold
  | 'log-unreachable'; // the log did not answer (after retries)

export type Severity = 'critical' | 'high' | 'warning';

export const ALERT_SEVERITY: Record<AlertCode, Severity> = {
  fork: 'critical',
  rollback: 'critical',
  'bad-checkpoint': 'critical',
  'bad-log-data': 'critical',
  'invalid-entry': 'high',
  'unknown-key': 'high',
  'revoked-key': 'high',
  'type-not-allowed': 'high',
  'witness-quorum': 'high',
  'stale-checkpoint': 'warning',
  'low-score': 'warning',
  'log-unreachable': 'warning',
};

interface EventBase {
  /** When the monitor observed it (RFC 3339 UTC). */
  ts: string;
  origin: string;
}

export interface CheckpointEvent extends EventBase {
  type: 'checkpoint';
  size: number;
  rootHash: string;
  /** Size of the previous verified checkpoint (null for the first). */
  previousSize: number | null;
  witnesses: string[];
  quorumMet: boolean;
}

export interface EntryEvent extends EventBase {
  type: 'entry';
  index: number;
  leafHash: string;
  kind: string | null;
  /** When the log accepted the entry (RFC 3339 UTC), from the leaf. */
  acceptedAt: string | null;
  status: 'ok' | EntryProblemCode;
  producer?: string;
  keyid?: string;
  /** Registry entries. */
  action?: 'add' | 'revoke';
  /** Trust-score snapshots. */
  subject?: string;
  score?: number;
}

export interface AlertEvent extends EventBase {
  type: 'alert';
  alert: AlertCode;
  severity: Severity;
  message: string;
  index?: number;
  size?: number;
  previousSize?: number;
  subject?: string;
  score?: number;
  threshold?: number;
  ageSeconds?: number;
}

export type MonitorEvent = CheckpointEvent | EntryEvent | AlertEvent;

export interface MonitorOptions {
  /** Alert when the freshest evidence of the checkpoint is older than this. */
  maxAgeSeconds?: number;
  /** Alert on trust-score snapshots below this (any subject). */
  minScore?: number;
  /** Per-subject thresholds; they take precedence over minScore. */
  minScores?: Record<string, number>;
  /** The clock (ms); default Date.now. */
  now?: () => number;
}

export interface MonitorSink {
  emit(event: MonitorEvent): void;
  /** Persist the state (called after each verified step; must be atomic). */
  save(state: MonitorState): void | Promise<void>;
}

export interface PollResult {
  alerts: number;
  /** The checkpoint the poll verified, if it got that far. */
  checkpoint?: VerifiedCheckpoint;
}

/** Entries checked between two saves of the state (one entry bundle). */
const SAVE_EVERY = 256;

export class Monitor {
  readonly #client: LedgerClient;
  readonly #opts: MonitorOptions;
  readonly #sink: MonitorSink;
  #state: MonitorState;
  #prev: VerifiedCheckpoint | undefined;

  /** Verifies the state's checkpoint with the client's pinned key (a state of another log is refused). */
  constructor(client: LedgerClient, state: MonitorState, opts: MonitorOptions, sink: MonitorSink) {
    if (client.origin === undefined) throw new LedgerClientError('bad-options', 'the monitor needs a pinned log key');
    if (state.origin !== client.origin) {
      throw new LedgerClientError('bad-options', `the monitor state is for log ${JSON.stringify(state.origin)}, not ${JSON.stringify(client.origin)}`);
    }
    this.#client = client;
    this.#opts = opts;
    this.#sink = sink;
    this.#state = structuredClone(state);
    if (state.checkpoint !== null) this.#prev = client.verifyCheckpointNote(state.checkpoint, { requireQuorum: false });
  }

  get state(): MonitorState {
    return structuredClone(this.#state);
  }

  /** One step: fetch and verify the latest checkpoint, prove it extends the last, check the new entries. */
  async poll(): Promise<PollResult> {
    const origin = this.#state.origin;
    const now = () => (this.#opts.now ?? Date.now)();
    const stamp = () => ({ ts: new Date(now()).toISOString(), origin });
    let alerts = 0;
    const alert = (code: AlertCode, message: string, details: Partial<AlertEvent> = {}) => {
      alerts++;
      this.#sink.emit({ ...stamp(), type: 'alert', alert: code, severity: ALERT_SEVERITY[code], message, ...details });
    };
    const failed = (e: unknown): PollResult => {
      if (!(e instanceof LedgerClientError)) throw e;
      if (e.code === 'tile-mismatch' || e.code === 'leaf-mismatch' || e.code === 'bad-response') alert('bad-log-data', e.message);
      else alert('log-unreachable', e.message);
      return { alerts };
    };

    let cp: VerifiedCheckpoint;
    try {
      cp = await this.#client.getCheckpoint({ requireQuorum: false });
    } catch (e) {
      if (e instanceof LedgerClientError && e.code === 'bad-checkpoint') {
        alert('bad-checkpoint', e.message);
        return { alerts };
      }
      return failed(e);
    }
    if (!cp.quorumMet) {
      alert('witness-quorum', `checkpoint ${cp.size} lacks the policy's witness quorum (cosigned by: ${cp.witnesses.join(', ') || 'none'})`, { size: cp.size });
    }

    const prev = this.#prev;
    if (prev) {
      if (cp.size < prev.size) {
        alert('rollback', `the log serves a checkpoint of size ${cp.size}, smaller than the verified checkpoint of size ${prev.size}`, { size: cp.size, previousSize: prev.size });
        return { alerts, checkpoint: cp };
      }
      try {
        await this.#client.tiles(cp).proveExtends(prev);
      } catch (e) {
        if (e instanceof LedgerClientError && e.code === 'proof-invalid') {
          alert('fork', `checkpoint ${cp.size} (root ${toBase64(cp.rootHash)}) is not consistent with the verified checkpoint ${prev.size} (root ${toBase64(prev.rootHash)}): ${e.message}`, {
            size: cp.size,
            previousSize: prev.size,
          });
          return { alerts, checkpoint: cp };
        }
        return { ...failed(e), checkpoint: cp };
      }
    }
    if (!prev || prev.size !== cp.size || !equal(prev.rootHash, cp.rootHash)) {
      this.#sink.emit({ ...stamp(), type: 'checkpoint', size: cp.size, rootHash: toBase64(cp.rootHash), previousSize: prev?.size ?? null, witnesses: cp.witnesses, quorumMet: cp.quorumMet });
      this.#state.checkpoint = cp.note;
      this.#prev = cp;
      await this.#sink.save(this.state);
    }

    const auditor = new EntryAuditor(this.#client.logPublicKey, { next: this.#state.next, producers: this.#state.producers });
    try {
      for await (const e of this.#client.entries(this.#state.next, cp.size, cp)) {
        const v = auditor.check(e.index, e.leaf);
        const ev: EntryEvent = {
          ...stamp(),
          type: 'entry',
          index: e.index,
          leafHash: toBase64(e.leafHash),
          kind: v.record?.kind ?? null,
          acceptedAt: v.record ? new Date(v.record.time).toISOString() : null,
          status: v.problem?.code ?? 'ok',
        };
        if (v.producer) Object.assign(ev, { producer: v.producer.name, keyid: v.producer.keyid });
        if (v.change) ev.action = v.change;
        const score = v.record?.kind === 'trust-score' && v.payload ? (v.payload as { subject: string; score: number }) : undefined;
        if (score) Object.assign(ev, { subject: score.subject, score: score.score });
        this.#sink.emit(ev);
        if (v.problem) alert(v.problem.code, v.problem.message, { index: e.index });
        if (score) {
          const threshold = this.#opts.minScores?.[score.subject] ?? this.#opts.minScore;
          if (threshold !== undefined && score.score < threshold) {
            alert('low-score', `entry ${e.index}: ${score.subject} scored ${score.score}, below ${threshold}`, { index: e.index, subject: score.subject, score: score.score, threshold });
          }
        }
        this.#state.next = e.index + 1;
        this.#state.producers = auditor.state.producers;
        if (v.record) this.#state.lastEntryTime = v.record.time;
        if (this.#state.next % SAVE_EVERY === 0) await this.#sink.save(this.state);
      }
    } catch (e) {
      await this.#sink.save(this.state);
      return { ...failed(e), checkpoint: cp };
    }
    await this.#sink.save(this.state);

    if (this.#opts.maxAgeSeconds !== undefined) {
      // The freshest signed evidence that this tree head is current: a witness
      // cosignature's time, or the log's acceptance time of its last entry.
      const times = Object.values(cp.cosignedAt).map((s) => s * 1000);
      if (this.#state.next === cp.size && cp.size > 0 && this.#state.lastEntryTime !== null) times.push(this.#state.lastEntryTime);
      if (times.length > 0) {
        const ageSeconds = Math.floor((now() - Math.max(...times)) / 1000);
        if (ageSeconds > this.#opts.maxAgeSeconds) {
          alert('stale-checkpoint', `checkpoint ${cp.size} is ${ageSeconds} s old (limit ${this.#opts.maxAgeSeconds} s)`, { size: cp.size, ageSeconds });
        }
      }
    }
    return { alerts, checkpoint: cp };
  }
}
