import { APPROVAL_KINDS } from '../../approvals';
import type { JsonValue } from '../../evidence';
import { OFFER_KINDS } from '../../offers';
import { SIGNAL_KINDS } from '../../signals';

/**
 * The steps a dispute turns on (issue 11 item 1): marked with a badge and a row colour in the
 * timeline, and listed one by one in the evidence list. The divider goes before the first approval
 * of an offer, so what was said before and after it can be told apart at a glance.
 */

export type StageKey =
  | 'interview'
  | 'intent'
  | 'approval'
  | 'approved'
  | 'offer'
  | 'accepted'
  | 'declined'
  | 'rescinded'
  | 'reneged'
  | 'resigned'
  | 'over_promise';

export const STAGE_LABEL: Readonly<Record<StageKey, string>> = {
  interview: '面试邀请',
  intent: '录用意向',
  approval: '审批',
  approved: '审批通过',
  offer: '正式 offer',
  accepted: '接受',
  declined: '拒绝',
  rescinded: '公司撤回 offer',
  reneged: '候选人毁约',
  resigned: '离职陈述',
  over_promise: '超出审批的承诺',
};

export const APPROVED_DIVIDER = '——以下为 offer 审批通过之后——';

const BY_KIND: Readonly<Record<string, StageKey>> = {
  [OFFER_KINDS.interviewInvitation]: 'interview',
  [OFFER_KINDS.intentNotice]: 'intent',
  [OFFER_KINDS.approvalRequested]: 'approval',
  [OFFER_KINDS.approvalRejected]: 'approval',
  [OFFER_KINDS.approvalRevoked]: 'approval',
  [OFFER_KINDS.approvalRevokedAfterApproval]: 'approval',
  [OFFER_KINDS.approvalOutcome]: 'approval',
  [OFFER_KINDS.approved]: 'approved',
  [OFFER_KINDS.sent]: 'offer',
  [OFFER_KINDS.accepted]: 'accepted',
  [OFFER_KINDS.declined]: 'declined',
  [OFFER_KINDS.rescinded]: 'rescinded',
  [OFFER_KINDS.reneged]: 'reneged',
};

const APPROVAL_PREFIX = `${APPROVAL_KINDS.routed.split('.')[0] as string}.`;

type Obj = { readonly [key: string]: JsonValue };
export const obj = (v: JsonValue | undefined): Obj | undefined =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
export const str = (v: JsonValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** A signal hit's type (`resigned_before_offer`…) and the message it was found in. */
export function hitOf(kind: string, payload: JsonValue | undefined): { type: string; messageSeq: number | null } | null {
  if (kind !== SIGNAL_KINDS.hit) return null;
  const p = obj(payload);
  const seq = obj(p?.['message'])?.['seq'];
  return { type: str(p?.['type']) ?? '', messageSeq: typeof seq === 'number' ? seq : null };
}

/** The stage of a record (by kind; a signal hit by its type); null for the rest. */
export function stageOf(kind: string, payload: JsonValue | undefined): StageKey | null {
  const direct = BY_KIND[kind];
  if (direct !== undefined) return direct;
  if (kind.startsWith(APPROVAL_PREFIX)) return 'approval';
  const hit = hitOf(kind, payload);
  if (hit?.type === 'resigned_before_offer') return 'resigned';
  if (hit?.type === 'over_promise') return 'over_promise';
  return null;
}
