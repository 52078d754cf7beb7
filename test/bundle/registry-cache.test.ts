// The registry cache file of `ledger export --registry-cache`: it round-trips,
// and a file that is not one, or that breaks its own rules, is refused with the
// reason rather than trusted.

import { describe, expect, it } from 'vitest';
import { encodeRegistryCache, parseRegistryCache, type RegistrySnapshot } from '../../src/bundle/registry-cache.js';

const snap: RegistrySnapshot = {
  origin: 'ledger.test/cache',
  size: 300,
  root: new Uint8Array(32).fill(7),
  entries: [
    { index: 0, leaf: new Uint8Array([1, 2, 3]) },
    { index: 299, leaf: new Uint8Array([4]) },
  ],
};

describe('registry cache files', () => {
  it('round-trip', () => {
    const text = encodeRegistryCache(snap);
    expect(JSON.parse(text)).toEqual({ format: 'ledger-registry-cache/v1', origin: 'ledger.test/cache', size: 300, root: 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=', entries: [{ index: 0, leaf: 'AQID' }, { index: 299, leaf: 'BA==' }] });
    expect(parseRegistryCache(text)).toEqual(snap);
  });

  const edit = (f: (j: Record<string, unknown>) => void) => {
    const j = JSON.parse(encodeRegistryCache(snap));
    f(j);
    return JSON.stringify(j);
  };
  it.each([
    ['not JSON', '{', /^not JSON: /],
    ['another format', edit((j) => (j.format = 'ledger-registry-cache/v2')), /^not a ledger-registry-cache\/v1 file$/],
    ['no origin', edit((j) => delete j.origin), /^origin must be a non-empty string$/],
    ['a fractional size', edit((j) => (j.size = 1.5)), /^size must be a non-negative integer$/],
    ['a short root', edit((j) => (j.root = 'AAAA')), /^root must be 32 bytes, got 3$/],
    ['a root that is not base64', edit((j) => (j.root = '!!')), /^root is not valid base64$/],
    ['entries out of order', edit((j) => (j.entries = [{ index: 5, leaf: 'AA==' }, { index: 5, leaf: 'AA==' }])), /^entries\[1\]\.index 5 is not above the one before it and below size 300$/],
    ['an entry at or above the size', edit((j) => (j.entries = [{ index: 300, leaf: 'AA==' }])), /^entries\[0\]\.index 300 is not above/],
    ['a leaf that is not base64', edit((j) => (j.entries = [{ index: 1, leaf: 7 }])), /^entries\[0\]\.leaf must be a base64 string$/],
  ])('refuse %s', (_, text, why) => {
    expect(() => parseRegistryCache(text)).toThrow(why);
  });
});
