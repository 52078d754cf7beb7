// The ledger's HTTP API (hono): the read API of PROTOCOL.md (checkpoint,
// tlog-tiles, entries, proofs), the write API, health and metrics.

import type { IncomingMessage } from 'node:http';
import { Hono, type Context } from 'hono';
import { parseHash32 } from '../core/bytes.js';
import { decodeLeaf } from '../core/entry.js';
import { parseTilePath, TileError, TILE_WIDTH } from '../core/tiles.js';
import { LedgerError } from '../log/errors.js';
import type { Ledger, SubmitResult } from '../log/ledger.js';
import { HttpError, jsonError, parseIndex, parseJsonBody, readBody } from './http.js';
import { checkJsonDepth, readTokenFromEnv, requireReadToken } from './limits.js';

const IMMUTABLE = 'public, max-age=31536000, immutable';
const SHORT = 'public, max-age=2';


function parseLeafHash(s: string): Uint8Array {
  const h = parseHash32(s);
  if (!h) throw new HttpError(400, 'bad-leaf-hash', 'leafHash must be 32 bytes as hex or base64url');
  return h;
}

function optionalSize(c: Context, name: string): number | undefined {
  const v = c.req.query(name);
  return v === undefined ? undefined : parseIndex(v, name);
}

/** Base64 with Node's native encoder: half the time of the pure core's toBase64 (a proof answer's 21 hashes: 17 -> 9 us). */
const base64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
const b64 = (a: Uint8Array[]) => a.map(base64);

const tooLarge = (limit: number) => new HttpError(413, 'body-too-large', `request body is over the limit of ${limit} bytes`);

/**
 * readBody (http.ts) with the same limits and errors, reading straight from
 * Node's IncomingMessage when @hono/node-server serves the app: building the
 * WHATWG Request and ReadableStream that c.req.raw.body needs cost about half
 * of the main thread's time per single submission.
 */
function requestBody(c: Context, limit: number): Promise<Uint8Array> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (!incoming || incoming.readableDidRead || incoming.readableEnded) return readBody(c, limit);
  const declared = c.req.header('content-length');
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    const settle = (f: () => void) => {
      incoming.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      f();
    };
    const onData = (d: Buffer) => {
      n += d.length;
      if (n <= limit) return void chunks.push(d);
      // The rest is never read; the 413 goes out with connection: close (onError).
      incoming.pause();
      settle(() => reject(tooLarge(limit)));
    };
    const onEnd = () =>
      settle(() => {
        const b = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n);
        resolve(new Uint8Array(b.buffer, b.byteOffset, b.length));
      });
    const onError = (e: Error) => settle(() => reject(e));
    const onClose = () => settle(() => reject(incoming.errored ?? Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
    incoming.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

export function createApp(ledger: Ledger): Hono {
  const app = new Hono();

  app.onError((err, c) => {
    if (err instanceof HttpError || err instanceof LedgerError) {
      const headers: Record<string, string> = {};
      if (err instanceof LedgerError && err.retryAfter !== undefined) headers['retry-after'] = String(err.retryAfter);
      // The rest of an over-limit body is never read: the connection cannot carry another request.
      if (err.code === 'body-too-large') headers['connection'] = 'close';
      return jsonError(c, err.status, err.code, err.message, headers);
    }
    if (err instanceof TileError) return jsonError(c, 404, err.code, err.message);
    // The client went away (or timed out) while its body was being read: nobody to answer, nothing wrong here.
    if ((err as NodeJS.ErrnoException).code === 'ECONNRESET' && c.req.raw.signal.aborted)
      return jsonError(c, 400, 'request-aborted', 'the request ended before its body arrived');
    console.error(`internal error on ${c.req.method} ${c.req.path}: ${(err as Error).message}`);
    return jsonError(c, 500, 'internal', 'internal error');
  });
  app.notFound((c) => jsonError(c, 404, 'not-found', `no route for ${c.req.method} ${c.req.path}`));
  // A private log (config readTokenEnv): every read needs the bearer token; signed writes do not.
  const readToken = readTokenFromEnv(ledger.config.readTokenEnv);
  if (readToken !== undefined) app.use('*', requireReadToken(readToken));

  app.get('/healthz', (c) =>
    c.json({ ok: true, sequenced: ledger.sequenced(), treeSize: ledger.integrator.treeSize, published: ledger.latestPublished()?.size ?? 0 }),
  );
  app.get('/metrics', (c) => c.body(ledger.metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));

  app.get('/checkpoint', (c) => {
    const cp = ledger.latestPublished();
    if (!cp) return jsonError(c, 404, 'no-checkpoint', 'no checkpoint has been published yet');
    return c.body(cp.note, 200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': SHORT });
  });

  app.get('/tile/*', (c) => {
    const path = c.req.path.slice(1);
    const t = parseTilePath(path);
    if (t.kind === 'hash') {
      const data = ledger.tile(t.tile);
      if (!data) return jsonError(c, 404, 'no-such-tile', `tile ${path} is not in the tree yet`);
      return c.body(data as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/octet-stream', 'cache-control': t.tile.width === TILE_WIDTH ? IMMUTABLE : SHORT });
    }
    const data = ledger.entryBundle(t.index, t.width);
    if (!data) return jsonError(c, 404, 'no-such-tile', `entry bundle ${path} is not in the tree yet`);
    return c.body(data as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/octet-stream', 'cache-control': t.width === TILE_WIDTH ? IMMUTABLE : SHORT });
  });

  app.get('/v1/checkpoints/:size', (c) => {
    const size = parseIndex(c.req.param('size'), 'size');
    const cp = ledger.publishedCheckpoint(size);
    if (!cp) return jsonError(c, 404, 'no-such-checkpoint', `the log has published no checkpoint of size ${size}`);
    // Published once and never rewritten: a checkpoint of a size never differs.
    return c.body(cp.note, 200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': IMMUTABLE });
  });

  app.get('/v1/anchors/:size', (c) => {
    const size = parseIndex(c.req.param('size'), 'size');
    const receipt = ledger.anchorReceipt(size);
    if (receipt === undefined) return jsonError(c, 404, 'no-such-anchor', `no S3 anchor receipt is stored for a checkpoint of size ${size}`);
    return c.body(receipt, 200, { 'content-type': 'application/json', 'cache-control': SHORT });
  });

  app.get('/v1/entries/:index', (c) => {
    const e = ledger.entry(parseIndex(c.req.param('index'), 'index'));
    const r = decodeLeaf(e.leaf);
    return c.json({
      index: e.index,
      leafHash: base64(e.leafHash),
      data: base64(e.leaf),
      kind: r.kind,
      payloadType: r.envelope.payloadType,
      acceptedAt: new Date(r.time).toISOString(),
    });
  });

  app.get('/v1/proof/inclusion', (c) => {
    const lh = c.req.query('leafHash');
    const idx = c.req.query('index');
    if ((lh === undefined) === (idx === undefined)) throw new HttpError(400, 'bad-query', 'give exactly one of index or leafHash');
    const index = lh !== undefined ? ledger.findByLeafHash(parseLeafHash(lh)) : parseIndex(idx, 'index');
    const p = ledger.inclusion(index, optionalSize(c, 'treeSize'));
    return c.json({ index: p.index, treeSize: p.treeSize, leafHash: base64(p.leafHash), proof: b64(p.proof) });
  });

  app.get('/v1/proof/consistency', (c) => {
    const from = parseIndex(c.req.query('from'), 'from');
    const p = ledger.consistency(from, optionalSize(c, 'to'));
    return c.json({ from: p.from, to: p.to, proof: b64(p.proof) });
  });

  const answer = (r: SubmitResult) => ({
    index: r.index,
    leafHash: base64(r.leafHash),
    ...(r.checkpoint !== undefined ? { checkpoint: r.checkpoint, treeSize: r.treeSize, proof: b64(r.proof!) } : {}),
  });

  app.post('/v1/entries', async (c) => {
    const wait = c.req.query('wait');
    if (wait !== undefined && wait !== 'checkpoint') throw new HttpError(400, 'bad-query', 'wait must be "checkpoint"');
    const body = parseJsonBody(checkJsonDepth(await requestBody(c, ledger.config.maxBodyBytes)));
    const r: SubmitResult = await ledger.submit(body);
    if (wait === 'checkpoint') {
      const cp = await ledger.waitForCheckpoint(r.index);
      const p = ledger.inclusion(r.index, cp.size);
      Object.assign(r, { checkpoint: cp.note, treeSize: cp.size, proof: p.proof });
    }
    return c.json(answer(r), r.duplicate ? 200 : 201);
  });

  // The batch route is matched by hand: hono would read ":batch" as a parameter.
  app.post('/v1/*', async (c) => {
    if (c.req.path !== '/v1/entries:batch') return jsonError(c, 404, 'not-found', `no route for POST ${c.req.path}`);
    const body = parseJsonBody(checkJsonDepth(await requestBody(c, ledger.config.maxBodyBytes))) as { envelopes?: unknown };
    if (typeof body !== 'object' || body === null || !Array.isArray(body.envelopes))
      throw new HttpError(400, 'bad-batch', 'body must be {"envelopes": [ ... ]}');
    const envs = body.envelopes;
    if (envs.length === 0) throw new HttpError(400, 'bad-batch', 'envelopes is empty');
    if (envs.length > ledger.config.maxBatch) throw new HttpError(413, 'batch-too-large', `at most ${ledger.config.maxBatch} envelopes per batch`);
    const settled = await Promise.allSettled(envs.map((e) => ledger.submit(e)));
    let retryAfter = 0; // the longest wait any refused envelope was told (429 rate-limited, 503 storage-busy)
    const results = settled.map((s) => {
      if (s.status === 'fulfilled') return { status: s.value.duplicate ? 200 : 201, ...answer(s.value) };
      const e = s.reason;
      if (e instanceof LedgerError) {
        retryAfter = Math.max(retryAfter, e.retryAfter ?? 0);
        return { status: e.status, error: { code: e.code, message: e.message } };
      }
      return { status: 500, error: { code: 'internal', message: 'internal error' } };
    });
    return c.json({ results }, 200, retryAfter > 0 ? { 'retry-after': String(retryAfter) } : {});
  });

  return app;
}
