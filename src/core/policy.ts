// C2SP tlog-policy (https://c2sp.org/tlog-policy): the trust policy an
// auditor gives to an offline verifier: the logs it knows, the witnesses it
// knows, and the quorum of cosignatures a checkpoint needs.
//
//   log <vkey> [<url>]
//   witness <name> <vkey> [<url>]
//   group <name> <all|any|k> <name>...
//   quorum <name>
//
// Parsing is strict: each rule of the spec that a file can break has its own
// PolicyError code (spec/policy.md lists them). Pure: text in, results out.

import { equal } from './bytes.js';
import { CheckpointError, parseCheckpoint, type Checkpoint } from './checkpoint.js';
import {
  KEY_TYPE_COSIGNATURE_V1,
  openCosignedNote,
  parseCosignatureVerifierKey,
  type CosignatureVerifier,
} from './cosignature.js';
import { NoteError, parseNote, parseVerifierKey, type Ed25519Verifier } from './note.js';

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  /** 1-based line of the policy file the error is about, when parsing. */
  readonly line?: number;
  /** For 'quorum-not-met': the policy names of the witnesses whose cosignatures verified. */
  readonly witnesses?: string[];
  constructor(
    /** Stable machine-readable reason, e.g. 'undefined-name' or 'quorum-not-met'. */
    readonly code: string,
    message: string,
    extra: { line?: number; witnesses?: string[]; cause?: unknown } = {},
  ) {
    super(extra.line === undefined ? message : `line ${extra.line}: ${message}`, { cause: extra.cause });
    if (extra.line !== undefined) this.line = extra.line;
    if (extra.witnesses) this.witnesses = extra.witnesses;
  }
}

export interface PolicyLog {
  /** The vkey as written in the policy. */
  vkey: string;
  url?: string;
  /** The log's origin: its vkey's key name (tlog-policy "Defining a log"). */
  origin: string;
  verifier: Ed25519Verifier;
}

export interface PolicyWitness {
  name: string;
  /** The vkey as written in the policy. */
  vkey: string;
  url?: string;
  verifier: CosignatureVerifier;
}

export interface PolicyGroup {
  name: string;
  /** The threshold as written: 'all', 'any' or a number. */
  k: 'all' | 'any' | number;
  /** The threshold it means: any = 1, all = members.length. */
  threshold: number;
  members: string[];
}

export interface Policy {
  logs: PolicyLog[];
  /** By policy name, in file order. */
  witnesses: Map<string, PolicyWitness>;
  /** By name, in file order (each group only names witnesses and groups before it). */
  groups: Map<string, PolicyGroup>;
  /** A witness name, a group name, or 'none'. */
  quorum: string;
}

/** The predefined name: a quorum that needs no cosignature; never a member. */
export const NONE = 'none';

// tlog-policy "Character set": tab, newline, 0x20-0x7E, and anything non-ASCII.
const FORBIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f]/;
const LONE_SURROGATE = /\p{Cs}/u;
const DECIMAL = /^[0-9]+$/;
// tlog-policy "Structure": whitespace is ASCII space and tab only.
const WS = /[ \t]+/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Parses a policy file. Bytes must be UTF-8 (the spec treats non-ASCII octets
 * as opaque and strongly recommends UTF-8; we require it). A missing newline
 * after the last line is tolerated.
 */
export function parsePolicy(text: string | Uint8Array): Policy {
  let s: string;
  if (typeof text === 'string') {
    s = text;
  } else {
    try {
      s = strictUtf8.decode(text);
    } catch {
      throw new PolicyError('not-utf8', 'policy file is not valid UTF-8');
    }
  }
  const p: Policy = { logs: [], witnesses: new Map(), groups: new Map(), quorum: '' };
  let quorumSet = false;
  const members = new Set<string>(); // every name listed as a group member so far
  const lines = s.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();

  lines.forEach((raw, i) => {
    const line = i + 1;
    const fail = (code: string, message: string, cause?: unknown): never => {
      throw new PolicyError(code, message, { line, cause });
    };
    if (LONE_SURROGATE.test(raw)) fail('not-utf8', 'holds a lone UTF-16 surrogate');
    const bad = FORBIDDEN.exec(raw);
    if (bad) {
      const cp = bad[0].charCodeAt(0);
      const hint = cp === 0x0d ? ' (carriage return: CRLF line ends are not allowed)' : '';
      fail('bad-character', `control character U+${cp.toString(16).padStart(4, '0').toUpperCase()}${hint}`);
    }
    const trimmed = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    // tlog-policy "Structure": empty lines and lines starting with '#' are ignored.
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const [keyword, ...args] = trimmed.split(WS) as [string, ...string[]];

    const defineName = (name: string) => {
      // tlog-policy: witnesses and groups share one namespace, and 'none' is predefined.
      if (name === NONE) fail('reserved-name', `"${NONE}" is predefined and cannot be redefined`);
      if (p.witnesses.has(name) || p.groups.has(name)) fail('duplicate-name', `name "${name}" is already defined`);
    };

    switch (keyword) {
      case 'log': {
        if (args.length < 1 || args.length > 2) fail('wrong-field-count', 'expected "log <vkey> [<url>]"');
        const [vkey, url] = args as [string, string?];
        let verifier: Ed25519Verifier;
        try {
          verifier = parseVerifierKey(vkey);
        } catch (e) {
          return fail(keyErrorCode(e), `log key: ${(e as Error).message}`, e);
        }
        // "Duplicate logs, i.e., multiple log lines with the same public key, are not allowed."
        if (p.logs.some((l) => equal(l.verifier.publicKey, verifier.publicKey))) {
          fail('duplicate-log', `log ${verifier.name}: another log line has the same public key`);
        }
        p.logs.push({ vkey, ...(url === undefined ? {} : { url }), origin: verifier.name, verifier });
        return;
      }
      case 'witness': {
        if (args.length < 2 || args.length > 3) fail('wrong-field-count', 'expected "witness <name> <vkey> [<url>]"');
        const [name, vkey, url] = args as [string, string, string?];
        defineName(name);
        let verifier: CosignatureVerifier;
        try {
          verifier = parseCosignatureVerifierKey(vkey);
        } catch (e) {
          return fail(keyErrorCode(e), `witness ${name}: ${(e as Error).message}`, e);
        }
        for (const w of p.witnesses.values()) {
          if (equal(w.verifier.publicKey, verifier.publicKey)) {
            fail('duplicate-witness', `witness ${name} has the same public key as witness ${w.name}`);
          }
        }
        p.witnesses.set(name, { name, vkey, ...(url === undefined ? {} : { url }), verifier });
        return;
      }
      case 'group': {
        if (args.length < 2) fail('wrong-field-count', 'expected "group <name> <all|any|k> <name>..."');
        const [name, kText, ...list] = args as [string, string, ...string[]];
        defineName(name);
        // "At least one member must be listed (i.e., n >= 1)."
        if (list.length === 0) fail('no-members', `group ${name} lists no members`);
        let k: PolicyGroup['k'];
        let threshold: number;
        if (kText === 'all' || kText === 'any') {
          k = kText;
          threshold = kText === 'any' ? 1 : list.length;
        } else if (DECIMAL.test(kText)) {
          // "it must be written in decimal, and it is required that 1 <= k <= n"
          threshold = Number(kText);
          if (threshold < 1 || threshold > list.length) {
            fail('bad-threshold', `group ${name}: threshold ${kText} is not between 1 and ${list.length}`);
          }
          k = threshold;
        } else {
          return fail('bad-threshold', `group ${name}: threshold ${JSON.stringify(kText)} is not all, any or a decimal`);
        }
        for (const m of list) {
          if (m === NONE) fail('none-as-member', `group ${name}: "${NONE}" cannot be a group member`);
          // "A group definition can only refer to names defined on preceding lines."
          if (!p.witnesses.has(m) && !p.groups.has(m)) fail('undefined-name', `group ${name}: "${m}" is not defined above`);
          // "Each defined name can be listed as a group member at most once."
          if (members.has(m)) fail('duplicate-member', `group ${name}: "${m}" is already listed as a group member`);
          members.add(m);
        }
        p.groups.set(name, { name, k, threshold, members: list });
        return;
      }
      case 'quorum': {
        if (args.length !== 1) fail('wrong-field-count', 'expected "quorum <name>"');
        // "A policy file must include exactly one quorum line."
        if (quorumSet) fail('duplicate-quorum', 'a second quorum line');
        const [name] = args as [string];
        if (name !== NONE && !p.witnesses.has(name) && !p.groups.has(name)) {
          fail('undefined-name', `quorum: "${name}" is not defined above`);
        }
        p.quorum = name;
        quorumSet = true;
        return;
      }
      default:
        fail('unknown-keyword', `unknown keyword ${JSON.stringify(keyword)}`);
    }
  });
  if (!quorumSet) throw new PolicyError('missing-quorum', 'the policy has no quorum line');
  return p;
}

function keyErrorCode(e: unknown): string {
  if (e instanceof NoteError && e.code === 'unsupported-key-type') return 'wrong-key-type';
  if (e instanceof NoteError) return 'bad-vkey';
  throw e;
}

/**
 * Writes a policy in canonical form: logs, witnesses, groups (in their order)
 * and the quorum line, single spaces, '\n' line ends. The output is parsed
 * again, so a hand-built policy that breaks a rule is refused here.
 */
export function formatPolicy(p: Policy): string {
  const out: string[] = [];
  for (const l of p.logs) out.push(['log', l.vkey, ...(l.url === undefined ? [] : [l.url])].join(' '));
  for (const w of p.witnesses.values()) {
    out.push(['witness', w.name, w.vkey, ...(w.url === undefined ? [] : [w.url])].join(' '));
  }
  for (const g of p.groups.values()) out.push(['group', g.name, String(g.k), ...g.members].join(' '));
  out.push(`quorum ${p.quorum}`);
  const text = out.map((l) => `${l}\n`).join('');
  parsePolicy(text);
  return text;
}

/**
 * Whether the witnesses that cosigned (by policy name) satisfy the quorum
 * (tlog-policy "Defining a witness group": a group is satisfied when at least
 * k of its n members are; a witness when it cosigned; 'none' always).
 */
export function evaluateQuorum(policy: Policy, satisfiedWitnesses: ReadonlySet<string>): boolean {
  const satisfied = (name: string): boolean => {
    if (name === NONE) return true;
    const g = policy.groups.get(name);
    if (!g) return policy.witnesses.has(name) && satisfiedWitnesses.has(name);
    let n = 0;
    for (const m of g.members) if (satisfied(m)) n++;
    return n >= g.threshold;
  };
  return satisfied(policy.quorum);
}

export interface PolicyVerified {
  checkpoint: Checkpoint;
  /** The checkpoint note text (what the log signed). */
  text: string;
  /** Policy names of the witnesses whose cosignatures verified, in policy order. */
  witnesses: string[];
  /** Each of those witnesses' cosignature timestamp (POSIX seconds). */
  cosignedAt: Record<string, number>;
}

/**
 * The policy's verdict on a signed checkpoint (tlog-policy "What is a
 * policy?"): signed by one of the listed logs, whose key name is the
 * checkpoint's origin, and cosigned by witnesses meeting the quorum.
 * Signature lines of unknown keys are ignored; a failing line from a key of
 * the policy rejects the note (signed-note "Signatures").
 * Cosignature timestamps are returned, not judged (the core has no clock).
 */
export function verifyCheckpointWithPolicy(note: string | Uint8Array, policy: Policy): PolicyVerified {
  if (policy.logs.length === 0) throw new PolicyError('no-logs', 'the policy lists no log to verify the checkpoint with');
  const names = new Map<unknown, string>();
  for (const w of policy.witnesses.values()) names.set(w.verifier, w.name);
  let opened: ReturnType<typeof openCosignedNote>;
  let checkpoint: Checkpoint;
  try {
    // Structure first (a precise error for a malformed note or checkpoint),
    // then the signatures; nothing of the text is used before they verify.
    checkpoint = parseCheckpoint(parseNote(note).text);
    const verifiers = [...policy.logs.map((l) => l.verifier), ...[...policy.witnesses.values()].map((w) => w.verifier)];
    opened = openCosignedNote(note, verifiers);
  } catch (e) {
    throw wrapError(e);
  }
  const logSigners = opened.verified.filter((v) => v.keyType !== KEY_TYPE_COSIGNATURE_V1);
  if (logSigners.length === 0) {
    throw new PolicyError('no-log-signature', 'the checkpoint carries no valid signature from a log of the policy');
  }
  // tlog-policy "Defining a log": the key name is the log's origin.
  if (!logSigners.some((v) => v.name === checkpoint.origin)) {
    throw new PolicyError(
      'origin-mismatch',
      `checkpoint origin ${JSON.stringify(checkpoint.origin)} is not the key name of the log that signed it (${logSigners.map((v) => v.name).join(', ')})`,
    );
  }
  // A Map, not an object: a witness may be named "toString" or "__proto__".
  const at = new Map<string, number>();
  for (const v of opened.verified) {
    const name = names.get(v.verifier);
    if (name !== undefined && v.timestamp !== undefined) at.set(name, v.timestamp);
  }
  const witnesses = [...policy.witnesses.keys()].filter((n) => at.has(n));
  const cosignedAt = Object.fromEntries(witnesses.map((n) => [n, at.get(n)!]));
  if (!evaluateQuorum(policy, new Set(witnesses))) {
    throw new PolicyError(
      'quorum-not-met',
      `quorum "${policy.quorum}" is not met; valid cosignatures from: ${witnesses.length ? witnesses.join(', ') : '(none)'}`,
      { witnesses },
    );
  }
  return { checkpoint, text: opened.note.text, witnesses, cosignedAt };
}

function wrapError(e: unknown): PolicyError {
  if (e instanceof NoteError) {
    if (e.code === 'invalid-signature') return new PolicyError('invalid-signature', e.message, { cause: e });
    if (e.code === 'ambiguous-verifier') return new PolicyError('ambiguous-key', e.message, { cause: e });
    if (e.code === 'unverified') {
      return new PolicyError('no-log-signature', 'the checkpoint carries no valid signature from a key of the policy', { cause: e });
    }
    return new PolicyError('malformed-note', `${e.code}: ${e.message}`, { cause: e });
  }
  if (e instanceof CheckpointError) return new PolicyError('malformed-checkpoint', `${e.code}: ${e.message}`, { cause: e });
  throw e;
}
