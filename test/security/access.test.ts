// Access control: who may write (registered producers, by signature), that no
// administrative action exists over HTTP, the optional read token of a private
// log, key file permissions checked at start, and no secret in any log line or
// error message.

import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64Url } from '../../src/core/bytes.js';
import { ed25519PublicKey, randomBytes } from '../../src/core/crypto.js';
import { envelopeToJSON, keyIdOf, signEnvelope } from '../../src/core/dsse.js';
import { payloadTypeOf, producerPayload } from '../../src/core/entry.js';
import { parseSignerKey } from '../../src/core/note.js';
import { BIN, cli, cliOk, startServe, tmp, type Server } from '../helpers/procs.js';
import { TestProducer, evidence } from '../helpers/producer.js';
import { makeLog, postJson, raw, type TestLog } from './log.js';

/** The secret part of the log's signer key file (PRIVATE+KEY+name+id+BASE64). */
function keySecret(dir: string): string {
  return readFileSync(join(dir, 'log.key'), 'utf8').trim().split('+').slice(4).join('+');
}

function producersList(dir: string): unknown {
  return JSON.parse(cliOk(BIN.ledger, ['producers', 'list', '--data', dir, '--json']));
}

describe('administration is not reachable over HTTP', () => {
  let log: TestLog;
  let server: Server;
  beforeAll(async () => {
    log = makeLog();
    server = await startServe(BIN.ledger, log.dir);
  });
  afterAll(async () => {
    await server?.kill();
  });

  it('has no route that changes the producer registry, a legal hold or the witness configuration', async () => {
    const before = producersList(log.dir);
    const paths = ['/v1/producers', '/v1/producers/p0', '/admin', '/admin/producers', '/v1/admin/producers', '/v1/hold', '/v1/legal-hold', '/v1/anchor/hold', '/v1/witnesses', '/v1/config'];
    const mallory = new TestProducer();
    const body = JSON.stringify({ action: 'add', name: 'mallory', publicKey: toBase64Url(mallory.publicKey), types: ['evidence'], on: true });
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE'])
      for (const path of paths) {
        const r = await fetch(server.url + path, { method, body: method === 'DELETE' ? undefined : body, headers: { authorization: 'Bearer admin', 'content-type': 'application/json' } });
        expect(r.status, `${method} ${path}`).toBe(404);
        expect(((await r.json()) as any).error.code).toBe('not-found');
      }
    expect(producersList(log.dir)).toEqual(before);
    expect((await postJson(`${server.url}/v1/entries`, mallory.envelope('evidence', evidence()))).status).toBe(403);
  });

  it('refuses a producer-registry entry over HTTP even when the log key itself signed it', async () => {
    const seed = parseSignerKey(readFileSync(join(log.dir, 'log.key'), 'utf8').trim()).seed;
    const intruder = ed25519PublicKey(randomBytes(32));
    const payload = producerPayload({ action: 'add', name: 'intruder', keyid: keyIdOf(intruder), publicKey: Buffer.from(intruder).toString('base64'), types: ['evidence'], ts: new Date().toISOString() });
    const env = envelopeToJSON(signEnvelope(payloadTypeOf('producer'), payload, seed));
    const before = (await (await fetch(`${server.url}/healthz`)).json()) as { sequenced: number };
    const r = await postJson(`${server.url}/v1/entries`, env);
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('unknown-payload-type');
    const batch = await postJson(`${server.url}/v1/entries:batch`, { envelopes: [env] });
    expect(batch.body.results[0].error.code).toBe('unknown-payload-type');
    const after = (await (await fetch(`${server.url}/healthz`)).json()) as { sequenced: number };
    expect(after.sequenced).toBe(before.sequenced);
    expect((producersList(log.dir) as { name: string }[]).map((p) => p.name)).toEqual(['p0']);
  });
});

describe('read token (private deployment)', () => {
  const token = toBase64Url(randomBytes(32));
  let log: TestLog;
  let server: Server;
  beforeAll(async () => {
    log = makeLog({ readTokenEnv: 'LEDGER_TEST_READ_TOKEN', checkpointIntervalMs: 50 });
    server = await startServe(BIN.ledger, log.dir, 0, [], { LEDGER_TEST_READ_TOKEN: token });
  });
  afterAll(async () => {
    await server?.kill();
  });

  const reads = ['/checkpoint', '/tile/0/000.p/2', '/tile/entries/000.p/2', '/v1/entries/0', '/v1/proof/inclusion?index=0', '/v1/proof/consistency?from=1&to=2', '/healthz', '/metrics', '/no/such/route'];

  it('takes signed writes without the token', async () => {
    const r = await postJson(`${server.url}/v1/entries?wait=checkpoint`, log.producers[0]!.envelope('evidence', evidence()));
    expect(r.status).toBe(201);
    expect(r.body.index).toBe(1);
  });

  it('answers every read without the right bearer token with 401 and the JSON error shape', async () => {
    const wrong: (Record<string, string> | undefined)[] = [
      undefined,
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: `Bearer ${token}x` },
      { authorization: `Bearer ${token.slice(0, -1)}` },
      { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` },
      { authorization: `Bearer ${token} ${token}` },
      { authorization: token },
    ];
    for (const path of reads)
      for (const headers of wrong) {
        const r = await fetch(server.url + path, { headers });
        expect(r.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer realm="ledger"');
        const text = await r.text();
        expect(JSON.parse(text).error.code).toBe('unauthorized');
        expect(text).not.toContain(token);
      }
  });

  it('serves every read with the token (scheme name in any case)', async () => {
    for (const path of reads) {
      const r = await fetch(server.url + path, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status, path).toBe(path === '/no/such/route' ? 404 : 200);
    }
    expect((await fetch(`${server.url}/checkpoint`, { headers: { authorization: `bearer ${token}` } })).status).toBe(200);
  });

  it('never writes the token or the log key to its output', async () => {
    await raw(server.port, [`GET /checkpoint HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`, '\x00garbage\r\n\r\n']);
    await fetch(`${server.url}/v1/entries/abc`, { headers: { authorization: `Bearer ${token}` } });
    await server.kill();
    expect(server.stderr()).not.toContain(token);
    expect(server.stderr()).not.toContain(keySecret(log.dir));
  });

  it('refuses to start when readTokenEnv names a variable that is unset or empty', async () => {
    for (const env of [{}, { LEDGER_TEST_READ_TOKEN: '' }]) {
      const err = await startServe(BIN.ledger, log.dir, 0, [], { LEDGER_TEST_READ_TOKEN: undefined, ...env }).then(
        (s) => (s.kill(), ''),
        (e: Error) => e.message,
      );
      expect(err).toMatch(/exited with 1/);
      expect(err).toMatch(/LEDGER_TEST_READ_TOKEN, which is unset or empty/);
    }
  });
});

describe('key file permissions', () => {
  it('refuses to serve or administer with a log key that group or others can read, and says so without the key', async () => {
    const log = makeLog();
    const key = join(log.dir, 'log.key');
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(key, mode);
      const err = await startServe(BIN.ledger, log.dir).then(
        (s) => (s.kill(), ''),
        (e: Error) => e.message,
      );
      expect(err, mode.toString(8)).toMatch(new RegExp(`has mode ${mode.toString(8)}; it must not be readable by group or others \\(chmod 600 `));
      expect(err).not.toContain(keySecret(log.dir));
      const add = cli(BIN.ledger, ['producers', 'list', '--data', log.dir]);
      expect(add.status).toBe(1);
      expect(add.stderr).toMatch(/must not be readable by group or others/);
    }
    chmodSync(key, 0o600);
    const server = await startServe(BIN.ledger, log.dir);
    await server.kill();
    expect(server.stderr()).not.toContain(keySecret(log.dir));
  });

  it('refuses to serve a witness whose key group or others can read', async () => {
    const dir = join(tmp('witness-perm-'), 'w');
    const vkey = cliOk(BIN.witness, ['init', '--data', dir, '--name', 'perm.test/witness']).trim();
    expect(statSync(join(dir, 'witness.key')).mode & 0o777).toBe(0o600);
    chmodSync(join(dir, 'witness.key'), 0o644);
    const err = await startServe(BIN.witness, dir).then(
      (s) => (s.kill(), ''),
      (e: Error) => e.message,
    );
    expect(err).toMatch(/has mode 644; it must not be readable by group or others/);
    expect(err).not.toContain(readFileSync(join(dir, 'witness.key'), 'utf8').trim().split('+').slice(4).join('+'));
    chmodSync(join(dir, 'witness.key'), 0o600);
    const w = await startServe(BIN.witness, dir);
    await w.kill();
    expect(vkey).toMatch(/^perm\.test\/witness\+/);
  });

  it('writes every key file 0600 from the first byte (init, keygen)', () => {
    const log = makeLog();
    const out = join(log.dir, '..', 'k');
    cliOk(BIN.ledger, ['keygen', '--out', out]);
    for (const f of [join(log.dir, 'log.key'), out]) expect(statSync(f).mode & 0o777, f).toBe(0o600);
  });
});
