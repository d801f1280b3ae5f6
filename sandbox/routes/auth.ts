/**
 * Credentials and identity:
 *  - GET /cgi-bin/gettoken (doc 91039): same token while valid, new one after expiry/invalidation.
 *  - GET /cgi-bin/get_jsapi_ticket, GET /cgi-bin/ticket/get?type=agent_config (docs 90506, 94313).
 *  - GET /cgi-bin/auth/getuserinfo (doc 91023): single-use codes, 5-minute lifetime → 40029.
 *  - GET /connect/oauth2/authorize: stand-in for open.weixin.qq.com's OAuth page (doc 91022). Instead of
 *    WeCom's silent login it shows a picker of sandbox members and candidates; picking one redirects to
 *    redirect_uri?code=CODE&state=STATE.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { SandboxContext } from '../actions';
import { OK, WecomApiError } from '../errors';
import type { OAuthCode } from '../state';
import { queryOf } from './common';
import { esc, htmlPage } from './html';

interface AuthorizeParams {
  appid: string;
  redirect_uri: string;
  response_type: string;
  scope: OAuthCode['scope'];
  state?: string;
  agentid?: string;
}

export interface GettokenCredentials {
  secret: string;
}

export function registerAuthRoutes(app: FastifyInstance, ctx: SandboxContext, creds: GettokenCredentials): void {
  const { state } = ctx;

  app.get('/cgi-bin/gettoken', async (req) => {
    const { corpid, corpsecret } = queryOf(req);
    if (!corpid) throw new WecomApiError(41002);
    if (corpid !== state.corpId) throw new WecomApiError(40013);
    if (!corpsecret) throw new WecomApiError(41004);
    if (corpsecret !== creds.secret) throw new WecomApiError(40001);
    const t = state.currentOrNewToken();
    return { ...OK, access_token: t.token, expires_in: Math.max(1, Math.ceil((t.expiresAtMs - state.nowMs()) / 1000)) };
  });

  app.get('/cgi-bin/get_jsapi_ticket', async () => {
    state.stats.jsapiTickets += 1;
    const t = state.ticket('jsapi');
    return { ...OK, ticket: t.ticket, expires_in: Math.ceil((t.expiresAtMs - state.nowMs()) / 1000) };
  });

  app.get('/cgi-bin/ticket/get', async (req) => {
    const { type } = queryOf(req);
    if (type !== 'agent_config') throw new WecomApiError(40058, 'type must be agent_config');
    state.stats.agentTickets += 1;
    const t = state.ticket('agent');
    return { ...OK, ticket: t.ticket, expires_in: Math.ceil((t.expiresAtMs - state.nowMs()) / 1000) };
  });

  app.get('/cgi-bin/auth/getuserinfo', async (req) => {
    const { code } = queryOf(req);
    if (!code) throw new WecomApiError(41008);
    const c = state.consumeOAuthCode(code);
    if (!c) throw new WecomApiError(40029);
    if (c.who.kind === 'external') return { ...OK, openid: c.who.openid, external_userid: c.who.external_userid };
    return {
      ...OK,
      userid: c.who.userid.toLowerCase(),
      ...(c.scope === 'snsapi_privateinfo' ? { user_ticket: Buffer.from(`${c.code}:ticket`).toString('base64url') } : {}),
    };
  });

  // ---------------------------------------------------------------- OAuth stand-in

  function errorPage(reply: FastifyReply, message: string): FastifyReply {
    return reply
      .code(400)
      .type('text/html; charset=utf-8')
      .send(htmlPage('企业微信授权（沙箱）', `<section><h2>授权失败</h2><p>${esc(message)}</p></section>`));
  }

  /** Returns the parsed parameters or a Chinese error message (what WeCom would show instead of redirecting). */
  function parseAuthorize(q: Record<string, string | undefined>): AuthorizeParams | string {
    if (q['appid'] !== state.corpId) return `appid 参数错误：应为本企业 CorpID ${state.corpId}，收到 ${q['appid'] ?? '（空）'}`;
    const redirect = q['redirect_uri'];
    if (!redirect) return '缺少 redirect_uri 参数';
    try {
      const u = new URL(redirect);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'redirect_uri 必须是 http(s) 地址';
    } catch {
      return 'redirect_uri 不是合法的 URL（记得 urlencode）';
    }
    if (q['response_type'] !== 'code') return 'response_type 必须为 code';
    const scope = q['scope'];
    if (scope !== 'snsapi_base' && scope !== 'snsapi_privateinfo') return 'scope 必须为 snsapi_base 或 snsapi_privateinfo';
    const st = q['state'];
    if (st !== undefined && !/^[a-zA-Z0-9]{0,128}$/.test(st)) return 'state 只能包含 a-zA-Z0-9，且不超过128字节（错误码 84025）';
    const agentid = q['agentid'];
    if (agentid !== undefined && agentid !== String(state.agentId)) return `agentid 错误：应为 ${state.agentId}`;
    // privateinfo without agentid is silently treated as base (doc 91022).
    const effective = scope === 'snsapi_privateinfo' && agentid === undefined ? 'snsapi_base' : scope;
    return {
      appid: state.corpId,
      redirect_uri: redirect,
      response_type: 'code',
      scope: effective,
      ...(st !== undefined ? { state: st } : {}),
      ...(agentid !== undefined ? { agentid } : {}),
    };
  }

  app.get('/connect/oauth2/authorize', async (req, reply) => {
    const q = queryOf(req);
    const params = parseAuthorize(q);
    if (typeof params === 'string') return errorPage(reply, params);
    const link = (who: string): string => {
      const u = new URLSearchParams();
      for (const [k, v] of Object.entries(q)) if (v !== undefined) u.set(k, v);
      u.set('who', who);
      return `/connect/oauth2/authorize/pick?${u.toString()}`;
    };
    const members = [...state.members.values()]
      .filter((m) => state.memberInScope(m.userid))
      .map((m) => {
        const dept = state.departments.get(m.main_department)?.name ?? '';
        return `<a class="pick" href="${esc(link(`member:${m.userid}`))}">${esc(m.name)} <span class="muted">${esc(m.userid)} · ${esc(dept)} · ${esc(m.position)}</span></a>`;
      })
      .join('');
    const candidates = [...state.externalContacts.values()]
      .map((c) => {
        const follower = c.follow_user.find((f) => f.active);
        const by = follower ? `跟进人 ${state.member(follower.userid)?.name ?? follower.userid}` : '无跟进人';
        return `<a class="pick" href="${esc(link(`external:${c.external_userid}`))}">${esc(c.name)} <span class="muted">${esc(c.external_userid)} · 候选人 · ${esc(by)}</span></a>`;
      })
      .join('');
    const body = `<section><h2>选择以谁的身份登录</h2><p class="muted">真实企业微信会静默授权当前登录成员；沙箱里请选择一位成员或候选人。授权后将跳转到：<code>${esc(params.redirect_uri)}</code></p></section>
<section><h2>企业成员</h2>${members}</section><section><h2>候选人（外部联系人）</h2>${candidates}</section>`;
    return reply.type('text/html; charset=utf-8').send(htmlPage('企业微信授权（沙箱）', body));
  });

  app.get('/connect/oauth2/authorize/pick', async (req, reply) => {
    const q = queryOf(req);
    const params = parseAuthorize(q);
    if (typeof params === 'string') return errorPage(reply, params);
    const who = q['who'] ?? '';
    let code: OAuthCode;
    if (who.startsWith('member:')) {
      const m = state.member(who.slice(7));
      if (!m || !state.memberInScope(m.userid)) return errorPage(reply, '该成员不存在或不在应用可见范围');
      code = state.issueOAuthCode({ kind: 'member', userid: m.userid }, params.scope);
    } else if (who.startsWith('external:')) {
      const c = state.externalContacts.get(who.slice(9));
      if (!c) return errorPage(reply, '该候选人不存在');
      code = state.issueOAuthCode({ kind: 'external', external_userid: c.external_userid, openid: c.openid }, params.scope);
    } else {
      return errorPage(reply, '请选择一位成员或候选人');
    }
    const target = new URL(params.redirect_uri);
    target.searchParams.set('code', code.code);
    if (params.state !== undefined) target.searchParams.set('state', params.state);
    return reply.redirect(target.toString(), 302);
  });
}
