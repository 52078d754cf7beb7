// The fuzz suites' tools: a seeded PRNG (so a failure reproduces from its seed
// and case number), hostile value makers, a request runner over keep-alive
// HTTP (paths sent byte for byte) or raw sockets, and the answer checks.

import { Agent, request } from 'node:http';
import { raw } from '../security/log.js';

/** The seed of a run: LEDGER_FUZZ_SEED, else a fixed default, so a failure reproduces. */
export const SEED = Number(process.env.LEDGER_FUZZ_SEED ?? 0x1ed6e7);

/** sfc32: small, fast, good enough for test input, fully determined by the seed. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  /** 0 <= n < max */
  int(max: number): number {
    return Math.floor((this.u32() / 2 ** 32) * max);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bool(p = 0.5): boolean {
    return this.u32() / 2 ** 32 < p;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const x = this.u32();
      out[i] = x;
      if (i + 1 < n) out[i + 1] = x >>> 8;
      if (i + 2 < n) out[i + 2] = x >>> 16;
      if (i + 3 < n) out[i + 3] = x >>> 24;
    }
    return out;
  }
  /** A string of n characters from the given alphabet. */
  chars(n: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[this.int(alphabet.length)];
    return s;
  }
}

// ---------------------------------------------------------------- hostile values

/** Numbers and sizes that no endpoint may accept. */
export const BAD_NUMBERS = [
  '-1', '-0', '+1', '01', '007', '1e3', '1E3', '0x10', '0b1', '0o7', '1.0', '1.', '.5', ' 1', '1 ', '%201', '1%20', '%2D1',
  'NaN', 'Infinity', '-Infinity', 'null', 'true', '', '%00', '1%00', '%FF', '%C0%B0', '%EF%BC%91', '١', '9007199254740993',
  '18446744073709551616', '99999999999999999999999999999999', '9'.repeat(400), '1,000', '1_000', '[1]', '{}', "1'", '1;', '%0A1',
];

/** Values of every JSON type but the one expected. */
export const WRONG_TYPES: unknown[] = [null, true, false, 0, -1, 1.5, 1e308, '', 'x', [], [1], {}, { a: 1 }, [[[]]]];

/** Strings that are not strict base64 of anything (RFC 4648 §4 with padding). */
export const BAD_BASE64 = [
  '!', '!!!!', 'A', 'AA', 'AAA', 'AAAAA', 'A===', 'AA=A', '====', 'QR==', 'QUJ=', 'Zm9v\n', ' Zm9v', 'Zm 9v', 'Zm9v=', 'Zm9v==',
  'Zm-_', 'Zm+_', '%Zm9', '\u00e9\u00e9\u00e9\u00e9', '\u0000AAA', 'AAAA\u0000', 'Zg', 'Zg=', 'Zm9vYg', 'Zm9vYmE',
];

/** Paths meant to escape the tile tree or confuse the router. */
export const TRAVERSAL = [
  '../', '..%2f', '%2e%2e/', '%2e%2e%2f', '..%5c', '%2e%2e%5c', '....//', '..;/', '%252e%252e%252f', '.%2e/', '%c0%ae%c0%ae/',
  '..\\', '/..', '%2f..', '//', '/./', '%00', '~', '$HOME/', '..%00/', '%ef%bc%8e%ef%bc%8e/',
];

/** Nested JSON of the given depth (arrays, objects, or unclosed). */
export function nested(rng: Rng, depth: number): string {
  switch (rng.int(4)) {
    case 0:
      return '['.repeat(depth) + ']'.repeat(depth);
    case 1:
      return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
    case 2:
      return '['.repeat(depth);
    default:
      return '{"payloadType":'.repeat(depth) + '"x"' + '}'.repeat(depth);
  }
}

/** Percent-encodes every byte (so any byte, including non-UTF-8, can go in a path or query). */
export function pct(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += '%' + b.toString(16).padStart(2, '0').toUpperCase();
  return s;
}

// ---------------------------------------------------------------- requests and answers

export interface Case {
  /** What this case is, for the failure message. */
  what: string;
  method?: string;
  /** Sent byte for byte (latin1), not normalised. */
  path?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Send the body chunked (no Content-Length). */
  chunked?: boolean;
  /** A request written to a raw socket instead (for what an HTTP client will not send). */
  raw?: (string | Uint8Array)[];
  /** Half-close after writing the raw request (a truncated body): no answer is then also fine. */
  rawEnd?: boolean;
  /** The exact status this case must get; otherwise any 4xx. */
  status?: number;
  /** For a batch: a 200 whose every result is a 4xx is also a refusal. */
  batch?: boolean;
}

export interface Answer {
  status: number;
  contentType: string;
  text: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 24 });

export async function send(port: number, c: Case): Promise<Answer> {
  try {
    return await sendOnce(port, c, agent);
  } catch (e) {
    // A kept-alive connection the server closed just as it was reused (Node's documented race):
    // the request never reached the server, so it is sent again on a new connection.
    if ((e as { reused?: boolean }).reused) return sendOnce(port, c, false);
    throw e;
  }
}

function sendOnce(port: number, c: Case, agent: Agent | false): Promise<Answer> {
  if (c.raw) {
    return raw(port, c.raw, { end: c.rawEnd ?? false, timeoutMs: 15_000 }).then((r) => ({
      status: r.status,
      contentType: /\r\ncontent-type: *([^\r]*)/i.exec(r.head)?.[1] ?? '',
      text: r.body,
    }));
  }
  return new Promise((resolve, reject) => {
    const body = c.body === undefined ? undefined : typeof c.body === 'string' ? Buffer.from(c.body, 'utf8') : Buffer.from(c.body);
    const headers: Record<string, string | number> = { ...c.headers };
    if (body !== undefined && !c.chunked) headers['content-length'] = body.length;
    // Node sends a path's characters as latin1 bytes and refuses others: those go percent-encoded.
    const path = (c.path ?? '/').replace(/[^\x21-\x7e\x80-\xff]/gu, (ch) => encodeURIComponent(ch));
    const req = request({ host: '127.0.0.1', port, agent, method: c.method ?? 'GET', path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (req.reusedSocket && e.code === 'ECONNRESET') reject(Object.assign(e, { reused: true }));
      // The server may answer (413) and close before a large body is all written.
      else if (e.code === 'EPIPE' || e.code === 'ECONNRESET') resolve({ status: -1, contentType: '', text: e.code });
      else reject(e);
    });
    if (body !== undefined && c.chunked) {
      for (let o = 0; o < body.length; o += 16_384) req.write(body.subarray(o, o + 16_384));
      req.end();
    } else req.end(body);
  });
}

/** The JSON error shape of PROTOCOL.md, exactly: {"error":{"code","message"}}. */
export function errorShapeProblem(a: { contentType: string; text: string }): string | undefined {
  if (!a.contentType.startsWith('application/json')) return `content-type ${a.contentType}`;
  let v: any;
  try {
    v = JSON.parse(a.text);
  } catch {
    return `body is not JSON: ${a.text.slice(0, 120)}`;
  }
  if (typeof v !== 'object' || v === null || Object.keys(v).join() !== 'error') return `body is not {error}: ${a.text.slice(0, 120)}`;
  const e = v.error;
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || !/^[a-z0-9]+(-[a-z0-9]+)*$/.test(e.code) || typeof e.message !== 'string')
    return `bad error object: ${a.text.slice(0, 120)}`;
  return undefined;
}

/** Why an answer is not an acceptable refusal of `c`, or undefined when it is. */
export function refusalProblem(c: Case, a: Answer, extra?: (a: Answer) => string | undefined): string | undefined {
  if (a.status === -1) return c.status === 413 ? undefined : `connection failed: ${a.text}`; // written past a 413 the server already sent
  if (a.status === 0) return c.rawEnd ? undefined : 'no answer';
  if (c.status !== undefined && a.status !== c.status) return `status ${a.status}, want ${c.status}: ${a.text.slice(0, 200)}`;
  if (c.batch && a.status === 200) {
    const v = JSON.parse(a.text) as { results: { status: number; error?: unknown }[] };
    for (const r of v.results) {
      if (!(r.status >= 400 && r.status < 500)) return `batch result ${r.status}`;
      const p = errorShapeProblem({ contentType: 'application/json', text: JSON.stringify({ error: r.error }) });
      if (p) return `batch result: ${p}`;
    }
    return undefined;
  }
  if (!(a.status >= 400 && a.status < 500)) return `status ${a.status}: ${a.text.slice(0, 200)}`;
  const special = extra?.(a);
  if (special !== undefined) return special === '' ? undefined : special;
  return errorShapeProblem(a);
}

/** Runs the cases `concurrency` at a time; returns the status counts and every problem found. */
export async function runCases(
  port: number,
  cases: Case[],
  concurrency: number,
  extra?: (a: Answer) => string | undefined,
): Promise<{ statuses: Map<number, number>; problems: string[] }> {
  const statuses = new Map<number, number>();
  const problems: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      const c = cases[i]!;
      let problem: string | undefined;
      try {
        const a = await send(port, c);
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        problem = refusalProblem(c, a, extra);
      } catch (e) {
        problem = `request failed: ${(e as Error).message}`;
      }
      if (problem) problems.push(`case ${i} (seed ${SEED}) ${c.what} ${c.method ?? 'GET'} ${(c.path ?? '').slice(0, 120)}: ${problem}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { statuses, problems };
}
