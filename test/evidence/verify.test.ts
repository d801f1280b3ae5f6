import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { contentDigest, createLedger, leafHash, verifyLedger, type RecordFields } from '../../src/evidence';
import { conversationMessage } from '../factories/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { tamperAsSuperuser } from '../support/tamper';

const run = promisify(execFile);

/**
 * Tampering "behind the application's back": a superuser with triggers switched off
 * (session_replication_role = replica) edits, deletes, reorders and inserts rows. Each must be
 * caught by the verifier, which names the first broken record.
 */
describe('evidence:verify catches tampering', () => {
  let db: TestDatabase;

  const tamper = (sql: string, params: unknown[] = []) => tamperAsSuperuser(db, sql, params);

  /** A well-formed record (correct digests and hash for its fields) written behind the ledger's back. */
  async function insertForged(f: RecordFields): Promise<void> {
    await tamper(
      `INSERT INTO evidence_records (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref,
                                     payload, payload_sha256, raw, raw_sha256, prev_hash, hash)
       VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        f.seq,
        f.stream,
        f.kind,
        f.occurredAt,
        f.recordedAt,
        f.actor,
        f.source,
        f.sourceRef,
        f.payload,
        contentDigest(f.payload),
        f.raw,
        f.raw === null ? null : contentDigest(f.raw),
        f.prevHash,
        leafHash(f),
      ],
    );
  }

  async function row(seq: number) {
    const { rows } = await db.pool.query('SELECT * FROM evidence_records WHERE seq = $1', [seq]);
    return rows[0];
  }

  beforeEach(async () => {
    db = await createTestDatabase();
    const ledger = createLedger({ pool: db.pool });
    // 10 records over 2 streams: a at odd seqs, b at even ones.
    for (let i = 1; i <= 10; i++) {
      await ledger.append(
        conversationMessage(i, {
          stream: i % 2 ? 'candidate:a' : 'candidate:b',
          actor: i % 2 ? 'wmCandA' : 'zhangmin',
          raw: { body: `<xml>${i}</xml>` },
        }),
      );
    }
    await ledger.close();
  });
  afterEach(() => db.drop());

  test('intact data verifies', async () => {
    const report = await verifyLedger(db.pool);
    expect(report).toMatchObject({ ok: true, records: 10, streams: 2, lastSeq: 10 });
    expect(report.headHash).toBe((await row(10)).hash);
  });

  test('one changed byte in a payload → content_mismatch at that seq', async () => {
    await tamper(`UPDATE evidence_records SET payload = '{"text":"消息 5!"}' WHERE seq = 5`);
    expect((await verifyLedger(db.pool)).firstProblem).toMatchObject({ kind: 'content_mismatch', seq: 5 });
  });

  test('a payload changed together with its digest → hash_mismatch at that seq', async () => {
    const payload = { text: '消息 5!' };
    await tamper(`UPDATE evidence_records SET payload = $1, payload_sha256 = $2 WHERE seq = 5`, [
      payload,
      contentDigest(payload),
    ]);
    expect((await verifyLedger(db.pool)).firstProblem).toMatchObject({ kind: 'hash_mismatch', seq: 5 });
  });

  test('a changed timestamp → hash_mismatch', async () => {
    await tamper(`UPDATE evidence_records SET occurred_at = occurred_at - interval '1 day' WHERE seq = 4`);
    expect((await verifyLedger(db.pool)).firstProblem).toMatchObject({ kind: 'hash_mismatch', seq: 4 });
  });

  test('a deleted middle record → seq_gap naming the missing seq', async () => {
    await tamper(`DELETE FROM evidence_records WHERE seq = 6`);
    expect((await verifyLedger(db.pool)).firstProblem).toMatchObject({ kind: 'seq_gap', seq: 7 });
    expect((await verifyLedger(db.pool)).firstProblem?.detail).toContain('expected seq 6');
  });

  test('two records swapped → the first of them is reported', async () => {
    await tamper(`UPDATE evidence_records SET seq = seq + 1000 WHERE seq IN (3, 5)`);
    await tamper(`UPDATE evidence_records SET seq = CASE seq WHEN 1003 THEN 5 ELSE 3 END WHERE seq IN (1003, 1005)`);
    const p = (await verifyLedger(db.pool)).firstProblem;
    expect(p?.seq).toBe(3);
    expect(['chain_broken', 'hash_mismatch']).toContain(p?.kind);
  });

  test('a record edited and re-hashed → its successor no longer links to it', async () => {
    const r = await row(5);
    const payload = { text: '改过的消息' };
    const hash = leafHash({
      seq: 5,
      stream: r.stream,
      kind: r.kind,
      occurredAt: r.occurred_at,
      recordedAt: r.recorded_at,
      actor: r.actor,
      source: r.source,
      sourceRef: r.source_ref,
      payload,
      raw: r.raw,
      prevHash: r.prev_hash,
    });
    await tamper(`UPDATE evidence_records SET payload = $1, payload_sha256 = $2, hash = $3 WHERE seq = 5`, [
      payload,
      contentDigest(payload),
      hash,
    ]);
    expect((await verifyLedger(db.pool)).firstProblem).toMatchObject({ kind: 'chain_broken', seq: 7, stream: 'candidate:a' });
  });

  test('a record inserted in the middle (later ones renumbered) → caught at the insertion', async () => {
    // A superuser can drop the no-fork constraint too; the chain still gives the insertion away.
    await tamper(`ALTER TABLE evidence_records DROP CONSTRAINT evidence_records_no_fork`);
    await tamper(`UPDATE evidence_records SET seq = seq + 100 WHERE seq > 4`);
    await tamper(`UPDATE evidence_records SET seq = seq - 99 WHERE seq > 100`);
    const prev = await row(3);
    const forged = {
      seq: 5,
      stream: 'candidate:a',
      kind: 'conversation.message',
      occurredAt: new Date(Date.UTC(2026, 10, 20, 9, 0, 4)),
      recordedAt: new Date(),
      actor: 'zhangmin',
      source: 'test',
      sourceRef: 'forged',
      payload: { text: '你肯定被录用了' },
      raw: null,
      prevHash: prev.hash,
    };
    await insertForged(forged);
    // The forged record itself is consistent; the original that used to be seq 5 now sits at 6
    // and still links to seq 3, not to the forged record, so the verifier stops there.
    expect((await verifyLedger(db.pool)).firstProblem).toMatchObject({ kind: 'chain_broken', seq: 6 });
  });

  test('a well-formed record appended at the tail outside the ledger → counter_mismatch', async () => {
    const head = await row(9);
    const forged = {
      seq: 11,
      stream: 'candidate:a',
      kind: 'conversation.message',
      occurredAt: new Date(),
      recordedAt: new Date(),
      actor: 'wmCandA',
      source: 'test',
      sourceRef: 'late',
      payload: { text: '我已经辞职了' },
      raw: null,
      prevHash: head.hash,
    };
    await insertForged(forged);
    expect((await verifyLedger(db.pool)).firstProblem).toMatchObject({ kind: 'counter_mismatch' });
  });

  test('the tail cut off → counter_mismatch', async () => {
    await tamper(`DELETE FROM evidence_records WHERE seq = 10`);
    expect((await verifyLedger(db.pool)).firstProblem).toMatchObject({ kind: 'counter_mismatch', seq: 10 });
  });

  test('a row with an unknown hash_version is reported as unsupported, not as tampered (F20)', async () => {
    await tamper(`UPDATE evidence_records SET hash_version = 9 WHERE seq = 2`);
    expect((await verifyLedger(db.pool)).firstProblem).toMatchObject({ kind: 'unsupported_version', seq: 2 });
  });

  test('npm run evidence:verify exits 0 with a summary, and 2 naming the first broken record', async () => {
    const tsx = join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');
    const script = join(__dirname, '..', '..', 'scripts', 'evidence-verify.ts');
    const env = { ...process.env, DATABASE_URL: db.url };
    const ok = await run(tsx, [script], { env });
    expect(ok.stdout).toMatch(/evidence ledger intact: 10 records, 2 streams, head [0-9a-f]{64}/);
    await tamper(`UPDATE evidence_records SET actor = 'someone' WHERE seq = 8`);
    const bad = await run(tsx, [script], { env }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('BROKEN at seq 8');
  }, 30000);
});
