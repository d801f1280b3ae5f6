/**
 * Dependencies, options and the typed request/response shapes of every WeCom API the client calls.
 * Shapes follow the WeCom reference §4 (docs 91039, 90236, 91982, 91853, 91983, 91816, 94670, 94677,
 * 92114, 91023, 90196, 90506, 90254, 90245, 90247, 90248). Responses list what HireLedger reads; WeCom may add fields.
 * Every 64-bit id (msgid, MsgId) is a string: responses are parsed with parseJsonLossless.
 */
import type { Redis } from 'ioredis';
import type { Ledger, LedgerReader } from '../../evidence';
import type { ExternalContactIds } from '../external-contacts';

// ---------------------------------------------------------------- dependencies

/** The part of the evidence ledger the client uses: a durable append that treats an equal (source, sourceRef) as a duplicate. */
export type OutboundLedger = Pick<Ledger, 'append'>;

/**
 * The part of the ledger's read side the client uses: when an intent is already recorded under a key, the stored
 * intent (was it this request?) and the records after it in its stream (was it sent?). See sendRecorded.
 */
export type OutboundReader = Pick<LedgerReader, 'readRecord' | 'cursor'>;

type LogFn = (obj: Record<string, unknown>, msg?: string) => void;

/** The part of pino the client uses (Fastify's logger fits). */
export interface WecomLogger {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  debug: LogFn;
  child(bindings: Record<string, unknown>): WecomLogger;
}

export interface WecomClientDeps {
  /** e.g. https://qyapi.weixin.qq.com (a trailing /cgi-bin is accepted too). */
  apiBase: string;
  corpId: string;
  /** The self-built app's Secret. Only its sha256 ever reaches Redis keys; never logged. */
  secret: string;
  agentId: number | string;
  /** Shared cache and limiter state. Errors or a closed connection degrade to per-process state. */
  redis: Redis;
  logger: WecomLogger;
  /**
   * Required: every message sent to a person is recorded here, as an intent before the request and an outcome
   * after it (evidence.ts). A client that could send without it would let a send leave no trace.
   */
  ledger: OutboundLedger;
  /**
   * Reads back what `ledger` stored. With it, a second send under a recorded key returns the recorded answer when
   * the first was sent, and is sent again (APIs whose repeat WeCom drops) only when no outcome says it was. Without
   * it, a second send under a recorded key is never sent again (SendAlreadyAttemptedError).
   */
  reader?: OutboundReader;
  /**
   * The opaque ids of external contacts (src/wecom/external-contacts.ts), which name a candidate in the stream of
   * what kf/send_msg and add_msg_template send them (DECISIONS 4). Without it those two refuse to send.
   */
  externalContacts?: ExternalContactIds;
  /** Epoch milliseconds; injectable for expiry and rate-limit tests. */
  now?: () => number;
  /** Back-off and wait primitive; tests inject a fake one. */
  sleep?: (ms: number) => Promise<void>;
  options?: WecomClientOptions;
}

export interface WecomClientOptions {
  /** Prefix of every Redis key this client uses (lets deployments and tests share one Redis). Default `hireledger:wecom:`. */
  keyPrefix?: string;
  /** Per-request timeout. Default 5000 ms. */
  timeoutMs?: number;
  /** Retries of -1 (system busy) and network failures. Default 3 (doc 90313 says at most 3). */
  busyRetries?: number;
  /** First back-off for -1/network; doubles each time, with jitter. Default 500 ms. */
  busyBackoffMs?: number;
  /** Retries after 45009 (business APIs only; gettoken is never retried on 45009). Default 2. */
  freqRetries?: number;
  /** First back-off after 45009; doubles each time, with jitter. Default 5000 ms. */
  freqBackoffMs?: number;
  /**
   * Client-wide token bucket for all outbound calls, shared through Redis. WeCom's binding limits are per
   * corp per API (10k/min); the default 100/s with a burst of 100 stays below that for any single API.
   * `false` turns it off.
   */
  appRateLimit?: { perSecond: number; burst: number } | false;
  /** Longest the app bucket may delay one call before RateLimitedError('app'). Default 5000 ms. */
  appRateLimitMaxWaitMs?: number;
  /** message/send per recipient (doc 90236): WeCom silently drops copies beyond 30/min and 1000/hour. */
  memberLimits?: { perMinute: number; perHour: number };
  /**
   * Longest a message/send waits in total for a recipient's window to free up before failing with
   * RateLimitedError('member'). Default 5000 ms: short waits smooth bursts; long ones belong to the
   * job queue (reschedule with `retryAfterMs`), not to a held worker or HTTP request.
   */
  memberLimitMaxWaitMs?: number;
  /** Refresh lock lifetime; must exceed one gettoken with its retries. Default 30000 ms. */
  refreshLockTtlMs?: number;
  /** How long a wrong CorpID/secret is remembered before gettoken is tried again. Default 60000 ms. */
  configErrorCooldownMs?: number;
  /** Redis commands slower than this count as "Redis down". Default 1000 ms. */
  redisCommandTimeoutMs?: number;
}

/** Every WeCom response: failure is `errcode` present and non-zero; some successes omit it. */
export interface WecomBaseResponse {
  errcode?: number;
  errmsg?: string;
}

// ---------------------------------------------------------------- gettoken / tickets (91039, 90506)

export interface GettokenResponse extends WecomBaseResponse {
  access_token: string;
  expires_in: number;
}

export interface TicketResponse extends WecomBaseResponse {
  ticket: string;
  expires_in: number;
}

export type TicketKind = 'jsapi' | 'agent_config';

// ---------------------------------------------------------------- message/send (90236)

interface MessageTargets {
  /** "u1|u2" (at most 1000) or "@all". */
  touser?: string;
  toparty?: string;
  totag?: string;
  safe?: 0 | 1;
  enable_id_trans?: 0 | 1;
  /**
   * Always 1, whatever is given: WeCom then drops an identical request within duplicate_check_interval, which is
   * what makes sending again after a crash or a timeout safe (evidence.ts). 0 is not accepted for that reason.
   */
  enable_duplicate_check?: 1;
  /**
   * Seconds, at most 14400 (4 h, WeCom's maximum). Default here 14400 rather than WeCom's 1800, so that a job
   * retried within hours of a crash still cannot deliver twice. The price: an identical message to the same
   * people within the interval is delivered once, even under another idempotency key.
   */
  duplicate_check_interval?: number;
}

export interface TextMessage extends MessageTargets {
  msgtype: 'text';
  /** ≤ 2048 bytes; `\n` and `<a href>` allowed. */
  text: { content: string };
}

export interface TextCardMessage extends MessageTargets {
  msgtype: 'textcard';
  textcard: { title: string; description: string; url: string; btntxt?: string };
}

export interface MarkdownMessage extends MessageTargets {
  msgtype: 'markdown';
  markdown: { content: string };
}

export interface TemplateCardButton {
  text: string;
  style?: number;
  key: string;
}

export interface TemplateCard {
  card_type: 'text_notice' | 'news_notice' | 'button_interaction' | 'vote_interaction' | 'multiple_interaction';
  source?: { icon_url?: string; desc?: string; desc_color?: number };
  main_title?: { title?: string; desc?: string };
  sub_title_text?: string;
  horizontal_content_list?: {
    keyname: string;
    value?: string;
    type?: 1 | 2 | 3;
    url?: string;
    media_id?: string;
    userid?: string;
  }[];
  jump_list?: { type?: 1 | 2; title: string; url?: string; appid?: string; pagepath?: string }[];
  card_action?: { type: 1 | 2; url?: string; appid?: string; pagepath?: string };
  /** Required for interactive cards and action_menu; clicks come back as template_card_event. */
  task_id?: string;
  button_list?: TemplateCardButton[];
  [extra: string]: unknown;
}

export interface TemplateCardMessage extends MessageTargets {
  msgtype: 'template_card';
  template_card: TemplateCard;
}

/** What a caller passes: agentid is added by the client. */
export type MessageSendRequest = TextMessage | TextCardMessage | MarkdownMessage | TemplateCardMessage;

export interface MessageSendResponse extends WecomBaseResponse {
  invaliduser?: string;
  invalidparty?: string;
  invalidtag?: string;
  unlicenseduser?: string;
  /** Always a string (recall handle). */
  msgid: string;
  /** Interactive cards: one use, 72 h, to update the card. */
  response_code?: string;
}

// ---------------------------------------------------------------- oa (91982, 91853, 91983, 91816)

export interface LangText {
  text: string;
  lang: string;
}

export interface TemplateControl {
  property: { control: string; id: string; title: LangText[]; placeholder?: LangText[]; require?: 0 | 1; un_print?: 0 | 1 };
  config?: Record<string, unknown>;
}

export interface GetTemplateDetailResponse extends WecomBaseResponse {
  template_names: LangText[];
  template_content: { controls: TemplateControl[] };
}

export interface ApplyContent {
  control: string;
  id: string;
  value: Record<string, unknown>;
}

export interface ApplyEventRequest {
  creator_userid: string;
  template_id: string;
  use_template_approver: 0 | 1;
  choose_department?: number;
  process?: { node_list: { type: 1 | 2 | 3; apv_rel?: 1 | 2 | 3; userid: string[] }[] };
  apply_data: { contents: ApplyContent[] };
  /** At most 3 lines, each ≤ 20 characters; lang `zh_CN` or `en`. */
  summary_list?: { summary_info: LangText[] }[];
}

export interface ApplyEventResponse extends WecomBaseResponse {
  sp_no: string;
}

export interface ApprovalDetail {
  sp_no: string;
  sp_name: string;
  /** 1 审批中 2 已通过 3 已驳回 4 已撤销 6 通过后撤销 7 已删除 10 已支付. */
  sp_status: number;
  template_id: string;
  apply_time: number;
  applyer?: { userid: string; partyid: string };
  sp_record: {
    sp_status: number;
    approverattr: number;
    details: { approver: { userid: string }; speech: string; sp_status: number; sptime: number; media_id: string[] }[];
  }[];
  notifyer?: { userid: string }[];
  apply_data: { contents: (ApplyContent & { title: LangText[]; hidden?: number })[] };
  comments?: {
    commentUserInfo: { userid: string };
    commenttime: number;
    commentcontent: string;
    commentid: string;
    media_id: string[];
  }[];
  process_list?: { node_list: Record<string, unknown>[] };
}

export interface GetApprovalDetailResponse extends WecomBaseResponse {
  info: ApprovalDetail;
}

export interface GetApprovalInfoRequest {
  /** Unix seconds; the span must be ≤ 31 days. */
  starttime: number | string;
  endtime: number | string;
  new_cursor?: string;
  /** ≤ 100. */
  size?: number;
  filters?: { key: 'template_id' | 'creator' | 'department' | 'sp_status' | 'record_type'; value: string }[];
}

export interface GetApprovalInfoResponse extends WecomBaseResponse {
  sp_no_list: string[];
  /** Absent when the list is finished. */
  new_next_cursor?: string;
}

// ---------------------------------------------------------------- 微信客服 (94670, 94677)

export interface KfAccount {
  open_kfid: string;
  name: string;
  avatar: string;
  manage_privilege?: boolean;
}

export interface KfAccountListResponse extends WecomBaseResponse {
  account_list: KfAccount[];
}

export interface KfSyncMsgRequest {
  open_kfid: string;
  cursor?: string;
  /** From the kf_msg_or_event callback, valid 10 minutes; without it a strict rate limit applies. */
  token?: string;
  limit?: number;
  voice_format?: 0 | 1;
}

export interface KfMessage {
  /** Always a string. */
  msgid: string;
  open_kfid?: string;
  external_userid?: string;
  send_time: number;
  /** 3 customer, 4 system event, 5 servicer from the WeCom client. */
  origin: number;
  servicer_userid?: string;
  msgtype: string;
  [content: string]: unknown;
}

export interface KfSyncMsgResponse extends WecomBaseResponse {
  next_cursor: string;
  has_more: 0 | 1;
  msg_list: KfMessage[];
}

interface KfSendBase {
  /** The customer's external_userid. */
  touser: string;
  open_kfid: string;
  /** ≤ 32 bytes of [0-9a-zA-Z_-]; unique per account, so a repeat is a no-op. Derived from idempotencyKey when absent. */
  msgid?: string;
}

export type KfSendMsgRequest =
  | (KfSendBase & { msgtype: 'text'; text: { content: string } })
  | (KfSendBase & { msgtype: 'image' | 'voice' | 'video' | 'file'; [media: string]: unknown })
  | (KfSendBase & { msgtype: 'link' | 'msgmenu' | 'location' | 'miniprogram'; [content: string]: unknown });

export interface KfSendMsgResponse extends WecomBaseResponse {
  msgid: string;
}

// ---------------------------------------------------------------- 企业群发 externalcontact/add_msg_template (92135)

export type MsgTemplateAttachment =
  | { msgtype: 'image'; image: { media_id?: string; pic_url?: string } }
  | { msgtype: 'link'; link: { title: string; url: string; picurl?: string; desc?: string } }
  | { msgtype: 'miniprogram'; miniprogram: { title: string; pic_media_id: string; appid: string; page: string } }
  | { msgtype: 'video'; video: { media_id: string } }
  | { msgtype: 'file'; file: { media_id: string } };

/**
 * A message a recruiter sends to their own external contacts after confirming it in their WeCom client
 * (DECISIONS 12). Only the 1:1 form (`chat_type` single) is typed: HireLedger reaches one candidate at a time.
 */
export interface MsgTemplateRequest {
  chat_type?: 'single';
  /** The candidates (each must be a customer of `sender`), at most 10000. */
  external_userid: string[];
  /** The recruiter who confirms and sends it. */
  sender: string;
  /** Whether the sender may pick which of the listed customers get it. */
  allow_select?: boolean;
  text?: { content: string };
  /** At most 9. */
  attachments?: MsgTemplateAttachment[];
}

export interface MsgTemplateResponse extends WecomBaseResponse {
  /** external_userids WeCom could not queue (not a customer of the sender, …). */
  fail_list: string[];
  /** The 企业群发 id (get_groupmsg_send_result reads what each customer got). */
  msgid: string;
}

// ---------------------------------------------------------------- directory (92114, 90196)

export interface ExternalContactResponse extends WecomBaseResponse {
  external_contact: {
    external_userid: string;
    name: string;
    type: 1 | 2;
    avatar?: string;
    gender?: 0 | 1 | 2;
    unionid?: string;
    position?: string;
    corp_name?: string;
    corp_full_name?: string;
    external_profile?: Record<string, unknown>;
  };
  follow_user: {
    userid: string;
    remark?: string;
    description?: string;
    createtime: number;
    tags?: { group_name: string; tag_name: string; tag_id?: string; type: 1 | 2 | 3 }[];
    remark_corp_name?: string;
    remark_mobiles?: string[];
    oper_userid?: string;
    add_way?: number;
    state?: string;
  }[];
  next_cursor?: string;
}

export interface UserGetResponse extends WecomBaseResponse {
  userid: string;
  name: string;
  department: number[];
  position?: string;
  status?: number;
  main_department?: number;
  direct_leader?: string[];
  is_leader_in_dept?: number[];
  alias?: string;
  open_userid?: string;
  [field: string]: unknown;
}

// ---------------------------------------------------------------- OAuth2 (91023)

export type GetUserInfoResponse =
  { kind: 'member'; userid: string; user_ticket?: string } | { kind: 'external'; openid: string; external_userid?: string };

// ---------------------------------------------------------------- JS-SDK (90506, 94313)

export interface JsapiSignatureInput {
  /** The full page URL with its query, without `#…`. */
  url: string;
  ticket: string;
  nonceStr: string;
  timestamp: number | string;
}

export interface JsapiConfigSignature {
  timestamp: number;
  nonceStr: string;
  signature: string;
}

// ---------------------------------------------------------------- media/get (90254)

export interface MediaFile {
  data: Buffer;
  contentType: string;
  /** From Content-Disposition (filename* preferred); undefined when WeCom sent none. */
  filename: string | undefined;
}

// ---------------------------------------------------------------- 群聊会话 appchat (90245, 90247, 90248)

export interface AppchatCreateRequest {
  /** At most 50 characters; WeCom cuts longer names. */
  name?: string;
  /** Must be in userlist; WeCom picks a member when absent. */
  owner?: string;
  /** 2 to 2000 members. */
  userlist: string[];
  /** ≤ 32 characters of 0-9a-zA-Z, unique in the corp; WeCom generates one when absent. */
  chatid?: string;
}

export interface AppchatCreateResponse extends WecomBaseResponse {
  chatid: string;
}

export interface AppchatInfo {
  chatid: string;
  name: string;
  owner: string;
  userlist: string[];
  chat_type?: number;
  [field: string]: unknown;
}

export interface AppchatGetResponse extends WecomBaseResponse {
  chat_info: AppchatInfo;
}

/** appchat/send, text only for now (the API also takes markdown, textcard, file, news …). */
export interface AppchatTextMessage {
  chatid: string;
  msgtype: 'text';
  /** ≤ 2048 bytes of UTF-8; refused locally when longer. */
  text: { content: string };
  safe?: 0 | 1;
}

export type AppchatSendRequest = AppchatTextMessage;

/** `{"errcode":0,"errmsg":"ok"}` as published — no msgid. Kept whole: WeCom may add fields. */
export interface AppchatSendResponse extends WecomBaseResponse {
  [field: string]: unknown;
}

// ---------------------------------------------------------------- 群机器人 webhook

/** What the webhook accepts as a text message; the key travels in the URL, never in the body. */
export interface WebhookTextMessage {
  msgtype: 'text';
  text: {
    /** ≤ 2048 bytes of UTF-8; refused locally when longer. */
    content: string;
    /** userids to @, or "@all". */
    mentioned_list?: string[];
    mentioned_mobile_list?: string[];
  };
}

export type WebhookMessage = WebhookTextMessage;

export interface WebhookSendResponse extends WecomBaseResponse {
  [field: string]: unknown;
}

// ---------------------------------------------------------------- outbound sends

export interface SendOptions {
  /**
   * The caller's identity for this send (e.g. `reminder:<row id>`), 1–256 printable ASCII characters without `#`
   * (the ledger's sourceRefs are built as `<key>#…`). The same key is the same send: the evidence intent is keyed
   * by it (a second attempt adds no second intent), kf/send_msg derives its msgid from it, and message/send is
   * sent again only under WeCom's duplicate check. Retry under the same key; never reuse a key for a different
   * message. Re-run a message/send under its key only within its duplicate_check_interval (default 4 h): later,
   * WeCom no longer drops the copy. The key ends up in the hashed record header forever: use an opaque id, never a
   * name or phone number (DECISIONS 4).
   */
  idempotencyKey: string;
}
