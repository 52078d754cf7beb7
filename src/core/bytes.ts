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
/** Value of each ASCII character in the standard alphabet (RFC 4648 §4), -1 for the rest. */
const B64_STD_REV = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) t[B64.charCodeAt(i)] = i;
  return t;
})();
/** The same, also taking the URL-safe '-' and '_' (§5), accepted only where asked for. */
const B64_ANY_REV = (() => {
  const t = B64_STD_REV.slice();
  t['-'.charCodeAt(0)] = 62;
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
  const rev = opts.urlSafe ? B64_ANY_REV : B64_STD_REV;
  const at = (i: number): number => {
    const c = s.charCodeAt(i);
    return c < 128 ? rev[c]! : -1;
  };
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  const whole = end - (end % 4);
  let o = 0;
  // Four characters, three bytes; a -1 anywhere makes the OR negative.
  for (let i = 0; i < whole; i += 4) {
    const a = at(i);
    const b = at(i + 1);
    const c = at(i + 2);
    const d = at(i + 3);
    if ((a | b | c | d) < 0) throw new Error('invalid base64: bad character');
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 0xff;
    out[o++] = n & 0xff;
  }
  // The last 2 or 3 characters: 1 or 2 bytes, and the bits left over must be zero.
  if (end > whole) {
    const a = at(whole);
    const b = at(whole + 1);
    const c = end - whole === 3 ? at(whole + 2) : 0;
    if ((a | b | c) < 0) throw new Error('invalid base64: bad character');
    const n = (a << 18) | (b << 12) | (c << 6);
    out[o++] = n >> 16;
    if (end - whole === 3) out[o++] = (n >> 8) & 0xff;
    if ((end - whole === 2 ? n & 0xffff : n & 0xff) !== 0) throw new Error('invalid base64: non-zero trailing bits');
  }
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
