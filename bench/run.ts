// `npm run bench`: the ledger's throughput, latency and footprint on this machine.
//
// Starts a real `ledger serve` (its SQLite data directory, production durability:
// an index acknowledged only once the WAL holding it is fsynced), registers producers,
// signs distinct Ed25519 evidence envelopes in advance in worker threads (outside
// every timed part), drives load from this process over loopback, and prints one
// table plus bench/results.json. Every figure is the median of 3 runs.
//
//   node dist/bench/run.js [--quick | --smoke | --full] [--out FILE] [--dir DIR] [--profile DIR] [--keep]
//                          [--checkpoint-interval MS]
//
// default: under 5 minutes, grows the log toward 1,000,000 entries;
// --full: as default, but the batch runs may take up to 100 s each so that the
// log reaches 1,000,000 entries on this machine kind (about 7 to 8 minutes);
// --quick: under a minute, 60,000 entries, ledger-verify on 10,000;
// --smoke: half a minute, 2,000 entries (only checks that every figure is
// produced; its numbers mean little).
// --checkpoint-interval MS: the server's checkpointIntervalMs (default 1000), to
// measure the checkpoint latency another setting gives.

import { spawnSync } from 'node:child_process';
import { randomBytes, createPrivateKey, createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { formatPublicKeyPem } from '../src/core/pem.js';
import { DEFAULTS } from '../src/log/config.js';
import { LedgerStore } from '../storage/sqlite/store.js';
import { openConnections, getRequest, type Connection } from './client.js';
import {
  BIN,
  ROOT,
  Generator,
  cliOk,
  cpuBetween,
  cpuSample,
  ed25519VerifyRates,
  fileSizes,
  machine,
  median,
  memoryOf,
  percentile,
  round2,
  startServe,
  type Machine,
  type Served,
} from './lib.js';

// ------------------------------------------------------------------ settings

interface Mode {
  name: string;
  /** Entries the log is grown to by the batch runs (the memory, disk and proof figures are taken there). */
  fill: number;
  /** Size for the small-log proof latency (the denominator of the ratio). */
  small: number;
  /** A batch run stops after this long even if its share of the fill is not sent. */
  batchCapSec: number;
  singleSec: number;
  /** Envelopes signed in advance per single-submission run (a run ends early if they run out). */
  singlePool: number;
  latencySec: number;
  proofSec: number;
  proofLatencyRequests: number;
  /** Entries in the bundle ledger-verify checks (100,000 is the figure; quick mode takes fewer and says so). */
  verifyEntries: number;
}

const MODES: Record<string, Mode> = {
  default: { name: 'default', fill: 1_000_000, small: 10_000, batchCapSec: 35, singleSec: 6, singlePool: 80_000, latencySec: 6, proofSec: 3, proofLatencyRequests: 1000, verifyEntries: 100_000 },
  full: { name: 'full', fill: 1_000_000, small: 10_000, batchCapSec: 100, singleSec: 6, singlePool: 80_000, latencySec: 6, proofSec: 3, proofLatencyRequests: 1000, verifyEntries: 100_000 },
  quick: { name: 'quick', fill: 60_000, small: 10_000, batchCapSec: 10, singleSec: 1.5, singlePool: 20_000, latencySec: 1.5, proofSec: 1, proofLatencyRequests: 200, verifyEntries: 10_000 },
  smoke: { name: 'smoke', fill: 2_000, small: 500, batchCapSec: 10, singleSec: 0.4, singlePool: 1_000, latencySec: 0.4, proofSec: 0.3, proofLatencyRequests: 40, verifyEntries: 2_000 },
};

const RUNS = 3;
const BATCH = 256;
const BATCH_CONNECTIONS = 8;
const SINGLE_CLIENTS = 64;
const PROOF_CLIENTS = 64;
const PRODUCERS = 4;
const CHECKPOINT_POLL_MS = 5;
const ORIGIN = 'bench.example/log';

// ------------------------------------------------------------------ results

interface Figure {
  label: string;
  unit: string;
  /** The headline number (null: not measured, see note). */
  value: number | null;
  /** e.g. p50 next to a p99 headline. */
  extra?: Record<string, number>;
  target: string;
  pass: boolean | null;
  runs: unknown[];
  note: string;
}

const figures: Record<string, Figure> = {};
const phases: Record<string, unknown> = {};
const log = (s: string) => process.stderr.write(`[bench ${((performance.now() - T0) / 1000).toFixed(1)}s] ${s}\n`);
const T0 = performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function figure(id: string, f: Figure): void {
  figures[id] = f;
  const v = f.value === null ? 'n/a' : `${f.value} ${f.unit}`;
  log(`${f.label}: ${v}${f.extra ? ' ' + JSON.stringify(f.extra) : ''} (target ${f.target})`);
}

// ------------------------------------------------------------------ HTTP helpers

function jsonOf(b: Buffer): any {
  return JSON.parse(b.toString('utf8'));
}

async function health(c: Connection): Promise<{ sequenced: number; treeSize: number; published: number }> {
  return jsonOf((await c.send(getRequest('/healthz'))).body);
}

/** One sample of the server's /metrics (`name{labels}` as printed), NaN when absent. A scrape resets the event-loop delay figures. */
async function metric(c: Connection, sample: string): Promise<number> {
  const text = (await c.send(getRequest('/metrics'))).body.toString('utf8');
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return Number(line?.slice(sample.length + 1) ?? NaN);
}

/** The server's count of commits that appended entries (`ledger_commits_total`). */
const commits = (c: Connection): Promise<number> => metric(c, 'ledger_commits_total');

/** The server's longest event-loop delay since the previous scrape, ms (`ledger_event_loop_delay_seconds`, quantile 1). */
const serverLoopDelayMax = async (c: Connection): Promise<number> => round2(1000 * (await metric(c, 'ledger_event_loop_delay_seconds{quantile="1"}')));

async function checkpointSize(c: Connection): Promise<number> {
  const r = await c.send(getRequest('/checkpoint'));
  if (r.status !== 200) return 0;
  return Number(r.body.toString('utf8').split('\n')[1]);
}

/** Waits until every sequenced entry is in a published checkpoint. */
async function settle(c: Connection, timeoutMs = 120_000): Promise<number> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const h = await health(c);
    if (h.published === h.sequenced && h.sequenced > 0) return h.published;
    if (performance.now() > until) throw new Error(`integration did not catch up: ${JSON.stringify(h)}`);
    await sleep(50);
  }
}

// ------------------------------------------------------------------ load patterns

interface Tally {
  accepted: number;
  other: Record<string, number>;
}

function countBatch(t: Tally, body: Buffer): void {
  for (const r of jsonOf(body).results as { status: number; error?: { code: string } }[]) {
    if (r.status === 201) t.accepted++;
    else {
      const k = `${r.status} ${r.error?.code ?? ''}`.trim();
      t.other[k] = (t.other[k] ?? 0) + 1;
    }
  }
}

/** Closed loop: each connection sends its next request as soon as the previous answer arrives. */
async function closedLoop(conns: Connection[], requests: Buffer[], stopAt: number, onAnswer: (status: number, body: Buffer) => void): Promise<{ sent: number; seconds: number }> {
  let next = 0;
  const t0 = performance.now();
  let last = t0;
  await Promise.all(
    conns.map(async (c) => {
      while (next < requests.length && performance.now() < stopAt) {
        const r = await c.send(requests[next++]!);
        onAnswer(r.status, r.body);
        last = performance.now();
      }
    }),
  );
  return { sent: next, seconds: (last - t0) / 1000 };
}

/**
 * Open loop at a fixed rate: request k is due at t0 + k/rate and its latency is
 * counted from that moment (so a slow answer cannot hide the requests queued behind it).
 */
async function openLoop(
  conns: Connection[],
  requests: Buffer[],
  rate: number,
  seconds: number,
  onAnswer: (k: number, due: number, done: number, status: number, body: Buffer, sent: number) => void,
): Promise<number> {
  const total = Math.min(requests.length, Math.floor(rate * seconds));
  const free = [...conns];
  const t0 = performance.now();
  let next = 0;
  let finished = 0;
  return new Promise((resolve, reject) => {
    const pump = () => {
      const now = performance.now();
      while (next < total && free.length > 0 && t0 + (next * 1000) / rate <= now) {
        const k = next++;
        const c = free.pop()!;
        const due = t0 + (k * 1000) / rate;
        const sent = performance.now();
        c.send(requests[k]!).then((r) => {
          onAnswer(k, due, performance.now(), r.status, r.body, sent);
          free.push(c);
          if (++finished === total) resolve(total);
          else pump();
        }, reject);
      }
      if (next < total) {
        const wait = t0 + (next * 1000) / rate - performance.now();
        if (free.length > 0) setTimeout(pump, Math.max(0, wait));
      }
    };
    pump();
  });
}

// ------------------------------------------------------------------ phases

async function proofLatency(c: Connection, size: number, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const lat = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const index = Math.floor(Math.random() * size);
      const t = performance.now();
      const r = await c.send(getRequest(`/v1/proof/inclusion?index=${index}&treeSize=${size}`));
      lat[i] = performance.now() - t;
      if (r.status !== 200) throw new Error(`inclusion proof answered ${r.status}: ${r.body}`);
    }
    ms.push(percentile(lat, 50));
  }
  return ms;
}

interface Percentiles {
  p50: number;
  p99: number;
  n: number;
  /** Acknowledgement runs: the benchmark process's and the server's longest event-loop delay during the run, ms. */
  benchLagMs?: number;
  serverLagMs?: number;
  /** The longest a request of the slowest 1 % waited before it was sent (all connections busy, or the generator late), ms. */
  p99SendWaitMaxMs?: number;
  /** Connections reopened during the run (closed by the server while idle). */
  reconnects?: number;
}

/**
 * RUNS open-loop runs of single submissions at `rate`: the acknowledgement
 * latency of each, and the time until GET /checkpoint (polled) shows a
 * published checkpoint that contains it.
 */
async function latencyRuns(port: number, conns: Connection[], reqs: Buffer[], rate: number, seconds: number, label: string): Promise<{ ack: Percentiles[]; cp: Percentiles[] }> {
  const perRun = Math.floor(reqs.length / RUNS);
  const ack: Percentiles[] = [];
  const cp: Percentiles[] = [];
  for (let run = 0; run < RUNS; run++) {
    const part = reqs.slice(run * perRun, (run + 1) * perRun);
    const ackMs = new Float64Array(part.length);
    const index = new Float64Array(part.length).fill(-1);
    const due = new Float64Array(part.length);
    const [pollConn] = await openConnections('127.0.0.1', port, 1);
    const seen: { t: number; size: number }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const size = await checkpointSize(pollConn!);
        if (seen.length === 0 || size > seen[seen.length - 1]!.size) seen.push({ t: performance.now(), size });
        await sleep(CHECKPOINT_POLL_MS);
      }
    })();
    let refused = 0;
    // The load generator's own stalls count in the latencies (they are measured
    // from each request's due time): its largest event-loop delay is printed
    // beside them, to tell a slow server from a slow client.
    const lag = monitorEventLoopDelay({ resolution: 5 });
    const [metricsConn] = await openConnections('127.0.0.1', port, 1);
    await serverLoopDelayMax(metricsConn!); // resets the server's figure
    lag.enable();
    const sentMs = new Float64Array(part.length);
    const reconnects0 = conns.reduce((x, c) => x + c.reconnects, 0);
    const n = await openLoop(conns, part, rate, seconds, (k, d, done, status, body, sent) => {
      due[k] = d;
      ackMs[k] = done - d;
      sentMs[k] = sent - d;
      if (status === 201) index[k] = jsonOf(body).index;
      else refused++;
    });
    lag.disable();
    const benchLagMs = round2(lag.max / 1e6);
    const serverLagMs = await serverLoopDelayMax(metricsConn!);
    metricsConn!.close();
    // Where the slowest 1 % waited: before it could be sent (every connection
    // busy, or the load generator late), or between sending and the answer.
    const p99 = percentile(ackMs.subarray(0, n), 99);
    let waitedToSend = 0;
    for (let k = 0; k < n; k++) if (ackMs[k]! >= p99) waitedToSend = Math.max(waitedToSend, sentMs[k]!);
    const tail = { p99SendWaitMaxMs: round2(waitedToSend), reconnects: conns.reduce((x, c) => x + c.reconnects, 0) - reconnects0 };
    let last = -1;
    for (let k = 0; k < n; k++) last = Math.max(last, index[k]!);
    const until = performance.now() + 30_000;
    while ((seen.length === 0 || seen[seen.length - 1]!.size <= last) && performance.now() < until) await sleep(20);
    polling = false;
    await poller;
    pollConn!.close();
    const cpMs: number[] = [];
    for (let k = 0; k < n; k++) {
      if (index[k]! < 0) continue;
      const s = seen.find((x) => x.size > index[k]!);
      if (s) cpMs.push(s.t - due[k]!);
    }
    ack.push({ p50: round2(percentile(ackMs.subarray(0, n), 50)), p99: round2(percentile(ackMs.subarray(0, n), 99)), n, benchLagMs, serverLagMs, ...tail });
    cp.push({ p50: Math.round(percentile(cpMs, 50)), p99: Math.round(percentile(cpMs, 99)), n: cpMs.length });
    log(`${label} run ${run + 1} at ${rate}/s: ack ${JSON.stringify(ack[run])}, checkpoint ${JSON.stringify(cp[run])}${refused ? `, ${refused} refused` : ''}`);
  }
  return { ack, cp };
}

const na = (label: string, unit: string, target: string, note: string): Figure => ({ label, unit, value: null, target, pass: null, runs: [], note });

/** ledger export of the last `want` entries (fewer if the log is smaller), then ledger-verify on it, RUNS times. */
function verifyPhase(port: number, work: string, vkey: string, size: number, want: number): Figure {
  const label = 'ledger-verify entries verified per second (100,000-entry bundle)';
  const target = '>= 20,000';
  if (!existsSync(BIN.verify) || !existsSync(join(ROOT, 'dist/src/cli/export.js')))
    return na(label, 'entries/s', target, 'n/a (not built: dist/src/cli/ledger-verify.js or ledger export is missing)');
  const count = Math.min(want, size);
  const bundle = join(work, 'bench.bundle');
  const policy = join(work, 'bench.policy');
  writeFileSync(policy, `log ${vkey}\nquorum none\n`);
  const t = performance.now();
  const exp = spawnSync(process.execPath, [BIN.ledger, 'export', '--url', `http://127.0.0.1:${port}`, '--out', bundle, '--from', String(size - count), '--to', String(size - 1), '--quiet'], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (exp.status !== 0) return na(label, 'entries/s', target, `n/a (ledger export failed: ${(exp.stderr || exp.error?.message || '').trim().split('\n')[0]})`);
  log(`exported ${count.toLocaleString('en')} entries in ${((performance.now() - t) / 1000).toFixed(1)} s (${statSync(bundle).size.toLocaleString('en')} bytes; not timed)`);
  const runs: { seconds: number; rate: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [BIN.verify, bundle, '--policy', policy, '--quiet'], { encoding: 'utf8', timeout: 300_000 });
    const seconds = (performance.now() - t0) / 1000;
    if (r.status !== 0) return na(label, 'entries/s', target, `n/a (ledger-verify exited ${r.status}: ${(r.stdout + r.stderr).trim().split('\n')[0]})`);
    runs.push({ seconds: round2(seconds), rate: Math.round(count / seconds) });
    log(`ledger-verify run ${run + 1}: ${count} entries in ${seconds.toFixed(2)} s = ${Math.round(count / seconds)}/s`);
  }
  const rate = median(runs.map((r) => r.rate));
  return {
    label: count === 100_000 ? label : `ledger-verify entries verified per second (${count.toLocaleString('en')}-entry bundle)`,
    unit: 'entries/s',
    value: rate,
    target,
    pass: count === 100_000 ? rate >= 20_000 : null,
    runs,
    note: `wall time of the whole ledger-verify process (start-up included) on a bundle from ledger export --from ${size - count} --to ${size - 1}, policy: the log key, quorum none`,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      full: { type: 'boolean' },
      smoke: { type: 'boolean' },
      out: { type: 'string' },
      dir: { type: 'string' },
      profile: { type: 'string' },
      keep: { type: 'boolean' },
      'checkpoint-interval': { type: 'string' },
    },
  });
  const mode = MODES[values.smoke ? 'smoke' : values.quick ? 'quick' : values.full ? 'full' : 'default']!;
  const intervalArg = values['checkpoint-interval'];
  const checkpointIntervalMs = intervalArg === undefined ? DEFAULTS.checkpointIntervalMs : Number(intervalArg);
  if (!Number.isSafeInteger(checkpointIntervalMs) || checkpointIntervalMs < 1) throw new Error(`--checkpoint-interval must be a positive whole number of ms, not ${intervalArg}`);
  const intervalNote = `checkpointIntervalMs ${checkpointIntervalMs}${checkpointIntervalMs === DEFAULTS.checkpointIntervalMs ? ' (the default)' : ` (set by --checkpoint-interval; the default is ${DEFAULTS.checkpointIntervalMs})`}`;
  const out = values.out ?? join(ROOT, 'bench', 'results.json');
  const base = values.dir ?? tmpdir();
  mkdirSync(base, { recursive: true });
  const work = mkdtempSync(join(base, 'ledger-bench-'));
  // The data directory goes away at exit, failed runs included, unless --keep.
  if (!values.keep) process.on('exit', () => rmSync(work, { recursive: true, force: true }));
  const dir = join(work, 'data');
  const nonce = randomBytes(6).toString('hex');
  const m = machine(work);
  const load0 = loadavg()[0]!;
  const rates = ed25519VerifyRates();
  log(`mode ${mode.name}; ${m.cpu}, ${m.cores} cores, Node ${m.node}, disk ${m.disk}; load average ${load0.toFixed(2)}; Ed25519 verify on one thread: node:crypto ${rates.nodeCrypto}/s, sodium-native ${rates.sodium ?? 'not installed'}/s`);

  // --- the log and its producers
  const vkey = cliOk(BIN.ledger, ['init', '--data', dir, '--origin', ORIGIN]).trim();
  const cfgPath = join(dir, 'config.json');
  if (checkpointIntervalMs !== DEFAULTS.checkpointIntervalMs) {
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, checkpointIntervalMs }, null, 2) + '\n');
  }
  const producers: [string, string][] = [];
  for (let i = 0; i < PRODUCERS; i++) {
    const seed = randomBytes(32);
    const priv = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
    const pub = new Uint8Array(createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(12));
    const file = join(work, `producer-${i}.pub`);
    writeFileSync(file, formatPublicKeyPem(pub));
    const keyid = /keyid ([0-9a-f]{64})/.exec(cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', `producer-${i}`, '--key', file, '--types', 'evidence']))![1]!;
    producers.push([seed.toString('hex'), keyid]);
  }

  // --- envelopes are signed in worker threads before each timed part, never during it
  const gen = new Generator(Math.max(1, m.cores));
  let seq = 0;
  let genSeconds = 0;
  const sign = async (kind: 'batch' | 'single', count: number): Promise<Buffer[]> => {
    const t = performance.now();
    const reqs = await gen.generate({ mode: kind, batchSize: kind === 'batch' ? BATCH : 1, producers, nonce }, seq, count);
    seq += count;
    genSeconds += (performance.now() - t) / 1000;
    log(`signed ${count.toLocaleString('en')} envelopes in ${((performance.now() - t) / 1000).toFixed(1)} s (not timed)`);
    return reqs;
  };
  const smallReqs = await sign('batch', mode.small - PRODUCERS);

  // --- the server
  const nodeArgs = values.profile ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : [];
  let server: Served = await startServe(BIN.ledger, dir, nodeArgs);
  /** What servers stopped before the last one wrote on stderr (printed at the end with the last one's). */
  const earlierStderr: string[] = [];
  let pid = server.proc.pid!;
  const serverVerifier = /Ed25519 verification: ([\w:-]+)/.exec(server.stderr())?.[1] ?? 'unknown';
  let [ctl] = await openConnections('127.0.0.1', server.port, 1);
  const batchConns = await openConnections('127.0.0.1', server.port, BATCH_CONNECTIONS);
  const witnesses: Served[] = [];
  const cpuStart = cpuSample(pid);

  try {
    // --- small log: proof latency at mode.small entries
    const warm: Tally = { accepted: 0, other: {} };
    const w = await closedLoop(batchConns, smallReqs, Infinity, (s, b) => (s === 200 ? countBatch(warm, b) : (warm.other[String(s)] = (warm.other[String(s)] ?? 0) + 1)));
    const warmRate = warm.accepted / w.seconds;
    const smallSize = await settle(ctl!);
    const smallProofMs = await proofLatency(ctl!, smallSize, mode.proofLatencyRequests);
    log(`log at ${smallSize} entries (filled at ${Math.round(warmRate)}/s); inclusion-proof p50 latency ${median(smallProofMs).toFixed(3)} ms`);

    // --- batch throughput: the rest of the fill, in RUNS runs. Each run signs its
    // share first; a run also stops at its time cap, and the next ones then sign
    // only what they can send in theirs (the log ends below mode.fill and says so).
    const batchRuns: { entries: number; seconds: number; rate: number; cpu: ReturnType<typeof cpuBetween>; rejected: Record<string, number>; entriesPerCommit: number }[] = [];
    let rateEstimate = Math.max(warmRate, 1000);
    let filled = smallSize;
    for (let run = 0; run < RUNS; run++) {
      const share = Math.ceil((mode.fill - filled) / (RUNS - run));
      const want = Math.max(BATCH, Math.ceil(Math.min(share, rateEstimate * mode.batchCapSec * 1.15) / BATCH) * BATCH);
      const reqs = await sign('batch', want);
      const t: Tally = { accepted: 0, other: {} };
      const k0 = await commits(ctl!);
      const c0 = cpuSample(pid);
      const r = await closedLoop(batchConns, reqs, performance.now() + mode.batchCapSec * 1000, (s, b) => {
        if (s === 200) countBatch(t, b);
        else t.other[String(s)] = (t.other[String(s)] ?? 0) + 1;
      });
      const cpu = cpuBetween(c0, cpuSample(pid));
      const perCommit = Math.round(t.accepted / ((await commits(ctl!)) - k0));
      const rate = t.accepted / r.seconds;
      rateEstimate = rate;
      filled += t.accepted;
      batchRuns.push({ entries: t.accepted, seconds: round2(r.seconds), rate: Math.round(rate), cpu, rejected: t.other, entriesPerCommit: perCommit });
      log(`batch run ${run + 1}: ${t.accepted} accepted in ${r.seconds.toFixed(2)} s = ${Math.round(rate)}/s; ${perCommit} entries per commit; server CPU ${Math.round((cpu.server * r.seconds * 1e6) / t.accepted)} us/entry; cores busy ${JSON.stringify(cpu)}${Object.keys(t.other).length ? ' refused ' + JSON.stringify(t.other) : ''}`);
    }
    const batchRate = median(batchRuns.map((r) => r.rate));
    figure('batch_entries_per_second', {
      label: 'accepted entries/s, POST /v1/entries:batch (256 per batch)',
      unit: 'entries/s',
      value: batchRate,
      target: '>= 10,000',
      pass: batchRate >= 10_000,
      runs: batchRuns,
      note: `${BATCH_CONNECTIONS} connections with one batch each in flight; the ${RUNS} runs (each at most ${mode.batchCapSec} s) grow the log from ${smallSize.toLocaleString('en')} entries toward ${mode.fill.toLocaleString('en')}`,
    });

    // --- footprint at the full size
    const size = await settle(ctl!);
    await sleep(500);
    const mem = memoryOf(pid);
    const db = new LedgerStore(join(dir, 'ledger.db'), { readonly: true });
    const n = db.entryCount();
    const leafBytes = db.leafBytes();
    db.close();
    const files = fileSizes(dir);
    const bytes = Object.values(files).reduce((a, b) => a + b, 0);
    const perEntry = Math.round((bytes - leafBytes) / n);
    const full = size >= 1_000_000;
    const sizeNote = full ? '' : ` (the log reached ${size.toLocaleString('en')} entries, not 1,000,000: ${mode.name === 'default' || mode.name === 'full' ? 'the batch runs hit their time cap' : `${mode.name} mode`})`;
    figure('memory_rss_mb', {
      label: `server resident memory at ${size.toLocaleString('en')} entries`,
      unit: 'MB',
      value: mem.rssMB,
      extra: { peakMB: mem.peakMB },
      target: '<= 256 MB at 1,000,000 entries',
      pass: full ? mem.rssMB <= 256 : null,
      runs: [mem],
      note: `VmRSS of the ledger serve process after the fill and integration (peak VmHWM ${mem.peakMB} MB)${sizeNote}`,
    });
    figure('disk_bytes_per_entry', {
      label: `disk bytes per entry beyond the leaf, at ${size.toLocaleString('en')} entries`,
      unit: 'bytes',
      value: perEntry,
      extra: { dataDirBytes: bytes, leafBytes, entries: n, meanLeafBytes: Math.round(leafBytes / n) },
      target: '<= 100',
      pass: full ? perEntry <= 100 : null,
      runs: [{ files, leafBytes, entries: n }],
      note: `(all files in the data directory: ledger.db, -wal, -shm, key, config) minus the leaf bytes, per entry${sizeNote}`,
    });

    // --- inclusion proofs: latency at full size, throughput with 64 clients
    const bigProofMs = await proofLatency(ctl!, size, mode.proofLatencyRequests);
    const ratio = round2(median(bigProofMs) / median(smallProofMs));
    figure('proof_latency_ratio', {
      label: `inclusion-proof latency at ${size.toLocaleString('en')} / at ${smallSize.toLocaleString('en')} entries`,
      unit: 'x',
      value: ratio,
      extra: { smallP50ms: Math.round(median(smallProofMs) * 1000) / 1000, largeP50ms: Math.round(median(bigProofMs) * 1000) / 1000 },
      target: '<= 1.5 (1,000,000 vs 10,000)',
      pass: full ? ratio <= 1.5 : null,
      runs: [{ small: smallProofMs, large: bigProofMs }],
      note: `median over ${RUNS} runs of the p50 of ${mode.proofLatencyRequests} sequential GET /v1/proof/inclusion at random indices (one connection)${sizeNote}`,
    });
    const proofConns = await openConnections('127.0.0.1', server.port, PROOF_CLIENTS);
    const proofRuns: { proofs: number; seconds: number; rate: number; cpu: ReturnType<typeof cpuBetween> }[] = [];
    for (let run = 0; run < RUNS; run++) {
      let ok = 0;
      const bad: Record<string, number> = {};
      const stopAt = performance.now() + mode.proofSec * 1000;
      const c0 = cpuSample(pid);
      const t0 = performance.now();
      await Promise.all(
        proofConns.map(async (c) => {
          while (performance.now() < stopAt) {
            const r = await c.send(getRequest(`/v1/proof/inclusion?index=${Math.floor(Math.random() * size)}`));
            if (r.status === 200) ok++;
            else bad[r.status] = (bad[r.status] ?? 0) + 1;
          }
        }),
      );
      const seconds = (performance.now() - t0) / 1000;
      if (Object.keys(bad).length) throw new Error(`inclusion proofs failed: ${JSON.stringify(bad)}`);
      const cpu = cpuBetween(c0, cpuSample(pid));
      proofRuns.push({ proofs: ok, seconds: round2(seconds), rate: Math.round(ok / seconds), cpu });
      log(`proof run ${run + 1}: ${Math.round(ok / seconds)}/s; server CPU ${Math.round((cpu.server * seconds * 1e6) / ok)} us/proof; cores busy ${JSON.stringify(cpu)}`);
    }
    for (const c of proofConns) c.close();
    const proofRate = median(proofRuns.map((r) => r.rate));
    figure('proofs_per_second', {
      label: `inclusion proofs served per second (${PROOF_CLIENTS} clients, random indices, ${size.toLocaleString('en')} entries)`,
      unit: 'proofs/s',
      value: proofRate,
      target: '>= 20,000',
      pass: proofRate >= 20_000,
      runs: proofRuns,
      note: `closed loop, ${mode.proofSec} s per run`,
    });

    // --- single submissions, 64 concurrent clients
    const perSingleRun = Math.min(mode.singlePool, Math.ceil(batchRate * mode.singleSec * 1.2));
    const singleReqs = await sign('single', perSingleRun * RUNS);
    const singleConns = await openConnections('127.0.0.1', server.port, SINGLE_CLIENTS);
    const singleRuns: { entries: number; seconds: number; rate: number; cpu: ReturnType<typeof cpuBetween>; rejected: Record<string, number>; entriesPerCommit: number }[] = [];
    for (let run = 0; run < RUNS; run++) {
      const reqs = singleReqs.slice(run * perSingleRun, (run + 1) * perSingleRun);
      let ok = 0;
      const bad: Record<string, number> = {};
      const k0 = await commits(ctl!);
      const c0 = cpuSample(pid);
      const r = await closedLoop(singleConns, reqs, performance.now() + mode.singleSec * 1000, (s, b) => {
        if (s === 201) ok++;
        else {
          const k = `${s} ${s >= 400 ? (jsonOf(b).error?.code ?? '') : ''}`.trim();
          bad[k] = (bad[k] ?? 0) + 1;
        }
      });
      const cpu = cpuBetween(c0, cpuSample(pid));
      const perCommit = Math.round((ok / ((await commits(ctl!)) - k0)) * 10) / 10;
      singleRuns.push({ entries: ok, seconds: round2(r.seconds), rate: Math.round(ok / r.seconds), cpu, rejected: bad, entriesPerCommit: perCommit });
      log(`single run ${run + 1}: ${ok} accepted in ${r.seconds.toFixed(2)} s = ${Math.round(ok / r.seconds)}/s; ${perCommit} entries per commit; server CPU ${Math.round((cpu.server * r.seconds * 1e6) / ok)} us/entry; cores busy ${JSON.stringify(cpu)}${Object.keys(bad).length ? ' refused ' + JSON.stringify(bad) : ''}`);
    }
    const singleRate = median(singleRuns.map((r) => r.rate));
    figure('single_entries_per_second', {
      label: `accepted entries/s, single POST /v1/entries (${SINGLE_CLIENTS} clients)`,
      unit: 'entries/s',
      value: singleRate,
      target: '>= 5,000',
      pass: singleRate >= 5_000,
      runs: singleRuns,
      note: `closed loop, up to ${mode.singleSec} s or ${perSingleRun.toLocaleString('en')} envelopes per run`,
    });

    // --- latency at half the maximum (single-submission) rate
    const rate = Math.max(1, Math.floor(singleRate / 2));
    const perRun = Math.ceil(rate * mode.latencySec);
    const lat = await latencyRuns(server.port, singleConns, await sign('single', perRun * RUNS), rate, mode.latencySec, 'latency');
    const ackP99 = median(lat.ack.map((r) => r.p99));
    figure('ack_latency_ms', {
      label: `submit -> index acknowledged, at ${rate}/s (half the single-submission maximum)`,
      unit: 'ms (p99)',
      value: ackP99,
      extra: { p50: median(lat.ack.map((r) => r.p50)), p99: ackP99 },
      target: 'p99 <= 50 ms',
      pass: ackP99 <= 50,
      runs: lat.ack,
      note: `open loop of single POST /v1/entries at a fixed rate for ${mode.latencySec} s per run, latency from each request's due time`,
    });
    const cpP99 = median(lat.cp.map((r) => r.p99));
    figure('checkpoint_latency_ms', {
      label: 'submit -> in a published signed checkpoint (no witnesses)',
      unit: 'ms (p99)',
      value: cpP99,
      extra: { p50: median(lat.cp.map((r) => r.p50)), p99: cpP99 },
      target: 'p99 <= 1 s',
      pass: cpP99 <= 1000,
      runs: lat.cp,
      note: `same runs; GET /checkpoint polled every ${CHECKPOINT_POLL_MS} ms (adds up to ${CHECKPOINT_POLL_MS} ms); ${intervalNote}`,
    });

    // --- ledger-verify over a bundle of the last 100,000 entries (fewer in quick and smoke mode)
    figure('verify_entries_per_second', verifyPhase(server.port, work, vkey, await settle(ctl!), mode.verifyEntries));

    phases.cpu = cpuBetween(cpuStart, cpuSample(pid));

    // --- checkpoint latency with 3 local witnesses (all three must cosign)
    const wLabel = 'submit -> in a checkpoint cosigned by 3 local witnesses';
    if (!existsSync(BIN.witness)) figure('checkpoint_latency_witnessed_ms', na(wLabel, 'ms (p99)', 'p99 <= 1 s', 'n/a (not built: dist/witness/cli.js is missing)'));
    else {
      const names = ['w1', 'w2', 'w3'];
      const wkeys: string[] = [];
      for (const name of names) {
        const wdir = join(work, name);
        wkeys.push(cliOk(BIN.witness, ['init', '--data', wdir, '--name', `bench.example/${name}`]).trim());
        cliOk(BIN.witness, ['logs', 'add', '--data', wdir, '--origin', ORIGIN, '--vkey', vkey]);
        witnesses.push(await startServe(BIN.witness, wdir));
      }
      for (const c of [ctl!, ...singleConns]) c.close();
      await server.stop();
      earlierStderr.push(server.stderr());
      const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
      cfg.witnesses = names.map((name, i) => ({ name, url: `http://127.0.0.1:${witnesses[i]!.port}`, vkey: wkeys[i] }));
      cfg.witnessPolicy = [`log ${vkey}`, ...names.map((name, i) => `witness ${name} ${wkeys[i]}`), `group all-three 3 ${names.join(' ')}`, 'quorum all-three', ''].join('\n');
      writeFileSync(cfgPath, JSON.stringify(cfg, null, 2) + '\n');
      server = await startServe(BIN.ledger, dir, nodeArgs);
      pid = server.proc.pid!;
      [ctl] = await openConnections('127.0.0.1', server.port, 1);
      await settle(ctl!);
      const conns = await openConnections('127.0.0.1', server.port, SINGLE_CLIENTS);
      // One unmeasured run first: the restarted server's code is cold and the
      // witnesses catch up with the log, which made the first measured run 10 to
      // 20 times slower than the others in earlier sessions.
      const warmup = await openLoop(conns, await sign('single', perRun), rate, mode.latencySec, () => {});
      await settle(ctl!);
      log(`witnessed warm-up: ${warmup} submissions at ${rate}/s, not measured`);
      const round0 = [await metric(ctl!, 'ledger_witness_quorum_seconds_sum'), await metric(ctl!, 'ledger_witness_quorum_seconds_count')];
      const wl = await latencyRuns(server.port, conns, await sign('single', perRun * RUNS), rate, mode.latencySec, 'witnessed latency');
      for (const c of conns) c.close();
      const wP99 = median(wl.cp.map((r) => r.p99));
      // The mean witness round over the measured runs: asking the three to meeting the quorum.
      const rounds = (await metric(ctl!, 'ledger_witness_quorum_seconds_count')) - round0[1]!;
      const witnessRoundMeanMs = round2((1000 * ((await metric(ctl!, 'ledger_witness_quorum_seconds_sum')) - round0[0]!)) / Math.max(1, rounds));
      log(`witness rounds during the measured runs: ${rounds}, mean ${witnessRoundMeanMs} ms`);
      figure('checkpoint_latency_witnessed_ms', {
        label: wLabel,
        unit: 'ms (p99)',
        value: wP99,
        extra: { p50: median(wl.cp.map((r) => r.p50)), p99: wP99, ackP99: median(wl.ack.map((r) => r.p99)), witnessRoundMeanMs },
        target: 'p99 <= 1 s',
        pass: wP99 <= 1000,
        runs: wl.cp,
        note: `as above at ${rate}/s, after a restart with 3 witness serve processes on loopback, a tlog-policy quorum of all three, and one unmeasured warm-up run; ${intervalNote}`,
      });
    }

    phases.generateSeconds = round2(genSeconds);
  } finally {
    for (const c of [ctl!, ...batchConns]) c.close();
    await server.stop();
    await Promise.all(witnesses.map((w) => w.stop()));
    await gen.close();
    const err = [...earlierStderr, server.stderr()].join('\n').trim().split('\n').filter((l) => l !== '' && !/listening on/.test(l));
    if (err.length) log(`server stderr:\n${err.join('\n')}`);
  }

  const results = {
    mode: mode.name,
    checkpointIntervalMs,
    date: new Date().toISOString(),
    machine: { ...m, ed25519VerifyPerSecondOneThread: rates.nodeCrypto, ed25519VerifyPerSecondOneThreadSodium: rates.sodium, serverVerifier },
    loadAverageAtStart: round2(load0),
    seconds: round2((performance.now() - T0) / 1000),
    figures,
    phases,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
  printTable(results);
  if (values.keep) log(`data kept in ${work}`);
}

function printTable(r: { mode: string; machine: Machine & { ed25519VerifyPerSecondOneThread: number; ed25519VerifyPerSecondOneThreadSodium: number | null; serverVerifier: string }; loadAverageAtStart: number; seconds: number; figures: Record<string, Figure>; phases: Record<string, unknown> }): void {
  const rows = Object.values(r.figures).map((f) => {
    const v = f.value === null ? f.note : `${f.value.toLocaleString('en')} ${f.unit}${f.extra && 'p50' in f.extra ? ` (p50 ${f.extra.p50})` : ''}`;
    const verdict = f.pass === null ? '' : f.pass ? 'meets' : 'MISSES';
    return [f.label, v, f.target, verdict];
  });
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((x) => x[i]!.length)));
  const lines = [
    '',
    `ledger benchmark, ${r.mode} mode, ${r.seconds} s`,
    `machine: ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGB} GB RAM, Node ${r.machine.node}, ${r.machine.os}`,
    `disk: ${r.machine.disk}; Ed25519 verifications on one thread at the start: node:crypto ${r.machine.ed25519VerifyPerSecondOneThread.toLocaleString('en')}/s, sodium-native ${r.machine.ed25519VerifyPerSecondOneThreadSodium?.toLocaleString('en') ?? 'not installed'}/s; the server verifies with ${r.machine.serverVerifier}`,
    `load average at start ${r.loadAverageAtStart}; average cores busy during the run: ${JSON.stringify(r.phases.cpu)} (other = processes outside the benchmark)`,
    `each figure: median of ${RUNS} runs`,
    '',
    ...rows.map((x) => `${x[0]!.padEnd(w[0]!)}  ${x[1]!.padEnd(w[1]!)}  ${x[2]!.padEnd(w[2]!)}  ${x[3]}`.trimEnd()),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
