#!/usr/bin/env node
// ledger-verify: checks export bundles and C2SP tlog-proof files fully
// offline, against the auditor's own C2SP tlog-policy (spec/bundle.md).
//
// This program loads only the pure verification core (src/core, src/bundle
// verify and format), with node:crypto and libsodium (the optional sodium-native
// addon, on worker threads) for speed: no SQLite, no S3 client, no
// HTTP server or client is in its import graph, and it opens no socket.
//
// Exit: 0 every file valid, 1 a file invalid, 2 usage or I/O error.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseHash32 } from '../core/bytes.js';
import { parsePolicy, PolicyError, type Policy } from '../core/policy.js';
import { threadedVerifier } from '../platform/ed25519-threads.js';
import { useNativeCrypto } from '../platform/sodium.js';
import { progressBar } from '../bundle/progress.js';
import { isTlogProof, verifyBundle, verifyTlogProofFile, type TlogProofOptions, type VerifyReport } from '../bundle/verify.js';
import { flags, runMain, UsageError } from './args.js';

const USAGE = `usage: ledger-verify FILE... --policy POLICY [--trusted-checkpoint FILE] [--json] [--quiet]
                     [--leaf FILE | --leaf-hash HASH]   (for a tlog-proof that carries no entry)
FILE is an export bundle or a C2SP tlog-proof file; a directory stands for its *.tlog-proof files.
exit 0 valid, 1 invalid, 2 usage or I/O error
`;

function expandPaths(paths: string[]): string[] {
  return paths.flatMap((p) => {
    if (!statSync(p).isDirectory()) return [p];
    const files = readdirSync(p)
      .filter((f) => f.endsWith('.tlog-proof'))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
      .map((f) => join(p, f));
    if (files.length === 0) throw new UsageError(`${p} is a directory without .tlog-proof files`);
    return files;
  });
}


function leafHashArg(s: string): Uint8Array {
  const h = parseHash32(s);
  if (!h) throw new UsageError('--leaf-hash must be 32 bytes in hex or base64');
  return h;
}

const iso = (posixSeconds: number) => new Date(posixSeconds * 1000).toISOString();

/** The human summary of one file's verification. */
function describe(file: string, r: VerifyReport): string {
  const lines: string[] = [];
  const total = r.failures.length + r.moreFailures;
  lines.push(`${file}: ${r.valid ? 'VALID' : `INVALID (${total} failure${total === 1 ? '' : 's'})`} ${r.format === 'bundle' ? 'bundle' : 'tlog-proof'}`);
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(12)}${v}`);
  if (r.origin !== undefined) row('origin', r.origin);
  if (r.checkpoint) {
    row('checkpoint', `size ${r.checkpoint.size}, root ${r.checkpoint.rootHash}, log signature verified`);
    const w = r.checkpoint.witnesses;
    row('witnesses', `${w.length ? w.map((n) => `${n} (${iso(r.checkpoint!.cosignedAt[n]!)})`).join(', ') : 'none'}; quorum "${r.quorum}" met`);
  }
  if (r.earlier) row('earlier', `size ${r.earlier.size}, root ${r.earlier.rootHash}, ${r.earlier.consistent ? 'consistent' : 'NOT proven consistent'}`);
  if (r.trustedCheckpoint) row('trusted', `size ${r.trustedCheckpoint.size}, ${r.trustedCheckpoint.consistent ? 'consistent' : 'NOT proven consistent'}`);
  if (r.checkpoint) {
    const kinds = Object.entries(r.kinds)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    const range = r.firstIndex === undefined ? '' : r.firstIndex === r.lastIndex ? `, index ${r.firstIndex}` : `, indices ${r.firstIndex}..${r.lastIndex}`;
    row('entries', `${r.entries}${kinds ? ` (${kinds})` : ''}${range}`);
    if (r.format === 'bundle') {
      row('producers', r.producers.length ? r.producers.map((p) => `${p.name} ${p.entries}`).join(', ') : 'none');
      row('registry', `${r.producerEntries} registration/revocation entries carried`);
    } else if (r.authorisation === 'not-checked') row('producers', 'not checked (a tlog-proof carries no producer registry)');
    if (r.firstTime) row('accepted', r.firstTime === r.lastTime ? r.firstTime : `${r.firstTime} .. ${r.lastTime}`);
    if (r.format === 'bundle') row('proofs', `${r.tiles} hash tiles bound to the root; ${r.anchors} S3 anchor receipt${r.anchors === 1 ? '' : 's'}`);
  }
  for (const f of r.failures) lines.push(`  FAIL ${f.index === undefined ? '' : `[entry ${f.index}] `}${f.code}: ${f.message}`);
  if (r.moreFailures > 0) lines.push(`  ... and ${r.moreFailures} more failures`);
  return lines.join('\n') + '\n';
}

async function main(): Promise<number> {
  useNativeCrypto();
  const { values, positionals } = flags(
    process.argv.slice(2),
    {
      policy: { type: 'string' },
      'trusted-checkpoint': { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      leaf: { type: 'string' },
      'leaf-hash': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError(`no file to verify\n${USAGE}`);
  if (values.policy === undefined) throw new UsageError(`--policy is required: the trust comes from the auditor's policy, never from the file\n${USAGE}`);
  if (values.leaf !== undefined && values['leaf-hash'] !== undefined) throw new UsageError('give at most one of --leaf and --leaf-hash');

  let policy: Policy;
  try {
    policy = parsePolicy(readFileSync(values.policy));
  } catch (e) {
    if (e instanceof PolicyError) throw new UsageError(`policy ${values.policy}: ${e.code}: ${e.message}`);
    throw e;
  }
  const files = expandPaths(positionals);
  const trusted = values['trusted-checkpoint'] === undefined ? undefined : readFileSync(values['trusted-checkpoint'], 'utf8');
  const leaf = values.leaf === undefined ? undefined : new Uint8Array(readFileSync(values.leaf));
  const leafHash = values['leaf-hash'] === undefined ? undefined : leafHashArg(values['leaf-hash']);
  if ((leaf || leafHash) && files.length > 1) throw new UsageError('--leaf and --leaf-hash apply to a single tlog-proof file');

  const bar = progressBar(values.quiet === true || values.json === true);
  const reports: (VerifyReport & { file: string })[] = [];
  // Signatures are checked on one thread per core while the main thread decodes and hashes.
  const verifier = threadedVerifier();
  for (const file of files) {
    const bytes = new Uint8Array(readFileSync(file));
    const opts: TlogProofOptions = { verifySignatures: verifier.verify, onProgress: (done, total) => bar.update('verifying', done, total) };
    if (trusted !== undefined) opts.trustedCheckpoint = trusted;
    let r: VerifyReport;
    if (isTlogProof(bytes)) {
      if (leaf) opts.leaf = leaf;
      if (leafHash) opts.leafHash = leafHash;
      r = await verifyTlogProofFile(bytes, policy, opts);
    } else {
      if (leaf || leafHash) throw new UsageError(`${file} is a bundle: --leaf and --leaf-hash are for tlog-proof files`);
      r = await verifyBundle(bytes, policy, opts);
    }
    bar.done();
    reports.push({ file, ...r });
    if (!values.json) process.stdout.write(describe(file, r));
  }
  await verifier.close();
  const valid = reports.every((r) => r.valid);
  if (values.json) process.stdout.write(JSON.stringify({ valid, files: reports }) + '\n');
  else if (files.length > 1) process.stdout.write(`${reports.filter((r) => r.valid).length} of ${files.length} files valid\n`);
  return valid ? 0 : 1;
}

void runMain(main);
