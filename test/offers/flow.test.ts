import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { OFFER_CONTROLS, OFFER_TEMPLATE_ID } from '../../sandbox/seed';
import { CANDIDATE_STREAMS, createCandidateByRecruiter, savePosition } from '../../src/candidates';
import { createLedger, createLedgerReader, verifyLedger, type Ledger, type StoredRecord } from '../../src/evidence';
import { QUEUES, corpQueue } from '../../src/jobs/names';
import { createModules } from '../../src/modules';
import { createLogger } from '../../src/observability/logger';
import { OFFER_KINDS, type OffersModule, type OfferTerms } from '../../src/offers';
import { createWecomClient, type WecomClient } from '../../src/wecom/api';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';

/**
 * Issue 10 item 9, "draft to onboarded", through the modules exactly as src/modules.ts wires them
 * (the worker's list and the API's): a recruiter drafts an offer above the position's band, the
 * routing adds the department head, the sandbox's approvers approve in order, the callbacks move
 * the offer, the recruiter sends it, the delivery hands the link to the recruiter (no route to the
 * candidate is open), the candidate accepts on the H5 page's API, reminders are cancelled, and the
 * offer is onboarded. Every step is on the candidate's timeline and the ledger verifies.
 */

const HMAC_KEY = 'flow-test-identifier-key-0123456789abcdef';
const RECRUITER = 'zhangmin';
// Every control of the sandbox's offer template, as an admin would configure them.
const CONTROLS = JSON.stringify(OFFER_CONTROLS);
const TERMS: OfferTerms = {
  baseMonthlyYuan: 32000,
  salaryMonths: 13,
  annualBonusTargetYuan: 50000,
  bonusNote: '按年度绩效发放',
  level: 'P6',
  department: '前端研发部',
  location: '上海',
  // Today in Shanghai: the offer is onboarded at the end, which its start date must allow.
  startDate: new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10),
  probationMonths: 3,
  acceptanceDeadline: null,
  terms: '入职需提供离职证明',
};

describe('an offer from draft to onboarded, wired as in production', () => {
  let app: RunningApp;
  let sandbox: Sandbox;
  let redis: Redis;
  let ledger: Ledger;
  let wecom: WecomClient;
  let jobsQueue: Queue;
  let jobsRedis: Redis;
  let apiQueue: Queue | undefined;
  let worker: RunningRuntime;
  let offers: OffersModule['offers'];
  const env = {
    WECOM_OFFER_TEMPLATE_ID: OFFER_TEMPLATE_ID,
    WECOM_OFFER_CONTROLS: CONTROLS,
    CANDIDATE_IDENTIFIER_HMAC_KEY: HMAC_KEY,
    ...(process.env['TEST_LOG_LEVEL'] ? { LOG_LEVEL: process.env['TEST_LOG_LEVEL'] } : {}),
  };

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    // The API: its modules' routes (the acceptance page) with a WeCom client it never calls in this test.
    app = await startApp(env, {
      modules: ({ pool, redis: appRedis, config }) => {
        const l = createLedger({ pool });
        const unused = createWecomClient({
          apiBase: 'http://127.0.0.1:9',
          corpId: config.WECOM_CORP_ID,
          secret: config.WECOM_SECRET,
          agentId: config.WECOM_AGENT_ID,
          redis: appRedis,
          logger: createLogger('silent', 'flow-api'),
          ledger: l,
          reader: createLedgerReader(pool),
        });
        apiQueue = new Queue(corpQueue(QUEUES.jobs, config.WECOM_CORP_ID), { connection: appRedis, prefix: config.QUEUE_PREFIX });
        return createModules({ pool, wecom: unused, ledger: l, config, jobsQueue: apiQueue, redis: appRedis });
      },
    });
    sandbox = await startSandboxFor(app);
    ledger = createLedger({ pool: app.db.appPool });
    wecom = createWecomClient({
      apiBase: sandbox.url,
      corpId: app.keys.corpId,
      secret: app.config.WECOM_SECRET,
      agentId: app.config.WECOM_AGENT_ID,
      redis,
      logger: createLogger('silent', 'flow-worker'),
      ledger,
      reader: createLedgerReader(app.db.appPool),
      options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:` },
    });
    jobsRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    jobsQueue = new Queue(corpQueue(QUEUES.jobs, app.config.WECOM_CORP_ID), {
      connection: jobsRedis,
      prefix: app.config.QUEUE_PREFIX,
    });
    // The worker: every module of src/modules.ts, with the sandbox as WeCom.
    const modules = createModules({ pool: app.db.appPool, wecom, ledger, config: app.config, jobsQueue });
    const offersModule = modules.find((m) => m.name === 'offers') as OffersModule | undefined;
    if (!offersModule) throw new Error('no offers module');
    offers = offersModule.offers;
    worker = await startRuntime(app, modules);
    // The position's band: 20,000–28,000 yuan a month; the offer's 32,000 is above it.
    await savePosition(app.db.pool, app.config.WECOM_CORP_ID, {
      id: 'fe-1',
      title: '前端开发工程师',
      department: '前端研发部',
      salaryMin: 20000,
      salaryMax: 28000,
    });
  }, 60_000);

  afterAll(async () => {
    await worker?.stop();
    await jobsQueue?.close();
    jobsRedis?.disconnect();
    await apiQueue?.close();
    await ledger?.close();
    redis?.disconnect();
    await sandbox?.close();
    await app?.stop();
  });

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${app.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Mozilla/5.0 (iPhone) MicroMessenger/8.0 flow-test' },
      body: JSON.stringify(body),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON read as any and checked with expect
    return { status: res.status, body: (await res.json()) as any };
  };
  const approve = async (spNo: string, userid: string) => {
    const res = await fetch(`${sandbox.url}/sandbox/admin/approvals/${spNo}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userid, speech: '同意' }),
    });
    if (res.status !== 200) throw new Error(`approve ${spNo} as ${userid}: ${res.status} ${await res.text()}`);
  };
  /** What the recruiter's WeCom client received (the sandbox's inbox keeps each message's content). */
  const recruiterTexts = () =>
    sandbox.state.inbox(RECRUITER).map((e) => {
      const c = (e.body as { content?: unknown } | null)?.content;
      return typeof c === 'string' ? c : '';
    });

  test('above the band: routed to the department head, approved in order, sent, accepted on the page, onboarded', async () => {
    const corpId = app.config.WECOM_CORP_ID;
    const phone = '13900001234';
    const { candidate } = await createCandidateByRecruiter(
      { transact: ledger.transact.bind(ledger), hmacKey: HMAC_KEY },
      {
        corpId,
        recruiter: RECRUITER,
        identifiers: [{ kind: 'phone', value: phone, consentBasis: 'contract_necessity' }],
      },
    );
    const drafted = await offers.draftOffer({
      corpId,
      candidateId: candidate.candidateId,
      positionId: 'fe-1',
      actor: RECRUITER,
      terms: TERMS,
    });
    const v = { corpId, offerId: drafted.offerId, version: 1, contentSha256: drafted.versions[0]!.contentSha256 };
    const before = new Set(sandbox.state.approvals.keys());
    await offers.submitForApproval({ ...v, actor: RECRUITER });

    // The approvals module's job submits it to WeCom: three nodes, the department head added above the band.
    const ours = () => [...sandbox.state.approvals.values()].filter((a) => !before.has(a.sp_no));
    await until('the approval submitted to WeCom', async () => ours().length > 0, 30_000);
    expect(ours()).toHaveLength(1);
    const approval = ours()[0]!;
    const spNo = approval.sp_no;
    expect(approval.nodes.map((n) => n.entries.map((e) => e.userid))).toEqual([['liqiang'], ['wangfang'], ['chenjing']]);
    for (const userid of ['liqiang', 'wangfang', 'chenjing']) await approve(spNo, userid);
    await until(
      'the offer approved by the callbacks',
      async () => (await offers.getOffer({ corpId, offerId: v.offerId }))?.state === 'approved',
      30_000,
    );

    // Sent: no KF window, no recruiter contact, so the link reaches the recruiter as a task.
    await offers.sendFormalOffer({ ...v, actor: RECRUITER });
    let url = '';
    await until(
      'the link handed to the recruiter',
      async () => {
        const m = recruiterTexts()
          .join('\n')
          .match(/https?:\/\/\S+\/h5\/offer\.html#t=[A-Za-z0-9_-]+/);
        url = m?.[0] ?? '';
        return url !== '';
      },
      30_000,
    );
    const token = url.split('#t=')[1]!;

    // The candidate opens the page and accepts, confirming the phone the recruiter recorded.
    const view = await post('/h5/api/offer-link/view', { token });
    expect(view.status).toBe(200);
    expect(view.body.shown_text).toContain('32,000');
    expect(view.body.shown_text).toContain(v.contentSha256);
    const accepted = await post('/h5/api/offer-link/accept', {
      token,
      name: '周宇',
      phone,
      shownTextSha256: view.body.shown_text_sha256,
    });
    expect(accepted.status).toBe(200);
    expect((await offers.getOffer({ corpId, offerId: v.offerId }))?.state).toBe('accepted');
    // The same link again changes nothing.
    expect(
      (await post('/h5/api/offer-link/accept', { token, name: '周宇', phone, shownTextSha256: view.body.shown_text_sha256 }))
        .status,
    ).toBe(409);

    await offers.markOnboarded({ corpId, offerId: v.offerId, actor: RECRUITER });
    expect((await offers.getOffer({ corpId, offerId: v.offerId }))?.state).toBe('onboarded');

    // The candidate's stream (their timeline) holds every step in order, and the ledger verifies.
    const records = async () => {
      const out: StoredRecord[] = [];
      for await (const r of createLedgerReader(app.db.appPool).cursor({
        stream: CANDIDATE_STREAMS.candidate(candidate.candidateId),
      }))
        out.push(r);
      return out;
    };
    await until(
      'the reminders of the answered offer cancelled',
      async () => (await records()).some((r) => r.kind === 'reminder.cancelled'),
      30_000,
    );
    const all = await records();
    const seen = all.map((r) => r.kind);
    const order = [
      OFFER_KINDS.created,
      'approval.routed',
      'approval.submitted',
      OFFER_KINDS.approved,
      OFFER_KINDS.sent,
      'offer.delivery_routed',
      'offer.link_viewed',
      OFFER_KINDS.accepted,
      OFFER_KINDS.onboarded,
    ];
    const at = order.map((k) => seen.indexOf(k));
    expect(order.filter((k) => !seen.includes(k))).toEqual([]);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // The route and the rule that chose the department head are recorded.
    expect(JSON.stringify(all.find((r) => r.kind === 'approval.routed')?.payload)).toContain('chenjing');
    // The acceptance record holds what the candidate was shown and confirmed.
    const acceptance = all.find((r) => r.kind === OFFER_KINDS.accepted)?.payload as { [k: string]: unknown };
    expect(JSON.stringify(acceptance)).toContain(view.body.shown_text_sha256);
    expect(JSON.stringify(acceptance)).toContain('flow-test');
    expect((await verifyLedger(app.db.pool)).ok).toBe(true);
  }, 120_000);
});
