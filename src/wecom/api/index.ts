/**
 * WeCom server API client (issue 3 item 1). Everything outside src/wecom/api imports from here.
 */
export { APPCHAT_TEXT_MAX_BYTES, type AppchatApi } from './appchat';
export { createWecomClient, type WecomClient } from './client';
export {
  EvidenceWriteError,
  hintFor,
  RateLimitedError,
  WECOM_ERROR_HINTS,
  WecomApiError,
  WecomConfigError,
  WecomContentTooLongError,
  WecomCredentialUnavailableError,
  WecomNetworkError,
  WecomRateLimitedError,
  WecomRequestError,
} from './errors';
export { outboundEntries, toEvidenceJson } from './evidence';
export { jsapiSignature, type JsapiApi } from './jsapi';
export { kfMsgIdFor, type KfApi } from './kf';
export { filenameOf, type MediaApi } from './media';
export type { MessageApi } from './message';
export type { OaApi } from './oa';
export type { ContactApi } from './contact';
export type { AuthApi } from './auth';
export { secretFingerprint } from './token';
export type * from './types';
export { webhookKeyOf, type WebhookApi } from './webhook';
export { wecomClientFromConfig } from './from-config';
