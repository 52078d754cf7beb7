// The log: accepts envelopes, sequences them with group commit, integrates
// them into tiles, signs checkpoints and publishes them through one place.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MAX_ENTRY_SIZE, type ProducerKind } from '../core/entry.js';
import { parseSignerKey, type NoteSigner } from '../core/note.js';
import { encodeEntryBundle, TILE_WIDTH, type TileId } from '../core/tiles.js';
import { LedgerStore, type StoredCheckpoint } from '../../storage/sqlite/store.js';
import { WalCheckpointer } from '../../storage/sqlite/wal-checkpointer.js';
import { loadConfig, paths, readPrivateKeyFile, type LedgerConfig } from './config.js';
import { LedgerError, badRequest, notFound } from './errors.js';
import { Integrator } from './integrator.js';
import { Metrics } from './metrics.js';
import { ProducerRegistry } from './producers.js';
import { Sequencer, type Prepared, type Sequenced } from './sequencer.js';
import { VerifyPool } from './verify-pool.js';
import { ProducerRateLimiter } from '../server/limits.js';
import { equal } from '../core/bytes.js';
import { hashLeaf } from '../core/merkle.js';

/** A step a signed checkpoint passes before it is published (the witness round). */
export interface Witnessing {
  /** Returns the note with enough cosignatures to meet the policy, or null if it could not be met now. */
  cosign(cp: StoredCheckpoint): Promise<string | null>;
}

/** Signatures accepted on one envelope. */
export { MAX_SIGNATURES } from './verify-pool.js';

/** Entries integrated per transaction; requests are served between them. */
const INTEGRATION_STEP = 1024;

/**
 * Between checkpoints, new entries are folded into the tree this often, so that
 * when a checkpoint is due only the last moments' entries are left to integrate
 * before it is signed.
 */
const FOLD_MS = 50;
/** Between two slices of a lookup-key merge (each at most about 8 ms). */
const MERGE_PAUSE_MS = 16;

export interface SubmitResult extends Sequenced {
  checkpoint?: string;
  treeSize?: number;
  proof?: Uint8Array[];
}

export class Ledger {
  readonly store: LedgerStore;
  readonly config: LedgerConfig;
  readonly registry: ProducerRegistry;
  readonly sequencer: Sequencer;
  /** Worker threads that check envelopes (parse, schema, signature, leaf). */
  readonly pool: VerifyPool;
  readonly integrator: Integrator;
  readonly metrics = new Metrics();
  readonly signer: NoteSigner & { vkey: string; seed: Uint8Array };
  witnessing?: Witnessing;
  /** Called with every newly published checkpoint (S3 anchoring, tile mirror). */
  readonly onPublished: ((cp: StoredCheckpoint) => void)[] = [];

  private timer: NodeJS.Timeout | null = null;
  private foldTimer: NodeJS.Timeout | null = null;
  /** Tree work (a fold or a checkpoint cycle) is under way; the other waits for it. */
  private integrating = false;
  private cycleWanted = false;
  private publishing = false;
  private merging = false;
  private checkpointer: WalCheckpointer | undefined;
  private closed = false;
  /** When the cycle that signed the latest checkpoint was due, or started (ms). */
  private lastSignedAt = 0;
  /** After a failed integration or publication (storage busy or full), not before this time. */
  private retryAt = 0;
  private readonly limiter?: ProducerRateLimiter;
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private published: StoredCheckpoint | undefined;
  private publishedVersion = -1;
  private publishedChecked = false;
  private waiters: { index: number; resolve: (cp: StoredCheckpoint) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout }[] = [];

  readonly m = {
    accepted: this.metrics.counter('ledger_entries_accepted_total', 'Entries sequenced, by kind'),
    duplicates: this.metrics.counter('ledger_entries_duplicate_total', 'Submissions answered with an existing entry'),
    rejected: this.metrics.counter('ledger_entries_rejected_total', 'Submissions refused, by reason'),
    seqLatency: this.metrics.histogram('ledger_sequencing_seconds', 'Time from receipt to durable index', [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]),
    checkpoints: this.metrics.counter('ledger_checkpoints_signed_total', 'Checkpoints signed'),
    published: this.metrics.counter('ledger_checkpoints_published_total', 'Checkpoints published'),
    commits: this.metrics.counter('ledger_commits_total', 'Write transactions that appended submitted entries (group commit: entries accepted / commits = entries per fsync)'),
  };

  constructor(readonly dir: string) {
    this.config = loadConfig(dir);
    const key = parseSignerKey(readPrivateKeyFile(paths(dir).key));
    if (key.name !== this.config.origin) throw new LedgerError(500, 'bad-key', `log key is named ${key.name}, origin is ${this.config.origin}`);
    this.signer = key;
    this.store = new LedgerStore(paths(dir).db, { busyTimeoutMs: this.config.busyTimeoutMs, keyChunk: this.config.keyMergeEntries });
    // Optional size cap: past it SQLite answers SQLITE_FULL, which writes report as 503 storage-busy.
    if (this.config.maxDatabaseBytes !== undefined)
      this.store.db.pragma(`max_page_count = ${Math.floor(this.config.maxDatabaseBytes / (this.store.db.pragma('page_size', { simple: true }) as number))}`);
    if (this.config.producerRatePerSecond > 0) this.limiter = new ProducerRateLimiter(this.config.producerRatePerSecond, this.config.producerBurst);
    this.registry = new ProducerRegistry(this.store);
    this.sequencer = new Sequencer(this.store, this.registry);
    this.pool = new VerifyPool({ maxFutureSeconds: this.config.maxFutureSeconds, maxAgeSeconds: this.config.maxAgeSeconds });
    this.integrator = new Integrator(this.store, this.config.origin, this.signer);
    this.sequencer.onCommit = (first, leafHashes) => {
      this.m.commits.inc();
      this.integrator.noteSequenced(first, leafHashes);
      this.kick();
    };
    const latest = this.store.latestCheckpoint();
    this.lastSignedAt = latest?.createdAt ?? 0;
    this.metrics.gauge('ledger_tree_size', 'Entries integrated into the tree', () => this.integrator.treeSize);
    this.metrics.gauge('ledger_entries_sequenced', 'Entries sequenced (durably stored)', () => this.sequenced());
    this.metrics.gauge('ledger_unmerged_keys_entries', 'Entries whose lookup keys are held in memory, not yet merged into the key tables', () => this.store.unmergedKeys());
    this.metrics.gauge('ledger_integration_lag_entries', 'Sequenced entries not yet in the tree', () => this.sequenced() - this.integrator.treeSize);
    this.metrics.gauge('ledger_checkpoint_size', 'Size of the latest checkpoint, by state', () => [
      { labels: { state: 'signed' }, value: this.store.latestCheckpoint()?.size ?? 0 },
      { labels: { state: 'published' }, value: this.store.latestPublishedCheckpoint()?.size ?? 0 },
    ]);
    this.metrics.gauge('ledger_checkpoint_age_seconds', 'Age of the latest published checkpoint', () => {
      const cp = this.store.latestPublishedCheckpoint();
      return cp ? (Date.now() - (cp.publishedAt ?? cp.createdAt)) / 1000 : 0;
    });
    // How late the event loop ran ready work since the previous scrape (Node samples it
    // every 10 ms): every request waits behind whatever holds the loop, so a tail in
    // acknowledgement latency shows here first.
    this.loopDelay.enable();
    this.metrics.gauge('ledger_event_loop_delay_seconds', 'Event-loop delay since the previous scrape: median, p99 and max', () => {
      const h = this.loopDelay;
      const out = h.count === 0 ? [] : [
        { labels: { quantile: '0.5' }, value: h.percentile(50) / 1e9 },
        { labels: { quantile: '0.99' }, value: h.percentile(99) / 1e9 },
        { labels: { quantile: '1' }, value: h.max / 1e9 },
      ];
      h.reset();
      return out;
    });
  }

  /** Starts background integration (catches up on anything sequenced before) and WAL checkpoints off the event loop. */
  start(): void {
    if (!this.checkpointer) this.checkpointer = new WalCheckpointer(paths(this.dir).db, this.store.db);
    this.kick();
    this.warmProofCache();
  }

  /**
   * Fills the proof cache's tile summaries for the tree as stored, in slices of
   * about 5 ms, 1 ms apart, with requests served between them (at 1,000,000
   * entries about 1.5 s of work; until then proofs there cost several times as much).
   */
  private warmProofCache(): void {
    if (this.closed) return;
    let more: boolean;
    try {
      more = this.integrator.warmSummaries(5);
    } catch (e) {
      console.error(`warming the proof cache stopped: ${(e as Error).message}`);
      return;
    }
    if (more) setTimeout(() => this.warmProofCache(), 1).unref();
  }

  close(): void {
    this.closed = true;
    this.loopDelay.disable();
    if (this.timer) clearTimeout(this.timer);
    if (this.foldTimer) clearTimeout(this.foldTimer);
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new LedgerError(503, 'shutting-down', 'the server is shutting down'));
    }
    this.waiters = [];
    void this.pool.close();
    this.sequencer.close();
    this.checkpointer?.close();
    this.store.close();
  }

  // ---------------------------------------------------------------- writes

  /** Validates, authorises and sequences one envelope (given as parsed JSON). */
  async submit(body: unknown): Promise<Sequenced> {
    const t0 = performance.now();
    try {
      const item = await this.prepare(body);
      const r = await this.sequencer.submit(item);
      if (r.duplicate) this.m.duplicates.inc();
      else this.m.accepted.inc({ kind: item.kind });
      this.m.seqLatency.observe((performance.now() - t0) / 1000);
      return r;
    } catch (e) {
      const code = e instanceof LedgerError ? e.code : 'internal';
      this.m.rejected.inc({ reason: code });
      throw e;
    }
  }

  /**
   * Validates, authorises and builds the leaf of one envelope: the checks run on
   * the verification worker threads (VerifyPool, in submission order); the rate
   * limit and the size refusal stay here, in that order, after the signature.
   */
  private async prepare(body: unknown): Promise<Prepared & { kind: ProducerKind }> {
    const now = Date.now();
    this.registry.refreshThisTurn();
    const c = await this.pool.check(body, now, this.registry.all());
    this.limiter?.charge(c.signers[0]!); // only after the signature verified: nobody spends another's budget
    if (!c.entry)
      throw new LedgerError(413, 'entry-too-large', `the entry would be ${c.leafSize} bytes; the limit is ${MAX_ENTRY_SIZE} bytes (tlog-tiles entry bundles carry a 16-bit length)`);
    return { ...c.entry, signers: c.signers, kind: c.kind };
  }

  /** Resolves once a published checkpoint contains `index`. */
  waitForCheckpoint(index: number, timeoutMs = 30_000): Promise<StoredCheckpoint> {
    const cp = this.latestPublished();
    if (cp && cp.size > index) return Promise.resolve(cp);
    return new Promise((resolve, reject) => {
      const w = {
        index,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          reject(new LedgerError(503, 'checkpoint-timeout', `entry ${index} is sequenced but not yet in a published checkpoint; retry GET /v1/proof/inclusion later`, 1));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  // ---------------------------------------------------------------- integration

  /**
   * Schedules the next checkpoint: at once after a quiet spell, else at the next
   * interval; and, while one is more than FOLD_MS away, a fold of the new entries.
   */
  kick(): void {
    if (this.closed || this.integrating) return;
    const wait = Math.max(0, this.lastSignedAt + this.config.checkpointIntervalMs - Date.now(), this.retryAt - Date.now());
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.cycle();
      }, wait);
    }
    if (!this.foldTimer && wait > FOLD_MS && this.retryAt <= Date.now() && this.sequenced() > this.integrator.treeSize) {
      this.foldTimer = setTimeout(() => {
        this.foldTimer = null;
        void this.fold();
      }, FOLD_MS);
    }
  }

  /**
   * Folds everything sequenced so far into the tree in steps (each its own
   * transaction, written without a sync: the next checkpoint's commit syncs them
   * all), serving requests between steps. False if the log was closed meanwhile.
   */
  private async integrateAll(): Promise<boolean> {
    // Only durable entries (the sequencer's sync done) go into the tree.
    while (this.sequenced() > this.integrator.treeSize && this.integrator.integrate(Math.min(INTEGRATION_STEP, this.sequenced() - this.integrator.treeSize)) > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      if (this.closed) return false;
    }
    return true;
  }

  /** Integration without a checkpoint, between checkpoints. */
  private async fold(): Promise<void> {
    if (this.closed || this.integrating) return;
    this.integrating = true;
    try {
      if (!(await this.integrateAll())) return;
    } catch (e) {
      console.error(`integration failed: ${(e as Error).message}`);
      this.retryAt = Date.now() + 1000;
    } finally {
      this.integrating = false;
    }
    if (this.cycleWanted) {
      this.cycleWanted = false;
      void this.cycle();
    } else this.kick();
  }

  private async cycle(): Promise<void> {
    if (this.closed) return;
    if (this.integrating) {
      this.cycleWanted = true; // a fold is under way: the checkpoint follows it
      return;
    }
    this.integrating = true;
    let failed = false;
    // Under a steady stream, checkpoints keep a fixed cadence, as a ticker would: the
    // interval runs from the time one cycle was due to the time the next is, so neither
    // the time a cycle takes nor a timer's lateness stretches it. After a quiet spell
    // (or a cycle much later than due), the cadence starts again from now.
    const now = Date.now();
    const due = this.lastSignedAt + this.config.checkpointIntervalMs;
    const started = now >= due && now - due < this.config.checkpointIntervalMs / 10 ? due : now;
    try {
      if (!(await this.integrateAll())) return;
      // Without witnesses a checkpoint is published as it is signed, in the same commit.
      const cp = this.integrator.checkpoint(Date.now(), { publish: !this.witnessing });
      if (cp) {
        this.lastSignedAt = started;
        this.m.checkpoints.inc();
        if (cp.publishedAt !== null) this.announce(cp);
      }
    } catch (e) {
      console.error(`integration failed: ${(e as Error).message}`);
      this.retryAt = Date.now() + 1000;
      failed = true;
    } finally {
      this.integrating = false;
    }
    // Also publishes a checkpoint signed earlier whose publication failed (or was cut off by a crash).
    this.publish().catch((e) => {
      console.error(`publishing failed: ${(e as Error).message}`);
      this.retryAt = Date.now() + 1000;
      this.kick();
    });
    if (failed || this.sequenced() > this.integrator.treeSize) this.kick();
    void this.mergeKeys();
  }

  /**
   * Moves complete chunks of recent lookup keys into the key tables, in small
   * transactions with requests served between them, beside integration (never
   * delaying a checkpoint). A slice is followed by a pause of MERGE_PAUSE_MS, not
   * just a turn of the event loop: a request needs several turns (its body, its
   * check, its commit, its sync), and with a slice in every turn each of them
   * took 30 to 45 ms at 1,000,000 entries, which with 64 clients held the
   * acknowledgement p99 at about 200 ms for the merge's second or so.
   */
  private async mergeKeys(): Promise<void> {
    if (this.merging || this.closed) return;
    this.merging = true;
    try {
      const pause = () => new Promise<boolean>((resolve) => setTimeout(() => resolve(!this.closed), MERGE_PAUSE_MS));
      while (!this.closed && (await this.store.mergeRecentKeys(pause)));
    } catch (e) {
      if (!this.closed) console.error(`merging lookup keys failed: ${(e as Error).message}`);
    } finally {
      this.merging = false;
    }
  }

  /** Publishes what is signed and not yet published (with witnesses: after their round; without: a checkpoint whose cycle was cut off before), then announces it. */
  async publish(): Promise<void> {
    if (this.publishing || this.closed) return;
    this.publishing = true;
    try {
      for (;;) {
        const signed = this.store.latestCheckpoint();
        const published = this.store.latestPublishedCheckpoint();
        if (!signed || (published && published.size >= signed.size)) break;
        const note = this.witnessing ? await this.witnessing.cosign(signed) : signed.note;
        if (this.closed) return;
        if (note === null) break; // policy not met now; retried at the next checkpoint or kick
        const now = Date.now();
        this.store.publishCheckpoint(signed.size, note, now);
        this.announce({ ...signed, note, publishedAt: now });
      }
    } finally {
      this.publishing = false;
    }
  }

  /** A checkpoint has just been published: serve it, answer its waiters, tell the listeners. */
  private announce(cp: StoredCheckpoint): void {
    if (!this.published || this.published.size < cp.size) this.published = cp;
    this.m.published.inc();
    this.releaseWaiters(cp);
    for (const l of this.onPublished) l(cp);
  }

  private releaseWaiters(cp: StoredCheckpoint): void {
    const done = this.waiters.filter((w) => w.index < cp.size);
    this.waiters = this.waiters.filter((w) => w.index >= cp.size);
    for (const w of done) {
      clearTimeout(w.timer);
      w.resolve(cp);
    }
  }

  // ---------------------------------------------------------------- reads

  /**
   * The latest published checkpoint, from memory: this process's publications
   * update it directly, and at most once per event-loop turn it is read again if
   * another connection has committed to the database since (PRAGMA data_version).
   */
  latestPublished(): StoredCheckpoint | undefined {
    if (!this.publishedChecked) {
      this.publishedChecked = true;
      setImmediate(() => (this.publishedChecked = false));
      const v = this.store.dataVersion();
      if (v !== this.publishedVersion) {
        this.published = this.store.latestPublishedCheckpoint();
        this.publishedVersion = v;
      }
    }
    return this.published;
  }

  /** The checkpoint of this size as the log published it (with its cosignatures), if it published one. */
  publishedCheckpoint(size: number): StoredCheckpoint | undefined {
    return this.store.getPublishedCheckpoint(size);
  }

  /** The S3 anchor receipt stored for the published checkpoint of this size. */
  anchorReceipt(size: number): string | undefined {
    return this.store.getAnchor(size);
  }

  private treeSizeParam(treeSize: number | undefined): number {
    const cp = this.latestPublished();
    const max = cp?.size ?? 0;
    if (treeSize === undefined) {
      if (!cp) throw notFound('no-checkpoint', 'no checkpoint has been published yet');
      return max;
    }
    if (treeSize > max) throw badRequest('tree-size-beyond-checkpoint', `treeSize ${treeSize} is larger than the latest published checkpoint (${max})`);
    if (treeSize < 1) throw badRequest('bad-tree-size', 'treeSize must be at least 1');
    return treeSize;
  }

  /** Entries durably sequenced: what may be integrated, served and counted. */
  sequenced(): number {
    return this.sequencer.durable;
  }

  entry(index: number): { index: number; leaf: Uint8Array; leafHash: Uint8Array } {
    const leaf = index < this.sequenced() ? this.store.getEntry(index) : undefined;
    if (!leaf) throw notFound('no-such-entry', `no entry at index ${index} (the log has ${this.sequenced()} entries)`);
    return { index, leaf, leafHash: hashLeaf(leaf) };
  }

  findByLeafHash(leafHash: Uint8Array): number {
    const size = this.integrator.treeSize;
    const read = this.integrator.reader(size);
    const sequenced = this.sequenced();
    for (const idx of this.store.indicesByLeafHash(leafHash)) {
      if (idx >= sequenced) continue; // not durable yet
      // Confirmed against the leaf hash its tile holds (entries not yet integrated: from the leaf).
      const h = idx < size ? read([{ level: 0, index: idx }])[0]! : hashLeaf(this.store.getEntry(idx)!);
      if (equal(h, leafHash)) return idx;
    }
    throw notFound('no-such-entry', 'no entry has that leaf hash');
  }

  inclusion(index: number, treeSize?: number): { index: number; treeSize: number; leafHash: Uint8Array; proof: Uint8Array[] } {
    const size = this.treeSizeParam(treeSize);
    if (index >= size) throw badRequest('index-beyond-tree', `index ${index} is not in a tree of size ${size}`);
    return { index, treeSize: size, ...this.integrator.proveInclusion(index, size) };
  }

  consistency(from: number, to?: number): { from: number; to: number; proof: Uint8Array[] } {
    const size = this.treeSizeParam(to);
    if (from < 1 || from > size) throw badRequest('bad-range', `from must be between 1 and to (${size})`);
    return { from, to: size, proof: this.integrator.proveConsistency(from, size) };
  }

  /** Hash tile data, or undefined if that tile (at that width) is not in the tree yet. */
  tile(t: TileId): Uint8Array | undefined {
    const data = this.store.getTile(t.level, t.index);
    if (!data || data.length < t.width * 32) return undefined;
    return data.subarray(0, t.width * 32);
  }

  entryBundle(index: number, width: number): Uint8Array | undefined {
    const start = index * TILE_WIDTH;
    if (start + width > this.integrator.treeSize) return undefined;
    if (width === TILE_WIDTH) {
      const packed = this.store.getEntryBundle(index);
      if (packed) return packed;
    }
    return encodeEntryBundle(this.store.getEntries(start, start + width));
  }
}
