import { createHash } from 'node:crypto';

/**
 * The RFC 9162 §2.1 Merkle tree over the ledger: leaves are the records' `hash` values in global
 * seq order (leaf index = seq - 1). A record hash is already the RFC 9162 leaf hash
 * SHA-256(0x00 ‖ data) (docs/evidence-format.md), so it is used as is; an interior node is
 * SHA-256(0x01 ‖ left ‖ right).
 *
 * Everything here is pure. Proofs are built from stored *perfect* subtrees: node (level L, idx i)
 * is the root of leaves [i·2^L, (i+1)·2^L). Level 0 is the leaf itself. A proof first lists every
 * node it needs, asks the fetcher for all of them at once (one database round trip), then hashes.
 *
 * Sizes and indexes are JS numbers, exact up to 2^53 - 1. No bitwise operators are used on them:
 * those truncate to 32 bits, and a ledger may outgrow 2^31 records long before it outgrows 2^53.
 */

export const HASH_SIZE = 32;

/** MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1). */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

export interface NodeCoord {
  level: number;
  idx: number;
}

export interface MerkleNode extends NodeCoord {
  hash: Buffer;
}

/** A range of leaves [start, end). */
export interface LeafRange {
  start: number;
  end: number;
}

/**
 * Returns the stored hashes of the requested perfect subtrees, keyed by `coordKey`. It may return
 * more than asked; a missing one makes the proof fail with MissingNodeError.
 */
export type NodeFetcher = (coords: NodeCoord[]) => Promise<Map<string, Buffer>>;

export class MissingNodeError extends Error {
  constructor(readonly coord: NodeCoord) {
    super(`Merkle node (level ${coord.level}, idx ${coord.idx}) is not stored`);
    this.name = 'MissingNodeError';
  }
}

export function coordKey(c: NodeCoord): string {
  return `${c.level}:${c.idx}`;
}

/** RFC 9162 leaf hash SHA-256(0x00 ‖ data). The ledger computes its own (record.ts); this is for tests and tools. */
export function leafHash(data: Buffer): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** RFC 9162 interior node SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/**
 * MTH(D[n]) by the recursive definition of RFC 9162 §2.1.1, over leaf hashes held in memory.
 * O(n): the reference the stored-node computations are checked against, and fine for small trees.
 */
export function rootOf(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return EMPTY_ROOT;
  return mth(leaves, 0, leaves.length);
}

function mth(leaves: readonly Buffer[], start: number, end: number): Buffer {
  if (end - start === 1) return leaves[start] as Buffer;
  const k = splitPoint(end - start);
  return nodeHash(mth(leaves, start, start + k), mth(leaves, start + k, end));
}

/**
 * The perfect subtrees whose concatenation is the tree of `size` leaves, largest (leftmost)
 * first: one per set bit L of size, {level: L, idx: (size >> L) - 1}.
 */
export function frontierCoordinates(size: number): NodeCoord[] {
  assertSize(size, 'size');
  const out: NodeCoord[] = [];
  for (let level = bitLength(size) - 1; level >= 0; level--) {
    const q = Math.floor(size / 2 ** level);
    if (q % 2 === 1) out.push({ level, idx: q - 1 });
  }
  return out;
}

/**
 * The right edge of the tree: enough to append leaves one by one and to know the root, without
 * the rest of the tree. The append path builds one from the stored frontier of the current size
 * and stores the nodes `push` reports.
 */
export class MerkleFrontier {
  private count: number;
  /** Perfect subtrees, largest first; levels strictly decreasing. */
  private readonly stack: MerkleNode[];

  /** `hashes` in the order of frontierCoordinates(size). */
  constructor(size: number, hashes: readonly Buffer[]) {
    const coords = frontierCoordinates(size);
    if (hashes.length !== coords.length) {
      throw new RangeError(`a tree of ${size} leaves has ${coords.length} frontier nodes, got ${hashes.length}`);
    }
    this.count = size;
    this.stack = coords.map((c, i) => ({ ...c, hash: checkHash(hashes[i], `frontier node ${i}`) }));
  }

  static empty(): MerkleFrontier {
    return new MerkleFrontier(0, []);
  }

  /** From stored nodes in any order (extra ones ignored); each frontier coordinate must be present. */
  static fromNodes(size: number, nodes: readonly MerkleNode[]): MerkleFrontier {
    const byKey = new Map(nodes.map((n) => [coordKey(n), n.hash]));
    return new MerkleFrontier(
      size,
      frontierCoordinates(size).map((c) => {
        const h = byKey.get(coordKey(c));
        if (h === undefined) throw new MissingNodeError(c);
        return h;
      }),
    );
  }

  get size(): number {
    return this.count;
  }

  /** The frontier nodes (copies), largest first: what a later constructor call takes back. */
  nodes(): MerkleNode[] {
    return this.stack.map((n) => ({ ...n }));
  }

  /**
   * Appends the next leaf (leaf index = the old size). Returns the perfect subtrees of level ≥ 1
   * it completes, lowest first: exactly the rows the ledger adds to evidence_merkle_nodes.
   */
  push(leaf: Buffer): MerkleNode[] {
    if (this.count >= Number.MAX_SAFE_INTEGER) throw new RangeError('tree size would exceed 2^53 - 1');
    let node: MerkleNode = { level: 0, idx: this.count, hash: checkHash(leaf, 'leaf') };
    const completed: MerkleNode[] = [];
    for (let top = this.stack.at(-1); top !== undefined && top.level === node.level; top = this.stack.at(-1)) {
      this.stack.pop();
      // top is the left sibling (even idx), node the right one.
      node = { level: node.level + 1, idx: top.idx / 2, hash: nodeHash(top.hash, node.hash) };
      completed.push(node);
    }
    this.stack.push(node);
    this.count += 1;
    return completed;
  }

  /** MTH of the current tree: the frontier folded from the right. */
  root(): Buffer {
    let acc: Buffer | undefined;
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const n = this.stack[i] as MerkleNode;
      acc = acc === undefined ? n.hash : nodeHash(n.hash, acc);
    }
    return acc ?? EMPTY_ROOT;
  }
}

/**
 * The stored nodes whose hashes make up MTH(D[start:end]). Defined for the ranges a tree is made
 * of: start a multiple of the smallest power of two ≥ (end - start). Then every left part of
 * the RFC's recursion is a stored perfect node, and the right edge is the binary decomposition of
 * what remains, so O(log n) nodes suffice. Other ranges are refused rather than silently walking
 * every leaf.
 */
export function rangeCoordinates(range: LeafRange): NodeCoord[] {
  const { start, end } = range;
  assertSize(start, 'range start');
  assertSize(end, 'range end');
  if (end <= start) throw new RangeError(`empty leaf range [${start}, ${end})`);
  const len = end - start;
  const span = 2 ** bitLength(len - 1); // smallest power of two ≥ len
  if (start % span !== 0) throw new RangeError(`leaf range [${start}, ${end}) is not a subtree of the Merkle tree`);
  const out: NodeCoord[] = [];
  let p = start;
  while (p < end) {
    const level = bitLength(end - p) - 1;
    // Holds by the alignment checked above; checked again because a wrong node would be silent.
    if (p % 2 ** level !== 0) throw new RangeError(`leaf range [${start}, ${end}) is not a subtree of the Merkle tree`);
    out.push({ level, idx: p / 2 ** level });
    p += 2 ** level;
  }
  return out;
}

/**
 * MTH of each range, from one call to `fetch` for every node all the ranges need. Non-perfect
 * (right-edge) ranges are folded from their perfect parts as RFC 9162's recursion does.
 */
export async function hashRanges(ranges: readonly LeafRange[], fetch: NodeFetcher): Promise<Buffer[]> {
  const parts = ranges.map(rangeCoordinates);
  const wanted = new Map<string, NodeCoord>();
  for (const cs of parts) for (const c of cs) wanted.set(coordKey(c), c);
  const got = wanted.size === 0 ? new Map<string, Buffer>() : await fetch([...wanted.values()]);
  return parts.map((cs) => {
    let acc: Buffer | undefined;
    for (let i = cs.length - 1; i >= 0; i--) {
      const c = cs[i] as NodeCoord;
      const h = got.get(coordKey(c));
      if (h === undefined) throw new MissingNodeError(c);
      checkHash(h, `node (${c.level}, ${c.idx})`);
      acc = acc === undefined ? h : nodeHash(h, acc);
    }
    return acc as Buffer;
  });
}

/** MTH(D[start:end]) from stored nodes; see rangeCoordinates for which ranges are allowed. */
export async function subtreeRoot(start: number, end: number, fetch: NodeFetcher): Promise<Buffer> {
  const [h] = await hashRanges([{ start, end }], fetch);
  return h as Buffer;
}

/** MTH of the tree of `size` leaves from stored nodes (EMPTY_ROOT for size 0). */
export async function treeRoot(size: number, fetch: NodeFetcher): Promise<Buffer> {
  assertSize(size, 'size');
  return size === 0 ? EMPTY_ROOT : subtreeRoot(0, size, fetch);
}

/**
 * The subtrees whose roots form PATH(index, D[size]) (RFC 9162 §2.1.3.1), in proof order: the
 * leaf's sibling first, the root's child last.
 */
export function inclusionRanges(index: number, size: number): LeafRange[] {
  assertSize(index, 'index');
  assertSize(size, 'size');
  if (index >= size) throw new RangeError(`leaf index ${index} is not in a tree of ${size} leaves`);
  const out: LeafRange[] = [];
  let start = 0;
  let end = size;
  let m = index;
  // Walk down from the root; each step's sibling is a later (higher) proof element.
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (m < k) {
      out.push({ start: start + k, end });
      end = start + k;
    } else {
      out.push({ start, end: start + k });
      start += k;
      m -= k;
    }
  }
  return out.reverse();
}

/**
 * The subtrees whose roots form PROOF(m, D[n]) (RFC 9162 §2.1.4.1), in proof order. Empty when
 * m = n or m = 0 (nothing to prove: every tree extends the empty one).
 */
export function consistencyRanges(m: number, n: number): LeafRange[] {
  assertSize(m, 'm');
  assertSize(n, 'n');
  if (m > n) throw new RangeError(`a tree of ${m} leaves cannot be a prefix of one of ${n}`);
  if (m === 0 || m === n) return [];
  const out: LeafRange[] = [];
  // SUBPROOF(m, D[start:end], b) unrolled; the right-hand siblings are collected in the order
  // the recursion appends them, i.e. innermost first.
  const tail: LeafRange[] = [];
  let start = 0;
  let end = n;
  let mm = m;
  let b = true;
  for (;;) {
    if (mm === end - start) {
      if (!b) out.push({ start, end });
      break;
    }
    const k = splitPoint(end - start);
    if (mm <= k) {
      tail.push({ start: start + k, end });
      end = start + k;
    } else {
      tail.push({ start, end: start + k });
      start += k;
      mm -= k;
      b = false;
    }
  }
  return out.concat(tail.reverse());
}

/** PATH(index, D[size]) from stored nodes, with one call to `fetch`. */
export async function inclusionProof(index: number, size: number, fetch: NodeFetcher): Promise<Buffer[]> {
  return hashRanges(inclusionRanges(index, size), fetch);
}

/** PROOF(m, D[n]) from stored nodes, with one call to `fetch` (none when the proof is empty). */
export async function consistencyProof(m: number, n: number, fetch: NodeFetcher): Promise<Buffer[]> {
  return hashRanges(consistencyRanges(m, n), fetch);
}

/**
 * RFC 9162 §2.1.3.2: the root that `proof` leads to from `leaf` at `index` in a tree of `size`,
 * or null when the proof's shape does not fit (wrong length, bad hash sizes, index out of range).
 */
export function rootFromInclusionProof(index: number, size: number, leaf: Buffer, proof: readonly Buffer[]): Buffer | null {
  if (!isSize(index) || !isSize(size) || index >= size) return null;
  if (leaf.length !== HASH_SIZE || proof.some((p) => p.length !== HASH_SIZE)) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in the tree of `size` leaves with `root`? */
export function verifyInclusion(index: number, size: number, leaf: Buffer, proof: readonly Buffer[], root: Buffer): boolean {
  const r = rootFromInclusionProof(index, size, leaf, proof);
  return r !== null && root.length === HASH_SIZE && r.equals(root);
}

/**
 * RFC 9162 §2.1.4.2: is the tree of m leaves with rootM a prefix of the tree of n leaves with
 * rootN? For m = n the proof must be empty and the roots equal. For m = 0 the proof must be empty
 * and rootM must be the empty tree's root (any tree extends it; we still refuse a wrong root for
 * it rather than accept anything).
 */
export function verifyConsistency(m: number, n: number, proof: readonly Buffer[], rootM: Buffer, rootN: Buffer): boolean {
  if (!isSize(m) || !isSize(n) || m > n) return false;
  if (rootM.length !== HASH_SIZE || rootN.length !== HASH_SIZE || proof.some((p) => p.length !== HASH_SIZE)) return false;
  if (m === 0) return proof.length === 0 && rootM.equals(EMPTY_ROOT) && (n > 0 || rootN.equals(EMPTY_ROOT));
  if (m === n) return proof.length === 0 && rootM.equals(rootN);
  if (proof.length === 0) return false;

  // 2. When m is a power of two, the old root is itself a node of the new tree and is not sent.
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : [...proof];
  let fn = m - 1;
  let sn = n - 1;
  // 4.
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // 5.
  let fr = path[0] as Buffer;
  let sr = fr;
  // 6.
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Buffer;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // 7.
  return sn === 0 && fr.equals(rootM) && sr.equals(rootN);
}

/** The largest power of two strictly smaller than n (n ≥ 2): where RFC 9162 splits a tree. */
function splitPoint(n: number): number {
  return 2 ** (bitLength(n - 1) - 1);
}

/** Number of binary digits of a non-negative safe integer (0 for 0). */
function bitLength(x: number): number {
  return x === 0 ? 0 : x.toString(2).length;
}

function isPowerOfTwo(x: number): boolean {
  return x > 0 && 2 ** (bitLength(x) - 1) === x;
}

function isSize(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}

function assertSize(x: number, what: string): void {
  if (!isSize(x)) throw new RangeError(`${what} must be a non-negative safe integer, got ${x}`);
}

function checkHash(h: Buffer | undefined, what: string): Buffer {
  if (!Buffer.isBuffer(h) || h.length !== HASH_SIZE) throw new RangeError(`${what} must be a ${HASH_SIZE}-byte hash`);
  return h;
}
