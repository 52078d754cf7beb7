// Real child processes for tests: the ledger and witness CLIs from dist/.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = {
  ledger: join(ROOT, 'dist/src/cli/ledger.js'),
  verify: join(ROOT, 'dist/src/cli/ledger-verify.js'),
  witness: join(ROOT, 'dist/witness/cli.js'),
};

export function tmp(prefix = 'ledger-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function cli(bin: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args], { input: opts.input ?? '', encoding: 'utf8', env: { ...process.env, ...opts.env }, timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function cliOk(bin: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = cli(bin, args, opts);
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export interface Server {
  proc: ChildProcess;
  url: string;
  port: number;
  stderr: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `<bin> serve --data DIR --listen 127.0.0.1:PORT` (0 = any free port); resolves once it listens. */
export function startServe(bin: string, dir: string, port = 0, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Server> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [bin, 'serve', '--data', dir, '--listen', `127.0.0.1:${port}`, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 30_000);
    proc.stderr!.on('data', (d) => (err += d));
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        const p = Number(m[1]);
        resolve({
          proc,
          port: p,
          url: `http://127.0.0.1:${p}`,
          stderr: () => err,
          kill: (signal = 'SIGTERM') =>
            new Promise((res) => {
              if (proc.exitCode !== null || proc.signalCode !== null) return res();
              proc.once('exit', () => res());
              proc.kill(signal);
            }),
        });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${err}`));
    });
  });
}
