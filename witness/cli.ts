#!/usr/bin/env node
// witness: a C2SP tlog-witness node (spec/witness.md).
//
//   witness init --data DIR --name NAME [--listen HOST:PORT]   new key (0600); prints the cosignature/v1 vkey
//   witness vkey --data DIR
//   witness logs add --data DIR --origin ORIGIN --vkey VKEY    trust a log key (several per origin for rotation)
//   witness logs remove --data DIR --origin ORIGIN [--vkey VKEY]
//   witness logs list --data DIR [--json]
//   witness serve --data DIR [--listen HOST:PORT]
//   witness forks --data DIR [--json]                          the fork evidence kept

import { existsSync } from 'node:fs';
import { equal, toHex } from '../src/core/bytes.js';
import { generateCosignerKey, parseCosignerKey } from '../src/core/cosignature.js';
import { isValidKeyName, parseVerifierKey } from '../src/core/note.js';
import { ConfigError, ensureDir, readPrivateKeyFile, writeNewFile } from '../src/log/config.js';
import { useNativeCrypto } from '../src/platform/sodium.js';
import { flags, runCommands, required, usage, UsageError } from '../src/cli/args.js';
import { parseListen } from '../src/server/http.js';
import { listen } from '../src/server/limits.js';
import { createWitnessApp } from './app.js';
import { checkOrigin, DEFAULT_LISTEN, loadWitnessConfig, LogKeys, saveWitnessConfig, witnessPaths } from './config.js';
import { WitnessStore } from './store.js';
import { Witness } from './witness.js';

const USAGE = `usage:
  witness init --data DIR --name NAME [--listen HOST:PORT]
  witness vkey --data DIR
  witness logs add --data DIR --origin ORIGIN --vkey VKEY
  witness logs remove --data DIR --origin ORIGIN [--vkey VKEY]
  witness logs list --data DIR [--json]
  witness serve --data DIR [--listen HOST:PORT]
  witness forks --data DIR [--json]
`;

function loadCosigner(dir: string) {
  loadWitnessConfig(dir);
  return parseCosignerKey(readPrivateKeyFile(witnessPaths(dir).key));
}

async function init(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' }, name: { type: 'string' }, listen: { type: 'string' } });
  const dir = required(values.data, 'data');
  const name = required(values.name, 'name');
  // tlog-cosignature: the key name SHOULD be a schema-less URL; signed-note: no spaces or '+'.
  if (!isValidKeyName(name)) throw new UsageError('--name must not be empty or contain spaces or "+" (it names the witness key)');
  if (values.listen !== undefined) parseListen(values.listen);
  const p = witnessPaths(dir);
  if (existsSync(p.key) || existsSync(p.config)) throw new UsageError(`${dir} already holds a witness; init refuses to overwrite it`);
  ensureDir(dir);
  const { skey, vkey } = generateCosignerKey(name);
  writeNewFile(p.key, skey + '\n', 0o600);
  saveWitnessConfig(dir, { listen: values.listen ?? DEFAULT_LISTEN, logs: [] });
  new WitnessStore(p.db).close();
  process.stdout.write(vkey + '\n');
}

async function vkey(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' } });
  process.stdout.write(loadCosigner(required(values.data, 'data')).vkey + '\n');
}

async function logs(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const { values } = flags(rest, { data: { type: 'string' }, origin: { type: 'string' }, vkey: { type: 'string' }, json: { type: 'boolean' } });
  const dir = required(values.data, 'data');
  const cfg = loadWitnessConfig(dir);
  if (sub === 'add') {
    const origin = required(values.origin, 'origin');
    checkOrigin(origin);
    const vkey = required(values.vkey, 'vkey');
    const v = parseVerifierKey(vkey); // a log signs with signed-note Ed25519 (type 0x01)
    let log = cfg.logs.find((l) => l.origin === origin);
    if (!log) cfg.logs.push((log = { origin, vkeys: [] }));
    if (log.vkeys.some((k) => equal(parseVerifierKey(k).publicKey, v.publicKey))) {
      throw new ConfigError('duplicate-key', `${origin} already trusts that public key`);
    }
    log.vkeys.push(vkey);
    saveWitnessConfig(dir, cfg);
    process.stdout.write(`trusting ${v.name}+${toHex(v.keyId)} for ${origin} (${log.vkeys.length} key${log.vkeys.length === 1 ? '' : 's'})\n`);
  } else if (sub === 'remove') {
    const origin = required(values.origin, 'origin');
    const log = cfg.logs.find((l) => l.origin === origin);
    if (!log) throw new ConfigError('unknown-origin', `${origin} is not a log this witness follows`);
    if (values.vkey !== undefined) {
      const before = log.vkeys.length;
      log.vkeys = log.vkeys.filter((k) => k !== values.vkey);
      if (log.vkeys.length === before) throw new ConfigError('unknown-key', `${origin} has no key ${values.vkey}`);
    }
    // The cosigned state stays in witness.db: adding the log again resumes from it.
    if (values.vkey === undefined || log.vkeys.length === 0) cfg.logs = cfg.logs.filter((l) => l !== log);
    saveWitnessConfig(dir, cfg);
    process.stdout.write(cfg.logs.includes(log) ? `removed a key of ${origin}\n` : `removed ${origin}\n`);
  } else if (sub === 'list') {
    const store = new WitnessStore(witnessPaths(dir).db);
    try {
      const rows = cfg.logs.map((l) => ({ origin: l.origin, vkeys: l.vkeys, cosignedSize: store.get(l.origin)?.size ?? null }));
      if (values.json) process.stdout.write(JSON.stringify(rows) + '\n');
      else for (const r of rows) for (const k of r.vkeys) process.stdout.write(`${r.origin}\t${r.cosignedSize ?? '-'}\t${k}\n`);
    } finally {
      store.close();
    }
  } else throw new UsageError(`unknown logs command ${sub ?? ''}; use add, remove or list`);
}

async function forks(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' }, json: { type: 'boolean' } });
  const dir = required(values.data, 'data');
  loadWitnessConfig(dir);
  const store = new WitnessStore(witnessPaths(dir).db);
  try {
    const all = store.forks();
    if (values.json) {
      process.stdout.write(JSON.stringify(all) + '\n');
      return;
    }
    for (const f of all) {
      process.stdout.write(
        `#${f.id} ${f.origin} ${f.reason} at ${new Date(f.receivedAt).toISOString()} (old ${f.oldSize}, ${f.proof.length} proof hashes)\n` +
          `cosigned:\n${f.cosignedNote}submitted:\n${f.submittedNote}\n`,
      );
    }
  } finally {
    store.close();
  }
}

async function serveCmd(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' }, listen: { type: 'string' } });
  const dir = required(values.data, 'data');
  const cosigner = loadCosigner(dir);
  const { hostname, port } = usage(() => parseListen(values.listen ?? loadWitnessConfig(dir).listen));
  const store = new WitnessStore(witnessPaths(dir).db);
  const witness = new Witness(store, cosigner, new LogKeys(dir));
  const app = createWitnessApp(witness, store);
  // The same limits as the ledger: connection cap, timeouts, JSON answers to malformed HTTP.
  const server = await listen(app.fetch, { hostname, port }, { maxConnections: 1024, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 });
  const addr = server.address();
  const where = typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : String(addr);
  process.stderr.write(`witness ${cosigner.name} listening on http://${where}\n`);
  process.stdout.write(`listening ${where}\n`);
  // Every state change is one synchronous transaction, so no request is ever halfway
  // through one when a signal is handled: closing at once loses nothing.
  const stop = () => {
    server.close();
    store.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await new Promise(() => {});
}

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = { init, vkey, logs, serve: serveCmd, forks };

runCommands(USAGE, COMMANDS, useNativeCrypto);
