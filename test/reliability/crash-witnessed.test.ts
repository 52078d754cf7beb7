// Crash safety with witnesses: `ledger serve` with two real `witness serve`
// processes and a 2-of-2 policy (configured with `ledger witnesses add|policy`)
// is SIGKILLed at random moments under concurrent load, while checkpoints are
// being witnessed; in every other cycle a witness (sometimes both) is
// SIGKILLed at a random moment too and restarted on its port with its state.
//
// After every cycle, on the restarted ledger:
// - every acknowledged entry is in the tree with the same leaf;
// - every checkpoint ever seen (published by the ledger, or cosigned and
//   served by a witness) is consistent with the current tree, and no two
//   checkpoints of one size differ; the published size never regresses;
// - every published checkpoint carries both cosignatures (2-of-2);
// - per witness, from the ledger's notes and from its monitoring endpoint
//   GET /<hex sha256(origin)>/checkpoint: it cosigned one root per size, and
//   the size it serves never falls below any size it was seen to cosign
//   (the state survives SIGKILL).

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fromBase64, fromHex, toHex } from '../../src/core/bytes.js';
import type { Checkpoint } from '../../src/core/checkpoint.js';
import { hashLeaf, verifyConsistency } from '../../src/core/merkle.js';
import { formatPublicKeyPem } from '../../src/core/pem.js';
import { parsePolicy, verifyCheckpointWithPolicy, type Policy } from '../../src/core/policy.js';
import { decodeEntryBundle, entriesPath } from '../../src/core/tiles.js';
import { useNodeCrypto } from '../../src/platform/node-crypto.js';
import { BIN, cliOk, startServe, tmp, type Server } from '../helpers/procs.js';
import { TestProducer, evidence } from '../helpers/producer.js';
import { configureLogWitnesses, TestWitness } from '../helpers/witness.js';

useNodeCrypto(); // this process verifies every note the clients and the watcher read

const ORIGIN = 'crash.test/witnessed-log';
const CYCLES = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fetch that fails only because a process was killed (fetch's TypeError), not a failed check. */
async function unlessKilled<T>(f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof TypeError) return undefined;
    throw e;
  }
}

describe('crash safety with witnesses, under SIGKILL of the ledger and of witnesses', () => {
  let server: Server | undefined;
  const ws: TestWitness[] = [];
  afterAll(async () => {
    await Promise.all([server, ...ws].map((p) => p?.kill('SIGKILL')));
  });

  it(`loses nothing acknowledged or cosigned, never forks or rolls back, across ${CYCLES} kills`, async () => {
    const base = tmp('crash-witnessed-');
    const dir = join(base, 'log');
    const vkey = cliOk(BIN.ledger, ['init', '--data', dir, '--origin', ORIGIN]).trim();
    const producer = new TestProducer();
    writeFileSync(join(base, 'p.pub'), formatPublicKeyPem(producer.publicKey));
    cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', 'p', '--key', join(base, 'p.pub')]);
    for (const n of ['crash.test/w1', 'crash.test/w2']) ws.push(TestWitness.create(join(base, n.slice(-2)), n, [{ origin: ORIGIN, vkey }]));
    for (const w of ws) await w.start();
    const policy = parsePolicy(configureLogWitnesses(dir, ws, 2));
    expect(policy.groups.get(policy.quorum)?.threshold).toBe(2);
    // Each witness's own view: the log's key and that witness alone.
    const own: Policy[] = ws.map((w) => parsePolicy(`log ${vkey}\nwitness w ${w.vkey}\nquorum w\n`));
    // Short intervals: signing and witness rounds happen all through the load.
    const cfgPath = join(dir, 'config.json');
    writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), checkpointIntervalMs: 50, witnessTimeoutMs: 2000 }));

    const acked = new Map<number, string>(); // index -> leaf hash (base64)
    const seen = new Map<number, string>(); // size -> root (hex), every log-signed checkpoint seen anywhere
    const cosigned = ws.map(() => new Map<number, string>()); // per witness: size -> root it cosigned
    const floor = ws.map(() => 0); // per witness: the largest size it was seen to cosign
    const proven = new Set<number>(); // sizes proven consistent with an earlier current tree (so, by transitivity, with every later one)
    let previous: Checkpoint | undefined; // the current tree of the previous cycle
    let maxPublished = 0;
    let witnessKills = 0;
    let port = 0;

    const recordCheckpoint = (c: Checkpoint) => {
      const root = toHex(c.rootHash);
      const prev = seen.get(c.size);
      expect(prev === undefined || prev === root, `two checkpoints of size ${c.size} differ`).toBe(true);
      seen.set(c.size, root);
    };
    const recordCosigned = (i: number, c: Checkpoint) => {
      const root = toHex(c.rootHash);
      const prev = cosigned[i]!.get(c.size);
      expect(prev === undefined || prev === root, `${ws[i]!.name} cosigned two roots for size ${c.size}`).toBe(true);
      cosigned[i]!.set(c.size, root);
      floor[i] = Math.max(floor[i]!, c.size);
    };
    /**
     * A note from GET /checkpoint: log-signed and cosigned by both witnesses, and
     * not smaller than `atLeast`, the largest published size seen before asking.
     */
    const recordPublished = (note: string, atLeast: number): Checkpoint => {
      const v = verifyCheckpointWithPolicy(note, policy);
      expect(v.witnesses).toEqual(ws.map((w) => w.name));
      recordCheckpoint(v.checkpoint);
      ws.forEach((_, i) => recordCosigned(i, v.checkpoint));
      expect(v.checkpoint.size, 'published checkpoint size regressed').toBeGreaterThanOrEqual(atLeast);
      maxPublished = Math.max(maxPublished, v.checkpoint.size);
      return v.checkpoint;
    };
    /** Witness i's monitoring endpoint; false when the witness is down. */
    const readWitness = async (i: number): Promise<boolean> => {
      const atLeast = floor[i]!; // taken before asking: everything seen cosigned so far is committed
      const got = await unlessKilled(async () => ({ note: await ws[i]!.checkpoint(ORIGIN) }));
      if (got === undefined) return false;
      if (got.note === undefined) {
        expect(atLeast, `${ws[i]!.name} lost its state: 404 after cosigning size ${atLeast}`).toBe(0);
        return true;
      }
      const v = verifyCheckpointWithPolicy(got.note, own[i]!);
      expect(v.checkpoint.size, `${ws[i]!.name} serves size ${v.checkpoint.size} after cosigning ${atLeast}`).toBeGreaterThanOrEqual(atLeast);
      recordCheckpoint(v.checkpoint);
      recordCosigned(i, v.checkpoint);
      return true;
    };

    for (let cycle = 0; cycle <= CYCLES; cycle++) {
      await Promise.all(ws.filter((w) => !w.running).map((w) => w.start())); // same port, same data directory
      server = await startServe(BIN.ledger, dir, port);
      port = server.port;
      const url = server.url;

      // The invariants, on the restarted ledger.
      const settle = await fetch(`${url}/v1/entries?wait=checkpoint`, { method: 'POST', body: JSON.stringify(producer.envelope('evidence', evidence())) });
      expect(settle.status, await settle.clone().text()).toBe(201);
      const s = (await settle.json()) as { index: number; leafHash: string };
      acked.set(s.index, s.leafHash);
      const current = recordPublished(await (await fetch(`${url}/checkpoint`)).text(), maxPublished);
      expect(await Promise.all(ws.map((_, i) => readWitness(i))), 'a witness is down').toEqual(ws.map(() => true));
      // Nothing is signed beyond the settled entry, so nothing seen can be beyond this tree.
      expect(Math.max(...seen.keys()), 'a checkpoint beyond the current tree').toBe(current.size);
      // Every leaf of the tree, read through the entry bundles of the tile API.
      const bundles = await Promise.all(
        Array.from({ length: Math.ceil(current.size / 256) }, async (_, n) => {
          const r = await fetch(`${url}/${entriesPath(n, Math.min(256, current.size - n * 256))}`);
          return decodeEntryBundle(new Uint8Array(await r.arrayBuffer()));
        }),
      );
      const leaves = bundles.flat();
      expect([...acked.keys()].every((i) => i < current.size), 'an acknowledged entry is missing from the tree').toBe(true);
      for (const [index, leafHash] of acked)
        expect(toHex(hashLeaf(leaves[index]!)), `acknowledged entry ${index} changed or vanished`).toBe(toHex(fromBase64(leafHash)));
      // Each checkpoint seen since the last cycle, and the last cycle's tree (which all earlier ones
      // were proven consistent with), against this tree.
      const pending = [...seen].filter(([size]) => size !== 0 && size !== current.size && !proven.has(size) && size !== previous?.size);
      if (previous && previous.size !== current.size) pending.push([previous.size, toHex(previous.rootHash)]);
      await Promise.all(
        pending.map(async ([size, root]) => {
          const c = (await (await fetch(`${url}/v1/proof/consistency?from=${size}&to=${current.size}`)).json()) as { proof: string[] };
          verifyConsistency(size, current.size, c.proof.map((p) => fromBase64(p)), fromHex(root), current.rootHash);
          proven.add(size);
        }),
      );
      previous = current;
      if (cycle === CYCLES) break;

      // Load, witness kills in odd cycles, and the ledger's kill, all at random moments.
      let stop = false;
      const killAt = 50 + Math.random() * 350; // the ledger's SIGKILL, ms into the load
      const client = async (batch: boolean) => {
        while (!stop) {
          const r = await unlessKilled(async () => {
            if (batch) {
              const envelopes = Array.from({ length: 16 }, () => producer.envelope('evidence', evidence()));
              const res = await fetch(`${url}/v1/entries:batch`, { method: 'POST', body: JSON.stringify({ envelopes }) });
              return { status: res.status, body: (await res.json()) as { results: { status: number; index: number; leafHash: string }[] } };
            }
            const res = await fetch(`${url}/v1/entries`, { method: 'POST', body: JSON.stringify(producer.envelope('evidence', evidence())) });
            return { status: res.status, body: { results: [{ ...((await res.json()) as { index: number; leafHash: string }), status: res.status }] } };
          });
          if (r === undefined) return; // the ledger was killed mid-request: nothing acknowledged
          for (const x of r.body.results ?? []) if (x.status === 201 || x.status === 200) acked.set(x.index, x.leafHash);
          const atLeast = maxPublished;
          const cp = await unlessKilled(async () => {
            const res = await fetch(`${url}/checkpoint`);
            return { status: res.status, text: await res.text() };
          });
          if (cp === undefined) return;
          expect(cp.status).toBe(200);
          recordPublished(cp.text, atLeast);
        }
      };
      const watcher = async () => {
        while (!stop) {
          for (let i = 0; i < ws.length; i++) await readWitness(i);
          await sleep(10);
        }
      };
      const chaos = async () => {
        if (cycle % 2 === 0) return;
        // Mostly before the ledger's kill, sometimes after it.
        await sleep(Math.random() * (killAt + 100));
        const victims = cycle % 6 === 5 ? ws : [ws[Math.floor(Math.random() * ws.length)]!];
        await Promise.all(victims.map((w) => w.kill('SIGKILL')));
        witnessKills += victims.length;
        await sleep(Math.random() * 150);
        await Promise.all(victims.map((w) => w.start()));
        // At once, before the ledger (if still alive) sends it anything new: the state it had.
        for (const w of victims) expect(await readWitness(ws.indexOf(w)), `${w.name} is down after its restart`).toBe(true);
      };
      const tasks = [client(false), client(false), client(true), client(true), watcher(), chaos()];
      await sleep(killAt);
      await server.kill('SIGKILL');
      stop = true;
      await Promise.all(tasks);
      // With the ledger dead nothing can move a witness: each must serve at least what it was seen to cosign.
      expect(await Promise.all(ws.map((_, i) => readWitness(i))), 'a witness is down').toEqual(ws.map(() => true));
    }
    expect(witnessKills).toBeGreaterThanOrEqual(CYCLES / 2);
    expect(acked.size).toBeGreaterThan(CYCLES * 10);
    expect(seen.size).toBeGreaterThan(CYCLES);
    for (const c of cosigned) expect(c.size).toBeGreaterThan(CYCLES);
  }, 120_000);
});
