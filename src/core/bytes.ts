// Byte helpers shared by the pure core: encodings and comparisons.
// No Node-only API: everything here runs in a browser as well.

const te = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF as text: decoding must not change what the bytes say.
const td = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function utf8(s: string): Uint8Array {
  return te.encode(s);
}

/** Decodes UTF-8, throwing on invalid byte sequences. */
export function fromUtf8(b: Uint8Array): string {
  return td.decode(b);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

/** Bytewise lexicographic comparison. */
export function compare(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

const HEX = '0123456789abcdef';
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]! >> 4]! + HEX[b[i]! & 15]!;
  return s;
}

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error('invalid hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_REV = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  t['-'.charCodeAt(0)] = 62; // URL-safe alphabet, accepted only where asked for
  t['_'.charCodeAt(0)] = 63;
  return t;
})();

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(b: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i]! << 16;
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + '==';
  } else if (rest === 2) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8);
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + '=';
  }
  return s;
}

export function toBase64Url(b: Uint8Array): string {
  return toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export interface Base64Options {
  /** Accept the URL-safe alphabet (RFC 4648 §5) as well as the standard one. */
  urlSafe?: boolean;
  /** Accept input without '=' padding. */
  allowUnpadded?: boolean;
}

/**
 * Strict base64 decoding: rejects characters outside the alphabet, bad padding,
 * and non-zero trailing bits (so every byte string has exactly one encoding).
 */
export function fromBase64(s: string, opts: Base64Options = {}): Uint8Array {
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
    const v = c < 128 ? B64_REV[c]! : -1;
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

/**
 * A 32-byte hash written as 64 hex digits or as base64 (standard or URL-safe,
 * padded or not), as users paste leaf hashes. Undefined for anything else.
 */
export function parseHash32(s: string): Uint8Array | undefined {
  let h: Uint8Array | undefined;
  try {
    h = /^[0-9a-fA-F]{64}$/.test(s) ? fromHex(s) : fromBase64(s, { urlSafe: true, allowUnpadded: true });
  } catch {
    return undefined;
  }
  return h.length === 32 ? h : undefined;
}
