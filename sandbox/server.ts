/**
 * `createSandbox(options)` — a local stand-in for WeCom's server API (qyapi.weixin.qq.com/cgi-bin/...) that
 * speaks the real wire format, plus the callback side (sandbox → app's /wecom/callback), an admin API for
 * fault injection and simulated user actions, an HTML console at /sandbox/ and an OAuth picker.
 *
 * Every sandbox owns its state; tests start one on port 0 and close it.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import {
  actOnApproval,
  AdminError,
  commentOnApproval,
  externalContactChange,
  kfInbound,
  memberSendsText,
  revokeApproval,
  type ExternalContactChange,
  type KfInbound,
  type SandboxContext,
} from './actions';
import { CallbackDispatcher } from './callbacks';
import { errorBody, WecomApiError } from './errors';
import { MSGAUDIT_AGENT_ID, msgauditNotifyXml, notifier, registerArchiveRoutes } from './archive/routes';
import { ArchiveStandIn } from './archive/writer';
import { registerAdminRoutes } from './routes/admin';
import { registerAppchatRoutes } from './routes/appchat';
import { registerAuthRoutes } from './routes/auth';
import { queryOf } from './routes/common';
import { registerContactRoutes } from './routes/contact';
import { registerKfRoutes } from './routes/kf';
import { registerMediaRoutes } from './routes/media';
import { registerMessageRoutes } from './routes/message';
import { registerMsgTemplateRoutes } from './routes/msg-template';
import { consentKey, registerMsgauditRoutes, type ConsentBook } from './routes/msgaudit';
import { registerOaRoutes } from './routes/oa';
import { registerPageRoutes } from './routes/page';
import { defaultSeed, type SandboxSeed } from './seed';
import { SandboxState, type CallbackKind, type CallbackRecord, type Clock } from './state';

export interface SandboxOptions {
  /** 0 (default) = random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  corpId: string;
  agentId: number;
  /** The self-built app's Secret (corpsecret for gettoken). */
  secret: string;
  /** Callback Token (signature). */
  token: string;
  /** Callback EncodingAESKey (43 chars). */
  encodingAESKey: string;
  /** The app's /wecom/callback URL. Can be set later via the admin API or `sandbox.setCallbackUrl`. */
  callbackUrl?: string;
  /** access_token lifetime; default 7200. */
  tokenTtlSeconds?: number;
  /** Abort a callback request after this long; default 5000 (WeCom's 5 s). */
  callbackTimeoutMs?: number;
  /** Delivery attempts in total; default 3 (WeCom's). */
  callbackRetries?: number;
  /** Pause between attempts; default 1000. WeCom does not document its interval. */
  callbackRetryDelayMs?: number;
  seed?: SandboxSeed;
  /** Injectable clock (ms) for expiry tests; default Date.now. */
  clock?: Clock;
  /**
   * First daily sequence of approval numbers (`sp_no` = `YYYYMMDD` + 4 digits), per Beijing day.
   * Default: seeded from the start time (sandbox/state.ts, spSeqFromTime), so a restarted sandbox
   * does not hand out the previous instance's numbers again.
   */
  spSeqStart?: (day: string) => number;
  /** Fastify request logging; default false. */
  logger?: boolean;
  /**
   * The chat archive (会话内容存档) stand-in: where the Finance SDK stand-in library
   * (sandbox/archive/build.ts) reads, and the archive's Secret. Off when unset.
   */
  archive?: { dir: string; secret: string; keysDir?: string };
}

export interface Sandbox {
  /** e.g. http://127.0.0.1:41234 — point the app's WeCom base URL at `${url}/cgi-bin/`. */
  url: string;
  port: number;
  state: SandboxState;
  app: FastifyInstance;
  /** The chat archive the Finance SDK stand-in serves, when `archive` was given. */
  archive?: ArchiveStandIn;
  close(): Promise<void>;
  /** Encrypts, signs and POSTs an arbitrary plaintext XML to the callback URL (with retries). */
  deliverCallback(
    plaintext: string,
    opts?: { kind?: CallbackKind; agentId?: string | number; summary?: string },
  ): Promise<CallbackRecord>;
  setCallbackUrl(url: string | undefined): void;
  /** Resolves when all callbacks started so far have finished every attempt. */
  idle(): Promise<void>;
  /** Same actions as the admin API, in-process. Each returns the callback record and a `delivered` promise. */
  actions: {
    approve(spNo: string, userid: string, speech?: string): ReturnType<typeof actOnApproval>;
    reject(spNo: string, userid: string, speech?: string): ReturnType<typeof actOnApproval>;
    revoke(spNo: string): ReturnType<typeof revokeApproval>;
    comment(spNo: string, userid: string, content: string): ReturnType<typeof commentOnApproval>;
    memberSendsText(userid: string, content: string): ReturnType<typeof memberSendsText>;
    kfInbound(input: KfInbound): ReturnType<typeof kfInbound>;
    externalContactChange(input: ExternalContactChange): ReturnType<typeof externalContactChange>;
  };
}

export async function createSandbox(options: SandboxOptions): Promise<Sandbox> {
  if (!/^[A-Za-z0-9]{43}$/.test(options.encodingAESKey)) throw new Error('encodingAESKey must be 43 characters of [A-Za-z0-9]');
  const state = new SandboxState({
    corpId: options.corpId,
    agentId: options.agentId,
    seed: options.seed ?? defaultSeed(),
    tokenTtlSeconds: options.tokenTtlSeconds ?? 7200,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.spSeqStart ? { spSeqStart: options.spSeqStart } : {}),
  });
  state.callbackUrl = options.callbackUrl;
  const dispatcher = new CallbackDispatcher({
    state,
    token: options.token,
    encodingAESKey: options.encodingAESKey,
    corpId: options.corpId,
    timeoutMs: options.callbackTimeoutMs ?? 5000,
    retries: options.callbackRetries ?? 3,
    retryDelayMs: options.callbackRetryDelayMs ?? 1000,
  });
  const ctx: SandboxContext = { state, dispatcher };

  const app = Fastify({ logger: options.logger ?? false });

  // WeCom reads the body as JSON whatever the Content-Type says (many SDKs and `curl -d` send
  // text/plain, form-urlencoded or nothing). Only the console's HTML forms are really form-encoded.
  const lenientJson = (text: string): unknown => {
    if (text.trim() === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  };
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (req.url.startsWith('/cgi-bin/')) return done(null, lenientJson(text));
    done(null, Object.fromEntries(new URLSearchParams(text)));
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    done(null, lenientJson(typeof body === 'string' ? body : body.toString('utf8')));
  });

  // Counting, fault injection and access_token checks for every WeCom API, before routing.
  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    if (!path.startsWith('/cgi-bin/')) return;
    const api = path.slice('/cgi-bin/'.length);
    state.stats.calls[api] = (state.stats.calls[api] ?? 0) + 1;
    if (api === 'gettoken') state.stats.gettoken += 1;
    const fault = state.takeFault(api);
    if (fault) return reply.code(200).send(errorBody(fault.errcode, req.ip));
    // gettoken takes the secret, and a group robot's webhook its key, instead of an access_token.
    if (api !== 'gettoken' && api !== 'webhook/send') {
      const code = state.checkToken(queryOf(req)['access_token']);
      if (code !== 0) return reply.code(200).send(errorBody(code, req.ip));
    }
    return undefined;
  });

  app.setErrorHandler((err, req, reply) => {
    // WeCom answers HTTP 200 with errcode for API-level errors.
    if (err instanceof WecomApiError)
      return reply.code(200).send({ ...errorBody(err.errcode, req.ip, err.detail), ...(err.extra ?? {}) });
    if (err instanceof AdminError) return reply.code(err.status).send({ ok: false, error: err.message });
    const status = typeof err === 'object' && err !== null && 'statusCode' in err ? Number(err.statusCode) : 500;
    if (req.url.startsWith('/cgi-bin/') && status >= 400 && status < 500) return reply.code(200).send(errorBody(47001, req.ip));
    const message = err instanceof Error ? err.message : String(err);
    return reply.code(status >= 400 ? status : 500).send({ ok: false, error: message });
  });

  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith('/cgi-bin/')) {
      // Deliberately not a WeCom errcode, so an app calling an API the sandbox lacks notices at once.
      return reply
        .code(404)
        .send({ errcode: 404, errmsg: `sandbox does not implement ${req.method} ${req.url.split('?')[0] ?? ''}` });
    }
    return reply.code(404).send({ ok: false, error: 'not found' });
  });

  registerAuthRoutes(app, ctx, { secret: options.secret });
  registerMessageRoutes(app, ctx);
  registerOaRoutes(app, ctx);
  registerKfRoutes(app, ctx);
  registerMsgTemplateRoutes(app, ctx);
  registerContactRoutes(app, ctx);
  registerMediaRoutes(app, ctx);
  const consents: ConsentBook = new Map();
  registerMsgauditRoutes(app, ctx, consents);
  registerAppchatRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerPageRoutes(app, ctx);
  const archive = options.archive ? new ArchiveStandIn({ corpId: options.corpId, ...options.archive }) : undefined;
  const archiveNotify = notifier(() => {
    dispatcher.dispatch('raw', msgauditNotifyXml(options.corpId), MSGAUDIT_AGENT_ID, '会话内容存档有新消息 (msgaudit_notify)');
  });
  if (archive)
    registerArchiveRoutes(
      app,
      archive,
      () => archiveNotify.poke(),
      (c) =>
        consents.set(consentKey(c.member, c.external), { status: c.agree ? 'Agree' : 'Disagree', at: Math.floor(c.atMs / 1000) }),
    );

  await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const address = app.server.address() as AddressInfo;
  const host = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;

  let closed = false;
  return {
    url,
    port: address.port,
    state,
    app,
    ...(archive ? { archive } : {}),
    async close() {
      if (closed) return;
      closed = true;
      archiveNotify.stop();
      dispatcher.shutdown();
      await dispatcher.idle();
      await app.close();
    },
    deliverCallback(plaintext, opts = {}) {
      return dispatcher.dispatch(
        opts.kind ?? 'raw',
        plaintext,
        String(opts.agentId ?? state.agentId),
        opts.summary ?? '手动投递的回调',
      ).done;
    },
    setCallbackUrl(u) {
      state.callbackUrl = u;
    },
    idle: () => dispatcher.idle(),
    actions: {
      approve: (spNo, userid, speech = '') => actOnApproval(ctx, spNo, userid, 'approve', speech),
      reject: (spNo, userid, speech = '') => actOnApproval(ctx, spNo, userid, 'reject', speech),
      revoke: (spNo) => revokeApproval(ctx, spNo),
      comment: (spNo, userid, content) => commentOnApproval(ctx, spNo, userid, content),
      memberSendsText: (userid, content) => memberSendsText(ctx, userid, content),
      kfInbound: (input) => kfInbound(ctx, input),
      externalContactChange: (input) => externalContactChange(ctx, input),
    },
  };
}

export { SandboxState } from './state';
export type { SandboxSeed } from './seed';
