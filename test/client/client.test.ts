// The client library against a real `ledger serve` process: the full producer
// flow, everything verified locally; then the same calls through a fetch that
// tampers with the server's answers, each of which the client must refuse with
// its exact error code; then retries and backoff.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex } from '../../src/core/bytes.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { generateCosignerKey } from '../../src/core/cosignature.js';
import { parseEnvelope } from '../../src/core/dsse.js';
import { decodeLeaf, envelopeDigest, EntryError } from '../../src/core/entry.js';
import { hashLeaf, verifyInclusion } from '../../src/core/merkle.js';
import { generateSignerKey, parseVerifierKey } from '../../src/core/note.js';
import { parsePolicy } from '../../src/core/policy.js';
import { verifyTlogProof } from '../../src/core/tlog-proof.js';
import { LedgerClient, LedgerClientError, ProducerKey, parseRetryAfter, type VerifiedCheckpoint } from '../../src/client/index.js';
import { fetchRetry } from './fetch.js';
import { BIN, cliOk, startServe, tmp, type Server } from '../helpers/procs.js';
import { evidence, trustScore } from '../helpers/producer.js';

const ORIGIN = 'client.test/log';
let vkey: string;
let server: Server;
const alice = ProducerKey.generate();
const mallory = ProducerKey.generate();

beforeAll(async () => {
  const dir = join(tmp(), 'data');
  vkey = cliOk(BIN.ledger, ['init', '--data', dir, '--origin', ORIGIN]).trim();
  const pub = join(dir, '..', 'alice.pub');
  writeFileSync(pub, alice.toPublicPem());
  cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', 'alice', '--key', pub, '--types', 'evidence,trust-score']);
  server = await startServe(BIN.ledger, dir);
});
afterAll(async () => {
  await server?.kill();
});

const client = (extra: Partial<ConstructorParameters<typeof LedgerClient>[0]> = {}) => new LedgerClient({ url: server.url, vkey, ...extra });

/** A fetch that passes requests to the real server and lets `edit` change the answer for matching paths. */
function tampering(match: RegExp, edit: (body: Uint8Array) => Uint8Array): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(String(input));
    if (!match.test(url.pathname + url.search)) return res;
    const body = edit(new Uint8Array(await res.arrayBuffer()));
    return new Response(body as Uint8Array<ArrayBuffer>, { status: res.status, headers: { 'content-type': res.headers.get('content-type') ?? '' } });
  };
}
const editJson = (f: (o: any) => void) => (b: Uint8Array) => {
  const o = JSON.parse(new TextDecoder().decode(b));
  f(o);
  return new TextEncoder().encode(JSON.stringify(o));
};
const flipB64 = (s: string) => {
  const b = fromBase64(s);
  b[0]! ^= 1;
  return toBase64(b);
};

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(LedgerClientError);
    return (e as LedgerClientError).code;
  }
  throw new Error('expected a LedgerClientError');
}

describe('producer flow', () => {
  let first: VerifiedCheckpoint;

  it('signs, submits, waits and proves inclusion against a checkpoint signed by the pinned key', async () => {
    const c = client();
    expect(c.origin).toBe(ORIGIN);
    const env = alice.signEvidence(evidence());
    const sub = await c.submit(env);
    expect(sub).toMatchObject({ index: 1, duplicate: false });
    const inc = await c.waitForInclusion(sub);
    expect(inc.index).toBe(1);
    expect(toHex(inc.leafHash)).toBe(toHex(sub.leafHash));
    // The leaf holds our envelope, and the proof checks out independently of the client.
    expect(toHex(envelopeDigest(decodeLeaf(inc.leaf).envelope))).toBe(toHex(envelopeDigest(parseEnvelope(env))));
    const { checkpoint } = openCheckpoint(inc.checkpoint.note, ORIGIN, [parseVerifierKey(vkey)]);
    verifyInclusion(hashLeaf(inc.leaf), 1, checkpoint.size, inc.proof, checkpoint.rootHash);
    // The same inclusion as a C2SP tlog-proof file, checked by the core verifier.
    const v = verifyTlogProof(LedgerClient.tlogProof(inc), parsePolicy(`log ${vkey}\nquorum none\n`), { data: inc.leaf });
    expect(v.index).toBe(1);
    first = inc.checkpoint;

    const again = await c.submit(env);
    expect(again).toMatchObject({ index: 1, duplicate: true });
  });

  it('fills in ts and validates locally with the server schema before signing', () => {
    const env = alice.signTrustScore({ subject: 'spiffe://example.org/api', score: 0.7, components: { attestation: 1 }, model: 'm', policy: 'p', ttlSeconds: 60 });
    const p = JSON.parse(new TextDecoder().decode(fromBase64(env.payload)));
    expect(Date.now() - Date.parse(p.ts)).toBeLessThan(5000);
    expect(() => alice.signTrustScore({ ...trustScore('s', 1.5) })).toThrow(EntryError);
    try {
      alice.signTrustScore({ ...trustScore('s', 1.5) });
    } catch (e) {
      expect((e as EntryError).code).toBe('schema');
      expect((e as EntryError).field).toBe('score');
    }
  });

  it('submits a batch with one result per envelope, in order', async () => {
    const c = client();
    const envs = [alice.signEvidence(evidence()), mallory.signEvidence(evidence()), alice.signTrustScore(trustScore('spiffe://example.org/api', 0.9))];
    const r = await c.submitBatch(envs);
    expect(r.map((x) => x.ok)).toEqual([true, false, true]);
    expect(r[1]).toMatchObject({ ok: false, status: 403, code: 'unknown-key' });
    const last = r[2]!;
    if (!last.ok) throw new Error('unreachable');
    const inc = await c.waitForInclusion(last);
    expect(inc.index).toBe(last.index);
  });

  it('proves consistency, reads verified entries and roots from the tiles', async () => {
    const c = client();
    await c.waitForInclusion(await c.submit(alice.signEvidence(evidence())));
    const cp = await c.getCheckpoint();
    expect(cp.size).toBeGreaterThan(first.size);
    const r = await c.proveConsistency(first, cp);
    expect(r.from).toBe(first.size);
    expect(r.proof.length).toBeGreaterThan(0);

    const entries = [];
    for await (const e of c.entries(0, cp.size, cp)) entries.push(e);
    expect(entries.map((e) => e.index)).toEqual([...Array(cp.size).keys()]);
    for (const e of entries) {
      const served = (await (await fetchRetry(`${server.url}/v1/entries/${e.index}`)).json()) as { data: string };
      expect(toBase64(e.leaf)).toBe(served.data);
    }
    expect(decodeLeaf(entries[0]!.leaf).kind).toBe('producer');

    const tiles = c.tiles(cp);
    expect(toHex(await tiles.rootAt(cp.size))).toBe(toHex(cp.rootHash));
    expect(toHex(await tiles.rootAt(first.size))).toBe(toHex(first.rootHash));
    const proof = await tiles.inclusionProof(2, entries[2]!.leafHash);
    verifyInclusion(entries[2]!.leafHash, 2, cp.size, proof, cp.rootHash);
  });

  it('reads an old checkpoint\'s partial tiles from the full tiles once the log no longer serves them', async () => {
    const c = client();
    const old = await c.getCheckpoint();
    const r = await c.submitBatch(Array.from({ length: 256 }, () => alice.signEvidence(evidence())));
    await c.waitForInclusion(r[255] as { index: number });
    let partials = 0;
    const noPartials: typeof fetch = async (input, init) => {
      if (String(input).includes('.p/')) {
        partials++;
        return new Response(JSON.stringify({ error: { code: 'no-such-tile', message: 'pruned' } }), { status: 404 });
      }
      return fetch(input, init);
    };
    const pruned = client({ fetch: noPartials });
    const got = [];
    for await (const e of pruned.entries(0, old.size, old)) got.push(e.index);
    expect(got).toEqual([...Array(old.size).keys()]);
    expect(partials).toBe(2); // the level-0 tile and the entry bundle, each then read in full
    expect(toHex(await pruned.tiles(old).rootAt(old.size))).toBe(toHex(old.rootHash));
  });

  it('finds an entry by leaf hash and proves it', async () => {
    const c = client();
    const byIndex = await c.proveInclusion({ index: 1 });
    const byHash = await c.proveInclusion({ leafHash: byIndex.leafHash });
    expect(byHash.index).toBe(1);
    expect(byHash.proof.map(toHex)).toEqual(byIndex.proof.map(toHex));
  });
});

describe('the client refuses what does not verify', () => {
  it('an inclusion proof with one flipped byte', async () => {
    const c = client({ fetch: tampering(/^\/v1\/proof\/inclusion/, editJson((o) => (o.proof[0] = flipB64(o.proof[0])))) });
    expect(await codeOf(c.proveInclusion({ index: 1 }))).toBe('proof-invalid');
  });
  it('a proof served for another entry (data and leaf hash swapped in)', async () => {
    const other = (await (await fetchRetry(`${server.url}/v1/entries/2`)).json()) as { data: string; leafHash: string };
    const c = client({ fetch: tampering(/^\/v1\/entries\/1$/, editJson((o) => Object.assign(o, { data: other.data, leafHash: other.leafHash }))) });
    expect(await codeOf(c.proveInclusion({ index: 1 }))).toBe('proof-invalid');
  });
  it('entry data that does not hash to the stated leaf hash', async () => {
    const c = client({ fetch: tampering(/^\/v1\/entries\/1$/, editJson((o) => (o.data = flipB64(o.data)))) });
    expect(await codeOf(c.proveInclusion({ index: 1 }))).toBe('leaf-mismatch');
  });
  it('a leaf that does not hold the envelope it waits for', async () => {
    const c = client();
    const sub = await c.submit(alice.signEvidence(evidence()));
    const other = alice.signEvidence(evidence());
    expect(await codeOf(c.waitForInclusion({ ...sub, envelope: other }))).toBe('leaf-mismatch');
  });
  it('a checkpoint whose root was changed (the signature no longer verifies)', async () => {
    const c = client({
      fetch: tampering(/^\/checkpoint$/, (b) => {
        const lines = new TextDecoder().decode(b).split('\n');
        lines[2] = flipB64(lines[2]!);
        return new TextEncoder().encode(lines.join('\n'));
      }),
    });
    expect(await codeOf(c.getCheckpoint())).toBe('bad-checkpoint');
  });
  it('a checkpoint signed by another key of the same name', async () => {
    const c = client({ vkey: generateSignerKey(ORIGIN).vkey });
    expect(await codeOf(c.getCheckpoint())).toBe('bad-checkpoint');
  });
  it('a consistency proof with one flipped byte', async () => {
    const c = client();
    const old = await c.getCheckpoint();
    await c.waitForInclusion(await c.submit(alice.signEvidence(evidence())));
    const bad = client({ fetch: tampering(/^\/v1\/proof\/consistency/, editJson((o) => (o.proof[0] = flipB64(o.proof[0])))) });
    expect(await codeOf(bad.proveConsistency(old))).toBe('proof-invalid');
  });
  it('a hash tile with one flipped byte', async () => {
    const c = client({
      fetch: tampering(/^\/tile\/0\//, (b) => {
        b[40]! ^= 1;
        return b;
      }),
    });
    const cp = await c.getCheckpoint();
    expect(await codeOf((async () => { for await (const _ of c.entries(0, cp.size, cp)); })())).toBe('tile-mismatch');
  });
  it('an entry bundle with one flipped byte', async () => {
    const c = client({
      fetch: tampering(/^\/tile\/entries\//, (b) => {
        b[b.length - 1]! ^= 1;
        return b;
      }),
    });
    const cp = await c.getCheckpoint();
    expect(await codeOf((async () => { for await (const _ of c.entries(0, cp.size, cp)); })())).toBe('leaf-mismatch');
  });
  it('a checkpoint without the witness quorum the policy demands', async () => {
    const w = generateCosignerKey('witness.example/w1');
    const policy = `log ${vkey}\nwitness w1 ${w.vkey}\nquorum w1\n`;
    const c = client({ policy });
    expect(await codeOf(c.getCheckpoint())).toBe('quorum-not-met');
    const lenient = await c.getCheckpoint({ requireQuorum: false });
    expect(lenient.quorumMet).toBe(false);
    expect(lenient.witnesses).toEqual([]);
    // A policy that does not list the pinned key is a configuration error.
    expect(() => client({ policy: `log ${generateSignerKey(ORIGIN).vkey}\nquorum none\n` })).toThrow(/does not list the pinned log key/);
  });
});

describe('retries and backoff', () => {
  /** A fetch that answers `script` in turn (a Response, or an Error to throw), then passes to the real server. */
  function scripted(script: (Response | Error)[]): { fetch: typeof fetch; calls: () => number } {
    let n = 0;
    return {
      calls: () => n,
      fetch: async (input, init) => {
        const step = script[n++];
        if (step instanceof Error) throw step;
        if (step) return step;
        return fetch(input, init);
      },
    };
  }
  const answer = (status: number, headers: Record<string, string> = {}, code = 'storage-busy') =>
    new Response(JSON.stringify({ error: { code, message: 'busy' } }), { status, headers: { 'content-type': 'application/json', ...headers } });
  const fast = { baseDelayMs: 5, maxDelayMs: 20 };

  it('waits out Retry-After on 503, then succeeds', async () => {
    const s = scripted([answer(503, { 'retry-after': '1' })]);
    const t0 = Date.now();
    const cp = await client({ fetch: s.fetch, retry: fast }).getCheckpoint();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(cp.size).toBeGreaterThan(0);
    expect(s.calls()).toBe(2);
  });
  it('backs off on 429 and on network errors', async () => {
    const s = scripted([answer(429, {}, 'rate-limited'), new TypeError('fetch failed'), answer(502)]);
    await client({ fetch: s.fetch, retry: fast }).getCheckpoint();
    expect(s.calls()).toBe(4);
  });
  it('does not retry a 4xx refusal, and reports the server code', async () => {
    const s = scripted([]);
    const c = client({ fetch: s.fetch, retry: fast });
    try {
      await c.submit(mallory.signEvidence(evidence()));
      throw new Error('expected a refusal');
    } catch (e) {
      expect(e).toMatchObject({ code: 'rejected', status: 403, serverCode: 'unknown-key' });
    }
    expect(s.calls()).toBe(1);
  });
  it('gives up after the configured retries, or at once when Retry-After exceeds the limit', async () => {
    const always = scripted(Array.from({ length: 10 }, () => answer(503)));
    const err = await client({ fetch: always.fetch, retry: { ...fast, retries: 3 } }).getCheckpoint().catch((e) => e);
    expect(err).toMatchObject({ code: 'unavailable', status: 503, serverCode: 'storage-busy' });
    expect(always.calls()).toBe(4);
    const long = scripted([answer(503, { 'retry-after': '120' })]);
    expect(await codeOf(client({ fetch: long.fetch, retry: fast }).getCheckpoint())).toBe('unavailable');
    expect(long.calls()).toBe(1);
  });
  it('reports an unreachable server as a network error', async () => {
    const c = new LedgerClient({ url: 'http://127.0.0.1:1', vkey, retry: { ...fast, retries: 1 } });
    expect(await codeOf(c.getCheckpoint())).toBe('network');
  });
  it('reads Retry-After as seconds or as an HTTP-date (RFC 9110 §10.2.3)', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.UTC(2015, 9, 21, 7, 27, 30))).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});
