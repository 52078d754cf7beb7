// Key layout of the S3 anchor store (spec/anchoring.md §"Object keys"): pure, no server.

import { describe, expect, it } from 'vitest';
import { S3AnchorError } from '../../storage/s3/errors.js';
import { checkPrefix, checkTilePath, checkpointArchiveKey } from '../../storage/s3/keys.js';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof S3AnchorError) return e.code;
    throw e;
  }
  return undefined;
}

describe('checkpoint archive keys', () => {
  it('are prefix, checkpoints/, hex SHA-256 of the origin and the 20-digit size', () => {
    // SHA-256("example.com/behind-the-sofa"), the tlog-checkpoint example origin.
    const h = '5fd2dc0beb4ce54da5050cf6d5c75248b023abad441c3cecde3976fbe9da4fe4';
    expect(checkpointArchiveKey('', 'example.com/behind-the-sofa', 20852163)).toBe(`checkpoints/${h}/00000000000020852163`);
    expect(checkpointArchiveKey('logs/a/', 'example.com/behind-the-sofa', 0)).toBe(
      `logs/a/checkpoints/${h}/00000000000000000000`,
    );
    expect(checkpointArchiveKey('', 'example.com/behind-the-sofa', Number.MAX_SAFE_INTEGER)).toBe(
      `checkpoints/${h}/00009007199254740991`,
    );
  });

  it('refuse bad sizes, origins and prefixes', () => {
    expect(codeOf(() => checkpointArchiveKey('', 'o', -1))).toBe('invalid-argument');
    expect(codeOf(() => checkpointArchiveKey('', 'o', 1.5))).toBe('invalid-argument');
    expect(codeOf(() => checkpointArchiveKey('', 'o', 2 ** 53))).toBe('invalid-argument');
    expect(codeOf(() => checkpointArchiveKey('', '', 1))).toBe('invalid-argument');
    expect(codeOf(() => checkpointArchiveKey('', 'a\nb', 1))).toBe('invalid-argument');
    for (const p of ['log', '/log/', 'a//', '/']) expect(codeOf(() => checkPrefix(p))).toBe('invalid-argument');
    for (const p of ['', 'log/', 'a/b/']) expect(checkPrefix(p)).toBe(p);
  });
});

describe('tlog-tiles paths', () => {
  it('accepts hash tiles and entry bundles, full and partial', () => {
    for (const p of [
      'tile/0/000',
      'tile/0/x001/x234/067',
      'tile/63/999',
      'tile/1/x001/x000/000',
      'tile/0/001.p/1',
      'tile/2/000.p/255',
      'tile/entries/000',
      'tile/entries/x123/456.p/99',
    ]) {
      expect(checkTilePath(p)).toBe(p);
    }
  });

  it('refuses paths that are not in the tlog-tiles form', () => {
    for (const p of [
      'tile/64/000', // level above 63
      'tile/01/000', // leading zero in the level
      'tile/0/1', // index element not 3 digits
      'tile/0/1234',
      'tile/0/x001', // last element with x
      'tile/0/001/002', // non-last element without x
      'tile/0/x000/123', // x000 leading element: not the encoding of any index
      'tile/0/000.p/0', // width 0
      'tile/0/000.p/256', // width above 255
      'tile/0/000.p/010', // leading zero in the width
      'tile/entries/000.p/',
      'tile/data/000',
      'checkpoint',
      '/tile/0/000',
      'tile/0/000/',
    ]) {
      expect(codeOf(() => checkTilePath(p)), p).toBe('invalid-argument');
    }
  });
});
