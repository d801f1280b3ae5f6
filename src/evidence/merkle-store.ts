import {
  MerkleFrontier,
  MissingNodeError,
  consistencyRanges,
  coordKey,
  frontierCoordinates,
  hashRanges,
  inclusionRanges,
  verifyConsistency,
  verifyInclusion,
  EMPTY_ROOT,
  HASH_SIZE,
  type LeafRange,
  type NodeCoord,
  type NodeFetcher,
} from './merkle';

/**
 * Merkle proofs over the stored ledger. Level 0 of the tree is evidence_records.hash (leaf index
 * = seq - 1); levels ≥ 1 are the perfect subtrees the append path writes to
 * evidence_merkle_nodes. Every call reads all the nodes it needs in ONE query, so a proof over a
 * million records costs one indexed round trip for ~40 rows plus ~20 hashes.
 *
 * Each answer is checked before it is returned (the proof verifies against the root computed from
 * the same rows): a damaged or inconsistent node table then fails loudly here instead of handing
 * out a proof that no verifier will accept.
 */

/** What the store needs from pg: a Pool or a PoolClient (e.g. inside the append transaction). */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface InclusionProof {
  seq: number;
  /** seq - 1 */
  leafIndex: number;
  treeSize: number;
  /** The record's hash, the tree's leaf. */
  leafHash: Buffer;
  /** RFC 9162 inclusion path, the leaf's sibling first. */
  path: Buffer[];
  /** MTH of the first treeSize records. */
  root: Buffer;
}

export interface ConsistencyProof {
  fromSize: number;
  toSize: number;
  /** RFC 9162 consistency path. */
  path: Buffer[];
  fromRoot: Buffer;
  toRoot: Buffer;
}

export interface MerkleStore {
  /** The NodeFetcher over the database, for merkle.ts functions not wrapped here. */
  fetch: NodeFetcher;
  /** MTH of the first `size` records. */
  root(size: number): Promise<Buffer>;
  /** Proof that record `seq` is in the tree of the first `size` records (1 ≤ seq ≤ size). */
  inclusionProof(seq: number, size: number): Promise<InclusionProof>;
  /**
   * The same proofs for many records, in the order asked, each checked as inclusionProof checks it,
   * from one query per PROOF_BATCH records: an export of 5,000 records asks 5 round trips, not 5,000.
   */
  inclusionProofs(seqs: readonly number[], size: number): Promise<InclusionProof[]>;
  /** Proof that the tree of the first m records is a prefix of the tree of the first n (m ≤ n). */
  consistencyProof(m: number, n: number): Promise<ConsistencyProof>;
  /** The frontier of the tree of `size` records, to continue appending from. */
  frontier(size: number): Promise<MerkleFrontier>;
}

/** The stored tree is missing a node or does not agree with itself. */
export class MerkleStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MerkleStoreError';
  }
}

interface NodeRow {
  level: number;
  idx: string;
  hash: Buffer | null;
}

// One statement for both tables. unnest keeps the requested coordinates together, and each
// LEFT JOIN is a primary-key probe (evidence_merkle_nodes (level, idx), evidence_records (seq)).
// A coordinate with no row comes back with a NULL hash, so a gap is reported, not skipped.
const FETCH_SQL = `SELECT c.level, c.idx::text AS idx,
       CASE WHEN c.level = 0 THEN decode(r.hash, 'hex') ELSE n.hash END AS hash
  FROM unnest($1::smallint[], $2::bigint[]) AS c(level, idx)
  LEFT JOIN evidence_merkle_nodes n ON c.level > 0 AND n.level = c.level AND n.idx = c.idx
  LEFT JOIN evidence_records r ON c.level = 0 AND r.seq = c.idx + 1`;

export function createMerkleStore(db: Queryable): MerkleStore {
  const fetch: NodeFetcher = async (coords: NodeCoord[]) => {
    const { rows } = await db.query(FETCH_SQL, [coords.map((c) => c.level), coords.map((c) => c.idx)]);
    const out = new Map<string, Buffer>();
    for (const row of rows as NodeRow[]) {
      const coord = { level: Number(row.level), idx: Number(row.idx) };
      if (row.hash === null) continue; // reported as missing by whoever needed it
      if (row.hash.length !== HASH_SIZE) {
        throw new MerkleStoreError(`stored Merkle node ${describe(coord)} is ${row.hash.length} bytes, not ${HASH_SIZE}`);
      }
      out.set(coordKey(coord), row.hash);
    }
    return out;
  };

  /** hashRanges with the store's errors: a missing node names the table it should be in. */
  async function hashes(ranges: LeafRange[], size: number): Promise<Buffer[]> {
    try {
      return await hashRanges(ranges, fetch);
    } catch (err) {
      if (err instanceof MissingNodeError) {
        throw new MerkleStoreError(
          `Merkle node ${describe(err.coord)} is not stored: the tree of ${size} records needs it ` +
            `(is ${size} beyond the ledger, or were nodes not written by the append path?)`,
        );
      }
      throw err;
    }
  }

  return {
    fetch,

    async root(size) {
      checkSize(size, 'size');
      if (size === 0) return EMPTY_ROOT;
      const [root] = await hashes([{ start: 0, end: size }], size);
      return root as Buffer;
    },

    async inclusionProof(seq, size) {
      checkSize(seq, 'seq');
      checkSize(size, 'size');
      if (seq < 1 || seq > size) throw new RangeError(`seq ${seq} is not in a tree of ${size} records`);
      const index = seq - 1;
      const pathRanges = inclusionRanges(index, size);
      // The path, the leaf and the root in the same round trip.
      const all = await hashes([...pathRanges, { start: index, end: seq }, { start: 0, end: size }], size);
      const path = all.slice(0, pathRanges.length);
      const leafHash = all[pathRanges.length] as Buffer;
      const root = all[pathRanges.length + 1] as Buffer;
      if (!verifyInclusion(index, size, leafHash, path, root)) {
        throw new MerkleStoreError(
          `the stored Merkle tree disagrees with itself: the inclusion proof of seq ${seq} in ${size} does not verify`,
        );
      }
      return { seq, leafIndex: index, treeSize: size, leafHash, path, root };
    },

    async inclusionProofs(seqs, size) {
      checkSize(size, 'size');
      for (const seq of seqs) {
        checkSize(seq, 'seq');
        if (seq < 1 || seq > size) throw new RangeError(`seq ${seq} is not in a tree of ${size} records`);
      }
      const out: InclusionProof[] = [];
      for (let from = 0; from < seqs.length; from += PROOF_BATCH) {
        const batch = seqs.slice(from, from + PROOF_BATCH);
        const paths = batch.map((seq) => inclusionRanges(seq - 1, size));
        // Every path, every leaf and the root in one round trip (hashRanges asks each node once).
        const ranges: LeafRange[] = [
          ...paths.flat(),
          ...batch.map((seq) => ({ start: seq - 1, end: seq })),
          { start: 0, end: size },
        ];
        const all = await hashes(ranges, size);
        const root = all[all.length - 1] as Buffer;
        let at = 0;
        batch.forEach((seq, k) => {
          const pathLength = (paths[k] as LeafRange[]).length;
          const path = all.slice(at, at + pathLength);
          at += pathLength;
          const leafHash = all[ranges.length - 1 - batch.length + k] as Buffer;
          if (!verifyInclusion(seq - 1, size, leafHash, path, root)) {
            throw new MerkleStoreError(
              `the stored Merkle tree disagrees with itself: the inclusion proof of seq ${seq} in ${size} does not verify`,
            );
          }
          out.push({ seq, leafIndex: seq - 1, treeSize: size, leafHash, path, root });
        });
      }
      return out;
    },

    async consistencyProof(m, n) {
      checkSize(m, 'm');
      checkSize(n, 'n');
      if (m > n) throw new RangeError(`a tree of ${m} records cannot be a prefix of one of ${n}`);
      const pathRanges = consistencyRanges(m, n);
      const roots: LeafRange[] = [];
      if (m > 0) roots.push({ start: 0, end: m });
      if (n > 0) roots.push({ start: 0, end: n });
      const all = await hashes([...pathRanges, ...roots], n);
      const path = all.slice(0, pathRanges.length);
      const fromRoot = m > 0 ? (all[pathRanges.length] as Buffer) : EMPTY_ROOT;
      const toRoot = n > 0 ? (all[all.length - 1] as Buffer) : EMPTY_ROOT;
      if (!verifyConsistency(m, n, path, fromRoot, toRoot)) {
        throw new MerkleStoreError(
          `the stored Merkle tree disagrees with itself: the consistency proof from ${m} to ${n} does not verify`,
        );
      }
      return { fromSize: m, toSize: n, path, fromRoot, toRoot };
    },

    async frontier(size) {
      checkSize(size, 'size');
      const coords = frontierCoordinates(size);
      if (coords.length === 0) return MerkleFrontier.empty();
      const got = await fetch(coords);
      return new MerkleFrontier(
        size,
        coords.map((c) => {
          const h = got.get(coordKey(c));
          if (!h) throw new MerkleStoreError(`Merkle frontier node ${describe(c)} of the tree of ${size} records is not stored`);
          return h;
        }),
      );
    },
  };
}

/** Records per query of inclusionProofs: ~20 path nodes each, many shared, so a few thousand rows. */
const PROOF_BATCH = 1000;

function describe(c: NodeCoord): string {
  return c.level === 0 ? `(level 0: the record with seq ${c.idx + 1})` : `(level ${c.level}, idx ${c.idx})`;
}

function checkSize(x: number, what: string): void {
  if (!Number.isSafeInteger(x) || x < 0) throw new RangeError(`${what} must be a non-negative safe integer, got ${x}`);
}
