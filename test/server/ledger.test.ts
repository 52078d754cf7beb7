// The ledger service as a user runs it: real CLI, real `ledger serve` child
// process, real SQLite file, producers signing with real keys. Every proof the
// server returns is verified with the pure core against the signed checkpoint.

import { statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64Url, toHex } from '../../src/core/bytes.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { decodeLeaf } from '../../src/core/entry.js';
import { hashLeaf, verifyConsistency, verifyInclusion, inclusionProof } from '../../src/core/merkle.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { formatPublicKeyPem } from '../../src/core/pem.js';
import { decodeEntryBundle, verifiedTileReader, tilePath, entriesPath } from '../../src/core/tiles.js';
import { BIN, cli, cliOk, startServe, tmp, type Server } from '../helpers/procs.js';
import { TestProducer, evidence, trustScore } from '../helpers/producer.js';

const ORIGIN = 'ledger.test/log';
let dir: string;
let vkey: string;
let server: Server;
const alice = new TestProducer();
const mallory = new TestProducer();

async function post(path: string, body: unknown, raw = false) {
  const res = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ? (body as string) : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}
async function get(path: string) {
  const res = await fetch(server.url + path);
  return res;
}
/** GET with the path sent as is (fetch would normalise dot segments). */
function rawGet(path: string): Promise<{ status: number; json: () => Promise<any> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: async () => JSON.parse(body) }));
    });
    req.on('error', reject);
    req.end();
  });
}
async function checkpoint() {
  const res = await get('/checkpoint');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
  const note = await res.text();
  return { note, ...openCheckpoint(note, ORIGIN, [parseVerifierKey(vkey)]).checkpoint };
}

beforeAll(async () => {
  dir = join(tmp(), 'data');
  vkey = cliOk(BIN.ledger, ['init', '--data', dir, '--origin', ORIGIN]).trim();
  const pub = join(dir, '..', 'alice.pub');
  writeFileSync(pub, formatPublicKeyPem(alice.publicKey));
  cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', 'alice', '--key', pub, '--types', 'evidence,trust-score']);
  server = await startServe(BIN.ledger, dir);
});
afterAll(async () => {
  await server?.kill();
});

describe('ledger init and keys', () => {
  it('prints a vkey named for the origin and writes the key 0600', () => {
    expect(vkey).toMatch(new RegExp(`^${ORIGIN.replace('/', '\\/')}\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]+=*$`));
    expect(statSync(join(dir, 'log.key')).mode & 0o777).toBe(0o600);
    expect(cliOk(BIN.ledger, ['vkey', '--data', dir]).trim()).toBe(vkey);
  });
  it('refuses to overwrite an existing log', () => {
    const r = cli(BIN.ledger, ['init', '--data', dir, '--origin', ORIGIN]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/refuses to overwrite/);
  });
  it('keygen writes a 0600 PKCS#8 key and an SPKI public key', () => {
    const f = join(tmp(), 'k');
    expect(cliOk(BIN.ledger, ['keygen', '--out', f])).toMatch(/^keyid [0-9a-f]{64}\n$/);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(cli(BIN.ledger, ['keygen', '--out', f]).status).toBe(2);
  });
});

describe('writing and proving', () => {
  it('verifies producer signatures with libsodium, and says so when it starts', () => {
    // sodium-native is installed here: the server must not have fallen back to node:crypto unseen.
    expect(server.stderr()).toContain('(Ed25519 verification: sodium-native)');
  });
  it('accepts an evidence envelope (201), deduplicates it (200) and proves it in a checkpoint', async () => {
    const env = alice.envelope('evidence', evidence());
    const first = await post('/v1/entries', env);
    expect(first.status).toBe(201);
    expect(first.body.index).toBe(1); // index 0 is alice's registration
    const again = await post('/v1/entries', env);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);

    const waited = await post('/v1/entries?wait=checkpoint', alice.envelope('trust-score', trustScore('spiffe://example.org/api', 0.9)));
    expect(waited.status).toBe(201);
    const { checkpoint: cp } = openCheckpoint(waited.body.checkpoint, ORIGIN, [parseVerifierKey(vkey)]);
    expect(waited.body.treeSize).toBe(cp.size);
    verifyInclusion(fromBase64(waited.body.leafHash), waited.body.index, cp.size, waited.body.proof.map((p: string) => fromBase64(p)), cp.rootHash);
  });

  it('serves entries whose leaf hash and record match, and proofs by index and by leaf hash', async () => {
    const cp = await checkpoint();
    for (let i = 0; i < cp.size; i++) {
      const e = (await (await get(`/v1/entries/${i}`)).json()) as any;
      const leaf = fromBase64(e.data);
      expect(toHex(hashLeaf(leaf))).toBe(toHex(fromBase64(e.leafHash)));
      expect(decodeLeaf(leaf).kind).toBe(e.kind);
      const byIndex = (await (await get(`/v1/proof/inclusion?index=${i}&treeSize=${cp.size}`)).json()) as any;
      verifyInclusion(hashLeaf(leaf), i, cp.size, byIndex.proof.map((p: string) => fromBase64(p)), cp.rootHash);
      for (const h of [toHex(hashLeaf(leaf)), toBase64Url(hashLeaf(leaf))]) {
        const byHash = (await (await get(`/v1/proof/inclusion?leafHash=${h}`)).json()) as any;
        expect(byHash.index).toBe(i);
        expect(byHash.treeSize).toBe(cp.size);
      }
    }
  });

  it('accepts a batch, in order, with per-envelope results', async () => {
    const envs = [alice.envelope('evidence', evidence()), mallory.envelope('evidence', evidence()), alice.envelope('evidence', evidence())];
    const r = await post('/v1/entries:batch', { envelopes: [...envs, envs[0]] });
    expect(r.status).toBe(200);
    const res = r.body.results;
    expect(res.map((x: any) => x.status)).toEqual([201, 403, 201, 200]);
    expect(res[1].error.code).toBe('unknown-key');
    expect(res[2].index).toBe(res[0].index + 1);
    expect(res[3].index).toBe(res[0].index);
  });

  it('proves consistency between two checkpoints and serves tiles bound to the root', async () => {
    const before = await checkpoint();
    for (let i = 0; i < 300; i += 100)
      await post('/v1/entries:batch', { envelopes: Array.from({ length: 100 }, () => alice.envelope('evidence', evidence())) });
    await post('/v1/entries?wait=checkpoint', alice.envelope('evidence', evidence()));
    const after = await checkpoint();
    expect(after.size).toBeGreaterThan(256);
    const c = (await (await get(`/v1/proof/consistency?from=${before.size}&to=${after.size}`)).json()) as any;
    verifyConsistency(before.size, after.size, c.proof.map((p: string) => fromBase64(p)), before.rootHash, after.rootHash);

    const tiles = new Map<string, Uint8Array>();
    const getTile = (t: any) => tiles.get(tilePath(t))!;
    const needed = [{ level: 0, index: 0, width: 256 }, { level: 0, index: 1, width: after.size - 256 }, { level: 1, index: 0, width: 1 }];
    for (const t of needed) {
      const res = await get('/' + tilePath(t));
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe(t.width === 256 ? 'public, max-age=31536000, immutable' : 'public, max-age=2');
      tiles.set(tilePath(t), new Uint8Array(await res.arrayBuffer()));
    }
    const reader = verifiedTileReader(after.size, after.rootHash, getTile);
    const leaf0 = fromBase64(((await (await get('/v1/entries/300')).json()) as any).data);
    verifyInclusion(hashLeaf(leaf0), 300, after.size, inclusionProof(300, after.size, reader), after.rootHash);

    const bundle = decodeEntryBundle(new Uint8Array(await (await get('/' + entriesPath(0, 256))).arrayBuffer()));
    expect(bundle.length).toBe(256);
    const e5 = fromBase64(((await (await get('/v1/entries/5')).json()) as any).data);
    expect(toHex(bundle[5]!)).toBe(toHex(e5));
  });

  it('serves a past published checkpoint by size, as it was published; 404 for a size it never published', async () => {
    const before = await checkpoint();
    await post('/v1/entries?wait=checkpoint', alice.envelope('evidence', evidence()));
    expect((await checkpoint()).size).toBeGreaterThan(before.size);
    const res = await get(`/v1/checkpoints/${before.size}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await res.text()).toBe(before.note);
    const none = await get(`/v1/checkpoints/${before.size + 1_000_000}`);
    expect([none.status, ((await none.json()) as any).error.code]).toEqual([404, 'no-such-checkpoint']);
    const anchor = await get(`/v1/anchors/${before.size}`);
    expect([anchor.status, ((await anchor.json()) as any).error.code]).toEqual([404, 'no-such-anchor']); // no S3 anchoring configured
  });
});

describe('refusals: a 4xx with a JSON error code, nothing written', () => {
  const cases: [string, () => Promise<{ status: number; body: any }>, number, string][] = [
    ['malformed JSON', () => post('/v1/entries', '{"payloadType":', true), 400, 'malformed-json'],
    ['not an object', () => post('/v1/entries', '"x"', true), 400, 'malformed-envelope'],
    ['unknown payload type', () => post('/v1/entries', { ...alice.envelope('evidence', evidence()), payloadType: 'text/plain' }), 400, 'unknown-payload-type'],
    ['payload type named like a prototype property', () => post('/v1/entries', { ...alice.envelope('evidence', evidence()), payloadType: 'constructor' }), 400, 'unknown-payload-type'],
    ['bad base64', () => post('/v1/entries', { ...alice.envelope('evidence', evidence()), payload: '!!!!' }), 400, 'bad-base64'],
    ['schema field', () => post('/v1/entries', alice.envelope('trust-score', trustScore('s', 1.5))), 400, 'schema'],
    ['unregistered key', () => post('/v1/entries', mallory.envelope('evidence', evidence())), 403, 'unknown-key'],
    ['type not allowed', () => post('/v1/entries', alice.envelope('in-toto', { _type: 'https://in-toto.io/Statement/v1', subject: [{ digest: { sha256: 'aa' } }], predicateType: 'x' })), 403, 'type-not-allowed'],
    ['too large', () => post('/v1/entries', alice.envelope('evidence', evidence({ reason: 'x'.repeat(16_000), blob: 'y'.repeat(60_000) }))), 413, 'entry-too-large'],
  ];
  it.each(cases)('%s', async (_name, send, status, code) => {
    const before = await (await get('/healthz')).json();
    const r = await send();
    expect(r.status).toBe(status);
    expect(r.body.error.code).toBe(code);
    expect(typeof r.body.error.message).toBe('string');
    const after = (await (await get('/healthz')).json()) as any;
    expect(after.sequenced ?? after.treeSize).toBe((before as any).sequenced ?? (before as any).treeSize);
  });
  it('answers bad indices and sizes with 4xx', async () => {
    for (const [path, status] of [
      ['/v1/entries/999999', 404],
      ['/v1/entries/-1', 400],
      ['/v1/entries/1e3', 400],
      ['/v1/entries/99999999999999999999', 400],
      ['/v1/proof/inclusion?index=0&treeSize=999999', 400],
      ['/v1/proof/inclusion?index=5&treeSize=3', 400],
      ['/v1/proof/consistency?from=0&to=3', 400],
      ['/v1/checkpoints/x', 400],
      ['/v1/checkpoints/-1', 400],
      ['/v1/anchors/1e3', 400],
      ['/tile/../../../etc/passwd', 404],
      ['/tile/..%2f..%2fetc%2fpasswd', 404],
      ['/tile/0/x001%2f..%2f000', 404],
      ['/tile/0/x001', 404],
      ['/tile/entries/000.p/0', 404],
      ['/tile/0/999', 404],
    ] as const) {
      const res = await rawGet(path);
      expect(res.status, path).toBe(status);
      expect(((await res.json()) as any).error.code, path).toBeTypeOf('string');
    }
  });
  it('refuses to register a small-order "key" that would sign any message, and lists nothing for it', async () => {
    const identity = new Uint8Array(32);
    identity[0] = 1; // the identity point; see test/core/crypto.test.ts
    const pub = join(dir, '..', 'identity.pub');
    writeFileSync(pub, formatPublicKeyPem(identity));
    const r = cli(BIN.ledger, ['producers', 'add', '--data', dir, '--name', 'mallory', '--key', pub]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('small order');
    const list = JSON.parse(cliOk(BIN.ledger, ['producers', 'list', '--data', dir, '--json']));
    expect(list.some((p: any) => p.name === 'mallory')).toBe(false);
  });
  it('refuses a revoked producer at once, though the server was running when the CLI revoked it', async () => {
    const bob = new TestProducer();
    const pub = join(dir, '..', 'bob.pub');
    writeFileSync(pub, formatPublicKeyPem(bob.publicKey));
    cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', 'bob', '--key', pub]);
    expect((await post('/v1/entries', bob.envelope('evidence', evidence()))).status).toBe(201);
    cliOk(BIN.ledger, ['producers', 'revoke', '--data', dir, '--name', 'bob']);
    const r = await post('/v1/entries', bob.envelope('evidence', evidence()));
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('revoked-key');
    const list = JSON.parse(cliOk(BIN.ledger, ['producers', 'list', '--data', dir, '--json']));
    expect(list.find((p: any) => p.name === 'bob').revokedIndex).toBeTypeOf('number');
  });
});

describe('operations', () => {
  it('exposes health and Prometheus metrics', async () => {
    const m = await (await get('/metrics')).text();
    expect(m).toMatch(/^ledger_entries_accepted_total\{kind="evidence"\} \d+$/m);
    expect(m).toMatch(/^ledger_entries_rejected_total\{reason="unknown-key"\} \d+$/m);
    expect(m).toMatch(/^ledger_sequencing_seconds_bucket\{le="0.05"\} \d+$/m);
    expect(m).toMatch(/^ledger_integration_lag_entries \d+$/m);
    expect(m).toMatch(/^ledger_unmerged_keys_entries \d+$/m);
    expect(Number(/^ledger_commits_total (\d+)$/m.exec(m)?.[1])).toBeGreaterThan(0); // entries were accepted above
    expect(m).toMatch(/^ledger_checkpoint_age_seconds [\d.]+$/m);
    expect(m).toMatch(/^ledger_event_loop_delay_seconds\{quantile="0.99"\} [\d.e+-]+$/m);
    expect(m).toMatch(/^ledger_event_loop_delay_seconds\{quantile="1"\} [\d.e+-]+$/m);
  });
  it('keeps every entry and the tree across a SIGKILL and restart', async () => {
    const r = await post('/v1/entries?wait=checkpoint', alice.envelope('evidence', evidence()));
    const before = await checkpoint();
    const leaves: string[] = [];
    for (let i = 0; i < before.size; i++) leaves.push((((await (await get(`/v1/entries/${i}`)).json()) as any).data));
    await server.kill('SIGKILL');
    server = await startServe(BIN.ledger, dir);
    const after = await checkpoint();
    expect(after.size).toBe(before.size);
    expect(toHex(after.rootHash)).toBe(toHex(before.rootHash));
    for (let i = 0; i < before.size; i++) expect((((await (await get(`/v1/entries/${i}`)).json()) as any).data)).toBe(leaves[i]);
    const next = await post('/v1/entries?wait=checkpoint', alice.envelope('evidence', evidence()));
    expect(next.body.index).toBe(before.size);
    expect(r.body.index).toBeLessThan(before.size);
    const grown = await checkpoint();
    const c = (await (await get(`/v1/proof/consistency?from=${before.size}&to=${grown.size}`)).json()) as any;
    verifyConsistency(before.size, grown.size, c.proof.map((p: string) => fromBase64(p)), before.rootHash, grown.rootHash);
  });
});
