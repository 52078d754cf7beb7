// Anchoring: every published checkpoint goes to S3 under COMPLIANCE Object
// Lock, in order, beside sequencing and never blocking it. With the tile
// mirror on, the full tiles, entry bundles and latest checkpoint follow, so the
// bucket serves the whole tlog-tiles read API without the ledger host.
//
// An S3 outage grows a backlog (published checkpoints not yet anchored), which
// drains in order with backoff once S3 answers again. An object that already
// holds other bytes is evidence of a fork: anchoring stops and raises an alarm.

import { S3Anchor, type S3AnchorConfig } from '../../storage/s3/anchor.js';
import { AnchorConflictError, S3AnchorError } from '../../storage/s3/errors.js';
import { utf8 } from '../core/bytes.js';
import { entriesPath, tilePath, TILE_WIDTH } from '../core/tiles.js';
import type { S3Config } from '../log/config.js';
import type { Ledger } from '../log/ledger.js';
import type { StoredCheckpoint } from '../../storage/sqlite/store.js';

const DEFAULT_RETENTION_DAYS = 2555;
const MIRRORED_KEY = 's3.mirroredSize';

export function s3AnchorConfig(c: S3Config): S3AnchorConfig {
  return {
    bucket: c.bucket,
    region: c.region ?? 'us-east-1',
    ...(c.endpoint !== undefined ? { endpoint: c.endpoint } : {}),
    ...(c.prefix !== undefined ? { prefix: c.prefix } : {}),
    forcePathStyle: c.forcePathStyle ?? false,
    ...(c.checksumMode !== undefined ? { checksumMode: c.checksumMode } : {}),
    ...(c.retentionSeconds !== undefined ? { retentionSeconds: c.retentionSeconds } : { retentionDays: c.retentionDays ?? DEFAULT_RETENTION_DAYS }),
  };
}

/** The tiles (hash tiles per level, and entry bundles) a tree of `to` adds to one of `from`. */
export function tilesBetween(from: number, to: number): { path: string; level: number | 'entries'; index: number; width: number }[] {
  const out: { path: string; level: number | 'entries'; index: number; width: number }[] = [];
  const add = (level: number | 'entries', fromCount: number, toCount: number) => {
    const firstNew = Math.floor(fromCount / TILE_WIDTH);
    const fullTo = Math.floor(toCount / TILE_WIDTH);
    for (let i = firstNew; i < fullTo; i++) {
      out.push({ level, index: i, width: TILE_WIDTH, path: level === 'entries' ? entriesPath(i, TILE_WIDTH) : tilePath({ level, index: i, width: TILE_WIDTH }) });
    }
    const w = toCount % TILE_WIDTH;
    if (w > 0 && toCount > fromCount)
      out.push({ level, index: fullTo, width: w, path: level === 'entries' ? entriesPath(fullTo, w) : tilePath({ level, index: fullTo, width: w }) });
  };
  add('entries', from, to);
  for (let level = 0, span = 1; Math.floor(to / span) > 0; level++, span *= TILE_WIDTH) add(level, Math.floor(from / span), Math.floor(to / span));
  return out;
}

export class Anchorer {
  private running = false;
  private stopped = false;
  private wakeTimer: NodeJS.Timeout | null = null;
  private backoffMs = 0;
  /** Set when S3 holds other bytes for one of our objects: evidence of a fork. */
  alarm: string | null = null;

  private readonly m;

  constructor(
    private readonly ledger: Ledger,
    readonly s3: S3Anchor,
    private readonly mirror: boolean,
  ) {
    const metrics = ledger.metrics;
    this.m = {
      anchored: metrics.counter('ledger_anchor_checkpoints_total', 'Checkpoints anchored in S3 Object Lock'),
      failures: metrics.counter('ledger_anchor_failures_total', 'Failed anchoring attempts, by code'),
    };
    metrics.gauge('ledger_anchor_lag_entries', 'Published entries whose checkpoint is not yet anchored', () => {
      const pub = ledger.store.latestPublishedCheckpoint()?.size ?? 0;
      return Math.max(0, pub - Math.max(0, ledger.store.lastAnchoredSize()));
    });
    metrics.gauge('ledger_anchor_lag_seconds', 'Age of the oldest published checkpoint not yet anchored', () => {
      const next = ledger.store.publishedCheckpointsAfter(ledger.store.lastAnchoredSize(), 1)[0];
      return next ? (Date.now() - (next.publishedAt ?? next.createdAt)) / 1000 : 0;
    });
    metrics.gauge('ledger_anchor_alarm', '1 when S3 holds other bytes for an anchored object (fork evidence)', () => (this.alarm ? 1 : 0));
    ledger.onPublished.push(() => this.wake());
  }

  start(): void {
    this.wake();
  }

  stop(): void {
    this.stopped = true;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
  }

  wake(): void {
    if (this.running || this.stopped || this.alarm || this.wakeTimer) return;
    void this.drain();
  }

  /** Anchors every published checkpoint not yet anchored, in order. */
  async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        if (this.stopped) return;
        const batch = this.ledger.store.publishedCheckpointsAfter(this.ledger.store.lastAnchoredSize(), 64);
        if (batch.length === 0) return;
        for (const cp of batch) {
          if (this.stopped) return;
          await this.anchorOne(cp);
        }
        this.backoffMs = 0;
      }
    } catch (e) {
      const code = e instanceof S3AnchorError ? e.code : 'internal';
      this.m.failures.inc({ code });
      if (e instanceof AnchorConflictError) {
        this.alarm = `${e.code}: ${e.message}`;
        console.error(`ALARM: S3 already holds other bytes at ${e.key}: ${e.message}. Anchoring stopped; this is evidence of a fork.`);
        return;
      }
      this.backoffMs = Math.min(30_000, this.backoffMs ? this.backoffMs * 2 : 500);
      console.error(`anchoring failed (${code}): ${(e as Error).message}; retrying in ${this.backoffMs} ms`);
      this.wakeTimer = setTimeout(() => {
        this.wakeTimer = null;
        this.wake();
      }, this.backoffMs);
    } finally {
      this.running = false;
    }
  }

  private async anchorOne(cp: StoredCheckpoint): Promise<void> {
    const origin = this.ledger.config.origin;
    const note = utf8(cp.note);
    if (this.mirror) await this.mirrorTiles(cp.size);
    const receipt = await this.s3.anchorCheckpoint(origin, cp.size, note);
    this.ledger.store.putAnchor(cp.size, JSON.stringify({ size: cp.size, ...receipt }));
    this.m.anchored.inc();
    if (this.mirror && cp.size >= (this.ledger.store.latestPublishedCheckpoint()?.size ?? 0)) await this.s3.putLatestCheckpoint(note);
  }

  /** Uploads the tiles and entry bundles of the tree at `size` that are not mirrored yet. */
  private async mirrorTiles(size: number): Promise<void> {
    const store = this.ledger.store;
    const from = Number(store.getMeta(MIRRORED_KEY) ?? '0');
    if (size <= from) return;
    for (const t of tilesBetween(from, size)) {
      const data = t.level === 'entries' ? this.ledger.entryBundle(t.index, t.width) : this.ledger.tile({ level: t.level, index: t.index, width: t.width });
      if (!data) throw new Error(`tile ${t.path} is missing from the store`);
      await this.s3.putImmutable(t.path, data);
    }
    store.setMeta(MIRRORED_KEY, String(size));
  }
}

/** Starts anchoring for a ledger whose config has an `s3` section; returns undefined otherwise. */
export async function attachAnchoring(ledger: Ledger): Promise<Anchorer | undefined> {
  const c = ledger.config.s3;
  if (!c) return undefined;
  const s3 = new S3Anchor(s3AnchorConfig(c));
  const anchorer = new Anchorer(ledger, s3, c.mirrorTiles ?? true);
  try {
    await s3.ensureBucket();
  } catch (e) {
    if (e instanceof S3AnchorError && e.code === 'bucket-without-object-lock') throw e;
    console.error(`S3 is not reachable at start (${(e as Error).message}); anchoring will retry`);
  }
  anchorer.start();
  return anchorer;
}
