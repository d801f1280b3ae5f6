import type { Pool } from 'pg';
import { CANDIDATE_ID, CANDIDATE_KINDS, type CandidateDirectory, type CandidateRef } from '../candidates';
import type { ConversationChannel } from '../conversations';
import { readRecordsChecked, readStreamsChecked, type CheckedRecord, type VerifyProblem } from '../evidence';
import { DEFAULT_RENDERERS, num, obj, rendererFor, str, type EntryRenderers, type TimelineRole } from './render';
import { shanghaiTime } from './time';

/**
 * A candidate's timeline: every record of the person's own streams in seq order (the candidate's
 * `candidate:<cd_…>` and, when rows were found to be the same person and merged into it, theirs:
 * a re-applicant's history under another account), each `candidate.link` record carrying the
 * record it links (a callback, an outbound send) read by seq. Nothing else is read, so
 * re-verifying a timeline never walks other people's records (DECISIONS 9).
 *
 * Order is the ledger's (seq, which is one sequence across streams): the order HireLedger learnt
 * things, which is what a cursor can page through without skipping. Each entry also has the
 * source's clock (`occurred_at`), which a page that shows a conversation sorts by.
 *
 * With `verify`, every record read is re-hashed from its stored fields, its content checked against
 * the digests the hash covers and its link to the previous record of its stream checked; a read
 * that reaches the end of a stream must end at the stream's head. Each linked record is re-hashed
 * and must still have the seq, hash and stream its link names.
 */

export interface TimelineCandidate {
  candidateId: string;
  /** The candidate's own stream (CANDIDATE_STREAMS.candidate). */
  stream: string;
  /**
   * Every stream of the person, the candidate's own among them (CandidateDirectory.streams, which
   * `resolveCandidate` fills in); only `stream` when absent.
   */
  streams?: readonly string[];
  /**
   * When the candidates table's merges differ from the recorded ones: why, in Chinese (from
   * CandidateDirectory.streams). A verified read reports it as a `merge_mismatch` problem.
   */
  mergeMismatch?: string | null;
}

/** The streams a timeline or report of this candidate reads: the person's, else the candidate's own. */
export function streamsOf(candidate: TimelineCandidate): string[] {
  const streams = candidate.streams && candidate.streams.length > 0 ? [...candidate.streams] : [];
  return streams.includes(candidate.stream) ? streams : [candidate.stream, ...streams];
}

export interface TimelineOptions {
  /** The cursor: entries after this seq of the candidate's stream (`next_after_seq` of the previous page). */
  afterSeq?: number;
  /** At most this many entries; default: the whole timeline. */
  limit?: number;
  verify?: boolean;
  /** Renderers of kinds this module does not know (offers, approvals…), or replacing its own. */
  renderers?: EntryRenderers;
}

export interface TimelineWho {
  role: TimelineRole;
  /** The record's actor as stored: a member userid (lower case), `hireledger`, `wecom`, an opaque id. */
  actor: string;
}

export interface TimelineRecordView {
  seq: number;
  hash: string;
  stream: string;
  kind: string;
  /** The source's clock, UTC ISO-8601. */
  occurred_at: string;
  /** The same instant in Asia/Shanghai, with its offset. */
  occurred_at_shanghai: string;
  /** When the ledger stored it, UTC ISO-8601. */
  recorded_at: string;
  who: TimelineWho;
  channel?: ConversationChannel;
  summary: string;
}

export interface TimelineEntry extends TimelineRecordView {
  /** For a `candidate.link` record: the record it links, as the link names it and as stored. */
  linked?: {
    seq: number;
    hash: string;
    stream: string;
    reason?: string;
    /** The linked record, or null when no record has that seq. */
    record: TimelineRecordView | null;
  };
}

export type TimelineProblemKind = VerifyProblem['kind'] | 'link_mismatch' | 'merge_mismatch';

export interface TimelineProblem {
  kind: TimelineProblemKind;
  seq: number | null;
  stream: string | null;
  detail: string;
}

export interface TimelineVerification {
  ok: boolean;
  /** Records of the person's streams re-verified. */
  records: number;
  /** Linked records re-verified. */
  linked_records: number;
  /** True when the read reached the head of every stream (and checked each head). */
  reached_head: boolean;
  problems: TimelineProblem[];
}

export interface TimelinePage {
  candidate_id: string;
  stream: string;
  /** Every stream read: the candidate's own, and those of rows merged into it. */
  streams: string[];
  entries: TimelineEntry[];
  /** Pass as `afterSeq` for the next page; null when this page reached the end. */
  next_after_seq: number | null;
  verification?: TimelineVerification;
}

/** What a `candidate.link` payload names (`linkRecord` in src/candidates): `{ reason, linked: { seq, hash, stream } }`. */
export function linkTarget(record: CheckedRecord): { seq: number; hash: string; stream: string; reason?: string } | null {
  if (record.kind !== CANDIDATE_KINDS.link) return null;
  const p = obj(record.payload);
  const linked = obj(p?.['linked']);
  const seq = num(linked?.['seq']);
  const hash = str(linked?.['hash']);
  const stream = str(linked?.['stream']);
  if (seq === undefined || seq < 1 || hash === undefined || stream === undefined) return null;
  const reason = str(p?.['reason']);
  return { seq, hash, stream, ...(reason !== undefined ? { reason } : {}) };
}

export function viewOf(record: CheckedRecord, renderers: EntryRenderers): TimelineRecordView {
  const r = rendererFor(record.kind, renderers)(record);
  return {
    seq: record.seq,
    hash: record.hash,
    stream: record.stream,
    kind: record.kind,
    occurred_at: record.occurredAt.toISOString(),
    occurred_at_shanghai: shanghaiTime(record.occurredAt),
    recorded_at: record.recordedAt.toISOString(),
    who: { role: r.role, actor: record.actor },
    ...(r.channel ? { channel: r.channel } : {}),
    summary: r.summary,
  };
}

/** One page of a candidate's timeline (the whole of it without `limit`). */
export async function readTimeline(pool: Pool, candidate: TimelineCandidate, opts: TimelineOptions = {}): Promise<TimelinePage> {
  const renderers = opts.renderers ? { ...DEFAULT_RENDERERS, ...opts.renderers } : DEFAULT_RENDERERS;
  const verify = opts.verify === true;
  const streams = streamsOf(candidate);
  const page = await readStreamsChecked(pool, streams, {
    afterSeq: opts.afterSeq ?? 0,
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    verify,
  });
  const targets = new Map<number, NonNullable<ReturnType<typeof linkTarget>>>();
  const problems: TimelineProblem[] = [...page.problems];
  for (const r of page.records) {
    const t = linkTarget(r);
    if (t) targets.set(r.seq, t);
    else if (r.kind === CANDIDATE_KINDS.link && verify) {
      problems.push({
        kind: 'link_mismatch',
        seq: r.seq,
        stream: r.stream,
        detail: 'the link record names no seq, hash and stream',
      });
    }
  }
  const linked = await readRecordsChecked(
    pool,
    [...targets.values()].map((t) => t.seq),
    { verify },
  );
  problems.push(...linked.problems);
  // Said once, on the page that ends the timeline (a reader sums the pages' problems).
  if (verify && page.reachedEnd && candidate.mergeMismatch) {
    problems.push({ kind: 'merge_mismatch', seq: null, stream: null, detail: candidate.mergeMismatch });
  }

  const entries = page.records.map((record): TimelineEntry => {
    const view = viewOf(record, renderers);
    const target = targets.get(record.seq);
    if (!target) return view;
    const stored = linked.records.get(target.seq);
    if (verify && stored && (stored.hash !== target.hash || stored.stream !== target.stream)) {
      problems.push({
        kind: 'link_mismatch',
        seq: target.seq,
        stream: stored.stream,
        detail:
          `link ${record.seq} names record ${target.seq} as ${target.hash} on ${target.stream}, ` +
          `but it is stored as ${stored.hash} on ${stored.stream}`,
      });
    }
    const inner = stored ? viewOf(stored, renderers) : null;
    return {
      ...view,
      ...(inner?.channel ? { channel: inner.channel } : {}),
      summary: inner ? `关联记录：${inner.summary}` : `关联记录 ${target.seq}（未找到）`,
      linked: { ...target, record: inner },
    };
  });

  const last = page.records.at(-1);
  return {
    candidate_id: candidate.candidateId,
    stream: candidate.stream,
    streams,
    entries,
    next_after_seq: page.reachedEnd || !last ? null : last.seq,
    ...(verify
      ? {
          verification: {
            ok: problems.length === 0,
            records: page.verified,
            linked_records: linked.verified,
            reached_head: page.reachedEnd,
            problems,
          },
        }
      : {}),
  };
}

/**
 * The candidate named on a command line or in a request: an opaque id (`cd_…`) or WeCom's
 * external_userid (exact, DECISIONS 8), with every stream of the person. A merged candidate
 * resolves to the one it was merged into.
 */
export async function resolveCandidate(
  directory: Pick<CandidateDirectory, 'find' | 'get' | 'streams'>,
  corpId: string,
  key: string,
): Promise<(CandidateRef & { streams: string[]; mergeMismatch: string | null }) | null> {
  const ref = CANDIDATE_ID.test(key) ? await directory.get(corpId, key) : await directory.find(corpId, key);
  if (!ref) return null;
  const person = await directory.streams(corpId, ref.candidateId);
  return { ...ref, streams: person.streams, mergeMismatch: person.mismatch };
}
