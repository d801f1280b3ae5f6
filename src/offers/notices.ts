import { createHash, randomBytes } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { EvidenceEntry } from '../evidence';
import { memberUserId } from '../wecom/names';
import { isCalendarDate } from './content';
import { OfferInputError } from './errors';
import { OFFER_KINDS, OFFER_SOURCE_REFS, OFFER_STREAMS, OFFERS_SOURCE } from './names';
import { INTENT_NOTICE_CLAUSE, type OffersDeps } from './offers';

/**
 * The steps before a formal offer, each its own record on the candidate's stream so that a
 * timeline shows plainly which stage a message belonged to (LEGAL.md, "Offer disputes"):
 * - an interview invitation (面试邀请): not an offer of anything;
 * - an intent notice (录用意向): non-binding, and its text says so (INTENT_NOTICE_CLAUSE is added
 *   when the text does not already contain it). Its record keeps the exact text and its SHA-256.
 * They change no offer; they are recorded facts of what the company told the candidate.
 */

function text(value: unknown, label: string, max: number): string {
  if (typeof value !== 'string' || value.trim() === '') throw new OfferInputError(`${label}不能为空`);
  const v = value.trim();
  if (v.length > max) throw new OfferInputError(`${label}不能超过${max}个字`);
  if (v.includes('\u0000') || !v.isWellFormed()) throw new OfferInputError(`${label}含有无效字符`);
  return v;
}

async function liveCandidate(tx: PoolClient, corpId: string, candidateId: string): Promise<void> {
  const { rows } = await tx.query<{ merged_into: string | null }>(
    'SELECT merged_into FROM candidates WHERE corp_id = $1 AND id = $2 FOR SHARE',
    [corpId, candidateId],
  );
  if (!rows[0]) throw new OfferInputError('候选人不存在');
  if (rows[0].merged_into !== null) throw new OfferInputError(`该候选人已合并到 ${rows[0].merged_into}`);
}

async function position(tx: PoolClient, corpId: string, positionId: string): Promise<string> {
  const { rows } = await tx.query<{ title: string }>('SELECT title FROM positions WHERE corp_id = $1 AND id = $2', [
    corpId,
    positionId,
  ]);
  if (!rows[0]) throw new OfferInputError('职位不存在');
  return rows[0].title;
}

/** The full text of an intent notice: the recruiter's text, then the non-binding clause unless already in it. */
export function intentNoticeText(body: string): string {
  const b = body.trim();
  return b.includes(INTENT_NOTICE_CLAUSE) ? b : `${b}\n\n${INTENT_NOTICE_CLAUSE}`;
}

export function createNotices(deps: Pick<OffersDeps, 'transact' | 'now'>) {
  const now = () => new Date((deps.now ?? Date.now)());

  async function notice(
    args: { corpId: string; candidateId: string; positionId: string; actor: string },
    kind: string,
    payload: (title: string) => { [key: string]: string | boolean | null },
  ): Promise<{ noticeId: string }> {
    const actor = memberUserId(text(args.actor, '操作人', 256));
    const noticeId = `on_${randomBytes(16).toString('hex')}`;
    await deps.transact(async (tx) => {
      const at = now();
      await liveCandidate(tx, args.corpId, args.candidateId);
      const title = await position(tx, args.corpId, args.positionId);
      const entry: EvidenceEntry = {
        stream: OFFER_STREAMS.candidate(args.candidateId),
        kind,
        occurredAt: at,
        actor,
        source: OFFERS_SOURCE,
        sourceRef: OFFER_SOURCE_REFS.notice(noticeId),
        payload: { notice_id: noticeId, candidate_id: args.candidateId, position_id: args.positionId, actor, ...payload(title) },
        raw: null,
      };
      return { result: null, entries: [entry] };
    });
    return { noticeId };
  }

  return {
    /** 面试邀请: when (a moment), where or how, and the text sent. */
    async recordInterviewInvitation(args: {
      corpId: string;
      candidateId: string;
      positionId: string;
      actor: string;
      interviewAt: Date;
      /** A place, or a meeting link / 腾讯会议 number. */
      where: string;
      text: string;
    }) {
      if (!(args.interviewAt instanceof Date) || Number.isNaN(args.interviewAt.getTime())) {
        throw new OfferInputError('面试时间无效');
      }
      const where = text(args.where, '面试地点或方式', 500);
      const body = text(args.text, '邀请内容', 5000);
      return notice(args, OFFER_KINDS.interviewInvitation, (title) => ({
        title,
        interview_at: args.interviewAt.toISOString(),
        where,
        text: body,
        text_sha256: createHash('sha256').update(body, 'utf8').digest('hex'),
        binding: false,
      }));
    },

    /** 录用意向: non-binding, its text stating so; an intended start date may be named. */
    async recordIntentNotice(args: {
      corpId: string;
      candidateId: string;
      positionId: string;
      actor: string;
      text: string;
      intendedStartDate?: string;
    }) {
      const full = intentNoticeText(text(args.text, '意向内容', 5000));
      if (args.intendedStartDate !== undefined && !isCalendarDate(args.intendedStartDate)) {
        throw new OfferInputError('意向入职日期格式应为 YYYY-MM-DD');
      }
      return notice(args, OFFER_KINDS.intentNotice, (title) => ({
        title,
        text: full,
        text_sha256: createHash('sha256').update(full, 'utf8').digest('hex'),
        binding: false,
        non_binding_clause: INTENT_NOTICE_CLAUSE,
        intended_start_date: args.intendedStartDate ?? null,
      }));
    },
  };
}

export type Notices = ReturnType<typeof createNotices>;
