/**
 * Callbacks from "WeCom" (the sandbox) to the app, exactly as WeCom sends them (reference §1.3–1.8, §3):
 *
 *   POST {callbackUrl}?msg_signature=..&timestamp=..&nonce=..      Content-Type: text/xml
 *   <xml><ToUserName><![CDATA[corpId]]></ToUserName><Encrypt><![CDATA[...]]></Encrypt><AgentID><![CDATA[..]]></AgentID></xml>
 *
 * `Encrypt` = @wecom/crypto encrypt(encodingAESKey, plaintextXml, corpId) and
 * `msg_signature` = getSignature(token, timestamp, nonce, Encrypt).
 *
 * Delivery: success is HTTP 200 (body ignored). No answer within `timeoutMs` (the request is aborted),
 * a non-200 status or a connection error counts as a failure and the same plaintext is re-sent with a fresh
 * timestamp/nonce/ciphertext, up to `retries` attempts in total (WeCom: 5 s, 3 attempts). A retry with new
 * query parameters is deliberate: apps must dedupe on decrypted content, not on the query string.
 *
 * The XML builders and `signAndEncrypt` / `buildCallbackRequest` are pure, so tests and benchmarks can
 * produce valid callbacks without a running sandbox.
 */
import { randomInt } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { encrypt as wecomEncrypt, getSignature } from '@wecom/crypto';
import { approverAttr, type Approval, type StatuChangeEvent } from './approvals';
import type { CallbackAttempt, CallbackKind, CallbackRecord, SandboxState } from './state';

// ------------------------------------------------------------------ XML builders

/** CDATA section; a literal "]]>" inside the text is split across two sections, as XML requires. */
export function cdata(text: string): string {
  return `<![CDATA[${text.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;
}

const el = (name: string, inner: string): string => `<${name}>${inner}</${name}>`;
const cel = (name: string, text: string): string => el(name, cdata(text));
const nel = (name: string, n: number | string): string => el(name, String(n));

/** Top-level elements are newline-separated like the official sample (vector qdg-post-xml-text). */
const doc = (parts: string[]): string => `<xml>${parts.join('\n')}\n</xml>`;

export interface TextMessageEvent {
  corpId: string;
  fromUserId: string;
  createTime: number;
  content: string;
  /** 64-bit id as a decimal string (19 digits); never a JS number. */
  msgId: string;
  agentId: number | string;
}

/** §3.1 — a member sends a text message to the app. */
export function textMessageXml(e: TextMessageEvent): string {
  return doc([
    cel('ToUserName', e.corpId),
    cel('FromUserName', e.fromUserId),
    nel('CreateTime', e.createTime),
    cel('MsgType', 'text'),
    cel('Content', e.content),
    nel('MsgId', e.msgId),
    nel('AgentID', e.agentId),
  ]);
}

export interface EnterAgentEvent {
  corpId: string;
  fromUserId: string;
  createTime: number;
  agentId: number | string;
  /** Empty for enter_agent (doc 90240). */
  eventKey?: string;
}

/** enter_agent (doc 90240 进入应用) — a member opens the app. */
export function enterAgentXml(e: EnterAgentEvent): string {
  return doc([
    cel('ToUserName', e.corpId),
    cel('FromUserName', e.fromUserId),
    nel('CreateTime', e.createTime),
    cel('MsgType', 'event'),
    cel('Event', 'enter_agent'),
    cel('EventKey', e.eventKey ?? ''),
    nel('AgentID', e.agentId),
  ]);
}

/** AgentID WeCom puts in sys_approval_change: the system 审批 app, not the receiving app (§3.2). */
export const APPROVAL_SYSTEM_AGENT_ID = 3010040;

/** §3.2 — sys_approval_change for the approval's current state and the action that just happened. */
export function approvalChangeXml(corpId: string, a: Approval, event: StatuChangeEvent, createTime: number): string {
  const records = a.nodes
    .filter((n) => n.node_type !== 2)
    .map((n) =>
      el(
        'SpRecord',
        nel('SpStatus', n.sp_status) +
          nel('ApproverAttr', approverAttr(n)) +
          n.entries
            .map((d) =>
              el(
                'Details',
                el('Approver', cel('UserId', d.userid)) +
                  cel('Speech', d.speech) +
                  nel('SpStatus', d.sp_status) +
                  nel('SpTime', d.sptime),
              ),
            )
            .join(''),
      ),
    )
    .join('');
  const notifyers = a.nodes
    .filter((n) => n.node_type === 2)
    .flatMap((n) => n.entries.map((e) => el('Notifyer', cel('UserId', e.userid))))
    .join('');
  const nodeList = a.nodes
    .map((n) =>
      n.node_type === 2
        ? el(
            'NodeList',
            nel('NodeType', 2) + n.entries.map((e) => el('SubNodeList', el('UserInfo', cel('UserId', e.userid)))).join(''),
          )
        : el(
            'NodeList',
            nel('NodeType', n.node_type) +
              nel('SpStatus', n.sp_status) +
              nel('ApvRel', n.apv_rel) +
              n.entries
                .map((e) =>
                  el(
                    'SubNodeList',
                    el('UserInfo', cel('UserId', e.userid)) +
                      cel('Speech', e.speech) +
                      nel('SpYj', e.sp_status) +
                      nel('Sptime', e.sptime),
                  ),
                )
                .join(''),
          ),
    )
    .join('');
  const comments = a.comments
    .map((c) =>
      el(
        'Comments',
        el('CommentUserInfo', cel('UserId', c.userid)) +
          nel('CommentTime', c.commenttime) +
          cel('CommentContent', c.commentcontent) +
          cel('CommentId', c.commentid),
      ),
    )
    .join('');
  const info =
    cel('SpNoStr', a.sp_no) +
    nel('SpNo', a.sp_no) +
    cel('SpName', a.sp_name) +
    nel('SpStatus', a.sp_status) +
    cel('TemplateId', a.template_id) +
    nel('ApplyTime', a.apply_time) +
    el('Applyer', cel('UserId', a.applyer.userid) + cel('Party', a.applyer.partyid)) +
    records +
    notifyers +
    el('ProcessList', nodeList) +
    comments +
    nel('StatuChangeEvent', event);
  return doc([
    cel('ToUserName', corpId),
    cel('FromUserName', 'sys'),
    nel('CreateTime', createTime),
    cel('MsgType', 'event'),
    cel('Event', 'sys_approval_change'),
    nel('AgentID', APPROVAL_SYSTEM_AGENT_ID),
    el('ApprovalInfo', info),
  ]);
}

/** §3.4 — kf_msg_or_event. No FromUserName, no content: the app must call kf/sync_msg with Token. */
export function kfMsgOrEventXml(corpId: string, token: string, openKfId: string, createTime: number): string {
  return doc([
    cel('ToUserName', corpId),
    nel('CreateTime', createTime),
    cel('MsgType', 'event'),
    cel('Event', 'kf_msg_or_event'),
    cel('Token', token),
    cel('OpenKfId', openKfId),
  ]);
}

export type ExternalContactChangeType =
  | 'add_external_contact'
  | 'edit_external_contact'
  | 'add_half_external_contact'
  | 'del_external_contact'
  | 'del_follow_user'
  | 'transfer_fail'
  | 'msg_audit_approved';

export interface ExternalContactEvent {
  corpId: string;
  changeType: ExternalContactChangeType;
  userId: string;
  externalUserId: string;
  createTime: number;
  state?: string;
  welcomeCode?: string;
  source?: string;
  failReason?: string;
}

/** §3.5 — change_external_contact. Optional fields appear only for the change types that carry them. */
export function externalContactXml(e: ExternalContactEvent): string {
  const parts = [
    cel('ToUserName', e.corpId),
    cel('FromUserName', 'sys'),
    nel('CreateTime', e.createTime),
    cel('MsgType', 'event'),
    cel('Event', 'change_external_contact'),
    cel('ChangeType', e.changeType),
    cel('UserID', e.userId),
    cel('ExternalUserID', e.externalUserId),
  ];
  if (e.state !== undefined) parts.push(cel('State', e.state));
  if (e.welcomeCode !== undefined) parts.push(cel('WelcomeCode', e.welcomeCode));
  if (e.source !== undefined) parts.push(cel('Source', e.source));
  if (e.failReason !== undefined) parts.push(cel('FailReason', e.failReason));
  return doc(parts);
}

// ------------------------------------------------------------------ crypto helpers

export interface CallbackKeys {
  token: string;
  encodingAESKey: string;
  /** receiveid appended inside the ciphertext: the CorpID for a self-built app (§1.6). */
  corpId: string;
}

export interface SignedPayload {
  encrypt: string;
  msgSignature: string;
  timestamp: string;
  nonce: string;
}

/** WeCom nonces are random digit strings (e.g. "1372623149"). */
export function randomNonce(): string {
  return String(randomInt(1_000_000_000, 9_999_999_999));
}

export function signAndEncrypt(
  keys: CallbackKeys,
  plaintext: string,
  opts: { timestamp?: string | number; nonce?: string; random?: Buffer } = {},
): SignedPayload {
  const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = opts.nonce ?? randomNonce();
  const encrypt = opts.random
    ? wecomEncrypt(keys.encodingAESKey, plaintext, keys.corpId, opts.random)
    : wecomEncrypt(keys.encodingAESKey, plaintext, keys.corpId);
  return { encrypt, msgSignature: getSignature(keys.token, timestamp, nonce, encrypt), timestamp, nonce };
}

export function envelopeXml(corpId: string, encrypt: string, agentId: string): string {
  return `<xml><ToUserName>${cdata(corpId)}</ToUserName><Encrypt>${cdata(encrypt)}</Encrypt><AgentID>${cdata(agentId)}</AgentID></xml>`;
}

export interface CallbackRequest {
  method: 'POST';
  /** callbackUrl with msg_signature, timestamp and nonce appended. */
  url: string;
  query: { msg_signature: string; timestamp: string; nonce: string };
  headers: { 'Content-Type': 'text/xml' };
  body: string;
  encrypt: string;
}

export function buildCallbackRequest(
  input: CallbackKeys & {
    callbackUrl: string;
    plaintext: string;
    /** Envelope AgentID; WeCom may send it empty. */
    agentId: string | number;
    timestamp?: string | number;
    nonce?: string;
    random?: Buffer;
  },
): CallbackRequest {
  const signed = signAndEncrypt(input, input.plaintext, input);
  const url = new URL(input.callbackUrl);
  url.searchParams.set('msg_signature', signed.msgSignature);
  url.searchParams.set('timestamp', signed.timestamp);
  url.searchParams.set('nonce', signed.nonce);
  return {
    method: 'POST',
    url: url.toString(),
    query: { msg_signature: signed.msgSignature, timestamp: signed.timestamp, nonce: signed.nonce },
    headers: { 'Content-Type': 'text/xml' },
    body: envelopeXml(input.corpId, signed.encrypt, String(input.agentId)),
    encrypt: signed.encrypt,
  };
}

// ------------------------------------------------------------------ delivery

export interface DispatcherOptions extends CallbackKeys {
  state: SandboxState;
  timeoutMs: number;
  /** Attempts in total, including the first. */
  retries: number;
  retryDelayMs: number;
}

interface AttemptOutcome {
  status?: number;
  error?: string;
}

export class CallbackDispatcher {
  private readonly inflight = new Set<Promise<CallbackRecord>>();
  private readonly requests = new Set<http.ClientRequest>();
  /** Pending retry delays; shutdown() wakes them so run() can finish promptly. */
  private readonly sleepers = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  private closed = false;

  constructor(private readonly opts: DispatcherOptions) {}

  /** Records the callback and starts delivering it in the background. */
  dispatch(
    kind: CallbackKind,
    plaintext: string,
    envelopeAgentId: string,
    summary: string,
  ): { record: CallbackRecord; done: Promise<CallbackRecord> } {
    const record = this.opts.state.newCallbackRecord(kind, plaintext, envelopeAgentId, summary);
    const done = this.run(record);
    this.inflight.add(done);
    void done.finally(() => this.inflight.delete(done));
    return { record, done };
  }

  /** Resolves once every callback started so far (and any they trigger) has finished all attempts. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Aborts in-flight requests and pending retries (used by sandbox.close()). */
  shutdown(): void {
    this.closed = true;
    for (const s of this.sleepers) {
      clearTimeout(s.timer);
      s.resolve();
    }
    this.sleepers.clear();
    for (const r of this.requests) r.destroy(new Error('sandbox closed'));
  }

  private async run(record: CallbackRecord): Promise<CallbackRecord> {
    const { state } = this.opts;
    const url = state.callbackUrl;
    if (!url) {
      record.status = 'skipped';
      return record;
    }
    record.url = url;
    for (let attempt = 1; attempt <= this.opts.retries && !this.closed; attempt += 1) {
      if (attempt > 1) await this.sleep(this.opts.retryDelayMs);
      if (this.closed) break;
      // Fresh timestamp, nonce and random prefix on every attempt, as a real redelivery may have.
      const req = buildCallbackRequest({
        ...this.opts,
        callbackUrl: url,
        plaintext: record.plaintext,
        agentId: record.envelopeAgentId,
        timestamp: state.nowSec(),
      });
      const startedAtMs = Date.now();
      const outcome = await this.post(req);
      const a: CallbackAttempt = {
        attempt,
        startedAtMs,
        durationMs: Date.now() - startedAtMs,
        timestamp: req.query.timestamp,
        nonce: req.query.nonce,
        msgSignature: req.query.msg_signature,
        ...(outcome.status !== undefined ? { status: outcome.status } : {}),
        ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      };
      record.attempts.push(a);
      state.stats.callbackAttempts += 1;
      if (outcome.status === 200) {
        record.status = 'delivered';
        state.stats.callbacksDelivered += 1;
        return record;
      }
    }
    record.status = 'failed';
    state.stats.callbacksFailed += 1;
    return record;
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const sleeper = {
        timer: setTimeout(() => {
          this.sleepers.delete(sleeper);
          resolve();
        }, ms),
        resolve,
      };
      this.sleepers.add(sleeper);
    });
  }

  private post(req: CallbackRequest): Promise<AttemptOutcome> {
    return new Promise((resolve) => {
      const target = new URL(req.url);
      const lib = target.protocol === 'https:' ? https : http;
      let settled = false;
      const finish = (o: AttemptOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.requests.delete(r);
        resolve(o);
      };
      const body = Buffer.from(req.body, 'utf8');
      // agent:false → one connection per attempt, nothing pooled that could keep a test process alive.
      const r = lib.request(
        target,
        {
          method: 'POST',
          agent: false,
          headers: { 'Content-Type': 'text/xml', 'Content-Length': body.length, 'User-Agent': 'Mozilla/4.0 (WeCom sandbox)' },
        },
        (res) => {
          res.resume();
          finish(
            res.statusCode === 200 ? { status: 200 } : { status: res.statusCode ?? 0, error: `HTTP ${res.statusCode ?? '?'}` },
          );
        },
      );
      const timer = setTimeout(() => {
        finish({ error: `timeout after ${this.opts.timeoutMs}ms` });
        r.destroy(new Error('timeout'));
      }, this.opts.timeoutMs);
      this.requests.add(r);
      r.on('error', (err: NodeJS.ErrnoException) => finish({ error: err.code ?? err.message }));
      r.end(body);
    });
  }
}
