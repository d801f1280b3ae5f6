/**
 * Admin API (JSON) under /sandbox/admin/ — fault injection and "things happening on the WeCom side".
 * Not part of WeCom; documented in sandbox/README.md. Action endpoints that fire a callback return at once
 * with the callback record; pass `"wait": true` to get the answer after every delivery attempt is over.
 * The console page posts HTML forms here (application/x-www-form-urlencoded); those get a 303 back to
 * /sandbox/ instead of JSON.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  actOnApproval,
  AdminError,
  commentOnApproval,
  externalContactChange,
  fireApprovalChange,
  kfInbound,
  memberSendsText,
  revokeApproval,
  type Fired,
  type SandboxContext,
} from '../actions';
import { isRecord } from '../applydata';
import {
  approvalAddApprover,
  ApprovalActionError,
  approvalDetailJson,
  approvalTransfer,
  pendingApprovers,
  type Approval,
  type StatuChangeEvent,
} from '../approvals';
import type { ExternalContactChangeType } from '../callbacks';
import type { CallbackRecord } from '../state';
import { queryOf, type Json } from './common';
import { esc, htmlPage } from './html';

const CHANGE_TYPES: ExternalContactChangeType[] = [
  'add_external_contact',
  'edit_external_contact',
  'add_half_external_contact',
  'del_external_contact',
  'del_follow_user',
  'transfer_fail',
  'msg_audit_approved',
];

function isForm(req: FastifyRequest): boolean {
  return (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}

function adminBody(req: FastifyRequest): Json {
  return isRecord(req.body) ? req.body : {};
}

function str(body: Json, key: string, required = true): string {
  const v = body[key];
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number') return String(v);
  if (required) throw new AdminError(400, `缺少参数 ${key}`);
  return '';
}

function wantsWait(body: Json): boolean {
  const w = body['wait'];
  return w === true || w === 'true' || w === '1' || w === 1;
}

export function callbackView(r: CallbackRecord): Json {
  return {
    id: r.id,
    kind: r.kind,
    status: r.status,
    summary: r.summary,
    url: r.url ?? null,
    created_at: r.createdAtMs,
    plaintext: r.plaintext,
    attempts: r.attempts,
  };
}

export function registerAdminRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { state } = ctx;

  /** Runs an action; JSON callers get the result, form callers a redirect back to the console. */
  async function respond<T>(req: FastifyRequest, reply: FastifyReply, run: () => Fired<T> | Json): Promise<FastifyReply> {
    try {
      const out = run();
      if (isForm(req)) return reply.redirect('/sandbox/', 303);
      if ('callback' in out && 'delivered' in out && 'result' in out) {
        const fired = out as Fired<T>;
        const cb = wantsWait(adminBody(req)) ? await fired.delivered : fired.callback;
        return reply.send({ ok: true, result: fired.result, callback: callbackView(cb) });
      }
      return reply.send({ ok: true, ...out });
    } catch (err) {
      if (!(err instanceof AdminError)) throw err;
      if (isForm(req)) {
        return reply
          .code(err.status)
          .type('text/html; charset=utf-8')
          .send(htmlPage('操作失败', `<section><p>${esc(err.message)}</p><p><a href="/sandbox/">返回控制台</a></p></section>`));
      }
      return reply.code(err.status).send({ ok: false, error: err.message });
    }
  }

  app.get('/sandbox/admin/state', async () => ({
    corp_id: state.corpId,
    agent_id: state.agentId,
    corp_name: state.corpName,
    callback_url: state.callbackUrl ?? null,
    token_ttl_seconds: state.tokenTtlSeconds,
    members: [...state.members.values()].map((m) => ({ ...m, in_scope: state.memberInScope(m.userid) })),
    external_contacts: [...state.externalContacts.values()],
    kf_accounts: [...state.kfAccounts.values()],
    templates: [...state.templates.values()].map((t) => ({ template_id: t.template_id, name: t.template_names[0]?.text })),
    stats: state.stats,
  }));

  app.get('/sandbox/admin/stats', async () => state.stats);

  // ---------------------------------------------------------------- tokens & faults

  app.post('/sandbox/admin/tokens/invalidate', async (req, reply) =>
    respond(req, reply, () => ({ invalidated: state.invalidateTokens() })),
  );

  app.post('/sandbox/admin/tokens/ttl', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      const seconds = Number(str(body, 'seconds'));
      if (!Number.isInteger(seconds) || seconds < 1) throw new AdminError(400, 'seconds 必须是正整数');
      state.tokenTtlSeconds = seconds;
      // Optionally shorten live tokens too, to simulate "expires soon" without waiting.
      if (body['apply_to_existing'] === true || body['apply_to_existing'] === 'true') {
        for (const t of state.tokens.values()) t.expiresAtMs = Math.min(t.expiresAtMs, t.issuedAtMs + seconds * 1000);
      }
      return { token_ttl_seconds: seconds };
    }),
  );

  app.get('/sandbox/admin/faults', async () => ({ faults: state.faults }));

  app.post('/sandbox/admin/faults', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      const path = str(body, 'path');
      const errcode = Number(body['errcode'] ?? -1);
      const count = Number(body['count'] ?? 1);
      if (!Number.isInteger(errcode) || errcode === 0) throw new AdminError(400, 'errcode 必须是非零整数（如 -1、45009）');
      if (!Number.isInteger(count) || count < 1) throw new AdminError(400, 'count 必须是正整数');
      return { fault: state.addFault(path, errcode, count) };
    }),
  );

  app.delete('/sandbox/admin/faults', async () => {
    state.faults = [];
    return { ok: true };
  });

  // ---------------------------------------------------------------- callbacks

  app.post('/sandbox/admin/callback-url', async (req, reply) =>
    respond(req, reply, () => {
      const url = str(adminBody(req), 'url', false);
      if (url) {
        try {
          new URL(url);
        } catch {
          throw new AdminError(400, `不是合法的 URL：${url}`);
        }
      }
      state.callbackUrl = url || undefined;
      return { callback_url: state.callbackUrl ?? null };
    }),
  );

  app.get('/sandbox/admin/callbacks', async () => ({ callbacks: state.callbacks.map(callbackView) }));

  app.get('/sandbox/admin/callbacks/:id', async (req, reply) => {
    const id = Number(isRecord(req.params) ? req.params['id'] : NaN);
    const rec = state.callbacks.find((c) => c.id === id);
    if (!rec) return reply.code(404).send({ ok: false, error: `回调 ${id} 不存在` });
    return callbackView(rec);
  });

  // ---------------------------------------------------------------- WeCom-side events

  app.post('/sandbox/admin/app-messages', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      return memberSendsText(ctx, str(body, 'userid'), str(body, 'content'));
    }),
  );

  app.post('/sandbox/admin/kf/messages', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      const origin = body['origin'] === undefined ? undefined : Number(body['origin']);
      if (origin !== undefined && origin !== 3 && origin !== 5)
        throw new AdminError(400, 'origin 只能是 3（客户）或 5（接待人员）');
      return kfInbound(ctx, {
        external_userid: str(body, 'external_userid'),
        ...(str(body, 'open_kfid', false) ? { open_kfid: str(body, 'open_kfid') } : {}),
        ...(str(body, 'content', false) ? { content: str(body, 'content') } : {}),
        ...(body['event'] === 'enter_session' ? { event: 'enter_session' as const } : {}),
        ...(str(body, 'scene_param', false) ? { scene_param: str(body, 'scene_param') } : {}),
        ...(origin !== undefined ? { origin } : {}),
        ...(str(body, 'servicer_userid', false) ? { servicer_userid: str(body, 'servicer_userid') } : {}),
      });
    }),
  );

  app.post('/sandbox/admin/kf/sessions', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      const open_kfid = str(body, 'open_kfid', false) || [...state.kfAccounts.keys()][0] || '';
      const s = state.kfSessions.get(state.kfSessionKey(open_kfid, str(body, 'external_userid')));
      if (!s) throw new AdminError(404, '该客户在此客服账号下没有会话（先让客户发一条消息）');
      const st = Number(body['service_state']);
      if (st !== 0 && st !== 1 && st !== 2 && st !== 3 && st !== 4) throw new AdminError(400, 'service_state 取值 0-4');
      s.service_state = st;
      if (body['last_customer_msg_ago_seconds'] !== undefined) {
        s.lastCustomerMsgAtMs = state.nowMs() - Number(body['last_customer_msg_ago_seconds']) * 1000;
      }
      return { session: s };
    }),
  );

  app.get('/sandbox/admin/kf/sent', async () => ({ sent: state.kfSent }));

  app.post('/sandbox/admin/external-contact/events', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      const changeType = str(body, 'change_type');
      const ct = CHANGE_TYPES.find((c) => c === changeType);
      if (!ct) throw new AdminError(400, `change_type 取值：${CHANGE_TYPES.join(', ')}`);
      return externalContactChange(ctx, {
        change_type: ct,
        userid: str(body, 'userid'),
        external_userid: str(body, 'external_userid'),
        ...(str(body, 'name', false) ? { name: str(body, 'name') } : {}),
        ...(typeof body['state'] === 'string' ? { state: body['state'] } : {}),
        ...(str(body, 'welcome_code', false) ? { welcome_code: str(body, 'welcome_code') } : {}),
        ...(str(body, 'source', false) ? { source: str(body, 'source') } : {}),
        ...(str(body, 'fail_reason', false) ? { fail_reason: str(body, 'fail_reason') } : {}),
      });
    }),
  );

  // A person scans a 联系我 contact way (externalcontact/add_contact_way): they become an external
  // contact of the way's (first) member, and change_external_contact carries the way's state.
  app.post('/sandbox/admin/external-contact/add-via-contact-way', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      const way = state.contactWays.get(str(body, 'config_id'));
      if (!way) throw new AdminError(404, '联系我配置（config_id）不存在');
      const userid = str(body, 'userid', false) || way.user[0] || '';
      if (!way.user.some((u) => u.toLowerCase() === userid.toLowerCase()))
        throw new AdminError(400, `${userid} 不在该联系我配置中`);
      return externalContactChange(ctx, {
        change_type: 'add_external_contact',
        userid,
        external_userid: str(body, 'external_userid'),
        ...(str(body, 'name', false) ? { name: str(body, 'name') } : {}),
        state: way.state,
      });
    }),
  );

  // ---------------------------------------------------------------- approvals

  app.get('/sandbox/admin/approvals', async () => ({
    approvals: [...state.approvals.values()].map((a) => ({ ...approvalDetailJson(a), pending_approvers: pendingApprovers(a) })),
  }));

  const spNoOf = (req: FastifyRequest): string => String(isRecord(req.params) ? req.params['sp_no'] : '');

  /**
   * `"drop_callback": true` acts without delivering the sys_approval_change callback (recorded as
   * skipped), as when WeCom's callback is lost: HireLedger's reconciliation must heal it.
   */
  const maybeDropped = <T>(body: Json, act: () => T): T => {
    if (body['drop_callback'] !== true) return act();
    const url = state.callbackUrl;
    state.callbackUrl = undefined;
    try {
      return act();
    } finally {
      state.callbackUrl = url;
    }
  };

  app.post('/sandbox/admin/approvals/:sp_no/approve', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      return maybeDropped(body, () =>
        actOnApproval(ctx, spNoOf(req), str(body, 'userid'), 'approve', str(body, 'speech', false)),
      );
    }),
  );

  app.post('/sandbox/admin/approvals/:sp_no/reject', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      return maybeDropped(body, () => actOnApproval(ctx, spNoOf(req), str(body, 'userid'), 'reject', str(body, 'speech', false)));
    }),
  );

  /** A member the form may name: known and in the app's visible scope (as applyevent requires), lower-cased. */
  const approverId = (userid: string): string => {
    const m = state.member(userid);
    if (!m || !state.memberInScope(m.userid)) throw new AdminError(400, `成员 ${userid} 不存在或不在应用可见范围内`);
    return m.userid.toLowerCase();
  };

  /** Changes a form through `change` (ApprovalActionError → 409) and fires its sys_approval_change. */
  const changeApproval = (spNo: string, change: (a: Approval) => StatuChangeEvent) => {
    const a = state.approvals.get(spNo);
    if (!a) throw new AdminError(404, `审批单 ${spNo} 不存在`);
    let event: StatuChangeEvent;
    try {
      event = change(a);
    } catch (err) {
      if (err instanceof ApprovalActionError) throw new AdminError(409, err.message);
      throw err;
    }
    return fireApprovalChange(ctx, a, event);
  };

  // 转审: `userid` (pending on the current node) hands their place to `to_userid` → StatuChangeEvent 4.
  app.post('/sandbox/admin/approvals/:sp_no/transfer', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      const userid = str(body, 'userid').toLowerCase();
      const to = approverId(str(body, 'to_userid'));
      return maybeDropped(body, () =>
        changeApproval(spNoOf(req), (a) => approvalTransfer(a, userid, to, str(body, 'speech', false), state.nowSec())),
      );
    }),
  );

  // 添加审批人: `userid` (pending on the current node) adds `add_userid` ("a|b" or an array) as the next
  // node → StatuChangeEvent 12.
  app.post('/sandbox/admin/approvals/:sp_no/add-approver', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      const userid = str(body, 'userid').toLowerCase();
      const raw = body['add_userid'];
      const list = Array.isArray(raw) ? raw.map(String) : str(body, 'add_userid').split('|');
      const added = list.map((u) => u.trim()).filter((u) => u !== '');
      if (added.length === 0) throw new AdminError(400, '缺少参数 add_userid');
      const ids = added.map(approverId);
      return maybeDropped(body, () => changeApproval(spNoOf(req), (a) => approvalAddApprover(a, userid, ids)));
    }),
  );

  app.post('/sandbox/admin/approvals/:sp_no/revoke', async (req, reply) =>
    respond(req, reply, () => revokeApproval(ctx, spNoOf(req))),
  );

  app.post('/sandbox/admin/approvals/:sp_no/comment', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      return commentOnApproval(ctx, spNoOf(req), str(body, 'userid'), str(body, 'content'));
    }),
  );

  // ---------------------------------------------------------------- messages, OAuth, media

  app.get('/sandbox/admin/messages', async (req) => {
    const { userid } = queryOf(req);
    if (userid) return { userid: userid.toLowerCase(), inbox: state.inbox(userid) };
    return { sent: state.sentMessages, dropped: state.droppedMessages };
  });

  app.post('/sandbox/admin/oauth/code', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      const scope = body['scope'] === 'snsapi_privateinfo' ? 'snsapi_privateinfo' : 'snsapi_base';
      const userid = str(body, 'userid', false);
      if (userid) {
        const m = state.member(userid);
        if (!m) throw new AdminError(404, `成员 ${userid} 不存在`);
        return { code: state.issueOAuthCode({ kind: 'member', userid: m.userid }, scope).code };
      }
      const c = state.externalContacts.get(str(body, 'external_userid'));
      if (!c) throw new AdminError(404, '外部联系人不存在');
      return {
        code: state.issueOAuthCode({ kind: 'external', external_userid: c.external_userid, openid: c.openid }, scope).code,
      };
    }),
  );

  app.post('/sandbox/admin/media', async (req, reply) =>
    respond(req, reply, () => {
      const body = adminBody(req);
      const m = state.addMedia(str(body, 'filename'), str(body, 'content_type'), Buffer.from(str(body, 'base64'), 'base64'));
      return { media_id: m.media_id };
    }),
  );
}
