import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { createOfferDelivery, DELIVERY_KINDS } from '../../src/acceptance/deliver';
import { createOfferLinks } from '../../src/acceptance/links';
import { assignRecruiter, createCandidateByRecruiter, createCandidateDirectory, savePosition } from '../../src/candidates';
import { createConversationsModule, createRouteFacts } from '../../src/conversations';
import { createLedger, createLedgerReader, type Ledger } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import { createOffersModule, hrbpsFromList, type OfferDelivery, type OfferTerms, type OffersModule } from '../../src/offers';
import { atShanghai, plusDays, shanghaiDate } from '../../src/reminders/time';
import { createWecomClient } from '../../src/wecom/api';
import { createExternalContactIds } from '../../src/wecom/external-contacts';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';

/**
 * Delivery of a sent formal offer by the open route (DECISIONS 12), run by the real worker
 * (offers.delivery consumer), the real WeCom client against the sandbox over HTTP, PostgreSQL and
 * Redis. The delivery's clock is the only thing set: to a daytime moment (or a quiet-hours one)
 * within a day of now, so the route does not depend on when the suite runs.
 */

const RECRUITER = 'zhangmin';
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
const BASE_URL = 'https://hireledger.example.com';

/** The next instant, after now, at `hour`:30 Asia/Shanghai (within a day). */
function nextShanghai(hour: number): number {
  const now = new Date();
  const today = atShanghai(shanghaiDate(now), hour, 30).getTime();
  return today > now.getTime() ? today : atShanghai(plusDays(shanghaiDate(now), 1), hour, 30).getTime();
}

interface Row {
  seq: number;
  kind: string;
  payload: Record<string, unknown>;
}

describe('offer delivery by the open route', () => {
  let app: RunningApp;
  let sandbox: Sandbox;
  let ledger: Ledger;
  let redis: Redis;
  let offers: OffersModule;
  let worker: RunningRuntime;
  let corpId: string;
  const clock = { now: 0 };
  const handed: OfferDelivery[] = [];
  let deliver: (d: OfferDelivery) => Promise<void>;
  let pullKf: () => Promise<void>;

  beforeAll(async () => {
    app = await startApp();
    sandbox = await startSandboxFor(app);
    ledger = createLedger({ pool: app.db.appPool });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    corpId = app.config.WECOM_CORP_ID;
    const reader = createLedgerReader(app.db.appPool);
    const wecom = createWecomClient({
      apiBase: sandbox.url,
      corpId: app.keys.corpId,
      secret: app.config.WECOM_SECRET,
      agentId: app.config.WECOM_AGENT_ID,
      redis,
      logger: createLogger('silent', 't'),
      ledger,
      reader,
      externalContacts: createExternalContactIds(app.db.appPool),
      options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:` },
    });
    const transact = ledger.transact.bind(ledger);
    deliver = createOfferDelivery({
      links: createOfferLinks({ db: app.db.appPool, transact, secret: 'k'.repeat(48), publicBaseUrl: BASE_URL }),
      facts: createRouteFacts({ db: app.db.appPool, reader }),
      wecom,
      transact,
      reader,
      logger: createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent', 'delivery'),
      now: () => clock.now,
    });
    offers = createOffersModule({
      db: app.db.appPool,
      transact,
      isHrbp: hrbpsFromList(['hrbp1']),
      deliver: async (d) => {
        handed.push(d);
        await deliver(d);
      },
    });
    const conversations = createConversationsModule({
      pool: app.db.appPool,
      ledger,
      wecom,
      directory: createCandidateDirectory(app.db.appPool),
      media: { kind: 'pg', maxBytes: 1024 * 1024 },
      textMaxBytes: 4096,
    });
    pullKf = async () => {
      await conversations.jobs?.['conversations.kf-sweep']?.process(
        {},
        { corpId, log: createLogger('silent', 'sweep'), reader, transact, attempt: 1 },
      );
    };
    await savePosition(app.db.appPool, corpId, { id: 'be-1', title: '后端工程师' });
    worker = await startRuntime(app, [offers]);
  });
  afterAll(async () => {
    await worker?.stop();
    await ledger?.close();
    redis?.disconnect();
    await sandbox?.close();
    await app?.stop();
  });

  async function byRecruiter(externalUserId?: string): Promise<string> {
    const { candidate } = await createCandidateByRecruiter(
      { transact: ledger.transact.bind(ledger), hmacKey: undefined },
      { corpId, recruiter: RECRUITER, ...(externalUserId ? { externalUserId } : {}) },
    );
    return candidate.candidateId;
  }

  /** What the candidates.profiles consumer keeps after externalcontact/get: the members following the candidate. */
  async function followedBy(candidateId: string, externalUserId: string, userid: string): Promise<void> {
    await app.db.appPool.query(
      `INSERT INTO candidate_profiles (corp_id, external_userid, candidate_id, name, follow_user, fetched_at)
       VALUES ($1, $2, $3, '候选人', $4, now())`,
      [corpId, externalUserId, candidateId, JSON.stringify([{ userid, createtime: 1_700_000_000 }])],
    );
  }

  async function sendOffer(candidateId: string): Promise<string> {
    const o = await offers.offers.draftOffer({ corpId, candidateId, positionId: 'be-1', actor: RECRUITER, terms: TERMS });
    const v = { corpId, offerId: o.offerId, version: 1, contentSha256: o.versions[0]!.contentSha256 };
    await offers.offers.submitForApproval({ ...v, actor: RECRUITER });
    await offers.offers.recordApprovalOutcome(v, `sp-${o.offerId}`, 'approved');
    await offers.offers.sendFormalOffer({ ...v, actor: RECRUITER });
    return o.offerId;
  }

  async function records(candidateId: string): Promise<Row[]> {
    const { rows } = await app.db.pool.query<Row>(
      `SELECT seq::int AS seq, kind, payload FROM evidence_records
        WHERE stream = $1 AND kind LIKE 'offer.delivery_%' ORDER BY seq`,
      [`candidate:${candidateId}`],
    );
    return rows;
  }

  async function delivered(candidateId: string): Promise<Row[]> {
    await until(
      'the delivery handed over',
      async () => (await records(candidateId)).some((r) => r.kind === DELIVERY_KINDS.handed),
      30_000,
    );
    return records(candidateId);
  }

  /** Requests the sandbox received per API: WeCom drops some repeats itself, so the count shows whether we sent again. */
  const calls = () => ({ ...sandbox.state.stats.calls });
  const linkOf = (text: string) => /https:\/\/hireledger\.example\.com\/h5\/offer\.html#\S+/.exec(text)?.[0];
  const inbox = (prefix: string) =>
    sandbox.state.inbox(RECRUITER).filter((e) => String((e.body as { content?: unknown }).content).startsWith(prefix));

  test('KF window open: the link goes by kf/send_msg, the route is recorded, and a repeated job sends nothing again', async () => {
    clock.now = nextShanghai(10);
    const ext = 'wmDeliverKf00001';
    await sandbox.actions.kfInbound({ external_userid: ext, content: '请问 offer 什么时候发？' }).delivered;
    await pullKf();
    const candidate = await createCandidateDirectory(app.db.appPool).find(corpId, ext);
    const offerId = await sendOffer(candidate!.candidateId);

    const rows = await delivered(candidate!.candidateId);
    expect(rows.map((r) => [r.kind, r.payload['route']])).toEqual([
      [DELIVERY_KINDS.routed, 'kf'],
      [DELIVERY_KINDS.handed, 'kf'],
    ]);
    expect(rows[0]!.payload).toMatchObject({ offer_id: offerId, why: '微信客服会话窗口内', quiet_hours: false });
    const sent = sandbox.state.kfSent.filter((s) => s.touser === ext);
    expect(sent).toHaveLength(1);
    const text = (sent[0]!.body as { content: string }).content;
    expect(linkOf(text)).toBeDefined();
    expect(rows[1]!.payload['kf_msgid']).toBe(sent[0]!.msgid);

    // The same offer.sent handed again (a job repeated after a crash): nothing is sent twice.
    const again = handed.find((d) => d.offerId === offerId)!;
    const before = calls();
    await deliver(again);
    expect(calls()).toEqual(before);
    expect(sandbox.state.kfSent.filter((s) => s.touser === ext)).toHaveLength(1);
    expect((await records(candidate!.candidateId)).map((r) => r.kind)).toEqual([DELIVERY_KINDS.routed, DELIVERY_KINDS.handed]);
    expect(inbox('【请发送 offer】')).toHaveLength(0);
  });

  test('no KF window but a recruiter contact: a 企业群发 from the recruiter, who is told to confirm it', async () => {
    clock.now = nextShanghai(11);
    const ext = 'wmCandLinXiao0002'; // 张敏's customer in the sandbox's seed, no KF conversation
    const candidateId = await byRecruiter(ext);
    await followedBy(candidateId, ext, RECRUITER);
    const offerId = await sendOffer(candidateId);

    const rows = await delivered(candidateId);
    expect(rows.map((r) => [r.kind, r.payload['route']])).toEqual([
      [DELIVERY_KINDS.routed, 'group_send'],
      [DELIVERY_KINDS.handed, 'group_send'],
    ]);
    const tasks = sandbox.state.groupMsgs.filter((t) => t.recipients.some((r) => r.external_userid === ext));
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ sender: RECRUITER, task_status: 0 });
    expect(linkOf(tasks[0]!.text!.content)).toBeDefined();
    expect(rows[1]!.payload).toMatchObject({ group_msgid: tasks[0]!.msgid, sender: RECRUITER });
    expect(inbox('【请确认群发 offer】')).toHaveLength(1);

    // Repeated after the facts changed (another member follows the candidate now): the recorded route and
    // sender hold, and no second 群发 for anyone to confirm, no second notice.
    await app.db.appPool.query(
      `UPDATE candidate_profiles SET follow_user = $3, fetched_at = now() WHERE corp_id = $1 AND external_userid = $2`,
      [corpId, ext, JSON.stringify([{ userid: 'chenjing', createtime: 1_700_000_000 }])],
    );
    const before = calls();
    await deliver(handed.find((d) => d.offerId === offerId)!);
    expect(calls()).toEqual(before);
    expect(sandbox.state.groupMsgs.filter((t) => t.recipients.some((r) => r.external_userid === ext))).toHaveLength(1);
    expect(inbox('【请确认群发 offer】')).toHaveLength(1);

    // The recruiter confirms it in their client (the sandbox's admin action): the candidate has it.
    const res = await fetch(`${sandbox.url}/sandbox/admin/group-msgs/${tasks[0]!.msgid}/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userid: RECRUITER }),
    });
    expect(res.status).toBe(200);
    expect(tasks[0]!.recipients[0]!.status).toBe(1);
  });

  test('nothing open: a task for the recruiter with the text ready', async () => {
    clock.now = nextShanghai(14);
    const candidateId = await byRecruiter();
    const before = inbox('【请发送 offer】').length;
    const offerId = await sendOffer(candidateId);
    const rows = await delivered(candidateId);
    expect(rows.map((r) => [r.kind, r.payload['route']])).toEqual([
      [DELIVERY_KINDS.routed, 'recruiter_task'],
      [DELIVERY_KINDS.handed, 'recruiter_task'],
    ]);
    const tasks = inbox('【请发送 offer】');
    expect(tasks).toHaveLength(before + 1);
    const content = String((tasks.at(-1)!.body as { content: string }).content);
    expect(content).toContain(candidateId);
    expect(linkOf(content)).toBeDefined();
    const sentBefore = calls();
    await deliver(handed.find((d) => d.offerId === offerId)!);
    expect(calls()).toEqual(sentBefore);
    expect(inbox('【请发送 offer】')).toHaveLength(before + 1);
  });

  test('a 群发 WeCom cannot queue (the contact was deleted since the profile) falls back to the recruiter task, recorded', async () => {
    clock.now = nextShanghai(15);
    const ext = 'wmCandZhengXue0004'; // 张敏 deleted her in the sandbox: fail_list / 41048
    const candidateId = await byRecruiter(ext);
    await followedBy(candidateId, ext, RECRUITER);
    await sendOffer(candidateId);
    await until('the recruiter task handed over', async () =>
      (await records(candidateId)).some((r) => r.kind === DELIVERY_KINDS.handed && r.payload['route'] === 'recruiter_task'),
    );
    const rows = await records(candidateId);
    expect(rows.map((r) => [r.kind, r.payload['route']])).toEqual([
      [DELIVERY_KINDS.routed, 'group_send'],
      [DELIVERY_KINDS.routed, 'recruiter_task'],
      [DELIVERY_KINDS.handed, 'recruiter_task'],
    ]);
    expect(rows[1]!.payload).toMatchObject({ attempt: 2, previous: { route: 'group_send', seq: rows[0]!.seq } });
    expect(rows[1]!.payload['refusal']).toMatchObject({ api: 'externalcontact/add_msg_template' });
    expect(sandbox.state.groupMsgs.filter((t) => t.recipients.some((r) => r.external_userid === ext))).toHaveLength(0);
  });

  test('quiet hours: an open KF window is not used; the recruiter sends it, and the record says why', async () => {
    clock.now = nextShanghai(22);
    const ext = 'wmDeliverQuiet01';
    await sandbox.actions.kfInbound({ external_userid: ext, content: '晚上好' }).delivered;
    await pullKf();
    const candidate = await createCandidateDirectory(app.db.appPool).find(corpId, ext);
    await ledger.transact(async (tx) => {
      const made = await assignRecruiter(tx, {
        corpId,
        candidateId: candidate!.candidateId,
        userid: RECRUITER,
        cause: 'test',
        actor: RECRUITER,
        at: new Date(),
      });
      return { result: null, entries: made.entries };
    });
    await sendOffer(candidate!.candidateId);
    const rows = await delivered(candidate!.candidateId);
    expect(rows[0]!.payload).toMatchObject({ route: 'recruiter_task', quiet_hours: true, facts: { kf_session_open: true } });
    expect(String(rows[0]!.payload['why'])).toContain('免打扰');
    expect(sandbox.state.kfSent.filter((s) => s.touser === ext)).toHaveLength(0);
    const last = inbox('【请发送 offer】').at(-1)!;
    expect(String((last.body as { content: string }).content)).toContain('09:00 后发送');
  });
});
