// The witness's data directory.
//
//   DIR/witness.key   the witness's cosignature/v1 signer key (PRIVATE+KEY+...), mode 0600
//   DIR/config.json   the logs it witnesses: [{ origin, vkeys: [...] }] and its listen address
//   DIR/witness.db    its state (SQLite): latest cosigned checkpoint per origin, fork evidence
//
// Configuration (key, logs) and state (witness.db) are apart on purpose: the
// state can be lost (see spec/witness.md, "Losing the state") without losing
// the witness's identity or the logs it trusts.

import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseVerifierKey, type Ed25519Verifier } from '../src/core/note.js';
import { ConfigError, writeNewFile } from '../src/log/config.js';

export const DEFAULT_LISTEN = '127.0.0.1:8081';

export const witnessPaths = (dir: string) => ({
  key: join(dir, 'witness.key'),
  config: join(dir, 'config.json'),
  db: join(dir, 'witness.db'),
});

export interface WitnessedLog {
  origin: string;
  /** Log verifier keys (signed-note Ed25519, type 0x01); more than one during a key rotation. */
  vkeys: string[];
}

export interface WitnessConfigFile {
  listen: string;
  logs: WitnessedLog[];
}

/** tlog-checkpoint "Note text": the origin is one non-empty line. */
export function checkOrigin(origin: string): void {
  if (origin.length === 0 || /[\u0000-\u001f]/.test(origin)) {
    throw new ConfigError('bad-origin', 'an origin is one non-empty line without control characters');
  }
}

export function loadWitnessConfig(dir: string): WitnessConfigFile {
  const p = witnessPaths(dir).config;
  if (!existsSync(p)) throw new ConfigError('no-witness', `${dir} holds no witness (run: witness init --data ${dir} --name NAME)`);
  let raw: Partial<WitnessConfigFile>;
  try {
    raw = JSON.parse(readFileSync(p, 'utf8')) as Partial<WitnessConfigFile>;
  } catch (e) {
    throw new ConfigError('bad-config', `${p}: ${(e as Error).message}`);
  }
  const logs = raw.logs ?? [];
  if (!Array.isArray(logs)) throw new ConfigError('bad-config', `${p}: logs must be a list`);
  for (const l of logs) {
    if (typeof l?.origin !== 'string' || !Array.isArray(l.vkeys)) throw new ConfigError('bad-config', `${p}: each log needs an origin and vkeys`);
    checkOrigin(l.origin);
    for (const v of l.vkeys) parseVerifierKey(v);
  }
  return { listen: typeof raw.listen === 'string' ? raw.listen : DEFAULT_LISTEN, logs };
}

/** Replaces config.json atomically (write aside, then rename), so a running witness never reads half a file. */
export function saveWitnessConfig(dir: string, cfg: WitnessConfigFile): void {
  const p = witnessPaths(dir).config;
  const tmp = `${p}.${process.pid}.tmp`;
  writeNewFile(tmp, JSON.stringify(cfg, null, 2) + '\n', 0o644);
  renameSync(tmp, p);
}

/**
 * The trusted log keys by origin, re-read whenever config.json is replaced, so
 * `witness logs add|remove` takes effect in a running witness at once.
 */
export class LogKeys {
  #stamp = '';
  #byOrigin = new Map<string, Ed25519Verifier[]>();

  constructor(private readonly dir: string) {
    this.#reload();
  }

  #reload(): void {
    const st = statSync(witnessPaths(this.dir).config);
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (stamp === this.#stamp) return;
    const cfg = loadWitnessConfig(this.dir);
    this.#byOrigin = new Map(cfg.logs.map((l) => [l.origin, l.vkeys.map((v) => parseVerifierKey(v))]));
    this.#stamp = stamp;
  }

  /** The verifiers of a known origin, or undefined for an unknown one. */
  verifiers(origin: string): Ed25519Verifier[] | undefined {
    this.#reload();
    return this.#byOrigin.get(origin);
  }
}
