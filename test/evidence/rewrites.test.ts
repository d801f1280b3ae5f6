import { createLedger, verifyLedger, type Ledger } from '../../src/evidence';
import type { TreeHead } from '../../src/evidence/verify';
import { conversationMessage, evidenceEntry } from '../factories/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { readAllRows, rewriteLedger, type Row } from '../support/tamper';

/**
 * Rewrites an administrator can make consistent everywhere in the database (issue 6, finding 9),
 * and the precision findings (8). The attacker here is thorough: a superuser with triggers off who
 * re-hashes every record after the change, fixes the heads and the counter, and rebuilds the
 * Merkle nodes, so the database alone says intact. Only a tree head kept outside it catches them.
 */

describe('rewrites made consistent inside the database', () => {
  let db: TestDatabase;
  let ledger: Ledger;

  const rewriteAll = (rows: Row[], opts?: { merkle: boolean }) => rewriteLedger(db, rows, opts);
  const allRows = () => readAllRows(db);

  async function headAt(label: string): Promise<TreeHead> {
    const report = await verifyLedger(db.pool);
    expect(report.ok).toBe(true);
    return { size: report.records, rootHash: Buffer.from(report.rootHash, 'hex'), label };
  }

  async function append(count: number, from: number) {
    for (let i = from; i < from + count; i++) {
      await ledger.append(
        conversationMessage(i, {
          stream: i % 3 === 0 ? 'candidate:a' : i % 3 === 1 ? 'candidate:b' : 'offer:1',
          occurredAt: new Date(Date.UTC(2026, 10, 20, 9, 0, i % 60)),
          payload: { text: `消息 ${i}`, n: 1000000 + i },
        }),
      );
    }
  }

  let heads: TreeHead[];
  beforeEach(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.pool });
    heads = [];
    await append(10, 1);
    heads.push(await headAt('checkpoint at 10'));
    await append(10, 11);
    heads.push(await headAt('checkpoint at 20'));
    await append(10, 21);
    heads.push(await headAt('checkpoint at 30'));
    await append(7, 31);
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
  });

  test('intact: every checkpoint matches', async () => {
    const report = await verifyLedger(db.pool, { treeHeads: heads });
    expect(report.ok).toBe(true);
    expect(report.checkpoints.map((c) => [c.size, c.matches])).toEqual([
      [10, true],
      [20, true],
      [30, true],
    ]);
  });

  test("one stream's suffix re-hashed: intact without a checkpoint, located to a range with one", async () => {
    const rows = await allRows();
    (rows[24] as Row).payload = { text: '你肯定被录用了', n: 1000025 };
    await rewriteAll(rows);
    expect((await verifyLedger(db.pool)).ok).toBe(true); // the point: the database alone cannot tell
    const report = await verifyLedger(db.pool, { treeHeads: heads });
    expect(report.ok).toBe(false);
    expect(report.firstProblem?.kind).toBe('checkpoint_mismatch');
    expect(report.rewrite).toMatchObject({ afterSeq: 20, throughSeq: 30 });
    expect(report.firstProblem?.detail).toContain('after seq 20 through seq 30');
  });

  test('when the Merkle nodes were left alone, the record itself is named', async () => {
    const rows = await allRows();
    (rows[24] as Row).payload = { text: '你肯定被录用了', n: 1000025 };
    await rewriteAll(rows, { merkle: false });
    const report = await verifyLedger(db.pool, { treeHeads: heads });
    expect(report.rewrite).toMatchObject({ afterSeq: 20, throughSeq: 30, firstSuspectSeq: 25 });
  });

  test('two records swapped and both streams re-hashed', async () => {
    const rows = await allRows();
    const [a, b] = [rows[12] as Row, rows[13] as Row];
    rows[12] = b;
    rows[13] = a;
    await rewriteAll(rows);
    expect((await verifyLedger(db.pool)).ok).toBe(true);
    const report = await verifyLedger(db.pool, { treeHeads: heads });
    expect(report.rewrite).toMatchObject({ afterSeq: 10, throughSeq: 20 });
  });

  test('the global tail cut and the counter fixed', async () => {
    const rows = await allRows();
    await rewriteAll(rows.slice(0, 25));
    expect((await verifyLedger(db.pool)).ok).toBe(true);
    const report = await verifyLedger(db.pool, { treeHeads: heads });
    expect(report.ok).toBe(false);
    expect(report.checkpoints.find((c) => c.size === 30)).toMatchObject({ matches: false });
    expect(report.rewrite).toMatchObject({ afterSeq: 20 });
  });
});

describe('verification compares exactly what the hash covers (finding 8)', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
    const ledger = createLedger({ pool: db.pool });
    for (let i = 1; i <= 3; i++) {
      await ledger.append(
        evidenceEntry({
          stream: 's',
          kind: 'k',
          occurredAt: new Date(Date.UTC(2026, 10, 20, 9, 0, i)),
          actor: 'a',
          sourceRef: `r${i}`,
          payload: { n: 1000002 },
        }),
      );
    }
    await ledger.close();
  });
  afterEach(() => db.drop());

  async function tamper(sql: string) {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN; SET LOCAL session_replication_role = replica');
      await client.query('ALTER TABLE evidence_records DROP CONSTRAINT evidence_records_millisecond_precision');
      await client.query(sql);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  }

  test('a 400 µs change to occurred_at', async () => {
    await tamper(`UPDATE evidence_records SET occurred_at = occurred_at + interval '400 microseconds' WHERE seq = 2`);
    const p = (await verifyLedger(db.pool)).firstProblem;
    expect(p).toMatchObject({ kind: 'hash_mismatch', seq: 2 });
    expect(p?.detail).toContain('finer than the millisecond');
  });

  test('1000002 → 1000002.0', async () => {
    await tamper(`UPDATE evidence_records SET payload = '{"n": 1000002.0}' WHERE seq = 2`);
    expect((await verifyLedger(db.pool)).firstProblem).toMatchObject({ kind: 'content_mismatch', seq: 2 });
  });

  test('an integer beyond 2^53 names the record instead of crashing', async () => {
    await tamper(`UPDATE evidence_records SET payload = '{"n": 9007199254740993}' WHERE seq = 3`);
    const p = (await verifyLedger(db.pool)).firstProblem;
    expect(p).toMatchObject({ kind: 'content_mismatch', seq: 3 });
    expect(p?.detail).toContain('9007199254740993');
  });

  test('the database refuses new rows finer than the millisecond', async () => {
    await expect(
      db.pool.query(
        `INSERT INTO evidence_records (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref, payload, payload_sha256, hash)
                     VALUES (99, 1, 'x', 'k', '2026-01-01T00:00:00.0004Z', '2026-01-01T00:00:00Z', 'a', 'test', 'p', '{}', $1, $1)`,
        ['0'.repeat(64)],
      ),
    ).rejects.toThrow(/millisecond_precision/);
  });
});

describe('verify runs against a live ledger (finding 7)', () => {
  test('appends running during verification never make it report counter or head mismatches', async () => {
    const db = await createTestDatabase();
    const ledger = createLedger({ pool: db.pool, batchMax: 8 });
    let stop = false;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        await ledger.append(
          evidenceEntry({
            stream: `s${(w + i) % 5}`,
            kind: 'k',
            occurredAt: new Date(),
            actor: 'a',
            sourceRef: `${w}-${i}`,
            payload: { i },
          }),
        );
      }
    });
    try {
      for (let round = 0; round < 15; round++) {
        const report = await verifyLedger(db.pool, 7);
        expect(report.firstProblem).toBeNull();
      }
    } finally {
      stop = true;
      await Promise.all(writers);
      await ledger.close();
      await db.drop();
    }
  });
});
