// The ledger anchoring into a real local S3 with Object Lock (Ceph radosgw
// started by scripts/s3-local.sh): every published checkpoint archived under
// COMPLIANCE retention, the tile mirror serving a tree whose proofs verify
// against the anchored checkpoint, an S3 outage absorbed and drained in order,
// and `ledger anchor verify` catching an overwritten checkpoint object.

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectLegalHoldCommand,
  GetObjectRetentionCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../src/core/bytes.js';
import { openCheckpoint } from '../../src/core/checkpoint.js';
import { sha256 } from '../../src/core/crypto.js';
import { hashLeaf, inclusionProof, verifyInclusion } from '../../src/core/merkle.js';
import { parseVerifierKey } from '../../src/core/note.js';
import { formatPublicKeyPem } from '../../src/core/pem.js';
import { decodeEntryBundle, entriesPath, tilePath, verifiedTileReader, type TileId } from '../../src/core/tiles.js';
import { BIN, cli, cliOk, ROOT, startServe, type Server } from '../helpers/procs.js';
import { TestProducer, evidence } from '../helpers/producer.js';
import { startS3, stopS3, type LocalS3 } from '../s3/setup.js';
import { mkdtempSync } from 'node:fs';

const ORIGIN = 'anchor.test/log';
const BUCKET = 'ledger-anchors';
let s3: LocalS3;
let client: S3Client;
let dir: string;
let vkey: string;
let server: Server;
let env: NodeJS.ProcessEnv;
const producer = new TestProducer();

const body = async (key: string, versionId?: string) => {
  const r = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key, ...(versionId ? { VersionId: versionId } : {}) }));
  return new Uint8Array(await r.Body!.transformToByteArray());
};
const metric = async (name: string) => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
};
async function until(what: string, cond: () => Promise<boolean>, ms = 30_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const submit = async (n: number) => {
  for (let i = 0; i < n; i += 100) {
    const envelopes = Array.from({ length: Math.min(100, n - i) }, () => producer.envelope('evidence', evidence()));
    const r = await fetch(`${server.url}/v1/entries:batch`, { method: 'POST', body: JSON.stringify({ envelopes }) });
    expect(r.status).toBe(200);
  }
  const r = await fetch(`${server.url}/v1/entries?wait=checkpoint`, { method: 'POST', body: JSON.stringify(producer.envelope('evidence', evidence())) });
  expect(r.status).toBe(201);
};
const anchors = () => {
  const r = cli(BIN.ledger, ['anchor', 'verify', '--data', dir, '--json'], { env });
  return { status: r.status, ...(JSON.parse(r.stdout) as { ok: boolean; anchors: number; unanchored: number; report: { size: number; findings: { code: string }[] }[] }) };
};

beforeAll(async () => {
  const base = mkdtempSync('/tmp/lga-');
  s3 = await startS3(join(base, 's3'));
  env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: s3.region };
  client = new S3Client({
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  dir = join(base, 'data');
  vkey = cliOk(BIN.ledger, ['init', '--data', dir, '--origin', ORIGIN]).trim();
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  cfg.checkpointIntervalMs = 200;
  cfg.s3 = { bucket: BUCKET, endpoint: s3.endpoint, forcePathStyle: true, checksumMode: 'WHEN_REQUIRED', retentionSeconds: 3600 };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  writeFileSync(join(base, 'p.pub'), formatPublicKeyPem(producer.publicKey));
  cliOk(BIN.ledger, ['producers', 'add', '--data', dir, '--name', 'p', '--key', join(base, 'p.pub')]);
  server = await startServe(BIN.ledger, dir, 0, [], env);
}, 600_000);

afterAll(async () => {
  await server?.kill();
  if (s3) await stopS3(s3.dir);
});

describe('anchoring published checkpoints in S3 Object Lock', () => {
  it('archives every published checkpoint under COMPLIANCE retention, byte for byte, and the server refuses deletes', async () => {
    await submit(300);
    await until('anchoring to catch up', async () => (await metric('ledger_anchor_lag_entries')) === 0);
    const published = await (await fetch(`${server.url}/checkpoint`)).text();
    const a = anchors();
    expect(a.status).toBe(0);
    expect(a.ok).toBe(true);
    expect(a.anchors).toBeGreaterThanOrEqual(2);
    const { checkpoint } = openCheckpoint(published, ORIGIN, [parseVerifierKey(vkey)]);
    const key = `checkpoints/${toHex(sha256(utf8(ORIGIN)))}/${String(checkpoint.size).padStart(20, '0')}`;
    expect(new TextDecoder().decode(await body(key))).toBe(published);
    const head = await client.send(new GetObjectRetentionCommand({ Bucket: BUCKET, Key: key }));
    expect(head.Retention?.Mode).toBe('COMPLIANCE');
    expect(head.Retention!.RetainUntilDate!.getTime()).toBeGreaterThan(Date.now() + 3000 * 1000);
    const versions = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    await expect(client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId: versions.VersionId }))).rejects.toThrow(/AccessDenied|Access Denied|forbidden by object lock/);
  });

  it('mirrors tiles so that the bucket alone proves inclusion against the anchored checkpoint', async () => {
    const note = new TextDecoder().decode(await body('checkpoint'));
    const { checkpoint } = openCheckpoint(note, ORIGIN, [parseVerifierKey(vkey)]);
    expect(checkpoint.size).toBeGreaterThan(256);
    const tiles = new Map<string, Uint8Array>();
    const level0 = Math.ceil(checkpoint.size / 256);
    const want: TileId[] = [];
    for (let i = 0; i < level0; i++) want.push({ level: 0, index: i, width: Math.min(256, checkpoint.size - i * 256) });
    want.push({ level: 1, index: 0, width: Math.floor(checkpoint.size / 256) });
    for (const t of want) if (t.width > 0) tiles.set(tilePath(t), await body(tilePath(t)));
    const reader = verifiedTileReader(checkpoint.size, checkpoint.rootHash, (t) => tiles.get(tilePath(t))!);
    const bundle = decodeEntryBundle(await body(entriesPath(1, Math.min(256, checkpoint.size - 256))));
    const index = 256 + 7;
    verifyInclusion(hashLeaf(bundle[7]!), index, checkpoint.size, inclusionProof(index, checkpoint.size, reader), checkpoint.rootHash);
  });

  it('keeps sequencing while S3 is down, grows the lag, and drains the backlog in order when S3 returns', async () => {
    const before = anchorsCount();
    await stopS3(s3.dir);
    await submit(150);
    await submit(150);
    await until('the lag to show', async () => (await metric('ledger_anchor_lag_entries')) > 0);
    expect(await metric('ledger_anchor_lag_seconds')).toBeGreaterThan(0);
    execFileSync('bash', [join(ROOT, 'scripts/s3-local.sh'), 'start', s3.dir], { stdio: 'pipe', timeout: 300_000 });
    await until('the backlog to drain', async () => (await metric('ledger_anchor_lag_entries')) === 0, 90_000);
    const a = anchors();
    expect(a.ok).toBe(true);
    expect(a.unanchored).toBe(0);
    expect(anchorsCount()).toBeGreaterThan(before);
  });

  it('ledger anchor verify reports a checkpoint object overwritten with a new version; hold sets legal hold', async () => {
    const a = anchors();
    expect(a.ok).toBe(true);
    const receipts = JSON.parse(cliOk(BIN.ledger, ['anchor', 'verify', '--data', dir, '--json'], { env })).anchors as number;
    expect(receipts).toBeGreaterThan(0);
    const { checkpoint } = openCheckpoint(await (await fetch(`${server.url}/checkpoint`)).text(), ORIGIN, [parseVerifierKey(vkey)]);
    const key = `checkpoints/${toHex(sha256(utf8(ORIGIN)))}/${String(checkpoint.size).padStart(20, '0')}`;

    const held = cliOk(BIN.ledger, ['anchor', 'hold', '--data', dir, '--on', '--size', String(checkpoint.size)], { env });
    expect(held).toMatch(/legal hold on/);
    expect((await client.send(new GetObjectLegalHoldCommand({ Bucket: BUCKET, Key: key }))).LegalHold?.Status).toBe('ON');
    cliOk(BIN.ledger, ['anchor', 'hold', '--data', dir, '--off', '--size', String(checkpoint.size)], { env });
    expect((await client.send(new GetObjectLegalHoldCommand({ Bucket: BUCKET, Key: key }))).LegalHold?.Status).toBe('OFF');

    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: utf8('forged\n') }));
    const after = anchors();
    expect(after.status).toBe(1);
    expect(after.ok).toBe(false);
    const bad = after.report.find((r) => r.size === checkpoint.size)!;
    expect(bad.findings.map((f) => f.code)).toContain('overwritten');
  });
});

function anchorsCount(): number {
  return anchors().anchors;
}
