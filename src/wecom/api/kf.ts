import { createHash } from 'node:crypto';
import { WECOM_STREAMS } from '../names';
import { idString, requireKey, sendRecorded, type SendDeps } from './evidence';
import { isRecord, type WecomHttp } from './http';
import type {
  KfAccountListResponse,
  KfMessage,
  KfSendMsgRequest,
  KfSendMsgResponse,
  KfSyncMsgRequest,
  KfSyncMsgResponse,
  SendOptions,
} from './types';

/**
 * 微信客服 (docs 94670, 94677): list accounts, pull messages, reply to a candidate.
 *
 * send_msg takes a caller-chosen msgid that WeCom keeps unique per account, which makes a repeated send a
 * no-op (../shared/wecom/README.md §4.7). When the caller gives none, it is derived from the idempotency key, so
 * neither our retry after a timeout nor a job re-run after a crash between intent and outcome can reach the
 * candidate twice; the re-run's answer then completes the evidence (sendRecorded, evidence.ts). Success does not
 * mean delivered: watch for msg_send_fail events.
 */
export interface KfApi {
  listAccounts(offset?: number, limit?: number): Promise<KfAccountListResponse>;
  /** One page; persist next_cursor after every page and loop while has_more is 1. */
  /** `maxBytes`: a larger answer is cut off while it arrives (WecomNetworkError `RESPONSE_TOO_LARGE`). */
  syncMsg(req: KfSyncMsgRequest, opts?: { maxBytes?: number }): Promise<KfSyncMsgResponse>;
  sendMsg(req: KfSendMsgRequest, opts: SendOptions): Promise<KfSendMsgResponse>;
}

export interface KfApiDeps extends SendDeps {
  http: WecomHttp;
  /** The opaque contact id of each external_userid (external-contacts.ts, bound to the corp); see WecomClientDeps. */
  contactIds?: (externalUserIds: readonly string[]) => Promise<Map<string, string>>;
}

export function createKfApi(d: KfApiDeps): KfApi {
  return {
    listAccounts: (offset, limit) =>
      d.http.json<KfAccountListResponse>({
        method: 'POST',
        path: 'kf/account/list',
        body: { ...(offset !== undefined ? { offset } : {}), ...(limit !== undefined ? { limit } : {}) },
        idempotent: true,
      }),

    async syncMsg(req, opts) {
      const res = await d.http.json<Record<string, unknown>>({
        method: 'POST',
        path: 'kf/sync_msg',
        body: req,
        idempotent: true,
        ...(opts?.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
      });
      return readSyncMsgAnswer(res);
    },

    async sendMsg(req, opts) {
      const idempotencyKey = requireKey(opts);
      const body = { ...req, msgid: req.msgid ?? kfMsgIdFor(idempotencyKey) };
      const contactId = (await externalContactIds(d.contactIds, 'kf/send_msg', [req.touser])).get(req.touser) as string;
      const answer = await sendRecorded(
        d,
        {
          api: 'kf/send_msg',
          msgtype: req.msgtype,
          idempotencyKey,
          request: body,
          // The candidate's stream names them by their opaque id (DECISIONS 4); external_userid and open_kfid are
          // case-sensitive WeCom ids, kept exactly in the erasable payload (DECISIONS 8).
          recipients: [
            {
              stream: WECOM_STREAMS.externalContact(contactId),
              who: { external_userid: req.touser, open_kfid: req.open_kfid },
            },
          ],
          repeat: 'resend',
        },
        () => d.http.json<Record<string, unknown>>({ method: 'POST', path: 'kf/send_msg', body, idempotent: true }),
        (raw) => ({ errcode: raw['errcode'] ?? 0, errmsg: raw['errmsg'] ?? '', msgid: idString(raw['msgid'], body.msgid) }),
      );
      return { ...answer, msgid: idString(answer['msgid'], body.msgid) };
    },
  };
}

/**
 * The opaque contact id of each external_userid, before anything is recorded: without the mapping the send is
 * refused (a raw external_userid never goes into a stream).
 */
export async function externalContactIds(
  contactIds: ((ids: readonly string[]) => Promise<Map<string, string>>) | undefined,
  path: string,
  externalUserIds: readonly string[],
): Promise<Map<string, string>> {
  if (!contactIds) {
    throw new TypeError(
      `${path}: the client was built without externalContacts, so the recipient cannot be named by an opaque id (nothing recorded or sent)`,
    );
  }
  const ids = await contactIds(externalUserIds);
  for (const id of externalUserIds)
    if (!ids.has(id)) throw new Error(`${path}: no opaque contact id was returned for a recipient`);
  return ids;
}

/** ≤ 32 bytes of [0-9a-zA-Z_-] (doc 94677): the key itself when it fits, else a hash of it. */
export function kfMsgIdFor(idempotencyKey: string): string {
  if (/^[0-9A-Za-z_-]{1,32}$/.test(idempotencyKey)) return idempotencyKey;
  return `hl${createHash('sha256').update(idempotencyKey, 'utf8').digest('hex').slice(0, 30)}`;
}

/**
 * A sync_msg answer that does not have the documented shape (doc 94670): no msg_list array, a
 * has_more other than 0 or 1, or a next_cursor that is not a string. Nothing of it can be trusted
 * to move a cursor, so the caller keeps its cursor and records a gap. `answer` is what came back.
 */
export class KfAnswerMalformedError extends Error {
  constructor(
    readonly problem: string,
    readonly answer: Record<string, unknown>,
  ) {
    super(`kf/sync_msg answered without the documented shape: ${problem}`);
    this.name = 'KfAnswerMalformedError';
  }
}

/**
 * The page as KfSyncMsgResponse, checked at the top level only: items are handed over as received
 * (a bare-number msgid as a string), for the caller to read one by one, so one bad item never costs
 * the page.
 */
export function readSyncMsgAnswer(res: Record<string, unknown>): KfSyncMsgResponse {
  const list = res['msg_list'] === undefined ? [] : res['msg_list'];
  if (!Array.isArray(list)) throw new KfAnswerMalformedError('msg_list is not an array', res);
  const hasMore = res['has_more'] === undefined ? 0 : res['has_more'];
  if (hasMore !== 0 && hasMore !== 1 && hasMore !== '0' && hasMore !== '1' && hasMore !== true && hasMore !== false)
    throw new KfAnswerMalformedError('has_more is not 0 or 1', res);
  const next = res['next_cursor'] === undefined ? '' : res['next_cursor'];
  if (typeof next !== 'string') throw new KfAnswerMalformedError('next_cursor is not a string', res);
  // A bare-number msgid (lossless parsing keeps long ones as strings already) becomes its string; the
  // items are otherwise as received, typed loosely: the caller checks each one.
  const msgList = list.map((m: unknown) =>
    isRecord(m) && (typeof m['msgid'] === 'number' || typeof m['msgid'] === 'bigint') ? { ...m, msgid: String(m['msgid']) } : m,
  ) as KfMessage[];
  return {
    ...(res as unknown as KfSyncMsgResponse),
    next_cursor: next,
    has_more: hasMore === 1 || hasMore === '1' || hasMore === true ? 1 : 0,
    msg_list: msgList,
  };
}
