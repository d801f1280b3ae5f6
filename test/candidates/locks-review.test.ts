import type { PoolClient } from 'pg';
import { assignRecruiter, createCandidateDirectory, type CandidateDirectory } from '../../src/candidates';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * Review of issue 9: every channel finds its candidate with a shared row lock (so a merge cannot
 * move the candidate from under it) and may then set the candidate's recruiter, which needs an
 * update lock on the same row. Two transactions doing so for one candidate (two KF accounts'
 * pages with a servicer's first message, a contact callback beside a KF page) each held the shared
 * lock the other's update waited for: PostgreSQL's deadlock detector killed one after a second.
 * The finding lock is now FOR KEY SHARE, which a recruiter's update (FOR NO KEY UPDATE) does not
 * wait for, while a merge (FOR UPDATE) still does.
 */

const CORP = 'wwcorp0001';
const EXT = 'wmLockReview00001';

describe('candidate row locks', () => {
  let db: TestDatabase;
  let directory: CandidateDirectory;
  beforeEach(async () => {
    db = await createTestDatabase();
    directory = createCandidateDirectory(db.appPool);
  });
  afterEach(async () => {
    await db.drop();
  });

  async function begin(): Promise<PoolClient> {
    const c = await db.appPool.connect();
    await c.query('BEGIN');
    // A lock that waits for the other transaction fails the test with an error, not a jest timeout.
    await c.query("SET LOCAL lock_timeout = '10s'");
    return c;
  }

  test('two transactions find one candidate and both set its recruiter: no deadlock', async () => {
    const setup = await begin();
    const created = await directory.candidateFor(setup, CORP, EXT, { via: 'kf', openKfId: 'wkA' });
    await setup.query('COMMIT');
    setup.release();

    const [t1, t2] = [await begin(), await begin()];
    try {
      const c1 = await directory.candidateFor(t1, CORP, EXT, { via: 'kf', openKfId: 'wkA' });
      const c2 = await directory.candidateFor(t2, CORP, EXT, { via: 'kf', openKfId: 'wkB' });
      expect([c1.candidateId, c2.candidateId]).toEqual([created.candidateId, created.candidateId]);
      const assign = (tx: PoolClient, userid: string) =>
        assignRecruiter(tx, {
          corpId: CORP,
          candidateId: created.candidateId,
          userid,
          cause: `test-${userid}`,
          actor: userid,
          at: new Date(),
          onlyIfUnknown: true,
        });
      // t1 updates while t2 still holds its finding lock: with FOR SHARE this waited for t2, whose own
      // update then waited for t1 (the deadlock). t2's update is sent before t1 commits, so it waits
      // for t1's row lock. (Sent together, the server may take t2's first, and then awaiting t1
      // before committing t2 would wait for ever: the order is the test's, not the server's.)
      const r1 = await assign(t1, 'zhangsan');
      const p2 = assign(t2, 'lisi');
      await t1.query('COMMIT');
      const r2 = await p2;
      await t2.query('COMMIT');
      // The first sets it; the second, after the first committed, finds it set and keeps it.
      expect([r1.changed, r2.changed]).toEqual([true, false]);
      const { rows } = await db.pool.query('SELECT recruiter FROM candidates WHERE id = $1', [created.candidateId]);
      expect(rows[0].recruiter).toBe('zhangsan');
    } finally {
      for (const t of [t1, t2]) {
        await t.query('ROLLBACK').catch(() => undefined);
        t.release();
      }
    }
  }, 30000);
});
