import { createCandidateDirectory } from '../../../src/candidates';
import { checkConsent } from '../../../src/conversations/archive';
import { candidateOf, startKfWorld, type KfWorld } from '../support';

/**
 * Review of issue 9, gap (a): consent asked of WeCom (msgaudit/check_single_agree, doc 91782)
 * through the client, answered by the sandbox, recorded as a `conversation.consent` record on the
 * candidate's stream under the opaque id; asking again unchanged adds nothing, a change adds one.
 */

const CAND = 'wmCandChenChen0001';
const OTHER = 'wmCandLinXiao0002';

describe('msgaudit/check_single_agree', () => {
  let w: KfWorld;
  beforeEach(async () => {
    w = await startKfWorld();
  });
  afterEach(async () => {
    await w.close();
  });

  test('the client asks, the sandbox answers, each consent is one record; unchanged adds nothing, a change adds one', async () => {
    const corpId = w.app.keys.corpId;
    const deps = {
      msgaudit: w.wecom.msgaudit,
      directory: createCandidateDirectory(w.app.db.appPool),
      transact: w.ledger.transact.bind(w.ledger),
    };
    await w.admin('msgaudit/agree', { userid: 'ZhangMin', external_userid: CAND, agree: true });
    const pairs = [
      { userid: 'zhangmin', externalUserId: CAND },
      { userid: 'zhangmin', externalUserId: OTHER },
    ];
    const first = await checkConsent(deps, corpId, pairs);
    expect(first.map((r) => [r.externalUserId, r.status, r.recorded])).toEqual([
      [CAND, 'agree', true],
      [OTHER, 'disagree', true],
    ]);
    const records = async () => w.records("kind = 'conversation.consent'");
    const stored = await records();
    const cand = await candidateOf(w, CAND);
    expect(stored[0]).toEqual(expect.objectContaining({ stream: `candidate:${cand}`, actor: cand, source: 'wecom.msgaudit' }));
    expect(stored[0]?.payload).toEqual(
      expect.objectContaining({ via: 'check_single_agree', status: 'agree', recruiter: 'zhangmin', external_userid: CAND }),
    );
    // No personal data in the hashed header (DECISIONS 4).
    for (const r of stored) for (const f of [r.stream, r.actor, r.source_ref]) expect(f).not.toMatch(/wmCand/);

    // Asked again, nothing changed: nothing added.
    expect((await checkConsent(deps, corpId, pairs)).map((r) => r.recorded)).toEqual([false, false]);
    expect(await records()).toHaveLength(2);

    // The candidate withdraws consent .
    await w.admin('msgaudit/agree', { userid: 'zhangmin', external_userid: CAND, agree: false });
    const third = await checkConsent(deps, corpId, pairs.slice(0, 1));
    expect(third.map((r) => [r.status, r.recorded])).toEqual([['disagree', true]]);
    expect((await records()).map((r) => r.payload.status)).toEqual(['agree', 'disagree', 'disagree']);
  }, 60000);

  test('more than 100 pairs are refused before anything is sent', async () => {
    const pairs = Array.from({ length: 101 }, (_, i) => ({ userid: 'zhangmin', externalUserId: `wmX${i}` }));
    await expect(w.wecom.msgaudit.checkSingleAgree(pairs)).rejects.toThrow(/1 to 100/);
  });
});
