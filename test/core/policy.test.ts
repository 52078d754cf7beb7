import { describe, expect, it } from 'vitest';
import { utf8 } from '../../src/core/bytes.js';
import { formatCheckpoint } from '../../src/core/checkpoint.js';
import { cosignerFromSeed, formatCosignatureVerifierKey } from '../../src/core/cosignature.js';
import { sha256 } from '../../src/core/crypto.js';
import { addSignatures, ed25519Signer, formatVerifierKey, parseNote, formatNote, signNote } from '../../src/core/note.js';
import {
  evaluateQuorum,
  formatPolicy,
  parsePolicy,
  PolicyError,
  verifyCheckpointWithPolicy,
  type Policy,
} from '../../src/core/policy.js';

const seed = (label: string) => sha256(utf8(`ledger policy test seed ${label}`));
const LOG = ed25519Signer('example.com/log', seed('log'));
const OTHER_LOG = ed25519Signer('example.com/other-log', seed('other-log'));
const W = Object.fromEntries(
  ['X1', 'X2', 'X3', 'Y1', 'Y2', 'Y3', 'Z'].map((n) => [n, cosignerFromSeed(`witness.example/${n}`, seed(n))]),
) as Record<string, ReturnType<typeof cosignerFromSeed>>;

// The example of tlog-policy "Example policy", with real keys in place of <vkey>.
const EXAMPLE = `log ${LOG.vkey}

witness X1 ${W['X1']!.vkey}
witness X2 ${W['X2']!.vkey}
witness X3 ${W['X3']!.vkey}
group X-witnesses 2 X1 X2 X3

witness Y1 ${W['Y1']!.vkey}
witness Y2 ${W['Y2']!.vkey}
witness Y3 ${W['Y3']!.vkey}
group Y-witnesses any Y1 Y2 Y3

group X-and-Y all X-witnesses Y-witnesses
quorum X-and-Y
`;

function err(f: () => unknown): PolicyError {
  try {
    f();
  } catch (e) {
    if (e instanceof PolicyError) return e;
    throw e;
  }
  throw new Error('expected a PolicyError');
}
const code = (f: () => unknown) => err(f).code;

/** A policy without its verifier objects (their closures never compare equal). */
const plain = (p: Policy) => ({
  logs: p.logs.map((l) => ({ vkey: l.vkey, url: l.url, origin: l.origin, key: l.verifier.vkey })),
  witnesses: [...p.witnesses.values()].map((w) => ({ name: w.name, vkey: w.vkey, url: w.url, key: w.verifier.vkey })),
  groups: [...p.groups.values()],
  quorum: p.quorum,
});

describe('parsePolicy', () => {
  it('reads the example of the spec', () => {
    const p = parsePolicy(EXAMPLE);
    expect(p.logs).toHaveLength(1);
    expect(p.logs[0]!.origin).toBe('example.com/log');
    expect(p.logs[0]!.vkey).toBe(LOG.vkey);
    expect(p.logs[0]!.url).toBeUndefined();
    expect([...p.witnesses.keys()]).toEqual(['X1', 'X2', 'X3', 'Y1', 'Y2', 'Y3']);
    expect(p.witnesses.get('Y2')!.verifier.name).toBe('witness.example/Y2');
    expect([...p.groups.values()]).toEqual([
      { name: 'X-witnesses', k: 2, threshold: 2, members: ['X1', 'X2', 'X3'] },
      { name: 'Y-witnesses', k: 'any', threshold: 1, members: ['Y1', 'Y2', 'Y3'] },
      { name: 'X-and-Y', k: 'all', threshold: 2, members: ['X-witnesses', 'Y-witnesses'] },
    ]);
    expect(p.quorum).toBe('X-and-Y');
  });

  it('keeps URLs, ignores comments, blank lines and surrounding tabs and spaces, tolerates a missing last newline', () => {
    const text = [
      '# trust policy for the ledger',
      '   # an indented comment',
      '',
      ' \t ',
      `\tlog   ${LOG.vkey}\thttps://log.example/  `,
      `witness  X1 ${W['X1']!.vkey} https://x1.example/witness`,
      `witness ${'\u212a'} ${W['X2']!.vkey}`, // KELVIN SIGN, another name than "K"
      `witness K ${W['X3']!.vkey}`,
      'group g 2 X1 \u212a K',
      'quorum g',
    ].join('\n');
    const p = parsePolicy(text);
    expect(p.logs[0]!.url).toBe('https://log.example/');
    expect(p.witnesses.get('X1')!.url).toBe('https://x1.example/witness');
    expect([...p.witnesses.keys()]).toEqual(['X1', '\u212a', 'K']);
    expect(plain(parsePolicy(utf8(text)))).toEqual(plain(p));
  });

  it('accepts quorum none with no witnesses and no logs, and a single witness as quorum', () => {
    expect(parsePolicy('quorum none\n')).toEqual({ logs: [], witnesses: new Map(), groups: new Map(), quorum: 'none' });
    const p = parsePolicy(`witness X1 ${W['X1']!.vkey}\nquorum X1\n`);
    expect(p.quorum).toBe('X1');
  });

  it('allows log and witness lines after the quorum line', () => {
    const p = parsePolicy(`quorum none\nlog ${LOG.vkey}\nwitness X1 ${W['X1']!.vkey}\n`);
    expect(p.logs).toHaveLength(1);
    expect(p.witnesses.size).toBe(1);
  });

  const x1 = `witness X1 ${W['X1']!.vkey}\n`;
  const x2 = `witness X2 ${W['X2']!.vkey}\n`;
  const x3 = `witness X3 ${W['X3']!.vkey}\n`;
  const sameKeyOtherName = formatCosignatureVerifierKey('witness.example/renamed', W['X1']!.publicKey);
  const logAsWitnessKey = formatVerifierKey('witness.example/log-typed', 0x01, W['X1']!.publicKey);
  const badKeyId = W['X1']!.vkey.replace(/\+[0-9a-f]{8}\+/, '+00000000+');

  const bad: [string, string | Uint8Array, string, number?][] = [
    ['carriage return (CRLF file)', 'quorum none\r\n', 'bad-character', 1],
    ['NUL byte', 'quorum none\n\u0000\n', 'bad-character', 2],
    ['DEL', '# comment \u007f\nquorum none\n', 'bad-character', 1],
    ['vertical tab as whitespace', 'quorum\u000bnone\n', 'bad-character', 1],
    ['invalid UTF-8', new Uint8Array([0x23, 0xff, 0x0a]), 'not-utf8'],
    ['lone surrogate', '# \ud800\nquorum none\n', 'not-utf8', 1],
    ['unknown keyword', 'quorum none\nlogs x\n', 'unknown-keyword', 2],
    ['keywords are case-sensitive', 'QUORUM none\n', 'unknown-keyword', 1],
    ['comment after content', 'quorum none # no trailing comments\n', 'wrong-field-count', 1],
    ['log without key', 'log\nquorum none\n', 'wrong-field-count', 1],
    ['log with two extra fields', `log ${LOG.vkey} https://a https://b\nquorum none\n`, 'wrong-field-count', 1],
    ['witness without key', 'witness X1\nquorum none\n', 'wrong-field-count', 1],
    ['witness with extra field', `witness X1 ${W['X1']!.vkey} https://a b\nquorum none\n`, 'wrong-field-count', 1],
    ['quorum without name', 'quorum\n', 'wrong-field-count', 1],
    ['quorum with two names', `${x1}${x2}quorum X1 X2\n`, 'wrong-field-count', 3],
    ['group with name only', `${x1}group g\nquorum none\n`, 'wrong-field-count', 2],
    ['log key not a vkey', 'log example.com/log\nquorum none\n', 'bad-vkey', 1],
    ['witness key with a wrong key ID', `witness X1 ${badKeyId}\nquorum none\n`, 'bad-vkey', 1],
    ['log key of witness type 0x04', `log ${W['X1']!.vkey}\nquorum none\n`, 'wrong-key-type', 1],
    ['witness key of log type 0x01', `witness X1 ${logAsWitnessKey}\nquorum none\n`, 'wrong-key-type', 1],
    [
      'duplicate log (same public key, other name)',
      `log ${LOG.vkey}\nlog ${formatVerifierKey('example.com/alias', 0x01, LOG.publicKey)}\nquorum none\n`,
      'duplicate-log',
      2,
    ],
    ['duplicate witness (same public key, other name)', `${x1}witness X9 ${sameKeyOtherName}\nquorum none\n`, 'duplicate-witness', 2],
    ['witness name defined twice', `${x1}witness X1 ${W['X2']!.vkey}\nquorum none\n`, 'duplicate-name', 2],
    ['group named like a witness', `${x1}${x2}group X1 any X2\nquorum none\n`, 'duplicate-name', 3],
    ['group defined twice', `${x1}${x2}group g any X1\ngroup g any X2\nquorum none\n`, 'duplicate-name', 4],
    ['witness named none', `witness none ${W['X1']!.vkey}\nquorum none\n`, 'reserved-name', 1],
    ['group named none', `${x1}group none any X1\nquorum none\n`, 'reserved-name', 2],
    ['group without members', `${x1}group g any\nquorum g\n`, 'no-members', 2],
    ['threshold zero', `${x1}${x2}group g 0 X1 X2\nquorum g\n`, 'bad-threshold', 3],
    ['threshold above n', `${x1}${x2}group g 3 X1 X2\nquorum g\n`, 'bad-threshold', 3],
    ['negative threshold', `${x1}${x2}group g -1 X1 X2\nquorum g\n`, 'bad-threshold', 3],
    ['threshold in words', `${x1}${x2}group g two X1 X2\nquorum g\n`, 'bad-threshold', 3],
    ['threshold with a fraction', `${x1}${x2}group g 1.5 X1 X2\nquorum g\n`, 'bad-threshold', 3],
    ['keyword in capitals', `${x1}${x2}group g ALL X1 X2\nquorum g\n`, 'bad-threshold', 3],
    ['member defined later', `${x1}group g any X1 X2\n${x2}quorum g\n`, 'undefined-name', 2],
    ['group naming itself (a cycle)', `${x1}group g any X1 g\nquorum g\n`, 'undefined-name', 2],
    ['quorum before its group', `${x1}quorum g\ngroup g any X1\n`, 'undefined-name', 2],
    ['quorum of an undefined name', `${x1}quorum X2\n`, 'undefined-name', 2],
    ['none as a member', `${x1}group g any X1 none\nquorum g\n`, 'none-as-member', 2],
    ['member listed twice in a group', `${x1}${x2}group g 2 X1 X1\nquorum g\n`, 'duplicate-member', 3],
    [
      'member listed in two groups',
      `${x1}${x2}${x3}group a any X1 X2\ngroup b any X1 X3\ngroup q all a b\nquorum q\n`,
      'duplicate-member',
      5,
    ],
    ['two quorum lines', `${x1}quorum X1\nquorum none\n`, 'duplicate-quorum', 3],
    ['the same quorum line twice', 'quorum none\nquorum none\n', 'duplicate-quorum', 2],
    ['no quorum line', `log ${LOG.vkey}\n${x1}`, 'missing-quorum'],
    ['empty file', '', 'missing-quorum'],
  ];
  it.each(bad)('refuses %s', (_what, text, want, line) => {
    const e = err(() => parsePolicy(text));
    expect(e.code).toBe(want);
    expect(e.line).toBe(line);
    if (line !== undefined) expect(e.message).toMatch(new RegExp(`^line ${line}: `));
  });
});

describe('formatPolicy', () => {
  it('writes the canonical form, which parses back to the same policy', () => {
    const p = parsePolicy(EXAMPLE);
    const text = formatPolicy(p);
    expect(text).toBe(
      [
        `log ${LOG.vkey}`,
        ...['X1', 'X2', 'X3', 'Y1', 'Y2', 'Y3'].map((n) => `witness ${n} ${W[n]!.vkey}`),
        'group X-witnesses 2 X1 X2 X3',
        'group Y-witnesses any Y1 Y2 Y3',
        'group X-and-Y all X-witnesses Y-witnesses',
        'quorum X-and-Y',
        '',
      ].join('\n'),
    );
    expect(plain(parsePolicy(text))).toEqual(plain(p));
    const withUrls = parsePolicy(`log ${LOG.vkey} https://log.example\nwitness X1 ${W['X1']!.vkey} https://w.example\nquorum X1\n`);
    expect(formatPolicy(withUrls)).toBe(`log ${LOG.vkey} https://log.example\nwitness X1 ${W['X1']!.vkey} https://w.example\nquorum X1\n`);
    expect(formatPolicy(parsePolicy('# only a quorum\n\n  quorum none'))).toBe('quorum none\n');
  });
  it('writes a numeric threshold without leading zeros', () => {
    const p = parsePolicy(`witness X1 ${W['X1']!.vkey}\nwitness X2 ${W['X2']!.vkey}\ngroup g 02 X1 X2\nquorum g\n`);
    expect(p.groups.get('g')!.threshold).toBe(2);
    expect(formatPolicy(p)).toContain('\ngroup g 2 X1 X2\n');
  });
  it('refuses a hand-built policy that breaks a rule', () => {
    const p = parsePolicy(EXAMPLE);
    expect(code(() => formatPolicy({ ...p, quorum: 'nobody' }))).toBe('undefined-name');
    const groups = new Map(p.groups);
    groups.set('X-witnesses', { name: 'X-witnesses', k: 4, threshold: 4, members: ['X1', 'X2', 'X3'] });
    expect(code(() => formatPolicy({ ...p, groups }))).toBe('bad-threshold');
  });
});

describe('evaluateQuorum', () => {
  const p = parsePolicy(EXAMPLE);
  it.each<[string[], boolean]>([
    [[], false],
    [['X1', 'X2', 'Y3'], true],
    [['X1', 'X3', 'Y1', 'Y2'], true],
    [['X1', 'X2', 'X3', 'Y1', 'Y2', 'Y3'], true],
    [['X1', 'Y1', 'Y2', 'Y3'], false], // one X is not two
    [['X1', 'X2', 'X3'], false], // no Y
    [['X2', 'Y1', 'unknown-name'], false],
  ])('%j → %s', (set, want) => {
    expect(evaluateQuorum(p, new Set(set))).toBe(want);
  });
  it('quorum none is always met, a single-witness quorum needs that witness', () => {
    expect(evaluateQuorum(parsePolicy('quorum none\n'), new Set())).toBe(true);
    const one = parsePolicy(`witness X1 ${W['X1']!.vkey}\nwitness X2 ${W['X2']!.vkey}\nquorum X1\n`);
    expect(evaluateQuorum(one, new Set(['X2']))).toBe(false);
    expect(evaluateQuorum(one, new Set(['X1']))).toBe(true);
  });
  it('evaluates three levels of groups', () => {
    const ws = ['X1', 'X2', 'X3', 'Y1', 'Y2', 'Y3', 'Z'].map((n) => `witness ${n} ${W[n]!.vkey}`).join('\n');
    const deep = parsePolicy(
      `${ws}\ngroup a 2 X1 X2 X3\ngroup b any Y1 Y2\ngroup ab all a b\ngroup top 2 ab Y3 Z\nquorum top\n`,
    );
    expect(evaluateQuorum(deep, new Set(['Y3', 'Z']))).toBe(true);
    expect(evaluateQuorum(deep, new Set(['X1', 'X2', 'Y2', 'Z']))).toBe(true);
    expect(evaluateQuorum(deep, new Set(['X1', 'X2', 'Z']))).toBe(false);
    expect(evaluateQuorum(deep, new Set(['X1', 'Y1', 'Y2', 'Y3']))).toBe(false);
  });
});

describe('verifyCheckpointWithPolicy', () => {
  const text = formatCheckpoint({ origin: 'example.com/log', size: 20852163, rootHash: sha256(utf8('root')), extensions: [] });
  const signed = signNote(text, [LOG]);
  const T0 = 1679315147;
  const cosigned = (names: string[]) =>
    addSignatures(
      signed,
      names.map((n, i) => W[n]!.cosign(text, T0 + i)),
    );
  const policy = parsePolicy(EXAMPLE);

  it('accepts a checkpoint signed by the log and cosigned to quorum, reporting who cosigned when', () => {
    const r = verifyCheckpointWithPolicy(cosigned(['Y2', 'X3', 'X1']), policy);
    expect(r.checkpoint.origin).toBe('example.com/log');
    expect(r.checkpoint.size).toBe(20852163);
    expect(r.text).toBe(text);
    expect(r.witnesses).toEqual(['X1', 'X3', 'Y2']);
    expect(r.cosignedAt).toEqual({ Y2: T0, X3: T0 + 1, X1: T0 + 2 });
    expect(verifyCheckpointWithPolicy(utf8(cosigned(['Y2', 'X3', 'X1'])), policy).witnesses).toEqual(['X1', 'X3', 'Y2']);
  });

  it('refuses a checkpoint below quorum, listing the witnesses that did cosign', () => {
    const e = err(() => verifyCheckpointWithPolicy(cosigned(['X1', 'X2']), policy));
    expect(e.code).toBe('quorum-not-met');
    expect(e.witnesses).toEqual(['X1', 'X2']);
    expect(err(() => verifyCheckpointWithPolicy(signed, policy)).witnesses).toEqual([]);
  });

  it('ignores cosignatures of unknown witnesses (they do not count)', () => {
    const e = err(() => verifyCheckpointWithPolicy(cosigned(['Z', 'X1', 'Y1']), policy));
    expect(e.code).toBe('quorum-not-met');
    expect(e.witnesses).toEqual(['X1', 'Y1']);
  });

  it('counts witnesses named like Object.prototype members only when they cosign', () => {
    const tricky = parsePolicy(
      `log ${LOG.vkey}\nwitness toString ${W['X1']!.vkey}\nwitness __proto__ ${W['X2']!.vkey}\ngroup g any toString __proto__\nquorum g\n`,
    );
    const e = err(() => verifyCheckpointWithPolicy(signed, tricky));
    expect(e.code).toBe('quorum-not-met');
    expect(e.witnesses).toEqual([]);
    const r = verifyCheckpointWithPolicy(cosigned(['X2']), tricky);
    expect(r.witnesses).toEqual(['__proto__']);
    expect(Object.entries(r.cosignedAt)).toEqual([['__proto__', T0]]);
  });

  it('accepts a checkpoint with no cosignature under quorum none', () => {
    const none = parsePolicy(`log ${LOG.vkey}\nquorum none\n`);
    expect(verifyCheckpointWithPolicy(signed, none)).toEqual({ checkpoint: expect.anything(), text, witnesses: [], cosignedAt: {} });
  });

  it('refuses a flipped bit in the log signature or in a cosignature: invalid-signature', () => {
    const good = cosigned(['X1', 'X2', 'Y1']);
    const n = parseNote(good);
    for (const i of [0, 2]) {
      const t = structuredClone(n);
      t.signatures[i]!.signature[10]! ^= 1;
      expect(code(() => verifyCheckpointWithPolicy(formatNote(t), policy))).toBe('invalid-signature');
    }
    // The cosignature's timestamp is signed too.
    const t = structuredClone(n);
    t.signatures[3]!.signature[7]! ^= 1;
    expect(code(() => verifyCheckpointWithPolicy(formatNote(t), policy))).toBe('invalid-signature');
  });

  it('refuses a changed checkpoint text (every signature breaks)', () => {
    const good = cosigned(['X1', 'X2', 'Y1']);
    const changed = good.replace('\n20852163\n', '\n20852164\n');
    expect(code(() => verifyCheckpointWithPolicy(changed, policy))).toBe('invalid-signature');
  });

  it('refuses a cosignature moved from another checkpoint', () => {
    const otherText = formatCheckpoint({ origin: 'example.com/log', size: 5, rootHash: sha256(utf8('other')), extensions: [] });
    const moved = addSignatures(cosigned(['X1', 'X2']), [W['Y1']!.cosign(otherText, T0)]);
    expect(code(() => verifyCheckpointWithPolicy(moved, policy))).toBe('invalid-signature');
  });

  it('refuses a checkpoint without a log signature, or signed by a log outside the policy', () => {
    const n = parseNote(cosigned(['X1', 'X2', 'Y1']));
    const witnessesOnly = formatNote({ text: n.text, signatures: n.signatures.slice(1) });
    expect(code(() => verifyCheckpointWithPolicy(witnessesOnly, policy))).toBe('no-log-signature');
    const otherLog = signNote(text, [OTHER_LOG]);
    expect(code(() => verifyCheckpointWithPolicy(otherLog, policy))).toBe('no-log-signature');
  });

  it('refuses a checkpoint whose origin is not the signing log key name', () => {
    const foreign = formatCheckpoint({ origin: 'example.com/other-log', size: 1, rootHash: sha256(utf8('x')), extensions: [] });
    const e = err(() => verifyCheckpointWithPolicy(signNote(foreign, [LOG]), parsePolicy(`log ${LOG.vkey}\nquorum none\n`)));
    expect(e.code).toBe('origin-mismatch');
  });

  it('refuses malformed notes and checkpoints, and a policy without logs', () => {
    expect(code(() => verifyCheckpointWithPolicy('not a note', policy))).toBe('malformed-note');
    expect(code(() => verifyCheckpointWithPolicy(signed.replace('\n\n', '\n'), policy))).toBe('malformed-note');
    const notCheckpoint = signNote('example.com/log\nnot a size\nAAAA\n', [LOG]);
    expect(code(() => verifyCheckpointWithPolicy(notCheckpoint, policy))).toBe('malformed-checkpoint');
    expect(code(() => verifyCheckpointWithPolicy(signed, parsePolicy('quorum none\n')))).toBe('no-logs');
  });
});
