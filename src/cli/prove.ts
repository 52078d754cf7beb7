// ledger prove and ledger consistency: an auditor's one-shot checks, verified
// locally against the pinned log key. Exit 0 verified, 1 not verified (the
// reason on stderr), 2 usage or I/O (including an unreachable server).
// Also the flag handling the other client commands share (pinned key, policy).

import { readFileSync, writeFileSync } from 'node:fs';
import { parseHash32, toBase64 } from '../core/bytes.js';
import { LedgerClient, LedgerClientError, type TreeHead, type VerifiedCheckpoint } from '../client/index.js';
import { flags, required, UsageError } from './args.js';

/** The flags every command that talks to a log takes. */
export const LOG_FLAGS = {
  url: { type: 'string' },
  vkey: { type: 'string' },
  'vkey-file': { type: 'string' },
  policy: { type: 'string' },
  retries: { type: 'string' },
} as const;

/**
 * A client for --url with the log key from --vkey or --vkey-file, an
 * optional --policy (tlog-policy file) and --retries (default 5).
 * `pinned: true` demands a key or policy.
 */
export function openClient(values: { url?: string; vkey?: string; 'vkey-file'?: string; policy?: string; retries?: string }, pinned: boolean): LedgerClient {
  const url = required(values.url, 'url');
  const retries = values.retries !== undefined ? parseCount(values.retries, 'retries') : undefined;
  if (values.vkey !== undefined && values['vkey-file'] !== undefined) throw new UsageError('give --vkey or --vkey-file, not both');
  const vkey = values['vkey-file'] !== undefined ? readFileSync(values['vkey-file'], 'utf8').trim() : values.vkey;
  const policy = values.policy !== undefined ? readFileSync(values.policy, 'utf8') : undefined;
  if (pinned && vkey === undefined && policy === undefined) throw new UsageError('the log key must be pinned: give --vkey VKEY, --vkey-file FILE or --policy FILE');
  try {
    return new LedgerClient({ url, ...(vkey !== undefined ? { vkey } : {}), ...(policy !== undefined ? { policy } : {}), ...(retries !== undefined ? { retry: { retries } } : {}) });
  } catch (e) {
    if (e instanceof LedgerClientError) throw new UsageError(e.message);
    throw e;
  }
}

/**
 * Reports a failure and returns the exit code: 2 when the log could not be
 * reached or the options are wrong, 1 when something did not verify or the
 * log refused. With --json the failure is also printed as JSON on stdout.
 */
export function failure(e: unknown, json: boolean | undefined): number {
  if (!(e instanceof LedgerClientError)) throw e;
  process.stderr.write(`error: ${e.code}: ${e.message}\n`);
  if (json) process.stdout.write(JSON.stringify({ error: { code: e.code, message: e.message, ...(e.serverCode ? { serverCode: e.serverCode } : {}) } }) + '\n');
  return e.code === 'network' || e.code === 'unavailable' || e.code === 'bad-options' ? 2 : 1;
}


/** A 32-byte leaf hash as hex or base64 (standard or URL-safe, padded or not). */
export function parseLeafHashArg(s: string): Uint8Array {
  const h = parseHash32(s);
  if (!h) throw new UsageError('--leaf-hash must be 32 bytes as hex or base64');
  return h;
}

export function parseCount(s: string, name: string): number {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(s) || !Number.isSafeInteger(Number(s))) throw new UsageError(`--${name} must be a non-negative decimal integer`);
  return Number(s);
}

/** ledger prove --url URL --vkey VKEY (--index I | --leaf-hash H) [--out FILE] [--json] */
export async function prove(argv: string[]): Promise<number> {
  const { values } = flags(argv, { ...LOG_FLAGS, index: { type: 'string' }, 'leaf-hash': { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } });
  if ((values.index === undefined) === (values['leaf-hash'] === undefined)) throw new UsageError('give exactly one of --index or --leaf-hash');
  const target = values.index !== undefined ? { index: parseCount(values.index, 'index') } : { leafHash: parseLeafHashArg(values['leaf-hash']!) };
  const client = openClient(values, true);
  try {
    const inc = await client.proveInclusion(target);
    if (values.out !== undefined) writeFileSync(values.out, LedgerClient.tlogProof(inc));
    if (values.json) {
      process.stdout.write(
        JSON.stringify({
          verified: true,
          index: inc.index,
          leafHash: toBase64(inc.leafHash),
          treeSize: inc.treeSize,
          rootHash: toBase64(inc.checkpoint.rootHash),
          proof: inc.proof.map(toBase64),
          witnesses: inc.checkpoint.witnesses,
          checkpoint: inc.checkpoint.note,
        }) + '\n',
      );
    } else {
      process.stdout.write(
        `index ${inc.index}\nleafHash ${toBase64(inc.leafHash)}\ntreeSize ${inc.treeSize}\nroot ${toBase64(inc.checkpoint.rootHash)}\n` +
          `inclusion verified against the checkpoint signed by ${inc.checkpoint.origin}${witnessNote(inc.checkpoint)}\n`,
      );
    }
    return 0;
  } catch (e) {
    return failure(e, values.json);
  }
}

function witnessNote(cp: VerifiedCheckpoint): string {
  return cp.witnesses.length > 0 ? ` and cosigned by ${cp.witnesses.join(', ')}` : '';
}

/**
 * ledger consistency --url URL --vkey VKEY (--from M | --from-checkpoint FILE) [--to N | --to-checkpoint FILE] [--json]
 *
 * A side given as a signed checkpoint file is verified with the pinned key;
 * a side given as a size takes its root from the hash tiles bound to the
 * latest checkpoint. `to` defaults to the latest checkpoint.
 */
export async function consistency(argv: string[]): Promise<number> {
  const { values } = flags(argv, {
    ...LOG_FLAGS,
    from: { type: 'string' },
    to: { type: 'string' },
    'from-checkpoint': { type: 'string' },
    'to-checkpoint': { type: 'string' },
    json: { type: 'boolean' },
  });
  if ((values.from === undefined) === (values['from-checkpoint'] === undefined)) throw new UsageError('give exactly one of --from or --from-checkpoint');
  if (values.to !== undefined && values['to-checkpoint'] !== undefined) throw new UsageError('give --to or --to-checkpoint, not both');
  const fromSize = values.from !== undefined ? parseCount(values.from, 'from') : undefined;
  const toSize = values.to !== undefined ? parseCount(values.to, 'to') : undefined;
  const fromNote = values['from-checkpoint'] !== undefined ? readFileSync(values['from-checkpoint']) : undefined;
  const toNote = values['to-checkpoint'] !== undefined ? readFileSync(values['to-checkpoint']) : undefined;
  const client = openClient(values, true);
  try {
    const latest = await client.getCheckpoint();
    const tiles = client.tiles(latest);
    const side = async (size: number | undefined, note: Uint8Array | undefined): Promise<TreeHead> => {
      if (note !== undefined) return client.verifyCheckpointNote(note);
      const n = size ?? latest.size;
      if (n > latest.size) throw new LedgerClientError('not-included', `size ${n} is beyond the latest checkpoint (${latest.size})`);
      return { size: n, rootHash: n === latest.size ? latest.rootHash : await tiles.rootAt(n) };
    };
    const from = await side(fromSize, fromNote);
    const to = await side(toSize, toNote);
    if (to.size > latest.size) throw new LedgerClientError('not-included', `the --to-checkpoint tree (${to.size}) is larger than the log's latest checkpoint (${latest.size})`);
    if (from.size > to.size) throw new LedgerClientError('proof-invalid', `the tree of size ${to.size} cannot extend the larger tree of size ${from.size}`);
    const r = await client.proveConsistency(from, to);
    if (values.json) {
      process.stdout.write(
        JSON.stringify({ verified: true, from: from.size, fromRoot: toBase64(from.rootHash), to: to.size, toRoot: toBase64(to.rootHash), proof: r.proof.map(toBase64), latest: latest.size }) + '\n',
      );
    } else {
      process.stdout.write(`from ${from.size} ${toBase64(from.rootHash)}\nto ${to.size} ${toBase64(to.rootHash)}\nconsistency verified (log ${latest.origin}, latest checkpoint ${latest.size})\n`);
    }
    return 0;
  } catch (e) {
    return failure(e, values.json);
  }
}
