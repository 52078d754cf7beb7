import { describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8 } from '../../src/core/bytes.js';
import { CborError, decodeCanonical, encodeCanonical } from '../../src/core/cbor.js';
import { decodeLeaf, encodeLeaf, EntryError, parseRfc3339Utc, payloadTypeOf, peekLeafKind, validatePayload, type EntryKind } from '../../src/core/entry.js';
import { prng } from '../helpers/prng.js';

describe('deterministic CBOR (RFC 8949 §4.2.1)', () => {
  it('encodes RFC 8949 Appendix A examples in their preferred form', () => {
    expect(toHex(encodeCanonical(0))).toBe('00');
    expect(toHex(encodeCanonical(23))).toBe('17');
    expect(toHex(encodeCanonical(24))).toBe('1818');
    expect(toHex(encodeCanonical(1000000))).toBe('1a000f4240');
    expect(toHex(encodeCanonical(1000000000000))).toBe('1b000000e8d4a51000');
    expect(toHex(encodeCanonical(-1000))).toBe('3903e7');
    expect(toHex(encodeCanonical('IETF'))).toBe('6449455446');
    expect(toHex(encodeCanonical(fromHex('01020304')))).toBe('4401020304');
    expect(toHex(encodeCanonical([1, [2, 3], [4, 5]]))).toBe('8301820203820405');
  });
  it('sorts map keys by encoded length, then bytes', () => {
    expect(toHex(encodeCanonical({ bb: 1, a: 2, c: 3 }))).toBe(toHex(encodeCanonical({ a: 2, c: 3, bb: 1 })));
    expect(toHex(encodeCanonical({ bb: 1, a: 2 }))).toBe('a26161026262620' + '1');
  });
  it('refuses floats and decodes only deterministic encodings', () => {
    expect(() => encodeCanonical(1.5)).toThrow(CborError);
    const code = (hex: string) => {
      try {
        decodeCanonical(fromHex(hex));
        return 'ok';
      } catch (e) {
        return (e as CborError).code;
      }
    };
    expect(code('1801')).toBe('not-deterministic'); // 1 in a two-byte head
    expect(code('a2616201616101')).toBe('not-deterministic'); // keys out of order
    expect(code('bf616101ff')).toBe('not-deterministic'); // indefinite-length map
    expect(code('a1616101616101')).toBe('malformed'); // trailing bytes
    expect(code('fb3ff8000000000000')).toBe('not-an-integer');
    expect(code('a26161016161')).toBe('malformed'); // truncated
    expect(code('a2616101616102')).toBe('not-deterministic'); // duplicate key
    expect(code('a2616101616202')).toBe('ok');
  });
});

const env = { payloadType: 'application/vnd.ledger.evidence.v1+json', payload: utf8('{}'), signatures: [{ keyid: 'ab', sig: new Uint8Array(64).fill(1) }] };

describe('leaf records', () => {
  it('encode the spec/entries.md test vector byte for byte', () => {
    const leaf = encodeLeaf({ kind: 'evidence', time: 1_764_000_000_123, envelope: env });
    expect(toHex(leaf)).toBe(
      'a4617601646b696e646865766964656e63656474696d651b0000019ab697e87b68656e76656c6f7065a3677061796c6f6164427b7d6a7369676e61747572657381a263736967584001010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101010101656b657969646261626b7061796c6f61645479706578276170706c69636174696f6e2f766e642e6c65646765722e65766964656e63652e76312b6a736f6e',
    );
  });
  it('round-trip exactly and carry a large timestamp as an integer', () => {
    const leaf = encodeLeaf({ kind: 'evidence', time: 1_764_000_000_123, envelope: env });
    const r = decodeLeaf(leaf);
    expect(r.time).toBe(1_764_000_000_123);
    expect(r.kind).toBe('evidence');
    expect(toHex(encodeLeaf(r))).toBe(toHex(leaf));
  });
  it('refuses a leaf whose kind does not match its payload type, or with extra fields', () => {
    const leaf = encodeLeaf({ kind: 'trust-score', time: 1, envelope: env });
    expect(() => decodeLeaf(leaf)).toThrow(/does not match kind/);
    const extra = encodeCanonical({ v: 1, kind: 'evidence', time: 1, envelope: { ...env, signatures: [] }, x: 1 } as never);
    expect(() => decodeLeaf(extra)).toThrow(/unexpected fields/);
    const flipped = encodeLeaf({ kind: 'evidence', time: 1, envelope: env });
    flipped[0] = 0xbf;
    expect(() => decodeLeaf(flipped)).toThrow(EntryError);
  });
});

const now = Date.parse('2026-11-23T12:00:00Z');
const evidence = {
  ts: '2026-11-23T11:59:00Z', actor: 'ci', action: 'deploy', artifact: 'registry/app@sha256:ab', policy: 'prod-gate', target: 'prod',
  mode: 'enforce', trace: 't-1', result: 'allow', change: { repo: 'org/app', commit: 'abc', pr: 42 }, extra: { kept: true },
};
const score = { subject: 'spiffe://example.org/ns/prod/sa/api', ts: '2026-11-23T11:59:30.5Z', score: 0.82, components: { attestation: 1, telemetry: 0.64 }, model: 'tsm-1', policy: 'p', ttlSeconds: 300 };

function codeOf(kind: 'evidence' | 'trust-score' | 'in-toto', p: unknown): string {
  try {
    validatePayload(kind, utf8(JSON.stringify(p)), { now });
    return 'ok';
  } catch (e) {
    return `${(e as EntryError).code}:${(e as EntryError).field ?? ''}`;
  }
}

describe('payload schemas', () => {
  it('accepts valid payloads with unknown fields', () => {
    expect(codeOf('evidence', evidence)).toBe('ok');
    expect(codeOf('trust-score', score)).toBe('ok');
    expect(codeOf('in-toto', { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: 'a', digest: { sha256: 'ab12' } }], predicateType: 'https://slsa.dev/provenance/v1', predicate: {} })).toBe('ok');
  });
  it('names the failing field', () => {
    expect(codeOf('evidence', { ...evidence, actor: '' })).toBe('schema:actor');
    expect(codeOf('evidence', { ...evidence, ts: '2026-11-23 11:59:00' })).toBe('schema:ts');
    expect(codeOf('evidence', { ...evidence, ts: '2026-02-30T00:00:00Z' })).toBe('schema:ts');
    expect(codeOf('evidence', { ...evidence, ts: '2026-11-23T12:10:00Z' })).toBe('timestamp-out-of-window:ts');
    expect(codeOf('evidence', { ...evidence, change: { pr: -1 } })).toBe('schema:change.pr');
    expect(codeOf('trust-score', { ...score, score: 1.01 })).toBe('schema:score');
    expect(codeOf('trust-score', { ...score, components: { telemetry: -0.1 } })).toBe('schema:components.telemetry');
    expect(codeOf('trust-score', { ...score, ttlSeconds: 1.5 })).toBe('schema:ttlSeconds');
    expect(codeOf('in-toto', { _type: 'x', subject: [], predicateType: 'p' })).toBe('schema:_type');
    expect(codeOf('evidence', [1])).toBe('schema:payload');
  });
  it('parses RFC 3339 UTC with fractions', () => {
    expect(parseRfc3339Utc('2026-11-23T11:59:30.5Z')).toBe(Date.parse('2026-11-23T11:59:30.500Z'));
    expect(() => parseRfc3339Utc('2026-11-23T11:59:30+01:00')).toThrow();
  });
});

describe('parseRfc3339Utc against the Date round trip it replaced', () => {
  /** The parser before: build the time with Date.UTC and read it back to catch dates that roll over. */
  function reference(s: string): number {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/.exec(s);
    if (!m) throw new Error('not an RFC 3339 UTC timestamp (YYYY-MM-DDTHH:MM:SS[.frac]Z)');
    const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
    const t = Date.UTC(y, mo - 1, d, h, mi, se);
    const back = new Date(t);
    if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || se > 59)
      throw new Error('not a valid calendar date and time');
    return t + (m[7] ? Math.floor(Number(m[7]) * 1000) : 0);
  }
  const outcome = (f: () => number) => {
    try {
      return String(f());
    } catch (e) {
      return `error: ${(e as Error).message}`;
    }
  };

  it('gives the same time or the same refusal on 50,000 generated timestamps and the calendar edges', () => {
    const r = prng(3339);
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    const pick = (xs: number[]) => xs[Math.floor(r() * xs.length)]!;
    const cases = ['1900-02-29T00:00:00Z', '2000-02-29T00:00:00Z', '2100-02-29T00:00:00Z', '2024-02-29T23:59:59.999999999Z', '2023-02-29T00:00:00Z', '2026-04-31T00:00:00Z', '2026-12-31T24:00:00Z', '2026-06-30T23:59:60Z', '0099-12-31T23:59:59Z', '0100-01-01T00:00:00Z', '0000-01-01T00:00:00Z', '9999-12-31T23:59:59.5Z', '2026-00-10T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-00T00:00:00Z', '2026-1-01T00:00:00Z', '2026-01-01T00:00:00.Z', '2026-01-01t00:00:00Z'];
    for (let i = 0; i < 50_000; i++) {
      const y = r() < 0.1 ? Math.floor(r() * 200) : pick([1600, 1700, 1900, 1970, 2000, 2023, 2024, 2026, 2100, 2400, 9999]) + (r() < 0.5 ? 0 : Math.floor(r() * 8) - 4);
      const frac = r() < 0.3 ? '.' + pad(Math.floor(r() * 1e9), 1 + Math.floor(r() * 9)).slice(0, 1 + Math.floor(r() * 9)) : '';
      cases.push(`${pad(y, 4)}-${pad(Math.floor(r() * 14), 2)}-${pad(Math.floor(r() * 33), 2)}T${pad(Math.floor(r() * 26), 2)}:${pad(Math.floor(r() * 62), 2)}:${pad(Math.floor(r() * 62), 2)}${frac}Z`);
    }
    let parsed = 0;
    for (const s of cases) {
      const want = outcome(() => reference(s));
      expect(outcome(() => parseRfc3339Utc(s)), s).toBe(want);
      if (!want.startsWith('error')) parsed++;
    }
    expect(parsed).toBeGreaterThan(10_000);
    expect(cases.length - parsed).toBeGreaterThan(10_000);
  });
});

describe('encodeLeaf', () => {
  it('writes the bytes of the generic deterministic encoder on 5,000 random records', () => {
    const r = prng(8949);
    const kinds = ['evidence', 'trust-score', 'in-toto', 'producer'] as const;
    for (let i = 0; i < 5_000; i++) {
      const kind = kinds[Math.floor(r() * kinds.length)]!;
      const time = r() < 0.2 ? Math.floor(r() * 2 ** 32) : Math.floor(r() * Number.MAX_SAFE_INTEGER);
      const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
      const envelope = {
        payloadType: ['', 'application/vnd.ledger.evidence.v1+json', 'x'.repeat(Math.floor(r() * 300)), 'é'][Math.floor(r() * 4)]!,
        payload: bytes(Math.floor(r() * (r() < 0.01 ? 70_000 : 600))),
        signatures: Array.from({ length: Math.floor(r() * 4) }, () => ({ keyid: r() < 0.2 ? '' : 'k'.repeat(Math.floor(r() * 70)), sig: bytes(r() < 0.9 ? 64 : Math.floor(r() * 100)) })),
      };
      const want = encodeCanonical({ v: 1, kind, time, envelope: { payloadType: envelope.payloadType, payload: envelope.payload, signatures: envelope.signatures.map((s) => ({ keyid: s.keyid, sig: s.sig })) } });
      expect(toHex(encodeLeaf({ kind, time, envelope })), `record ${i}`).toBe(toHex(want));
    }
  });
  it('refuses what the generic encoder refuses', () => {
    expect(() => encodeLeaf({ kind: 'evidence', time: 1.5, envelope: env })).toThrow(CborError);
    expect(() => encodeLeaf({ kind: 'evidence', time: 2 ** 53, envelope: env })).toThrow(CborError);
  });
});

describe('peekLeafKind', () => {
  const kinds: EntryKind[] = ['evidence', 'trust-score', 'in-toto', 'producer'];
  const leafOf = (kind: EntryKind, time = 1_764_000_000_123) => encodeLeaf({ kind, time, envelope: { ...env, payloadType: payloadTypeOf(kind) } });

  it('names the kind of a leaf of every kind, as decodeLeaf does', () => {
    for (const kind of kinds) {
      const leaf = leafOf(kind);
      expect(decodeLeaf(leaf).kind).toBe(kind);
      expect(peekLeafKind(leaf)).toBe(kind);
    }
  });

  it('names nothing for first bytes laid out otherwise', () => {
    const leaf = leafOf('evidence');
    expect(peekLeafKind(new Uint8Array(0))).toBeUndefined();
    expect(peekLeafKind(leaf.subarray(0, 10))).toBeUndefined(); // the kind cut off
    for (const at of [0, 1, 2, 3, 4, 5, 8]) {
      const m = leaf.slice();
      m[at] = m[at]! ^ 0x01;
      expect(peekLeafKind(m), `byte ${at}`).toBeUndefined();
    }
    // Another version, or the kind as a longer text string, is not the layout it reads.
    const v2 = encodeCanonical({ v: 2, kind: 'evidence', time: 1, envelope: { ...env, signatures: [] } } as never);
    expect(peekLeafKind(v2)).toBeUndefined();
    const long = encodeCanonical({ v: 1, kind: 'x'.repeat(30), time: 1, envelope: { ...env, signatures: [] } } as never);
    expect(peekLeafKind(long)).toBeUndefined();
  });

  it('never names a kind other than the one decodeLeaf gives, on 30,000 mutated leaves', () => {
    // The property the exporter's scan relies on: a leaf named as kind K decodes to K or not at all.
    const r = prng(6962);
    const leaves = kinds.map((k) => leafOf(k));
    let named = 0;
    let decoded = 0;
    for (let i = 0; i < 30_000; i++) {
      const m = leaves[Math.floor(r() * leaves.length)]!.slice();
      for (let f = 1 + Math.floor(r() * 3); f > 0; f--) {
        // Mostly the first 24 bytes, where the version and kind are.
        const at = r() < 0.8 ? Math.floor(r() * 24) : Math.floor(r() * m.length);
        m[at] = Math.floor(r() * 256);
      }
      const peeked = peekLeafKind(m);
      if (peeked === undefined) continue;
      named++;
      let kind: string | undefined;
      try {
        kind = decodeLeaf(m).kind;
      } catch {
        continue;
      }
      decoded++;
      expect(kind, `mutation ${i}`).toBe(peeked);
    }
    expect(named).toBeGreaterThan(5_000);
    expect(decoded).toBeGreaterThan(500);
  });
});
