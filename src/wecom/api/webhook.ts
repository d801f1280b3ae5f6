import { requireTextContent } from './appchat';
import { WecomApiError, WecomConfigError, WecomRateLimitedError, WecomRequestError } from './errors';
import type { WecomHttp } from './http';
import type { WebhookMessage, WebhookSendResponse } from './types';

/**
 * 群机器人 (group robot) webhook: `POST <base>/cgi-bin/webhook/send?key=KEY` with
 * `{"msgtype":"text","text":{"content":"…"}}`; the answer is `{"errcode":0,"errmsg":"ok"}`. The lighter way
 * to witness checkpoints in a group (DECISIONS 7): no access_token and no app visible-scope rules, but the
 * key alone lets anyone post as the robot, so it is a secret like the app Secret.
 *
 * The key travels only in the query string, which WecomHttp never logs or puts in an error; on top of that,
 * any error whose text or body happens to contain the key (WeCom's own errmsg does not, but a proxy's page
 * might) is rebuilt with the key replaced by `***`.
 *
 * Not idempotent, for the reason given for appchat/send: a retry after a timeout could post the checkpoint
 * twice; a refused connection (nothing sent) is still retried. 45009 (20 messages a minute per robot) is
 * not waited out here: the window is a minute, longer than the client's bounded back-off.
 * Errors: 93000 unknown key or robot removed from its group, 93004 robot disabled, 45009, 40058.
 */
export interface WebhookApi {
  /**
   * `key` is the `key=` value of the robot's webhook URL (the whole URL is accepted too; its host is not
   * used — requests go to the client's apiBase). Resolves with WeCom's whole answer.
   */
  send(key: string, message: WebhookMessage): Promise<WebhookSendResponse>;
}

export function createWebhookApi(http: WecomHttp): WebhookApi {
  return {
    async send(keyOrUrl, message) {
      const key = webhookKeyOf(keyOrUrl);
      if (message?.msgtype !== 'text') throw new WecomRequestError('webhook/send', 'msgtype', "must be 'text'");
      requireTextContent('webhook/send', message.text?.content);
      try {
        return await http.json<WebhookSendResponse>({
          method: 'POST',
          path: 'webhook/send',
          query: { key },
          body: message,
          idempotent: false,
          // The key in the query is the credential; no access_token.
          auth: false,
        });
      } catch (err) {
        throw redactSecret(err, key);
      }
    },
  };
}

/** The key itself, from a bare key or a whole webhook URL. Never puts the value in an error. */
export function webhookKeyOf(keyOrUrl: string): string {
  let key = typeof keyOrUrl === 'string' ? keyOrUrl.trim() : '';
  if (/^https?:\/\//i.test(key)) {
    try {
      key = new URL(key).searchParams.get('key') ?? '';
    } catch {
      key = '';
    }
  }
  if (!/^[0-9A-Za-z-]{8,128}$/.test(key))
    throw new WecomRequestError('webhook/send', 'key', "is not a group robot webhook key (the key= part of the robot's URL)");
  return key;
}

/** The same error without `secret` anywhere in its message, stack, errmsg or body. */
export function redactSecret(err: unknown, secret: string): unknown {
  const scrub = (s: string): string => s.split(secret).join('***');
  if (err instanceof WecomApiError) {
    if (!`${err.message}\n${err.errmsg}\n${JSON.stringify(err.body)}`.includes(secret)) return err;
    const body = JSON.parse(scrub(JSON.stringify(err.body))) as Record<string, unknown>;
    const errmsg = scrub(err.errmsg);
    if (err instanceof WecomRateLimitedError) return new WecomRateLimitedError(errmsg, err.path, body);
    if (err instanceof WecomConfigError) return new WecomConfigError(err.errcode, errmsg, err.path, body);
    return new WecomApiError(err.errcode, errmsg, err.path, body);
  }
  if (err instanceof Error) {
    if (err.message.includes(secret)) err.message = scrub(err.message);
    if (err.stack?.includes(secret)) err.stack = scrub(err.stack);
  }
  return err;
}
