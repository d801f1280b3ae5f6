import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { OFFER_TEMPLATE_ID } from '../../sandbox/seed';
import { createApprovalsModule, parseOfferControls, type ApprovalsModule } from '../../src/approvals';
import { createCandidateByRecruiter, savePosition } from '../../src/candidates';
import { createLedger, createLedgerReader, type Ledger } from '../../src/evidence';
import { QUEUES, corpQueue } from '../../src/jobs/names';
import { createLogger } from '../../src/observability/logger';
import { createOffersModule, hrbpsFromList, type OfferTerms, type OffersModule } from '../../src/offers';
import { createOnboardingModule, type OnboardingModule } from '../../src/onboarding';
import { bullmqTriggers, createRemindersModule, triggerJobId, type FeedbackUrl, type RemindersModule } from '../../src/reminders';
import { createWecomClient } from '../../src/wecom/api';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';
import { RECRUITER, TERMS } from './support';

export { RECRUITER, until };

/**
 * The world of the approval-idle, onboarding-materials and feedback reminders: the real app's
 * database, the sandbox (its approvals app delivering sys_approval_change callbacks to the app over
 * HTTP, its message/send), the offers, approvals, onboarding and reminders modules run by the real
 * worker runtime. Days pass only on the clocks injected here: the reminders module's
 * (`remindersClock.offsetMs`, added to the real time) and the offers module's (`offersClock.now`).
 */
export interface IdleWorld {
  app: RunningApp;
  sandbox: Sandbox;
  ledger: Ledger;
  offers: OffersModule;
  approvals: ApprovalsModule;
  onboarding: OnboardingModule;
  reminders: RemindersModule;
  worker: RunningRuntime;
  corpId: string;
  remindersClock: { offsetMs: number };
  offersClock: { now: number | null };
  /**
   * Whether each reminder's trigger (its BullMQ job) exists: armed after its row committed, with a
   * delay from the reminders clock then. A test that moves the clock waits for it first, or the
   * arming sees the moved clock and fires at once.
   */
  armed(reminderIds: readonly string[]): Promise<boolean>;
  stop(): Promise<void>;
}

/** The sandbox template's controls, as an operator configures them (.env.example). */
export const CONTROLS = parseOfferControls(
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

export const FEEDBACK_BASE = 'https://h5.hireledger.test/h5/feedback';
export const feedbackUrl: FeedbackUrl = ({ offerId }) => `${FEEDBACK_BASE}?offer=${offerId}`;

export async function startIdleWorld(opts: { approvals?: boolean } = {}): Promise<IdleWorld> {
  const app = await startApp();
  const sandbox = await startSandboxFor(app).catch(async (err: unknown) => {
    await app.stop();
    throw err;
  });
  const ledger = createLedger({ pool: app.db.appPool });
  const wecomRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const triggerRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  triggerRedis.on('error', () => undefined);
  const corpId = app.config.WECOM_CORP_ID;
  const jobsQueue = new Queue(corpQueue(QUEUES.jobs, corpId), { connection: triggerRedis, prefix: app.config.QUEUE_PREFIX });
  jobsQueue.on('error', () => undefined);
  const offersClock: { now: number | null } = { now: null };
  const remindersClock = { offsetMs: 0 };
  const offers = createOffersModule({
    db: app.db.appPool,
    transact: ledger.transact.bind(ledger),
    isHrbp: hrbpsFromList(['hrbp1']),
    now: () => offersClock.now ?? Date.now(),
  });
  const wecom = createWecomClient({
    apiBase: sandbox.url,
    corpId: app.keys.corpId,
    secret: app.config.WECOM_SECRET,
    agentId: app.config.WECOM_AGENT_ID,
    redis: wecomRedis,
    logger: createLogger('silent', 't'),
    ledger,
    reader: createLedgerReader(app.db.appPool),
    options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:`, busyRetries: 0 },
  });
  const approvals = createApprovalsModule({
    db: app.db.appPool,
    transact: (work) => ledger.transact(work),
    offers: offers.offers,
    oa: wecom.oa,
    templateId: OFFER_TEMPLATE_ID,
    controls: CONTROLS,
    // Reconciliation runs when a test asks (approvals.reconcile), not on its own schedule.
    reconcileEveryMs: 3600_000,
  });
  const onboarding = createOnboardingModule({ db: app.db.appPool, transact: ledger.transact.bind(ledger) });
  const reminders = createRemindersModule({
    db: app.db.appPool,
    transact: ledger.transact.bind(ledger),
    messages: wecom.message,
    triggers: bullmqTriggers(jobsQueue),
    expireOffer: (ref) => offers.offers.expireOffer(ref),
    feedbackUrl,
    sweepIntervalMs: 1000,
    sendingStaleMs: 1500,
    logger: createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent', 'reminders'),
    now: () => Date.now() + remindersClock.offsetMs,
  });
  const worker = await startRuntime(app, opts.approvals === false ? [offers, reminders] : [offers, approvals, reminders], {
    scheduleCheckMs: 300,
    // A node callback that overtakes its submission's record is retried until the record is there.
    jobOptions: { attempts: 20, backoff: { type: 'fixed', delay: 500 } },
  });
  await savePosition(app.db.appPool, corpId, { id: 'be-1', title: '后端工程师', salaryMin: 25000, salaryMax: 35000 });
  return {
    app,
    sandbox,
    ledger,
    offers,
    approvals,
    onboarding,
    reminders,
    worker,
    corpId,
    remindersClock,
    offersClock,
    async armed(reminderIds) {
      const jobs = await Promise.all(reminderIds.map((id) => jobsQueue.getJob(triggerJobId(id))));
      return jobs.every((j) => j !== undefined);
    },
    async stop() {
      await worker.stop();
      await jobsQueue.close();
      triggerRedis.disconnect();
      wecomRedis.disconnect();
      await ledger.close();
      await sandbox.close();
      await app.stop();
    },
  };
}

/** A candidate with an offer drafted by the recruiter (department 研发部, so the default role holders route it). */
export async function draftedOffer(w: IdleWorld, terms: Partial<OfferTerms> = {}) {
  const { candidate } = await createCandidateByRecruiter(
    { transact: w.ledger.transact.bind(w.ledger), hmacKey: undefined },
    { corpId: w.corpId, recruiter: RECRUITER },
  );
  const o = await w.offers.offers.draftOffer({
    corpId: w.corpId,
    candidateId: candidate.candidateId,
    positionId: 'be-1',
    actor: RECRUITER,
    terms: { ...TERMS, department: '研发部', ...terms },
  });
  return {
    corpId: w.corpId,
    offerId: o.offerId,
    version: 1,
    contentSha256: o.versions[0]!.contentSha256,
    candidateId: candidate.candidateId,
  };
}

/**
 * An offer accepted by the candidate (the approval recorded directly, as test/reminders/support.ts
 * does: these tests are about what follows the acceptance).
 */
export async function acceptedOffer(w: IdleWorld, startDate: string) {
  const v = await draftedOffer(w, { startDate });
  await w.offers.offers.submitForApproval({ ...v, actor: RECRUITER });
  await w.offers.offers.recordApprovalOutcome(v, `sp-${v.offerId}`, 'approved');
  await w.offers.offers.sendFormalOffer({ ...v, actor: RECRUITER });
  await w.offers.offers.recordAcceptance(v);
  return v;
}

/** The texts in a member's sandbox inbox that start with `prefix`. */
export function inbox(w: IdleWorld, userid: string, prefix: string): { content: string; at: number }[] {
  return w.sandbox.state
    .inbox(userid)
    .map((e) => {
      const c = (e.body as { content?: unknown } | null)?.content;
      return { content: typeof c === 'string' ? c : '', at: e.receivedAtMs };
    })
    .filter((e) => e.content.startsWith(prefix));
}

export async function records(
  w: IdleWorld,
  stream: string,
  kindPrefix: string,
): Promise<{ seq: number; kind: string; source_ref: string; payload: Record<string, unknown> }[]> {
  const { rows } = await w.app.db.pool.query<{ seq: number; kind: string; source_ref: string; payload: Record<string, unknown> }>(
    `SELECT seq::int, kind, source_ref, payload FROM evidence_records WHERE stream = $1 AND kind LIKE $2 ORDER BY seq`,
    [stream, `${kindPrefix}%`],
  );
  return rows;
}

export async function sandboxAdmin(w: IdleWorld, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${w.sandbox.url}/sandbox/admin/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json: unknown = await res.json();
  if (!res.ok) throw new Error(`sandbox admin ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}
