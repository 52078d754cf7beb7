// Bundles built from nothing but the pure core: a log of given leaves (producer
// registrations signed by the log key, then producers' entries), its tiles, a
// signed and cosigned checkpoint, and the bundle of all of it. Deterministic for
// fixed seeds and times (Ed25519 signatures are), which gives spec/bundle.md its
// test vector; fast enough to build 100,000-entry bundles.

import { toBase64, utf8 } from '../../src/core/bytes.js';
import { formatCheckpoint } from '../../src/core/checkpoint.js';
import { cosignerFromSeed } from '../../src/core/cosignature.js';
import { ed25519PublicKey, ed25519Sign } from '../../src/core/crypto.js';
import { keyIdOf, pae, type Envelope } from '../../src/core/dsse.js';
import { encodeLeaf, payloadTypeOf, producerPayload, type EntryKind, type ProducerKind } from '../../src/core/entry.js';
import { CompactRange, hashLeaf, type NodeId } from '../../src/core/merkle.js';
import { addSignatures, ed25519Signer, signNote } from '../../src/core/note.js';
import { tilesAfterAppend, tilesNeeded, TILE_WIDTH } from '../../src/core/tiles.js';
import { buildManifest, encodeBundle, type Bundle, type BundleContent } from '../../src/bundle/format.js';

export interface SyntheticProducer {
  name: string;
  seed: Uint8Array;
  types: ProducerKind[];
}

export interface SyntheticEntry {
  producer: number;
  kind: ProducerKind;
  payload: unknown;
  time: number;
}

export interface SyntheticLog {
  origin: string;
  logSeed: Uint8Array;
  witnesses: { name: string; seed: Uint8Array }[];
  /** Cosignature time, POSIX seconds. */
  cosignedAt: number;
  producers: SyntheticProducer[];
  /** Time of the registration entries, ms. */
  registeredAt: number;
  entries: SyntheticEntry[];
  /** Signs a message with a seed; the core's ed25519Sign when left out. */
  sign?: (seed: Uint8Array, msg: Uint8Array) => Uint8Array;
}

function envelope(kind: EntryKind, payload: Uint8Array, seed: Uint8Array, sign: (s: Uint8Array, m: Uint8Array) => Uint8Array): Envelope {
  const payloadType = payloadTypeOf(kind);
  return { payloadType, payload, signatures: [{ keyid: keyIdOf(ed25519PublicKey(seed)), sig: sign(seed, pae(payloadType, payload)) }] };
}

/** The leaves, tiles and cosigned checkpoint of the log, and a bundle of every entry. */
export function buildSynthetic(s: SyntheticLog): { bytes: Uint8Array; bundle: Bundle; policy: string; leaves: Uint8Array[] } {
  const sign = s.sign ?? ed25519Sign;
  const leaves: Uint8Array[] = [];
  for (const p of s.producers) {
    const pub = ed25519PublicKey(p.seed);
    const payload = producerPayload({
      action: 'add',
      name: p.name,
      keyid: keyIdOf(pub),
      publicKey: toBase64(pub),
      types: p.types,
      ts: new Date(s.registeredAt).toISOString(),
    });
    leaves.push(encodeLeaf({ kind: 'producer', time: s.registeredAt, envelope: envelope('producer', payload, s.logSeed, sign) }));
  }
  for (const e of s.entries) {
    leaves.push(encodeLeaf({ kind: e.kind, time: e.time, envelope: envelope(e.kind, utf8(JSON.stringify(e.payload)), s.producers[e.producer]!.seed, sign) }));
  }
  const hashes = leaves.map(hashLeaf);
  const range = new CompactRange();
  for (const h of hashes) range.append(h);
  const n = leaves.length;
  const all = tilesAfterAppend(0, n, () => new Uint8Array(0), hashes);
  const wanted = new Set(tilesNeeded(n, blockIds(n)).map((t) => `${t.level}/${t.index}`));
  const tiles = all.filter((t) => wanted.has(`${t.tile.level}/${t.tile.index}`)).map((t) => ({ level: t.tile.level, index: t.tile.index, data: t.data }));
  tiles.sort((a, b) => a.level - b.level || a.index - b.index);

  const text = formatCheckpoint({ origin: s.origin, size: n, rootHash: range.root(), extensions: [] });
  const logSigner = ed25519Signer(s.origin, s.logSeed);
  const cosigners = s.witnesses.map((w) => cosignerFromSeed(w.name, w.seed));
  const note = addSignatures(
    signNote(text, [logSigner]),
    cosigners.map((c) => c.cosign(text, s.cosignedAt)),
  );
  const content: BundleContent = {
    origin: s.origin,
    checkpoint: note,
    tiles,
    entries: leaves.map((leaf, index) => ({ index, leaf })),
    producers: [],
    anchors: [],
  };
  const bundle: Bundle = { ...content, manifest: buildManifest(content, {}, n) };
  const policy = [
    `log ${logSigner.vkey}`,
    ...cosigners.map((c) => `witness ${c.name} ${c.vkey}`),
    ...(cosigners.length ? [`group witnesses all ${cosigners.map((c) => c.name).join(' ')}`, 'quorum witnesses'] : ['quorum none']),
  ].join('\n');
  return { bytes: encodeBundle(bundle), bundle, policy: policy + '\n', leaves };
}

function blockIds(n: number): NodeId[] {
  const out: NodeId[] = [];
  for (let i = 0; i < n; i += TILE_WIDTH) out.push({ level: 0, index: i });
  return out;
}
