// Limits: the per-producer token bucket (429 with Retry-After), the request
// body limit enforced before the body is read whole, the cap on concurrent
// connections, and timeouts for slow clients, against a real `ledger serve`.

import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerError } from '../../src/log/errors.js';
import { checkJsonDepth, MAX_JSON_DEPTH, ProducerRateLimiter, TokenBucket } from '../../src/server/limits.js';
import { HttpError } from '../../src/server/http.js';
import { utf8 } from '../../src/core/bytes.js';
import { BIN, startServe, type Server } from '../helpers/procs.js';
import { TestProducer, evidence } from '../helpers/producer.js';
import { makeLog, postJson, raw, type TestLog } from './log.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('token bucket', () => {
  it('allows a burst, then one token per 1/rate seconds, and says how long to wait', () => {
    const b = new TokenBucket(2, 3, 0);
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([0, 0, 0]);
    expect(b.take(0)).toBeCloseTo(0.5);
    expect(b.take(250)).toBeCloseTo(0.25); // half a token refilled, not taken
    expect(b.take(500)).toBe(0);
    expect(b.take(10_000)).toBe(0); // refilled to the burst, not beyond
    expect([b.take(10_000), b.take(10_000), b.take(10_000)].map((x) => x > 0)).toEqual([false, false, true]);
  });
  it('refills nothing when the clock steps back', () => {
    const b = new TokenBucket(1, 1, 10_000);
    expect(b.take(10_000)).toBe(0);
    expect(b.take(5_000)).toBeGreaterThan(0);
    expect(b.take(10_500)).toBeCloseTo(0.5);
  });
  it('limits each producer key on its own, with 429 rate-limited and Retry-After in whole seconds', () => {
    const l = new ProducerRateLimiter(0.5, 2);
    l.charge('a', 0);
    l.charge('a', 0);
    let err: unknown;
    try {
      l.charge('a', 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LedgerError);
    expect((err as LedgerError).status).toBe(429);
    expect((err as LedgerError).code).toBe('rate-limited');
    expect((err as LedgerError).retryAfter).toBe(2);
    expect(() => l.charge('b', 0)).not.toThrow();
    expect(() => l.charge('a', 2000)).not.toThrow();
  });
  it('defaults the burst to one second of rate', () => {
    expect(new ProducerRateLimiter(5, 0).burst).toBe(5);
    expect(new ProducerRateLimiter(0.2, 0).burst).toBe(1);
  });
});

describe('JSON nesting limit', () => {
  const depthError = (text: string) => {
    try {
      checkJsonDepth(utf8(text));
      return undefined;
    } catch (e) {
      return e instanceof HttpError ? `${e.status} ${e.code}` : String(e);
    }
  };
  it(`allows ${MAX_JSON_DEPTH} levels and refuses one more, counting arrays and objects alike`, () => {
    expect(depthError('['.repeat(64) + ']'.repeat(64))).toBeUndefined();
    expect(depthError('['.repeat(65) + ']'.repeat(65))).toBe('400 json-too-deep');
    expect(depthError('{"a":'.repeat(32) + '[' .repeat(33) + ']'.repeat(33) + '}'.repeat(32))).toBe('400 json-too-deep');
    expect(depthError('['.repeat(100_000))).toBe('400 json-too-deep'); // unclosed: refused before any parser recurses
  });
  it('does not count brackets inside strings, escaped quotes included', () => {
    expect(depthError(JSON.stringify({ s: '['.repeat(1000) + '\\"[[[' + '{'.repeat(1000) }))).toBeUndefined();
    expect(depthError(JSON.stringify(['"\\', '[[[['.repeat(100)]))).toBeUndefined();
  });
});

describe('per-producer rate limit over HTTP', () => {
  let log: TestLog;
  let server: Server;
  beforeAll(async () => {
    log = makeLog({ producerRatePerSecond: 1, producerBurst: 3 }, 2);
    server = await startServe(BIN.ledger, log.dir);
  });
  afterAll(async () => {
    await server?.kill();
  });

  it('answers 429 rate-limited with Retry-After once a producer spent its burst; others, forgers and the log are unaffected', async () => {
    const [p0, p1] = log.producers as [TestProducer, TestProducer];
    const url = `${server.url}/v1/entries`;
    // Envelopes that name p0's keyid but are signed by someone else are refused on the signature
    // and spend nothing of p0's budget: p0 still has its whole burst afterwards.
    const mallory = new TestProducer();
    const keyid = (p0.envelope('evidence', evidence()) as { signatures: { keyid: string }[] }).signatures[0]!.keyid;
    for (let i = 0; i < 10; i++) {
      const forged = mallory.envelope('evidence', evidence()) as { signatures: { keyid: string; sig: string }[] };
      forged.signatures[0]!.keyid = keyid;
      expect((await postJson(url, forged)).status).toBe(403);
    }
    for (let i = 0; i < 3; i++) expect((await postJson(url, p0.envelope('evidence', evidence()))).status).toBe(201);
    const limited = await postJson(url, p0.envelope('evidence', evidence()));
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate-limited');
    expect(limited.headers.get('retry-after')).toBe('1');
    expect((await postJson(url, p1.envelope('evidence', evidence()))).status).toBe(201); // p1 has its own bucket
    await sleep(1000 * Number(limited.headers.get('retry-after')) + 100);
    expect((await postJson(url, p0.envelope('evidence', evidence()))).status).toBe(201); // Retry-After was honest

    // In a batch, each envelope is charged on its own.
    const batch = await postJson(`${server.url}/v1/entries:batch`, { envelopes: Array.from({ length: 5 }, () => p1.envelope('evidence', evidence())) });
    // p1 spent 1 of 3 tokens, then refilled to its burst of 3 during the wait above.
    expect(batch.body.results.map((r: { status: number }) => r.status)).toEqual([201, 201, 201, 429, 429]);
    expect(batch.body.results[4].error.code).toBe('rate-limited');
    expect(batch.headers.get('retry-after')).toBe('1');

    const h = (await (await fetch(`${server.url}/healthz`)).json()) as { sequenced: number };
    expect(h.sequenced).toBe(2 + 3 + 1 + 1 + 3); // two registrations and the 201s, nothing refused
  });
});

describe('request body limit', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServe(BIN.ledger, makeLog({ maxBodyBytes: 65_536 }).dir);
  });
  afterAll(async () => {
    await server?.kill();
  });

  it('refuses a declared Content-Length over the limit with 413 before the body is sent', async () => {
    const r = await raw(server.port, ['POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{'], { timeoutMs: 5000 });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).error.code).toBe('body-too-large');
    expect(r.ms).toBeLessThan(3000);
  });

  it('cuts off a chunked body as soon as it passes the limit, answering 413 before the rest is sent', async () => {
    const chunk = `4000\r\n${' '.repeat(0x4000)}\r\n`; // 16 KiB chunks
    const chunks = ['POST /v1/entries:batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', ...Array(40).fill(chunk)];
    const r = await raw(server.port, chunks, { pauseMs: 25, timeoutMs: 10_000 });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).error.code).toBe('body-too-large');
    expect(r.writtenBeforeAnswer).toBeLessThan(10); // answered soon after 64 KiB, long before 40 chunks (640 KiB) were sent
    expect(r.written).toBeLessThan(40); // and closed the connection
  });

  it('refuses a body nested 30,000 levels deep with 400 json-too-deep and keeps running', async () => {
    for (const body of ['['.repeat(30_000) + ']'.repeat(30_000), `{"envelopes":${'['.repeat(50_000)}]}`]) {
      const r = await fetch(`${server.url}/v1/entries${body.startsWith('{') ? ':batch' : ''}`, { method: 'POST', body });
      expect(r.status).toBe(400);
      expect(((await r.json()) as any).error.code).toBe('json-too-deep');
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(server.proc.exitCode).toBeNull();
  });

  it('reads a body of exactly the limit and refuses one byte more', async () => {
    const at = '{"x":' + ' '.repeat(65_536 - 7) + '1}';
    expect(at.length).toBe(65_536);
    const ok = await fetch(`${server.url}/v1/entries`, { method: 'POST', body: at });
    expect(ok.status).toBe(400);
    expect(((await ok.json()) as any).error.code).not.toBe('body-too-large');
    const over = await fetch(`${server.url}/v1/entries`, { method: 'POST', body: at + ' ' });
    expect(over.status).toBe(413);
    expect(((await over.json()) as any).error.code).toBe('body-too-large');
  });
});

describe('connections and slow clients', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServe(BIN.ledger, makeLog({ maxConnections: 3, headersTimeoutMs: 500, requestTimeoutMs: 1000 }).dir);
  });
  afterAll(async () => {
    await server?.kill();
  });

  it('closes connections over the cap at once, and serves again when some end', async () => {
    const idle: Socket[] = await Promise.all(
      [0, 1, 2].map(() => new Promise<Socket>((res) => {
        const s = connect(server.port, '127.0.0.1', () => res(s));
        s.on('error', () => {});
      })),
    );
    await sleep(50);
    const over = await raw(server.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], { timeoutMs: 2000 });
    expect(over.status).toBe(0);
    expect(over.ms).toBeLessThan(400); // closed at once, not left to time out
    for (const s of idle) s.destroy();
    await sleep(50);
    const ok = await raw(server.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(ok.status).toBe(200);
  });

  it('answers 408 request-timeout to a client that never finishes its headers, trickling or not', async () => {
    const stalled = await raw(server.port, ['GET /checkpoint HTTP/1.1\r\nHost: x\r\n'], { timeoutMs: 5000 });
    expect(stalled.status).toBe(408);
    expect(JSON.parse(stalled.body).error.code).toBe('request-timeout');
    expect(stalled.ms).toBeGreaterThanOrEqual(400);
    expect(stalled.ms).toBeLessThan(2500);
    const trickle = await raw(server.port, ['GET /checkpoint HTTP/1.1\r\n', ...Array.from({ length: 30 }, (_, i) => `X-${i}: y\r\n`)], { pauseMs: 100, timeoutMs: 6000 });
    expect(trickle.status).toBe(408);
    expect(trickle.written).toBeLessThan(30);
  });

  it('closes a request whose body stalls once the request timeout passes', async () => {
    const r = await raw(server.port, ['POST /v1/entries HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"payload'], { timeoutMs: 6000 });
    expect(r.ms).toBeLessThan(4000);
    expect(r.status).toBe(408);
    expect(JSON.parse(r.body).error.code).toBe('request-timeout');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(server.stderr()).not.toMatch(/internal error/);
  });
});
