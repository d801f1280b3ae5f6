/**
 * All sandbox state, in memory. One `SandboxState` per sandbox instance, so tests running in parallel
 * (each with its own sandbox on port 0) never share anything.
 *
 * Route modules read and mutate it; tests read it directly (`sandbox.state`) to assert what the app
 * did: tokens fetched, messages delivered to each member's inbox, approvals, KF sends, callbacks and
 * their delivery attempts.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { AppchatState } from './appchat';
import { validateApplyContents } from './applydata';
import { approvalAct, buildNodes, CHANGE_EVENT, SP_STATUS, type Approval } from './approvals';
import type {
  LangText,
  ProcessNodeInput,
  SandboxSeed,
  SeedDepartment,
  SeedExternalContact,
  SeedKfAccount,
  SeedMember,
  SeedTag,
  SeedTemplate,
} from './seed';

export type Clock = () => number;

export interface IssuedToken {
  token: string;
  issuedAtMs: number;
  expiresAtMs: number;
  /** Set by the admin "invalidate" action: WeCom may drop a token early; the next call gets 40014. */
  revoked: boolean;
}

export interface IssuedTicket {
  ticket: string;
  expiresAtMs: number;
}

export interface FaultRule {
  id: number;
  /** Path under /cgi-bin/ without leading slash (e.g. "message/send"), or "*" for every API. */
  path: string;
  errcode: number;
  remaining: number;
  hits: number;
}

export interface InboxEntry {
  msgid: string;
  msgtype: string;
  /** The message-type object as sent (e.g. {content} for text, {title, description, url, btntxt} for textcard). */
  body: unknown;
  receivedAtMs: number;
}

/** A 联系我 contact way (doc 92228): who is added through it and the `state` every add through it carries. */
export interface ContactWay {
  config_id: string;
  /** 1 single member, 2 several. */
  type: 1 | 2;
  /** 1 mini-program button, 2 QR code. */
  scene: 1 | 2;
  remark: string;
  skip_verify: boolean;
  /** At most 30 characters; echoed as State in change_external_contact and in follow_user.state. */
  state: string;
  user: string[];
  qr_code: string;
}

export interface SentMessageRecord {
  msgid: string;
  atMs: number;
  msgtype: string;
  request: Record<string, unknown>;
  /** Members the message reached. */
  delivered: string[];
  /** Valid members whose copy WeCom silently dropped (30/min, 1000/hour per member). */
  droppedByRateLimit: string[];
  invaliduser: string[];
  invalidparty: string[];
  invalidtag: string[];
}

export interface DroppedMessage {
  msgid: string;
  userid: string;
  atMs: number;
  reason: 'per_member_minute_limit' | 'per_member_hour_limit';
}

export interface OAuthCode {
  code: string;
  scope: 'snsapi_base' | 'snsapi_privateinfo';
  createdAtMs: number;
  usedAtMs?: number;
  who: { kind: 'member'; userid: string } | { kind: 'external'; external_userid: string; openid: string };
}

/** One item of kf/sync_msg `msg_list`, exactly as returned, plus the sequence used for cursors. */
export interface KfStoredMessage {
  seq: number;
  open_kfid: string;
  msg: Record<string, unknown> & { msgid: string; send_time: number; origin: number; msgtype: string };
}

export interface KfSession {
  open_kfid: string;
  external_userid: string;
  /** 0 未处理 1 由智能助手接待 2 待接入池排队中 3 由人工接待 4 已结束/未开始 (doc 94669). */
  service_state: 0 | 1 | 2 | 3 | 4;
  lastCustomerMsgAtMs: number;
  sentSinceCustomerMsg: number;
}

/** A kf/sync_msg page made to fail (admin `kf/page-faults`): refused with an errcode, or answered malformed. */
export interface KfPageFault {
  id: number;
  open_kfid: string;
  /** Only the page that starts right after this message (its seq); undefined: any page of the account. */
  afterSeq?: number;
  mode: 'errcode' | 'malformed';
  errcode: number;
  remaining: number;
}

export interface KfSentMessage {
  msgid: string;
  open_kfid: string;
  touser: string;
  msgtype: string;
  body: unknown;
  atMs: number;
}

/**
 * A 企业群发 task (externalcontact/add_msg_template, doc 92135): a message the sender confirms in their
 * client before it reaches the listed customers (sandbox/routes/msg-template.ts).
 */
export interface GroupMsgTask {
  msgid: string;
  /** The member who confirms it, lower-cased. */
  sender: string;
  chat_type: 'single';
  text?: { content: string };
  attachments: Record<string, unknown>[];
  createdAtMs: number;
  /** 0 未发送 (waiting for the sender), 2 已发送 (the sender confirmed). */
  task_status: 0 | 2;
  confirmedAtMs?: number;
  /** Per customer queued: 0 未发送, 1 已发送 (external_userid kept exactly). */
  recipients: { external_userid: string; status: 0 | 1; sendAtMs?: number }[];
  /** What add_msg_template answered in fail_list. */
  fail_list: string[];
  /** The request exactly as received. */
  request: Record<string, unknown>;
}

export interface CallbackAttempt {
  attempt: number;
  startedAtMs: number;
  durationMs: number;
  /** HTTP status, when the app answered at all. */
  status?: number;
  /** "timeout after 300ms", "ECONNREFUSED", "HTTP 500" ... */
  error?: string;
  timestamp: string;
  nonce: string;
  msgSignature: string;
}

export type CallbackKind = 'text' | 'sys_approval_change' | 'kf_msg_or_event' | 'change_external_contact' | 'raw';

export interface CallbackRecord {
  id: number;
  kind: CallbackKind;
  /** Decrypted XML the app should see (identical on every attempt). */
  plaintext: string;
  envelopeAgentId: string;
  createdAtMs: number;
  url?: string;
  status: 'pending' | 'delivered' | 'failed' | 'skipped';
  attempts: CallbackAttempt[];
  /** Short Chinese description for the HTML page. */
  summary: string;
}

export interface SandboxStats {
  /** Every request to /cgi-bin/gettoken (so tests can assert "the app fetched the token once"). */
  gettoken: number;
  tokensIssued: number;
  /** Requests per API path (e.g. "message/send"). */
  calls: Record<string, number>;
  faultsInjected: number;
  messagesDelivered: number;
  messagesDroppedByRateLimit: number;
  duplicatesSuppressed: number;
  jsapiTickets: number;
  agentTickets: number;
  callbackAttempts: number;
  callbacksDelivered: number;
  callbacksFailed: number;
}

export interface StoredMedia {
  media_id: string;
  filename: string;
  content_type: string;
  bytes: Buffer;
}

export interface CreateApprovalInput {
  creator_userid: string;
  template: SeedTemplate;
  process: ProcessNodeInput[];
  contents: unknown;
  summary_list?: { summary_info: LangText[] }[];
  choose_department?: number;
  applyTimeSec?: number;
}

export interface SandboxStateOptions {
  corpId: string;
  agentId: number;
  seed: SandboxSeed;
  tokenTtlSeconds: number;
  clock?: Clock;
  /**
   * First daily sequence number of this instance's approval numbers (`sp_no`), per Beijing day
   * `YYYYMMDD`. Default: `spSeqFromTime(clock())`, the same for every day.
   */
  spSeqStart?: (day: string) => number;
}

/** Largest daily sequence of an `sp_no` (`YYYYMMDD` + 4 digits). */
export const SP_SEQ_MAX = 9999;

/**
 * The first daily sequence of a sandbox started at `startMs`: 1 + the tens of seconds since Beijing
 * midnight (1..8640). State is in memory, so a restarted sandbox would hand out 202611260001 again and
 * a ledger that outlives it would file two runs' approvals under one SpNo; seeding from the start time
 * keeps the numbers of instances started at least 10·k seconds apart distinct, k being how many
 * numbers the earlier one handed out for that day. (`npm run demo` also starts past the numbers its
 * ledger already holds.)
 */
export function spSeqFromTime(startMs: number): number {
  const msOfBeijingDay = (((startMs + 8 * 3600_000) % 86_400_000) + 86_400_000) % 86_400_000;
  return 1 + Math.floor(msOfBeijingDay / 10_000);
}

/** The Beijing date `YYYYMMDD` of a Unix time in seconds, as the first 8 digits of an `sp_no`. */
export function spDay(atSec: number): string {
  return new Date(atSec * 1000 + 8 * 3600_000).toISOString().slice(0, 10).replace(/-/g, '');
}

/** The `k`-th (0-based) sequence from `start`, wrapping within 1..9999 so the number keeps its 12 digits. */
export function spSeqAt(start: number, k: number): number {
  const first = Math.min(Math.max(Math.trunc(start), 1), SP_SEQ_MAX);
  return ((first - 1 + k) % SP_SEQ_MAX) + 1;
}

/** Random 19-digit decimal string (like WeCom's 64-bit MsgId), never starting with 0. */
export function nineteenDigitId(): string {
  return String(randomInt(1, 10)) + Array.from({ length: 18 }, () => String(randomInt(0, 10))).join('');
}

/** A customer's text in a KF session (origin 3), as kf/sync_msg returns it. */
export function kfCustomerText(
  open_kfid: string,
  external_userid: string,
  content: string,
  send_time: number,
): KfStoredMessage['msg'] {
  return {
    msgid: `from_msgid_${nineteenDigitId()}`,
    open_kfid,
    external_userid,
    send_time,
    origin: 3,
    msgtype: 'text',
    text: { content },
  };
}

/** The customer entered a KF session through a link (system event, origin 4). */
export function kfEnterSession(
  open_kfid: string,
  external_userid: string,
  scene_param: string,
  send_time: number,
): KfStoredMessage['msg'] {
  return {
    msgid: nineteenDigitId(),
    send_time,
    origin: 4,
    msgtype: 'event',
    event: {
      event_type: 'enter_session',
      scene: 'wechat_channels',
      open_kfid,
      external_userid,
      scene_param,
      welcome_code: urlSafeRandom(24),
    },
  };
}

function urlSafeRandom(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}

export class SandboxState {
  readonly corpId: string;
  readonly agentId: number;
  readonly corpName: string;
  readonly clock: Clock;

  tokenTtlSeconds: number;
  callbackUrl: string | undefined;

  readonly departments = new Map<number, SeedDepartment>();
  /** Keyed by lower-cased userid: WeCom userids are case-insensitive and APIs return them lower-cased. */
  readonly members = new Map<string, SeedMember>();
  readonly tags = new Map<number, SeedTag>();
  readonly visibleScope: { departments: number[]; users: string[] };
  readonly externalContacts = new Map<string, SeedExternalContact>();
  /** 联系我 contact ways (externalcontact/add_contact_way), by config_id. */
  readonly contactWays = new Map<string, ContactWay>();
  readonly kfAccounts = new Map<string, SeedKfAccount>();
  readonly templates = new Map<string, SeedTemplate>();
  readonly media = new Map<string, StoredMedia>();
  readonly approvals = new Map<string, Approval>();

  readonly tokens = new Map<string, IssuedToken>();
  jsapiTicket: IssuedTicket | undefined;
  agentTicket: IssuedTicket | undefined;
  readonly oauthCodes = new Map<string, OAuthCode>();
  faults: FaultRule[] = [];
  private faultSeq = 0;

  /** Per-member inbox of app messages (lower-cased userid → entries, oldest first). */
  readonly messages = new Map<string, InboxEntry[]>();
  readonly sentMessages: SentMessageRecord[] = [];
  readonly droppedMessages: DroppedMessage[] = [];
  /** enable_duplicate_check: canonical request JSON → first send. */
  readonly duplicateIndex = new Map<string, { msgid: string; atMs: number; response: Record<string, unknown> }>();
  /** Per-member delivery times, for the 30/min and 1000/hour limits. */
  readonly deliveryTimes = new Map<string, number[]>();

  readonly kfMessages: KfStoredMessage[] = [];
  /**
   * Position of the last KF message, behind sync_msg's opaque cursor. It starts from the wall clock
   * (µs), as WeCom's cursor outlives any one process: a cursor an app stored against an earlier
   * sandbox (the demo run again on the same database) then points before this sandbox's messages
   * instead of past them, so a re-run's conversation is pulled, not skipped.
   */
  private kfSeq = Date.now() * 1000;
  readonly kfSessions = new Map<string, KfSession>();
  readonly kfSent: KfSentMessage[] = [];
  /** sync_msg tokens handed out in kf_msg_or_event callbacks → expiry (10 minutes). */
  readonly kfTokens = new Map<string, number>();
  /** Pages of kf/sync_msg made to fail (sandbox/routes/kf.ts). */
  kfPageFaults: KfPageFault[] = [];

  /** 企业群发 tasks (externalcontact/add_msg_template), oldest first. */
  readonly groupMsgs: GroupMsgTask[] = [];
  /**
   * How many 企业群发 messages one customer may receive per natural month (Beijing time); null (default):
   * as many as the month has days, WeCom's current rule (doc 92135). The admin API can set another
   * (e.g. 4, the rule before 2022) to test the limit without dozens of sends.
   */
  groupMsgMonthlyCap: number | null = null;

  readonly callbacks: CallbackRecord[] = [];
  private callbackSeq = 0;

  /** appchat groups, group robots and every message posted to them (sandbox/appchat.ts). */
  readonly appchat: AppchatState;

  /** Per Beijing day: how many approval numbers this instance has handed out. */
  private spNoCounters = new Map<string, number>();
  private readonly spSeqStart: (day: string) => number;

  readonly stats: SandboxStats = {
    gettoken: 0,
    tokensIssued: 0,
    calls: {},
    faultsInjected: 0,
    messagesDelivered: 0,
    messagesDroppedByRateLimit: 0,
    duplicatesSuppressed: 0,
    jsapiTickets: 0,
    agentTickets: 0,
    callbackAttempts: 0,
    callbacksDelivered: 0,
    callbacksFailed: 0,
  };

  constructor(opts: SandboxStateOptions) {
    this.corpId = opts.corpId;
    this.agentId = opts.agentId;
    this.tokenTtlSeconds = opts.tokenTtlSeconds;
    this.clock = opts.clock ?? Date.now;
    const timeSeeded = spSeqFromTime(this.clock());
    this.spSeqStart = opts.spSeqStart ?? (() => timeSeeded);
    const seed = structuredClone(opts.seed);
    this.corpName = seed.corpName;
    this.visibleScope = seed.visibleScope;
    for (const d of seed.departments) this.departments.set(d.id, d);
    for (const m of seed.members) this.members.set(m.userid.toLowerCase(), m);
    for (const t of seed.tags) this.tags.set(t.tagid, t);
    const startSec = this.nowSec();
    for (const c of seed.externalContacts) {
      for (const f of c.follow_user) f.createtime ??= startSec - f.added_ago_seconds;
      this.externalContacts.set(c.external_userid, c);
    }
    for (const k of seed.kfAccounts) this.kfAccounts.set(k.open_kfid, k);
    for (const t of seed.templates) this.templates.set(t.template_id, t);
    for (const m of seed.media) {
      this.media.set(m.media_id, {
        media_id: m.media_id,
        filename: m.filename,
        content_type: m.content_type,
        bytes: Buffer.from(m.base64, 'base64'),
      });
    }
    this.appchat = new AppchatState(seed, () => this.nowMs());
    this.replaySeedHistory(seed);
  }

  nowMs(): number {
    return this.clock();
  }

  nowSec(): number {
    return Math.floor(this.clock() / 1000);
  }

  // ---------------------------------------------------------------- directory

  member(userid: string): SeedMember | undefined {
    return this.members.get(userid.toLowerCase());
  }

  /** Department ids from `id` up to the root. */
  private ancestry(id: number): number[] {
    const out: number[] = [];
    let cur = this.departments.get(id);
    while (cur && !out.includes(cur.id)) {
      out.push(cur.id);
      cur = this.departments.get(cur.parentid);
    }
    return out;
  }

  departmentInScope(id: number): boolean {
    return this.ancestry(id).some((d) => this.visibleScope.departments.includes(d));
  }

  /** Whether the app may see this member (its 可见范围). Disabled/left members are never visible. */
  memberInScope(userid: string): boolean {
    const m = this.member(userid);
    if (!m || m.status === 2 || m.status === 5) return false;
    if (this.visibleScope.users.some((u) => u.toLowerCase() === m.userid.toLowerCase())) return true;
    return m.department.some((d) => this.departmentInScope(d));
  }

  /** Members of a department and its sub-departments. */
  membersOfDepartment(id: number): SeedMember[] {
    return [...this.members.values()].filter((m) => m.department.some((d) => this.ancestry(d).includes(id)));
  }

  // ---------------------------------------------------------------- tokens

  /** WeCom returns the same token while it is valid and a new one after expiry (doc 91039). */
  currentOrNewToken(): IssuedToken {
    const now = this.nowMs();
    for (const t of this.tokens.values()) {
      if (!t.revoked && t.expiresAtMs > now) return t;
    }
    const token: IssuedToken = {
      // Real tokens are ~200 url-safe characters; length matters for clients that size columns.
      token: urlSafeRandom(150),
      issuedAtMs: now,
      expiresAtMs: now + this.tokenTtlSeconds * 1000,
      revoked: false,
    };
    this.tokens.set(token.token, token);
    this.stats.tokensIssued += 1;
    return token;
  }

  /** 0 when usable, otherwise the errcode WeCom would answer. */
  checkToken(token: string | undefined): 0 | 41001 | 40014 | 42001 {
    if (token === undefined || token === '') return 41001;
    const t = this.tokens.get(token);
    if (!t || t.revoked) return 40014;
    if (t.expiresAtMs <= this.nowMs()) return 42001;
    return 0;
  }

  invalidateTokens(): number {
    let n = 0;
    for (const t of this.tokens.values()) {
      if (!t.revoked) {
        t.revoked = true;
        n += 1;
      }
    }
    // Tickets are bound to the token generation in spirit; drop them so new ones are issued too.
    this.jsapiTicket = undefined;
    this.agentTicket = undefined;
    return n;
  }

  ticket(kind: 'jsapi' | 'agent'): IssuedTicket {
    const now = this.nowMs();
    const existing = kind === 'jsapi' ? this.jsapiTicket : this.agentTicket;
    if (existing && existing.expiresAtMs > now) return existing;
    const fresh: IssuedTicket = { ticket: urlSafeRandom(64), expiresAtMs: now + 7200 * 1000 };
    if (kind === 'jsapi') this.jsapiTicket = fresh;
    else this.agentTicket = fresh;
    return fresh;
  }

  // ---------------------------------------------------------------- faults

  addFault(path: string, errcode: number, count: number): FaultRule {
    const rule: FaultRule = {
      id: ++this.faultSeq,
      path: path.replace(/^\/?(cgi-bin\/)?/, ''),
      errcode,
      remaining: count,
      hits: 0,
    };
    this.faults.push(rule);
    return rule;
  }

  /** Consumes one matching fault for this API path, if any. */
  takeFault(path: string): FaultRule | undefined {
    const rule = this.faults.find((f) => f.remaining > 0 && (f.path === path || f.path === '*'));
    if (!rule) return undefined;
    rule.remaining -= 1;
    rule.hits += 1;
    this.stats.faultsInjected += 1;
    this.faults = this.faults.filter((f) => f.remaining > 0 || f === rule);
    return rule;
  }

  // ---------------------------------------------------------------- oauth

  issueOAuthCode(who: OAuthCode['who'], scope: OAuthCode['scope'] = 'snsapi_base'): OAuthCode {
    const code: OAuthCode = { code: urlSafeRandom(32), scope, createdAtMs: this.nowMs(), who };
    this.oauthCodes.set(code.code, code);
    return code;
  }

  /** Single use, 5-minute lifetime (doc 91023). Returns undefined for unknown/used/expired codes. */
  consumeOAuthCode(code: string): OAuthCode | undefined {
    const c = this.oauthCodes.get(code);
    if (!c || c.usedAtMs !== undefined) return undefined;
    if (this.nowMs() - c.createdAtMs > 5 * 60 * 1000) return undefined;
    c.usedAtMs = this.nowMs();
    return c;
  }

  // ---------------------------------------------------------------- messages

  inbox(userid: string): InboxEntry[] {
    return this.messages.get(userid.toLowerCase()) ?? [];
  }

  /**
   * Applies the per-member limits (30/min, 1000/hour, doc 90236 §频率限制) and, if allowed, appends to
   * the inbox. Returns false when WeCom would have silently dropped the copy.
   */
  deliverToInbox(userid: string, entry: InboxEntry): DroppedMessage['reason'] | undefined {
    const key = userid.toLowerCase();
    const now = this.nowMs();
    const times = (this.deliveryTimes.get(key) ?? []).filter((t) => now - t < 3600_000);
    this.deliveryTimes.set(key, times);
    if (times.filter((t) => now - t < 60_000).length >= 30) return 'per_member_minute_limit';
    if (times.length >= 1000) return 'per_member_hour_limit';
    times.push(now);
    const box = this.messages.get(key) ?? [];
    box.push(entry);
    this.messages.set(key, box);
    this.stats.messagesDelivered += 1;
    return undefined;
  }

  // ---------------------------------------------------------------- approvals

  /**
   * `YYYYMMDD` (Beijing time) + 4-digit daily sequence, e.g. "202611220001" — always a string. The
   * sequence starts at `spSeqStart(day)` (time-seeded by default, see spSeqFromTime), not at 1, so a
   * restarted sandbox does not reuse the numbers of the previous one.
   */
  nextSpNo(atSec: number = this.nowSec()): string {
    const day = spDay(atSec);
    const issued = this.spNoCounters.get(day) ?? 0;
    let spNo = '';
    // Skip a number this instance already holds (only possible after wrapping past 9999).
    for (let k = issued; k < issued + SP_SEQ_MAX; k += 1) {
      spNo = `${day}${String(spSeqAt(this.spSeqStart(day), k)).padStart(4, '0')}`;
      this.spNoCounters.set(day, k + 1);
      if (!this.approvals.has(spNo)) return spNo;
    }
    throw new Error(`no approval number left for ${day}`);
  }

  createApproval(input: CreateApprovalInput): Approval {
    const creator = this.member(input.creator_userid);
    if (!creator) throw new Error(`unknown creator ${input.creator_userid}`);
    const contents = validateApplyContents(input.template, input.contents);
    const applyTime = input.applyTimeSec ?? this.nowSec();
    const approval: Approval = {
      sp_no: this.nextSpNo(applyTime),
      sp_name: input.template.template_names[0]?.text ?? '',
      sp_status: SP_STATUS.inProgress,
      template_id: input.template.template_id,
      apply_time: applyTime,
      applyer: { userid: creator.userid, partyid: String(input.choose_department ?? creator.main_department) },
      nodes: buildNodes(input.process),
      contents,
      comments: [],
      summary_list: input.summary_list ?? [],
      last_event: CHANGE_EVENT.submitted,
    };
    this.approvals.set(approval.sp_no, approval);
    return approval;
  }

  // ---------------------------------------------------------------- KF

  kfSessionKey(open_kfid: string, external_userid: string): string {
    return `${open_kfid}\u0000${external_userid}`;
  }

  /**
   * Stores a message or event as kf/sync_msg will return it. Customer text (origin 3) opens/refreshes the
   * session: the 48-hour window and the 5-replies budget restart (doc 94677).
   */
  addKfMessage(open_kfid: string, msg: KfStoredMessage['msg']): KfStoredMessage {
    const stored: KfStoredMessage = { seq: ++this.kfSeq, open_kfid, msg };
    this.kfMessages.push(stored);
    const external = typeof msg['external_userid'] === 'string' ? msg['external_userid'] : undefined;
    if (msg.origin === 3 && external) {
      const key = this.kfSessionKey(open_kfid, external);
      const s = this.kfSessions.get(key);
      const atMs = msg.send_time * 1000;
      if (s) {
        s.lastCustomerMsgAtMs = atMs;
        s.sentSinceCustomerMsg = 0;
        if (s.service_state === 4) s.service_state = 0;
      } else {
        this.kfSessions.set(key, {
          open_kfid,
          external_userid: external,
          service_state: 0,
          lastCustomerMsgAtMs: atMs,
          sentSinceCustomerMsg: 0,
        });
      }
    }
    return stored;
  }

  issueKfToken(): string {
    const token = `ENC${urlSafeRandom(33).replace(/[-_]/g, 'x')}`;
    this.kfTokens.set(token, this.nowMs() + 10 * 60 * 1000);
    return token;
  }

  // ---------------------------------------------------------------- callbacks

  newCallbackRecord(kind: CallbackKind, plaintext: string, envelopeAgentId: string, summary: string): CallbackRecord {
    const rec: CallbackRecord = {
      id: ++this.callbackSeq,
      kind,
      plaintext,
      envelopeAgentId,
      createdAtMs: this.nowMs(),
      status: 'pending',
      attempts: [],
      summary,
    };
    this.callbacks.push(rec);
    return rec;
  }

  // ---------------------------------------------------------------- media

  addMedia(filename: string, content_type: string, bytes: Buffer): StoredMedia {
    const media: StoredMedia = { media_id: `3${urlSafeRandom(33)}`, filename, content_type, bytes };
    this.media.set(media.media_id, media);
    return media;
  }

  // ---------------------------------------------------------------- seed history

  private replaySeedHistory(seed: SandboxSeed): void {
    const nowSec = this.nowSec();
    for (const a of seed.approvals) {
      const template = this.templates.get(a.template_id);
      if (!template) throw new Error(`seed approval uses unknown template ${a.template_id}`);
      const applyTimeSec = nowSec - a.applied_ago_seconds;
      const approval = this.createApproval({
        creator_userid: a.creator_userid,
        template,
        process: template.default_process,
        contents: a.contents,
        applyTimeSec,
      });
      for (const act of a.actions) approvalAct(approval, act.userid, act.action, act.speech, applyTimeSec + act.after_seconds);
    }
    for (const k of seed.kfMessages) {
      const send_time = nowSec - k.ago_seconds;
      this.addKfMessage(
        k.open_kfid,
        k.kind === 'text'
          ? kfCustomerText(k.open_kfid, k.external_userid, k.content, send_time)
          : kfEnterSession(k.open_kfid, k.external_userid, k.scene_param, send_time),
      );
    }
  }
}
