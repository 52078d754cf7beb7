// ledger witnesses: configure the witnesses a log asks to cosign its
// checkpoints, and the C2SP tlog-policy that decides when a checkpoint is
// published (spec/witness.md, "Configuring the log's witnesses").
//
//   ledger witnesses add    --data DIR --name NAME --url URL --vkey VKEY
//   ledger witnesses remove --data DIR --name NAME
//   ledger witnesses list   --data DIR [--json]
//   ledger witnesses policy --data DIR [--quorum K | --policy-file FILE]
//
// They edit DIR/config.json (fields `witnesses` and `witnessPolicy`), keep
// every other field as it is, and replace the file atomically. A running
// `ledger serve` reads its configuration at start only.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, fchmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { equal } from '../core/bytes.js';
import { parseCosignatureVerifierKey, type CosignatureVerifier } from '../core/cosignature.js';
import { NoteError, parseSignerKey } from '../core/note.js';
import { NONE, parsePolicy, PolicyError, type Policy } from '../core/policy.js';
import { paths, readPrivateKeyFile, type WitnessConfig } from '../log/config.js';
import { witnessTargets, WitnessingError } from '../witnessing/witnessing.js';
import { flags, required, UsageError } from './args.js';

/** A refused change; the message starts with the code, as the other CLIs print theirs. */
export class WitnessesError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = 'WitnessesError';
    this.code = code;
  }
}

const RESTART = 'restart ledger serve to apply (it reads config.json at start only)';

/** config.json as stored: every field kept, only witnesses and witnessPolicy read and written here. */
type RawConfig = Record<string, unknown> & { origin: string; witnesses?: WitnessConfig[]; witnessPolicy?: string };

function readRawConfig(dir: string): RawConfig {
  const p = paths(dir).config;
  let text: string;
  try {
    text = readFileSync(p, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') throw new WitnessesError('no-log', `${dir} holds no log (run: ledger init --data ${dir} --origin ORIGIN)`);
    throw e;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new WitnessesError('bad-config', `${p}: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new WitnessesError('bad-config', `${p}: not a JSON object`);
  const cfg = raw as RawConfig;
  if (typeof cfg.origin !== 'string' || cfg.origin === '') throw new WitnessesError('bad-config', `${p}: origin missing`);
  const ws: unknown = cfg.witnesses ?? [];
  if (!Array.isArray(ws) || !ws.every((w) => typeof w?.name === 'string' && typeof w?.url === 'string' && typeof w?.vkey === 'string'))
    throw new WitnessesError('bad-config', `${p}: witnesses must be a list of { name, url, vkey } strings`);
  if (cfg.witnessPolicy !== undefined && typeof cfg.witnessPolicy !== 'string') throw new WitnessesError('bad-config', `${p}: witnessPolicy must be a string`);
  return cfg;
}

/**
 * Replaces config.json atomically: the new text goes to a temporary file in
 * the same directory (same mode as the old file), is flushed, and is renamed
 * over the old one, so a reader sees the old file or the new one, never half.
 */
function writeRawConfig(dir: string, cfg: RawConfig): void {
  const p = paths(dir).config;
  const mode = statSync(p).mode & 0o777;
  const tmp = `${p}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'wx', mode);
  try {
    try {
      fchmodSync(fd, mode); // the umask may have narrowed it
      writeSync(fd, JSON.stringify(cfg, null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, p);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  // The rename itself is durable once the directory is flushed.
  const dfd = openSync(dirname(p), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

function parseWitnessVkey(vkey: string): CosignatureVerifier {
  try {
    return parseCosignatureVerifierKey(vkey);
  } catch (e) {
    if (!(e instanceof NoteError)) throw e;
    // A log key (0x01) given where a witness key (0x04) belongs is the likely slip.
    if (e.code === 'unsupported-key-type') throw new WitnessesError('wrong-key-type', `--vkey is not a cosignature/v1 (type 0x04) witness key: ${e.message}`);
    throw new WitnessesError('bad-vkey', `--vkey: ${e.code}: ${e.message}`);
  }
}

/** The witness's submission prefix (tlog-witness): http or https, no credentials, query or fragment. */
function checkUrl(url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new WitnessesError('bad-url', `--url ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new WitnessesError('bad-url', `--url must be http:// or https://, got ${u.protocol}`);
  // "/add-checkpoint" is appended to the URL as written: it must be a plain prefix.
  if (/[\s?#]/.test(url)) throw new WitnessesError('bad-url', '--url must not contain whitespace, a query or a fragment');
  if (u.username !== '' || u.password !== '') throw new WitnessesError('bad-url', '--url must not carry credentials');
}

function policyOf(cfg: RawConfig): Policy | undefined {
  if (cfg.witnessPolicy === undefined) return undefined;
  try {
    return parsePolicy(cfg.witnessPolicy);
  } catch (e) {
    if (e instanceof PolicyError) return undefined; // reported by serveProblem
    throw e;
  }
}

/**
 * Why `ledger serve` would refuse this configuration (the checks of
 * loadConfig and witnessTargets), or undefined when it would start.
 */
function serveProblem(cfg: RawConfig): string | undefined {
  const ws = cfg.witnesses ?? [];
  if (cfg.witnessPolicy === undefined) return ws.length > 0 ? 'witnesses are configured without a policy' : undefined;
  try {
    witnessTargets(ws, parsePolicy(cfg.witnessPolicy));
    return undefined;
  } catch (e) {
    if (e instanceof PolicyError || e instanceof WitnessingError || e instanceof NoteError) return `${e.code}: ${e.message}`;
    throw e;
  }
}

function warnServe(dir: string, cfg: RawConfig): void {
  const problem = serveProblem(cfg);
  if (problem !== undefined)
    process.stderr.write(`warning: ledger serve will refuse to start: ${problem}; write a policy: ledger witnesses policy --data ${dir} --quorum K\n`);
}

/** The policy name a configured witness counts under: the policy witness with the same vkey (as witnessTargets matches). */
function policyNameOf(policy: Policy | undefined, v: CosignatureVerifier): string | undefined {
  if (!policy) return undefined;
  for (const p of policy.witnesses.values()) if (p.verifier.vkey === v.vkey) return p.name;
  return undefined;
}

function logVkey(dir: string): { vkey: string; name: string; publicKey: Uint8Array } {
  const k = parseSignerKey(readPrivateKeyFile(paths(dir).key));
  return { vkey: k.vkey, name: k.name, publicKey: k.publicKey };
}

async function add(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' }, name: { type: 'string' }, url: { type: 'string' }, vkey: { type: 'string' } });
  const dir = required(values.data, 'data');
  const name = required(values.name, 'name');
  const url = required(values.url, 'url');
  const v = parseWitnessVkey(required(values.vkey, 'vkey'));
  // The witness's name is its key's name (tlog-cosignature: the cosignature line carries it).
  if (name !== v.name) throw new WitnessesError('name-mismatch', `--name ${name} is not the name of the key, ${v.name}`);
  // tlog-policy: "none" is predefined; a witness of that name could never be listed in a policy.
  if (name === NONE) throw new WitnessesError('reserved-name', `a witness cannot be named "${NONE}" (tlog-policy reserves it)`);
  checkUrl(url);
  const cfg = readRawConfig(dir);
  const ws = cfg.witnesses ?? [];
  for (const w of ws) {
    if (w.name === name) throw new WitnessesError('duplicate-witness', `a witness named ${name} is already configured (remove it first to change it)`);
    let other: CosignatureVerifier | undefined;
    try {
      other = parseCosignatureVerifierKey(w.vkey);
    } catch {
      other = undefined; // a hand-edited bad entry; serveProblem reports it
    }
    if (other && equal(other.publicKey, v.publicKey)) throw new WitnessesError('duplicate-witness', `witness ${w.name} already has that public key`);
  }
  cfg.witnesses = [...ws, { name, url, vkey: v.vkey }];
  writeRawConfig(dir, cfg);
  process.stdout.write(`added witness ${name} at ${url}; ${RESTART}\n`);
  const policy = policyOf(cfg);
  if (policy && policyNameOf(policy, v) === undefined)
    process.stderr.write(`warning: the policy does not list ${name}: it is asked to cosign but does not count toward the quorum (ledger witnesses policy --data ${dir} --quorum K)\n`);
  warnServe(dir, cfg);
}

async function remove(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' }, name: { type: 'string' } });
  const dir = required(values.data, 'data');
  const name = required(values.name, 'name');
  const cfg = readRawConfig(dir);
  const ws = cfg.witnesses ?? [];
  const gone = ws.find((w) => w.name === name);
  if (!gone) throw new WitnessesError('no-such-witness', `no witness named ${name} is configured`);
  cfg.witnesses = ws.filter((w) => w !== gone);
  writeRawConfig(dir, cfg);
  process.stdout.write(`removed witness ${name}; ${RESTART}\n`);
  const policy = policyOf(cfg);
  let v: CosignatureVerifier | undefined;
  try {
    v = parseCosignatureVerifierKey(gone.vkey);
  } catch {
    v = undefined;
  }
  const listed = v && policyNameOf(policy, v);
  if (listed !== undefined)
    process.stderr.write(`warning: the policy still lists ${name} (as ${listed}); write a new one: ledger witnesses policy --data ${dir} --quorum K\n`);
  warnServe(dir, cfg);
}

interface ListedWitness {
  name: string;
  url: string;
  vkey: string;
  /** The name under which the policy counts its cosignatures; null: asked, but never counted. */
  policyName: string | null;
  /** 'config': configured; 'policy': a policy witness with a URL and no configured entry, asked too. */
  from: 'config' | 'policy';
}

async function list(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' }, json: { type: 'boolean' } });
  const dir = required(values.data, 'data');
  const cfg = readRawConfig(dir);
  const policy = policyOf(cfg);
  const rows: ListedWitness[] = (cfg.witnesses ?? []).map((w) => {
    let v: CosignatureVerifier | undefined;
    try {
      v = parseCosignatureVerifierKey(w.vkey);
    } catch {
      v = undefined;
    }
    return { name: w.name, url: w.url, vkey: w.vkey, policyName: (v && policyNameOf(policy, v)) ?? null, from: 'config' };
  });
  for (const p of policy?.witnesses.values() ?? []) {
    if (p.url !== undefined && !rows.some((r) => r.policyName === p.name)) rows.push({ name: p.name, url: p.url, vkey: p.vkey, policyName: p.name, from: 'policy' });
  }
  const problem = serveProblem(cfg);
  if (values.json) {
    process.stdout.write(JSON.stringify({ witnesses: rows, policy: cfg.witnessPolicy ?? null, quorum: policy?.quorum ?? null, serveProblem: problem ?? null }) + '\n');
    return;
  }
  for (const r of rows)
    process.stdout.write(`${r.name}\t${r.url}\t${r.vkey}\t${r.policyName === null ? 'not in policy' : `policy:${r.policyName}`}${r.from === 'policy' ? '\t(from the policy)' : ''}\n`);
  process.stdout.write(cfg.witnessPolicy === undefined ? 'no policy\n' : policy ? `quorum ${policy.quorum}\n` : 'policy unreadable\n');
  if (problem !== undefined) process.stderr.write(`warning: ledger serve will refuse to start: ${problem}\n`);
}

/**
 * The generated policy (tlog-policy): the log's own key, one witness line per
 * configured witness (no URL: who is asked stays in `witnesses`), a group
 * needing k of them, and the quorum on that group.
 */
function generatedPolicy(log: string, ws: readonly WitnessConfig[], k: number): string {
  const names = new Set(ws.map((w) => w.name));
  let group = `${k}-of-${ws.length}`;
  while (names.has(group)) group = `_${group}`; // group and witness names share one namespace
  return [
    `# written by ledger witnesses policy: ${k} of the ${ws.length} configured witnesses`,
    `log ${log}`,
    ...ws.map((w) => `witness ${w.name} ${w.vkey}`),
    `group ${group} ${k} ${ws.map((w) => w.name).join(' ')}`,
    `quorum ${group}`,
    '',
  ].join('\n');
}

async function policyCmd(argv: string[]): Promise<void> {
  const { values } = flags(argv, { data: { type: 'string' }, quorum: { type: 'string' }, 'policy-file': { type: 'string' } });
  const dir = required(values.data, 'data');
  const cfg = readRawConfig(dir);
  const file = values['policy-file'];
  if (values.quorum === undefined && file === undefined) {
    // No change asked: print the policy in force.
    if (cfg.witnessPolicy === undefined) throw new WitnessesError('no-policy', `the log has no witness policy (ledger witnesses policy --data ${dir} --quorum K)`);
    process.stdout.write(cfg.witnessPolicy.endsWith('\n') ? cfg.witnessPolicy : `${cfg.witnessPolicy}\n`);
    return;
  }
  if (values.quorum !== undefined && file !== undefined) throw new UsageError('give --quorum or --policy-file, not both');
  const log = logVkey(dir);
  const ws = cfg.witnesses ?? [];
  let text: string;
  let policy: Policy;
  if (values.quorum !== undefined) {
    if (!/^[0-9]+$/.test(values.quorum)) throw new UsageError(`--quorum must be a decimal number, got ${values.quorum}`);
    const k = Number(values.quorum);
    if (ws.length === 0) throw new WitnessesError('no-witnesses', `no witness is configured (ledger witnesses add --data ${dir} ...)`);
    // tlog-policy "Defining a witness group": 1 <= k <= n.
    if (k < 1 || k > ws.length) throw new WitnessesError('bad-quorum', `--quorum ${values.quorum} is not between 1 and the ${ws.length} configured witness${ws.length === 1 ? '' : 'es'}`);
    text = generatedPolicy(log.vkey, ws, k);
    try {
      policy = parsePolicy(text);
    } catch (e) {
      // A hand-edited witness entry the policy format cannot hold (e.g. a name with a space).
      if (e instanceof PolicyError) throw new WitnessesError(e.code, `the configured witnesses cannot be written as a policy: ${e.message}`);
      throw e;
    }
  } else {
    const bytes = readFileSync(file!);
    try {
      policy = parsePolicy(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
    } catch (e) {
      if (e instanceof PolicyError) throw new WitnessesError(e.code, `${file}: ${e.message}`);
      throw e;
    }
    text = bytes.toString('utf8');
    // tlog-policy "Defining a log": the key name is the origin; the log's own key must be there.
    if (!policy.logs.some((l) => l.origin === log.name && equal(l.verifier.publicKey, log.publicKey)))
      throw new WitnessesError('log-not-in-policy', `${file} has no log line with this log's key ${log.vkey}`);
  }
  // The checks ledger serve makes at start: refuse a policy it would refuse.
  try {
    witnessTargets(ws, policy);
  } catch (e) {
    if (e instanceof WitnessingError || e instanceof NoteError) throw new WitnessesError(e.code, e.message);
    throw e;
  }
  cfg.witnessPolicy = text;
  writeRawConfig(dir, cfg);
  const counted = ws.filter((w) => policyNameOf(policy, parseCosignatureVerifierKey(w.vkey)) !== undefined).map((w) => w.name);
  process.stdout.write(`policy set: quorum ${policy.quorum}; counted witnesses: ${counted.join(', ') || '(none)'}; ${RESTART}\n`);
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<void>> = { add, remove, list, policy: policyCmd };

export async function witnesses(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const run = sub !== undefined && Object.hasOwn(SUBCOMMANDS, sub) ? SUBCOMMANDS[sub] : undefined;
  if (!run) throw new UsageError(`unknown witnesses command ${sub ?? ''}; use add, remove, list or policy`);
  await run(rest);
}
