import type { Pool } from 'pg';
import { candidateStreams } from '../candidates';
import type { JsonValue, LedgerReader, StoredRecord } from '../evidence';
import type { RouteFacts } from '../reminders';
import { OUTBOUND_INTENT_KIND, OUTBOUND_OUTCOME_KIND, OUTBOUND_SOURCE } from '../wecom/api';
import { WECOM_STREAMS } from '../wecom/names';
import { CONVERSATION_KINDS, CONVERSATION_SOURCES } from './names';

/**
 * What is open towards one candidate now (DECISIONS 12), read from what HireLedger holds: the
 * `RouteFacts` that `chooseRoute` (src/reminders/routes.ts) decides on, plus where each route goes.
 *
 * - KF: the candidate's last 微信客服 message (origin 3, `conversation.message` with role
 *   `candidate` on the candidate's streams, merged rows' included) gives the 48-hour window, the
 *   account and the external_userid to answer. The app's own `kf/send_msg` intents to that account
 *   since then (on the contact's `wecom:contact:<xc_…>` stream, the send path's records) count
 *   against the 5 replies, except those whose outcome says WeCom refused them (`failed`): an
 *   intent without an outcome may have reached WeCom, so it counts. WeCom gives the message's time
 *   in whole seconds, so a reply within that same second cannot be placed before or after it: it is
 *   taken as before (not counted); a sixth reply that follows then meets 95001 and the delivery
 *   takes the next route. The session is taken as open
 *   unless, after that message, WeCom reported it ended or handed to a person (`session_status_change`
 *   change_type 1 taken from the pool, 2 transferred, 3 ended, 4 re-opened by a servicer), or a
 *   servicer wrote from their client (origin 5): in those states kf/send_msg answers 95013/95018.
 * - 企业群发: the candidate is the external contact of a member, per the latest externalcontact/get
 *   answer kept in `candidate_profiles.follow_user` (candidates.profiles). The sender is the
 *   candidate's recruiter when they follow the candidate, else the member who added them first. A
 *   relationship deleted since that answer is not seen here: WeCom then lists the candidate in
 *   `fail_list`, and the delivery falls back to the recruiter's task.
 *
 * Read only; the reader walks the candidate's streams in seq order (what a timeline reads too).
 */
export interface CandidateRouteFacts extends RouteFacts {
  /** The candidate's recruiter (lower-cased), or null when none is known. */
  recruiter: string | null;
  /** Where a KF reply goes: the account and the external_userid of the candidate's last KF message. */
  kf: { openKfId: string; externalUserId: string } | null;
  /** Who can confirm a 企业群发 to the candidate, and under which external_userid they follow them. */
  groupSend: { sender: string; externalUserId: string } | null;
}

export interface RouteFactsDeps {
  db: Pick<Pool, 'query'>;
  reader: Pick<LedgerReader, 'cursor'>;
}

/** KF session changes after which the API may not send (doc 94670 session_status_change). */
const SESSION_CLOSING_CHANGES: ReadonlySet<number> = new Set([1, 2, 3, 4]);

type Obj = { [key: string]: JsonValue };

function obj(v: JsonValue | undefined): Obj | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : null;
}

function str(v: JsonValue | undefined): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

export function createRouteFacts(deps: RouteFactsDeps): (corpId: string, candidateId: string) => Promise<CandidateRouteFacts> {
  async function lastKfFromCandidate(streams: string[]): Promise<{ message: StoredRecord; after: StoredRecord[] } | null> {
    let last: StoredRecord | null = null;
    let after: StoredRecord[] = [];
    const kf: StoredRecord[] = [];
    for (const stream of streams) {
      for await (const r of deps.reader.cursor({ stream, pageSize: 500 })) {
        if (r.kind === CONVERSATION_KINDS.message && r.source === CONVERSATION_SOURCES.kf) kf.push(r);
      }
    }
    // Several streams (a merged person): their KF messages in the order they were written.
    kf.sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || a.seq - b.seq);
    for (const r of kf) {
      const p = obj(r.payload);
      if (p?.['role'] === 'candidate' && str(p['open_kfid']) !== null && str(obj(p['message'])?.['external_userid']) !== null) {
        last = r;
        after = [];
      } else if (last) after.push(r);
    }
    return last ? { message: last, after } : null;
  }

  function sessionOpen(after: readonly StoredRecord[]): boolean {
    for (const r of after) {
      const p = obj(r.payload);
      if (p?.['role'] === 'recruiter') return false;
      const event = obj(obj(p?.['message'])?.['event']);
      const change = event?.['change_type'];
      if (event?.['event_type'] === 'session_status_change' && typeof change === 'number' && SESSION_CLOSING_CHANGES.has(change))
        return false;
    }
    return true;
  }

  async function kfSentSince(corpId: string, externalUserId: string, openKfId: string, since: Date): Promise<number> {
    const { rows } = await deps.db.query<{ id: string }>(
      'SELECT id FROM wecom_external_contacts WHERE corp_id = $1 AND external_userid = $2',
      [corpId, externalUserId],
    );
    const contactId = rows[0]?.id;
    if (!contactId) return 0;
    const intents = new Set<number>();
    const refused = new Set<number>();
    for await (const r of deps.reader.cursor({ stream: WECOM_STREAMS.externalContact(contactId), pageSize: 500 })) {
      if (r.source !== OUTBOUND_SOURCE) continue;
      const p = obj(r.payload);
      if (p?.['api'] !== 'kf/send_msg') continue;
      if (r.kind === OUTBOUND_INTENT_KIND) {
        if (r.occurredAt.getTime() >= since.getTime() + 1000 && obj(p['recipient'])?.['open_kfid'] === openKfId)
          intents.add(r.seq);
      } else if (r.kind === OUTBOUND_OUTCOME_KIND && p['status'] === 'failed') {
        const seq = obj(p['intent'])?.['seq'];
        if (typeof seq === 'number') refused.add(seq);
      }
    }
    let n = 0;
    for (const seq of intents) if (!refused.has(seq)) n++;
    return n;
  }

  async function groupSender(corpId: string, ids: string[], recruiter: string | null): Promise<CandidateRouteFacts['groupSend']> {
    const { rows } = await deps.db.query<{ external_userid: string; follow_user: unknown }>(
      `SELECT external_userid, follow_user FROM candidate_profiles
        WHERE corp_id = $1 AND candidate_id = ANY($2::text[]) ORDER BY fetched_at DESC, external_userid`,
      [corpId, ids],
    );
    let first: { sender: string; externalUserId: string; at: number } | null = null;
    for (const row of rows) {
      const follows = Array.isArray(row.follow_user) ? (row.follow_user as unknown[]) : [];
      for (const f of follows) {
        if (typeof f !== 'object' || f === null) continue;
        const userid = (f as { userid?: unknown }).userid;
        if (typeof userid !== 'string' || userid === '') continue;
        const sender = userid.toLowerCase();
        if (sender === recruiter) return { sender, externalUserId: row.external_userid };
        const created = (f as { createtime?: unknown }).createtime;
        const at = typeof created === 'number' ? created : Number.MAX_SAFE_INTEGER;
        if (!first || at < first.at) first = { sender, externalUserId: row.external_userid, at };
      }
    }
    return first ? { sender: first.sender, externalUserId: first.externalUserId } : null;
  }

  return async (corpId, candidateId) => {
    const streams = await candidateStreams(deps.db, corpId, candidateId);
    const ids = streams.map((s) => s.slice(s.indexOf(':') + 1));
    // The live row among the person's (the others were merged into it) holds the recruiter.
    const { rows } = await deps.db.query<{ recruiter: string | null }>(
      'SELECT recruiter FROM candidates WHERE corp_id = $1 AND id = ANY($2::text[]) AND merged_into IS NULL',
      [corpId, ids],
    );
    const recruiter = rows[0]?.recruiter ?? null;

    const last = streams.length > 0 ? await lastKfFromCandidate(streams) : null;
    const p = last ? obj(last.message.payload) : null;
    const openKfId = p ? str(p['open_kfid']) : null;
    const externalUserId = p ? str(obj(p['message'])?.['external_userid']) : null;
    const kf = last && openKfId && externalUserId ? { openKfId, externalUserId } : null;
    const groupSend = ids.length > 0 ? await groupSender(corpId, ids, recruiter) : null;
    return {
      lastKfMessageAt: kf && last ? last.message.occurredAt : null,
      kfSentSinceLast: kf && last ? await kfSentSince(corpId, kf.externalUserId, kf.openKfId, last.message.occurredAt) : 0,
      kfSessionOpen: last ? sessionOpen(last.after) : false,
      hasRecruiterContact: groupSend !== null,
      recruiter,
      kf,
      groupSend,
    };
  };
}
