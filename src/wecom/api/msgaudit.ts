import { WecomRequestError } from './errors';
import { isRecord, type WecomHttp } from './http';

/**
 * 会话内容存档 HTTP helpers (../shared/wecom/README.md §5.1, doc 91782): whether an external contact
 * agreed that their 1:1 conversation with a member is archived. WeCom answers these only for the
 * access_token of the archive's own Secret (会话内容存档 Secret), so call it on a client built with
 * that Secret (MSGAUDIT_SECRET), not the app's. Note WeCom's own misspelling `exteranalopenid`.
 */

/** At most this many pairs per call (doc 91782). */
export const CHECK_SINGLE_AGREE_MAX = 100;

export interface SingleAgreeInfo {
  userid: string;
  /** WeCom's spelling: the external contact's external_userid. */
  exteranalopenid: string;
  /** `Agree` or `Disagree` (kept as WeCom wrote it). */
  agree_status: string;
  /** Seconds; absent when WeCom gives none. */
  status_change_time?: number | string;
}

export interface CheckSingleAgreeAnswer {
  agreeinfo: SingleAgreeInfo[];
  /** WeCom's whole answer, as parsed (ids as strings), for the record. */
  answer: Record<string, unknown>;
}

export interface MsgauditApi {
  /** Consent of each (member, external contact) pair; 1 to 100 pairs. */
  checkSingleAgree(pairs: readonly { userid: string; externalUserId: string }[]): Promise<CheckSingleAgreeAnswer>;
}

export function createMsgauditApi(http: WecomHttp): MsgauditApi {
  return {
    async checkSingleAgree(pairs) {
      if (pairs.length === 0 || pairs.length > CHECK_SINGLE_AGREE_MAX)
        throw new WecomRequestError('msgaudit/check_single_agree', 'info', `must hold 1 to ${CHECK_SINGLE_AGREE_MAX} pairs`);
      const answer = await http.json<Record<string, unknown>>({
        method: 'POST',
        path: 'msgaudit/check_single_agree',
        body: { info: pairs.map((p) => ({ userid: p.userid, exteranalopenid: p.externalUserId })) },
        idempotent: true,
      });
      const list = Array.isArray(answer['agreeinfo']) ? (answer['agreeinfo'] as unknown[]) : [];
      const agreeinfo = list.filter(
        (i): i is SingleAgreeInfo =>
          isRecord(i) &&
          typeof i['userid'] === 'string' &&
          typeof i['exteranalopenid'] === 'string' &&
          typeof i['agree_status'] === 'string',
      );
      return { agreeinfo, answer };
    },
  };
}
