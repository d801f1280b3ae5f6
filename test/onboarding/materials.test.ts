import { CANDIDATE_STREAMS } from '../../src/candidates';
import { DEFAULT_MATERIALS, ONBOARDING_KINDS, OnboardingError } from '../../src/onboarding';
import { RECRUITER, acceptedOffer, draftedOffer, records, startIdleWorld, type IdleWorld } from '../reminders/idle-support';

/**
 * The onboarding-materials checklist (issue 10 item 6): what a position requires (the shipped
 * default, an admin's rows over it) and, per accepted offer, each material marked received by the
 * recruiter with its evidence record in the same transaction. Real PostgreSQL and ledger.
 */

async function refusal(p: Promise<unknown>): Promise<OnboardingError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof OnboardingError) return err;
    throw err;
  }
  throw new Error('not refused');
}

describe('onboarding materials', () => {
  let w: IdleWorld | undefined;
  beforeAll(async () => {
    w = await startIdleWorld({ approvals: false });
  }, 30_000);
  afterAll(async () => {
    await w?.stop();
  });
  const world = (): IdleWorld => {
    if (!w) throw new Error('the world did not start');
    return w;
  };

  test('an accepted offer: each material marked once, its record committed with it; complete when nothing is missing', async () => {
    const o = await acceptedOffer(world(), '2026-12-21');
    const before = await world().onboarding.materialsOf(world().corpId, o.offerId);
    expect(before).toMatchObject({ offerState: 'accepted', startDate: '2026-12-21', recruiter: RECRUITER, received: [] });
    expect(before!.required).toEqual([...DEFAULT_MATERIALS]);
    expect(before!.missing).toEqual([...DEFAULT_MATERIALS]);

    const first = await world().onboarding.markReceived({
      corpId: world().corpId,
      offerId: o.offerId,
      material: ' 离职证明 ',
      actor: 'ZhangMin',
    });
    expect(first.recorded).toBe(true);
    expect(first.view.missing).toEqual(['身份证复印件', '学历学位证书', '体检报告', '银行卡信息']);
    // Again: nothing changes, no second record.
    const again = await world().onboarding.markReceived({
      corpId: world().corpId,
      offerId: o.offerId,
      material: '离职证明',
      actor: 'zhangmin',
    });
    expect(again.recorded).toBe(false);
    const stream = CANDIDATE_STREAMS.candidate(o.candidateId);
    let recs = await records(world(), stream, ONBOARDING_KINDS.materialReceived);
    expect(recs).toHaveLength(1);
    expect(recs[0]!.payload).toMatchObject({
      offer_id: o.offerId,
      material: '离职证明',
      received_by: 'zhangmin',
      complete: false,
      missing: ['身份证复印件', '学历学位证书', '体检报告', '银行卡信息'],
    });
    for (const m of ['身份证复印件', '学历学位证书', '体检报告', '银行卡信息']) {
      await world().onboarding.markReceived({ corpId: world().corpId, offerId: o.offerId, material: m, actor: RECRUITER });
    }
    recs = await records(world(), stream, ONBOARDING_KINDS.materialReceived);
    expect(recs).toHaveLength(5);
    expect(recs[4]!.payload).toMatchObject({ material: '银行卡信息', complete: true, missing: [] });
    const { rows } = await world().app.db.pool.query('SELECT material FROM onboarding_materials WHERE offer_id = $1', [
      o.offerId,
    ]);
    expect(rows).toHaveLength(5);
  });

  test('refused with a precise reason and nothing written: unknown material, empty input, no such offer, an offer not accepted', async () => {
    const o = await acceptedOffer(world(), '2026-12-21');
    const mark = (material: string, offerId = o.offerId, actor = RECRUITER) =>
      refusal(world().onboarding.markReceived({ corpId: world().corpId, offerId, material, actor }));
    expect(await mark('户口本')).toMatchObject({ status: 400, code: 'material_not_required' });
    expect(await mark('  ')).toMatchObject({ status: 400, code: 'material_missing' });
    expect(await mark('离职证明', o.offerId, '')).toMatchObject({ status: 400, code: 'actor_missing' });
    expect(await mark('x'.repeat(65))).toMatchObject({ status: 400, code: 'material_too_long' });
    expect(await mark('离职证明', `of_${'0'.repeat(32)}`)).toMatchObject({ status: 404, code: 'offer_not_found' });
    const draft = await draftedOffer(world());
    const notAccepted = await mark('离职证明', draft.offerId);
    expect(notAccepted).toMatchObject({ status: 409, code: 'offer_not_accepted' });
    expect(notAccepted.message).toContain('draft');
    const { rows } = await world().app.db.pool.query('SELECT 1 FROM onboarding_materials WHERE offer_id = ANY($1)', [
      [o.offerId, draft.offerId],
    ]);
    expect(rows).toHaveLength(0);
    expect(await records(world(), CANDIDATE_STREAMS.candidate(o.candidateId), 'onboarding.')).toHaveLength(0);
  });

  test("a position's own checklist replaces the corp's, which replaces the default; other corps keep the default", async () => {
    await world().onboarding.saveRequirements(world().corpId, '*', ['身份证复印件', '离职证明'], 'liuyang');
    await savePositionChecklist();
    const o = await acceptedOffer(world(), '2026-12-21');
    expect((await world().onboarding.materialsOf(world().corpId, o.offerId))!.required).toEqual([
      '身份证复印件',
      '学位证书',
      '离职证明',
    ]);
    await world().app.db.pool.query(`DELETE FROM onboarding_requirements WHERE corp_id = $1 AND position_id = 'be-1'`, [
      world().corpId,
    ]);
    expect((await world().onboarding.materialsOf(world().corpId, o.offerId))!.required).toEqual(['身份证复印件', '离职证明']);
    await world().app.db.pool.query(`DELETE FROM onboarding_requirements WHERE corp_id = $1`, [world().corpId]);
    expect((await world().onboarding.materialsOf(world().corpId, o.offerId))!.required).toEqual([...DEFAULT_MATERIALS]);
    expect(await refusal(world().onboarding.saveRequirements(world().corpId, 'be-1', ['a', 'a'], 'liuyang'))).toMatchObject({
      status: 400,
      code: 'materials_duplicate',
    });
    expect(await refusal(world().onboarding.saveRequirements(world().corpId, 'be-1', [], 'liuyang'))).toMatchObject({
      status: 400,
    });

    async function savePositionChecklist() {
      await world().onboarding.saveRequirements(world().corpId, 'be-1', ['身份证复印件', '学位证书', '离职证明'], 'LiuYang');
    }
  });
});
