import { createHash, randomBytes } from 'node:crypto';
import type { WecomHttp } from './http';
import type { CredentialCache, Fetched } from './token';
import type { JsapiConfigSignature, JsapiSignatureInput, TicketKind, TicketResponse } from './types';

/**
 * JS-SDK tickets and signatures (docs 90506, 94313). Both tickets are limited to 100/hour per app, so they
 * are cached in Redis exactly like the access_token (same single-refresher lock, same fallback).
 */
export interface JsapiApi {
  /** `jsapi`: the corp ticket for wx.config / getConfigSignature; `agent_config`: the app ticket for wx.agentConfig. */
  getTicket(kind: TicketKind): Promise<string>;
  /** Drop a ticket that the JS-SDK rejected, if it is still the cached one. */
  invalidateTicket(kind: TicketKind, ticket: string): Promise<void>;
  /** What ww.register's getConfigSignature / getAgentConfigSignature callbacks return for `url`. */
  sign(kind: TicketKind, url: string): Promise<JsapiConfigSignature>;
}

export function fetchTicket(http: WecomHttp, kind: TicketKind): () => Promise<Fetched> {
  return async () => {
    const res =
      kind === 'jsapi'
        ? await http.json<TicketResponse>({ method: 'GET', path: 'get_jsapi_ticket', idempotent: true })
        : await http.json<TicketResponse>({
            method: 'GET',
            path: 'ticket/get',
            query: { type: 'agent_config' },
            idempotent: true,
          });
    return { value: String(res.ticket), expiresInSec: Number(res.expires_in) || 7200 };
  };
}

export function createJsapiApi(caches: Record<TicketKind, CredentialCache>, now: () => number): JsapiApi {
  return {
    getTicket: (kind) => caches[kind].get(),
    invalidateTicket: (kind, ticket) => caches[kind].invalidate(ticket),
    async sign(kind, url) {
      const ticket = await caches[kind].get();
      const nonceStr = randomBytes(12).toString('base64url').replace(/[-_]/g, 'x');
      const timestamp = Math.floor(now() / 1000);
      return { timestamp, nonceStr, signature: jsapiSignature({ url, ticket, nonceStr, timestamp }) };
    },
  };
}

/**
 * sha1("jsapi_ticket=T&noncestr=N&timestamp=S&url=U"): keys in this fixed order, values not URL-encoded,
 * the URL with its query but without the `#fragment` (the JS-SDK signs location.href.split('#')[0]).
 */
export function jsapiSignature(input: JsapiSignatureInput): string {
  const url = input.url.split('#')[0] ?? '';
  const text = `jsapi_ticket=${input.ticket}&noncestr=${input.nonceStr}&timestamp=${input.timestamp}&url=${url}`;
  return createHash('sha1').update(text, 'utf8').digest('hex');
}
