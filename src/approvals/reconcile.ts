/**
 * Reconciliation: approvals HireLedger still believes pending (or approved and unsent, where a
 * revocation after approval could be lost) are read from WeCom (oa/getapprovaldetail); an outcome
 * whose callback never arrived is applied through `offers.recordApprovalOutcome`, and the healing
 * is recorded (approval.reconciled) on the candidate's stream.
 */
import type { Pool, PoolClient } from 'pg';
import type { Decision } from '../evidence';
import type { Logger } from '../observability/logger';
import { approvalStatusOfSpStatus, type Offers } from '../offers';
import { WecomApiError, type ApprovalDetail, type OaApi } from '../wecom/api';
import { formIdentity, type OfferControls } from './form';
import { APPROVAL_KINDS, APPROVAL_SOURCE_REFS, APPROVAL_STREAMS, APPROVALS_SOURCE } from './names';
import { nodeOfDetail, nodeReachedEntry, type NodeReachedFacts } from './nodes';
import { loadAssignments } from './routing';

export interface ReconcileDeps {
  db: Pick<Pool, 'query'>;
  transact: <T>(work: (tx: PoolClient) => Promise<Decision<T>>) => Promise<{ result: T }>;
  offers: Pick<Offers, 'recordApprovalOutcome'>;
  oa: Pick<OaApi, 'getApprovalDetail'>;
  controls: OfferControls;
  now: () => number;
}

export interface ReconcileSummary {
  checked: number;
  healed: number;
  /** Approvals WeCom would not show this time (each logged; the others were still checked). */
  failed: number;
}

/** The approver whose act decided the form: the latest acted step with the form's outcome, lower-cased. */
export function deciderOf(info: ApprovalDetail): { userid: string; at: Date } | null {
  let best: { userid: string; at: number } | null = null;
  for (const node of info.sp_record ?? []) {
    for (const d of node.details ?? []) {
      if (d.sptime > 0 && (d.sp_status === 2 || d.sp_status === 3) && (!best || d.sptime >= best.at)) {
        best = { userid: d.approver.userid.toLowerCase(), at: d.sptime };
      }
    }
  }
  return best ? { userid: best.userid, at: new Date(best.at * 1000) } : null;
}

export async function reconcile(deps: ReconcileDeps, corpId: string, log: Logger, limit = 100): Promise<ReconcileSummary> {
  const { rows } = await deps.db.query<{
    offer_id: string;
    candidate_id: string;
    version: number;
    request_step: number;
    sp_no: string;
    content_sha256: string;
    approval_status: string;
    creator_userid: string;
    department: string | null;
  }>(
    `SELECT s.offer_id, o.candidate_id, s.version, s.request_step, s.sp_no, s.content_sha256, v.approval_status,
            s.creator_userid, v.content->>'department' AS department
       FROM approval_submissions s
       JOIN offer_versions v ON v.offer_id = s.offer_id AND v.version = s.version AND v.approval_sp_no = s.sp_no
       JOIN offers o ON o.id = s.offer_id
      WHERE s.corp_id = $1 AND s.state = 'submitted'
        AND (v.approval_status = 'pending' OR (v.approval_status = 'approved' AND o.state = 'approved'))
      ORDER BY s.checked_at NULLS FIRST, s.submitted_at
      LIMIT $2`,
    [corpId, limit],
  );
  let healed = 0;
  const failures: Error[] = [];
  for (const r of rows) {
    let info: Awaited<ReturnType<ReconcileDeps['oa']['getApprovalDetail']>>['info'];
    try {
      ({ info } = await deps.oa.getApprovalDetail(r.sp_no));
    } catch (err) {
      // One approval WeCom will not show (deleted, another corp's, a bad SpNo) must not stop the
      // others: it is put at the back of the queue (checked_at) and the next one is looked at.
      failures.push(err instanceof Error ? err : new Error(String(err)));
      log.warn({ offerId: r.offer_id, spNo: r.sp_no, err: (err as Error).message }, 'approval could not be reconciled');
      await deps.db.query('UPDATE approval_submissions SET checked_at = $1 WHERE offer_id = $2 AND request_step = $3', [
        new Date(deps.now()),
        r.offer_id,
        r.request_step,
      ]);
      continue;
    }
    await deps.db.query('UPDATE approval_submissions SET checked_at = $1 WHERE offer_id = $2 AND request_step = $3', [
      new Date(deps.now()),
      r.offer_id,
      r.request_step,
    ]);
    const status = approvalStatusOfSpStatus(info.sp_status);
    if (status === null && r.approval_status === 'pending') {
      // Still waiting: where, so a lost node callback still starts (and moves) the idle reminders.
      const waiting = nodeOfDetail(info, new Date(deps.now()));
      if (waiting) {
        const hrbps = (await loadAssignments(deps.db, corpId, r.department ?? '*')).get('hrbp') ?? [];
        const facts: NodeReachedFacts = {
          offerId: r.offer_id,
          candidateId: r.candidate_id,
          version: r.version,
          spNo: r.sp_no,
          applicant: r.creator_userid,
          hrbps,
          via: 'reconciliation',
          callbackSeq: null,
        };
        // Already recorded from its callback: a duplicate, nothing added.
        await deps.transact(async () => ({
          result: null,
          entries: [nodeReachedEntry(facts, waiting, new Date(deps.now()))],
          allowDuplicates: true,
        }));
      }
      continue;
    }
    if (status === null || status === r.approval_status) continue;
    // The hash the approver was shown is the one in the form; a form without it cannot approve this content.
    const id = formIdentity(info, deps.controls);
    const reported = id && id.offerId === r.offer_id && id.version === r.version ? id.sha : '0'.repeat(64);
    const decider = deciderOf(info);
    const result = await deps.offers.recordApprovalOutcome(
      { corpId, offerId: r.offer_id, version: r.version, contentSha256: reported },
      r.sp_no,
      status,
      decider && status !== 'revoked' && status !== 'revoked_after_approval' ? { approver: decider.userid, at: decider.at } : {},
    );
    // A callback handled meanwhile already applied it: nothing was healed.
    if (result.duplicate) continue;
    healed += 1;
    log.warn({ offerId: r.offer_id, spNo: r.sp_no, status }, 'approval outcome applied by reconciliation (callback lost)');
    await deps.transact(async () => ({
      result: null,
      entries: [
        {
          stream: APPROVAL_STREAMS.candidate(r.candidate_id),
          kind: APPROVAL_KINDS.reconciled,
          occurredAt: new Date(deps.now()),
          actor: 'hireledger',
          source: APPROVALS_SOURCE,
          sourceRef: APPROVAL_SOURCE_REFS.reconciled(r.sp_no, status),
          payload: {
            offer_id: r.offer_id,
            candidate_id: r.candidate_id,
            version: r.version,
            sp_no: r.sp_no,
            sp_status: info.sp_status,
            approval_status: status,
            content_sha256: r.content_sha256,
            reported_content_sha256: reported,
            applied: result.applied,
            why: result.why ?? null,
            offer_state: result.state,
            healed_by: 'reconciliation',
          },
          raw: null,
        },
      ],
    }));
  }
  // Nothing could be read, and not because WeCom answered about each approval itself (WeCom
  // unreachable, the token or the IP refused): the job fails and its policy decides. An approval
  // error (301xxx: a deleted or foreign SpNo) for every one is logged above, not a failure of the job.
  const aboutTheApproval = (e: Error) => e instanceof WecomApiError && e.errcode >= 301000 && e.errcode < 302000;
  const unanswered = failures.find((e) => !aboutTheApproval(e));
  if (rows.length > 0 && failures.length === rows.length && unanswered !== undefined) throw unanswered;
  return { checked: rows.length, healed, failed: failures.length };
}
