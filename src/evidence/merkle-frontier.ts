import { createHash } from 'node:crypto';

/**
 * The right edge of an RFC 9162 Merkle tree, enough to extend it leaf by leaf: for a tree of
 * `size` leaves, the roots of the perfect subtrees that make it up (one per set bit of size),
 * largest first. Pushing a leaf completes zero or more perfect subtrees; those of level >= 1 are
 * what the ledger stores in evidence_merkle_nodes (level 0 is the record hash itself).
 */
export interface MerkleNode {
  level: number;
  idx: number;
  hash: Buffer;
}

export function merkleNodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256')
    .update(Buffer.from([0x01]))
    .update(left)
    .update(right)
    .digest();
}

export class MerkleFrontier {
  private constructor(
    private count: number,
    /** Perfect subtrees, largest (leftmost) first. */
    private readonly stack: MerkleNode[],
  ) {}

  /** From the stored frontier of a tree of `size` leaves: exactly one node per set bit of size. */
  static fromNodes(size: number, nodes: readonly MerkleNode[]): MerkleFrontier {
    const stack: MerkleNode[] = [];
    for (let level = 62; level >= 0; level--) {
      if (Math.floor(size / 2 ** level) % 2 !== 1) continue;
      const idx = Math.floor(size / 2 ** level) - 1;
      const node = nodes.find((n) => n.level === level && n.idx === idx);
      if (!node) throw new Error(`Merkle frontier node (${level}, ${idx}) of a tree of ${size} leaves is missing`);
      stack.push({ level, idx, hash: node.hash });
    }
    return new MerkleFrontier(size, stack);
  }

  get size(): number {
    return this.count;
  }

  /** RFC 9162 root of the tree so far (SHA-256 of nothing for the empty tree). */
  root(): Buffer {
    if (this.stack.length === 0) return createHash('sha256').digest();
    let acc = (this.stack.at(-1) as MerkleNode).hash;
    for (let i = this.stack.length - 2; i >= 0; i--) acc = merkleNodeHash((this.stack[i] as MerkleNode).hash, acc);
    return acc;
  }

  /** Adds the next leaf; returns the perfect subtrees of level >= 1 it completes, lowest first. */
  push(leaf: Buffer): MerkleNode[] {
    const completed: MerkleNode[] = [];
    let node: MerkleNode = { level: 0, idx: this.count, hash: leaf };
    this.count += 1;
    for (let top = this.stack.at(-1); top && top.level === node.level; top = this.stack.at(-1)) {
      this.stack.pop();
      node = { level: node.level + 1, idx: top.idx / 2, hash: merkleNodeHash(top.hash, node.hash) };
      completed.push(node);
    }
    this.stack.push(node);
    return completed;
  }
}
