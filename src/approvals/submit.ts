/**
 * Submission of an offer version to WeCom approval (oa/applyevent), at most once per request.
 *
 * WeCom has no idempotency key, so: (1) the intent and the route are committed first (a row in
 * approval_submissions and an approval.routed record); (2) the attempt counter is raised and
 * committed BEFORE the request; (3) the SpNo is recorded (approval.submitted) and bound to the
 * version. A row with attempts > 0 and no SpNo is a doubt (a crash, a timeout): the approval is
 * looked up (getapprovalinfo over the window since the intent, then getapprovaldetail, matching
 * the offer, version and content hash in the form) before anything is submitted again. Two jobs for
 * the same offer never run this at once: a PostgreSQL advisory lock per offer serialises them.
 */
import type { Pool, PoolClient } from 'pg';
import type { Decision, EvidenceEntry, JsonValue } from '../evidence';
import type { Logger } from '../observability/logger';
import type { OfferContent, Offers, OfferVersionRef } from '../offers';
import type { ApplyEventRequest, OaApi } from '../wecom/api';
import { WecomApiError, WecomRateLimitedError } from '../wecom/api';
import { applyContents, formIdentity, FormConfigError, type OfferControls } from './form';
import { APPROVAL_KINDS, APPROVAL_SOURCE_REFS, APPROVAL_STREAMS, APPROVALS_SOURCE } from './names';
import { routeFor, RoutingError, useTemplateApprover, type Route } from './routing';

type Transact = <T>(work: (tx: PoolClient) => Promise<Decision<T>>) => Promise<{ result: T }>;

export interface SubmitDeps {
  db: Pick<Pool, 'query' | 'connect'>;
  transact: Transact;
  offers: Pick<Offers, 'bindApproval'>;
  oa: Pick<OaApi, 'applyEvent' | 'getApprovalInfo' | 'getApprovalDetail'>;
  templateId: string;
  controls: OfferControls;
  now: () => number;
  /** Tests only: runs right after WeCom answered applyevent, before anything is recorded (a crash there). */
  afterApplyEvent?: (spNo: string) => Promise<void>;
}

export interface SubmitRequest {
  corpId: string;
  offerId: string;
  candidateId: string;
  version: number;
  contentSha256: string;
  content: OfferContent;
  /** Who handed the version to approval: the approval's applicant in WeCom. */
  creator: string;
  /** The offers.steps number of the offer.approval_requested record. */
  requestStep: number;
}

export type SubmitOutcome =
  | { outcome: 'submitted'; spNo: string }
  | { outcome: 'found_by_lookup'; spNo: string }
  | { outcome: 'already_submitted'; spNo: string }
  | { outcome: 'not_pending' }
  | { outcome: 'failed'; error: string };

interface SubmissionRow {
  state: 'intent' | 'submitted' | 'failed';
  attempts: number;
  sp_no: string | null;
  intent_at: Date;
  template_id: string;
}

/** WeCom errors that may pass: retried (with the attempt counted, so the retry looks up first). */
const TRANSIENT = new Set([-1, 301057]);

function lockKey(offerId: string): string {
  return `approvals.submit:${offerId}`;
}

export function createSubmitter(deps: SubmitDeps) {
  const at = () => new Date(deps.now());

  /** The intent to submit this request, before anything else about it (a refused route too). */
  async function insertIntent(tx: PoolClient, r: SubmitRequest): Promise<void> {
    await tx.query(
      `INSERT INTO approval_submissions (corp_id, offer_id, version, request_step, content_sha256, creator_userid, template_id, state, intent_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'intent', $8)`,
      [r.corpId, r.offerId, r.version, r.requestStep, r.contentSha256, r.creator, deps.templateId, at()],
    );
  }

  async function row(r: SubmitRequest): Promise<SubmissionRow | null> {
    const { rows } = await deps.db.query<SubmissionRow>(
      'SELECT state, attempts, sp_no, intent_at, template_id FROM approval_submissions WHERE offer_id = $1 AND request_step = $2',
      [r.offerId, r.requestStep],
    );
    return rows[0] ?? null;
  }

  /**
   * The version still waits for exactly this request's approval. A later request of the same
   * version (after a rejection) has an applied outcome between the two steps: from
   * pending_approval only an approval outcome leads out (docs/offers.md), so that outcome's step
   * tells an old request from the current one without reading the ledger.
   */
  async function stillPending(r: SubmitRequest): Promise<boolean> {
    const { rows } = await deps.db.query<{ ok: boolean }>(
      `SELECT (o.state = 'pending_approval' AND o.current_version = $3 AND v.approval_status = 'pending'
               AND v.approval_sp_no IS NULL AND v.content_sha256 = $4
               AND NOT EXISTS (SELECT 1 FROM offer_approval_outcomes x WHERE x.offer_id = o.id AND x.applied AND x.step > $5)
               AND NOT EXISTS (SELECT 1 FROM approval_submissions s WHERE s.offer_id = o.id AND s.request_step > $5)) AS ok
         FROM offers o JOIN offer_versions v ON v.offer_id = o.id AND v.version = $3
        WHERE o.corp_id = $1 AND o.id = $2`,
      [r.corpId, r.offerId, r.version, r.contentSha256, r.requestStep],
    );
    return rows[0]?.ok === true;
  }

  function entry(r: SubmitRequest, kind: string, sourceRef: string, payload: { [k: string]: JsonValue }): EvidenceEntry {
    return {
      stream: APPROVAL_STREAMS.candidate(r.candidateId),
      kind,
      occurredAt: at(),
      actor: 'hireledger',
      source: APPROVALS_SOURCE,
      sourceRef,
      payload: {
        offer_id: r.offerId,
        candidate_id: r.candidateId,
        version: r.version,
        content_sha256: r.contentSha256,
        request_step: r.requestStep,
        ...payload,
      },
      raw: null,
    };
  }

  const ref = (r: SubmitRequest): OfferVersionRef => ({
    corpId: r.corpId,
    offerId: r.offerId,
    version: r.version,
    contentSha256: r.contentSha256,
  });

  async function recordSubmitted(r: SubmitRequest, spNo: string, how: 'submitted' | 'found_by_lookup', attempts: number) {
    await deps.transact(async (tx) => {
      await tx.query(
        `UPDATE approval_submissions SET state = 'submitted', sp_no = $1, submitted_at = $2, error = NULL
          WHERE offer_id = $3 AND request_step = $4`,
        [spNo, at(), r.offerId, r.requestStep],
      );
      return {
        result: null,
        entries: [
          entry(r, APPROVAL_KINDS.submitted, APPROVAL_SOURCE_REFS.submitted(r.offerId, r.requestStep), {
            sp_no: spNo,
            how,
            attempts,
            template_id: deps.templateId,
          }),
        ],
      };
    });
    await deps.offers.bindApproval(ref(r), spNo);
  }

  async function recordFailed(r: SubmitRequest, error: string, detail: { [k: string]: JsonValue }) {
    await deps.transact(async (tx) => {
      await tx.query(`UPDATE approval_submissions SET state = 'failed', error = $1 WHERE offer_id = $2 AND request_step = $3`, [
        error,
        r.offerId,
        r.requestStep,
      ]);
      return {
        result: null,
        entries: [
          entry(r, APPROVAL_KINDS.submitFailed, APPROVAL_SOURCE_REFS.submitFailed(r.offerId, r.requestStep), {
            error,
            ...detail,
          }),
        ],
      };
    });
  }

  /** The WeCom approval this request already created, if any: its form names this offer, version and hash. */
  async function lookUp(r: SubmitRequest, s: SubmissionRow): Promise<string | null> {
    const nowSec = Math.floor(deps.now() / 1000);
    // From a little before the intent (clock skew) to now; WeCom allows at most 31 days.
    const start = Math.max(Math.floor(s.intent_at.getTime() / 1000) - 300, nowSec - 31 * 86400 + 60);
    const { rows: known } = await deps.db.query<{ sp_no: string }>(
      'SELECT sp_no FROM approval_submissions WHERE offer_id = $1 AND sp_no IS NOT NULL',
      [r.offerId],
    );
    const taken = new Set(known.map((k) => k.sp_no));
    let cursor: string | undefined;
    do {
      const page = await deps.oa.getApprovalInfo({
        starttime: start,
        endtime: nowSec + 60,
        size: 100,
        ...(cursor ? { new_cursor: cursor } : {}),
        filters: [
          { key: 'template_id', value: s.template_id },
          { key: 'creator', value: r.creator },
        ],
      });
      for (const spNo of page.sp_no_list) {
        if (taken.has(spNo)) continue;
        const { info } = await deps.oa.getApprovalDetail(spNo);
        const id = formIdentity(info, deps.controls);
        if (id && id.offerId === r.offerId && id.version === r.version && id.sha === r.contentSha256) return spNo;
      }
      cursor = page.new_next_cursor;
    } while (cursor);
    return null;
  }

  function request(r: SubmitRequest, route: Route, template: boolean): ApplyEventRequest {
    return {
      creator_userid: r.creator,
      template_id: deps.templateId,
      use_template_approver: template ? 1 : 0,
      // 依次审批: each node one approver group, 或签 within (apv_rel 2), in the route's order.
      ...(template
        ? {}
        : { process: { node_list: route.nodes.map((n) => ({ type: 1 as const, apv_rel: 2 as const, userid: n.userids })) } }),
      apply_data: {
        contents: applyContents(deps.controls, {
          content: r.content,
          sha: r.contentSha256,
          offerId: r.offerId,
          version: r.version,
          candidateId: r.candidateId,
        }),
      },
      summary_list: [
        { summary_info: [{ text: `月薪 ${r.content.base_monthly_yuan} 元`.slice(0, 20), lang: 'zh_CN' }] },
        { summary_info: [{ text: `职级 ${r.content.level}`.slice(0, 20), lang: 'zh_CN' }] },
        { summary_info: [{ text: `哈希 ${r.contentSha256.slice(0, 12)}`, lang: 'zh_CN' }] },
      ],
    };
  }

  async function underLock(r: SubmitRequest, log: Logger): Promise<SubmitOutcome> {
    let s = await row(r);
    if (s?.state === 'submitted' && s.sp_no) {
      // Recorded but perhaps not bound (a crash between the two); never bind an old request's SpNo to a later one.
      if (await stillPending(r)) await deps.offers.bindApproval(ref(r), s.sp_no);
      return { outcome: 'already_submitted', spNo: s.sp_no };
    }
    if (s?.state === 'failed') return { outcome: 'failed', error: 'recorded before' };
    if (!(await stillPending(r))) return { outcome: 'not_pending' };

    const template = await useTemplateApprover(deps.db, r.corpId);
    let route: Route;
    let body: ApplyEventRequest;
    try {
      route = await routeFor(deps.db, r.corpId, r.content);
      // Built before any attempt: a form the template cannot hold (a level without an option) is refused, not retried.
      body = request(r, route, template);
    } catch (err) {
      if (!(err instanceof RoutingError) && !(err instanceof FormConfigError)) throw err;
      if (!s) {
        await deps.transact(async (tx) => {
          await insertIntent(tx, r);
          return { result: null, entries: [] };
        });
      }
      await recordFailed(r, err.message, { stage: err instanceof RoutingError ? 'routing' : 'form' });
      return { outcome: 'failed', error: err.message };
    }

    if (!s) {
      // The intent and the route, committed before WeCom hears anything.
      await deps.transact(async (tx) => {
        await insertIntent(tx, r);
        return {
          result: null,
          entries: [
            entry(r, APPROVAL_KINDS.routed, APPROVAL_SOURCE_REFS.routed(r.offerId, r.requestStep), {
              use_template_approver: template,
              approvers: route.nodes.map((n) => ({ role: n.role, userids: n.userids })),
              rules: route.rules,
              above_band_pct: route.aboveBandPct === null ? null : String(route.aboveBandPct),
              base_monthly_yuan: r.content.base_monthly_yuan,
              level: r.content.level,
              department: r.content.department,
            }),
          ],
        };
      });
      s = (await row(r))!;
    }

    if (s.attempts > 0) {
      // An attempt was made and its answer never recorded: find it before submitting again.
      const found = await lookUp(r, s);
      if (found) {
        log.warn(
          { offerId: r.offerId, spNo: found },
          'approval found by look-up after an unrecorded attempt: not submitted again',
        );
        await recordSubmitted(r, found, 'found_by_lookup', s.attempts);
        return { outcome: 'found_by_lookup', spNo: found };
      }
    }

    await deps.db.query('UPDATE approval_submissions SET attempts = attempts + 1 WHERE offer_id = $1 AND request_step = $2', [
      r.offerId,
      r.requestStep,
    ]);
    let spNo: string;
    try {
      spNo = (await deps.oa.applyEvent(body)).sp_no;
    } catch (err) {
      if (err instanceof WecomApiError && !(err instanceof WecomRateLimitedError) && !TRANSIENT.has(err.errcode)) {
        // WeCom refused it for good (an unknown approver, a bad form): nothing was created.
        await recordFailed(r, `${err.errcode} ${err.hint}`, { stage: 'applyevent', errcode: err.errcode });
        return { outcome: 'failed', error: err.message };
      }
      // A timeout may have created it: the retry looks it up first (attempts > 0).
      throw err;
    }
    if (deps.afterApplyEvent) await deps.afterApplyEvent(spNo);
    await recordSubmitted(r, spNo, 'submitted', s.attempts + 1);
    return { outcome: 'submitted', spNo };
  }

  async function locked<T>(offerId: string, work: () => Promise<T>): Promise<T> {
    const client = await deps.db.connect();
    try {
      await client.query('SELECT pg_advisory_lock(hashtext($1))', [lockKey(offerId)]);
      try {
        return await work();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey(offerId)]);
      }
    } finally {
      client.release();
    }
  }

  return {
    submit: (r: SubmitRequest, log: Logger): Promise<SubmitOutcome> => locked(r.offerId, () => underLock(r, log)),

    /**
     * Doubts whose job gave up (attempts made, no SpNo recorded, older than `olderThanMs`): look the
     * approval up and record it when found. Never submits: that stays the consumer's, which a person
     * can retry. Returns the SpNos found.
     */
    async resolveDoubts(corpId: string, log: Logger, olderThanMs = 10 * 60 * 1000): Promise<string[]> {
      const { rows } = await deps.db.query<{
        offer_id: string;
        candidate_id: string;
        version: number;
        request_step: number;
        content_sha256: string;
        content: OfferContent;
        creator_userid: string;
      }>(
        `SELECT s.offer_id, o.candidate_id, s.version, s.request_step, s.content_sha256, v.content, s.creator_userid
           FROM approval_submissions s
           JOIN offers o ON o.id = s.offer_id
           JOIN offer_versions v ON v.offer_id = s.offer_id AND v.version = s.version
          WHERE s.corp_id = $1 AND s.state = 'intent' AND s.attempts > 0 AND s.intent_at < $2
          ORDER BY s.intent_at LIMIT 50`,
        [corpId, new Date(deps.now() - olderThanMs)],
      );
      const found: string[] = [];
      for (const d of rows) {
        const r: SubmitRequest = {
          corpId,
          offerId: d.offer_id,
          candidateId: d.candidate_id,
          version: d.version,
          contentSha256: d.content_sha256,
          content: d.content,
          creator: d.creator_userid,
          requestStep: d.request_step,
        };
        const spNo = await locked(r.offerId, async () => {
          const s = await row(r);
          if (s?.state !== 'intent' || s.attempts === 0 || !(await stillPending(r))) return null;
          const sp = await lookUp(r, s);
          if (sp) await recordSubmitted(r, sp, 'found_by_lookup', s.attempts);
          return sp;
        });
        if (spNo) {
          log.warn({ offerId: r.offerId, spNo }, 'unrecorded approval found by reconciliation');
          found.push(spNo);
        }
      }
      return found;
    },
  };
}

export type Submitter = ReturnType<typeof createSubmitter>;
