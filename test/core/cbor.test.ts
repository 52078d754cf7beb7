// isDeterministic() replaced "encode again and compare" in decodeCanonical. This
// test holds the two to the same answers: on every input that cbor-x decodes and
// normalise accepts, the one-pass scan says "deterministic" exactly when encoding
// the decoded value again gives the input back.

import { Decoder } from 'cbor-x';
import { describe, expect, it } from 'vitest';
import { equal, fromHex, utf8 } from '../../src/core/bytes.js';
import { CborError, decodeCanonical, encodeCanonical, isDeterministic, type CborValue } from '../../src/core/cbor.js';
import { encodeLeaf } from '../../src/core/entry.js';
import { prng } from '../helpers/prng.js';

const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** The old check: undefined when cbor-x or normalise refuses the input (the scan is not asked then). */
function reencodes(bytes: Uint8Array): boolean | undefined {
  let v: CborValue;
  try {
    decoder.decode(bytes);
    v = decodeCanonical(bytes);
  } catch (e) {
    if (e instanceof CborError && e.code === 'not-deterministic') return false;
    return undefined;
  }
  return equal(encodeCanonical(v), bytes);
}

function randomValue(r: () => number, depth: number): CborValue {
  const k = Math.floor(r() * (depth > 2 ? 6 : 8));
  switch (k) {
    case 0:
      return Math.floor(r() * 2 ** (Math.floor(r() * 53))) * (r() < 0.3 ? -1 : 1);
    case 1:
      return ['', 'a', 'bb', 'é', 'kind', 'zz', '\u{1f600}'][Math.floor(r() * 7)]!;
    case 2:
      return Uint8Array.from({ length: Math.floor(r() * 30) }, () => Math.floor(r() * 256));
    case 3:
      return [true, false, null][Math.floor(r() * 3)]!;
    case 4:
    case 5:
      return Math.floor(r() * 300);
    case 6:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, CborValue> = {};
      for (let i = Math.floor(r() * 5); i > 0; i--) o[['a', 'b', 'aa', 'v', 'time', 'x'][Math.floor(r() * 6)]!] = randomValue(r, depth + 1);
      return o;
    }
  }
}

describe('isDeterministic', () => {
  it('agrees with encoding again on 20,000 mutated encodings of leaves and random values', () => {
    const r = prng(20261124);
    const leaf = encodeLeaf({
      kind: 'evidence',
      time: 1_764_000_000_123,
      envelope: { payloadType: 'application/vnd.ledger.evidence.v1+json', payload: utf8('{"a":1}'), signatures: [{ keyid: 'ab', sig: new Uint8Array(64).fill(1) }] },
    });
    let asked = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const base = i % 2 === 0 ? leaf : encodeCanonical(randomValue(r, 0));
      expect(isDeterministic(base)).toBe(true);
      const m = base.slice();
      // One to three byte changes: flips, small increments, or a byte set to a head that matters.
      for (let j = 1 + Math.floor(r() * 3); j > 0; j--) {
        const at = Math.floor(r() * m.length);
        const how = r();
        m[at] = how < 0.4 ? m[at]! ^ (1 << Math.floor(r() * 8)) : how < 0.7 ? (m[at]! + 1) & 0xff : [0x18, 0x19, 0x5f, 0x7f, 0xbf, 0xc0, 0xf4, 0xf7, 0xf9, 0xff][Math.floor(r() * 10)]!;
      }
      const want = reencodes(m);
      if (want === undefined) continue;
      asked++;
      if (!want) refused++;
      expect(isDeterministic(m), `input ${Buffer.from(m).toString('hex')}`).toBe(want);
    }
    // The comparison was exercised both ways.
    expect(asked).toBeGreaterThan(2_000);
    expect(refused).toBeGreaterThan(200);
    expect(asked - refused).toBeGreaterThan(200);
  });
  it('refuses what RFC 8949 §4.2.1 rules out, each on its own', () => {
    const no = (hex: string) => expect(isDeterministic(fromHex(hex)), hex).toBe(false);
    no('1801'); // 1 in a two-byte head
    no('190001'); // 1 in a three-byte head
    no('a2616201616101'); // keys out of order
    no('a2616101616102'); // duplicate key
    no('a2626161016162'); // "aa" before "b": shorter encodings sort first
    no('bf616101ff'); // indefinite-length map
    no('5f41ff'); // indefinite-length byte string
    no('f93c00'); // a float (1.0 as f16)
    no('c001'); // a tag
    no('f7'); // undefined
    no('6180'); // text that is not UTF-8
    no('a10101'); // an integer map key
    no('0101'); // trailing bytes
    no('62'); // cut short
    no('9f'.repeat(1) + '81'.repeat(40) + '00'); // deeper than 32 (and indefinite)
    no('81'.repeat(40) + '00'); // deeper than 32
    expect(isDeterministic(fromHex('a261620161616101'))).toBe(false); // "b" before "a"
    expect(isDeterministic(fromHex('a2616101616202'))).toBe(true);
    expect(isDeterministic(fromHex('a3f5f4f6'.slice(0, 2) + '6161f5' + '6162f4' + '6163f6'))).toBe(true); // true, false, null
  });
});
