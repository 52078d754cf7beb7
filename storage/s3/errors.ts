// Typed errors of the S3 anchor store (spec/anchoring.md §"Errors").

export type S3AnchorErrorCode =
  /** The bucket exists but Object Lock is not enabled on it: no write is made. */
  | 'bucket-without-object-lock'
  /** Another object version holds different bytes for the same checkpoint or tile. */
  | 'fork-evidence'
  /** The same checkpoint body is already anchored with other signature lines. */
  | 'checkpoint-signatures-differ'
  /** The server stored the object without the COMPLIANCE retention that was asked for. */
  | 'retention-not-applied'
  /** Network failure, timeout or 5xx: the caller may retry with backoff. */
  | 's3-unavailable'
  /** The server refused the request (4xx other than the cases above). */
  | 's3-request-failed'
  /** A bad argument (tile path, tree size, prefix, note), found before any request. */
  | 'invalid-argument';

export class S3AnchorError extends Error {
  readonly code: S3AnchorErrorCode;
  /** The S3 error code (e.g. AccessDenied) and HTTP status, when the server answered. */
  readonly s3Code: string | undefined;
  readonly httpStatus: number | undefined;

  constructor(
    code: S3AnchorErrorCode,
    message: string,
    opts: { s3Code?: string; httpStatus?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'S3AnchorError';
    this.code = code;
    this.s3Code = opts.s3Code;
    this.httpStatus = opts.httpStatus;
  }
}

/** One stored version of a key that disagrees with the bytes being written. */
export interface ConflictingVersion {
  versionId: string;
  /** Length of the stored version in bytes. */
  size: number;
}

/**
 * Refusal to write (or report after a racing write) because the key already holds other bytes.
 * The conflicting versions stay in the bucket: they are the evidence.
 */
export class AnchorConflictError extends S3AnchorError {
  readonly bucket: string;
  readonly key: string;
  readonly conflicting: readonly ConflictingVersion[];

  constructor(
    code: 'fork-evidence' | 'checkpoint-signatures-differ',
    bucket: string,
    key: string,
    conflicting: readonly ConflictingVersion[],
    detail: string,
  ) {
    const ids = conflicting.map((v) => v.versionId).join(', ');
    super(code, `s3://${bucket}/${key}: ${detail} (version ${ids})`);
    this.name = 'AnchorConflictError';
    this.bucket = bucket;
    this.key = key;
    this.conflicting = conflicting;
  }
}

// Node's socket-level failures, as the SDK passes them through in `code`.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const UNAVAILABLE_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'SlowDown', 'ServiceUnavailable', 'InternalError']);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** The HTTP status of an SDK error, if the server answered at all. */
export function httpStatusOf(err: unknown): number | undefined {
  const status = (err as SdkErrorShape | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The S3 error code (the SDK's error name) of an SDK error. */
export function s3CodeOf(err: unknown): string | undefined {
  const name = (err as SdkErrorShape | null)?.name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Wraps an error thrown by the SDK during `what` into an S3AnchorError: 's3-unavailable' for
 * network failures, timeouts and 5xx answers, 's3-request-failed' for other answers. The message
 * names the operation and the S3 code only (the SDK's errors carry no credentials).
 */
export function wrapS3Error(what: string, err: unknown): S3AnchorError {
  if (err instanceof S3AnchorError) return err;
  const e = (err ?? {}) as SdkErrorShape;
  const status = httpStatusOf(err);
  const s3Code = s3CodeOf(err);
  const netCode = typeof e.code === 'string' ? e.code : undefined;
  const detail = typeof e.message === 'string' && e.message !== '' ? e.message : (s3Code ?? 'unknown error');
  const unavailable =
    (status !== undefined && status >= 500) ||
    (netCode !== undefined && NETWORK_CODES.has(netCode)) ||
    (s3Code !== undefined && UNAVAILABLE_NAMES.has(s3Code));
  if (unavailable) {
    return new S3AnchorError('s3-unavailable', `${what}: S3 unavailable: ${netCode ?? s3Code ?? ''} ${detail}`.trim(), {
      ...(s3Code === undefined ? {} : { s3Code }),
      ...(status === undefined ? {} : { httpStatus: status }),
      cause: err,
    });
  }
  return new S3AnchorError('s3-request-failed', `${what}: ${s3Code ?? 'error'}${status ? ` (HTTP ${status})` : ''}: ${detail}`, {
    ...(s3Code === undefined ? {} : { s3Code }),
    ...(status === undefined ? {} : { httpStatus: status }),
    cause: err,
  });
}
