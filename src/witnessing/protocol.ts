// C2SP tlog-witness (https://c2sp.org/tlog-witness) wire forms, shared by the
// witness (witness/) and the log's client (src/witnessing/witnessing.ts).
//
//   POST <prefix>/add-checkpoint
//     old <size>\n                 decimal, no leading zeros ("0" for zero)
//     <base64 hash>\n ...          0..63 consistency proof lines
//     \n                           an empty line
//     <signed checkpoint note>     text, blank line, signature lines
//
//   200: one or more cosignature lines "— <name> <base64>\n"
//   409: Content-Type text/x.tlog.size, body "<size>\n"
//
// Pure: strings and bytes in, values out. Every malformation has its own code
// (spec/witness.md); the witness answers all of them with 400.

import { fromBase64, toBase64 } from '../core/bytes.js';
import { CodedError } from '../core/errors.js';

/** tlog-witness "add-checkpoint": the client MUST NOT send more than 63 proof lines. */
export const MAX_PROOF_LINES = 63;

/** tlog-witness: the exact Content-Type of a 409 answer. */
export const SIZE_CONTENT_TYPE = 'text/x.tlog.size';

export type ProtocolErrorCode =
  | 'not-utf8' // the body is not UTF-8
  | 'malformed-old-size' // the first line is not "old <decimal without leading zeros>"
  | 'size-out-of-range' // a size above 2^53-1
  | 'malformed-proof-line' // a proof line that is not canonical base64 of 32 bytes
  | 'too-many-proof-lines' // more than 63 proof lines
  | 'missing-empty-line' // no empty line ends the proof lines
  | 'malformed-size-body'; // a 409 body that is not "<decimal>\n"

export class ProtocolError extends CodedError<ProtocolErrorCode> {}

export interface AddCheckpointRequest {
  oldSize: number;
  /** Consistency proof from oldSize to the checkpoint's size (RFC 9162 §2.1.4). */
  proof: Uint8Array[];
  /** The signed checkpoint note, exactly as sent. */
  note: string;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function parseSize(s: string, code: ProtocolErrorCode, what: string): number {
  if (!DECIMAL.test(s)) throw new ProtocolError(code, `${what} ${JSON.stringify(s)} is not a decimal without leading zeros`);
  if (s.length > 16 || !Number.isSafeInteger(Number(s))) throw new ProtocolError('size-out-of-range', `${what} ${s} exceeds 2^53-1`);
  return Number(s);
}

/** The request body, byte for byte as tlog-witness "add-checkpoint" gives it. */
export function formatAddCheckpointRequest(r: AddCheckpointRequest): string {
  if (!Number.isSafeInteger(r.oldSize) || r.oldSize < 0) throw new ProtocolError('malformed-old-size', `old size ${r.oldSize} is not a non-negative integer`);
  if (r.proof.length > MAX_PROOF_LINES) throw new ProtocolError('too-many-proof-lines', `${r.proof.length} proof lines; at most ${MAX_PROOF_LINES}`);
  for (const h of r.proof) if (h.length !== 32) throw new ProtocolError('malformed-proof-line', `a proof hash is ${h.length} bytes, not 32`);
  return `old ${r.oldSize}\n${r.proof.map((h) => `${toBase64(h)}\n`).join('')}\n${r.note}`;
}

/**
 * Parses a request body. The note after the empty line is returned as is; its
 * own structure and signatures are the caller's to check.
 */
export function parseAddCheckpointRequest(body: string | Uint8Array): AddCheckpointRequest {
  let s: string;
  if (typeof body === 'string') s = body;
  else {
    try {
      s = strictUtf8.decode(body);
    } catch {
      throw new ProtocolError('not-utf8', 'request body is not UTF-8');
    }
  }
  // "Each line MUST terminate in a newline character (U+000A)."
  let at = s.indexOf('\n');
  if (at < 0) throw new ProtocolError('malformed-old-size', 'the body has no complete old size line');
  const first = s.slice(0, at);
  if (!first.startsWith('old ')) throw new ProtocolError('malformed-old-size', 'the first line is not "old <size>"');
  const oldSize = parseSize(first.slice(4), 'malformed-old-size', 'old size');
  const proof: Uint8Array[] = [];
  for (;;) {
    const start = at + 1;
    const end = s.indexOf('\n', start);
    if (end < 0) throw new ProtocolError('missing-empty-line', 'no empty line separates the proof lines from the checkpoint');
    at = end;
    const line = s.slice(start, end);
    if (line === '') break;
    if (proof.length === MAX_PROOF_LINES) throw new ProtocolError('too-many-proof-lines', `more than ${MAX_PROOF_LINES} proof lines`);
    let h: Uint8Array;
    try {
      h = fromBase64(line);
    } catch (e) {
      throw new ProtocolError('malformed-proof-line', `proof line ${proof.length + 1}: ${(e as Error).message}`);
    }
    if (h.length !== 32) throw new ProtocolError('malformed-proof-line', `proof line ${proof.length + 1} holds ${h.length} bytes, not 32`);
    proof.push(h);
  }
  return { oldSize, proof, note: s.slice(at + 1) };
}

/** A 409 body: the size in decimal and a newline. */
export function formatSizeBody(size: number): string {
  return `${size}\n`;
}

export function parseSizeBody(body: string): number {
  if (!body.endsWith('\n')) throw new ProtocolError('malformed-size-body', 'a size body must end in a newline');
  return parseSize(body.slice(0, -1), 'malformed-size-body', 'size');
}
