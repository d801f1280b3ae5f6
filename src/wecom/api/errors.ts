/**
 * Typed failures of the WeCom API client, and the catalogue of short Chinese hints for the errcodes
 * HireLedger meets (doc 90313 全局错误码 and the per-API pages in the WeCom reference).
 *
 * Callers branch on the class and on `errcode`, never on `errmsg` (WeCom rewords it freely). No error
 * here ever carries the access_token, the secret or the raw axios error (whose config holds both).
 */

/** errcode → what an operator or recruiter should do about it. */
export const WECOM_ERROR_HINTS: Readonly<Record<number, string>> = {
  [-1]: '企业微信系统繁忙，已退避重试仍失败，请稍后再试',
  40001: 'secret 不正确，或应用已停用/重置 Secret：检查 WECOM_SECRET（连续错误会封禁出口 IP 1 小时）',
  40003: '无效的 UserID',
  40007: '不合法的 media_id（临时素材只保留 3 天）',
  40013: 'CorpID 不正确：检查 WECOM_CORP_ID',
  40014: 'access_token 无效（可能被提前作废），已刷新重试仍失败',
  40029: 'OAuth code 无效：已被使用或已过期（一次性，5 分钟有效）',
  40056: 'agentid 不正确：检查 WECOM_AGENT_ID',
  40058: '请求参数不合法',
  40091: 'secret 不属于该企业：检查 WECOM_CORP_ID 与 WECOM_SECRET 是否配对',
  40096: '不合法的外部联系人 userid',
  41001: '缺少 access_token 参数（程序缺陷）',
  42001: 'access_token 已过期，已刷新重试仍失败',
  44004: '消息内容为空',
  45002: '消息内容超过长度限制',
  45009: '接口调用超过频率限制，已退避仍被限流：稍后再试，切勿循环调用 gettoken',
  45033: '接口并发调用超过限制：降低并发',
  47001: '请求数据格式错误（JSON 不合法）',
  48002: 'API 无权限：把本应用加入该功能的「可调用接口的应用」',
  48007: '客服帐号未授权给本应用',
  50001: 'redirect_uri 的域名与应用的可信域名不一致',
  60011: '成员/部门/标签不在应用的可见范围（群聊 appchat 接口要求应用的可见范围为根部门）',
  60020: '服务器出口 IP 不在应用的「企业可信IP」列表：在管理后台添加（约 1 分钟生效）',
  60030: '不在应用的可见范围（微信客服接待人员也须在可见范围内）',
  60111: 'UserID 不存在或不在应用可见范围',
  81013: '所有接收人均无效：不在应用可见范围、已离职或未激活',
  82001: '接收人（成员/部门/标签）全部为空',
  84061: '与该客户不存在外部联系人关系（可能已被删除）',
  86001: '群聊 chatid 不合法：只允许 0-9、a-z、A-Z',
  86003: '群聊 chatid 不存在：检查 WECOM_CHECKPOINT_CHATID',
  86006: '群成员数不合法：至少 2 人，至多 2000 人',
  86008: '该群不是本应用创建的，应用只能向自己用 appchat/create 建的群发消息',
  86201: '缺少群聊 chatid',
  86205: '群聊 chatid 过长：最多 32 个字符',
  86207: '群主不在群成员列表中',
  86215: '群聊 chatid 已存在：用 appchat/get 查看已有的群',
  86216: '群成员中存在无效的 UserID',
  93000: '群机器人 webhook 地址无效，或机器人已被移出群：检查 WECOM_CHECKPOINT_WEBHOOK_KEY',
  93004: '群机器人已被停用',
  95000: '不合法的 open_kfid',
  95001: '超过发送条数限制：每条客户消息后最多回复 5 条',
  95002: '超过 48 小时，客户未再发消息前不能主动发送',
  95004: 'open_kfid 不存在',
  95007: '不合法的 msgtoken（回调中的 token 只有 10 分钟有效）',
  95013: '会话已结束',
  95018: '会话状态不允许通过 API 发送（仅「新接入待处理」「由智能助手接待」可发）',
  301025: '审批参数错误：检查 template_id、控件 id 与必填项',
  301026: '审批模板数据异常或模板未通过审核',
  301055: '无审批应用权限，或提单者不在应用可见范围',
  301056: '审批应用已停用',
  301057: '审批服务内部错误，稍后重试',
  301112: '拉取审批单的时间跨度超过 31 天：缩小时间范围',
};

/**
 * `kf/send_msg` errcodes that mean the route to the candidate is closed now (doc 94677: reply limit,
 * 48 hours passed, session ended or in a state the API may not send in), not that the request was
 * wrong: a caller takes its next route.
 */
export const KF_ROUTE_CLOSED: ReadonlySet<number> = new Set([95001, 95002, 95013, 95018]);

/** `externalcontact/add_msg_template`: no customer the sender can send to (every one in `fail_list`). */
export const MSG_TEMPLATE_NO_CUSTOMER = 41048;

/** The Chinese hint for an errcode, or a generic pointer to WeCom's error-code lookup. */
export function hintFor(errcode: number): string {
  return WECOM_ERROR_HINTS[errcode] ?? `企业微信错误码 ${errcode}，见 https://open.work.weixin.qq.com/devtool/query?e=${errcode}`;
}

/** WeCom answered with a non-zero errcode. */
export class WecomApiError extends Error {
  readonly hint: string;
  constructor(
    readonly errcode: number,
    readonly errmsg: string,
    /** API path under /cgi-bin/, e.g. `message/send` (never the query string, which holds the token). */
    readonly path: string,
    /** The other fields of the error body (81013 still lists invaliduser, for example). */
    readonly body: Readonly<Record<string, unknown>> = {},
  ) {
    const hint = hintFor(errcode);
    super(`WeCom ${path} failed: errcode ${errcode} (${hint})`);
    this.name = 'WecomApiError';
    this.hint = hint;
  }
}

/**
 * gettoken refused the credentials (40013 CorpID, 40001 secret, 40091 secret of another corp). Retrying
 * cannot help and repeated wrong-secret calls get the egress IP banned for an hour, so these are never
 * retried and are remembered for a cool-down.
 */
export class WecomConfigError extends WecomApiError {
  constructor(errcode: number, errmsg: string, path: string, body: Readonly<Record<string, unknown>> = {}) {
    super(errcode, errmsg, path, body);
    this.name = 'WecomConfigError';
  }
}

/** 45009 persisted after the bounded back-off. Jobs should reschedule (a minute window blocks for 60 s). */
export class WecomRateLimitedError extends WecomApiError {
  constructor(errmsg: string, path: string, body: Readonly<Record<string, unknown>> = {}) {
    super(45009, errmsg, path, body);
    this.name = 'WecomRateLimitedError';
  }
}

/**
 * No usable answer: connection refused, timeout, reset, or an HTTP status WeCom does not use for
 * API errors. `maybeSent` says whether WeCom may have processed the request anyway (timeouts and
 * resets after the request left); for a non-idempotent call that is why it was not retried.
 */
/** WecomNetworkError `code` of an answer larger than the call accepts (ApiCall.maxBytes): never retried. */
export const RESPONSE_TOO_LARGE = 'RESPONSE_TOO_LARGE';

export class WecomNetworkError extends Error {
  constructor(
    readonly path: string,
    /** Node/axios error code (ECONNREFUSED, ECONNABORTED…) or `HTTP_<status>`. */
    readonly code: string,
    readonly maybeSent: boolean,
    detail: string,
    readonly status?: number,
  ) {
    super(`WeCom ${path}: ${code}${maybeSent ? ' (the request may have been processed)' : ''}: ${detail}`);
    this.name = 'WecomNetworkError';
  }
}

/**
 * Refused locally before anything was sent, because sending now would exceed a WeCom limit: for
 * `scope: 'member'` WeCom would silently drop the copy (30/min, 1000/hour per member), for
 * `scope: 'app'` the client's own outbound budget is spent. Retry after `retryAfterMs`.
 */
export class RateLimitedError extends Error {
  constructor(
    readonly scope: 'member' | 'app',
    readonly retryAfterMs: number,
    /** For `member`: the recipients that are over their limit (lower-cased). */
    readonly userids: readonly string[] = [],
  ) {
    super(
      scope === 'member'
        ? `WeCom per-member message limit reached for ${userids.join('|')}; retry in ${retryAfterMs} ms`
        : `WeCom outbound rate budget spent; retry in ${retryAfterMs} ms`,
    );
    this.name = 'RateLimitedError';
  }
}

/**
 * Refused locally before anything was sent: the request breaks a documented WeCom rule (a userlist of one, a
 * chatid with other characters than 0-9a-zA-Z, …). A caller's bug; sending it would only earn an errcode.
 */
export class WecomRequestError extends Error {
  constructor(
    /** API path under /cgi-bin/, e.g. `appchat/create`. */
    readonly path: string,
    /** The offending field, e.g. `userlist`. */
    readonly field: string,
    detail: string,
  ) {
    super(`WeCom ${path}: ${field} ${detail}; not sent`);
    this.name = 'WecomRequestError';
  }
}

/** A message longer than WeCom accepts (2048 bytes of UTF-8 for text), refused before sending. */
export class WecomContentTooLongError extends WecomRequestError {
  constructor(
    path: string,
    field: string,
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(path, field, `is ${bytes} bytes of UTF-8, more than the ${limit} WeCom accepts`);
    this.name = 'WecomContentTooLongError';
  }
}

/** Another process held the refresh lock for longer than the bounded wait, and no new credential appeared. */
export class WecomCredentialUnavailableError extends Error {
  constructor(readonly credential: string) {
    super(`timed out waiting for another process to refresh the WeCom ${credential}`);
    this.name = 'WecomCredentialUnavailableError';
  }
}

/**
 * The message WAS sent (see `result`) but its outcome record could not be written; its intent is in the ledger.
 * Do not send it again under another key: append `entries` to the ledger again (same source/sourceRef, so it is
 * idempotent), or retry under the same idempotency key (WeCom drops the copy and the outcome is written then).
 */
export class EvidenceWriteError extends Error {
  constructor(
    readonly result: unknown,
    readonly entries: readonly unknown[],
    detail: string,
  ) {
    super(`message sent but its evidence record failed: ${detail}`);
    this.name = 'EvidenceWriteError';
  }
}

/** The evidence ledger did not take the intent of a send, so nothing was sent. Safe to retry. */
export class IntentNotRecordedError extends Error {
  constructor(
    /** API path under /cgi-bin/, e.g. `message/send`. */
    readonly path: string,
    readonly idempotencyKey: string,
    cause: unknown,
  ) {
    super(
      `WeCom ${path}: not sent, its intent could not be recorded: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.name = 'IntentNotRecordedError';
  }
}

/**
 * Nothing was sent: a send under this idempotency key was attempted before, and this API has nothing that makes a
 * repeat harmless on WeCom's side (add_msg_template would put a second message before the recruiter). What became of
 * the first attempt is in the ledger (an outcome linked to `intents`, or none: outcome unknown); a person decides.
 * Not worth retrying.
 */
export class SendAlreadyAttemptedError extends Error {
  constructor(
    readonly path: string,
    readonly idempotencyKey: string,
    /** The recorded intents of the first attempt. */
    readonly intents: readonly { seq: number; hash: string }[],
  ) {
    super(`WeCom ${path}: a send under idempotency key ${idempotencyKey} was already attempted; not sent again`);
    this.name = 'SendAlreadyAttemptedError';
  }
}

/**
 * A send under an idempotency key whose recorded intent asked for a different request (another text, other
 * recipients): the key was reused for a different message. Nothing was sent; the attempt is in the ledger as an
 * intent stored as a variant of the first (`variant_of`) with a `failed` outcome. Not worth retrying: a
 * different message needs a key of its own.
 */
export class IdempotencyConflictError extends Error {
  constructor(
    readonly path: string,
    readonly idempotencyKey: string,
    /** The intents already recorded under the key, as stored (the first request's, or an earlier variant's). */
    readonly intents: readonly { seq: number; hash: string }[],
  ) {
    super(`WeCom ${path}: idempotency key ${idempotencyKey} was already used for a different request; not sent`);
    this.name = 'IdempotencyConflictError';
  }
}
