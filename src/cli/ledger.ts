#!/usr/bin/env node
// ledger: run and administer a log, and act as a producer or auditor.

import { existsSync, readFileSync } from 'node:fs';
import { useNativeCrypto } from '../platform/sodium.js';
import { cryptoProvider, ed25519PublicKey, randomBytes } from '../core/crypto.js';
import { keyIdOf } from '../core/dsse.js';
import { PRODUCER_KINDS, type ProducerKind } from '../core/entry.js';
import { formatPrivateKeyPem, formatPublicKeyPem, parsePublicKeyPem } from '../core/pem.js';
import { generateSignerKey, parseSignerKey } from '../core/note.js';
import { LedgerStore } from '../../storage/sqlite/store.js';
import { ensureDir, loadConfig, paths, readPrivateKeyFile, saveConfig, writeNewFile, DEFAULTS } from '../log/config.js';
import { applyProducerChange } from '../log/producers.js';
import { LedgerError } from '../log/errors.js';
import { flags, runCommands, required, usage, UsageError } from './args.js';
import { parseListen } from '../server/http.js';

const USAGE = `usage:
  ledger init --data DIR --origin ORIGIN [--listen HOST:PORT]
  ledger vkey --data DIR
  ledger serve --data DIR [--listen HOST:PORT] [--origin ORIGIN  (creates the log if DIR has none)]
  ledger keygen --out FILE
  ledger producers add --data DIR --name NAME --key FILE.pub [--types evidence,trust-score,in-toto]
  ledger producers revoke --data DIR --name NAME
  ledger producers list --data DIR [--json]
  ledger submit --url URL --key FILE --type evidence|trust-score|in-toto [--file FILE|-] [field flags]
                [--vkey VKEY|--vkey-file FILE] [--policy FILE] [--wait [--timeout SECONDS]] [--json] < payload.json
  ledger prove --url URL --vkey VKEY|--vkey-file FILE [--policy FILE] --index I|--leaf-hash H [--out PROOF] [--json]
  ledger consistency --url URL --vkey VKEY|--vkey-file FILE [--policy FILE] --from M|--from-checkpoint FILE
                [--to N|--to-checkpoint FILE] [--json]
  ledger monitor --url URL --vkey VKEY|--vkey-file FILE [--policy FILE] --state DIR [--once] [--interval SECONDS]
                [--max-age SECONDS] [--min-score [SUBJECT=]VALUE ...] [--json]
  ledger scores SUBJECT --url URL --vkey VKEY|--vkey-file FILE [--policy FILE] [--json]
  ledger export --url URL|--data DIR --out BUNDLE [selection flags]   (see spec/bundle.md)
  ledger anchor verify --data DIR [--json]
  ledger anchor hold --data DIR --on|--off [--size N]
  ledger witnesses add --data DIR --name NAME --url URL --vkey VKEY
  ledger witnesses remove --data DIR --name NAME
  ledger witnesses list --data DIR [--json]
  ledger witnesses policy --data DIR [--quorum K | --policy-file FILE]   (restart ledger serve to apply)
`;

function openStore(dir: string): { store: LedgerStore; seed: Uint8Array } {
  loadConfig(dir);
  const key = parseSignerKey(readPrivateKeyFile(paths(dir).key));
  return { store: new LedgerStore(paths(dir).db), seed: key.seed };
}

async function init(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' }, origin: { type: 'string' }, listen: { type: 'string' } });
  process.stdout.write(createLog(required(values.data, 'data'), required(values.origin, 'origin'), values.listen) + '\n');
}

/** Creates a new log in dir (key 0600, config, database); returns its vkey. */
function createLog(dir: string, origin: string, listen?: string): string {
  if (/\s|\+/.test(origin)) throw new UsageError('--origin must not contain spaces or "+" (it names the log key)');
  const p = paths(dir);
  if (existsSync(p.config) || existsSync(p.key) || existsSync(p.db)) throw new UsageError(`${dir} already holds a log; init refuses to overwrite it`);
  ensureDir(dir);
  const { skey, vkey } = generateSignerKey(origin);
  writeNewFile(p.key, skey + '\n', 0o600);
  saveConfig(dir, { origin, listen: listen ?? DEFAULTS.listen });
  const store = new LedgerStore(p.db);
  store.setMeta('origin', origin);
  store.close();
  return vkey;
}

async function vkey(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' } });
  const dir = required(values.data, 'data');
  loadConfig(dir);
  process.stdout.write(parseSignerKey(readPrivateKeyFile(paths(dir).key)).vkey + '\n');
}

async function serveCmd(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' }, listen: { type: 'string' }, origin: { type: 'string' } });
  const dir = required(values.data, 'data');
  if (values.origin !== undefined && !existsSync(paths(dir).config)) {
    // First run with the embedded defaults: create the log, then serve it.
    process.stderr.write(`created log ${values.origin} in ${dir}; its verifier key:\n${createLog(dir, values.origin)}\n`);
  }
  if (values.listen !== undefined) usage(() => parseListen(values.listen!));
  const { startServer } = await import('../server/serve.js');
  const running = await startServer(dir, values.listen);
  const addr = running.server.address();
  const where = typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : String(addr);
  process.stderr.write(`ledger ${running.ledger.config.origin} listening on http://${where} (Ed25519 verification: ${cryptoProvider().name})\n`);
  process.stdout.write(`listening ${where}\n`);
  const stop = () => {
    void running.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await new Promise(() => {});
}

async function keygen(argv: string[]): Promise<void> {
  const { values } = flags(argv, { out: { type: 'string' } });
  const out = required(values.out, 'out');
  if (existsSync(out) || existsSync(out + '.pub')) throw new UsageError(`${out} or ${out}.pub exists; keygen refuses to overwrite`);
  const seed = randomBytes(32);
  const pub = ed25519PublicKey(seed);
  writeNewFile(out, formatPrivateKeyPem(seed), 0o600);
  writeNewFile(out + '.pub', formatPublicKeyPem(pub), 0o644);
  process.stdout.write(`keyid ${keyIdOf(pub)}\n`);
}

function parseTypes(s: string | undefined): ProducerKind[] {
  if (s === undefined) return [...PRODUCER_KINDS];
  const types = s.split(',').map((t) => t.trim()).filter(Boolean);
  for (const t of types) if (!PRODUCER_KINDS.includes(t as ProducerKind)) throw new UsageError(`unknown type ${t}; use ${PRODUCER_KINDS.join(',')}`);
  if (types.length === 0) throw new UsageError('--types is empty');
  return types as ProducerKind[];
}

async function producers(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const { values } = flags(rest, {
    data: { type: 'string' },
    name: { type: 'string' },
    key: { type: 'string' },
    types: { type: 'string' },
    json: { type: 'boolean' },
  });
  const dir = required(values.data, 'data');
  const { store, seed } = openStore(dir);
  try {
    if (sub === 'add') {
      const name = required(values.name, 'name');
      const pub = parsePublicKeyPem(readFileSync(required(values.key, 'key'), 'utf8'));
      const r = applyProducerChange(store, seed, { action: 'add', name, publicKey: pub, types: parseTypes(values.types) });
      process.stdout.write(`added producer ${name} keyid ${r.keyid} at index ${r.index}\n`);
    } else if (sub === 'revoke') {
      const name = required(values.name, 'name');
      const rows = store.producers().filter((r) => r.name === name && r.revokedIndex === null);
      if (rows.length === 0) throw new LedgerError(404, 'no-such-producer', `no active producer named ${name}`);
      for (const row of rows) {
        const r = applyProducerChange(store, seed, { action: 'revoke', name, publicKey: row.publicKey, types: row.types as ProducerKind[] });
        process.stdout.write(`revoked producer ${name} keyid ${r.keyid} at index ${r.index}\n`);
      }
    } else if (sub === 'list') {
      const rows = store.producers();
      if (values.json) {
        process.stdout.write(JSON.stringify(rows.map((r) => ({ name: r.name, keyid: r.keyid, types: r.types, addedIndex: r.addedIndex, revokedIndex: r.revokedIndex }))) + '\n');
      } else {
        for (const r of rows)
          process.stdout.write(`${r.name}\t${r.keyid}\t${r.types.join(',')}\tadded@${r.addedIndex}${r.revokedIndex === null ? '' : `\trevoked@${r.revokedIndex}`}\n`);
      }
    } else throw new UsageError(`unknown producers command ${sub ?? ''}; use add, revoke or list`);
  } finally {
    store.close();
  }
}

const COMMANDS: Record<string, (argv: string[]) => Promise<void | number>> = {
  init,
  vkey,
  serve: serveCmd,
  keygen,
  producers,
  submit: async (argv) => (await import('./submit.js')).submit(argv),
  export: async (argv) => (await import('./export.js')).exportCmd(argv),
  prove: async (argv) => (await import('./prove.js')).prove(argv),
  consistency: async (argv) => (await import('./prove.js')).consistency(argv),
  monitor: async (argv) => (await import('./monitor.js')).monitor(argv),
  scores: async (argv) => (await import('./scores.js')).scores(argv),
  anchor: async (argv) => (await import('./anchor.js')).anchor(argv),
  witnesses: async (argv) => (await import('./witnesses.js')).witnesses(argv),
};

runCommands(USAGE, COMMANDS, useNativeCrypto);
