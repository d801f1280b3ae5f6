import type { WecomHttp } from './http';
import type { WecomBaseResponse } from './types';

/**
 * 客户联系「联系我」 contact ways (doc 92228). A contact way is a QR code or mini-program button of
 * one or more members; every person added through it arrives in `change_external_contact` with the
 * way's `state` as State (at most 30 characters), which HireLedger reads as the position the person
 * came for (`pos:<position id>`, src/candidates/positions.ts). externalcontact/get is in contact.ts.
 */

export interface ContactWayRequest {
  /** 1 one member, 2 several. */
  type: 1 | 2;
  /** 1 mini-program button, 2 QR code. */
  scene: 1 | 2;
  style?: number;
  remark?: string;
  /** Default true: people are added without the member confirming. */
  skip_verify?: boolean;
  /** At most 30 characters; echoed as State in the callback and in follow_user.state. */
  state?: string;
  user?: string[];
  party?: number[];
}

export interface AddContactWayResponse extends WecomBaseResponse {
  config_id: string;
  /** Only for scene 2. */
  qr_code?: string;
}

export interface ContactWay extends ContactWayRequest {
  config_id: string;
  qr_code?: string;
}

export interface GetContactWayResponse extends WecomBaseResponse {
  contact_way: ContactWay;
}

export interface ExternalContactWayApi {
  /**
   * Not idempotent: a retry after a timeout could make a second QR code, so a network failure
   * surfaces as WecomNetworkError and the caller decides. 40058 = a parameter WeCom refuses (a state
   * over 30 characters), 60111 / 84074 = a member outside the app's scope or without 客户联系.
   */
  addContactWay(req: ContactWayRequest): Promise<AddContactWayResponse>;
  getContactWay(configId: string): Promise<GetContactWayResponse>;
}

/** The longest `state` WeCom accepts on a contact way. */
export const CONTACT_WAY_STATE_MAX = 30;

export function createExternalContactWayApi(http: WecomHttp): ExternalContactWayApi {
  return {
    async addContactWay(req) {
      if (req.state !== undefined && req.state.length > CONTACT_WAY_STATE_MAX) {
        throw new RangeError(`a contact way's state is at most ${CONTACT_WAY_STATE_MAX} characters`);
      }
      return http.json<AddContactWayResponse>({
        method: 'POST',
        path: 'externalcontact/add_contact_way',
        body: req,
        idempotent: false,
      });
    },
    getContactWay: (configId) =>
      http.json<GetContactWayResponse>({
        method: 'POST',
        path: 'externalcontact/get_contact_way',
        body: { config_id: configId },
        idempotent: true,
      }),
  };
}
