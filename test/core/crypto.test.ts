import { describe, expect, it } from 'vitest';
import { nobleCrypto, type CryptoProvider } from '../../src/core/crypto.js';
import { nodeCrypto } from '../../src/platform/node-crypto.js';
import { sodiumCrypto } from '../../src/platform/sodium.js';
import { fromHex, toHex, utf8 } from '../../src/core/bytes.js';

// RFC 8032 §7.1 TEST 2 (one-byte message).
const RFC8032 = {
  seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
  pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
  msg: '72',
  sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
};

describe.each<[string, CryptoProvider]>([
  ['noble', nobleCrypto],
  ['node:crypto', nodeCrypto],
  // sodium-native is optional for users, but installed here (a prebuilt addon for
  // this platform): a missing build must fail, not fall back unseen.
  ['sodium-native', sodiumCrypto()!],
])('crypto provider %s', (_name, c) => {
  it('matches the RFC 8032 test vector', () => {
    const seed = fromHex(RFC8032.seed);
    expect(toHex(c.publicKey(seed))).toBe(RFC8032.pub);
    expect(toHex(c.sign(seed, fromHex(RFC8032.msg)))).toBe(RFC8032.sig);
    expect(c.verify(fromHex(RFC8032.pub), fromHex(RFC8032.msg), fromHex(RFC8032.sig))).toBe(true);
  });
  it('refuses a flipped signature bit, a wrong message and malformed keys without throwing', () => {
    const sig = fromHex(RFC8032.sig);
    sig[5]! ^= 1;
    expect(c.verify(fromHex(RFC8032.pub), fromHex(RFC8032.msg), sig)).toBe(false);
    expect(c.verify(fromHex(RFC8032.pub), fromHex('73'), fromHex(RFC8032.sig))).toBe(false);
    expect(c.verify(new Uint8Array(31), fromHex(RFC8032.msg), fromHex(RFC8032.sig))).toBe(false);
  });
  it('hashes SHA-256 as FIPS 180-4 says', () => {
    expect(toHex(c.sha256(utf8('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('Ed25519 strictness across providers', () => {
  // The identity point as public key with R = identity and S = 0 satisfies the
  // cofactorless equation [S]B = R + [k]A for every message: a "signature" that
  // verifies anything. OpenSSL (node:crypto) accepts it; libsodium and @noble
  // (zip215: false) refuse keys and R of small order, so what the log admits with
  // sodium-native, every provider admits too.
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const sig = new Uint8Array(64);
  sig[0] = 1;
  it('refuses the any-message signature under the identity key with sodium-native and noble', () => {
    for (const msg of ['deploy allowed', 'deploy denied']) {
      expect(sodiumCrypto()!.verify(identity, utf8(msg), sig)).toBe(false);
      expect(nobleCrypto.verify(identity, utf8(msg), sig)).toBe(false);
      expect(nodeCrypto.verify(identity, utf8(msg), sig)).toBe(true); // why node:crypto is not the log's first choice
    }
  });
});
