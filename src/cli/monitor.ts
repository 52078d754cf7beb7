// ledger monitor: the auditor's monitor (src/client/monitor.ts) as a
// program. Events and alerts go to stdout, as JSON lines with --json (for a
// SIEM) or as readable text. The state lives in DIR/state.json, replaced
// atomically (write a temporary file, fsync, rename, fsync the directory).
//
//   --once      one poll; exit 0 without alerts, 1 with alerts
//   otherwise   poll every --interval seconds until SIGINT or SIGTERM

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MONITOR_STATE_VERSION, Monitor, newMonitorState, type MonitorEvent, type MonitorState } from '../client/index.js';
import { flags, required, UsageError } from './args.js';
import { failure, LOG_FLAGS, openClient } from './prove.js';

const STATE_FILE = 'state.json';

export async function monitor(argv: string[]): Promise<number> {
  const { values } = flags(argv, {
    ...LOG_FLAGS,
    state: { type: 'string' },
    once: { type: 'boolean' },
    interval: { type: 'string' },
    'max-age': { type: 'string' },
    'min-score': { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  const dir = required(values.state, 'state');
  const interval = seconds(values.interval ?? '30', 'interval');
  const maxAge = values['max-age'] !== undefined ? seconds(values['max-age'], 'max-age') : undefined;
  const { minScore, minScores } = thresholds(values['min-score'] ?? []);
  const client = openClient(values, true);

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, STATE_FILE);
  const state = existsSync(file) ? loadState(file) : newMonitorState(client.origin!);
  const json = values.json === true;
  let mon: Monitor;
  try {
    mon = new Monitor(client, state, { ...(maxAge !== undefined ? { maxAgeSeconds: maxAge } : {}), ...(minScore !== undefined ? { minScore } : {}), minScores }, {
      emit: (e) => process.stdout.write((json ? JSON.stringify(e) : render(e)) + '\n'),
      save: (s) => saveState(dir, s),
    });
  } catch (e) {
    return failure(e, json);
  }

  if (values.once) return (await mon.poll()).alerts > 0 ? 1 : 0;

  let stopping = false;
  let wake: () => void = () => {};
  const stop = () => {
    stopping = true;
    wake();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  while (!stopping) {
    await mon.poll();
    if (stopping) break;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, interval * 1000);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
  return 0;
}

function seconds(s: string, name: string): number {
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${name} must be a non-negative number of seconds`);
  return n;
}

/** --min-score VALUE (every subject) and --min-score SUBJECT=VALUE (one subject), repeatable. */
function thresholds(list: string[]): { minScore?: number; minScores: Record<string, number> } {
  let minScore: number | undefined;
  const minScores: Record<string, number> = {};
  for (const item of list) {
    const eq = item.lastIndexOf('=');
    const v = Number(eq < 0 ? item : item.slice(eq + 1));
    if (!Number.isFinite(v) || v < 0 || v > 1 || (eq < 0 ? item : item.slice(eq + 1)).trim() === '') throw new UsageError(`--min-score must be VALUE or SUBJECT=VALUE with VALUE in 0..1, got ${item}`);
    if (eq < 0) minScore = v;
    else if (eq === 0) throw new UsageError(`--min-score ${item}: the subject is empty`);
    else minScores[item.slice(0, eq)] = v;
  }
  return minScore === undefined ? { minScores } : { minScore, minScores };
}

function loadState(file: string): MonitorState {
  let s: Partial<MonitorState>;
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as Partial<MonitorState>;
  } catch (e) {
    throw new UsageError(`${file} is not a monitor state: ${(e as Error).message}`);
  }
  const ok =
    s.version === MONITOR_STATE_VERSION &&
    typeof s.origin === 'string' &&
    (s.checkpoint === null || typeof s.checkpoint === 'string') &&
    Number.isSafeInteger(s.next) &&
    (s.lastEntryTime === null || Number.isSafeInteger(s.lastEntryTime)) &&
    Array.isArray(s.producers);
  if (!ok) throw new UsageError(`${file} is not a version ${MONITOR_STATE_VERSION} monitor state`);
  return s as MonitorState;
}

/** Replaces DIR/state.json atomically: a reader (or a crash) sees the old or the new state, never a mix. */
function saveState(dir: string, state: MonitorState): void {
  const file = join(dir, STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(state, null, 1) + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const d = openSync(dir, 'r');
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}

/** One readable line per event. */
export function render(e: MonitorEvent): string {
  switch (e.type) {
    case 'checkpoint':
      return `${e.ts} checkpoint size ${e.size} root ${e.rootHash}${e.previousSize === null ? '' : ` (consistent with ${e.previousSize})`}${e.witnesses.length ? ` cosigned by ${e.witnesses.join(', ')}` : ''}`;
    case 'entry': {
      const who = e.action ? ` ${e.action} ${e.producer}` : e.producer ? ` by ${e.producer}` : '';
      const score = e.subject !== undefined ? ` ${e.subject} score ${e.score}` : '';
      return `${e.ts} entry ${e.index} ${e.kind ?? '(undecodable)'}${who}${score} ${e.status}`;
    }
    case 'alert':
      return `${e.ts} ALERT ${e.severity} ${e.alert}: ${e.message}`;
  }
}
