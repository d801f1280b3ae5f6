import { createHash } from 'node:crypto';
import { CANDIDATE_KINDS } from '../candidates';
import { CONVERSATION_KINDS } from '../conversations';
import type { EvidenceEntry, JsonValue, StoredRecord } from '../evidence';
import { OFFER_KINDS, OFFERS_SOURCE } from '../offers';
import type { LedgerConsumer, ConsumerContext } from '../platform/module';
import { HIRELEDGER_ACTOR } from '../platform/names';
import type { MessageApi } from '../wecom/api';
import { memberUserId } from '../wecom/names';
import type { RecruiterOf } from './alerts';
import { shanghaiTime } from './alerts';
import { amountsIn } from './amounts';
import { normalize } from './normalize';
import { REAPPLICATION_KINDS, REAPPLICATION_SEND_KEYS, REAPPLICATION_SOURCE_REFS, SIGNAL_KINDS, SIGNALS_SOURCE } from './names';

/**
 * Re-application (issue 10 item 7): a candidate whose offer ended on their side or ours (declined,
 * reneged, expired, rescinded) who appears again brings their history with them. The candidates
 * module already matches a re-applicant to the same candidate (same external_userid, phone or ID
 * number: docs/candidates.md), so their earlier records are on the same stream, or on the stream of
 * a row merged with it (an offer that ended under the other account); this reads them all.
 *
 * - `reapplicationHistory(records)` (pure): the earlier offers (version, content hash, terms,
 *   outcome, reason code and words), interview invitations, signal hits, and suggested questions for
 *   the recruiter in Chinese, derived from them;
 * - the `signals.reapplication` consumer: on the first contact record after a terminal outcome
 *   (a message the candidate wrote, a contact added, the candidate tied to a position again, a
 *   merge of a re-created row), at least `quietMs` after it (a thank-you note on the day of the
 *   decline is the same conversation), records `candidate.reapplied` (ids and hashes of the earlier
 *   records, reason codes and question codes: no copy of the candidate's words or terms) and sends
 *   the candidate's recruiter the summary and the questions (message/send on the recorded send path,
 *   keyed by the terminal outcome, so once per outcome across crashes).
 *
 * Advice for a person: nothing is decided on it (PIPL art. 24); a re-applicant is never refused for
 * their history.
 */

/** The offer outcomes after which a new contact is a re-application. */
export const ENDED_OFFER_KINDS: ReadonlySet<string> = new Set([
  OFFER_KINDS.declined,
  OFFER_KINDS.reneged,
  OFFER_KINDS.expired,
  OFFER_KINDS.rescinded,
]);
const ENDED_STATES: ReadonlySet<string> = new Set(['declined', 'reneged', 'expired', 'rescinded']);

/** Default quiet period: contact within a day of the outcome is the same conversation. */
export const DEFAULT_REAPPLICATION_QUIET_MS = 24 * 3600_000;

/**
 * A contact older than this when handled (a new consumer reading the ledger from its start, a
 * worker down for days) is recorded but not sent: a recruiter told today of a return weeks ago
 * would act on stale news.
 */
export const DEFAULT_REAPPLICATION_MAX_AGE_MS = 7 * 24 * 3600_000;

/** A WeCom text is at most 2048 bytes. */
const MAX_MESSAGE_BYTES = 2000;

export interface RecordRef {
  [key: string]: JsonValue;
  seq: number;
  hash: string;
}

export interface EarlierOffer {
  offerId: string;
  version: number | null;
  contentSha256: string | null;
  /** The offer's last recorded step: `declined`, `reneged`, `expired`, `rescinded`, or a live state (`sent`…). */
  outcome: string;
  reasonCode: string | null;
  /** The words given with the outcome (the candidate's or the company's); shown to the recruiter, never recorded again. */
  reason: string | null;
  terms: { baseMonthlyYuan: number; salaryMonths: number; level: string; location: string; startDate: string } | null;
  outcomeAt: string;
  record: RecordRef;
}

export interface EarlierSignal {
  type: string;
  rule: string;
  ruleVersion: number;
  match: string;
  record: RecordRef;
}

export interface SuggestedQuestion {
  /** Stable code (recorded); the text is for the recruiter. */
  code: string;
  text: string;
}

export interface ReapplicationHistory {
  offers: EarlierOffer[];
  interviews: { record: RecordRef; at: string }[];
  signals: EarlierSignal[];
  questions: SuggestedQuestion[];
}

function obj(v: JsonValue | undefined): { [key: string]: JsonValue } | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : undefined;
}
const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: JsonValue | undefined): number | null => (typeof v === 'number' ? v : null);

/** `¥35,000` */
function yuan(n: number): string {
  return `¥${String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}`;
}

function clip(text: string, max: number): string {
  const chars = [...text.replace(/\s+/g, ' ').trim()];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : chars.join('');
}

/** The largest amount in the candidate's words ("期望4万" → 40,000), if any. */
function expectation(reason: string | null): number | null {
  if (!reason) return null;
  const amounts = amountsIn(normalize(reason)).map((a) => a.yuan);
  return amounts.length > 0 ? Math.max(...amounts) : null;
}

function questionsOf(h: Omit<ReapplicationHistory, 'questions'>): SuggestedQuestion[] {
  const q: SuggestedQuestion[] = [];
  const ended = h.offers.filter((o) => ENDED_STATES.has(o.outcome));
  const last = ended.at(-1);
  if (last) {
    const t = last.terms;
    const why = last.reason ? `（原因：「${clip(last.reason, 40)}」）` : '';
    switch (`${last.outcome}:${last.reasonCode ?? ''}`) {
      case 'declined:salary': {
        const want = expectation(last.reason);
        const offered = t ? `当时 offer 月薪 ${yuan(t.baseMonthlyYuan)} × ${t.salaryMonths} 薪` : '';
        const expected = want !== null ? `期望 ${yuan(want)}` : '';
        const said = [offered, expected].filter((s) => s !== '').join('，');
        q.push({
          code: 'declined_salary',
          text: `上次因薪资未接受${said ? `（${said}）` : ''}，这次的期望是否有变化？`,
        });
        break;
      }
      case 'declined:other_offer':
        q.push({ code: 'declined_other_offer', text: '上次因选择了其他机会未接受，那边的情况如何？这次为什么重新考虑我们？' });
        break;
      case 'declined:counter_offer':
        q.push({
          code: 'declined_counter_offer',
          text: '上次因原公司挽留未接受，这次离开的原因是什么？如果原公司再次挽留，会怎么考虑？',
        });
        break;
      case 'declined:location':
        q.push({
          code: 'declined_location',
          text: `上次因工作地点${t ? `（${t.location}）` : ''}未接受，这次对工作地点的考虑是否有变化？`,
        });
        break;
      case 'declined:role':
        q.push({ code: 'declined_role', text: '上次因岗位内容未接受，这次对岗位和职责有哪些期待？' });
        break;
      case 'declined:personal':
        q.push({ code: 'declined_personal', text: '上次因个人原因未接受，现在情况是否已经有变化？' });
        break;
      default:
        if (last.outcome === 'declined') q.push({ code: 'declined_other', text: `上次未接受 offer${why}，这次有什么不同？` });
        else if (last.outcome === 'reneged')
          q.push({
            code: 'reneged',
            text: `上次接受 offer 后又放弃入职${why}，这次如何确认能按时入职？有哪些可能影响入职的因素？`,
          });
        else if (last.outcome === 'expired')
          q.push({ code: 'expired', text: '上次 offer 到期未答复，这次做决定大概需要多久？需要考虑哪些因素？' });
        else if (last.outcome === 'rescinded')
          q.push({
            code: 'rescinded',
            text: `上次 offer 由公司撤回${why}：请先确认当时的原因是否已不存在，再与候选人坦诚沟通。`,
          });
    }
  }
  if (h.signals.some((s) => s.type === 'resigned_before_offer'))
    q.push({ code: 'resigned_before', text: '上次候选人在 offer 审批前表示已离职，目前的在职状态如何？' });
  const hesitations = h.signals.filter((s) => s.type === 'hesitation');
  const firstHesitation = hesitations[0];
  if (firstHesitation)
    q.push({
      code: 'hesitated',
      text: `上次沟通中有过犹豫（${hesitations.length} 次，如「${clip(firstHesitation.match, 20)}」），这次主要的顾虑是什么？`,
    });
  if (h.signals.some((s) => s.type === 'over_promise'))
    q.push({ code: 'over_promised', text: '上次沟通中有可能超出审批的承诺：这次请以审批通过的条款为准沟通。' });
  if (h.interviews.length > 0)
    q.push({
      code: 'interviewed',
      text: `上次已安排过 ${h.interviews.length} 次面试：可先调阅当时的面试记录，避免重复考察。`,
    });
  return q;
}

/**
 * The history a re-applicant brings: from the earlier records of their stream (seq order), every
 * offer with its last step, the interview invitations, the signal hits, and the questions derived
 * from them. Pure.
 */
export function reapplicationHistory(records: readonly StoredRecord[]): ReapplicationHistory {
  const offers = new Map<string, EarlierOffer>();
  const interviews: ReapplicationHistory['interviews'] = [];
  const signals: EarlierSignal[] = [];
  for (const r of records) {
    const p = obj(r.payload);
    if (!p) continue;
    const ref: RecordRef = { seq: r.seq, hash: r.hash };
    if (r.source === OFFERS_SOURCE && r.kind === OFFER_KINDS.interviewInvitation) {
      interviews.push({ record: ref, at: r.occurredAt.toISOString() });
      continue;
    }
    if (r.source === OFFERS_SOURCE && r.kind.startsWith('offer.')) {
      const offerId = str(p['offer_id']);
      if (!offerId) continue;
      const prior = offers.get(offerId);
      const content = obj(p['content']);
      const terms =
        content && typeof content['base_monthly_yuan'] === 'number'
          ? {
              baseMonthlyYuan: content['base_monthly_yuan'],
              salaryMonths: num(content['salary_months']) ?? 12,
              level: str(content['level']) ?? '',
              location: str(content['location']) ?? '',
              startDate: str(content['start_date']) ?? '',
            }
          : (prior?.terms ?? null);
      offers.set(offerId, {
        offerId,
        version: num(p['version']) ?? prior?.version ?? null,
        contentSha256: str(p['content_sha256']) ?? prior?.contentSha256 ?? null,
        outcome: str(p['to']) ?? prior?.outcome ?? 'draft',
        reasonCode: str(p['reason_code']),
        reason: str(p['reason']),
        terms,
        outcomeAt: r.occurredAt.toISOString(),
        record: ref,
      });
      continue;
    }
    if (r.source === SIGNALS_SOURCE && r.kind === SIGNAL_KINDS.hit) {
      const match = obj(p['match']);
      signals.push({
        type: str(p['type']) ?? '',
        rule: str(p['rule']) ?? '',
        ruleVersion: num(p['rule_version']) ?? 0,
        match: str(match?.['text']) ?? '',
        record: ref,
      });
    }
  }
  const h = { offers: [...offers.values()].sort((a, b) => a.record.seq - b.record.seq), interviews, signals };
  return { ...h, questions: questionsOf(h) };
}

const OUTCOME_NAME: Readonly<Record<string, string>> = {
  declined: '候选人拒绝',
  reneged: '接受后毁约',
  expired: '到期未答复',
  rescinded: '公司撤回',
  onboarded: '已入职',
  cancelled: '未发出即取消',
  accepted: '已接受',
  sent: '已发出',
  approved: '已审批',
  pending_approval: '审批中',
  draft: '草稿',
};

const SIGNAL_NAME: Readonly<Record<string, string>> = {
  hesitation: '犹豫',
  resigned_before_offer: '审批前已离职',
  over_promise: '可能的超额承诺',
};

function cutToBytes(text: string, max: number): string {
  if (Buffer.byteLength(text, 'utf8') <= max) return text;
  let out = '';
  for (const ch of text) {
    if (Buffer.byteLength(`${out}${ch}…`, 'utf8') > max) break;
    out += ch;
  }
  return `${out}…`;
}

/** The recruiter's message, in Chinese: who, what happened before, and what to ask. */
export function reapplicationText(h: ReapplicationHistory, candidateId: string, at: Date): string {
  const lines = [
    `【HireLedger 回流候选人】候选人 ${candidateId.slice(0, 11)} 再次联系（${shanghaiTime(at)}），此前有过 offer：`,
    ...h.offers.map((o) => {
      const t = o.terms;
      const terms = t ? `月薪 ${yuan(t.baseMonthlyYuan)} × ${t.salaryMonths} 薪，${t.level}，${t.location}` : '条款未知';
      const reason = o.reason ? `，原因：「${clip(o.reason, 40)}」` : '';
      return `· offer ${o.offerId.slice(0, 11)} 第 ${o.version ?? '?'} 版（${terms}）：${OUTCOME_NAME[o.outcome] ?? o.outcome}${o.reasonCode ? `（${o.reasonCode}）` : ''}${reason}，${shanghaiTime(new Date(o.outcomeAt))}`;
    }),
    ...(h.interviews.length > 0 ? [`· 面试邀请 ${h.interviews.length} 次（面试反馈未在系统中记录）`] : []),
    ...(h.signals.length > 0
      ? [
          `· 风险信号：${Object.entries(
            h.signals.reduce<{ [k: string]: number }>((acc, s) => ({ ...acc, [s.type]: (acc[s.type] ?? 0) + 1 }), {}),
          )
            .map(([t, n]) => `${SIGNAL_NAME[t] ?? t} ${n} 次`)
            .join('，')}`,
        ]
      : []),
    ...(h.questions.length > 0 ? ['建议了解：', ...h.questions.map((q, i) => `${i + 1}. ${q.text}`)] : []),
    '详情见候选人时间线。此提醒仅供参考，系统不会据此自动做任何决定，请勿因过往记录直接拒绝候选人。',
  ];
  return cutToBytes(lines.join('\n'), MAX_MESSAGE_BYTES);
}

// ---------------------------------------------------------------- the consumer

/** The candidate's offers and their states: the offers module's `listOffers` fits. */
export type OfferStatesOf = (corpId: string, candidateId: string) => Promise<readonly { state: string }[]>;

export interface ReapplicationDeps {
  messages: Pick<MessageApi, 'send'>;
  recruiterOf: RecruiterOf;
  offerStates: OfferStatesOf;
  candidateStreamPrefix: string;
  /**
   * Every stream of the candidate's person, the live row's first (the candidates module's
   * `candidateStreams`): an offer may have ended on a row merged into another since. Default: the
   * record's stream alone.
   */
  personStreams?: (corpId: string, candidateId: string) => Promise<string[]>;
  quietMs: number;
  /** Older contacts are recorded, not sent (default DEFAULT_REAPPLICATION_MAX_AGE_MS). */
  maxAgeMs: number;
  now: () => number;
}

/** Whether a record is the candidate appearing: their own message, a contact added, a position tied again, a merge. */
export function isContact(r: Pick<StoredRecord, 'kind' | 'payload'>): boolean {
  const p = obj(r.payload);
  switch (r.kind) {
    case CONVERSATION_KINDS.message:
      return p?.['role'] === 'candidate';
    case CANDIDATE_KINDS.link:
      return typeof p?.['reason'] === 'string' && p['reason'].startsWith('contact_add');
    case CANDIDATE_KINDS.position:
    case CANDIDATE_KINDS.merged:
      return true;
    default:
      return false;
  }
}

const CONTACT_KINDS: ReadonlySet<string> = new Set([
  CONVERSATION_KINDS.message,
  CANDIDATE_KINDS.link,
  CANDIDATE_KINDS.position,
  CANDIDATE_KINDS.merged,
]);

/** A stream's records, page by page. */
async function streamRecords(ctx: Pick<ConsumerContext, 'reader'>, stream: string): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let after = 0;
  for (;;) {
    const page = await ctx.reader.readStream(stream, { afterSeq: after, limit: 1000 });
    out.push(...page);
    if (page.length < 1000) return out;
    after = (page.at(-1) as StoredRecord).seq;
  }
}

/**
 * What was known before a record: the records before it, and the signal hits of messages before it
 * (a hit is recorded shortly after its message, possibly after a later message arrived).
 */
function knownBefore(all: readonly StoredRecord[], seq: number): StoredRecord[] {
  return all.filter((r) => {
    if (r.seq < seq) return true;
    if (r.source !== SIGNALS_SOURCE || r.kind !== SIGNAL_KINDS.hit) return false;
    const m = obj(obj(r.payload)?.['message']);
    return typeof m?.['seq'] === 'number' && m['seq'] < seq;
  });
}

export function reapplicationConsumer(deps: ReapplicationDeps): LedgerConsumer {
  return {
    accepts: (h) => CONTACT_KINDS.has(h.kind) && h.stream.startsWith(deps.candidateStreamPrefix),
    async handle(record, ctx) {
      if (!isContact(record)) return;
      const person = deps.personStreams
        ? await deps.personStreams(ctx.corpId, record.stream.slice(deps.candidateStreamPrefix.length))
        : [];
      // The live row first: the history is recorded on its stream and its recruiter told.
      const streams = person.length > 0 ? person : [record.stream];
      const rows = streams.map((s) => s.slice(deps.candidateStreamPrefix.length));
      const candidateId = rows[0] as string;
      // Cheap first: most candidates never had an offer end.
      const states = (await Promise.all(rows.map((id) => deps.offerStates(ctx.corpId, id)))).flat();
      if (!states.some((o) => ENDED_STATES.has(o.state))) return;
      const all = (await Promise.all(streams.map((s) => streamRecords(ctx, s)))).flat().sort((a, b) => a.seq - b.seq);
      const earlier = all.filter((r) => r.seq < record.seq);
      const ended = earlier.filter((r) => r.source === OFFERS_SOURCE && ENDED_OFFER_KINDS.has(r.kind)).at(-1);
      if (!ended) return;
      const quietUntil = ended.occurredAt.getTime() + deps.quietMs;
      if (record.occurredAt.getTime() < quietUntil) return;
      // Only the first contact after the outcome (and its quiet period) brings the history; its job did
      // it. Only contacts on the outcome's own stream count: one on another row was handled while that
      // row was not yet this person's (merged since), and never saw the outcome. Later contacts on
      // other rows stop at the record below (and the send key is per outcome).
      if (
        earlier.some(
          (r) => r.stream === ended.stream && r.seq > ended.seq && isContact(r) && r.occurredAt.getTime() >= quietUntil,
        )
      )
        return;
      // Already recorded for this outcome (a job run again after its commit).
      if (all.some((r) => r.kind === REAPPLICATION_KINDS.reapplied && obj(obj(r.payload)?.['after'])?.['seq'] === ended.seq))
        return;

      const history = reapplicationHistory(knownBefore(all, record.seq));
      const told = await deps.recruiterOf(ctx.corpId, candidateId);
      const recruiter = told ? memberUserId(told) : null;
      const text = reapplicationText(history, candidateId, record.occurredAt);
      const key = REAPPLICATION_SEND_KEYS.summary(ended.seq, ended.hash);
      const stale = deps.now() - record.occurredAt.getTime() > deps.maxAgeMs;
      let sent: { msgid: string } | null = null;
      if (recruiter && !stale) {
        // The send first, outside any transaction, keyed by the outcome: a re-run finds it recorded and sends nothing.
        const answer = await deps.messages.send(
          { touser: recruiter, msgtype: 'text', text: { content: text } },
          { idempotencyKey: key },
        );
        sent = { msgid: answer.msgid };
      } else if (stale) {
        ctx.log.info({ candidateId, seq: record.seq }, 'reapplication: the contact is too old to tell anyone now; recorded only');
      } else {
        ctx.log.warn(
          { candidateId, seq: record.seq },
          'reapplication: no recruiter known for the candidate; recorded as undeliverable',
        );
      }
      const endedPayload = obj(ended.payload);
      const entry: EvidenceEntry = {
        stream: streams[0] as string,
        kind: REAPPLICATION_KINDS.reapplied,
        occurredAt: new Date(deps.now()),
        actor: HIRELEDGER_ACTOR,
        source: SIGNALS_SOURCE,
        sourceRef: REAPPLICATION_SOURCE_REFS.reapplied(ended.seq),
        payload: {
          candidate_id: candidateId,
          trigger: { seq: record.seq, hash: record.hash, kind: record.kind },
          after: {
            seq: ended.seq,
            hash: ended.hash,
            kind: ended.kind,
            offer_id: str(endedPayload?.['offer_id']),
            reason_code: str(endedPayload?.['reason_code']),
          },
          offers: history.offers.map((o) => ({
            offer_id: o.offerId,
            version: o.version,
            content_sha256: o.contentSha256,
            outcome: o.outcome,
            reason_code: o.reasonCode,
            record: o.record,
          })),
          interviews: history.interviews.map((i) => i.record),
          signals: history.signals.map((s) => ({ type: s.type, rule: s.rule, rule_version: s.ruleVersion, record: s.record })),
          questions: history.questions.map((q) => q.code),
          recruiter,
          status: sent ? 'sent' : stale ? 'not_sent' : 'undeliverable',
          ...(sent ? { send_key: key, msgid: sent.msgid } : { reason: stale ? 'stale' : 'no_recruiter' }),
          message_sha256: createHash('sha256').update(text, 'utf8').digest('hex'),
        },
        raw: null,
      };
      // A record already stored under this key means this very summary was recorded: nothing to add.
      await ctx.transact(() => Promise.resolve({ result: null, entries: [entry], allowDuplicates: true }));
      ctx.log.info(
        { candidateId, after: ended.seq, questions: history.questions.length },
        're-applicant: history sent to the recruiter',
      );
    },
  };
}
