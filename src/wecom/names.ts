/**
 * Every name src/wecom writes into the evidence ledger: streams (`wecom:*`), the callback source and
 * kinds (`wecom.callback.*`), and the dedupe keys of callbacks. Code outside this file never builds
 * one of these strings itself (ARCHITECTURE.md, "Names").
 *
 * The rules (../shared DECISIONS 4, 8, 9):
 * - Member userids are lower-cased wherever they are stored or looked up (WeCom compares them
 *   case-insensitively and sometimes answers in lower case); every other WeCom id is kept exactly.
 * - A stream, actor or source_ref stays in every proof forever, even after a person's content is
 *   erased, so new records name an external contact (a candidate, a customer) by the opaque id of
 *   `external-contacts.ts`, never by `external_userid`. The corp's own members are named by their
 *   userid: that is how approvals and messages must be attributed, and it is the corp's identifier,
 *   not one a candidate gave us.
 * - Callback records stay in these channel streams; a candidate's own records go to the
 *   candidate's stream and link back to them.
 * Records written under an earlier name are never rewritten: the old names are listed in
 * ARCHITECTURE.md ("Names") and the old key formats stay matchable through `aliases`.
 */

/** `source` of every stored WeCom callback. */
export const CALLBACK_SOURCE = 'wecom.callback';

/** A member userid as HireLedger stores and compares it (DECISIONS 8). */
export function memberUserId(userid: string): string {
  return userid.toLowerCase();
}

/** Opaque id of an external contact: `xc_` and 32 hex digits (see external-contacts.ts). */
export const EXTERNAL_CONTACT_ID = /^xc_[0-9a-f]{32}$/;

export const WECOM_STREAMS = {
  /** Messages and app events from one member. */
  member: (userid: string) => `wecom:member:${memberUserId(userid)}`,
  /** Every event of one approval (sys_approval_change), by SpNo. */
  approval: (spNo: string) => `wecom:approval:${spNo}`,
  /** 微信客服 events of one customer-service account, by open_kfid (the corp's account, not a person). */
  kf: (openKfId: string) => `wecom:kf:${openKfId}`,
  /** Customer-contact events about one external contact, by its opaque id (since migration 1764374400001; before: `wecom:external:<ExternalUserID>`). */
  externalContact: (contactId: string) => {
    if (!EXTERNAL_CONTACT_ID.test(contactId)) throw new Error('an external contact stream takes the opaque contact id');
    return `wecom:contact:${contactId}`;
  },
  /** What the app itself sent to no one person (a message to a whole department or tag), by AgentID. */
  agent: (agentId: string) => `wecom:agent:${agentId}`,
  /** Callbacks with no better subject: system events, unreadable messages. */
  events: 'wecom:events',
  /** Callbacks stored flagged as for another agent (DECISIONS 3); `none` when the AgentID is missing or not a number. */
  otherAgent: (agentId: string | null) =>
    `wecom:other_agent:${agentId !== null && /^\d{1,12}$/.test(agentId) ? agentId : 'none'}`,
} as const;

/** How a stored callback was read: ours and of a known type, ours but unknown, unparsed, or for another agent. */
export type CallbackKindOf = { ours: boolean; type: string; known: boolean };

/**
 * `kind` of a stored callback: `wecom.callback.<type>` for a known type of ours,
 * `wecom.callback.unknown` / `.unparsed`, and `wecom.callback.other_agent.<…>` for another agent's.
 */
export function callbackKind({ ours, type, known }: CallbackKindOf): string {
  const what = known ? type : type === 'unparsed' ? 'unparsed' : 'unknown';
  return `${CALLBACK_SOURCE}.${ours ? '' : 'other_agent.'}${what}`;
}

/** The kind under which records of a known type of ours are stored: what a typed handler follows. */
export function handledCallbackKind(type: string): string {
  return callbackKind({ ours: true, type, known: true });
}

/** `payload.type` of a stored callback: the type, prefixed `other_agent.` when flagged. */
export function callbackPayloadType(type: string, ours: boolean): string {
  return ours ? type : `other_agent.${type}`;
}

/** Escapes the separators of a key part, so two different events can never write the same key. */
function esc(part: string): string {
  return part.replace(/[%:#]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * The dedupe keys of callbacks (docs/evidence-format.md, "Callback records"), without the
 * `<CorpID>:` prefix the route adds. `…Legacy` are earlier formats, kept only to be probed as aliases.
 */
export const CALLBACK_KEYS = {
  message: (msgId: string) => `msg:${msgId}`,
  approval: (spNo: string, statuChangeEvent: string, spStatus: string, createTime: string, act: string) =>
    `approval:${[spNo, statuChangeEvent, spStatus, createTime].map(esc).join(':')}:${act}`,
  approvalLegacy: (spNo: string, statuChangeEvent: string, spStatus: string, createTime: string) =>
    `approval:${spNo}:${statuChangeEvent}:${spStatus}:${createTime}`,
  /** Comment `c:<CommentId>`, or approver `n<i>:<userid>` / `p<i>:<userid>`, or `-` (nobody has acted). */
  approvalAct: {
    comment: (commentId: string) => `c:${esc(commentId)}`,
    approver: (from: 'n' | 'p', node: number, userid: string) => `${from}${node}:${esc(memberUserId(userid))}`,
    none: '-',
  },
  /** Since migration 1764374400001: the external contact by its opaque id (DECISIONS 4). */
  contact: (changeType: string, userid: string, contactId: string, createTime: string) =>
    `contact-v2:${[changeType, memberUserId(userid), contactId, createTime].map(esc).join(':')}`,
  /** Before it, with the member userid lower-cased, then as sent: aliases only, never written again. */
  contactLegacy: (changeType: string, userid: string, externalUserId: string, createTime: string, lowerCase: boolean) =>
    lowerCase
      ? `contact:${[changeType, memberUserId(userid), externalUserId, createTime].map(esc).join(':')}`
      : `contact:${changeType}:${userid}:${externalUserId}:${createTime}`,
  kf: (openKfId: string, token: string) => `kf:${openKfId}:${token}`,
  fields: (digest: string) => `fields:${digest}`,
  bytes: (sha256Hex: string) => `sha256:${sha256Hex}`,
} as const;

/** `source_ref` of a callback: the key, prefixed with the corp (one ledger per corp, DECISIONS 5). */
export function callbackSourceRef(corpId: string, key: string): string {
  return `${corpId}:${key}`;
}
