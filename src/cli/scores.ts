// ledger scores SUBJECT: the history of a subject's trust-score snapshots.
//
// The log has no index by subject, so this is a linear scan: every entry of
// the latest verified checkpoint is read from the entry bundles (each bound
// to the root through the hash tiles), the producer registry is replayed from
// the log's own registry entries, and each snapshot of SUBJECT is listed with
// its signer and an inclusion proof computed from the tiles and verified
// against the checkpoint. Exit 0 when every snapshot checks out, 1 otherwise.

import { toBase64 } from '../core/bytes.js';
import { EntryAuditor } from '../client/index.js';
import { flags, UsageError } from './args.js';
import { failure, LOG_FLAGS, openClient } from './prove.js';

interface Row {
  index: number;
  leafHash: string;
  acceptedAt: string;
  ts: string;
  score: number;
  components: Record<string, number>;
  model: string;
  policy: string;
  ttlSeconds: number;
  producer: string | null;
  keyid: string | null;
  status: string;
  proof: string[];
}

export async function scores(argv: string[]): Promise<number> {
  const { values, positionals } = flags(argv, { ...LOG_FLAGS, json: { type: 'boolean' } }, true);
  if (positionals.length !== 1 || positionals[0] === '') throw new UsageError('usage: ledger scores SUBJECT --url URL --vkey VKEY [--json]');
  const subject = positionals[0]!;
  const client = openClient(values, true);
  try {
    const cp = await client.getCheckpoint();
    const auditor = new EntryAuditor(client.logPublicKey);
    const rows: Row[] = [];
    const leafHashes: Uint8Array[] = [];
    for await (const e of client.entries(0, cp.size, cp)) {
      const v = auditor.check(e.index, e.leaf);
      if (v.record?.kind !== 'trust-score' || v.payload?.subject !== subject) continue;
      const p = v.payload as { ts: string; score: number; components: Record<string, number>; model: string; policy: string; ttlSeconds: number };
      leafHashes.push(e.leafHash);
      rows.push({
        index: e.index,
        leafHash: toBase64(e.leafHash),
        acceptedAt: new Date(v.record.time).toISOString(),
        ts: p.ts,
        score: p.score,
        components: p.components,
        model: p.model,
        policy: p.policy,
        ttlSeconds: p.ttlSeconds,
        producer: v.producer?.name ?? null,
        keyid: v.producer?.keyid ?? null,
        status: v.problem?.code ?? 'ok',
        proof: [],
      });
    }
    const tiles = client.tiles(cp);
    for (const [i, r] of rows.entries()) r.proof = (await tiles.inclusionProof(r.index, leafHashes[i]!)).map(toBase64);

    if (values.json) {
      process.stdout.write(JSON.stringify({ subject, origin: cp.origin, treeSize: cp.size, rootHash: toBase64(cp.rootHash), snapshots: rows }) + '\n');
    } else {
      process.stdout.write(`${subject}: ${rows.length} trust-score snapshot(s) in ${cp.origin} at tree size ${cp.size} (root ${toBase64(cp.rootHash)})\n`);
      if (rows.length > 0) process.stdout.write(table(rows));
    }
    return rows.every((r) => r.status === 'ok') ? 0 : 1;
  } catch (e) {
    return failure(e, values.json);
  }
}

function table(rows: Row[]): string {
  const head = ['INDEX', 'TS', 'SCORE', 'MODEL', 'POLICY', 'PRODUCER', 'STATUS', 'INCLUSION'];
  const body = rows.map((r) => [String(r.index), r.ts, String(r.score), r.model, r.policy, r.producer ?? '-', r.status, `verified (${r.proof.length} hash${r.proof.length === 1 ? '' : 'es'})`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body].map((cols) => cols.map((c, i) => (i === cols.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}
