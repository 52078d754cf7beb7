// The one small interface through which the core hashes and signs.
//
// The default implementation is @noble (pure JS, runs anywhere). Programs that
// run on Node install the faster node:crypto implementation at start
// (src/platform/node-crypto.ts); both pass the same vectors.

import * as ed from '@noble/ed25519';
import { sha256 as nobleSha256, sha512 as nobleSha512 } from '@noble/hashes/sha2.js';

ed.hashes.sha512 = nobleSha512;

export interface CryptoProvider {
  readonly name: string;
  sha256(data: Uint8Array): Uint8Array;
  /** Ed25519 signature of msg with a 32-byte private seed (RFC 8032). */
  sign(seed: Uint8Array, msg: Uint8Array): Uint8Array;
  /** Ed25519 verification with a 32-byte raw public key. Never throws. */
  verify(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean;
  /** The 32-byte raw public key of a 32-byte seed. */
  publicKey(seed: Uint8Array): Uint8Array;
  randomBytes(n: number): Uint8Array;
}

export const nobleCrypto: CryptoProvider = {
  name: 'noble',
  sha256: (d) => nobleSha256(d),
  sign: (seed, msg) => ed.sign(msg, seed),
  verify: (pub, msg, sig) => {
    if (pub.length !== 32 || sig.length !== 64) return false;
    try {
      // zip215: false gives RFC 8032 / FIPS 186-5 strict verification, as Go's crypto/ed25519 does.
      return ed.verify(sig, msg, pub, { zip215: false });
    } catch {
      return false;
    }
  },
  publicKey: (seed) => ed.getPublicKey(seed),
  randomBytes: (n) => {
    const b = new Uint8Array(n);
    globalThis.crypto.getRandomValues(b);
    return b;
  },
};

let provider: CryptoProvider = nobleCrypto;

export function setCryptoProvider(p: CryptoProvider): void {
  provider = p;
}

export function cryptoProvider(): CryptoProvider {
  return provider;
}

export function sha256(data: Uint8Array): Uint8Array {
  return provider.sha256(data);
}

export function ed25519Sign(seed: Uint8Array, msg: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new Error('Ed25519 private key must be a 32-byte seed');
  return provider.sign(seed, msg);
}

export function ed25519Verify(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length !== 32 || sig.length !== 64) return false;
  return provider.verify(publicKey, msg, sig);
}

/**
 * What is wrong with a 32-byte Ed25519 public key, if anything: not the
 * canonical encoding of a curve point, or a point of small order. The identity
 * and the other small-order points make "signatures" that verify under some
 * verifiers (OpenSSL's among them) for many or all messages; no honest key is one.
 */
export function ed25519KeyProblem(publicKey: Uint8Array): 'not-a-point' | 'small-order' | undefined {
  let p: InstanceType<typeof ed.Point>;
  try {
    p = ed.Point.fromBytes(publicKey, false);
  } catch {
    return 'not-a-point';
  }
  return p.isSmallOrder() ? 'small-order' : undefined;
}

export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new Error('Ed25519 private key must be a 32-byte seed');
  return provider.publicKey(seed);
}

export function randomBytes(n: number): Uint8Array {
  return provider.randomBytes(n);
}
