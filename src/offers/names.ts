import { CANDIDATE_STREAMS } from '../candidates';

/**
 * Every name the offers module writes (ARCHITECTURE.md, "Names").
 *
 * An offer is named by an opaque random id, `of_` and 32 hex digits; its records go to the
 * candidate's own stream (DECISIONS 9), so one timeline holds the interview invitation, the intent
 * notice, every version of every offer, its approval, sending, answer and end. The hashed header
 * carries only opaque ids and member userids (lower-cased, DECISIONS 4 and 8); the terms are in the
 * payload.
 */

export const OFFERS_MODULE = 'offers';

/** `source` of the records this module writes. */
export const OFFERS_SOURCE = 'hireledger.offers';

/** Opaque id of an offer. */
export const OFFER_ID = /^of_[0-9a-f]{32}$/;

/** Opaque id of an interview invitation or an intent notice (a step recorded without an offer). */
export const NOTICE_ID = /^on_[0-9a-f]{32}$/;

export const OFFER_STREAMS = {
  /** An offer's records are the candidate's: the candidate's own stream. */
  candidate: (candidateId: string) => CANDIDATE_STREAMS.candidate(candidateId),
} as const;

export const OFFER_KINDS = {
  /** Version 1 drafted: the whole content and its hash. */
  created: 'offer.created',
  /** A new version of the terms (a changed offer): content, hash and the Chinese diff from the previous version. */
  revised: 'offer.revised',
  /** The version was handed to approval (draft → pending_approval). */
  approvalRequested: 'offer.approval_requested',
  /** WeCom's approval of a version approved it (pending_approval → approved). */
  approved: 'offer.approved',
  /** WeCom's approval of a version was rejected (pending_approval → draft). */
  approvalRejected: 'offer.approval_rejected',
  /** The approval request was revoked before a decision (pending_approval → draft). */
  approvalRevoked: 'offer.approval_revoked',
  /** An approved version's approval was revoked after approval (approved → draft). */
  approvalRevokedAfterApproval: 'offer.approval_revoked_after_approval',
  /** An approval outcome that moved nothing (a superseded version, an offer already sent): kept as a fact. */
  approvalOutcome: 'offer.approval_outcome',
  /** The formal offer was sent: the gate passed for exactly this version and content hash. */
  sent: 'offer.sent',
  accepted: 'offer.accepted',
  declined: 'offer.declined',
  expired: 'offer.expired',
  /** The company withdrew a sent or accepted offer (DECISIONS 14): reason, HRBP, warnings shown. */
  rescinded: 'offer.rescinded',
  /** The candidate withdrew after accepting, before the start date. */
  reneged: 'offer.reneged',
  onboarded: 'offer.onboarded',
  /** The company dropped an offer that was never sent (draft or approved): nothing binding existed. */
  cancelled: 'offer.cancelled',
  /** An interview invitation (not an offer of employment). */
  interviewInvitation: 'offer.interview_invitation',
  /** 录用意向: a non-binding intent notice, its text stating so. */
  intentNotice: 'offer.intent_notice',
} as const;

export const OFFER_SOURCE_REFS = {
  /** The n-th recorded step of an offer (creation is 1): the offers row's `transitions` counter. */
  transition: (offerId: string, n: number) => `offer:${offerId}:${n}`,
  /** An interview invitation or intent notice, by its own opaque id. */
  notice: (noticeId: string) => `notice:${noticeId}`,
} as const;

export const OFFER_CONSUMERS = {
  /** Delivers each `offer.sent` through the injected `deliver` seam (the routes of DECISIONS 12). */
  delivery: `${OFFERS_MODULE}.delivery`,
} as const;
