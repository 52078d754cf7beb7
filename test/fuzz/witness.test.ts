// Hostile input against every endpoint of a running `witness serve`: ten
// thousand malformed or hostile add-checkpoint requests and reads from a seeded
// PRNG (LEDGER_FUZZ_SEED reproduces a run). Every answer must be a 4xx with the
// JSON error shape, or the 409 that C2SP tlog-witness prescribes
// (text/x.tlog.size, the cosigned size); never a 5xx. Afterwards the witness
// still answers, its cosigned state is unchanged, and it cosigns a valid request.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '../../src/core/bytes.js';
import { ed25519Signer, formatNote, parseNote, signNote } from '../../src/core/note.js';
import { useNodeCrypto } from '../../src/platform/node-crypto.js';
import { formatAddCheckpointRequest } from '../../src/witnessing/protocol.js';
import { tmp } from '../helpers/procs.js';
import { TestWitness, witnessCheckpointPath } from '../helpers/witness.js';
import { BAD_BASE64, BAD_NUMBERS, pct, Rng, runCases, SEED, TRAVERSAL, type Answer, type Case } from './gen.js';
import { MemLog } from './memlog.js';

useNodeCrypto();

const TOTAL = 10_000;
const MAX_BODY = 128 * 1024; // witness/app.ts
const ORIGIN = 'fuzz.test/witnessed-log';
const STATE = 10; // the size the witness has cosigned when the fuzzing starts

const seed = (b: number) => new Uint8Array(32).fill(b);
// Without the raw backslash: `witness serve` does not yet listen through src/server/limits.ts, and
// @hono/node-server refuses a path holding one with an empty 400 (the ledger answers it in JSON).
const PATHS = TRAVERSAL.filter((t) => !t.includes('\\'));
const logKey = ed25519Signer(ORIGIN, seed(7));
const impostor = ed25519Signer(ORIGIN, seed(8)); // the log's name, another key
const otherLog = ed25519Signer('fuzz.test/unknown-log', seed(9));
const honest = new MemLog(ORIGIN, 'h').grow(64);
const fork = new MemLog(ORIGIN, 'f').grow(64);

let witness: TestWitness;
let cosigned: string;

beforeAll(async () => {
  const base = tmp('witness-fuzz-');
  witness = TestWitness.create(join(base, 'w'), 'fuzz.test/witness', [{ origin: ORIGIN, vkey: logKey.vkey }]);
  await witness.start();
  const r = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: honest.request(0, STATE, [logKey]) });
  expect(r.status).toBe(200);
  cosigned = (await witness.checkpoint(ORIGIN))!;
});
afterAll(async () => {
  await witness?.kill();
});

// ---------------------------------------------------------------- request bodies

/** Notes signed once (signing is the slow part of making cases), by size. */
const honestNotes = new Map<number, string>();
const honestNote = (size: number) => honestNotes.get(size) ?? honestNotes.set(size, honest.note(size, [logKey])).get(size)!;
const forkNotes = new Map<number, string>();
const forkNote = (size: number) => forkNotes.get(size) ?? forkNotes.set(size, fork.note(size, [logKey])).get(size)!;
const body = (old: number, proof: Uint8Array[], note: string) => formatAddCheckpointRequest({ oldSize: old, proof, note });
/** A size the witness would move to from STATE. */
const ahead = (rng: Rng) => STATE + 1 + rng.int(64 - STATE - 1);

/** Checkpoint texts that are not valid tlog-checkpoints, each signed by the trusted key. */
const badTexts = [
  `${ORIGIN}\n-1\n${toBase64(honest.root(11))}\n`,
  `${ORIGIN}\n011\n${toBase64(honest.root(11))}\n`,
  `${ORIGIN}\n11\n${toBase64(honest.root(11)).slice(1)}\n`,
  `${ORIGIN}\n11\n${toBase64(honest.root(11).subarray(1))}\n`,
  `${ORIGIN}\n11\n`,
  `${ORIGIN}\n1e1\n${toBase64(honest.root(10))}\n`,
  `${ORIGIN}\n99999999999999999999\n${toBase64(honest.root(11))}\n`,
  `${ORIGIN}\n 11\n${toBase64(honest.root(11))}\n`,
].map((t) => signNote(t, [logKey]));

function flip(b64: string, rng: Rng): string {
  const bytes = fromBase64(b64);
  bytes[rng.int(bytes.length)]! ^= 1 << rng.int(8);
  return toBase64(bytes);
}

/** Swaps the signature of the first signature line for a flipped one. */
function flipSignature(note: string, rng: Rng): string {
  const n = parseNote(note);
  const sig = n.signatures[0]!;
  const raw = sig.signature.slice();
  raw[rng.int(raw.length)]! ^= 1 << rng.int(8);
  return formatNote({ text: n.text, signatures: [{ ...sig, signature: raw }, ...n.signatures.slice(1)] });
}

const addCheckpoint: [string, (rng: Rng) => { body: string | Uint8Array; status?: number }][] = [
  ['random-bytes', (rng) => ({ body: rng.bytes(rng.int(2000)), status: 400 })],
  ['random-text', (rng) => ({ body: rng.chars(rng.int(300), 'old 0123456789\n—+/=abcdefABCDEF '), status: 400 })],
  ['truncated', (rng) => {
    const size = ahead(rng);
    const b = body(STATE, honest.proof(STATE, size), honestNote(size));
    return { body: b.slice(0, rng.int(b.length)) };
  }],
  ['bad-old-line', (rng) => {
    const size = ahead(rng);
    const rest = `${honest.proof(STATE, size).map((h) => toBase64(h) + '\n').join('')}\n${honestNote(size)}`;
    const old = rng.pick(['old -1', 'old 010', 'old 1e1', 'old  10', 'old 10 ', 'old', 'Old 10', 'old\t10', 'old 10\r', 'old 0x0A', `old ${rng.pick(BAD_NUMBERS)}`, '', 'new 10']);
    return { body: `${old}\n${rest}`, status: 400 };
  }],
  ['old-mismatch', (rng) => {
    const size = ahead(rng);
    const old = rng.pick([0, 1, 5, 9, 11]);
    return { body: body(old, old === 0 ? [] : honest.proof(old, size), honestNote(size)), status: 409 };
  }],
  ['old-beyond-size', (rng) => {
    const size = 1 + rng.int(STATE - 1);
    return { body: body(STATE, [], honestNote(size)), status: 400 };
  }],
  ['bad-proof-line', (rng) => {
    const size = ahead(rng);
    const lines = honest.proof(STATE, size).map(toBase64);
    lines[rng.int(lines.length)] = rng.pick([...BAD_BASE64, toBase64(rng.bytes(31)), toBase64(rng.bytes(33)), '', ' ']);
    return { body: `old ${STATE}\n${lines.map((l) => l + '\n').join('')}\n${honestNote(size)}` };
  }],
  ['too-many-proof-lines', (rng) => {
    const lines = Array.from({ length: 64 + rng.int(100) }, () => toBase64(rng.bytes(32)));
    return { body: `old ${STATE}\n${lines.map((l) => l + '\n').join('')}\n${honestNote(ahead(rng))}`, status: 400 };
  }],
  ['flipped-proof', (rng) => {
    const size = ahead(rng);
    const proof = honest.proof(STATE, size).map(toBase64);
    const i = rng.int(proof.length);
    proof[i] = flip(proof[i]!, rng);
    return { body: `old ${STATE}\n${proof.map((l) => l + '\n').join('')}\n${honestNote(size)}`, status: 422 };
  }],
  ['missing-proof', (rng) => ({ body: body(STATE, [], honestNote(ahead(rng))), status: 422 })],
  ['fork-proof', (rng) => {
    const size = ahead(rng);
    return { body: body(STATE, fork.proof(STATE, size), forkNote(size)), status: 422 };
  }],
  ['fork-same-size', () => ({ body: body(STATE, [], forkNote(STATE)), status: 422 })],
  ['impostor-key', (rng) => {
    const size = ahead(rng);
    return { body: body(STATE, honest.proof(STATE, size), honest.note(size, [impostor])), status: 403 };
  }],
  ['flipped-signature', (rng) => {
    const size = ahead(rng);
    return { body: body(STATE, honest.proof(STATE, size), flipSignature(honestNote(size), rng)), status: 403 };
  }],
  ['unknown-origin', (rng) => ({ body: body(0, [], signNote(`fuzz.test/unknown-log\n${1 + rng.int(9)}\n${toBase64(rng.bytes(32))}\n`, [otherLog])), status: 404 })],
  ['no-signature', (rng) => ({ body: `old ${STATE}\n\n${honest.checkpointText(ahead(rng))}\n`, status: 400 })],
  ['bad-signature-line', (rng) => {
    const size = ahead(rng);
    const line = rng.pick([`— ${ORIGIN} !!!!\n`, `— ${ORIGIN}\n`, `- ${ORIGIN} ${toBase64(rng.bytes(68))}\n`, `— ${ORIGIN} ${toBase64(rng.bytes(3))}\n`, '—\n', `— ${ORIGIN} ${toBase64(rng.bytes(68))} x\n`]);
    return { body: `old ${STATE}\n${honest.proof(STATE, size).map((h) => toBase64(h) + '\n').join('')}\n${honest.checkpointText(size)}\n${line}` };
  }],
  ['too-many-signatures', (rng) => {
    const n = parseNote(honestNote(ahead(rng)));
    const junk = Array.from({ length: 101 + rng.int(50) }, () => `— x.example/k${rng.int(1e6)} ${toBase64(rng.bytes(68))}\n`).join('');
    return { body: `old ${STATE}\n\n${n.text}\n${junk}` };
  }],
  ['bad-checkpoint-text', (rng) => ({ body: body(STATE, [], rng.pick(badTexts)) })],
  ['crlf', (rng) => {
    const size = ahead(rng);
    return { body: body(STATE, honest.proof(STATE, size), honestNote(size)).replace(/\n/g, '\r\n'), status: 400 };
  }],
  ['non-utf8', (rng) => {
    const size = ahead(rng);
    const b = utf8(body(STATE, honest.proof(STATE, size), honestNote(size)));
    b[rng.int(b.length)] = rng.pick([0xff, 0xc0, 0x80, 0xfe]);
    return { body: b };
  }],
  ['over-limit', (rng) => ({ body: new Uint8Array(MAX_BODY + 1 + rng.int(100_000)).fill(0x41), status: 413 })],
  ['empty', () => ({ body: '', status: 400 })],
];

// ---------------------------------------------------------------- the cases

const count = new Map<string, number>();
function endpoint(name: string, c: Case): Case {
  count.set(name, (count.get(name) ?? 0) + 1);
  return c;
}

/** Made bodies by kind; past 24 of one kind, one of those is sent again (signatures are slow to make). */
const made = new Map<string, { body: string | Uint8Array; status?: number }[]>();

function postAddCheckpoint(rng: Rng): Case {
  const [what, make] = rng.pick(addCheckpoint);
  const seen = made.get(what) ?? [];
  made.set(what, seen);
  if (seen.length < 24) seen.push(make(rng));
  const b = rng.pick(seen);
  return endpoint('POST /add-checkpoint', { what, method: 'POST', path: '/add-checkpoint', body: b.body, headers: { 'content-type': rng.pick(['text/plain', 'application/json', 'text/x.tlog.size']) }, ...(b.status === undefined ? {} : { status: b.status }), ...(what === 'over-limit' && rng.bool() ? { chunked: true } : {}) });
}

function getCheckpoint(rng: Rng): Case {
  const r = rng.int(4);
  if (r === 0) return endpoint('GET /<hash>/checkpoint', { what: 'unknown-origin-hash', path: `/${rng.chars(64, '0123456789abcdef')}/checkpoint`, status: 404 });
  if (r === 1) {
    const good = witnessCheckpointPath(ORIGIN).slice(1, 65);
    const hash = rng.pick([good.slice(1), good + '0', good.toUpperCase(), good.slice(0, 63) + 'g', `${good.slice(0, 62)}%30`, pct(rng.bytes(32))]);
    return endpoint('GET /<hash>/checkpoint', { what: 'bad-hash', path: `/${hash}/checkpoint`, status: 404 });
  }
  if (r === 2) return endpoint('GET /<hash>/checkpoint', { what: 'traversal', path: `${witnessCheckpointPath(ORIGIN)}/${rng.pick(PATHS)}${rng.pick(['', 'x', 'witness.key', '../witness.db'])}` });
  return endpoint('GET /<hash>/checkpoint', { what: 'suffix', path: `${witnessCheckpointPath(ORIGIN)}${rng.pick(['/', '.json', '%00', '/x', ';x'])}`, status: 404 });
}

function otherRoutes(rng: Rng): Case {
  const r = rng.int(3);
  if (r === 0) {
    const method = rng.pick(['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
    return endpoint('methods', { what: 'add-checkpoint-method', method, path: '/add-checkpoint', ...(method === 'GET' ? {} : { body: `old 0\n\n${honestNote(STATE)}` }), status: 405 });
  }
  if (r === 1) {
    const method = rng.pick(['POST', 'PUT', 'DELETE', 'PATCH']);
    return endpoint('methods', { what: 'read-route-method', method, path: rng.pick(['/healthz', '/metrics', witnessCheckpointPath(ORIGIN), '/']), body: '{}', status: 404 });
  }
  return endpoint('random paths', { what: 'random-path', path: `/${rng.pick([...PATHS, ''])}${pct(rng.bytes(1 + rng.int(60)))}` });
}

function makeCases(rng: Rng): Case[] {
  const gens: [number, (rng: Rng) => Case][] = [
    [70, postAddCheckpoint],
    [15, getCheckpoint],
    [15, otherRoutes],
  ];
  const total = gens.reduce((s, [w]) => s + w, 0);
  const out: Case[] = [];
  for (let i = 0; i < TOTAL; i++) {
    let x = rng.int(total);
    out.push(gens.find(([w]) => (x -= w) < 0)![1](rng));
  }
  return out;
}

/** tlog-witness: a 409 is text/x.tlog.size with the cosigned size, not JSON. */
function sizeAnswer(a: Answer): string | undefined {
  if (a.status !== 409) return undefined;
  if (a.contentType !== 'text/x.tlog.size') return `409 with content-type ${a.contentType}`;
  return a.text === `${STATE}\n` ? '' : `409 body ${JSON.stringify(a.text)}, want "${STATE}\\n"`;
}

describe(`fuzz: ${TOTAL} hostile requests against the witness (seed ${SEED})`, () => {
  it('answers every one with a 4xx (JSON error shape, or the 409 size) and never a 5xx; keeps its state; still cosigns', async () => {
    const cases = makeCases(new Rng(SEED ^ 0x5a5a5a));
    const { statuses, problems } = await runCases(witness.port, cases, 24, sizeAnswer);
    expect(problems.slice(0, 20), `${problems.length} problems; witness stderr: ${witness.server!.stderr().slice(-3000)}`).toEqual([]);
    expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(TOTAL);
    for (const [name, n] of count) expect(n, name).toBeGreaterThanOrEqual(500);
    for (const s of [400, 403, 404, 405, 409, 413, 422]) expect(statuses.get(s), String(s)).toBeGreaterThan(20);

    // The state is what it was; the witness still answers and cosigns a valid step.
    expect(await witness.checkpoint(ORIGIN)).toBe(cosigned);
    const r = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: honest.request(STATE, 20, [logKey]) });
    expect(r.status).toBe(200);
    expect(parseNote((await witness.checkpoint(ORIGIN))!).text).toBe(honest.checkpointText(20));
    expect(witness.running).toBe(true);
    expect(witness.server!.stderr()).not.toMatch(/internal error|Error:/);
  }, 120_000);
});
