// The benchmark harness runs end to end in its smoke mode (a real `ledger serve`,
// real signed envelopes, every phase) and writes every figure. No figure is
// judged here: timed assertions do not belong in the test suite.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT, tmp } from '../helpers/procs.js';

const FIGURES = [
  'batch_entries_per_second',
  'single_entries_per_second',
  'ack_latency_ms',
  'checkpoint_latency_ms',
  'checkpoint_latency_witnessed_ms',
  'proofs_per_second',
  'verify_entries_per_second',
  'memory_rss_mb',
  'disk_bytes_per_entry',
  'proof_latency_ratio',
];

it('npm run bench --smoke produces every figure, the machine and the table', () => {
  const out = join(tmp('bench-'), 'results.json');
  // A non-default checkpoint interval (shorter, so the smoke run is too), which the
  // checkpoint figures must name.
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench/run.js'), '--smoke', '--out', out, '--checkpoint-interval', '250'], { encoding: 'utf8', timeout: 170_000 });
  expect(r.status, r.stderr).toBe(0);
  const res = JSON.parse(readFileSync(out, 'utf8'));
  expect(res.mode).toBe('smoke');
  expect(res.checkpointIntervalMs).toBe(250);
  for (const id of ['checkpoint_latency_ms', 'checkpoint_latency_witnessed_ms']) expect(res.figures[id].note, id).toContain('checkpointIntervalMs 250 (set by --checkpoint-interval');
  expect(r.stderr).toMatch(/witnessed warm-up: \d+ submissions/);
  expect(res.machine.cores).toBeGreaterThan(0);
  expect(res.machine.cpu).toBeTypeOf('string');
  expect(res.machine.node).toBe(process.version);
  expect(res.machine.disk).toBeTypeOf('string');
  expect(Object.keys(res.figures).sort()).toEqual([...FIGURES].sort());
  for (const id of FIGURES) {
    const f = res.figures[id];
    expect(f.label, id).toBeTypeOf('string');
    expect(f.target, id).toBeTypeOf('string');
    if (f.value === null) expect(f.note, id).toMatch(/^n\/a \(/);
    else {
      expect(Number.isFinite(f.value), id).toBe(true);
      expect(f.runs.length, id).toBeGreaterThanOrEqual(1);
    }
    expect(r.stdout, id).toContain(f.label);
  }
  // The submission figures are measured, never skipped.
  for (const id of ['batch_entries_per_second', 'single_entries_per_second', 'ack_latency_ms', 'checkpoint_latency_ms', 'proofs_per_second', 'memory_rss_mb', 'disk_bytes_per_entry', 'proof_latency_ratio'])
    expect(res.figures[id].value, id).toBeGreaterThan(0);
  for (const id of ['batch_entries_per_second', 'single_entries_per_second', 'ack_latency_ms', 'checkpoint_latency_ms', 'proofs_per_second'])
    expect(res.figures[id].runs.length, id).toBe(3);
  expect(r.stdout).toMatch(/^machine: .+, \d+ cores, .*Node v\d+/m);
}, 180_000);

it('bench/merge-writes runs a real store through growing merges and reports the bytes they wrote', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench/merge-writes.js'), '5000', '64'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  const res = JSON.parse(r.stdout);
  // Chunks of 64 up to 2,048 entries (32), 128 up to 4,096 (16), then 256 (3 whole ones below 5,000).
  expect([res.entries, res.minChunk, res.merges, res.keysMerged]).toEqual([5000, 64, 51, 4864]);
  for (const k of ['appendBytesPerEntry', 'mergeBytesPerEntry', 'secondHalfMergeBytesPerEntry']) expect(res[k], k).toBeGreaterThan(0);
  expect(spawnSync(process.execPath, [join(ROOT, 'dist/bench/merge-writes.js'), 'many'], { encoding: 'utf8' }).status).toBe(2);
});
