import { memberUserId } from '../wecom/names';

/**
 * Every name the candidates module writes (ARCHITECTURE.md, "Names").
 *
 * A candidate is named everywhere in the hashed header by an opaque, random id, `cd_` and 32 hex
 * digits (DECISIONS 4): never their external_userid, name, phone or ID number. The mapping from
 * the id to the person (external_userids, profile, HMACs of phone and ID number) lives in the
 * `candidates*` tables, outside every hash, so erasing a person leaves every proof verifiable.
 * A candidate's own records (messages pulled for them, links, profiles, signals, later offers)
 * go to their own stream (DECISIONS 9); callback records stay in their channel streams and are
 * linked by a `candidate.link` record, never edited.
 */

export const CANDIDATES_MODULE = 'candidates';

/** `source` of the records this module writes. */
export const CANDIDATES_SOURCE = 'hireledger.candidates';

/** Opaque id of a candidate. */
export const CANDIDATE_ID = /^cd_[0-9a-f]{32}$/;

export const CANDIDATE_STREAMS = {
  /** Everything of one candidate: the timeline is this stream plus the records it links. */
  candidate: (candidateId: string) => {
    if (!CANDIDATE_ID.test(candidateId)) throw new Error('a candidate stream takes the opaque candidate id');
    return `candidate:${candidateId}`;
  },
  /** The candidate id of a candidate stream, null for any other stream. */
  candidateOf: (stream: string): string | null => {
    const id = stream.startsWith('candidate:') ? stream.slice('candidate:'.length) : '';
    return CANDIDATE_ID.test(id) ? id : null;
  },
} as const;

export const CANDIDATE_KINDS = {
  /** A candidate came to exist: how (contact added, KF session, recruiter), never who (that is in the table). */
  created: 'candidate.created',
  /** What `externalcontact/get` said about the account when HireLedger asked (name, avatar, follow users, tags). */
  profile: 'candidate.profile',
  /** A record stored elsewhere (a callback, an outbound send) concerns this candidate: its seq, hash and stream. */
  link: 'candidate.link',
  /** The candidate is tied to a position (contact way `State`, KF `scene_param`, or a recruiter). */
  position: 'candidate.position',
  /** A recruiter entered a phone number or ID number (kept as an HMAC, DECISIONS 10) or another external_userid. */
  identifier: 'candidate.identifier',
  /** Two candidate rows were found to be one person (re-applicant): the later one points to the earlier. */
  merged: 'candidate.merged',
  /** The member responsible for the candidate was set or changed (first contact's follow user, a recruiter, an admin). */
  recruiter: 'candidate.recruiter',
} as const;

export const CANDIDATE_SOURCE_REFS = {
  created: (candidateId: string) => `created:${candidateId}`,
  /** One link per linked record: the linked record's seq is unique in the ledger. */
  link: (candidateId: string, linkedSeq: number) => `link:${candidateId}:${linkedSeq}`,
  profile: (candidateId: string, cause: string) => `profile:${candidateId}:${cause}`,
  position: (candidateId: string, positionId: string, cause: string) => `position:${candidateId}:${positionId}:${cause}`,
  identifier: (candidateId: string, identifierDigest: string) => `identifier:${candidateId}:${identifierDigest}`,
  /** One record on each of the two streams: `merged:<this stream's candidate>:<the other>`. */
  merged: (candidateId: string, otherId: string) => `merged:${candidateId}:${otherId}`,
  /** `cause` names what set it: a record's seq (`cb<seq>`) or a recruiter's request id. */
  recruiter: (candidateId: string, cause: string) => `recruiter:${candidateId}:${cause}`,
} as const;

/** The module's ledger consumers (its callback handler runs as `candidates.on.event.change_external_contact`). */
export const CANDIDATE_CONSUMERS = {
  /** Fetches `externalcontact/get` for a candidate's external_userid when a contact is added or edited. */
  profiles: `${CANDIDATES_MODULE}.profiles`,
} as const;

/** A recruiter (a member) as stored on a candidate: lower-cased (DECISIONS 8). */
export function recruiterUserId(userid: string): string {
  return memberUserId(userid);
}
