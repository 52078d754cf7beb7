// C2SP signed-note (https://c2sp.org/signed-note): parsing, formatting,
// signing and verification of notes, and the text forms of Ed25519 keys
// (verifier keys "vkeys" and Go-style signer keys "skeys").
//
// A note is a text ending in '\n', a blank line, and one or more signature
// lines "— <key name> base64(4-byte key ID || signature)\n". Every function
// here is strict: a malformed note, key or signature is refused with a
// NoteError whose `code` says exactly what was wrong (see spec/signed-note.md).
//
// Signature types other than 0x01 (Ed25519 over the note text) plug in as
// NoteVerifier objects; cosignature/v1 (type 0x04) lives in cosignature.ts,
// which builds on the Ed25519 key helpers exported here.

import { concat, equal, fromBase64, toBase64, toHex, utf8 } from './bytes.js';
import { ed25519KeyProblem, ed25519PublicKey, ed25519Sign, ed25519Verify, randomBytes, sha256 } from './crypto.js';
import { CodedError } from './errors.js';

export type NoteErrorCode =
  | 'not-utf8' // bytes are not UTF-8, or a string holds a lone surrogate
  | 'control-character' // a character below U+0020 other than '\n'
  | 'missing-final-newline' // the note (or a text to sign) does not end in '\n'
  | 'missing-blank-line' // no blank line separates text and signatures
  | 'no-signatures' // nothing after the blank line, or nothing to sign with
  | 'too-many-signatures' // more than MAX_SIGNATURES signature lines
  | 'malformed-signature-line' // not "— <name> <base64>"
  | 'invalid-key-name' // empty, or holds a Unicode space or '+'
  | 'invalid-base64' // a signature that is not canonical standard base64
  | 'signature-too-short' // fewer than 4 key-ID bytes plus 1 signature byte
  | 'bad-key-id' // a key ID that is not 4 bytes, or does not match its key
  | 'invalid-vkey' // a verifier key that is not "<name>+<hex8>+<base64>"
  | 'invalid-skey' // a signer key that is not "PRIVATE+KEY+<name>+<hex8>+<base64>"
  | 'unsupported-key-type' // a key whose type byte this function does not handle
  | 'invalid-public-key' // not a canonical Ed25519 point, or one of small order
  | 'invalid-seed' // an Ed25519 private seed that is not 32 bytes
  | 'ambiguous-verifier' // two verifiers share the name and key ID of a signature
  | 'invalid-signature' // a signature from a known key does not verify
  | 'unverified'; // no signature from a known key

export class NoteError extends CodedError<NoteErrorCode> {}

export interface NoteSignature {
  name: string;
  /** The 4-byte key ID (big-endian uint32 on the wire). */
  keyId: Uint8Array;
  /** The signature bytes after the key ID. */
  signature: Uint8Array;
}

export interface Note {
  /** The signed text, ending in '\n' (without the separating blank line). */
  text: string;
  signatures: NoteSignature[];
}

/** A verifier for one key. type 0x01 = Ed25519 signature over the note text. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: Uint8Array;
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

export interface NoteSigner {
  readonly name: string;
  readonly keyId: Uint8Array;
  sign(text: Uint8Array): Uint8Array;
}

/** A verifier built from an Ed25519-based vkey (type 0x01 here, 0x04 in cosignature.ts). */
export interface Ed25519Verifier extends NoteVerifier {
  readonly keyType: number;
  readonly publicKey: Uint8Array;
  /** The canonical vkey text (lowercase hex key ID). */
  readonly vkey: string;
}

export interface Ed25519Signer extends NoteSigner {
  readonly publicKey: Uint8Array;
  /** The vkey of the matching verifier. */
  readonly vkey: string;
}

/** signed-note "Signature types": Ed25519 signatures over the note text. */
export const KEY_TYPE_ED25519 = 0x01;

/**
 * The most signature lines a note may carry. signed-note "Format": verifiers
 * SHOULD cap the count and MUST accept at least 16; 100 is Go's sumdb/note cap.
 */
export const MAX_SIGNATURES = 100;

const SIG_PREFIX = '\u2014 '; // em dash, space
const PRIVATE_KEY_PREFIX = 'PRIVATE+KEY+';

// TextDecoder strips a leading U+FEFF unless told not to; a note's bytes must
// reach the verifier unchanged, so the BOM is kept as part of the text.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /\p{Cs}/u;
const CONTROL_EXCEPT_NEWLINE = /[\u0000-\u0009\u000b-\u001f]/;
const SPACE_OR_PLUS = /[\p{White_Space}+]/u;
const HEX8 = /^[0-9a-fA-F]{8}$/;

/** signed-note "Format": key names are non-empty, with no Unicode space and no '+'. */
export function isValidKeyName(name: string): boolean {
  return (
    name.length > 0 &&
    !SPACE_OR_PLUS.test(name) &&
    !LONE_SURROGATE.test(name) &&
    !CONTROL_EXCEPT_NEWLINE.test(name)
  );
}

function checkKeyName(name: string): void {
  if (!isValidKeyName(name)) {
    throw new NoteError('invalid-key-name', `key name ${JSON.stringify(name)} is empty or holds a space, '+' or control character`);
  }
}

function decodeNote(note: string | Uint8Array): string {
  if (typeof note === 'string') return note;
  try {
    return strictUtf8.decode(note);
  } catch {
    throw new NoteError('not-utf8', 'note is not valid UTF-8');
  }
}

/** signed-note "Format": valid UTF-8, no ASCII control character but newline. */
function checkCharacters(s: string, what: string): void {
  if (LONE_SURROGATE.test(s)) throw new NoteError('not-utf8', `${what} holds a lone UTF-16 surrogate (not encodable as UTF-8)`);
  const m = CONTROL_EXCEPT_NEWLINE.exec(s);
  if (m) {
    const cp = m[0].charCodeAt(0).toString(16).padStart(4, '0');
    throw new NoteError('control-character', `${what} holds control character U+${cp.toUpperCase()} at offset ${m.index}`);
  }
}

function checkText(text: string): void {
  checkCharacters(text, 'note text');
  if (!text.endsWith('\n')) throw new NoteError('missing-final-newline', 'note text must end in a newline');
}

function parseSignatureLine(line: string, n: number): NoteSignature {
  if (!line.startsWith(SIG_PREFIX)) {
    throw new NoteError('malformed-signature-line', `signature line ${n} does not start with an em dash (U+2014) and a space`);
  }
  const rest = line.slice(SIG_PREFIX.length);
  const sp = rest.indexOf(' ');
  if (sp < 0) throw new NoteError('malformed-signature-line', `signature line ${n} has no space between key name and signature`);
  const name = rest.slice(0, sp);
  checkKeyName(name);
  let raw: Uint8Array;
  try {
    raw = fromBase64(rest.slice(sp + 1));
  } catch (e) {
    throw new NoteError('invalid-base64', `signature line ${n} (${name}): ${(e as Error).message}`);
  }
  // signed-note "Format": base64 of 4+n bytes, the key ID then the signature.
  if (raw.length < 5) {
    throw new NoteError('signature-too-short', `signature line ${n} (${name}) holds ${raw.length} bytes; a key ID and a signature need at least 5`);
  }
  return { name, keyId: raw.slice(0, 4), signature: raw.slice(4) };
}

/** Structural parse of a signed note; every malformation is refused. Nothing is verified. */
export function parseNote(note: string | Uint8Array): Note {
  const s = decodeNote(note);
  checkCharacters(s, 'note');
  if (!s.endsWith('\n')) throw new NoteError('missing-final-newline', 'note does not end in a newline');
  // signed-note "Format": the text is separated from the signatures by the last empty line.
  const split = s.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('missing-blank-line', 'note has no blank line before its signatures');
  const text = s.slice(0, split + 1);
  const block = s.slice(split + 2);
  if (block.length === 0) throw new NoteError('no-signatures', 'note has no signature lines');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) {
    throw new NoteError('too-many-signatures', `note has ${lines.length} signature lines; at most ${MAX_SIGNATURES} are accepted`);
  }
  return { text, signatures: lines.map((l, i) => parseSignatureLine(l, i + 1)) };
}

/** "— <name> base64(keyId || signature)\n". */
export function formatSignatureLine(s: NoteSignature): string {
  checkKeyName(s.name);
  if (s.keyId.length !== 4) throw new NoteError('bad-key-id', `key ID of ${s.name} is ${s.keyId.length} bytes, not 4`);
  if (s.signature.length === 0) throw new NoteError('signature-too-short', `signature of ${s.name} is empty`);
  return `${SIG_PREFIX}${s.name} ${toBase64(concat(s.keyId, s.signature))}\n`;
}

/** The exact inverse of parseNote. */
export function formatNote(note: Note): string {
  checkText(note.text);
  if (note.signatures.length === 0) throw new NoteError('no-signatures', 'a note needs at least one signature');
  if (note.signatures.length > MAX_SIGNATURES) {
    throw new NoteError('too-many-signatures', `${note.signatures.length} signatures; at most ${MAX_SIGNATURES} are accepted`);
  }
  return `${note.text}\n${note.signatures.map(formatSignatureLine).join('')}`;
}

/** signed-note "Signatures": key ID = SHA-256(key name || 0x0A || signature type || public key)[:4]. */
export function keyId(name: string, keyType: number, publicKey: Uint8Array): Uint8Array {
  checkKeyName(name);
  if (!Number.isInteger(keyType) || keyType < 0 || keyType > 255) {
    throw new NoteError('unsupported-key-type', `key type ${keyType} is not a byte`);
  }
  return sha256(concat(utf8(name), Uint8Array.of(0x0a, keyType), publicKey)).slice(0, 4);
}

/** "<name>+<hex8 key ID>+<base64(type || public key)>", the vkey form Go's sumdb/note defined. */
export function formatVerifierKey(name: string, keyType: number, publicKey: Uint8Array): string {
  const id = keyId(name, keyType, publicKey);
  if (publicKey.length === 0) throw new NoteError('invalid-vkey', 'public key is empty');
  return `${name}+${toHex(id)}+${toBase64(concat(Uint8Array.of(keyType), publicKey))}`;
}

/** The fields of a vkey, checked for form only (the key ID is not checked against the key). */
export interface DecodedKey {
  name: string;
  /** The key ID as written (4 bytes). */
  keyId: Uint8Array;
  keyType: number;
  /** The bytes after the type byte: a public key (vkey) or private key (skey). */
  key: Uint8Array;
}

function decodeKeyFields(s: string, code: 'invalid-vkey' | 'invalid-skey', what: string): DecodedKey {
  // The name holds no '+', the key ID is 8 hex digits; the base64 may hold '+'.
  const i = s.indexOf('+');
  const j = i < 0 ? -1 : s.indexOf('+', i + 1);
  if (j < 0) throw new NoteError(code, `${what} is not of the form <name>+<hex key ID>+<base64 key>`);
  const name = s.slice(0, i);
  checkKeyName(name);
  const hex = s.slice(i + 1, j);
  if (!HEX8.test(hex)) throw new NoteError(code, `${what} for ${name}: key ID is not 8 hex digits`);
  let raw: Uint8Array;
  try {
    raw = fromBase64(s.slice(j + 1));
  } catch (e) {
    throw new NoteError(code, `${what} for ${name}: ${(e as Error).message}`);
  }
  if (raw.length < 2) throw new NoteError(code, `${what} for ${name}: key material is shorter than a type byte and a key`);
  const keyId = new Uint8Array(4);
  for (let k = 0; k < 4; k++) keyId[k] = parseInt(hex.slice(2 * k, 2 * k + 2), 16);
  return { name, keyId, keyType: raw[0]!, key: raw.slice(1) };
}

/** Splits a vkey into its fields (any type byte), checking form only. */
export function decodeVerifierKey(vkey: string): DecodedKey {
  return decodeKeyFields(vkey, 'invalid-vkey', 'verifier key');
}

/** Splits a "PRIVATE+KEY+..." signer key into its fields (any type byte), checking form only. */
export function decodeSignerKey(skey: string): DecodedKey {
  if (!skey.startsWith(PRIVATE_KEY_PREFIX)) throw new NoteError('invalid-skey', 'signer key does not start with PRIVATE+KEY+');
  return decodeKeyFields(skey.slice(PRIVATE_KEY_PREFIX.length), 'invalid-skey', 'signer key');
}

/**
 * Refuses an Ed25519 public key that is not the canonical encoding of a curve
 * point, or is a point of small order (under which signatures can be made
 * without a private key). Go's note package accepts any 32 bytes; we refuse
 * these at configuration time so both crypto providers behave alike.
 */
function checkEd25519PublicKey(name: string, publicKey: Uint8Array): void {
  if (publicKey.length !== 32) throw new NoteError('invalid-vkey', `Ed25519 public key of ${name} is ${publicKey.length} bytes, not 32`);
  const problem = ed25519KeyProblem(publicKey);
  if (problem === 'not-a-point') throw new NoteError('invalid-public-key', `public key of ${name} is not a canonically encoded Ed25519 point`);
  if (problem === 'small-order') throw new NoteError('invalid-public-key', `public key of ${name} is an Ed25519 point of small order`);
}

/**
 * Parses a vkey of the given Ed25519-based type: checks the type byte, the
 * 32-byte key, the point and that the key ID is the one signed-note recommends
 * (tlog-cosignature requires it for 0x04).
 */
export function parseEd25519VerifierKey(vkey: string, keyType: number): { name: string; keyId: Uint8Array; publicKey: Uint8Array } {
  const d = decodeVerifierKey(vkey);
  if (d.keyType !== keyType) {
    throw new NoteError('unsupported-key-type', `verifier key for ${d.name} has type 0x${hexByte(d.keyType)}; expected 0x${hexByte(keyType)}`);
  }
  checkEd25519PublicKey(d.name, d.key);
  if (!equal(d.keyId, keyId(d.name, keyType, d.key))) {
    throw new NoteError('bad-key-id', `verifier key for ${d.name}: key ID ${toHex(d.keyId)} does not match the key`);
  }
  return { name: d.name, keyId: d.keyId, publicKey: d.key };
}

/**
 * Parses a signer key of the given Ed25519-based type: 32-byte seed, key ID of
 * the derived public key. Error messages never quote the key.
 */
export function parseEd25519SignerKey(skey: string, keyType: number): { name: string; keyId: Uint8Array; seed: Uint8Array; publicKey: Uint8Array } {
  const d = decodeSignerKey(skey);
  if (d.keyType !== keyType) {
    throw new NoteError('unsupported-key-type', `signer key for ${d.name} has type 0x${hexByte(d.keyType)}; expected 0x${hexByte(keyType)}`);
  }
  if (d.key.length !== 32) throw new NoteError('invalid-skey', `signer key for ${d.name}: Ed25519 seed is ${d.key.length} bytes, not 32`);
  const publicKey = ed25519PublicKey(d.key);
  if (!equal(d.keyId, keyId(d.name, keyType, publicKey))) {
    throw new NoteError('bad-key-id', `signer key for ${d.name}: key ID ${toHex(d.keyId)} does not match the key`);
  }
  return { name: d.name, keyId: d.keyId, seed: d.key, publicKey };
}

/** "PRIVATE+KEY+<name>+<hex8 key ID>+<base64(type || seed)>", the key ID being that of the public key. */
export function formatEd25519SignerKey(name: string, keyType: number, seed: Uint8Array): string {
  checkSeed(seed);
  const id = keyId(name, keyType, ed25519PublicKey(seed));
  return `${PRIVATE_KEY_PREFIX}${name}+${toHex(id)}+${toBase64(concat(Uint8Array.of(keyType), seed))}`;
}

function checkSeed(seed: Uint8Array): void {
  if (seed.length !== 32) throw new NoteError('invalid-seed', `Ed25519 seed is ${seed.length} bytes, not 32`);
}

function hexByte(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** A type 0x01 verifier: Ed25519 over the note text (signed-note "Ed25519 signatures"). */
function ed25519NoteVerifier(name: string, id: Uint8Array, publicKey: Uint8Array): Ed25519Verifier {
  return {
    name,
    keyId: id,
    keyType: KEY_TYPE_ED25519,
    publicKey,
    vkey: formatVerifierKey(name, KEY_TYPE_ED25519, publicKey),
    verify: (text, signature) => ed25519Verify(publicKey, text, signature),
  };
}

/** Parses a type 0x01 vkey; see parseAnyVerifierKey (cosignature.ts) for either type. */
export function parseVerifierKey(vkey: string): Ed25519Verifier {
  const k = parseEd25519VerifierKey(vkey, KEY_TYPE_ED25519);
  return ed25519NoteVerifier(k.name, k.keyId, k.publicKey);
}

/** A type 0x01 signer for a 32-byte Ed25519 seed. */
export function ed25519Signer(name: string, seed: Uint8Array): Ed25519Signer {
  checkSeed(seed);
  const own = seed.slice();
  const publicKey = ed25519PublicKey(own);
  return {
    name,
    keyId: keyId(name, KEY_TYPE_ED25519, publicKey),
    publicKey,
    vkey: formatVerifierKey(name, KEY_TYPE_ED25519, publicKey),
    sign: (text) => ed25519Sign(own, text),
  };
}

/** "PRIVATE+KEY+<name>+<hex keyid>+<base64(0x01||seed)>", as Go's note.GenerateKey writes. */
export function formatSignerKey(name: string, seed: Uint8Array): string {
  return formatEd25519SignerKey(name, KEY_TYPE_ED25519, seed);
}

export function parseSignerKey(skey: string): Ed25519Signer & { seed: Uint8Array } {
  const k = parseEd25519SignerKey(skey, KEY_TYPE_ED25519);
  return { ...ed25519Signer(k.name, k.seed), seed: k.seed };
}

/** A new random type 0x01 key pair. */
export function generateSignerKey(name: string): { skey: string; vkey: string } {
  const seed = randomBytes(32);
  return { skey: formatSignerKey(name, seed), vkey: ed25519Signer(name, seed).vkey };
}

/** Signs text (must end in '\n') with each signer; returns the full note. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkText(text);
  if (signers.length === 0) throw new NoteError('no-signatures', 'signNote needs at least one signer');
  const bytes = utf8(text);
  const signatures = signers.map((s) => ({ name: s.name, keyId: s.keyId, signature: s.sign(bytes) }));
  return formatNote({ text, signatures });
}

/**
 * Adds signature lines to an existing note (used to append cosignatures).
 * A line identical to one already present is not added twice. Nothing is verified.
 */
export function addSignatures(note: string, sigs: readonly NoteSignature[]): string {
  const n = parseNote(note);
  const lines = new Set(n.signatures.map(formatSignatureLine));
  for (const s of sigs) {
    const line = formatSignatureLine(s);
    if (lines.has(line)) continue;
    lines.add(line);
    n.signatures.push({ name: s.name, keyId: s.keyId.slice(), signature: s.signature.slice() });
  }
  return formatNote(n);
}

export interface VerifiedSignature {
  signature: NoteSignature;
  verifier: NoteVerifier;
}

/**
 * Verifies: every signature line whose (name, keyId) matches a known verifier
 * must verify (else NoteError 'invalid-signature'); unknown ones are ignored; at
 * least one known verified signature is required (else 'unverified').
 * `verified` lists each verifier once, with its first line.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): { note: Note; verified: VerifiedSignature[] } {
  const n = parseNote(note);
  const text = utf8(n.text);
  const verified: VerifiedSignature[] = [];
  for (const sig of n.signatures) {
    // signed-note "Signatures": the (name, key ID) pair identifies the key;
    // a match on only one of the two is an unknown key, ignored.
    const matches = new Set(verifiers.filter((v) => v.name === sig.name && equal(v.keyId, sig.keyId)));
    if (matches.size === 0) continue;
    const label = `${sig.name}+${toHex(sig.keyId)}`;
    if (matches.size > 1) throw new NoteError('ambiguous-verifier', `more than one verifier is configured for key ${label}`);
    const [v] = [...matches] as [NoteVerifier];
    // A known key's failing signature rejects the whole note (we take the SHOULD).
    if (!v.verify(text, sig.signature)) throw new NoteError('invalid-signature', `invalid signature for key ${label}`);
    if (!verified.some((e) => e.verifier === v)) verified.push({ signature: sig, verifier: v });
  }
  if (verified.length === 0) throw new NoteError('unverified', 'note has no signature from a known key');
  return { note: n, verified };
}
