import type { Pool } from 'pg';
import { PermanentJobError } from '../platform/errors';
import type { LedgerConsumer } from '../platform/module';
import { HIRELEDGER_ACTOR } from '../platform/names';
import { MEMBER_KINDS, MEMBER_SOURCE_REFS, MEMBER_STREAMS, MEMBERS_SOURCE } from './names';

/**
 * A ledger consumer with an outside effect: on a member's visit, when HireLedger has no profile of
 * the member or an old one, it asks WeCom's directory (user/get) and keeps the answer, as a row and
 * as a `member.profile` record, in one transaction that also marks the visit done. The WeCom call
 * is made before the transaction (never hold one open across the network); a repeat of the job
 * after the commit finds the visit done and calls nobody.
 *
 * WeCom's errors take the job policy: 60111 (no such member, or outside the app's scope) fails at
 * once and is recorded; 45009 waits out the limit's window; a network error retries with back-off.
 */

/** What the module needs of WeCom: `wecom.contact` fits. */
export interface MemberDirectory {
  getUser(userid: string): Promise<{ name: string; department: number[]; position?: string }>;
}

/** A profile younger than this is not fetched again. */
export const PROFILE_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

export function profileConsumer(deps: {
  db: Pick<Pool, 'query'>;
  directory: MemberDirectory;
  now?: () => number;
}): LedgerConsumer {
  const now = deps.now ?? Date.now;
  return {
    accepts: (r) => r.source === MEMBERS_SOURCE && r.kind === MEMBER_KINDS.visit,
    async handle(record, ctx) {
      const payload = record.payload;
      const userid = typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? payload['userid'] : undefined;
      if (typeof userid !== 'string' || userid === '') throw new PermanentJobError(`visit record ${record.seq} names no member`);
      const { rows } = await deps.db.query<{ fetched_at: Date }>(
        'SELECT fetched_at FROM member_profiles WHERE corp_id = $1 AND userid = $2',
        [ctx.corpId, userid],
      );
      const fetched = rows[0]?.fetched_at;
      if (fetched && now() - fetched.getTime() < PROFILE_MAX_AGE_MS) return;

      const user = await deps.directory.getUser(userid);
      const at = new Date(now());
      const department = user.department.filter((d) => Number.isSafeInteger(d));
      await ctx.transact(async (tx) => {
        await tx.query(
          `INSERT INTO member_profiles (corp_id, userid, name, department, position, fetched_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (corp_id, userid) DO UPDATE
             SET name = EXCLUDED.name, department = EXCLUDED.department, position = EXCLUDED.position, fetched_at = EXCLUDED.fetched_at`,
          [ctx.corpId, userid, user.name, department, user.position ?? null, at],
        );
        return {
          result: null,
          entries: [
            {
              stream: MEMBER_STREAMS.member(userid),
              kind: MEMBER_KINDS.profile,
              occurredAt: at,
              actor: HIRELEDGER_ACTOR,
              source: MEMBERS_SOURCE,
              sourceRef: MEMBER_SOURCE_REFS.profile(userid, record.seq),
              payload: {
                userid,
                name: user.name,
                department,
                ...(user.position !== undefined ? { position: user.position } : {}),
                visit: { seq: record.seq, hash: record.hash },
              },
              raw: null,
            },
          ],
        };
      });
    },
  };
}
