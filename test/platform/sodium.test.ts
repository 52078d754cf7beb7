import { afterEach, describe, expect, it } from 'vitest';
import { cryptoProvider, nobleCrypto, setCryptoProvider } from '../../src/core/crypto.js';
import { nodeCrypto } from '../../src/platform/node-crypto.js';
import { useCryptoNamed, useNativeCrypto } from '../../src/platform/sodium.js';

describe('choosing the Ed25519 provider', () => {
  const saved = process.env.LEDGER_CRYPTO;
  afterEach(() => {
    if (saved === undefined) delete process.env.LEDGER_CRYPTO;
    else process.env.LEDGER_CRYPTO = saved;
    setCryptoProvider(nobleCrypto);
  });
  it('installs libsodium where it loads, node:crypto when LEDGER_CRYPTO=node-crypto', () => {
    delete process.env.LEDGER_CRYPTO;
    expect(useNativeCrypto()).toBe('sodium-native');
    expect(cryptoProvider().name).toBe('sodium-native');
    process.env.LEDGER_CRYPTO = 'node-crypto';
    expect(useNativeCrypto()).toBe('node:crypto');
    expect(cryptoProvider().name).toBe('node:crypto');
  });
  it('installs a provider by the name another thread reports, node:crypto for a name it does not know', () => {
    setCryptoProvider(nodeCrypto);
    useCryptoNamed('noble');
    expect(cryptoProvider().name).toBe('noble');
    useCryptoNamed('sodium-native');
    expect(cryptoProvider().name).toBe('sodium-native');
    useCryptoNamed('node:crypto');
    expect(cryptoProvider().name).toBe('node:crypto');
    useCryptoNamed('something-else');
    expect(cryptoProvider().name).toBe('node:crypto');
  });
});
