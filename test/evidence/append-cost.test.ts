import { Pool } from 'pg';
import { createLedger } from '../../src/evidence';
import { evidenceEntry as entry } from '../factories/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * What an append costs PostgreSQL must not grow with the ledger (issue 8). PL/pgSQL caches the
 * plans of evidence_append()'s statements per connection, and those statements select the batch by
 * `seq > old_seq`: a generic plan, costed while the table was small, went on scanning the whole
 * table on every later batch, so PostgreSQL's CPU per record grew with the number of records stored.
 * Counted here by what PostgreSQL read from evidence_records (rows by sequential scans, index
 * entries by index scans) while one connection appends batch after batch, as the API's does.
 */
describe('evidence append cost', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  /** Rows and index entries read from evidence_records, and rows inserted, as PostgreSQL counts them. */
  async function tableStats(): Promise<{ reads: number; inserted: number }> {
    await db.admin('SELECT pg_stat_clear_snapshot()');
    const [row] = (await db.admin(
      `SELECT t.seq_tup_read + coalesce((SELECT sum(i.idx_tup_read) FROM pg_stat_user_indexes i WHERE i.relid = t.relid), 0) AS reads,
              t.n_tup_ins AS inserted
         FROM pg_stat_user_tables t WHERE t.relname = 'evidence_records'`,
    )) as { reads: string; inserted: string }[];
    return { reads: Number(row?.reads ?? NaN), inserted: Number(row?.inserted ?? NaN) };
  }

  test('each batch reads about its own rows, however many the ledger already holds', async () => {
    const batches = 150;
    const perBatch = 20;
    const pool = new Pool({ connectionString: db.appUrl, max: 1, pipeline: true });
    const ledger = createLedger({ pool, batchMax: perBatch });
    try {
      for (let b = 0; b < batches; b++) {
        await Promise.all(Array.from({ length: perBatch }, (_, i) => ledger.append(entry({ stream: `candidate:${i % 5}` }))));
      }
    } finally {
      await ledger.close();
      // The backend exits and hands its statistics over; they are read once they have arrived.
      await pool.end();
    }
    const records = batches * perBatch;
    let stats = await tableStats();
    for (let i = 0; i < 50 && stats.inserted < records; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await tableStats();
    }
    expect(stats.inserted).toBe(records);
    // Each record is looked up by its keys, linked to its stream's head and folded into the Merkle
    // tree: a few dozen index entries each (~46 measured). A scan of the table per batch read ~345.
    expect(stats.reads / records).toBeLessThan(100);
  });
});
