// Limits that keep one client from hurting the others: a per-producer token
// bucket (429 with Retry-After), optional bearer-token protection of the read
// API, and an HTTP server with a connection cap, timeouts for slow clients and
// JSON answers even to requests too malformed to reach the app.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { getRequestListener, RequestError } from '@hono/node-server';
import type { MiddlewareHandler } from 'hono';
import { ConfigError } from '../log/config.js';
import { LedgerError } from '../log/errors.js';
import { HttpError } from './http.js';

// ---------------------------------------------------------------- rate limits

/** A token bucket: `burst` tokens at most, refilled at `rate` tokens per second. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token. Returns 0 if it was taken, else the seconds until one will be there. */
  take(now: number): number {
    const elapsed = Math.max(0, now - this.last) / 1000; // a clock that steps back refills nothing
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.rate);
    this.last = Math.max(this.last, now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return (1 - this.tokens) / this.rate;
  }
}

/**
 * One token bucket per producer key. Submissions are charged only after their
 * signature verified against the registry, so nobody can spend another
 * producer's budget, and the number of buckets is bounded by the registry.
 */
export class ProducerRateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  readonly burst: number;

  constructor(
    readonly ratePerSecond: number,
    burst: number,
  ) {
    if (!(ratePerSecond > 0)) throw new ConfigError('bad-config', 'producerRatePerSecond must be positive to limit');
    this.burst = burst >= 1 ? Math.floor(burst) : Math.max(1, Math.ceil(ratePerSecond));
  }

  /** Charges one submission to `keyid`; throws 429 `rate-limited` with Retry-After (whole seconds, RFC 9110 §10.2.3) when its bucket is empty. */
  charge(keyid: string, now = Date.now()): void {
    let b = this.buckets.get(keyid);
    if (!b) this.buckets.set(keyid, (b = new TokenBucket(this.ratePerSecond, this.burst, now)));
    const wait = b.take(now);
    if (wait > 0) {
      const retryAfter = Math.max(1, Math.ceil(wait));
      throw new LedgerError(429, 'rate-limited', `this producer may submit ${this.ratePerSecond} entries per second (burst ${this.burst}); retry in ${retryAfter} s`, retryAfter);
    }
  }
}

// ---------------------------------------------------------------- read token

/**
 * The read token named by the config's `readTokenEnv`, or undefined when the
 * read API is public. A named but unset or empty variable refuses to start:
 * a private log must never come up public by mistake. The value is never put
 * in a message.
 */
export function readTokenFromEnv(envName: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (envName === undefined || envName === '') return undefined;
  const token = env[envName];
  if (token === undefined || token.trim() === '')
    throw new ConfigError('no-read-token', `readTokenEnv names the environment variable ${envName}, which is unset or empty`);
  return token.trim();
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * Requires `Authorization: Bearer <token>` (RFC 6750 §2.1) on every request but
 * the signed writes (POST), which their producer signatures authorise. The
 * comparison runs in constant time over SHA-256 digests, so neither the token's
 * bytes nor its length leak through timing.
 */
export function requireReadToken(token: string): MiddlewareHandler {
  const want = digest(token);
  return async (c, next) => {
    if (c.req.method === 'POST') return next();
    const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(c.req.header('authorization') ?? '');
    if (!m || !timingSafeEqual(digest(m[1]!), want)) {
      return new Response(errorBody('unauthorized', 'this log is private: send Authorization: Bearer <read token>'), {
        status: 401,
        headers: { ...JSON_HEADERS, 'www-authenticate': 'Bearer realm="ledger"' },
      });
    }
    return next();
  };
}

// ---------------------------------------------------------------- JSON nesting

/** Deepest nesting of arrays and objects a request body may have: an envelope needs 3, a batch 4. */
export const MAX_JSON_DEPTH = 64;

/**
 * Refuses (400 json-too-deep) a JSON text nested deeper than `max`, before it is
 * parsed: a deep value overflows the stack of every recursive consumer (structured
 * clone to a worker thread, canonicalisation, a schema walk). One pass over the
 * bytes, brackets inside strings not counted; malformed JSON is left to the parser.
 */
export function checkJsonDepth(body: Uint8Array, max = MAX_JSON_DEPTH): Uint8Array {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const b = body[i]!;
    if (inString) {
      if (b === 0x5c) i++; // backslash: skip the escaped byte
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > max) throw new HttpError(400, 'json-too-deep', `the JSON body is nested deeper than ${max} levels`);
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return body;
}

// ---------------------------------------------------------------- the HTTP server

export interface ServerLimits {
  /** Concurrent connections; further ones are closed at once until some end. */
  maxConnections: number;
  /** The whole request, headers and body, must arrive within this time (else 408). */
  requestTimeoutMs: number;
  /** The request headers must arrive within this time (else 408). */
  headersTimeoutMs: number;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

/** What a request that never reached the app is answered with, by the parser's error code. */
function clientErrorAnswer(code: string | undefined): [number, string, string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'headers-too-large', 'the request headers are too large'];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'request-timeout', 'the request did not arrive in time'];
  return [400, 'bad-request', 'the request is not valid HTTP/1.1'];
}

/**
 * Starts an HTTP server for `fetch` on host:port with the limits applied, and
 * resolves once it listens. Every answer is JSON with the error shape, even
 * for requests Node's parser refuses (bad request line, header overflow, slow
 * client) or that carry no usable URL or Host.
 */
export function listen(fetch: (req: Request) => Response | Promise<Response>, at: { hostname: string; port: number }, limits: ServerLimits): Promise<Server> {
  const listener = getRequestListener(fetch, {
    hostname: at.hostname,
    errorHandler: (e) => {
      if (e instanceof RequestError) return new Response(errorBody('bad-request', 'the request target or Host header is malformed'), { status: 400, headers: JSON_HEADERS });
      console.error(`internal error before routing: ${(e as Error).message}`);
      return new Response(errorBody('internal', 'internal error'), { status: 500, headers: JSON_HEADERS });
    },
  });
  const headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const server = createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout,
      // Node checks the two timeouts above only this often (default 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeout / 2))),
      // Node's own refusal has no body; the same refusal is made below, in JSON.
      requireHostHeader: false,
    },
    (req, res) => {
      // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without a Host header.
      if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
        res.writeHead(400, { ...JSON_HEADERS, connection: 'close' }).end(errorBody('missing-host', 'an HTTP/1.1 request must carry a Host header'));
        return;
      }
      void listener(req, res);
    },
  );
  server.maxConnections = limits.maxConnections;
  // Idle keep-alive connections stay open 30 s (Node's default is 5 s): a client whose event loop
  // stalls for a few seconds then reuses a socket the server has just closed ("other side closed").
  server.keepAliveTimeout = 30_000;
  // A connection that moves no bytes at all for this long is closed (it outlasts wait=checkpoint's 30 s).
  server.setTimeout(Math.max(2 * limits.requestTimeoutMs, 35_000));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex & { _httpMessage?: { headersSent?: boolean } | null }) => {
    // Answer unless a response is already part written on this connection: the check of Node's own
    // default handler (lib/_http_server.js socketOnError), which an answer here would otherwise corrupt.
    if (err.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
      socket.destroy();
      return;
    }
    const [status, code, message] = clientErrorAnswer(err.code);
    const body = errorBody(code, message);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: ${JSON_HEADERS['content-type']}\r\ncache-control: no-store\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.hostname, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
