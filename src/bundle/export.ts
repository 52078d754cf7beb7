// Export: gathers a selection of entries with everything that proves them into
// a bundle (format.ts), or into one C2SP tlog-proof per entry. The log is read
// from its data directory (LedgerStore, read-only) or from a running server
// through the public read API (checkpoint, tlog-tiles hash tiles and entry
// bundles); both give the same bytes for the same selection and checkpoint.
//
// The exporter is not trusted: ledger-verify checks everything it writes. It
// still checks its own work against the signed root before writing (a tile
// that does not bind, an entry that is not the tree's), so a broken source
// fails here rather than at the auditor's. And it checks every leaf it reads,
// not only those it writes: what it leaves out (an entry a filter would have
// selected, a revocation before the range) no verifier of the bundle can see,
// so a source must not be able to hide an entry by serving another leaf.

import { parseCheckpoint, type Checkpoint } from '../core/checkpoint.js';
import { EnvelopeError, verifyEnvelope } from '../core/dsse.js';
import { decodeLeaf, EntryError, peekLeafKind, validatePayload, type LeafRecord } from '../core/entry.js';
import { consistencyProof, consistencyProofPlan, hashLeaf, inclusionProof, inclusionProofPlan, verifyConsistency, type NodeId } from '../core/merkle.js';
import { parseNote } from '../core/note.js';
import { decodeEntryBundle, entriesPath, TileError, tileForNode, tilePath, tilesNeeded, TILE_WIDTH, verifiedTileReader, type TileId } from '../core/tiles.js';
import { formatTlogProof } from '../core/tlog-proof.js';
import { equal, fromBase64 } from '../core/bytes.js';
import { LedgerStore } from '../../storage/sqlite/store.js';
import { loadConfig, paths } from '../log/config.js';
import type { RegistrySnapshot } from './registry-cache.js';
import { buildManifest, encodeBundle, isRangeOnly, selectionMismatch, type Bundle, type BundleAnchor, type BundleEntry, type BundleTile, type Selection, type RegistryKey } from './format.js';

/** A failure of the export itself (unreachable source, nothing to export from, a source that contradicts its checkpoint). */
export class ExportError extends Error {
  override readonly name = 'ExportError';
  constructor(
    /** 'source-unavailable' | 'no-checkpoint' | 'no-such-checkpoint' | 'bad-since' | 'bad-registry-cache' | 'source-inconsistent' */
    readonly code: string,
    message: string,
    /** True when the cause is I/O (network, files): the CLI exits 2. */
    readonly io = false,
  ) {
    super(message);
  }
}

/** Where the log is read from. */
export interface LogSource {
  /** The latest published checkpoint (signed note with cosignatures). */
  latestCheckpoint(): Promise<string>;
  /** The published checkpoint note of this size, when the source keeps them. */
  checkpointAt?(size: number): Promise<string | undefined>;
  /** The indices below `size` of every registry entry, when the source knows them without a scan. */
  producerIndices?(size: number): Promise<number[]>;
  /** Leaves [start, end) of the tree of size `treeSize` (end <= treeSize). */
  entries(start: number, end: number, treeSize: number): Promise<Uint8Array[]>;
  /** A hash tile, exactly t.width hashes. */
  tile(t: TileId): Promise<Uint8Array>;
  /** The stored S3 anchor receipt of the checkpoint of this size. */
  anchor?(size: number): Promise<string | undefined>;
  close(): void;
}

/** Reads a running ledger through its public read API (PROTOCOL.md). */
export class HttpSource implements LogSource {
  readonly #base: string;
  constructor(url: string) {
    this.#base = url.replace(/\/+$/, '');
  }

  async #get(path: string): Promise<Response>;
  async #get(path: string, missing: 'undefined'): Promise<Response | undefined>;
  /** GET of a path of the read API; with 'undefined', a 404 (none of that size, or a server without the route) is undefined. */
  async #get(path: string, missing?: 'undefined'): Promise<Response | undefined> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}/${path}`);
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause?.message;
      throw new ExportError('source-unavailable', `GET ${this.#base}/${path}: ${cause ?? (e as Error).message}`, true);
    }
    if (res.status === 404 && missing === 'undefined') {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status !== 200) {
      let detail = await res.text().catch(() => '');
      try {
        const j = JSON.parse(detail) as { error?: { code?: string; message?: string } };
        if (j.error) detail = `${j.error.code}: ${j.error.message}`;
      } catch {
        /* not a JSON error body; show it as it came */
      }
      throw new ExportError(res.status === 404 && path === 'checkpoint' ? 'no-checkpoint' : 'source-unavailable', `GET ${this.#base}/${path}: ${res.status} ${detail.slice(0, 200)}`, true);
    }
    return res;
  }

  async latestCheckpoint(): Promise<string> {
    return (await this.#get('checkpoint')).text();
  }

  async checkpointAt(size: number): Promise<string | undefined> {
    return (await this.#get(`v1/checkpoints/${size}`, 'undefined'))?.text();
  }

  async anchor(size: number): Promise<string | undefined> {
    return (await this.#get(`v1/anchors/${size}`, 'undefined'))?.text();
  }

  async entries(start: number, end: number, treeSize: number): Promise<Uint8Array[]> {
    const first = Math.floor(start / TILE_WIDTH);
    const last = Math.floor((end - 1) / TILE_WIDTH);
    const fetches: Promise<Uint8Array[]>[] = [];
    for (let k = first; k <= last; k++) {
      const width = Math.min(TILE_WIDTH, treeSize - k * TILE_WIDTH);
      fetches.push(this.#get(entriesPath(k, width)).then(async (r) => decodeEntryBundle(new Uint8Array(await r.arrayBuffer()), width)));
    }
    const bundles = await Promise.all(fetches);
    return bundles.flat().slice(start - first * TILE_WIDTH, end - first * TILE_WIDTH);
  }

  async tile(t: TileId): Promise<Uint8Array> {
    return new Uint8Array(await (await this.#get(tilePath(t))).arrayBuffer());
  }

  close(): void {}
}

/** Reads a log's data directory (read-only; the server may be running). */
export class DirSource implements LogSource {
  readonly #store: LedgerStore;
  constructor(dir: string) {
    loadConfig(dir);
    try {
      this.#store = new LedgerStore(paths(dir).db, { readonly: true });
    } catch (e) {
      throw new ExportError('source-unavailable', `${paths(dir).db}: ${(e as Error).message}`, true);
    }
  }

  async latestCheckpoint(): Promise<string> {
    const cp = this.#store.latestPublishedCheckpoint();
    if (!cp) throw new ExportError('no-checkpoint', 'the log has published no checkpoint yet');
    return cp.note;
  }

  async checkpointAt(size: number): Promise<string | undefined> {
    return this.#store.getPublishedCheckpoint(size)?.note;
  }

  async producerIndices(size: number): Promise<number[]> {
    return this.#store
      .producers()
      .flatMap((r) => [r.addedIndex, r.revokedIndex])
      .filter((i): i is number => i !== null && i < size);
  }

  async entries(start: number, end: number): Promise<Uint8Array[]> {
    const out = this.#store.getEntries(start, end);
    if (out.length !== end - start) throw new ExportError('source-inconsistent', `the store holds ${out.length} of the entries ${start}..${end - 1}`);
    return out;
  }

  async tile(t: TileId): Promise<Uint8Array> {
    const data = this.#store.getTile(t.level, t.index);
    if (!data || data.length < t.width * 32) throw new ExportError('source-inconsistent', `the store lacks tile ${tilePath(t)}`);
    return data.slice(0, t.width * 32);
  }

  async anchor(size: number): Promise<string | undefined> {
    return this.#store.getAnchor(size);
  }

  close(): void {
    this.#store.close();
  }
}

/** Options of an export. */
export interface ExportOptions {
  selection: Selection;
  /** An earlier checkpoint to carry with its consistency proof: a size (from a source that keeps them) or a note. */
  since?: { size: number } | { note: string };
  /** Progress of the long phases: 'scan' (entries read) and 'proofs'. */
  onProgress?: (phase: string, done: number, total: number) => void;
  /**
   * The registry a scan of an earlier export found (its result's `registry`):
   * once the checkpoint's tree is proven to extend the snapshot's, the scan
   * starts at the snapshot's size, not at 0. Used only by a source without an
   * index of registry entries (a server); not used when the checkpoint is
   * smaller than the snapshot.
   */
  registry?: RegistrySnapshot;
}


interface Gathered {
  note: string;
  cp: Checkpoint;
  selected: BundleEntry[];
  producers: BundleEntry[];
  /** A sync tile getter over the tiles fetched so far. */
  tiles: Map<string, { id: TileId; data: Uint8Array }>;
  /** The registry below the checkpoint's size, when the scan covered the whole tree. */
  registry?: RegistrySnapshot;
}

const key = (t: { level: number; index: number }) => `${t.level}/${t.index}`;

async function fetchTiles(src: LogSource, g: Gathered, ids: readonly TileId[]): Promise<void> {
  for (const t of ids) {
    if (!g.tiles.has(key(t))) g.tiles.set(key(t), { id: t, data: await src.tile(t) });
  }
}

function reader(g: Gathered) {
  return verifiedTileReader(g.cp.size, g.cp.rootHash, (t) => {
    const hit = g.tiles.get(key(t));
    if (!hit) throw new ExportError('source-inconsistent', `tile ${tilePath(t)} was not fetched`);
    return hit.data;
  });
}

/** One tile id per 256-leaf block of the given indices: enough for tilesNeeded. */
function blockIds(indices: Iterable<number>): NodeId[] {
  const seen = new Set<number>();
  const out: NodeId[] = [];
  for (const i of indices) {
    const b = Math.floor(i / TILE_WIDTH);
    if (!seen.has(b)) {
      seen.add(b);
      out.push({ level: 0, index: i });
    }
  }
  return out;
}

/**
 * Reads the checkpoint and scans the selected range, replaying the producer
 * registry to attribute each entry to the key that signed it and to know which
 * registry entries the selection depends on.
 */
async function gather(src: LogSource, opts: ExportOptions): Promise<Gathered> {
  const note = await src.latestCheckpoint();
  let cp: Checkpoint;
  try {
    cp = parseCheckpoint(parseNote(note).text);
  } catch (e) {
    throw new ExportError('source-inconsistent', `the source's checkpoint is malformed: ${(e as Error).message}`);
  }
  const g: Gathered = { note, cp, selected: [], producers: [], tiles: new Map() };
  const sel = opts.selection;
  const n = cp.size;
  const from = sel.from ?? 0;
  const to = Math.min(sel.to ?? n - 1, n - 1);
  if (n === 0 || from > to) return g;

  const registry = new Map<string, RegistryKey>();
  const registryLeaves = new Map<number, Uint8Array>(); // every registry entry seen, by index
  const applyRegistry = (i: number, leaf: Uint8Array, rec: LeafRecord) => {
    if (registryLeaves.has(i)) return;
    registryLeaves.set(i, leaf);
    let p: Record<string, unknown>;
    try {
      p = validatePayload('producer', rec.envelope.payload);
    } catch {
      return; // a malformed registry entry authorises nothing; the verifier reports it if carried
    }
    const keyid = p.keyid as string;
    const k = registry.get(keyid);
    if (p.action === 'add' && !k) {
      registry.set(keyid, { keyid, name: p.name as string, publicKey: fromBase64(p.publicKey as string), types: p.types as string[], addIndex: i });
    } else if (p.action === 'revoke' && k && k.revokeIndex === undefined) k.revokeIndex = i;
  };

  // Registry changes before the range come from the source's index of them,
  // or from a scan of the log from index 0, or from the snapshot of an earlier
  // scan and a scan from where it ended.
  let snap = src.producerIndices ? undefined : opts.registry;
  if (snap !== undefined) {
    if (snap.origin !== cp.origin) throw new ExportError('bad-registry-cache', `the registry cache is of origin ${snap.origin}, not ${cp.origin}`);
    if (snap.size > n) snap = undefined;
    else await proveExtends(src, g, snap);
  }
  const indexed: { index: number; leaf: Uint8Array }[] = [];
  if (snap) indexed.push(...snap.entries);
  const kept = new Map<string, Uint8Array>(); // tiles the scan keeps (see checkLeaves)
  if (src.producerIndices) {
    for (const i of (await src.producerIndices(n)).sort((x, y) => x - y)) {
      const leaf = (await src.entries(i, i + 1, n))[0]!;
      await checkLeaves(src, g.cp, kept, i, [leaf]);
      indexed.push({ index: i, leaf });
    }
  }
  const scanFrom = src.producerIndices ? from : snap ? Math.min(from, snap.size) : 0;
  let nextIndexed = 0;
  /** Applies the indexed registry changes below i, in order. */
  const catchUp = (i: number) => {
    for (; nextIndexed < indexed.length && indexed[nextIndexed]!.index < i; nextIndexed++) {
      const { index, leaf } = indexed[nextIndexed]!;
      applyRegistry(index, leaf, decodeLeaf(leaf));
    }
  };

  const deps = new Set<string>();
  const total = to + 1 - scanFrom;
  const step = TILE_WIDTH * 16;
  for (let a = scanFrom; a <= to; a = Math.floor(a / step) * step + step) {
    const b = Math.min(to + 1, Math.floor(a / step) * step + step);
    const leaves = await src.entries(a, b, n);
    await checkLeaves(src, g.cp, kept, a, leaves);
    leaves.forEach((leaf, k) => {
      const i = a + k;
      catchUp(i);
      // Before the range only registry entries matter: skip the others undecoded.
      if (i < from && !mayBeProducer(leaf)) return;
      let rec: LeafRecord | undefined;
      try {
        rec = decodeLeaf(leaf);
      } catch (e) {
        if (!(e instanceof EntryError)) throw e;
      }
      if (i < from) {
        if (rec?.kind === 'producer') applyRegistry(i, leaf, rec);
        return;
      }
      if (!rec) {
        // An undecodable leaf can only match a plain index range; the verifier will report it.
        if (isRangeOnly(sel)) g.selected.push({ index: i, leaf });
        return;
      }
      let payload: Record<string, unknown> = {};
      try {
        payload = validatePayload(rec.kind, rec.envelope.payload);
      } catch {
        /* matched on what it has; the verifier reports the schema failure */
      }
      const signer = rec.kind === 'producer' ? undefined : attribute(rec, i, registry);
      const facts = { index: i, time: rec.time, kind: rec.kind, payload, ...(signer ? { signer: { name: signer.name, keyid: signer.keyid } } : {}) };
      if (selectionMismatch(sel, facts) === undefined) {
        g.selected.push({ index: i, leaf });
        if (signer) deps.add(signer.keyid);
        else if (rec.kind !== 'producer') for (const s of rec.envelope.signatures) deps.add(s.keyid); // lets the verifier name the reason
      }
      if (rec.kind === 'producer') applyRegistry(i, leaf, rec);
    });
    opts.onProgress?.('scan', Math.min(b, to + 1) - scanFrom, total);
  }
  catchUp(n);
  if (!src.producerIndices && to === n - 1) {
    const entries = [...registryLeaves].sort((x, y) => x[0] - y[0]).map(([index, leaf]) => ({ index, leaf }));
    g.registry = { origin: cp.origin, size: n, root: cp.rootHash, entries };
  }

  // Registry entries the selection depends on: each signing key's registration,
  // and its revocation when it comes before a selected entry.
  const chosen = new Set(g.selected.map((e) => e.index));
  const last = g.selected.length > 0 ? g.selected[g.selected.length - 1]!.index : -1;
  const need = new Set<number>();
  for (const id of deps) {
    const k = registry.get(id);
    if (!k) continue;
    need.add(k.addIndex);
    if (k.revokeIndex !== undefined && k.revokeIndex < last) need.add(k.revokeIndex);
  }
  for (const i of [...need].sort((x, y) => x - y)) {
    if (chosen.has(i)) continue;
    const leaf = registryLeaves.get(i) ?? (await src.entries(i, i + 1, n))[0]!;
    g.producers.push({ index: i, leaf });
  }
  return g;
}

/** Proves the checkpoint's tree extends the tree of a registry snapshot (same root at its size). */
async function proveExtends(src: LogSource, g: Gathered, s: RegistrySnapshot): Promise<void> {
  const n = g.cp.size;
  const fail = (why: string): never => {
    throw new ExportError('source-inconsistent', `the log's checkpoint (size ${n}) does not extend the tree of size ${s.size} the registry cache holds: ${why}`);
  };
  if (s.size === n) {
    if (!equal(s.root, g.cp.rootHash)) fail('another root at the same size');
    return;
  }
  if (s.size === 0) return;
  await fetchTiles(src, g, tilesNeeded(n, consistencyProofPlan(s.size, n)));
  try {
    verifyConsistency(s.size, n, consistencyProof(s.size, n, reader(g)), s.root, g.cp.rootHash);
  } catch (e) {
    fail(`${(e as { code?: string }).code ?? 'error'}: ${(e as Error).message}`);
  }
}

/**
 * Checks the leaves a, a+1, … read from the source against the checkpoint's
 * tree, through hash tiles bound to its root. Full level-0 tiles are dropped
 * once used (a scan of the whole log would otherwise hold 32 bytes an entry);
 * `kept` holds the others (higher levels, the right edge) for the next batch.
 */
async function checkLeaves(src: LogSource, cp: Checkpoint, kept: Map<string, Uint8Array>, a: number, leaves: readonly Uint8Array[]): Promise<void> {
  if (leaves.length === 0) return;
  const indices = leaves.map((_, k) => a + k);
  const batch = new Map<string, Uint8Array>();
  await Promise.all(
    tilesNeeded(cp.size, blockIds(indices)).map(async (t) => {
      let data = kept.get(key(t));
      if (data === undefined) {
        data = await src.tile(t);
        if (t.level > 0 || t.width < TILE_WIDTH) kept.set(key(t), data);
      }
      batch.set(key(t), data);
    }),
  );
  let hashes: Uint8Array[];
  try {
    const get = (t: TileId): Uint8Array => {
      const d = batch.get(key(t));
      if (d === undefined) throw new ExportError('source-inconsistent', `tile ${tilePath(t)} was not fetched`);
      return d;
    };
    hashes = verifiedTileReader(cp.size, cp.rootHash, get)(indices.map((index) => ({ level: 0, index })));
  } catch (e) {
    if (e instanceof TileError) throw new ExportError('source-inconsistent', `the source's tiles for entries ${a}..${a + leaves.length - 1}: ${e.code}: ${e.message}`);
    throw e;
  }
  leaves.forEach((leaf, k) => {
    if (!equal(hashes[k]!, hashLeaf(leaf))) throw new ExportError('source-inconsistent', `entry ${a + k} read from the source is not the one the checkpoint's tree holds`);
  });
}

/** False only for a leaf whose first bytes name a kind other than producer (see peekLeafKind). */
function mayBeProducer(leaf: Uint8Array): boolean {
  const kind = peekLeafKind(leaf);
  return kind === undefined || kind === 'producer';
}

/** The registered key that signed entry i: the keyid hint if it names an authorised key, else the one that verifies. */
function attribute(rec: LeafRecord, i: number, registry: Map<string, RegistryKey>): RegistryKey | undefined {
  const allowed = (k: RegistryKey | undefined): k is RegistryKey => k !== undefined && k.addIndex < i && k.revokeIndex === undefined && k.types.includes(rec.kind);
  for (const s of rec.envelope.signatures) {
    const k = registry.get(s.keyid);
    if (allowed(k)) return k;
  }
  const candidates = [...registry.values()].filter(allowed);
  if (candidates.length === 0 || rec.envelope.signatures.length === 0) return undefined;
  try {
    return registry.get(verifyEnvelope(rec.envelope, candidates.map((k) => ({ id: k.keyid, publicKey: k.publicKey })))[0]!);
  } catch (e) {
    if (e instanceof EnvelopeError) return undefined;
    throw e;
  }
}

/** Fetches the tiles that bind every carried entry to the root, and checks each entry against them. */
async function proveEntries(src: LogSource, g: Gathered, entries: readonly BundleEntry[], opts: ExportOptions): Promise<BundleTile[]> {
  if (entries.length === 0) return [];
  const ids = tilesNeeded(g.cp.size, blockIds(entries.map((e) => e.index)));
  const wanted = new Set(ids.map(key));
  await fetchTiles(src, g, ids);
  const read = reader(g);
  entries.forEach((e, k) => {
    if (!equal(read([{ level: 0, index: e.index }])[0]!, hashLeaf(e.leaf))) {
      throw new ExportError('source-inconsistent', `entry ${e.index} read from the source is not the one the checkpoint's tree holds`);
    }
    if (k % 4096 === 4095) opts.onProgress?.('proofs', k + 1, entries.length);
  });
  opts.onProgress?.('proofs', entries.length, entries.length);
  return [...g.tiles.values()]
    .filter((t) => wanted.has(key(t.id)))
    .sort((x, y) => x.id.level - y.id.level || x.id.index - y.id.index)
    .map((t) => ({ level: t.id.level, index: t.id.index, data: t.data }));
}

async function earlier(src: LogSource, g: Gathered, since: ExportOptions['since']): Promise<Bundle['earlier']> {
  if (since === undefined) return undefined;
  let note: string | undefined;
  if ('note' in since) note = since.note;
  else {
    if (!src.checkpointAt) throw new ExportError('bad-since', `this source keeps no earlier checkpoints; give --since a checkpoint file`);
    note = await src.checkpointAt(since.size);
    if (note === undefined) throw new ExportError('no-such-checkpoint', `the log has published no checkpoint of size ${since.size}`);
  }
  let cp: Checkpoint;
  try {
    cp = parseCheckpoint(parseNote(note).text);
  } catch (e) {
    throw new ExportError('bad-since', `the earlier checkpoint is malformed: ${(e as Error).message}`);
  }
  if (cp.origin !== g.cp.origin) throw new ExportError('bad-since', `the earlier checkpoint is of origin ${cp.origin}, not ${g.cp.origin}`);
  if (cp.size < 1 || cp.size > g.cp.size) throw new ExportError('bad-since', `the earlier checkpoint's size ${cp.size} is not in 1..${g.cp.size}`);
  await fetchTiles(src, g, tilesNeeded(g.cp.size, consistencyProofPlan(cp.size, g.cp.size)));
  const proof = consistencyProof(cp.size, g.cp.size, reader(g));
  try {
    verifyConsistency(cp.size, g.cp.size, proof, cp.rootHash, g.cp.rootHash);
  } catch (e) {
    throw new ExportError('source-inconsistent', `the checkpoint of size ${cp.size} is not consistent with the latest (size ${g.cp.size}): ${(e as Error).message}`);
  }
  return { checkpoint: note, proof };
}

export interface ExportResult {
  bytes: Uint8Array;
  bundle: Bundle;
  /** The registry below the checkpoint's size, when the export read the log to its end (for ExportOptions.registry next time). */
  registry?: RegistrySnapshot;
}

/** Builds a bundle of the selection, against the source's latest published checkpoint. */
export async function exportBundle(src: LogSource, opts: ExportOptions): Promise<ExportResult> {
  const g = await gather(src, opts);
  const carried = [...g.selected, ...g.producers].sort((x, y) => x.index - y.index);
  const tiles = await proveEntries(src, g, carried, opts);
  const e = await earlier(src, g, opts.since);
  const anchors: BundleAnchor[] = [];
  for (const size of [e ? parseCheckpoint(parseNote(e.checkpoint).text).size : undefined, g.cp.size].filter((x): x is number => x !== undefined)) {
    const receipt = await src.anchor?.(size);
    if (receipt !== undefined) anchors.push({ size, receipt });
  }
  const content = { origin: g.cp.origin, checkpoint: g.note, ...(e ? { earlier: e } : {}), tiles, entries: g.selected, producers: g.producers, anchors };
  const bundle: Bundle = { ...content, manifest: buildManifest(content, opts.selection, g.cp.size) };
  return { bytes: encodeBundle(bundle), bundle, ...(g.registry ? { registry: g.registry } : {}) };
}

/**
 * One C2SP tlog-proof per selected entry, handed to `write` in index order.
 * The extra line carries the entry's exact leaf bytes, so each file proves its
 * entry on its own (the leaf hash is recomputed from them, so nothing in the
 * extra data is trusted beyond what the inclusion proof binds).
 */
export async function exportTlogProofs(src: LogSource, opts: ExportOptions, write: (index: number, text: string) => Promise<void> | void): Promise<{ count: number; treeSize: number; origin: string; registry?: RegistrySnapshot }> {
  const g = await gather(src, opts);
  const n = g.cp.size;
  const tileIds = new Map<string, NodeId>();
  for (const e of g.selected) {
    for (const id of [{ level: 0, index: e.index }, ...inclusionProofPlan(e.index, n)]) {
      const t = tileForNode(id, n);
      if (!tileIds.has(key(t))) tileIds.set(key(t), id);
    }
  }
  await fetchTiles(src, g, tilesNeeded(n, [...tileIds.values()]));
  const read = reader(g);
  for (const [k, e] of g.selected.entries()) {
    if (!equal(read([{ level: 0, index: e.index }])[0]!, hashLeaf(e.leaf))) {
      throw new ExportError('source-inconsistent', `entry ${e.index} read from the source is not the one the checkpoint's tree holds`);
    }
    await write(e.index, formatTlogProof({ extra: e.leaf, index: e.index, proof: inclusionProof(e.index, n, read), checkpoint: g.note }));
    if (k % 1024 === 1023 || k === g.selected.length - 1) opts.onProgress?.('proofs', k + 1, g.selected.length);
  }
  return { count: g.selected.length, treeSize: n, origin: g.cp.origin, ...(g.registry ? { registry: g.registry } : {}) };
}
