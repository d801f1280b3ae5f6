import { WecomContentTooLongError, WecomRequestError } from './errors';
import type { WecomHttp } from './http';
import type {
  AppchatCreateRequest,
  AppchatCreateResponse,
  AppchatGetResponse,
  AppchatSendRequest,
  AppchatSendResponse,
} from './types';

/**
 * 群聊会话 (docs 90245, 90247, 90248): a group the app itself creates and posts to. HireLedger uses it to have
 * evidence checkpoints witnessed outside its database (DECISIONS 7). Only self-built apps whose visible scope
 * is the root department may call these (60011 otherwise), and only groups this app created can be read or
 * posted to (86008).
 *
 * Retries follow WecomHttp's rule (a failure after the request may have reached WeCom is retried only for
 * idempotent calls):
 * - get is a read: retried.
 * - create with a chatid is idempotent in effect: a repeat cannot make a second group, WeCom answers 86215
 *   (the chatid exists), and appchat/get then shows the group. Without a chatid WeCom makes up a new id each
 *   time, so a repeat would leave a second, orphaned group with the same members (and spend the corp's 1000
 *   groups a day): not retried.
 * - send is NOT idempotent: appchat/send has no duplicate check and returns no msgid to reconcile by. A
 *   retry after a timeout or reset could post the same checkpoint twice, and the members (legal, the HR lead)
 *   would see two identical checkpoint messages and have to ask whether a second ledger exists — the
 *   confusion a witness is there to remove. Not retrying costs less: the outcome surfaces as
 *   WecomNetworkError with maybeSent, the caller records the witness as unconfirmed, and the next checkpoint
 *   (which covers everything before it) is posted on schedule; a person can look in the group. Failures
 *   known not to have reached WeCom (connection refused, -1, 45009) are still retried.
 */
export interface AppchatApi {
  /** Creates the group; returns WeCom's answer with the chatid (the one given, or WeCom's own). */
  create(req: AppchatCreateRequest): Promise<AppchatCreateResponse>;
  /** 86003 unknown chatid, 86008 a group another app created. */
  get(chatid: string): Promise<AppchatGetResponse>;
  /**
   * Posts to a group this app created and resolves with WeCom's whole answer (`{errcode:0, errmsg:"ok"}`;
   * no msgid). Content over 2048 bytes of UTF-8 is refused before sending (WecomContentTooLongError).
   * Not recorded in the evidence ledger: a post to an internal group, not a message to a person; the
   * checkpointer records its witness posts itself (see createWecomClient).
   */
  send(req: AppchatSendRequest): Promise<AppchatSendResponse>;
}

/** Text content limit of appchat/send (doc 90248) and of the group robot webhook, in bytes of UTF-8. */
export const APPCHAT_TEXT_MAX_BYTES = 2048;

const CHATID = /^[0-9a-zA-Z]{1,32}$/;

export function createAppchatApi(http: WecomHttp): AppchatApi {
  return {
    async create(req) {
      validateCreate(req);
      const body: AppchatCreateRequest = {
        ...(req.name !== undefined ? { name: req.name } : {}),
        ...(req.owner !== undefined ? { owner: req.owner } : {}),
        userlist: req.userlist,
        ...(req.chatid !== undefined ? { chatid: req.chatid } : {}),
      };
      const res = await http.json<AppchatCreateResponse>({
        method: 'POST',
        path: 'appchat/create',
        body,
        idempotent: req.chatid !== undefined,
      });
      return { ...res, chatid: String(res.chatid) };
    },

    get: (chatid) => {
      requireChatid('appchat/get', chatid);
      return http.json<AppchatGetResponse>({ method: 'GET', path: 'appchat/get', query: { chatid }, idempotent: true });
    },

    async send(req) {
      requireChatid('appchat/send', req.chatid);
      requireTextContent('appchat/send', req.text?.content);
      return http.json<AppchatSendResponse>({ method: 'POST', path: 'appchat/send', body: req, idempotent: false });
    },
  };
}

function validateCreate(req: AppchatCreateRequest): void {
  const list = req.userlist;
  if (!Array.isArray(list) || list.some((u) => typeof u !== 'string' || u.trim() === ''))
    throw new WecomRequestError('appchat/create', 'userlist', 'must be a list of userids');
  // WeCom compares userids case-insensitively (DECISIONS 8): count distinct members the same way.
  const members = new Set(list.map((u) => u.toLowerCase()));
  if (members.size < 2 || members.size > 2000)
    throw new WecomRequestError('appchat/create', 'userlist', `has ${members.size} distinct members; 2 to 2000 allowed`);
  if (req.owner !== undefined && !members.has(req.owner.toLowerCase()))
    throw new WecomRequestError('appchat/create', 'owner', 'must be one of userlist');
  if (req.chatid !== undefined && !CHATID.test(req.chatid))
    throw new WecomRequestError('appchat/create', 'chatid', 'must be 1 to 32 characters of 0-9a-zA-Z');
}

/** Only present: the charset rule is for ids a caller picks; an id WeCom generated is taken as it is. */
function requireChatid(path: string, chatid: string): void {
  if (typeof chatid !== 'string' || chatid === '') throw new WecomRequestError(path, 'chatid', 'is required');
}

/** Non-empty, at most 2048 bytes of UTF-8 (WeCom counts bytes, so 683 Chinese characters are too many). */
export function requireTextContent(path: string, content: unknown): void {
  if (typeof content !== 'string' || content === '') throw new WecomRequestError(path, 'text.content', 'must be non-empty text');
  const bytes = Buffer.byteLength(content, 'utf8');
  if (bytes > APPCHAT_TEXT_MAX_BYTES) throw new WecomContentTooLongError(path, 'text.content', bytes, APPCHAT_TEXT_MAX_BYTES);
}
