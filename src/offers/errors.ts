import { PermanentJobError } from '../platform/errors';
import type { OfferAction, OfferState } from './machine';

/**
 * What the offers module refuses, each a PermanentJobError (retrying cannot help), each with a
 * Chinese message for the person who asked. Nothing is written when one is thrown: the decision's
 * transaction rolls back.
 */

/** Invalid input (terms, reasons, ids). HTTP 400 later. */
export class OfferInputError extends PermanentJobError {
  constructor(message: string) {
    super(message);
    this.name = 'OfferInputError';
  }
}

/** No such offer in this corp. HTTP 404 later. */
export class OfferNotFoundError extends PermanentJobError {
  constructor(readonly offerId: string) {
    super('找不到该 offer');
    this.name = 'OfferNotFoundError';
  }
}

const STATE_NAMES: Record<OfferState, string> = {
  draft: '草稿',
  pending_approval: '审批中',
  approved: '已审批通过',
  sent: '已发出',
  accepted: '已接受',
  declined: '已拒绝',
  expired: '已过期',
  rescinded: '已撤回（公司）',
  reneged: '已毁约（候选人）',
  onboarded: '已入职',
  cancelled: '已作废',
};

export function stateName(state: OfferState): string {
  return STATE_NAMES[state];
}

/**
 * The action is not allowed in the offer's current state (an illegal transition, or a concurrent
 * one that won). Carries the state the offer is in now; the HTTP route maps it to 409 with it.
 */
export class OfferStateError extends PermanentJobError {
  constructor(
    readonly offerId: string,
    readonly action: OfferAction,
    readonly currentState: OfferState,
    detail?: string,
  ) {
    super(`offer 当前状态为「${stateName(currentState)}」，不能执行此操作${detail ? `：${detail}` : ''}`);
    this.name = 'OfferStateError';
  }
}

/** Why the send gate refused. */
export type GateRefusal =
  | 'not_current_version'
  | 'not_approved'
  | 'approval_of_other_content'
  | 'content_altered'
  | 'sent_content_differs'
  | 'deadline_passed';

const GATE_MESSAGES: Record<GateRefusal, string> = {
  not_current_version: '只能发出 offer 的当前版本',
  not_approved: '该版本尚未在企业微信审批通过，不能发出正式 offer',
  approval_of_other_content: '审批通过的内容与该版本内容不一致，不能发出',
  content_altered: '该版本内容在审批后被改动（内容哈希不符），不能发出',
  sent_content_differs: '要发出的内容与审批通过的内容不一致（内容哈希不符），不能发出',
  deadline_passed: '接受截止时间已过，不能发出',
};

/** The send gate refused: the formal offer is not sent, nothing is written. HTTP 409 later. */
export class OfferGateError extends PermanentJobError {
  constructor(
    readonly offerId: string,
    readonly version: number,
    readonly reason: GateRefusal,
    readonly currentState: OfferState,
  ) {
    super(GATE_MESSAGES[reason]);
    this.name = 'OfferGateError';
  }
}

/** The HTTP answer for an offers refusal (for the routes to come): null for anything else (a 500). */
export function offerErrorResponse(err: unknown): {
  status: 400 | 404 | 409;
  body: { error: string; message: string; current_state?: OfferState; reason?: GateRefusal };
} | null {
  if (err instanceof OfferStateError) {
    return { status: 409, body: { error: 'illegal_transition', message: err.message, current_state: err.currentState } };
  }
  if (err instanceof OfferGateError) {
    return {
      status: 409,
      body: { error: 'send_gate', message: err.message, current_state: err.currentState, reason: err.reason },
    };
  }
  if (err instanceof OfferNotFoundError) return { status: 404, body: { error: 'not_found', message: err.message } };
  if (err instanceof OfferInputError) return { status: 400, body: { error: 'invalid', message: err.message } };
  return null;
}
