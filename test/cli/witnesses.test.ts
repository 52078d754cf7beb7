// `ledger witnesses add|remove|list|policy` as real CLI processes: every
// refusal with its code and the config untouched, the config replaced
// atomically with every other field kept, the generated tlog-policy byte for
// byte, and a ledger configured only through these commands publishing
// checkpoints cosigned by two real witness processes.

import { chmodSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCosignatureVerifierKey, generateCosignerKey, parseCosignatureVerifierKey } from '../../src/core/cosignature.js';
import { formatSignerKey } from '../../src/core/note.js';
import { formatPublicKeyPem } from '../../src/core/pem.js';
import { parsePolicy, verifyCheckpointWithPolicy } from '../../src/core/policy.js';
import { BIN, cli, cliOk, startServe, tmp, type Server } from '../helpers/procs.js';
import { TestProducer, evidence } from '../helpers/producer.js';
import { TestWitness, configureLogWitnesses } from '../helpers/witness.js';

const ORIGIN = 'ledger.test/witnesses-cli';
const RESTART = 'restart ledger serve to apply';

const w1 = generateCosignerKey('witness.test/w1').vkey;
const w2 = generateCosignerKey('witness.test/w2').vkey;
const w3 = generateCosignerKey('witness.test/w3').vkey;

let dir: string;
let logVkey: string;
const cfgPath = () => join(dir, 'config.json');
const readCfg = () => JSON.parse(readFileSync(cfgPath(), 'utf8')) as Record<string, unknown>;
const ledger = (...args: string[]) => cli(BIN.ledger, ['witnesses', ...args]);

/** Runs a command that must be refused with `code`, and checks config.json did not change. */
function refused(args: string[], code: string, status = 1): string {
  const before = readFileSync(cfgPath(), 'utf8');
  const r = ledger(...args);
  expect(r.status, r.stderr).toBe(status);
  expect(r.stderr).toMatch(new RegExp(`^error: ${code}: `));
  expect(readFileSync(cfgPath(), 'utf8')).toBe(before);
  return r.stderr;
}

beforeAll(() => {
  dir = join(tmp('witnesses-cli-'), 'log');
  logVkey = cliOk(BIN.ledger, ['init', '--data', dir, '--origin', ORIGIN]).trim();
  // Fields these commands must keep, known and unknown.
  writeFileSync(cfgPath(), JSON.stringify({ ...readCfg(), checkpointIntervalMs: 250, s3: { bucket: 'b', prefix: 'p/' }, operatorNote: { keep: [1, 2] } }, null, 2));
  chmodSync(cfgPath(), 0o640);
});

describe('ledger witnesses add', () => {
  it('adds a witness, replacing config.json atomically and keeping every other field', () => {
    const before = readCfg();
    const ino = statSync(cfgPath()).ino;
    const r = ledger('add', '--data', dir, '--name', 'witness.test/w1', '--url', 'http://127.0.0.1:1/w', '--vkey', w1);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`added witness witness.test/w1 at http://127.0.0.1:1/w; ${RESTART} (it reads config.json at start only)\n`);
    // No policy yet: serve would refuse, and the command says so.
    expect(r.stderr).toMatch(/^warning: ledger serve will refuse to start: witnesses are configured without a policy; /);
    expect(readCfg()).toEqual({ ...before, witnesses: [{ name: 'witness.test/w1', url: 'http://127.0.0.1:1/w', vkey: w1 }] });
    // Replaced by rename (a new inode), same mode, no temporary file left behind.
    expect(statSync(cfgPath()).ino).not.toBe(ino);
    expect(statSync(cfgPath()).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir).filter((f) => f.includes('tmp'))).toEqual([]);
    cliOk(BIN.ledger, ['witnesses', 'add', '--data', dir, '--name', 'witness.test/w2', '--url', 'https://w2.example/', '--vkey', w2]);
    expect((readCfg().witnesses as unknown[]).length).toBe(2);
  });

  it('refuses a bad key, a name that is not the key name, a bad URL and duplicates', () => {
    refused(['add', '--data', dir, '--name', ORIGIN, '--url', 'http://x', '--vkey', logVkey], 'wrong-key-type');
    refused(['add', '--data', dir, '--name', 'witness.test/w3', '--url', 'http://x', '--vkey', 'witness.test/w3'], 'bad-vkey');
    // One hex digit of the key ID flipped: it no longer matches the key.
    // (The base64 key may itself hold '+': split at the first two only.)
    const name = 'witness.test/w3';
    const id = w3.slice(name.length + 1, name.length + 9);
    const flipped = `${name}+${(id[0] === '0' ? '1' : '0') + id.slice(1)}+${w3.slice(name.length + 10)}`;
    expect(refused(['add', '--data', dir, '--name', 'witness.test/w3', '--url', 'http://x', '--vkey', flipped], 'bad-vkey')).toContain('bad-key-id');
    refused(['add', '--data', dir, '--name', 'w3', '--url', 'http://x', '--vkey', w3], 'name-mismatch');
    for (const url of ['ftp://x/', 'not a url', 'http://x/?a=1', 'http://x/#f', 'http://u:p@x/']) {
      refused(['add', '--data', dir, '--name', 'witness.test/w3', '--url', url, '--vkey', w3], 'bad-url');
    }
    refused(['add', '--data', dir, '--name', 'witness.test/w1', '--url', 'http://y', '--vkey', w1], 'duplicate-witness');
    // Same public key as w1 under another name.
    const again = formatCosignatureVerifierKey('witness.test/w1-again', parseCosignatureVerifierKey(w1).publicKey);
    refused(['add', '--data', dir, '--name', 'witness.test/w1-again', '--url', 'http://y', '--vkey', again], 'duplicate-witness');
    const none = generateCosignerKey('none').vkey;
    refused(['add', '--data', dir, '--name', 'none', '--url', 'http://y', '--vkey', none], 'reserved-name');
    // Usage errors: exit 2.
    const r = ledger('add', '--data', dir, '--name', 'witness.test/w3', '--url', 'http://x');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('error: --vkey is required\n');
    expect(ledger('frobnicate', '--data', dir).status).toBe(2);
    expect(ledger('toString', '--data', dir).status).toBe(2);
    const missing = cli(BIN.ledger, ['witnesses', 'list', '--data', join(dir, 'nope')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^error: no-log: /);
  });
});

describe('ledger witnesses policy', () => {
  it('refuses a quorum out of range', () => {
    refused(['policy', '--data', dir, '--quorum', '0'], 'bad-quorum');
    refused(['policy', '--data', dir, '--quorum', '3'], 'bad-quorum');
    expect(ledger('policy', '--data', dir, '--quorum', 'two').status).toBe(2);
    expect(ledger('policy', '--data', dir, '--quorum', '1', '--policy-file', '/dev/null').status).toBe(2);
    refused(['policy', '--data', dir], 'no-policy');
  });

  it('--quorum K writes the log line, one witness line each, a K-of-all group and the quorum', () => {
    const r = ledger('policy', '--data', dir, '--quorum', '2');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`policy set: quorum 2-of-2; counted witnesses: witness.test/w1, witness.test/w2; ${RESTART} (it reads config.json at start only)\n`);
    const expected = [
      '# written by ledger witnesses policy: 2 of the 2 configured witnesses',
      `log ${logVkey}`,
      `witness witness.test/w1 ${w1}`,
      `witness witness.test/w2 ${w2}`,
      'group 2-of-2 2 witness.test/w1 witness.test/w2',
      'quorum 2-of-2',
      '',
    ].join('\n');
    expect(readCfg().witnessPolicy).toBe(expected);
    expect(readCfg()).toMatchObject({ checkpointIntervalMs: 250, s3: { bucket: 'b', prefix: 'p/' }, operatorNote: { keep: [1, 2] } });
    // Without flags it prints the policy in force: ready for ledger-verify --policy.
    expect(cliOk(BIN.ledger, ['witnesses', 'policy', '--data', dir])).toBe(expected);
    const p = parsePolicy(expected);
    expect(p.groups.get('2-of-2')).toMatchObject({ threshold: 2, members: ['witness.test/w1', 'witness.test/w2'] });
  });

  it('--policy-file installs an operator-written policy verbatim after checking it', () => {
    const file = join(dir, '..', 'policy.txt');
    const write = (lines: string[]) => writeFileSync(file, lines.join('\n') + '\n');
    const mine = [`# any one of our two`, `log ${logVkey}`, `witness a ${w1}`, `witness b ${w2}`, 'group any-one any a b', 'quorum any-one'];

    write(mine.filter((l) => !l.startsWith('log ')));
    refused(['policy', '--data', dir, '--policy-file', file], 'log-not-in-policy');
    const other = cliOk(BIN.ledger, ['init', '--data', join(dir, '..', 'other'), '--origin', 'ledger.test/other']).trim();
    write([`log ${other}`, ...mine.slice(2)]);
    refused(['policy', '--data', dir, '--policy-file', file], 'log-not-in-policy');
    write([...mine.slice(0, 4), 'quorum c']);
    refused(['policy', '--data', dir, '--policy-file', file], 'undefined-name');
    // w3 is not configured and has no URL in the policy: nobody could meet this quorum.
    write([`log ${logVkey}`, `witness c ${w3}`, 'quorum c']);
    refused(['policy', '--data', dir, '--policy-file', file], 'unsatisfiable-policy');
    // ... but with its URL in the policy the ledger asks it too.
    write([`log ${logVkey}`, `witness c ${w3} http://127.0.0.1:9/`, 'quorum c']);
    expect(ledger('policy', '--data', dir, '--policy-file', file).status).toBe(0);
    const listed = JSON.parse(cliOk(BIN.ledger, ['witnesses', 'list', '--data', dir, '--json']));
    expect(listed.witnesses.map((w: { name: string; policyName: string | null; from: string }) => [w.name, w.policyName, w.from])).toEqual([
      ['witness.test/w1', null, 'config'],
      ['witness.test/w2', null, 'config'],
      ['c', 'c', 'policy'],
    ]);
    refused(['policy', '--data', dir, '--policy-file', join(dir, 'missing')], 'ENOENT', 2);

    write(mine);
    const r = ledger('policy', '--data', dir, '--policy-file', file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`policy set: quorum any-one; counted witnesses: witness.test/w1, witness.test/w2; ${RESTART}`);
    expect(readCfg().witnessPolicy).toBe(readFileSync(file, 'utf8'));
  });
});

describe('the policy of spec/witness.md', () => {
  it('for the test-vector log key and the w-test witness, --quorum 1 writes the documented text', () => {
    const d = join(tmp('witnesses-vector-'), 'log');
    cliOk(BIN.ledger, ['init', '--data', d, '--origin', 'ledger.test/witnessed']);
    // The log key of the test vectors: seed 32 x 0x01.
    rmSync(join(d, 'log.key'));
    writeFileSync(join(d, 'log.key'), formatSignerKey('ledger.test/witnessed', new Uint8Array(32).fill(1)) + '\n', { mode: 0o600 });
    const wTest = 'witness.example/w-test+d06791ee+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X';
    cliOk(BIN.ledger, ['witnesses', 'add', '--data', d, '--name', 'witness.example/w-test', '--url', 'https://w-test.example/', '--vkey', wTest]);
    cliOk(BIN.ledger, ['witnesses', 'policy', '--data', d, '--quorum', '1']);
    expect(cliOk(BIN.ledger, ['witnesses', 'policy', '--data', d])).toBe(
      '# written by ledger witnesses policy: 1 of the 1 configured witnesses\n' +
        'log ledger.test/witnessed+dd8a1f99+AYqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c\n' +
        'witness witness.example/w-test witness.example/w-test+d06791ee+BCmsuuFBvMrwsi4alNNNC8c2HlJtC/4SyJeUvJMilm3X\n' +
        'group 1-of-1 1 witness.example/w-test\n' +
        'quorum 1-of-1\n',
    );
  });
});

describe('ledger witnesses list and remove', () => {
  it('lists each witness with the name the policy counts it under', () => {
    const json = JSON.parse(cliOk(BIN.ledger, ['witnesses', 'list', '--data', dir, '--json']));
    expect(json).toEqual({
      witnesses: [
        { name: 'witness.test/w1', url: 'http://127.0.0.1:1/w', vkey: w1, policyName: 'a', from: 'config' },
        { name: 'witness.test/w2', url: 'https://w2.example/', vkey: w2, policyName: 'b', from: 'config' },
      ],
      policy: readCfg().witnessPolicy,
      quorum: 'any-one',
      serveProblem: null,
    });
    const r = ledger('list', '--data', dir);
    expect(r.stdout).toBe(`witness.test/w1\thttp://127.0.0.1:1/w\t${w1}\tpolicy:a\nwitness.test/w2\thttps://w2.example/\t${w2}\tpolicy:b\nquorum any-one\n`);
    expect(r.stderr).toBe('');
  });

  it('removes a witness, keeping the rest, and warns when the policy still needs it', () => {
    refused(['remove', '--data', dir, '--name', 'witness.test/w9'], 'no-such-witness');
    let r = ledger('remove', '--data', dir, '--name', 'witness.test/w1');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`removed witness witness.test/w1; ${RESTART} (it reads config.json at start only)\n`);
    expect(r.stderr).toMatch(/^warning: the policy still lists witness.test\/w1 \(as a\); /);
    expect(r.stderr).not.toContain('refuse to start'); // any one of a, b: b alone still meets it
    expect(readCfg().witnesses).toEqual([{ name: 'witness.test/w2', url: 'https://w2.example/', vkey: w2 }]);
    expect(readCfg()).toMatchObject({ checkpointIntervalMs: 250, operatorNote: { keep: [1, 2] } });
    r = ledger('remove', '--data', dir, '--name', 'witness.test/w2');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('warning: ledger serve will refuse to start: unsatisfiable-policy: ');
    expect(JSON.parse(cliOk(BIN.ledger, ['witnesses', 'list', '--data', dir, '--json'])).serveProblem).toMatch(/^unsatisfiable-policy: /);
  });
});

describe('a ledger configured with ledger witnesses only', () => {
  const procs: (Server | TestWitness)[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  });

  it('refuses to serve with witnesses and no policy, and publishes only 2-of-2 cosigned checkpoints once the policy is set', async () => {
    const base = tmp('witnesses-e2e-');
    const logDir = join(base, 'log');
    const vkey = cliOk(BIN.ledger, ['init', '--data', logDir, '--origin', ORIGIN]).trim();
    const alice = new TestProducer();
    writeFileSync(join(base, 'alice.pub'), formatPublicKeyPem(alice.publicKey));
    cliOk(BIN.ledger, ['producers', 'add', '--data', logDir, '--name', 'alice', '--key', join(base, 'alice.pub'), '--types', 'evidence']);
    const ws = ['e2e.test/w1', 'e2e.test/w2'].map((n, i) => TestWitness.create(join(base, `w${i + 1}`), n, [{ origin: ORIGIN, vkey }]));
    procs.push(...ws);
    for (const w of ws) await w.start();

    cliOk(BIN.ledger, ['witnesses', 'add', '--data', logDir, '--name', ws[0]!.name, '--url', ws[0]!.url, '--vkey', ws[0]!.vkey]);
    await expect(startServe(BIN.ledger, logDir)).rejects.toThrow(/witnesses configured without witnessPolicy/);
    cliOk(BIN.ledger, ['witnesses', 'remove', '--data', logDir, '--name', ws[0]!.name]);

    const policy = configureLogWitnesses(logDir, ws, 2);
    const server = await startServe(BIN.ledger, logDir);
    procs.push(server);
    const res = await fetch(`${server.url}/v1/entries?wait=checkpoint`, { method: 'POST', body: JSON.stringify(alice.envelope('evidence', evidence())) });
    expect(res.status).toBe(201);
    const note = await (await fetch(`${server.url}/checkpoint`)).text();
    const v = verifyCheckpointWithPolicy(note, parsePolicy(policy));
    expect(v.checkpoint.size).toBe(2); // the producer registration and the entry
    expect(v.witnesses).toEqual(['e2e.test/w1', 'e2e.test/w2']);
    for (const w of ws) expect(await w.checkpoint(ORIGIN)).toBeDefined();
  });
});
