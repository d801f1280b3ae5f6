import { chinaCalendar, type WorkingCalendar } from './calendar';
import { REMINDER_TYPES, type ReminderType } from './names';
import { atShanghai, candidateSendTime, plusDays, shanghaiDate, shanghaiMinuteOfDay } from './time';

/**
 * When each reminder is due: pure functions of the facts (DECISIONS 13). Offer-answer reminders and
 * the offer deadline count calendar hours; approvals and onboarding count working days (China's
 * calendar with 调休); candidate-facing ones are deferred out of the quiet hours.
 */

const HOUR = 3600_000;

export interface PlannedReminder {
  type: ReminderType;
  audience: 'member' | 'candidate' | 'system';
  /** Member userid (lower-cased), the candidate's opaque id, or 'hireledger'. */
  recipient: string;
  dueAt: Date;
}

export interface OfferSentFacts {
  candidateId: string;
  sentAt: Date;
  /** The member who sent it (the recruiter), lower-cased. */
  recruiter: string;
  /** The hiring manager the offer names, or null: the recruiter is told instead. */
  hiringManager: string | null;
  /** The stated acceptance deadline, or null (none stated: no deadline reminder). */
  deadline: Date | null;
}

/**
 * An offer sent: 24 h → the recruiter and the candidate (the candidate's deferred out of quiet
 * hours), 48 h → the hiring manager, at the deadline → expire. A reminder due at or after the
 * deadline is moot (the offer will have expired) and is not planned.
 */
export function offerSentReminders(f: OfferSentFacts): PlannedReminder[] {
  const at24 = new Date(f.sentAt.getTime() + 24 * HOUR);
  const at48 = new Date(f.sentAt.getTime() + 48 * HOUR);
  const planned: PlannedReminder[] = [
    { type: REMINDER_TYPES.offerUnanswered24hRecruiter, audience: 'member', recipient: f.recruiter, dueAt: at24 },
    {
      type: REMINDER_TYPES.offerUnanswered24hCandidate,
      audience: 'candidate',
      recipient: f.candidateId,
      dueAt: candidateSendTime(at24),
    },
    {
      type: REMINDER_TYPES.offerUnanswered48h,
      audience: 'member',
      recipient: (f.hiringManager ?? f.recruiter).toLowerCase(),
      dueAt: at48,
    },
  ];
  const kept = f.deadline ? planned.filter((p) => p.dueAt.getTime() < (f.deadline as Date).getTime()) : planned;
  if (f.deadline)
    kept.push({ type: REMINDER_TYPES.offerDeadline, audience: 'system', recipient: 'hireledger', dueAt: f.deadline });
  return kept;
}

/** Office hours in Shanghai for reminders to members: the waiting of an approval counts from within them. */
const OFFICE_OPENS = 9 * 60;
const OFFICE_CLOSES = 18 * 60;

/**
 * "Approval idle 24 h at one approver" in working days (DECISIONS 13: one working day): the same
 * Shanghai wall-clock time on the next working day after the day the approval reached the
 * approver. The waiting counts from office hours (09:00–18:00): an approval that reached them on a
 * rest day, or after 18:00, starts waiting at 09:00 of the next working day; one that reached them
 * before 09:00, at 09:00 that day — so an approver is never reminded at night.
 */
export function approvalIdleDue(reachedApproverAt: Date, workingDays = 1, cal: WorkingCalendar = chinaCalendar): Date {
  const reached = shanghaiDate(reachedApproverAt);
  const at = shanghaiMinuteOfDay(reachedApproverAt);
  const inOffice = cal.isWorkingDay(reached) && at < OFFICE_CLOSES;
  const start = inOffice ? reached : cal.addWorkingDays(reached, 1);
  const minute = inOffice ? Math.max(at, OFFICE_OPENS) : OFFICE_OPENS;
  const day = cal.addWorkingDays(start, workingDays);
  return atShanghai(day, Math.floor(minute / 60), minute % 60);
}

/**
 * "Onboarding materials missing 3 working days before the start date": 09:00 Shanghai on the
 * third working day before the start date (`YYYY-MM-DD`), not counting the start date itself.
 */
export function onboardingMaterialsDue(startDate: string, workingDays = 3, cal: WorkingCalendar = chinaCalendar): Date {
  return atShanghai(cal.addWorkingDays(startDate, -workingDays), 9);
}

export interface ApprovalNodeFacts {
  /** When the approval reached this node (approval.node_reached `reached_at`). */
  reachedAt: Date;
  /** Who is asked to act there (lower-cased). */
  approvers: readonly string[];
  /** The approval's applicant: the recruiter. */
  applicant: string;
  /** The HRBPs of the offer's department. */
  hrbps: readonly string[];
}

/**
 * An approval waiting at a node: one working day → each approver there; two working days → the
 * recruiter and the HRBP (DECISIONS 13; "24 h / 48 h" of issue 10 counted in working days). Throws
 * CalendarYearMissingError when the count needs a year the calendar does not list.
 */
export function approvalIdleReminders(f: ApprovalNodeFacts, cal: WorkingCalendar = chinaCalendar): PlannedReminder[] {
  const at1 = approvalIdleDue(f.reachedAt, 1, cal);
  const at2 = approvalIdleDue(f.reachedAt, 2, cal);
  const escalate = [...new Set([f.applicant, ...f.hrbps].map((u) => u.toLowerCase()).filter((u) => u !== ''))];
  return [
    ...[...new Set(f.approvers.map((u) => u.toLowerCase()))].map((u) => ({
      type: REMINDER_TYPES.approvalIdleApprover,
      audience: 'member' as const,
      recipient: u,
      dueAt: at1,
    })),
    ...escalate.map((u) => ({
      type: REMINDER_TYPES.approvalIdleEscalation,
      audience: 'member' as const,
      recipient: u,
      dueAt: at2,
    })),
  ];
}

/**
 * An accepted offer's materials reminders: 09:00 on the 3rd working day before the start date, to
 * the recruiter and the candidate. Accepted later than that (but before the start date): due now,
 * the candidate's deferred out of the quiet hours. On or after the start date: none (too late to
 * remind; the first day is the recruiter's). Throws CalendarYearMissingError like the rule it uses.
 */
export function onboardingMaterialsReminders(
  f: { startDate: string; candidateId: string; recruiter: string; now: Date },
  cal: WorkingCalendar = chinaCalendar,
): PlannedReminder[] {
  if (shanghaiDate(f.now) >= f.startDate) return [];
  const due = onboardingMaterialsDue(f.startDate, 3, cal);
  const at = due.getTime() < f.now.getTime() ? f.now : due;
  return [
    { type: REMINDER_TYPES.onboardingMaterialsRecruiter, audience: 'member', recipient: f.recruiter.toLowerCase(), dueAt: at },
    {
      type: REMINDER_TYPES.onboardingMaterialsCandidate,
      audience: 'candidate',
      recipient: f.candidateId,
      dueAt: candidateSendTime(at),
    },
  ];
}

/** How late a one-week feedback may still go: a week after it was due, asking is pointless (and a replay must not ask). */
export const FEEDBACK_LATEST_MS = 7 * 24 * HOUR;

/**
 * The one-week feedback: 10:00 Shanghai one calendar week after the start date (a working
 * morning's hour, outside the quiet hours); onboarded later than that, now (deferred out of the
 * quiet hours); more than a week after it was due (an offer marked onboarded late, a new consumer
 * replaying old records), null: none.
 */
export function feedbackDue(startDate: string, now: Date): Date | null {
  const due = atShanghai(plusDays(startDate, 7), 10);
  if (now.getTime() - due.getTime() > FEEDBACK_LATEST_MS) return null;
  return candidateSendTime(due.getTime() < now.getTime() ? now : due);
}
