// The programs as an auditor runs them: `ledger export` from a data directory
// and from a running `ledger serve`, `ledger-verify` on bundles and tlog-proof
// files with exit codes 0/1/2, and the import graph of ledger-verify (only the
// pure core: no SQLite, no S3, no HTTP).

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useNodeCrypto } from '../../src/platform/node-crypto.js';
import { decodeBundle } from '../../src/bundle/format.js';
import { BIN, cli, cliOk, ROOT, startServe, tmp, type Server } from '../helpers/procs.js';
import { TestProducer, evidence, trustScore } from '../helpers/producer.js';
import { checkpointOf, TestLog } from './fixture.js';

useNodeCrypto();

const log = new TestLog('ledger.test/cli');
const alice = new TestProducer();
const work = tmp('bundle-cli-');
const policyFile = join(work, 'policy.txt');
const f = (name: string) => join(work, name);
let sizes: { s1: number; s2: number };
let server: Server | undefined;

beforeAll(async () => {
  log.register('alice', alice);
  await log.submit(Array.from({ length: 180 }, (_, i) => (i % 6 === 0 ? alice.envelope('trust-score', trustScore('spiffe://svc/a', 0.7)) : alice.envelope('evidence', evidence()))));
  const s1 = await log.flush();
  await log.submit(Array.from({ length: 120 }, () => alice.envelope('evidence', evidence())));
  const s2 = await log.flush();
  log.anchor(s1);
  sizes = { s1, s2 };
  log.close();
  writeFileSync(policyFile, log.policy(2));
  writeFileSync(f('s1.checkpoint'), checkpointOf(log.dir, s1));
}, 120_000);

afterAll(async () => {
  await server?.kill();
});

describe('ledger export and ledger-verify', () => {
  it('exports a data directory and reports the count and size', () => {
    const out = cliOk(BIN.ledger, ['export', '--data', log.dir, '--out', f('all.bundle'), '--since', String(sizes.s1)]);
    const size = readFileSync(f('all.bundle')).length;
    expect(out).toBe(
      `exported ${sizes.s2} entries (+0 producer registry entries, 3 tiles, 1 anchor receipts) of ledger.test/cli at tree size ${sizes.s2} with an earlier checkpoint to ${f('all.bundle')}: ${size} bytes\n`,
    );
  });

  it('verifies: exit 0 and a summary of entries, producers, time range, checkpoint and witnesses', () => {
    const r = cli(BIN.verify, [f('all.bundle'), '--policy', policyFile]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`${f('all.bundle')}: VALID bundle`);
    expect(r.stdout).toMatch(/\n {2}origin {6}ledger\.test\/cli\n/);
    expect(r.stdout).toMatch(new RegExp(`\\n  checkpoint  size ${sizes.s2}, root \\S+, log signature verified\\n`));
    expect(r.stdout).toMatch(/\n {2}witnesses {3}w1 \(\S+Z\), w2 \(\S+Z\), w3 \(\S+Z\); quorum "all-witnesses" met\n/);
    expect(r.stdout).toMatch(new RegExp(`\\n  earlier     size ${sizes.s1}, root \\S+, consistent\\n`));
    expect(r.stdout).toMatch(new RegExp(`\\n  entries     ${sizes.s2} \\(producer 1, trust-score 30, evidence 270\\), indices 0\\.\\.${sizes.s2 - 1}\\n`));
    expect(r.stdout).toMatch(/\n {2}producers {3}alice 300\n/);
    expect(r.stdout).toMatch(/\n {2}accepted {4}\S+Z \.\. \S+Z\n/);
  });

  it('--json for machines', () => {
    const r = cli(BIN.verify, [f('all.bundle'), '--policy', policyFile, '--json', '--trusted-checkpoint', f('s1.checkpoint')]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.valid).toBe(true);
    expect(j.files[0]).toMatchObject({
      file: f('all.bundle'),
      valid: true,
      format: 'bundle',
      origin: 'ledger.test/cli',
      entries: sizes.s2,
      checkpoint: { size: sizes.s2, witnesses: ['w1', 'w2', 'w3'] },
      trustedCheckpoint: { size: sizes.s1, consistent: true },
      producers: [{ name: 'alice', entries: 300 }],
      failures: [],
    });
  });

  it('exit 1 with the reason and the entry index for a tampered bundle', () => {
    const b = decodeBundle(readFileSync(f('all.bundle')));
    const bytes = new Uint8Array(readFileSync(f('all.bundle')));
    const leaf = b.entries[42]!.leaf;
    const at = Buffer.from(bytes).indexOf(Buffer.from(leaf)) + leaf.length - 40;
    bytes[at] ^= 1;
    writeFileSync(f('bad.bundle'), bytes);
    const r = cli(BIN.verify, [f('bad.bundle'), '--policy', policyFile]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/: INVALID \(2 failures\) bundle\n/);
    expect(r.stdout).toContain('  FAIL [entry 42] entry-not-included: entry 42: its leaf hash is not the one the tree signed at size 301 holds at index 42\n');
    expect(r.stdout).toMatch(/ {2}FAIL manifest-mismatch: manifest: digests\.entries/);
    const j = JSON.parse(cli(BIN.verify, [f('bad.bundle'), '--policy', policyFile, '--json']).stdout);
    expect(j.valid).toBe(false);
    expect(j.files[0].failures[0]).toMatchObject({ code: 'entry-not-included', index: 42 });
  });

  it('exit 1 for a truncated file, never a crash', () => {
    writeFileSync(f('cut.bundle'), readFileSync(f('all.bundle')).subarray(0, 5000));
    const r = cli(BIN.verify, [f('cut.bundle'), '--policy', policyFile]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL truncated-bundle: the file ends after 5000 bytes/);
    expect(r.stderr).toBe('');
  });

  it('exit 2 for usage and I/O errors', () => {
    const two = (args: string[], msg: RegExp) => {
      const r = cli(BIN.verify, args);
      expect([r.status, r.stderr]).toEqual([2, expect.stringMatching(msg)]);
    };
    two([f('all.bundle')], /--policy is required/);
    two(['--policy', policyFile], /no file to verify/);
    two([f('missing.bundle'), '--policy', policyFile], /ENOENT/);
    two([f('all.bundle'), '--policy', f('missing.policy')], /ENOENT/);
    writeFileSync(f('bad.policy'), 'log not-a-key\nquorum none\n');
    two([f('all.bundle'), '--policy', f('bad.policy')], /policy .*bad-vkey/);
    two([f('all.bundle'), '--policy', policyFile, '--bogus'], /Unknown option/);
  });

  it('export usage errors exit 2', () => {
    const two = (args: string[], msg: RegExp) => {
      const r = cli(BIN.ledger, ['export', ...args]);
      expect([r.status, r.stderr]).toEqual([2, expect.stringMatching(msg)]);
    };
    two(['--data', log.dir], /--out is required/);
    two(['--data', log.dir, '--url', 'http://127.0.0.1:1', '--out', f('x')], /exactly one of --url or --data/);
    two(['--data', log.dir, '--out', f('x'), '--from-time', 'yesterday'], /--from-time/);
    two(['--data', log.dir, '--out', f('x'), '--type', 'nonsense'], /--type nonsense/);
    two(['--data', log.dir, '--out', f('x'), '--since', '7'], /no-such-checkpoint/);
    two(['--data', f('nowhere'), '--out', f('x')], /holds no log/);
    two(['--url', 'http://127.0.0.1:1', '--out', f('x')], /source-unavailable/);
    two(['--data', log.dir, '--out', f('x'), '--registry-cache', f('cache.json')], /--registry-cache is for --url/);
    writeFileSync(f('bad-cache.json'), '{"format":"something else"}');
    two(['--url', 'http://127.0.0.1:1', '--out', f('x'), '--registry-cache', f('bad-cache.json')], /bad-cache\.json: not a ledger-registry-cache\/v1 file/);
  });
});

describe('export from a running server', () => {
  beforeAll(async () => {
    server = await startServe(BIN.ledger, log.dir);
  });

  it('gives the same bundle as the data directory, byte for byte, anchor receipts and earlier checkpoints included', () => {
    const sel = ['--from', '10', '--to', '250', '--type', 'trust-score,evidence', '--since'];
    cliOk(BIN.ledger, ['export', '--url', server!.url, '--out', f('url.bundle'), ...sel, f('s1.checkpoint')]);
    cliOk(BIN.ledger, ['export', '--url', server!.url, '--out', f('url-size.bundle'), ...sel, String(sizes.s1)]);
    cliOk(BIN.ledger, ['export', '--data', log.dir, '--out', f('dir.bundle'), ...sel, String(sizes.s1)]);
    const a = readFileSync(f('url.bundle'));
    expect(a.equals(readFileSync(f('dir.bundle')))).toBe(true);
    expect(a.equals(readFileSync(f('url-size.bundle')))).toBe(true);
    expect(decodeBundle(a).entries.length).toBe(241);
    expect(decodeBundle(a).anchors.map((x) => x.size)).toEqual([sizes.s1]);
    expect(cli(BIN.verify, [f('url.bundle'), '--policy', policyFile]).status).toBe(0);
  });

  it('--registry-cache: the first export writes the cache, the next one uses it, with the same bundle', () => {
    const cache = f('registry.json');
    cliOk(BIN.ledger, ['export', '--url', server!.url, '--out', f('c1.bundle'), '--from', '290', '--registry-cache', cache]);
    const first = JSON.parse(readFileSync(cache, 'utf8'));
    expect([first.format, first.origin, first.size, first.entries.map((e: { index: number }) => e.index)]).toEqual(['ledger-registry-cache/v1', 'ledger.test/cli', sizes.s2, [0]]);
    cliOk(BIN.ledger, ['export', '--url', server!.url, '--out', f('c2.bundle'), '--from', '290', '--registry-cache', cache]);
    cliOk(BIN.ledger, ['export', '--url', server!.url, '--out', f('c3.bundle'), '--from', '290']);
    expect(readFileSync(f('c2.bundle')).equals(readFileSync(f('c3.bundle')))).toBe(true);
    expect(cli(BIN.verify, [f('c2.bundle'), '--policy', policyFile]).status).toBe(0);
    // A cache whose root is not the log's at its size: the export fails (exit 1) and the cache is left as it was.
    const forked = { ...first, root: Buffer.alloc(32, 9).toString('base64'), size: sizes.s1 };
    writeFileSync(cache, JSON.stringify(forked));
    const r = cli(BIN.ledger, ['export', '--url', server!.url, '--out', f('c4.bundle'), '--from', '290', '--registry-cache', cache]);
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining(`source-inconsistent: the log's checkpoint (size ${sizes.s2}) does not extend the tree of size ${sizes.s1} the registry cache holds`)]);
    expect(JSON.parse(readFileSync(cache, 'utf8'))).toEqual(forked);
    expect(existsSync(f('c4.bundle'))).toBe(false);
  });

  it('writes one tlog-proof per entry, which ledger-verify checks file by file', () => {
    const dir = f('proofs');
    const out = cliOk(BIN.ledger, ['export', '--url', server!.url, '--out', dir, '--format', 'tlog-proof', '--subject', 'spiffe://svc/a']);
    expect(out).toMatch(/^exported 30 tlog-proof files of ledger\.test\/cli at tree size 301 to .*: \d+ bytes\n$/);
    const files = readdirSync(dir);
    expect(files.length).toBe(30);
    expect(readFileSync(join(dir, files[0]!), 'utf8')).toMatch(/^c2sp\.org\/tlog-proof@v1\nextra [A-Za-z0-9+/=]+\nindex \d+\n/);
    const r = cli(BIN.verify, [dir, '--policy', policyFile]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/: VALID tlog-proof\n/);
    expect(r.stdout).toMatch(/not checked \(a tlog-proof carries no producer registry\)/);
    expect(r.stdout.endsWith('30 of 30 files valid\n')).toBe(true);
    const one = join(dir, files[0]!);
    writeFileSync(one, readFileSync(one, 'utf8').replace(/\nindex (\d+)\n/, (_, n) => `\nindex ${Number(n) + 1}\n`));
    const bad = cli(BIN.verify, [dir, '--policy', policyFile, '--json']);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout).files.filter((x: { valid: boolean }) => !x.valid).map((x: { failures: { code: string }[] }) => x.failures[0]!.code)).toEqual(['entry-not-included']);
  });
});

describe('ledger-verify loads only the pure verification core', () => {
  it('no SQLite, S3, HTTP or storage module is reachable from dist/src/cli/ledger-verify.js', () => {
    // node:module loads the optional sodium-native addon (src/platform/sodium.ts); node:os and
    // node:worker_threads spread signature checks over the cores.
    const allowed = new Set(['node:crypto', 'node:fs', 'node:path', 'node:util', 'node:module', 'node:os', 'node:worker_threads', '@noble/hashes', '@noble/ed25519', 'cbor-x']);
    const seen = new Set<string>();
    const external = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      // Static imports and re-exports, and dynamic import() calls.
      const specs = [...src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
      expect(src).not.toMatch(/\bimport\(\s*[^'"\s]/); // no computed dynamic import
      for (const s of specs) {
        if (s.startsWith('.')) visit(resolve(dirname(file), s));
        else external.add(s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!);
      }
    };
    const entry = join(ROOT, 'dist/src/cli/ledger-verify.js');
    expect(existsSync(entry)).toBe(true);
    visit(entry);
    const ours = [...seen].map((p) => p.slice(join(ROOT, 'dist').length + 1)).sort();
    expect(ours.filter((p) => p.startsWith('storage/') || p.includes('/server/') || p.includes('/log/') || p.includes('/anchoring/'))).toEqual([]);
    expect(ours).toContain('src/bundle/verify.js');
    expect([...external].filter((x) => !allowed.has(x))).toEqual([]);
    for (const banned of ['better-sqlite3', '@aws-sdk', 'hono', '@hono/node-server', 'node:http', 'node:https', 'node:net']) expect(external.has(banned)).toBe(false);
  });
});
