/**
 * The candidates module: who a candidate is (matched or created on first contact, keyed by WeCom's
 * external_userid, kept exactly), which position they came for, who follows them, and the re-applicant
 * who comes back under the same external_userid or with the same phone or ID number. Other domains
 * reach it only through this file (ARCHITECTURE.md, "Dependency rules").
 */

import type { Pool } from 'pg';
import type { HireLedgerModule } from '../platform/module';
import { contactChangeHandler } from './contacts';
import { CANDIDATE_CONSUMERS, CANDIDATES_MODULE } from './names';
import { profileConsumer, type ExternalContactDirectory } from './profiles';
import { createCandidateDirectory } from './store';

export interface CandidatesDeps {
  db: Pick<Pool, 'query'>;
  /** `externalcontact/get`: the WeCom client's `contact` fits. */
  contacts: ExternalContactDirectory;
  now?: () => number;
}

/**
 * The module (ARCHITECTURE.md, "Modules"): the `change_external_contact` handler (match or create
 * the candidate, link the callback, position from State, recruiter) and the `candidates.profiles`
 * consumer (externalcontact/get as evidence, under the job error policy).
 */
export function createCandidatesModule(deps: CandidatesDeps): HireLedgerModule {
  const directory = createCandidateDirectory(deps.db, deps.now ? { now: deps.now } : {});
  return {
    name: CANDIDATES_MODULE,
    callbackHandlers: { 'event.change_external_contact': contactChangeHandler({ directory }) },
    consumers: { [CANDIDATE_CONSUMERS.profiles]: profileConsumer(deps) },
  };
}

export type { CandidateDirectory, CandidateRef, FirstContact } from './directory';
export {
  CANDIDATE_CONSUMERS,
  CANDIDATE_ID,
  CANDIDATE_KINDS,
  CANDIDATE_SOURCE_REFS,
  CANDIDATE_STREAMS,
  CANDIDATES_MODULE,
  CANDIDATES_SOURCE,
  recruiterUserId,
} from './names';
export {
  getPosition,
  positionOfState,
  positionState,
  savePosition,
  tiePosition,
  type Position,
  type PositionVia,
} from './positions';
export {
  assignRecruiter,
  candidateStreams,
  personStreams,
  type PersonStreams,
  createCandidateDirectory,
  linkRecord,
  type CandidateDirectoryOptions,
  type LinkedRecord,
} from './store';
export {
  addIdentifier,
  CandidateInputError,
  createCandidateByRecruiter,
  identifierDigest,
  normaliseIdNumber,
  normalisePhone,
  type ConsentBasis,
  type IdentifierDeps,
  type IdentifierInput,
  type IdentifierKind,
  type IdentifierOutcome,
} from './identifiers';
export type { ExternalContactDirectory } from './profiles';
