import { createHash } from 'node:crypto';
import type { Ledger } from '../../evidence';
import { recordOutbound } from './evidence';
import { EvidenceWriteError } from './errors';
import type { WecomHttp } from './http';
import { requireKey } from './message';
import type {
  KfAccountListResponse,
  KfMessage,
  KfSendMsgRequest,
  KfSendMsgResponse,
  KfSyncMsgRequest,
  KfSyncMsgResponse,
  SendOptions,
  WecomLogger,
} from './types';

/**
 * 微信客服 (docs 94670, 94677): list accounts, pull messages, reply to a candidate.
 *
 * send_msg takes a caller-chosen msgid that WeCom keeps unique per account, which makes a repeated send a
 * no-op. When the caller gives none, it is derived from the idempotency key, so retries (ours after a
 * timeout, or a re-run job) can never reach the candidate twice. Success does not mean delivered: watch
 * for msg_send_fail events.
 */
export interface KfApi {
  listAccounts(offset?: number, limit?: number): Promise<KfAccountListResponse>;
  /** One page; persist next_cursor after every page and loop while has_more is 1. */
  syncMsg(req: KfSyncMsgRequest): Promise<KfSyncMsgResponse>;
  sendMsg(req: KfSendMsgRequest, opts: SendOptions): Promise<KfSendMsgResponse>;
}

export interface KfApiDeps {
  http: WecomHttp;
  ledger: Pick<Ledger, 'append'> | undefined;
  logger: WecomLogger;
  now: () => number;
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

    async syncMsg(req) {
      const res = await d.http.json<KfSyncMsgResponse>({ method: 'POST', path: 'kf/sync_msg', body: req, idempotent: true });
      // msgid may be a bare number in some payloads; the type promises a string.
      const msgList: KfMessage[] = (res.msg_list ?? []).map((m) => ({ ...m, msgid: String(m.msgid) }));
      return { ...res, has_more: res.has_more === 1 ? 1 : 0, msg_list: msgList };
    },

    async sendMsg(req, opts) {
      requireKey(opts);
      const body = { ...req, msgid: req.msgid ?? kfMsgIdFor(opts.idempotencyKey) };
      const rec = {
        streams: [{ stream: `wecom:external:${req.touser}`, ref: req.touser }],
        kind: `wecom.outbound.message.${req.msgtype}`,
        idempotencyKey: opts.idempotencyKey,
        occurredAt: new Date(d.now()),
        request: body,
      };
      try {
        const raw = await d.http.json<Record<string, unknown>>({ method: 'POST', path: 'kf/send_msg', body, idempotent: true });
        const res: KfSendMsgResponse = { ...raw, msgid: String(raw['msgid'] ?? body.msgid) };
        await recordOutbound(d.ledger, d.logger, rec, {
          ok: true,
          response: raw,
          result: { errcode: res.errcode ?? 0, errmsg: res.errmsg ?? '', msgid: res.msgid },
        });
        return res;
      } catch (err) {
        if (err instanceof EvidenceWriteError) throw err;
        await recordOutbound(d.ledger, d.logger, rec, { ok: false, error: err });
        throw err;
      }
    },
  };
}

/** ≤ 32 bytes of [0-9a-zA-Z_-] (doc 94677): the key itself when it fits, else a hash of it. */
export function kfMsgIdFor(idempotencyKey: string): string {
  if (/^[0-9A-Za-z_-]{1,32}$/.test(idempotencyKey)) return idempotencyKey;
  return `hl${createHash('sha256').update(idempotencyKey, 'utf8').digest('hex').slice(0, 30)}`;
}
