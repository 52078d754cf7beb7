// The producer and auditor commands against a real `ledger serve`:
// ledger submit (stdin, file, flags, batch, --wait with and without a pinned
// key), ledger prove, ledger consistency and ledger scores; every printed
// proof is checked here again with the core.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toHex } from '../../src/core/bytes.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { decodeLeaf } from '../../src/core/entry.js';
import { hashLeaf, verifyInclusion } from '../../src/core/merkle.js';
import { generateSignerKey, parseVerifierKey } from '../../src/core/note.js';
import { parsePolicy } from '../../src/core/policy.js';
import { verifyTlogProof } from '../../src/core/tlog-proof.js';
import { fetchRetry } from './fetch.js';
import { BIN, cli, cliOk, startServe, tmp, type Server } from '../helpers/procs.js';
import { evidence, trustScore } from '../helpers/producer.js';

const ORIGIN = 'cli.test/log';
const SUBJECT = 'spiffe://example.org/payments';
let root: string;
let vkey: string;
let server: Server;
let key: string;
let other: string;

const ledger = (args: string[], input?: string) => cli(BIN.ledger, args, input === undefined ? {} : { input });
const pinned = () => ['--url', server.url, '--vkey', vkey];
const entryData = async (i: number) => fromBase64(((await (await fetchRetry(`${server.url}/v1/entries/${i}`)).json()) as { data: string }).data);

beforeAll(async () => {
  root = tmp();
  const dir = join(root, 'data');
  vkey = cliOk(BIN.ledger, ['init', '--data', dir, '--origin', ORIGIN]).trim();
  key = join(root, 'producer');
  other = join(root, 'other');
  cliOk(BIN.ledger, ['keygen', '--out', key]);
  cliOk(BIN.ledger, ['keygen', '--out', other]);
  cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', 'scorer', '--key', key + '.pub']);
  server = await startServe(BIN.ledger, dir);
});
afterAll(async () => {
  await server?.kill();
});

describe('ledger submit', () => {
  it('submits a payload from stdin in the stable form and prints its index', () => {
    const r = ledger(['submit', '--url', server.url, '--key', key, '--type', 'evidence'], JSON.stringify(evidence()));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^index 1\nleafHash [A-Za-z0-9+/]{43}=\n$/);
  });

  it('signs the payload bytes exactly as given when nothing changes them', async () => {
    const text = `{ "actor":"ci", "action":"deploy", "artifact":"a", "policy":"p", "target":"t", "mode":"enforce", "trace":"x-1", "result":"allow", "ts":"${new Date().toISOString()}" }`;
    const file = join(root, 'payload.json');
    writeFileSync(file, text + '\n');
    const r = JSON.parse(cliOk(BIN.ledger, ['submit', '--url', server.url, '--key', key, '--type', 'evidence', '--file', file, '--json']));
    expect(r.duplicate).toBe(false);
    const rec = decodeLeaf(await entryData(r.index));
    expect(new TextDecoder().decode(rec.envelope.payload)).toBe(text);
  });

  it('--wait with a pinned key prints an inclusion proof verified against the signed checkpoint', async () => {
    const r = ledger(['submit', ...pinned(), '--key', key, '--type', 'trust-score', '--wait', '--json'], JSON.stringify(trustScore(SUBJECT, 0.91)));
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.inclusion.logSignatureVerified).toBe(true);
    const { checkpoint } = openCheckpoint(out.inclusion.checkpoint, ORIGIN, [parseVerifierKey(vkey)]);
    expect(checkpoint.size).toBe(out.inclusion.treeSize);
    verifyInclusion(hashLeaf(await entryData(out.index)), out.index, checkpoint.size, out.inclusion.proof.map((h: string) => fromBase64(h)), checkpoint.rootHash);

    const text = ledger(['submit', '--vkey-file', writeVkey(), '--url', server.url, '--key', key, '--type', 'evidence', '--wait'], JSON.stringify(evidence()));
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/\ntreeSize \d+\nroot \S+\n(proof \S+\n)+inclusion verified against the checkpoint signed by cli\.test\/log\n$/);
  });

  it('--wait without a pinned key checks the proof against the root but says the signature was not verified', () => {
    const r = ledger(['submit', '--url', server.url, '--key', key, '--type', 'evidence', '--wait'], JSON.stringify(evidence()));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/inclusion proof matches the checkpoint root; the checkpoint signature was NOT verified\n$/);
    expect(r.stderr).toMatch(/^warning: no log key pinned/);
  });

  it('builds a trust-score payload from flags', async () => {
    const r = ledger(['submit', ...pinned(), '--key', key, '--type', 'trust-score', '--subject', SUBJECT, '--score', '0.42', '--component', 'attestation=1', '--component', 'telemetry=0.3', '--model', 'tsm-2', '--policy-name', 'default', '--ttl', '600', '--wait', '--json']);
    expect(r.status).toBe(0);
    const p = JSON.parse(new TextDecoder().decode(decodeLeaf(await entryData(JSON.parse(r.stdout).index)).envelope.payload));
    expect(p).toMatchObject({ subject: SUBJECT, score: 0.42, components: { attestation: 1, telemetry: 0.3 }, model: 'tsm-2', policy: 'default', ttlSeconds: 600 });
    expect(Date.now() - Date.parse(p.ts)).toBeLessThan(60_000);
  });

  it('submits a JSON array as a batch, one result line each', () => {
    const r = ledger(['submit', '--url', server.url, '--key', key, '--type', 'evidence', '--json'], JSON.stringify([evidence(), evidence()]));
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[1].index).toBe(lines[0].index + 1);
  });

  it('refuses an invalid payload locally, before contacting the server', () => {
    const r = ledger(['submit', '--url', 'http://127.0.0.1:1', '--key', key, '--type', 'trust-score', '--json'], JSON.stringify(trustScore(SUBJECT, 1.5)));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: schema: score: must be a number from 0 to 1\n$/);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'schema', message: 'score: must be a number from 0 to 1', field: 'score' } });
  });

  it('exit codes: 1 when the log refuses, 2 for usage errors and an unreachable log', () => {
    const refused = ledger(['submit', '--url', server.url, '--key', other, '--type', 'evidence'], JSON.stringify(evidence()));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^error: rejected: POST \/v1\/entries: 403 unknown-key: /);
    expect(ledger(['submit', '--url', server.url, '--key', key, '--type', 'evidence', '--subject', 'x']).status).toBe(2);
    expect(ledger(['submit', '--url', server.url, '--key', key, '--type', 'nonsense'], '{}').status).toBe(2);
    expect(ledger(['submit', '--url', server.url, '--key', key + '.pub', '--type', 'evidence'], JSON.stringify(evidence())).status).toBe(2);
    const down = ledger(['submit', '--url', 'http://127.0.0.1:1', '--retries', '0', '--key', key, '--type', 'evidence'], JSON.stringify(evidence()));
    expect(down.status).toBe(2);
    expect(down.stderr).toMatch(/^error: network: /);
  });
});

function writeVkey(): string {
  const f = join(root, 'log.vkey');
  writeFileSync(f, vkey + '\n');
  return f;
}

describe('ledger prove and ledger consistency', () => {
  it('proves an entry by index and by leaf hash, and writes a tlog-proof file', async () => {
    const byIndex = ledger(['prove', ...pinned(), '--index', '1', '--json']);
    expect(byIndex.status).toBe(0);
    const a = JSON.parse(byIndex.stdout);
    expect(a).toMatchObject({ verified: true, index: 1 });
    const data = await entryData(1);
    expect(a.leafHash).toBe(Buffer.from(hashLeaf(data)).toString('base64'));

    const out = join(root, 'entry1.proof');
    const byHash = ledger(['prove', ...pinned(), '--leaf-hash', toHex(hashLeaf(data)), '--out', out]);
    expect(byHash.status).toBe(0);
    expect(byHash.stdout).toMatch(/^index 1\nleafHash \S+\ntreeSize \d+\nroot \S+\ninclusion verified against the checkpoint signed by cli\.test\/log\n$/);
    const v = verifyTlogProof(readFileSync(out), parsePolicy(`log ${vkey}\nquorum none\n`), { data });
    expect(v.index).toBe(1);
  });

  it('exit 1 when the proof cannot be verified: a wrong log key, an index beyond the tree', () => {
    const wrong = ledger(['prove', '--url', server.url, '--vkey', generateSignerKey(ORIGIN).vkey, '--index', '1']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^error: bad-checkpoint: /);
    const beyond = ledger(['prove', ...pinned(), '--index', '999999', '--json']);
    expect(beyond.status).toBe(1);
    expect(JSON.parse(beyond.stdout).error.code).toBe('not-included');
    expect(ledger(['prove', '--url', server.url, '--index', '1']).status).toBe(2);
    expect(ledger(['prove', ...pinned()]).status).toBe(2);
  });

  it('proves consistency between two sizes, and from a checkpoint kept earlier', async () => {
    const kept = join(root, 'kept.checkpoint');
    writeFileSync(kept, await (await fetchRetry(`${server.url}/checkpoint`)).text());
    ledger(['submit', ...pinned(), '--key', key, '--type', 'evidence', '--wait'], JSON.stringify(evidence()));

    const sizes = ledger(['consistency', ...pinned(), '--from', '2', '--to', '5', '--json']);
    expect(sizes.status).toBe(0);
    expect(JSON.parse(sizes.stdout)).toMatchObject({ verified: true, from: 2, to: 5 });
    const fromFile = ledger(['consistency', ...pinned(), '--from-checkpoint', kept]);
    expect(fromFile.status).toBe(0);
    expect(fromFile.stdout).toMatch(/^from \d+ \S+\nto \d+ \S+\nconsistency verified \(log cli\.test\/log, latest checkpoint \d+\)\n$/);
    const backwards = ledger(['consistency', ...pinned(), '--from', '5', '--to', '2']);
    expect(backwards.status).toBe(1);
    expect(backwards.stderr).toMatch(/^error: proof-invalid: /);
    const forged = join(root, 'forged.checkpoint');
    writeFileSync(forged, readFileSync(kept, 'utf8').replace(/\n(\d+)\n/, (_m, n) => `\n${Number(n) + 1}\n`));
    const f = ledger(['consistency', ...pinned(), '--from-checkpoint', forged]);
    expect(f.status).toBe(1);
    expect(f.stderr).toMatch(/^error: bad-checkpoint: /);
  });
});

describe('ledger scores', () => {
  it('lists a subject\'s snapshots with verified inclusion, as a table and as JSON', async () => {
    const r = ledger(['scores', SUBJECT, ...pinned(), '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.snapshots.map((s: any) => [s.score, s.producer, s.status])).toEqual([
      [0.91, 'scorer', 'ok'],
      [0.42, 'scorer', 'ok'],
    ]);
    const rootHash = fromBase64(out.rootHash);
    for (const s of out.snapshots) {
      expect(toHex(hashLeaf(await entryData(s.index)))).toBe(toHex(fromBase64(s.leafHash)));
      verifyInclusion(fromBase64(s.leafHash), s.index, out.treeSize, s.proof.map((h: string) => fromBase64(h)), rootHash);
    }
    const table = ledger(['scores', SUBJECT, ...pinned()]);
    expect(table.status).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^spiffe:\/\/example\.org\/payments: 2 trust-score snapshot\(s\) in cli\.test\/log at tree size \d+ \(root \S+\)$/);
    expect(lines[1]).toMatch(/^INDEX +TS +SCORE +MODEL +POLICY +PRODUCER +STATUS +INCLUSION$/);
    expect(lines[3]).toMatch(/^\d+ +\S+Z +0\.42 +tsm-2 +default +scorer +ok +verified \(\d+ hash(es)?\)$/);
    expect(ledger(['scores', 'spiffe://example.org/none', ...pinned()]).stdout).toMatch(/: 0 trust-score snapshot\(s\)/);
    expect(ledger(['scores', ...pinned()]).status).toBe(2);
  });
});
