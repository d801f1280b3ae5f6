import { WECOM_STREAMS } from '../names';
import { idString, requireKey, sendRecorded, type OutboundRecipient, type SendDeps } from './evidence';
import type { WecomHttp } from './http';
import type { MemberRateLimiter } from './ratelimit';
import type { MessageSendRequest, MessageSendResponse, SendOptions } from './types';

/**
 * message/send (doc 90236): app messages to members — HireLedger's reminders and alerts. Sent and recorded through
 * sendRecorded (evidence.ts): an intent per recipient before the request, an outcome after it.
 *
 * enable_duplicate_check is always on (interval default 4 h, WeCom's maximum). WeCom then drops an identical
 * request within the interval, which makes two things safe that otherwise would deliver a second copy: retrying
 * after a timeout (the first attempt may have arrived), and a job re-run under the same idempotency key after a
 * crash between intent and outcome. The cost is that the same text to the same people within the interval is
 * delivered once even when meant twice; for reminders that is the wanted behaviour. The limit: a re-run later than
 * the interval after the first attempt is a new message to WeCom. A re-run after a recorded `sent` outcome sends
 * nothing (the recorded answer is returned, sendRecorded) and one with a different body is refused; but a re-run
 * of an intent without outcome later than the interval would deliver again: whatever re-drives sends (a sweeper
 * of intents without outcome) must leave those older than the interval to a person.
 *
 * Before sending, every listed member gets a slot in the shared per-member windows (30/min, 1000/hour), because
 * WeCom silently drops what exceeds them; a send refused there sent nothing and is not recorded. Members reached
 * through toparty/totag/@all cannot be counted here (the client does not expand departments), so those sends are
 * not limited per member and are recorded in the app's stream.
 */
export interface MessageApiDeps extends SendDeps {
  http: WecomHttp;
  agentId: number;
  members: MemberRateLimiter;
}

export interface MessageApi {
  send(message: MessageSendRequest, opts: SendOptions): Promise<MessageSendResponse>;
}

/** WeCom's maximum duplicate_check_interval, in seconds. */
export const MAX_DUPLICATE_CHECK_INTERVAL = 4 * 3600;

export function createMessageApi(d: MessageApiDeps): MessageApi {
  return {
    async send(message, opts) {
      const idempotencyKey = requireKey(opts);
      const listed = splitIds(message.touser);
      // WeCom compares userids case-insensitively (DECISIONS 8): one recipient, one record, whatever the case.
      const members = [...new Set(listed.filter((u) => u !== '@all').map((u) => u.toLowerCase()))].sort();
      const broadcast = listed.includes('@all') || Boolean(message.toparty) || Boolean(message.totag);
      if (broadcast) {
        d.logger.debug(
          { msgtype: message.msgtype },
          'message/send to @all/party/tag: per-member limits apply only to listed users',
        );
      }
      await d.members.reserve(members);

      const body = {
        ...message,
        agentid: d.agentId,
        enable_duplicate_check: 1 as const,
        duplicate_check_interval: message.duplicate_check_interval ?? MAX_DUPLICATE_CHECK_INTERVAL,
      };
      const recipients: OutboundRecipient[] = members.map((userid) => ({
        stream: WECOM_STREAMS.member(userid),
        who: { userid },
        listedAs: userid,
      }));
      if (broadcast) {
        recipients.push({
          stream: WECOM_STREAMS.agent(String(d.agentId)),
          who: {
            broadcast: {
              ...(listed.includes('@all') ? { touser: '@all' } : {}),
              ...(message.toparty ? { toparty: message.toparty } : {}),
              ...(message.totag ? { totag: message.totag } : {}),
            },
          },
        });
      }

      const answer = await sendRecorded(
        d,
        {
          api: 'message/send',
          msgtype: message.msgtype,
          idempotencyKey,
          request: body,
          recipients,
          repeat: 'resend',
          rejectedFields: ['invaliduser', 'unlicenseduser'],
          caseInsensitiveIds: true,
        },
        // Idempotent because of the duplicate check: a retry after a timeout cannot deliver twice.
        () => d.http.json<Record<string, unknown>>({ method: 'POST', path: 'message/send', body, idempotent: true }),
        (raw) => pickResult(toResponse(raw)),
      );
      const res = toResponse(answer);
      if (res.invaliduser || res.unlicenseduser) {
        // errcode 0 with unreachable recipients: not an error, but worth seeing.
        d.logger.warn(
          { invaliduser: res.invaliduser, unlicenseduser: res.unlicenseduser },
          'message/send: some recipients were not reached',
        );
      }
      return res;
    },
  };
}

function toResponse(raw: Record<string, unknown>): MessageSendResponse {
  // msgid is a string in WeCom's documentation, and stays one whatever arrives.
  return { ...raw, msgid: idString(raw['msgid']) };
}

function pickResult(res: MessageSendResponse): Record<string, unknown> {
  return {
    errcode: res.errcode ?? 0,
    errmsg: res.errmsg ?? '',
    msgid: res.msgid,
    invaliduser: res.invaliduser ?? '',
    invalidparty: res.invalidparty ?? '',
    invalidtag: res.invalidtag ?? '',
    unlicenseduser: res.unlicenseduser ?? '',
    ...(res.response_code !== undefined ? { response_code: res.response_code } : {}),
  };
}

export function splitIds(v: string | undefined): string[] {
  return (v ?? '')
    .split('|')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
