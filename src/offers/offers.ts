import { randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { AppendResult, Decision, EvidenceEntry, JsonValue } from '../evidence';
import { HIRELEDGER_ACTOR } from '../platform/names';
import { memberUserId } from '../wecom/names';
import {
  beijingTime,
  contentSha256,
  diffContent,
  diffText,
  offerContent,
  shanghaiDate,
  termsOf,
  type OfferContent,
  type OfferTerms,
} from './content';
import { OfferGateError, OfferInputError, OfferNotFoundError, OfferStateError, type GateRefusal } from './errors';
import { isLegal, TERMINAL_STATES, TRANSITIONS, type OfferAction, type OfferState } from './machine';
import { OFFER_ID, OFFER_KINDS, OFFER_SOURCE_REFS, OFFER_STREAMS, OFFERS_SOURCE } from './names';

/**
 * The offers domain: every change of an offer is one decision through the ledger (`transact`): the
 * offers row is locked FOR UPDATE, the action is checked against the state machine (machine.ts) and
 * its own rules, the rows are written and the record that justifies them is returned, and both
 * commit together or neither does. Two concurrent actions on one offer queue on the row lock: the
 * second sees the state the first left and is refused when its action is no longer legal. Each
 * record's source_ref is `offer:<id>:<n>` from the row's step counter, so even a lost lock could not
 * make two records of one step (the ledger refuses the duplicate and rolls back).
 */

type Transact = <T>(work: (tx: PoolClient) => Promise<Decision<T>>) => Promise<{ result: T; records: AppendResult[] }>;

export interface OffersDeps {
  /** Reads (views); every write goes through `transact`. */
  db: Pick<Pool, 'query'>;
  /** The ledger's decision path (`ledger.transact`). */
  transact: Transact;
  /** Whether a member is an HRBP of the corp: a rescind needs an HRBP's approval (DECISIONS 14). */
  isHrbp: (corpId: string, userid: string) => Promise<boolean>;
  now?: () => number;
}

/** The approval outcomes the approvals module reports (WeCom's SpStatus, see approvalStatusOfSpStatus). */
export type ApprovalStatus = 'approved' | 'rejected' | 'revoked' | 'revoked_after_approval';

/**
 * WeCom's `SpStatus` as an outcome: 2 approved, 3 rejected, 4 revoked, 6 revoked after approval,
 * 7 deleted (as revoked); 1 (pending) and anything else is no outcome.
 */
export function approvalStatusOfSpStatus(spStatus: number): ApprovalStatus | null {
  switch (spStatus) {
    case 2:
      return 'approved';
    case 3:
      return 'rejected';
    case 4:
    case 7:
      return 'revoked';
    case 6:
      return 'revoked_after_approval';
    default:
      return null;
  }
}

/** Structured reasons of a candidate's decline or renege (ROADMAP 1: outcomes as data, not free text only). */
export const CANDIDATE_REASONS = ['salary', 'other_offer', 'counter_offer', 'location', 'role', 'personal', 'other'] as const;
export type CandidateReason = (typeof CANDIDATE_REASONS)[number];

/** The clause every intent notice carries (录用意向 is not an offer of employment). */
export const INTENT_NOTICE_CLAUSE =
  '本录用意向仅表示我司有意向与您进一步沟通录用事宜，不构成正式录用通知（offer）或要约，对双方均无法律约束力；' +
  '录用条件以经公司审批后正式发出的录用通知为准。在收到正式录用通知之前，请不要向现单位提出离职。';

export interface OfferVersionView {
  version: number;
  content: OfferContent;
  contentSha256: string;
  createdBy: string;
  createdAt: Date;
  approvalStatus: 'none' | 'pending' | ApprovalStatus;
  approvalSpNo: string | null;
  approvedContentSha256: string | null;
}

export interface OfferView {
  offerId: string;
  corpId: string;
  candidateId: string;
  positionId: string;
  state: OfferState;
  currentVersion: number;
  steps: number;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
  versions: OfferVersionView[];
}

/** What `offerStatusOf` answers (the signals module's `offerStatus`): the approved version, its hash and terms. */
export type OfferStatusView =
  | { approved: false }
  | {
      approved: true;
      terms: { [key: string]: string | number };
      offer: {
        offerId: string;
        state: OfferState;
        version: number;
        contentSha256: string;
        terms: OfferTerms;
        positionTitle: string | null;
      };
    };

export interface OfferRef {
  corpId: string;
  offerId: string;
}

/** One version of one offer, with the hash the caller believes it has (what the approver saw, what is sent). */
export interface OfferVersionRef extends OfferRef {
  version: number;
  contentSha256: string;
}

export interface ApprovalOutcomeResult {
  /** The outcome moved the offer. */
  applied: boolean;
  /** The same outcome was already applied: nothing changed, nothing recorded. */
  duplicate: boolean;
  state: OfferState;
  /** Why an outcome did not apply (recorded as offer.approval_outcome). */
  why?: string;
}

export interface RescindWarning {
  [key: string]: JsonValue;
  code: 'deadline_not_passed' | 'already_accepted';
  text: string;
}

/** A rescind that carries a legal risk was asked without acknowledging it: nothing written. */
export class OfferRescindWarningError extends OfferInputError {
  constructor(readonly warnings: RescindWarning[]) {
    super(`撤回 offer 前请确认以下风险：${warnings.map((w) => w.text).join('；')}`);
    this.name = 'OfferRescindWarningError';
  }
}

interface OfferRow {
  id: string;
  corp_id: string;
  candidate_id: string;
  position_id: string;
  state: OfferState;
  current_version: number;
  steps: number;
  created_by: string;
  created_at: Date;
  updated_at: Date;
}

interface VersionRow {
  offer_id: string;
  version: number;
  content: OfferContent;
  content_sha256: string;
  created_by: string;
  created_at: Date;
  approval_status: OfferVersionView['approvalStatus'];
  approval_sp_no: string | null;
  approved_content_sha256: string | null;
}

interface Locked {
  offer: OfferRow;
  current: VersionRow;
}

/** The terminal states as SQL literals (the partial unique index of the migration names the same list). */
const TERMINAL_SQL = [...TERMINAL_STATES].map((st) => `'${st}'`).join(', ');

const OFFER_COLUMNS = 'id, corp_id, candidate_id, position_id, state, current_version, steps, created_by, created_at, updated_at';
const VERSION_COLUMNS =
  'offer_id, version, content, content_sha256, created_by, created_at, approval_status, approval_sp_no, approved_content_sha256';

function newOfferId(): string {
  return `of_${randomBytes(16).toString('hex')}`;
}

function member(userid: string, label = '操作人'): string {
  if (typeof userid !== 'string' || userid.trim() === '') throw new OfferInputError(`${label}不能为空`);
  const u = memberUserId(userid.trim());
  if (u.length > 256) throw new OfferInputError(`${label}无效`);
  return u;
}

function reasonText(reason: unknown, required: boolean): string | null {
  if (reason === undefined || reason === null || (typeof reason === 'string' && reason.trim() === '')) {
    if (required) throw new OfferInputError('请填写原因');
    return null;
  }
  if (typeof reason !== 'string') throw new OfferInputError('原因必须是文字');
  const r = reason.trim();
  if (r.length > 2000) throw new OfferInputError('原因不能超过2000个字');
  if (r.includes('\u0000') || !r.isWellFormed()) throw new OfferInputError('原因含有无效字符');
  return r;
}

function candidateReason(code: unknown): CandidateReason {
  if (!(CANDIDATE_REASONS as readonly unknown[]).includes(code)) throw new OfferInputError('请选择原因类别');
  return code as CandidateReason;
}

/** The candidate's own acts are recorded under their opaque id (DECISIONS 4): never a name or external_userid. */
const byCandidate = (l: Locked): string => l.offer.candidate_id;

function versionView(v: VersionRow): OfferVersionView {
  return {
    version: v.version,
    content: v.content,
    contentSha256: v.content_sha256,
    createdBy: v.created_by,
    createdAt: v.created_at,
    approvalStatus: v.approval_status,
    approvalSpNo: v.approval_sp_no,
    approvedContentSha256: v.approved_content_sha256,
  };
}

/** Writes a new version of an offer (not yet asked for approval) and answers its row. */
async function insertVersion(
  tx: PoolClient,
  v: { offerId: string; version: number; content: OfferContent; hash: string; actor: string; at: Date },
): Promise<VersionRow> {
  await tx.query(
    `INSERT INTO offer_versions (offer_id, version, content, content_sha256, created_by, created_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [v.offerId, v.version, JSON.stringify(v.content), v.hash, v.actor, v.at],
  );
  return {
    offer_id: v.offerId,
    version: v.version,
    content: v.content,
    content_sha256: v.hash,
    created_by: v.actor,
    created_at: v.at,
    approval_status: 'none',
    approval_sp_no: null,
    approved_content_sha256: null,
  };
}

export function createOffers(deps: OffersDeps) {
  const now = () => new Date((deps.now ?? Date.now)());

  async function lock(tx: PoolClient, ref: OfferRef): Promise<Locked> {
    if (!OFFER_ID.test(ref.offerId)) throw new OfferNotFoundError(ref.offerId);
    const { rows } = await tx.query<OfferRow>(`SELECT ${OFFER_COLUMNS} FROM offers WHERE corp_id = $1 AND id = $2 FOR UPDATE`, [
      ref.corpId,
      ref.offerId,
    ]);
    const offer = rows[0];
    if (!offer) throw new OfferNotFoundError(ref.offerId);
    const current = await versionRow(tx, offer.id, offer.current_version);
    if (!current) throw new Error(`offer ${offer.id} has no row for its current version ${offer.current_version}`);
    return { offer, current };
  }

  async function versionRow(q: Pick<PoolClient, 'query'>, offerId: string, version: number): Promise<VersionRow | null> {
    const { rows } = await q.query<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM offer_versions WHERE offer_id = $1 AND version = $2`,
      [offerId, version],
    );
    return rows[0] ?? null;
  }

  /** The record of the offer's next step; `payload` adds to the fields every offer record has. */
  function record(
    l: Locked,
    args: {
      kind: string;
      actor: string;
      at: Date;
      action: OfferAction | 'create' | 'approval_outcome';
      to: OfferState;
      reason: string | null;
      version?: VersionRow;
      payload?: { [key: string]: JsonValue };
    },
  ): EvidenceEntry {
    const v = args.version ?? l.current;
    return {
      stream: OFFER_STREAMS.candidate(l.offer.candidate_id),
      kind: args.kind,
      occurredAt: args.at,
      actor: args.actor,
      source: OFFERS_SOURCE,
      sourceRef: OFFER_SOURCE_REFS.transition(l.offer.id, l.offer.steps + 1),
      payload: {
        offer_id: l.offer.id,
        candidate_id: l.offer.candidate_id,
        position_id: l.offer.position_id,
        step: l.offer.steps + 1,
        action: args.action,
        from: l.offer.state,
        to: args.to,
        version: v.version,
        content_sha256: v.content_sha256,
        actor: args.actor,
        reason: args.reason,
        ...args.payload,
      },
      raw: null,
    };
  }

  async function moveTo(tx: PoolClient, l: Locked, to: OfferState, at: Date, currentVersion = l.offer.current_version) {
    await tx.query('UPDATE offers SET state = $1, current_version = $2, steps = steps + 1, updated_at = $3 WHERE id = $4', [
      to,
      currentVersion,
      at,
      l.offer.id,
    ]);
  }

  function refuseUnlessLegal(l: Locked, action: OfferAction, detail?: string): void {
    if (!isLegal(action, l.offer.state)) throw new OfferStateError(l.offer.id, action, l.offer.state, detail);
  }

  /**
   * One plain transition: lock, check the table and `check`, move, record. Used by every action
   * whose only write is the state (and the step counter).
   */
  async function step(
    ref: OfferRef,
    action: OfferAction,
    args: {
      kind: string;
      /** A member's userid, or the candidate (their opaque id) or HireLedger, known once the row is read. */
      actor: string | ((l: Locked) => string);
      reason: string | null;
      check?: (l: Locked, at: Date) => void;
      /** The caller's own write in the same transaction, after the checks (e.g. consuming a single-use link). */
      within?: (tx: PoolClient, at: Date) => Promise<void>;
      payload?: (l: Locked, at: Date) => { [key: string]: JsonValue };
    },
  ): Promise<OfferView> {
    await deps.transact(async (tx) => {
      const l = await lock(tx, ref);
      // The time of the decision is taken under the lock: after any transition it waited for.
      const at = now();
      refuseUnlessLegal(l, action);
      args.check?.(l, at);
      await args.within?.(tx, at);
      const to = TRANSITIONS[action].to;
      await moveTo(tx, l, to, at);
      const entry = record(l, {
        kind: args.kind,
        actor: typeof args.actor === 'string' ? args.actor : args.actor(l),
        at,
        action,
        to,
        reason: args.reason,
        ...(args.payload ? { payload: args.payload(l, at) } : {}),
      });
      return { result: null, entries: [entry] };
    });
    return (await getOffer(ref)) as OfferView;
  }

  async function getOffer(ref: OfferRef): Promise<OfferView | null> {
    if (!OFFER_ID.test(ref.offerId)) return null;
    const { rows } = await deps.db.query<OfferRow>(`SELECT ${OFFER_COLUMNS} FROM offers WHERE corp_id = $1 AND id = $2`, [
      ref.corpId,
      ref.offerId,
    ]);
    const o = rows[0];
    if (!o) return null;
    const { rows: versions } = await deps.db.query<VersionRow>(
      `SELECT ${VERSION_COLUMNS} FROM offer_versions WHERE offer_id = $1 ORDER BY version`,
      [o.id],
    );
    return {
      offerId: o.id,
      corpId: o.corp_id,
      candidateId: o.candidate_id,
      positionId: o.position_id,
      state: o.state,
      currentVersion: o.current_version,
      steps: o.steps,
      createdBy: o.created_by,
      createdAt: o.created_at,
      updatedAt: o.updated_at,
      versions: versions.map(versionView),
    };
  }

  /** The candidate row, locked FOR SHARE (a merge cannot move it under the decision); merged candidates are refused. */
  async function liveCandidate(tx: PoolClient, corpId: string, candidateId: string): Promise<void> {
    const { rows } = await tx.query<{ merged_into: string | null }>(
      'SELECT merged_into FROM candidates WHERE corp_id = $1 AND id = $2 FOR SHARE',
      [corpId, candidateId],
    );
    const c = rows[0];
    if (!c) throw new OfferInputError('候选人不存在');
    if (c.merged_into !== null) throw new OfferInputError(`该候选人已合并到 ${c.merged_into}，请在合并后的候选人下操作`);
  }

  async function openPosition(tx: PoolClient, corpId: string, positionId: string): Promise<void> {
    const { rows } = await tx.query(
      'SELECT 1 FROM positions WHERE corp_id = $1 AND id = $2 AND closed_at IS NULL FOR KEY SHARE',
      [corpId, positionId],
    );
    if (rows.length === 0) throw new OfferInputError('职位不存在或已关闭');
  }

  /** Terms whose stated deadline is already over could never be accepted. */
  function refuseDeadlineInPast(content: OfferContent, at: Date): void {
    if (deadlinePassed(content, at)) throw new OfferInputError('接受截止时间必须晚于现在');
  }

  /** The stated deadline has passed (at or after it). */
  function deadlinePassed(content: OfferContent, at: Date): boolean {
    return content.acceptance_deadline !== null && at.getTime() >= new Date(content.acceptance_deadline).getTime();
  }

  return {
    getOffer,

    /** A candidate's offers, newest first, with their versions. */
    async listOffers(corpId: string, candidateId: string): Promise<OfferView[]> {
      const { rows } = await deps.db.query<{ id: string }>(
        'SELECT id FROM offers WHERE corp_id = $1 AND candidate_id = $2 ORDER BY created_at DESC, id',
        [corpId, candidateId],
      );
      const views = await Promise.all(rows.map((r) => getOffer({ corpId, offerId: r.id })));
      return views.filter((v): v is OfferView => v !== null);
    },

    /** Drafts version 1 of an offer for a candidate and a position (state `draft`). */
    async draftOffer(args: { corpId: string; candidateId: string; positionId: string; actor: string; terms: OfferTerms }) {
      const actor = member(args.actor);
      const content = offerContent(args.positionId, args.terms);
      const hash = contentSha256(content);
      const offerId = newOfferId();
      await deps.transact(async (tx) => {
        const at = now();
        refuseDeadlineInPast(content, at);
        await liveCandidate(tx, args.corpId, args.candidateId);
        await openPosition(tx, args.corpId, args.positionId);
        // One open offer per candidate and position (a change is a new version of it, not a second
        // offer). The partial unique index decides between concurrent drafts.
        const { rowCount } = await tx.query(
          `INSERT INTO offers (id, corp_id, candidate_id, position_id, state, current_version, steps, created_by, created_at, updated_at)
           VALUES ($1, $2, $3, $4, 'draft', 1, 1, $5, $6, $6)
           ON CONFLICT (corp_id, candidate_id, position_id) WHERE state NOT IN (${TERMINAL_SQL}) DO NOTHING`,
          [offerId, args.corpId, args.candidateId, args.positionId, actor, at],
        );
        if (rowCount === 0) throw new OfferInputError('该候选人在此职位已有未结束的 offer，请修改该 offer（新版本）或先结束它');
        const version = await insertVersion(tx, { offerId, version: 1, content, hash, actor, at });
        const l: Locked = {
          offer: {
            id: offerId,
            corp_id: args.corpId,
            candidate_id: args.candidateId,
            position_id: args.positionId,
            state: 'draft',
            current_version: 1,
            steps: 0,
            created_by: actor,
            created_at: at,
            updated_at: at,
          },
          current: version,
        };
        const entry = record(l, {
          kind: OFFER_KINDS.created,
          actor,
          at,
          action: 'create',
          to: 'draft',
          reason: null,
          payload: { content },
        });
        return { result: null, entries: [entry] };
      });
      return (await getOffer({ corpId: args.corpId, offerId })) as OfferView;
    },

    /**
     * A change of terms: a new version, back to `draft` (it needs a new approval), with the Chinese
     * diff from the version before in the record. Unchanged terms are refused.
     */
    async reviseOffer(args: OfferRef & { actor: string; terms: OfferTerms; reason?: string }) {
      const actor = member(args.actor);
      const reason = reasonText(args.reason, false);
      await deps.transact(async (tx) => {
        const l = await lock(tx, args);
        const at = now();
        refuseUnlessLegal(l, 'revise', l.offer.state === 'pending_approval' ? '请先撤回审批，再修改条款' : undefined);
        const content = offerContent(l.offer.position_id, args.terms);
        refuseDeadlineInPast(content, at);
        const hash = contentSha256(content);
        if (hash === l.current.content_sha256) throw new OfferInputError('条款没有变化，无需新版本');
        const changes = diffContent(l.current.content, content);
        const next = l.offer.current_version + 1;
        const version = await insertVersion(tx, { offerId: l.offer.id, version: next, content, hash, actor, at });
        await moveTo(tx, l, 'draft', at, next);
        const entry = record(l, {
          kind: OFFER_KINDS.revised,
          actor,
          at,
          action: 'revise',
          to: 'draft',
          reason,
          version,
          payload: {
            content,
            previous_version: l.current.version,
            previous_content_sha256: l.current.content_sha256,
            changes,
            diff_text: diffText(changes),
            needs_new_approval: true,
          },
        });
        return { result: null, entries: [entry] };
      });
      return (await getOffer(args)) as OfferView;
    },

    /** Hands the current version to approval (draft → pending_approval); the approvals module submits it to WeCom. */
    async submitForApproval(args: OfferRef & { version: number; actor: string }) {
      const actor = member(args.actor);
      await deps.transact(async (tx) => {
        const l = await lock(tx, args);
        const at = now();
        refuseUnlessLegal(l, 'submit');
        if (args.version !== l.offer.current_version) {
          throw new OfferStateError(l.offer.id, 'submit', l.offer.state, `只能提交当前版本（第 ${l.offer.current_version} 版）`);
        }
        await tx.query(
          `UPDATE offer_versions SET approval_status = 'pending', approval_sp_no = NULL, approved_content_sha256 = NULL,
             approval_decided_at = NULL WHERE offer_id = $1 AND version = $2`,
          [l.offer.id, l.current.version],
        );
        await moveTo(tx, l, 'pending_approval', at);
        const entry = record(l, {
          kind: OFFER_KINDS.approvalRequested,
          actor,
          at,
          action: 'submit',
          to: 'pending_approval',
          reason: null,
          payload: { content: l.current.content },
        });
        return { result: null, entries: [entry] };
      });
      return (await getOffer(args)) as OfferView;
    },

    /**
     * Ties the WeCom approval (SpNo, case-sensitive) the approvals module created to the pending
     * version, so that only that approval's outcome counts. No record: the approvals module records
     * its own submission. Binding the same SpNo again is a no-op; another is refused.
     */
    async bindApproval(ref: OfferVersionRef, spNo: string) {
      if (typeof spNo !== 'string' || spNo === '' || spNo.length > 64) throw new OfferInputError('审批单号无效');
      await deps.transact(async (tx) => {
        const l = await lock(tx, ref);
        const v = await versionRow(tx, l.offer.id, ref.version);
        if (!v || v.content_sha256 !== ref.contentSha256) throw new OfferInputError('版本或内容哈希不符');
        if (v.approval_sp_no === spNo) return { result: null, entries: [] };
        if (v.approval_status !== 'pending' || v.approval_sp_no !== null) {
          throw new OfferStateError(l.offer.id, 'submit', l.offer.state, '该版本没有等待绑定的审批');
        }
        await tx.query('UPDATE offer_versions SET approval_sp_no = $1 WHERE offer_id = $2 AND version = $3', [
          spNo,
          l.offer.id,
          v.version,
        ]);
        return { result: null, entries: [] };
      });
    },

    /**
     * The outcome of a WeCom approval of one version (called by the approvals module from
     * sys_approval_change callbacks and reconciliation). It moves the offer only when it concerns
     * the current version, its approval (SpNo) and exactly the content hash the approver saw, and
     * the state allows it; any other outcome is still a fact and is recorded
     * (`offer.approval_outcome`, applied: false, with why) without moving anything. The same
     * outcome reported again (a redelivered callback) changes and records nothing.
     */
    async recordApprovalOutcome(
      ref: OfferVersionRef,
      spNo: string,
      status: ApprovalStatus,
      opts: { approver?: string; at?: Date } = {},
    ): Promise<ApprovalOutcomeResult> {
      if (typeof spNo !== 'string' || spNo === '' || spNo.length > 64) throw new OfferInputError('审批单号无效');
      const action: OfferAction =
        status === 'approved'
          ? 'approve'
          : status === 'rejected'
            ? 'reject'
            : status === 'revoked'
              ? 'revoke'
              : 'revoke_after_approval';
      const actor = opts.approver !== undefined ? member(opts.approver, '审批人') : 'sys';
      const { result } = await deps.transact<ApprovalOutcomeResult>(async (tx) => {
        const l = await lock(tx, ref);
        const at = opts.at ?? now();
        const v = await versionRow(tx, l.offer.id, ref.version);
        if (!v) throw new OfferInputError(`offer 没有第 ${ref.version} 版`);
        const why =
          v.approval_sp_no !== null && v.approval_sp_no !== spNo
            ? 'other_approval'
            : ref.contentSha256 !== v.content_sha256
              ? 'content_hash_mismatch'
              : v.version !== l.offer.current_version
                ? 'superseded_version'
                : !isLegal(action, l.offer.state)
                  ? 'state_does_not_allow'
                  : (action === 'revoke_after_approval' ? v.approval_status !== 'approved' : v.approval_status !== 'pending')
                    ? 'version_not_awaiting'
                    : null;
        // Each (version, SpNo, status) is handled once, whether it applied or not: a redelivered or
        // reconciled outcome changes and records nothing. The row commits with the first record.
        const { rowCount } = await tx.query(
          `INSERT INTO offer_approval_outcomes (offer_id, version, sp_no, status, reported_content_sha256, applied, why, step, recorded_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
          [l.offer.id, v.version, spNo, status, ref.contentSha256, why === null, why, l.offer.steps + 1, at],
        );
        if (rowCount === 0) return { result: { applied: false, duplicate: true, state: l.offer.state }, entries: [] };
        // Only an outcome that applies changes the version: a late, out-of-order or foreign outcome
        // is kept as a record and can never make a version look approved.
        if (why === null) {
          await tx.query(
            `UPDATE offer_versions SET approval_status = $1, approval_sp_no = $2, approval_decided_at = $3,
               approved_content_sha256 = CASE WHEN $1 = 'approved' THEN $4 ELSE NULL END
             WHERE offer_id = $5 AND version = $6`,
            [status, spNo, at, ref.contentSha256, l.offer.id, v.version],
          );
        }
        const common = { sp_no: spNo, approval_status: status, reported_content_sha256: ref.contentSha256 };
        if (why !== null) {
          await tx.query('UPDATE offers SET steps = steps + 1, updated_at = $1 WHERE id = $2', [at, l.offer.id]);
          const entry = record(l, {
            kind: OFFER_KINDS.approvalOutcome,
            actor,
            at,
            action: 'approval_outcome',
            to: l.offer.state,
            reason: null,
            version: v,
            payload: { ...common, applied: false, why },
          });
          return { result: { applied: false, duplicate: false, state: l.offer.state, why }, entries: [entry] };
        }
        const to = TRANSITIONS[action].to;
        await moveTo(tx, l, to, at);
        const kind = {
          approve: OFFER_KINDS.approved,
          reject: OFFER_KINDS.approvalRejected,
          revoke: OFFER_KINDS.approvalRevoked,
          revoke_after_approval: OFFER_KINDS.approvalRevokedAfterApproval,
        }[action];
        const entry = record(l, { kind, actor, at, action, to, reason: null, version: v, payload: { ...common, applied: true } });
        return { result: { applied: true, duplicate: false, state: to }, entries: [entry] };
      });
      return result;
    },

    /**
     * The gate, then `offer.sent`. Refused (OfferGateError, nothing written) unless `version` is the
     * offer's current version, its WeCom approval is approved, the approval was of this version's
     * content hash, the stored content still hashes to it, the caller sends that same hash, and a
     * stated deadline has not passed. The record carries the content sent; delivery to the
     * candidate follows from it (the `offers.delivery` consumer and its `deliver` seam).
     */
    async sendFormalOffer(ref: OfferVersionRef & { actor: string }) {
      const actor = member(ref.actor);
      await deps.transact(async (tx) => {
        const l = await lock(tx, ref);
        const at = now();
        refuseUnlessLegal(l, 'send');
        const refuse = (reason: GateRefusal) => {
          throw new OfferGateError(l.offer.id, ref.version, reason, l.offer.state);
        };
        if (ref.version !== l.offer.current_version) refuse('not_current_version');
        const v = l.current;
        if (v.approval_status !== 'approved' || v.approved_content_sha256 === null) refuse('not_approved');
        if (v.approved_content_sha256 !== v.content_sha256) refuse('approval_of_other_content');
        if (contentSha256(v.content) !== v.approved_content_sha256) refuse('content_altered');
        if (ref.contentSha256 !== v.approved_content_sha256) refuse('sent_content_differs');
        if (deadlinePassed(v.content, at)) refuse('deadline_passed');
        await moveTo(tx, l, 'sent', at);
        const entry = record(l, {
          kind: OFFER_KINDS.sent,
          actor,
          at,
          action: 'send',
          to: 'sent',
          reason: null,
          payload: {
            content: v.content,
            approval_sp_no: v.approval_sp_no,
            approved_content_sha256: v.approved_content_sha256,
            acceptance_deadline: v.content.acceptance_deadline,
          },
        });
        return { result: null, entries: [entry] };
      });
      return (await getOffer(ref)) as OfferView;
    },

    /**
     * The candidate accepted the sent version before its deadline (the H5 page fills ip, user agent
     * and the shown text's hash; `confirmation` adds what the candidate confirmed, kept in the
     * record; `within` writes in the same transaction, e.g. consumes the link).
     */
    async recordAcceptance(
      ref: OfferVersionRef & {
        ip?: string;
        userAgent?: string;
        shownTextSha256?: string;
        confirmation?: { [key: string]: JsonValue };
        within?: (tx: PoolClient, at: Date) => Promise<void>;
      },
    ) {
      return step(ref, 'accept', {
        kind: OFFER_KINDS.accepted,
        actor: byCandidate,
        reason: null,
        check: (l, at) => {
          if (ref.version !== l.offer.current_version || ref.contentSha256 !== l.current.content_sha256) {
            throw new OfferStateError(l.offer.id, 'accept', l.offer.state, '接受的内容与已发出的 offer 不一致');
          }
          if (deadlinePassed(l.current.content, at)) {
            throw new OfferStateError(l.offer.id, 'accept', l.offer.state, '接受截止时间已过');
          }
        },
        ...(ref.within ? { within: ref.within } : {}),
        payload: () => ({
          ip: ref.ip ?? null,
          user_agent: ref.userAgent ?? null,
          shown_text_sha256: ref.shownTextSha256 ?? null,
          ...(ref.confirmation ? { confirmation: ref.confirmation } : {}),
        }),
      });
    },

    /** The candidate declined the sent offer (a structured reason and the candidate's words). */
    async recordDecline(
      ref: OfferRef & {
        reasonCode: CandidateReason;
        reason?: string;
        confirmation?: { [key: string]: JsonValue };
        within?: (tx: PoolClient, at: Date) => Promise<void>;
      },
    ) {
      const code = candidateReason(ref.reasonCode);
      return step(ref, 'decline', {
        kind: OFFER_KINDS.declined,
        actor: byCandidate,
        reason: reasonText(ref.reason, false),
        ...(ref.within ? { within: ref.within } : {}),
        payload: () => ({ reason_code: code, ...(ref.confirmation ? { confirmation: ref.confirmation } : {}) }),
      });
    },

    /** The stated deadline passed with no answer (HireLedger's own step, from the reminders' deadline job). */
    async expireOffer(ref: OfferRef) {
      return step(ref, 'expire', {
        kind: OFFER_KINDS.expired,
        actor: HIRELEDGER_ACTOR,
        reason: null,
        check: (l, at) => {
          if (!deadlinePassed(l.current.content, at)) {
            throw new OfferStateError(l.offer.id, 'expire', l.offer.state, '尚未到接受截止时间');
          }
        },
        payload: (l) => ({ acceptance_deadline: l.current.content.acceptance_deadline }),
      });
    },

    /**
     * The company withdraws a sent or accepted offer (DECISIONS 14): a reason, the approval of an
     * HRBP who is not the member rescinding, and, while a stated deadline has not passed or once
     * the candidate accepted, the legal warning acknowledged (`acknowledgeWarnings`); the warnings
     * shown are in the record.
     */
    async rescindOffer(
      ref: OfferRef & { actor: string; reason: string; hrbp: string; hrbpApprovalRef?: string; acknowledgeWarnings?: boolean },
    ) {
      const actor = member(ref.actor);
      const hrbp = member(ref.hrbp, 'HRBP');
      const reason = reasonText(ref.reason, true);
      if (hrbp === actor) throw new OfferInputError('撤回 offer 需要另一位 HRBP 审批，不能由操作人本人审批');
      if (!(await deps.isHrbp(ref.corpId, hrbp))) throw new OfferInputError(`${hrbp} 不是 HRBP，不能审批撤回`);
      const approvalRef = reasonText(ref.hrbpApprovalRef, false);
      return step(ref, 'rescind', {
        kind: OFFER_KINDS.rescinded,
        actor,
        reason,
        check: (l, at) => {
          const w = rescindWarnings(l.offer.state, l.current.content, at);
          if (w.length > 0 && ref.acknowledgeWarnings !== true) throw new OfferRescindWarningError(w);
        },
        payload: (l, at) => ({
          hrbp,
          hrbp_approval_ref: approvalRef,
          warnings: rescindWarnings(l.offer.state, l.current.content, at),
          warnings_acknowledged: ref.acknowledgeWarnings === true,
        }),
      });
    },

    /** The candidate withdrew after accepting, before the start date (Asia/Shanghai). */
    async recordRenege(ref: OfferRef & { reasonCode: CandidateReason; reason?: string }) {
      const code = candidateReason(ref.reasonCode);
      return step(ref, 'renege', {
        kind: OFFER_KINDS.reneged,
        actor: byCandidate,
        reason: reasonText(ref.reason, false),
        check: (l, at) => {
          if (shanghaiDate(at) >= l.current.content.start_date) {
            throw new OfferStateError(l.offer.id, 'renege', l.offer.state, '已到入职日期，不能再按毁约处理');
          }
        },
        payload: () => ({ reason_code: code }),
      });
    },

    /** The new hire started: on or after the start date (Asia/Shanghai). */
    async markOnboarded(ref: OfferRef & { actor: string }) {
      const actor = member(ref.actor);
      return step(ref, 'onboard', {
        kind: OFFER_KINDS.onboarded,
        actor,
        reason: null,
        check: (l, at) => {
          if (shanghaiDate(at) < l.current.content.start_date) {
            throw new OfferStateError(l.offer.id, 'onboard', l.offer.state, `入职日期为 ${l.current.content.start_date}，尚未到`);
          }
        },
      });
    },

    /** The company drops an offer never sent (draft or approved). */
    async cancelOffer(ref: OfferRef & { actor: string; reason: string }) {
      return step(ref, 'cancel', { kind: OFFER_KINDS.cancelled, actor: member(ref.actor), reason: reasonText(ref.reason, true) });
    },

    /**
     * Whether the candidate holds an approved formal offer, with its terms (signals' over-promise
     * check compares a recruiter's numbers with them). The latest offer approved, sent, accepted or
     * onboarded counts.
     */
    async offerStatusOf(corpId: string, candidateId: string): Promise<OfferStatusView> {
      const { rows } = await deps.db.query<{
        id: string;
        state: OfferState;
        current_version: number;
        content: OfferContent;
        content_sha256: string;
        title: string | null;
      }>(
        `SELECT o.id, o.state, o.current_version, v.content, v.content_sha256, p.title
           FROM offers o JOIN offer_versions v ON v.offer_id = o.id AND v.version = o.current_version
           LEFT JOIN positions p ON p.corp_id = o.corp_id AND p.id = o.position_id
          WHERE o.corp_id = $1 AND o.candidate_id = $2 AND o.state IN ('approved', 'sent', 'accepted', 'onboarded')
          ORDER BY o.updated_at DESC LIMIT 1`,
        [corpId, candidateId],
      );
      const r = rows[0];
      if (!r) return { approved: false };
      const c = r.content;
      return {
        approved: true,
        terms: {
          base_monthly_yuan: c.base_monthly_yuan,
          salary_months: c.salary_months,
          level: c.level,
          start_date: c.start_date,
        },
        // In these states the current version is the approved one (a change is a new version back in draft).
        offer: {
          offerId: r.id,
          state: r.state,
          version: r.current_version,
          contentSha256: r.content_sha256,
          terms: termsOf(c),
          positionTitle: r.title,
        },
      };
    },
  };
}

/** The legal warnings of rescinding now (DECISIONS 14, LEGAL.md). */
export function rescindWarnings(state: OfferState, content: OfferContent, at: Date): RescindWarning[] {
  const warnings: RescindWarning[] = [];
  const d = content.acceptance_deadline;
  if (state === 'sent' && d !== null && at.getTime() < new Date(d).getTime()) {
    warnings.push({
      code: 'deadline_not_passed',
      text:
        `该 offer 规定的接受截止时间（${beijingTime(d)}）尚未届满：依《民法典》第476条，规定了承诺期限的要约一般不得撤销，` +
        '候选人因信赖 offer 而受损（如已离职）的，公司可能承担缔约过失责任（第500条）',
    });
  }
  if (state === 'accepted') {
    warnings.push({
      code: 'already_accepted',
      text: '候选人已接受该 offer：此时撤回可能构成违约或缔约过失（《民法典》第500条），实践中有按约三个月工资判赔的案例',
    });
  }
  return warnings;
}

export type Offers = ReturnType<typeof createOffers>;
