import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { OFFER_TEMPLATE_ID } from '../../sandbox/seed';
import {
  APPROVAL_KINDS,
  createApprovalsModule,
  hrbpsFromAssignments,
  parseOfferControls,
  routeFor,
  saveRoleAssignment,
  saveRule,
  setUseTemplateApprover,
  submitRequestOf,
  type ApprovalsModule,
} from '../../src/approvals';
import { createCandidateByRecruiter, savePosition } from '../../src/candidates';
import { createLedger, createLedgerReader, type JsonValue, type Ledger } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import {
  createOffersModule,
  hrbpsFromList,
  offerContent,
  OFFER_KINDS,
  type Offers,
  type OfferTerms,
  type OfferView,
} from '../../src/offers';
import { createWecomClient, type WecomClient } from '../../src/wecom/api';
import { seedSandboxApprovers, startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';

/**
 * The approvals module against the real PostgreSQL, Redis, ledger and the WeCom sandbox over HTTP:
 * routing defaults and an admin's edit, submission exactly once (a duplicated job, a crash between
 * WeCom's answer and its record), callbacks moving the offer in the worker runtime, and a dropped
 * callback healed by reconciliation.
 */

const KEY = 'approvals-test-hmac-key-0123456789abcdef';
const POSITION = 'be-approvals-01';
/** The sandbox template's controls, as an operator configures them (.env.example). */
const CONTROLS = parseOfferControls(
  JSON.stringify({
    candidate: 'Text-1700000000001',
    position: 'Text-1700000000002',
    salary: 'Money-1700000000003',
    startDate: 'Date-1700000000004',
    level: 'Selector-1700000000005',
    remark: 'Textarea-1700000000006',
    levels: { P4: 'option-1700000000101', P5: 'option-1700000000102', P6: 'option-1700000000103', P7: 'option-1700000000104' },
  }),
);
const log = createLogger('silent', 'approvals-test');

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
    annualBonusTargetYuan: null,
    bonusNote: '',
    level,
    department: '研发部',
    location: '上海',
    startDate: '2027-03-01',
    probationMonths: 3,
    acceptanceDeadline: deadline,
    terms: '入职需提供离职证明',
  };
}

describe('approvals', () => {
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
    // Band 25,000–30,000 yuan a month.
    await savePosition(app.db.pool, corpId, { id: POSITION, title: '后端工程师', salaryMin: 25000, salaryMax: 30000 });
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });
  afterAll(async () => {
    await ledger.close();
    redis.disconnect();
    await sandbox.close();
    await app.stop();
  });

  function approvals(extra: Partial<Parameters<typeof createApprovalsModule>[0]> = {}): ApprovalsModule {
    return createApprovalsModule({
      db: app.db.appPool,
      transact: (work) => ledger.transact(work),
      offers,
      oa: wecom.oa,
      templateId: OFFER_TEMPLATE_ID,
      controls: CONTROLS,
      ...extra,
    });
  }

  async function pendingOffer(base = 28000, level = 'P6'): Promise<OfferView> {
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

  const records = async (offerId: string, kindPrefix = 'approval.'): Promise<Rec[]> =>
    (
      await app.db.pool.query<Rec>(
        `SELECT seq::int, kind, actor, source_ref, payload FROM evidence_records
          WHERE payload->>'offer_id' = $1 AND kind LIKE $2 AND kind <> 'approval.node_reached' ORDER BY seq`,
        [offerId, `${kindPrefix}%`],
      )
    ).rows;
  const requestOf = async (o: OfferView) => {
    const rec = (await records(o.offerId, OFFER_KINDS.approvalRequested)).at(-1)!;
    return submitRequestOf(corpId, rec.payload);
  };
  const applyCalls = () => sandbox.state.stats.calls['oa/applyevent'] ?? 0;
  const approvalsOf = (offerId: string) =>
    [...sandbox.state.approvals.values()].filter((a) => JSON.stringify(a.contents).includes(offerId));
  const version = async (o: OfferView) => (await offers.getOffer({ corpId, offerId: o.offerId }))!;
  const admin = async (path: string, body: unknown) => {
    const res = await fetch(`${sandbox.url}/sandbox/admin/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json: unknown = await res.json();
    if (!res.ok) throw new Error(`sandbox admin ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  describe('routing', () => {
    const content = (base: number, level = 'P6') => offerContent(POSITION, terms(base, level));
    const route = async (base: number, level = 'P6') => {
      const r = await routeFor(app.db.appPool, corpId, content(base, level));
      return {
        approvers: r.nodes.map((n) => `${n.role}:${n.userids.join(',')}`),
        rules: r.rules.map((x) => `${x.id}@${x.version}`),
      };
    };

    test('defaults: within the band, above it, more than 20% above, P8', async () => {
      expect(await route(30000)).toEqual({ approvers: ['hiring_manager:liqiang', 'hrbp:wangfang'], rules: ['base@1'] });
      expect(await route(30001)).toEqual({
        approvers: ['hiring_manager:liqiang', 'hrbp:wangfang', 'department_head:chenjing'],
        rules: ['base@1', 'above_band@1'],
      });
      // Exactly 20% above is not "more than 20%".
      expect((await route(36000)).approvers).toHaveLength(3);
      expect(await route(36001)).toEqual({
        approvers: ['hiring_manager:liqiang', 'hrbp:wangfang', 'department_head:chenjing', 'hr_director:liuyang'],
        rules: ['base@1', 'above_band@1', 'far_above_band_or_senior@1'],
      });
      expect(await route(26000, 'P8')).toEqual({
        approvers: ['hiring_manager:liqiang', 'hrbp:wangfang', 'hr_director:liuyang'],
        rules: ['base@1', 'far_above_band_or_senior@1'],
      });
      expect((await route(26000, 'P7')).approvers).toHaveLength(2);
    });

    test('a rule and a role holder edited in the database change the route; other corps keep the defaults', async () => {
      const other = 'wwothercorp01';
      await saveRule(
        app.db.appPool,
        corpId,
        { id: 'above_band', priority: 20, whenAny: [{ above_band_pct_gt: 10 }], addRoles: ['department_head'] },
        'LiuYang',
      );
      await saveRoleAssignment(
        app.db.appPool,
        corpId,
        { department: '研发部', role: 'department_head', userids: ['SunWei'] },
        'liuyang',
      );
      try {
        // 5% above: no longer a department head's matter.
        expect(await route(31500)).toEqual({ approvers: ['hiring_manager:liqiang', 'hrbp:wangfang'], rules: ['base@1'] });
        expect(await route(33001)).toEqual({
          approvers: ['hiring_manager:liqiang', 'hrbp:wangfang', 'department_head:sunwei'],
          rules: ['base@1', 'above_band@2'],
        });
        await seedSandboxApprovers(app.db.pool, other);
        const theirs = await routeFor(app.db.appPool, other, { ...content(31500), position_id: POSITION });
        expect(theirs.rules.map((r) => r.id)).toEqual(['base']);
      } finally {
        await app.db.pool.query(`DELETE FROM approval_rules WHERE corp_id = $1`, [corpId]);
        await app.db.pool.query(`DELETE FROM approval_role_assignments WHERE corp_id = $1`, [other]);
        await app.db.pool.query(`DELETE FROM approval_role_assignments WHERE corp_id = $1 AND department <> '*'`, [corpId]);
      }
      expect((await route(31500)).rules).toEqual(['base@1', 'above_band@1']);
    });

    test("HRBPs for rescinds and approvers come from the corp's own assignments; none are shipped", async () => {
      const isHrbp = hrbpsFromAssignments(app.db.appPool);
      // This corp set wangfang as its HRBP (test/support seeds the sandbox's members); another corp set nobody.
      expect(await isHrbp(corpId, 'WangFang')).toBe(true);
      expect(await isHrbp('wwothercorp01', 'wangfang')).toBe(false);
      expect(await isHrbp(corpId, 'liqiang')).toBe(false);
      // A corp that set no holders gets no approver: submitting is refused, naming the missing role.
      await expect(routeFor(app.db.appPool, 'wwothercorp01', { ...content(26000), position_id: POSITION })).rejects.toThrow(
        '没有配置用人经理',
      );
      const { rows } = await app.db.pool.query(`SELECT count(*)::int AS n FROM approval_role_assignments WHERE corp_id = '*'`);
      expect(rows[0].n).toBe(0);
      await saveRoleAssignment(app.db.appPool, corpId, { department: '研发部', role: 'hrbp', userids: ['sunwei'] }, 'liuyang');
      try {
        expect(await isHrbp(corpId, 'sunwei')).toBe(true);
        expect(await isHrbp('wwothercorp01', 'wangfang')).toBe(false);
      } finally {
        await app.db.pool.query(`DELETE FROM approval_role_assignments WHERE corp_id = $1 AND department <> '*'`, [corpId]);
      }
    });
  });

  describe('submission', () => {
    test('once, with the route and rules recorded, the terms and hash in the form, the SpNo bound', async () => {
      const o = await pendingOffer(33000);
      const m = approvals();
      const req = await requestOf(o);
      const before = applyCalls();
      const [a, b] = await Promise.all([m.submitter.submit(req, log), m.submitter.submit(req, log)]);
      const again = await m.submitter.submit(req, log);
      expect(applyCalls() - before).toBe(1);
      const outcomes = [a.outcome, b.outcome].sort();
      expect(outcomes).toEqual(['already_submitted', 'submitted']);
      expect(again.outcome).toBe('already_submitted');
      const spNo = (a as { spNo: string }).spNo;
      expect((await version(o)).versions[0]!.approvalSpNo).toBe(spNo);

      const recs = await records(o.offerId);
      expect(recs.map((r) => r.kind)).toEqual([APPROVAL_KINDS.routed, APPROVAL_KINDS.submitted]);
      expect(recs[0]!.payload['approvers']).toEqual([
        { role: 'hiring_manager', userids: ['liqiang'] },
        { role: 'hrbp', userids: ['wangfang'] },
        { role: 'department_head', userids: ['chenjing'] },
      ]);
      expect((recs[0]!.payload['rules'] as { id: string; version: number }[]).map((r) => [r.id, r.version])).toEqual([
        ['base', 1],
        ['above_band', 1],
      ]);
      expect(recs[1]!.payload).toMatchObject({ sp_no: spNo, how: 'submitted', attempts: 1 });

      const { info } = await wecom.oa.getApprovalDetail(spNo);
      const remark = info.apply_data.contents.find((c) => c.id === CONTROLS.remark)!.value as { text: string };
      expect(remark.text).toContain(`内容哈希（SHA-256）：${o.versions[0]!.contentSha256}`);
      expect(remark.text).toContain('¥33,000');
      expect(info.sp_record.map((n) => n.details.map((d) => d.approver.userid))).toEqual([
        ['liqiang'],
        ['wangfang'],
        ['chenjing'],
      ]);
    });

    test('a crash between WeCom’s answer and its record: the retry finds the approval, never files a second', async () => {
      const o = await pendingOffer();
      const req = await requestOf(o);
      const before = applyCalls();
      const crashing = approvals({
        afterApplyEvent: () => Promise.reject(new Error('worker killed after applyevent')),
      });
      await expect(crashing.submitter.submit(req, log)).rejects.toThrow('worker killed');
      expect(applyCalls() - before).toBe(1);
      expect((await version(o)).versions[0]!.approvalSpNo).toBeNull();

      const retry = await approvals().submitter.submit(req, log);
      expect(retry.outcome).toBe('found_by_lookup');
      expect(applyCalls() - before).toBe(1);
      expect(approvalsOf(o.offerId)).toHaveLength(1);
      const spNo = (retry as { spNo: string }).spNo;
      expect((await version(o)).versions[0]!.approvalSpNo).toBe(spNo);
      expect((await records(o.offerId)).at(-1)!.payload).toMatchObject({ how: 'found_by_lookup', sp_no: spNo, attempts: 1 });
    });

    test('a doubt whose job gave up is resolved by reconciliation: found and bound, never filed again', async () => {
      const o = await pendingOffer(29500);
      const before = applyCalls();
      await expect(
        approvals({ afterApplyEvent: () => Promise.reject(new Error('killed')) }).submitter.submit(await requestOf(o), log),
      ).rejects.toThrow('killed');
      // Not yet "old": reconciliation leaves a doubt the job may still retry to itself.
      expect((await approvals().reconcile(corpId, log)).foundByLookup).toBe(0);
      const later = approvals({ now: () => Date.now() + 11 * 60 * 1000 });
      expect((await later.reconcile(corpId, log)).foundByLookup).toBe(1);
      expect(applyCalls() - before).toBe(1);
      const sp = (await version(o)).versions[0]!.approvalSpNo;
      expect(sp).toBe(approvalsOf(o.offerId)[0]!.sp_no);
      expect((await later.reconcile(corpId, log)).foundByLookup).toBe(0);
    });

    test('use_template_approver: WeCom’s own flow of the template, the route still recorded', async () => {
      await setUseTemplateApprover(app.db.appPool, corpId, true, 'liuyang');
      try {
        const o = await pendingOffer(31000);
        const res = await approvals().submitter.submit(await requestOf(o), log);
        expect(res.outcome).toBe('submitted');
        const { info } = await wecom.oa.getApprovalDetail((res as { spNo: string }).spNo);
        // The seeded template's flow: 李强 → 王芳 (CC 赵磊), not the route's department head.
        expect(info.sp_record.map((n) => n.details.map((d) => d.approver.userid))).toEqual([['liqiang'], ['wangfang']]);
        expect((await records(o.offerId))[0]!.payload['use_template_approver']).toBe(true);
      } finally {
        await setUseTemplateApprover(app.db.appPool, corpId, false, 'liuyang');
      }
    });

    test('a refusal by WeCom is recorded as failed and not retried', async () => {
      await saveRoleAssignment(
        app.db.appPool,
        corpId,
        { department: '研发部', role: 'hrbp', userids: ['nobody_here'] },
        'liuyang',
      );
      try {
        const o = await pendingOffer();
        const res = await approvals().submitter.submit(await requestOf(o), log);
        expect(res.outcome).toBe('failed');
        expect((await records(o.offerId)).map((r) => r.kind)).toEqual([APPROVAL_KINDS.routed, APPROVAL_KINDS.submitFailed]);
        expect((await approvals().submitter.submit(await requestOf(o), log)).outcome).toBe('failed');
        expect(approvalsOf(o.offerId)).toHaveLength(0);
        // A level the template has no option for (the sandbox's stops at P7): refused before any attempt.
        const p8 = await pendingOffer(26000, 'P8');
        const before = applyCalls();
        expect(await approvals().submitter.submit(await requestOf(p8), log)).toMatchObject({ outcome: 'failed' });
        expect(applyCalls()).toBe(before);
        expect((await records(p8.offerId)).at(-1)!.payload).toMatchObject({ stage: 'form' });
      } finally {
        await app.db.pool.query(`DELETE FROM approval_role_assignments WHERE corp_id = $1 AND department <> '*'`, [corpId]);
      }
    });
  });

  describe('in the worker', () => {
    const spNoOf = async (o: OfferView): Promise<string> => {
      await until('SpNo bound', async () => (await version(o)).versions.at(-1)!.approvalSpNo !== null);
      return (await version(o)).versions.at(-1)!.approvalSpNo!;
    };

    test('submitted by the consumer; approved by every approver → the offer is approved', async () => {
      const m = approvals();
      worker = await startRuntime(app, [m]);
      const o = await pendingOffer(29000);
      const spNo = await spNoOf(o);
      await admin(`approvals/${spNo}/approve`, { userid: 'liqiang', wait: true });
      await admin(`approvals/${spNo}/approve`, { userid: 'wangfang', speech: '同意', wait: true });
      await until('offer approved', async () => (await version(o)).state === 'approved');
      const v = (await version(o)).versions[0]!;
      expect(v.approvedContentSha256).toBe(v.contentSha256);
      const approved = (await records(o.offerId, OFFER_KINDS.approved))[0]!;
      expect(approved.actor).toBe('wangfang');
      expect(approved.payload['sp_no']).toBe(spNo);
      expect(approvalsOf(o.offerId)).toHaveLength(1);
      // The callback came: reconciliation reads the approval and has nothing to heal or record.
      expect((await m.reconcile(corpId, log)).healed).toBe(0);
      expect((await records(o.offerId)).map((r) => r.kind)).toEqual([APPROVAL_KINDS.routed, APPROVAL_KINDS.submitted]);
    });

    test('a crash mid-submission and approvers faster than the retry: found, bound, then the held callback applies', async () => {
      const o = await pendingOffer(29900);
      const before = applyCalls();
      await expect(
        approvals({ afterApplyEvent: () => Promise.reject(new Error('killed')) }).submitter.submit(await requestOf(o), log),
      ).rejects.toThrow('killed');
      const spNo = approvalsOf(o.offerId)[0]!.sp_no;
      await admin(`approvals/${spNo}/approve`, { userid: 'liqiang', wait: true });
      await admin(`approvals/${spNo}/approve`, { userid: 'wangfang', wait: true });
      worker = await startRuntime(app, [approvals()]);
      await until('offer approved', async () => (await version(o)).state === 'approved', 30000);
      expect(applyCalls() - before).toBe(1);
      expect((await version(o)).versions[0]!.approvalSpNo).toBe(spNo);
      expect((await records(o.offerId)).map((r) => r.kind)).toEqual([APPROVAL_KINDS.routed, APPROVAL_KINDS.submitted]);
    }, 40000);

    test('rejected → back to draft', async () => {
      worker = await startRuntime(app, [approvals()]);
      const o = await pendingOffer(27000);
      const spNo = await spNoOf(o);
      await admin(`approvals/${spNo}/reject`, { userid: 'liqiang', speech: '薪资需再议', wait: true });
      await until('offer back to draft', async () => (await version(o)).state === 'draft');
      expect((await version(o)).versions[0]!.approvalStatus).toBe('rejected');

      // Asked again, same version: a second request, a second WeCom approval; the old one's replay binds nothing.
      const firstRequest = await requestOf(o);
      await offers.submitForApproval({ corpId, offerId: o.offerId, version: 1, actor: 'zhangmin' });
      await until('second SpNo bound', async () => {
        const sp = (await version(o)).versions[0]!.approvalSpNo;
        return sp !== null && sp !== spNo;
      });
      const second = (await version(o)).versions[0]!.approvalSpNo;
      expect((await approvals().submitter.submit(firstRequest, log)).outcome).toBe('already_submitted');
      expect((await version(o)).versions[0]!.approvalSpNo).toBe(second);
      expect(approvalsOf(o.offerId)).toHaveLength(2);
    });

    test('a dropped callback is healed by reconciliation, and the healing is recorded', async () => {
      const m = approvals();
      worker = await startRuntime(app, [m]);
      const o = await pendingOffer(28500);
      const spNo = await spNoOf(o);
      await admin(`approvals/${spNo}/approve`, { userid: 'liqiang', wait: true });
      await admin(`approvals/${spNo}/approve`, { userid: 'wangfang', drop_callback: true, wait: true });
      // The callback never came: the offer still waits.
      await new Promise((r) => setTimeout(r, 500));
      expect((await version(o)).state).toBe('pending_approval');

      const summary = await m.reconcile(corpId, log);
      expect(summary.healed).toBe(1);
      expect((await version(o)).state).toBe('approved');
      const healed = (await records(o.offerId)).filter((r) => r.kind === APPROVAL_KINDS.reconciled);
      expect(healed).toHaveLength(1);
      expect(healed[0]!.payload).toMatchObject({
        sp_no: spNo,
        approval_status: 'approved',
        applied: true,
        healed_by: 'reconciliation',
      });
      // Again: nothing more to heal.
      expect((await m.reconcile(corpId, log)).healed).toBe(0);
    });

    test('an approval WeCom no longer shows does not stop reconciliation of the others', async () => {
      const m = approvals();
      worker = await startRuntime(app, [m]);
      // First in the queue: an approval WeCom answers 301025 for (deleted there; here, gone from the sandbox).
      const gone = await pendingOffer(28100);
      const goneSp = await spNoOf(gone);
      sandbox.state.approvals.delete(goneSp);
      const o = await pendingOffer(28200);
      const spNo = await spNoOf(o);
      await admin(`approvals/${spNo}/approve`, { userid: 'liqiang', wait: true });
      await admin(`approvals/${spNo}/approve`, { userid: 'wangfang', drop_callback: true, wait: true });
      const summary = await m.reconcile(corpId, log);
      expect(summary).toMatchObject({ healed: 1, failed: 1 });
      expect((await version(o)).state).toBe('approved');
      expect((await version(gone)).state).toBe('pending_approval');
      // Again: still unreadable, still not in the way.
      expect(await m.reconcile(corpId, log)).toMatchObject({ healed: 0, failed: 1 });
      // Every pending approval gone from WeCom: WeCom answered about each, so the job itself does not fail.
      const { rows } = await app.db.pool.query<{ sp_no: string }>(
        `SELECT sp_no FROM approval_submissions WHERE corp_id = $1 AND state = 'submitted'`,
        [corpId],
      );
      for (const r of rows) sandbox.state.approvals.delete(r.sp_no);
      const all = await m.reconcile(corpId, log);
      expect(all.failed).toBe(all.checked);
      expect(all.checked).toBeGreaterThan(0);
    });
  });
});
