// ledger export: a bundle (or one tlog-proof per entry) of a selection of the
// log, from its data directory or from a running server (spec/bundle.md).

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PRODUCER_KINDS, parseRfc3339Utc } from '../core/entry.js';
import { DirSource, ExportError, exportBundle, exportTlogProofs, HttpSource, type ExportOptions, type LogSource } from '../bundle/export.js';
import type { Selection } from '../bundle/format.js';
import { encodeRegistryCache, parseRegistryCache, type RegistrySnapshot } from '../bundle/registry-cache.js';
import { ConfigError } from '../log/config.js';
import { flags, UsageError } from './args.js';
import { progressBar } from '../bundle/progress.js';

const USAGE = `usage: ledger export (--url URL | --data DIR) --out PATH [selection] [--since SIZE|FILE] [--format bundle|tlog-proof] [--registry-cache FILE] [--quiet]
selection (all given filters must match; none selects every entry of the latest checkpoint):
  --from N --to N                   index range, both inclusive
  --from-time T --to-time T         time the log accepted the entry (RFC 3339 UTC), both inclusive
  --producer NAME|KEYID             signing producer (repeat or comma-separate)
  --type KIND                       evidence, trust-score, in-toto, producer (repeat or comma-separate)
  --subject S                       trust-score subject, evidence artifact, in-toto subject name (repeatable)
--since SIZE|FILE                   also carry an earlier checkpoint and the consistency proof to it
--format tlog-proof                 write one C2SP tlog-proof per entry into the directory PATH
--registry-cache FILE               (with --url) keep the producer registry read from the log in FILE,
                                    so that the next export reads the log only from where this one ended
`;

/** Writes a file whole and renames it into place, so that a reader never sees half of it. */
function writeWhole(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Bad input and I/O failures exit 2, as usage errors do (args.ts runMain). */
class InputError extends UsageError {}

function index(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError(`--${name} must be a non-negative integer`);
  return Number(v);
}

function time(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  try {
    return parseRfc3339Utc(v);
  } catch (e) {
    throw new UsageError(`--${name}: ${(e as Error).message}`);
  }
}

function list(v: string[] | undefined, split: boolean): string[] | undefined {
  if (v === undefined) return undefined;
  const out = split ? v.flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean) : v;
  return out.length > 0 ? [...new Set(out)] : undefined;
}

export async function exportCmd(argv: string[]): Promise<number> {
  const { values } = flags(argv, {
    url: { type: 'string' },
    data: { type: 'string' },
    out: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    'from-time': { type: 'string' },
    'to-time': { type: 'string' },
    producer: { type: 'string', multiple: true },
    type: { type: 'string', multiple: true },
    subject: { type: 'string', multiple: true },
    since: { type: 'string' },
    format: { type: 'string' },
    'registry-cache': { type: 'string' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if ((values.url === undefined) === (values.data === undefined)) throw new UsageError(`give exactly one of --url or --data\n${USAGE}`);
  if (values.out === undefined) throw new UsageError(`--out is required\n${USAGE}`);
  const format = values.format ?? 'bundle';
  if (format !== 'bundle' && format !== 'tlog-proof') throw new UsageError('--format must be bundle or tlog-proof');

  const selection: Selection = {};
  const from = index(values.from, 'from');
  const to = index(values.to, 'to');
  if (from !== undefined && to !== undefined && from > to) throw new UsageError('--from is above --to');
  const fromTime = time(values['from-time'], 'from-time');
  const toTime = time(values['to-time'], 'to-time');
  if (fromTime !== undefined && toTime !== undefined && fromTime > toTime) throw new UsageError('--from-time is after --to-time');
  const producers = list(values.producer, true);
  const types = list(values.type, true);
  for (const t of types ?? []) if (t !== 'producer' && !PRODUCER_KINDS.includes(t as never)) throw new UsageError(`--type ${t}: use ${[...PRODUCER_KINDS, 'producer'].join(', ')}`);
  const subjects = list(values.subject, false);
  if (from !== undefined) selection.from = from;
  if (to !== undefined) selection.to = to;
  if (fromTime !== undefined) selection.fromTime = fromTime;
  if (toTime !== undefined) selection.toTime = toTime;
  if (producers) selection.producers = producers;
  if (types) selection.types = types;
  if (subjects) selection.subjects = subjects;

  const opts: ExportOptions = { selection };
  if (values.since !== undefined) {
    if (/^[0-9]+$/.test(values.since)) opts.since = { size: index(values.since, 'since')! };
    else opts.since = { note: readFileSync(values.since, 'utf8') };
  }
  const cacheFile = values['registry-cache'];
  let cached: RegistrySnapshot | undefined;
  if (cacheFile !== undefined) {
    if (values.url === undefined) throw new UsageError('--registry-cache is for --url: a data directory has its own index of registry entries');
    if (existsSync(cacheFile)) {
      try {
        opts.registry = cached = parseRegistryCache(readFileSync(cacheFile, 'utf8'));
      } catch (e) {
        throw new InputError(`${cacheFile}: ${(e as Error).message}`); // a malformed cache (RegistryCacheError) or an unreadable file
      }
    }
  }
  /** Keeps the registry the export read, unless the cache already reaches further. */
  const keep = (r: RegistrySnapshot | undefined) => {
    if (cacheFile === undefined || r === undefined || (cached !== undefined && cached.size >= r.size)) return;
    writeWhole(cacheFile, encodeRegistryCache(r));
  };
  const bar = progressBar(values.quiet === true);
  opts.onProgress = (phase, done, total) => bar.update(phase === 'scan' ? 'reading entries' : 'proving', done, total);

  let src: LogSource;
  try {
    src = values.url !== undefined ? new HttpSource(values.url) : new DirSource(values.data!);
  } catch (e) {
    if (e instanceof ConfigError) throw new InputError(e.message);
    throw e;
  }
  try {
    if (format === 'bundle') {
      const { bytes, bundle, registry } = await exportBundle(src, opts);
      bar.done();
      keep(registry);
      writeWhole(values.out, bytes);
      process.stdout.write(
        `exported ${bundle.entries.length} entries (+${bundle.producers.length} producer registry entries, ${bundle.tiles.length} tiles, ${bundle.anchors.length} anchor receipts) ` +
          `of ${bundle.origin} at tree size ${bundle.manifest.treeSize}${bundle.earlier ? ' with an earlier checkpoint' : ''} to ${values.out}: ${bytes.length} bytes\n`,
      );
    } else {
      mkdirSync(values.out, { recursive: true });
      let bytes = 0;
      const r = await exportTlogProofs(src, opts, (i, text) => {
        writeFileSync(join(values.out!, `${i}.tlog-proof`), text);
        bytes += Buffer.byteLength(text);
      });
      bar.done();
      keep(r.registry);
      process.stdout.write(`exported ${r.count} tlog-proof files of ${r.origin} at tree size ${r.treeSize} to ${values.out}/: ${bytes} bytes\n`);
    }
    return 0;
  } catch (e) {
    bar.done();
    if (e instanceof ExportError) {
      if (e.io || e.code === 'bad-since' || e.code === 'no-such-checkpoint' || e.code === 'bad-registry-cache') throw new InputError(`${e.code}: ${e.message}`);
      throw new Error(`${e.code}: ${e.message}`);
    }
    throw e;
  } finally {
    src.close();
  }
}
