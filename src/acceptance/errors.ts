import { PermanentJobError } from '../platform/errors';

/**
 * What the acceptance page's API refuses, each with an HTTP status, a stable code and a Chinese
 * message for the candidate. Thrown before anything is written, or inside the decision's
 * transaction (which then rolls back): a refusal changes nothing.
 */

export type LinkRefusalCode =
  | 'bad_request'
  | 'body_too_large'
  | 'malformed_json'
  | 'unsupported_media_type'
  | 'invalid_name'
  | 'invalid_phone'
  | 'invalid_reason'
  | 'link_invalid'
  | 'link_expired'
  | 'link_not_found'
  | 'link_used'
  | 'link_superseded'
  | 'offer_not_open'
  | 'offer_deadline_passed'
  | 'shown_text_changed'
  | 'identity_mismatch'
  | 'rate_limited'
  | 'not_configured';

const REFUSALS: Record<LinkRefusalCode, { status: 400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 429 | 503; message: string }> =
  {
    bad_request: { status: 400, message: '请求参数有误' },
    body_too_large: { status: 413, message: '提交的内容过大' },
    malformed_json: { status: 400, message: '提交的数据格式有误（不是有效的 JSON）' },
    unsupported_media_type: { status: 415, message: '请以 JSON 格式提交' },
    invalid_name: { status: 400, message: '请填写您的真实姓名（1至50个字）' },
    invalid_phone: { status: 400, message: '手机号格式不正确（大陆手机号11位，境外号码请加国家区号，如 +852…）' },
    invalid_reason: { status: 400, message: '请选择拒绝原因，补充说明不超过2000个字' },
    link_invalid: { status: 401, message: '链接无效（可能不完整或被改动），请使用招聘专员发给您的完整链接' },
    link_expired: { status: 410, message: '链接已过期，请联系招聘专员重新发送' },
    link_not_found: { status: 404, message: '链接不存在或已作废，请联系招聘专员' },
    link_used: { status: 409, message: '此链接已使用过（您已作出答复），不能再次使用' },
    link_superseded: { status: 409, message: '该 offer 已更新，此链接已失效，请使用最新发给您的链接' },
    offer_not_open: { status: 409, message: '该 offer 当前不能答复' },
    offer_deadline_passed: { status: 410, message: '已过该 offer 的接受截止时间，不能再接受' },
    shown_text_changed: { status: 409, message: '页面内容与当前 offer 不一致，请刷新页面后重新确认' },
    identity_mismatch: { status: 403, message: '您填写的手机号与招聘方登记的不一致，请核对后重试，或联系招聘专员' },
    rate_limited: { status: 429, message: '尝试次数过多，请稍后再试' },
    not_configured: { status: 503, message: 'offer 链接服务尚未配置，请联系招聘专员' },
  };

export class LinkRefusal extends Error {
  readonly status: (typeof REFUSALS)[LinkRefusalCode]['status'];
  constructor(
    readonly code: LinkRefusalCode,
    detail?: string,
  ) {
    super(detail ? `${REFUSALS[code].message}：${detail}` : REFUSALS[code].message);
    this.name = 'LinkRefusal';
    this.status = REFUSALS[code].status;
  }
}

/** A link cannot be issued (wrong offer, version, state or hash; a bad argument). Retrying cannot help. */
export class OfferLinkIssueError extends PermanentJobError {
  constructor(message: string) {
    super(message);
    this.name = 'OfferLinkIssueError';
  }
}

/** OFFER_LINK_SECRET or PUBLIC_BASE_URL is not set: links can be neither made nor checked. */
export class OfferLinkConfigError extends PermanentJobError {
  constructor(what: string) {
    super(`${what} is not set: offer links to the acceptance page cannot be made or checked (see .env.example)`);
    this.name = 'OfferLinkConfigError';
  }
}
