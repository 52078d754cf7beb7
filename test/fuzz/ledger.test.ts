// Hostile input against every endpoint of a running `ledger serve`: over ten
// thousand malformed or hostile requests from a seeded PRNG (LEDGER_FUZZ_SEED
// reproduces a run). Every answer must be a 4xx with the JSON error shape (413
// for bodies over the limit), never a 5xx; afterwards the server still answers
// and nothing refused reached the log.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '../../src/core/bytes.js';
import { envelopeToJSON, signEnvelope } from '../../src/core/dsse.js';
import { payloadTypeOf, producerPayload, type ProducerKind } from '../../src/core/entry.js';
import { formatPublicKeyPem } from '../../src/core/pem.js';
import { useNodeCrypto } from '../../src/platform/node-crypto.js';
import { BIN, cliOk, startServe, type Server } from '../helpers/procs.js';
import { TestProducer } from '../helpers/producer.js';
import { makeLog, postJson } from '../security/log.js';
import { BAD_BASE64, BAD_NUMBERS, nested, pct, Rng, runCases, SEED, TRAVERSAL, WRONG_TYPES, type Case } from './gen.js';

useNodeCrypto();

const MAX_BODY = 256 * 1024;
const MAX_BATCH = 50;
const TOTAL = 10_400;

type Env = { payloadType: unknown; payload: unknown; signatures: unknown };

const alice = new TestProducer(); // evidence and trust-score
const carol = new TestProducer(); // registered, then revoked
const mallory = new TestProducer(); // never registered
let dir: string;
let server: Server;
let published = 0;

beforeAll(async () => {
  const log = makeLog({ maxBodyBytes: MAX_BODY, maxBatch: MAX_BATCH, checkpointIntervalMs: 50, headersTimeoutMs: 2000, requestTimeoutMs: 5000 }, 0);
  dir = log.dir;
  for (const [name, p, types] of [['alice', alice, 'evidence,trust-score'], ['carol', carol, 'evidence']] as const) {
    const pub = join(dir, '..', `${name}.pub`);
    writeFileSync(pub, formatPublicKeyPem(p.publicKey));
    cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', name, '--key', pub, '--types', types]);
  }
  cliOk(BIN.ledger, ['producers', 'revoke', '--data', dir, '--name', 'carol']);
  server = await startServe(BIN.ledger, dir);
  const first = await postJson(`${server.url}/v1/entries?wait=checkpoint`, alice.envelope('evidence', evidencePayload(new Rng(1))));
  expect(first.status).toBe(201);
  published = first.body.treeSize;
});
afterAll(async () => {
  await server?.kill();
});

// ---------------------------------------------------------------- envelopes

function evidencePayload(rng: Rng, extra: Record<string, unknown> = {}, tsOffsetMs = 0): Record<string, unknown> {
  return {
    ts: new Date(Date.now() + tsOffsetMs).toISOString(),
    actor: 'fuzz',
    action: 'deploy',
    artifact: `registry.example/app@sha256:${rng.chars(64, '0123456789abcdef')}`,
    policy: 'gate',
    target: 'prod',
    mode: 'enforce',
    trace: rng.chars(16, 'abcdefghijklmnopqrstuvwxyz'),
    result: 'allow',
    ...extra,
  };
}

const signed = (p: TestProducer, payloadType: string, payload: Uint8Array): Env => envelopeToJSON(signEnvelope(payloadType, payload, p.seed)) as Env;
const signedJson = (p: TestProducer, kind: ProducerKind, payload: unknown): Env => signed(p, payloadTypeOf(kind), utf8(JSON.stringify(payload)));
const sigOf = (e: Env) => (e.signatures as { keyid: string; sig: string }[])[0]!;

/** Valid envelopes, signed once (signing is the slow part of making cases); mutated copies are sent, never these. */
const pool = (p: TestProducer, n: number, seed: number) => Array.from({ length: n }, (_, i) => signedJson(p, 'evidence', evidencePayload(new Rng(seed + i))));
const alicePool = pool(alice, 48, 1000);
const malloryPool = pool(mallory, 24, 2000);
const carolPool = pool(carol, 8, 3000);
const copy = (e: Env): Env => JSON.parse(JSON.stringify(e)) as Env;
/** Unregistered envelopes of 100 to 300 KB of JSON, around the body limit. */
const hugeMallory = [0, 1, 2, 3].map((i) => signedJson(mallory, 'evidence', evidencePayload(new Rng(4000 + i), { reason: 'x'.repeat(16_384), blob: 'y'.repeat(60_000 * i) })));

/** Envelopes signed by alice whose entry is over 65,535 bytes: refused with 413 after the signature check. */
const tooLarge: Env[] = [0, 1, 2].map((i) => signedJson(alice, 'evidence', evidencePayload(new Rng(100 + i), { reason: 'r'.repeat(16_000), blob: 'b'.repeat(60_000 + i * 1000) })));

/** Each returns an envelope (a JSON value) that must be refused, and the endpoint-independent status if one is certain. */
const envelopeMutators: [string, (rng: Rng) => { env: unknown; status?: number }][] = [
  ['sig-bit-flip', (rng) => {
    const e = copy(rng.pick(alicePool));
    const sig = fromBase64(sigOf(e).sig);
    sig[rng.int(64)]! ^= 1 << rng.int(8);
    sigOf(e).sig = toBase64(sig);
    return { env: e, status: 403 };
  }],
  ['payload-swapped', (rng) => {
    const e = copy(alicePool[0]!);
    e.payload = rng.pick(alicePool.slice(1)).payload;
    return { env: e, status: 403 };
  }],
  ['type-swapped', (rng) => {
    const e = copy(rng.pick(alicePool));
    e.payloadType = rng.pick([payloadTypeOf('trust-score'), payloadTypeOf('in-toto'), 'application/json', 'application/vnd.ledger.evidence.v2+json', '']);
    return { env: e };
  }],
  ['no-signatures', (rng) => ({ env: { ...copy(rng.pick(alicePool)), signatures: [] } })],
  ['sig-length', (rng) => {
    const e = copy(rng.pick(alicePool));
    sigOf(e).sig = toBase64(rng.bytes(rng.pick([0, 1, 32, 63, 65, 128, 4096])));
    return { env: e };
  }],
  ['unregistered', (rng) => ({ env: rng.pick(malloryPool), status: 403 })],
  ['unregistered-claims-keyid', (rng) => {
    const e = copy(rng.pick(malloryPool));
    sigOf(e).keyid = sigOf(alicePool[0]!).keyid;
    return { env: e, status: 403 };
  }],
  ['revoked', (rng) => ({ env: rng.pick(carolPool), status: 403 })],
  ['type-not-allowed', (rng) => ({
    env: signedJson(alice, 'in-toto', { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'x', digest: { sha256: rng.chars(64, '0123456789abcdef') } }], predicateType: 'https://example/p' }),
    status: 403,
  })],
  ['ts-stale', (rng) => ({ env: signedJson(alice, 'evidence', evidencePayload(rng, {}, -3 * 86_400_000)), status: 400 })],
  ['ts-future', (rng) => ({ env: signedJson(alice, 'evidence', evidencePayload(rng, {}, 3_600_000)), status: 400 })],
  ['ts-malformed', (rng) => ({ env: signedJson(alice, 'evidence', { ...evidencePayload(rng), ts: rng.pick(['2024-02-30T00:00:00Z', 'yesterday', '2024-01-01T00:00:00+01:00', '', 0, null]) }), status: 400 })],
  ['entry-too-large', (rng) => ({ env: rng.pick(tooLarge), status: 413 })],
  ['payload-deep', (rng) => {
    const deep = nested(rng, rng.pick([65, 2000, 8000]));
    const text = rng.bool() ? deep : `{"ts":"${new Date().toISOString()}","actor":${deep}}`;
    return { env: signed(alice, payloadTypeOf('evidence'), utf8(text)), status: 400 };
  }],
  ['payload-not-utf8', (rng) => {
    const bytes = utf8(JSON.stringify(evidencePayload(rng)));
    bytes[10 + rng.int(bytes.length - 20)] = rng.pick([0xff, 0xc0, 0x80, 0xfe]);
    return { env: signed(alice, payloadTypeOf('evidence'), bytes), status: 400 };
  }],
  ['payload-not-json', (rng) => ({ env: signed(alice, payloadTypeOf('evidence'), rng.bool() ? rng.bytes(rng.int(200)) : utf8(rng.pick(['', 'null', '[]', '"x"', '1', '{', '{"ts":}', 'NaN']))), status: 400 })],
  ['payload-schema', (rng) => {
    const p = evidencePayload(rng);
    const k = rng.pick(Object.keys(p).filter((x) => x !== 'ts'));
    if (rng.bool()) delete p[k];
    else p[k] = rng.pick(WRONG_TYPES.filter((v) => typeof v !== 'string' || v === ''));
    return { env: signedJson(alice, 'evidence', p), status: 400 };
  }],
  ['trust-score-schema', (rng) => ({
    env: signedJson(alice, 'trust-score', { subject: 'spiffe://x/y', ts: new Date().toISOString(), score: rng.pick([-0.1, 1.01, '0.5', null, 1e400]), components: {}, model: 'm', policy: 'p', ttlSeconds: 60 }),
    status: 400,
  })],
  ['producer-entry', (rng) => {
    const payload = producerPayload({ action: 'add', name: 'x', keyid: rng.chars(64, '0123456789abcdef'), publicKey: toBase64(rng.bytes(32)), types: ['evidence'], ts: new Date().toISOString() });
    return { env: signed(rng.pick([alice, mallory]), payloadTypeOf('producer'), payload), status: 400 };
  }],
  ['wrong-type', (rng) => {
    const e = copy(rng.pick(alicePool)) as Record<string, unknown>;
    const field = rng.pick(['payloadType', 'payload', 'signatures', 'sig', 'keyid', 'signature']);
    const bad = rng.pick(WRONG_TYPES.filter((v) => (field === 'signatures' ? !Array.isArray(v) || (v as unknown[]).length > 0 : typeof v !== 'string')));
    if (field === 'sig' || field === 'keyid') (sigOf(e as Env) as Record<string, unknown>)[field] = bad;
    else if (field === 'signature') (e.signatures as unknown[])[0] = bad;
    else e[field] = bad;
    return { env: e };
  }],
  ['missing-field', (rng) => {
    const e = copy(rng.pick(alicePool)) as Record<string, unknown>;
    const field = rng.pick(['payloadType', 'payload', 'signatures', 'sig']);
    if (field === 'sig') delete (sigOf(e as Env) as Record<string, unknown>).sig;
    else delete e[field];
    return { env: e };
  }],
  ['bad-base64', (rng) => {
    const e = copy(rng.pick(alicePool));
    const bad = rng.pick(BAD_BASE64);
    if (rng.bool()) e.payload = bad;
    else sigOf(e).sig = bad;
    return { env: e };
  }],
  ['base64-corrupted', (rng) => {
    const e = copy(rng.pick(alicePool));
    const s = e.payload as string;
    const i = rng.int(s.length - 2);
    e.payload = s.slice(0, i) + rng.pick(['!', '*', '.', ' ', '\n', '=', '\u00e9', '\u0000']) + s.slice(i + 1);
    return { env: e };
  }],
  ['too-many-signatures', (rng) => {
    const e = copy(rng.pick(malloryPool));
    e.signatures = Array.from({ length: 17 + rng.int(40) }, () => ({ keyid: rng.chars(64, '0123456789abcdef'), sig: toBase64(rng.bytes(64)) }));
    return { env: e };
  }],
  ['lone-surrogate', (rng) => {
    const e = copy(rng.pick(malloryPool));
    if (rng.bool()) e.payloadType = `${payloadTypeOf('evidence')}\ud800`;
    else sigOf(e).keyid = '\udfff';
    return { env: e };
  }],
  ['extra-fields-and-flip', (rng) => {
    const e = copy(rng.pick(alicePool)) as Record<string, unknown>;
    let deep: unknown = rng.pick(WRONG_TYPES);
    for (let d = rng.int(200); d > 0; d--) deep = rng.bool() ? [deep] : { a: deep };
    e[rng.pick(['extra', '__proto__', 'constructor', 'payloadtype'])] = deep;
    const sig = fromBase64(sigOf(e as Env).sig);
    sig[0]! ^= 0x80;
    sigOf(e as Env).sig = toBase64(sig);
    return { env: e }; // 403, or 400 json-too-deep
  }],
  ['not-an-object', (rng) => ({ env: rng.pick(WRONG_TYPES.filter((v) => typeof v !== 'object' || v === null || Array.isArray(v))), status: 400 })],
];

/** Made envelopes by mutator; past 16 of one kind, one of those is sent again (a signature each is too slow). */
const made = new Map<string, { env: unknown; status?: number }[]>();

function hostileEnvelope(rng: Rng): { what: string; env: unknown; status?: number } {
  const [what, make] = rng.pick(envelopeMutators);
  const seen = made.get(what) ?? [];
  made.set(what, seen);
  if (seen.length < 16) seen.push(make(rng));
  return { what, ...rng.pick(seen) };
}

// ---------------------------------------------------------------- bodies

const enc = new TextEncoder();
function validText(rng: Rng): string {
  return JSON.stringify(rng.pick(alicePool));
}

/** A body for POST /v1/entries (or the batch route) that must be refused. */
function hostileBody(rng: Rng): { what: string; body: string | Uint8Array; status?: number; chunked?: boolean } {
  switch (rng.int(11)) {
    case 0: {
      const t = validText(rng);
      return { what: 'truncated-json', body: t.slice(0, rng.int(t.length)), status: 400 };
    }
    case 1:
      return { what: 'random-bytes', body: rng.bytes(rng.int(3000)) };
    case 2: {
      // Deep enough and it is also over the body limit: then only a 413 will do.
      const body = nested(rng, rng.pick([100, 10_000, 100_000]));
      return { what: 'deep-json', body, ...(Buffer.byteLength(body) > MAX_BODY ? { status: 413 } : {}) };
    }
    case 3: {
      const t = enc.encode(JSON.stringify(rng.pick(malloryPool)));
      t[20 + rng.int(t.length - 40)] = rng.pick([0xff, 0xc0, 0xc1, 0xf5, 0x80]);
      return { what: 'non-utf8-body', body: t, status: 400 };
    }
    case 4:
      return { what: 'json-junk', body: rng.pick(['', ' ', 'null', '[]', '"x"', '1', 'true', '{}', '{"payloadType":1}', 'NaN', '{"a":1,}', "{'a':1}", '{"a":1}/*c*/', '\u0000', '{"a":"\\ud800"}', '[' + '1,'.repeat(5000) + '1]', '{"a":1e999999}']) };
    case 5: {
      const t = validText(rng);
      return { what: 'bom-truncated', body: '\ufeff' + t.slice(0, t.length - 1 - rng.int(10)), status: 400 };
    }
    case 6: {
      const t = validText(rng);
      return { what: 'duplicate-keys', body: t.slice(0, -1) + `,"payload":${JSON.stringify(rng.pick(BAD_BASE64))}}` };
    }
    case 7: {
      // Over the limit: declared (Content-Length) or streamed (chunked).
      const n = MAX_BODY + 1 + rng.int(rng.bool() ? 16 : 200_000);
      const body = new Uint8Array(n).fill(0x20);
      if (rng.bool()) for (let o = 0, block = rng.bytes(4096); o < n; o += 4096) body.set(block.subarray(0, n - o), o);
      return { what: 'over-limit', body, status: 413, chunked: rng.bool() };
    }
    case 8: {
      // Exactly at the limit: read whole, then refused for what it is (an unregistered key).
      const t = JSON.stringify(rng.pick(malloryPool));
      return { what: 'at-limit', body: t + ' '.repeat(MAX_BODY - enc.encode(t).length), status: 403 };
    }
    case 9: {
      return { what: 'huge-valid-json', body: JSON.stringify(rng.pick(hugeMallory)) };
    }
    default: {
      const h = hostileEnvelope(rng);
      return { what: `envelope:${h.what}`, body: JSON.stringify(h.env), ...(h.status === undefined ? {} : { status: h.status }) };
    }
  }
}

// ---------------------------------------------------------------- the cases

const count = new Map<string, number>();
function endpoint(name: string, c: Case): Case {
  count.set(name, (count.get(name) ?? 0) + 1);
  return c;
}

const beyond = (rng: Rng) => String(published + 1 + rng.int(2 ** 31));
/** A bad number: from the list, or percent-encoded random bytes led by a non-ASCII one (never decoding to digits). */
const badNumber = (rng: Rng) => (rng.bool(0.8) ? rng.pick(BAD_NUMBERS) : pct(rng.bytes(1 + rng.int(12)).map((b, i) => (i === 0 ? b | 0x80 : b))));
const someIndex = (rng: Rng) => String(rng.int(published));

function postEntries(rng: Rng): Case {
  const b = hostileBody(rng);
  // A bad `wait` is refused before the body is read (so not with bodies over the limit, which the client may not finish sending).
  const badQuery = b.status !== 413 && rng.bool(0.1);
  const query = badQuery ? rng.pick(['?wait=1', '?wait=', '?wait=checkpointx', '?wait=%FF']) : rng.bool(0.1) ? rng.pick(['?wait=checkpoint', '?x=%FF', '?wait=checkpoint&wait=x']) : '';
  const status = badQuery ? undefined : b.status;
  return endpoint('POST /v1/entries', {
    what: b.what,
    method: 'POST',
    path: '/v1/entries' + query,
    headers: { 'content-type': rng.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1']) },
    body: b.body,
    ...(b.chunked ? { chunked: true } : {}),
    ...(status === undefined ? {} : { status }),
  });
}

function postBatch(rng: Rng): Case {
  const c: Case = { what: '', method: 'POST', path: '/v1/entries:batch', headers: { 'content-type': 'application/json' } };
  switch (rng.int(5)) {
    case 0: {
      const h = hostileBody(rng);
      Object.assign(c, { what: `body:${h.what}`, body: h.body, ...(h.chunked ? { chunked: true } : {}), ...(h.status === 413 ? { status: 413 } : {}) });
      break;
    }
    case 1:
      Object.assign(c, { what: 'batch-shape', body: JSON.stringify(rng.pick([{}, { envelopes: null }, { envelopes: {} }, { envelopes: 'x' }, { envelopes: [] }, [], null, { Envelopes: [{}] }])), status: 400 });
      break;
    case 2:
      Object.assign(c, { what: 'batch-too-many', body: JSON.stringify({ envelopes: Array.from({ length: MAX_BATCH + 1 + rng.int(100) }, () => ({})) }), status: 413 });
      break;
    default: {
      const hs = Array.from({ length: 1 + rng.int(10) }, () => hostileEnvelope(rng));
      Object.assign(c, { what: `batch:${hs.map((h) => h.what).join(',')}`, body: JSON.stringify({ envelopes: hs.map((h) => h.env) }), batch: true });
    }
  }
  return endpoint('POST /v1/entries:batch', c);
}

function getEntry(rng: Rng): Case {
  const r = rng.int(4);
  if (r === 0) return endpoint('GET /v1/entries/<i>', { what: 'entry-beyond', path: `/v1/entries/${beyond(rng)}`, status: 404 });
  if (r === 1) return endpoint('GET /v1/entries/<i>', { what: 'entry-traversal', path: `/v1/entries/${rng.pick(TRAVERSAL)}${rng.pick(['', '0', 'etc/passwd', '../ledger.db', '../../log.key'])}` });
  return endpoint('GET /v1/entries/<i>', { what: 'entry-bad-number', path: `/v1/entries/${badNumber(rng)}` });
}

function getInclusion(rng: Rng): Case {
  const cases: [string, string][] = [
    ['no-params', ''],
    ['both', `index=0&leafHash=${'a'.repeat(64)}`],
    ['bad-index', `index=${badNumber(rng)}`],
    ['bad-size', `index=0&treeSize=${badNumber(rng)}`],
    ['size-zero', `index=0&treeSize=0`],
    ['size-beyond', `index=0&treeSize=${beyond(rng)}`],
    ['index-beyond', `index=${beyond(rng)}&treeSize=${published}`],
    ['index-eq-size', `index=${published}&treeSize=${published}`],
    ['bad-leafhash', `leafHash=${rng.pick([...BAD_BASE64.map(encodeURIComponent), 'a'.repeat(63), 'g'.repeat(64), 'A'.repeat(42), 'A'.repeat(44), pct(rng.bytes(32))])}`],
    ['unknown-leafhash', `leafHash=${rng.chars(64, '0123456789abcdef')}`],
    ['leafhash-bad-size', `leafHash=${rng.chars(64, '0123456789abcdef')}&treeSize=${badNumber(rng)}`],
    ['junk-query', pct(rng.bytes(1 + rng.int(40)))],
  ];
  const [what, q] = rng.pick(cases);
  return endpoint('GET /v1/proof/inclusion', { what, path: `/v1/proof/inclusion?${q}` });
}

function getConsistency(rng: Rng): Case {
  const cases: [string, string][] = [
    ['no-params', ''],
    ['from-zero', `from=0&to=${published}`],
    ['from-beyond', `from=${beyond(rng)}&to=${published}`],
    ['from-gt-to', `from=${published}&to=1`],
    ['to-beyond', `from=1&to=${beyond(rng)}`],
    ['to-zero', `from=1&to=0`],
    ['bad-from', `from=${badNumber(rng)}&to=${published}`],
    ['bad-to', `from=1&to=${badNumber(rng)}`],
    ['only-to', `to=${published}`],
    ['junk-query', pct(rng.bytes(1 + rng.int(40)))],
  ];
  const [what, q] = rng.pick(cases);
  return endpoint('GET /v1/proof/consistency', { what, path: `/v1/proof/consistency?${q}` });
}

function getTile(rng: Rng): Case {
  const level = rng.pick(['0', '1', '-1', '64', '99', '01', 'a', 'entries', '%30', '']);
  const n = rng.pick(['000', '001', 'x001/000', '1', '0001', 'x1/000', 'x000/001', '000.p/0', '000.p/256', '000.p/-1', '000.p/01', '000.p/x', '000.p/', '.p/1', 'x001', '999', 'x999/x999/x999/x999/x999/x999/999', '%30%30%30']);
  const r = rng.int(5);
  let path: string;
  if (r === 0) path = `/tile/${rng.pick(TRAVERSAL)}${rng.pick(['', 'etc/passwd', '../../ledger.db', 'log.key', '0/000'])}`;
  else if (r === 1) path = `/tile/${level}/${rng.pick(TRAVERSAL)}${n}`;
  else if (r === 2) path = `/tile/${level}/${n}${rng.pick(['', '/', '/..', '/x', '?x=1'])}`; // none is in a tree this small
  else if (r === 3) path = `/tile/${pct(rng.bytes(1 + rng.int(30)))}`;
  else path = `/tile/${rng.pick(['0', 'entries'])}/${rng.pick(['x001/', 'x999/x999/'])}${String(rng.int(1000)).padStart(3, '0')}`; // beyond the tree
  return endpoint('GET /tile/*', { what: `tile-${r}`, path });
}

function otherRoutes(rng: Rng): Case {
  const routes = ['/checkpoint', '/healthz', '/metrics', '/v1/entries', '/v1/entries:batch', '/v1/entries/0', '/v1/proof/inclusion', '/v1/proof/consistency', '/tile/0/000'];
  const r = rng.int(4);
  if (r === 0) {
    // Methods no route takes.
    const path = rng.pick(routes);
    const method = rng.pick(path.startsWith('/v1/entries') && !path.endsWith('/0') ? ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] : ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND']);
    return endpoint('methods', { what: 'wrong-method', method, path: path === '/v1/entries' && method === 'GET' ? '/v1/entries/' : path, body: method === 'TRACE' ? undefined : '{}' });
  }
  if (r === 1) return endpoint('GET /checkpoint', { what: 'checkpoint-variant', path: rng.pick(['/checkpoint/', '/checkpoint/..', '/checkpoint%00', '/checkpoint.json', '/CHECKPOINT', '/checkpoint/x', '/checkpoint%2f', '/checkpoint;x']) });
  if (r === 2) return endpoint('random paths', { what: 'random-path', path: `/${pct(rng.bytes(1 + rng.int(rng.bool(0.1) ? 2500 : 60)))}` });
  return endpoint('headers', {
    what: 'header-overflow',
    path: `/v1/entries/${badNumber(rng)}`,
    headers: { 'x-junk': 'a'.repeat(17_000 + rng.int(20_000)) },
    status: 431,
  });
}

function rawHttp(rng: Rng): Case {
  const bad = `/v1/entries/${rng.pick(['-1', 'x', '01'])}`;
  const lines: [string, string][] = [
    ['garbage', `${rng.chars(1 + rng.int(40), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ abc/\t')}\r\n\r\n`],
    ['bad-version', `GET ${bad} HTTP/${rng.pick(['9.9', '1', '1.1.1', 'x'])}\r\nHost: x\r\n\r\n`],
    ['non-utf8-path', `GET /v1/entries/${String.fromCharCode(...rng.bytes(1 + rng.int(8)).map((b) => 0x80 | b))} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['control-in-path', `GET /tile/${rng.pick(['\x00', '\x01', '\x7f', '\t', ' '])}0/000 HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['no-host', `GET ${bad} HTTP/1.1\r\n\r\n`],
    ['bad-host', `GET ${bad} HTTP/1.1\r\nHost: ${rng.pick(['a b', '../x', '\xff\xfe', 'x:99999', '[::1', 'x/y', ''])}\r\n\r\n`],
    ['absolute-form', `GET http://${rng.pick(['evil.example', '127.0.0.1:1', 'x'])}${bad} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['asterisk', `${rng.pick(['GET', 'OPTIONS'])} * HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['bad-content-length', `POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: ${rng.pick(['-1', 'abc', '1, 2', '0x10', '1e3', '99999999999999999999', ''])}\r\n\r\n{}`],
    ['two-content-lengths', `POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`],
    ['cl-and-te', `POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
    ['bad-te', `POST /v1/entries HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${rng.pick(['gzip', 'chunked, gzip', 'identity', 'x'])}\r\n\r\n{}`],
    ['bad-chunk', `POST /v1/entries HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${rng.pick(['zz', 'ffffffffffffffffffff', '-1', '1;' + 'x'.repeat(100)])}\r\n{}\r\n0\r\n\r\n`],
    ['bad-header', `GET ${bad} HTTP/1.1\r\nHost: x\r\n${rng.pick(['Bad Header: x', 'NoColon', ' folded: x', 'X: a\x00b', ': empty', 'X\x7f: y'])}\r\n\r\n`],
    ['lf-only', `GET ${bad} HTTP/1.1\nHost: x\n\n`],
  ];
  if (rng.bool(0.1)) {
    // A body cut short, then the client half-closes: no answer can be delivered, and nothing may break.
    return endpoint('raw HTTP', { what: 'raw:truncated-body', raw: [`POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n${validText(rng).slice(0, 100)}`], rawEnd: true });
  }
  const [what, text] = rng.pick(lines);
  return endpoint('raw HTTP', { what: `raw:${what}`, raw: [text] });
}

function makeCases(rng: Rng): Case[] {
  const gens: [number, (rng: Rng) => Case][] = [
    [30, postEntries],
    [12, postBatch],
    [10, getEntry],
    [10, getInclusion],
    [8, getConsistency],
    [12, getTile],
    [12, otherRoutes],
    [9, rawHttp],
  ];
  const total = gens.reduce((s, [w]) => s + w, 0);
  const out: Case[] = [];
  for (let i = 0; i < TOTAL; i++) {
    let x = rng.int(total);
    const g = gens.find(([w]) => (x -= w) < 0)![1];
    out.push(g(rng));
  }
  return out;
}

describe(`fuzz: ${TOTAL} hostile requests against the ledger (seed ${SEED})`, () => {
  it('answers every one with a 4xx and the JSON error shape (413 over the body limit), never a 5xx; stays up; logs nothing refused', async () => {
    const before = (await (await fetch(`${server.url}/healthz`)).json()) as { sequenced: number; published: number };
    const cases = makeCases(new Rng(SEED));
    const { statuses, problems } = await runCases(server.port, cases, 24);
    expect(problems.slice(0, 20), `${problems.length} problems; server stderr: ${server.stderr().slice(-3000)}`).toEqual([]);
    const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
    expect(answered).toBe(TOTAL);
    expect([...statuses.keys()].filter((s) => s >= 500)).toEqual([]);
    for (const [name, n] of count) expect(n, name).toBeGreaterThanOrEqual(200);
    expect(statuses.get(413)).toBeGreaterThan(100);

    // Nothing refused reached the log, and the server still answers, reads and writes.
    const after = (await (await fetch(`${server.url}/healthz`)).json()) as { sequenced: number; published: number };
    expect(after.sequenced).toBe(before.sequenced);
    expect(after.published).toBe(before.published);
    expect((await fetch(`${server.url}/checkpoint`)).status).toBe(200);
    const ok = await postJson(`${server.url}/v1/entries?wait=checkpoint`, alice.envelope('evidence', evidencePayload(new Rng(SEED + 1))));
    expect(ok.status).toBe(201);
    expect(ok.body.index).toBe(before.sequenced);
    expect(server.proc.exitCode).toBeNull();
    expect(server.stderr()).not.toMatch(/internal error|Error:/);
  }, 120_000);
});
