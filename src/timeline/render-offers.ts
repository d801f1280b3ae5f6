import { ACCEPTANCE_KINDS } from '../acceptance';
import { APPROVAL_KINDS } from '../approvals';
import type { CheckedRecord, JsonValue } from '../evidence';
import { ONBOARDING_KINDS } from '../onboarding';
import { OFFER_RENDERERS } from '../offers';
import { REMINDER_KINDS } from '../reminders';
import { REAPPLICATION_KINDS } from '../signals';
import type { EntryRenderer, EntryRenderers } from './render-types';
import { shanghaiTime } from './time';

/**
 * How the offer path reads on a timeline, in Chinese: the offers module's own renderers, and the
 * records the approvals, acceptance, reminders, onboarding and re-application steps write beside
 * them. A kind not listed here still shows (as `记录：<kind>`): this is presentation, never evidence.
 */

type Payload = { readonly [key: string]: JsonValue | undefined };
const obj = (v: JsonValue | undefined): Payload => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {});
const str = (p: Payload, k: string): string => (typeof p[k] === 'string' ? p[k] : '');
const list = (v: JsonValue | undefined): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
/** A time inside a sentence people read: `2026-11-30 09:00（北京时间）`. */
const when = (iso: string): string => {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const s = shanghaiTime(d); // 2026-11-30T09:00:00.000+08:00
  return `${s.slice(0, 10)} ${s.slice(11, 16)}（北京时间）`;
};

const ROUTE_LABEL: Readonly<Record<string, string>> = {
  kf: '微信客服',
  group_send: '企业群发（招聘人员确认）',
  recruiter_task: '招聘人员待办',
  none: '无可用渠道',
};

const ROLE_LABEL: Readonly<Record<string, string>> = {
  hiring_manager: '用人经理',
  hrbp: 'HRBP',
  department_head: '部门负责人',
  hr_director: 'HR 总监',
};

function approvalRouted(r: CheckedRecord): ReturnType<EntryRenderer> {
  const p = obj(r.payload);
  const nodes = Array.isArray(p['approvers']) ? p['approvers'] : [];
  const route = nodes
    .map((n) => {
      const node = obj(n);
      return `${ROLE_LABEL[str(node, 'role')] ?? str(node, 'role')} ${list(node['userids']).join('、')}`;
    })
    .join(' → ');
  return { role: 'app', summary: `审批路由：${route || 'WeCom 模板自带流程'}` };
}

const ACCEPTANCE_RENDERERS: EntryRenderers = {
  [ACCEPTANCE_KINDS.linkIssued]: (r) => ({
    role: 'app',
    summary: `生成 offer 确认链接（有效至 ${when(str(obj(r.payload), 'expires_at'))}）`,
  }),
  [ACCEPTANCE_KINDS.linkViewed]: () => ({ role: 'candidate', summary: '候选人打开了 offer 确认页面' }),
  [ACCEPTANCE_KINDS.linkRefused]: (r) => ({
    role: 'candidate',
    summary: `offer 确认页面拒绝了一次操作（${str(obj(r.payload), 'reason') || str(obj(r.payload), 'code') || '身份核对未通过'}）`,
  }),
  'offer.delivery_routed': (r) => {
    const p = obj(r.payload);
    return { role: 'app', summary: `offer 送达渠道：${ROUTE_LABEL[str(p, 'route')] ?? str(p, 'route')}（${str(p, 'why')}）` };
  },
  'offer.delivery_handed': (r) => {
    const p = obj(r.payload);
    return { role: 'app', summary: `offer 链接已交由${ROUTE_LABEL[str(p, 'route')] ?? str(p, 'route')}发送` };
  },
};

const REMINDER_LABEL: Readonly<Record<string, string>> = {
  'offer.unanswered_24h': 'offer 发出 24 小时未答复',
  'offer.unanswered_24h_candidate': 'offer 发出 24 小时未答复（提醒候选人）',
  'offer.unanswered_48h': 'offer 发出 48 小时未答复（告知用人经理）',
  'offer.deadline': 'offer 接受截止',
  'offer.expired_notice': 'offer 已过期通知',
  'approval.idle_1wd': '审批停留 1 个工作日',
  'approval.idle_2wd': '审批停留 2 个工作日（告知招聘人员与 HRBP）',
  'onboarding.materials_missing': '入职材料未齐（入职前 3 个工作日）',
  'onboarding.materials_missing_candidate': '入职材料未齐（提醒候选人）',
  'onboarding.feedback_week1': '入职一周反馈问卷',
};
const CANCEL_LABEL: Readonly<Record<string, string>> = {
  moot: '所等待的事已发生',
  offer_not_open: 'offer 已不在待答复状态',
  approval_not_pending: '审批已不在进行中',
};
const reminderType = (p: Payload): string => REMINDER_LABEL[str(p, 'type')] ?? str(p, 'type');

const REMINDER_RENDERERS: EntryRenderers = {
  [REMINDER_KINDS.scheduled]: (r) => {
    const p = obj(r.payload);
    return { role: 'app', summary: `安排提醒：${reminderType(p)}，给 ${str(p, 'recipient')}，${when(str(p, 'due_at'))}` };
  },
  [REMINDER_KINDS.sent]: (r) => ({ role: 'app', summary: `提醒已发送：${reminderType(obj(r.payload))}` }),
  [REMINDER_KINDS.cancelled]: (r) => {
    const reason = str(obj(r.payload), 'reason');
    return { role: 'app', summary: `提醒已取消（${CANCEL_LABEL[reason] ?? (reason || '已无必要')}）` };
  },
  [REMINDER_KINDS.failed]: () => ({ role: 'app', summary: '提醒发送失败，已记录' }),
  [REMINDER_KINDS.outcomeUnknown]: () => ({ role: 'app', summary: '提醒发送结果未知（不会自动重发，需人工确认）' }),
  [REMINDER_KINDS.deadlineReached]: () => ({ role: 'app', summary: 'offer 接受截止时间已到' }),
  'reminder.not_scheduled': () => ({ role: 'app', summary: '未能安排提醒（节假日日历缺少该年份，未作推测）' }),
};

export const OFFER_PATH_RENDERERS: EntryRenderers = {
  ...(OFFER_RENDERERS as EntryRenderers),
  [APPROVAL_KINDS.routed]: approvalRouted,
  [APPROVAL_KINDS.submitted]: (r) => ({ role: 'app', summary: `已提交企业微信审批（审批单 ${str(obj(r.payload), 'sp_no')}）` }),
  [APPROVAL_KINDS.submitFailed]: () => ({ role: 'app', summary: '提交企业微信审批失败，已记录' }),
  [APPROVAL_KINDS.reconciled]: (r) => ({
    role: 'app',
    summary: `对账补记审批结果（审批单 ${str(obj(r.payload), 'sp_no')}：${str(obj(r.payload), 'approval_status')}，回调丢失）`,
  }),
  'approval.node_reached': (r) => {
    const p = obj(r.payload);
    return { role: 'system', summary: `审批流转到 ${list(p['approvers']).join('、')}（审批单 ${str(p, 'sp_no')}）` };
  },
  ...ACCEPTANCE_RENDERERS,
  ...REMINDER_RENDERERS,
  [ONBOARDING_KINDS.materialReceived]: (r) => {
    const p = obj(r.payload);
    const missing = list(p['missing']);
    return {
      role: 'recruiter',
      summary: `入职材料已收到：${str(p, 'material')}${missing.length ? `（仍缺：${missing.join('、')}）` : '（已齐全）'}`,
    };
  },
  [REAPPLICATION_KINDS.reapplied]: () => ({ role: 'app', summary: '候选人再次联系：已将过往 offer 与建议问题发给招聘人员' }),
};
