// node:crypto implementation of the core's CryptoProvider: about 10x faster
// Ed25519 verification and 2x faster SHA-256 than the portable default.

import * as nc from 'node:crypto';
import { setCryptoProvider, type CryptoProvider } from '../core/crypto.js';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const pubCache = new Map<string, nc.KeyObject>();
function publicKeyObject(raw: Uint8Array): nc.KeyObject {
  const k = Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('latin1');
  let ko = pubCache.get(k);
  if (!ko) {
    ko = nc.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    if (pubCache.size > 4096) pubCache.clear();
    pubCache.set(k, ko);
  }
  return ko;
}

function privateKeyObject(seed: Uint8Array): nc.KeyObject {
  return nc.createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

const hashFn: (d: Uint8Array) => Uint8Array =
  typeof (nc as { hash?: unknown }).hash === 'function'
    ? (d) => (nc as unknown as { hash(a: string, d: Uint8Array, e: 'buffer'): Buffer }).hash('sha256', d, 'buffer')
    : (d) => nc.createHash('sha256').update(d).digest();

function toU8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

export const nodeCrypto: CryptoProvider = {
  name: 'node:crypto',
  sha256: (d) => toU8(hashFn(d) as Buffer),
  sign: (seed, msg) => toU8(nc.sign(null, msg, privateKeyObject(seed))),
  verify: (pub, msg, sig) => {
    try {
      return nc.verify(null, msg, publicKeyObject(pub), sig);
    } catch {
      return false;
    }
  },
  publicKey: (seed) => {
    const der = nc.createPublicKey(privateKeyObject(seed)).export({ format: 'der', type: 'spki' });
    return toU8(der.subarray(SPKI_PREFIX.length));
  },
  randomBytes: (n) => toU8(nc.randomBytes(n)),
};

/** Installs node:crypto as the core's provider. Call once at program start. */
export function useNodeCrypto(): void {
  setCryptoProvider(nodeCrypto);
}
