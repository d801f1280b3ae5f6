import type { Pool } from 'pg';
import { CANDIDATE_KINDS } from '../candidates';
import { CONVERSATION_KINDS, CONVERSATION_STREAMS, type ConversationChannel } from '../conversations';
import { readStreamKinds, readStreamsChecked, type JsonValue, type CheckedRecord } from '../evidence';
import {
  CHANNEL_LABEL,
  channelOf,
  consentAgreed,
  DEFAULT_RENDERERS,
  mediaFailed,
  num,
  obj,
  rendererFor,
  str,
  type TimelineRole,
} from './render';
import { shanghaiTime } from './time';
import { streamsOf, type TimelineCandidate, type TimelineProblem } from './timeline';

/**
 * The completeness report of one candidate (issue 9 item 5), for a legal export: which messages
 * HireLedger holds, from which channel, over which ranges, and every place where something may be
 * missing: a gap (a page or range that could not be pulled, `conversation.gap`, unless a
 * `conversation.gap_closed` names it), a placeholder (an item that could not be read), media given
 * up or refused, and each consent change. It also says whether each channel is on: a channel that
 * is off holds nothing, and the report says so rather than looking complete.
 *
 * Read from the person's own streams (the candidate's, and those of rows merged into it) and, for
 * gaps and placeholders only, the stream of each KF
 * account the candidate talked through (`conversation:kf:<open_kfid>`) and the streams the caller
 * names as shared by the corp (the chat archive's): a page or item that could not be read holds
 * messages of people nobody knew yet, so it concerns every candidate of that account or corp and
 * is listed with `scope: "account"` or `"corp"`. Nothing else is read.
 */

export type ChannelState = 'on' | 'off' | 'unknown';

/** A channel's status as the configuration and the running channel know it (the caller's input). */
export interface ChannelStatus {
  state: ChannelState;
  /** Why, in a sentence (e.g. no SDK library configured). */
  detail?: string;
}

export interface CompletenessOptions {
  channels: Record<ConversationChannel, ChannelStatus>;
  /**
   * Streams a channel shares between all candidates of the corp whose gaps and placeholders may hold
   * this candidate's messages: the chat archive's corp stream (`ARCHIVE_STREAMS.corp(corpId)` of
   * src/conversations/archive). Listed with `scope: "corp"`. KF account streams are found by the
   * report itself, from the accounts the candidate talked through.
   */
  sharedStreams?: string[];
  /**
   * Re-verify every record read: each of the person's streams as a whole chain (and its head); each gap
   * and placeholder of a shared stream on its own (hash and content; its chain is other people's).
   */
  verify?: boolean;
  /** The clock of `generated_at` (tests; a legal export gives its checkpoint's time). */
  now?: () => Date;
  /**
   * Only records up to this seq: the report as of a signed checkpoint, so a legal export states
   * what the checkpoint covers and two exports against one checkpoint give the same report.
   */
  untilSeq?: number;
}

export interface HeldRange {
  first_seq: number;
  last_seq: number;
  first_occurred_at: string;
  last_occurred_at: string;
  first_occurred_at_shanghai: string;
  last_occurred_at_shanghai: string;
}

export interface ChannelHoldings {
  status: ChannelStatus;
  messages: number;
  /** Messages by who wrote them. */
  by_role: Record<TimelineRole, number>;
  /** The evidence records (seq of the candidate's stream) and source times the messages span; null when none. */
  held: HeldRange | null;
  /** KF: the accounts the candidate talked through, with their message counts. */
  accounts?: { open_kfid: string; messages: number }[];
  /** Archive: the lowest and highest archive seq of the candidate's messages and placeholders. */
  archive_seq?: { first: number; last: number } | null;
}

export type IssueType = 'gap' | 'placeholder' | 'media_failed' | 'consent';

export interface CompletenessIssue {
  type: IssueType;
  channel: ConversationChannel | null;
  /**
   * `candidate`: on the candidate's own stream; `account`: on the stream of a KF account the
   * candidate used; `corp`: on a stream shared by the whole corp (the chat archive's). The last two
   * concern messages of people not known when they were recorded: they may hold this candidate's.
   */
  scope: 'candidate' | 'account' | 'corp';
  seq: number;
  hash: string;
  stream: string;
  kind: string;
  occurred_at: string;
  occurred_at_shanghai: string;
  summary: string;
  /** The record's own scalar fields (why, where, which cursor or range), as written. */
  detail: Record<string, string | number | boolean | null>;
  /** Gaps: the `conversation.gap_closed` record that names it, when the range was pulled after all. */
  closed_by?: { seq: number; hash: string } | null;
  /** Consent: agreed (true), disagreed (false), or the record does not say (null). */
  agreed?: boolean | null;
}

export interface CompletenessReport {
  candidate_id: string;
  stream: string;
  /** The person's streams read: the candidate's own, and those of rows merged into it. */
  streams: string[];
  generated_at: string;
  /** True when every channel is on and nothing is missing: no open gap, no placeholder, no failed media (a refused consent is a finding, not a hole). */
  complete: boolean;
  /** In Chinese, one line per reason the report is not complete (empty when it is). */
  findings: string[];
  channels: Record<ConversationChannel, ChannelHoldings>;
  issues: CompletenessIssue[];
  /** Records read: the person's streams, and the gaps and placeholders of the shared streams. */
  records_read: number;
  verification?: { ok: boolean; records: number; problems: TimelineProblem[] };
}

/** What the report reads of a shared stream (the kinds of the partial index of migration 1764547200004). */
const HOLE_KINDS = [CONVERSATION_KINDS.gap, CONVERSATION_KINDS.gapClosed, CONVERSATION_KINDS.placeholder];

function scalars(payload: JsonValue): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(obj(payload) ?? {})) {
    if (typeof v === 'string') out[k] = v.length > 200 ? `${v.slice(0, 199)}…` : v;
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) out[k] = v;
  }
  return out;
}

function emptyRoles(): Record<TimelineRole, number> {
  return { candidate: 0, recruiter: 0, system: 0, app: 0 };
}

function holdings(status: ChannelStatus): ChannelHoldings {
  return { status, messages: 0, by_role: emptyRoles(), held: null };
}

function extend(range: HeldRange | null, r: CheckedRecord): HeldRange {
  const at = r.occurredAt.toISOString();
  const shown = shanghaiTime(r.occurredAt);
  if (!range) {
    return {
      first_seq: r.seq,
      last_seq: r.seq,
      first_occurred_at: at,
      last_occurred_at: at,
      first_occurred_at_shanghai: shown,
      last_occurred_at_shanghai: shown,
    };
  }
  range.last_seq = r.seq;
  if (at < range.first_occurred_at) {
    range.first_occurred_at = at;
    range.first_occurred_at_shanghai = shown;
  }
  if (at > range.last_occurred_at) {
    range.last_occurred_at = at;
    range.last_occurred_at_shanghai = shown;
  }
  return range;
}

/** The archive seq of a message or placeholder (`archive_seq`, else `seq`), when it has one. */
function archiveSeqOf(p: JsonValue): number | undefined {
  const o = obj(p);
  return num(o?.['archive_seq']) ?? num(o?.['seq']) ?? num(obj(o?.['message'])?.['seq']);
}

/** The gap a `conversation.gap_closed` record closes: `gap.seq` or `gap.source_ref` in its payload (kf-pull.ts), else its key's twin. */
function closedGap(r: CheckedRecord): { seq?: number; sourceRef?: string } {
  const p = obj(r.payload);
  const named = obj(p?.['gap']);
  const seq = num(named?.['seq']) ?? num(p?.['gap_seq']);
  const twin =
    str(named?.['source_ref']) ??
    (r.sourceRef.startsWith('kf-gap-closed:') ? `kf-gap:${r.sourceRef.slice('kf-gap-closed:'.length)}` : undefined);
  return { ...(seq !== undefined ? { seq } : {}), ...(twin !== undefined ? { sourceRef: twin } : {}) };
}

const SCOPE_NOTE: Readonly<Record<CompletenessIssue['scope'], string>> = {
  candidate: '',
  account: '，客服账号范围，可能涉及本候选人',
  corp: '，全企业范围，可能涉及本候选人',
};

export async function completenessReport(
  pool: Pool,
  candidate: TimelineCandidate,
  opts: CompletenessOptions,
): Promise<CompletenessReport> {
  const verify = opts.verify === true;
  const until = opts.untilSeq ?? Infinity;
  const upTo = <T extends { seq: number }>(rs: readonly T[]): T[] => rs.filter((r) => r.seq <= until);
  const streams = streamsOf(candidate);
  const own = await readStreamsChecked(pool, streams, { verify });
  own.records = upTo(own.records);
  const problems: TimelineProblem[] = [...own.problems];
  let verified = own.verified;

  const channels: Record<ConversationChannel, ChannelHoldings> = {
    kf: { ...holdings(opts.channels.kf), accounts: [] },
    archive: { ...holdings(opts.channels.archive), archive_seq: null },
  };
  const accounts = new Map<string, number>();
  const issues: CompletenessIssue[] = [];
  const gaps: CompletenessIssue[] = [];
  const closings: CheckedRecord[] = [];
  const gapRefs = new Map<string, CompletenessIssue>();

  const issue = (
    type: IssueType,
    r: CheckedRecord,
    scope: CompletenessIssue['scope'],
    extra: Partial<CompletenessIssue> = {},
  ) => {
    const i: CompletenessIssue = {
      type,
      channel: channelOf(r) ?? null,
      scope,
      seq: r.seq,
      hash: r.hash,
      stream: r.stream,
      kind: r.kind,
      occurred_at: r.occurredAt.toISOString(),
      occurred_at_shanghai: shanghaiTime(r.occurredAt),
      summary: rendererFor(r.kind, DEFAULT_RENDERERS)(r).summary,
      detail: scalars(r.payload),
      ...extra,
    };
    issues.push(i);
    return i;
  };
  const noteArchiveSeq = (p: JsonValue) => {
    const s = archiveSeqOf(p);
    if (s === undefined) return;
    const a = channels.archive.archive_seq;
    channels.archive.archive_seq = a ? { first: Math.min(a.first, s), last: Math.max(a.last, s) } : { first: s, last: s };
  };
  const onGapRecord = (r: CheckedRecord, scope: CompletenessIssue['scope']) => {
    if (r.kind === CONVERSATION_KINDS.placeholder) {
      issue('placeholder', r, scope);
      if (channelOf(r) === 'archive') noteArchiveSeq(r.payload);
    } else if (r.kind === CONVERSATION_KINDS.gap) {
      const g = issue('gap', r, scope, { closed_by: null });
      gaps.push(g);
      gapRefs.set(r.sourceRef, g);
    } else if (r.kind === CONVERSATION_KINDS.gapClosed) {
      closings.push(r);
    }
  };

  for (const r of own.records) {
    const p = obj(r.payload) ?? {};
    switch (r.kind) {
      case CONVERSATION_KINDS.message: {
        const channel = channelOf(r);
        if (!channel) break;
        const h = channels[channel];
        h.messages += 1;
        const role = p['role'];
        h.by_role[role === 'candidate' || role === 'recruiter' || role === 'app' ? role : 'system'] += 1;
        h.held = extend(h.held, r);
        const kfid = str(p['open_kfid']);
        if (channel === 'kf' && kfid !== undefined) accounts.set(kfid, (accounts.get(kfid) ?? 0) + 1);
        if (channel === 'archive') noteArchiveSeq(r.payload);
        break;
      }
      case CONVERSATION_KINDS.media:
        if (mediaFailed(r)) issue('media_failed', r, 'candidate');
        break;
      case CONVERSATION_KINDS.consent: {
        const agreed = consentAgreed(p);
        issue('consent', r, 'candidate', { channel: 'archive', agreed: agreed ?? null });
        break;
      }
      case CONVERSATION_KINDS.placeholder:
      case CONVERSATION_KINDS.gap:
      case CONVERSATION_KINDS.gapClosed:
        onGapRecord(r, 'candidate');
        break;
      case CANDIDATE_KINDS.created: {
        // A candidate first seen through KF names the account even before any message is held.
        const kfid = str(obj(p['first_contact'])?.['open_kfid']);
        if (kfid !== undefined && !accounts.has(kfid)) accounts.set(kfid, 0);
        break;
      }
      default:
        break;
    }
  }
  channels.kf.accounts = [...accounts].map(([open_kfid, messages]) => ({ open_kfid, messages }));

  let recordsRead = own.records.length;
  const shared: [string, CompletenessIssue['scope']][] = [
    ...[...accounts.keys()]
      .sort()
      .map((kfid): [string, CompletenessIssue['scope']] => [CONVERSATION_STREAMS.kfAccount(kfid), 'account']),
    ...(opts.sharedStreams ?? []).map((stream): [string, CompletenessIssue['scope']] => [stream, 'corp']),
  ];
  for (const [stream, scope] of shared) {
    const holes = await readStreamKinds(pool, stream, HOLE_KINDS, { verify });
    holes.records = upTo(holes.records);
    recordsRead += holes.records.length;
    verified += holes.verified;
    problems.push(...holes.problems);
    for (const r of holes.records) onGapRecord(r, scope);
  }

  const bySeq = new Map(gaps.map((g) => [g.seq, g]));
  for (const c of closings) {
    const target = closedGap(c);
    const g =
      (target.seq !== undefined ? bySeq.get(target.seq) : undefined) ??
      (target.sourceRef ? gapRefs.get(target.sourceRef) : undefined);
    if (g) g.closed_by = { seq: c.seq, hash: c.hash };
  }
  issues.sort((a, b) => a.seq - b.seq);

  const findings: string[] = [];
  if (candidate.mergeMismatch) {
    findings.push(candidate.mergeMismatch);
    if (verify) problems.push({ kind: 'merge_mismatch', seq: null, stream: null, detail: candidate.mergeMismatch });
  }
  for (const channel of ['kf', 'archive'] as const) {
    const s = channels[channel].status;
    if (s.state !== 'on') {
      findings.push(
        `${CHANNEL_LABEL[channel]}通道${s.state === 'off' ? '未开启' : '状态未知'}${s.detail ? `（${s.detail}）` : ''}：该通道的消息${s.state === 'off' ? '未被采集' : '可能未被采集'}`,
      );
    }
  }
  for (const i of issues) {
    const where = `${i.channel ? CHANNEL_LABEL[i.channel] : '会话'}，记录 ${i.seq}，${i.occurred_at_shanghai.slice(0, 19).replace('T', ' ')}（北京时间）`;
    if (i.type === 'gap' && !i.closed_by) {
      findings.push(`缺口（${where}${SCOPE_NOTE[i.scope]}）：${i.summary.replace(/^缺口：/, '')}`);
    } else if (i.type === 'placeholder') {
      findings.push(`无法读取的消息（${where}${SCOPE_NOTE[i.scope]}）：${i.summary}`);
    } else if (i.type === 'media_failed') {
      findings.push(`媒体文件缺失（${where}）：${i.summary}`);
    } else if (i.type === 'consent' && i.agreed === false) {
      findings.push(`联系人拒绝会话存档（${where}）：此后该联系人的会话存档消息不会被采集`);
    }
  }
  // A refused consent is reported, but it is not a hole: WeCom archives nothing of that contact by design.
  const complete =
    !candidate.mergeMismatch &&
    (['kf', 'archive'] as const).every((c) => channels[c].status.state === 'on') &&
    !issues.some((i) => (i.type === 'gap' && !i.closed_by) || i.type === 'placeholder' || i.type === 'media_failed');

  return {
    candidate_id: candidate.candidateId,
    stream: candidate.stream,
    streams,
    generated_at: (opts.now?.() ?? new Date()).toISOString(),
    complete,
    findings,
    channels,
    issues,
    records_read: recordsRead,
    ...(verify ? { verification: { ok: problems.length === 0, records: verified, problems } } : {}),
  };
}
