import { createLedger } from '../../src/evidence/ledger';
import {
  MerkleFrontier,
  consistencyProof as memConsistencyProof,
  coordKey,
  inclusionProof as memInclusionProof,
  leafHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
  EMPTY_ROOT,
  type NodeFetcher,
} from '../../src/evidence/merkle';
import { createMerkleStore, MerkleStoreError, type Queryable } from '../../src/evidence/merkle-store';
import { evidenceEntry } from '../factories/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { tamperAsSuperuser } from '../support/tamper';

/**
 * The store against the real PostgreSQL. Records and nodes are written here by SQL (as a
 * superuser, like a restore would), so these tests do not depend on the append path; the last
 * test goes through the ledger and checks the nodes the append path stores.
 */

// The table as the evidence-append-path migration creates it; a no-op when the migration ran.
const NODES_DDL = `CREATE TABLE IF NOT EXISTS evidence_merkle_nodes (
    level smallint NOT NULL CHECK (level BETWEEN 1 AND 62),
    idx   bigint   NOT NULL CHECK (idx >= 0),
    hash  bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx))`;

function leafFor(seq: number): Buffer {
  return leafHash(Buffer.from(`record ${seq}`));
}

/** Appends records seq 1..n (hash only matters here) and the nodes they complete. */
async function seed(db: TestDatabase, n: number): Promise<Buffer[]> {
  const leaves = Array.from({ length: n }, (_, i) => leafFor(i + 1));
  const frontier = MerkleFrontier.empty();
  const nodes = leaves.flatMap((l) => frontier.push(l));
  await db.admin(
    `INSERT INTO evidence_records (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref,
                                   payload, raw, payload_sha256, raw_sha256, prev_hash, hash)
     SELECT s, 1, 'merkle-store-test:' || s, 'test.note', date_trunc('milliseconds', now()), date_trunc('milliseconds', now()),
            'test', 'test', 'ref-' || s, '{}'::jsonb, NULL, repeat('0', 64), NULL, NULL, h
       FROM unnest($1::bigint[], $2::text[]) AS t(s, h)`,
    [leaves.map((_, i) => i + 1), leaves.map((l) => l.toString('hex'))],
  );
  await db.admin(
    `INSERT INTO evidence_merkle_nodes (level, idx, hash)
     SELECT l, i, decode(h, 'hex') FROM unnest($1::smallint[], $2::bigint[], $3::text[]) AS t(l, i, h)`,
    [nodes.map((x) => x.level), nodes.map((x) => x.idx), nodes.map((x) => x.hash.toString('hex'))],
  );
  return leaves;
}

/** Changes stored rows the triggers protect, as an attacker with the database would. */
const tamper = tamperAsSuperuser;

function counting(db: TestDatabase): Queryable & { count: number } {
  const q = {
    count: 0,
    async query(text: string, values?: unknown[]) {
      q.count++;
      return db.pool.query(text, values);
    },
  };
  return q;
}

/** The same tree in memory, for expected values independent of SQL. */
function memoryFetcher(leaves: Buffer[]): NodeFetcher {
  const nodes = new Map<string, Buffer>();
  const f = MerkleFrontier.empty();
  leaves.forEach((l, i) => {
    nodes.set(coordKey({ level: 0, idx: i }), l);
    for (const n of f.push(l)) nodes.set(coordKey(n), n.hash);
  });
  return async (coords) =>
    new Map(coords.flatMap((c) => (nodes.has(coordKey(c)) ? [[coordKey(c), nodes.get(coordKey(c)) as Buffer]] : [])));
}

const hex = (bs: Buffer[]): string[] => bs.map((b) => b.toString('hex'));

describe('Merkle store', () => {
  const N = 150;
  let db: TestDatabase;
  let leaves: Buffer[];
  beforeAll(async () => {
    db = await createTestDatabase();
    await db.admin(NODES_DDL);
    leaves = await seed(db, N);
  });
  afterAll(async () => {
    await db.drop();
  });

  test('roots of every size equal MTH of the records in seq order, one query each', async () => {
    const q = counting(db);
    const store = createMerkleStore(q);
    expect((await store.root(0)).equals(EMPTY_ROOT)).toBe(true);
    expect(q.count).toBe(0);
    const wrong: number[] = [];
    for (let n = 1; n <= N; n++) if (!(await store.root(n)).equals(rootOf(leaves.slice(0, n)))) wrong.push(n);
    expect(wrong).toEqual([]);
    expect(q.count).toBe(N);
  });

  test('inclusion proofs: one query for path, leaf and root; equal to the in-memory proof; verify', async () => {
    const q = counting(db);
    const store = createMerkleStore(q);
    const mem = memoryFetcher(leaves);
    const sizes = [1, 2, 3, 7, 8, 9, 64, 100, 127, 128, 129, N];
    let calls = 0;
    for (const size of sizes) {
      const root = rootOf(leaves.slice(0, size));
      for (let seq = 1; seq <= size; seq += size > 20 ? 7 : 1) {
        const p = await store.inclusionProof(seq, size);
        calls++;
        expect(p.leafHash.equals(leaves[seq - 1] as Buffer)).toBe(true);
        expect(p.root.equals(root)).toBe(true);
        expect(hex(p.path)).toEqual(hex(await memInclusionProof(seq - 1, size, mem)));
        expect(verifyInclusion(seq - 1, size, p.leafHash, p.path, root)).toBe(true);
      }
    }
    expect(q.count).toBe(calls);
    await expect(store.inclusionProof(0, 5)).rejects.toThrow(RangeError);
    await expect(store.inclusionProof(6, 5)).rejects.toThrow(RangeError);
  });

  test('consistency proofs: one query; equal to the in-memory proof; verify', async () => {
    const q = counting(db);
    const store = createMerkleStore(q);
    const mem = memoryFetcher(leaves);
    const pairs: [number, number][] = [
      [0, 0],
      [0, 5],
      [1, 1],
      [1, 2],
      [3, 7],
      [4, 8],
      [6, 8],
      [7, 129],
      [64, 128],
      [100, N],
      [N, N],
    ];
    for (const [m, n] of pairs) {
      const p = await store.consistencyProof(m, n);
      expect(p.fromRoot.equals(rootOf(leaves.slice(0, m)))).toBe(true);
      expect(p.toRoot.equals(rootOf(leaves.slice(0, n)))).toBe(true);
      expect(hex(p.path)).toEqual(hex(await memConsistencyProof(m, n, mem)));
      expect(verifyConsistency(m, n, p.path, p.fromRoot, p.toRoot)).toBe(true);
    }
    expect(q.count).toBe(pairs.filter(([, n]) => n > 0).length); // (0, 0) needs no row at all
    await expect(store.consistencyProof(5, 4)).rejects.toThrow(RangeError);
  });

  test('frontier(size) continues the tree exactly as appending would', async () => {
    const store = createMerkleStore(db.pool);
    for (const size of [0, 1, 6, 64, 99, N]) {
      const f = await store.frontier(size);
      expect(f.size).toBe(size);
      expect(f.root().equals(rootOf(leaves.slice(0, size)))).toBe(true);
      const next = leafFor(size + 1);
      f.push(next);
      expect(f.root().equals(rootOf([...leaves.slice(0, size), next]))).toBe(true);
    }
  });

  test('a size beyond the ledger is a clear error, not a wrong proof', async () => {
    const store = createMerkleStore(db.pool);
    await expect(store.root(N + 1)).rejects.toThrow(MerkleStoreError);
    await expect(store.root(N + 1)).rejects.toThrow(`the record with seq ${N + 1}`);
    await expect(store.inclusionProof(1, N + 2)).rejects.toThrow(/is not stored/);
    await expect(store.frontier(N + 1)).rejects.toThrow(MerkleStoreError);
  });
});

describe('Merkle store: a damaged tree fails loudly', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
    await db.admin(NODES_DDL);
    await seed(db, 16);
  });
  afterEach(async () => {
    await db.drop();
  });

  test('an edited interior node: proofs through it are refused, proofs around it still served', async () => {
    const store = createMerkleStore(db.pool);
    const good = await store.inclusionProof(1, 8);
    // Node (1, 1) covers leaves 2..3 (seq 3, 4): on the path of seq 1, not of seq 7. The stored
    // nodes the roots are read from ((3, 0) here) stay the reference.
    await tamper(db, `UPDATE evidence_merkle_nodes SET hash = sha256(hash) WHERE level = 1 AND idx = 1`, []);
    await expect(store.inclusionProof(1, 8)).rejects.toThrow(/disagrees with itself/);
    await expect(store.consistencyProof(2, 8)).rejects.toThrow(/disagrees with itself/); // (1, 1) is in its path
    await expect(store.consistencyProof(3, 8)).resolves.toBeDefined(); // [leaf 2, leaf 3, (1, 0), (2, 1)]: not
    const around = await store.inclusionProof(7, 8);
    expect(around.root.equals(good.root)).toBe(true);
  });

  test('an edited record hash (leaf) is refused', async () => {
    const store = createMerkleStore(db.pool);
    await tamper(db, `UPDATE evidence_records SET hash = encode(sha256(decode(hash, 'hex')), 'hex') WHERE seq = 5`, []);
    await expect(store.inclusionProof(5, 16)).rejects.toThrow(/disagrees with itself/);
  });

  test('a deleted node is named', async () => {
    const store = createMerkleStore(db.pool);
    await tamper(db, `DELETE FROM evidence_merkle_nodes WHERE level = 2 AND idx = 1`, []);
    await expect(store.inclusionProof(1, 16)).rejects.toThrow('(level 2, idx 1) is not stored');
    await expect(store.root(16)).resolves.toHaveLength(32); // (4, 0) alone
  });
});

describe('Merkle store over records appended by the ledger', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  test('the append path stores exactly the completed nodes; proofs over real record hashes verify', async () => {
    const ledger = createLedger({ pool: db.pool, batchMax: 7 });
    const n = 45;
    try {
      await Promise.all(
        Array.from({ length: n }, (_, i) =>
          ledger.append(evidenceEntry({ stream: `merkle:${i % 4}`, actor: 'test', sourceRef: `merkle-${i}`, payload: { i } })),
        ),
      );
    } finally {
      await ledger.close();
    }
    const rows = (await db.admin('SELECT hash FROM evidence_records ORDER BY seq')) as { hash: string }[];
    expect(rows).toHaveLength(n);
    const hashes = rows.map((r) => Buffer.from(r.hash, 'hex'));

    const f = MerkleFrontier.empty();
    const expected = hashes.flatMap((h) => f.push(h)).map((x) => `${coordKey(x)}=${x.hash.toString('hex')}`);
    const stored = (await db.admin(
      `SELECT level || ':' || idx || '=' || encode(hash, 'hex') AS k FROM evidence_merkle_nodes ORDER BY level, idx`,
    )) as { k: string }[];
    expect(stored.map((r) => r.k).sort()).toEqual(expected.sort());

    const store = createMerkleStore(db.pool);
    for (let size = 1; size <= n; size++) {
      const root = rootOf(hashes.slice(0, size));
      expect((await store.root(size)).equals(root)).toBe(true);
      const seq = 1 + ((size * 13) % size);
      const p = await store.inclusionProof(seq, size);
      expect(verifyInclusion(seq - 1, size, hashes[seq - 1] as Buffer, p.path, root)).toBe(true);
    }
    const c = await store.consistencyProof(17, n);
    expect(verifyConsistency(17, n, c.path, rootOf(hashes.slice(0, 17)), rootOf(hashes))).toBe(true);
  });
});
