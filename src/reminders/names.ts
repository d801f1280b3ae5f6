import { CANDIDATE_STREAMS } from '../candidates';

/** Every name the reminders module writes (ARCHITECTURE.md, "Names"); docs/reminders.md explains them. */

export const REMINDERS_MODULE = 'reminders';

/** `source` of the records this module writes. */
export const REMINDERS_SOURCE = 'hireledger.reminders';

/** The actor of everything the reminders module decides by itself. */
export const REMINDERS_ACTOR = 'hireledger';

/** Opaque id of a reminder row. */
export const REMINDER_ID = /^rm_[0-9a-f]{32}$/;

export const REMINDER_STREAMS = {
  /** An offer's reminders are the candidate's: the candidate's own stream, beside the offer's records. */
  candidate: (candidateId: string) => CANDIDATE_STREAMS.candidate(candidateId),
} as const;

/** What a reminder is about (the `kind` column). */
export const REMINDER_TYPES = {
  /** Offer sent, no answer after 24 h: the recruiter is reminded. */
  offerUnanswered24hRecruiter: 'offer.unanswered_24h',
  /** Offer sent, no answer after 24 h: the candidate (by the open route, DECISIONS 12; quiet hours apply). */
  offerUnanswered24hCandidate: 'offer.unanswered_24h_candidate',
  /** Offer sent, no answer after 48 h: the hiring manager (the recruiter when the offer names none). */
  offerUnanswered48h: 'offer.unanswered_48h',
  /** The stated acceptance deadline: HireLedger expires the offer (offers.expireOffer). */
  offerDeadline: 'offer.deadline',
  /** The offer expired: the recruiter is told. */
  offerExpiredNotice: 'offer.expired_notice',
  /** An approval idle one working day at one node: each approver there is reminded (DECISIONS 13). */
  approvalIdleApprover: 'approval.idle_1wd',
  /** Idle two working days at the same node: the recruiter (the applicant) and the HRBP are told. */
  approvalIdleEscalation: 'approval.idle_2wd',
  /** Onboarding materials still missing 3 working days before the start date: the recruiter. */
  onboardingMaterialsRecruiter: 'onboarding.materials_missing',
  /** The same, to the candidate (by the open route, DECISIONS 12; quiet hours apply). */
  onboardingMaterialsCandidate: 'onboarding.materials_missing_candidate',
  /** One calendar week after the start date of an onboarded offer: the feedback questionnaire link to the new hire. */
  onboardingFeedback: 'onboarding.feedback_week1',
} as const;
export type ReminderType = (typeof REMINDER_TYPES)[keyof typeof REMINDER_TYPES];

export const REMINDER_KINDS = {
  /** A reminder was made: what, for whom, due when, and the record that caused it. */
  scheduled: 'reminder.scheduled',
  /** Moot before it was sent (the offer was answered, rescinded…): cancelled, with the record that made it moot. */
  cancelled: 'reminder.cancelled',
  /** Sent: the wecom.outbound intent and outcome are in the recipient's stream; this links them to the subject. */
  sent: 'reminder.sent',
  /** WeCom refused it (an errcode) or nothing on the route could take it. */
  failed: 'reminder.failed',
  /** The worker stopped between the intent and the outcome: maybe sent, never sent again by itself. */
  outcomeUnknown: 'reminder.outcome_unknown',
  /** A deadline reminder ran: the offer's expiry was asked for (its own record is offer.expired). */
  deadlineReached: 'reminder.deadline_reached',
  /**
   * A reminder that could not be made: its due time needs a year China's holiday calendar does not
   * list yet (CalendarYearMissingError). Nothing is guessed; the record says which year is missing.
   */
  notScheduled: 'reminder.not_scheduled',
} as const;

export const REMINDER_SOURCE_REFS = {
  scheduled: (id: string) => `reminder:${id}:scheduled`,
  cancelled: (id: string) => `reminder:${id}:cancelled`,
  /** One outcome per reminder: sent, failed, outcome unknown or deadline reached are each final. */
  outcome: (id: string) => `reminder:${id}:outcome`,
  /** One per (cause record, reminder type): a replay of the cause records nothing twice. */
  notScheduled: (causeSeq: number, type: string) => `reminder:not_scheduled:${causeSeq}:${type}`,
} as const;

/** The subject of a reminder that is not about an offer's answer: distinct, so an offer's end cancels only its own. */
export const REMINDER_SUBJECTS = {
  /** An approval's reminders: its SpNo (case-sensitive, DECISIONS 8). */
  approval: (spNo: string) => spNo,
  /** An accepted offer's onboarding-materials reminders. */
  materials: (offerId: string) => `${offerId}:materials`,
  /** An onboarded offer's one-week feedback. */
  feedback: (offerId: string) => `${offerId}:feedback`,
} as const;

export const REMINDER_CONSUMERS = {
  /** Follows offer.* records: makes and cancels the offer's reminders. */
  offers: `${REMINDERS_MODULE}.offers`,
  /** Follows approval.node_reached and the approval outcomes: makes and cancels the approval-idle reminders. */
  approvals: `${REMINDERS_MODULE}.approvals`,
  /** Follows offer.accepted / onboarded / reneged / rescinded and onboarding.* records: materials and feedback reminders. */
  onboarding: `${REMINDERS_MODULE}.onboarding`,
} as const;

export const REMINDER_JOBS = {
  /** The trigger of one reminder (a BullMQ delayed job, id from the reminder's id). */
  fire: `${REMINDERS_MODULE}.fire`,
  /** Every ~30 s: re-arms due and near-due pending reminders without a job; settles rows stuck in `sending`. */
  sweep: `${REMINDERS_MODULE}.sweep`,
} as const;

/** The BullMQ job id of a reminder's trigger (BullMQ refuses `:` in custom ids). */
export const triggerJobId = (reminderId: string) => `reminder-${reminderId}`;
