import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { OFFER_CONTROLS, OFFER_LEVEL_OPTIONS, OFFER_TEMPLATE_ID } from '../../sandbox/seed';
import {
  APPROVAL_KINDS,
  createApprovalsModule,
  parseOfferControls,
  submitRequestOf,
  type ApprovalsModule,
} from '../../src/approvals';
import { createCandidateByRecruiter, savePosition } from '../../src/candidates';
import { createLedger, createLedgerReader, type JsonValue, type Ledger } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import { createOffersModule, hrbpsFromList, OFFER_KINDS, type Offers, type OfferTerms, type OfferView } from '../../src/offers';
import { createWecomClient, type WecomClient } from '../../src/wecom/api';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';

/**
 * Offer approvals through multi-node WeCom flows, end to end against the real PostgreSQL, Redis,
 * ledger, worker runtime and the sandbox over HTTP: an offer above its band goes 用人经理 → HRBP →
 * 部门负责人, each approves in order in the sandbox (one acting out of turn is refused), and the offer
 * is approved by the last one only; a 转审 and a rejection on a middle node; a dropped callback, on a
 * middle node or the last, healed by reconciliation. The form fills every control of the sandbox
 * template (bonus, probation, hash; levels from the default P4–P9 keys).
 */

const KEY = 'approvals-multinode-hmac-key-0123456789ab';
const POSITION = 'be-multinode-01';
/** Every control of the sandbox's offer template; `levels` left to the default (the sandbox's P4–P9). */
const CONTROLS = parseOfferControls(
  JSON.stringify({
    candidate: OFFER_CONTROLS.candidate,
    position: OFFER_CONTROLS.position,
    salary: OFFER_CONTROLS.salary,
    startDate: OFFER_CONTROLS.startDate,
    level: OFFER_CONTROLS.level,
    remark: OFFER_CONTROLS.remark,
    bonus: OFFER_CONTROLS.bonus,
    probation: OFFER_CONTROLS.probation,
    contentHash: OFFER_CONTROLS.contentHash,
  }),
);
const log = createLogger('silent', 'approvals-multinode-test');

interface Rec {
  seq: number;
  kind: string;
  actor: string;
  source_ref: string;
  payload: { [k: string]: JsonValue };
}

function terms(base: number, level = 'P6'): OfferTerms {
  const deadline = new Date(Date.now() + 7 * 86400_000);
  deadline.setUTCMilliseconds(0);
  return {
    baseMonthlyYuan: base,
    salaryMonths: 13,
    annualBonusTargetYuan: 80000,
    bonusNote: '按绩效发放',
    level,
    department: '研发部',
    location: '上海',
    startDate: '2027-03-01',
    probationMonths: 3,
    acceptanceDeadline: deadline,
    terms: '',
  };
}

describe('multi-node offer approvals', () => {
  let app: RunningApp;
  let sandbox: Sandbox;
  let redis: Redis;
  let ledger: Ledger;
  let wecom: WecomClient;
  let offers: Offers;
  let corpId: string;
  let worker: RunningRuntime | undefined;

  beforeAll(async () => {
    app = await startApp();
    sandbox = await startSandboxFor(app);
    corpId = app.keys.corpId;
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    ledger = createLedger({ pool: app.db.appPool });
    wecom = createWecomClient({
      apiBase: sandbox.url,
      corpId,
      secret: app.config.WECOM_SECRET,
      agentId: app.config.WECOM_AGENT_ID,
      redis,
      logger: log,
      ledger,
      reader: createLedgerReader(app.db.appPool),
      options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:`, busyRetries: 0 },
    });
    offers = createOffersModule({
      db: app.db.appPool,
      transact: (work) => ledger.transact(work),
      isHrbp: hrbpsFromList(['wangfang']),
    }).offers;
    // Band 25,000–30,000 yuan a month: 33,000 is above it (a department head's matter), not 20% above.
    await savePosition(app.db.pool, corpId, { id: POSITION, title: '后端工程师', salaryMin: 25000, salaryMax: 30000 });
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });
  afterAll(async () => {
    // Each only if it started, so a failed start still stops the rest (no open handles keep jest running).
    const started = { ledger, redis, sandbox, app } as Partial<{
      ledger: Ledger;
      redis: Redis;
      sandbox: Sandbox;
      app: RunningApp;
    }>;
    await started.ledger?.close();
    started.redis?.disconnect();
    await started.sandbox?.close();
    await started.app?.stop();
  });

  function approvals(): ApprovalsModule {
    return createApprovalsModule({
      db: app.db.appPool,
      transact: (work) => ledger.transact(work),
      offers,
      oa: wecom.oa,
      templateId: OFFER_TEMPLATE_ID,
      controls: CONTROLS,
    });
  }

  async function pendingOffer(base = 33000, level = 'P6'): Promise<OfferView> {
    const { candidate } = await createCandidateByRecruiter(
      { transact: (work) => ledger.transact(work), hmacKey: KEY },
      { corpId, recruiter: 'zhangmin', positionId: POSITION },
    );
    const o = await offers.draftOffer({
      corpId,
      candidateId: candidate.candidateId,
      positionId: POSITION,
      actor: 'zhangmin',
      terms: terms(base, level),
    });
    return offers.submitForApproval({ corpId, offerId: o.offerId, version: o.currentVersion, actor: 'zhangmin' });
  }

  const records = async (offerId: string, kindPrefix: string): Promise<Rec[]> =>
    (
      await app.db.pool.query<Rec>(
        `SELECT seq::int, kind, actor, source_ref, payload FROM evidence_records
          WHERE payload->>'offer_id' = $1 AND kind LIKE $2 ORDER BY seq`,
        [offerId, `${kindPrefix}%`],
      )
    ).rows;
  /** The sys_approval_change callbacks stored for a form: [seq, StatuChangeEvent, SpStatus] in ledger order. */
  const callbacksOf = async (spNo: string): Promise<[number, string, string][]> =>
    (
      await app.db.pool.query<{ seq: number; source_ref: string }>(
        `SELECT seq::int, source_ref FROM evidence_records WHERE stream = $1 ORDER BY seq`,
        [`wecom:approval:${spNo}`],
      )
    ).rows.map((r) => {
      // The callback's key: approval:<SpNo>:<StatuChangeEvent>:<SpStatus>:<CreateTime>:<act>.
      const m = new RegExp(`approval:${spNo}:(\\d+):(\\d+):`).exec(r.source_ref);
      return [r.seq, m?.[1] ?? r.source_ref, m?.[2] ?? ''];
    });
  const version = async (o: OfferView) => (await offers.getOffer({ corpId, offerId: o.offerId }))!;
  const spNoOf = async (o: OfferView): Promise<string> => {
    await until('SpNo bound', async () => (await version(o)).versions.at(-1)!.approvalSpNo !== null, 30000);
    return (await version(o)).versions.at(-1)!.approvalSpNo!;
  };
  /** A sandbox admin action (waits until its callback was answered); the HTTP status and body. */
  const act = async (spNo: string, action: string, body: Record<string, unknown>) => {
    const res = await fetch(`${sandbox.url}/sandbox/admin/approvals/${spNo}/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ wait: true, ...body }),
    });
    return { status: res.status, body: (await res.json()) as { ok: boolean; error?: string; callback?: { status: string } } };
  };
  const approve = async (spNo: string, userid: string, extra: Record<string, unknown> = {}): Promise<void> => {
    const r = await act(spNo, 'approve', { userid, ...extra });
    if (r.status !== 200) throw new Error(`approve ${spNo} as ${userid}: ${r.status} ${JSON.stringify(r.body)}`);
    expect(r.body.callback?.status).toBe(extra['drop_callback'] === true ? 'skipped' : 'delivered');
  };
  /** Waits until the ledger holds `n` callbacks of the form (the app stored each before answering 200). */
  const storedCallbacks = (spNo: string, n: number) =>
    until(`${n} callbacks of ${spNo} stored`, async () => (await callbacksOf(spNo)).length >= n, 30000);

  test('above the band: 用人经理 → HRBP → 部门负责人 in order; out of turn refused; approved only by the last', async () => {
    worker = await startRuntime(app, [approvals()]);
    const o = await pendingOffer(33000);
    const spNo = await spNoOf(o);

    // The form: three approver nodes in route order, every control of the template filled.
    const { info } = await wecom.oa.getApprovalDetail(spNo);
    expect(info.sp_record.map((n) => n.details.map((d) => d.approver.userid))).toEqual([['liqiang'], ['wangfang'], ['chenjing']]);
    const value = (id: string) => info.apply_data.contents.find((c) => c.id === id)!.value;
    expect(value(OFFER_CONTROLS.contentHash)).toMatchObject({ text: o.versions[0]!.contentSha256 });
    expect(value(OFFER_CONTROLS.bonus)).toMatchObject({ new_money: '80000' });
    expect(value(OFFER_CONTROLS.probation)).toMatchObject({ new_number: '3' });
    expect(value(OFFER_CONTROLS.level)).toMatchObject({ selector: { options: [{ key: OFFER_LEVEL_OPTIONS.P6 }] } });

    // The department head and the HRBP before the hiring manager: refused, nothing changes.
    const early = await act(spNo, 'approve', { userid: 'chenjing', speech: '同意' });
    expect(early.status).toBe(409);
    expect(early.body.error).toContain('chenjing 在第 3 个审批节点，须等第 1 个节点（liqiang）审批完成');
    expect((await act(spNo, 'approve', { userid: 'wangfang' })).status).toBe(409);

    await approve(spNo, 'liqiang', { speech: '同意' });
    expect((await act(spNo, 'approve', { userid: 'chenjing' })).status).toBe(409);
    await approve(spNo, 'wangfang', { speech: '同意，超出带宽请部门负责人确认' });
    await storedCallbacks(spNo, 3);
    expect((await version(o)).state).toBe('pending_approval');
    await approve(spNo, 'chenjing', { speech: '同意' });
    await until('offer approved', async () => (await version(o)).state === 'approved', 30000);

    const v = (await version(o)).versions[0]!;
    expect(v.approvedContentSha256).toBe(v.contentSha256);
    const approved = await records(o.offerId, OFFER_KINDS.approved);
    expect(approved).toHaveLength(1);
    expect(approved[0]!.actor).toBe('chenjing');
    expect(approved[0]!.payload['sp_no']).toBe(spNo);
    // Every callback is stored: 提单, then three node approvals, the form 审批中 until the last.
    const cbs = await callbacksOf(spNo);
    expect(cbs.map(([, e, s]) => `${e}/${s}`)).toEqual(['1/1', '2/1', '2/1', '2/2']);
    // The offer moved on the last one, after it was stored.
    expect(approved[0]!.seq).toBeGreaterThan(cbs[3]![0]);
    // Nothing for reconciliation to heal.
    expect((await approvals().reconcile(corpId, log)).healed).toBe(0);
  }, 60000);

  test('a 转审 on the HRBP node moves nothing; the transferee then the department head approve', async () => {
    worker = await startRuntime(app, [approvals()]);
    const o = await pendingOffer(33500);
    const spNo = await spNoOf(o);
    await approve(spNo, 'liqiang');
    const t = await act(spNo, 'transfer', { userid: 'wangfang', to_userid: 'sunwei', speech: '请孙伟代审' });
    expect(t.status).toBe(200);
    expect((await act(spNo, 'approve', { userid: 'wangfang' })).status).toBe(409);
    await approve(spNo, 'sunwei');
    await storedCallbacks(spNo, 4);
    expect((await version(o)).state).toBe('pending_approval');
    await approve(spNo, 'chenjing');
    await until('offer approved', async () => (await version(o)).state === 'approved', 30000);
    expect((await records(o.offerId, OFFER_KINDS.approved))[0]!.actor).toBe('chenjing');
    expect((await callbacksOf(spNo)).map(([, e, s]) => `${e}/${s}`)).toEqual(['1/1', '2/1', '4/1', '2/1', '2/2']);
  }, 60000);

  test('rejected on the middle node: the offer goes back to draft, the last approver is never asked', async () => {
    worker = await startRuntime(app, [approvals()]);
    const o = await pendingOffer(34000);
    const spNo = await spNoOf(o);
    await approve(spNo, 'liqiang');
    expect((await act(spNo, 'reject', { userid: 'wangfang', speech: '超出预算' })).status).toBe(200);
    await until('offer back to draft', async () => (await version(o)).state === 'draft', 30000);
    expect((await version(o)).versions[0]!.approvalStatus).toBe('rejected');
    expect((await records(o.offerId, OFFER_KINDS.approvalRejected))[0]!.actor).toBe('wangfang');
    const late = await act(spNo, 'approve', { userid: 'chenjing' });
    expect(late.status).toBe(409);
    expect(late.body.error).toContain('已结束（已驳回）');
  }, 60000);

  test('dropped callbacks: a middle node’s needs no healing, the last one’s is healed by reconciliation', async () => {
    const m = approvals();
    worker = await startRuntime(app, [m]);
    const o = await pendingOffer(32000);
    const spNo = await spNoOf(o);
    // Node 1's callback lost: the form is still 审批中, so reconciliation has nothing to apply.
    await approve(spNo, 'liqiang', { drop_callback: true });
    expect(await m.reconcile(corpId, log)).toMatchObject({ healed: 0 });
    expect((await version(o)).state).toBe('pending_approval');
    await approve(spNo, 'wangfang');
    // The last node's callback lost: the offer waits until reconciliation reads the form.
    await approve(spNo, 'chenjing', { speech: '同意', drop_callback: true });
    await storedCallbacks(spNo, 2);
    expect((await callbacksOf(spNo)).map(([, e, s]) => `${e}/${s}`)).toEqual(['1/1', '2/1']);
    expect((await version(o)).state).toBe('pending_approval');

    const summary = await m.reconcile(corpId, log);
    expect(summary.healed).toBe(1);
    expect((await version(o)).state).toBe('approved');
    const healed = await records(o.offerId, APPROVAL_KINDS.reconciled);
    expect(healed).toHaveLength(1);
    expect(healed[0]!.payload).toMatchObject({
      sp_no: spNo,
      approval_status: 'approved',
      applied: true,
      healed_by: 'reconciliation',
    });
    // The decider is the last node's approver, read from the form.
    expect((await records(o.offerId, OFFER_KINDS.approved))[0]!.actor).toBe('chenjing');
    expect((await m.reconcile(corpId, log)).healed).toBe(0);
  }, 60000);

  test('P9 with the default level keys: the form names P9 and the route adds the HR director (level ≥ P8)', async () => {
    const o = await pendingOffer(29000, 'P9');
    const rec = (await records(o.offerId, OFFER_KINDS.approvalRequested)).at(-1)!;
    const res = await approvals().submitter.submit(submitRequestOf(corpId, rec.payload), log);
    expect(res.outcome).toBe('submitted');
    const { info } = await wecom.oa.getApprovalDetail((res as { spNo: string }).spNo);
    expect(info.sp_record.map((n) => n.details.map((d) => d.approver.userid))).toEqual([['liqiang'], ['wangfang'], ['liuyang']]);
    const level = info.apply_data.contents.find((c) => c.id === OFFER_CONTROLS.level)!.value as {
      selector: { options: { key: string; value: { text: string }[] }[] };
    };
    expect(level.selector.options.map((x) => [x.key, x.value[0]!.text])).toEqual([[OFFER_LEVEL_OPTIONS.P9, 'P9']]);
  }, 60000);
});
