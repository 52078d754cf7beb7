// Copies the WAL back into the database file on a thread of its own.
//
// SQLite's automatic checkpoint runs inside the commit that crosses its
// threshold (1,000 pages), on the committing thread: under load the server's
// event loop stopped for 30 to 45 ms several times a second while 4 MB of pages
// were copied and the database file fsynced, and every request waited behind it.
// Here a worker thread with its own connection runs PASSIVE checkpoints (which
// never block the writer or readers) every `intervalMs`, and the server's
// connection turns its automatic checkpoint off.
//
// A PASSIVE checkpoint copies only what was committed when it started, and the
// writer rewinds the WAL only once everything in it has been copied. Under a
// steady stream of commits that may not happen for a while, so once the WAL
// holds more than `restartPages` the worker runs a RESTART checkpoint: new
// writers wait (their busy timeout) while it copies what the PASSIVE ones left,
// and the next commit starts the WAL from its beginning.
//
// Durability is SQLite's: checkpointing from another connection is what WAL mode
// is built for. If the worker fails, the connection's automatic checkpoint is
// turned back on.

import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const ROLE = 'ledger-wal-checkpointer';

interface Options {
  /** Between PASSIVE checkpoints (default 100 ms). */
  intervalMs?: number;
  /** WAL pages past which a RESTART checkpoint rewinds it (default 16,384: 64 MB of 4 KB pages). */
  restartPages?: number;
}

interface Data {
  role: typeof ROLE;
  path: string;
  intervalMs: number;
  restartPages: number;
}

export interface CheckpointStats {
  passive: number;
  restart: number;
  /** WAL pages after the latest checkpoint. */
  walPages: number;
}

function runWorker(d: Data): void {
  const db = new Database(d.path, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  db.pragma('synchronous = FULL');
  const stats: CheckpointStats = { passive: 0, restart: 0, walPages: 0 };
  const run = (mode: 'PASSIVE' | 'RESTART') => (db.pragma(`wal_checkpoint(${mode})`) as { busy: number; log: number; checkpointed: number }[])[0]!;
  const timer = setInterval(() => {
    try {
      let r = run('PASSIVE');
      stats.passive++;
      if (r.log > d.restartPages) {
        r = run('RESTART');
        stats.restart++;
      }
      stats.walPages = r.log;
      parentPort!.postMessage(stats);
    } catch {
      /* busy or locked: the next tick tries again */
    }
  }, d.intervalMs);
  parentPort!.on('message', (m: string) => {
    if (m !== 'close') return;
    clearInterval(timer);
    db.close();
    parentPort!.close();
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) runWorker(workerData as Data);

export class WalCheckpointer {
  private readonly worker: Worker | undefined;
  stats: CheckpointStats = { passive: 0, restart: 0, walPages: 0 };

  /**
   * Starts checkpointing the database at `path` off this thread, and turns off
   * the automatic checkpoint of `db` (the connection this thread writes with).
   * From TypeScript source (which a worker cannot load) it does nothing.
   */
  constructor(
    path: string,
    private readonly db: Database.Database,
    opts: Options = {},
  ) {
    if (import.meta.url.endsWith('.ts')) return;
    const data: Data = { role: ROLE, path, intervalMs: opts.intervalMs ?? 100, restartPages: opts.restartPages ?? 16384 };
    this.worker = new Worker(new URL(import.meta.url), { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    this.worker.on('message', (s: CheckpointStats) => (this.stats = s));
    const fallBack = () => {
      if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
    };
    this.worker.on('error', fallBack);
    this.worker.on('exit', fallBack);
    this.worker.unref();
    db.pragma('wal_autocheckpoint = 0');
  }

  /** True when checkpoints run on the worker. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Stops the worker (it closes its connection); the writer's automatic checkpoint comes back. */
  close(): void {
    if (!this.worker) return;
    this.worker.removeAllListeners('exit');
    this.worker.removeAllListeners('error');
    this.worker.on('error', () => {});
    this.worker.postMessage('close');
    if (this.db.open) this.db.pragma('wal_autocheckpoint = 1000');
  }
}
