import { recordOutbound } from './evidence';
import { EvidenceWriteError } from './errors';
import type { WecomHttp } from './http';
import type { MemberRateLimiter } from './ratelimit';
import type { MessageSendRequest, MessageSendResponse, SendOptions, WecomLogger } from './types';
import type { Ledger } from '../../evidence';

/**
 * message/send (doc 90236): app messages to members — HireLedger's reminders.
 *
 * Before sending, every listed member gets a slot in the shared per-member windows (30/min, 1000/hour),
 * because WeCom silently drops what exceeds them. Members reached through toparty/totag/@all cannot be
 * counted here (the client does not expand departments), so those sends are not limited per member.
 *
 * A timeout after the request left is retried only when enable_duplicate_check is 1: then WeCom itself
 * drops the copy if the first attempt had arrived. Turn it on for reminders.
 */
export interface MessageApiDeps {
  http: WecomHttp;
  agentId: number;
  members: MemberRateLimiter;
  ledger: Pick<Ledger, 'append'> | undefined;
  logger: WecomLogger;
  now: () => number;
}

export interface MessageApi {
  send(message: MessageSendRequest, opts: SendOptions): Promise<MessageSendResponse>;
}

export function createMessageApi(d: MessageApiDeps): MessageApi {
  return {
    async send(message, opts) {
      requireKey(opts);
      const members = splitIds(message.touser).filter((u) => u !== '@all');
      if (message.touser?.split('|').includes('@all') || message.toparty || message.totag) {
        d.logger.debug(
          { msgtype: message.msgtype },
          'message/send to @all/party/tag: per-member limits apply only to listed users',
        );
      }
      await d.members.reserve(members);

      const body = { ...message, agentid: d.agentId };
      const occurredAt = new Date(d.now());
      const streams =
        members.length > 0
          ? members.map((u) => ({ stream: `wecom:member:${u}`, ref: u }))
          : [{ stream: `wecom:agent:${d.agentId}`, ref: 'broadcast' }];
      const rec = {
        streams,
        kind: `wecom.outbound.message.${message.msgtype}`,
        idempotencyKey: opts.idempotencyKey,
        occurredAt,
        request: body,
      };
      let res: MessageSendResponse;
      try {
        const raw = await d.http.json<Record<string, unknown>>({
          method: 'POST',
          path: 'message/send',
          body,
          idempotent: message.enable_duplicate_check === 1,
        });
        res = { ...raw, msgid: String(raw['msgid'] ?? '') } as MessageSendResponse;
        await recordOutbound(d.ledger, d.logger, rec, { ok: true, response: raw, result: pickResult(res) });
      } catch (err) {
        if (err instanceof EvidenceWriteError) throw err;
        await recordOutbound(d.ledger, d.logger, rec, { ok: false, error: err });
        throw err;
      }
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

export function requireKey(opts: SendOptions | undefined): void {
  const key = opts?.idempotencyKey;
  if (typeof key !== 'string' || key.length === 0 || key.length > 400) {
    throw new TypeError('idempotencyKey is required (1-400 characters): it identifies this send in the evidence ledger');
  }
}
