import { createCandidateByRecruiter, savePosition } from '../../src/candidates';
import { createLedger, type Ledger } from '../../src/evidence';
import { createOffersModule, hrbpsFromList, type OfferDelivery, type OfferTerms, type OffersModule } from '../../src/offers';
import { startApp, type RunningApp } from '../support/app';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';

/**
 * The delivery seam, run by the real worker runtime (Redis, BullMQ, the ledger-fed dispatcher):
 * every `offer.sent` whose offer is still sent reaches `deliver` once; an offer rescinded before the
 * consumer ran is not delivered.
 */

const TERMS: OfferTerms = {
  baseMonthlyYuan: 30000,
  salaryMonths: 13,
  annualBonusTargetYuan: null,
  bonusNote: '',
  level: 'P6',
  department: '基础架构部',
  location: '上海',
  startDate: '2099-01-05',
  probationMonths: 3,
  acceptanceDeadline: null,
  terms: '',
};

describe('offers.delivery', () => {
  let app: RunningApp;
  let ledger: Ledger;
  let worker: RunningRuntime | undefined;
  beforeEach(async () => {
    app = await startApp();
    ledger = createLedger({ pool: app.db.appPool });
  });
  afterEach(async () => {
    await worker?.stop();
    await ledger.close();
    await app.stop();
  });

  test('a sent offer is handed to deliver once, with its approved content; a rescinded one is not', async () => {
    const corpId = app.config.WECOM_CORP_ID;
    const delivered: OfferDelivery[] = [];
    const deps = {
      db: app.db.appPool,
      transact: ledger.transact.bind(ledger),
      isHrbp: hrbpsFromList(['hrbp1']),
      deliver: (d: OfferDelivery) => {
        delivered.push(d);
        return Promise.resolve();
      },
    };
    const mod: OffersModule = createOffersModule(deps);
    await savePosition(app.db.appPool, corpId, { id: 'be-1', title: '后端工程师' });
    const { candidate } = await createCandidateByRecruiter(
      { transact: ledger.transact.bind(ledger), hmacKey: undefined },
      { corpId, recruiter: 'r1' },
    );
    const sendOne = async () => {
      const o = await mod.offers.draftOffer({
        corpId,
        candidateId: candidate.candidateId,
        positionId: 'be-1',
        actor: 'r1',
        terms: TERMS,
      });
      const v = { corpId, offerId: o.offerId, version: 1, contentSha256: o.versions[0]!.contentSha256 };
      await mod.offers.submitForApproval({ ...v, actor: 'r1' });
      await mod.offers.recordApprovalOutcome(v, `sp-${o.offerId}`, 'approved');
      await mod.offers.sendFormalOffer({ ...v, actor: 'r1' });
      return v;
    };
    const rescinded = await sendOne();
    await mod.offers.rescindOffer({ corpId, offerId: rescinded.offerId, actor: 'r1', hrbp: 'hrbp1', reason: '编制取消' });
    const kept = await sendOne();

    worker = await startRuntime(app, [mod]);
    await until('both offer.sent records handled', async () => {
      const { rows } = await app.db.pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM ledger_consumer_done WHERE consumer = 'offers.delivery'",
      );
      return rows[0]!.n === 2;
    });
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({
      corpId,
      offerId: kept.offerId,
      candidateId: candidate.candidateId,
      version: 1,
      contentSha256: kept.contentSha256,
      content: { base_monthly_yuan: 30000, level: 'P6' },
      sentRecord: { stream: `candidate:${candidate.candidateId}` },
    });
  });
});
