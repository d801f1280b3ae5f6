/**
 * The reminders module (issue 10 item 6, docs/reminders.md): reminders are rows in PostgreSQL; a
 * BullMQ delayed job is only each one's trigger and a sweeper re-arms what Redis lost; each is sent
 * at most once through the WeCom client's recorded send path, and cancelled with a record when
 * what it waits for happens. Other domains reach it only through this file.
 */

import type { Pool } from 'pg';
import type { JsonValue, Ledger } from '../evidence';
import { OFFER_KINDS, OFFERS_SOURCE } from '../offers';
import { createLogger, type Logger } from '../observability/logger';
import type { HireLedgerModule, JobDefinition, LedgerConsumer } from '../platform/module';
import type { MessageApi } from '../wecom/api';
import { materialsOf } from '../onboarding';
import { approvalsConsumer } from './approvals';
import type { CandidateChannel } from './candidate-channel';
import { REMINDER_CONSUMERS, REMINDER_JOBS, REMINDER_STREAMS, REMINDER_TYPES, REMINDERS_MODULE } from './names';
import { cancelReminders, createReminders, insertReminders, type NewReminder, type Reminders } from './reminders';
import { onboardingConsumer, type FeedbackUrl } from './onboarding';
import { recruiterTaskOnly, type CandidateRoutes } from './routes';
import { offerSentReminders } from './rules';
import { shanghaiText } from './time';
import type { ReminderTriggers } from './triggers';

export interface RemindersModuleDeps {
  db: Pick<Pool, 'query'>;
  /** The ledger's decision path (`ledger.transact`). */
  transact: Ledger['transact'];
  /** The WeCom client's message API: its send is the recorded send path (intent, outcome). */
  messages: Pick<MessageApi, 'send'>;
  /** Where triggers wait: `bullmqTriggers(<the corp's jobs queue>)`. */
  triggers: ReminderTriggers;
  /** offers.expireOffer, called when an offer's stated deadline comes. */
  expireOffer: (ref: { corpId: string; offerId: string }) => Promise<unknown>;
  /** The hiring manager an offer names (lower-cased userid), or null: the recruiter is told instead. */
  hiringManagerOf?: (corpId: string, offerId: string) => Promise<string | null>;
  /** The open route to a candidate (DECISIONS 12); default: a task for the recruiter. */
  routes?: CandidateRoutes;
  /**
   * Delivery of candidate reminders by KF / 企业群发 (the conversations module's `createRouteFacts`,
   * the WeCom client's kf and msgTemplate). Without it, each is a task for the recruiter.
   */
  candidateChannel?: CandidateChannel;
  /**
   * The link to the one-week feedback questionnaire for a new hire (the lead wires it to the H5
   * base URL). Without it, no feedback reminder is made (logged).
   */
  feedbackUrl?: FeedbackUrl;
  /** The sweeper's period (default 30 s); it arms what is due within two periods. */
  sweepIntervalMs?: number;
  /** A row left in `sending` longer than this becomes `outcome_unknown` (default 5 minutes). */
  sendingStaleMs?: number;
  logger?: Logger;
  now?: () => number;
}

export interface RemindersModule extends HireLedgerModule {
  reminders: Reminders;
}

/** The offer records that make an offer's pending reminders moot. */
const ENDS_OFFER: ReadonlySet<string> = new Set([
  OFFER_KINDS.accepted,
  OFFER_KINDS.declined,
  OFFER_KINDS.rescinded,
  OFFER_KINDS.reneged,
  OFFER_KINDS.cancelled,
  OFFER_KINDS.onboarded,
  OFFER_KINDS.expired,
]);

function str(p: { [key: string]: JsonValue }, key: string): string | null {
  const v = p[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

function offersConsumer(
  deps: RemindersModuleDeps,
  arm: (rows: { id: string; dueAt: Date }[], log: Logger) => Promise<void>,
): LedgerConsumer {
  return {
    accepts: (h) => h.source === OFFERS_SOURCE && (h.kind === OFFER_KINDS.sent || ENDS_OFFER.has(h.kind)),
    async handle(record, ctx) {
      const p = record.payload as { [key: string]: JsonValue };
      const offerId = str(p, 'offer_id');
      const candidateId = str(p, 'candidate_id');
      if (!offerId || !candidateId) {
        ctx.log.error({ seq: record.seq }, 'offer record without offer_id or candidate_id: no reminders');
        return;
      }
      const stream = REMINDER_STREAMS.candidate(candidateId);
      const at = new Date((deps.now ?? Date.now)());
      const cause = { seq: record.seq, kind: record.kind };
      const ref = `offer ${offerId.slice(0, 11)}`;

      if (record.kind === OFFER_KINDS.sent) {
        const recruiter = (str(p, 'actor') ?? '').toLowerCase();
        const deadlineText = str(p, 'acceptance_deadline');
        const deadline = deadlineText ? new Date(deadlineText) : null;
        const hiringManager = (await deps.hiringManagerOf?.(ctx.corpId, offerId)) ?? null;
        const planned = offerSentReminders({ candidateId, sentAt: record.occurredAt, recruiter, hiringManager, deadline });
        const until = deadline ? `接受截止时间为 ${shanghaiText(deadline)}（北京时间）。` : '该 offer 未设接受截止时间。';
        const bodies: Record<string, { [key: string]: JsonValue }> = {
          [REMINDER_TYPES.offerUnanswered24hRecruiter]: {
            content: `【offer 待答复】候选人 ${candidateId} 的 ${ref} 已发出 24 小时，尚未答复。${until}请跟进。`,
          },
          [REMINDER_TYPES.offerUnanswered24hCandidate]: {
            content: `您好，您的录用通知（offer）已发出 24 小时，请查看并答复。${until}`,
            task_for: recruiter,
            task_content:
              `【请提醒候选人】候选人 ${candidateId} 的 ${ref} 已发出 24 小时尚未答复，应用未能直接送达候选人（原因见存证记录）。` +
              `请在与候选人的聊天中提醒对方查看并答复 offer。${until}`,
          },
          [REMINDER_TYPES.offerUnanswered48h]: {
            content:
              `【offer 48 小时未答复】候选人 ${candidateId} 的 ${ref}（招聘专员 ${recruiter}）已发出 48 小时，仍未答复。` +
              `${until}请知悉并协助跟进。`,
          },
          [REMINDER_TYPES.offerDeadline]: {},
        };
        const reminders: NewReminder[] = planned.map((r) => ({
          ...r,
          subject: offerId,
          stream,
          causeSeq: record.seq,
          body: { ...bodies[r.type], recruiter, candidate_id: candidateId },
        }));
        const { result } = await ctx.transact(async (tx) => {
          // Records reach consumers in any order, and a new consumer replays the ledger: an offer that
          // is no longer sent (answered, rescinded, expired) gets no reminders. The offer's row is
          // read FOR SHARE, so its answer waits for this commit, and its own record (which cancels
          // what is pending) is handled after these rows exist.
          const { rows: offer } = await tx.query<{ state: string }>(
            'SELECT state FROM offers WHERE corp_id = $1 AND id = $2 FOR SHARE',
            [ctx.corpId, offerId],
          );
          if (offer[0]?.state !== 'sent') {
            ctx.log.info({ offerId, seq: record.seq, state: offer[0]?.state }, 'offer no longer sent: no reminders');
            return { result: [], entries: [] };
          }
          const made = await insertReminders(tx, ctx.corpId, reminders, at);
          return { result: made.rows, entries: made.entries };
        });
        await arm(result, ctx.log);
        return;
      }

      // What the reminders waited for happened: the pending ones are moot.
      const { result } = await ctx.transact(async (tx) => {
        const entries = await cancelReminders(tx, ctx.corpId, offerId, cause, at);
        if (record.kind !== OFFER_KINDS.expired) return { result: [], entries };
        // Expired: the recruiter is told, now (the recruiter named by the offer's other reminders).
        const { rows } = await tx.query<{ recruiter: string | null }>(
          `SELECT body->>'recruiter' AS recruiter FROM reminders WHERE corp_id = $1 AND subject = $2 AND body ? 'recruiter' LIMIT 1`,
          [ctx.corpId, offerId],
        );
        const recruiter = rows[0]?.recruiter;
        if (!recruiter) return { result: [], entries };
        const deadline = str(p, 'acceptance_deadline');
        const made = await insertReminders(
          tx,
          ctx.corpId,
          [
            {
              type: REMINDER_TYPES.offerExpiredNotice,
              audience: 'member',
              recipient: recruiter,
              dueAt: at,
              subject: offerId,
              stream,
              causeSeq: record.seq,
              body: {
                content:
                  `【offer 已过期】候选人 ${candidateId} 的 ${ref} 已过接受截止时间` +
                  `${deadline ? `（${shanghaiText(new Date(deadline))}，北京时间）` : ''}，未获答复，系统已将其标记为已过期。`,
                recruiter,
                candidate_id: candidateId,
              },
            },
          ],
          at,
        );
        return { result: made.rows, entries: [...entries, ...made.entries] };
      });
      await arm(result, ctx.log);
    },
  };
}

export function createRemindersModule(deps: RemindersModuleDeps): RemindersModule {
  const log = deps.logger ?? createLogger('info', REMINDERS_MODULE);
  const every = deps.sweepIntervalMs ?? 30_000;
  const reminders = createReminders(
    {
      db: deps.db,
      transact: (work) => deps.transact(work),
      messages: deps.messages,
      triggers: deps.triggers,
      expireOffer: deps.expireOffer,
      routes: deps.routes ?? recruiterTaskOnly,
      ...(deps.candidateChannel ? { candidateChannel: deps.candidateChannel } : {}),
      materials: async (corpId, offerId) => {
        const v = await materialsOf(deps.db, corpId, offerId);
        return v ? { offerState: v.offerState, missing: v.missing } : null;
      },
      ...(deps.sendingStaleMs !== undefined ? { sendingStaleMs: deps.sendingStaleMs } : {}),
      ...(deps.now ? { now: deps.now } : {}),
    },
    log,
  );
  const now = () => new Date((deps.now ?? Date.now)());

  // Arming right after the commit is the fast path; the sweeper is the guarantee (Redis down now, or later flushed).
  async function arm(rows: { id: string; dueAt: Date }[], l: Logger): Promise<void> {
    for (const r of rows) {
      try {
        await deps.triggers.ensure(r.id, r.dueAt, now());
      } catch (err) {
        l.warn({ reminderId: r.id, err: (err as Error).message }, 'reminder trigger not armed now: the sweeper will');
      }
    }
  }

  const fire: JobDefinition = {
    async process(data, ctx) {
      const id = data['reminderId'];
      if (typeof id !== 'string') throw new Error('reminders.fire without a reminderId');
      const res = await reminders.fire(ctx.corpId, id);
      return { reminderId: res.reminderId, did: res.did };
    },
  };
  const sweep: JobDefinition = {
    schedule: { every },
    async process(_data, ctx) {
      const res = await reminders.sweep(ctx.corpId, 2 * every);
      return { armed: res.armed, unknown: res.unknown };
    },
  };

  return {
    name: REMINDERS_MODULE,
    consumers: {
      [REMINDER_CONSUMERS.offers]: offersConsumer(deps, arm),
      [REMINDER_CONSUMERS.approvals]: approvalsConsumer(deps, arm),
      [REMINDER_CONSUMERS.onboarding]: onboardingConsumer(deps, arm),
    },
    jobs: { [REMINDER_JOBS.fire]: fire, [REMINDER_JOBS.sweep]: sweep },
    reminders,
  };
}

export { CHANNEL_KEYS, type CandidateChannel, type CandidateChannelFacts } from './candidate-channel';
export { CalendarYearMissingError, chinaCalendar, COVERED_YEARS, type WorkingCalendar } from './calendar';
export {
  REMINDER_CONSUMERS,
  REMINDER_ID,
  REMINDER_JOBS,
  REMINDER_KINDS,
  REMINDER_SOURCE_REFS,
  REMINDER_STREAMS,
  REMINDER_SUBJECTS,
  REMINDER_TYPES,
  REMINDERS_MODULE,
  REMINDERS_SOURCE,
  triggerJobId,
} from './names';
export { type FeedbackUrl } from './onboarding';
export { type FireResult, type NewReminder, type ReminderRow, type ReminderState, type Reminders } from './reminders';
export {
  chooseRoute,
  recruiterTaskOnly,
  routesFromFacts,
  type CandidateRoute,
  type CandidateRoutes,
  type RouteFacts,
} from './routes';
export {
  approvalIdleDue,
  approvalIdleReminders,
  feedbackDue,
  offerSentReminders,
  onboardingMaterialsDue,
  onboardingMaterialsReminders,
  type ApprovalNodeFacts,
  type OfferSentFacts,
  type PlannedReminder,
} from './rules';
export { candidateSendTime, inQuietHours, shanghaiText } from './time';
export { bullmqTriggers, type ReminderTriggers } from './triggers';
