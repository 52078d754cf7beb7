// Worker thread of the benchmark: signs distinct evidence envelopes (Ed25519 over
// the DSSE PAE, node:crypto) and returns them as ready-to-send HTTP requests,
// packed into one transferable buffer per job.

import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { pae } from '../src/core/dsse.js';
import { payloadTypeOf } from '../src/core/entry.js';
import { postHead } from './client.js';

export interface GenJob {
  /** 'batch': one POST /v1/entries:batch per `batchSize` envelopes; 'single': one POST /v1/entries each. */
  mode: 'batch' | 'single';
  /** Sequence numbers first .. first+count-1 (each makes a distinct payload). */
  first: number;
  count: number;
  batchSize: number;
  /** Producers as [hex seed, keyid]; envelope i is signed by producer i mod n. */
  producers: [string, string][];
  /** Makes payloads distinct across benchmark runs. */
  nonce: string;
}

export interface GenResult {
  /** All requests back to back. */
  data: ArrayBuffer;
  /** Request k is data[offsets[k] .. offsets[k+1]). */
  offsets: Uint32Array;
}

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const PAYLOAD_TYPE = payloadTypeOf('evidence');

/** An evidence payload (PROTOCOL.md fields) of about 400 bytes, distinct for each n. */
function evidencePayload(n: number, nonce: string, now: string): Buffer {
  const digest = n.toString(16).padStart(16, '0') + nonce;
  return Buffer.from(
    JSON.stringify({
      ts: now,
      actor: 'ci-gate',
      action: 'deploy',
      artifact: `registry.example/app@sha256:${digest.padEnd(64, '0')}`,
      policy: 'prod-deploy-gate',
      target: 'prod',
      mode: 'enforce',
      trace: `trace-${nonce}-${n}`,
      result: 'allow',
      change: { repo: 'example/app', commit: digest.slice(0, 40).padEnd(40, '0'), pr: (n % 5000) + 1 },
    }),
  );
}

function run(job: GenJob): GenResult {
  const keys: { key: KeyObject; keyid: string }[] = job.producers.map(([seed, keyid]) => ({
    key: createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, Buffer.from(seed, 'hex')]), format: 'der', type: 'pkcs8' }),
    keyid,
  }));
  const now = new Date().toISOString();
  const envelopes: string[] = [];
  for (let i = 0; i < job.count; i++) {
    const n = job.first + i;
    const payload = evidencePayload(n, job.nonce, now);
    const p = keys[n % keys.length]!;
    const sig = sign(null, pae(PAYLOAD_TYPE, payload), p.key);
    envelopes.push(`{"payloadType":"${PAYLOAD_TYPE}","payload":"${payload.toString('base64')}","signatures":[{"keyid":"${p.keyid}","sig":"${sig.toString('base64')}"}]}`);
  }
  const requests: Buffer[] = [];
  if (job.mode === 'batch') {
    for (let i = 0; i < envelopes.length; i += job.batchSize) {
      const body = Buffer.from(`{"envelopes":[${envelopes.slice(i, i + job.batchSize).join(',')}]}`);
      requests.push(Buffer.from(postHead('/v1/entries:batch', body.length)), body);
    }
  } else {
    for (const e of envelopes) {
      const body = Buffer.from(e);
      requests.push(Buffer.from(postHead('/v1/entries', body.length)), body);
    }
  }
  const total = requests.reduce((s, b) => s + b.length, 0);
  const data = new ArrayBuffer(total);
  const view = new Uint8Array(data);
  const offsets = new Uint32Array(requests.length / 2 + 1);
  let o = 0;
  for (let k = 0; k < requests.length; k += 2) {
    offsets[k / 2] = o;
    view.set(requests[k]!, o);
    o += requests[k]!.length;
    view.set(requests[k + 1]!, o);
    o += requests[k + 1]!.length;
  }
  offsets[requests.length / 2] = o;
  return { data, offsets };
}

parentPort!.on('message', (job: GenJob) => {
  const r = run(job);
  parentPort!.postMessage(r, [r.data, r.offsets.buffer as ArrayBuffer]);
});
