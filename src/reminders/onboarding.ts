import type { JsonValue } from '../evidence';
import type { Logger } from '../observability/logger';
import { OFFER_KINDS, OFFERS_SOURCE } from '../offers';
import { materialsOf, ONBOARDING_KINDS, ONBOARDING_SOURCE } from '../onboarding';
import type { LedgerConsumer } from '../platform/module';
import { CalendarYearMissingError } from './calendar';
import { REMINDER_STREAMS, REMINDER_SUBJECTS, REMINDER_TYPES } from './names';
import { cancelReminders, insertReminders, MISSING_PLACEHOLDER, notScheduledEntry, type NewReminder } from './reminders';
import { feedbackDue, onboardingMaterialsReminders } from './rules';

/**
 * Consumer `reminders.onboarding` (docs/reminders.md, "Onboarding"):
 * - `offer.accepted` → the materials reminders (3 working days before the start date; the recruiter,
 *   and the candidate by the open route), made only while the offer is still accepted and something
 *   is missing;
 * - `onboarding.material_received` with nothing missing any more, `offer.reneged`, `offer.rescinded`
 *   → those reminders are moot, cancelled with a record each;
 * - `offer.onboarded` → the one-week feedback link to the new hire (candidate-facing: by the route,
 *   quiet hours). Accepted with a start date passed but never marked onboarded gets none: a no-show
 *   is not asked how their first week went.
 */

export type FeedbackUrl = (args: { corpId: string; offerId: string; candidateId: string }) => string;

const MATERIALS_TYPES = [REMINDER_TYPES.onboardingMaterialsRecruiter, REMINDER_TYPES.onboardingMaterialsCandidate];

/** The offer records that make its materials reminders moot (onboarded: the first day came). */
const ENDS_MATERIALS: ReadonlySet<string> = new Set([OFFER_KINDS.reneged, OFFER_KINDS.rescinded, OFFER_KINDS.onboarded]);

function str(p: { [key: string]: JsonValue }, key: string): string | null {
  const v = p[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

interface OfferNow {
  state: string;
  created_by: string;
  start_date: string;
}

export function onboardingConsumer(
  deps: {
    now?: () => number;
    /** The H5 feedback questionnaire's link for a new hire; without it no feedback reminder is made. */
    feedbackUrl?: FeedbackUrl;
  },
  arm: (rows: { id: string; dueAt: Date }[], log: Logger) => Promise<void>,
): LedgerConsumer {
  return {
    accepts: (h) =>
      (h.source === OFFERS_SOURCE &&
        (h.kind === OFFER_KINDS.accepted || h.kind === OFFER_KINDS.onboarded || ENDS_MATERIALS.has(h.kind))) ||
      (h.source === ONBOARDING_SOURCE && h.kind === ONBOARDING_KINDS.materialReceived),
    async handle(record, ctx) {
      const p = record.payload as { [key: string]: JsonValue };
      const offerId = str(p, 'offer_id');
      const candidateId = str(p, 'candidate_id');
      if (!offerId || !candidateId) {
        ctx.log.error({ seq: record.seq }, 'record without offer_id or candidate_id: no onboarding reminders');
        return;
      }
      const stream = REMINDER_STREAMS.candidate(candidateId);
      const at = new Date((deps.now ?? Date.now)());
      const cause = { seq: record.seq, kind: record.kind };
      const materials = REMINDER_SUBJECTS.materials(offerId);

      if (record.kind === ONBOARDING_KINDS.materialReceived) {
        if (p['complete'] !== true) return;
        await ctx.transact(async (tx) => ({
          result: null,
          entries: await cancelReminders(tx, ctx.corpId, materials, cause, at, MATERIALS_TYPES),
        }));
        return;
      }

      const { result } = await ctx.transact(async (tx) => {
        const cancelled = ENDS_MATERIALS.has(record.kind)
          ? await cancelReminders(tx, ctx.corpId, materials, cause, at, MATERIALS_TYPES)
          : [];
        if (record.kind !== OFFER_KINDS.accepted && record.kind !== OFFER_KINDS.onboarded) {
          return { result: [], entries: cancelled };
        }
        // Any order, any replay: the offer must still be in the state the record says. Read FOR SHARE,
        // so a renege or rescind recorded meanwhile waits, and its record then cancels what is made here.
        const { rows } = await tx.query<OfferNow>(
          `SELECT o.state, o.created_by, v.content->>'start_date' AS start_date
             FROM offers o JOIN offer_versions v ON v.offer_id = o.id AND v.version = o.current_version
            WHERE o.corp_id = $1 AND o.id = $2 FOR SHARE OF o`,
          [ctx.corpId, offerId],
        );
        const o = rows[0];
        const wanted = record.kind === OFFER_KINDS.accepted ? 'accepted' : 'onboarded';
        if (o?.state !== wanted) {
          ctx.log.info({ offerId, seq: record.seq, state: o?.state }, 'offer no longer in the recorded state: no reminders');
          return { result: [], entries: cancelled };
        }
        const recruiter = o.created_by;

        if (record.kind === OFFER_KINDS.onboarded) {
          if (!deps.feedbackUrl) {
            ctx.log.warn({ offerId }, 'no feedback link configured: no one-week feedback reminder');
            return { result: [], entries: cancelled };
          }
          const dueAt = feedbackDue(o.start_date, at);
          if (!dueAt) {
            ctx.log.info(
              { offerId, startDate: o.start_date },
              'onboarded more than two weeks after the start date: no feedback reminder',
            );
            return { result: [], entries: cancelled };
          }
          const link = deps.feedbackUrl({ corpId: ctx.corpId, offerId, candidateId });
          const made = await insertReminders(
            tx,
            ctx.corpId,
            [
              {
                type: REMINDER_TYPES.onboardingFeedback,
                audience: 'candidate',
                recipient: candidateId,
                dueAt,
                subject: REMINDER_SUBJECTS.feedback(offerId),
                stream,
                causeSeq: record.seq,
                body: {
                  offer_id: offerId,
                  candidate_id: candidateId,
                  recruiter,
                  link,
                  content: `您好，欢迎加入！入职已满一周，想听听您的感受，请花 2 分钟填写入职反馈问卷：${link}`,
                  task_for: recruiter,
                  task_content:
                    `【请转发入职一周反馈问卷】候选人 ${candidateId} 已入职满一周（入职日期 ${o.start_date}），应用未能直接送达对方（原因见存证记录）。` +
                    `请在与对方的聊天中转发问卷链接：${link}`,
                },
              },
            ],
            at,
          );
          return { result: made.rows, entries: [...cancelled, ...made.entries] };
        }

        // Accepted: the materials reminders, unless nothing is missing already.
        const missing = (await materialsOf(tx, ctx.corpId, offerId))?.missing ?? [];
        if (missing.length === 0) return { result: [], entries: cancelled };
        let planned;
        try {
          planned = onboardingMaterialsReminders({ startDate: o.start_date, candidateId, recruiter, now: at });
        } catch (err) {
          if (!(err instanceof CalendarYearMissingError)) throw err;
          ctx.log.error({ offerId, seq: record.seq, year: err.year }, err.message);
          return {
            result: [],
            entries: [
              ...cancelled,
              notScheduledEntry(stream, cause, REMINDER_TYPES.onboardingMaterialsRecruiter, materials, err, at),
            ],
            allowDuplicates: true,
          };
        }
        const ref = `offer ${offerId.slice(0, 11)}`;
        const reminders: NewReminder[] = planned.map((r): NewReminder => ({
          ...r,
          subject: materials,
          stream,
          causeSeq: record.seq,
          body:
            r.audience === 'member'
              ? {
                  offer_id: offerId,
                  candidate_id: candidateId,
                  recruiter,
                  task_for: null,
                  content:
                    `【入职材料未齐】候选人 ${candidateId} 的 ${ref} 入职日期为 ${o.start_date}，以下材料尚未标记收到：` +
                    `${MISSING_PLACEHOLDER}。请跟进，收到后在系统中逐项标记。`,
                }
              : {
                  offer_id: offerId,
                  candidate_id: candidateId,
                  recruiter,
                  content: `您好，您的入职日期为 ${o.start_date}，以下入职材料尚未提交：${MISSING_PLACEHOLDER}。请尽快准备并交给招聘专员。`,
                  task_for: recruiter,
                  task_content:
                    `【请提醒候选人提交入职材料】候选人 ${candidateId}（${ref}，入职日期 ${o.start_date}）尚缺：${MISSING_PLACEHOLDER}。` +
                    '应用未能直接送达候选人（原因见存证记录），请在与候选人的聊天中提醒对方。',
                },
        }));
        const made = await insertReminders(tx, ctx.corpId, reminders, at);
        return { result: made.rows, entries: [...cancelled, ...made.entries] };
      });
      await arm(result, ctx.log);
    },
  };
}
