/**
 * WeCom server API client (issue 3 item 1). Everything outside src/wecom/api imports from here.
 */
export { APPCHAT_TEXT_MAX_BYTES, type AppchatApi } from './appchat';
export { createWecomClient, type WecomClient } from './client';
export {
  EvidenceWriteError,
  hintFor,
  IdempotencyConflictError,
  IntentNotRecordedError,
  KF_ROUTE_CLOSED,
  MSG_TEMPLATE_NO_CUSTOMER,
  RateLimitedError,
  SendAlreadyAttemptedError,
  WECOM_ERROR_HINTS,
  WecomApiError,
  WecomConfigError,
  WecomContentTooLongError,
  WecomCredentialUnavailableError,
  WecomNetworkError,
  WecomRateLimitedError,
  WecomRequestError,
} from './errors';
export {
  intentEntries,
  outcomeEntries,
  OUTBOUND_ACTOR,
  OUTBOUND_INTENT_KIND,
  OUTBOUND_OUTCOME_KIND,
  OUTBOUND_SOURCE,
  toEvidenceJson,
  type OutboundApi,
  type OutcomeStatus,
} from './evidence';
export { jsapiSignature, type JsapiApi } from './jsapi';
export { kfMsgIdFor, type KfApi } from './kf';
export { filenameOf, type MediaApi } from './media';
export { MAX_DUPLICATE_CHECK_INTERVAL, type MessageApi } from './message';
export type { MsgTemplateApi } from './msg-template';
export { CHECK_SINGLE_AGREE_MAX, type CheckSingleAgreeAnswer, type MsgauditApi, type SingleAgreeInfo } from './msgaudit';
export type { OaApi } from './oa';
export type { ContactApi } from './contact';
export {
  CONTACT_WAY_STATE_MAX,
  type AddContactWayResponse,
  type ContactWay,
  type ContactWayRequest,
  type ExternalContactWayApi,
  type GetContactWayResponse,
} from './externalcontact';
export type { AuthApi } from './auth';
export { secretFingerprint } from './token';
export type * from './types';
export { webhookKeyOf, type WebhookApi } from './webhook';
export { wecomClientFromConfig } from './from-config';
