// A real log for the bundle tests, built in-process with the Ledger class: the
// SQLite store, the sequencer, the integrator and the one publish path, with
// three witnesses cosigning every checkpoint through Ledger.witnessing (built
// with core/cosignature directly), producers registered and revoked as log
// entries, and, for the misbehaving-log cases, entries appended straight to the
// store past the registry's checks.

import { join } from 'node:path';
import { md5 } from '@noble/hashes/legacy.js';
import { toHex, utf8 } from '../../src/core/bytes.js';
import { cosignerFromSeed, type Cosigner } from '../../src/core/cosignature.js';
import { randomBytes, sha256 } from '../../src/core/crypto.js';
import { signEnvelope, type Envelope } from '../../src/core/dsse.js';
import { encodeLeaf, payloadTypeOf, type EntryKind, type ProducerKind } from '../../src/core/entry.js';
import { addSignatures, formatSignerKey, parseNote } from '../../src/core/note.js';
import { ensureDir, paths, saveConfig, writeNewFile } from '../../src/log/config.js';
import { Ledger } from '../../src/log/ledger.js';
import { applyProducerChange, newEntryOf } from '../../src/log/producers.js';
import { LedgerStore } from '../../storage/sqlite/store.js';
import { tmp } from '../helpers/procs.js';
import { TestProducer } from '../helpers/producer.js';

export class TestLog {
  readonly dir: string;
  readonly ledger: Ledger;
  readonly witnesses: Cosigner[];
  /** Cosignature time (POSIX seconds) the witnesses use. */
  witnessTime = Math.floor(Date.now() / 1000);

  constructor(
    readonly origin: string,
    witnessNames: string[] = ['w1', 'w2', 'w3'],
  ) {
    this.dir = join(tmp('bundle-'), 'data');
    ensureDir(this.dir);
    writeNewFile(paths(this.dir).key, formatSignerKey(origin, randomBytes(32)) + '\n', 0o600);
    saveConfig(this.dir, { origin });
    const store = new LedgerStore(paths(this.dir).db);
    store.setMeta('origin', origin);
    store.close();
    this.ledger = new Ledger(this.dir);
    // Integration runs only when a test asks (flush), never on a timer.
    this.ledger.sequencer.onCommit = () => {};
    this.witnesses = witnessNames.map((n) => cosignerFromSeed(n, randomBytes(32)));
    this.ledger.witnessing = {
      cosign: async (cp) => {
        const text = parseNote(cp.note).text;
        return addSignatures(
          cp.note,
          this.witnesses.map((w) => w.cosign(text, this.witnessTime)),
        );
      },
    };
  }

  get vkey(): string {
    return this.ledger.signer.vkey;
  }

  /** A tlog-policy trusting this log and its witnesses, `quorum` of them. */
  policy(quorum: number | 'none' = 2): string {
    const lines = [`log ${this.vkey}`, ...this.witnesses.map((w) => `witness ${w.name} ${w.vkey}`)];
    if (quorum === 'none') lines.push('quorum none');
    else lines.push(`group all-witnesses ${quorum} ${this.witnesses.map((w) => w.name).join(' ')}`, 'quorum all-witnesses');
    return lines.join('\n') + '\n';
  }

  register(name: string, p: TestProducer, types: ProducerKind[] = ['evidence', 'trust-score', 'in-toto']): number {
    const r = applyProducerChange(this.ledger.store, this.ledger.signer.seed, { action: 'add', name, publicKey: p.publicKey, types });
    this.ledger.registry.refresh(true);
    return r.index;
  }

  revoke(name: string, p: TestProducer): number {
    const r = applyProducerChange(this.ledger.store, this.ledger.signer.seed, { action: 'revoke', name, publicKey: p.publicKey, types: [] });
    this.ledger.registry.refresh(true);
    return r.index;
  }

  /** Submits through the log's own checks (schema, authorisation); returns the indices. */
  async submit(envelopes: unknown[]): Promise<number[]> {
    const rs = await Promise.all(envelopes.map((e) => this.ledger.submit(e)));
    return rs.map((r) => r.index);
  }

  /** A misbehaving log: appends an envelope without any check. Returns its index. */
  inject(kind: EntryKind, envelope: Envelope): number {
    const leaf = encodeLeaf({ kind, time: Date.now(), envelope });
    return this.ledger.store.write(() => this.ledger.store.appendInTx([newEntryOf(leaf, envelope)]));
  }

  /** Integrates everything sequenced, signs a checkpoint and publishes it (witness round included). */
  async flush(): Promise<number> {
    while (this.ledger.integrator.integrate() > 0);
    this.ledger.integrator.checkpoint();
    await this.ledger.publish();
    return this.ledger.store.latestPublishedCheckpoint()!.size;
  }

  /** Stores an S3 anchor receipt for the published checkpoint of `size`, as the anchorer would. */
  anchor(size: number): void {
    const cp = this.ledger.store.getCheckpoint(size)!;
    const receipt = {
      bucket: 'ledger-anchors',
      key: `logs/checkpoints/${toHex(sha256(utf8(this.origin)))}/${String(size).padStart(20, '0')}`,
      versionId: `v-${size}`,
      etag: toHex(md5(utf8(cp.note))),
      retainUntil: '2033-01-01T00:00:00.000Z',
      mode: 'COMPLIANCE',
    };
    this.ledger.store.putAnchor(size, JSON.stringify(receipt));
  }

  close(): void {
    this.ledger.close();
  }
}

/** An envelope of `kind` signed with `seed` (core Envelope form, for inject). */
export function signed(seed: Uint8Array, kind: EntryKind, payload: unknown): Envelope {
  return signEnvelope(payloadTypeOf(kind), typeof payload === 'string' ? utf8(payload) : payload instanceof Uint8Array ? payload : utf8(JSON.stringify(payload)), seed);
}

/** The leaves of a closed log's data directory, in index order. */
export function leavesOf(dir: string): Uint8Array[] {
  const store = new LedgerStore(paths(dir).db, { readonly: true });
  try {
    return store.getEntries(0, store.entryCount());
  } finally {
    store.close();
  }
}

/** A published checkpoint note of a closed log. */
export function checkpointOf(dir: string, size: number): string {
  const store = new LedgerStore(paths(dir).db, { readonly: true });
  try {
    return store.getCheckpoint(size)!.note;
  } finally {
    store.close();
  }
}
