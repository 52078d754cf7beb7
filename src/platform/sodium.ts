// libsodium's Ed25519 verification (the optional sodium-native addon) in place
// of node:crypto's: about twice as fast on the machines this log was measured
// on (bench/README.md), and verification is most of what a submission costs.
//
// libsodium's verification is the strictest of the three providers: besides
// RFC 8032's checks (canonical S, the cofactorless equation) it refuses public
// keys and R values of small order and non-canonical key encodings. So a
// signature it accepts is accepted by node:crypto and by @noble (zip215: false)
// as well: what the log admits with it, every verifier admits.

import { createRequire } from 'node:module';
import { nobleCrypto, setCryptoProvider, type CryptoProvider } from '../core/crypto.js';
import { nodeCrypto } from './node-crypto.js';

interface Sodium {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
}

let loaded: Sodium | null | undefined;

function sodium(): Sodium | null {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('sodium-native') as Sodium;
    } catch {
      loaded = null; // not installed (it is an optional dependency) or no build for this platform
    }
  }
  return loaded;
}

/** node:crypto with libsodium's Ed25519 verification; null when sodium-native cannot be loaded here. */
export function sodiumCrypto(): CryptoProvider | null {
  const s = sodium();
  if (!s) return null;
  return {
    ...nodeCrypto,
    name: 'sodium-native',
    verify: (pub, msg, sig) => {
      if (pub.length !== 32 || sig.length !== 64) return false;
      try {
        return s.crypto_sign_verify_detached(sig, msg, pub);
      } catch {
        return false;
      }
    },
  };
}

/**
 * Installs the fastest provider this machine has: sodium-native when it loads,
 * else node:crypto. LEDGER_CRYPTO=node-crypto forces node:crypto. Returns its name.
 */
export function useNativeCrypto(): string {
  const p = process.env.LEDGER_CRYPTO === 'node-crypto' ? null : sodiumCrypto();
  setCryptoProvider(p ?? nodeCrypto);
  return (p ?? nodeCrypto).name;
}

/**
 * Installs the provider called `name` (as cryptoProvider().name gives it in
 * another thread) in this one: noble, libsodium, or else node:crypto.
 */
export function useCryptoNamed(name: string): void {
  if (name === nobleCrypto.name) setCryptoProvider(nobleCrypto);
  else setCryptoProvider((name === 'sodium-native' ? sodiumCrypto() : null) ?? nodeCrypto);
}
