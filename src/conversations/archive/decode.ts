import { parseJsonLossless } from '../../wecom/json';
import { memberUserId } from '../../wecom/names';
import type { JsonValue } from '../../evidence';
import type { ConversationRole } from '../names';
import type { ArchiveSkipReason } from './names';

/**
 * What HireLedger reads from one decrypted archive message (doc 91774): who the external contact
 * is (the candidate), which member (the recruiter) took part, who wrote it, and whether it is a
 * message, a consent (`agree` / `disagree`), or something that is not a candidate's 1:1
 * conversation (a group chat, a chat between members, a switch event, a robot).
 */

/** A chat item as GetChatData returns it. */
export interface ChatItem {
  seq: number;
  msgid: string;
  publickey_ver: number;
  encrypt_random_key: string;
  encrypt_chat_msg: string;
}

export class ArchiveItemError extends Error {
  constructor(
    readonly stage: 'shape' | 'rsa' | 'decrypt' | 'parse',
    message: string,
    readonly code?: number,
  ) {
    super(message);
    this.name = 'ArchiveItemError';
  }
}

/**
 * An external contact's id: `wm…` (WeChat user added as a contact) or `wo…` (a WeChat user seen
 * through the app), as WeCom issues them (32 characters in practice; at most 128 here, as the
 * candidates table). Members' userids may start with the same letters, so a short one (a member
 * called "wolf") is not taken for one.
 */
export function isExternalUserId(id: string): boolean {
  return /^w[mo][A-Za-z0-9_-]{14,126}$/.test(id);
}

const isRobot = (id: string) => /^wb[A-Za-z0-9_-]+$/.test(id);

/** JSON of WeCom's with integers kept exact and any other number as its text (stored evidence holds integers only). */
function storable(value: unknown): JsonValue {
  // U+0000 and lone surrogates (a JSON escape can make either) cannot be hashed losslessly: the
  // exact bytes are in the record's raw plaintext, the readable copy gets U+FFFD.
  // eslint-disable-next-line no-control-regex
  if (typeof value === 'string') return value.toWellFormed().replace(/\u0000/g, '\uFFFD');
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : String(value);
  if (Array.isArray(value)) return value.map(storable);
  if (typeof value === 'object') {
    const out: { [key: string]: JsonValue } = {};
    // defineProperty: a key "__proto__" is kept as a member, never made the prototype; keys are cleaned like strings.
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      Object.defineProperty(out, storable(k) as string, {
        value: storable(v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    return out;
  }
  return typeof value === 'bigint' ? value.toString() : null;
}

/**
 * Parses a JSON text from the SDK. WeCom's decrypted JSON may hold raw control characters, which
 * strict parsers refuse (silenceper/wechat strips bytes < 0x20 too); the exact bytes are kept in
 * the record's `raw` anyway. Long integers stay strings (19-digit ids), U+0000 never reaches the
 * ledger, objects naming a key twice are refused.
 */
export function parseSdkJson(text: string): { [key: string]: JsonValue } {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f]/g, '');
  const parsed = storable(parseJsonLossless(clean, { maxDepth: 64, rejectDuplicateKeys: true }));
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
  return parsed;
}

/** The outer item, checked: anything else cannot be decrypted or accounted for by seq. */
export function readChatItem(value: JsonValue): ChatItem | { seq: number | null; error: string } {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { seq: null, error: 'the item is not an object' };
  const seq = value['seq'];
  const okSeq = typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 ? seq : null;
  const msgid = value['msgid'];
  const ver = value['publickey_ver'];
  const key = value['encrypt_random_key'];
  const msg = value['encrypt_chat_msg'];
  if (okSeq === null) return { seq: null, error: 'seq is missing or not a positive integer' };
  if (typeof msgid !== 'string' || msgid.length === 0 || msgid.length > 256) return { seq: okSeq, error: 'msgid is missing' };
  if (typeof ver !== 'number' || !Number.isSafeInteger(ver)) return { seq: okSeq, error: 'publickey_ver is missing' };
  if (typeof key !== 'string' || typeof msg !== 'string')
    return { seq: okSeq, error: 'encrypt_random_key or encrypt_chat_msg is missing' };
  return { seq: okSeq, msgid, publickey_ver: ver, encrypt_random_key: key, encrypt_chat_msg: msg };
}

export type ReadMessage =
  | {
      kind: 'message';
      role: Extract<ConversationRole, 'candidate' | 'recruiter'>;
      externalUserId: string;
      /** The member in the conversation, lower-cased; null when WeCom named none. */
      recruiter: string | null;
      msgtype: string;
      text?: string;
      msgtime: Date | null;
    }
  | {
      kind: 'consent';
      status: 'agree' | 'disagree';
      externalUserId: string;
      recruiter: string | null;
      msgtime: Date | null;
      /** WeCom's agree_time / disagree_time, ms. */
      decidedAt: Date | null;
    }
  | { kind: 'skip'; reason: ArchiveSkipReason };

const str = (v: JsonValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

function time(v: JsonValue | undefined): Date | null {
  // Milliseconds, UTC; a sane instant between 2000 and 2100 only (DECISIONS 1: else noted, not trusted).
  if (typeof v !== 'number' || v < 946684800000 || v > 4102444800000) return null;
  return new Date(v);
}

/** What a decrypted message is to HireLedger. */
export function readMessage(message: { [key: string]: JsonValue }): ReadMessage {
  const action = str(message['action']);
  if (action === 'switch') return { kind: 'skip', reason: 'switch' };
  if ((str(message['roomid']) ?? '') !== '') return { kind: 'skip', reason: 'group_chat' };
  const from = str(message['from']) ?? '';
  const tolist = Array.isArray(message['tolist']) ? message['tolist'].filter((t): t is string => typeof t === 'string') : [];
  if (isRobot(from)) return { kind: 'skip', reason: 'robot' };
  const fromExternal = isExternalUserId(from);
  const externals = [...new Set([...(fromExternal ? [from] : []), ...tolist.filter(isExternalUserId)])];
  const members = [...(from && !fromExternal ? [from] : []), ...tolist.filter((t) => !isExternalUserId(t) && !isRobot(t))];
  const msgtype = str(message['msgtype']) ?? '';
  const msgtime = time(message['msgtime']);
  const recruiter = members[0] !== undefined ? memberUserId(members[0]) : null;

  if (msgtype === 'agree' || msgtype === 'disagree') {
    const body = message[msgtype];
    const detail = body !== null && typeof body === 'object' && !Array.isArray(body) ? body : {};
    const who = str(detail['userid']) ?? externals[0];
    if (!who) return { kind: 'skip', reason: 'no_external_party' };
    return {
      kind: 'consent',
      status: msgtype,
      externalUserId: who,
      recruiter,
      msgtime,
      decidedAt: time(detail[`${msgtype}_time`]) ?? msgtime,
    };
  }
  if (externals.length === 0) return { kind: 'skip', reason: members.length > 0 ? 'internal' : 'no_external_party' };
  if (externals.length > 1) return { kind: 'skip', reason: 'several_external_parties' };
  const externalUserId = externals[0] as string;
  let text: string | undefined;
  const body = message[msgtype];
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    text = str(body['content']);
  }
  return {
    kind: 'message',
    role: fromExternal ? 'candidate' : 'recruiter',
    externalUserId,
    recruiter,
    msgtype: msgtype || 'unknown',
    ...(text !== undefined ? { text } : {}),
    msgtime,
  };
}

/** Media a message refers to by `sdkfileid` (image, voice, video, file, emotion, meeting_voice_call). */
export function mediaOf(
  message: { [key: string]: JsonValue },
  msgtype: string,
): { sdkfileid: string; contentType: string } | null {
  const body = message[msgtype];
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const sdkfileid = str(body['sdkfileid']);
  if (!sdkfileid) return null;
  const types: Record<string, string> = {
    image: 'image/jpeg',
    voice: 'audio/amr',
    video: 'video/mp4',
    emotion: 'image/gif',
    meeting_voice_call: 'audio/amr',
  };
  return { sdkfileid, contentType: types[msgtype] ?? 'application/octet-stream' };
}
