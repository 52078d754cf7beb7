// ledger submit: sign a payload with a producer key and submit it.

import { readFileSync } from 'node:fs';
import { envelopeToJSON, signEnvelope } from '../core/dsse.js';
import { payloadTypeOf, PRODUCER_KINDS, validatePayload, type ProducerKind } from '../core/entry.js';
import { parsePrivateKeyPem } from '../core/pem.js';
import { flags, readStdin, required, UsageError } from './args.js';

export async function submit(argv: string[]): Promise<number> {
  const { values } = flags(argv, {
    url: { type: 'string' },
    key: { type: 'string' },
    type: { type: 'string' },
    file: { type: 'string' },
    wait: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  const url = required(values.url, 'url').replace(/\/$/, '');
  const kind = required(values.type, 'type') as ProducerKind;
  if (!PRODUCER_KINDS.includes(kind)) throw new UsageError(`--type must be one of ${PRODUCER_KINDS.join(', ')}`);
  const seed = parsePrivateKeyPem(readFileSync(required(values.key, 'key'), 'utf8'));
  const text = values.file ? readFileSync(values.file, 'utf8') : await readStdin();
  const payload = new TextEncoder().encode(text.trim());
  validatePayload(kind, payload, { now: Date.now() });
  const env = signEnvelope(payloadTypeOf(kind), payload, seed);
  const res = await fetch(`${url}/v1/entries${values.wait ? '?wait=checkpoint' : ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(envelopeToJSON(env)),
  });
  const body = (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } };
  if (!res.ok) {
    process.stderr.write(`error: ${res.status} ${body.error?.code}: ${body.error?.message}\n`);
    return 1;
  }
  if (values.json) process.stdout.write(JSON.stringify(body) + '\n');
  else process.stdout.write(`index ${body.index}\nleafHash ${body.leafHash}\n${res.status === 200 ? 'duplicate of an existing entry\n' : ''}`);
  return 0;
}
