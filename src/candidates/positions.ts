import type { PoolClient } from 'pg';
import type { EvidenceEntry } from '../evidence';
import { CANDIDATE_KINDS, CANDIDATE_SOURCE_REFS, CANDIDATE_STREAMS, CANDIDATES_SOURCE } from './names';

/**
 * Positions, and how a first contact names one.
 *
 * A contact way's `State` (at most 30 characters in WeCom) and a KF link's `scene_param` name the
 * position a candidate came for as `pos:<position id>`, e.g. `pos:fe-2026-01`; a position id is
 * 1 to 26 letters, digits, `_` or `-`, so the State always fits. Anything else in State (a
 * campaign tag of the recruiter's own) ties the candidate to no position and is kept, as received,
 * in the payload of the records it arrived with.
 */

export const POSITION_ID = /^[A-Za-z0-9_-]{1,26}$/;
const POSITION_TAG = /^pos:([A-Za-z0-9_-]{1,26})$/;

/** The `State` (or `scene_param`) that names a position. */
export function positionState(positionId: string): string {
  if (!POSITION_ID.test(positionId)) throw new Error('a position id is 1 to 26 letters, digits, _ or -');
  return `pos:${positionId}`;
}

/** The position a `State` or `scene_param` names, or null. */
export function positionOfState(state: string | undefined): string | null {
  if (state === undefined) return null;
  return POSITION_TAG.exec(state)?.[1] ?? null;
}

export interface Position {
  id: string;
  title: string;
  department?: string;
  /** Monthly base salary band, whole yuan. */
  salaryMin?: number;
  salaryMax?: number;
  level?: string;
}

/** Creates or updates a position (admin data, not evidence: the offers that use it record the terms they used). */
export async function savePosition(db: Pick<PoolClient, 'query'>, corpId: string, p: Position): Promise<void> {
  if (!POSITION_ID.test(p.id)) throw new Error('a position id is 1 to 26 letters, digits, _ or -');
  for (const v of [p.salaryMin, p.salaryMax]) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new Error('a salary is a whole number of yuan');
  }
  await db.query(
    `INSERT INTO positions (corp_id, id, title, department, salary_min, salary_max, level) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (corp_id, id) DO UPDATE SET title = EXCLUDED.title, department = EXCLUDED.department,
       salary_min = EXCLUDED.salary_min, salary_max = EXCLUDED.salary_max, level = EXCLUDED.level`,
    [corpId, p.id, p.title, p.department ?? null, p.salaryMin ?? null, p.salaryMax ?? null, p.level ?? null],
  );
}

export async function getPosition(db: Pick<PoolClient, 'query'>, corpId: string, positionId: string): Promise<Position | null> {
  const { rows } = await db.query<{
    id: string;
    title: string;
    department: string | null;
    salary_min: number | null;
    salary_max: number | null;
    level: string | null;
  }>('SELECT id, title, department, salary_min, salary_max, level FROM positions WHERE corp_id = $1 AND id = $2', [
    corpId,
    positionId,
  ]);
  const r = rows[0];
  if (!r) return null;
  return {
    id: r.id,
    title: r.title,
    ...(r.department !== null ? { department: r.department } : {}),
    ...(r.salary_min !== null ? { salaryMin: r.salary_min } : {}),
    ...(r.salary_max !== null ? { salaryMax: r.salary_max } : {}),
    ...(r.level !== null ? { level: r.level } : {}),
  };
}

export type PositionVia = 'contact_way' | 'kf' | 'recruiter';

/**
 * Ties a candidate to a position, inside the caller's transaction: the row and the
 * `candidate.position` record it returns commit together. Tying again is a no-op (no entry); an
 * unknown or closed position ties nothing (null), so the caller can say why in its own record.
 */
export async function tiePosition(
  tx: PoolClient,
  args: {
    corpId: string;
    candidateId: string;
    positionId: string;
    via: PositionVia;
    /** What tied it: the record's seq (`cb<seq>`), `first-contact`, or the recruiter's request id. */
    cause: string;
    actor: string;
    at: Date;
    /** The State or scene_param as received, and the record it came with. */
    state?: string;
    record?: { seq: number; hash: string; stream: string };
  },
): Promise<{ tied: boolean; entries: EvidenceEntry[] } | null> {
  const { rows } = await tx.query<{ title: string }>(
    'SELECT title FROM positions WHERE corp_id = $1 AND id = $2 AND closed_at IS NULL FOR KEY SHARE',
    [args.corpId, args.positionId],
  );
  const position = rows[0];
  if (!position) return null;
  const { rowCount } = await tx.query(
    `INSERT INTO candidate_positions (corp_id, candidate_id, position_id, via, linked_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (candidate_id, position_id) DO NOTHING`,
    [args.corpId, args.candidateId, args.positionId, args.via, args.at],
  );
  if (rowCount === 0) return { tied: false, entries: [] };
  return {
    tied: true,
    entries: [
      {
        stream: CANDIDATE_STREAMS.candidate(args.candidateId),
        kind: CANDIDATE_KINDS.position,
        occurredAt: args.at,
        actor: args.actor,
        source: CANDIDATES_SOURCE,
        sourceRef: CANDIDATE_SOURCE_REFS.position(args.candidateId, args.positionId, args.cause),
        payload: {
          candidate_id: args.candidateId,
          position_id: args.positionId,
          title: position.title,
          via: args.via,
          ...(args.state !== undefined ? { state: args.state } : {}),
          ...(args.record ? { record: args.record } : {}),
        },
        raw: null,
      },
    ],
  };
}
