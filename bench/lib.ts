// Benchmark plumbing: statistics, machine description, CPU accounting from
// /proc, the `ledger serve` child process, and the envelope generator pool.

import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { sodiumCrypto } from '../src/platform/sodium.js';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { cpus, totalmem, platform, release } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { GenJob, GenResult } from './gen-worker.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const BIN = {
  ledger: join(ROOT, 'dist/src/cli/ledger.js'),
  verify: join(ROOT, 'dist/src/cli/ledger-verify.js'),
  witness: join(ROOT, 'dist/witness/cli.js'),
};

// ------------------------------------------------------------------ statistics

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of an unsorted sample. */
export function percentile(xs: Float64Array | number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1]!;
}

// ------------------------------------------------------------------ machine

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  os: string;
  memoryGB: number;
  disk: string;
}

export function machine(dataDir: string): Machine {
  let disk = 'unknown';
  try {
    const line = execFileSync('df', ['-PT', dataDir], { encoding: 'utf8' }).trim().split('\n')[1]!.split(/\s+/);
    const dev = line[0]!;
    const base = dev.replace(/^\/dev\//, '').replace(/[0-9]+$/, '').replace(/p$/, '');
    let rot = '';
    try {
      rot = readFileSync(`/sys/block/${base}/queue/rotational`, 'utf8').trim() === '1' ? ', reports rotational' : ', non-rotational';
    } catch {
      /* not a plain block device */
    }
    disk = `${dev} ${line[1]} (${Math.round(Number(line[2]) / 1024 / 1024)} GB${rot})`;
  } catch {
    /* df missing */
  }
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    os: `${platform()} ${release()}`,
    memoryGB: Math.round(totalmem() / 2 ** 30),
    disk,
  };
}

/**
 * Ed25519 verifications per second on one thread, right now, with node:crypto
 * and (when it loads) with libsodium, which the server uses when it can: the
 * unit of work that bounds submissions, so figures taken on a busier or slower
 * machine can be compared.
 */
export function ed25519VerifyRates(seconds = 1): { nodeCrypto: number; sodium: number | null } {
  const key = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, 7)]), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey(key);
  const raw = pub.export({ format: 'der', type: 'spki' }).subarray(12);
  const msg = Buffer.alloc(500, 1);
  const sig = sign(null, msg, key);
  const sodium = sodiumCrypto();
  const rate = (once: () => boolean) => {
    for (let i = 0; i < 200; i++) if (!once()) throw new Error('the rate probe signature does not verify');
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      for (let i = 0; i < 100; i++) once();
      n += 100;
    }
    return Math.round(n / ((performance.now() - t0) / 1000));
  };
  return { nodeCrypto: rate(() => verify(null, msg, pub, sig)), sodium: sodium ? rate(() => sodium.verify(raw, msg, sig)) : null };
}

// ------------------------------------------------------------------ CPU accounting

const TICK = 100; // USER_HZ: /proc reports CPU time in 1/100 s

/** CPU seconds: whole machine busy time, the server process, this process (all its threads). */
export interface CpuSample {
  wall: number;
  machineBusy: number;
  server: number;
  bench: number;
}

function machineBusy(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0);
    return busy / TICK;
  } catch {
    return NaN;
  }
}

function processCpu(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime
  } catch {
    return NaN;
  }
}

export function cpuSample(serverPid: number): CpuSample {
  const u = process.cpuUsage();
  return { wall: performance.now() / 1000, machineBusy: machineBusy(), server: processCpu(serverPid), bench: (u.user + u.system) / 1e6 };
}

/** Average cores busy between two samples: server, benchmark client, everything else. */
export function cpuBetween(a: CpuSample, b: CpuSample): { server: number; bench: number; other: number } {
  const wall = b.wall - a.wall;
  const server = (b.server - a.server) / wall;
  const bench = (b.bench - a.bench) / wall;
  const total = (b.machineBusy - a.machineBusy) / wall;
  return { server: round2(server), bench: round2(bench), other: round2(Math.max(0, total - server - bench)) };
}

export const round2 = (x: number) => Math.round(x * 100) / 100;

export function memoryOf(pid: number): { rssMB: number; peakMB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rssMB: Math.round(kb('VmRSS') / 1024), peakMB: Math.round(kb('VmHWM') / 1024) };
}

/** Sizes of the files in a directory, by name. */
export function fileSizes(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of readdirSync(dir)) {
    const st = statSync(join(dir, f));
    if (st.isFile()) out[f] = st.size;
  }
  return out;
}

// ------------------------------------------------------------------ child processes

export function cliOk(bin: string, args: string[]): string {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

export interface Served {
  proc: ChildProcess;
  port: number;
  stderr: () => string;
  stop(): Promise<void>;
}

/** Starts `node [nodeArgs] <bin> serve --data DIR --listen 127.0.0.1:0`; resolves once it prints its address. */
export function startServe(bin: string, dir: string, nodeArgs: string[] = []): Promise<Served> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeArgs, bin, 'serve', '--data', dir, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 30_000);
    proc.stderr!.on('data', (d) => (err += d));
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening 127\.0\.0\.1:(\d+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        proc,
        port: Number(m[1]),
        stderr: () => err,
        stop: () =>
          new Promise((res) => {
            if (proc.exitCode !== null || proc.signalCode !== null) return res();
            proc.once('exit', () => res());
            proc.kill('SIGTERM');
          }),
      });
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${err}`));
    });
  });
}

// ------------------------------------------------------------------ generator pool

export class Generator {
  private readonly workers: Worker[];

  constructor(n: number) {
    this.workers = Array.from({ length: n }, () => new Worker(new URL('./gen-worker.js', import.meta.url)));
  }

  /** Generates `count` requests' worth of envelopes starting at sequence number `first`, spread over the workers. */
  async generate(job: Omit<GenJob, 'first' | 'count'>, first: number, count: number): Promise<Buffer[]> {
    const per = job.mode === 'batch' ? job.batchSize * 32 : 8192;
    const jobs: GenJob[] = [];
    for (let o = 0; o < count; o += per) jobs.push({ ...job, first: first + o, count: Math.min(per, count - o) });
    const results: GenResult[] = new Array(jobs.length);
    let next = 0;
    await Promise.all(
      this.workers.map(async (w) => {
        while (next < jobs.length) {
          const k = next++;
          results[k] = await new Promise<GenResult>((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
            w.postMessage(jobs[k]);
          });
          w.removeAllListeners('error');
        }
      }),
    );
    const out: Buffer[] = [];
    for (const r of results) {
      const all = Buffer.from(r.data);
      for (let k = 0; k + 1 < r.offsets.length; k++) out.push(all.subarray(r.offsets[k]!, r.offsets[k + 1]!));
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
