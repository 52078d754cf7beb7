// Ed25519 verification spread over worker threads, for a program that checks
// many signatures at once (ledger-verify). Each call's checks are cut into one
// contiguous share per thread, packed into one transferable buffer per share;
// each thread verifies with the provider its creator uses (libsodium when it
// loads) and answers with one byte per check.

import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { cryptoProvider, ed25519Verify } from '../core/crypto.js';
import { useCryptoNamed } from './sodium.js';

/** One check: `signature` over `message` under a raw 32-byte public key. */
export interface Ed25519Check {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

const ROLE = 'ledger-ed25519-thread';

/** Length word of a check whose key or signature has the wrong length: answered false, unchecked. */
const MALFORMED = 0xffffffff;

const wellFormed = (c: Ed25519Check) => c.publicKey.length === 32 && c.signature.length === 64;

/** A share: per check, publicKey (32) ‖ signature (64) ‖ message length (4, big-endian) ‖ message. */
function pack(checks: readonly Ed25519Check[]): ArrayBuffer {
  let size = 0;
  for (const c of checks) size += 100 + (wellFormed(c) ? c.message.length : 0);
  const buf = new ArrayBuffer(size);
  const bytes = new Uint8Array(buf);
  const view = new DataView(buf);
  let o = 0;
  for (const c of checks) {
    if (!wellFormed(c)) {
      view.setUint32(o + 96, MALFORMED);
      o += 100;
      continue;
    }
    bytes.set(c.publicKey, o);
    bytes.set(c.signature, o + 32);
    view.setUint32(o + 96, c.message.length);
    bytes.set(c.message, o + 100);
    o += 100 + c.message.length;
  }
  return buf;
}

function runThread(): void {
  useCryptoNamed((workerData as { crypto: string }).crypto);
  parentPort!.on('message', (m: { seq: number; buf: ArrayBuffer; count: number }) => {
    const bytes = new Uint8Array(m.buf);
    const view = new DataView(m.buf);
    const out = new Uint8Array(m.count);
    let o = 0;
    for (let i = 0; i < m.count; i++) {
      const len = view.getUint32(o + 96);
      if (len === MALFORMED) {
        o += 100;
        continue; // out[i] stays 0
      }
      out[i] = ed25519Verify(bytes.subarray(o, o + 32), bytes.subarray(o + 100, o + 100 + len), bytes.subarray(o + 32, o + 96)) ? 1 : 0;
      o += 100 + len;
    }
    parentPort!.postMessage({ seq: m.seq, out }, [out.buffer]);
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) runThread();

export interface ThreadedVerifier {
  /** Verifies every check; results in order. */
  verify(checks: readonly Ed25519Check[]): Promise<boolean[]>;
  /** Stops the threads. */
  close(): Promise<void>;
}

/**
 * `threads` worker threads (default: one per core) verifying with this
 * thread's provider, started by the first call of at least 2 × `threads`
 * checks; smaller calls, and every call with 0 threads or from TypeScript
 * source (which a worker cannot load), run here, one by one.
 */
export function threadedVerifier(threads = availableParallelism()): ThreadedVerifier {
  if (import.meta.url.endsWith('.ts')) threads = 0;
  const workers: Worker[] = [];
  const waiting = new Map<number, { resolve: (out: Uint8Array) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let failure: Error | null = null;
  const fail = (e: Error) => {
    failure ??= e;
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  // Started by the first call that is worth them: a few checks are not.
  const start = () => {
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL(import.meta.url), { workerData: { role: ROLE, crypto: cryptoProvider().name } });
      w.on('message', (r: { seq: number; out: Uint8Array }) => {
        const p = waiting.get(r.seq);
        waiting.delete(r.seq);
        if (waiting.size === 0) for (const x of workers) x.unref();
        p?.resolve(r.out);
      });
      w.on('error', (e) => fail(new Error(`verification thread failed: ${e.message}`)));
      w.on('exit', (code) => fail(new Error(`verification thread exited with code ${code}`)));
      w.unref();
      workers.push(w);
    }
  };
  const share = (w: Worker, checks: readonly Ed25519Check[]) =>
    new Promise<Uint8Array>((resolve, reject) => {
      if (failure) return reject(failure);
      const s = seq++;
      waiting.set(s, { resolve, reject });
      w.ref();
      const buf = pack(checks);
      w.postMessage({ seq: s, buf, count: checks.length }, [buf]);
    });
  return {
    async verify(checks) {
      if (threads === 0 || checks.length < 2 * threads) return checks.map((c) => ed25519Verify(c.publicKey, c.message, c.signature));
      if (failure) throw failure;
      if (workers.length === 0) start();
      const per = Math.ceil(checks.length / workers.length);
      const outs = await Promise.all(workers.map((w, i) => share(w, checks.slice(i * per, (i + 1) * per))));
      return outs.flatMap((out) => Array.from(out, (b) => b === 1));
    },
    async close() {
      failure ??= new Error('the verifier is closed');
      for (const w of workers) w.removeAllListeners('exit');
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
