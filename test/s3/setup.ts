// Starts and stops a real local S3 server (Ceph radosgw with Object Lock) through
// scripts/s3-local.sh, for tests. A server that cannot start is an error, never a skip.

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/s3-local.sh', import.meta.url));

export interface LocalS3 {
  dir: string;
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** Wall-clock seconds the start took (install included, if it happened). */
  startSeconds: number;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function runScript(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [SCRIPT, ...args],
      { env: { ...process.env, ...env }, timeout: 600_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`scripts/s3-local.sh ${args.join(' ')} failed (${err.code ?? err.signal ?? err.message}):\n${stderr}`));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** Parses DIR/s3.env (KEY=value lines). */
async function readEnvFile(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await readFile(`${dir}/s3.env`, 'utf8')).split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/**
 * Starts a one-node cluster in `dir` (path under 80 characters) on free ports and returns its
 * endpoint and credentials. Rejects with the script's output (log tails) when it cannot start.
 */
export async function startS3(dir: string): Promise<LocalS3> {
  const s3Port = await freePort();
  let monPort = await freePort();
  while (monPort === s3Port) monPort = await freePort();
  const t0 = performance.now();
  await runScript(['start', dir], { S3_PORT: String(s3Port), MON_PORT: String(monPort) });
  const startSeconds = (performance.now() - t0) / 1000;
  const env = await readEnvFile(dir);
  const need = (k: string) => {
    const v = env[k];
    if (v === undefined || v === '') throw new Error(`${dir}/s3.env lacks ${k}`);
    return v;
  };
  return {
    dir,
    endpoint: need('S3_ENDPOINT'),
    accessKeyId: need('AWS_ACCESS_KEY_ID'),
    secretAccessKey: need('AWS_SECRET_ACCESS_KEY'),
    region: need('AWS_REGION'),
    startSeconds,
  };
}

/** Stops the cluster in `dir` (radosgw, OSD, monitor, by their pid files). */
export async function stopS3(dir: string): Promise<void> {
  await runScript(['stop', dir]);
}
