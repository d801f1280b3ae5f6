/**
 * POST /cgi-bin/msgaudit/check_single_agree (doc 91782): whether an external contact agreed that
 * their 1:1 conversation with a member is archived. Body `{info: [{userid, exteranalopenid}]}` (WeCom's
 * spelling), 1 to 100 pairs; answer `agreeinfo: [{userid, exteranalopenid, agree_status, status_change_time}]`.
 *
 * Consent is set by the archive stand-in's consent items (`/sandbox/admin/archive/consent`) and by
 * `POST /sandbox/admin/msgaudit/agree {userid, external_userid, agree}`. Sandbox choices where WeCom's
 * docs are silent: a pair nobody decided answers `Disagree` without status_change_time; a missing,
 * empty or over-long `info`, or a pair without both ids, answers 40058. Like every sandbox API it
 * takes the app's token (the sandbox has one secret).
 */
import type { FastifyInstance } from 'fastify';
import type { SandboxContext } from '../actions';
import { AdminError } from '../actions';
import { OK, WecomApiError } from '../errors';
import { bodyOf } from './common';

export interface ConsentState {
  status: 'Agree' | 'Disagree';
  /** Seconds. */
  at: number;
}

/** Consent per `<member userid lower-cased>\u001f<external_userid>`. */
export type ConsentBook = Map<string, ConsentState>;

export const consentKey = (userid: string, externalUserId: string) => `${userid.toLowerCase()}\u001f${externalUserId}`;

export function registerMsgauditRoutes(app: FastifyInstance, ctx: SandboxContext, book: ConsentBook): void {
  app.post('/cgi-bin/msgaudit/check_single_agree', async (req) => {
    const body = bodyOf(req);
    const info = body['info'];
    if (!Array.isArray(info) || info.length === 0 || info.length > 100) throw new WecomApiError(40058);
    const agreeinfo = info.map((p: unknown) => {
      const pair = (typeof p === 'object' && p !== null ? p : {}) as Record<string, unknown>;
      const userid = pair['userid'];
      const external = pair['exteranalopenid'];
      if (typeof userid !== 'string' || userid === '' || typeof external !== 'string' || external === '')
        throw new WecomApiError(40058);
      const c = book.get(consentKey(userid, external));
      return {
        userid,
        exteranalopenid: external,
        agree_status: c?.status ?? 'Disagree',
        ...(c ? { status_change_time: c.at } : {}),
      };
    });
    return { ...OK, agreeinfo };
  });

  app.post('/sandbox/admin/msgaudit/agree', async (req) => {
    const body = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const userid = body['userid'];
    const external = body['external_userid'];
    if (typeof userid !== 'string' || userid === '' || typeof external !== 'string' || external === '')
      throw new AdminError(400, '需要 userid 和 external_userid');
    const agree = body['agree'] === true || body['agree'] === 'true';
    const at = Math.floor(ctx.state.nowMs() / 1000);
    book.set(consentKey(userid, external), { status: agree ? 'Agree' : 'Disagree', at });
    return { ok: true, agree_status: agree ? 'Agree' : 'Disagree', status_change_time: at };
  });
}
