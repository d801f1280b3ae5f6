import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { CANDIDATE_STREAMS, addIdentifier, createCandidateByRecruiter, savePosition } from '../../src/candidates';
import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES } from '../../src/conversations';
import { createLedger, createLedgerReader, type JsonValue, type Ledger, type StoredRecord } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import { createOffers, hrbpsFromList, type OfferTerms, type Offers } from '../../src/offers';
import {
  createSignalsModule,
  isContact,
  reapplicationHistory,
  reapplicationText,
  REAPPLICATION_SEND_KEYS,
  SIGNAL_CONSUMERS,
} from '../../src/signals';
import { createWecomClient, type MessageApi } from '../../src/wecom/api';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';

/**
 * Re-application (issue 10 item 7): a candidate whose offer ended (here: declined for salary)
 * writes again. The pure builder turns their stream into a history (offers with terms, outcome and
 * reason, signal hits) and questions for the recruiter; with the real services, the first contact
 * after the quiet period records `candidate.reapplied` (ids and hashes, no copy of their words) and
 * sends the recruiter one message through the sandbox, once, however often the jobs run.
 */

const T0 = Date.parse('2026-11-02T02:00:00.000Z');
const HOUR = 3600_000;
const DAY = 24 * HOUR;
const CID = `cd_${'c'.repeat(32)}`;
const TERMS: OfferTerms = {
  baseMonthlyYuan: 30000,
  salaryMonths: 13,
  annualBonusTargetYuan: null,
  bonusNote: '',
  level: 'P6',
  department: '基础架构部',
  location: '上海',
  startDate: '2027-01-04',
  probationMonths: 3,
  acceptanceDeadline: null,
  terms: '',
};

function rec(seq: number, kind: string, source: string, payload: { [k: string]: JsonValue }, at = T0 + seq * 1000): StoredRecord {
  return {
    seq,
    stream: CANDIDATE_STREAMS.candidate(CID),
    kind,
    occurredAt: new Date(at),
    recordedAt: new Date(at),
    actor: 'x',
    source,
    sourceRef: `r${seq}`,
    payload,
    raw: null,
    hash: String(seq).padStart(64, '0'),
  } as unknown as StoredRecord;
}

const content = { base_monthly_yuan: 30000, salary_months: 13, level: 'P6', location: '上海', start_date: '2027-01-04' };

describe('reapplicationHistory (pure)', () => {
  test('offers with terms, outcome and reason; hits; questions derived from them', () => {
    const h = reapplicationHistory([
      rec(1, 'offer.interview_invitation', 'hireledger.offers', { notice_id: 'on_1' }),
      rec(2, 'signal.hit', 'hireledger.signals', {
        type: 'hesitation',
        rule: 'hes.pay',
        rule_version: 1,
        match: { text: '薪资能否再谈' },
      }),
      rec(3, 'offer.created', 'hireledger.offers', { offer_id: 'of_a', version: 1, content_sha256: 'h1', to: 'draft', content }),
      rec(4, 'offer.sent', 'hireledger.offers', { offer_id: 'of_a', version: 1, content_sha256: 'h1', to: 'sent', content }),
      rec(5, 'offer.declined', 'hireledger.offers', {
        offer_id: 'of_a',
        version: 1,
        content_sha256: 'h1',
        to: 'declined',
        reason_code: 'salary',
        reason: '薪资低于预期，期望4万',
      }),
    ]);
    expect(h.offers).toEqual([
      expect.objectContaining({
        offerId: 'of_a',
        version: 1,
        contentSha256: 'h1',
        outcome: 'declined',
        reasonCode: 'salary',
        reason: '薪资低于预期，期望4万',
        terms: { baseMonthlyYuan: 30000, salaryMonths: 13, level: 'P6', location: '上海', startDate: '2027-01-04' },
        record: { seq: 5, hash: String(5).padStart(64, '0') },
      }),
    ]);
    expect(h.interviews).toHaveLength(1);
    expect(h.signals.map((s) => [s.type, s.rule, s.record.seq])).toEqual([['hesitation', 'hes.pay', 2]]);
    expect(h.questions.map((q) => q.code)).toEqual(['declined_salary', 'hesitated', 'interviewed']);
    expect(h.questions[0]?.text).toBe(
      '上次因薪资未接受（当时 offer 月薪 ¥30,000 × 13 薪，期望 ¥40,000），这次的期望是否有变化？',
    );
    const text = reapplicationText(h, CID, new Date(T0 + 30 * DAY));
    expect(text).toContain('【HireLedger 回流候选人】');
    expect(text).toContain('候选人拒绝（salary）');
    expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(2048);
  });

  test.each([
    ['declined', 'other_offer', 'declined_other_offer'],
    ['declined', 'counter_offer', 'declined_counter_offer'],
    ['declined', 'location', 'declined_location'],
    ['declined', 'role', 'declined_role'],
    ['declined', 'personal', 'declined_personal'],
    ['declined', 'other', 'declined_other'],
    ['reneged', 'other_offer', 'reneged'],
    ['expired', null, 'expired'],
    ['rescinded', null, 'rescinded'],
  ])('%s (%s) → %s', (outcome, reasonCode, code) => {
    const h = reapplicationHistory([
      rec(1, 'offer.sent', 'hireledger.offers', { offer_id: 'of_a', version: 1, content_sha256: 'h1', to: 'sent', content }),
      rec(2, `offer.${outcome}`, 'hireledger.offers', { offer_id: 'of_a', version: 1, to: outcome, reason_code: reasonCode }),
    ]);
    expect(h.questions.map((q) => q.code)).toEqual([code]);
  });

  test('what counts as the candidate appearing again', () => {
    const c = (kind: string, payload: { [k: string]: JsonValue }) => isContact({ kind, payload });
    expect(c('conversation.message', { role: 'candidate', text: '你好' })).toBe(true);
    expect(c('conversation.message', { role: 'recruiter', text: '你好' })).toBe(false);
    expect(c('candidate.link', { reason: 'contact_add_external_contact' })).toBe(true);
    expect(c('candidate.link', { reason: 'kf_msg_send_fail' })).toBe(false);
    expect(c('candidate.position', { via: 'recruiter' })).toBe(true);
    expect(c('candidate.merged', {})).toBe(true);
    expect(c('signal.hit', {})).toBe(false);
  });

  test('no ended offer, no offer questions; a very long history still fits one WeCom text', () => {
    expect(reapplicationHistory([]).questions).toEqual([]);
    const many = Array.from({ length: 200 }, (_, i) =>
      rec(i + 1, 'signal.hit', 'hireledger.signals', {
        type: 'hesitation',
        rule: 'hes.pay',
        rule_version: 1,
        match: { text: '再谈' },
      }),
    );
    const offersMany = Array.from({ length: 60 }, (_, i) =>
      rec(1000 + i, 'offer.declined', 'hireledger.offers', {
        offer_id: `of_${i}`,
        version: 1,
        to: 'declined',
        reason_code: 'other',
        reason: '其他原因'.repeat(20),
      }),
    );
    const text = reapplicationText(reapplicationHistory([...many, ...offersMany]), CID, new Date(T0));
    expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(2048);
  });
});

interface Row {
  seq: string;
  kind: string;
  source_ref: string;
  payload: { [key: string]: JsonValue };
  hash: string;
}

describe('a re-applicant with the real services', () => {
  let app: RunningApp;
  let sandbox: Sandbox;
  let redis: Redis;
  let ledger: Ledger;
  let offers: Offers;
  let worker: RunningRuntime | undefined;
  let clock = T0;
  let n = 0;

  beforeEach(async () => {
    app = await startApp();
    sandbox = await startSandboxFor(app);
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    ledger = createLedger({ pool: app.db.appPool });
    clock = T0;
    offers = createOffers({
      db: app.db.appPool,
      transact: ledger.transact.bind(ledger),
      isHrbp: hrbpsFromList([]),
      now: () => clock,
    });
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
    const msgid = `ra${n}`;
    return ledger.append({
      stream: CANDIDATE_STREAMS.candidate(candidateId),
      kind: CONVERSATION_KINDS.message,
      occurredAt: new Date(at),
      actor: candidateId,
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfMessage('wkReapplyKF', msgid),
      payload: {
        channel: 'kf',
        role: 'candidate',
        msgid,
        msgtype: 'text',
        text,
        open_kfid: 'wkReapplyKF',
        message: { msgid, msgtype: 'text', text: { content: text } },
      },
      raw: null,
    });
  }

  /** The signals module with the offers module's answers, on a worker; its clock just after the candidate came back (a contact older than 7 days is not sent). */
  async function startSignals() {
    const mod = createSignalsModule({
      db: app.db.appPool,
      messages: wecomMessages(),
      recruiterOf: () => Promise.resolve('zhangmin'),
      offerStatus: (c, id) => offers.offerStatusOf(c, id),
      offerStates: (c, id) => offers.listOffers(c, id),
      now: () => T0 + 30 * DAY + HOUR,
    });
    worker = await startRuntime(app, [mod]);
    return mod;
  }

  const records = async (kind: string): Promise<Row[]> =>
    (
      await app.db.pool.query<Row>(
        'SELECT seq, kind, source_ref, payload, hash FROM evidence_records WHERE kind = $1 ORDER BY seq',
        [kind],
      )
    ).rows;
  const done = async (consumer: string) =>
    (
      await app.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_consumer_done WHERE consumer = $1', [
        consumer,
      ])
    ).rows[0]?.n ?? 0;
  const handled = async (consumer: string, seq: number) =>
    (await app.db.pool.query('SELECT 1 FROM ledger_consumer_done WHERE consumer = $1 AND seq = $2', [consumer, seq])).rowCount ===
    1;
  const inbox = (userid: string) =>
    sandbox.state.inbox(userid).map((e) => (e.body as { content?: string } | undefined)?.content ?? '');

  test('declined for salary, back a month later: one candidate.reapplied and one message with the history and questions', async () => {
    const corpId = app.keys.corpId;
    await savePosition(app.db.appPool, corpId, { id: 'be-1', title: '后端工程师' });
    const { candidate } = await createCandidateByRecruiter(
      { transact: ledger.transact.bind(ledger), hmacKey: undefined, now: () => clock },
      { corpId, recruiter: 'ZhangMin' },
    );
    const cid = candidate.candidateId;
    const mod = await startSignals();

    // The first time round: a hesitation, an offer sent and declined for salary.
    await say(cid, '薪资能否再谈一下', T0 + 60_000);
    await until('the hesitation hit', async () => (await records('signal.hit')).length === 1, 30000);
    const o = await offers.draftOffer({ corpId, candidateId: cid, positionId: 'be-1', actor: 'zhangmin', terms: TERMS });
    const v = { corpId, offerId: o.offerId, version: 1, contentSha256: o.versions[0]?.contentSha256 ?? '' };
    await offers.submitForApproval({ ...v, actor: 'zhangmin' });
    await offers.recordApprovalOutcome(v, 'sp-reapply-1', 'approved');
    clock = T0 + HOUR;
    await offers.sendFormalOffer({ ...v, actor: 'zhangmin' });
    clock = T0 + 2 * HOUR;
    await offers.recordDecline({ corpId, offerId: o.offerId, reasonCode: 'salary', reason: '薪资低于预期，期望4万' });
    const [declined] = await records('offer.declined');

    // A thank-you the same day is the same conversation; a month later they are back, and write twice.
    await say(cid, '谢谢理解，以后有机会再合作', T0 + 3 * HOUR);
    const back = await say(cid, '你好，我想再了解一下贵司的机会', T0 + 30 * DAY);
    await say(cid, '薪资方面可以再聊', T0 + 30 * DAY + 60_000);
    await until('every message looked at', async () => (await done(SIGNAL_CONSUMERS.reapplication)) === 4, 30000);
    await until('the re-application record', async () => (await records('candidate.reapplied')).length === 1, 30000);

    const [reapplied] = await records('candidate.reapplied');
    const hits = await records('signal.hit');
    expect(reapplied?.source_ref).toBe(`reapplied:${declined?.seq}`);
    expect(reapplied?.payload).toEqual(
      expect.objectContaining({
        candidate_id: cid,
        trigger: { seq: back.seq, hash: back.hash, kind: 'conversation.message' },
        after: {
          seq: Number(declined?.seq),
          hash: declined?.hash,
          kind: 'offer.declined',
          offer_id: o.offerId,
          reason_code: 'salary',
        },
        offers: [
          {
            offer_id: o.offerId,
            version: 1,
            content_sha256: v.contentSha256,
            outcome: 'declined',
            reason_code: 'salary',
            record: { seq: Number(declined?.seq), hash: declined?.hash },
          },
        ],
        signals: [
          { type: 'hesitation', rule: 'hes.pay', rule_version: 1, record: { seq: Number(hits[0]?.seq), hash: hits[0]?.hash } },
        ],
        questions: ['declined_salary', 'hesitated'],
        recruiter: 'zhangmin',
        status: 'sent',
        send_key: REAPPLICATION_SEND_KEYS.summary(Number(declined?.seq), declined?.hash ?? ''),
      }),
    );
    // Ids and hashes, never the candidate's words.
    const stored = JSON.stringify(reapplied?.payload);
    for (const words of ['期望4万', '薪资低于预期', '薪资能否再谈', '了解一下贵司']) expect(stored).not.toContain(words);

    // The recruiter's one message: the earlier offer, its outcome and reason, and the questions.
    expect(inbox('zhangmin')).toHaveLength(1);
    const text = inbox('zhangmin')[0] ?? '';
    expect(text).toContain('【HireLedger 回流候选人】');
    expect(text).toContain('月薪 ¥30,000 × 13 薪，P6，上海');
    expect(text).toContain('候选人拒绝（salary），原因：「薪资低于预期，期望4万」');
    expect(text).toContain('1. 上次因薪资未接受（当时 offer 月薪 ¥30,000 × 13 薪，期望 ¥40,000），这次的期望是否有变化？');
    expect(text).toContain('2. 上次沟通中有过犹豫（1 次，如「薪资能否再谈」），这次主要的顾虑是什么？');
    expect(reapplied?.payload['message_sha256']).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));

    // Every reapplication job again: nothing sent, nothing recorded twice.
    const { rows: jobs } = await app.db.pool.query<{ seq: string }>(
      'SELECT seq FROM ledger_consumer_done WHERE consumer = $1 ORDER BY seq',
      [SIGNAL_CONSUMERS.reapplication],
    );
    const consumer = mod.consumers?.[SIGNAL_CONSUMERS.reapplication];
    if (!consumer) throw new Error('no reapplication consumer');
    const reader = createLedgerReader(app.db.appPool);
    for (const { seq } of jobs) {
      const record = await reader.readRecord(Number(seq));
      if (!record) throw new Error(`no record ${seq}`);
      await consumer.handle(record, {
        corpId,
        log: createLogger('silent', 't'),
        reader,
        transact: (work) => ledger.transact(work),
        attempt: 1,
      } as Parameters<typeof consumer.handle>[1]);
    }
    expect(await records('candidate.reapplied')).toHaveLength(1);
    expect(inbox('zhangmin')).toHaveLength(1);
  }, 90000);

  test('an offer that ended under another account, merged since: the person writing again brings it with them', async () => {
    const corpId = app.keys.corpId;
    await savePosition(app.db.appPool, corpId, { id: 'be-2', title: '后端工程师' });
    const ids = { transact: ledger.transact.bind(ledger), hmacKey: undefined, now: () => clock };
    const earlier = (await createCandidateByRecruiter(ids, { corpId, recruiter: 'ZhangMin', externalUserId: 'wmReEarlier' }))
      .candidate.candidateId;
    clock = T0 + 60_000;
    const later = (await createCandidateByRecruiter(ids, { corpId, recruiter: 'ZhangMin', externalUserId: 'wmReLater' }))
      .candidate.candidateId;
    await startSignals();
    // The offer is made to, and declined by, the later row (the person under their second account).
    const o = await offers.draftOffer({ corpId, candidateId: later, positionId: 'be-2', actor: 'zhangmin', terms: TERMS });
    const v = { corpId, offerId: o.offerId, version: 1, contentSha256: o.versions[0]?.contentSha256 ?? '' };
    await offers.submitForApproval({ ...v, actor: 'zhangmin' });
    await offers.recordApprovalOutcome(v, 'sp-reapply-2', 'approved');
    clock = T0 + HOUR;
    await offers.sendFormalOffer({ ...v, actor: 'zhangmin' });
    clock = T0 + 2 * HOUR;
    await offers.recordDecline({ corpId, offerId: o.offerId, reasonCode: 'salary', reason: '薪资低于预期' });
    const [declined] = await records('offer.declined');
    // The same hour, a recruiter recognises the two accounts: the later row is merged into the earlier.
    clock = T0 + 2 * HOUR + 60_000;
    await addIdentifier(ids, {
      corpId,
      candidateId: later,
      enteredBy: 'zhangmin',
      input: { kind: 'external_userid', value: 'wmReEarlier' },
    });
    // A month later the person writes from the first account: their contacts now land on the earlier row.
    const back = await say(earlier, '你好，我想再了解一下贵司的机会', T0 + 30 * DAY);
    await until('the re-application record', async () => (await records('candidate.reapplied')).length === 1, 30000);
    const [reapplied] = await records('candidate.reapplied');
    expect(reapplied?.payload).toEqual(
      expect.objectContaining({
        candidate_id: earlier,
        trigger: { seq: back.seq, hash: back.hash, kind: 'conversation.message' },
        after: expect.objectContaining({ seq: Number(declined?.seq), kind: 'offer.declined', offer_id: o.offerId }),
        offers: [expect.objectContaining({ offer_id: o.offerId, outcome: 'declined', reason_code: 'salary' })],
        status: 'sent',
      }),
    );
    const { rows } = await app.db.pool.query<{ stream: string }>('SELECT stream FROM evidence_records WHERE seq = $1', [
      reapplied?.seq,
    ]);
    expect(rows[0]?.stream).toBe(CANDIDATE_STREAMS.candidate(earlier));
    expect(inbox('zhangmin').join('\n')).toContain('候选人拒绝（salary），原因：「薪资低于预期」');
  }, 90000);

  test('back under a new account, written from it, merged a month after the decline: the history comes once', async () => {
    const corpId = app.keys.corpId;
    await savePosition(app.db.appPool, corpId, { id: 'be-3', title: '后端工程师' });
    const ids = { transact: ledger.transact.bind(ledger), hmacKey: undefined, now: () => clock };
    const earlier = (await createCandidateByRecruiter(ids, { corpId, recruiter: 'ZhangMin', externalUserId: 'wmReturnFirst' }))
      .candidate.candidateId;
    await startSignals();
    const o = await offers.draftOffer({ corpId, candidateId: earlier, positionId: 'be-3', actor: 'zhangmin', terms: TERMS });
    const v = { corpId, offerId: o.offerId, version: 1, contentSha256: o.versions[0]?.contentSha256 ?? '' };
    await offers.submitForApproval({ ...v, actor: 'zhangmin' });
    await offers.recordApprovalOutcome(v, 'sp-reapply-3', 'approved');
    clock = T0 + HOUR;
    await offers.sendFormalOffer({ ...v, actor: 'zhangmin' });
    clock = T0 + 2 * HOUR;
    await offers.recordDecline({ corpId, offerId: o.offerId, reasonCode: 'salary', reason: '薪资低于预期' });
    // A month later the person is back under a second WeChat account, a candidate of its own, and writes.
    clock = T0 + 30 * DAY;
    const later = (await createCandidateByRecruiter(ids, { corpId, recruiter: 'ZhangMin', externalUserId: 'wmReturnSecond' }))
      .candidate.candidateId;
    const first = await say(later, '你好，我之前面试过贵司', T0 + 30 * DAY + 60_000);
    // Handled while the new row was nobody's history: no ended offer there, nothing to say.
    await until("the new row's message handled", async () => await handled(SIGNAL_CONSUMERS.reapplication, first.seq), 30000);
    expect(await records('candidate.reapplied')).toHaveLength(0);
    // The recruiter recognises them: the new row is merged into the earlier one, and they write again.
    clock = T0 + 30 * DAY + 10 * 60_000;
    await addIdentifier(ids, {
      corpId,
      candidateId: later,
      enteredBy: 'zhangmin',
      input: { kind: 'external_userid', value: 'wmReturnFirst' },
    });
    const again = await say(earlier, '想再了解一下机会', T0 + 30 * DAY + 20 * 60_000);
    await until('the later message handled', async () => await handled(SIGNAL_CONSUMERS.reapplication, again.seq), 30000);
    // The merge itself is the person appearing again (its job may run after the message's).
    for (const m of await records('candidate.merged'))
      await until('the merge handled', async () => await handled(SIGNAL_CONSUMERS.reapplication, Number(m.seq)), 30000);
    const reapplied = await records('candidate.reapplied');
    expect(reapplied).toHaveLength(1);
    expect(reapplied[0]?.payload).toEqual(
      expect.objectContaining({
        candidate_id: earlier,
        status: 'sent',
        trigger: expect.objectContaining({ kind: 'candidate.merged' }),
      }),
    );
    expect(inbox('zhangmin')).toHaveLength(1);
  }, 90000);

  test('no ended offer: nothing; no recruiter: undeliverable; a contact too old to be news: recorded, not sent', async () => {
    const corpId = app.keys.corpId;
    await savePosition(app.db.appPool, corpId, { id: 'be-1', title: '后端工程师' });
    const mk = async () =>
      (
        await createCandidateByRecruiter(
          { transact: ledger.transact.bind(ledger), hmacKey: undefined, now: () => clock },
          { corpId, recruiter: 'zhangmin' },
        )
      ).candidate.candidateId;
    const live = await mk();
    const orphan = await mk();
    const old = await mk();
    // The live candidate's offer is still open (sent); the two others' expired.
    for (const [cid, end] of [
      [live, false],
      [orphan, true],
      [old, true],
    ] as const) {
      clock = T0;
      const o = await offers.draftOffer({
        corpId,
        candidateId: cid,
        positionId: 'be-1',
        actor: 'zhangmin',
        terms: { ...TERMS, acceptanceDeadline: new Date(T0 + 2 * DAY) },
      });
      const v = { corpId, offerId: o.offerId, version: 1, contentSha256: o.versions[0]?.contentSha256 ?? '' };
      await offers.submitForApproval({ ...v, actor: 'zhangmin' });
      await offers.recordApprovalOutcome(v, `sp-${cid}`, 'approved');
      await offers.sendFormalOffer({ ...v, actor: 'zhangmin' });
      if (end) {
        clock = T0 + 3 * DAY;
        await offers.expireOffer({ corpId, offerId: o.offerId });
      }
    }
    await say(live, '你好，想问下入职材料', T0 + 19 * DAY);
    const back = await say(orphan, '你好，之前的offer过期了，还有机会吗', T0 + 19 * DAY);
    const longAgo = await say(old, '你好，还在招人吗', T0 + 5 * DAY);
    const mod = createSignalsModule({
      db: app.db.appPool,
      messages: wecomMessages(),
      recruiterOf: (_c, id) => Promise.resolve(id === old ? 'zhangmin' : null),
      offerStates: (c, id) => offers.listOffers(c, id),
      now: () => T0 + 20 * DAY,
    });
    worker = await startRuntime(app, [mod]);
    await until('the messages looked at', async () => (await done(SIGNAL_CONSUMERS.reapplication)) === 3, 30000);
    await until('the records', async () => (await records('candidate.reapplied')).length === 2, 30000);
    const byCandidate = new Map((await records('candidate.reapplied')).map((r) => [r.payload['candidate_id'], r.payload]));
    expect(byCandidate.get(live)).toBeUndefined();
    expect(byCandidate.get(orphan)).toEqual(
      expect.objectContaining({
        trigger: { seq: back.seq, hash: back.hash, kind: 'conversation.message' },
        questions: ['expired'],
        recruiter: null,
        status: 'undeliverable',
        reason: 'no_recruiter',
      }),
    );
    expect(byCandidate.get(old)).toEqual(
      expect.objectContaining({
        trigger: { seq: longAgo.seq, hash: longAgo.hash, kind: 'conversation.message' },
        recruiter: 'zhangmin',
        status: 'not_sent',
        reason: 'stale',
      }),
    );
    expect(sandbox.state.stats.calls['message/send'] ?? 0).toBe(0);
  }, 90000);
});
