/**
 * The approvals module (issue 10, item 3): who approves an offer version (editable rules and role
 * assignments in PostgreSQL), its submission to WeCom approval (oa/applyevent) exactly once, the
 * sys_approval_change callbacks that move the offer, and the reconciliation that heals a lost
 * callback. docs/approvals.md explains the rules, the defaults, the form and the guarantees.
 */
import type { Pool } from 'pg';
import type { JsonValue } from '../evidence';
import type { Logger } from '../observability/logger';
import { approvalStatusOfSpStatus, OFFER_KINDS, OFFERS_SOURCE, type OfferContent, type Offers } from '../offers';
import type { HireLedgerModule, LedgerConsumer } from '../platform/module';
import type { OaApi } from '../wecom/api';
import type { ApprovalChange } from '../wecom/callbacks';
import { type OfferControls } from './form';
import { APPROVAL_CONSUMERS, APPROVAL_JOBS, APPROVALS_MODULE } from './names';
import { nodeOfCallback, nodeReachedEntry, type NodeReachedFacts } from './nodes';
import { reconcile, type ReconcileDeps, type ReconcileSummary } from './reconcile';
import { loadAssignments } from './routing';
import { createSubmitter, type SubmitDeps, type SubmitRequest } from './submit';

export interface ApprovalsDeps {
  db: Pick<Pool, 'query' | 'connect'>;
  /** The ledger's decision path (`ledger.transact`). */
  transact: SubmitDeps['transact'];
  offers: Pick<Offers, 'bindApproval' | 'recordApprovalOutcome'>;
  oa: Pick<OaApi, 'applyEvent' | 'getApprovalInfo' | 'getApprovalDetail'>;
  /** WECOM_OFFER_TEMPLATE_ID and the parsed WECOM_OFFER_CONTROLS (parseOfferControls). */
  templateId: string;
  controls: OfferControls;
  /** How often reconciliation runs (ms); default 5 minutes. */
  reconcileEveryMs?: number;
  now?: () => number;
  /** Tests only (see SubmitDeps). */
  afterApplyEvent?: SubmitDeps['afterApplyEvent'];
}

export interface ApprovalsModule extends HireLedgerModule {
  submitter: ReturnType<typeof createSubmitter>;
  /** One run of the reconciliation job: unrecorded submissions found, then lost outcomes healed. */
  reconcile(corpId: string, log: Logger): Promise<ReconcileSummary & { foundByLookup: number }>;
}

interface SubmissionOfSpNo {
  offer_id: string;
  version: number;
  content_sha256: string;
  creator_userid: string;
  candidate_id: string;
  department: string | null;
}

/** The one member whose act the event reports (approve/reject), lower-cased; null for revocations. */
function actorOf(e: ApprovalChange): string | null {
  let best: { userId: string; at: number } | null = null;
  for (const n of e.nodes) {
    for (const s of n.steps) {
      if (s.actedAt !== null && (s.status === 2 || s.status === 3) && (!best || s.actedAt >= best.at)) {
        best = { userId: s.userId, at: s.actedAt };
      }
    }
  }
  return best ? best.userId.toLowerCase() : null;
}

/** The submission an `offer.approval_requested` record asks for. */
export function submitRequestOf(corpId: string, payload: JsonValue): SubmitRequest {
  const p = payload as { [key: string]: JsonValue };
  return {
    corpId,
    offerId: p['offer_id'] as string,
    candidateId: p['candidate_id'] as string,
    version: p['version'] as number,
    contentSha256: p['content_sha256'] as string,
    content: p['content'] as OfferContent,
    creator: (p['actor'] as string).toLowerCase(),
    requestStep: p['step'] as number,
  };
}

export function createApprovalsModule(deps: ApprovalsDeps): ApprovalsModule {
  const now = deps.now ?? Date.now;
  const submitter = createSubmitter({ ...deps, now });
  const reconcileDeps: ReconcileDeps = { ...deps, now };

  async function nodeFacts(
    s: SubmissionOfSpNo,
    spNo: string,
    corpId: string,
    via: NodeReachedFacts['via'],
    callbackSeq: number | null,
  ): Promise<NodeReachedFacts> {
    const hrbps = (await loadAssignments(deps.db, corpId, s.department ?? '*')).get('hrbp') ?? [];
    return {
      offerId: s.offer_id,
      candidateId: s.candidate_id,
      version: s.version,
      spNo,
      applicant: s.creator_userid,
      hrbps,
      via,
      callbackSeq,
    };
  }

  const submitConsumer: LedgerConsumer = {
    accepts: (h) => h.kind === OFFER_KINDS.approvalRequested && h.source === OFFERS_SOURCE,
    async handle(record, ctx) {
      const outcome = await submitter.submit(submitRequestOf(ctx.corpId, record.payload), ctx.log);
      ctx.log.info({ seq: record.seq, ...outcome }, 'offer approval submission');
    },
  };

  return {
    name: APPROVALS_MODULE,
    callbackHandlers: {
      'event.sys_approval_change': async (cb, ctx) => {
        const e = cb.event;
        const status = approvalStatusOfSpStatus(e.spStatus);
        // Still in progress (提单, a node-level 同意, 转审): the node it waits at now, for the idle reminders.
        const waiting = status === null ? nodeOfCallback(e, cb.occurredAt) : null;
        // 催办, 备注 and the like on an approval that waits nowhere: nothing.
        if (status === null && waiting === null) return;
        const { rows } = await deps.db.query<SubmissionOfSpNo>(
          `SELECT s.offer_id, s.version, s.content_sha256, s.creator_userid, o.candidate_id,
                  v.content->>'department' AS department
             FROM approval_submissions s
             JOIN offers o ON o.id = s.offer_id
             JOIN offer_versions v ON v.offer_id = s.offer_id AND v.version = s.version
            WHERE s.corp_id = $1 AND s.sp_no = $2`,
          [ctx.corpId, e.spNo],
        );
        const s = rows[0];
        if (!s) {
          // An offer form whose submission is not recorded yet (WeCom answered, the record is on its
          // way, or a doubt is being looked up): retried, so the outcome is not lost. Reconciliation
          // heals it anyway should the retries run out.
          if (e.templateId === deps.templateId) {
            const { rows: doubts } = await deps.db.query(
              `SELECT 1 FROM approval_submissions
                WHERE corp_id = $1 AND state = 'intent' AND attempts > 0 AND intent_at > $2 LIMIT 1`,
              // A doubt older than an hour is reconciliation's (resolveDoubts), no reason to hold callbacks.
              [ctx.corpId, new Date(now() - 3600_000)],
            );
            if (doubts.length > 0) throw new Error(`approval ${e.spNo}: an offer submission is not recorded yet; retried`);
          }
          // Another form (leave, travel), or an offer form HireLedger did not file: not an offer's outcome.
          ctx.log.info({ spNo: e.spNo, seq: cb.seq }, 'approval change of a form that is not an offer submission');
          return;
        }
        if (status === null) {
          if (!waiting) return;
          const facts = await nodeFacts(s, e.spNo, ctx.corpId, 'callback', cb.seq);
          // Keyed by (SpNo, node, step): a redelivery or reconciliation's reading of the same state adds nothing.
          await ctx.transact(async () => ({
            result: null,
            entries: [nodeReachedEntry(facts, waiting, new Date(now()))],
            allowDuplicates: true,
          }));
          ctx.log.info(
            { spNo: e.spNo, seq: cb.seq, node: waiting.nodeIndex, approvers: waiting.approvers },
            'approval node reached',
          );
          return;
        }
        const approver = status === 'approved' || status === 'rejected' ? actorOf(e) : null;
        const result = await deps.offers.recordApprovalOutcome(
          { corpId: ctx.corpId, offerId: s.offer_id, version: s.version, contentSha256: s.content_sha256 },
          e.spNo,
          status,
          { ...(approver ? { approver } : {}), at: cb.occurredAt },
        );
        ctx.log.info({ spNo: e.spNo, seq: cb.seq, status, ...result }, 'approval outcome from callback');
      },
    },
    consumers: { [APPROVAL_CONSUMERS.submit]: submitConsumer },
    jobs: {
      [APPROVAL_JOBS.reconcile]: {
        schedule: { every: deps.reconcileEveryMs ?? 5 * 60 * 1000 },
        async process(_data, ctx) {
          const found = await submitter.resolveDoubts(ctx.corpId, ctx.log);
          const summary = await reconcile(reconcileDeps, ctx.corpId, ctx.log);
          return { checked: summary.checked, healed: summary.healed, found_by_lookup: found.length };
        },
      },
    },
    submitter,
    async reconcile(corpId, log) {
      const found = await submitter.resolveDoubts(corpId, log);
      return { ...(await reconcile(reconcileDeps, corpId, log)), foundByLookup: found.length };
    },
  };
}

export { applyContents, formIdentity, FormConfigError, HASH_LABEL, parseOfferControls, type OfferControls } from './form';
export {
  APPROVAL_CONSUMERS,
  APPROVAL_JOBS,
  APPROVAL_KINDS,
  APPROVAL_SOURCE_REFS,
  APPROVALS_MODULE,
  APPROVALS_SOURCE,
} from './names';
export { nodeOfCallback, nodeOfDetail, type NodeReached } from './nodes';
export { deciderOf, reconcile, type ReconcileSummary } from './reconcile';
export {
  chooseRoute,
  hrbpsFromAssignments,
  loadAssignments,
  loadRules,
  parseConditions,
  ROLE_NAMES,
  ROLES,
  routeFor,
  RoutingError,
  saveRoleAssignment,
  saveRule,
  setUseTemplateApprover,
  useTemplateApprover,
  type Band,
  type Condition,
  type Role,
  type Route,
  type Rule,
} from './routing';
export { createSubmitter, type SubmitOutcome, type SubmitRequest, type Submitter } from './submit';
