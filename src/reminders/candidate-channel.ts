import type { JsonValue } from '../evidence';
import type { Logger } from '../observability/logger';
import {
  IntentNotRecordedError,
  KF_ROUTE_CLOSED,
  MSG_TEMPLATE_NO_CUSTOMER,
  RateLimitedError,
  WecomApiError,
  WecomCredentialUnavailableError,
  WecomRateLimitedError,
  WecomRequestError,
  type KfApi,
  type MessageApi,
  type MsgTemplateApi,
} from '../wecom/api';
import type { CandidateRoute, RouteFacts } from './routes';

/**
 * Delivery of a candidate-facing reminder by the route that is open (DECISIONS 12), the same way
 * the offer link is delivered (src/acceptance/deliver.ts; not imported: acceptance depends on this
 * module). KF `kf/send_msg` to the candidate; else a 企业群发 (`add_msg_template`) the recruiter
 * confirms, and the recruiter told so by `message/send`; else the recruiter's task (sent by
 * reminders.ts under the reminder's own key, as before).
 *
 * A route WeCom refuses (KF 95001/95002/95013/95018, the candidate in the 群发's `fail_list` or
 * 41048) reached nobody, so the next route is taken in the same fire; every refusal is kept in the
 * reminder's outcome (`fallbacks`). Each send has its own key derived from the reminder's key and the
 * route, through the recorded send path: a KF repeat carries the same msgid (WeCom drops it), a
 * 群发 under a recorded key is never sent again (SendAlreadyAttemptedError).
 */

/** What the conversations module's `createRouteFacts` answers (its CandidateRouteFacts; restated: no import cycle). */
export interface CandidateChannelFacts extends RouteFacts {
  recruiter: string | null;
  kf: { openKfId: string; externalUserId: string } | null;
  groupSend: { sender: string; externalUserId: string } | null;
}

/** The routes to a candidate: the facts that choose one and where it goes, and the WeCom APIs that send. */
export interface CandidateChannel {
  facts(corpId: string, candidateId: string): Promise<CandidateChannelFacts>;
  kf: Pick<KfApi, 'sendMsg'>;
  msgTemplate: Pick<MsgTemplateApi, 'add'>;
}

/** The send keys of one reminder per route (printable ASCII without `#`; the task keeps the reminder's key). */
export const CHANNEL_KEYS = {
  kf: (key: string) => `${key}.kf`,
  group: (key: string) => `${key}.group`,
  groupNotice: (key: string) => `${key}.group-notice`,
} as const;

export type ChannelOutcome =
  /** Settled by this route: the reminder's final state and what its outcome record says. */
  | { settle: 'sent' | 'failed' | 'outcome_unknown'; outcome: { [key: string]: JsonValue } }
  /**
   * This request never left (a local limit, no intent recorded) and no earlier route of this fire
   * reached the candidate (each was refused): pending again, and the retry starts over. A KF repeat
   * carries the same msgid; a 群发 already attempted is not sent again (outcome unknown then).
   */
  | { release: Error }
  /** KF and 群发 not open or refused: the recruiter's task, with the refusals so far. */
  | { task: true };

/** Whether the request provably never left (the job policy retries it). */
export function neverLeft(err: unknown): boolean {
  return (
    err instanceof RateLimitedError ||
    err instanceof WecomRateLimitedError ||
    err instanceof WecomCredentialUnavailableError ||
    err instanceof IntentNotRecordedError
  );
}

export interface ChannelSend {
  /** The reminder's idempotency key. */
  key: string;
  candidateId: string;
  /** The candidate's text. */
  content: string;
  /** The first route to try (chosen, and moved off KF in the quiet hours). */
  route: CandidateRoute;
  quiet: boolean;
  facts: CandidateChannelFacts;
  /** Filled with one entry per route refused or skipped, in order. */
  fallbacks: JsonValue[];
}

/** Tries KF, then 企业群发, from `s.route`; stops at the first that takes it or at the recruiter's task. */
export async function sendByRoute(
  ch: CandidateChannel,
  messages: Pick<MessageApi, 'send'>,
  s: ChannelSend,
  log: Logger,
): Promise<ChannelOutcome> {
  let route: CandidateRoute = s.route;
  const unknown = (api: string, err: unknown): ChannelOutcome => {
    // Refused by the client before anything was recorded or sent (the request itself is wrong).
    if (err instanceof WecomRequestError) return { settle: 'failed', outcome: { route_used: route, api, error: err.message } };
    // A timeout, a reset, a 5xx, an attempt already recorded: it may have arrived. Never sent again, no other route.
    return { settle: 'outcome_unknown', outcome: { route_used: route, api, error: (err as Error).message } };
  };

  if (route === 'kf') {
    const kf = s.facts.kf;
    if (!kf) {
      s.fallbacks.push({ route: 'kf', why: '没有候选人的微信客服会话' });
    } else {
      try {
        const res = await ch.kf.sendMsg(
          { touser: kf.externalUserId, open_kfid: kf.openKfId, msgtype: 'text', text: { content: s.content } },
          { idempotencyKey: CHANNEL_KEYS.kf(s.key) },
        );
        return { settle: 'sent', outcome: { route_used: 'kf', kf_msgid: res.msgid, open_kfid: kf.openKfId } };
      } catch (err) {
        if (neverLeft(err)) return { release: err as Error };
        if (!(err instanceof WecomApiError)) return unknown('kf/send_msg', err);
        if (!KF_ROUTE_CLOSED.has(err.errcode)) {
          return {
            settle: 'failed',
            outcome: { route_used: 'kf', api: 'kf/send_msg', errcode: err.errcode, error: err.message },
          };
        }
        log.info({ errcode: err.errcode }, 'KF refused the reminder: next route');
        s.fallbacks.push({ route: 'kf', api: 'kf/send_msg', errcode: err.errcode, why: `微信客服拒绝发送（${err.errcode}）` });
      }
    }
    route = s.facts.groupSend ? 'group_send' : 'recruiter_task';
  }

  if (route === 'group_send') {
    const g = s.facts.groupSend;
    if (!g) {
      s.fallbacks.push({ route: 'group_send', why: '候选人不是任何成员的客户联系人' });
      return { task: true };
    }
    let failed: { [key: string]: JsonValue } | null = null;
    let msgid = '';
    try {
      const res = await ch.msgTemplate.add(
        { chat_type: 'single', external_userid: [g.externalUserId], sender: g.sender, text: { content: s.content } },
        { idempotencyKey: CHANNEL_KEYS.group(s.key) },
      );
      if (res.fail_list.includes(g.externalUserId)) failed = { api: 'externalcontact/add_msg_template', fail_list: true };
      msgid = res.msgid;
    } catch (err) {
      if (neverLeft(err)) return { release: err as Error };
      if (!(err instanceof WecomApiError)) return unknown('externalcontact/add_msg_template', err);
      if (err.errcode !== MSG_TEMPLATE_NO_CUSTOMER) {
        return {
          settle: 'failed',
          outcome: {
            route_used: 'group_send',
            api: 'externalcontact/add_msg_template',
            errcode: err.errcode,
            error: err.message,
          },
        };
      }
      failed = { api: 'externalcontact/add_msg_template', errcode: err.errcode };
    }
    if (failed) {
      log.info(failed, '企业群发 could not be queued for the candidate: recruiter task');
      s.fallbacks.push({ route: 'group_send', ...failed, why: '企业群发未能发给候选人（不是该成员的客户或已达接收上限）' });
      return { task: true };
    }
    // Queued in the recruiter's client: the reminder is handed over whatever the notice does (it is not sent again).
    const outcome: { [key: string]: JsonValue } = { route_used: 'group_send', group_msgid: msgid, sender: g.sender };
    const later = s.quiet ? '现为免打扰时段（21:00–09:00），请在 09:00 后确认发送。' : '请尽快确认发送。';
    try {
      const notice = await messages.send(
        {
          touser: g.sender,
          msgtype: 'text',
          text: {
            content:
              `【请确认群发提醒】给候选人 ${s.candidateId} 的提醒已生成企业群发，` +
              `请在企业微信「客户联系 → 群发助手」中确认发送。${later}`,
          },
        },
        { idempotencyKey: CHANNEL_KEYS.groupNotice(s.key) },
      );
      outcome['notice_msgid'] = notice.msgid;
    } catch (err) {
      log.warn({ err: (err as Error).message }, '企业群发 queued, but the recruiter could not be told');
      outcome['notice_error'] = (err as Error).message;
    }
    return { settle: 'sent', outcome };
  }

  return { task: true };
}
