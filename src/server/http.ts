// Helpers shared by the ledger's and the witness's HTTP apps: the JSON error
// shape, strict number parsing, and a body reader that enforces a size limit
// before the body is read whole.

import type { Context } from 'hono';
import { concat } from '../core/bytes.js';

/** Parses HOST:PORT (IPv6 hosts in brackets). */
export function parseListen(s: string): { hostname: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(s);
  if (!m || Number(m[2]) > 65535) throw new Error(`--listen must be HOST:PORT, got ${s}`);
  return { hostname: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export interface ErrorBody {
  error: { code: string; message: string };
}

export function jsonError(c: Context, status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  const body: ErrorBody = { error: { code, message } };
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A non-negative decimal integer without sign, leading zeros or exponent, within 2^53. */
export function parseIndex(s: string | undefined, name: string): number {
  if (s === undefined || !/^(0|[1-9][0-9]{0,15})$/.test(s)) throw new HttpError(400, 'bad-number', `${name} must be a non-negative decimal integer`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new HttpError(400, 'bad-number', `${name} is too large`);
  return n;
}

/**
 * Reads the request body up to `limit` bytes. A declared Content-Length over the
 * limit is refused before reading; a streamed body is cut off as soon as it passes it.
 * A body that ends with the connection (the client went away) is 400 request-aborted.
 */
export async function readBody(c: Context, limit: number): Promise<Uint8Array> {
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > limit) throw new HttpError(413, 'body-too-large', `request body is over the limit of ${limit} bytes`);
  const stream = c.req.raw.body;
  if (!stream) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      // The client went away (or was cut off by a timeout) mid-body: its fault, and nobody is left to read the answer.
      throw new HttpError(400, 'request-aborted', 'the request ended before its body arrived');
    }
    const { done, value } = next;
    if (done) break;
    n += value.length;
    if (n > limit) {
      await reader.cancel().catch(() => {});
      throw new HttpError(413, 'body-too-large', `request body is over the limit of ${limit} bytes`);
    }
    chunks.push(value);
  }
  return concat(...chunks);
}

/** Parses a JSON body, refusing non-UTF-8 bytes and malformed JSON with 400. */
export function parseJsonBody(body: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new HttpError(400, 'malformed-json', 'request body is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, 'malformed-json', `request body is not valid JSON: ${(e as Error).message}`);
  }
}
