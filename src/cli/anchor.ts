// ledger anchor verify|hold: check the S3 Object Lock anchors of a log, and
// set or clear legal hold on them.

import { S3Anchor } from '../../storage/s3/anchor.js';
import type { AnchorReceipt } from '../../storage/s3/anchor.js';
import { LedgerStore } from '../../storage/sqlite/store.js';
import { utf8 } from '../core/bytes.js';
import { s3AnchorConfig } from '../anchoring/anchorer.js';
import { loadConfig, paths } from '../log/config.js';
import { flags, required, UsageError } from './args.js';

type StoredReceipt = AnchorReceipt & { size: number };

function open(dir: string) {
  const cfg = loadConfig(dir);
  if (!cfg.s3) throw new UsageError(`${dir}/config.json has no "s3" section: anchoring is not configured`);
  return { s3: new S3Anchor(s3AnchorConfig(cfg.s3)), store: new LedgerStore(paths(dir).db) };
}

export async function anchor(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values } = flags(rest, {
    data: { type: 'string' },
    json: { type: 'boolean' },
    on: { type: 'boolean' },
    off: { type: 'boolean' },
    size: { type: 'string' },
  });
  const dir = required(values.data, 'data');
  if (sub === 'verify') return verify(dir, values.json ?? false);
  if (sub === 'hold') {
    if (values.on === values.off) throw new UsageError('give exactly one of --on or --off');
    return hold(dir, values.on === true, values.size);
  }
  throw new UsageError(`unknown anchor command ${sub ?? ''}; use verify or hold`);
}

/**
 * Reads every anchored checkpoint back: the bytes must equal the published
 * note, retention must be COMPLIANCE until no earlier than promised, and the
 * recorded version must be the key's only version.
 */
async function verify(dir: string, json: boolean): Promise<number> {
  const { s3, store } = open(dir);
  try {
    const anchors = store.anchors();
    const published = store.latestPublishedCheckpoint()?.size ?? 0;
    const report: { size: number; key: string; findings: { code: string; message: string }[] }[] = [];
    for (const a of anchors) {
      const receipt = JSON.parse(a.receipt) as StoredReceipt;
      const cp = store.getCheckpoint(a.size);
      const findings = cp
        ? await s3.verifyAnchor(receipt, utf8(cp.note))
        : [{ code: 'no-checkpoint', message: `the log holds no checkpoint of size ${a.size}` }];
      report.push({ size: a.size, key: receipt.key, findings });
    }
    const bad = report.filter((r) => r.findings.length > 0);
    const unanchored = store.publishedCheckpointsAfter(store.lastAnchoredSize(), 1_000_000).length;
    if (json) {
      process.stdout.write(JSON.stringify({ ok: bad.length === 0, anchors: anchors.length, failed: bad.length, unanchored, publishedSize: published, report: bad }) + '\n');
    } else {
      for (const r of bad) for (const f of r.findings) process.stdout.write(`FAIL size ${r.size} ${r.key}: ${f.code}: ${f.message}\n`);
      process.stdout.write(`${anchors.length} anchored checkpoints checked, ${bad.length} with findings; ${unanchored} published checkpoints not yet anchored\n`);
    }
    return bad.length === 0 ? 0 : 1;
  } finally {
    store.close();
  }
}

/** Legal hold on (or off) the anchored checkpoint of `size`, or of every anchored checkpoint. */
async function hold(dir: string, on: boolean, size: string | undefined): Promise<number> {
  const { s3, store } = open(dir);
  try {
    let anchors = store.anchors();
    if (size !== undefined) anchors = anchors.filter((a) => String(a.size) === size);
    if (anchors.length === 0) throw new UsageError(size === undefined ? 'nothing is anchored yet' : `no anchored checkpoint of size ${size}`);
    for (const a of anchors) {
      const r = JSON.parse(a.receipt) as StoredReceipt;
      await s3.setLegalHold(r.key, r.versionId, on);
      process.stdout.write(`legal hold ${on ? 'on' : 'off'}: ${r.key} version ${r.versionId}\n`);
    }
    return 0;
  } finally {
    store.close();
  }
}
