/**
 * 微信客服: kf/account/list, kf/sync_msg (doc 94670), kf/send_msg (doc 94677), and the admin actions
 * that make KF things happen on the WeCom side (media from a candidate, msg_send_fail, raw items,
 * failing pages).
 *
 * sync_msg pages through what candidates (origin 3), the system (origin 4) and servicers (origin 5)
 * sent, within the last 3 days; messages the app sent through send_msg are not returned (as in WeCom).
 * The cursor is opaque and names a position: asking again with an older cursor returns the same
 * messages again (a client that lost its progress re-reads, it does not skip); `limit` 1..1000
 * (default 1000); `has_more` 1 while messages remain; `next_cursor` always set. msgids are strings.
 * The callback's Token is valid 10 minutes (95007 after); without a token the call is allowed (WeCom
 * then applies a stricter rate limit, not modelled here). Events carry `open_kfid`/`external_userid`
 * inside `event` only; `servicer_userid` only on origin 5.
 * send_msg enforces the 48-hour window, the 5-replies-per-customer-message budget, the session
 * state, and makes a caller-chosen msgid idempotent: repeating it returns the first result without
 * sending again.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AdminError, type SandboxContext } from '../actions';
import { isRecord } from '../applydata';
import { kfMsgOrEventXml } from '../callbacks';
import { errorBody, OK, WecomApiError } from '../errors';
import { nineteenDigitId, type CallbackRecord, type KfPageFault, type KfStoredMessage, type SandboxState } from '../state';
import { callbackView } from './admin';
import { bodyOf, optInt, optString, type Json } from './common';

const THREE_DAYS_MS = 3 * 86400 * 1000;
const FORTY_EIGHT_HOURS_MS = 48 * 3600 * 1000;
const MEDIA_TYPES = ['image', 'voice', 'video', 'file'];

function encodeCursor(open_kfid: string, seq: number): string {
  return Buffer.from(`${open_kfid}:${seq}`).toString('base64url');
}

function decodeCursor(open_kfid: string, cursor: string | undefined): number {
  if (!cursor) return 0;
  const text = Buffer.from(cursor, 'base64url').toString();
  const idx = text.lastIndexOf(':');
  const seq = Number(text.slice(idx + 1));
  if (idx < 0 || text.slice(0, idx) !== open_kfid || !Number.isInteger(seq)) throw new WecomApiError(40058, 'invalid cursor');
  return seq;
}

function requireKf(state: SandboxState, open_kfid: string | undefined): string {
  if (!open_kfid || !/^wk[0-9A-Za-z_-]+$/.test(open_kfid)) throw new WecomApiError(95000);
  if (!state.kfAccounts.has(open_kfid)) throw new WecomApiError(95004);
  return open_kfid;
}

export function registerKfRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { state } = ctx;

  app.post('/cgi-bin/kf/account/list', async (req) => {
    // The body is optional here; WeCom accepts {} or {offset, limit}.
    const body = isRecord(req.body) ? req.body : {};
    const offset = optInt(body, 'offset') ?? 0;
    const limit = optInt(body, 'limit') ?? 100;
    if (offset < 0 || limit < 1 || limit > 100) throw new WecomApiError(40058, 'offset/limit');
    const account_list = [...state.kfAccounts.values()]
      .slice(offset, offset + limit)
      .map((k) => ({ open_kfid: k.open_kfid, name: k.name, avatar: k.avatar, manage_privilege: k.manage_privilege }));
    return { ...OK, account_list };
  });

  app.post('/cgi-bin/kf/sync_msg', async (req) => {
    const body = bodyOf(req);
    const open_kfid = requireKf(state, optString(body, 'open_kfid'));
    const token = optString(body, 'token');
    if (token !== undefined && token !== '') {
      const exp = state.kfTokens.get(token);
      if (exp === undefined || exp <= state.nowMs()) throw new WecomApiError(95007);
    }
    const limit = optInt(body, 'limit') ?? 1000;
    if (limit < 1 || limit > 1000) throw new WecomApiError(40058, 'limit must be 1..1000');
    const cursor = optString(body, 'cursor');
    if (cursor !== undefined && Buffer.byteLength(cursor) > 64) throw new WecomApiError(40058, 'cursor longer than 64 bytes');
    const after = decodeCursor(open_kfid, cursor);
    const fault = takePageFault(state, open_kfid, after);
    if (fault?.mode === 'errcode') return errorBody(fault.errcode, req.ip);
    if (fault?.mode === 'malformed') {
      // What a broken gateway or a format change might answer: errcode 0, but not the documented shape.
      return { ...OK, next_cursor: 12345, has_more: 'maybe', msg_list: { msgid: 'not-a-list' } };
    }
    const oldest = state.nowMs() - THREE_DAYS_MS;
    const pending = state.kfMessages.filter(
      (m) => m.open_kfid === open_kfid && m.seq > after && m.msg.send_time * 1000 >= oldest,
    );
    const page = pending.slice(0, limit);
    const lastSeq = page.length > 0 ? (page[page.length - 1]?.seq ?? after) : after;
    return {
      ...OK,
      next_cursor: encodeCursor(open_kfid, lastSeq),
      has_more: pending.length > limit ? 1 : 0,
      msg_list: page.map((m) => m.msg),
    };
  });

  app.post('/cgi-bin/kf/send_msg', async (req) => {
    const body = bodyOf(req);
    const touser = optString(body, 'touser');
    if (!touser) throw new WecomApiError(40058, 'touser missing');
    const open_kfid = requireKf(state, optString(body, 'open_kfid'));
    const callerMsgid = optString(body, 'msgid');
    if (callerMsgid !== undefined && !/^[0-9A-Za-z_-]{1,32}$/.test(callerMsgid))
      throw new WecomApiError(40058, 'msgid must be ≤32 bytes of [0-9a-zA-Z_-]');
    if (callerMsgid !== undefined) {
      const prev = state.kfSent.find((s) => s.open_kfid === open_kfid && s.msgid === callerMsgid);
      if (prev) return { ...OK, msgid: prev.msgid };
    }

    const msgtype = optString(body, 'msgtype');
    const part = msgtype ? body[msgtype] : undefined;
    if (msgtype === 'text') {
      const content = isRecord(part) ? part['content'] : undefined;
      if (typeof content !== 'string' || content === '') throw new WecomApiError(44004);
      if (Buffer.byteLength(content, 'utf8') > 2048) throw new WecomApiError(45002);
    } else if (msgtype !== undefined && MEDIA_TYPES.includes(msgtype)) {
      const mediaId = isRecord(part) ? part['media_id'] : undefined;
      if (typeof mediaId !== 'string' || mediaId === '') throw new WecomApiError(41006);
      if (!state.media.has(mediaId)) throw new WecomApiError(40007);
    } else if (msgtype === 'link' || msgtype === 'msgmenu' || msgtype === 'location' || msgtype === 'miniprogram') {
      if (!isRecord(part)) throw new WecomApiError(40058, `${msgtype} missing`);
    } else {
      throw new WecomApiError(40008);
    }

    const session = state.kfSessions.get(state.kfSessionKey(open_kfid, touser));
    if (!session || session.service_state === 4) throw new WecomApiError(95013);
    // Only 新接入待处理 (0) and 由智能助手接待 (1) may be answered through the API.
    if (session.service_state !== 0 && session.service_state !== 1) throw new WecomApiError(95018);
    if (state.nowMs() - session.lastCustomerMsgAtMs > FORTY_EIGHT_HOURS_MS) throw new WecomApiError(95002);
    if (session.sentSinceCustomerMsg >= 5) throw new WecomApiError(95001);
    session.sentSinceCustomerMsg += 1;

    const msgid = callerMsgid ?? randomBytes(16).toString('hex');
    state.kfSent.push({ msgid, open_kfid, touser, msgtype, body: part, atMs: state.nowMs() });
    return { ...OK, msgid };
  });

  registerKfAdminRoutes(app, ctx);
}

/** Consumes one matching page fault: for the account, and for the page starting after `afterSeq` when it names one. */
function takePageFault(state: SandboxState, open_kfid: string, after: number): KfPageFault | undefined {
  const fault = state.kfPageFaults.find(
    (f) => f.remaining > 0 && f.open_kfid === open_kfid && (f.afterSeq === undefined || f.afterSeq === after),
  );
  if (!fault) return undefined;
  fault.remaining -= 1;
  state.stats.faultsInjected += 1;
  state.kfPageFaults = state.kfPageFaults.filter((f) => f.remaining > 0);
  return fault;
}

let pageFaultSeq = 0;

/** Stores a KF item for sync_msg and fires kf_msg_or_event with a fresh Token (as WeCom does for each new message). */
export function storeKfAndNotify(
  ctx: SandboxContext,
  open_kfid: string,
  msg: KfStoredMessage['msg'],
  summary: string,
  notify = true,
): { stored: KfStoredMessage; token?: string; callback?: { record: CallbackRecord; done: Promise<CallbackRecord> } } {
  const stored = ctx.state.addKfMessage(open_kfid, msg);
  if (!notify) return { stored };
  const token = ctx.state.issueKfToken();
  const xml = kfMsgOrEventXml(ctx.state.corpId, token, open_kfid, ctx.state.nowSec());
  return { stored, token, callback: ctx.dispatcher.dispatch('kf_msg_or_event', xml, String(ctx.state.agentId), summary) };
}

const MEDIA_MSGTYPES = ['image', 'voice', 'video', 'file'] as const;

/**
 * Admin actions for 微信客服 (JSON; `wait: true` answers after every delivery attempt of the
 * callback). Documented in sandbox/README.md.
 */
function registerKfAdminRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { state } = ctx;
  const accountOf = (body: Json): string => {
    const open_kfid = optString(body, 'open_kfid') ?? [...state.kfAccounts.keys()][0];
    if (!open_kfid || !state.kfAccounts.has(open_kfid)) throw new AdminError(404, `客服账号 ${String(open_kfid)} 不存在`);
    return open_kfid;
  };
  const adminJson = (req: FastifyRequest): Json => (isRecord(req.body) ? req.body : {});
  async function answer(
    req: FastifyRequest,
    reply: FastifyReply,
    run: () => { result: Json; callback?: { record: CallbackRecord; done: Promise<CallbackRecord> } },
  ): Promise<FastifyReply> {
    try {
      const out = run();
      const body = adminJson(req);
      const wait = body['wait'] === true || body['wait'] === 'true';
      const cb = out.callback ? (wait ? await out.callback.done : out.callback.record) : undefined;
      if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded'))
        return reply.redirect('/sandbox/', 303);
      return reply.send({ ok: true, result: out.result, ...(cb ? { callback: callbackView(cb) } : {}) });
    } catch (err) {
      if (err instanceof AdminError) return reply.code(err.status).send({ ok: false, error: err.message });
      if (err instanceof WecomApiError) return reply.code(400).send({ ok: false, error: err.message });
      throw err;
    }
  }

  // A candidate (origin 3) or a servicer (origin 5) sends an image, voice, video or file: the bytes go
  // to media/get under a fresh media_id (valid 3 days in WeCom), the message to sync_msg.
  app.post('/sandbox/admin/kf/media-messages', async (req, reply) =>
    answer(req, reply, () => {
      const body = adminJson(req);
      const open_kfid = accountOf(body);
      const external_userid = optString(body, 'external_userid');
      if (!external_userid) throw new AdminError(400, '缺少参数 external_userid');
      const msgtype = MEDIA_MSGTYPES.find((t) => t === body['msgtype']);
      if (!msgtype) throw new AdminError(400, `msgtype 取值：${MEDIA_MSGTYPES.join(', ')}`);
      const b64 = optString(body, 'base64');
      if (b64 === undefined) throw new AdminError(400, '缺少参数 base64');
      const origin = body['origin'] === undefined ? 3 : Number(body['origin']);
      const servicer = optString(body, 'servicer_userid');
      if (origin !== 3 && origin !== 5) throw new AdminError(400, 'origin 只能是 3（客户）或 5（接待人员）');
      if (origin === 5 && !(servicer && state.member(servicer))) throw new AdminError(400, 'origin 5 需要有效的 servicer_userid');
      const media = state.addMedia(
        optString(body, 'filename') ?? `${msgtype}.bin`,
        optString(body, 'content_type') ?? 'application/octet-stream',
        Buffer.from(b64, 'base64'),
      );
      const msg: KfStoredMessage['msg'] = {
        msgid: origin === 3 ? `from_msgid_${nineteenDigitId()}` : nineteenDigitId(),
        open_kfid,
        external_userid,
        send_time: state.nowSec(),
        origin,
        ...(origin === 5 ? { servicer_userid: servicer } : {}),
        msgtype,
        [msgtype]: { media_id: media.media_id },
      };
      const fired = storeKfAndNotify(ctx, open_kfid, msg, `客服 ${open_kfid}：${external_userid} 发来${msgtype}`);
      return {
        result: { msgid: msg.msgid, media_id: media.media_id, token: fired.token ?? null },
        ...(fired.callback ? { callback: fired.callback } : {}),
      };
    }),
  );

  // WeCom could not deliver a message the app sent (kf/send_msg): a msg_send_fail event (origin 4).
  app.post('/sandbox/admin/kf/send-fail', async (req, reply) =>
    answer(req, reply, () => {
      const body = adminJson(req);
      const msgid = optString(body, 'msgid');
      const sent = state.kfSent.find((s) => s.msgid === msgid);
      if (!sent) throw new AdminError(404, `应用没有发送过 msgid ${String(msgid)}`);
      const fail_type = optInt(body, 'fail_type') ?? 4;
      const msg: KfStoredMessage['msg'] = {
        msgid: nineteenDigitId(),
        send_time: state.nowSec(),
        origin: 4,
        msgtype: 'event',
        event: {
          event_type: 'msg_send_fail',
          open_kfid: sent.open_kfid,
          external_userid: sent.touser,
          fail_msgid: sent.msgid,
          fail_type,
        },
      };
      const fired = storeKfAndNotify(ctx, sent.open_kfid, msg, `客服 ${sent.open_kfid}：消息 ${sent.msgid} 发送失败`);
      return {
        result: { msgid: msg.msgid, token: fired.token ?? null },
        ...(fired.callback ? { callback: fired.callback } : {}),
      };
    }),
  );

  // Any item exactly as given (an unknown msgtype, an item without msgid, a huge text): for bad-input
  // tests. It needs a numeric send_time (the 3-day window is judged on it). `notify: false` stores it silently.
  app.post('/sandbox/admin/kf/raw-messages', async (req, reply) =>
    answer(req, reply, () => {
      const body = adminJson(req);
      const open_kfid = accountOf(body);
      const message = body['message'];
      if (!isRecord(message)) throw new AdminError(400, 'message 必须是对象');
      const send_time = typeof message['send_time'] === 'number' ? message['send_time'] : state.nowSec();
      const msg = { ...message, send_time } as KfStoredMessage['msg'];
      const fired = storeKfAndNotify(ctx, open_kfid, msg, `客服 ${open_kfid}：原样消息`, body['notify'] !== false);
      return {
        result: { seq: fired.stored.seq, token: fired.token ?? null },
        ...(fired.callback ? { callback: fired.callback } : {}),
      };
    }),
  );

  // Make sync_msg pages fail: `{open_kfid?, after_msgid?, mode: "errcode"|"malformed", errcode?, count?}`.
  // With after_msgid only the page that starts right after that message fails; count defaults to 1.
  app.get('/sandbox/admin/kf/page-faults', async () => ({ ok: true, faults: state.kfPageFaults }));
  app.delete('/sandbox/admin/kf/page-faults', async () => {
    state.kfPageFaults = [];
    return { ok: true };
  });
  app.post('/sandbox/admin/kf/page-faults', async (req, reply) =>
    answer(req, reply, () => {
      const body = adminJson(req);
      const open_kfid = accountOf(body);
      const mode =
        body['mode'] === 'malformed' ? 'malformed' : body['mode'] === undefined || body['mode'] === 'errcode' ? 'errcode' : null;
      if (!mode) throw new AdminError(400, 'mode 取值：errcode, malformed');
      const afterMsgid = optString(body, 'after_msgid');
      let afterSeq: number | undefined;
      if (afterMsgid !== undefined) {
        afterSeq = state.kfMessages.find((m) => m.open_kfid === open_kfid && m.msg.msgid === afterMsgid)?.seq;
        if (afterSeq === undefined) throw new AdminError(404, `消息 ${afterMsgid} 不存在`);
      }
      const fault: KfPageFault = {
        id: ++pageFaultSeq,
        open_kfid,
        ...(afterSeq !== undefined ? { afterSeq } : {}),
        mode,
        errcode: optInt(body, 'errcode') ?? -1,
        remaining: optInt(body, 'count') ?? 1,
      };
      state.kfPageFaults.push(fault);
      return { result: { fault } };
    }),
  );

  // The KF conversations as WeCom holds them (what sync_msg would return, and what the app sent).
  app.get('/sandbox/admin/kf/messages', async () => ({
    ok: true,
    messages: state.kfMessages.map((m) => ({ seq: m.seq, open_kfid: m.open_kfid, msg: m.msg })),
    sent: state.kfSent,
  }));
}
