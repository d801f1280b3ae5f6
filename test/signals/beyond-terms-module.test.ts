import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { CANDIDATE_STREAMS, createCandidateByRecruiter, savePosition } from '../../src/candidates';
import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES } from '../../src/conversations';
import { createLedger, createLedgerReader, type JsonValue, type Ledger } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import { createOffers, hrbpsFromList, type OfferTerms, type Offers } from '../../src/offers';
import { createSignalsModule, SIGNAL_SEND_KEYS } from '../../src/signals';
import { createWecomClient, type MessageApi } from '../../src/wecom/api';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';

/**
 * Over-promise beyond the approved terms with the real services: the offers module's
 * `offerStatusOf` answers the signals module with the approved version (terms and content hash);
 * a recruiter's message promising more than it is a `signal.hit` of rule ovp.beyond_terms naming
 * that version and hash, the numbers read and why they are beyond; the recruiter who wrote it gets
 * one WeCom message through the sandbox. A message within the terms, or about the candidate's own
 * expectation, is no hit; after a new version is approved, messages are compared with it.
 */

/** Thursday 2026-11-26, 12:00 Beijing time: "下周一" is 2026-11-30. */
const T0 = Date.parse('2026-11-26T04:00:00.000Z');
const TERMS: OfferTerms = {
  baseMonthlyYuan: 30000,
  salaryMonths: 13,
  annualBonusTargetYuan: 60000,
  bonusNote: '',
  level: 'P6',
  department: '基础架构部',
  location: '上海',
  startDate: '2026-12-07',
  probationMonths: 3,
  acceptanceDeadline: null,
  terms: '',
};

interface Row {
  seq: string;
  kind: string;
  source_ref: string;
  payload: { [key: string]: JsonValue };
  hash: string;
}

describe('over-promise beyond the approved terms (worker, sandbox, offers)', () => {
  let app: RunningApp;
  let sandbox: Sandbox;
  let redis: Redis;
  let ledger: Ledger;
  let offers: Offers;
  let worker: RunningRuntime | undefined;
  let n = 0;

  beforeEach(async () => {
    app = await startApp();
    sandbox = await startSandboxFor(app);
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    ledger = createLedger({ pool: app.db.appPool });
    offers = createOffers({ db: app.db.appPool, transact: ledger.transact.bind(ledger), isHrbp: hrbpsFromList([]) });
    n = 0;
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await ledger.close();
    redis.disconnect();
    await sandbox.close();
    await app.stop();
  });

  function wecomMessages(): Pick<MessageApi, 'send'> {
    return createWecomClient({
      apiBase: sandbox.url,
      corpId: app.keys.corpId,
      secret: app.config.WECOM_SECRET,
      agentId: app.config.WECOM_AGENT_ID,
      redis,
      logger: createLogger('silent', 't'),
      ledger,
      reader: createLedgerReader(app.db.appPool),
      options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:` },
    }).message;
  }

  async function say(candidateId: string, text: string, at: number) {
    n += 1;
    const msgid = `bt${n}`;
    return ledger.append({
      stream: CANDIDATE_STREAMS.candidate(candidateId),
      kind: CONVERSATION_KINDS.message,
      occurredAt: new Date(at),
      actor: 'liqiang',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfMessage('wkBeyondKF', msgid),
      payload: {
        channel: 'kf',
        role: 'recruiter',
        msgid,
        msgtype: 'text',
        text,
        recruiter: 'LiQiang',
        open_kfid: 'wkBeyondKF',
        message: { msgid, msgtype: 'text', text: { content: text } },
      },
      raw: null,
    });
  }

  const records = async (kind: string): Promise<Row[]> =>
    (
      await app.db.pool.query<Row>(
        'SELECT seq, kind, source_ref, payload, hash FROM evidence_records WHERE kind = $1 ORDER BY seq',
        [kind],
      )
    ).rows;
  const judged = async () =>
    (
      await app.db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ledger_consumer_done WHERE consumer = 'signals.classifier'`,
      )
    ).rows[0]?.n ?? 0;
  const inbox = (userid: string) =>
    sandbox.state.inbox(userid).map((e) => (e.body as { content?: string } | undefined)?.content ?? '');

  async function approvedOffer(candidateId: string) {
    const corpId = app.keys.corpId;
    const o = await offers.draftOffer({ corpId, candidateId, positionId: 'be-1', actor: 'zhangmin', terms: TERMS });
    const v = { corpId, offerId: o.offerId, version: 1, contentSha256: o.versions[0]?.contentSha256 ?? '' };
    await offers.submitForApproval({ ...v, actor: 'zhangmin' });
    await offers.recordApprovalOutcome(v, 'sp-beyond-1', 'approved');
    return v;
  }

  test('a promise beyond the approved version is a hit naming the version, its hash and why; within it, none', async () => {
    const corpId = app.keys.corpId;
    await savePosition(app.db.appPool, corpId, { id: 'be-1', title: '后端工程师' });
    const { candidate } = await createCandidateByRecruiter(
      { transact: ledger.transact.bind(ledger), hmacKey: undefined },
      { corpId, recruiter: 'zhangmin' },
    );
    const cid = candidate.candidateId;
    const v1 = await approvedOffer(cid);
    expect(await offers.offerStatusOf(corpId, cid)).toMatchObject({
      approved: true,
      offer: { offerId: v1.offerId, version: 1, contentSha256: v1.contentSha256, positionTitle: '后端工程师' },
    });

    const beyond = await say(cid, '放心，月薪给你3万5，下周一直接来上班', T0);
    await say(cid, '月薪30k，12月7日入职，都按审批的来', T0 + 60_000);
    await say(cid, '你期望的40k我们给不了', T0 + 120_000);
    // A before-approval phrase: with the offer approved the lexicon's over_promise rules have ended.
    await say(cid, 'offer没问题，放心', T0 + 180_000);

    const mod = createSignalsModule({
      db: app.db.appPool,
      messages: wecomMessages(),
      recruiterOf: () => Promise.resolve('zhangmin'),
      offerStatus: (c, id) => offers.offerStatusOf(c, id),
    });
    worker = await startRuntime(app, [mod]);
    await until('four messages judged', async () => (await judged()) === 4, 30000);
    await until('the alert', async () => (await records('signal.alert')).length === 1, 30000);

    const hits = await records('signal.hit');
    expect(hits).toHaveLength(1);
    const [hit] = hits;
    expect(hit?.source_ref).toBe(`hit:${beyond.seq}:ovp.beyond_terms:1`);
    expect(hit?.payload).toEqual(
      expect.objectContaining({
        message: { seq: beyond.seq, hash: beyond.hash },
        type: 'over_promise',
        rule: 'ovp.beyond_terms',
        rule_version: 1,
        role: 'recruiter',
        recruiter: 'liqiang',
        offer_approved: true,
        offer: { offer_id: v1.offerId, version: 1, content_sha256: v1.contentSha256 },
        match: { start: 7, end: 10, text: '3万5' },
      }),
    );
    expect(
      (hit?.payload['beyond'] as { [k: string]: JsonValue }[]).map((b) => [b['field'], b['stated'], b['approved'], b['code']]),
    ).toEqual([
      ['base_monthly_yuan', 35000, 30000, 'above'],
      ['start_date', '2026-11-30', '2026-12-07', 'earlier'],
    ]);

    // The recruiter who wrote it hears of it, once, through the recorded send path.
    expect(inbox('liqiang')).toHaveLength(1);
    const text = inbox('liqiang')[0] ?? '';
    expect(text).toContain('聊天中的承诺可能超出已审批的 offer 条款');
    expect(text).toContain('月薪 ¥35,000 高于审批通过的月基本工资 ¥30,000');
    expect(text).toContain('入职日期 2026-11-30 早于审批通过的 2026-12-07');
    expect(text).toContain(`第 1 版（内容哈希 ${v1.contentSha256.slice(0, 12)}…）`);
    const [alert] = await records('signal.alert');
    expect(alert?.payload).toEqual(
      expect.objectContaining({
        status: 'sent',
        recruiter: 'liqiang',
        send_key: SIGNAL_SEND_KEYS.alert(Number(hit?.seq), hit?.hash ?? ''),
      }),
    );

    // A new version (¥36,000) approved: the same promise is now within the terms; ¥37k is beyond version 2.
    await offers.reviseOffer({ corpId, offerId: v1.offerId, actor: 'zhangmin', terms: { ...TERMS, baseMonthlyYuan: 36000 } });
    const o2 = await offers.getOffer({ corpId, offerId: v1.offerId });
    const v2 = { corpId, offerId: v1.offerId, version: 2, contentSha256: o2?.versions[1]?.contentSha256 ?? '' };
    await offers.submitForApproval({ ...v2, actor: 'zhangmin' });
    await offers.recordApprovalOutcome(v2, 'sp-beyond-2', 'approved');
    await say(cid, '月薪给你3万5', T0 + 240_000);
    const later = await say(cid, '月薪给你37k', T0 + 300_000);
    await until('six messages judged', async () => (await judged()) === 6, 30000);
    await until('the second hit', async () => (await records('signal.hit')).length === 2, 30000);
    const second = (await records('signal.hit'))[1];
    expect(second?.payload['message']).toEqual({ seq: later.seq, hash: later.hash });
    expect(second?.payload['offer']).toEqual({ offer_id: v1.offerId, version: 2, content_sha256: v2.contentSha256 });
    expect((second?.payload['beyond'] as { [k: string]: JsonValue }[])[0]).toEqual(
      expect.objectContaining({ field: 'base_monthly_yuan', stated: 37000, approved: 36000 }),
    );
  }, 90000);
});
