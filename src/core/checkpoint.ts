// C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint): the note text
// that states a log's tree head, and its verification as a signed note.
//
//   <origin>\n<tree size>\n<base64 root hash>\n[<extension line>\n ...]
//
// Parsing is strict (spec/checkpoint.md lists every rule and error code).

import { fromBase64, toBase64 } from './bytes.js';
import { openNote, type Note, type NoteVerifier, type VerifiedSignature } from './note.js';
import { CodedError } from './errors.js';

export type CheckpointErrorCode =
  | 'not-utf8' // the text holds a lone UTF-16 surrogate
  | 'control-character' // a character below U+0020 other than '\n'
  | 'missing-final-newline' // the text does not end in '\n'
  | 'too-few-lines' // fewer than the three mandatory lines
  | 'invalid-origin' // empty origin line
  | 'invalid-size' // not ASCII decimal without leading zeros
  | 'size-out-of-range' // above Number.MAX_SAFE_INTEGER
  | 'invalid-root-hash' // not canonical base64 of exactly 32 bytes
  | 'invalid-extension' // an empty extension line, or one holding '\n'
  | 'origin-mismatch'; // a verified checkpoint of another log

export class CheckpointError extends CodedError<CheckpointErrorCode> {}

export interface Checkpoint {
  origin: string;
  /** The tree size; at most Number.MAX_SAFE_INTEGER. */
  size: number;
  /** The 32-byte RFC 6962 root hash of the tree at `size`. */
  rootHash: Uint8Array;
  /** Extension lines, without their newlines; each non-empty. */
  extensions: string[];
}

const SIZE = /^(0|[1-9][0-9]*)$/;
const LONE_SURROGATE = /\p{Cs}/u;
const CONTROL_EXCEPT_NEWLINE = /[\u0000-\u0009\u000b-\u001f]/;

function checkCharacters(s: string, what: string): void {
  if (LONE_SURROGATE.test(s)) throw new CheckpointError('not-utf8', `${what} holds a lone UTF-16 surrogate`);
  if (CONTROL_EXCEPT_NEWLINE.test(s)) throw new CheckpointError('control-character', `${what} holds an ASCII control character`);
}

/** The note text: origin\nsize\nbase64root\n + extension lines. */
export function formatCheckpoint(c: Checkpoint): string {
  // tlog-checkpoint "Note text": a non-empty origin on one line.
  if (c.origin.length === 0 || c.origin.includes('\n')) {
    throw new CheckpointError('invalid-origin', 'origin must be one non-empty line');
  }
  checkCharacters(c.origin, 'origin');
  if (!Number.isSafeInteger(c.size) || c.size < 0) {
    throw new CheckpointError('invalid-size', `tree size ${c.size} is not a non-negative safe integer`);
  }
  if (c.rootHash.length !== 32) throw new CheckpointError('invalid-root-hash', `root hash is ${c.rootHash.length} bytes, not 32`);
  for (const e of c.extensions) {
    // tlog-checkpoint "Note text" 4: extension lines, if any, MUST be non-empty.
    if (e.length === 0 || e.includes('\n')) throw new CheckpointError('invalid-extension', 'each extension must be one non-empty line');
    checkCharacters(e, 'extension line');
  }
  return [c.origin, String(c.size), toBase64(c.rootHash), ...c.extensions].map((l) => `${l}\n`).join('');
}

/** Parses checkpoint note text, refusing anything formatCheckpoint would not write. */
export function parseCheckpoint(text: string): Checkpoint {
  checkCharacters(text, 'checkpoint');
  if (!text.endsWith('\n')) throw new CheckpointError('missing-final-newline', 'checkpoint text does not end in a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new CheckpointError('too-few-lines', `checkpoint has ${lines.length} lines; origin, size and root hash are required`);
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw new CheckpointError('invalid-origin', 'origin line is empty');
  // tlog-checkpoint "Note text" 2: ASCII decimal, no leading zeroes (except "0").
  if (!SIZE.test(sizeLine)) throw new CheckpointError('invalid-size', `tree size ${JSON.stringify(sizeLine)} is not a decimal without leading zeros`);
  if (BigInt(sizeLine) > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CheckpointError('size-out-of-range', `tree size ${sizeLine} exceeds ${Number.MAX_SAFE_INTEGER}`);
  }
  // tlog-checkpoint "Note text" 3: base64 (RFC 4648 §4) of the root hash.
  let rootHash: Uint8Array;
  try {
    rootHash = fromBase64(rootLine);
  } catch (e) {
    throw new CheckpointError('invalid-root-hash', `root hash: ${(e as Error).message}`);
  }
  if (rootHash.length !== 32) throw new CheckpointError('invalid-root-hash', `root hash is ${rootHash.length} bytes, not 32`);
  extensions.forEach((e, i) => {
    if (e.length === 0) throw new CheckpointError('invalid-extension', `extension line ${i + 1} is empty`);
  });
  return { origin, size: Number(sizeLine), rootHash, extensions };
}

/**
 * Parses and verifies a signed checkpoint note with the log's verifier(s);
 * checks the origin matches the expected one. Signature failures are NoteErrors
 * ('invalid-signature', 'unverified', ...); the text is parsed only once verified.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  origin: string,
  logVerifiers: readonly NoteVerifier[],
): { checkpoint: Checkpoint; note: Note; text: string; verified: VerifiedSignature[] } {
  const opened = openNote(note, logVerifiers);
  const checkpoint = parseCheckpoint(opened.note.text);
  if (checkpoint.origin !== origin) {
    throw new CheckpointError('origin-mismatch', `checkpoint origin ${JSON.stringify(checkpoint.origin)} is not ${JSON.stringify(origin)}`);
  }
  return { checkpoint, note: opened.note, text: opened.note.text, verified: opened.verified };
}
