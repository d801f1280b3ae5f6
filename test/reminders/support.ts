import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { createCandidateByRecruiter, savePosition } from '../../src/candidates';
import { createRouteFacts } from '../../src/conversations';
import { createLedger, createLedgerReader, type Ledger } from '../../src/evidence';
import { QUEUES, corpQueue } from '../../src/jobs/names';
import { createLogger } from '../../src/observability/logger';
import { createOffersModule, hrbpsFromList, type OfferTerms, type OffersModule } from '../../src/offers';
import { bullmqTriggers, createRemindersModule, type RemindersModule } from '../../src/reminders';
import { createWecomClient, type MessageApi, type WecomClient } from '../../src/wecom/api';
import { createExternalContactIds } from '../../src/wecom/external-contacts';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';

export { until };

export const RECRUITER = 'zhangmin';

export const TERMS: OfferTerms = {
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

/**
 * The real app's database, the sandbox's message/send over HTTP through the real WeCom client
 * (recording intents and outcomes), the offers module with a clock of its own (so an offer can have
 * been sent a day ago: the only place days must pass), and the reminders module run by the real
 * worker runtime on a Redis (the shared one, or a private one that can restart empty).
 */
export interface World {
  app: RunningApp;
  sandbox: Sandbox;
  ledger: Ledger;
  offers: OffersModule;
  reminders: RemindersModule;
  worker: RunningRuntime;
  corpId: string;
  /** The offers module's clock (ms); Date.now() unless a test moves it. */
  offersClock: { now: number | null };
  /** The reminders module's clock (ms); Date.now() unless a test moves it. */
  remindersClock: { now: number | null };
  /** The WeCom client the reminders send through (with external contacts: KF and 企业群发 can name the candidate). */
  wecom: WecomClient;
  stop(): Promise<void>;
}

export async function startWorld(
  opts: {
    redisUrl?: string;
    sweepIntervalMs?: number;
    sendingStaleMs?: number;
    wrapMessages?: (m: Pick<MessageApi, 'send'>) => Pick<MessageApi, 'send'>;
    /** Candidate reminders by KF / 企业群发 (the conversations module's route facts, the client's kf and msgTemplate). */
    candidateChannel?: boolean;
  } = {},
): Promise<World> {
  const app = await startApp();
  const sandbox = await startSandboxFor(app);
  const ledger = createLedger({ pool: app.db.appPool });
  const redisUrl = opts.redisUrl ?? REDIS_URL;
  const wecomRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const triggerRedis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  triggerRedis.on('error', () => undefined);
  const corpId = app.config.WECOM_CORP_ID;
  const jobsQueue = new Queue(corpQueue(QUEUES.jobs, corpId), { connection: triggerRedis, prefix: app.config.QUEUE_PREFIX });
  jobsQueue.on('error', () => undefined);
  const offersClock: { now: number | null } = { now: null };
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
    externalContacts: createExternalContactIds(app.db.appPool),
    options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:` },
  });
  const messages = wecom.message;
  const remindersClock: { now: number | null } = { now: null };
  const reminders = createRemindersModule({
    db: app.db.appPool,
    transact: ledger.transact.bind(ledger),
    messages: opts.wrapMessages ? opts.wrapMessages(messages) : messages,
    triggers: bullmqTriggers(jobsQueue),
    expireOffer: (ref) => offers.offers.expireOffer(ref),
    sweepIntervalMs: opts.sweepIntervalMs ?? 1000,
    sendingStaleMs: opts.sendingStaleMs ?? 1500,
    logger: createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent', 'reminders'),
    now: () => remindersClock.now ?? Date.now(),
    ...(opts.candidateChannel
      ? {
          candidateChannel: {
            facts: createRouteFacts({ db: app.db.appPool, reader: createLedgerReader(app.db.appPool) }),
            kf: wecom.kf,
            msgTemplate: wecom.msgTemplate,
          },
        }
      : {}),
  });
  const worker = await startRuntime(app, [offers, reminders], {
    redisUrl,
    scheduleCheckMs: 300,
    jobOptions: { attempts: 3, backoff: { type: 'fixed', delay: 200 } },
  });
  await savePosition(app.db.appPool, corpId, { id: 'be-1', title: '后端工程师' });
  return {
    app,
    sandbox,
    ledger,
    offers,
    reminders,
    worker,
    corpId,
    offersClock,
    remindersClock,
    wecom,
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

/**
 * A candidate (a new one, or `candidateId`) with a formal offer sent at `sentAt` (the offers
 * module's clock), optionally with a deadline.
 */
export async function sentOffer(w: World, sentAt: number, deadline: Date | null = null, candidateId?: string) {
  const { candidate } = candidateId
    ? { candidate: { candidateId } }
    : await createCandidateByRecruiter(
        { transact: w.ledger.transact.bind(w.ledger), hmacKey: undefined },
        { corpId: w.corpId, recruiter: RECRUITER },
      );
  w.offersClock.now = sentAt - 60_000;
  const o = await w.offers.offers.draftOffer({
    corpId: w.corpId,
    candidateId: candidate.candidateId,
    positionId: 'be-1',
    actor: RECRUITER,
    terms: { ...TERMS, acceptanceDeadline: deadline },
  });
  const v = { corpId: w.corpId, offerId: o.offerId, version: 1, contentSha256: o.versions[0]!.contentSha256 };
  await w.offers.offers.submitForApproval({ ...v, actor: RECRUITER });
  await w.offers.offers.recordApprovalOutcome(v, `sp-${o.offerId}`, 'approved');
  w.offersClock.now = sentAt;
  await w.offers.offers.sendFormalOffer({ ...v, actor: RECRUITER });
  w.offersClock.now = null;
  return { ...v, candidateId: candidate.candidateId };
}

/** The texts in a member's sandbox inbox that start with `prefix`. */
export function inbox(w: World, userid: string, prefix: string): { content: string; at: number }[] {
  return w.sandbox.state
    .inbox(userid)
    .map((e) => ({ content: contentOf(e.body), at: e.receivedAtMs }))
    .filter((e) => e.content.startsWith(prefix));
}

/** The reminder records of a stream, by kind. */
export async function reminderRecords(w: World, stream: string): Promise<{ kind: string; payload: Record<string, unknown> }[]> {
  const { rows } = await w.app.db.pool.query<{ kind: string; payload: Record<string, unknown> }>(
    `SELECT kind, payload FROM evidence_records WHERE stream = $1 AND kind LIKE 'reminder.%' ORDER BY seq`,
    [stream],
  );
  return rows;
}

function contentOf(body: unknown): string {
  const c = (body as { content?: unknown } | null)?.content;
  return typeof c === 'string' ? c : '';
}
