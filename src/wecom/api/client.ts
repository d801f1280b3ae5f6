import { createAppchatApi, type AppchatApi } from './appchat';
import { createAuthApi, type AuthApi } from './auth';
import { createContactApi, type ContactApi } from './contact';
import { createExternalContactWayApi, type ExternalContactWayApi } from './externalcontact';
import { WecomHttp } from './http';
import { createJsapiApi, fetchTicket, type JsapiApi } from './jsapi';
import { createKfApi, type KfApi } from './kf';
import { createMediaApi, type MediaApi } from './media';
import { createMsgauditApi, type MsgauditApi } from './msgaudit';
import { createMessageApi, type MessageApi } from './message';
import { createMsgTemplateApi, type MsgTemplateApi } from './msg-template';
import { createOaApi, type OaApi } from './oa';
import { AppRateLimiter, MemberRateLimiter } from './ratelimit';
import { RedisGate } from './redis-gate';
import { ConfigErrorLatch, CredentialCache, secretFingerprint } from './token';
import type { GettokenResponse, TicketKind, WecomClientDeps } from './types';
import { createWebhookApi, type WebhookApi } from './webhook';

/**
 * The WeCom server API client for the self-built app: one per (corp, secret, agent) per process. Every
 * instance pointed at the same Redis and key prefix shares the access_token, the JS-SDK tickets and the
 * outbound limits with the others.
 */
export interface WecomClient {
  /** A valid access_token (cached, shared, refreshed ahead of expiry). For APIs this client lacks. */
  getAccessToken(): Promise<string>;
  /** App messages to members. Recorded as evidence (intent, then outcome). */
  message: MessageApi;
  oa: OaApi;
  /** 微信客服; sendMsg is recorded as evidence. */
  kf: KfApi;
  /** 企业群发 to candidates through their recruiter. Recorded as evidence. */
  msgTemplate: MsgTemplateApi;
  contact: ContactApi;
  /** 客户联系「联系我」 contact ways, whose state names a position. */
  contactWay: ExternalContactWayApi;
  auth: AuthApi;
  jsapi: JsapiApi;
  media: MediaApi;
  /** 会话内容存档 helpers (consent checks): WeCom answers them only on a client built with the archive's Secret. */
  msgaudit: MsgauditApi;
  /**
   * 群聊会话: groups the app creates and posts to (checkpoint witnesses). Not a message to a person, so not
   * recorded in the ledger: see the note on the witness posts below.
   */
  appchat: AppchatApi;
  /** 群机器人 webhooks: posts authenticated by the robot's key, not the access_token. Not recorded, as appchat. */
  webhook: WebhookApi;
}

/**
 * Every send to a person goes through `message`, `kf.sendMsg` or `msgTemplate` and is recorded in `deps.ledger`
 * (evidence.ts): there is no way to build a client that sends without leaving evidence, so the ledger is required
 * by the type and checked here for callers the compiler does not see.
 *
 * The checkpoint witness posts (`appchat.send`, `webhook.send`) stay out of the ledger on purpose: they go to an
 * internal group of HireLedger's own staff, not to a person about whom a decision is evidenced; the checkpointer
 * records each one (request, WeCom's answer, time) in evidence_checkpoint_witnesses; and a ledger record per
 * witness post would add a record after every checkpoint, so the tree would never be at rest at a checkpoint.
 */
export function createWecomClient(deps: WecomClientDeps): WecomClient {
  if (typeof (deps.ledger as Partial<WecomClientDeps['ledger']> | undefined)?.append !== 'function') {
    throw new TypeError('createWecomClient: a ledger is required (every message sent to a person is recorded as evidence)');
  }
  const o = deps.options ?? {};
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const agentId = Number(deps.agentId);
  if (!Number.isSafeInteger(agentId)) throw new TypeError('agentId must be the numeric AgentId');
  const logger = deps.logger.child({ component: 'wecom-api', corpId: deps.corpId, agentId });
  const gate = new RedisGate(deps.redis, logger, o.redisCommandTimeoutMs ?? 1000);

  // One Redis Cluster hash slot per app ({…}), so the multi-key limiter script is allowed there too.
  const prefix = `${o.keyPrefix ?? 'hireledger:wecom:'}{${deps.corpId}:${agentId}}:`;
  const secretId = secretFingerprint(deps.secret);

  const appLimit = o.appRateLimit === undefined ? { perSecond: 100, burst: 100 } : o.appRateLimit;
  const limiter = appLimit
    ? new AppRateLimiter({ key: `${prefix}rl:app`, ...appLimit, maxWaitMs: o.appRateLimitMaxWaitMs ?? 5000, gate, now, sleep })
    : undefined;

  const http = new WecomHttp({
    apiBase: deps.apiBase,
    timeoutMs: o.timeoutMs ?? 5000,
    busyRetries: o.busyRetries ?? 3,
    busyBackoffMs: o.busyBackoffMs ?? 500,
    freqRetries: o.freqRetries ?? 2,
    freqBackoffMs: o.freqBackoffMs ?? 5000,
    logger,
    sleep,
    limiter,
  });

  const latch = new ConfigErrorLatch(now, o.configErrorCooldownMs ?? 60_000);
  const lockTtlMs = o.refreshLockTtlMs ?? 30_000;
  const tokens = new CredentialCache({
    name: 'access_token',
    key: `${prefix}token:${secretId}`,
    gate,
    logger,
    now,
    sleep,
    lockTtlMs,
    async fetch() {
      latch.check();
      try {
        const res = await http.json<GettokenResponse>({
          method: 'GET',
          path: 'gettoken',
          query: { corpid: deps.corpId, corpsecret: deps.secret },
          idempotent: true,
          auth: false,
        });
        return { value: String(res.access_token), expiresInSec: Number(res.expires_in) || 7200 };
      } catch (err) {
        latch.remember(err);
        throw err;
      }
    },
  });
  http.useTokens(tokens);

  const ticketCache = (kind: TicketKind) =>
    new CredentialCache({
      name: `${kind}_ticket`,
      key: `${prefix}ticket:${kind}:${secretId}`,
      gate,
      logger,
      now,
      sleep,
      lockTtlMs,
      fetch: fetchTicket(http, kind),
    });
  const tickets: Record<TicketKind, CredentialCache> = { jsapi: ticketCache('jsapi'), agent_config: ticketCache('agent_config') };

  const limits = o.memberLimits ?? { perMinute: 30, perHour: 1000 };
  const members = new MemberRateLimiter({
    keyFor: (userid) => `${prefix}rl:member:${userid}`,
    ...limits,
    maxWaitMs: o.memberLimitMaxWaitMs ?? 5000,
    gate,
    now,
    sleep,
  });

  const reader = deps.reader;
  const externalContacts = deps.externalContacts;
  const contactIds = externalContacts ? (ids: readonly string[]) => externalContacts.idsFor(deps.corpId, ids) : undefined;
  const sendDeps = { ledger: deps.ledger, ...(reader ? { reader } : {}), logger, now };

  return {
    getAccessToken: () => tokens.get(),
    message: createMessageApi({ http, agentId, members, ...sendDeps }),
    oa: createOaApi(http),
    kf: createKfApi({ http, ...sendDeps, ...(contactIds ? { contactIds } : {}) }),
    msgTemplate: createMsgTemplateApi({ http, ...sendDeps, ...(contactIds ? { contactIds } : {}) }),
    contact: createContactApi(http),
    contactWay: createExternalContactWayApi(http),
    auth: createAuthApi(http),
    jsapi: createJsapiApi(tickets, now),
    media: createMediaApi(http),
    msgaudit: createMsgauditApi(http),
    appchat: createAppchatApi(http),
    webhook: createWebhookApi(http),
  };
}
