/**
 * The approval (审批) domain of the sandbox: how a form submitted through oa/applyevent moves through its
 * nodes when approvers act, and the JSON view returned by oa/getapprovaldetail (doc 91983).
 *
 * Status codes (doc 91815 / 91983):
 *   form sp_status      1 审批中 2 已通过 3 已驳回 4 已撤销 6 通过后撤销 7 已删除 10 已支付
 *   node / approver     1 审批中 2 已同意 3 已驳回 4 已转审
 *   StatuChangeEvent    1 提单 2 同意 3 驳回 4 转审 5 催办 6 撤销 8 通过后撤销 10 添加备注 12 添加审批人 ...
 *
 * Nodes act in order: an approver of node 2 cannot act while node 1 is 审批中 (WeCom does not show them
 * the form yet). Within a node, apv_rel 2 或签 closes on the first 同意, 1 会签 waits for everyone, 3 依次
 * lets only the next one in line act. 转审 hands an approver's place on the node to another member (the
 * entry becomes 4 已转审, the new one is inserted right after it); 添加审批人 inserts a new 或签 node after
 * the current one.
 */
import type { LangText, ProcessNodeInput } from './seed';

export const SP_STATUS = { inProgress: 1, approved: 2, rejected: 3, revoked: 4, revokedAfterApproval: 6, deleted: 7 } as const;
export const CHANGE_EVENT = {
  submitted: 1,
  approved: 2,
  rejected: 3,
  transferred: 4,
  revoked: 6,
  revokedAfterApproval: 8,
  commented: 10,
  approverAdded: 12,
} as const;
export type StatuChangeEvent = (typeof CHANGE_EVENT)[keyof typeof CHANGE_EVENT];

export interface ApproverEntry {
  userid: string;
  speech: string;
  /** 1 审批中 2 已同意 3 已驳回 4 已转审 */
  sp_status: number;
  sptime: number;
}

export interface ApprovalNode {
  /** 1 审批人 2 抄送人 3 办理人 */
  node_type: 1 | 2 | 3;
  /** 1 会签 2 或签 3 依次审批 */
  apv_rel: 1 | 2 | 3;
  sp_status: number;
  entries: ApproverEntry[];
}

export interface ApprovalComment {
  userid: string;
  commenttime: number;
  commentcontent: string;
  /** 19-digit id; kept as a string (JSON numbers lose precision past 2^53). */
  commentid: string;
}

export interface DetailContent {
  control: string;
  id: string;
  title: LangText[];
  value: Record<string, unknown>;
}

export interface Approval {
  sp_no: string;
  sp_name: string;
  sp_status: number;
  template_id: string;
  apply_time: number;
  applyer: { userid: string; partyid: string };
  nodes: ApprovalNode[];
  contents: DetailContent[];
  comments: ApprovalComment[];
  summary_list: { summary_info: LangText[] }[];
  /** What happened last (drives the callback); not part of WeCom's JSON. */
  last_event: StatuChangeEvent;
}

/** Admin actions that make no sense (wrong approver, closed form) raise this; the admin API answers 409. */
export class ApprovalActionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApprovalActionError';
  }
}

export function buildNodes(process: ProcessNodeInput[]): ApprovalNode[] {
  return process.map((n) => ({
    node_type: n.type,
    apv_rel: n.apv_rel ?? 2,
    sp_status: SP_STATUS.inProgress,
    entries: n.userid.map((userid) => ({ userid, speech: '', sp_status: 1, sptime: 0 })),
  }));
}

/** The node waiting for action: the first approver/handler node still 审批中. CC nodes never block. */
export function currentNode(a: Approval): ApprovalNode | undefined {
  if (a.sp_status !== SP_STATUS.inProgress) return undefined;
  return a.nodes.find((n) => n.node_type !== 2 && n.sp_status === 1);
}

/** Userids allowed to act right now (依次审批 only lets the next one in line act). */
export function pendingApprovers(a: Approval): string[] {
  const node = currentNode(a);
  if (!node) return [];
  const waiting = node.entries.filter((e) => e.sp_status === 1);
  if (node.apv_rel === 3) return waiting.slice(0, 1).map((e) => e.userid);
  return waiting.map((e) => e.userid);
}

/** An approver's entry that is done with the node: approved, or handed on by 转审. */
const settled = (e: ApproverEntry): boolean => e.sp_status === 2 || e.sp_status === 4;

/**
 * Why `userid` may not act on the form now, in words an operator understands: the form is closed, they
 * are on a later node than the one waiting (node 1 must finish first), they already acted, or they are
 * not on the flow at all. Undefined when they may act.
 */
export function whyNotPending(a: Approval, userid: string): string | undefined {
  const node = currentNode(a);
  if (!node) return `审批单 ${a.sp_no} 已结束（${SP_STATUS_ZH[a.sp_status] ?? a.sp_status}），不能再操作`;
  if (pendingApprovers(a).includes(userid)) return undefined;
  const approverNodes = a.nodes.filter((n) => n.node_type !== 2);
  const current = approverNodes.indexOf(node) + 1;
  const waiting = pendingApprovers(a).join('、') || '无';
  const later = approverNodes.findIndex(
    (n, i) => i + 1 > current && n.entries.some((e) => e.userid === userid && e.sp_status === 1),
  );
  if (later >= 0) {
    return `${userid} 在第 ${later + 1} 个审批节点，须等第 ${current} 个节点（${waiting}）审批完成后才能审批（审批单 ${a.sp_no}）`;
  }
  const mine = node.entries.find((e) => e.userid === userid);
  if (mine && mine.sp_status === 1 && node.apv_rel === 3) {
    return `第 ${current} 个节点是依次审批，轮到 ${waiting}，${userid} 须等前一位审批（审批单 ${a.sp_no}）`;
  }
  if (mine) return `${userid} 已处理过审批单 ${a.sp_no} 的第 ${current} 个节点`;
  return `${userid} 不是审批单 ${a.sp_no} 当前节点（第 ${current} 个）的待审批人（待审批：${waiting}）`;
}

function pendingEntry(a: Approval, userid: string): { node: ApprovalNode; entry: ApproverEntry } {
  const why = whyNotPending(a, userid);
  if (why !== undefined) throw new ApprovalActionError(why);
  const node = currentNode(a);
  const entry = node?.entries.find((e) => e.userid === userid && e.sp_status === 1);
  if (!node || !entry) throw new ApprovalActionError(`${userid} 已处理过该节点`);
  return { node, entry };
}

export function approvalAct(
  a: Approval,
  userid: string,
  action: 'approve' | 'reject',
  speech: string,
  nowSec: number,
): StatuChangeEvent {
  const { node, entry } = pendingEntry(a, userid);
  entry.speech = speech;
  entry.sptime = nowSec;
  if (action === 'reject') {
    entry.sp_status = 3;
    node.sp_status = 3;
    a.sp_status = SP_STATUS.rejected;
    a.last_event = CHANGE_EVENT.rejected;
    return a.last_event;
  }
  entry.sp_status = 2;
  // 或签: one approval closes the node. 会签 / 依次: everyone still on the node must approve (a 转审
  // entry's place is taken by its transferee).
  const nodeDone = node.apv_rel === 2 || node.entries.every(settled);
  if (nodeDone) node.sp_status = 2;
  // A node-level 同意 on a multi-node flow leaves the form 审批中 until the last node passes (§3.2).
  if (!currentNode(a)) a.sp_status = SP_STATUS.approved;
  a.last_event = CHANGE_EVENT.approved;
  return a.last_event;
}

/**
 * 转审: a pending approver hands their place on the current node to `to` (a member in the app's scope,
 * checked by the caller). Their entry becomes 4 已转审 with the time and the speech; `to` waits right
 * after it (on a 依次 node, in the same place in line). The form stays 审批中 (StatuChangeEvent 4).
 */
export function approvalTransfer(a: Approval, userid: string, to: string, speech: string, nowSec: number): StatuChangeEvent {
  const { node, entry } = pendingEntry(a, userid);
  if (to === userid) throw new ApprovalActionError('不能转审给自己');
  if (node.entries.some((e) => e.userid === to && e.sp_status === 1)) {
    throw new ApprovalActionError(`${to} 已是当前节点的待审批人，不能再转审给 ta`);
  }
  entry.sp_status = 4;
  entry.speech = speech;
  entry.sptime = nowSec;
  node.entries.splice(node.entries.indexOf(entry) + 1, 0, { userid: to, speech: '', sp_status: 1, sptime: 0 });
  a.last_event = CHANGE_EVENT.transferred;
  return a.last_event;
}

/**
 * 添加审批人 (加签 after the current node): a pending approver adds `added` as a new 或签 approver node
 * right after the current one; the form must pass it too before it is approved (StatuChangeEvent 12).
 * The acting approver still has to act on their own node.
 */
export function approvalAddApprover(a: Approval, userid: string, added: string[]): StatuChangeEvent {
  const { node } = pendingEntry(a, userid);
  if (added.length === 0) throw new ApprovalActionError('添加审批人：至少一名成员');
  if (new Set(added).size !== added.length) throw new ApprovalActionError('添加审批人：成员重复');
  a.nodes.splice(a.nodes.indexOf(node) + 1, 0, {
    node_type: 1,
    apv_rel: 2,
    sp_status: SP_STATUS.inProgress,
    entries: added.map((u) => ({ userid: u, speech: '', sp_status: 1, sptime: 0 })),
  });
  a.last_event = CHANGE_EVENT.approverAdded;
  return a.last_event;
}

export function approvalRevoke(a: Approval): StatuChangeEvent {
  if (a.sp_status === SP_STATUS.inProgress) {
    a.sp_status = SP_STATUS.revoked;
    a.last_event = CHANGE_EVENT.revoked;
  } else if (a.sp_status === SP_STATUS.approved) {
    a.sp_status = SP_STATUS.revokedAfterApproval;
    a.last_event = CHANGE_EVENT.revokedAfterApproval;
  } else {
    throw new ApprovalActionError(`审批单 ${a.sp_no} 当前状态 ${a.sp_status} 不能撤销`);
  }
  return a.last_event;
}

export function approvalComment(a: Approval, comment: ApprovalComment): StatuChangeEvent {
  a.comments.push(comment);
  a.last_event = CHANGE_EVENT.commented;
  return a.last_event;
}

/** 或签 → approverattr 1, 会签 → 2. 依次审批 has no legacy equivalent; it is reported as 会签 (all must act). */
export function approverAttr(n: ApprovalNode): 1 | 2 {
  return n.apv_rel === 2 ? 1 : 2;
}

/** The `info` object of oa/getapprovaldetail, field for field as in doc 91983. */
export function approvalDetailJson(a: Approval): Record<string, unknown> {
  return {
    sp_no: a.sp_no,
    sp_name: a.sp_name,
    sp_status: a.sp_status,
    template_id: a.template_id,
    apply_time: a.apply_time,
    applyer: { userid: a.applyer.userid, partyid: a.applyer.partyid },
    sp_record: a.nodes
      .filter((n) => n.node_type !== 2)
      .map((n) => ({
        sp_status: n.sp_status,
        approverattr: approverAttr(n),
        details: n.entries.map((e) => ({
          approver: { userid: e.userid },
          speech: e.speech,
          sp_status: e.sp_status,
          sptime: e.sptime,
          media_id: [],
        })),
      })),
    notifyer: a.nodes.filter((n) => n.node_type === 2).flatMap((n) => n.entries.map((e) => ({ userid: e.userid }))),
    apply_data: { contents: a.contents.map((c) => ({ control: c.control, id: c.id, title: c.title, value: c.value })) },
    comments: a.comments.map((c) => ({
      // camelCase here is WeCom's own inconsistency (doc 91983).
      commentUserInfo: { userid: c.userid },
      commenttime: c.commenttime,
      commentcontent: c.commentcontent,
      commentid: c.commentid,
      media_id: [],
    })),
    process_list: {
      node_list: a.nodes.map((n) =>
        n.node_type === 2
          ? { node_type: 2, sub_node_list: n.entries.map((e) => ({ userid: e.userid })) }
          : {
              node_type: n.node_type,
              sp_status: n.sp_status,
              apv_rel: n.apv_rel,
              sub_node_list: n.entries.map((e) => ({
                userid: e.userid,
                speech: e.speech,
                sp_yj: e.sp_status,
                sptime: e.sptime,
                media_ids: [],
              })),
            },
      ),
    },
  };
}

export const SP_STATUS_ZH: Record<number, string> = {
  1: '审批中',
  2: '已通过',
  3: '已驳回',
  4: '已撤销',
  6: '通过后撤销',
  7: '已删除',
  10: '已支付',
};
