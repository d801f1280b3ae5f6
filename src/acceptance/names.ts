import { CANDIDATE_STREAMS } from '../candidates';

/**
 * Every name the acceptance module writes (ARCHITECTURE.md, "Names"). A link is named by an opaque
 * random id, `ol_` and 32 hex digits; its records go to the candidate's own stream (DECISIONS 9),
 * beside the offer's, with only opaque ids in the hashed header (DECISIONS 4).
 */

export const ACCEPTANCE_MODULE = 'acceptance';

/** `source` of the records this module writes (offer.accepted and offer.declined stay the offers module's). */
export const ACCEPTANCE_SOURCE = 'hireledger.acceptance';

/** Opaque id of an offer link. */
export const OFFER_LINK_ID = /^ol_[0-9a-f]{32}$/;

export const ACCEPTANCE_STREAMS = {
  candidate: (candidateId: string) => CANDIDATE_STREAMS.candidate(candidateId),
} as const;

export const ACCEPTANCE_KINDS = {
  /** A link to the acceptance page was made for one sent version (no token in it: only its id and expiry). */
  linkIssued: 'offer.link_issued',
  /** The page was opened with a valid link for the first time: time, ip, user agent, the text shown. */
  linkViewed: 'offer.link_viewed',
  /** A valid link was used with a phone number that is not the one the recruiter recorded. */
  linkRefused: 'offer.link_refused',
} as const;

export const ACCEPTANCE_SOURCE_REFS = {
  issued: (linkId: string) => `offer-link:${linkId}:issued`,
  viewed: (linkId: string) => `offer-link:${linkId}:viewed`,
  refused: (linkId: string, attemptId: string) => `offer-link:${linkId}:refused:${attemptId}`,
} as const;

/** Where the page lives under PUBLIC_BASE_URL; the token goes in the fragment (never sent in a request line, log or Referer). */
export const OFFER_PAGE_PATH = '/h5/offer.html';
