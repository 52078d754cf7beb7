// C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature), the Ed25519
// "cosignature/v1" type (key type byte 0x04): a witness's timestamped
// signature over a checkpoint, carried as a signed-note signature line.
//
//   key ID    = SHA-256(<name> || "\n" || 0x04 || 32-byte public key)[:4]
//   signature = u64 big-endian timestamp || Ed25519 signature (72 bytes)
//   message   = "cosignature/v1\ntime <timestamp>\n" || checkpoint note text
//
// Witness private keys are stored as signer keys of type 0x04:
//   PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || 32-byte seed)>
// (the form transparency-dev/formats' NewSignerForCosignatureV1 also reads).
// Key parsing errors are NoteErrors, as for every vkey and skey.

import { concat, equal, toHex, utf8 } from './bytes.js';
import { parseCheckpoint } from './checkpoint.js';
import { ed25519PublicKey, ed25519Sign, ed25519Verify, randomBytes } from './crypto.js';
import {
  decodeVerifierKey,
  formatEd25519SignerKey,
  formatVerifierKey,
  keyId,
  KEY_TYPE_ED25519,
  NoteError,
  openNote,
  parseEd25519SignerKey,
  parseEd25519VerifierKey,
  parseVerifierKey,
  type Ed25519Verifier,
  type Note,
  type NoteSignature,
} from './note.js';
import { CodedError } from './errors.js';

/** signed-note "Signature types": timestamped Ed25519 witness cosignatures. */
export const KEY_TYPE_COSIGNATURE_V1 = 0x04;

export type CosignatureErrorCode =
  | 'invalid-timestamp' // not an integer in 0..Number.MAX_SAFE_INTEGER (when signing)
  | 'timestamp-out-of-range' // above 2^63-1 (spec) or Number.MAX_SAFE_INTEGER (ours)
  | 'invalid-checkpoint' // the cosigned text is not a checkpoint
  | 'bad-signature-length' // not 8 + 64 bytes
  | 'key-mismatch' // the signature's name or key ID is not the verifier's
  | 'invalid-seed' // an Ed25519 seed that is not 32 bytes
  | 'invalid-signature'; // the Ed25519 signature does not verify

export class CosignatureError extends CodedError<CosignatureErrorCode> {}

export interface CosignatureVerifier extends Ed25519Verifier {
  readonly keyType: typeof KEY_TYPE_COSIGNATURE_V1;
}

/** A witness key: signs cosignature/v1 lines. */
export interface Cosigner {
  readonly name: string;
  readonly keyId: Uint8Array;
  readonly publicKey: Uint8Array;
  /** The type 0x04 vkey to give to log clients. */
  readonly vkey: string;
  cosign(checkpointText: string, timestamp: number): NoteSignature;
}

const TIMESTAMPED_SIGNATURE_LENGTH = 8 + 64;
// Keeps a leading U+FEFF: the verified text must be the signed bytes exactly.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const MAX_U63 = (1n << 63n) - 1n;

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new CosignatureError('invalid-timestamp', `timestamp ${timestamp} is not an integer in 0..${Number.MAX_SAFE_INTEGER}`);
  }
}

/**
 * tlog-cosignature "Ed25519 signed message": "cosignature/v1\n", "time <t>\n"
 * (ASCII decimal, no leading zeros), then the whole checkpoint note text.
 */
export function cosignatureMessage(checkpointText: string, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  try {
    parseCheckpoint(checkpointText);
  } catch (e) {
    throw new CosignatureError('invalid-checkpoint', `cosigned text is not a checkpoint: ${(e as Error).message}`);
  }
  return utf8(`cosignature/v1\ntime ${timestamp}\n${checkpointText}`);
}

/** signature = 8-byte big-endian timestamp || Ed25519 signature of cosignatureMessage. */
export function cosign(checkpointText: string, name: string, seed: Uint8Array, timestamp: number): NoteSignature {
  if (seed.length !== 32) throw new CosignatureError('invalid-seed', `Ed25519 seed is ${seed.length} bytes, not 32`);
  const msg = cosignatureMessage(checkpointText, timestamp);
  const ts = new Uint8Array(8);
  new DataView(ts.buffer).setBigUint64(0, BigInt(timestamp));
  return {
    name,
    keyId: keyId(name, KEY_TYPE_COSIGNATURE_V1, ed25519PublicKey(seed)),
    signature: concat(ts, ed25519Sign(seed, msg)),
  };
}

/**
 * The timestamp of a cosignature/v1 signature, read without verifying it.
 * tlog-cosignature "Format": it MUST NOT exceed 2^63-1; we also refuse values
 * above Number.MAX_SAFE_INTEGER (2^53-1, some 285 million years from now).
 */
export function cosignatureTimestamp(sig: NoteSignature): number {
  if (sig.signature.length !== TIMESTAMPED_SIGNATURE_LENGTH) {
    throw new CosignatureError('bad-signature-length', `cosignature of ${sig.name} is ${sig.signature.length} bytes, not ${TIMESTAMPED_SIGNATURE_LENGTH}`);
  }
  const t = new DataView(sig.signature.buffer, sig.signature.byteOffset, 8).getBigUint64(0);
  if (t > BigInt(Number.MAX_SAFE_INTEGER)) {
    const limit = t > MAX_U63 ? "2^63-1, the spec's limit" : '2^53-1, the largest time read exactly here';
    throw new CosignatureError('timestamp-out-of-range', `cosignature timestamp ${t} of ${sig.name} exceeds ${limit}`);
  }
  return Number(t);
}

/** Verifies one cosignature line over checkpoint text; throws CosignatureError. */
export function verifyCosignature(checkpointText: string, sig: NoteSignature, v: CosignatureVerifier): { timestamp: number } {
  if (sig.name !== v.name || !equal(sig.keyId, v.keyId)) {
    throw new CosignatureError('key-mismatch', `signature ${sig.name}+${toHex(sig.keyId)} is not from key ${v.name}+${toHex(v.keyId)}`);
  }
  const timestamp = cosignatureTimestamp(sig);
  const msg = cosignatureMessage(checkpointText, timestamp);
  if (!ed25519Verify(v.publicKey, msg, sig.signature.subarray(8))) {
    throw new CosignatureError('invalid-signature', `invalid cosignature from ${v.name}+${toHex(v.keyId)}`);
  }
  return { timestamp };
}

function cosignatureVerifier(name: string, id: Uint8Array, publicKey: Uint8Array): CosignatureVerifier {
  const v: CosignatureVerifier = {
    name,
    keyId: id,
    keyType: KEY_TYPE_COSIGNATURE_V1,
    publicKey,
    vkey: formatVerifierKey(name, KEY_TYPE_COSIGNATURE_V1, publicKey),
    // As a NoteVerifier inside openNote: any failure is a plain "does not verify".
    verify: (text, signature) => {
      try {
        verifyCosignature(strictUtf8.decode(text), { name, keyId: id, signature }, v);
        return true;
      } catch {
        return false;
      }
    },
  };
  return v;
}

/** Parses a type 0x04 vkey. */
export function parseCosignatureVerifierKey(vkey: string): CosignatureVerifier {
  const k = parseEd25519VerifierKey(vkey, KEY_TYPE_COSIGNATURE_V1);
  return cosignatureVerifier(k.name, k.keyId, k.publicKey);
}

export function formatCosignatureVerifierKey(name: string, publicKey: Uint8Array): string {
  if (publicKey.length !== 32) throw new NoteError('invalid-vkey', `Ed25519 public key is ${publicKey.length} bytes, not 32`);
  return formatVerifierKey(name, KEY_TYPE_COSIGNATURE_V1, publicKey);
}

/** Parses a vkey of either type this ledger uses: 0x01 (log) or 0x04 (witness). */
export function parseAnyVerifierKey(vkey: string): Ed25519Verifier {
  const t = decodeVerifierKey(vkey).keyType;
  if (t === KEY_TYPE_ED25519) return parseVerifierKey(vkey);
  if (t === KEY_TYPE_COSIGNATURE_V1) return parseCosignatureVerifierKey(vkey);
  throw new NoteError('unsupported-key-type', `verifier key type 0x${t.toString(16).padStart(2, '0')} is neither 0x01 nor 0x04`);
}

/** A cosigner for a 32-byte Ed25519 seed. */
export function cosignerFromSeed(name: string, seed: Uint8Array): Cosigner {
  if (seed.length !== 32) throw new CosignatureError('invalid-seed', `Ed25519 seed is ${seed.length} bytes, not 32`);
  const own = seed.slice();
  const publicKey = ed25519PublicKey(own);
  return {
    name,
    keyId: keyId(name, KEY_TYPE_COSIGNATURE_V1, publicKey),
    publicKey,
    vkey: formatCosignatureVerifierKey(name, publicKey),
    cosign: (checkpointText, timestamp) => cosign(checkpointText, name, own, timestamp),
  };
}

/** "PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || seed)>". */
export function formatCosignerKey(name: string, seed: Uint8Array): string {
  return formatEd25519SignerKey(name, KEY_TYPE_COSIGNATURE_V1, seed);
}

/** Parses a type 0x04 signer key (a 0x01 key is refused: 'unsupported-key-type'). */
export function parseCosignerKey(skey: string): Cosigner & { seed: Uint8Array } {
  const k = parseEd25519SignerKey(skey, KEY_TYPE_COSIGNATURE_V1);
  return { ...cosignerFromSeed(k.name, k.seed), seed: k.seed };
}

/** A new random witness key pair: the skey to store (0600) and the vkey to publish. */
export function generateCosignerKey(name: string): { skey: string; vkey: string } {
  const seed = randomBytes(32);
  return { skey: formatCosignerKey(name, seed), vkey: cosignerFromSeed(name, seed).vkey };
}

export interface VerifiedKey {
  name: string;
  keyId: Uint8Array;
  /** 0x01 for a log signature, 0x04 for a witness cosignature. */
  keyType: number;
  /** For a cosignature: the POSIX time the witness signed at. */
  timestamp?: number;
  verifier: Ed25519Verifier;
}

/**
 * Opens a note with log keys (0x01) and witness keys (0x04) together and says
 * which verified. The rules are openNote's: unknown lines are ignored, a known
 * key's bad line rejects the note ('invalid-signature'), and at least one must
 * verify ('unverified'). Each key is listed once. Future timestamps are not
 * judged here (the core has no clock); policy code may.
 */
export function openCosignedNote(
  note: string | Uint8Array,
  verifiers: readonly Ed25519Verifier[],
): { note: Note; verified: VerifiedKey[] } {
  const opened = openNote(note, verifiers);
  const verified = opened.verified.map(({ signature, verifier }) => {
    const v = verifier as Ed25519Verifier;
    const k: VerifiedKey = { name: v.name, keyId: v.keyId, keyType: v.keyType, verifier: v };
    if (v.keyType === KEY_TYPE_COSIGNATURE_V1) k.timestamp = cosignatureTimestamp(signature);
    return k;
  });
  return { note: opened.note, verified };
}
