// Object keys of the S3 anchor store and tile mirror (spec/anchoring.md §"Object keys").
//
// One bucket holds three kinds of objects under a common prefix:
//   <prefix>checkpoint                                   the latest checkpoint (mutable)
//   <prefix>tile/<L>/<N>[.p/<W>], tile/entries/<N>[...]  C2SP tlog-tiles resources (write-once)
//   <prefix>checkpoints/<hex SHA-256(origin)>/<size>     checkpoint archive (COMPLIANCE retention)
// so that the bucket, read at <prefix>, serves the tlog-tiles read API as it stands.

import { toHex, utf8 } from '../../src/core/bytes.js';
import { sha256 } from '../../src/core/crypto.js';
import { S3AnchorError } from './errors.js';

/** The mutable tlog-tiles checkpoint resource, relative to the prefix. */
export const LATEST_CHECKPOINT_PATH = 'checkpoint';

/** Width of the zero-padded tree size in archive keys: 2^64 - 1 has 20 decimal digits. */
const SIZE_DIGITS = 20;

/**
 * Checks a key prefix: empty, or non-empty path segments each followed by '/'. A prefix never
 * starts with '/' (S3 keys are not absolute paths).
 */
export function checkPrefix(prefix: string): string {
  if (prefix !== '' && !/^([^/]+\/)+$/.test(prefix)) {
    throw new S3AnchorError(
      'invalid-argument',
      `prefix ${JSON.stringify(prefix)} must be empty or end with '/' (and not start with '/')`,
    );
  }
  return prefix;
}

/**
 * The archive key of the checkpoint of `origin` at `size`:
 * `<prefix>checkpoints/<lowercase hex SHA-256 of the UTF-8 origin>/<size, 20 digits, zero-padded>`.
 * Hashing the origin keeps any origin string (spaces, '/', '+') out of the key; the fixed width
 * keeps keys of one origin in tree-size order and no key a prefix of another.
 */
export function checkpointArchiveKey(prefix: string, origin: string, size: number): string {
  if (origin === '' || origin.includes('\n')) {
    throw new S3AnchorError('invalid-argument', 'origin must be a non-empty single line');
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new S3AnchorError('invalid-argument', `tree size ${size} is not a non-negative safe integer`);
  }
  const originHash = toHex(sha256(utf8(origin)));
  return `${checkPrefix(prefix)}checkpoints/${originHash}/${String(size).padStart(SIZE_DIGITS, '0')}`;
}

// C2SP tlog-tiles §"Merkle Tree": <L> is 0..63 without leading zeroes; <N> is zero-padded 3-digit
// path elements, all but the last starting with 'x' (1234067 is x001/x234/067; a leading x000
// element is not the encoding of any index); <W> is 1..255 without leading zeroes.
const LEVEL = '(?:[0-9]|[1-5][0-9]|6[0-3])';
const INDEX = '(?:x(?!000)[0-9]{3}/(?:x[0-9]{3}/)*)?[0-9]{3}';
const WIDTH = '(?:[1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])';
const TILE_PATH = new RegExp(`^tile/(?:${LEVEL}|entries)/${INDEX}(?:\\.p/${WIDTH})?$`);

/**
 * Checks that `path` is a tlog-tiles hash tile (`tile/<L>/<N>[.p/<W>]`) or entry bundle
 * (`tile/entries/<N>[.p/<W>]`) path, relative to the prefix.
 */
export function checkTilePath(path: string): string {
  if (!TILE_PATH.test(path)) {
    throw new S3AnchorError(
      'invalid-argument',
      `${JSON.stringify(path)} is not a tlog-tiles path tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]`,
    );
  }
  return path;
}
