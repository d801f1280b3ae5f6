/**
 * Things that happen "on the WeCom side" — a member texts the app, a candidate writes to 微信客服, an
 * approver taps 同意 — and the callback each one fires. Shared by the admin API, the HTML page and the
 * `Sandbox` object that tests use in-process.
 */
import { randomBytes } from 'node:crypto';
import {
  approvalAct,
  approvalComment,
  approvalRevoke,
  ApprovalActionError,
  type Approval,
  type StatuChangeEvent,
} from './approvals';
import {
  approvalChangeXml,
  APPROVAL_SYSTEM_AGENT_ID,
  externalContactXml,
  kfMsgOrEventXml,
  textMessageXml,
  type CallbackDispatcher,
  type ExternalContactChangeType,
} from './callbacks';
import {
  kfCustomerText,
  kfEnterSession,
  nineteenDigitId,
  type CallbackRecord,
  type KfStoredMessage,
  type SandboxState,
} from './state';

export interface SandboxContext {
  state: SandboxState;
  dispatcher: CallbackDispatcher;
}

/** An admin request that cannot be carried out; `status` is the HTTP status the admin API answers. */
export class AdminError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'AdminError';
  }
}

export interface Fired<T> {
  result: T;
  callback: CallbackRecord;
  /** Resolves when every delivery attempt of the callback is over. */
  delivered: Promise<CallbackRecord>;
}

function fire<T>(ctx: SandboxContext, result: T, d: { record: CallbackRecord; done: Promise<CallbackRecord> }): Fired<T> {
  return { result, callback: d.record, delivered: d.done };
}

// ------------------------------------------------------------------ approvals

export function fireApprovalChange(ctx: SandboxContext, a: Approval, event: StatuChangeEvent): Fired<Approval> {
  const xml = approvalChangeXml(ctx.state.corpId, a, event, ctx.state.nowSec());
  const summary = `审批 ${a.sp_no} SpStatus=${a.sp_status} StatuChangeEvent=${event}`;
  return fire(ctx, a, ctx.dispatcher.dispatch('sys_approval_change', xml, String(APPROVAL_SYSTEM_AGENT_ID), summary));
}

function findApproval(ctx: SandboxContext, spNo: string): Approval {
  const a = ctx.state.approvals.get(spNo);
  if (!a) throw new AdminError(404, `审批单 ${spNo} 不存在`);
  return a;
}

function wrapApproval<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ApprovalActionError) throw new AdminError(409, err.message);
    throw err;
  }
}

export function actOnApproval(
  ctx: SandboxContext,
  spNo: string,
  userid: string,
  action: 'approve' | 'reject',
  speech = '',
): Fired<Approval> {
  const a = findApproval(ctx, spNo);
  const event = wrapApproval(() => approvalAct(a, userid.toLowerCase(), action, speech, ctx.state.nowSec()));
  return fireApprovalChange(ctx, a, event);
}

export function revokeApproval(ctx: SandboxContext, spNo: string): Fired<Approval> {
  const a = findApproval(ctx, spNo);
  return fireApprovalChange(
    ctx,
    a,
    wrapApproval(() => approvalRevoke(a)),
  );
}

export function commentOnApproval(ctx: SandboxContext, spNo: string, userid: string, content: string): Fired<Approval> {
  const a = findApproval(ctx, spNo);
  if (!ctx.state.member(userid)) throw new AdminError(400, `成员 ${userid} 不存在`);
  const event = approvalComment(a, {
    userid,
    commenttime: ctx.state.nowSec(),
    commentcontent: content,
    commentid: nineteenDigitId(),
  });
  return fireApprovalChange(ctx, a, event);
}

// ------------------------------------------------------------------ member → app text

export function memberSendsText(ctx: SandboxContext, userid: string, content: string): Fired<{ msgId: string }> {
  const m = ctx.state.member(userid);
  if (!m) throw new AdminError(400, `成员 ${userid} 不存在`);
  if (!ctx.state.memberInScope(m.userid)) throw new AdminError(409, `成员 ${userid} 不在应用可见范围，无法给应用发消息`);
  if (content === '') throw new AdminError(400, 'content 不能为空');
  const msgId = nineteenDigitId();
  const xml = textMessageXml({
    corpId: ctx.state.corpId,
    fromUserId: m.userid,
    createTime: ctx.state.nowSec(),
    content,
    msgId,
    agentId: ctx.state.agentId,
  });
  const d = ctx.dispatcher.dispatch(
    'text',
    xml,
    String(ctx.state.agentId),
    `${m.name}(${m.userid}) 发给应用：${content.slice(0, 30)}`,
  );
  return fire(ctx, { msgId }, d);
}

// ------------------------------------------------------------------ 微信客服

export interface KfInbound {
  open_kfid?: string;
  external_userid: string;
  /** Text from the candidate (origin 3), or from a servicer in the WeCom client (origin 5). */
  content?: string;
  /** Instead of text: the candidate entered the session through a KF link. */
  event?: 'enter_session';
  scene_param?: string;
  origin?: 3 | 5;
  servicer_userid?: string;
}

export function kfInbound(ctx: SandboxContext, input: KfInbound): Fired<{ msgid: string; token: string }> {
  const { state } = ctx;
  const open_kfid = input.open_kfid ?? [...state.kfAccounts.keys()][0];
  if (!open_kfid || !state.kfAccounts.has(open_kfid)) throw new AdminError(404, `客服账号 ${String(open_kfid)} 不存在`);
  if (!input.external_userid) throw new AdminError(400, 'external_userid 必填');
  const send_time = state.nowSec();
  let msg: KfStoredMessage['msg'];
  if (input.event === 'enter_session') {
    msg = kfEnterSession(open_kfid, input.external_userid, input.scene_param ?? '', send_time);
  } else {
    if (!input.content) throw new AdminError(400, 'content 必填（或传 event: "enter_session"）');
    const origin = input.origin ?? 3;
    if (origin === 5 && !(input.servicer_userid && state.member(input.servicer_userid))) {
      throw new AdminError(400, 'origin 5（接待人员发送）需要有效的 servicer_userid');
    }
    msg =
      origin === 3
        ? kfCustomerText(open_kfid, input.external_userid, input.content, send_time)
        : {
            msgid: nineteenDigitId(),
            open_kfid,
            external_userid: input.external_userid,
            send_time,
            origin,
            servicer_userid: input.servicer_userid,
            msgtype: 'text',
            text: { content: input.content },
          };
  }
  state.addKfMessage(open_kfid, msg);
  const token = state.issueKfToken();
  const xml = kfMsgOrEventXml(state.corpId, token, open_kfid, send_time);
  const summary = input.event
    ? `客服 ${open_kfid}：${input.external_userid} 进入会话`
    : input.origin === 5
      ? `客服 ${open_kfid}：接待人员 ${input.servicer_userid ?? ''} 回复 ${input.external_userid}：${input.content?.slice(0, 30) ?? ''}`
      : `客服 ${open_kfid}：${input.external_userid} 发来 ${input.content?.slice(0, 30) ?? ''}`;
  return fire(ctx, { msgid: msg.msgid, token }, ctx.dispatcher.dispatch('kf_msg_or_event', xml, String(state.agentId), summary));
}

// ------------------------------------------------------------------ 客户联系

export interface ExternalContactChange {
  change_type: ExternalContactChangeType;
  userid: string;
  external_userid: string;
  /** For add_*: creates the contact if unknown. */
  name?: string;
  state?: string;
  welcome_code?: string;
  source?: string;
  fail_reason?: string;
}

export function externalContactChange(ctx: SandboxContext, input: ExternalContactChange): Fired<{ external_userid: string }> {
  const { state } = ctx;
  const member = state.member(input.userid);
  if (!member) throw new AdminError(400, `成员 ${input.userid} 不存在`);
  let contact = state.externalContacts.get(input.external_userid);
  const isAdd = input.change_type === 'add_external_contact' || input.change_type === 'add_half_external_contact';
  if (!contact) {
    if (!isAdd) throw new AdminError(404, `外部联系人 ${input.external_userid} 不存在`);
    contact = {
      external_userid: input.external_userid,
      openid: `o${input.external_userid.slice(2)}`,
      name: input.name ?? '新候选人',
      type: 1,
      gender: 0,
      avatar: '',
      unionid: '',
      follow_user: [],
    };
    state.externalContacts.set(contact.external_userid, contact);
  }
  const follow = contact.follow_user.find((f) => f.userid.toLowerCase() === member.userid.toLowerCase());
  if (isAdd) {
    if (follow) {
      follow.active = true;
      follow.state = input.state ?? follow.state;
    } else {
      contact.follow_user.push({
        userid: member.userid,
        remark: '',
        description: '',
        added_ago_seconds: 0,
        tags: [],
        remark_corp_name: '',
        remark_mobiles: [],
        oper_userid: member.userid,
        add_way: 1,
        state: input.state ?? '',
        active: true,
        createtime: state.nowSec(),
      });
    }
  } else if ((input.change_type === 'del_external_contact' || input.change_type === 'del_follow_user') && follow) {
    follow.active = false;
  }
  const withWelcome = isAdd || input.change_type === 'msg_audit_approved';
  const xml = externalContactXml({
    corpId: state.corpId,
    changeType: input.change_type,
    userId: member.userid,
    externalUserId: contact.external_userid,
    createTime: state.nowSec(),
    ...(isAdd ? { state: input.state ?? '' } : {}),
    ...(withWelcome ? { welcomeCode: input.welcome_code ?? randomBytes(18).toString('base64url') } : {}),
    ...(input.source !== undefined ? { source: input.source } : {}),
    ...(input.fail_reason !== undefined ? { failReason: input.fail_reason } : {}),
  });
  const d = ctx.dispatcher.dispatch(
    'change_external_contact',
    xml,
    String(state.agentId),
    `客户联系 ${input.change_type}：${member.userid} ↔ ${contact.name}`,
  );
  return fire(ctx, { external_userid: contact.external_userid }, d);
}
