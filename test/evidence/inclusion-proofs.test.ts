import { createLedger, type Ledger } from '../../src/evidence';
import { createMerkleStore, MerkleStoreError, type MerkleStore } from '../../src/evidence/merkle-store';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * inclusionProofs (many proofs in one round trip per thousand, what the legal export asks for) gives
 * exactly what inclusionProof gives one at a time, for every seq of every tree size up to 40, and
 * refuses what it refuses: a seq outside the tree, a node that was changed, a node that is missing.
 */
describe('merkle store: inclusion proofs in batches', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let store: MerkleStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    store = createMerkleStore(db.appPool);
  });
  afterAll(async () => {
    await ledger.close();
    await db.drop();
  });

  test('the same proofs as one at a time, every seq of every size', async () => {
    for (let i = 1; i <= 40; i++) {
      await ledger.append({
        stream: `s${i % 3}`,
        kind: 'test.k',
        occurredAt: new Date(Date.UTC(2026, 0, 1, 0, i)),
        actor: 'x',
        source: 'test',
        sourceRef: `r${i}`,
        payload: { i },
        raw: null,
      });
      for (const size of new Set([i, Math.max(1, i - 5)])) {
        const seqs = Array.from({ length: size }, (_, k) => size - k); // out of order on purpose
        const batched = await store.inclusionProofs(seqs, size);
        expect(batched).toHaveLength(seqs.length);
        for (const [k, seq] of seqs.entries()) {
          const one = await store.inclusionProof(seq, size);
          const b = batched[k];
          expect(b?.seq).toBe(seq);
          expect({
            ...b,
            root: b?.root.toString('hex'),
            leafHash: b?.leafHash.toString('hex'),
            path: b?.path.map(String),
          }).toEqual({
            ...one,
            root: one.root.toString('hex'),
            leafHash: one.leafHash.toString('hex'),
            path: one.path.map(String),
          });
        }
      }
    }
    expect(await store.inclusionProofs([], 5)).toEqual([]);
  });

  test('refuses a seq outside the tree, a changed node and a missing one', async () => {
    for (const seqs of [[0], [41], [1.5]]) await expect(store.inclusionProofs(seqs, 40)).rejects.toThrow(RangeError);
    await db.admin(`BEGIN; SET LOCAL session_replication_role = replica;
      UPDATE evidence_merkle_nodes SET hash = sha256(hash) WHERE level = 2 AND idx = 2; COMMIT`);
    await expect(store.inclusionProofs([13, 30], 40)).rejects.toThrow(MerkleStoreError);
    await expect(store.inclusionProof(13, 40)).rejects.toThrow(MerkleStoreError);
    await db.admin(`BEGIN; SET LOCAL session_replication_role = replica;
      DELETE FROM evidence_merkle_nodes WHERE level = 3 AND idx = 1; COMMIT`);
    await expect(store.inclusionProofs([1], 40)).rejects.toThrow(MerkleStoreError);
  });
});
