import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64, toHex, utf8 } from '../../src/core/bytes.js';
import { formatCheckpoint } from '../../src/core/checkpoint.js';
import { cosignerFromSeed } from '../../src/core/cosignature.js';
import { sha256 } from '../../src/core/crypto.js';
import { hashLeaf, rootOfLeafHashes } from '../../src/core/merkle.js';
import { addSignatures, ed25519Signer, signNote } from '../../src/core/note.js';
import { parsePolicy, PolicyError } from '../../src/core/policy.js';
import {
  formatTlogProof,
  parseTlogProof,
  TLOG_PROOF_HEADER,
  TlogProofError,
  verifyTlogProof,
  type TlogProof,
} from '../../src/core/tlog-proof.js';

const seed = (label: string) => sha256(utf8(`ledger tlog-proof test seed ${label}`));
const LOG = ed25519Signer('example.com/fancylog', seed('log'));
const W1 = cosignerFromSeed('witness1.example', seed('w1'));
const W2 = cosignerFromSeed('witness2.example', seed('w2'));
const POLICY = parsePolicy(
  `log ${LOG.vkey}\nwitness w1 ${W1.vkey}\nwitness w2 ${W2.vkey}\ngroup both all w1 w2\nquorum both\n`,
);

// A 13-leaf tree; RFC 9162 §2.1.3.1 PATH computed here independently of merkle.ts's generator.
const LEAVES = Array.from({ length: 13 }, (_, i) => utf8(`entry ${i}`));
const LEAF_HASHES = LEAVES.map(hashLeaf);
function path(m: number, hashes: Uint8Array[]): Uint8Array[] {
  const n = hashes.length;
  if (n === 1) return [];
  let k = 1;
  while (k * 2 < n) k *= 2;
  return m < k
    ? [...path(m, hashes.slice(0, k)), rootOfLeafHashes(hashes.slice(k))]
    : [...path(m - k, hashes.slice(k)), rootOfLeafHashes(hashes.slice(0, k))];
}
const TEXT = formatCheckpoint({ origin: 'example.com/fancylog', size: 13, rootHash: rootOfLeafHashes(LEAF_HASHES), extensions: [] });
const NOTE = addSignatures(signNote(TEXT, [LOG]), [W1.cosign(TEXT, 1700000000), W2.cosign(TEXT, 1700000001)]);
const INDEX = 6;
const PROOF: TlogProof = { index: INDEX, proof: path(INDEX, LEAF_HASHES), checkpoint: NOTE };
const FILE = formatTlogProof(PROOF);

function err(f: () => unknown): TlogProofError | PolicyError {
  try {
    f();
  } catch (e) {
    if (e instanceof TlogProofError || e instanceof PolicyError) return e;
    throw e;
  }
  throw new Error('expected an error');
}
const code = (f: () => unknown) => err(f).code;

describe('the example of the spec', () => {
  // tlog-proof's example, verbatim down to the signature lines, which the spec elides as "[...]".
  const head = `c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

`;
  const text = `example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=
`;
  it('is refused as written, because its elided signatures are not base64', () => {
    const elided = `${head}${text}
— example.com/fancylog hI2DJw[...]1roloI=
— witness1.example mJirIklj[...]qY9v2B/5bg==
— witness2.example TnKKVHLX[...]xwYwrSjgow==
— witness3.example S4X82uH5[...]3oEcROGLFQ==
`;
    expect(code(() => parseTlogProof(elided))).toBe('bad-checkpoint');
  });
  it('parses with real signatures and formats back byte for byte', () => {
    const file = head + signNote(text, [LOG]);
    const p = parseTlogProof(file);
    expect(toBase64(p.extra!)).toBe('YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ');
    expect(p.extra).toHaveLength(39);
    expect(p.index).toBe(73894);
    expect(p.proof.map(toBase64)).toEqual([
      'gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=',
      'B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=',
      'EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=',
      'RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=',
      'AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=',
    ]);
    expect(p.checkpoint.startsWith(text + '\n— example.com/fancylog ')).toBe(true);
    expect(formatTlogProof(p)).toBe(file);
    // Its five hashes are illustrative: index 73894 of 109482 needs 17.
    const policy = parsePolicy(`log ${LOG.vkey}\nquorum none\n`);
    const e = err(() => verifyTlogProof(file, policy, { data: utf8('x') }));
    expect(e.code).toBe('inclusion-proof-invalid');
    expect(e.message).toContain('wrong-proof-size');
  });
});

// The vector of spec/tlog-proof.md (seeds: log 32×0x01, witness1 32×0x02, witness2 32×0x03;
// leaves "entry 0".."entry 4"), checked independently with node:crypto when it was written.
const SPEC_POLICY = `# ledger example policy
log ledger.example/log+7cc83a9d+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c
witness w1 witness1.example+52a83c53+BIE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU
witness w2 witness2.example+2a47e347+BO1JKMYo0cLG6ukDOJBZlWEpWSc6XGP5NjbBRhSshzfR
group any-witness any w1 w2
quorum any-witness
`;
const SPEC_FILE = `c2sp.org/tlog-proof@v1
extra bGVkZ2Vy
index 3
V8efTzGuApxdS9MLBzwnyU35NDiytGl+Hh7vW8A5SkE=
WkdmL9ijF9lgSaP59HxV3GfKZgUbqjaD27GbL+CaB7A=
SFM123z+yWXxX/dF/GJcQdXqJkaTaTAWWCj3PdS2iFQ=

ledger.example/log
5
fKo0Xb2JKmZFTWxlEuo8PqPw0+whvj/C4jdXBf049nI=

— ledger.example/log fMg6nSdJPRtPbFw+BSEVzVC624cUnvmVusA+pXgqEu/xcgiqUj9yuWmUZvzNBT7dpZOb73OM+BArsdjzKjDBubVTIwQ=
— witness1.example Uqg8UwAAAABndIWAayqwjMzvut66WmlqcoBIK73uKK07g8+iXZm71YG5G0t+rwYk1COPNjf2MAFPYTaUO250ZORoi4o4XD5z7R+1Aw==
— witness2.example KkfjRwAAAABndIWBOmE2jKqz+CTXvuzuo9EB+l4U7nFMH7u4RKzHTEOQYG6zOki9ossP1CSvEyS2vqhnDKX4p+bw6PL1+eBdRyCdAw==
`;

describe('the vector of spec/tlog-proof.md', () => {
  it('is what our signers and formatter write', () => {
    const fill = (b: number) => new Uint8Array(32).fill(b);
    const log = ed25519Signer('ledger.example/log', fill(1));
    const w1 = cosignerFromSeed('witness1.example', fill(2));
    const w2 = cosignerFromSeed('witness2.example', fill(3));
    expect([log.vkey, w1.vkey, w2.vkey]).toEqual(SPEC_POLICY.split('\n').slice(1, 4).map((l) => l.split(' ').pop()));
    const hashes = [0, 1, 2, 3, 4].map((i) => hashLeaf(utf8(`entry ${i}`)));
    const text = formatCheckpoint({ origin: 'ledger.example/log', size: 5, rootHash: rootOfLeafHashes(hashes), extensions: [] });
    const note = addSignatures(signNote(text, [log]), [w1.cosign(text, 1735689600), w2.cosign(text, 1735689601)]);
    expect(formatTlogProof({ extra: utf8('ledger'), index: 3, proof: path(3, hashes), checkpoint: note })).toBe(SPEC_FILE);
  });
  it('verifies for "entry 3" and for nothing else', () => {
    const policy = parsePolicy(SPEC_POLICY);
    const r = verifyTlogProof(SPEC_FILE, policy, { data: utf8('entry 3') });
    expect(toHex(r.leafHash)).toBe('61ca1139f6815841d5baf2d0d2d9bd9dfee97c898dd6f7ba0c0aa941ee6c01eb');
    expect(toBase64(r.checkpoint.rootHash)).toBe('fKo0Xb2JKmZFTWxlEuo8PqPw0+whvj/C4jdXBf049nI=');
    expect(r.witnesses).toEqual(['w1', 'w2']);
    expect(r.cosignedAt).toEqual({ w1: 1735689600, w2: 1735689601 });
    expect(r.extra).toEqual(utf8('ledger'));
    expect(code(() => verifyTlogProof(SPEC_FILE, policy, { data: utf8('entry 2') }))).toBe('inclusion-proof-invalid');
  });
});

describe('round trip and verification', () => {
  it('formats the layout of the spec', () => {
    const lines = FILE.split('\n');
    expect(lines[0]).toBe(TLOG_PROOF_HEADER);
    expect(lines[1]).toBe('index 6');
    expect(lines.slice(2, 6).map((l) => fromBase64(l).length)).toEqual([32, 32, 32, 32]);
    expect(lines[6]).toBe('');
    expect(FILE.endsWith(NOTE)).toBe(true);
    expect(FILE.slice(FILE.length - NOTE.length - 2, FILE.length - NOTE.length)).toBe('\n\n');
  });

  it('parses back to the same proof, from text and from bytes', () => {
    expect(parseTlogProof(FILE)).toEqual(PROOF);
    expect(parseTlogProof(utf8(FILE))).toEqual(PROOF);
    const withExtra = formatTlogProof({ ...PROOF, extra: utf8('vrf-proof') });
    expect(withExtra.split('\n')[1]).toBe(`extra ${toBase64(utf8('vrf-proof'))}`);
    expect(parseTlogProof(withExtra)).toEqual({ ...PROOF, extra: utf8('vrf-proof') });
  });

  it('verifies every index of the tree with its leaf data or leaf hash', () => {
    for (let i = 0; i < LEAVES.length; i++) {
      const file = formatTlogProof({ index: i, proof: path(i, LEAF_HASHES), checkpoint: NOTE });
      const r = verifyTlogProof(file, POLICY, { data: LEAVES[i]! });
      expect(r.index).toBe(i);
      expect(toHex(r.leafHash)).toBe(toHex(LEAF_HASHES[i]!));
      expect(r.checkpoint.size).toBe(13);
      expect(r.witnesses).toEqual(['w1', 'w2']);
      expect(r.cosignedAt).toEqual({ w1: 1700000000, w2: 1700000001 });
      expect(verifyTlogProof(file, POLICY, { leafHash: LEAF_HASHES[i]! }).index).toBe(i);
    }
    expect(verifyTlogProof(PROOF, POLICY, { data: LEAVES[INDEX]! }).index).toBe(INDEX);
  });

  it('a one-leaf tree has an empty proof', () => {
    const text = formatCheckpoint({ origin: 'example.com/fancylog', size: 1, rootHash: LEAF_HASHES[0]!, extensions: [] });
    const file = formatTlogProof({ index: 0, proof: [], checkpoint: signNote(text, [LOG]) });
    expect(file.startsWith(`${TLOG_PROOF_HEADER}\nindex 0\n\nexample.com/fancylog\n1\n`)).toBe(true);
    const policy = parsePolicy(`log ${LOG.vkey}\nquorum none\n`);
    expect(verifyTlogProof(file, policy, { data: LEAVES[0]! }).index).toBe(0);
  });

  it('returns the extra data without authenticating it', () => {
    const file = formatTlogProof({ ...PROOF, extra: utf8('context') });
    expect(verifyTlogProof(file, POLICY, { data: LEAVES[INDEX]! }).extra).toEqual(utf8('context'));
    const swapped = file.replace(`extra ${toBase64(utf8('context'))}`, `extra ${toBase64(utf8('forged!'))}`);
    expect(verifyTlogProof(swapped, POLICY, { data: LEAVES[INDEX]! }).extra).toEqual(utf8('forged!'));
  });
});

describe('tampering', () => {
  const lines = FILE.split('\n');
  const withLine = (i: number, v: string) => lines.map((l, j) => (j === i ? v : l)).join('\n');
  const flipHash = (i: number) => {
    const h = fromBase64(lines[i]!);
    h[17]! ^= 0x04;
    return withLine(i, toBase64(h));
  };
  const leaf = { data: LEAVES[INDEX]! };

  it.each([2, 3, 4, 5])('a flipped bit in proof line %i: inclusion-proof-invalid', (i) => {
    expect(code(() => verifyTlogProof(flipHash(i), POLICY, leaf))).toBe('inclusion-proof-invalid');
  });

  it('another index, a dropped or an added proof hash, another leaf: inclusion-proof-invalid', () => {
    expect(code(() => verifyTlogProof(withLine(1, 'index 7'), POLICY, leaf))).toBe('inclusion-proof-invalid');
    expect(code(() => verifyTlogProof(withLine(1, 'index 4'), POLICY, leaf))).toBe('inclusion-proof-invalid');
    const dropped = lines.filter((_, j) => j !== 5).join('\n');
    expect(code(() => verifyTlogProof(dropped, POLICY, leaf))).toBe('inclusion-proof-invalid');
    const added = [...lines.slice(0, 6), lines[5], ...lines.slice(6)].join('\n');
    expect(code(() => verifyTlogProof(added, POLICY, leaf))).toBe('inclusion-proof-invalid');
    expect(code(() => verifyTlogProof(FILE, POLICY, { data: LEAVES[INDEX + 1]! }))).toBe('inclusion-proof-invalid');
    expect(code(() => verifyTlogProof(FILE, POLICY, { data: utf8('entry 6 ') }))).toBe('inclusion-proof-invalid');
  });

  it('an index outside the tree: index-out-of-range', () => {
    expect(code(() => verifyTlogProof(withLine(1, 'index 13'), POLICY, leaf))).toBe('index-out-of-range');
    expect(code(() => verifyTlogProof(withLine(1, 'index 9007199254740991'), POLICY, leaf))).toBe('index-out-of-range');
  });

  it('a changed checkpoint fails the policy (PolicyError)', () => {
    const bigger = FILE.replace('\nexample.com/fancylog\n13\n', '\nexample.com/fancylog\n14\n');
    expect(code(() => verifyTlogProof(bigger, POLICY, leaf))).toBe('invalid-signature');
    expect(lines[9]).toBe(toBase64(rootOfLeafHashes(LEAF_HASHES)));
    const flipped = fromBase64(lines[9]!);
    flipped[0]! ^= 1;
    expect(code(() => verifyTlogProof(withLine(9, toBase64(flipped)), POLICY, leaf))).toBe('invalid-signature');
    // One cosignature removed: the quorum "all" is no longer met.
    const oneWitness = lines.filter((l) => !l.startsWith('— witness2.example ')).join('\n');
    const e = err(() => verifyTlogProof(oneWitness, POLICY, leaf));
    expect(e).toBeInstanceOf(PolicyError);
    expect(e.code).toBe('quorum-not-met');
  });

  it('a leaf hash that is not 32 bytes: bad-leaf-hash', () => {
    expect(code(() => verifyTlogProof(FILE, POLICY, { leafHash: new Uint8Array(31) }))).toBe('bad-leaf-hash');
  });
});

describe('malformed files', () => {
  const body = FILE.slice(TLOG_PROOF_HEADER.length + 1); // after the header line
  const afterIndex = FILE.slice(FILE.indexOf('\n', TLOG_PROOF_HEADER.length + 1) + 1); // proof lines on
  const cases: [string, string | Uint8Array, string][] = [
    ['empty file', '', 'bad-header'],
    ['another version', `c2sp.org/tlog-proof@v2\n${body}`, 'bad-header'],
    ['header with trailing space', `${TLOG_PROOF_HEADER} \n${body}`, 'bad-header'],
    ['CRLF header', `${TLOG_PROOF_HEADER}\r\n${body}`, 'bad-header'],
    ['header only, no newline', TLOG_PROOF_HEADER, 'bad-header'],
    ['invalid UTF-8', new Uint8Array([...utf8(`${TLOG_PROOF_HEADER}\n`), 0xc3, 0x28]), 'not-utf8'],
    ['extra not base64', `${TLOG_PROOF_HEADER}\nextra ***\n${body}`, 'bad-extra'],
    ['extra URL-safe', `${TLOG_PROOF_HEADER}\nextra -_-_Pj8=\n${body}`, 'bad-extra'],
    ['extra unpadded', `${TLOG_PROOF_HEADER}\nextra YQ\n${body}`, 'bad-extra'],
    ['extra empty', `${TLOG_PROOF_HEADER}\nextra \n${body}`, 'bad-extra'],
    ['extra after index', `${TLOG_PROOF_HEADER}\nindex 6\nextra YQ==\n${afterIndex}`, 'bad-proof-hash'],
    ['no index line', `${TLOG_PROOF_HEADER}\n${afterIndex}`, 'missing-index'],
    ['index without a space', `${TLOG_PROOF_HEADER}\nindex\n${afterIndex}`, 'missing-index'],
    ['end after the header', `${TLOG_PROOF_HEADER}\n`, 'missing-index'],
    ['index with a leading zero', `${TLOG_PROOF_HEADER}\nindex 06\n${afterIndex}`, 'bad-index'],
    ['negative index', `${TLOG_PROOF_HEADER}\nindex -6\n${afterIndex}`, 'bad-index'],
    ['index with two spaces', `${TLOG_PROOF_HEADER}\nindex  6\n${afterIndex}`, 'bad-index'],
    ['index in exponent form', `${TLOG_PROOF_HEADER}\nindex 6e0\n${afterIndex}`, 'bad-index'],
    ['index above 2^53-1', `${TLOG_PROOF_HEADER}\nindex 9007199254740992\n${afterIndex}`, 'bad-index'],
    ['short proof hash', `${TLOG_PROOF_HEADER}\nindex 6\n${toBase64(new Uint8Array(31))}\n${afterIndex}`, 'bad-proof-hash'],
    ['long proof hash', `${TLOG_PROOF_HEADER}\nindex 6\n${toBase64(new Uint8Array(33))}\n${afterIndex}`, 'bad-proof-hash'],
    ['proof hash in hex', `${TLOG_PROOF_HEADER}\nindex 6\n${'ab'.repeat(32)}\n${afterIndex}`, 'bad-proof-hash'],
    ['proof hash with a space', `${TLOG_PROOF_HEADER}\nindex 6\n ${toBase64(new Uint8Array(32))}\n${afterIndex}`, 'bad-proof-hash'],
    ['no empty line', FILE.slice(0, FILE.indexOf('\n\n') + 1), 'missing-checkpoint'],
    ['nothing after the empty line', FILE.slice(0, FILE.indexOf('\n\n') + 2), 'missing-checkpoint'],
    ['two empty lines', FILE.replace('\n\n', '\n\n\n'), 'bad-checkpoint'],
    ['checkpoint without signatures', FILE.slice(0, FILE.indexOf('\n\n') + 2) + TEXT, 'bad-checkpoint'],
    ['checkpoint missing its final newline', FILE.slice(0, -1), 'bad-checkpoint'],
    ['checkpoint with CRLF', FILE.replace('example.com/fancylog\n13\n', 'example.com/fancylog\r\n13\n'), 'bad-checkpoint'],
    [
      'a note that is not a checkpoint',
      FILE.slice(0, FILE.indexOf('\n\n') + 2) + signNote('example.com/fancylog\nthirteen\nAAAA\n', [LOG]),
      'bad-checkpoint',
    ],
  ];
  it.each(cases)('%s → %s', (_what, file, want) => {
    expect(code(() => parseTlogProof(file))).toBe(want);
  });

  it('formatTlogProof refuses what parseTlogProof would refuse', () => {
    expect(code(() => formatTlogProof({ ...PROOF, index: -1 }))).toBe('bad-index');
    expect(code(() => formatTlogProof({ ...PROOF, index: 1.5 }))).toBe('bad-index');
    expect(code(() => formatTlogProof({ ...PROOF, proof: [new Uint8Array(31)] }))).toBe('bad-proof-hash');
    expect(code(() => formatTlogProof({ ...PROOF, extra: new Uint8Array(0) }))).toBe('bad-extra');
    expect(code(() => formatTlogProof({ ...PROOF, checkpoint: TEXT }))).toBe('bad-checkpoint');
    expect(code(() => formatTlogProof({ ...PROOF, checkpoint: '' }))).toBe('missing-checkpoint');
  });
});
