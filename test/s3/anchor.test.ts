// The S3 Object Lock anchor store against a REAL local S3 server (Ceph radosgw 16.2 started by
// scripts/s3-local.sh): what the server enforces is checked with the server, not a mock.

import { mkdtemp, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { S3Anchor, createS3Client, type AnchorReceipt, type S3AnchorConfig } from '../../storage/s3/anchor.js';
import { AnchorConflictError, S3AnchorError } from '../../storage/s3/errors.js';
import { checkpointArchiveKey } from '../../storage/s3/keys.js';
import { concat, equal, toBase64, toHex, utf8 } from '../../src/core/bytes.js';
import { randomBytes, sha256 } from '../../src/core/crypto.js';
import { freePort, startS3, stopS3, type LocalS3 } from './setup.js';

const ORIGIN = 'example.com/ledger-test';
const HOUR = 3600_000;

/** A checkpoint note: origin, size, root hash, blank line, one signature line. */
function note(size: number, root: Uint8Array, signer = 'log', origin = ORIGIN): Uint8Array {
  return utf8(`${origin}\n${size}\n${toBase64(root)}\n\n— ${signer} ${toBase64(sha256(concat(root, utf8(signer))))}\n`);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<S3AnchorError> {
  const err = await p.then(
    () => {
      throw new Error(`expected rejection with ${code}`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(S3AnchorError);
  expect((err as S3AnchorError).code).toBe(code);
  return err as S3AnchorError;
}

/** The version IDs of exactly `key`, newest first. */
async function versionsOf(client: S3Client, bucket: string, key: string): Promise<string[]> {
  const out = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
  return (out.Versions ?? []).filter((v) => v.Key === key).map((v) => v.VersionId!);
}

async function bodyOf(client: S3Client, bucket: string, key: string, versionId?: string): Promise<Uint8Array> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  return out.Body!.transformToByteArray();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

let dir: string | undefined;
let s3: LocalS3;
let config: S3AnchorConfig;
let anchor: S3Anchor;
let raw: S3Client;
const bucket = `ledger-test-${toHex(randomBytes(4))}`;

beforeAll(async () => {
  dir = await mkdtemp('/tmp/s3-');
  s3 = await startS3(dir); // throws (the file fails) when the server cannot start
  console.log(`local S3 at ${s3.endpoint} started in ${s3.startSeconds.toFixed(2)} s`);
  // Credentials reach the SDK only through its default chain (here: the environment).
  process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  config = {
    bucket,
    prefix: 'log/',
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    checksumMode: 'WHEN_REQUIRED',
    retentionDays: 1,
  };
  anchor = new S3Anchor(config);
  raw = createS3Client(config);
});

afterAll(async () => {
  if (dir === undefined) return;
  try {
    await stopS3(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

describe('S3Anchor on radosgw with Object Lock', () => {
  it('creates the bucket with Object Lock (and versioning) and accepts it again', async () => {
    await anchor.ensureBucket();
    await anchor.ensureBucket();
    const lock = await raw.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }));
    expect(lock.ObjectLockConfiguration?.ObjectLockEnabled).toBe('Enabled');
    const versioning = await raw.send(new GetBucketVersioningCommand({ Bucket: bucket }));
    expect(versioning.Status).toBe('Enabled');
  });

  it('refuses a bucket without Object Lock, and writes nothing to it', async () => {
    const plain = `${bucket}-plain`;
    await raw.send(new CreateBucketCommand({ Bucket: plain }));
    const other = new S3Anchor({ ...config, bucket: plain });
    await expectCode(other.ensureBucket(), 'bucket-without-object-lock');
    await expectCode(other.anchorCheckpoint(ORIGIN, 1, note(1, randomBytes(32))), 'bucket-without-object-lock');
    await expectCode(other.putImmutable('tile/0/000', randomBytes(32)), 'bucket-without-object-lock');
    const listed = await raw.send(new ListObjectVersionsCommand({ Bucket: plain }));
    expect(listed.Versions ?? []).toHaveLength(0);
  });

  let receipt: AnchorReceipt;
  const cp5 = note(5, randomBytes(32));

  it('anchors a checkpoint under COMPLIANCE retention at the documented key', async () => {
    const until = new Date(Date.now() + 2 * HOUR);
    receipt = await anchor.anchorCheckpoint(ORIGIN, 5, cp5, until);
    const key = `log/checkpoints/${toHex(sha256(utf8(ORIGIN)))}/00000000000000000005`;
    expect(receipt.key).toBe(key);
    expect(checkpointArchiveKey('log/', ORIGIN, 5)).toBe(key);
    expect(receipt.bucket).toBe(bucket);
    expect(receipt.mode).toBe('COMPLIANCE');
    expect(receipt.versionId).not.toBe('');
    expect(receipt.etag).toMatch(/^[0-9a-f]{32}$/);
    const wholeSecond = Math.ceil(until.getTime() / 1000) * 1000;
    expect(Date.parse(receipt.retainUntil)).toBe(wholeSecond);

    const retention = await raw.send(
      new GetObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: receipt.versionId }),
    );
    expect(retention.Retention?.Mode).toBe('COMPLIANCE');
    expect(new Date(retention.Retention!.RetainUntilDate!).getTime()).toBe(wholeSecond);

    const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: receipt.versionId }));
    expect(head.ContentType).toBe('text/plain; charset=utf-8');
    expect(head.ObjectLockMode).toBe('COMPLIANCE');
    expect(equal(await bodyOf(raw, bucket, key, receipt.versionId), cp5)).toBe(true);
    expect(await anchor.verifyAnchor(receipt, cp5)).toEqual([]);
  });

  it('the server refuses to delete the anchored version, even with governance bypass', async () => {
    const { key, versionId } = receipt;
    await expect(raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }))).rejects.toMatchObject({
      name: 'AccessDenied',
    });
    await expect(
      raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId, BypassGovernanceRetention: true })),
    ).rejects.toMatchObject({ name: 'AccessDenied' });
    const batch = await raw.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: [{ Key: key, VersionId: versionId }] } }),
    );
    expect(batch.Errors?.[0]?.Code).toBe('AccessDenied');
    expect(equal(await bodyOf(raw, bucket, key, versionId), cp5)).toBe(true);
  });

  it('the server refuses to shorten the retention or switch it to GOVERNANCE, and allows extending', async () => {
    const { key, versionId } = receipt;
    const promised = new Date(receipt.retainUntil);
    const put = (mode: 'COMPLIANCE' | 'GOVERNANCE', date: Date) =>
      raw.send(
        new PutObjectRetentionCommand({
          Bucket: bucket,
          Key: key,
          VersionId: versionId,
          Retention: { Mode: mode, RetainUntilDate: date },
        }),
      );
    await expect(put('COMPLIANCE', new Date(promised.getTime() - HOUR))).rejects.toMatchObject({ name: 'AccessDenied' });
    await expect(put('GOVERNANCE', promised)).rejects.toMatchObject({ name: 'AccessDenied' });
    const extended = new Date(promised.getTime() + HOUR);
    await put('COMPLIANCE', extended);
    const r = await raw.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
    expect(new Date(r.Retention!.RetainUntilDate!).getTime()).toBe(extended.getTime());
    // Longer than promised is still a kept promise.
    expect(await anchor.verifyAnchor(receipt, cp5)).toEqual([]);
  });

  it('re-anchoring the same bytes is idempotent and extends a shorter retention', async () => {
    const again = await anchor.anchorCheckpoint(ORIGIN, 5, cp5, new Date(Date.now() + HOUR));
    // The retention in force (extended above) is longer than asked: it is reported, not shortened.
    expect(again.versionId).toBe(receipt.versionId);
    expect(again.etag).toBe(receipt.etag);
    expect(Date.parse(again.retainUntil)).toBe(Date.parse(receipt.retainUntil) + HOUR);
    const later = new Date(Date.now() + 10 * HOUR);
    const extended = await anchor.anchorCheckpoint(ORIGIN, 5, cp5, later);
    expect(extended.versionId).toBe(receipt.versionId);
    expect(Date.parse(extended.retainUntil)).toBe(Math.ceil(later.getTime() / 1000) * 1000);
    expect(await versionsOf(raw, bucket, receipt.key)).toEqual([receipt.versionId]);
  });

  it('other bytes for an anchored size are fork evidence, and nothing is written', async () => {
    const forked = note(5, randomBytes(32));
    const err = await expectCode(anchor.anchorCheckpoint(ORIGIN, 5, forked), 'fork-evidence');
    expect(err).toBeInstanceOf(AnchorConflictError);
    expect((err as AnchorConflictError).conflicting.map((v) => v.versionId)).toEqual([receipt.versionId]);
    expect((err as AnchorConflictError).key).toBe(receipt.key);
    expect(await versionsOf(raw, bucket, receipt.key)).toEqual([receipt.versionId]);
  });

  it('the same checkpoint with other signature lines is refused as such, not as a fork', async () => {
    const root = randomBytes(32);
    await anchor.anchorCheckpoint(ORIGIN, 6, note(6, root, 'log'));
    await expectCode(anchor.anchorCheckpoint(ORIGIN, 6, note(6, root, 'witness')), 'checkpoint-signatures-differ');
    expect(await versionsOf(raw, bucket, checkpointArchiveKey('log/', ORIGIN, 6))).toHaveLength(1);
  });

  it('refuses a note that is not for the given origin and size, or not a note', async () => {
    await expectCode(anchor.anchorCheckpoint(ORIGIN, 7, note(8, randomBytes(32))), 'invalid-argument');
    await expectCode(anchor.anchorCheckpoint('other.example/log', 7, note(7, randomBytes(32))), 'invalid-argument');
    await expectCode(anchor.anchorCheckpoint(ORIGIN, 7, utf8(`${ORIGIN}\n7\nroot\n`)), 'invalid-argument');
    await expectCode(anchor.anchorCheckpoint(ORIGIN, -1, note(7, randomBytes(32))), 'invalid-argument');
    expect(await versionsOf(raw, bucket, checkpointArchiveKey('log/', ORIGIN, 7))).toEqual([]);
  });

  it('verifyAnchor reports a newer version put over the anchored one, and re-anchoring is then fork evidence', async () => {
    const cp9 = note(9, randomBytes(32));
    const r9 = await anchor.anchorCheckpoint(ORIGIN, 9, cp9);
    expect(await anchor.verifyAnchor(r9, cp9)).toEqual([]);
    // Versioning lets anyone with write access put a new version over a locked one.
    await raw.send(new PutObjectCommand({ Bucket: bucket, Key: r9.key, Body: note(9, randomBytes(32)) }));
    const findings = await anchor.verifyAnchor(r9, cp9);
    expect(findings.map((f) => f.code)).toEqual(['overwritten']);
    // The locked version itself is intact.
    expect(equal(await bodyOf(raw, bucket, r9.key, r9.versionId), cp9)).toBe(true);
    await expectCode(anchor.anchorCheckpoint(ORIGIN, 9, cp9), 'fork-evidence');
  });

  it('verifyAnchor reports a delete marker, other bytes, a shorter promise and a wrong location', async () => {
    const cp10 = note(10, randomBytes(32));
    const r10 = await anchor.anchorCheckpoint(ORIGIN, 10, cp10);
    // A delete without a version ID is allowed on a locked object: it hides it behind a marker.
    await raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: r10.key }));
    expect((await anchor.verifyAnchor(r10, cp10)).map((f) => f.code)).toEqual(['delete-marker']);

    const cp11 = note(11, randomBytes(32));
    const r11 = await anchor.anchorCheckpoint(ORIGIN, 11, cp11);
    const promisedMore = { ...r11, retainUntil: new Date(Date.parse(r11.retainUntil) + HOUR).toISOString() };
    expect((await anchor.verifyAnchor(promisedMore, cp11)).map((f) => f.code)).toEqual(['retention-shortened']);
    const otherBytes = note(11, randomBytes(32));
    expect((await anchor.verifyAnchor(r11, otherBytes)).map((f) => f.code)).toEqual(['bytes-mismatch']);
    expect((await anchor.verifyAnchor({ ...r11, etag: '0'.repeat(32) }, cp11)).map((f) => f.code)).toEqual([
      'etag-mismatch',
    ]);
    // The receipt of size 10 presented for the note of size 11.
    expect((await anchor.verifyAnchor(r10, cp11)).map((f) => f.code)).toEqual([
      'location-mismatch',
      'bytes-mismatch',
      'delete-marker',
    ]);
    expect((await anchor.verifyAnchor({ ...r11, versionId: 'no-such-version' }, cp11)).map((f) => f.code)).toEqual([
      'version-missing',
      'other-version',
    ]);
  });

  it('a writer racing between the check and the write is caught by the listing after the write', async () => {
    const racing = new S3Anchor(config);
    const key = checkpointArchiveKey('log/', ORIGIN, 12);
    let armed = true;
    racing.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (armed && context.commandName === 'PutObjectCommand') {
          armed = false;
          await raw.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: note(12, randomBytes(32)) }));
        }
        return next(args);
      },
      { step: 'initialize', name: 'racingWriter' },
    );
    await expectCode(racing.anchorCheckpoint(ORIGIN, 12, note(12, randomBytes(32))), 'fork-evidence');
    expect(armed).toBe(false);
    // Both versions stay: the locked one and the racer's are the evidence.
    expect(await versionsOf(raw, bucket, key)).toHaveLength(2);
  });

  it('a 3-second retention is enforced, then expires and the version becomes deletable', async () => {
    const cp13 = note(13, randomBytes(32));
    const until = new Date(Date.now() + 3000);
    const r = await anchor.anchorCheckpoint(ORIGIN, 13, cp13, until);
    const del = () => raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: r.key, VersionId: r.versionId }));
    await expect(del()).rejects.toMatchObject({ name: 'AccessDenied' });
    await sleep(Date.parse(r.retainUntil) - Date.now() + 1100);
    await del();
    expect((await anchor.verifyAnchor(r, cp13)).map((f) => f.code)).toEqual(['version-missing']);
  });

  it('a legal hold alone blocks deletion until it is removed', async () => {
    const tile = await anchor.putImmutable('tile/1/000.p/3', randomBytes(96));
    const del = () => raw.send(new DeleteObjectCommand({ Bucket: bucket, Key: tile.key, VersionId: tile.versionId }));
    await anchor.setLegalHold(tile.key, tile.versionId, true);
    await expect(del()).rejects.toMatchObject({ name: 'AccessDenied' });
    await anchor.setLegalHold(tile.key, tile.versionId, false);
    await del();
    expect(await versionsOf(raw, bucket, tile.key)).toEqual([]);
  });

  it('putImmutable writes tiles once, with immutable caching, under the tlog-tiles path', async () => {
    const bytes = randomBytes(8192);
    const stored = await anchor.putImmutable('tile/0/x001/x234/067', bytes);
    expect(stored.key).toBe('log/tile/0/x001/x234/067');
    const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: stored.key }));
    expect(head.CacheControl).toBe('public, max-age=31536000, immutable');
    expect(head.ContentType).toBe('application/octet-stream');
    expect(head.ObjectLockMode).toBeUndefined();
    expect(await anchor.putImmutable('tile/0/x001/x234/067', bytes)).toEqual(stored);
    const flipped = bytes.slice();
    flipped[100]! ^= 1;
    await expectCode(anchor.putImmutable('tile/0/x001/x234/067', flipped), 'fork-evidence');
    expect(await versionsOf(raw, bucket, stored.key)).toEqual([stored.versionId]);

    const bundle = await anchor.putImmutable('tile/entries/000.p/2', utf8('\u0000\u0001a\u0000\u0001b'));
    expect(bundle.key).toBe('log/tile/entries/000.p/2');
    await expectCode(anchor.putImmutable('tile/0/1', bytes), 'invalid-argument');
    await expectCode(anchor.putImmutable('checkpoint', bytes), 'invalid-argument');
  });

  it('putLatestCheckpoint replaces the mutable checkpoint with short caching', async () => {
    const a = note(20, randomBytes(32));
    const b = note(21, randomBytes(32));
    const first = await anchor.putLatestCheckpoint(a);
    const second = await anchor.putLatestCheckpoint(b);
    expect(second.key).toBe('log/checkpoint');
    expect(second.versionId).not.toBe(first.versionId);
    expect(equal(await bodyOf(raw, bucket, 'log/checkpoint'), b)).toBe(true);
    const head = await raw.send(new HeadObjectCommand({ Bucket: bucket, Key: 'log/checkpoint' }));
    expect(head.CacheControl).toBe('public, max-age=5');
    expect(head.ContentType).toBe('text/plain; charset=utf-8');
  });

  it('a closed port gives s3-unavailable', async () => {
    const port = await freePort();
    const down = new S3Anchor({ ...config, endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 });
    await expectCode(down.ensureBucket(), 's3-unavailable');
    await expectCode(down.verifyAnchor(receipt, cp5), 's3-unavailable');
  });

  it('a stopped server gives s3-unavailable (the server is stopped here, last)', async () => {
    await stopS3(s3.dir);
    const t0 = performance.now();
    await expectCode(anchor.verifyAnchor(receipt, cp5), 's3-unavailable');
    await expectCode(anchor.anchorCheckpoint(ORIGIN, 30, note(30, randomBytes(32))), 's3-unavailable');
    expect(performance.now() - t0).toBeLessThan(30_000);
  });
});
