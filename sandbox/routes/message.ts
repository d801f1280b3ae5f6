/**
 * POST /cgi-bin/message/send (doc 90236): app messages to members.
 *
 * Behaviour reproduced from the doc:
 *  - partial failure is errcode 0 with invaliduser/invalidparty/invalidtag (lower-cased ids); all invalid → 81013;
 *  - per app per member ≤ 30/min and ≤ 1000/hour, extra copies are *silently dropped* (errcode stays 0) —
 *    recorded in state.droppedMessages so tests can see it;
 *  - enable_duplicate_check drops an identical request within duplicate_check_interval (default 1800 s,
 *    max 4 h) and answers with the first send's msgid.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { SandboxContext } from '../actions';
import { isRecord } from '../applydata';
import { OK, WecomApiError } from '../errors';
import type { SentMessageRecord } from '../state';
import { bodyOf, canonicalJson, optInt, optString, splitIds, type Json } from './common';

const MSG_TYPES = ['text', 'textcard', 'markdown', 'template_card'] as const;
type MsgType = (typeof MSG_TYPES)[number];
const CARD_TYPES = ['text_notice', 'news_notice', 'button_interaction', 'vote_interaction', 'multiple_interaction'];
const INTERACTIVE = ['button_interaction', 'vote_interaction', 'multiple_interaction'];

function isMsgType(v: string): v is MsgType {
  return (MSG_TYPES as readonly string[]).includes(v);
}

function contentPart(body: Json, msgtype: MsgType): Json {
  const part = body[msgtype];
  if (!isRecord(part)) {
    if (msgtype === 'text' || msgtype === 'markdown') throw new WecomApiError(44004);
    if (msgtype === 'textcard') throw new WecomApiError(41016);
    throw new WecomApiError(40058, 'template_card');
  }
  return part;
}

function validatePart(msgtype: MsgType, part: Json): void {
  switch (msgtype) {
    case 'text':
    case 'markdown': {
      const content = part['content'];
      if (typeof content !== 'string' || content === '') throw new WecomApiError(44004);
      if (Buffer.byteLength(content, 'utf8') > 2048) throw new WecomApiError(45002, `${msgtype}.content exceeds 2048 bytes`);
      return;
    }
    case 'textcard': {
      const { title, description, url, btntxt } = part;
      if (typeof title !== 'string' || title === '') throw new WecomApiError(41016);
      if (typeof description !== 'string' || description === '') throw new WecomApiError(41033);
      if (typeof url !== 'string' || url === '') throw new WecomApiError(41010);
      if ([...title].length > 128) throw new WecomApiError(45002, 'textcard.title exceeds 128 characters');
      if ([...description].length > 512) throw new WecomApiError(45002, 'textcard.description exceeds 512 characters');
      if (Buffer.byteLength(url, 'utf8') > 2048) throw new WecomApiError(45002, 'textcard.url exceeds 2048 bytes');
      if (!/^https?:\/\//i.test(url)) throw new WecomApiError(45034);
      if (btntxt !== undefined && (typeof btntxt !== 'string' || [...btntxt].length > 4))
        throw new WecomApiError(40058, 'textcard.btntxt at most 4 characters');
      return;
    }
    case 'template_card': {
      const cardType = part['card_type'];
      if (typeof cardType !== 'string' || !CARD_TYPES.includes(cardType))
        throw new WecomApiError(40058, 'template_card.card_type');
      if (cardType === 'text_notice' && !isRecord(part['card_action']))
        throw new WecomApiError(40058, 'template_card.card_action required for text_notice');
      if (INTERACTIVE.includes(cardType) && (typeof part['task_id'] !== 'string' || part['task_id'] === '')) {
        throw new WecomApiError(40058, 'template_card.task_id required');
      }
      if (cardType === 'button_interaction') {
        const buttons = part['button_list'];
        if (!Array.isArray(buttons) || buttons.length === 0) throw new WecomApiError(40058, 'template_card.button_list');
        for (const b of buttons) {
          if (!isRecord(b) || typeof b['text'] !== 'string' || typeof b['key'] !== 'string')
            throw new WecomApiError(40058, 'template_card.button_list[].text/key');
        }
      }
      return;
    }
  }
}

export function registerMessageRoutes(app: FastifyInstance, ctx: SandboxContext): void {
  const { state } = ctx;

  app.post('/cgi-bin/message/send', async (req) => {
    const body = bodyOf(req);
    const msgtype = optString(body, 'msgtype');
    if (!msgtype || !isMsgType(msgtype)) throw new WecomApiError(40008);
    const agentid = optInt(body, 'agentid');
    if (agentid === undefined) throw new WecomApiError(41011);
    if (agentid !== state.agentId) throw new WecomApiError(40056);

    const touser = splitIds(optString(body, 'touser'));
    const toparty = splitIds(optString(body, 'toparty'));
    const totag = splitIds(optString(body, 'totag'));
    if (touser.length === 0 && toparty.length === 0 && totag.length === 0) throw new WecomApiError(82001);
    if (touser.length > 1000) throw new WecomApiError(40058, 'touser at most 1000');
    if (toparty.length > 100 || totag.length > 100) throw new WecomApiError(40058, 'toparty/totag at most 100');

    const part = contentPart(body, msgtype);
    validatePart(msgtype, part);

    const now = state.nowMs();
    let dupKey: string | undefined;
    if (optInt(body, 'enable_duplicate_check') === 1) {
      const interval = Math.min(optInt(body, 'duplicate_check_interval') ?? 1800, 4 * 3600);
      dupKey = canonicalJson(body);
      const prev = state.duplicateIndex.get(dupKey);
      if (prev && now - prev.atMs < interval * 1000) {
        state.stats.duplicatesSuppressed += 1;
        return prev.response;
      }
    }

    // Resolve recipients. Unknown or out-of-scope ids are reported back, lower-cased as WeCom does.
    const recipients = new Set<string>();
    const invaliduser: string[] = [];
    const invalidparty: string[] = [];
    const invalidtag: string[] = [];
    for (const u of touser) {
      if (u === '@all') {
        for (const m of state.members.values()) if (state.memberInScope(m.userid)) recipients.add(m.userid.toLowerCase());
      } else if (state.memberInScope(u)) recipients.add(u.toLowerCase());
      else invaliduser.push(u.toLowerCase());
    }
    for (const p of toparty) {
      const id = Number(p);
      if (!Number.isInteger(id) || !state.departments.has(id) || !state.departmentInScope(id)) {
        invalidparty.push(p);
        continue;
      }
      for (const m of state.membersOfDepartment(id)) if (state.memberInScope(m.userid)) recipients.add(m.userid.toLowerCase());
    }
    for (const t of totag) {
      const tag = state.tags.get(Number(t));
      if (!tag) {
        invalidtag.push(t);
        continue;
      }
      for (const u of tag.userids) if (state.memberInScope(u)) recipients.add(u.toLowerCase());
    }
    const invalid = {
      invaliduser: invaliduser.join('|'),
      invalidparty: invalidparty.join('|'),
      invalidtag: invalidtag.join('|'),
    };
    if (recipients.size === 0) {
      throw new WecomApiError(81013, undefined, invalid);
    }

    const msgid = randomBytes(32).toString('base64url');
    const record: SentMessageRecord = {
      msgid,
      atMs: now,
      msgtype,
      request: body,
      delivered: [],
      droppedByRateLimit: [],
      invaliduser,
      invalidparty,
      invalidtag,
    };
    for (const userid of recipients) {
      const dropped = state.deliverToInbox(userid, { msgid, msgtype, body: part, receivedAtMs: now });
      if (dropped) {
        record.droppedByRateLimit.push(userid);
        state.droppedMessages.push({ msgid, userid, atMs: now, reason: dropped });
        state.stats.messagesDroppedByRateLimit += 1;
      } else {
        record.delivered.push(userid);
      }
    }
    state.sentMessages.push(record);

    const cardType = msgtype === 'template_card' ? part['card_type'] : undefined;
    const response: Json = {
      ...OK,
      ...invalid,
      unlicenseduser: '',
      msgid,
      ...(typeof cardType === 'string' && INTERACTIVE.includes(cardType)
        ? { response_code: randomBytes(24).toString('base64url') }
        : {}),
    };
    if (dupKey) state.duplicateIndex.set(dupKey, { msgid, atMs: now, response });
    return response;
  });
}
