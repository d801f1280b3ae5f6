import { spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  createLedger,
  createLedgerReader,
  DuplicateDecisionError,
  StaleStreamError,
  verifyLedger,
  type EvidenceEntry,
  type Ledger,
} from '../../src/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * The transactional write path for HireLedger's own decisions (issue 7 item 1): a domain write and
 * its evidence record commit together or not at all, a stream can be appended to only from the
 * head the caller decided on, and none of it deadlocks with group-committed ingestion.
 */
function decisionEntry(id: string, what: string, over: Partial<EvidenceEntry> = {}): EvidenceEntry {
  return {
    stream: `offer:${id}`,
    kind: `offer.${what}`,
    occurredAt: new Date(),
    actor: 'hireledger',
    source: 'hireledger',
    sourceRef: `offer:${id}:${what}`,
    payload: { state: what },
    raw: null,
    ...over,
  };
}

describe('ledger.transact', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  beforeEach(async () => {
    db = await createTestDatabase();
    await db.admin(`CREATE TABLE test_offers (id text PRIMARY KEY, state text NOT NULL)`);
    await db.admin(`GRANT SELECT, INSERT, UPDATE ON test_offers TO hireledger_app`);
    // As production: the least-privileged login.
    ledger = createLedger({ pool: db.appPool });
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
  });

  const offers = async () => (await db.pool.query('SELECT id, state FROM test_offers ORDER BY id')).rows;
  const records = async () => (await db.pool.query('SELECT stream, kind FROM evidence_records ORDER BY seq')).rows;

  test('the domain write and its record commit together', async () => {
    const { result, records: appended } = await ledger.transact(async (tx) => {
      await tx.query(`INSERT INTO test_offers VALUES ('o1', 'approved')`);
      return { result: 'ok', entries: [decisionEntry('o1', 'approved')] };
    });
    expect(result).toBe('ok');
    expect(appended).toMatchObject([{ status: 'appended', seq: 1 }]);
    expect(await offers()).toEqual([{ id: 'o1', state: 'approved' }]);
    const reader = createLedgerReader(db.appPool);
    expect(await reader.readStream('offer:o1')).toMatchObject([
      { seq: 1, kind: 'offer.approved', payload: { state: 'approved' } },
    ]);
    expect(await reader.streams('offer:')).toEqual([{ stream: 'offer:o1', records: 1 }]);
    expect((await verifyLedger(db.pool)).ok).toBe(true);
  });

  test('a failure after the domain write leaves neither', async () => {
    await expect(
      ledger.transact(async (tx) => {
        await tx.query(`INSERT INTO test_offers VALUES ('o1', 'approved')`);
        return { result: null, entries: [decisionEntry('o1', 'approved', { occurredAt: new Date(Number.NaN) })] };
      }),
    ).rejects.toThrow(/occurredAt/);
    expect(await offers()).toEqual([]);
    expect(await records()).toEqual([]);
  });

  test('kill -9 between the domain write and the commit leaves neither', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(__dirname, '..', 'support', 'transact-process.ts'), db.appUrl, 'o9'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('written') && resolve());
      child.once('exit', () => reject(new Error('child exited before writing')));
    });
    // The row exists only inside the child's open transaction.
    expect(await offers()).toEqual([]);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // PostgreSQL rolls the dead backend's transaction back; wait until it has noticed.
    for (let i = 0; i < 50; i++) {
      const { rows } = await db.pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'`,
        [db.name],
      );
      if (rows[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await offers()).toEqual([]);
    expect(await records()).toEqual([]);
    // And the ledger goes on from where it was.
    await ledger.append(decisionEntry('x', 'note'));
    expect((await verifyLedger(db.pool)).records).toBe(1);
  }, 30_000);

  test('two concurrent decisions from the same head: one wins, one is refused and rolled back', async () => {
    const first = await ledger.transact(async (tx) => {
      await tx.query(`INSERT INTO test_offers VALUES ('o1', 'approved')`);
      return { result: null, entries: [decisionEntry('o1', 'approved')], expectedHeads: { 'offer:o1': null } };
    });
    const head = first.records[0]?.hash ?? '';
    const decide = (state: string) =>
      ledger.transact(async (tx) => {
        await tx.query(`UPDATE test_offers SET state = $1 WHERE id = 'o1'`, [state]);
        return { result: state, entries: [decisionEntry('o1', state)], expectedHeads: { 'offer:o1': head } };
      });
    const settled = await Promise.allSettled([decide('sent'), decide('rescinded')]);
    const won = settled.filter((s) => s.status === 'fulfilled');
    const lost = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect(lost[0]?.reason).toBeInstanceOf(StaleStreamError);
    const winner = (won[0] as PromiseFulfilledResult<{ result: string }>).value.result;
    expect(await offers()).toEqual([{ id: 'o1', state: winner }]);
    expect((await records()).map((r) => r.kind)).toEqual(['offer.approved', `offer.${winner}`]);
  });

  test('decisions and group-committed ingestion interleave without deadlock, in seq order', async () => {
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 40; i++) {
      work.push(
        ledger.append({
          ...decisionEntry(`cb${i}`, 'callback'),
          stream: `wecom:kf:${i % 3}`,
          source: 'wecom.callback',
          sourceRef: `k${i}`,
        }),
      );
      work.push(
        ledger.transact(async (tx) => {
          await tx.query(`INSERT INTO test_offers VALUES ($1, 'draft')`, [`o${i}`]);
          return { result: null, entries: [decisionEntry(`o${i}`, 'draft')] };
        }),
      );
    }
    await Promise.all(work);
    const report = await verifyLedger(db.pool);
    expect(report).toMatchObject({ ok: true, records: 80 });
    const { rows } = await db.pool.query('SELECT recorded_at FROM evidence_records ORDER BY seq');
    const times = rows.map((r: { recorded_at: Date }) => r.recorded_at.getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  test('a decision whose record is already stored is refused and its domain write rolled back', async () => {
    await ledger.transact(async (tx) => {
      await tx.query(`INSERT INTO test_offers VALUES ('o1', 'approved')`);
      return { result: null, entries: [decisionEntry('o1', 'decision')] };
    });
    await expect(
      ledger.transact(async (tx) => {
        await tx.query(`UPDATE test_offers SET state = 'rescinded' WHERE id = 'o1'`);
        return { result: null, entries: [decisionEntry('o1', 'decision', { payload: { state: 'rescinded' } })] };
      }),
    ).rejects.toThrow(DuplicateDecisionError);
    expect(await offers()).toEqual([{ id: 'o1', state: 'approved' }]);
    // Unless the caller says the decision is idempotent by design.
    const again = await ledger.transact(async () => ({
      result: null,
      entries: [decisionEntry('o1', 'decision')],
      allowDuplicates: true,
    }));
    expect(again.records).toMatchObject([{ status: 'duplicate', seq: 1 }]);
  });

  test('expected heads hold for streams the decision does not append to', async () => {
    const first = await ledger.transact(async () => ({ result: null, entries: [decisionEntry('o1', 'approved')] }));
    const head = first.records[0]?.hash ?? '';
    const toCandidate = (expected: string | null) =>
      ledger.transact(async () => ({
        result: null,
        entries: [decisionEntry('o1', `note-${String(expected)}`, { stream: 'candidate:c1' })],
        expectedHeads: { 'offer:o1': expected },
      }));
    await expect(toCandidate(null)).rejects.toThrow(StaleStreamError);
    await expect(toCandidate(head)).resolves.toMatchObject({ records: [{ status: 'appended' }] });
  });

  test('the work cannot commit or roll back the transaction behind the ledger', async () => {
    await expect(
      ledger.transact(async (tx) => {
        await tx.query(`INSERT INTO test_offers VALUES ('o1', 'approved')`);
        await tx.query('COMMIT');
        return { result: null, entries: [] };
      }),
    ).rejects.toThrow(/may not begin, commit or roll back/);
    expect(await offers()).toEqual([]);
  });
});
