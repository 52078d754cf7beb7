// Crash safety of the witness, adversarially: `witness serve` is SIGKILLed at
// random moments while concurrent clients push add-checkpoint requests for two
// histories of one log that share its key (an honest tree and a fork, as a log
// whose key signed a split view would send), and restarted on its state, 20
// times. Clients also retry from old size 0, which a witness that lost or
// rolled back its state would accept for the other history.
//
// Across all cycles: no size is ever cosigned with two roots, every cosigned
// checkpoint belongs to one history, every cosignature verifies, and after
// each restart the witness serves a checkpoint at least as large as any it
// answered 200 for (it never goes backwards), with the root it cosigned.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/core/bytes.js';
import { parseCheckpoint } from '../../src/core/checkpoint.js';
import { parseCosignatureVerifierKey, verifyCosignature } from '../../src/core/cosignature.js';
import { ed25519Signer, parseNote } from '../../src/core/note.js';
import { useNodeCrypto } from '../../src/platform/node-crypto.js';
import { parseSizeBody } from '../../src/witnessing/protocol.js';
import { MemLog } from '../fuzz/memlog.js';
import { Rng } from '../fuzz/gen.js';
import { tmp } from '../helpers/procs.js';
import { TestWitness } from '../helpers/witness.js';

useNodeCrypto();

const ORIGIN = 'crash.test/witness-log';
const CYCLES = 20;
const MAX = 20_000;
const logKey = ed25519Signer(ORIGIN, new Uint8Array(32).fill(11));
const histories = [new MemLog(ORIGIN, 'honest').grow(MAX), new MemLog(ORIGIN, 'fork').grow(MAX)];

describe('witness crash safety under SIGKILL during add-checkpoint', () => {
  let witness: TestWitness | undefined;
  afterAll(async () => {
    await witness?.kill();
  });

  it(`never cosigns two roots for one size and never goes backwards, across ${CYCLES} kills`, async () => {
    const rng = new Rng(Number(process.env.LEDGER_FUZZ_SEED ?? 0x77c0));
    witness = TestWitness.create(join(tmp('witness-crash-'), 'w'), 'crash.test/witness', [{ origin: ORIGIN, vkey: logKey.vkey }]);
    const verifier = parseCosignatureVerifierKey(witness.vkey);
    const cosigned = new Map<number, string>(); // size -> root (hex) of every 200 answer
    const branches = new Set<number>(); // which history the 200 answers came from
    let maxAcked = 0;
    let requests = 0;

    const record = (h: number, size: number, line: string) => {
      const text = histories[h]!.checkpointText(size);
      verifyCosignature(text, parseNote(text + '\n' + line).signatures[0]!, verifier);
      const root = toHex(histories[h]!.root(size));
      const prev = cosigned.get(size);
      expect(prev === undefined || prev === root, `size ${size} cosigned with two roots`).toBe(true);
      cosigned.set(size, root);
      branches.add(h);
      maxAcked = Math.max(maxAcked, size);
    };

    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await witness.start();
      const url = `${witness.url}/add-checkpoint`;

      // The state survived: at least the largest size ever cosigned, with the root cosigned for it.
      const note = await witness.checkpoint(ORIGIN);
      if (maxAcked > 0) {
        expect(note, 'the witness lost its state').toBeDefined();
        const cp = parseCheckpoint(parseNote(note!).text);
        expect(cp.size, 'the witness went backwards').toBeGreaterThanOrEqual(maxAcked);
        if (cosigned.has(cp.size)) expect(toHex(cp.rootHash)).toBe(cosigned.get(cp.size));
        const own = parseNote(note!).signatures.filter((s) => s.name === verifier.name);
        expect(own).toHaveLength(1);
        verifyCosignature(parseNote(note!).text, own[0]!, verifier);
      }

      let stop = false;
      const client = async (seed: number) => {
        const r = new Rng(seed);
        let old = note ? parseCheckpoint(parseNote(note).text).size : 0;
        while (!stop) {
          const h = r.int(2);
          const fromZero = r.bool(0.15); // a replay from the empty tree, for either history
          const from = fromZero ? 0 : old;
          const size = Math.min(MAX, from + (fromZero ? 1 + r.int(MAX / 4) : r.int(8)));
          try {
            const res = await fetch(url, { method: 'POST', body: histories[h]!.request(from, Math.max(size, from), [logKey]) });
            const text = await res.text();
            requests++;
            if (res.status === 200) {
              record(h, Math.max(size, from), text);
              old = Math.max(size, from);
            } else if (res.status === 409) old = parseSizeBody(text);
            else expect([400, 422], `status ${res.status}: ${text}`).toContain(res.status);
          } catch (e) {
            if (e instanceof TypeError) return; // killed mid-request: that answer never came
            throw e;
          }
        }
      };
      const clients = [0, 1, 2, 3].map((i) => client(rng.u32() + i));
      await new Promise((r) => setTimeout(r, 100 + rng.int(800)));
      await witness.kill('SIGKILL');
      stop = true;
      await Promise.all(clients);
    }

    expect(branches.size, 'cosigned checkpoints of two histories').toBe(1);
    expect(cosigned.size).toBeGreaterThan(CYCLES);
    expect(requests).toBeGreaterThan(CYCLES * 10);
  }, 300_000);
});
