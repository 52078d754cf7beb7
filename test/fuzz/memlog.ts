// A log in memory for driving a witness: leaf hashes, every complete subtree
// hash kept, signed checkpoints and tlog-witness add-checkpoint requests.

import { utf8 } from '../../src/core/bytes.js';
import { formatCheckpoint } from '../../src/core/checkpoint.js';
import { consistencyProof, hashChildren, hashLeaf, treeHash, type HashReader } from '../../src/core/merkle.js';
import { signNote, type NoteSigner } from '../../src/core/note.js';
import { formatAddCheckpointRequest } from '../../src/witnessing/protocol.js';

export class MemLog {
  /** levels[L][i]: the hash of the complete subtree of 2^L leaves starting at leaf i*2^L. */
  private readonly levels: Uint8Array[][] = [[]];

  constructor(
    readonly origin: string,
    /** Leaves are the UTF-8 of `${tag}-${i}`: two tags, two histories. */
    readonly tag: string,
  ) {}

  get size(): number {
    return this.levels[0]!.length;
  }

  grow(n: number): this {
    while (this.size < n) {
      let h = hashLeaf(utf8(`${this.tag}-${this.size}`));
      this.levels[0]!.push(h);
      for (let l = 0, i = this.size - 1; i % 2 === 1; l++, i = (i - 1) / 2) {
        h = hashChildren(this.levels[l]![i - 1]!, h);
        (this.levels[l + 1] ??= []).push(h);
      }
    }
    return this;
  }

  private read: HashReader = (ids) => ids.map((id) => this.levels[id.level]![id.index]!);

  root(size: number): Uint8Array {
    return treeHash(size, this.read);
  }

  proof(from: number, to: number): Uint8Array[] {
    return consistencyProof(from, to, this.read);
  }

  checkpointText(size: number): string {
    return formatCheckpoint({ origin: this.origin, size, rootHash: this.root(size), extensions: [] });
  }

  note(size: number, signers: readonly NoteSigner[]): string {
    return signNote(this.checkpointText(size), signers);
  }

  request(old: number, size: number, signers: readonly NoteSigner[]): string {
    return formatAddCheckpointRequest({ oldSize: old, proof: old === 0 ? [] : this.proof(old, size), note: this.note(size, signers) });
  }
}
