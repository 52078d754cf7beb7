// The data directory: where a log keeps its database, key and configuration.
//
//   DIR/config.json   settings (origin, listen address, intervals, witnesses, S3)
//   DIR/log.key       the log's note signer key (PRIVATE+KEY+...), mode 0600
//   DIR/ledger.db     the SQLite database (WAL: ledger.db-wal, ledger.db-shm)

import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_CHUNK, MAX_CHUNK as MAX_KEY_CHUNK } from '../../storage/sqlite/recent-keys.js';

export interface WitnessConfig {
  name: string;
  url: string;
  /** cosignature/v1 verifier key. */
  vkey: string;
}

export interface S3Config {
  bucket: string;
  /** For S3-compatible servers (http://127.0.0.1:7480); AWS S3 when left out. */
  endpoint?: string;
  /** Default us-east-1. */
  region?: string;
  forcePathStyle?: boolean;
  /** Key prefix ('' or ending in '/'). */
  prefix?: string;
  /** COMPLIANCE retention of each archived checkpoint (default 2555 days, 7 years). */
  retentionDays?: number;
  retentionSeconds?: number;
  /** 'WHEN_REQUIRED' for radosgw 16.2; the SDK default otherwise. */
  checksumMode?: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  /** Also mirror tiles, entry bundles and the latest checkpoint (the static read path). Default true. */
  mirrorTiles?: boolean;
}

export interface LedgerConfig {
  origin: string;
  listen: string;
  /** How often a new checkpoint is signed while entries arrive. */
  checkpointIntervalMs: number;
  /** Largest number of envelopes in one POST /v1/entries:batch. */
  maxBatch: number;
  /** Largest request body, bytes. */
  maxBodyBytes: number;
  /** Payload `ts` window. */
  maxFutureSeconds: number;
  maxAgeSeconds: number;
  /** Witnesses asked to cosign each checkpoint; with none, a signed checkpoint is published at once. */
  witnesses: WitnessConfig[];
  /** C2SP tlog-policy text deciding which cosignatures publish a checkpoint (required with witnesses). */
  witnessPolicy?: string;
  witnessTimeoutMs: number;
  s3?: S3Config;
  /** Optional bearer tokens (read and admin), by the name of the environment variable holding them. */
  readTokenEnv?: string;
  adminTokenEnv?: string;
  /** Per-producer submissions per second (token bucket); 0 = unlimited. */
  producerRatePerSecond: number;
  producerBurst: number;
  /** Concurrent HTTP connections; further ones are closed at once. */
  maxConnections: number;
  /** A request's headers, and the whole request, must arrive within these (else 408). */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** How long a write waits for SQLite's lock held by another connection before answering 503. */
  busyTimeoutMs: number;
  /** Optional cap on the database file (PRAGMA max_page_count): past it, writes answer 503 as on a full disk. */
  maxDatabaseBytes?: number;
  /** The smallest chunk of new entries whose lookup keys are held in memory and then merged into the key tables at once (chunks grow with the log: chunkSizeAt). */
  keyMergeEntries: number;
}

export const DEFAULTS: Omit<LedgerConfig, 'origin'> = {
  listen: '127.0.0.1:8080',
  checkpointIntervalMs: 1000,
  maxBatch: 1000,
  maxBodyBytes: 16 * 1024 * 1024,
  maxFutureSeconds: 300,
  maxAgeSeconds: 86_400,
  witnesses: [],
  witnessTimeoutMs: 5000,
  producerRatePerSecond: 0,
  producerBurst: 0,
  maxConnections: 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  busyTimeoutMs: 1000,
  keyMergeEntries: KEY_CHUNK,
};

/** Every setting config.json may hold. */
const SETTINGS = new Set<string>(['origin', 'witnessPolicy', 's3', 'readTokenEnv', 'adminTokenEnv', 'maxDatabaseBytes', ...Object.keys(DEFAULTS)]);

/** The numeric settings, each a whole number of at least this. */
const WHOLE_NUMBERS: [keyof LedgerConfig, number][] = [
  ['checkpointIntervalMs', 1],
  ['maxBatch', 1],
  ['maxBodyBytes', 1],
  ['maxFutureSeconds', 0],
  ['maxAgeSeconds', 0],
  ['witnessTimeoutMs', 1],
  ['producerBurst', 0],
  ['maxConnections', 1],
  ['headersTimeoutMs', 1],
  ['requestTimeoutMs', 1],
  ['busyTimeoutMs', 0],
  ['maxDatabaseBytes', 1],
];

export const paths = (dir: string) => ({
  config: join(dir, 'config.json'),
  key: join(dir, 'log.key'),
  db: join(dir, 'ledger.db'),
});

export class ConfigError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export function loadConfig(dir: string): LedgerConfig {
  const p = paths(dir);
  if (!existsSync(p.config)) throw new ConfigError('no-log', `${dir} holds no log (run: ledger init --data ${dir} --origin ORIGIN)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p.config, 'utf8'));
  } catch (e) {
    throw new ConfigError('bad-config', `${p.config}: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError('bad-config', `${p.config}: must be a JSON object`);
  // A misspelt setting would otherwise be ignored without a word, its default used.
  const unknown = Object.keys(raw).filter((k) => !SETTINGS.has(k));
  if (unknown.length > 0) throw new ConfigError('bad-config', `${p.config}: unknown setting ${unknown.map((k) => JSON.stringify(k)).join(', ')} (the settings are listed in README.md)`);
  const cfg = { ...DEFAULTS, ...(raw as Partial<LedgerConfig>) } as LedgerConfig;
  if (typeof cfg.origin !== 'string' || cfg.origin.length === 0) throw new ConfigError('bad-config', `${p.config}: origin missing`);
  if (typeof cfg.listen !== 'string') throw new ConfigError('bad-config', `${p.config}: listen must be a string such as "127.0.0.1:8080"`);
  if (!Number.isInteger(cfg.keyMergeEntries) || cfg.keyMergeEntries < 1 || cfg.keyMergeEntries > MAX_KEY_CHUNK)
    throw new ConfigError('bad-config', `${p.config}: keyMergeEntries must be an integer from 1 to ${MAX_KEY_CHUNK}`);
  for (const [name, min] of WHOLE_NUMBERS) {
    const v = cfg[name];
    if (v === undefined && !(name in DEFAULTS)) continue; // a setting without a default may be left out
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new ConfigError('bad-config', `${p.config}: ${name} must be a whole number of at least ${min}`);
  }
  if (typeof cfg.producerRatePerSecond !== 'number' || !Number.isFinite(cfg.producerRatePerSecond) || cfg.producerRatePerSecond < 0)
    throw new ConfigError('bad-config', `${p.config}: producerRatePerSecond must be a number of at least 0`);
  if (!Array.isArray(cfg.witnesses)) throw new ConfigError('bad-config', `${p.config}: witnesses must be a list`);
  if (cfg.witnesses.length > 0 && !cfg.witnessPolicy) throw new ConfigError('bad-config', `${p.config}: witnesses configured without witnessPolicy`);
  return cfg;
}

export function saveConfig(dir: string, cfg: Partial<LedgerConfig> & { origin: string }): void {
  writeNewOrReplace(paths(dir).config, JSON.stringify(cfg, null, 2) + '\n', 0o644);
}

/** Creates a file that must not exist yet, with the given mode from the first byte on. */
export function writeNewFile(path: string, data: string, mode: number): void {
  const fd = openSync(path, 'wx', mode);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
  chmodSync(path, mode); // the umask may have narrowed it; make it exact
}

/** Replaces a file atomically: a temporary file, fsynced, renamed over it. */
function writeNewOrReplace(path: string, data: string, mode: number): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** Reads a private key file, refusing one that group or others can read. */
export function readPrivateKeyFile(path: string): string {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new ConfigError('no-key', `key file ${path} is missing`);
  }
  if ((st.mode & 0o077) !== 0)
    throw new ConfigError('key-permissions', `key file ${path} has mode ${(st.mode & 0o777).toString(8)}; it must not be readable by group or others (chmod 600 ${path})`);
  return readFileSync(path, 'utf8').trim();
}
