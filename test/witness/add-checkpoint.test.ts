// The witness's add-checkpoint decisions, in process (hono app.request, a real
// SQLite file): every status and reason code of spec/witness.md, the exact
// bytes of the 200 and 409 answers, the spec's own example bodies, fork
// evidence, and atomicity across two connections to one state file.

import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fromHex, toBase64, toHex, utf8 } from '../../src/core/bytes.js';
import { formatCheckpoint } from '../../src/core/checkpoint.js';
import { cosignerFromSeed, openCosignedNote, parseCosignatureVerifierKey, verifyCosignature, type Cosigner } from '../../src/core/cosignature.js';
import { sha256 } from '../../src/core/crypto.js';
import { consistencyProof, emptyRoot, hashLeaf, rootOfLeafHashes, type HashReader } from '../../src/core/merkle.js';
import { ed25519Signer, formatNote, parseNote, parseVerifierKey, signNote, type Ed25519Signer, type NoteVerifier } from '../../src/core/note.js';
import { parsePolicy } from '../../src/core/policy.js';
import { formatAddCheckpointRequest, parseAddCheckpointRequest, ProtocolError } from '../../src/witnessing/protocol.js';
import { verifyCosignatureResponse, WitnessFailure, witnessTargets, WitnessingError } from '../../src/witnessing/witnessing.js';
import { createWitnessApp } from '../../witness/app.js';
import { WitnessStore } from '../../witness/store.js';
import { Witness, WitnessError } from '../../witness/witness.js';
import { tmp } from '../helpers/procs.js';

// C2SP tlog-witness, "add-checkpoint": the example request body.
const SPEC_REQUEST =
  'old 20852014\n' +
  'PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n' +
  'jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n' +
  '5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n' +
  '/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n' +
  '\n' +
  'example.com/behind-the-sofa\n' +
  '20852163\n' +
  'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n' +
  '\n' +
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n' +
  '— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=\n';
const SPEC_ORIGIN = 'example.com/behind-the-sofa';
const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
// C2SP tlog-witness, the example response body (illustrative keys and bytes).
const SPEC_RESPONSE =
  '— witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLatVs0pWh6Up69HVOw==\n' +
  '— witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9ChdMkP1vi/lCAsmlw==\n' +
  '— witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n';

// spec/cosignature.md: our witness key (seed 20..3f) and its cosignature of the
// spec checkpoint at the spec's time 1679315147.
const WIT_SEED = fromHex('202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f');
const WIT_NAME = 'witness.example/w-test';
const WIT_VKEY = 'witness.example/w-test+d06791ee+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X';
const WIT_SPEC_LINE =
  '— witness.example/w-test 0GeR7gAAAABkGFDL6ade/xdmW0GepsICyPher/bBsso0aCocxkD4MgnQ2J3N/61CxrucC0uO4wzUWe3K7XvjkEYtewKXIfP/U7l4Cw==\n';
const SPEC_TIME_MS = 1679315147_000;

const ORIGIN = 'ledger.test/witnessed';
// spec/witness.md, "Test vectors": leaves "a-0".."a-6" (leaf hash of the UTF-8 bytes), log key seed
// 32 x 0x01 named ORIGIN; the request from 3 to 7, and the answer of the w-test witness at 1679315147.
const OUR_LOG_VKEY = 'ledger.test/witnessed+dd8a1f99+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c';
const OUR_ROOT_3 = 'Qv3Q+ZWEk03C2OtoTOh0dmWybUGqBu42FruNpkfLnLw=';
const OUR_REQUEST =
  'old 3\n' +
  '0qidJZsUSXdU0xlAcyOOkbqInavY6Va4o/CLnLCDCLU=\n' +
  'JDA48QHEmUPxAbXdfC5zUKdYLu3xlWlvhYzkpNGtpZY=\n' +
  'VSivPmLGAMontHGK4gI1WJxBoqFYOXKmOzkNiDFPod8=\n' +
  'SLHSj/kmwE2bDrRVMQ/JZ2XFckY50ZEMsUURHxl4a0E=\n' +
  '\n' +
  'ledger.test/witnessed\n' +
  '7\n' +
  '/4JSOqOPyi2BIvtolvvBsLhrNn+Gyy1ULx1eoNIySMI=\n' +
  '\n' +
  '— ledger.test/witnessed 3Yofmc0xNvYRrY/MPK1LIWT5wmSYy74HNfe3JrYntUlHr2eJZskCdNRE3B5JJTdnCmrupoYHHD/l8PIzsK7GLD9RjQk=\n';
const OUR_RESPONSE =
  '— witness.example/w-test 0GeR7gAAAABkGFDLbB2eqqdnvqlrhy6v/VD30YFZqSGMLPQkJcwJCs+Bcf6ZcL5/saFpvxZmZGQDylRsjZYxPawPIL4qBVpuzEzjDQ==\n';
const seed = (b: number) => new Uint8Array(32).fill(b);
const logKey = ed25519Signer(ORIGIN, seed(1));
const logKey2 = ed25519Signer(ORIGIN, seed(2)); // the rotated-in key
const strangerKey = ed25519Signer(ORIGIN, seed(3)); // same name, not trusted
const specLogKey = ed25519Signer(SPEC_ORIGIN, seed(4));

/** A log in memory: leaves, roots, proofs, signed checkpoints. */
class MemLog {
  readonly leaves: Uint8Array[] = [];
  constructor(
    readonly origin = ORIGIN,
    readonly tag = 'a',
  ) {}
  grow(n: number): this {
    while (this.leaves.length < n) this.leaves.push(hashLeaf(utf8(`${this.tag}-${this.leaves.length}`)));
    return this;
  }
  root(size: number): Uint8Array {
    return rootOfLeafHashes(this.leaves.slice(0, size));
  }
  proof(from: number, to: number): Uint8Array[] {
    const read: HashReader = (ids) => ids.map((id) => rootOfLeafHashes(this.leaves.slice(id.index * 2 ** id.level, (id.index + 1) * 2 ** id.level)));
    return consistencyProof(from, to, read);
  }
  note(size: number, signers: Ed25519Signer[] = [logKey]): string {
    return signNote(formatCheckpoint({ origin: this.origin, size, rootHash: this.root(size), extensions: [] }), signers);
  }
  request(old: number, size: number, opts: { proof?: Uint8Array[]; signers?: Ed25519Signer[] } = {}): string {
    return formatAddCheckpointRequest({ oldSize: old, proof: opts.proof ?? this.proof(old, size), note: this.note(size, opts.signers) });
  }
}

let dir: string;
let store: WitnessStore;
let witness: Witness;
let cosigner: Cosigner;
let now = SPEC_TIME_MS;
const trusted = new Map<string, NoteVerifier[]>();
const logs = { verifiers: (o: string) => trusted.get(o) };

function refusal(f: () => unknown): { status: number; code: string; size?: number } {
  try {
    f();
  } catch (e) {
    if (e instanceof WitnessError) return { status: e.status, code: e.code, ...(e.size === undefined ? {} : { size: e.size }) };
    throw e;
  }
  return { status: 200, code: 'cosigned' };
}

beforeEach(() => {
  dir = tmp('witness-unit-');
  store = new WitnessStore(join(dir, 'witness.db'));
  cosigner = cosignerFromSeed(WIT_NAME, WIT_SEED);
  now = SPEC_TIME_MS;
  witness = new Witness(store, cosigner, logs, () => now);
  trusted.clear();
  trusted.set(ORIGIN, [logKey, logKey2].map((k) => parseVerifierKey(k.vkey)));
  trusted.set(SPEC_ORIGIN, [parseVerifierKey(specLogKey.vkey)]);
});
afterEach(() => store.close());

describe('the spec examples', () => {
  it('parses the tlog-witness example request and writes it back byte for byte', () => {
    const r = parseAddCheckpointRequest(utf8(SPEC_REQUEST));
    expect(r.oldSize).toBe(20852014);
    expect(r.proof.map(toBase64)).toEqual([
      'PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=',
      'jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=',
      '5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=',
      '/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=',
    ]);
    expect(parseNote(r.note).text).toBe(SPEC_TEXT);
    expect(parseNote(r.note).signatures).toHaveLength(2);
    expect(formatAddCheckpointRequest(r)).toBe(SPEC_REQUEST);
  });

  it('answers the example request 403: its signatures are from keys this witness does not trust', () => {
    // The example's log keys are not published; ours has the same name and another key ID.
    expect(refusal(() => witness.addCheckpoint(SPEC_REQUEST))).toEqual({ status: 403, code: 'no-trusted-signature' });
    trusted.delete(SPEC_ORIGIN);
    expect(refusal(() => witness.addCheckpoint(SPEC_REQUEST))).toEqual({ status: 404, code: 'unknown-origin' });
  });

  it("cosigns the spec checkpoint with the spec's time exactly as spec/cosignature.md's vector", () => {
    expect(cosigner.vkey).toBe(WIT_VKEY);
    const note = signNote(SPEC_TEXT, [specLogKey]);
    const r = witness.addCheckpoint(formatAddCheckpointRequest({ oldSize: 0, proof: [], note }));
    expect(r.body).toBe(WIT_SPEC_LINE);
    // The client's check (tlog-witness: concatenate to the checkpoint, verify with the witness key).
    const sig = verifyCosignatureResponse(SPEC_TEXT, r.body, parseCosignatureVerifierKey(WIT_VKEY));
    expect(verifyCosignature(SPEC_TEXT, sig, parseCosignatureVerifierKey(WIT_VKEY))).toEqual({ timestamp: 1679315147 });
  });

  it('reads the example response: three well-formed lines, none from a key the client knows', () => {
    const lines = parseNote(`${SPEC_TEXT}\n${SPEC_RESPONSE}`).signatures;
    expect(lines.map((s) => `${s.name} ${toHex(s.keyId)} ${s.signature.length}`)).toEqual([
      'witness.example/w1 08ca7ee8 72',
      'witness.example/w1 23bac4a6 72',
      'witness.example/w2 016ba2f1 72',
    ]);
    let failure: WitnessFailure | undefined;
    try {
      verifyCosignatureResponse(SPEC_TEXT, SPEC_RESPONSE, parseCosignatureVerifierKey(WIT_VKEY));
    } catch (e) {
      failure = e as WitnessFailure;
    }
    expect(failure?.status).toBe('no-cosignature');
  });
});

describe('add-checkpoint decisions', () => {
  const log = new MemLog().grow(40);

  it('our vector: the request from 3 to 7 and its answer, byte for byte', () => {
    expect(logKey.vkey).toBe(OUR_LOG_VKEY);
    expect(toBase64(log.root(3))).toBe(OUR_ROOT_3);
    expect(log.request(3, 7)).toBe(OUR_REQUEST);
    witness.addCheckpoint(log.request(0, 3));
    const r = witness.addCheckpoint(utf8(OUR_REQUEST));
    expect(r).toEqual({ origin: ORIGIN, size: 7, body: OUR_RESPONSE });
  });

  it('cosigns from 0, then each consistent step, and keeps the cosigned note', () => {
    const r1 = witness.addCheckpoint(log.request(0, 3));
    expect(r1).toMatchObject({ origin: ORIGIN, size: 3 });
    expect(r1.body).toMatch(/^— witness\.example\/w-test [A-Za-z0-9+/]{102}==\n$/);
    now += 5000;
    const r2 = witness.addCheckpoint(log.request(3, 7));
    const v = parseCosignatureVerifierKey(WIT_VKEY);
    const text = parseNote(log.note(7)).text;
    expect(verifyCosignatureResponse(text, r2.body, v)).toBeTruthy();
    expect(verifyCosignature(text, parseNote(`${text}\n${r2.body}`).signatures[0]!, v)).toEqual({ timestamp: 1679315152 });
    const kept = store.get(ORIGIN)!;
    expect(kept.size).toBe(7);
    expect(kept.root).toEqual(log.root(7));
    // The stored note: the verified log signature and the cosignature, nothing else.
    const opened = openCosignedNote(kept.note, [parseVerifierKey(logKey.vkey), v]);
    expect(opened.verified.map((k) => k.name)).toEqual([ORIGIN, WIT_NAME]);
    expect(witness.latest(toHex(sha256(utf8(ORIGIN))))!.note).toBe(kept.note);
  });

  it('409 with the size last cosigned when old does not match it', () => {
    expect(refusal(() => witness.addCheckpoint(log.request(5, 7)))).toEqual({ status: 409, code: 'old-size-mismatch', size: 0 });
    witness.addCheckpoint(log.request(0, 9));
    expect(refusal(() => witness.addCheckpoint(log.request(0, 12)))).toEqual({ status: 409, code: 'old-size-mismatch', size: 9 });
    expect(refusal(() => witness.addCheckpoint(log.request(7, 12)))).toEqual({ status: 409, code: 'old-size-mismatch', size: 9 });
    expect(witness.addCheckpoint(log.request(9, 12)).size).toBe(12);
  });

  it('400 when old exceeds the checkpoint size, even when old is the stored size', () => {
    witness.addCheckpoint(log.request(0, 9));
    expect(refusal(() => witness.addCheckpoint(log.request(9, 8, { proof: [] })))).toEqual({ status: 400, code: 'old-size-too-large' });
    expect(refusal(() => witness.addCheckpoint(log.request(20, 8, { proof: [] })))).toEqual({ status: 400, code: 'old-size-too-large' });
    expect(store.get(ORIGIN)!.size).toBe(9);
  });

  it('422 for a proof that does not verify, keeping a contradicting one as evidence', () => {
    witness.addCheckpoint(log.request(0, 7));
    const good = log.proof(7, 20);
    for (let i = 0; i < good.length; i++) {
      const bad = good.map((h) => h.slice());
      bad[i]![0]! ^= 0x01;
      expect(refusal(() => witness.addCheckpoint(log.request(7, 20, { proof: bad })))).toEqual({ status: 422, code: 'inconsistent-proof' });
    }
    // Evidence is kept once per pair of checkpoints, not once per proof.
    expect(store.forks().map((f) => [f.reason, f.oldSize])).toEqual([['inconsistent-proof', 7]]);
    // A proof of the wrong length is a bad request, not evidence.
    expect(refusal(() => witness.addCheckpoint(log.request(7, 21, { proof: log.proof(7, 21).slice(1) })))).toEqual({ status: 422, code: 'inconsistent-proof' });
    expect(store.forks()).toHaveLength(1);
    expect(store.get(ORIGIN)!.size).toBe(7);
    expect(witness.addCheckpoint(log.request(7, 20, { proof: good })).size).toBe(20);
  });

  it('422 for a non-empty proof from old size 0', () => {
    expect(refusal(() => witness.addCheckpoint(log.request(0, 7, { proof: log.proof(3, 7) })))).toEqual({ status: 422, code: 'proof-from-zero' });
    expect(store.get(ORIGIN)).toBeUndefined();
  });

  it('422 for the same size with another root, keeping both signed checkpoints as evidence', () => {
    witness.addCheckpoint(log.request(0, 10));
    const fork = new MemLog(ORIGIN, 'b').grow(10);
    expect(refusal(() => witness.addCheckpoint(fork.request(10, 10)))).toEqual({ status: 422, code: 'root-mismatch' });
    const [f] = store.forks();
    expect(f).toMatchObject({ origin: ORIGIN, reason: 'root-mismatch', oldSize: 10, proof: [], submittedNote: fork.note(10) });
    expect(parseNote(f!.cosignedNote).text).toBe(parseNote(log.note(10)).text);
    expect(store.get(ORIGIN)!.root).toEqual(log.root(10));
  });

  it('the same checkpoint again is cosigned afresh; with a proof it is refused 422', () => {
    witness.addCheckpoint(log.request(0, 10));
    now += 60_000;
    const again = witness.addCheckpoint(log.request(10, 10));
    expect(parseNote(`${parseNote(log.note(10)).text}\n${again.body}`).signatures[0]!.signature.slice(0, 8)).toEqual(
      Uint8Array.of(0, 0, 0, 0, 0x64, 0x18, 0x51, 0x07), // 1679315207
    );
    expect(refusal(() => witness.addCheckpoint(log.request(10, 10, { proof: log.proof(5, 10) })))).toEqual({ status: 422, code: 'proof-not-empty' });
  });

  it('a size-0 checkpoint must carry the empty root: 422 otherwise', () => {
    const bad = signNote(formatCheckpoint({ origin: ORIGIN, size: 0, rootHash: log.root(3), extensions: [] }), [logKey]);
    expect(refusal(() => witness.addCheckpoint(formatAddCheckpointRequest({ oldSize: 0, proof: [], note: bad })))).toEqual({ status: 422, code: 'bad-empty-root' });
    expect(log.root(0)).toEqual(emptyRoot());
    expect(witness.addCheckpoint(log.request(0, 0)).size).toBe(0);
    expect(witness.addCheckpoint(log.request(0, 5)).size).toBe(5);
  });

  it('403 for no trusted signature or a failing trusted one; unknown keys are ignored', () => {
    expect(refusal(() => witness.addCheckpoint(log.request(0, 5, { signers: [strangerKey] })))).toEqual({ status: 403, code: 'no-trusted-signature' });
    const n = parseNote(log.note(5));
    n.signatures[0]!.signature[10]! ^= 0x01;
    const tampered = formatNote(n);
    expect(refusal(() => witness.addCheckpoint(formatAddCheckpointRequest({ oldSize: 0, proof: [], note: tampered })))).toEqual({ status: 403, code: 'invalid-signature' });
    expect(witness.addCheckpoint(log.request(0, 5, { signers: [strangerKey, logKey] })).size).toBe(5);
  });

  it('accepts a checkpoint signed by either key of a log in rotation, and only keeps verified signature lines', () => {
    witness.addCheckpoint(log.request(0, 5, { signers: [logKey] }));
    witness.addCheckpoint(log.request(5, 8, { signers: [logKey2, strangerKey] }));
    const kept = parseNote(store.get(ORIGIN)!.note).signatures.map((s) => s.name + '+' + toHex(s.keyId));
    expect(kept).toEqual([`${ORIGIN}+${toHex(logKey2.keyId)}`, `${WIT_NAME}+${toHex(cosigner.keyId)}`]);
  });

  it('404 for an origin it does not follow', () => {
    const other = new MemLog('ledger.test/other').grow(3);
    expect(refusal(() => witness.addCheckpoint(other.request(0, 3)))).toEqual({ status: 404, code: 'unknown-origin' });
  });

  it('400 for each malformed body, with its reason', () => {
    const note = log.note(3);
    const h = toBase64(new Uint8Array(32));
    const cases: [string, string][] = [
      ['', 'malformed-old-size'],
      [`old 1`, 'malformed-old-size'],
      [`new 0\n\n${note}`, 'malformed-old-size'],
      [`old 01\n\n${note}`, 'malformed-old-size'],
      [`old -1\n\n${note}`, 'malformed-old-size'],
      [`old  0\n\n${note}`, 'malformed-old-size'],
      [`old 9007199254740992\n\n${note}`, 'size-out-of-range'],
      [`old 0\n${h}`, 'missing-empty-line'],
      [`old 0\n${h}\n${note}`, 'malformed-proof-line'],
      [`old 0\n${toBase64(new Uint8Array(31))}\n\n${note}`, 'malformed-proof-line'],
      [`old 0\n${h.slice(0, -1)}\n\n${note}`, 'malformed-proof-line'],
      [`old 0\n${`${h}\n`.repeat(64)}\n${note}`, 'too-many-proof-lines'],
      [`old 0\n\n${parseNote(note).text}`, 'missing-blank-line'],
      // Signed by the trusted key, so the note is opened, then refused as a checkpoint.
      [`old 0\n\n${signNote(`${ORIGIN}\n03\n${toBase64(log.root(3))}\n`, [logKey])}`, 'invalid-size'],
      [`old 0\n\n${signNote(`${ORIGIN}\n3\n`, [logKey])}`, 'too-few-lines'],
    ];
    for (const [body, code] of cases) expect([body.slice(0, 12), refusal(() => witness.addCheckpoint(body))]).toEqual([body.slice(0, 12), { status: 400, code }]);
    expect(refusal(() => witness.addCheckpoint(Uint8Array.of(0x6f, 0x6c, 0x64, 0x20, 0xff)))).toEqual({ status: 400, code: 'not-utf8' });
    // 63 proof lines is the most a client may send: parsed, then judged as a proof.
    const r = parseAddCheckpointRequest(`old 1\n${`${h}\n`.repeat(63)}\n${note}`);
    expect(r.proof).toHaveLength(63);
    let err: unknown;
    try {
      formatAddCheckpointRequest({ ...r, proof: [...r.proof, r.proof[0]!] });
    } catch (e) {
      err = e;
    }
    expect((err as ProtocolError).code).toBe('too-many-proof-lines');
  });

  it('check and update are atomic across two connections to one state file', () => {
    const store2 = new WitnessStore(join(dir, 'witness.db'));
    try {
      const witness2 = new Witness(store2, cosigner, logs, () => now);
      witness.addCheckpoint(log.request(0, 5));
      // Both advance from 5: the second sees the first's commit and gets 409.
      expect(witness2.addCheckpoint(log.request(5, 9)).size).toBe(9);
      expect(refusal(() => witness.addCheckpoint(log.request(5, 12)))).toEqual({ status: 409, code: 'old-size-mismatch', size: 9 });
      expect(store.get(ORIGIN)!.size).toBe(9);
    } finally {
      store2.close();
    }
  });
});

describe('the HTTP answers', () => {
  const log = new MemLog().grow(20);
  const post = (app: ReturnType<typeof createWitnessApp>, body: string) => app.request('/add-checkpoint', { method: 'POST', body });

  it('200 with the cosignature line; 409 with text/x.tlog.size exactly and "<size>\\n"', async () => {
    const app = createWitnessApp(witness, store);
    const ok = await post(app, log.request(0, 4));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await ok.text()).toMatch(/^— witness\.example\/w-test \S+\n$/);
    const conflict = await post(app, log.request(2, 6));
    expect(conflict.status).toBe(409);
    expect(conflict.headers.get('content-type')).toBe('text/x.tlog.size');
    expect(await conflict.text()).toBe('4\n');
  });

  it('two concurrent requests from the same old size: one 200, one 409', async () => {
    const app = createWitnessApp(witness, store);
    await post(app, log.request(0, 4));
    const [a, b] = await Promise.all([post(app, log.request(4, 9)), post(app, log.request(4, 11))]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const loser = a.status === 409 ? a : b;
    expect(await loser.text()).toBe(a.status === 200 ? '9\n' : '11\n');
  });

  it('the other statuses carry a JSON error; GET of add-checkpoint is 405', async () => {
    const app = createWitnessApp(witness, store);
    const r = await post(app, log.request(0, 4, { signers: [strangerKey] }));
    expect(r.status).toBe(403);
    expect(await r.json()).toMatchObject({ error: { code: 'no-trusted-signature' } });
    const g = await app.request('/add-checkpoint');
    expect(g.status).toBe(405);
    expect(g.headers.get('allow')).toBe('POST');
  });

  it('a body cut off by the client is 400 request-aborted, not an internal error, and changes nothing', async () => {
    const app = createWitnessApp(witness, store);
    const errors: unknown[] = [];
    const origError = console.error;
    console.error = (...a: unknown[]) => void errors.push(a);
    try {
      const half = utf8(log.request(0, 4)).subarray(0, 40);
      const body = new ReadableStream<Uint8Array>({
        start(ctl) {
          ctl.enqueue(half);
          ctl.error(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
        },
      });
      const r = await app.request('/add-checkpoint', { method: 'POST', body, duplex: 'half' } as RequestInit);
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: { code: 'request-aborted' } });
    } finally {
      console.error = origError;
    }
    expect(errors).toEqual([]);
    expect(store.get(ORIGIN)).toBeUndefined();
  });

  it('GET /<sha256 hex of origin>/checkpoint serves the latest cosigned note; unknown or uppercase is 404', async () => {
    const app = createWitnessApp(witness, store);
    const hex = toHex(sha256(utf8(ORIGIN)));
    expect((await app.request(`/${hex}/checkpoint`)).status).toBe(404);
    await post(app, log.request(0, 4));
    const r = await app.request(`/${hex}/checkpoint`);
    expect(r.status).toBe(200);
    const body = await r.text();
    expect(parseNote(body).text).toBe(parseNote(log.note(4)).text);
    expect(openCosignedNote(body, [parseVerifierKey(logKey.vkey), parseCosignatureVerifierKey(WIT_VKEY)]).verified).toHaveLength(2);
    expect((await app.request(`/${hex.toUpperCase()}/checkpoint`)).status).toBe(404);
  });
});

describe('the log side: which witnesses count', () => {
  const w = (b: number, name: string) => cosignerFromSeed(name, seed(b));
  const [a, b, c] = [w(10, 'w.test/a'), w(11, 'w.test/b'), w(12, 'w.test/c')];
  const policy = `witness A ${a.vkey}\nwitness B ${b.vkey}\nwitness C ${c.vkey} http://127.0.0.1:1\ngroup two 2 A B C\nquorum two\n`;

  it('maps configured witnesses onto policy names by vkey, and adds policy witnesses that have a URL', () => {
    const t = witnessTargets(
      [
        { name: 'a', url: 'http://127.0.0.1:2', vkey: a.vkey },
        { name: 'x', url: 'http://127.0.0.1:3', vkey: w(13, 'w.test/x').vkey },
      ],
      parsePolicy(policy),
    );
    expect(t.map((x) => [x.name, x.policyName ?? null, x.url])).toEqual([
      ['a', 'A', 'http://127.0.0.1:2'],
      ['x', null, 'http://127.0.0.1:3'],
      ['C', 'C', 'http://127.0.0.1:1'],
    ]);
  });

  it('refuses a policy that the reachable witnesses could never meet, and duplicate witnesses', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as WitnessingError).code;
      }
      return 'no error';
    };
    expect(code(() => witnessTargets([], parsePolicy(policy)))).toBe('unsatisfiable-policy');
    expect(code(() => witnessTargets([{ name: 'b', url: 'http://h', vkey: b.vkey }], parsePolicy(policy)))).toBe('no error');
    expect(
      code(() =>
        witnessTargets(
          [
            { name: 'b', url: 'http://h', vkey: b.vkey },
            { name: 'b2', url: 'http://h2', vkey: b.vkey },
          ],
          parsePolicy(policy),
        ),
      ),
    ).toBe('duplicate-witness');
  });
});
