// C2SP tlog-proof (https://c2sp.org/tlog-proof): an offline-verifiable proof
// that an entry is in a log, as one text file:
//
//   c2sp.org/tlog-proof@v1
//   [extra <base64 opaque data>]
//   index <decimal>
//   <base64 proof hash>          zero or more, leaf's sibling first
//   <empty line>
//   <the signed checkpoint note, verbatim>
//
// The file carries neither the entry nor its hash: the verifier brings the
// entry (spec/tlog-proof.md). Pure: text in, results out.

import { fromBase64, toBase64 } from './bytes.js';
import { CheckpointError, parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { hashLeaf, ProofError, verifyInclusion } from './merkle.js';
import { NoteError, parseNote } from './note.js';
import { verifyCheckpointWithPolicy, type Policy } from './policy.js';

export class TlogProofError extends Error {
  override readonly name = 'TlogProofError';
  constructor(
    /** Stable machine-readable reason, e.g. 'bad-index' or 'inclusion-proof-invalid'. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface TlogProof {
  /** Opaque, unauthenticated application data ("extra" line); absent when the line is. */
  extra?: Uint8Array;
  /** Zero-based index of the entry in the log. */
  index: number;
  /** The RFC 6962 inclusion proof, leaf's sibling first, 32 bytes each. */
  proof: Uint8Array[];
  /** The signed checkpoint note, verbatim (ends in '\n'). */
  checkpoint: string;
}

/** tlog-proof "Format": the first line. */
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses a proof file, refusing anything formatTlogProof would not write. */
export function parseTlogProof(file: string | Uint8Array): TlogProof {
  let s: string;
  if (typeof file === 'string') {
    s = file;
  } else {
    try {
      s = strictUtf8.decode(file);
    } catch {
      throw new TlogProofError('not-utf8', 'proof file is not valid UTF-8');
    }
  }
  let at = 0;
  /** The next '\n'-terminated line, or undefined at the end of the text. */
  const nextLine = (): string | undefined => {
    const nl = s.indexOf('\n', at);
    if (nl < 0) return undefined;
    const line = s.slice(at, nl);
    at = nl + 1;
    return line;
  };

  const header = nextLine();
  if (header !== TLOG_PROOF_HEADER) {
    throw new TlogProofError('bad-header', `the first line must be ${JSON.stringify(TLOG_PROOF_HEADER)}, got ${JSON.stringify(header ?? s.slice(0, 40))}`);
  }
  let line = nextLine();
  const p: Partial<TlogProof> = {};
  // tlog-proof "Format": "The second line MAY start with the string extra followed by a space".
  if (line?.startsWith('extra ')) {
    p.extra = decodeExtra(line.slice('extra '.length));
    line = nextLine();
  }
  if (line === undefined || !line.startsWith('index ')) {
    throw new TlogProofError('missing-index', `expected an "index <n>" line, got ${JSON.stringify(line ?? '(end of file)')}`);
  }
  p.index = decodeIndex(line.slice('index '.length));
  p.proof = [];
  // Zero or more non-empty proof lines, then an empty line.
  for (;;) {
    line = nextLine();
    if (line === undefined) throw new TlogProofError('missing-checkpoint', 'no empty line before a checkpoint');
    if (line === '') break;
    p.proof.push(decodeProofHash(line, p.proof.length));
  }
  p.checkpoint = checkCheckpointNote(s.slice(at));
  return p as TlogProof;
}

/** Writes the proof file (the exact inverse of parseTlogProof). */
export function formatTlogProof(p: TlogProof): string {
  let out = `${TLOG_PROOF_HEADER}\n`;
  if (p.extra !== undefined) {
    if (p.extra.length === 0) throw new TlogProofError('bad-extra', 'empty extra data: leave extra out instead');
    out += `extra ${toBase64(p.extra)}\n`;
  }
  if (!Number.isSafeInteger(p.index) || p.index < 0) {
    throw new TlogProofError('bad-index', `index ${p.index} is not an integer in 0..${Number.MAX_SAFE_INTEGER}`);
  }
  out += `index ${p.index}\n`;
  p.proof.forEach((h, i) => {
    if (h.length !== 32) throw new TlogProofError('bad-proof-hash', `proof hash ${i} is ${h.length} bytes, not 32`);
    out += `${toBase64(h)}\n`;
  });
  return `${out}\n${checkCheckpointNote(p.checkpoint)}`;
}

export interface TlogProofVerified {
  index: number;
  leafHash: Uint8Array;
  checkpoint: Checkpoint;
  /** Policy names of the witnesses whose cosignatures verified. */
  witnesses: string[];
  cosignedAt: Record<string, number>;
  /** The extra data, as carried: NOT authenticated by anything. */
  extra?: Uint8Array;
}

/**
 * Verifies a proof file for an entry the caller holds: its leaf bytes
 * (`data`, hashed as RFC 6962 leaves) or its leaf hash. The checkpoint must
 * satisfy the policy (PolicyError otherwise), the index must be inside its tree
 * and the inclusion proof must lead from the leaf to its root hash.
 */
export function verifyTlogProof(
  file: string | Uint8Array | TlogProof,
  policy: Policy,
  leaf: { data: Uint8Array } | { leafHash: Uint8Array },
): TlogProofVerified {
  const p = typeof file === 'string' || file instanceof Uint8Array ? parseTlogProof(file) : file;
  const leafHash = 'data' in leaf ? hashLeaf(leaf.data) : leaf.leafHash;
  if (leafHash.length !== 32) throw new TlogProofError('bad-leaf-hash', `leaf hash is ${leafHash.length} bytes, not 32`);
  const { checkpoint, witnesses, cosignedAt } = verifyCheckpointWithPolicy(p.checkpoint, policy);
  if (!Number.isSafeInteger(p.index) || p.index < 0 || p.index >= checkpoint.size) {
    throw new TlogProofError('index-out-of-range', `index ${p.index} is not inside the checkpointed tree of size ${checkpoint.size}`);
  }
  try {
    verifyInclusion(leafHash, p.index, checkpoint.size, p.proof, checkpoint.rootHash);
  } catch (e) {
    if (!(e instanceof ProofError)) throw e;
    throw new TlogProofError(
      'inclusion-proof-invalid',
      `the inclusion proof of index ${p.index} does not lead to the checkpoint's root (${e.code}: ${e.message})`,
      { cause: e },
    );
  }
  return { index: p.index, leafHash, checkpoint, witnesses, cosignedAt, ...(p.extra ? { extra: p.extra } : {}) };
}

function decodeExtra(b64: string): Uint8Array {
  let extra: Uint8Array;
  try {
    extra = fromBase64(b64);
  } catch (e) {
    throw new TlogProofError('bad-extra', `extra is not standard base64: ${(e as Error).message}`);
  }
  // "If no extra data is present, this line is omitted."
  if (extra.length === 0) throw new TlogProofError('bad-extra', 'an extra line with no data (the line must be left out)');
  return extra;
}

function decodeIndex(text: string): number {
  // "ASCII decimal with no leading zeroes (unless the index is 0)".
  if (!DECIMAL.test(text)) throw new TlogProofError('bad-index', `index ${JSON.stringify(text)} is not a decimal without leading zeros`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new TlogProofError('bad-index', `index ${text} exceeds ${Number.MAX_SAFE_INTEGER}`);
  return n;
}

function decodeProofHash(line: string, i: number): Uint8Array {
  let h: Uint8Array;
  try {
    h = fromBase64(line);
  } catch (e) {
    throw new TlogProofError('bad-proof-hash', `proof line ${i + 1} is not standard base64: ${(e as Error).message}`);
  }
  if (h.length !== 32) throw new TlogProofError('bad-proof-hash', `proof line ${i + 1} is ${h.length} bytes, not a 32-byte SHA-256 hash`);
  return h;
}

/** The checkpoint must be a well-formed signed note holding a well-formed checkpoint. */
function checkCheckpointNote(note: string): string {
  if (note === '') throw new TlogProofError('missing-checkpoint', 'nothing follows the empty line');
  try {
    parseCheckpoint(parseNote(note).text);
  } catch (e) {
    if (e instanceof NoteError || e instanceof CheckpointError) {
      throw new TlogProofError('bad-checkpoint', `the checkpoint is malformed (${e.code}: ${e.message})`, { cause: e });
    }
    throw e;
  }
  return note;
}
