import type { CallbackHandler } from '../platform/module';
import { MEMBER_KINDS, MEMBER_SOURCE_REFS, MEMBER_STREAMS, MEMBERS_SOURCE } from './names';

/**
 * The decision the members module takes on `enter_agent`: is this a visit? A member's first opening
 * of the app on a day (Asia/Shanghai, where the corp works) is; further openings that day are not.
 * The day's row and the `member.visit` record commit together (`ctx.transact`), so there is never a
 * counted visit without its evidence, nor evidence of a visit that was not counted. The rule reads
 * only the day, so it gives the same answer whatever order the callbacks are handled in.
 */

/** Asia/Shanghai has been UTC+8 without daylight saving since 1991. */
const SHANGHAI_OFFSET_MS = 8 * 3600 * 1000;

/** The calendar day in Asia/Shanghai, `YYYY-MM-DD`. */
export function shanghaiDay(at: Date): string {
  return new Date(at.getTime() + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10);
}

export const recordVisit: CallbackHandler<'event.enter_agent'> = async (callback, ctx) => {
  const { userId, agentId, eventKey } = callback.event;
  const day = shanghaiDay(callback.occurredAt);
  const { result } = await ctx.transact(async (tx) => {
    const { rowCount } = await tx.query(
      `INSERT INTO member_visits (corp_id, userid, day, entered_at, callback_seq) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (corp_id, userid, day) DO NOTHING`,
      [ctx.corpId, userId, day, callback.occurredAt, callback.seq],
    );
    if (rowCount === 0) return { result: 'same day' as const, entries: [] };
    return {
      result: 'visit' as const,
      entries: [
        {
          stream: MEMBER_STREAMS.member(userId),
          kind: MEMBER_KINDS.visit,
          occurredAt: callback.occurredAt,
          actor: userId,
          source: MEMBERS_SOURCE,
          sourceRef: MEMBER_SOURCE_REFS.visit(userId, day),
          payload: {
            userid: userId,
            day,
            agent_id: agentId,
            event_key: eventKey,
            callback: { seq: callback.seq, hash: callback.hash },
          },
          raw: null,
        },
      ],
    };
  });
  ctx.log.debug({ userid: userId, day, result }, 'member entered the app');
};
