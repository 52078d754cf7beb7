// fromBase64 decodes four characters at a time. This test holds it to the
// RFC 4648 §10 vectors and, on random strings, to the earlier character-at-a-
// time decoder kept below as the reference: the same bytes, or the same refusal.

import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, utf8 } from '../../src/core/bytes.js';
import { prng } from '../helpers/prng.js';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const REV = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  t[45] = 62;
  t[95] = 63;
  return t;
})();

/** The decoder before: one character at a time through a bit accumulator. */
function reference(s: string, opts: { urlSafe?: boolean; allowUnpadded?: boolean } = {}): Uint8Array {
  let end = s.length;
  let pad = 0;
  while (end > 0 && s[end - 1] === '=') {
    end--;
    pad++;
  }
  if (pad > 2) throw new Error('invalid base64: too much padding');
  if (pad > 0 && s.length % 4 !== 0) throw new Error('invalid base64: bad padding');
  if (pad === 0 && end % 4 !== 0 && !opts.allowUnpadded) throw new Error('invalid base64: missing padding');
  if (end % 4 === 1) throw new Error('invalid base64: bad length');
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? REV[c]! : -1;
    if (v < 0 || (!opts.urlSafe && (c === 45 || c === 95))) throw new Error('invalid base64: bad character');
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  if (bits > 0 && (acc & ((1 << bits) - 1)) !== 0) throw new Error('invalid base64: non-zero trailing bits');
  return out;
}

const outcome = (f: () => Uint8Array): string => {
  try {
    return Buffer.from(f()).toString('hex');
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
};

describe('fromBase64', () => {
  it('decodes the RFC 4648 §10 test vectors and encodes them back', () => {
    const vectors: [string, string][] = [['', ''], ['f', 'Zg=='], ['fo', 'Zm8='], ['foo', 'Zm9v'], ['foob', 'Zm9vYg=='], ['fooba', 'Zm9vYmE='], ['foobar', 'Zm9vYmFy']];
    for (const [text, b64] of vectors) {
      expect(Buffer.from(fromBase64(b64)).toString('latin1')).toBe(text);
      expect(toBase64(utf8(text))).toBe(b64);
    }
  });

  it('names each refusal', () => {
    expect(() => fromBase64('Zm=v')).toThrow('bad character');
    expect(() => fromBase64('Zm9*')).toThrow('bad character');
    expect(() => fromBase64('Zm-v')).toThrow('bad character'); // URL-safe only where asked for
    expect(Buffer.from(fromBase64('Zm-_', { urlSafe: true })).toString('hex')).toBe('666fbf');
    expect(() => fromBase64('Zm8')).toThrow('missing padding');
    expect(() => fromBase64('Zh==')).toThrow('non-zero trailing bits');
    expect(() => fromBase64('Zm9=')).toThrow('non-zero trailing bits');
    expect(() => fromBase64('Z===')).toThrow('too much padding');
    expect(() => fromBase64('Zm9vY', { allowUnpadded: true })).toThrow('bad length');
    expect(() => fromBase64('Zm9vYg=')).toThrow('bad padding');
    expect(() => fromBase64('Zm9\u00e9')).toThrow('bad character');
  });

  it('agrees with the character-at-a-time decoder on 50,000 random strings', () => {
    const r = prng(20261124);
    const extra = ['=', '-', '_', '*', ' ', '\u00e9', '\n', 'A'];
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 50_000; i++) {
      let s: string;
      if (i % 2 === 0) {
        // A valid encoding, then perhaps a change or two.
        s = toBase64(Uint8Array.from({ length: Math.floor(r() * 40) }, () => Math.floor(r() * 256)));
        if (r() < 0.3) s = s.replace(/=+$/, '');
        for (let j = Math.floor(r() * 3); j > 0 && s.length > 0; j--) {
          const at = Math.floor(r() * s.length);
          const c = r() < 0.5 ? B64[Math.floor(r() * 64)]! : extra[Math.floor(r() * extra.length)]!;
          s = s.slice(0, at) + c + s.slice(at + 1);
        }
      } else {
        s = Array.from({ length: Math.floor(r() * 12) }, () => (r() < 0.8 ? B64[Math.floor(r() * 64)]! : extra[Math.floor(r() * extra.length)]!)).join('');
      }
      const opts = { urlSafe: r() < 0.5, allowUnpadded: r() < 0.5 };
      const want = outcome(() => reference(s, opts));
      expect(outcome(() => fromBase64(s, opts)), `${JSON.stringify(s)} ${JSON.stringify(opts)}`).toBe(want);
      if (want.startsWith('error')) refused++;
      else decoded++;
    }
    expect(decoded).toBeGreaterThan(10_000);
    expect(refused).toBeGreaterThan(10_000);
  });
});
