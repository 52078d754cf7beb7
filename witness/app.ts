// The witness's HTTP API (hono):
//
//   POST /add-checkpoint                     C2SP tlog-witness (submission prefix = /)
//   GET  /<hex SHA-256 of origin>/checkpoint  the latest cosigned checkpoint, for monitors
//   GET  /healthz, GET /metrics

import { Hono } from 'hono';
import { Metrics } from '../src/log/metrics.js';
import { HttpError, jsonError, readBody } from '../src/server/http.js';
import { formatSizeBody, SIZE_CONTENT_TYPE } from '../src/witnessing/protocol.js';
import { Witness, WitnessError } from './witness.js';
import type { WitnessStore } from './store.js';

/** Largest add-checkpoint body: 63 proof lines and a note with many signatures fit many times over. */
export const MAX_BODY_BYTES = 128 * 1024;

const TEXT = 'text/plain; charset=utf-8';

export function createWitnessApp(witness: Witness, store: WitnessStore, metrics = new Metrics()): Hono {
  const app = new Hono();
  const requests = metrics.counter('witness_add_checkpoint_total', 'add-checkpoint answers, by HTTP status and reason');
  metrics.gauge('witness_cosigned_size', 'Size of the latest checkpoint cosigned, by origin', () =>
    store.all().map((s) => ({ labels: { origin: s.origin }, value: s.size })),
  );

  app.onError((err, c) => {
    if (err instanceof HttpError) return jsonError(c, err.status, err.code, err.message);
    console.error(`internal error on ${c.req.method} ${c.req.path}: ${(err as Error).message}`);
    return jsonError(c, 500, 'internal', 'internal error');
  });
  app.notFound((c) => jsonError(c, 404, 'not-found', `no route for ${c.req.method} ${c.req.path}`));

  app.post('/add-checkpoint', async (c) => {
    const body = await readBody(c, MAX_BODY_BYTES);
    try {
      const r = witness.addCheckpoint(body);
      requests.inc({ status: '200', reason: 'cosigned' });
      return c.body(r.body, 200, { 'content-type': TEXT, 'cache-control': 'no-store' });
    } catch (e) {
      if (!(e instanceof WitnessError)) throw e;
      requests.inc({ status: String(e.status), reason: e.code });
      if (e.status === 409) {
        // tlog-witness: "The response body MUST consist of the tree size of the latest
        // cosigned checkpoint in decimal, followed by a newline (U+000A). The response
        // MUST have a Content-Type of text/x.tlog.size." (a Response, so nothing is added)
        return new Response(formatSizeBody(e.size!), { status: 409, headers: { 'content-type': SIZE_CONTENT_TYPE } });
      }
      return jsonError(c, e.status, e.code, e.message);
    }
  });
  // "The request MUST be an HTTP POST."
  app.all('/add-checkpoint', (c) => jsonError(c, 405, 'method-not-allowed', 'add-checkpoint takes POST', { allow: 'POST' }));

  app.get('/:hash{[0-9a-f]{64}}/checkpoint', (c) => {
    const s = witness.latest(c.req.param('hash'));
    if (!s) return jsonError(c, 404, 'no-checkpoint', 'this witness has cosigned no checkpoint for that origin');
    return c.body(s.note, 200, { 'content-type': TEXT, 'cache-control': 'no-store' });
  });

  app.get('/healthz', (c) => c.json({ ok: true, vkey: witness.vkey, logs: store.all().map((s) => ({ origin: s.origin, size: s.size })) }));
  app.get('/metrics', (c) => c.body(metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }));
  return app;
}
