// The S3 Object Lock anchor store and tile mirror (spec/anchoring.md).
//
// Checkpoints are archived as write-once objects under COMPLIANCE retention, so that no one,
// the log operator included, can delete or replace the evidence of which tree head the log
// published for a size before the retention ends. The same bucket mirrors the C2SP tlog-tiles
// read API (the latest `checkpoint`, hash tiles and entry bundles), so it can be served as is.
//
// S3 Object Lock buckets are versioned and radosgw 16.2 ignores conditional writes on them
// (/work/shared/S3-LOCAL.md), so "write once" is enforced by reading every version of a key
// before writing and again after writing: any version with other bytes is a conflict.

import { createHash } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadBucketCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectRetentionCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { equal, fromUtf8 } from '../../src/core/bytes.js';
import { AnchorConflictError, S3AnchorError, httpStatusOf, s3CodeOf, wrapS3Error } from './errors.js';
import { LATEST_CHECKPOINT_PATH, checkPrefix, checkTilePath, checkpointArchiveKey } from './keys.js';

export interface S3AnchorConfig {
  bucket: string;
  /** Key prefix: '' or path segments ending in '/'. Default ''. */
  prefix?: string;
  /** radosgw 16.2 needs 'us-east-1'. */
  region: string;
  /** For S3-compatible servers, e.g. http://127.0.0.1:17480; AWS S3 when left out. */
  endpoint?: string;
  /** Path-style URLs (needed by radosgw without DNS names). Default false. */
  forcePathStyle?: boolean;
  /**
   * The SDK's requestChecksumCalculation and responseChecksumValidation. Default
   * 'WHEN_SUPPORTED' (the SDK's own default); radosgw 16.2 needs 'WHEN_REQUIRED'.
   */
  checksumMode?: 'WHEN_REQUIRED' | 'WHEN_SUPPORTED';
  /** Default retention of archived checkpoints, when anchorCheckpoint is given no date. */
  retentionDays?: number;
  /** The same in seconds (tests); at most one of the two. */
  retentionSeconds?: number;
  /** Attempts per request, retries included (the SDK's maxAttempts). Default 3. */
  maxAttempts?: number;
}

/** Proof that a checkpoint note was archived under COMPLIANCE retention (spec/anchoring.md). */
export interface AnchorReceipt {
  bucket: string;
  key: string;
  versionId: string;
  /** The object's ETag without quotes (hex MD5 of the bytes for a single PUT). */
  etag: string;
  /** Retain-until date the server reported, RFC 3339 UTC with milliseconds. */
  retainUntil: string;
  mode: 'COMPLIANCE';
}

/** Where a tile, entry bundle or the latest checkpoint was stored. */
export interface StoredObject {
  bucket: string;
  key: string;
  versionId: string;
  etag: string;
}

export type AnchorFindingCode =
  | 'location-mismatch'
  | 'version-missing'
  | 'bytes-mismatch'
  | 'etag-mismatch'
  | 'retention-missing'
  | 'mode-not-compliance'
  | 'retention-shortened'
  | 'overwritten'
  | 'conflicting-version'
  | 'other-version'
  | 'delete-marker';

export interface AnchorFinding {
  code: AnchorFindingCode;
  message: string;
}

/** tlog-tiles: the checkpoint is mutable and SHOULD NOT be cached beyond a few seconds. */
const LATEST_CACHE_CONTROL = 'public, max-age=5';
/** tlog-tiles: tiles and entry bundles are immutable; caching SHOULD be long-lived. */
const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';
/** tlog-tiles: the checkpoint is served as text/plain; charset=utf-8. */
const CHECKPOINT_CONTENT_TYPE = 'text/plain; charset=utf-8';
const TILE_CONTENT_TYPE = 'application/octet-stream';

interface Version {
  versionId: string;
  etag: string;
  size: number;
  /** Position in the listing, which S3 orders newest first. */
  order: number;
}

interface KeyVersions {
  versions: Version[];
  deleteMarkers: string[];
}

/** A version's bytes next to the version. */
interface ReadVersion extends Version {
  bytes: Uint8Array;
}

/** The S3 client for a configuration; credentials come from the SDK's default chain only. */
export function createS3Client(config: S3AnchorConfig): S3Client {
  const checksum = config.checksumMode ?? 'WHEN_SUPPORTED';
  return new S3Client({
    region: config.region,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    forcePathStyle: config.forcePathStyle ?? false,
    requestChecksumCalculation: checksum,
    responseChecksumValidation: checksum,
    maxAttempts: config.maxAttempts ?? 3,
  });
}

export class S3Anchor {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  private readonly retentionMs: number | undefined;
  /** Set once Object Lock has been seen enabled on the bucket. */
  private objectLockVerified = false;

  constructor(config: S3AnchorConfig) {
    if (config.bucket === '') throw new S3AnchorError('invalid-argument', 'bucket name is empty');
    if (config.retentionDays !== undefined && config.retentionSeconds !== undefined) {
      throw new S3AnchorError('invalid-argument', 'give retentionDays or retentionSeconds, not both');
    }
    const seconds = config.retentionSeconds ?? (config.retentionDays === undefined ? undefined : config.retentionDays * 86400);
    if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0)) {
      throw new S3AnchorError('invalid-argument', 'retention must be a positive number');
    }
    this.retentionMs = seconds === undefined ? undefined : seconds * 1000;
    this.bucket = config.bucket;
    this.prefix = checkPrefix(config.prefix ?? '');
    this.client = createS3Client(config);
  }

  /**
   * Creates the bucket with Object Lock when it does not exist, then checks that Object Lock is
   * enabled on it ('bucket-without-object-lock' otherwise). No default retention rule is set:
   * only checkpoint archive objects get retention, each its own.
   */
  async ensureBucket(): Promise<void> {
    let exists = true;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      if (httpStatusOf(err) !== 404) throw wrapS3Error(`HeadBucket ${this.bucket}`, err);
      exists = false;
    }
    if (!exists) {
      try {
        await this.client.send(new CreateBucketCommand({ Bucket: this.bucket, ObjectLockEnabledForBucket: true }));
      } catch (err) {
        // Created meanwhile by a concurrent ensureBucket: the check below decides.
        if (s3CodeOf(err) !== 'BucketAlreadyOwnedByYou') throw wrapS3Error(`CreateBucket ${this.bucket}`, err);
      }
    }
    this.objectLockVerified = false;
    await this.requireObjectLock();
  }

  /**
   * Archives a checkpoint note at `<prefix>checkpoints/<hex SHA-256(origin)>/<size, 20 digits>`
   * with COMPLIANCE retention until `retainUntil` (default: now plus the configured retention).
   *
   * The note's first two lines must be `origin` and `size` (C2SP tlog-checkpoint §"Note text").
   * When the key already holds exactly these bytes, the existing version's receipt is returned
   * (its retention extended if it ends earlier than asked). When any version holds other bytes,
   * nothing is written and AnchorConflictError is thrown: 'fork-evidence' when the checkpoint
   * text differs, 'checkpoint-signatures-differ' when only the signature lines do.
   */
  async anchorCheckpoint(
    origin: string,
    size: number,
    checkpointNote: Uint8Array,
    retainUntil: Date = this.defaultRetainUntil(),
  ): Promise<AnchorReceipt> {
    const key = checkpointArchiveKey(this.prefix, origin, size);
    const head = parseCheckpointHead(checkpointNote);
    if (head.origin !== origin || head.size !== String(size)) {
      throw new S3AnchorError(
        'invalid-argument',
        `checkpoint note is for ${JSON.stringify(head.origin)} at size ${head.size}, not ${JSON.stringify(origin)} at ${size}`,
      );
    }
    if (Number.isNaN(retainUntil.getTime())) throw new S3AnchorError('invalid-argument', 'retainUntil is not a valid date');
    // Retain-until dates are kept to the second by some servers: round up, never down.
    const until = new Date(Math.ceil(retainUntil.getTime() / 1000) * 1000);

    const classify = (other: Uint8Array) => {
      const otherHead = tryParseCheckpointHead(other);
      return otherHead !== undefined && equal(otherHead.text, head.text) ? 'checkpoint-signatures-differ' : 'fork-evidence';
    };
    const version = await this.writeOnce(key, checkpointNote, classify, () =>
      this.send(`PutObject ${key}`, () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: checkpointNote,
            ContentType: CHECKPOINT_CONTENT_TYPE,
            ContentMD5: md5Base64(checkpointNote),
            ObjectLockMode: 'COMPLIANCE',
            ObjectLockRetainUntilDate: until,
          }),
        ),
      ),
    );
    const retained = await this.ensureCompliance(key, version.versionId, until);
    return {
      bucket: this.bucket,
      key,
      versionId: version.versionId,
      etag: version.etag,
      retainUntil: retained.toISOString(),
      mode: 'COMPLIANCE',
    };
  }

  /**
   * Stores a tlog-tiles hash tile or entry bundle at `<prefix><path>`, write-once with the same
   * conflict rule as checkpoints ('fork-evidence' when the path holds other bytes), with
   * long-lived immutable caching. No retention: partial tiles may be deleted later (tlog-tiles).
   */
  async putImmutable(path: string, bytes: Uint8Array, contentType = TILE_CONTENT_TYPE): Promise<StoredObject> {
    const key = this.prefix + checkTilePath(path);
    const version = await this.writeOnce(key, bytes, () => 'fork-evidence', () =>
      this.send(`PutObject ${key}`, () =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: key,
            Body: bytes,
            ContentType: contentType,
            ContentMD5: md5Base64(bytes),
            CacheControl: IMMUTABLE_CACHE_CONTROL,
          }),
        ),
      ),
    );
    return { bucket: this.bucket, key, versionId: version.versionId, etag: version.etag };
  }

  /**
   * Replaces `<prefix>checkpoint`, the mutable latest checkpoint of the read API (a new version
   * in the versioned bucket; older versions stay until a lifecycle rule removes them).
   */
  async putLatestCheckpoint(bytes: Uint8Array): Promise<StoredObject> {
    await this.requireObjectLock();
    const key = this.prefix + LATEST_CHECKPOINT_PATH;
    const out = await this.send(`PutObject ${key}`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: bytes,
          ContentType: CHECKPOINT_CONTENT_TYPE,
          ContentMD5: md5Base64(bytes),
          CacheControl: LATEST_CACHE_CONTROL,
        }),
      ),
    );
    if (out.VersionId === undefined) throw this.unversioned(key);
    return { bucket: this.bucket, key, versionId: out.VersionId, etag: unquote(out.ETag ?? '') };
  }

  /**
   * Checks an anchor against the bucket (spec/anchoring.md §"anchor verify"): the receipt's
   * location is the one derived from the note, the recorded version holds exactly
   * `expectedBytes` with the recorded ETag, it is under COMPLIANCE retention until at least the
   * receipt's date, and the key has no other version and no delete marker. Returns the findings;
   * none means the anchor holds. Throws only when S3 cannot be asked ('s3-unavailable', ...).
   */
  async verifyAnchor(receipt: AnchorReceipt, expectedBytes: Uint8Array): Promise<AnchorFinding[]> {
    const findings: AnchorFinding[] = [];
    const add = (code: AnchorFindingCode, message: string) => findings.push({ code, message });
    const head = parseCheckpointHead(expectedBytes);
    const { bucket, key, versionId } = receipt;
    const where = `s3://${bucket}/${key} version ${versionId}`;

    const size = Number(head.size);
    const expectedKey = Number.isSafeInteger(size) ? checkpointArchiveKey(this.prefix, head.origin, size) : undefined;
    if (bucket !== this.bucket || key !== expectedKey) {
      add('location-mismatch', `receipt names s3://${bucket}/${key}, the note belongs at s3://${this.bucket}/${expectedKey ?? '(size out of range)'}`);
    }

    let present = true;
    try {
      const bytes = await this.readVersion(bucket, key, versionId);
      if (!equal(bytes.bytes, expectedBytes)) add('bytes-mismatch', `${where} holds other bytes than the checkpoint`);
      if (bytes.etag !== receipt.etag) add('etag-mismatch', `${where} has ETag ${bytes.etag}, the receipt ${receipt.etag}`);
    } catch (err) {
      if (!isMissing(err)) throw wrapS3Error(`GetObject ${key}`, err);
      present = false;
      add('version-missing', `${where} does not exist`);
    }

    if (present) {
      const retention = await this.retentionOf(bucket, key, versionId);
      const promised = Date.parse(receipt.retainUntil);
      if (retention === undefined) add('retention-missing', `${where} has no retention`);
      else {
        if (retention.mode !== 'COMPLIANCE') add('mode-not-compliance', `${where} has retention mode ${retention.mode}`);
        if (!(retention.until.getTime() >= promised)) {
          add('retention-shortened', `${where} is retained until ${retention.until.toISOString()}, the receipt promised ${receipt.retainUntil}`);
        }
      }
    }

    const listing = await this.listVersions(bucket, key);
    const mine = listing.versions.find((v) => v.versionId === versionId);
    for (const v of listing.versions) {
      if (v.versionId === versionId) continue;
      const other = await this.readListed(bucket, key, v);
      if (equal(other.bytes, expectedBytes)) {
        add('other-version', `s3://${bucket}/${key} has another version ${v.versionId} with the same bytes`);
      } else if (mine !== undefined && v.order < mine.order) {
        add('overwritten', `s3://${bucket}/${key} has a newer version ${v.versionId} with other bytes`);
      } else {
        add('conflicting-version', `s3://${bucket}/${key} has version ${v.versionId} with other bytes`);
      }
    }
    for (const marker of listing.deleteMarkers) {
      add('delete-marker', `s3://${bucket}/${key} has delete marker ${marker}`);
    }
    return findings;
  }

  /** Sets (on) or removes (off) the legal hold of one object version. */
  async setLegalHold(key: string, versionId: string, on: boolean): Promise<void> {
    await this.send(`PutObjectLegalHold ${key}`, () =>
      this.client.send(
        new PutObjectLegalHoldCommand({
          Bucket: this.bucket,
          Key: key,
          VersionId: versionId,
          LegalHold: { Status: on ? 'ON' : 'OFF' },
        }),
      ),
    );
  }

  // --- internals ---------------------------------------------------------------------------------

  private defaultRetainUntil(): Date {
    if (this.retentionMs === undefined) {
      throw new S3AnchorError('invalid-argument', 'no retainUntil given and no retention configured');
    }
    return new Date(Date.now() + this.retentionMs);
  }

  /** Runs one request, turning SDK errors into S3AnchorError. */
  private async send<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw wrapS3Error(what, err);
    }
  }

  /** Refuses to work on a bucket without Object Lock (checked once per instance). */
  private async requireObjectLock(): Promise<void> {
    if (this.objectLockVerified) return;
    let enabled: string | undefined;
    try {
      const out = await this.client.send(new GetObjectLockConfigurationCommand({ Bucket: this.bucket }));
      enabled = out.ObjectLockConfiguration?.ObjectLockEnabled;
    } catch (err) {
      if (s3CodeOf(err) !== 'ObjectLockConfigurationNotFoundError') {
        throw wrapS3Error(`GetObjectLockConfiguration ${this.bucket}`, err);
      }
    }
    if (enabled !== 'Enabled') {
      throw new S3AnchorError('bucket-without-object-lock', `bucket ${this.bucket} does not have Object Lock enabled`);
    }
    this.objectLockVerified = true;
  }

  /**
   * The write-once rule. Reads every version of `key`: if one holds other bytes, throws the
   * conflict without writing; if versions hold exactly `bytes`, returns the oldest; otherwise
   * writes, then reads the versions again, since a racing writer may have put other bytes
   * between the check and the write (radosgw ignores If-None-Match on versioned buckets).
   */
  private async writeOnce(
    key: string,
    bytes: Uint8Array,
    classify: (other: Uint8Array) => 'fork-evidence' | 'checkpoint-signatures-differ',
    put: () => Promise<unknown>,
  ): Promise<Version> {
    await this.requireObjectLock();
    const before = await this.readAllVersions(key);
    this.throwOnConflict(key, bytes, before, classify);
    if (before.length === 0) {
      await put();
      const after = await this.readAllVersions(key);
      this.throwOnConflict(key, bytes, after, classify);
      if (after.length === 0) {
        throw new S3AnchorError('s3-request-failed', `s3://${this.bucket}/${key}: the version just written is not listed`);
      }
      return oldest(after);
    }
    return oldest(before);
  }

  private throwOnConflict(
    key: string,
    bytes: Uint8Array,
    versions: ReadVersion[],
    classify: (other: Uint8Array) => 'fork-evidence' | 'checkpoint-signatures-differ',
  ): void {
    const differing = versions.filter((v) => !equal(v.bytes, bytes));
    if (differing.length === 0) return;
    const codes = differing.map((v) => classify(v.bytes));
    const code = codes.includes('fork-evidence') ? 'fork-evidence' : 'checkpoint-signatures-differ';
    const detail =
      code === 'fork-evidence'
        ? 'already holds other bytes for this path: two different objects for the same position of the log'
        : 'already holds this checkpoint with other signature lines';
    throw new AnchorConflictError(
      code,
      this.bucket,
      key,
      differing.map((v) => ({ versionId: v.versionId, size: v.size })),
      detail,
    );
  }

  /** Every version of `key` with its bytes, newest first. */
  private async readAllVersions(key: string): Promise<ReadVersion[]> {
    const listing = await this.listVersions(this.bucket, key);
    const out: ReadVersion[] = [];
    for (const v of listing.versions) out.push(await this.readListed(this.bucket, key, v));
    return out;
  }

  /** The versions and delete markers of exactly `key` (the listing is by prefix), newest first. */
  private async listVersions(bucket: string, key: string): Promise<KeyVersions> {
    const versions: Version[] = [];
    const deleteMarkers: string[] = [];
    let keyMarker: string | undefined;
    let versionIdMarker: string | undefined;
    let order = 0;
    for (;;) {
      const page = await this.send(`ListObjectVersions ${key}`, () =>
        this.client.send(
          new ListObjectVersionsCommand({
            Bucket: bucket,
            Prefix: key,
            ...(keyMarker === undefined ? {} : { KeyMarker: keyMarker }),
            ...(versionIdMarker === undefined ? {} : { VersionIdMarker: versionIdMarker }),
          }),
        ),
      );
      for (const v of page.Versions ?? []) {
        if (v.Key !== key) continue;
        if (v.VersionId === undefined) throw this.unversioned(key);
        versions.push({ versionId: v.VersionId, etag: unquote(v.ETag ?? ''), size: v.Size ?? -1, order: order++ });
      }
      for (const m of page.DeleteMarkers ?? []) {
        if (m.Key === key && m.VersionId !== undefined) deleteMarkers.push(m.VersionId);
      }
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      versionIdMarker = page.NextVersionIdMarker;
      if (keyMarker === undefined) break;
    }
    return { versions, deleteMarkers };
  }

  private async readListed(bucket: string, key: string, v: Version): Promise<ReadVersion> {
    const read = await this.readVersion(bucket, key, v.versionId).catch((err: unknown) => {
      throw wrapS3Error(`GetObject ${key} version ${v.versionId}`, err);
    });
    return { ...v, bytes: read.bytes };
  }

  /** The bytes and ETag of one version; SDK errors are passed through unwrapped. */
  private async readVersion(bucket: string, key: string, versionId: string): Promise<{ bytes: Uint8Array; etag: string }> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
    const bytes = out.Body === undefined ? new Uint8Array(0) : await out.Body.transformToByteArray();
    return { bytes, etag: unquote(out.ETag ?? '') };
  }

  /** The retention of one version, or undefined when it has none. */
  private async retentionOf(bucket: string, key: string, versionId: string): Promise<{ mode: string; until: Date } | undefined> {
    try {
      const out = await this.client.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
      const r = out.Retention;
      if (r?.Mode === undefined || r.RetainUntilDate === undefined) return undefined;
      return { mode: r.Mode, until: new Date(r.RetainUntilDate) };
    } catch (err) {
      if (s3CodeOf(err) === 'NoSuchObjectLockConfiguration') return undefined;
      throw wrapS3Error(`GetObjectRetention ${key}`, err);
    }
  }

  /**
   * Makes sure the version is under COMPLIANCE retention until at least `until`: sets or extends
   * it when it is missing, shorter or another mode, then reads it back. A server that
   * does not apply it gives 'retention-not-applied'. Returns the retain-until date in force.
   */
  private async ensureCompliance(key: string, versionId: string, until: Date): Promise<Date> {
    const holds = (r: { mode: string; until: Date } | undefined) =>
      r !== undefined && r.mode === 'COMPLIANCE' && r.until.getTime() >= until.getTime();
    let current = await this.retentionOf(this.bucket, key, versionId);
    if (!holds(current)) {
      // Never ask for less than is in force: shortening is refused under COMPLIANCE.
      const target = current !== undefined && current.until > until ? current.until : until;
      await this.send(`PutObjectRetention ${key}`, () =>
        this.client.send(
          new PutObjectRetentionCommand({
            Bucket: this.bucket,
            Key: key,
            VersionId: versionId,
            Retention: { Mode: 'COMPLIANCE', RetainUntilDate: target },
          }),
        ),
      );
      current = await this.retentionOf(this.bucket, key, versionId);
    }
    if (current === undefined || !holds(current)) {
      throw new S3AnchorError(
        'retention-not-applied',
        `s3://${this.bucket}/${key} version ${versionId} is not under COMPLIANCE retention until ${until.toISOString()} ` +
          `(server reports ${current === undefined ? 'none' : `${current.mode} until ${current.until.toISOString()}`})`,
      );
    }
    return current.until;
  }

  private unversioned(key: string): S3AnchorError {
    return new S3AnchorError(
      'bucket-without-object-lock',
      `s3://${this.bucket}/${key} has no version ID: the bucket is not versioned, so Object Lock cannot be on`,
    );
  }
}

/** The first lines of a checkpoint note (C2SP tlog-checkpoint §"Note text", signed-note). */
interface CheckpointHead {
  origin: string;
  /** The tree size line as written: decimal without leading zeroes. */
  size: string;
  /** The note text: everything before the blank line that starts the signatures. */
  text: Uint8Array;
}

function tryParseCheckpointHead(note: Uint8Array): CheckpointHead | undefined {
  // signed-note: the text ends with a newline, then one blank line, then the signature lines.
  let end = -1;
  for (let i = 0; i + 1 < note.length; i++) {
    if (note[i] === 0x0a && note[i + 1] === 0x0a) {
      end = i + 1;
      break;
    }
  }
  if (end < 0) return undefined;
  const text = note.subarray(0, end);
  let decoded: string;
  try {
    decoded = fromUtf8(text);
  } catch {
    return undefined;
  }
  const lines = decoded.split('\n');
  // tlog-checkpoint: at least origin, size and root hash lines, then the newline ending the text.
  if (lines.length < 4) return undefined;
  const [origin, size] = lines as [string, string];
  if (origin === '' || !/^(0|[1-9][0-9]*)$/.test(size)) return undefined;
  return { origin, size, text };
}

function parseCheckpointHead(note: Uint8Array): CheckpointHead {
  const head = tryParseCheckpointHead(note);
  if (head === undefined) {
    throw new S3AnchorError(
      'invalid-argument',
      'not a checkpoint note: expected origin, tree size and root hash lines, a blank line and signatures',
    );
  }
  return head;
}

/** The oldest version: the last in S3's newest-first listing. */
function oldest<V extends Version>(versions: V[]): V {
  return versions[versions.length - 1]!;
}

function isMissing(err: unknown): boolean {
  const code = s3CodeOf(err);
  return code === 'NoSuchKey' || code === 'NoSuchVersion' || httpStatusOf(err) === 404;
}

function unquote(etag: string): string {
  return etag.replace(/^"(.*)"$/, '$1');
}

/** Content-MD5 (RFC 1864): the server rejects a body damaged on the way; AWS requires it with Object Lock. */
function md5Base64(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('base64');
}
