/**
 * 企业群发 (doc 92135): externalcontact/add_msg_template, and what reads a task back,
 * externalcontact/get_groupmsg_task and externalcontact/get_groupmsg_send_result (docs 93338), plus
 * the admin action that plays the sender confirming the task in their WeCom client.
 *
 * add_msg_template queues a message for the sender (a member) to confirm; nothing reaches a
 * customer before that. What WeCom enforces here:
 * - `chat_type` `single` (the default); `group` (customer groups) is not modelled: 40058;
 * - `sender` must be a member inside the app's visible scope (unknown: 40003, outside: 60011); the
 *   sandbox requires it (WeCom, without one, hands the task to every follower: not modelled);
 * - `external_userid` an array (at most 10000); empty or absent: every customer of the sender;
 * - `text.content` at most 4000 bytes (45002); text and attachments not both empty (44004);
 *   at most 9 attachments (40058), each of image/link/miniprogram/video/file (else 41065) with its
 *   own object filled in (image: media_id or pic_url; link: title and an http(s) url; miniprogram:
 *   title, pic_media_id, appid, page; video/file: a media_id the sandbox holds, else 40007);
 * - each customer that is unknown, not an active customer of the sender, or over the monthly limit
 *   (SandboxState.groupMsgMonthlyCap: by default as many as the month has days) is listed in
 *   `fail_list`; when none is left: 41048 with the fail_list.
 * The answer is `{errcode, errmsg, fail_list, msgid}`; the task is in `state.groupMsgs`.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AdminError, type SandboxContext } from '../actions';
import { isRecord } from '../applydata';
import { OK, WecomApiError } from '../errors';
import type { GroupMsgTask, SandboxState } from '../state';
import { bodyOf, optInt, optString, type Json } from './common';

const TEXT_MAX_BYTES = 4000;
const MAX_ATTACHMENTS = 9;
const MAX_CUSTOMERS = 10_000;
const ATTACHMENT_TYPES = ['image', 'link', 'miniprogram', 'video', 'file'];

/** The Beijing calendar month `YYYY-MM` of an instant, and how many days it has. */
function beijingMonth(ms: number): { month: string; days: number } {
  const d = new Date(ms + 8 * 3600_000);
  const days = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  return { month: d.toISOString().slice(0, 7), days };
}

/** Whether `userid` follows the customer now (not deleted, visible to the app). */
function isCustomerOf(state: SandboxState, external_userid: string, userid: string): boolean {
  const c = state.externalContacts.get(external_userid);
  return Boolean(c?.follow_user.some((f) => f.active && f.userid.toLowerCase() === userid && state.memberInScope(f.userid)));
}

/** How many 企业群发 messages queued for the customer in the Beijing month of `ms`. */
function queuedThisMonth(state: SandboxState, external_userid: string, ms: number): number {
  const { month } = beijingMonth(ms);
  return state.groupMsgs.filter(
    (t) => beijingMonth(t.createdAtMs).month === month && t.recipients.some((r) => r.external_userid === external_userid),
  ).length;
}

function validateAttachments(state: SandboxState, raw: unknown): Record<string, unknown>[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new WecomApiError(40058, 'attachments must be an array');
  if (raw.length > MAX_ATTACHMENTS) throw new WecomApiError(40058, `at most ${MAX_ATTACHMENTS} attachments`);
  return raw.map((a: unknown, i) => {
    if (!isRecord(a)) throw new WecomApiError(40058, `attachments[${i}] must be an object`);
    const msgtype = a['msgtype'];
    if (typeof msgtype !== 'string' || !ATTACHMENT_TYPES.includes(msgtype)) throw new WecomApiError(41065, `attachments[${i}]`);
    const part = a[msgtype];
    if (!isRecord(part)) throw new WecomApiError(40058, `attachments[${i}].${msgtype} missing`);
    const str = (k: string): string => (typeof part[k] === 'string' ? part[k] : '');
    if (msgtype === 'image' && str('media_id') === '' && str('pic_url') === '')
      throw new WecomApiError(40058, `attachments[${i}].image needs media_id or pic_url`);
    if (msgtype === 'link') {
      if (str('title') === '') throw new WecomApiError(40058, `attachments[${i}].link.title missing`);
      if (str('url') === '') throw new WecomApiError(40058, `attachments[${i}].link.url missing`);
      if (!/^https?:\/\//.test(str('url'))) throw new WecomApiError(45034);
    }
    if (msgtype === 'miniprogram' && ['title', 'pic_media_id', 'appid', 'page'].some((k) => str(k) === ''))
      throw new WecomApiError(40058, `attachments[${i}].miniprogram needs title, pic_media_id, appid and page`);
    if ((msgtype === 'video' || msgtype === 'file') && !state.media.has(str('media_id'))) throw new WecomApiError(40007);
    return a;
  });
}

/** Sends the task: every queued customer has it now (the sender tapped 发送 in their client). */
export function confirmGroupMsg(state: SandboxState, msgid: string, userid?: string): GroupMsgTask {
  const task = state.groupMsgs.find((t) => t.msgid === msgid);
  if (!task) throw new AdminError(404, `企业群发 ${msgid} 不存在`);
  if (userid !== undefined && userid.toLowerCase() !== task.sender)
    throw new AdminError(409, `企业群发 ${msgid} 由 ${task.sender} 确认发送，不是 ${userid}`);
  if (task.task_status === 2) throw new AdminError(409, `企业群发 ${msgid} 已经发送过了`);
  const now = state.nowMs();
  task.task_status = 2;
  task.confirmedAtMs = now;
  for (const r of task.recipients) {
    r.status = 1;
    r.sendAtMs = now;
  }
  return task;
}

export function registerMsgTemplateRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { state } = ctx;

  app.post('/cgi-bin/externalcontact/add_msg_template', async (req) => {
    const body = bodyOf(req);
    const chatType = optString(body, 'chat_type') ?? 'single';
    if (chatType === 'group') throw new WecomApiError(40058, 'chat_type group (customer groups) is not modelled by the sandbox');
    if (chatType !== 'single') throw new WecomApiError(40058, 'chat_type must be single or group');
    const senderRaw = optString(body, 'sender');
    if (!senderRaw) throw new WecomApiError(40058, 'sender is required by the sandbox');
    const member = state.member(senderRaw);
    if (!member) throw new WecomApiError(40003, 'sender');
    if (!state.memberInScope(member.userid)) throw new WecomApiError(60011, 'sender is outside the app visible scope');
    const sender = member.userid.toLowerCase();

    const listed = body['external_userid'];
    if (listed !== undefined && listed !== null && !Array.isArray(listed))
      throw new WecomApiError(40058, 'external_userid must be an array');
    const ids = Array.isArray(listed) ? listed : [];
    if (ids.length > MAX_CUSTOMERS) throw new WecomApiError(40058, `at most ${MAX_CUSTOMERS} external_userid`);
    if (ids.some((id) => typeof id !== 'string' || id === '')) throw new WecomApiError(40096);

    const text = body['text'];
    if (text !== undefined && text !== null && !isRecord(text)) throw new WecomApiError(40058, 'text must be an object');
    const content = isRecord(text) ? text['content'] : undefined;
    if (content !== undefined && typeof content !== 'string') throw new WecomApiError(40058, 'text.content must be a string');
    if (typeof content === 'string' && Buffer.byteLength(content, 'utf8') > TEXT_MAX_BYTES) throw new WecomApiError(45002);
    const attachments = validateAttachments(state, body['attachments']);
    if ((content === undefined || content === '') && attachments.length === 0)
      throw new WecomApiError(44004, 'text and attachments are both empty');

    // Empty: every customer of the sender (doc 92135: 只提供sender参数时，相当于选取了这个成员所有的客户).
    const candidates =
      ids.length > 0
        ? [...new Set(ids as string[])]
        : [...state.externalContacts.keys()].filter((id) => isCustomerOf(state, id, sender));
    const now = state.nowMs();
    const cap = state.groupMsgMonthlyCap ?? beijingMonth(now).days;
    const fail_list: string[] = [];
    const queued: string[] = [];
    for (const id of candidates) {
      if (!isCustomerOf(state, id, sender) || queuedThisMonth(state, id, now) >= cap) fail_list.push(id);
      else queued.push(id);
    }
    if (queued.length === 0) throw new WecomApiError(41048, undefined, { fail_list });

    const msgid = `msg${randomBytes(12).toString('base64url')}`;
    state.groupMsgs.push({
      msgid,
      sender,
      chat_type: 'single',
      ...(typeof content === 'string' && content !== '' ? { text: { content } } : {}),
      attachments,
      createdAtMs: now,
      task_status: 0,
      recipients: queued.map((external_userid) => ({ external_userid, status: 0 })),
      fail_list,
      request: structuredClone(body),
    });
    return { ...OK, fail_list, msgid };
  });

  // The members' tasks of one 企业群发 (here always the one sender): status 0 未发送, 2 已发送.
  app.post('/cgi-bin/externalcontact/get_groupmsg_task', async (req) => {
    const body = bodyOf(req);
    const task = taskOf(state, optString(body, 'msgid'));
    checkPaging(body);
    return {
      ...OK,
      next_cursor: '',
      task_list: [
        {
          userid: task.sender,
          status: task.task_status,
          ...(task.confirmedAtMs !== undefined ? { send_time: Math.floor(task.confirmedAtMs / 1000) } : {}),
        },
      ],
    };
  });

  // What each customer got from one member's task: status 0 未发送, 1 已发送.
  app.post('/cgi-bin/externalcontact/get_groupmsg_send_result', async (req) => {
    const body = bodyOf(req);
    const task = taskOf(state, optString(body, 'msgid'));
    const userid = optString(body, 'userid');
    if (!userid) throw new WecomApiError(41009);
    checkPaging(body);
    const send_list =
      userid.toLowerCase() === task.sender
        ? task.recipients.map((r) => ({
            external_userid: r.external_userid,
            userid: task.sender,
            status: r.status,
            ...(r.sendAtMs !== undefined ? { send_time: Math.floor(r.sendAtMs / 1000) } : {}),
          }))
        : [];
    return { ...OK, next_cursor: '', send_list };
  });

  registerGroupMsgAdminRoutes(app, ctx);
}

function taskOf(state: SandboxState, msgid: string | undefined): GroupMsgTask {
  if (!msgid) throw new WecomApiError(41046);
  const task = state.groupMsgs.find((t) => t.msgid === msgid);
  if (!task) throw new WecomApiError(41047);
  return task;
}

function checkPaging(body: Json): void {
  const limit = optInt(body, 'limit');
  if (limit !== undefined && (limit < 1 || limit > 1000)) throw new WecomApiError(40058, 'limit must be 1..1000');
}

/** Admin (JSON, documented in sandbox/README.md): list the tasks, confirm one as its sender, set the monthly limit. */
function registerGroupMsgAdminRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { state } = ctx;
  const adminJson = (req: FastifyRequest): Json => (isRecord(req.body) ? req.body : {});

  app.get('/sandbox/admin/group-msgs', async () => ({
    ok: true,
    monthly_cap: state.groupMsgMonthlyCap,
    group_msgs: state.groupMsgs,
  }));

  app.post<{ Params: { msgid: string } }>('/sandbox/admin/group-msgs/:msgid/confirm', async (req, reply) => {
    const userid = adminJson(req)['userid'];
    try {
      const task = confirmGroupMsg(state, req.params.msgid, typeof userid === 'string' && userid !== '' ? userid : undefined);
      if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
        return reply.redirect('/sandbox/', 303);
      return reply.send({ ok: true, result: task });
    } catch (err) {
      if (err instanceof AdminError) return reply.code(err.status).send({ ok: false, error: err.message });
      throw err;
    }
  });

  app.post('/sandbox/admin/group-msgs/monthly-cap', async (req, reply) => {
    const cap = adminJson(req)['cap'];
    if (cap !== null && (typeof cap !== 'number' || !Number.isInteger(cap) || cap < 0))
      return reply.code(400).send({ ok: false, error: 'cap 必须是非负整数，或 null（当月天数）' });
    state.groupMsgMonthlyCap = cap;
    return reply.send({ ok: true, monthly_cap: cap });
  });
}
