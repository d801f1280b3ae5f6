import { createCandidateDirectory } from '../../src/candidates';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * Review of issue 9 (DECISIONS 8): external_userids are case-sensitive WeCom ids, kept exactly. Two
 * that differ only in case are two people: two candidates, each found by its own exact id only.
 */

const CORP = 'wwcorp0001';

describe('external_userids that differ only in case', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await db.drop();
  });

  test('are two candidates, never matched to each other', async () => {
    const directory = createCandidateDirectory(db.appPool);
    const tx = await db.appPool.connect();
    try {
      await tx.query('BEGIN');
      const a = await directory.candidateFor(tx, CORP, 'wmCaseCollide0001', { via: 'kf', openKfId: 'wkA' });
      const b = await directory.candidateFor(tx, CORP, 'wmcasecollide0001', { via: 'kf', openKfId: 'wkA' });
      const c = await directory.candidateFor(tx, CORP, 'WMCASECOLLIDE0001', { via: 'kf', openKfId: 'wkA' });
      await tx.query('COMMIT');
      expect(new Set([a.candidateId, b.candidateId, c.candidateId]).size).toBe(3);
      expect([a.created, b.created, c.created]).toEqual([true, true, true]);
    } finally {
      tx.release();
    }
    expect((await directory.find(CORP, 'wmcasecollide0001'))?.candidateId).not.toBe(
      (await directory.find(CORP, 'wmCaseCollide0001'))?.candidateId,
    );
    expect(await directory.find(CORP, 'WmCaseCollide0001')).toBeNull();
  });
});
