// The auditor's monitor. Unit: the entry checker on crafted leaves (the
// server never sequences an entry by a revoked or unknown key, so those cases
// are built by hand). Process: `ledger monitor --once --json` against real
// `ledger serve` processes: following and resuming, registry replay, a low
// score, a stale checkpoint, a missing witness quorum, and a fork and a
// rollback by a second data directory holding the same log key, and entries
// by revoked and unknown keys written into the database past the server.

import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64, utf8 } from '../../src/core/bytes.js';
import { ed25519PublicKey, randomBytes } from '../../src/core/crypto.js';
import { keyIdOf, signEnvelope } from '../../src/core/dsse.js';
import { encodeLeaf, payloadTypeOf, producerPayload, type EntryKind, type ProducerKind } from '../../src/core/entry.js';
import { generateCosignerKey } from '../../src/core/cosignature.js';
import { formatPublicKeyPem } from '../../src/core/pem.js';
import { newEntryOf } from '../../src/log/producers.js';
import { LedgerStore } from '../../storage/sqlite/store.js';
import { AuditError, EntryAuditor, ProducerKey } from '../../src/client/index.js';
import { fetchRetry } from './fetch.js';
import { BIN, cli, cliOk, startServe, tmp, type Server } from '../helpers/procs.js';
import { evidence, TestProducer, trustScore } from '../helpers/producer.js';

// ---------------------------------------------------------------------------
// Unit: EntryAuditor

const logSeed = randomBytes(32);
const leaf = (kind: EntryKind, payload: unknown, seed: Uint8Array, time = 1_764_000_000_000) =>
  encodeLeaf({ kind, time, envelope: signEnvelope(payloadTypeOf(kind), utf8(JSON.stringify(payload)), seed) });
const registryLeaf = (action: 'add' | 'revoke', name: string, seed: Uint8Array, types: ProducerKind[], signer = logSeed) => {
  const pub = ed25519PublicKey(seed);
  const payload = producerPayload({ action, name, keyid: keyIdOf(pub), publicKey: toBase64(pub), types, ts: '2026-01-01T00:00:00Z' });
  return encodeLeaf({ kind: 'producer', time: 1, envelope: signEnvelope(payloadTypeOf('producer'), payload, signer) });
};

describe('EntryAuditor: entries checked against the registry replayed from the log', () => {
  const alice = randomBytes(32);
  const bob = randomBytes(32);
  const mallory = randomBytes(32);
  const steps: [string, Uint8Array, string, Record<string, unknown>?][] = [
    ['alice registered for evidence', registryLeaf('add', 'alice', alice, ['evidence']), 'ok', { change: 'add' }],
    ['alice writes evidence', leaf('evidence', evidence(), alice), 'ok'],
    ['alice writes a trust score', leaf('trust-score', trustScore('s', 0.5), alice), 'type-not-allowed'],
    ['an unregistered key writes evidence', leaf('evidence', evidence(), mallory), 'unknown-key'],
    ['a registry entry not signed by the log key', registryLeaf('add', 'mallory', mallory, ['evidence'], mallory), 'invalid-entry'],
    ['alice revoked', registryLeaf('revoke', 'alice', alice, ['evidence']), 'ok', { change: 'revoke' }],
    ['alice writes evidence after her revocation', leaf('evidence', evidence(), alice), 'revoked-key'],
    ['alice registered again', registryLeaf('add', 'alice2', alice, ['evidence']), 'invalid-entry'],
    ['bob registered for all kinds', registryLeaf('add', 'bob', bob, ['evidence', 'trust-score', 'in-toto']), 'ok'],
    ['bob writes a payload that fails its schema', leaf('evidence', { ...evidence(), actor: '' }, bob), 'invalid-entry'],
    ['bob writes a trust score', leaf('trust-score', trustScore('spiffe://x/y', 0.25), bob), 'ok'],
    ['bytes that are not a leaf record', utf8('not cbor at all'), 'invalid-entry'],
    ['revocation of an unknown key', registryLeaf('revoke', 'mallory', mallory, ['evidence']), 'invalid-entry'],
  ];

  it('gives each entry its verdict, in index order', () => {
    const a = new EntryAuditor(ed25519PublicKey(logSeed));
    steps.forEach(([what, bytes, want, extra], i) => {
      const v = a.check(i, bytes);
      expect(v.problem?.code ?? 'ok', what).toBe(want);
      if (extra) expect(v, what).toMatchObject(extra);
    });
    const st = a.state;
    expect(st.next).toBe(steps.length);
    expect(st.producers.map((p) => [p.name, p.addedIndex, p.revokedIndex])).toEqual([
      ['alice', 0, 5],
      ['bob', 8, null],
    ]);
  });

  it('names the signer and the payload of a good entry', () => {
    const a = new EntryAuditor(ed25519PublicKey(logSeed));
    a.check(0, registryLeaf('add', 'bob', bob, ['trust-score']));
    const v = a.check(1, leaf('trust-score', trustScore('spiffe://x/y', 0.25), bob));
    expect(v.producer).toMatchObject({ name: 'bob', keyid: keyIdOf(ed25519PublicKey(bob)) });
    expect(v.payload).toMatchObject({ subject: 'spiffe://x/y', score: 0.25 });
  });

  it('resumes from its state and refuses entries out of order', () => {
    const a = new EntryAuditor(ed25519PublicKey(logSeed));
    a.check(0, registryLeaf('add', 'alice', alice, ['evidence']));
    a.check(1, registryLeaf('revoke', 'alice', alice, ['evidence']));
    const resumed = new EntryAuditor(ed25519PublicKey(logSeed), JSON.parse(JSON.stringify(a.state)));
    expect(resumed.check(2, leaf('evidence', evidence(), alice)).problem?.code).toBe('revoked-key');
    expect(() => resumed.check(7, leaf('evidence', evidence(), alice))).toThrow(AuditError);
  });
});

// ---------------------------------------------------------------------------
// Process: ledger monitor

const ORIGIN = 'monitor.test/log';
let dirA: string;
let vkey: string;
let serverA: Server;
let stateDir: string;
const alice = ProducerKey.generate();

async function submitWait(server: Server, envs: unknown[]): Promise<void> {
  const r = await fetchRetry(`${server.url}/v1/entries:batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ envelopes: envs }) });
  const results = ((await r.json()) as { results: { status: number; index: number }[] }).results;
  expect(results.every((x) => x.status === 201)).toBe(true);
  const last = Math.max(...results.map((x) => x.index));
  for (let i = 0; i < 100; i++) {
    const cp = await (await fetchRetry(`${server.url}/checkpoint`)).text();
    if (Number(cp.split('\n')[1]) > last) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('entries were not integrated');
}

interface Run {
  status: number;
  events: any[];
  alerts: any[];
  stdout: string;
}
function monitor(url: string, args: string[] = [], state = stateDir): Run {
  const r = cli(BIN.ledger, ['monitor', '--url', url, '--vkey', vkey, '--state', state, '--once', '--json', ...args]);
  if (r.status === 2) throw new Error(`monitor failed: ${r.stderr}`);
  const events = r.stdout.trim() === '' ? [] : r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  return { status: r.status, events, alerts: events.filter((e) => e.type === 'alert'), stdout: r.stdout };
}
/** Appends a signed entry straight into the log's database, past the server's checks. */
function appendBehindTheServersBack(seed: Uint8Array, payload: unknown): void {
  const env = signEnvelope(payloadTypeOf('evidence'), utf8(JSON.stringify(payload)), seed);
  const store = new LedgerStore(join(dirA, 'ledger.db'));
  try {
    store.write(() => store.appendInTx([newEntryOf(encodeLeaf({ kind: 'evidence', time: Date.now(), envelope: env }), env)]));
  } finally {
    store.close();
  }
}
const readState = (dir = stateDir) => JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));

beforeAll(async () => {
  const root = tmp();
  dirA = join(root, 'a');
  stateDir = join(root, 'monitor');
  vkey = cliOk(BIN.ledger, ['init', '--data', dirA, '--origin', ORIGIN]).trim();
  writeFileSync(join(root, 'alice.pub'), alice.toPublicPem());
  cliOk(BIN.ledger, ['producers', 'add', '--data', dirA, '--name', 'alice', '--key', join(root, 'alice.pub')]);
  serverA = await startServe(BIN.ledger, dirA);
});
afterAll(async () => {
  await serverA?.kill();
});

describe('ledger monitor', () => {
  it('checks every entry, keeps its state, and resumes without re-reading', async () => {
    await submitWait(serverA, [alice.signEvidence(evidence()), alice.signTrustScore(trustScore('spiffe://example.org/api', 0.9)), alice.signEvidence(evidence())]);
    const first = monitor(serverA.url);
    expect(first.alerts).toEqual([]);
    expect(first.status).toBe(0);
    const cp = first.events.find((e) => e.type === 'checkpoint');
    expect(cp).toMatchObject({ origin: ORIGIN, size: 4, previousSize: null, quorumMet: true });
    const entries = first.events.filter((e) => e.type === 'entry');
    expect(entries.map((e) => [e.index, e.kind, e.status, e.producer])).toEqual([
      [0, 'producer', 'ok', 'alice'],
      [1, 'evidence', 'ok', 'alice'],
      [2, 'trust-score', 'ok', 'alice'],
      [3, 'evidence', 'ok', 'alice'],
    ]);
    expect(entries[0].action).toBe('add');
    expect(entries[2]).toMatchObject({ subject: 'spiffe://example.org/api', score: 0.9 });
    expect(readState()).toMatchObject({ origin: ORIGIN, next: 4 });

    // Nothing new: nothing re-read, no event.
    expect(monitor(serverA.url).events).toEqual([]);

    await submitWait(serverA, [alice.signEvidence(evidence()), alice.signEvidence(evidence())]);
    const second = monitor(serverA.url);
    expect(second.status).toBe(0);
    expect(second.events.map((e) => [e.type, e.index ?? e.size])).toEqual([
      ['checkpoint', 6],
      ['entry', 4],
      ['entry', 5],
    ]);
    expect(second.events[0].previousSize).toBe(4);
  });

  it('replays producer registrations and revocations, and catches entries by revoked and unknown keys', async () => {
    const bob = new TestProducer();
    const pub = join(stateDir, '..', 'bob.pub');
    writeFileSync(pub, formatPublicKeyPem(bob.publicKey));
    cliOk(BIN.ledger, ['producers', 'add', '--data', dirA, '--name', 'bob', '--key', pub, '--types', 'evidence']);
    await submitWait(serverA, [bob.envelope('evidence', evidence())]);
    cliOk(BIN.ledger, ['producers', 'revoke', '--data', dirA, '--name', 'bob']);
    // The server refuses both of these; a log that broke its own rules would not.
    appendBehindTheServersBack(bob.seed, evidence());
    appendBehindTheServersBack(new TestProducer().seed, evidence());
    await submitWait(serverA, [alice.signEvidence(evidence())]); // integrates all of the above
    const r = monitor(serverA.url);
    expect(r.status).toBe(1);
    const entries = r.events.filter((e) => e.type === 'entry');
    expect(entries.map((e) => [e.kind, e.producer ?? null, e.action ?? null, e.status])).toEqual([
      ['producer', 'bob', 'add', 'ok'],
      ['evidence', 'bob', null, 'ok'],
      ['producer', 'bob', 'revoke', 'ok'],
      ['evidence', 'bob', null, 'revoked-key'],
      ['evidence', null, null, 'unknown-key'],
      ['evidence', 'alice', null, 'ok'],
    ]);
    expect(r.alerts.map((a) => [a.alert, a.severity, a.index])).toEqual([
      ['revoked-key', 'high', entries[3].index],
      ['unknown-key', 'high', entries[4].index],
    ]);
    const bobRec = readState().producers.find((p: any) => p.name === 'bob');
    expect(bobRec.revokedIndex).toBe(entries[2].index);
  });

  it('alerts on a trust-score snapshot below the threshold for its subject', async () => {
    await submitWait(serverA, [alice.signTrustScore(trustScore('spiffe://example.org/db', 0.2)), alice.signTrustScore(trustScore('spiffe://example.org/api', 0.6))]);
    const r = monitor(serverA.url, ['--min-score', '0.5', '--min-score', 'spiffe://example.org/api=0.7']);
    expect(r.status).toBe(1);
    expect(r.alerts.map((a) => [a.alert, a.severity, a.subject, a.score, a.threshold])).toEqual([
      ['low-score', 'warning', 'spiffe://example.org/db', 0.2, 0.5],
      ['low-score', 'warning', 'spiffe://example.org/api', 0.6, 0.7],
    ]);
  });

  it('alerts on a stale checkpoint', async () => {
    await new Promise((res) => setTimeout(res, 1100));
    const r = monitor(serverA.url, ['--max-age', '0']);
    expect(r.status).toBe(1);
    expect(r.alerts).toHaveLength(1);
    expect(r.alerts[0]).toMatchObject({ alert: 'stale-checkpoint', severity: 'warning' });
    expect(r.alerts[0].ageSeconds).toBeGreaterThanOrEqual(1);
    expect(monitor(serverA.url, ['--max-age', '3600']).status).toBe(0);
  });

  it('alerts when the policy\'s witness quorum is missing', () => {
    const policy = join(stateDir, '..', 'policy');
    writeFileSync(policy, `log ${vkey}\nwitness w1 ${generateCosignerKey('witness.example/w1').vkey}\nquorum w1\n`);
    const r = monitor(serverA.url, ['--policy', policy]);
    expect(r.status).toBe(1);
    expect(r.alerts.map((a) => [a.alert, a.severity])).toEqual([['witness-quorum', 'high']]);
  });

  it('prints readable text without --json', () => {
    const r = cli(BIN.ledger, ['monitor', '--url', serverA.url, '--vkey', vkey, '--state', join(stateDir, '..', 'fresh'), '--once', '--min-score', '0.5']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/ checkpoint size \d+ root [A-Za-z0-9+/]+=*\n/);
    expect(r.stdout).toMatch(/ entry 0 producer add alice ok\n/);
    expect(r.stdout).toMatch(/ ALERT warning low-score: entry \d+: spiffe:\/\/example.org\/db scored 0.2, below 0.5\n/);
  });

  it('follows the log until SIGTERM, saving its state as it goes', async () => {
    const dir = join(stateDir, '..', 'follow');
    const proc = spawn(process.execPath, [BIN.ledger, 'monitor', '--url', serverA.url, '--vkey', vkey, '--state', dir, '--interval', '0.2', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    const seen = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(out); i++) await new Promise((res) => setTimeout(res, 50));
      expect(out).toMatch(re);
    };
    await seen(/"type":"checkpoint"/);
    const next = JSON.parse(out.split('\n')[0]!).size;
    await seen(new RegExp(`"type":"entry"[^\\n]*"index":${next - 1},`));
    await submitWait(serverA, [alice.signEvidence(evidence())]);
    await seen(new RegExp(`"type":"entry"[^\n]*"index":${next},`));
    const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(readState(dir).next).toBe(next + 1);
  });

  it('alerts on a rollback and on a fork by a second log holding the same key, and keeps its state', async () => {
    const dirB = join(stateDir, '..', 'b');
    mkdirSync(dirB);
    copyFileSync(join(dirA, 'config.json'), join(dirB, 'config.json'));
    copyFileSync(join(dirA, 'log.key'), join(dirB, 'log.key'));
    chmodSync(join(dirB, 'log.key'), 0o600);
    const carol = ProducerKey.generate();
    const pub = join(dirB, '..', 'carol.pub');
    writeFileSync(pub, carol.toPublicPem());
    cliOk(BIN.ledger, ['producers', 'add', '--data', dirB, '--name', 'carol', '--key', pub]);
    const serverB = await startServe(BIN.ledger, dirB);
    try {
      const before = readFileSync(join(stateDir, 'state.json'), 'utf8');
      const verifiedSize = readState().next;
      await submitWait(serverB, [carol.signEvidence(evidence())]);

      const rollback = monitor(serverB.url);
      expect(rollback.status).toBe(1);
      expect(rollback.alerts.map((a) => [a.alert, a.severity, a.size, a.previousSize])).toEqual([['rollback', 'critical', 2, verifiedSize]]);

      await submitWait(serverB, Array.from({ length: verifiedSize }, () => carol.signEvidence(evidence())));
      const fork = monitor(serverB.url);
      expect(fork.status).toBe(1);
      expect(fork.alerts.map((a) => [a.alert, a.severity, a.previousSize])).toEqual([['fork', 'critical', verifiedSize]]);
      expect(fork.events.filter((e) => e.type !== 'alert')).toEqual([]);
      expect(readFileSync(join(stateDir, 'state.json'), 'utf8')).toBe(before);

      // The one-shot check says the same about the checkpoint the monitor kept.
      const cpFile = join(dirB, '..', 'a.checkpoint');
      writeFileSync(cpFile, readState().checkpoint);
      const c = cli(BIN.ledger, ['consistency', '--url', serverB.url, '--vkey', vkey, '--from-checkpoint', cpFile]);
      expect(c.status).toBe(1);
      expect(c.stderr).toMatch(/^error: proof-invalid: /);
      expect(cli(BIN.ledger, ['consistency', '--url', serverA.url, '--vkey', vkey, '--from-checkpoint', cpFile]).status).toBe(0);

      // The true log still checks out from the same state.
      const copy = join(dirB, '..', 'state-copy');
      cpSync(stateDir, copy, { recursive: true });
      expect(monitor(serverA.url, [], copy).status).toBe(0);
    } finally {
      await serverB.kill();
    }
  });
});
