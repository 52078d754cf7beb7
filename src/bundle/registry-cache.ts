// The registry cache of `ledger export --registry-cache FILE`: the producer
// registry as a scan of a log's first `size` entries found it, kept between
// exports so that the next one need not read the log from index 0 again
// (spec/bundle.md). A JSON file of the auditor's, trusted as the policy file
// is; the export still proves that the log's new checkpoint extends the tree
// whose root the cache holds before it relies on it.

import { fromBase64, toBase64 } from '../core/bytes.js';
import type { BundleEntry } from './format.js';

export const REGISTRY_CACHE_FORMAT = 'ledger-registry-cache/v1';

/** Every registry entry among a log's first `size` entries, and the root of the tree of that size. */
export interface RegistrySnapshot {
  origin: string;
  size: number;
  /** Root hash of the log's tree of `size` entries. */
  root: Uint8Array;
  /** The registry entries below `size`, by increasing index. */
  entries: BundleEntry[];
}

export class RegistryCacheError extends Error {
  override readonly name = 'RegistryCacheError';
}

export function encodeRegistryCache(s: RegistrySnapshot): string {
  return `${JSON.stringify({
    format: REGISTRY_CACHE_FORMAT,
    origin: s.origin,
    size: s.size,
    root: toBase64(s.root),
    entries: s.entries.map((e) => ({ index: e.index, leaf: toBase64(e.leaf) })),
  })}\n`;
}

export function parseRegistryCache(text: string): RegistrySnapshot {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new RegistryCacheError(`not JSON: ${(e as Error).message}`);
  }
  const o = j as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || o.format !== REGISTRY_CACHE_FORMAT) throw new RegistryCacheError(`not a ${REGISTRY_CACHE_FORMAT} file`);
  if (typeof o.origin !== 'string' || o.origin === '') throw new RegistryCacheError('origin must be a non-empty string');
  if (typeof o.size !== 'number' || !Number.isSafeInteger(o.size) || o.size < 0) throw new RegistryCacheError('size must be a non-negative integer');
  const root = base64Field(o.root, 'root');
  if (root.length !== 32) throw new RegistryCacheError(`root must be 32 bytes, got ${root.length}`);
  if (!Array.isArray(o.entries)) throw new RegistryCacheError('entries must be an array');
  const size = o.size;
  let last = -1;
  const entries = o.entries.map((x: unknown, k): BundleEntry => {
    const e = x as Record<string, unknown>;
    if (typeof e !== 'object' || e === null || typeof e.index !== 'number' || !Number.isSafeInteger(e.index)) throw new RegistryCacheError(`entries[${k}].index must be an integer`);
    if (e.index <= last || e.index >= size) throw new RegistryCacheError(`entries[${k}].index ${e.index} is not above the one before it and below size ${size}`);
    last = e.index;
    return { index: e.index, leaf: base64Field(e.leaf, `entries[${k}].leaf`) };
  });
  return { origin: o.origin, size, root, entries };
}

function base64Field(v: unknown, name: string): Uint8Array {
  if (typeof v !== 'string') throw new RegistryCacheError(`${name} must be a base64 string`);
  try {
    return fromBase64(v);
  } catch {
    throw new RegistryCacheError(`${name} is not valid base64`);
  }
}
