import { CANDIDATE_KINDS } from '../candidates';
import { CONVERSATION_KINDS, CONVERSATION_SOURCES, type ConversationChannel } from '../conversations';
import type { JsonValue, CheckedRecord } from '../evidence';
import { SIGNAL_KINDS } from '../signals';
import { OFFER_PATH_RENDERERS } from './render-offers';
import type { EntryRenderer, EntryRenderers, RenderedEntry, TimelineRole } from './render-types';
import { shanghaiTime } from './time';

/**
 * How a record reads in a timeline: who (role) and a short summary in Chinese, by kind. The
 * renderers are a map from kind to function, so offers, approvals and reminders add theirs
 * (`renderers` option of the timeline) without touching this file. A key ending in `.` matches
 * every kind it prefixes (`wecom.callback.`); the longest matching key wins, and a kind nobody
 * renders still shows, as itself.
 *
 * Payload fields are read defensively: a record is evidence as it was written, whatever version of
 * the code wrote it, and the timeline must show it rather than fail on it.
 */

export type { EntryRenderer, EntryRenderers, RenderedEntry, TimelineRole } from './render-types';

const SUMMARY_MAX = 120;

export const ROLE_LABEL: Readonly<Record<TimelineRole, string>> = {
  candidate: '候选人',
  recruiter: '招聘人员',
  system: '系统',
  app: 'HireLedger',
};

export const CHANNEL_LABEL: Readonly<Record<ConversationChannel, string>> = { kf: '微信客服', archive: '会话存档' };

const MSGTYPE_LABEL: Readonly<Record<string, string>> = {
  text: '文字',
  image: '图片',
  voice: '语音',
  video: '视频',
  file: '文件',
  link: '链接',
  location: '位置',
  miniprogram: '小程序',
  event: '事件',
  emotion: '表情',
  business_card: '名片',
  msgmenu: '菜单消息',
  channels: '视频号',
  revoke: '撤回',
  mixed: '图文混排',
  chatrecord: '聊天记录',
  meeting: '会议',
  voip: '音视频通话',
  calendar: '日程',
  todo: '待办',
  redpacket: '红包',
};

const CHANGE_TYPE_LABEL: Readonly<Record<string, string>> = {
  add_external_contact: '添加了联系人',
  add_half_external_contact: '免验证添加了联系人（对方尚未通过）',
  edit_external_contact: '编辑了联系人',
  del_external_contact: '删除了联系人',
  del_follow_user: '被联系人删除',
  transfer_fail: '联系人转接失败',
  msg_audit_approved: '联系人同意了会话存档',
};

const SIGNAL_LABEL: Readonly<Record<string, string>> = {
  hesitation: '犹豫',
  resigned_before_offer: '未获正式 offer 即已离职',
  over_promise: '超出审批的承诺',
};

const VIA_LABEL: Readonly<Record<string, string>> = {
  contact: '添加联系人',
  kf: '微信客服',
  archive: '会话存档',
  recruiter: '招聘人员创建',
};

type Obj = { [key: string]: JsonValue };

export function obj(v: JsonValue | undefined): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
}

export function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: JsonValue | undefined): number | undefined {
  return typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,15}$/.test(v) ? Number(v) : undefined;
}

/** One line, at most SUMMARY_MAX characters (code points, so no emoji is cut in half). */
export function clip(text: string, max = SUMMARY_MAX): string {
  const line = text.replace(/\s+/g, ' ').trim();
  const chars = Array.from(line);
  return chars.length <= max ? line : `${chars.slice(0, max - 1).join('')}…`;
}

/** The channel of a conversation record: from its payload, else from its source. */
export function channelOf(record: CheckedRecord): ConversationChannel | undefined {
  const c = str(obj(record.payload)?.['channel']);
  if (c === 'kf' || c === 'archive') return c;
  if (record.source === CONVERSATION_SOURCES.kf) return 'kf';
  if (record.source === CONVERSATION_SOURCES.archive) return 'archive';
  return undefined;
}

function roleOf(v: JsonValue | undefined, fallback: TimelineRole): TimelineRole {
  return v === 'candidate' || v === 'recruiter' || v === 'system' || v === 'app' ? v : fallback;
}

function channelPrefix(channel: ConversationChannel | undefined): string {
  return channel ? `（${CHANNEL_LABEL[channel]}）` : '';
}

function message(record: CheckedRecord): RenderedEntry {
  const p = obj(record.payload) ?? {};
  const channel = channelOf(record);
  const role = roleOf(p['role'], 'system');
  const msgtype = str(p['msgtype']) ?? 'unknown';
  const text = str(p['text']);
  const who = `${ROLE_LABEL[role]}${channelPrefix(channel)}`;
  const summary =
    text !== undefined && text.trim() !== ''
      ? `${who}：${text}`
      : `${who}发送了${MSGTYPE_LABEL[msgtype] ?? `消息（类型 ${msgtype}）`}`;
  return { role, summary: clip(summary), ...(channel ? { channel } : {}) };
}

/** Why something failed, from the fields the channels write (reason, error, errmsg, errcode). */
export function reasonOf(p: Obj): string | undefined {
  const direct = str(p['reason']) ?? str(p['error']);
  if (direct !== undefined) return direct;
  const e = obj(p['error']);
  if (!e) return undefined;
  const parts = [
    str(e['message']) ?? str(e['errmsg']),
    num(e['errcode']) !== undefined ? `errcode ${num(e['errcode'])}` : undefined,
  ];
  const joined = parts.filter((x) => x !== undefined).join('，');
  return joined === '' ? undefined : joined;
}

function placeholder(record: CheckedRecord): RenderedEntry {
  const p = obj(record.payload) ?? {};
  const channel = channelOf(record);
  const at = str(p['archive_seq']) ?? str(p['seq']) ?? (num(p['archive_seq']) ?? num(p['seq']))?.toString();
  const reason = reasonOf(p);
  return {
    role: 'system',
    summary: clip(
      `${channel ? CHANNEL_LABEL[channel] : '会话'}${at !== undefined ? `第 ${at} 条` : '一条'}消息无法读取，已留占位记录${reason ? `：${reason}` : ''}`,
    ),
    ...(channel ? { channel } : {}),
  };
}

/** A media record failed unless it says it was stored (status, else a sha256 in its source_ref). */
export function mediaFailed(record: CheckedRecord): boolean {
  const p = obj(record.payload) ?? {};
  const status = str(p['status']);
  if (status !== undefined) return status !== 'stored';
  return !/:[0-9a-f]{64}$/.test(record.sourceRef);
}

function media(record: CheckedRecord): RenderedEntry {
  const p = obj(record.payload) ?? {};
  const channel = channelOf(record);
  const kind = MSGTYPE_LABEL[str(p['msgtype']) ?? ''] ?? '媒体';
  if (!mediaFailed(record)) {
    const sha = str(p['sha256']);
    const size = num(p['size']);
    const details = [sha ? `SHA-256 ${sha.slice(0, 12)}…` : undefined, size !== undefined ? `${size} 字节` : undefined];
    const shown = details.filter((d) => d !== undefined);
    return {
      role: 'app',
      summary: clip(`已保存${kind}文件${shown.length > 0 ? `（${shown.join('，')}）` : ''}`),
      ...(channel ? { channel } : {}),
    };
  }
  const status = str(p['status']);
  const attempts = num(p['attempts']);
  const reason = reasonOf(p);
  return {
    role: 'app',
    summary: clip(
      `${kind}文件${status === 'refused' ? '被拒收' : '获取失败'}${attempts !== undefined ? `（尝试 ${attempts} 次）` : ''}${reason ? `：${reason}` : ''}`,
    ),
    ...(channel ? { channel } : {}),
  };
}

/** true: agreed, false: disagreed, undefined: the record does not say. */
export function consentAgreed(p: Obj): boolean | undefined {
  const v = p['agree'] ?? p['agreed'] ?? p['status'] ?? p['consent'] ?? p['status_change'];
  if (typeof v === 'boolean') return v;
  if (v === 'agree' || v === 'Agree' || v === 1) return true;
  if (v === 'disagree' || v === 'Disagree' || v === 2) return false;
  return undefined;
}

function consent(record: CheckedRecord): RenderedEntry {
  const agreed = consentAgreed(obj(record.payload) ?? {});
  const what = agreed === true ? '同意' : agreed === false ? '拒绝' : '变更了对';
  return { role: 'candidate', summary: `联系人${what}会话内容存档`, channel: 'archive' };
}

/** Why a channel left a gap, for people: the channels' reason codes (a code may lead a longer English reason). */
const GAP_REASON_LABEL: Readonly<Record<string, string>> = {
  outside_3_day_window: '超过 3 天未拉取，期间的消息可能已超出微信客服的保留期',
  before_first_pull: '首次拉取之前会话存档已有的消息（企业微信只保留五天）',
  seq_jump: '企业微信未返回这些序号的消息（已超过五天或从未产生）',
};

function gapReason(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  const code = /^[a-z0-9_]+/.exec(reason)?.[0];
  return (code !== undefined ? GAP_REASON_LABEL[code] : undefined) ?? reason;
}

function gap(record: CheckedRecord): RenderedEntry {
  const p = obj(record.payload) ?? {};
  const channel = channelOf(record);
  const reason = gapReason(reasonOf(p));
  const fromSeq = num(p['from_seq']);
  const toSeq = num(p['to_seq']);
  const from = str(p['from']);
  const to = str(p['to']);
  const fromAt = from !== undefined ? new Date(from) : undefined;
  const toAt = to !== undefined ? new Date(to) : undefined;
  const range =
    fromSeq !== undefined && toSeq !== undefined
      ? `（序号 ${fromSeq}–${toSeq}）`
      : fromAt && toAt && !Number.isNaN(fromAt.getTime()) && !Number.isNaN(toAt.getTime())
        ? `（${shanghaiTime(fromAt).slice(0, 16).replace('T', ' ')} 至 ${shanghaiTime(toAt).slice(0, 16).replace('T', ' ')}，北京时间）`
        : '';
  return {
    role: 'system',
    summary: clip(`缺口：${channel ? CHANNEL_LABEL[channel] : '会话'}有一段消息${range}未能拉取${reason ? `：${reason}` : ''}`),
    ...(channel ? { channel } : {}),
  };
}

function gapClosed(record: CheckedRecord): RenderedEntry {
  const channel = channelOf(record);
  return {
    role: 'system',
    summary: `缺口已补齐：${channel ? CHANNEL_LABEL[channel] : '会话'}此前未能拉取的一段消息已拉取`,
    ...(channel ? { channel } : {}),
  };
}

function signalHit(record: CheckedRecord): RenderedEntry {
  const p = obj(record.payload) ?? {};
  const type = str(p['type']) ?? str(p['signal']) ?? '';
  const rule = str(p['rule']) ?? str(p['rule_id']);
  const version = num(p['rule_version']) ?? num(p['version']);
  const m = p['match'] ?? p['matched'] ?? p['span'];
  const matched = str(m) ?? str(obj(m)?.['text']);
  return {
    role: 'app',
    summary: clip(
      `风险信号：${SIGNAL_LABEL[type] ?? (type || '未知类型')}` +
        `${rule ? `（规则 ${rule}${version !== undefined ? ` 第 ${version} 版` : ''}）` : ''}` +
        `${matched ? `，命中“${matched}”` : ''}`,
    ),
  };
}

function signalAlert(record: CheckedRecord): RenderedEntry {
  const p = obj(record.payload) ?? {};
  const type = str(p['type']) ?? '';
  const what = SIGNAL_LABEL[type] ? `：${SIGNAL_LABEL[type]}` : '';
  // The alert's outcome, as recorded: only a sent one reached the recruiter.
  const status = str(p['status']) ?? 'sent';
  if (status === 'undeliverable') {
    const why = str(p['reason']) === 'no_recruiter' ? '尚无负责的招聘人员' : '无法送达';
    return { role: 'app', summary: `未能提醒招聘人员（${why}）${what}` };
  }
  if (status === 'held') return { role: 'app', summary: `提醒招聘人员已暂缓，将并入汇总消息${what}` };
  if (status !== 'sent') return { role: 'app', summary: clip(`提醒招聘人员：${status}${what}`) };
  return { role: 'app', summary: `已提醒招聘人员${what}` };
}

function created(record: CheckedRecord): RenderedEntry {
  const via = str(obj(obj(record.payload)?.['first_contact'])?.['via']) ?? '';
  return { role: 'app', summary: `建立候选人档案${VIA_LABEL[via] ? `（来源：${VIA_LABEL[via]}）` : ''}` };
}

function position(record: CheckedRecord): RenderedEntry {
  const p = obj(record.payload) ?? {};
  const id = str(p['position_id']) ?? str(p['position']);
  const title = str(p['title']) ?? str(obj(p['position'])?.['title']);
  return { role: 'app', summary: clip(`关联职位${title ? `“${title}”` : id ? ` ${id}` : ''}`) };
}

function recruiter(record: CheckedRecord): RenderedEntry {
  const p = obj(record.payload) ?? {};
  const to = str(p['recruiter']);
  const from = str(p['previous']);
  return { role: 'app', summary: clip(`负责招聘人员${from ? `由 ${from} ` : ''}改为 ${to ?? '（未知）'}`) };
}

function callback(record: CheckedRecord): RenderedEntry {
  const p = obj(record.payload) ?? {};
  const type = str(p['type']) ?? record.kind.replace(/^wecom\.callback\./, '');
  const fields = obj(p['fields']) ?? {};
  if (type === 'event.change_external_contact') {
    const change = str(fields['ChangeType']) ?? '';
    return {
      role: 'recruiter',
      summary: `企业微信：招聘人员${CHANGE_TYPE_LABEL[change] ?? `联系人变更（${change || '未知'}）`}`,
    };
  }
  if (type === 'event.kf_msg_or_event') return { role: 'system', summary: '企业微信：微信客服有新消息或事件', channel: 'kf' };
  if (type === 'event.msgaudit_notify') return { role: 'system', summary: '企业微信：会话存档有新消息', channel: 'archive' };
  return { role: 'system', summary: clip(`企业微信回调：${type}`) };
}

function outbound(record: CheckedRecord): RenderedEntry {
  const p = obj(record.payload) ?? {};
  const api = str(p['api']) ?? str(obj(p['intent'])?.['api']);
  if (record.kind.endsWith('.intent')) return { role: 'app', summary: clip(`准备发送消息${api ? `（${api}）` : ''}`) };
  const status = str(p['status']);
  return {
    role: 'app',
    summary: clip(`消息发送${status === 'sent' ? '成功' : status ? `结果：${status}` : '结果'}${api ? `（${api}）` : ''}`),
  };
}

export const DEFAULT_RENDERERS: EntryRenderers = {
  // Offers, approvals, the acceptance page, reminders, onboarding and re-application (render-offers.ts).
  ...OFFER_PATH_RENDERERS,
  [CONVERSATION_KINDS.message]: message,
  [CONVERSATION_KINDS.placeholder]: placeholder,
  [CONVERSATION_KINDS.media]: media,
  [CONVERSATION_KINDS.consent]: consent,
  [CONVERSATION_KINDS.gap]: gap,
  [CONVERSATION_KINDS.gapClosed]: gapClosed,
  [SIGNAL_KINDS.hit]: signalHit,
  [SIGNAL_KINDS.alert]: signalAlert,
  [CANDIDATE_KINDS.created]: created,
  [CANDIDATE_KINDS.profile]: () => ({ role: 'app', summary: '获取了企业微信联系人资料' }),
  [CANDIDATE_KINDS.position]: position,
  [CANDIDATE_KINDS.identifier]: () => ({ role: 'recruiter', summary: '招聘人员录入了标识（手机号或证件号，仅存 HMAC）' }),
  [CANDIDATE_KINDS.merged]: () => ({ role: 'app', summary: '候选人档案合并（同一人再次应聘）' }),
  [CANDIDATE_KINDS.recruiter]: recruiter,
  // A link shows the record it links (the timeline renders that one with these same renderers).
  [CANDIDATE_KINDS.link]: () => ({ role: 'app', summary: '关联了一条记录' }),
  'wecom.callback.': callback,
  'wecom.outbound.': outbound,
  'hireledger.job.failed': () => ({ role: 'app', summary: '一项后台任务失败，已记录' }),
};

/** The renderer of a kind: the exact key, else the longest `prefix.` key, else a generic one. */
export function rendererFor(kind: string, renderers: EntryRenderers): EntryRenderer {
  const exact = renderers[kind];
  if (exact) return exact;
  let best: string | undefined;
  for (const key of Object.keys(renderers)) {
    if (key.endsWith('.') && kind.startsWith(key) && (best === undefined || key.length > best.length)) best = key;
  }
  return (best !== undefined ? renderers[best] : undefined) ?? ((r) => ({ role: 'system', summary: clip(`记录：${r.kind}`) }));
}
