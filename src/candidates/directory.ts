import type { PoolClient } from 'pg';
import type { EvidenceEntry } from '../evidence';

/**
 * How other modules find a candidate (the contract of src/candidates; the channels, signals and
 * the timeline code against it). A candidate is matched or created on first contact; creating one
 * is a decision, so it happens inside the caller's ledger transaction (`ctx.transact`) and returns
 * the evidence entries the caller must append with its own.
 */

/** How a candidate was first seen. */
export type FirstContact =
  | { via: 'contact'; userid: string; state?: string }
  | { via: 'kf'; openKfId: string; sceneParam?: string }
  | { via: 'archive'; userid?: string }
  | { via: 'recruiter'; userid: string };

export interface CandidateRef {
  /** Opaque id, `cd_…` (CANDIDATE_ID). */
  candidateId: string;
  /** The stream of the candidate's own records (CANDIDATE_STREAMS.candidate). */
  stream: string;
  /** The member responsible for the candidate, lower-cased; null until one is known. */
  recruiter: string | null;
}

export interface CandidateDirectory {
  /**
   * The candidate of an external_userid (kept exactly, DECISIONS 8), created on first contact. On
   * creation, `entries` holds the `candidate.created` record (and any position record) for the
   * caller to append in the same transaction; otherwise it is empty. Concurrent callers for the
   * same external_userid get the same candidate (the row is locked for the transaction).
   */
  candidateFor(
    tx: PoolClient,
    corpId: string,
    externalUserId: string,
    contact: FirstContact,
  ): Promise<CandidateRef & { created: boolean; entries: EvidenceEntry[] }>;
  /** Read only: the candidate of an external_userid, or null when nobody knows it. */
  find(corpId: string, externalUserId: string): Promise<CandidateRef | null>;
  /** Read only, by opaque id. */
  get(corpId: string, candidateId: string): Promise<CandidateRef | null>;
  /**
   * Read only: the person's WeCom external_userids, first known first, those of rows merged into the
   * candidate included (a legal export names them).
   */
  externalUserIds(corpId: string, candidateId: string): Promise<string[]>;
  /**
   * Read only: every stream of the person, the candidate's own first, then those of the rows merged
   * with it (a re-applicant's history under another account), as the ledger's merge records say,
   * and whether the candidates table agrees (store.ts `personStreams`). Empty for an unknown id.
   */
  streams(corpId: string, candidateId: string): Promise<{ streams: string[]; mismatch: string | null }>;
}
