import type { WecomHttp } from './http';
import type { GetUserInfoResponse } from './types';

/**
 * OAuth2 identity for the H5 page (doc 91023). The code is single-use and lives 5 minutes, so this GET is
 * not idempotent: after a timeout a retry would get 40029 even though the first try consumed it. A
 * network failure therefore surfaces at once and the page restarts the OAuth redirect.
 */
export interface AuthApi {
  getUserInfo(code: string): Promise<GetUserInfoResponse>;
}

export function createAuthApi(http: WecomHttp): AuthApi {
  return {
    async getUserInfo(code) {
      const res = await http.json<Record<string, unknown>>({
        method: 'GET',
        path: 'auth/getuserinfo',
        query: { code },
        idempotent: false,
      });
      const str = (k: string): string | undefined => {
        const v = res[k];
        return typeof v === 'string' && v !== '' ? v : undefined;
      };
      const userid = str('userid') ?? str('UserId');
      if (userid !== undefined) {
        const ticket = str('user_ticket');
        return { kind: 'member', userid, ...(ticket !== undefined ? { user_ticket: ticket } : {}) };
      }
      const external = str('external_userid');
      return {
        kind: 'external',
        openid: str('openid') ?? str('OpenId') ?? '',
        ...(external !== undefined ? { external_userid: external } : {}),
      };
    },
  };
}
