// The witness: C2SP tlog-witness "add-checkpoint" decided exactly as the spec
// says (spec/witness.md gives the version and the order of the checks).
//
// For each origin it keeps the latest checkpoint it cosigned. A new checkpoint
// is cosigned only if a trusted log key signed it and it is provably
// consistent with that state; the check, the cosignature and the new state are
// one SQLite transaction, so two requests can never both advance from the same
// old size, and the state is on disk before the answer leaves.

import { equal, toBase64, toHex, utf8 } from '../src/core/bytes.js';
import { CheckpointError, parseCheckpoint, type Checkpoint } from '../src/core/checkpoint.js';
import type { Cosigner } from '../src/core/cosignature.js';
import { sha256 } from '../src/core/crypto.js';
import { emptyRoot, ProofError, verifyConsistency } from '../src/core/merkle.js';
import { formatNote, formatSignatureLine, NoteError, openNote, parseNote, type NoteSignature, type NoteVerifier } from '../src/core/note.js';
import { parseAddCheckpointRequest, ProtocolError, type AddCheckpointRequest } from '../src/witnessing/protocol.js';
import type { CosignedState, ForkReason, WitnessStore } from './store.js';

export type WitnessErrorCode =
  // 400: the request is malformed (protocol.ts and note/checkpoint codes pass through as they are)
  | 'old-size-too-large' // old size above the checkpoint size
  // 403
  | 'invalid-signature' // a trusted key's signature line does not verify
  | 'no-trusted-signature' // no signature from a trusted key of the origin
  // 404
  | 'unknown-origin'
  // 409
  | 'old-size-mismatch' // old is not the size last cosigned (body: that size)
  // 422
  | 'bad-empty-root' // a size-0 checkpoint whose root is not SHA-256("")
  | 'proof-from-zero' // a non-empty proof from old size 0
  | 'proof-not-empty' // a non-empty proof between two trees of the same size
  | 'root-mismatch' // same size as cosigned, another root (a fork: kept as evidence)
  | 'inconsistent-proof'; // the consistency proof does not verify (kept as evidence)

export class WitnessError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 422,
    readonly code: WitnessErrorCode | ProtocolError['code'] | NoteError['code'] | CheckpointError['code'],
    message: string,
    /** For 409: the size of the latest cosigned checkpoint. */
    readonly size?: number,
  ) {
    super(message);
    this.name = 'WitnessError';
  }
}

export interface LogKeySource {
  /** The trusted verifiers of an origin, or undefined if the origin is unknown. */
  verifiers(origin: string): readonly NoteVerifier[] | undefined;
}

export interface Cosigned {
  origin: string;
  size: number;
  /** The 200 body: the cosignature line(s). */
  body: string;
}

export function originHash(origin: string): string {
  return toHex(sha256(utf8(origin)));
}

export class Witness {
  constructor(
    private readonly store: WitnessStore,
    private readonly cosigner: Cosigner,
    private readonly logs: LogKeySource,
    private readonly now: () => number = Date.now,
  ) {}

  get vkey(): string {
    return this.cosigner.vkey;
  }

  /** Decides one add-checkpoint request body; throws WitnessError with the HTTP status to answer. */
  addCheckpoint(body: string | Uint8Array): Cosigned {
    let req: AddCheckpointRequest;
    try {
      req = parseAddCheckpointRequest(body);
    } catch (e) {
      if (e instanceof ProtocolError) throw new WitnessError(400, e.code, e.message);
      throw e;
    }
    let text: string;
    try {
      text = parseNote(req.note).text;
    } catch (e) {
      if (e instanceof NoteError) throw new WitnessError(400, e.code, `checkpoint note: ${e.message}`);
      throw e;
    }
    const origin = text.slice(0, text.indexOf('\n'));

    // "If the checkpoint origin is unknown, the witness MUST respond with a 404."
    const verifiers = this.logs.verifiers(origin);
    if (!verifiers) throw new WitnessError(404, 'unknown-origin', `origin ${JSON.stringify(origin)} is not a log this witness follows`);

    // "The witness MUST verify the checkpoint signature against the public key(s) it
    // trusts for the checkpoint origin, and it MUST ignore signatures from unknown keys.
    // If none of the signatures verify against a trusted public key ... 403."
    // A trusted key's line that fails refuses the note too (signed-note "Signatures").
    let logSignatures: NoteSignature[];
    try {
      logSignatures = openNote(req.note, verifiers).verified.map((v) => v.signature);
    } catch (e) {
      if (e instanceof NoteError && e.code === 'invalid-signature') throw new WitnessError(403, 'invalid-signature', e.message);
      if (e instanceof NoteError && e.code === 'unverified') {
        throw new WitnessError(403, 'no-trusted-signature', `no signature from a trusted key of ${origin}`);
      }
      throw e;
    }
    let cp: Checkpoint;
    try {
      cp = parseCheckpoint(text);
    } catch (e) {
      if (e instanceof CheckpointError) throw new WitnessError(400, e.code, `checkpoint: ${e.message}`);
      throw e;
    }

    // "The old size MUST be equal to or lower than the checkpoint size. Otherwise ... 400."
    if (req.oldSize > cp.size) throw new WitnessError(400, 'old-size-too-large', `old size ${req.oldSize} exceeds the checkpoint size ${cp.size}`);
    // "A checkpoint of size zero MUST have the root hash of the empty tree ... Otherwise ... 422."
    if (cp.size === 0 && !equal(cp.rootHash, emptyRoot())) {
      throw new WitnessError(422, 'bad-empty-root', 'a checkpoint of size 0 must have the root hash of the empty tree, SHA-256("")');
    }

    const outcome = this.store.write((): Cosigned | WitnessError => {
      const stored = this.store.get(origin);
      const storedSize = stored?.size ?? 0;
      // "The witness MUST check that the old size matches the size of the latest
      // checkpoint it cosigned for the checkpoint's origin (or zero ...). ... 409."
      if (req.oldSize !== storedSize) {
        return new WitnessError(409, 'old-size-mismatch', `old size ${req.oldSize} is not ${storedSize}, the size last cosigned for ${origin}`, storedSize);
      }
      const refuse = this.checkConsistency(req, cp, stored);
      if (refuse) {
        if (refuse.evidence && stored) {
          this.store.addForkInTx(
            {
              origin,
              reason: refuse.evidence,
              receivedAt: this.now(),
              oldSize: req.oldSize,
              proof: req.proof.map(toBase64),
              submittedNote: req.note,
              cosignedNote: stored.note,
            },
            // Kept once per pair of checkpoints (not per proof): a replayed log-signed
            // checkpoint with made-up proofs cannot fill the table.
            toHex(sha256(utf8(`${refuse.evidence}\n${parseNote(stored.note).text}\n${text}`))),
          );
        }
        return refuse.error;
      }
      // All checks passed: cosign, and persist before answering.
      const sig = this.cosigner.cosign(text, Math.floor(this.now() / 1000));
      const note = formatNote({ text, signatures: [...logSignatures, sig] });
      this.store.putInTx({ origin, size: cp.size, root: cp.rootHash, note, updatedAt: this.now() }, originHash(origin));
      return { origin, size: cp.size, body: formatSignatureLine(sig) };
    });
    if (outcome instanceof WitnessError) throw outcome;
    return outcome;
  }

  /** The checks that need the stored state, once old size = stored size. */
  private checkConsistency(
    req: AddCheckpointRequest,
    cp: Checkpoint,
    stored: CosignedState | undefined,
  ): { error: WitnessError; evidence?: ForkReason } | undefined {
    // "If the old size is zero, the consistency proof MUST be empty": the empty tree
    // is consistent with every tree.
    if (req.oldSize === 0) {
      return req.proof.length === 0 ? undefined : { error: new WitnessError(422, 'proof-from-zero', 'the proof from old size 0 must be empty') };
    }
    const prev = stored!; // oldSize > 0 = stored size, so a state exists
    if (cp.size === prev.size) {
      // "If the old size matches the checkpoint size, the witness MUST check that the
      // root hashes are also identical." Since C2SP/C2SP#280: 422 (spec/witness.md).
      if (!equal(cp.rootHash, prev.root)) {
        return {
          error: new WitnessError(422, 'root-mismatch', `the log signed two roots for size ${cp.size}; this request is kept as evidence`),
          evidence: 'root-mismatch',
        };
      }
      return req.proof.length === 0 ? undefined : { error: new WitnessError(422, 'proof-not-empty', 'a tree is consistent with itself by an empty proof only') };
    }
    try {
      verifyConsistency(prev.size, cp.size, req.proof, prev.root, cp.rootHash);
      return undefined;
    } catch (e) {
      if (!(e instanceof ProofError)) throw e;
      // A proof of the right length that yields another root is kept as evidence; one of
      // the wrong length is only a bad request.
      const contradicts = e.code === 'first-root-mismatch' || e.code === 'second-root-mismatch';
      return {
        error: new WitnessError(
          422,
          'inconsistent-proof',
          `consistency proof ${prev.size} -> ${cp.size} does not verify (${e.code})${contradicts ? '; this request is kept as evidence' : ''}`,
        ),
        ...(contradicts ? { evidence: 'inconsistent-proof' as const } : {}),
      };
    }
  }

  /** The latest cosigned checkpoint note for the lowercase hex SHA-256 of an origin. */
  latest(hex: string): CosignedState | undefined {
    return this.store.getByOriginHash(hex);
  }
}
