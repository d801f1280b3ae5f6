import { randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { readStreamKinds, type EvidenceEntry, type JsonValue } from '../evidence';
import { HIRELEDGER_ACTOR } from '../platform/names';
import type { CandidateDirectory, CandidateRef, FirstContact } from './directory';
import {
  CANDIDATE_ID,
  CANDIDATE_KINDS,
  CANDIDATE_SOURCE_REFS,
  CANDIDATE_STREAMS,
  CANDIDATES_SOURCE,
  recruiterUserId,
} from './names';
import { positionOfState, tiePosition, type PositionVia } from './positions';

/**
 * The candidate directory (directory.ts is the contract) and the row-level helpers the module's
 * decisions share.
 *
 * Concurrency. Two transactions meeting the same external_userid for the first time must end with
 * one candidate. Every path that maps an external_userid to a candidate first takes a transaction
 * advisory lock on (corp, external_userid) and re-reads under it; the second transaction waits for
 * the first to commit or roll back, then finds its row (READ COMMITTED: each statement sees what
 * committed before it). The primary key of candidate_external_ids backs this up. A found candidate
 * row is locked FOR KEY SHARE for the rest of the caller's transaction, so a merge (which takes FOR
 * UPDATE) cannot move it from under a caller that is about to append to its stream, while setting
 * the recruiter (FOR NO KEY UPDATE) waits for no caller that merely found it.
 *
 * Merges. A candidate found to be the same person as an earlier one points at it (`merged_into`);
 * merges are flattened, so the candidate of a row is always `coalesce(merged_into, id)`, one hop.
 */

export interface CandidateDirectoryOptions {
  /** The clock of `candidate.created` records and rows (tests). */
  now?: () => number;
}

type Query = Pick<PoolClient, 'query'>;

/** Upper bound on WeCom's external_userid (WeCom's ids are 32 characters; the column allows 128). */
const MAX_EXTERNAL_USERID = 128;

export function newCandidateId(): string {
  return `cd_${randomBytes(16).toString('hex')}`;
}

function checkExternalUserId(externalUserId: string): void {
  if (typeof externalUserId !== 'string' || externalUserId.length === 0 || externalUserId.length > MAX_EXTERNAL_USERID) {
    throw new Error(`an external_userid is 1 to ${MAX_EXTERNAL_USERID} characters`);
  }
}

function refOf(row: { id: string; recruiter: string | null }): CandidateRef {
  return { candidateId: row.id, stream: CANDIDATE_STREAMS.candidate(row.id), recruiter: row.recruiter };
}

/**
 * Serialises first contacts of one external_userid across transactions until the caller commits.
 * The key is a 64-bit hash of corp and id: a collision only makes two unrelated first contacts wait
 * for each other.
 */
export async function lockExternalUserId(tx: Query, corpId: string, externalUserId: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`candidates\u001f${corpId}\u001f${externalUserId}`]);
}

const BY_EXTERNAL = `
  SELECT s.id, s.recruiter, s.merged_into
    FROM candidate_external_ids e
    JOIN candidates c ON c.id = e.candidate_id
    JOIN candidates s ON s.id = coalesce(c.merged_into, c.id)
   WHERE e.corp_id = $1 AND e.external_userid = $2`;

const BY_ID = `
  SELECT s.id, s.recruiter, s.merged_into
    FROM candidates c
    JOIN candidates s ON s.id = coalesce(c.merged_into, c.id)
   WHERE c.corp_id = $1 AND c.id = $2`;

type Row = { id: string; recruiter: string | null; merged_into: string | null };

/**
 * The live candidate behind a query, locked (`FOR SHARE` or `FOR UPDATE`) when asked. A row
 * locked just after a concurrent merge committed may itself be merged now; read again.
 */
async function resolve(db: Query, sql: string, params: unknown[], lock?: 'share' | 'update'): Promise<Row | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    // KEY SHARE / NO KEY UPDATE, not SHARE / UPDATE: a caller that found a candidate (key share) and
    // then sets its recruiter (no key update) never waits for another caller that merely found it,
    // so two such transactions cannot deadlock; a merge (FOR UPDATE, identifiers.ts) still waits for
    // every caller holding the candidate, and they for it.
    const suffix = lock === 'share' ? ' FOR KEY SHARE OF s' : lock === 'update' ? ' FOR NO KEY UPDATE OF s' : '';
    const { rows } = await db.query<Row>(sql + suffix, params);
    const row = rows[0];
    if (!row) return null;
    if (row.merged_into === null) return row;
  }
  throw new Error('a candidate kept being merged while it was read');
}

export async function candidateByExternalUserId(
  db: Query,
  corpId: string,
  externalUserId: string,
  lock?: 'share' | 'update',
): Promise<CandidateRef | null> {
  const row = await resolve(db, BY_EXTERNAL, [corpId, externalUserId], lock);
  return row ? refOf(row) : null;
}

/** By opaque id; a merged candidate resolves to the candidate it was merged into. */
export async function candidateById(
  db: Query,
  corpId: string,
  candidateId: string,
  lock?: 'share' | 'update',
): Promise<CandidateRef | null> {
  if (!CANDIDATE_ID.test(candidateId)) return null;
  const row = await resolve(db, BY_ID, [corpId, candidateId], lock);
  return row ? refOf(row) : null;
}

/** Who a first contact's records name as actor: the member for a contact or a recruiter, HireLedger otherwise. */
function actorOf(contact: FirstContact): string {
  switch (contact.via) {
    case 'contact':
    case 'recruiter':
      return recruiterUserId(contact.userid);
    case 'kf':
    case 'archive':
      return HIRELEDGER_ACTOR;
  }
}

function recruiterOf(contact: FirstContact): string | null {
  switch (contact.via) {
    case 'contact':
    case 'recruiter':
      return recruiterUserId(contact.userid);
    case 'archive':
      return contact.userid !== undefined && contact.userid !== '' ? recruiterUserId(contact.userid) : null;
    case 'kf':
      return null;
  }
}

/** The position a first contact names (contact way State or KF scene_param), with how. */
function positionOf(contact: FirstContact): { positionId: string; via: PositionVia; state: string } | null {
  if (contact.via === 'contact' && contact.state !== undefined) {
    const positionId = positionOfState(contact.state);
    return positionId ? { positionId, via: 'contact_way', state: contact.state } : null;
  }
  if (contact.via === 'kf' && contact.sceneParam !== undefined) {
    const positionId = positionOfState(contact.sceneParam);
    return positionId ? { positionId, via: 'kf', state: contact.sceneParam } : null;
  }
  return null;
}

function contactPayload(contact: FirstContact): { [key: string]: JsonValue } {
  switch (contact.via) {
    case 'contact':
      return {
        via: 'contact',
        userid: recruiterUserId(contact.userid),
        ...(contact.state !== undefined ? { state: contact.state } : {}),
      };
    case 'kf':
      return {
        via: 'kf',
        open_kfid: contact.openKfId,
        ...(contact.sceneParam !== undefined ? { scene_param: contact.sceneParam } : {}),
      };
    case 'archive':
      return { via: 'archive', ...(contact.userid !== undefined ? { userid: recruiterUserId(contact.userid) } : {}) };
    case 'recruiter':
      return { via: 'recruiter', userid: recruiterUserId(contact.userid) };
  }
}

/**
 * Inserts a new candidate row (and its external_userid when given, under the caller's advisory lock)
 * and returns the `candidate.created` entry, plus a `candidate.position` entry when the contact
 * names an open position. The external_userid is in the payload, which is erasable content; the
 * hashed header names only the opaque id (DECISIONS 4).
 */
export async function insertCandidate(
  tx: PoolClient,
  args: { corpId: string; externalUserId?: string; contact: FirstContact; at: Date },
): Promise<{ ref: CandidateRef; entries: EvidenceEntry[] }> {
  const id = newCandidateId();
  const recruiter = recruiterOf(args.contact);
  if (args.externalUserId === undefined) {
    await tx.query('INSERT INTO candidates (id, corp_id, created_via, recruiter, created_at) VALUES ($1, $2, $3, $4, $5)', [
      id,
      args.corpId,
      args.contact.via,
      recruiter,
      args.at,
    ]);
  } else {
    // One statement: the candidate and its external_userid exist together or not at all.
    await tx.query(
      `WITH c AS (
         INSERT INTO candidates (id, corp_id, created_via, recruiter, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id, corp_id)
       INSERT INTO candidate_external_ids (corp_id, external_userid, candidate_id, created_at) SELECT corp_id, $6, id, $5 FROM c`,
      [id, args.corpId, args.contact.via, recruiter, args.at, args.externalUserId],
    );
  }
  const ref: CandidateRef = { candidateId: id, stream: CANDIDATE_STREAMS.candidate(id), recruiter };
  const actor = actorOf(args.contact);
  const entries: EvidenceEntry[] = [
    {
      stream: ref.stream,
      kind: CANDIDATE_KINDS.created,
      occurredAt: args.at,
      actor,
      source: CANDIDATES_SOURCE,
      sourceRef: CANDIDATE_SOURCE_REFS.created(id),
      payload: {
        candidate_id: id,
        ...(args.externalUserId !== undefined ? { external_userid: args.externalUserId } : {}),
        recruiter,
        first_contact: contactPayload(args.contact),
      },
      raw: null,
    },
  ];
  const position = positionOf(args.contact);
  if (position) {
    const tied = await tiePosition(tx, {
      corpId: args.corpId,
      candidateId: id,
      positionId: position.positionId,
      via: position.via,
      cause: 'first-contact',
      actor,
      at: args.at,
      state: position.state,
    });
    if (tied) entries.push(...tied.entries);
  }
  return { ref, entries };
}

export function createCandidateDirectory(pool: Pick<Pool, 'query'>, opts: CandidateDirectoryOptions = {}): CandidateDirectory {
  const now = opts.now ?? Date.now;
  return {
    async candidateFor(tx, corpId, externalUserId, contact) {
      checkExternalUserId(externalUserId);
      const known = await candidateByExternalUserId(tx, corpId, externalUserId, 'share');
      if (known) return { ...known, created: false, entries: [] };
      await lockExternalUserId(tx, corpId, externalUserId);
      const again = await candidateByExternalUserId(tx, corpId, externalUserId, 'share');
      if (again) return { ...again, created: false, entries: [] };
      const { ref, entries } = await insertCandidate(tx, { corpId, externalUserId, contact, at: new Date(now()) });
      return { ...ref, created: true, entries };
    },
    find: (corpId, externalUserId) => candidateByExternalUserId(pool, corpId, externalUserId),
    get: (corpId, candidateId) => candidateById(pool, corpId, candidateId),
    async externalUserIds(corpId, candidateId) {
      const { rows } = await pool.query<{ external_userid: string }>(
        `SELECT e.external_userid FROM candidate_external_ids e
           JOIN candidates c ON c.corp_id = e.corp_id AND c.id = e.candidate_id
          WHERE e.corp_id = $1 AND (c.id = $2 OR c.merged_into = $2)
          ORDER BY e.created_at, e.external_userid`,
        [corpId, candidateId],
      );
      return rows.map((r) => r.external_userid);
    },
    streams: (corpId, candidateId) => personStreams(pool, corpId, candidateId),
  };
}

/** A record stored elsewhere that concerns a candidate. */
export interface LinkedRecord {
  seq: number;
  hash: string;
  stream: string;
  kind?: string;
}

/**
 * Attaches a stored record (a callback, a KF message stored before the candidate was known, an
 * outbound send) to a candidate, inside the caller's transaction: returns the `candidate.link`
 * entry for the caller to append, or none when the record is linked to this candidate already. The
 * linked record is never touched (DECISIONS 9): the link is a new record on the candidate's stream
 * naming its seq, hash and stream. A merged candidate's links go to the candidate it was merged into.
 */
export async function linkRecord(
  tx: PoolClient,
  args: {
    corpId: string;
    candidateId: string;
    record: LinkedRecord;
    /** Why it concerns the candidate, e.g. `contact_event`, `kf_message`. */
    reason: string;
    at: Date;
    actor?: string;
    /** The account the linked record is about, when it names one (kept in the erasable payload, exactly). */
    externalUserId?: string;
  },
): Promise<{ candidateId: string; entries: EvidenceEntry[] }> {
  const { seq, hash, stream } = args.record;
  if (!Number.isSafeInteger(seq) || seq < 1) throw new Error('a linked record is named by its seq');
  if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error('a linked record is named by its hash');
  const live = await candidateById(tx, args.corpId, args.candidateId, 'share');
  if (!live) throw new Error(`no candidate ${args.candidateId} in this corp`);
  const { rowCount } = await tx.query(
    `INSERT INTO candidate_links (corp_id, candidate_id, linked_seq, linked_stream, linked_hash) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (candidate_id, linked_seq) DO NOTHING`,
    [args.corpId, live.candidateId, seq, stream, hash],
  );
  if (rowCount === 0) return { candidateId: live.candidateId, entries: [] };
  return {
    candidateId: live.candidateId,
    entries: [
      {
        stream: live.stream,
        kind: CANDIDATE_KINDS.link,
        occurredAt: args.at,
        actor: args.actor ?? HIRELEDGER_ACTOR,
        source: CANDIDATES_SOURCE,
        sourceRef: CANDIDATE_SOURCE_REFS.link(live.candidateId, seq),
        payload: {
          candidate_id: live.candidateId,
          reason: args.reason,
          ...(args.externalUserId !== undefined ? { external_userid: args.externalUserId } : {}),
          linked: { seq, hash, stream, ...(args.record.kind !== undefined ? { kind: args.record.kind } : {}) },
        },
        raw: null,
      },
    ],
  };
}

/**
 * Sets the member responsible for a candidate (lower-cased), inside the caller's transaction, and
 * returns the `candidate.recruiter` entry; none when nothing changes. `onlyIfUnknown` keeps a
 * recruiter already set (a contact's follow user never overrides a recruiter's own choice).
 */
export async function assignRecruiter(
  tx: PoolClient,
  args: {
    corpId: string;
    candidateId: string;
    userid: string;
    /** What set it: `cb<seq>` for a record, or a request id. */
    cause: string;
    actor: string;
    at: Date;
    onlyIfUnknown?: boolean;
    record?: { seq: number; hash: string; stream: string };
  },
): Promise<{ changed: boolean; entries: EvidenceEntry[] }> {
  const userid = recruiterUserId(args.userid);
  if (userid === '' || userid.length > 256) throw new Error('a recruiter is a member userid');
  const live = await candidateById(tx, args.corpId, args.candidateId, 'update');
  if (!live) throw new Error(`no candidate ${args.candidateId} in this corp`);
  if (live.recruiter === userid || (args.onlyIfUnknown === true && live.recruiter !== null)) {
    return { changed: false, entries: [] };
  }
  await tx.query('UPDATE candidates SET recruiter = $2 WHERE id = $1', [live.candidateId, userid]);
  return {
    changed: true,
    entries: [
      {
        stream: live.stream,
        kind: CANDIDATE_KINDS.recruiter,
        occurredAt: args.at,
        actor: recruiterUserId(args.actor),
        source: CANDIDATES_SOURCE,
        sourceRef: CANDIDATE_SOURCE_REFS.recruiter(live.candidateId, args.cause),
        payload: {
          candidate_id: live.candidateId,
          recruiter: userid,
          previous: live.recruiter,
          ...(args.record ? { record: args.record } : {}),
        },
        raw: null,
      },
    ],
  };
}

/**
 * Every stream of one person, from the candidates table, in one query (the re-application check
 * asks it for every candidate message): the live row's first, then those of the rows merged into
 * it (a re-applicant's other history), oldest row first. Empty when the corp has no such candidate.
 * A legal view reads the recorded merges instead (`personStreams`).
 */
export async function candidateStreams(db: Query, corpId: string, candidateId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `WITH person AS (SELECT coalesce(merged_into, id) AS id FROM candidates WHERE corp_id = $1 AND id = $2)
     SELECT c.id FROM candidates c JOIN person p ON c.id = p.id OR c.merged_into = p.id
      WHERE c.corp_id = $1
      ORDER BY c.id = p.id DESC, c.created_at, c.id`,
    [corpId, candidateId],
  );
  return rows.map((r) => CANDIDATE_STREAMS.candidate(r.id));
}

/** The person's streams as the ledger records them, and whether the candidates table agrees. */
export interface PersonStreams {
  /** The live row's stream first, then each row recorded as merged with it, in the order found. */
  streams: string[];
  /**
   * Null when the table's merges (`merged_into`) are the recorded ones; else, in Chinese, which rows
   * the table and the records disagree on (the table was changed without a record, or the reverse).
   */
  mismatch: string | null;
}

/** The other row a `candidate.merged` record on `self`'s stream names (`merged:<self>:<other>`). */
function mergedWith(sourceRef: string, self: string): string | null {
  const [tag, own, other] = sourceRef.split(':');
  return tag === 'merged' && own === self && other !== undefined && CANDIDATE_ID.test(other) ? other : null;
}

/** A person has at most this many rows: a bound on the walk below, far above any real merge. */
const MAX_ROWS_OF_A_PERSON = 200;

/**
 * Every stream of one person for a timeline or a legal export, from the evidence: the live row's
 * stream, and every row that a `candidate.merged` record (in its hashed source_ref, on both
 * streams) joins to it, followed from stream to stream. The `merged_into` column is what the app
 * looks rows up by, and the app may write it; what was merged is what the ledger recorded, so a
 * changed column can neither hide a row's history nor bring another person's in. A disagreement is
 * returned as `mismatch` for the report to show. Empty streams when the corp has no such candidate.
 */
export async function personStreams(db: Pick<Pool, 'query'>, corpId: string, candidateId: string): Promise<PersonStreams> {
  // The table's view in one query, the live row first: where the walk starts, and what it is compared with.
  const table = await candidateStreams(db, corpId, candidateId);
  const live = table[0] === undefined ? null : CANDIDATE_STREAMS.candidateOf(table[0]);
  if (live === null) return { streams: [], mismatch: null };
  const ids = [live];
  for (let i = 0; i < ids.length && ids.length <= MAX_ROWS_OF_A_PERSON; i++) {
    const self = ids[i] as string;
    const { records } = await readStreamKinds(db, CANDIDATE_STREAMS.candidate(self), [CANDIDATE_KINDS.merged]);
    for (const r of records) {
      const other = mergedWith(r.sourceRef, self);
      if (other !== null && !ids.includes(other)) ids.push(other);
    }
  }
  const recorded = ids.map((id) => CANDIDATE_STREAMS.candidate(id));
  const onlyTable = table.filter((s) => !recorded.includes(s));
  const onlyRecorded = recorded.filter((s) => !table.includes(s));
  const mismatch =
    onlyTable.length === 0 && onlyRecorded.length === 0
      ? null
      : `候选人合并关系与证据记录不一致：${[
          onlyTable.length > 0 ? `数据库将 ${onlyTable.join(', ')} 并入本人，但没有合并记录` : '',
          onlyRecorded.length > 0 ? `合并记录将 ${onlyRecorded.join(', ')} 并入本人，但数据库中没有` : '',
        ]
          .filter(Boolean)
          .join('；')}（以证据记录为准）`;
  return { streams: recorded, mismatch };
}
