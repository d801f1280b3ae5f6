/**
 * Decrypted callback messages, as WeCom writes them, with defaults a test may override. The XML
 * comes from the sandbox's builders (sandbox/callbacks.ts), the one implementation of WeCom's
 * callback format: these factories only fill in what a test does not care about. Tests that need
 * XML WeCom would never send (malformed, hostile, deeply nested) keep writing it by hand.
 */
import { type Approval, type StatuChangeEvent } from '../../sandbox/approvals';
import {
  approvalChangeXml,
  enterAgentXml,
  externalContactXml,
  textMessageXml,
  type ExternalContactChangeType,
} from '../../sandbox/callbacks';
import { OFFER_TEMPLATE_ID } from '../../sandbox/seed';
import { TEST_KEYS } from '../support/keys';

const now = (): number => Math.floor(Date.now() / 1000);

/** §3.1: a member's text message to the app (default: zhangmin says 你好, now, to TEST_KEYS' corp and agent). */
export function textMessage(opts: {
  /** 19 digits, as a string. */
  msgId: string;
  from?: string;
  content?: string;
  createTime?: number;
  corpId?: string;
  agentId?: string | number;
}): string {
  return textMessageXml({
    corpId: opts.corpId ?? TEST_KEYS.corpId,
    fromUserId: opts.from ?? 'zhangmin',
    createTime: opts.createTime ?? now(),
    content: opts.content ?? '你好',
    msgId: opts.msgId,
    agentId: opts.agentId ?? TEST_KEYS.agentId,
  });
}

/** §3.5: change_external_contact; the optional fields appear only when given. */
export function contactChange(opts: {
  changeType: ExternalContactChangeType;
  userId: string;
  externalUserId: string;
  createTime: number;
  state?: string;
  welcomeCode?: string;
  source?: string;
  failReason?: string;
  corpId?: string;
}): string {
  const { corpId, ...event } = opts;
  return externalContactXml({ corpId: corpId ?? TEST_KEYS.corpId, ...event });
}

export interface ApprovalDetail {
  userid: string;
  spTime: number;
  /** 1 审批中 2 已同意 3 已驳回; default 2 when spTime is set, else 1. */
  spStatus?: number;
}

export interface ApprovalCommentXml {
  userid: string;
  time: number;
  id: string;
  content?: string;
}

/**
 * §3.2: sys_approval_change for an offer approval zhangmin filed a minute before `createTime`,
 * with explicit approver nodes (each a 会签 node; one array per node) and comments.
 * `processOnly` leaves SpRecord out, so the approvers are only in ProcessList/NodeList/SubNodeList:
 * the sandbox always writes both, and the app must also read an event that carries only the latter.
 */
export function approvalEvent(opts: {
  spNo: string;
  createTime: number;
  statuChangeEvent: number;
  spStatus: number;
  nodes: ApprovalDetail[][];
  comments?: ApprovalCommentXml[];
  processOnly?: boolean;
  corpId?: string;
}): string {
  const status = (d: ApprovalDetail): number => d.spStatus ?? (d.spTime > 0 ? 2 : 1);
  const approval: Approval = {
    sp_no: opts.spNo,
    sp_name: '录用审批',
    sp_status: opts.spStatus,
    template_id: OFFER_TEMPLATE_ID,
    apply_time: opts.createTime - 60,
    applyer: { userid: 'zhangmin', partyid: '2' },
    nodes: opts.nodes.map((node) => ({
      node_type: 1,
      apv_rel: 1,
      sp_status: node.every((d) => status(d) === 2) ? 2 : 1,
      entries: node.map((d) => ({ userid: d.userid, speech: '', sp_status: status(d), sptime: d.spTime })),
    })),
    contents: [],
    comments: (opts.comments ?? []).map((c) => ({
      userid: c.userid,
      commenttime: c.time,
      commentcontent: c.content ?? '备注',
      commentid: c.id,
    })),
    summary_list: [],
    last_event: opts.statuChangeEvent as StatuChangeEvent,
  };
  const xml = approvalChangeXml(opts.corpId ?? TEST_KEYS.corpId, approval, approval.last_event, opts.createTime);
  return opts.processOnly ? xml.replace(/<SpRecord>.*?<\/SpRecord>/gs, '') : xml;
}

/** An approval event with one approver, liqiang, who acted at `createTime` with the approval's status. */
export function approvalChange(opts: { spNo: string; createTime: number; statuChangeEvent: number; spStatus: number }): string {
  return approvalEvent({
    ...opts,
    nodes: [[{ userid: 'liqiang', spTime: opts.createTime, spStatus: opts.spStatus }]],
  });
}

/** enter_agent: a member opens the app (default: zhangmin, now, TEST_KEYS' corp and agent). */
export function enterAgent(
  opts: { from?: string; createTime?: number; corpId?: string; agentId?: string | number } = {},
): string {
  return enterAgentXml({
    corpId: opts.corpId ?? TEST_KEYS.corpId,
    fromUserId: opts.from ?? 'zhangmin',
    createTime: opts.createTime ?? now(),
    agentId: opts.agentId ?? TEST_KEYS.agentId,
  });
}
