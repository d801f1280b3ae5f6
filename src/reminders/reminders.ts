import { createHash, randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Decision, EvidenceEntry, JsonValue } from '../evidence';
import type { Logger } from '../observability/logger';
import {
  IntentNotRecordedError,
  RateLimitedError,
  WecomApiError,
  WecomCredentialUnavailableError,
  WecomRateLimitedError,
  type MessageApi,
} from '../wecom/api';
import { sendByRoute, type CandidateChannel } from './candidate-channel';
import { REMINDER_KINDS, REMINDER_SOURCE_REFS, REMINDER_TYPES, REMINDERS_ACTOR, REMINDERS_SOURCE } from './names';
import type { PlannedReminder } from './rules';
import { chooseRoute, type CandidateRoute, type CandidateRoutes } from './routes';
import { inQuietHours } from './time';
import type { ReminderTriggers } from './triggers';

/**
 * The reminders themselves: rows in PostgreSQL, made and cancelled with their evidence in one
 * transaction, fired at most once (docs/reminders.md).
 *
 * Firing: the row is claimed (`pending` → `sending`, committed) before the message leaves, and its
 * outcome written after. A worker killed in between leaves it `sending`; the sweeper turns a row
 * stuck there longer than `sendingStaleMs` into `outcome_unknown`, with a record, for a person to
 * look at. Nothing sends a row that is not `pending`, so nothing sends it again by itself. The
 * message goes through the WeCom client's recorded send path (message/send, idempotency key = the
 * reminder's key), which records the intent and the outcome in the recipient's stream.
 */

export type ReminderState = 'pending' | 'sending' | 'sent' | 'outcome_unknown' | 'cancelled' | 'failed';

export interface ReminderRow {
  id: string;
  corp_id: string;
  kind: string;
  audience: 'member' | 'candidate' | 'system';
  subject: string;
  stream: string;
  recipient: string;
  due_at: Date;
  state: ReminderState;
  idempotency_key: string;
  body: { [key: string]: JsonValue };
  cause_seq: string;
  attempts: number;
  sending_at: Date | null;
  outcome: JsonValue | null;
  created_at: Date;
  updated_at: Date;
}

type Transact = <T>(work: (tx: PoolClient) => Promise<Decision<T>>) => Promise<{ result: T }>;

export interface ReminderDeps {
  db: Pick<Pool, 'query'>;
  /** The ledger's decision path (jobs: ctx.transact; the API: ledger.transact). */
  transact: Transact;
  messages: Pick<MessageApi, 'send'>;
  triggers: ReminderTriggers;
  /** Expires an offer whose deadline passed (offers.expireOffer); throws when the offer is no longer sent. */
  expireOffer: (ref: { corpId: string; offerId: string }) => Promise<unknown>;
  /** The open route to a candidate (DECISIONS 12); used alone (recording the choice) when there is no `candidateChannel`. */
  routes: CandidateRoutes;
  /**
   * Delivery to the candidate by KF or 企业群发 (candidate-channel.ts). With it, the route is chosen
   * from its facts and used; without it, every candidate reminder is the recruiter's task.
   */
  candidateChannel?: CandidateChannel;
  /** An offer's onboarding checklist now (the onboarding module's materialsOf): what is missing when a materials reminder falls due. */
  materials?: (corpId: string, offerId: string) => Promise<{ offerState: string; missing: string[] } | null>;
  /** A row left in `sending` longer than this is settled as `outcome_unknown` (default 5 minutes). */
  sendingStaleMs?: number;
  now?: () => number;
}

const COLUMNS =
  'id, corp_id, kind, audience, subject, stream, recipient, due_at, state, idempotency_key, body, cause_seq, attempts, ' +
  'sending_at, outcome, created_at, updated_at';

/** Reminders that wait for a sent offer's answer: moot once the offer is no longer sent. */
const OFFER_ANSWER_TYPES: ReadonlySet<string> = new Set([
  REMINDER_TYPES.offerUnanswered24hRecruiter,
  REMINDER_TYPES.offerUnanswered24hCandidate,
  REMINDER_TYPES.offerUnanswered48h,
]);

/** Reminders that wait at an approval's node: moot once the approval is no longer pending. */
const APPROVAL_IDLE_TYPES: ReadonlySet<string> = new Set([
  REMINDER_TYPES.approvalIdleApprover,
  REMINDER_TYPES.approvalIdleEscalation,
]);

/** Reminders that list the missing onboarding materials: the list is read when they fall due. */
const MATERIALS_TYPES: ReadonlySet<string> = new Set([
  REMINDER_TYPES.onboardingMaterialsRecruiter,
  REMINDER_TYPES.onboardingMaterialsCandidate,
]);

/** Where a materials reminder's text says what is missing (filled in when it falls due). */
export const MISSING_PLACEHOLDER = '{missing}';

function text(v: JsonValue | undefined): string {
  return typeof v === 'string' ? v : '';
}

export function reminderId(): string {
  return `rm_${randomBytes(16).toString('hex')}`;
}

/** The reminder's key, from what makes it this reminder: one cause, one type, one recipient. */
export function idempotencyKeyOf(corpId: string, type: string, subject: string, causeSeq: number, recipient: string): string {
  const digest = createHash('sha256')
    .update(JSON.stringify([corpId, type, subject, causeSeq, recipient]), 'utf8')
    .digest('hex');
  return `rk_${digest.slice(0, 40)}`;
}

export interface NewReminder extends PlannedReminder {
  subject: string;
  stream: string;
  causeSeq: number;
  body: { [key: string]: JsonValue };
}

/** Inserts reminders and their `reminder.scheduled` records on `tx`; returns the rows and the entries to commit with them. */
export async function insertReminders(
  tx: Pick<PoolClient, 'query'>,
  corpId: string,
  reminders: readonly NewReminder[],
  at: Date,
): Promise<{ rows: { id: string; dueAt: Date }[]; entries: EvidenceEntry[] }> {
  const rows: { id: string; dueAt: Date }[] = [];
  const entries: EvidenceEntry[] = [];
  for (const r of reminders) {
    const id = reminderId();
    const key = idempotencyKeyOf(corpId, r.type, r.subject, r.causeSeq, r.recipient);
    const { rowCount } = await tx.query(
      `INSERT INTO reminders (id, corp_id, kind, audience, subject, stream, recipient, due_at, idempotency_key, body,
                              cause_seq, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [id, corpId, r.type, r.audience, r.subject, r.stream, r.recipient, r.dueAt, key, r.body, r.causeSeq, at],
    );
    // Already made (the same cause handled again): no second reminder, no second record.
    if (rowCount === 0) continue;
    rows.push({ id, dueAt: r.dueAt });
    entries.push({
      stream: r.stream,
      kind: REMINDER_KINDS.scheduled,
      occurredAt: at,
      actor: REMINDERS_ACTOR,
      source: REMINDERS_SOURCE,
      sourceRef: REMINDER_SOURCE_REFS.scheduled(id),
      payload: {
        reminder_id: id,
        type: r.type,
        audience: r.audience,
        subject: r.subject,
        recipient: r.recipient,
        due_at: r.dueAt.toISOString(),
        cause_seq: r.causeSeq,
        idempotency_key: key,
      },
      raw: null,
    });
  }
  return { rows, entries };
}

/** Cancels the subject's pending reminders (all, or those of `types`) on `tx`, one `reminder.cancelled` record each. */
export async function cancelReminders(
  tx: Pick<PoolClient, 'query'>,
  corpId: string,
  subject: string,
  cause: { seq: number; kind: string },
  at: Date,
  types?: readonly string[],
  /** Only the reminders of an approval's nodes before this one (node index, step): the node moved on. */
  nodeBefore?: readonly [number, number],
): Promise<EvidenceEntry[]> {
  const { rows } = await tx.query<{ id: string; kind: string; stream: string; recipient: string; due_at: Date }>(
    `UPDATE reminders SET state = 'cancelled', updated_at = $3, outcome = $4
      WHERE corp_id = $1 AND subject = $2 AND state = 'pending' AND ($5::text[] IS NULL OR kind = ANY($5))
        AND ($6::int IS NULL OR ((body->>'node_index')::int, (body->>'node_step')::int) < ($6::int, $7::int))
      RETURNING id, kind, stream, recipient, due_at`,
    [corpId, subject, at, { cancelled_by: cause }, types ?? null, nodeBefore?.[0] ?? null, nodeBefore?.[1] ?? null],
  );
  return rows.map((r) => ({
    stream: r.stream,
    kind: REMINDER_KINDS.cancelled,
    occurredAt: at,
    actor: REMINDERS_ACTOR,
    source: REMINDERS_SOURCE,
    sourceRef: REMINDER_SOURCE_REFS.cancelled(r.id),
    payload: {
      reminder_id: r.id,
      type: r.kind,
      subject,
      recipient: r.recipient,
      due_at: r.due_at.toISOString(),
      reason: 'moot',
      cause_seq: cause.seq,
      cause_kind: cause.kind,
    },
    raw: null,
  }));
}

/**
 * A reminder that cannot be made (its due time needs a calendar year that is not installed): the
 * record says what, why and for which cause; nothing is guessed. One per (cause, type).
 */
export function notScheduledEntry(
  stream: string,
  cause: { seq: number; kind: string },
  type: string,
  subject: string,
  error: { name: string; message: string; year?: number },
  at: Date,
): EvidenceEntry {
  return {
    stream,
    kind: REMINDER_KINDS.notScheduled,
    occurredAt: at,
    actor: REMINDERS_ACTOR,
    source: REMINDERS_SOURCE,
    sourceRef: REMINDER_SOURCE_REFS.notScheduled(cause.seq, type),
    payload: {
      type,
      subject,
      reason: error.name === 'CalendarYearMissingError' ? 'calendar_year_missing' : 'error',
      year: error.year ?? null,
      error: error.message,
      cause_seq: cause.seq,
      cause_kind: cause.kind,
    },
    raw: null,
  };
}

export interface FireResult {
  reminderId: string;
  /** What this run did: sent it, settled it, or found nothing to do (not pending, or not yet due). */
  did: 'sent' | 'failed' | 'outcome_unknown' | 'deadline_reached' | 'moot' | 'not_pending' | 'not_due' | 'missing' | 'retry';
}

export function createReminders(deps: ReminderDeps, log: Logger) {
  const now = () => new Date((deps.now ?? Date.now)());
  const staleMs = deps.sendingStaleMs ?? 5 * 60_000;

  async function settle(
    row: ReminderRow,
    state: 'sent' | 'failed' | 'outcome_unknown' | 'cancelled',
    kind: string,
    outcome: { [key: string]: JsonValue },
  ): Promise<void> {
    const at = now();
    await deps.transact(async (tx) => {
      // A real outcome beats `outcome_unknown` (a slow worker that the sweeper gave up on answered after all).
      const { rowCount } = await tx.query(
        `UPDATE reminders SET state = $3, outcome = $4, updated_at = $5
          WHERE corp_id = $1 AND id = $2 AND (state = 'sending' OR (state = 'outcome_unknown' AND $3 <> 'outcome_unknown'))`,
        [row.corp_id, row.id, state, outcome, at],
      );
      if (rowCount === 0) return { result: null, entries: [] };
      return {
        result: null,
        // One record per final state; a repeat of this decision (a crash after COMMIT) adds nothing.
        allowDuplicates: true,
        entries: [
          {
            stream: row.stream,
            kind,
            occurredAt: at,
            actor: REMINDERS_ACTOR,
            source: REMINDERS_SOURCE,
            sourceRef: `${REMINDER_SOURCE_REFS.outcome(row.id)}:${state}`,
            payload: {
              reminder_id: row.id,
              type: row.kind,
              subject: row.subject,
              recipient: row.recipient,
              due_at: row.due_at.toISOString(),
              attempts: row.attempts,
              idempotency_key: row.idempotency_key,
              ...outcome,
            },
            raw: null,
          },
        ],
      };
    });
  }

  /** Back to pending when the request provably never left (a local rate limit, no intent recorded). */
  async function release(row: ReminderRow): Promise<void> {
    await deps.db.query(
      `UPDATE reminders SET state = 'pending', updated_at = $3 WHERE corp_id = $1 AND id = $2 AND state = 'sending' AND attempts = $4`,
      [row.corp_id, row.id, now(), row.attempts],
    );
  }

  async function sendToMember(row: ReminderRow, touser: string, content: string, extra: { [key: string]: JsonValue }) {
    try {
      const res = await deps.messages.send(
        { touser, msgtype: 'text', text: { content } },
        { idempotencyKey: row.idempotency_key },
      );
      await settle(row, 'sent', REMINDER_KINDS.sent, { ...extra, msgid: res.msgid, invaliduser: res.invaliduser ?? '' });
      return 'sent' as const;
    } catch (err) {
      if (
        err instanceof RateLimitedError ||
        err instanceof WecomRateLimitedError ||
        err instanceof WecomCredentialUnavailableError ||
        err instanceof IntentNotRecordedError
      ) {
        // Nothing reached the person: pending again, and the job policy retries it (rate limits after their window).
        await release(row);
        throw err;
      }
      if (err instanceof WecomApiError) {
        await settle(row, 'failed', REMINDER_KINDS.failed, { ...extra, errcode: err.errcode, error: err.message });
        return 'failed' as const;
      }
      // A timeout, a reset, a 5xx, an outcome not recorded: it may have arrived. Never sent again by itself.
      await settle(row, 'outcome_unknown', REMINDER_KINDS.outcomeUnknown, { ...extra, error: (err as Error).message });
      return 'outcome_unknown' as const;
    }
  }

  /**
   * The row is `sending` already: KF, else 企业群发, else the recruiter's task, each route WeCom
   * refuses giving way to the next in this same fire (candidate-channel.ts). Never KF in the quiet
   * hours (a candidate reminder is deferred out of them; a late fire still does not push).
   */
  async function sendToCandidate(
    row: ReminderRow,
    channel: CandidateChannel,
    content: string,
    task: string,
    taskFor: string,
    extra: { [key: string]: JsonValue },
    at: Date,
  ): Promise<FireResult['did']> {
    const facts = await channel.facts(row.corp_id, row.recipient);
    const chosen = chooseRoute(facts, at);
    const quiet = inQuietHours(at);
    let first: CandidateRoute = chosen.route;
    const fallbacks: JsonValue[] = [];
    if (quiet && first === 'kf') {
      fallbacks.push({ route: 'kf', why: '免打扰时段（21:00–09:00）不向候选人直接推送' });
      first = facts.groupSend ? 'group_send' : 'recruiter_task';
    }
    const base: { [key: string]: JsonValue } = {
      ...extra,
      route_chosen: chosen.route,
      route_why: chosen.why,
      quiet_hours: quiet,
      fallbacks,
    };
    const res = await sendByRoute(
      channel,
      deps.messages,
      { key: row.idempotency_key, candidateId: row.recipient, content, route: first, quiet, facts, fallbacks },
      log.child({ reminderId: row.id }),
    );
    if ('release' in res) {
      await release(row);
      throw res.release;
    }
    if ('settle' in res) {
      const kind =
        res.settle === 'sent'
          ? REMINDER_KINDS.sent
          : res.settle === 'failed'
            ? REMINDER_KINDS.failed
            : REMINDER_KINDS.outcomeUnknown;
      await settle(row, res.settle, kind, { ...base, ...res.outcome });
      return res.settle;
    }
    const recruiter = taskFor || facts.recruiter || '';
    if (!recruiter) {
      await settle(row, 'failed', REMINDER_KINDS.failed, {
        ...base,
        route_used: null,
        error: 'no recruiter to hand the task to',
      });
      return 'failed';
    }
    return sendToMember(row, recruiter, task, { ...base, route_used: 'recruiter_task', task_for: recruiter });
  }

  return {
    /**
     * Makes reminders (with their `reminder.scheduled` records) in one decision and arms their
     * triggers. For callers outside a ledger consumer (a consumer uses insertReminders in its own
     * ctx.transact). A reminder whose key exists already is not made again.
     */
    async schedule(corpId: string, reminders: readonly NewReminder[]): Promise<{ id: string; dueAt: Date }[]> {
      const at = now();
      const { result } = await deps.transact(async (tx) => {
        const made = await insertReminders(tx, corpId, reminders, at);
        return { result: made.rows, entries: made.entries };
      });
      for (const r of result) {
        try {
          await deps.triggers.ensure(r.id, r.dueAt, now());
        } catch (err) {
          log.warn({ reminderId: r.id, err: (err as Error).message }, 'reminder trigger not armed now: the sweeper will');
        }
      }
      return result;
    },

    /** Runs one reminder's trigger: sends it if, and only if, it is pending and due. */
    async fire(corpId: string, id: string): Promise<FireResult> {
      const at = now();
      const { rows } = await deps.db.query<ReminderRow>(
        `UPDATE reminders SET state = 'sending', attempts = attempts + 1, sending_at = $3, updated_at = $3
          WHERE corp_id = $1 AND id = $2 AND state = 'pending' AND due_at <= $3
          RETURNING ${COLUMNS}`,
        [corpId, id, at],
      );
      const row = rows[0];
      if (!row) {
        const { rows: current } = await deps.db.query<{ state: ReminderState }>(
          'SELECT state FROM reminders WHERE corp_id = $1 AND id = $2',
          [corpId, id],
        );
        const state = current[0]?.state;
        // Early (the sweeper arms it again when due), already done, or (`sending`) left to the sweeper.
        return { reminderId: id, did: state === undefined ? 'missing' : state === 'pending' ? 'not_due' : 'not_pending' };
      }
      log.info({ reminderId: id, type: row.kind, lateMs: at.getTime() - row.due_at.getTime() }, 'reminder due: sending');

      if (row.kind === REMINDER_TYPES.offerDeadline) {
        try {
          await deps.expireOffer({ corpId, offerId: row.subject });
        } catch (err) {
          // Answered, rescinded or already expired: nothing to expire. Recorded as moot, not as a failure.
          await settle(row, 'cancelled', REMINDER_KINDS.cancelled, { reason: 'offer_not_open', detail: (err as Error).message });
          return { reminderId: id, did: 'moot' };
        }
        await settle(row, 'sent', REMINDER_KINDS.deadlineReached, { expired: true });
        return { reminderId: id, did: 'deadline_reached' };
      }

      if (OFFER_ANSWER_TYPES.has(row.kind)) {
        // The answer may be recorded while its consumer has not yet cancelled this reminder: asked once more here.
        const { rows: offer } = await deps.db.query<{ state: string }>(
          'SELECT state FROM offers WHERE corp_id = $1 AND id = $2',
          [corpId, row.subject],
        );
        if (offer[0]?.state !== 'sent') {
          await settle(row, 'cancelled', REMINDER_KINDS.cancelled, {
            reason: 'offer_not_open',
            offer_state: offer[0]?.state ?? null,
          });
          return { reminderId: id, did: 'moot' };
        }
      }

      if (APPROVAL_IDLE_TYPES.has(row.kind)) {
        // The approval may have ended while the record that cancels this reminder is not handled yet.
        const { rows: v } = await deps.db.query<{ approval_status: string }>(
          `SELECT v.approval_status FROM offer_versions v JOIN offers o ON o.id = v.offer_id
            WHERE o.corp_id = $1 AND v.approval_sp_no = $2`,
          [corpId, row.subject],
        );
        if (v[0]?.approval_status !== 'pending') {
          await settle(row, 'cancelled', REMINDER_KINDS.cancelled, {
            reason: 'approval_not_pending',
            approval_status: v[0]?.approval_status ?? null,
          });
          return { reminderId: id, did: 'moot' };
        }
      }

      let content = text(row.body['content']);
      let task = text(row.body['task_content']) || content;
      const extra: { [key: string]: JsonValue } = {};
      if (MATERIALS_TYPES.has(row.kind)) {
        // What is missing now, not when the reminder was made: a material received since is not asked for.
        const m = deps.materials ? await deps.materials(corpId, text(row.body['offer_id'])) : null;
        const why =
          !m || m.offerState !== 'accepted' ? 'offer_not_accepted' : m.missing.length === 0 ? 'materials_complete' : null;
        if (why !== null) {
          await settle(row, 'cancelled', REMINDER_KINDS.cancelled, { reason: why, offer_state: m?.offerState ?? null });
          return { reminderId: id, did: 'moot' };
        }
        const list = (m as { missing: string[] }).missing;
        content = content.replace(MISSING_PLACEHOLDER, list.join('、'));
        task = task.replace(MISSING_PLACEHOLDER, list.join('、'));
        extra['missing'] = list;
      }
      if (row.audience === 'member') {
        return { reminderId: id, did: await sendToMember(row, row.recipient, content, extra) };
      }
      // Candidate-facing: the open route (DECISIONS 12).
      const taskFor = text(row.body['task_for']);
      if (!deps.candidateChannel) {
        // No channel wired: the choice is recorded, and the recruiter's task is what is delivered.
        const route = await deps.routes.choose({ corpId, candidateId: row.recipient, at });
        if (!taskFor) {
          await settle(row, 'failed', REMINDER_KINDS.failed, {
            route_chosen: route.route,
            error: 'no recruiter to hand the task to',
          });
          return { reminderId: id, did: 'failed' };
        }
        return {
          reminderId: id,
          did: await sendToMember(row, taskFor, task, {
            ...extra,
            route_chosen: route.route,
            route_used: 'recruiter_task',
            route_why: route.why,
            task_for: taskFor,
          }),
        };
      }
      return { reminderId: id, did: await sendToCandidate(row, deps.candidateChannel, content, task, taskFor, extra, at) };
    },

    /**
     * The sweeper: settles rows stuck in `sending` as `outcome_unknown`, and makes sure every
     * pending reminder due before `now + lookaheadMs` has a trigger. Returns what it did.
     */
    async sweep(corpId: string, lookaheadMs: number): Promise<{ armed: number; unknown: number }> {
      const at = now();
      const { rows: stuck } = await deps.db.query<ReminderRow>(
        `SELECT ${COLUMNS} FROM reminders WHERE corp_id = $1 AND state = 'sending' AND sending_at < $2 ORDER BY sending_at LIMIT 500`,
        [corpId, new Date(at.getTime() - staleMs)],
      );
      for (const row of stuck) {
        log.warn({ reminderId: row.id, sendingAt: row.sending_at }, 'reminder left in sending: outcome unknown, not sent again');
        await settle(row, 'outcome_unknown', REMINDER_KINDS.outcomeUnknown, {
          error: 'the worker stopped between the intent and the outcome',
          sending_at: row.sending_at ? row.sending_at.toISOString() : null,
        });
      }
      const { rows: due } = await deps.db.query<{ id: string; due_at: Date }>(
        `SELECT id, due_at FROM reminders WHERE corp_id = $1 AND state = 'pending' AND due_at <= $2 ORDER BY due_at LIMIT 5000`,
        [corpId, new Date(at.getTime() + lookaheadMs)],
      );
      let armed = 0;
      for (const r of due) if (await deps.triggers.ensure(r.id, r.due_at, at)) armed += 1;
      if (armed > 0) log.warn({ armed }, 'reminders without a trigger were armed again');
      return { armed, unknown: stuck.length };
    },

    async get(corpId: string, id: string): Promise<ReminderRow | null> {
      const { rows } = await deps.db.query<ReminderRow>(`SELECT ${COLUMNS} FROM reminders WHERE corp_id = $1 AND id = $2`, [
        corpId,
        id,
      ]);
      return rows[0] ?? null;
    },

    async ofSubject(corpId: string, subject: string): Promise<ReminderRow[]> {
      const { rows } = await deps.db.query<ReminderRow>(
        `SELECT ${COLUMNS} FROM reminders WHERE corp_id = $1 AND subject = $2 ORDER BY due_at, kind`,
        [corpId, subject],
      );
      return rows;
    },
  };
}

export type Reminders = ReturnType<typeof createReminders>;
