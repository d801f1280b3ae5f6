/**
 * 微信客服: kf/account/list, kf/sync_msg (doc 94670), kf/send_msg (doc 94677).
 *
 * sync_msg pages through what candidates (origin 3), the system (origin 4) and servicers (origin 5)
 * sent, within the last 3 days; messages the app sent through send_msg are not returned (as in WeCom).
 * msgids are strings. send_msg enforces the 48-hour window, the 5-replies-per-customer-message budget,
 * the session state, and makes a caller-chosen msgid idempotent: repeating it returns the first result
 * without sending again.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { SandboxContext } from '../actions';
import { isRecord } from '../applydata';
import { OK, WecomApiError } from '../errors';
import type { SandboxState } from '../state';
import { bodyOf, optInt, optString } from './common';

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
    const after = decodeCursor(open_kfid, optString(body, 'cursor'));
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
}
