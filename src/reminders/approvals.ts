import { APPROVAL_KINDS, APPROVALS_SOURCE } from '../approvals';
import type { JsonValue } from '../evidence';
import type { Logger } from '../observability/logger';
import { OFFER_KINDS, OFFERS_SOURCE } from '../offers';
import type { LedgerConsumer } from '../platform/module';
import { CalendarYearMissingError } from './calendar';
import { REMINDER_STREAMS, REMINDER_SUBJECTS, REMINDER_TYPES } from './names';
import { cancelReminders, insertReminders, notScheduledEntry, type NewReminder } from './reminders';
import { approvalIdleReminders } from './rules';
import { shanghaiText } from './time';

/**
 * Consumer `reminders.approvals` (docs/reminders.md, "Approval idle"): follows the approvals
 * module's `approval.node_reached` and the offers module's approval outcomes on the candidate's
 * stream. A node reached makes its reminders (one working day → the approvers there; two → the
 * recruiter and the HRBP) and cancels those of the nodes before it; an outcome (approved, rejected,
 * revoked, or recorded without applying) cancels every pending one of the approval. All keyed by
 * the node_reached record's seq, so a replay makes nothing twice.
 */

/** The offer records that end a WeCom approval (each carries its sp_no). */
const ENDS_APPROVAL: ReadonlySet<string> = new Set([
  OFFER_KINDS.approved,
  OFFER_KINDS.approvalRejected,
  OFFER_KINDS.approvalRevoked,
  OFFER_KINDS.approvalRevokedAfterApproval,
  OFFER_KINDS.approvalOutcome,
]);

const IDLE_TYPES = [REMINDER_TYPES.approvalIdleApprover, REMINDER_TYPES.approvalIdleEscalation];

function str(p: { [key: string]: JsonValue }, key: string): string | null {
  const v = p[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

function int(p: { [key: string]: JsonValue }, key: string): number | null {
  const v = p[key];
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

function strings(v: JsonValue | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x !== '') : [];
}

export function approvalsConsumer(
  deps: { now?: () => number },
  arm: (rows: { id: string; dueAt: Date }[], log: Logger) => Promise<void>,
): LedgerConsumer {
  return {
    accepts: (h) =>
      (h.source === APPROVALS_SOURCE && h.kind === APPROVAL_KINDS.nodeReached) ||
      (h.source === OFFERS_SOURCE && ENDS_APPROVAL.has(h.kind)),
    async handle(record, ctx) {
      const p = record.payload as { [key: string]: JsonValue };
      const spNo = str(p, 'sp_no');
      const offerId = str(p, 'offer_id');
      const candidateId = str(p, 'candidate_id');
      if (!spNo || !offerId || !candidateId) {
        ctx.log.info({ seq: record.seq, kind: record.kind }, 'approval record without sp_no: no approval reminders');
        return;
      }
      const subject = REMINDER_SUBJECTS.approval(spNo);
      const stream = REMINDER_STREAMS.candidate(candidateId);
      const at = new Date((deps.now ?? Date.now)());
      const cause = { seq: record.seq, kind: record.kind };

      if (record.kind !== APPROVAL_KINDS.nodeReached) {
        // The approval ended: nothing waits at any of its nodes any more.
        await ctx.transact(async (tx) => ({
          result: null,
          entries: await cancelReminders(tx, ctx.corpId, subject, cause, at, IDLE_TYPES),
        }));
        return;
      }

      const nodeIndex = int(p, 'node_index');
      const nodeStep = int(p, 'node_step');
      const reachedText = str(p, 'reached_at');
      const version = int(p, 'version');
      if (nodeIndex === null || nodeStep === null || !reachedText || version === null) {
        ctx.log.error({ seq: record.seq }, 'approval.node_reached without its node: no reminders');
        return;
      }
      const reachedAt = new Date(reachedText);
      const approvers = strings(p['approvers']);
      const applicant = str(p, 'applicant') ?? '';
      const hrbps = strings(p['hrbps']);
      let planned;
      try {
        planned = approvalIdleReminders({ reachedAt, approvers, applicant, hrbps });
      } catch (err) {
        if (!(err instanceof CalendarYearMissingError)) throw err;
        // Never guessed: recorded, and the node's older reminders still cancelled (it did move on).
        ctx.log.error({ seq: record.seq, year: err.year }, err.message);
        await ctx.transact(async (tx) => ({
          result: null,
          entries: [
            ...(await cancelReminders(tx, ctx.corpId, subject, cause, at, IDLE_TYPES, [nodeIndex, nodeStep])),
            notScheduledEntry(stream, cause, REMINDER_TYPES.approvalIdleApprover, subject, err, at),
          ],
          allowDuplicates: true,
        }));
        return;
      }
      const since = shanghaiText(reachedAt);
      const ref = `offer ${offerId.slice(0, 11)}（审批单 ${spNo}）`;
      const who = approvers.join('、');
      const node = { node_index: nodeIndex, node_step: nodeStep, offer_id: offerId, candidate_id: candidateId, sp_no: spNo };
      const reminders: NewReminder[] = planned.map((r) => ({
        ...r,
        subject,
        stream,
        causeSeq: record.seq,
        body: {
          ...node,
          content:
            r.type === REMINDER_TYPES.approvalIdleApprover
              ? `【offer 审批待处理】候选人 ${candidateId} 的 ${ref} 自 ${since}（北京时间）起在您处等待审批，已超过 1 个工作日。请在企业微信「审批」中处理。`
              : `【offer 审批停滞】候选人 ${candidateId} 的 ${ref} 自 ${since}（北京时间）起停在审批人 ${who} 处，已超过 2 个工作日。请知悉并协助跟进。`,
        },
      }));

      const { result } = await ctx.transact(async (tx) => {
        // Records reach consumers in any order and a replay sees old ones: a node already passed (a
        // later node has reminders) or an approval no longer pending gets none. The offer's row is
        // read FOR SHARE, so an outcome recorded meanwhile waits for this commit and its record then
        // cancels what was made here.
        const { rows: later } = await tx.query(
          `SELECT 1 FROM reminders WHERE corp_id = $1 AND subject = $2 AND kind = ANY($3)
              AND ((body->>'node_index')::int, (body->>'node_step')::int) > ($4::int, $5::int) LIMIT 1`,
          [ctx.corpId, subject, IDLE_TYPES, nodeIndex, nodeStep],
        );
        const { rows: open } = await tx.query<{ approval_status: string; approval_sp_no: string | null }>(
          `SELECT v.approval_status, v.approval_sp_no FROM offers o
             JOIN offer_versions v ON v.offer_id = o.id AND v.version = $3
            WHERE o.corp_id = $1 AND o.id = $2 FOR SHARE OF o`,
          [ctx.corpId, offerId, version],
        );
        const v = open[0];
        // The SpNo is bound to the version just after its submission is recorded: not bound yet is still this approval.
        const pending = v?.approval_status === 'pending' && (v.approval_sp_no === null || v.approval_sp_no === spNo);
        const entries = await cancelReminders(tx, ctx.corpId, subject, cause, at, IDLE_TYPES, [nodeIndex, nodeStep]);
        if (later.length > 0 || !pending) {
          ctx.log.info(
            { spNo, seq: record.seq, pending, passed: later.length > 0 },
            'approval node no longer current: no reminders',
          );
          return { result: [], entries };
        }
        const made = await insertReminders(tx, ctx.corpId, reminders, at);
        return { result: made.rows, entries: [...entries, ...made.entries] };
      });
      await arm(result, ctx.log);
    },
  };
}
