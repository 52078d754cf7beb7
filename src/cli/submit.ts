// ledger submit: build a payload (JSON file, stdin, or flags for the common
// fields), validate it with the schema the server uses, sign it with a
// producer key, submit it, and with --wait prove its inclusion.
//
// The payload is signed byte for byte as read unless a flag (or the default
// `ts`) changes it; then it is re-serialised with JSON.stringify. A JSON array
// is a batch: each element is one payload.

import { readFileSync } from 'node:fs';
import { ConfigError, readPrivateKeyFile } from '../log/config.js';
import { toBase64, utf8 } from '../core/bytes.js';
import { parseCheckpoint } from '../core/checkpoint.js';
import { EntryError, PRODUCER_KINDS, type ProducerKind } from '../core/entry.js';
import { ProofError, verifyInclusion } from '../core/merkle.js';
import { parseNote } from '../core/note.js';
import { KeyError } from '../core/pem.js';
import { LedgerClient, LedgerClientError, ProducerKey, type EnvelopeJSON, type Submission, type VerifiedInclusion } from '../client/index.js';
import { flags, readStdin, required, UsageError } from './args.js';
import { failure, LOG_FLAGS, openClient } from './prove.js';

const STRING_FIELDS: Record<string, { kinds: ProducerKind[]; field: string }> = {
  ts: { kinds: ['evidence', 'trust-score'], field: 'ts' },
  actor: { kinds: ['evidence'], field: 'actor' },
  action: { kinds: ['evidence'], field: 'action' },
  artifact: { kinds: ['evidence'], field: 'artifact' },
  target: { kinds: ['evidence'], field: 'target' },
  mode: { kinds: ['evidence'], field: 'mode' },
  trace: { kinds: ['evidence'], field: 'trace' },
  result: { kinds: ['evidence'], field: 'result' },
  reason: { kinds: ['evidence'], field: 'reason' },
  // --policy names the tlog-policy file, as in every client command.
  'policy-name': { kinds: ['evidence', 'trust-score'], field: 'policy' },
  subject: { kinds: ['trust-score'], field: 'subject' },
  model: { kinds: ['trust-score'], field: 'model' },
};

const OPTIONS = {
  ...LOG_FLAGS,
  key: { type: 'string' },
  type: { type: 'string' },
  file: { type: 'string' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  ...Object.fromEntries(Object.keys(STRING_FIELDS).map((k) => [k, { type: 'string' }])),
  score: { type: 'string' },
  ttl: { type: 'string' },
  component: { type: 'string', multiple: true },
  evidence: { type: 'string', multiple: true },
} as const;

/** The payload fields given as flags, for `kind`; a flag of another kind is a usage error. */
function fieldFlags(values: Record<string, string | string[] | boolean | undefined>, kind: ProducerKind): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const allow = (flag: string, kinds: ProducerKind[]) => {
    if (!kinds.includes(kind)) throw new UsageError(`--${flag} does not apply to ${kind} payloads`);
  };
  for (const [flag, { kinds, field }] of Object.entries(STRING_FIELDS)) {
    const v = values[flag];
    if (v === undefined) continue;
    allow(flag, kinds);
    out[field] = v;
  }
  const number = (flag: string, s: string, integer: boolean): number => {
    const n = Number(s);
    if (s.trim() === '' || !Number.isFinite(n) || (integer && !Number.isSafeInteger(n))) throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'}, got ${s}`);
    return n;
  };
  if (values.score !== undefined) {
    allow('score', ['trust-score']);
    out.score = number('score', values.score as string, false);
  }
  if (values.ttl !== undefined) {
    allow('ttl', ['trust-score']);
    out.ttlSeconds = number('ttl', values.ttl as string, true);
  }
  if (values.component !== undefined) {
    allow('component', ['trust-score']);
    const components: Record<string, number> = {};
    for (const c of values.component as string[]) {
      const eq = c.lastIndexOf('=');
      if (eq <= 0) throw new UsageError(`--component must be NAME=VALUE, got ${c}`);
      components[c.slice(0, eq)] = number('component', c.slice(eq + 1), false);
    }
    out.components = components;
  }
  if (values.evidence !== undefined) {
    allow('evidence', ['trust-score']);
    out.evidence = values.evidence;
  }
  return out;
}

export async function submit(argv: string[]): Promise<number> {
  const { values } = flags(argv, OPTIONS);
  const kind = required(values.type, 'type') as ProducerKind;
  if (!PRODUCER_KINDS.includes(kind)) throw new UsageError(`--type must be one of ${PRODUCER_KINDS.join(', ')}`);
  const timeoutMs = values.timeout !== undefined ? Number(values.timeout) * 1000 : 60_000;
  if (!(timeoutMs > 0)) throw new UsageError('--timeout must be a positive number of seconds');
  let key: ProducerKey;
  try {
    key = ProducerKey.fromPem(readPrivateKeyFile(required(values.key, 'key')));
  } catch (e) {
    if (e instanceof KeyError || e instanceof ConfigError) throw new UsageError(`--key ${values.key}: ${e.code}: ${e.message}`);
    throw e;
  }
  const client = openClient(values, false);
  const fields = fieldFlags(values, kind);

  // Input: --file (or - for stdin); stdin when no field flag is given; else only the flags.
  let text: string | undefined;
  if (values.file !== undefined) text = values.file === '-' ? await readStdin() : readFileSync(values.file, 'utf8');
  else if (Object.keys(fields).length === 0) text = await readStdin();
  let input: unknown = {};
  if (text !== undefined) {
    try {
      input = JSON.parse(text);
    } catch (e) {
      throw new UsageError(`the payload is not JSON: ${(e as Error).message}`);
    }
  }

  const now = Date.now();
  const envelopes: EnvelopeJSON[] = [];
  try {
    for (const p of Array.isArray(input) ? input : [input]) {
      if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new UsageError('each payload must be a JSON object');
      const asIs = text !== undefined && !Array.isArray(input) && Object.keys(fields).length === 0 && (kind === 'in-toto' || (p as Record<string, unknown>).ts !== undefined);
      envelopes.push(key.sign(kind, asIs ? utf8(text!.trim()) : { ...(p as Record<string, unknown>), ...fields }, { now }));
    }
  } catch (e) {
    if (!(e instanceof EntryError)) throw e;
    // Refused here with the server's own schema: nothing was sent.
    process.stderr.write(`error: ${e.code}: ${e.message}\n`);
    if (values.json) process.stdout.write(JSON.stringify({ error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}) } }) + '\n');
    return 1;
  }

  try {
    if (!Array.isArray(input)) return await single(client, envelopes[0]!, values.wait === true, timeoutMs, values.json === true);
    if (envelopes.length === 0) throw new UsageError('the batch is empty');
    let failed = 0;
    for (const r of await client.submitBatch(envelopes)) {
      if (!r.ok) {
        failed++;
        emit(values.json, { status: r.status, error: { code: r.code, message: r.message } }, `error ${r.status} ${r.code}: ${r.message}`);
        continue;
      }
      const inc = values.wait && client.origin !== undefined ? await client.waitForInclusion(r, { timeoutMs }) : undefined;
      emit(values.json, { ...submissionJson(r), ...(inc ? { inclusion: inclusionJson(inc) } : {}) }, `index ${r.index} leafHash ${toBase64(r.leafHash)}${r.duplicate ? ' (duplicate)' : ''}${inc ? ` verified in tree ${inc.treeSize}` : ''}`);
    }
    return failed > 0 ? 1 : 0;
  } catch (e) {
    return failure(e, values.json);
  }
}

async function single(client: LedgerClient, env: EnvelopeJSON, wait: boolean, timeoutMs: number, json: boolean): Promise<number> {
  const pinned = client.origin !== undefined;
  const sub = await client.submit(env, { wait: wait && !pinned });
  let lines = `index ${sub.index}\nleafHash ${toBase64(sub.leafHash)}\n${sub.duplicate ? 'duplicate of an existing entry\n' : ''}`;
  if (!wait) {
    emit(json, submissionJson(sub), lines.trimEnd());
    return 0;
  }
  if (pinned) {
    const inc = await client.waitForInclusion(sub, { timeoutMs });
    lines += `treeSize ${inc.treeSize}\nroot ${toBase64(inc.checkpoint.rootHash)}\n${inc.proof.map((h) => `proof ${toBase64(h)}\n`).join('')}`;
    lines += `inclusion verified against the checkpoint signed by ${inc.checkpoint.origin}`;
    emit(json, { ...submissionJson(sub), inclusion: inclusionJson(inc) }, lines);
    return 0;
  }
  // No pinned key: the proof can be checked against the checkpoint's root,
  // but nothing shows that the log signed that checkpoint.
  const u = sub.unverified!;
  try {
    const cp = parseCheckpoint(parseNote(u.checkpoint).text);
    if (cp.size !== u.treeSize) throw new LedgerClientError('bad-response', `the proof is for tree ${u.treeSize}, the checkpoint for ${cp.size}`);
    verifyInclusion(sub.leafHash, sub.index, cp.size, u.proof, cp.rootHash);
    lines += `treeSize ${cp.size}\nroot ${toBase64(cp.rootHash)}\n${u.proof.map((h) => `proof ${toBase64(h)}\n`).join('')}`;
    lines += 'inclusion proof matches the checkpoint root; the checkpoint signature was NOT verified';
    process.stderr.write('warning: no log key pinned (--vkey, --vkey-file or --policy): the checkpoint signature was not verified\n');
    emit(json, { ...submissionJson(sub), inclusion: { treeSize: cp.size, rootHash: toBase64(cp.rootHash), proof: u.proof.map(toBase64), checkpoint: u.checkpoint, logSignatureVerified: false } }, lines);
    return 0;
  } catch (e) {
    if (e instanceof ProofError) throw new LedgerClientError('proof-invalid', `inclusion proof of entry ${sub.index}: ${e.code}: ${e.message}`, { cause: e });
    if (e instanceof LedgerClientError) throw e;
    throw new LedgerClientError('bad-checkpoint', `the server's checkpoint is malformed: ${(e as Error).message}`, { cause: e });
  }
}

function emit(json: boolean | undefined, obj: unknown, text: string): void {
  process.stdout.write((json ? JSON.stringify(obj) : text) + '\n');
}

function submissionJson(s: Submission) {
  return { index: s.index, leafHash: toBase64(s.leafHash), duplicate: s.duplicate };
}

function inclusionJson(inc: VerifiedInclusion) {
  return {
    treeSize: inc.treeSize,
    rootHash: toBase64(inc.checkpoint.rootHash),
    proof: inc.proof.map(toBase64),
    checkpoint: inc.checkpoint.note,
    witnesses: inc.checkpoint.witnesses,
    logSignatureVerified: true,
  };
}
