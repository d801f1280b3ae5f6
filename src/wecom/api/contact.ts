import type { WecomHttp } from './http';
import type { ExternalContactResponse, UserGetResponse } from './types';

/** Directory reads (docs 90196, 92114). Only members/followers inside the app's visible scope are returned. */
export interface ContactApi {
  /** 60111 = no such userid or outside the visible scope. */
  getUser(userid: string): Promise<UserGetResponse>;
  /** 84061 = no customer relationship left. `cursor` pages followers beyond 500. */
  getExternalContact(externalUserid: string, cursor?: string): Promise<ExternalContactResponse>;
}

export function createContactApi(http: WecomHttp): ContactApi {
  return {
    getUser: (userid) => http.json<UserGetResponse>({ method: 'GET', path: 'user/get', query: { userid }, idempotent: true }),
    getExternalContact: (externalUserid, cursor) =>
      http.json<ExternalContactResponse>({
        method: 'GET',
        path: 'externalcontact/get',
        query: { external_userid: externalUserid, cursor },
        idempotent: true,
      }),
  };
}
