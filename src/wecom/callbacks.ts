import { memberUserId } from './names';
import { childOf, isNode, textOf, type XmlNode, type XmlValue } from './xml';

/**
 * The WeCom callbacks HireLedger knows, as one closed union of typed events, and the parser of each:
 * the only code that reads a callback's `fields` tree (the decrypted XML or JSON, stored in the
 * record's payload). Domain handlers receive these events and never re-parse XML.
 *
 * Ids follow DECISIONS 8: member userids (FromUserName, UserID, approvers, commenters) are
 * lower-cased; ExternalUserID, OpenKfId, SpNo, MsgId, media ids and the rest are kept exactly.
 * Numbers WeCom sends as small status codes are numbers; 64-bit ids stay strings. A field a type
 * always carries is required, and its absence is a `CallbackParseError` (handled as a permanent
 * failure of that record: retrying cannot add the field).
 *
 * Adding a type: its interface, a member of `CallbackEvent`, an entry in `CALLBACK_PARSERS`. The
 * compiler refuses a parser table that misses a type, and `CALLBACK_TYPES` follows from it.
 */

export class CallbackParseError extends Error {
  constructor(
    readonly type: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${type}: ${field} ${detail}`);
    this.name = 'CallbackParseError';
  }
}

interface MessageBase {
  msgId: string;
  /** The member who sent it, lower-cased. */
  fromUserId: string;
  agentId: string;
}

export interface TextMessage extends MessageBase {
  type: 'message.text';
  content: string;
}
export interface ImageMessage extends MessageBase {
  type: 'message.image';
  picUrl: string;
  /** Valid for 3 days (media/get). */
  mediaId: string;
}
export interface VoiceMessage extends MessageBase {
  type: 'message.voice';
  mediaId: string;
  format: string;
}
export interface VideoMessage extends MessageBase {
  type: 'message.video';
  mediaId: string;
  thumbMediaId: string;
}
export interface LocationMessage extends MessageBase {
  type: 'message.location';
  /** Decimal degrees as WeCom wrote them (Location_X, Location_Y): kept as text, never rounded. */
  latitude: string;
  longitude: string;
  scale: string;
  label: string;
}
export interface LinkMessage extends MessageBase {
  type: 'message.link';
  title: string;
  description: string;
  url: string;
  picUrl: string;
}

/** One approver's step on an approval node. */
export interface ApprovalStep {
  userId: string;
  /** 1 审批中, 2 同意, 3 驳回, 4 转审 (and the newer flow's 11–15); null when not given. */
  status: number | null;
  speech: string;
  /** Unix seconds; null while the approver has not acted (WeCom writes 0). */
  actedAt: number | null;
}

export interface ApprovalNode {
  /** NodeType 1 approver, 2 CC (抄送), 3 handler (办理人); the older SpRecord form has approver nodes only. */
  kind: 'approver' | 'cc' | 'handler';
  status: number | null;
  /** 会签 all must approve, 或签 any one, 依次 one after another; null when not given (CC nodes). */
  relation: 'all' | 'any' | 'sequential' | null;
  steps: ApprovalStep[];
}

export interface ApprovalComment {
  commentId: string;
  userId: string;
  /** Unix seconds. */
  time: number | null;
  content: string;
}

export interface ApprovalChange {
  type: 'event.sys_approval_change';
  /** SpNoStr, else SpNo (doc 91815 prefers SpNoStr). */
  spNo: string;
  spName: string;
  /** The form's status after the change: 1 审批中, 2 已通过, 3 已驳回, 4 已撤销, 6 通过后撤销, 7 已删除, 10 已支付. */
  spStatus: number;
  /** What just happened: 1 提单, 2 同意, 3 驳回, 4 转审, 5 催办, 6 撤销, 8 通过后撤销, 10 添加备注, 11–15 (§3.2). */
  statuChangeEvent: number;
  templateId: string;
  applyTime: number | null;
  applicant: { userId: string; party: string };
  /** From ProcessList/NodeList when the event has it (newer flow model, CC and handler nodes included), else from SpRecord. */
  nodes: ApprovalNode[];
  nodesFrom: 'process_list' | 'sp_record';
  /** CC'd members (Notifyer). */
  notified: string[];
  comments: ApprovalComment[];
}

export interface KfMsgOrEvent {
  type: 'event.kf_msg_or_event';
  /** For kf/sync_msg; valid for 10 minutes. */
  token: string;
  openKfId: string;
}

export interface KfAccountAuthChange {
  type: 'event.kf_account_auth_change';
  added: string[];
  removed: string[];
}

export type ExternalContactChangeType =
  | 'add_external_contact'
  | 'edit_external_contact'
  | 'add_half_external_contact'
  | 'del_external_contact'
  | 'del_follow_user'
  | 'transfer_fail'
  | 'msg_audit_approved';

const CHANGE_TYPES: ReadonlySet<string> = new Set<ExternalContactChangeType>([
  'add_external_contact',
  'edit_external_contact',
  'add_half_external_contact',
  'del_external_contact',
  'del_follow_user',
  'transfer_fail',
  'msg_audit_approved',
]);

export interface ExternalContactChange {
  type: 'event.change_external_contact';
  changeType: ExternalContactChangeType;
  /** The member (recruiter), lower-cased. */
  userId: string;
  /** The external contact (candidate) exactly as WeCom sent it. Personal: keep it out of stream, actor and source_ref. */
  externalUserId: string;
  state?: string;
  welcomeCode?: string;
  source?: string;
  failReason?: string;
}

export interface TemplateCardEvent {
  type: 'event.template_card_event';
  userId: string;
  agentId: string;
  eventKey: string;
  taskId: string;
  cardType: string;
  /** Updates the card once, within 72 h. */
  responseCode: string;
  selected: { questionKey: string; optionIds: string[] }[];
}

export interface MsgauditNotify {
  type: 'event.msgaudit_notify';
  agentId: string;
}

export interface Subscribe {
  type: 'event.subscribe';
  userId: string;
  agentId: string;
}
export interface Unsubscribe {
  type: 'event.unsubscribe';
  userId: string;
  agentId: string;
}

/** A member opened the app (进入应用). */
export interface EnterAgent {
  type: 'event.enter_agent';
  userId: string;
  agentId: string;
  eventKey: string;
}

/** Every callback type HireLedger knows. Anything else is still stored (as `unknown`), never handled. */
export type CallbackEvent =
  | TextMessage
  | ImageMessage
  | VoiceMessage
  | VideoMessage
  | LocationMessage
  | LinkMessage
  | ApprovalChange
  | KfMsgOrEvent
  | KfAccountAuthChange
  | ExternalContactChange
  | TemplateCardEvent
  | MsgauditNotify
  | Subscribe
  | Unsubscribe
  | EnterAgent;

export type CallbackType = CallbackEvent['type'];
export type CallbackEventOf<T extends CallbackType> = Extract<CallbackEvent, { type: T }>;

type Parser<T extends CallbackType> = (f: XmlNode) => CallbackEventOf<T>;

// ------------------------------------------------------------------ field readers

function reader(type: string, f: XmlNode) {
  const required = (name: string, node: XmlNode | undefined = f): string => {
    const v = textOf(node, name);
    if (v === undefined || v === '') throw new CallbackParseError(type, name, 'is missing');
    return v;
  };
  const optional = (name: string, node: XmlNode | undefined = f): string | undefined => textOf(node, name);
  const text = (name: string, node: XmlNode | undefined = f): string => textOf(node, name) ?? '';
  const int = (name: string, node: XmlNode | undefined = f): number | null => {
    const v = textOf(node, name);
    if (v === undefined || v === '') return null;
    if (!/^-?\d{1,15}$/.test(v)) throw new CallbackParseError(type, name, `is not a whole number: ${v.slice(0, 32)}`);
    return Number(v);
  };
  const requiredInt = (name: string, node: XmlNode | undefined = f): number => {
    const n = int(name, node);
    if (n === null) throw new CallbackParseError(type, name, 'is missing');
    return n;
  };
  return { required, optional, text, int, requiredInt };
}

/** The elements of a repeating field: an array in XML, possibly a single object in JSON. */
function listOf(node: XmlNode | undefined, name: string): XmlNode[] {
  const value: XmlValue | undefined = node?.[name];
  if (Array.isArray(value)) return value.filter(isNode);
  return isNode(value) ? [value] : [];
}

/** Repeating text values: `<OptionId>a</OptionId><OptionId>b</OptionId>` or a JSON array of strings. */
function textsOf(node: XmlNode | undefined, name: string): string[] {
  const value: XmlValue | undefined = node?.[name];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

function message<T extends MessageBase>(
  type: string,
  f: XmlNode,
  rest: (r: ReturnType<typeof reader>) => Omit<T, keyof MessageBase>,
): T {
  const r = reader(type, f);
  return {
    msgId: r.required('MsgId'),
    fromUserId: memberUserId(r.required('FromUserName')),
    agentId: r.text('AgentID'),
    ...rest(r),
  } as T;
}

const RELATION: Readonly<Record<string, ApprovalNode['relation']>> = { '1': 'all', '2': 'any', '3': 'sequential' };
const SP_RECORD_RELATION: Readonly<Record<string, ApprovalNode['relation']>> = { '1': 'any', '2': 'all' };
const NODE_KIND: Readonly<Record<string, ApprovalNode['kind']>> = { '1': 'approver', '2': 'cc', '3': 'handler' };

function approvalChange(f: XmlNode): ApprovalChange {
  const type = 'event.sys_approval_change';
  const info = childOf(f, 'ApprovalInfo');
  if (!info) throw new CallbackParseError(type, 'ApprovalInfo', 'is missing');
  const r = reader(type, f);
  const spNo = r.optional('SpNoStr', info) || r.optional('SpNo', info);
  if (!spNo) throw new CallbackParseError(type, 'SpNo', 'is missing (neither SpNoStr nor SpNo)');
  const acted = (v: number | null) => (v === null || v === 0 ? null : v);
  const processNodes = listOf(childOf(info, 'ProcessList'), 'NodeList');
  const nodes: ApprovalNode[] =
    processNodes.length > 0
      ? processNodes.map((n) => ({
          kind: NODE_KIND[r.text('NodeType', n)] ?? 'approver',
          status: r.int('SpStatus', n),
          relation: RELATION[r.text('ApvRel', n)] ?? null,
          steps: listOf(n, 'SubNodeList').map((s) => ({
            userId: memberUserId(r.text('UserId', childOf(s, 'UserInfo'))),
            status: r.int('SpYj', s),
            speech: r.text('Speech', s),
            actedAt: acted(r.int('Sptime', s)),
          })),
        }))
      : listOf(info, 'SpRecord').map((n) => ({
          kind: 'approver' as const,
          status: r.int('SpStatus', n),
          relation: SP_RECORD_RELATION[r.text('ApproverAttr', n)] ?? null,
          steps: listOf(n, 'Details').map((d) => ({
            userId: memberUserId(r.text('UserId', childOf(d, 'Approver'))),
            status: r.int('SpStatus', d),
            speech: r.text('Speech', d),
            actedAt: acted(r.int('SpTime', d)),
          })),
        }));
  const applyer = childOf(info, 'Applyer');
  return {
    type,
    spNo,
    spName: r.text('SpName', info),
    spStatus: r.requiredInt('SpStatus', info),
    statuChangeEvent: r.requiredInt('StatuChangeEvent', info),
    templateId: r.text('TemplateId', info),
    applyTime: r.int('ApplyTime', info),
    applicant: { userId: memberUserId(r.text('UserId', applyer)), party: r.text('Party', applyer) },
    nodes,
    nodesFrom: processNodes.length > 0 ? 'process_list' : 'sp_record',
    notified: listOf(info, 'Notifyer')
      .map((n) => memberUserId(r.text('UserId', n)))
      .filter((u) => u !== ''),
    comments: listOf(info, 'Comments').map((c) => ({
      commentId: r.text('CommentId', c),
      userId: memberUserId(r.text('UserId', childOf(c, 'CommentUserInfo'))),
      time: r.int('CommentTime', c),
      content: r.text('CommentContent', c),
    })),
  };
}

function externalContactChange(f: XmlNode): ExternalContactChange {
  const type = 'event.change_external_contact';
  const r = reader(type, f);
  const changeType = r.required('ChangeType');
  if (!CHANGE_TYPES.has(changeType))
    throw new CallbackParseError(type, 'ChangeType', `is not one HireLedger knows: ${changeType.slice(0, 64)}`);
  const optional = (name: string, key: 'state' | 'welcomeCode' | 'source' | 'failReason') => {
    const v = r.optional(name);
    return v === undefined ? {} : { [key]: v };
  };
  return {
    type,
    changeType: changeType as ExternalContactChangeType,
    userId: memberUserId(r.required('UserID')),
    externalUserId: r.required('ExternalUserID'),
    ...optional('State', 'state'),
    ...optional('WelcomeCode', 'welcomeCode'),
    ...optional('Source', 'source'),
    ...optional('FailReason', 'failReason'),
  };
}

function memberEvent<T extends 'event.subscribe' | 'event.unsubscribe'>(type: T) {
  return (f: XmlNode) => {
    const r = reader(type, f);
    return { type, userId: memberUserId(r.required('FromUserName')), agentId: r.text('AgentID') } as CallbackEventOf<T>;
  };
}

/** One parser per type; a missing type is a compile error. */
export const CALLBACK_PARSERS: { readonly [T in CallbackType]: Parser<T> } = {
  'message.text': (f) => message<TextMessage>('message.text', f, (r) => ({ type: 'message.text', content: r.text('Content') })),
  'message.image': (f) =>
    message<ImageMessage>('message.image', f, (r) => ({
      type: 'message.image',
      picUrl: r.text('PicUrl'),
      mediaId: r.text('MediaId'),
    })),
  'message.voice': (f) =>
    message<VoiceMessage>('message.voice', f, (r) => ({
      type: 'message.voice',
      mediaId: r.text('MediaId'),
      format: r.text('Format'),
    })),
  'message.video': (f) =>
    message<VideoMessage>('message.video', f, (r) => ({
      type: 'message.video',
      mediaId: r.text('MediaId'),
      thumbMediaId: r.text('ThumbMediaId'),
    })),
  'message.location': (f) =>
    message<LocationMessage>('message.location', f, (r) => ({
      type: 'message.location',
      latitude: r.text('Location_X'),
      longitude: r.text('Location_Y'),
      scale: r.text('Scale'),
      label: r.text('Label'),
    })),
  'message.link': (f) =>
    message<LinkMessage>('message.link', f, (r) => ({
      type: 'message.link',
      title: r.text('Title'),
      description: r.text('Description'),
      url: r.text('Url'),
      picUrl: r.text('PicUrl'),
    })),
  'event.sys_approval_change': approvalChange,
  'event.kf_msg_or_event': (f) => {
    const r = reader('event.kf_msg_or_event', f);
    return { type: 'event.kf_msg_or_event', token: r.required('Token'), openKfId: r.required('OpenKfId') };
  },
  'event.kf_account_auth_change': (f) => ({
    type: 'event.kf_account_auth_change',
    added: textsOf(f, 'AuthAddOpenKfId'),
    removed: textsOf(f, 'AuthDelOpenKfId'),
  }),
  'event.change_external_contact': externalContactChange,
  'event.template_card_event': (f) => {
    const r = reader('event.template_card_event', f);
    return {
      type: 'event.template_card_event',
      userId: memberUserId(r.required('FromUserName')),
      agentId: r.text('AgentID'),
      eventKey: r.text('EventKey'),
      taskId: r.text('TaskId'),
      cardType: r.text('CardType'),
      responseCode: r.text('ResponseCode'),
      selected: listOf(childOf(f, 'SelectedItems'), 'SelectedItem').map((s) => ({
        questionKey: r.text('QuestionKey', s),
        optionIds: textsOf(childOf(s, 'OptionIds'), 'OptionId'),
      })),
    };
  },
  'event.msgaudit_notify': (f) => ({
    type: 'event.msgaudit_notify',
    agentId: reader('event.msgaudit_notify', f).text('AgentID'),
  }),
  'event.subscribe': memberEvent('event.subscribe'),
  'event.unsubscribe': memberEvent('event.unsubscribe'),
  'event.enter_agent': (f) => {
    const r = reader('event.enter_agent', f);
    return {
      type: 'event.enter_agent',
      userId: memberUserId(r.required('FromUserName')),
      agentId: r.text('AgentID'),
      eventKey: r.text('EventKey'),
    };
  },
};

/** Every known type, from the parser table (so the two can never disagree). */
export const CALLBACK_TYPES: readonly CallbackType[] = Object.keys(CALLBACK_PARSERS) as CallbackType[];

const KNOWN: ReadonlySet<string> = new Set(CALLBACK_TYPES);

export function isCallbackType(type: string): type is CallbackType {
  return KNOWN.has(type);
}

/**
 * The typed event of a stored callback's fields. Throws CallbackParseError when the fields are not
 * an object or lack what the type always carries.
 */
export function parseCallback<T extends CallbackType>(type: T, fields: unknown): CallbackEventOf<T> {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) {
    throw new CallbackParseError(type, 'fields', 'are not an object');
  }
  const parse = CALLBACK_PARSERS[type] as Parser<T>;
  return parse(fields as XmlNode);
}
