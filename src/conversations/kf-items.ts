import { createHash } from 'node:crypto';
import type { JsonValue } from '../evidence';
import type { ConversationRole } from './names';

/**
 * Reading one item of a kf/sync_msg page (doc 94670) into what the record needs, without ever
 * refusing the page for it: a field that is missing or odd is noted (`anomalies`) and replaced,
 * the item itself is kept as received (made storable: the ledger takes strings, safe integers,
 * booleans, null, arrays and objects, and no U+0000 or lone surrogate).
 */

/** msgtypes of doc 94670; anything else is kept as it came and counted (`unknown_msgtype`). */
export const KF_KNOWN_MSGTYPES: ReadonlySet<string> = new Set([
  'text',
  'image',
  'voice',
  'video',
  'file',
  'location',
  'link',
  'business_card',
  'miniprogram',
  'msgmenu',
  'event',
  'channels_shop_product',
  'channels_shop_order',
  'merged_msg',
  'channels',
  'meeting',
  'schedule',
  'note',
]);

/** msgtypes whose `media_id` media/get fetches. */
export const KF_MEDIA_TYPES: ReadonlySet<string> = new Set(['image', 'voice', 'video', 'file']);

export type KfItem =
  | {
      ok: true;
      msgid: string;
      msgtype: string;
      origin: number;
      role: ConversationRole;
      /** Seconds, as WeCom gave it; null when it is not a sane time (then occurred_at is the pull's time). */
      sendTime: number | null;
      externalUserId: string | null;
      /** Lower-cased (DECISIONS 8), origin 5 only. */
      servicer: string | null;
      eventType: string | null;
      /** enter_session's scene_param (ties the candidate to a position). */
      sceneParam: string | null;
      /** msg_send_fail's fail_msgid / fail_type. */
      failMsgid: string | null;
      failType: number | null;
      text: string | null;
      /** The item, storable, as received otherwise. */
      message: { [key: string]: JsonValue };
      anomalies: string[];
    }
  | { ok: false; reason: string; externalUserId: string | null; item: JsonValue; anomalies: string[] };

const EARLIEST_SEND_TIME = 946684800; // 2000-01-01: WeCom's KF did not exist before.

export function readKfItem(raw: unknown, nowMs: number): KfItem {
  const anomalies: string[] = [];
  const item = storable(raw, anomalies);
  if (!isObject(item)) return { ok: false, reason: 'item_not_an_object', externalUserId: null, item, anomalies };
  const event = isObject(item['event']) ? item['event'] : null;
  const externalRaw = item['external_userid'] ?? event?.['external_userid'];
  const externalUserId =
    typeof externalRaw === 'string' && externalRaw.length > 0 && externalRaw.length <= 128 ? externalRaw : null;
  if (externalRaw !== undefined && externalUserId === null) anomalies.push('external_userid_not_an_id');
  const msgid = item['msgid'];
  if (typeof msgid !== 'string' || msgid.length === 0 || msgid.length > 128 || !/^[\x21-\x7e]+$/.test(msgid))
    return { ok: false, reason: 'no_msgid', externalUserId, item, anomalies };

  let msgtype = item['msgtype'];
  if (typeof msgtype !== 'string' || msgtype.length === 0 || msgtype.length > 64) {
    anomalies.push('no_msgtype');
    msgtype = 'unknown';
  }
  const originRaw = item['origin'];
  const origin = typeof originRaw === 'number' ? originRaw : Number(originRaw);
  let role: ConversationRole;
  if (origin === 3) role = 'candidate';
  else if (origin === 5) role = 'recruiter';
  else if (origin === 4) role = 'system';
  else {
    anomalies.push('unknown_origin');
    role = 'system';
  }
  const sendRaw = item['send_time'];
  const send =
    typeof sendRaw === 'number' ? sendRaw : typeof sendRaw === 'string' && /^\d{1,12}$/.test(sendRaw) ? Number(sendRaw) : NaN;
  const sane = Number.isSafeInteger(send) && send >= EARLIEST_SEND_TIME && send * 1000 <= nowMs + 86_400_000;
  if (!sane) anomalies.push('bad_send_time');

  const servicerRaw = item['servicer_userid'];
  const servicer =
    typeof servicerRaw === 'string' && servicerRaw.length > 0 && servicerRaw.length <= 256 ? servicerRaw.toLowerCase() : null;
  if (role === 'recruiter' && servicer === null) anomalies.push('no_servicer_userid');

  const eventType = typeof event?.['event_type'] === 'string' ? event['event_type'] : null;
  const sceneParam = eventType === 'enter_session' && typeof event?.['scene_param'] === 'string' ? event['scene_param'] : null;
  const failMsgid = eventType === 'msg_send_fail' && typeof event?.['fail_msgid'] === 'string' ? event['fail_msgid'] : null;
  const failTypeRaw = event?.['fail_type'];
  const failType = eventType === 'msg_send_fail' && typeof failTypeRaw === 'number' ? failTypeRaw : null;

  let text: string | null = null;
  const body = item[msgtype];
  if (msgtype === 'text' && isObject(body) && typeof body['content'] === 'string') text = body['content'];

  return {
    ok: true,
    msgid,
    msgtype,
    origin,
    role,
    sendTime: sane ? send : null,
    externalUserId,
    servicer,
    eventType,
    sceneParam: sceneParam === '' ? null : sceneParam,
    failMsgid,
    failType,
    text,
    message: item,
    anomalies,
  };
}

export function isObject(v: unknown): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/**
 * What the ledger can store and re-verify exactly (DECISIONS 6): numbers that are not safe integers
 * (a location's latitude) become the text JavaScript writes for them; U+0000 and lone surrogates
 * become U+FFFD; undefined members are left out. Each change is noted once in `anomalies`.
 */
export function storable(v: unknown, anomalies: string[], depth = 0): JsonValue {
  if (depth > 32) {
    note(anomalies, 'too_deep');
    return null;
  }
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'string') return cleanText(v, anomalies);
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v;
    note(anomalies, 'number_as_text');
    return String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : storable(x, anomalies, depth + 1)));
  if (typeof v === 'object') {
    const out: { [key: string]: JsonValue } = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x === undefined) continue;
      // defineProperty: a key "__proto__" (JSON may hold one) is kept as a member, never made the prototype.
      setMember(out, cleanText(k, anomalies), storable(x, anomalies, depth + 1));
    }
    return out;
  }
  note(anomalies, 'not_json');
  return null;
}

/** Sets an own member, whatever its name: `out["__proto__"] = x` would set the prototype and drop the member. */
export function setMember(out: { [key: string]: JsonValue }, key: string, value: JsonValue): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

function cleanText(s: string, anomalies: string[]): string {
  if (!s.includes('\u0000') && s.isWellFormed()) return s;
  note(anomalies, 'text_cleaned');
  return s.replaceAll('\u0000', '\uFFFD').toWellFormed();
}

function note(anomalies: string[], what: string): void {
  if (!anomalies.includes(what)) anomalies.push(what);
}

/** A short, stable digest of WeCom's opaque cursor, for source_refs ('start' before the first page). */
export function cursorDigest(cursor: string | null): string {
  if (cursor === null || cursor === '') return 'start';
  return createHash('sha256').update(cursor, 'utf8').digest('hex').slice(0, 32);
}

/** UTF-8 bytes of a string. */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** The longest prefix of `s` of at most `max` UTF-8 bytes, never splitting a character. */
export function cutUtf8(s: string, max: number): string {
  let bytes = 0;
  let end = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > max) break;
    bytes += n;
    end += ch.length;
  }
  return s.slice(0, end);
}
