// The threaded Ed25519 verifier of ledger-verify. A worker thread cannot load
// TypeScript, so this test loads the built module from dist/ and runs real threads.

import { describe, expect, it } from 'vitest';
import { nobleCrypto } from '../../src/core/crypto.js';
import type { Ed25519Check, threadedVerifier as ThreadedVerifierFn } from '../../src/platform/ed25519-threads.js';
import { utf8 } from '../../src/core/bytes.js';

const load = async () => (await import('../../dist/src/platform/ed25519-threads.js' as string)) as { threadedVerifier: typeof ThreadedVerifierFn };

function checks(n: number): Ed25519Check[] {
  const seeds = [1, 2, 3].map((b) => new Uint8Array(32).fill(b));
  return Array.from({ length: n }, (_, i) => {
    const seed = seeds[i % 3]!;
    const message = utf8(`entry ${i} `.repeat(1 + (i % 7)));
    return { publicKey: nobleCrypto.publicKey(seed), message, signature: nobleCrypto.sign(seed, message) };
  });
}

describe('threadedVerifier', () => {
  it('answers every check in order, on two threads, and refuses exactly the tampered ones', async () => {
    const { threadedVerifier } = await load();
    const v = threadedVerifier(2);
    try {
      const all = checks(60);
      expect(await v.verify(all)).toEqual(all.map(() => true));
      const bad = new Set([0, 7, 31, 59]);
      const tampered = all.map((c, i) => {
        if (!bad.has(i)) return c;
        const signature = c.signature.slice();
        signature[i % 64]! ^= 0x01; // one flipped bit
        return { ...c, signature };
      });
      tampered[20] = { ...all[20]!, message: utf8('another message') };
      tampered[21] = { ...all[21]!, publicKey: all[22]!.publicKey }; // another producer's key
      tampered[40] = { ...all[40]!, signature: all[40]!.signature.subarray(0, 63) }; // malformed lengths
      tampered[41] = { ...all[41]!, publicKey: new Uint8Array(33) };
      const want = all.map((_, i) => !bad.has(i) && ![20, 21, 40, 41].includes(i));
      expect(await v.verify(tampered)).toEqual(want);
      // The calls overlap as ledger-verify's chunks do; each keeps its own order.
      const [a, b] = await Promise.all([v.verify(all.slice(0, 30)), v.verify(tampered.slice(30))]);
      expect([...a, ...b]).toEqual([...all.slice(0, 30).map(() => true), ...want.slice(30)]);
    } finally {
      await v.close();
    }
  });
  it('checks small calls on the calling thread, and refuses calls after close', async () => {
    const { threadedVerifier } = await load();
    const v = threadedVerifier(2);
    const few = checks(3);
    few[1] = { ...few[1]!, message: utf8('x') };
    expect(await v.verify(few)).toEqual([true, false, true]);
    await v.close();
    await expect(v.verify(checks(40))).rejects.toThrow('closed');
  });
});
