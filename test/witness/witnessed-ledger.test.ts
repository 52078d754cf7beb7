// Witnessed publishing with real processes on loopback: three `witness serve`
// processes and a `ledger serve` whose policy needs 2 of the 3 cosignatures.
// Witnesses are killed, wiped and brought back; a second log directory with the
// same key forks the log and the witness refuses it and keeps the evidence.

import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toHex, utf8 } from '../../src/core/bytes.js';
import { parseCosignatureVerifierKey, verifyCosignature } from '../../src/core/cosignature.js';
import { sha256 } from '../../src/core/crypto.js';
import { ed25519Signer, parseNote, signNote } from '../../src/core/note.js';
import { parsePolicy, verifyCheckpointWithPolicy } from '../../src/core/policy.js';
import { formatPublicKeyPem } from '../../src/core/pem.js';
import { formatAddCheckpointRequest } from '../../src/witnessing/protocol.js';
import { BIN, cliOk, startServe, tmp, type Server } from '../helpers/procs.js';
import { TestProducer, evidence } from '../helpers/producer.js';

const ORIGIN = 'ledger.test/witnessed-log';
const NAMES = ['w1', 'w2', 'w3'] as const;
type Name = (typeof NAMES)[number];

let base: string;
let logDir: string;
let logVkey: string;
let policyText: string;
let ledger: Server;
const wdir = {} as Record<Name, string>;
const wvkey = {} as Record<Name, string>;
const wsrv = {} as Record<Name, Server>;
const others: Server[] = [];
const alice = new TestProducer();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function submit(url: string, n: number): Promise<void> {
  const res = await fetch(`${url}/v1/entries:batch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ envelopes: Array.from({ length: n }, () => alice.envelope('evidence', evidence())) }),
  });
  expect(res.status).toBe(200);
  const { results } = (await res.json()) as { results: { status: number }[] };
  expect(results.map((r) => r.status)).toEqual(results.map(() => 201));
}

async function health(url = ledger.url): Promise<{ sequenced: number; treeSize: number; published: number }> {
  return (await fetch(`${url}/healthz`)).json() as never;
}

async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${ledger.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** GET /checkpoint, verified against the 2-of-3 policy (log key and witness keys). */
async function published(url = ledger.url) {
  const res = await fetch(`${url}/checkpoint`);
  expect(res.status).toBe(200);
  const note = await res.text();
  return { note, ...verifyCheckpointWithPolicy(note, parsePolicy(policyText)) };
}

/** Waits until everything sequenced is in a published checkpoint; returns it. */
async function caughtUp() {
  const h = await health();
  return until(`a published checkpoint of size ${h.sequenced}`, async () => {
    const p = await published();
    return p.checkpoint.size >= h.sequenced ? p : undefined;
  });
}

/** Every cosignature line of the note, checked one by one with the core's cosignature/v1 verifier. */
function checkEachCosignature(note: string): Name[] {
  const n = parseNote(note);
  const found: Name[] = [];
  for (const name of NAMES) {
    const v = parseCosignatureVerifierKey(wvkey[name]);
    for (const s of n.signatures) {
      if (s.name === v.name && toHex(s.keyId) === toHex(v.keyId)) {
        expect(verifyCosignature(n.text, s, v).timestamp).toBeGreaterThan(Date.now() / 1000 - 120);
        found.push(name);
      }
    }
  }
  return found;
}

async function witnessCheckpoint(name: Name): Promise<{ status: number; note: string }> {
  const res = await fetch(`${wsrv[name].url}/${toHex(sha256(utf8(ORIGIN)))}/checkpoint`);
  return { status: res.status, note: await res.text() };
}

beforeAll(async () => {
  base = tmp('witnessed-');
  logDir = join(base, 'log');
  logVkey = cliOk(BIN.ledger, ['init', '--data', logDir, '--origin', ORIGIN]).trim();
  const pub = join(base, 'alice.pub');
  writeFileSync(pub, formatPublicKeyPem(alice.publicKey));
  cliOk(BIN.ledger, ['producers', 'add', '--data', logDir, '--name', 'alice', '--key', pub, '--types', 'evidence']);
  for (const name of NAMES) {
    wdir[name] = join(base, name);
    wvkey[name] = cliOk(BIN.witness, ['init', '--data', wdir[name], '--name', `witness.test/${name}`]).trim();
    cliOk(BIN.witness, ['logs', 'add', '--data', wdir[name], '--origin', ORIGIN, '--vkey', logVkey]);
  }
  const started = await Promise.all(NAMES.map((name) => startServe(BIN.witness, wdir[name])));
  NAMES.forEach((name, i) => (wsrv[name] = started[i]!));
  policyText = [`log ${logVkey}`, ...NAMES.map((n) => `witness ${n} ${wvkey[n]}`), `group two-of-three 2 ${NAMES.join(' ')}`, 'quorum two-of-three', ''].join('\n');
  const cfgPath = join(logDir, 'config.json');
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
  Object.assign(cfg, {
    checkpointIntervalMs: 200,
    witnessTimeoutMs: 3000,
    witnesses: NAMES.map((n) => ({ name: n, url: wsrv[n].url, vkey: wvkey[n] })),
    witnessPolicy: policyText,
  });
  writeFileSync(cfgPath, JSON.stringify(cfg, null, 2));
  ledger = await startServe(BIN.ledger, logDir);
});

afterAll(async () => {
  await Promise.all([ledger, ...Object.values(wsrv), ...others].map((s) => s?.kill('SIGKILL')));
});

describe('witness CLI', () => {
  it('init wrote a 0600 key and prints the cosignature/v1 vkey, which vkey prints again', () => {
    expect(wvkey.w1).toMatch(/^witness\.test\/w1\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    expect(statSync(join(wdir.w1, 'witness.key')).mode & 0o777).toBe(0o600);
    expect(fromBase64(wvkey.w1.split('+').slice(2).join('+'))[0]).toBe(0x04);
    expect(cliOk(BIN.witness, ['vkey', '--data', wdir.w1]).trim()).toBe(wvkey.w1);
    const list = JSON.parse(cliOk(BIN.witness, ['logs', 'list', '--data', wdir.w1, '--json']));
    expect(list).toEqual([{ origin: ORIGIN, vkeys: [logVkey], cosignedSize: expect.anything() }]);
  });
});

describe('witnessed publishing, 2 of 3', () => {
  it('every published checkpoint carries at least two valid cosignatures', async () => {
    await submit(ledger.url, 4);
    const p = await caughtUp();
    expect(p.witnesses.length).toBeGreaterThanOrEqual(2);
    expect(checkEachCosignature(p.note).length).toBeGreaterThanOrEqual(2);
    // Each witness that cosigned serves that checkpoint to monitors, cosigned.
    for (const name of p.witnesses as Name[]) {
      const w = await witnessCheckpoint(name);
      expect(w.status).toBe(200);
      expect(Number(parseNote(w.note).text.split('\n')[1])).toBeGreaterThanOrEqual(p.checkpoint.size);
      expect(checkEachCosignature(w.note)).toEqual([name]);
    }
    expect(await metric('ledger_witness_cosignatures_total', '{witness="w1"}')).toBeGreaterThan(0);
    expect(await metric('ledger_witness_quorum_seconds_count')).toBeGreaterThan(0);
  });

  it('one witness killed: publishing goes on with the other two', async () => {
    await wsrv.w3.kill('SIGKILL');
    const before = (await published()).checkpoint.size;
    await submit(ledger.url, 3);
    const p = await caughtUp();
    expect(p.checkpoint.size).toBeGreaterThan(before);
    expect(p.witnesses).toEqual(['w1', 'w2']);
    expect(checkEachCosignature(p.note)).toEqual(['w1', 'w2']);
    expect(await metric('ledger_witness_failures_total', '{witness="w3",status="network"}')).toBeGreaterThan(0);
  });

  it('two killed: submissions are accepted and signed, the published checkpoint stops moving', async () => {
    await wsrv.w2.kill('SIGKILL');
    const stuck = await published();
    await submit(ledger.url, 3);
    const h = await health();
    await until('a signed checkpoint of everything sequenced', async () =>
      (await metric('ledger_checkpoint_size', '{state="signed"}')) >= h.sequenced ? true : undefined,
    );
    await sleep(2500); // at least two retry rounds
    const still = await published();
    expect(still.checkpoint.size).toBe(stuck.checkpoint.size);
    expect(still.note).toBe(stuck.note);
    expect((await health()).published).toBe(stuck.checkpoint.size);
    expect(await metric('ledger_witness_failures_total', '{witness="w2",status="network"}')).toBeGreaterThan(0);
  });

  it('a witness returning with its state wiped is resynchronised through 409, and publishing catches up', async () => {
    for (const f of ['witness.db', 'witness.db-wal', 'witness.db-shm']) rmSync(join(wdir.w2, f), { force: true });
    expect(existsSync(join(wdir.w2, 'witness.key'))).toBe(true);
    wsrv.w2 = await startServe(BIN.witness, wdir.w2, wsrv.w2.port);
    const p = await caughtUp();
    expect(p.witnesses).toEqual(['w1', 'w2']);
    expect(checkEachCosignature(p.note)).toEqual(['w1', 'w2']);
    expect(await metric('ledger_witness_resyncs_total', '{witness="w2"}')).toBeGreaterThanOrEqual(1);
    const w = await witnessCheckpoint('w2');
    expect(parseNote(w.note).text).toBe(parseNote(p.note).text);
  });

  it('a witness returning with its state rejoins from the size it last cosigned', async () => {
    wsrv.w3 = await startServe(BIN.witness, wdir.w3, wsrv.w3.port);
    const resyncs = await metric('ledger_witness_resyncs_total', '{witness="w3"}');
    await submit(ledger.url, 2);
    const p = await until('a checkpoint cosigned by all three', async () => {
      const c = await caughtUp();
      return c.witnesses.length === 3 ? c : undefined;
    });
    expect(checkEachCosignature(p.note)).toEqual(['w1', 'w2', 'w3']);
    expect(await metric('ledger_witness_resyncs_total', '{witness="w3"}')).toBe(resyncs);
  });
});

describe('add-checkpoint against a running witness', () => {
  const post = (body: string) => fetch(`${wsrv.w1.url}/add-checkpoint`, { method: 'POST', body });

  it('a fork signed with the log key is refused 422 and kept as evidence that `witness forks` lists', async () => {
    const w1 = await witnessCheckpoint('w1');
    const seen = Number(parseNote(w1.note).text.split('\n')[1]);
    // A second data directory with the same key and origin, and other entries.
    const forkDir = join(base, 'fork');
    mkdirSync(forkDir, { mode: 0o700 });
    copyFileSync(join(logDir, 'log.key'), join(forkDir, 'log.key'));
    const cfg = JSON.parse(readFileSync(join(logDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    delete cfg.witnesses;
    delete cfg.witnessPolicy;
    writeFileSync(join(forkDir, 'config.json'), JSON.stringify(cfg));
    cliOk(BIN.ledger, ['producers', 'add', '--data', forkDir, '--name', 'alice', '--key', join(base, 'alice.pub'), '--types', 'evidence']);
    const fork = await startServe(BIN.ledger, forkDir);
    others.push(fork);
    const forkPublished = async (size: number) =>
      until(`fork checkpoint ${size}`, async () => {
        const r = await fetch(`${fork.url}/checkpoint`);
        const note = r.status === 200 ? await r.text() : '';
        return note && Number(parseNote(note).text.split('\n')[1]) === size ? note : undefined;
      });

    // Same size as the witness saw, another root: 422, evidence 'root-mismatch'.
    await submit(fork.url, seen - 1);
    const same = await forkPublished(seen);
    let r = await post(formatAddCheckpointRequest({ oldSize: seen, proof: [], note: same }));
    expect(r.status).toBe(422);
    expect(await r.json()).toMatchObject({ error: { code: 'root-mismatch' } });

    // Larger, with the fork's own (valid for the fork) consistency proof: 422, evidence 'inconsistent-proof'.
    await submit(fork.url, 5);
    const bigger = await forkPublished(seen + 5);
    const cp = (await (await fetch(`${fork.url}/v1/proof/consistency?from=${seen}&to=${seen + 5}`)).json()) as { proof: string[] };
    r = await post(formatAddCheckpointRequest({ oldSize: seen, proof: cp.proof.map((h) => fromBase64(h)), note: bigger }));
    expect(r.status).toBe(422);
    expect(await r.json()).toMatchObject({ error: { code: 'inconsistent-proof' } });

    const forks = JSON.parse(cliOk(BIN.witness, ['forks', '--data', wdir.w1, '--json'])) as { reason: string; oldSize: number; submittedNote: string; cosignedNote: string }[];
    expect(forks.map((f) => [f.reason, f.oldSize])).toEqual([
      ['root-mismatch', seen],
      ['inconsistent-proof', seen],
    ]);
    expect(forks[0]!.submittedNote).toBe(same);
    expect(forks[1]!.submittedNote).toBe(bigger);
    for (const f of forks) expect(parseNote(f.cosignedNote).text).toBe(parseNote(w1.note).text);
    expect(cliOk(BIN.witness, ['forks', '--data', wdir.w1])).toContain(`#1 ${ORIGIN} root-mismatch`);
    // The witness's state did not move.
    expect((await witnessCheckpoint('w1')).note).toBe(w1.note);
  });

  it('403 for a checkpoint signed by an unknown key (until `logs add` trusts it), 404 for an unknown origin, 409 with the size', async () => {
    const w1 = await witnessCheckpoint('w1');
    const text = parseNote(w1.note).text;
    const seen = Number(text.split('\n')[1]);
    const stranger = ed25519Signer(ORIGIN, new Uint8Array(32).fill(7));
    let r = await post(formatAddCheckpointRequest({ oldSize: seen, proof: [], note: signNote(text, [stranger]) }));
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: { code: 'no-trusted-signature' } });
    // Trusting that key too (a rotation) takes effect in the running witness at once.
    cliOk(BIN.witness, ['logs', 'add', '--data', wdir.w1, '--origin', ORIGIN, '--vkey', stranger.vkey]);
    r = await post(formatAddCheckpointRequest({ oldSize: seen, proof: [], note: signNote(text, [stranger]) }));
    expect(r.status).toBe(200);
    cliOk(BIN.witness, ['logs', 'remove', '--data', wdir.w1, '--origin', ORIGIN, '--vkey', stranger.vkey]);
    r = await post(formatAddCheckpointRequest({ oldSize: seen, proof: [], note: signNote(text, [stranger]) }));
    expect(r.status).toBe(403);

    const other = ed25519Signer('ledger.test/unknown', new Uint8Array(32).fill(8));
    r = await post(formatAddCheckpointRequest({ oldSize: 0, proof: [], note: signNote(text.replace(ORIGIN, 'ledger.test/unknown'), [other]) }));
    expect(r.status).toBe(404);

    r = await post(formatAddCheckpointRequest({ oldSize: 0, proof: [], note: (await published()).note }));
    expect(r.status).toBe(409);
    expect(r.headers.get('content-type')).toBe('text/x.tlog.size');
    expect(await r.text()).toBe(`${seen}\n`);
  });
});
