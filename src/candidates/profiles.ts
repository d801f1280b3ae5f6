import type { Pool } from 'pg';
import type { EvidenceEntry, JsonValue } from '../evidence';
import { PermanentJobError } from '../platform/errors';
import type { LedgerConsumer } from '../platform/module';
import { HIRELEDGER_ACTOR } from '../platform/names';
import type { ExternalContactResponse } from '../wecom/api';
import { PROFILE_REASONS } from './contacts';
import { CANDIDATE_KINDS, CANDIDATE_SOURCE_REFS, CANDIDATE_STREAMS, CANDIDATES_SOURCE, recruiterUserId } from './names';
import { assignRecruiter, candidateById } from './store';

/**
 * Who the account was when HireLedger asked (../shared LEGAL: an export must show the candidate's
 * WeChat name, avatar, the members following them, their remarks and tags at the time). A ledger
 * consumer with an outside effect, on the model of members.profiles: it follows the `candidate.link`
 * records of contact adds and edits, asks `externalcontact/get` before any transaction (paging the
 * follow users), then keeps the answer as a row and a `candidate.profile` record, and sets the
 * recruiter from the follow users when none is known, in one transaction that also marks the link
 * done. A repeat after the commit finds it done and asks nobody.
 *
 * WeCom's errors take the job policy: 84061 (no contact relationship any more: the member deleted the
 * contact before the fetch) and 40096 (no such external_userid) fail at once and are recorded
 * (`hireledger.job.failed` on `job:candidates.profiles`); 45009 waits out the window; network errors
 * retry with back-off.
 */

/** What the module needs of WeCom: `wecom.contact` fits. */
export interface ExternalContactDirectory {
  getExternalContact(externalUserid: string, cursor?: string): Promise<ExternalContactResponse>;
}

/** Follow users are paged by WeCom beyond 500; a contact with more than this many pages is cut and says so. */
const MAX_PAGES = 20;

function objectOf(v: JsonValue): { [key: string]: JsonValue } | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null;
}

/** WeCom's answer as evidence: strings, integers and nested objects only (no floats, ids as WeCom sent them). */
function asJson(v: unknown): JsonValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : String(v);
  if (Array.isArray(v)) return v.map(asJson);
  if (typeof v === 'object') {
    const out: { [key: string]: JsonValue } = {};
    // defineProperty: a key "__proto__" is kept as a member, never made the prototype.
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      if (x !== undefined)
        Object.defineProperty(out, k, { value: asJson(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return null;
}

export function profileConsumer(deps: {
  db: Pick<Pool, 'query'>;
  contacts: ExternalContactDirectory;
  now?: () => number;
}): LedgerConsumer {
  const now = deps.now ?? Date.now;
  return {
    accepts: (r) => r.source === CANDIDATES_SOURCE && r.kind === CANDIDATE_KINDS.link,
    async handle(record, ctx) {
      const payload = objectOf(record.payload);
      const reason = payload?.['reason'];
      if (typeof reason !== 'string' || !PROFILE_REASONS.has(reason)) return; // links of other kinds: nothing to fetch
      const linkedId = payload?.['candidate_id'];
      const externalUserId = payload?.['external_userid'];
      if (typeof linkedId !== 'string' || typeof externalUserId !== 'string' || externalUserId === '') {
        throw new PermanentJobError(`link record ${record.seq} names no candidate or external_userid`);
      }

      // The WeCom call, before any transaction.
      const first = await deps.contacts.getExternalContact(externalUserId);
      const followUser = [...first.follow_user];
      let cursor = first.next_cursor;
      let pages = 1;
      while (cursor && pages < MAX_PAGES) {
        const next = await deps.contacts.getExternalContact(externalUserId, cursor);
        followUser.push(...next.follow_user);
        cursor = next.next_cursor;
        pages++;
      }
      const contact = first.external_contact;
      const at = new Date(now());
      // The member who added the contact first follows the candidate when nobody else does.
      const earliest = [...followUser].sort((a, b) => a.createtime - b.createtime)[0];

      await ctx.transact(async (tx) => {
        // The candidate may have been merged into an earlier one since the link: the profile goes to the person.
        const live = await candidateById(tx, ctx.corpId, linkedId, 'share');
        if (!live) throw new PermanentJobError(`link record ${record.seq} names a candidate this corp does not have`);
        const candidateId = live.candidateId;
        const followJson = asJson(followUser);
        // A later answer never yields to an earlier one fetched slower.
        await tx.query(
          `INSERT INTO candidate_profiles (corp_id, external_userid, candidate_id, name, avatar, contact_type, gender, corp_name, follow_user, fetched_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (corp_id, external_userid) DO UPDATE
             SET candidate_id = EXCLUDED.candidate_id, name = EXCLUDED.name, avatar = EXCLUDED.avatar,
                 contact_type = EXCLUDED.contact_type, gender = EXCLUDED.gender, corp_name = EXCLUDED.corp_name,
                 follow_user = EXCLUDED.follow_user, fetched_at = EXCLUDED.fetched_at
             WHERE candidate_profiles.fetched_at <= EXCLUDED.fetched_at`,
          [
            ctx.corpId,
            externalUserId,
            candidateId,
            contact.name,
            contact.avatar ?? null,
            Number.isSafeInteger(contact.type) ? contact.type : null,
            Number.isSafeInteger(contact.gender) ? contact.gender : null,
            contact.corp_name ?? null,
            JSON.stringify(followJson),
            at,
          ],
        );
        const entries: EvidenceEntry[] = [
          {
            stream: CANDIDATE_STREAMS.candidate(candidateId),
            kind: CANDIDATE_KINDS.profile,
            occurredAt: at,
            actor: HIRELEDGER_ACTOR,
            source: CANDIDATES_SOURCE,
            sourceRef: CANDIDATE_SOURCE_REFS.profile(candidateId, `l${record.seq}`),
            payload: {
              candidate_id: candidateId,
              external_userid: externalUserId,
              api: 'externalcontact/get',
              external_contact: asJson(contact),
              follow_user: followJson,
              ...(cursor ? { truncated_after_pages: pages } : {}),
              link: { seq: record.seq, hash: record.hash },
            },
            raw: null,
          },
        ];
        if (earliest) {
          const assigned = await assignRecruiter(tx, {
            corpId: ctx.corpId,
            candidateId,
            userid: recruiterUserId(earliest.userid),
            cause: `l${record.seq}`,
            actor: HIRELEDGER_ACTOR,
            at,
            onlyIfUnknown: true,
            record: { seq: record.seq, hash: record.hash, stream: record.stream },
          });
          entries.push(...assigned.entries);
        }
        return { result: null, entries };
      });
    },
  };
}
