import type { JsonValue } from '../evidence';
import { beijingTime, yuan } from './content';
import { TRANSITIONS } from './machine';
import { OFFER_KINDS } from './names';

/**
 * How offer records read in a candidate's timeline (src/timeline's `renderers` option): a role and
 * a short Chinese summary per kind. Typed structurally (no import of src/timeline, which may come
 * to import this module). Payloads are read defensively: a record is shown as it was written.
 */

export type OfferTimelineRole = 'candidate' | 'recruiter' | 'system' | 'app';
export type OfferRenderer = (record: { kind: string; actor: string; payload: JsonValue }) => {
  role: OfferTimelineRole;
  summary: string;
};

type Payload = { readonly [key: string]: JsonValue | undefined };

const str = (p: Payload, k: string): string => (typeof p[k] === 'string' ? p[k] : '');
const num = (p: Payload, k: string): number | null => (typeof p[k] === 'number' ? p[k] : null);
const obj = (v: JsonValue | undefined): Payload => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});

function roleOf(p: Payload): OfferTimelineRole {
  const action = str(p, 'action');
  const t = (TRANSITIONS as Partial<Record<string, { by: string }>>)[action];
  if (action === 'create') return 'recruiter';
  if (action === 'approval_outcome' || t?.by === 'approval') return 'system';
  if (t?.by === 'candidate') return 'candidate';
  if (t?.by === 'system') return 'app';
  return 'recruiter';
}

function terms(content: Payload): string {
  const base = num(content, 'base_monthly_yuan');
  const months = num(content, 'salary_months');
  const parts = [
    str(content, 'level'),
    base !== null ? `${yuan(base)}/月${months !== null ? ` × ${months} 薪` : ''}` : '',
    str(content, 'start_date') ? `入职 ${str(content, 'start_date')}` : '',
  ];
  return parts.filter((s) => s !== '').join('，');
}

const REASON_LABELS: Readonly<Record<string, string>> = {
  salary: '薪资',
  other_offer: '接受了其他 offer',
  counter_offer: '原单位挽留',
  location: '工作地点',
  role: '岗位内容',
  personal: '个人原因',
  other: '其他',
};

function because(p: Payload): string {
  const code = REASON_LABELS[str(p, 'reason_code')];
  const reason = str(p, 'reason');
  const s = [code, reason].filter((x) => x !== undefined && x !== '').join('：');
  return s === '' ? '' : `（${s}）`;
}

function offerRenderer(summary: (p: Payload, v: string) => string): OfferRenderer {
  return (record) => {
    const p = obj(record.payload);
    const v = num(p, 'version');
    return { role: roleOf(p), summary: summary(p, v !== null ? `第 ${v} 版` : '') };
  };
}

const OUTCOME_WHY: Readonly<Record<string, string>> = {
  other_approval: '非该版本绑定的审批单',
  content_hash_mismatch: '审批内容哈希与该版本不符',
  superseded_version: '该版本已被新版本取代',
  state_does_not_allow: 'offer 当前状态不接受该结果',
  version_not_awaiting: '该版本并未在等待此结果',
};

export const OFFER_RENDERERS: Readonly<Record<string, OfferRenderer>> = {
  [OFFER_KINDS.created]: offerRenderer((p, v) => `起草 offer ${v}：${terms(obj(p['content']))}`),
  [OFFER_KINDS.revised]: offerRenderer((p, v) => `offer 修改为${v}（需重新审批）：${str(p, 'diff_text').split('\n').join('；')}`),
  [OFFER_KINDS.approvalRequested]: offerRenderer((_p, v) => `提交 offer ${v}审批`),
  [OFFER_KINDS.approved]: offerRenderer((p, v) => `offer ${v}审批通过（审批单 ${str(p, 'sp_no')}）`),
  [OFFER_KINDS.approvalRejected]: offerRenderer((p, v) => `offer ${v}审批被驳回（审批单 ${str(p, 'sp_no')}），退回草稿`),
  [OFFER_KINDS.approvalRevoked]: offerRenderer((p, v) => `offer ${v}的审批已撤销（审批单 ${str(p, 'sp_no')}），退回草稿`),
  [OFFER_KINDS.approvalRevokedAfterApproval]: offerRenderer(
    (p, v) => `offer ${v}的审批在通过后被撤销（审批单 ${str(p, 'sp_no')}），退回草稿`,
  ),
  [OFFER_KINDS.approvalOutcome]: offerRenderer(
    (p, v) => `收到 offer ${v}的审批结果（${str(p, 'approval_status')}），未生效：${OUTCOME_WHY[str(p, 'why')] ?? str(p, 'why')}`,
  ),
  [OFFER_KINDS.sent]: offerRenderer((p, v) => {
    const d = str(p, 'acceptance_deadline');
    return `正式 offer ${v}已发出：${terms(obj(p['content']))}${d ? `，接受截止 ${beijingTime(d)}` : ''}`;
  }),
  [OFFER_KINDS.accepted]: offerRenderer((_p, v) => `候选人接受了 offer ${v}`),
  [OFFER_KINDS.declined]: offerRenderer((p) => `候选人拒绝了 offer${because(p)}`),
  [OFFER_KINDS.expired]: offerRenderer(() => 'offer 已过接受截止时间，自动失效'),
  [OFFER_KINDS.rescinded]: offerRenderer((p) => `公司撤回了 offer（原因：${str(p, 'reason')}；HRBP ${str(p, 'hrbp')} 审批）`),
  [OFFER_KINDS.reneged]: offerRenderer((p) => `候选人接受后毁约${because(p)}`),
  [OFFER_KINDS.onboarded]: offerRenderer(() => '候选人已入职'),
  [OFFER_KINDS.cancelled]: offerRenderer((p) => `offer 作废（未发出）：${str(p, 'reason')}`),
  [OFFER_KINDS.interviewInvitation]: (record) => {
    const p = obj(record.payload);
    const at = str(p, 'interview_at');
    return { role: 'recruiter', summary: `面试邀请：${at ? beijingTime(at) : ''} ${str(p, 'where')}`.trim() };
  },
  [OFFER_KINDS.intentNotice]: (record) => {
    const p = obj(record.payload);
    return { role: 'recruiter', summary: `录用意向（不具法律约束力，非正式 offer）：${str(p, 'title')}` };
  },
};
