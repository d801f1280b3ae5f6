import { createLedger, type JsonValue, type Ledger } from '../../src/evidence';
import {
  CANDIDATE_ID,
  createCandidateDirectory,
  linkRecord,
  positionState,
  savePosition,
  type CandidateDirectory,
  type FirstContact,
} from '../../src/candidates';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * The candidate directory (src/candidates/directory.ts, the contract the KF and archive channels
 * code against), against the real PostgreSQL as the app's least-privileged login.
 */

const CORP = 'wwcorp0001';

interface Row {
  seq: string;
  stream: string;
  kind: string;
  actor: string;
  source: string;
  source_ref: string;
  payload: { [key: string]: JsonValue };
  hash: string;
}

describe('the candidate directory', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let directory: CandidateDirectory;
  beforeEach(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    directory = createCandidateDirectory(db.appPool);
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
  });

  const records = async (where = 'true'): Promise<Row[]> =>
    (
      await db.pool.query<Row>(
        `SELECT seq, stream, kind, actor, source, source_ref, payload, hash FROM evidence_records WHERE ${where} ORDER BY seq`,
      )
    ).rows;

  /** candidateFor inside a ledger transaction, appending what it returns, as a channel does. */
  const candidateFor = (externalUserId: string, contact: FirstContact, holdMs = 0) =>
    ledger.transact(async (tx) => {
      const ref = await directory.candidateFor(tx, CORP, externalUserId, contact);
      // Keep the transaction open a while, so concurrent callers overlap for real.
      if (holdMs > 0) await new Promise((r) => setTimeout(r, holdMs));
      return { result: ref, entries: ref.entries };
    });

  test('first contact creates the candidate with its candidate.created record; the next finds it', async () => {
    const { result: first, records: appended } = await candidateFor('wmExt_AbC-1', { via: 'contact', userid: 'ZhangMin' });
    expect(first.created).toBe(true);
    expect(first.candidateId).toMatch(CANDIDATE_ID);
    expect(first.stream).toBe(`candidate:${first.candidateId}`);
    // The member's userid is lower-cased (DECISIONS 8) and becomes the recruiter.
    expect(first.recruiter).toBe('zhangmin');
    expect(appended).toMatchObject([{ status: 'appended' }]);

    const [created] = await records();
    expect(created).toMatchObject({
      stream: first.stream,
      kind: 'candidate.created',
      actor: 'zhangmin',
      source: 'hireledger.candidates',
      source_ref: `created:${first.candidateId}`,
    });
    // The hashed header names the opaque id only; the external_userid is in the (erasable) payload, exactly.
    for (const field of ['stream', 'actor', 'source_ref'] as const) expect(created?.[field]).not.toContain('wmExt');
    expect(created?.payload).toEqual({
      candidate_id: first.candidateId,
      external_userid: 'wmExt_AbC-1',
      recruiter: 'zhangmin',
      first_contact: { via: 'contact', userid: 'zhangmin' },
    });

    const { result: second, records: none } = await candidateFor('wmExt_AbC-1', { via: 'kf', openKfId: 'wkKF1' });
    expect(second).toEqual({ ...first, created: false, entries: [] });
    expect(none).toEqual([]);
    expect(await directory.find(CORP, 'wmExt_AbC-1')).toEqual({
      candidateId: first.candidateId,
      stream: first.stream,
      recruiter: 'zhangmin',
    });
    expect(await directory.get(CORP, first.candidateId)).toEqual(await directory.find(CORP, 'wmExt_AbC-1'));
    // Another corp's directory knows nobody.
    expect(await directory.find('wwother', 'wmExt_AbC-1')).toBeNull();
    expect(await directory.get('wwother', first.candidateId)).toBeNull();
    expect(await directory.get(CORP, 'cd_00000000000000000000000000000000')).toBeNull();
    expect(await directory.get(CORP, 'not-an-id')).toBeNull();
  });

  test('external_userid is kept exactly: ids differing in case are two candidates', async () => {
    const { result: a } = await candidateFor('wmAbC', { via: 'kf', openKfId: 'wkKF1' });
    const { result: b } = await candidateFor('wmabc', { via: 'kf', openKfId: 'wkKF1' });
    expect(a.created && b.created).toBe(true);
    expect(a.candidateId).not.toBe(b.candidateId);
    // A KF first contact names no recruiter and is HireLedger's doing.
    expect(a.recruiter).toBeNull();
    expect((await records()).map((r) => r.actor)).toEqual(['hireledger', 'hireledger']);
    const { rows } = await db.pool.query('SELECT external_userid FROM candidate_external_ids ORDER BY external_userid');
    expect(rows).toEqual([{ external_userid: 'wmAbC' }, { external_userid: 'wmabc' }]);
  });

  test('concurrent first contacts of one external_userid make one candidate and one record', async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        candidateFor('wmSameTime', i % 2 === 0 ? { via: 'kf', openKfId: 'wkKF1' } : { via: 'archive', userid: 'LiQiang' }, 150),
      ),
    );
    const ids = new Set(results.map((r) => r.result.candidateId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.result.created)).toHaveLength(1);
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM candidates');
    expect(rows[0]?.n).toBe(1);
    expect(await records("kind = 'candidate.created'")).toHaveLength(1);
  });

  test('a rolled-back first contact leaves nobody; the next caller creates the candidate', async () => {
    await expect(
      ledger.transact(async (tx) => {
        await directory.candidateFor(tx, CORP, 'wmRolledBack', { via: 'kf', openKfId: 'wkKF1' });
        throw new Error('the caller failed');
      }),
    ).rejects.toThrow('the caller failed');
    expect(await directory.find(CORP, 'wmRolledBack')).toBeNull();
    const { result } = await candidateFor('wmRolledBack', { via: 'kf', openKfId: 'wkKF1' });
    expect(result.created).toBe(true);
    expect(await records()).toHaveLength(1);
  });

  test("a contact way's State pos:<id> ties the new candidate to an open position; other States tie nothing", async () => {
    await savePosition(db.appPool, CORP, {
      id: 'fe-2026-01',
      title: '前端工程师',
      department: '技术部',
      salaryMin: 20000,
      salaryMax: 30000,
      level: 'P6',
    });
    expect(positionState('fe-2026-01')).toBe('pos:fe-2026-01');
    expect(positionState('fe-2026-01').length).toBeLessThanOrEqual(30);
    const { result } = await candidateFor('wmWithState', { via: 'contact', userid: 'zhangmin', state: 'pos:fe-2026-01' });
    const [created, position] = await records();
    expect(created?.kind).toBe('candidate.created');
    expect(position).toMatchObject({
      stream: result.stream,
      kind: 'candidate.position',
      actor: 'zhangmin',
      source_ref: `position:${result.candidateId}:fe-2026-01:first-contact`,
      payload: {
        candidate_id: result.candidateId,
        position_id: 'fe-2026-01',
        title: '前端工程师',
        via: 'contact_way',
        state: 'pos:fe-2026-01',
      },
    });
    const { rows } = await db.pool.query('SELECT candidate_id, position_id, via FROM candidate_positions');
    expect(rows).toEqual([{ candidate_id: result.candidateId, position_id: 'fe-2026-01', via: 'contact_way' }]);

    // A KF scene_param names a position the same way; an unknown position or another tag ties nothing.
    await candidateFor('wmKfScene', { via: 'kf', openKfId: 'wkKF1', sceneParam: 'pos:fe-2026-01' });
    await candidateFor('wmUnknownPos', { via: 'contact', userid: 'zhangmin', state: 'pos:nope' });
    await candidateFor('wmCampaign', { via: 'contact', userid: 'zhangmin', state: 'campus-2026' });
    expect((await records("kind = 'candidate.position'")).map((r) => r.payload['via'])).toEqual(['contact_way', 'kf']);
    const [campaign] = await records(`kind = 'candidate.created' AND payload->>'external_userid' = 'wmCampaign'`);
    expect(campaign?.payload['first_contact']).toEqual({ via: 'contact', userid: 'zhangmin', state: 'campus-2026' });
  });

  test('linkRecord attaches a stored record once, by seq, hash and stream, never touching it', async () => {
    const callback = await ledger.append({
      stream: 'wecom:kf:wkKF1',
      kind: 'wecom.callback.event.kf_msg_or_event',
      occurredAt: new Date(),
      actor: 'wecom',
      source: 'wecom.callback',
      sourceRef: `${CORP}:kf:wkKF1:token1`,
      payload: { type: 'event.kf_msg_or_event' },
      raw: null,
    });
    const { result: ref } = await candidateFor('wmLinked', { via: 'kf', openKfId: 'wkKF1' });
    const link = () =>
      ledger.transact(async (tx) => {
        const { entries } = await linkRecord(tx, {
          corpId: CORP,
          candidateId: ref.candidateId,
          record: { seq: callback.seq, hash: callback.hash, stream: 'wecom:kf:wkKF1' },
          reason: 'kf_event',
          at: new Date(),
        });
        return { result: entries.length, entries };
      });
    expect((await link()).result).toBe(1);
    expect((await link()).result).toBe(0);
    const links = await records("kind = 'candidate.link'");
    expect(links).toHaveLength(1);
    expect(links[0]).toMatchObject({
      stream: ref.stream,
      source_ref: `link:${ref.candidateId}:${callback.seq}`,
      payload: {
        candidate_id: ref.candidateId,
        reason: 'kf_event',
        linked: { seq: callback.seq, hash: callback.hash, stream: 'wecom:kf:wkKF1' },
      },
    });
  });
});
