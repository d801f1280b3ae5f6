import { ACCEPTANCE_KINDS } from '../../acceptance';
import { APPROVAL_KINDS } from '../../approvals';
import { CANDIDATE_KINDS, CANDIDATE_STREAMS } from '../../candidates';
import { CONVERSATION_KINDS } from '../../conversations';
import type { JsonValue, StoredRecord } from '../../evidence';
import { MEMBER_KINDS } from '../../members';
import { OFFER_KINDS } from '../../offers';
import { CHANNEL_LABEL, ROLE_LABEL, type TimelineEntry } from '../../timeline';
import { hitOf, obj, STAGE_LABEL, stageOf, str, type StageKey } from './stages';
import { beijing, maskLast4, utcTime } from './text';
import type { LegalDocumentsInput } from './types';

/**
 * What the documents show, worked out once from the input (the HTML, and through it the PDF, and
 * the CSV all read this): the timeline rows in time order with their stages, the people behind
 * each account, and the evidence list. Pure: the same input gives the same model.
 */

export interface TimelineRow {
  at: Date;
  who: string;
  what: string;
  channel: string;
  seq: number;
  hash: string;
  /** A `candidate.link` row: the record it links (which is what the row shows). */
  linked: { seq: number; hash: string } | null;
  stage: StageKey | null;
  /** The first approval of an offer: the divider goes before this row. */
  firstApproval: boolean;
}

export interface CandidateProfileFact {
  name: string;
  externalUserId: string;
  type: string;
  corpName: string;
  followUsers: string;
  at: Date;
  seq: number;
  hash: string;
}

export interface ConfirmationFact {
  what: string;
  name: string;
  phone: string;
  check: string;
  ip: string;
  at: Date;
  seq: number;
  hash: string;
}

export interface MemberFact {
  userid: string;
  roles: string[];
  profile: { name: string; department: string; position: string; at: Date; seq: number; hash: string } | null;
}

export interface EvidenceItem {
  no: number;
  name: string;
  /** When, in Beijing time to the second (a range for a group of records), or '' for files about the whole bundle. */
  when: string;
  /** The same instant or range in UTC, without the word (LEGAL.md: Beijing time, with UTC beside it). */
  whenUtc: string;
  source: string;
  where: string;
  seq: string;
  hash: string;
}

export interface DocumentModel {
  candidateName: string;
  rows: TimelineRow[];
  profiles: CandidateProfileFact[];
  confirmations: ConfirmationFact[];
  members: MemberFact[];
  evidence: EvidenceItem[];
  firstSeq: number | null;
  lastSeq: number | null;
}

/** Actors that are no person: the app itself, WeCom's system account. */
const NOT_A_PERSON = new Set(['hireledger', 'sys', 'wecom', '']);
const USERID = /^[a-z0-9_.@-]{1,64}$/;

const CONTACT_TYPE: Readonly<Record<string, string>> = { '1': '微信用户', '2': '企业微信用户' };

const PHONE_CHECK: Readonly<Record<string, string>> = {
  matched: '与招聘方登记的手机号一致',
  mismatch: '与招聘方登记的手机号不一致（操作被拒绝）',
  none_recorded: 'HireLedger 中未登记该候选人的手机号，未比对（企业微信联系人备注中的手机号见“企业微信联系人资料”）',
  not_checked: '未配置核对密钥，未比对',
};

const CONFIRMATION_WHAT: Readonly<Record<string, string>> = {
  [OFFER_KINDS.accepted]: '接受 offer 时本人填写',
  [OFFER_KINDS.declined]: '拒绝 offer 时本人填写',
  [ACCEPTANCE_KINDS.linkRefused]: '确认页面身份核对未通过（操作被拒绝）',
};

const SOURCE_LABEL: Readonly<Record<string, string>> = {
  'wecom.kf': '微信客服（企业微信 kf 接口）',
  'wecom.msgaudit': '企业微信会话内容存档',
  'hireledger.offers': 'HireLedger offer 流程',
  'hireledger.approvals': '企业微信审批（经 HireLedger）',
  'hireledger.acceptance': 'offer 确认页面（H5）',
  'hireledger.signals': 'HireLedger 风险信号（规则自动识别）',
  'hireledger.candidates': 'HireLedger 候选人档案',
  'hireledger.members': '企业微信通讯录',
};

function sourceLabel(source: string): string {
  return SOURCE_LABEL[source] ?? (source.startsWith('wecom.') ? `企业微信（${source}）` : source);
}

const text = (v: JsonValue | undefined): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

/** The kind and payload a timeline entry stands for: a link stands for the record it links. */
function shownRecord(
  entry: TimelineEntry,
  bySeq: ReadonlyMap<number, StoredRecord>,
): { kind: string; payload: JsonValue | undefined } {
  const linked = entry.linked?.record;
  if (linked) return { kind: linked.kind, payload: bySeq.get(linked.seq)?.payload };
  return { kind: entry.kind, payload: bySeq.get(entry.seq)?.payload };
}

function latestName(records: readonly StoredRecord[]): string | undefined {
  let name: string | undefined;
  for (const r of records) {
    if (r.kind !== CANDIDATE_KINDS.profile) continue;
    const n = str(obj(obj(r.payload)?.['external_contact'])?.['name']);
    if (n !== undefined && n.trim() !== '') name = n;
  }
  return name;
}

function memberProfiles(records: readonly StoredRecord[]): Map<string, NonNullable<MemberFact['profile']>> {
  const out = new Map<string, NonNullable<MemberFact['profile']>>();
  for (const r of records) {
    if (r.kind !== MEMBER_KINDS.profile) continue;
    const p = obj(r.payload);
    const userid = str(p?.['userid'])?.toLowerCase();
    if (userid === undefined) continue;
    const dept = p?.['department'];
    out.set(userid, {
      name: text(p?.['name']),
      department: Array.isArray(dept) ? dept.map(text).join('、') : text(dept),
      position: text(p?.['position']),
      at: r.occurredAt,
      seq: r.seq,
      hash: r.hash,
    });
  }
  return out;
}

function whoOf(
  entry: TimelineEntry,
  stage: StageKey | null,
  names: ReadonlyMap<string, string>,
  candidateIds: ReadonlySet<string>,
): string {
  const actor = entry.who.actor;
  if (NOT_A_PERSON.has(actor.toLowerCase())) return ROLE_LABEL[entry.who.role] ?? entry.who.role;
  // WeCom's approval is the system's step, but the member who approved is a person: say who they were.
  const approver = entry.who.role === 'system' && (stage === 'approved' || stage === 'approval');
  const role = approver ? '审批人' : (ROLE_LABEL[entry.who.role] ?? entry.who.role);
  const name = names.get(actor) ?? names.get(actor.toLowerCase());
  if (name === undefined || name === '') return `${role}（${actor}）`;
  // The candidate's own accounts are on the cover and in the identity section; any other account is named here.
  return candidateIds.has(actor) ? `${role} ${name}` : `${role} ${name}（${actor}）`;
}

function rowsOf(
  input: LegalDocumentsInput,
  bySeq: ReadonlyMap<number, StoredRecord>,
  names: ReadonlyMap<string, string>,
): TimelineRow[] {
  // The messages a resignation (or over-promise) hit was found in carry the hit's stage too.
  const hitMessages = new Map<number, StageKey>();
  for (const e of input.entries) {
    const shown = shownRecord(e, bySeq);
    const hit = hitOf(shown.kind, shown.payload);
    const stage = stageOf(shown.kind, shown.payload);
    if (hit && hit.messageSeq !== null && stage !== null) hitMessages.set(hit.messageSeq, stage);
  }
  const candidateIds = new Set(personIds(input.candidate));
  const rows = input.entries.map((e): TimelineRow => {
    const shown = shownRecord(e, bySeq);
    const linked = e.linked ? { seq: e.linked.seq, hash: e.linked.hash } : null;
    const stage =
      stageOf(shown.kind, shown.payload) ?? hitMessages.get(e.seq) ?? (linked ? (hitMessages.get(linked.seq) ?? null) : null);
    return {
      at: new Date(e.occurred_at),
      who: whoOf(e, stage, names, candidateIds),
      what: e.summary,
      channel: e.channel ? CHANNEL_LABEL[e.channel] : '',
      seq: e.seq,
      hash: e.hash,
      linked,
      stage,
      firstApproval: false,
    };
  });
  // The source's clock orders what people said; seq (the ledger's order) breaks ties.
  // By the second, then by seq: WeCom's clocks (CreateTime, send_time) are whole seconds while
  // HireLedger's own are milliseconds, so within one second only the ledger's order is meaningful
  // (an approval's node callback must not read as before the submission that caused it).
  const second = (d: Date) => Math.floor(d.getTime() / 1000);
  rows.sort((a, b) => second(a.at) - second(b.at) || a.seq - b.seq);
  const first = rows.find((r) => r.stage === 'approved');
  if (first) first.firstApproval = true;
  return rows;
}

function profilesOf(records: readonly StoredRecord[]): CandidateProfileFact[] {
  return records
    .filter((r) => r.kind === CANDIDATE_KINDS.profile)
    .map((r) => {
      const p = obj(r.payload);
      const c = obj(p?.['external_contact']);
      const follow = Array.isArray(p?.['follow_user']) ? p['follow_user'] : [];
      return {
        name: text(c?.['name']),
        externalUserId: text(c?.['external_userid']) || text(p?.['external_userid']),
        type: CONTACT_TYPE[text(c?.['type'])] ?? text(c?.['type']),
        corpName: text(c?.['corp_name']),
        followUsers: follow
          .map((f) => {
            const fo = obj(f);
            const remark = text(fo?.['remark']);
            // The phone numbers a recruiter noted on the contact, masked: beside the acceptance
            // page's phone check, so a reader sees both (the check compares only numbers entered
            // in HireLedger, kept as HMACs, not WeCom's remarks).
            const mobiles = Array.isArray(fo?.['remark_mobiles'])
              ? fo['remark_mobiles'].map((m) => maskLast4(text(m))).filter((m) => m !== '')
              : [];
            return `${text(fo?.['userid'])}${remark ? `（备注：${remark}）` : ''}${mobiles.length ? `（备注手机号：${mobiles.join('、')}）` : ''}`;
          })
          .filter((s) => s !== '')
          .join('、'),
        at: r.occurredAt,
        seq: r.seq,
        hash: r.hash,
      };
    });
}

function confirmationsOf(records: readonly StoredRecord[]): ConfirmationFact[] {
  const out: ConfirmationFact[] = [];
  for (const r of records) {
    const what = CONFIRMATION_WHAT[r.kind];
    if (what === undefined) continue;
    const p = obj(r.payload);
    // offer.accepted/declined carry it under `confirmation`; a refused attempt carries it inline.
    const c = r.kind === ACCEPTANCE_KINDS.linkRefused ? p : obj(p?.['confirmation']);
    if (!c) continue;
    const phone = text(c['phone_masked']) || text(c['phone']);
    out.push({
      what,
      name: text(c['name']),
      phone: phone ? maskLast4(phone) : '',
      check: PHONE_CHECK[text(c['phone_check'])] ?? text(c['phone_check']),
      ip: text(c['ip']) || text(p?.['ip']),
      at: r.occurredAt,
      seq: r.seq,
      hash: r.hash,
    });
  }
  return out;
}

/**
 * The members who took part, with what they did: the recruiters who wrote, drafted or sent, the
 * approvers the routing named and those who approved. The exporter brings each one's directory
 * record into the bundle from the same list (src/legal/export.ts).
 */
/**
 * Every id the candidate acts under in the records: each row's `cd_…` id (a merged person has
 * several, one per stream) and each WeCom account (`externalUserId` lists them comma-separated).
 */
export function personIds(candidate: LegalDocumentsInput['candidate']): string[] {
  const rows = (candidate.streams ?? [candidate.stream]).flatMap((s) => CANDIDATE_STREAMS.candidateOf(s) ?? []);
  const accounts = candidate.externalUserId.split(', ').filter((a) => a !== '');
  return [...new Set([candidate.id, ...rows, ...accounts])];
}

export function involvedMembers(input: Pick<LegalDocumentsInput, 'entries' | 'records' | 'candidate'>): Map<string, Set<string>> {
  const roles = new Map<string, Set<string>>();
  const candidate = new Set(personIds(input.candidate).map((id) => id.toLowerCase()));
  const add = (userid: string | undefined, role: string) => {
    const u = userid?.toLowerCase();
    if (u === undefined || NOT_A_PERSON.has(u) || !USERID.test(u)) return;
    if (candidate.has(u)) return;
    const set = roles.get(u) ?? new Set<string>();
    set.add(role);
    roles.set(u, set);
  };
  for (const e of input.entries) if (e.who.role === 'recruiter') add(e.who.actor, '招聘人员');
  for (const r of input.records) {
    const p = obj(r.payload);
    if (r.kind === CANDIDATE_KINDS.recruiter) add(str(p?.['recruiter']), '负责招聘人员');
    if (r.kind === OFFER_KINDS.created) add(r.actor, '招聘人员（起草 offer）');
    if (r.kind === OFFER_KINDS.sent) add(r.actor, '招聘人员（发出 offer）');
    if (r.kind === OFFER_KINDS.approved) add(r.actor, '审批人');
    if (r.kind === APPROVAL_KINDS.routed && Array.isArray(p?.['approvers'])) {
      for (const node of p['approvers']) {
        const ids = obj(node)?.['userids'];
        if (Array.isArray(ids)) for (const id of ids) add(str(id), '审批流程中的审批人');
      }
    }
  }
  return roles;
}

function membersOf(input: LegalDocumentsInput): MemberFact[] {
  const roles = involvedMembers(input);
  const profiles = memberProfiles(input.records);
  return [...roles.keys()].sort().map((userid) => ({
    userid,
    roles: [...(roles.get(userid) ?? [])].sort(),
    profile: profiles.get(userid) ?? null,
  }));
}

/** An instant or the span of several, in Beijing time and in UTC: `when` and `whenUtc` of an evidence item. */
function span(ds: readonly Date[]): { when: string; whenUtc: string } {
  if (ds.length === 0) return { when: '', whenUtc: '' };
  const ms = ds.map((d) => d.getTime());
  const [first, last] = [new Date(Math.min(...ms)), new Date(Math.max(...ms))];
  // Shown to the second: a span within one second is one time.
  const of = (f: (d: Date) => string) => (f(first) === f(last) ? f(first) : `${f(first)} 至 ${f(last)}`);
  return { when: of(beijing), whenUtc: of(utcTime) };
}

function has(files: readonly string[], name: string): boolean {
  return files.includes(name);
}

function evidenceOf(
  input: LegalDocumentsInput,
  model: Omit<DocumentModel, 'evidence'>,
  bySeq: ReadonlyMap<number, StoredRecord>,
): EvidenceItem[] {
  const items: Omit<EvidenceItem, 'no'>[] = [];
  const files = input.bundleFiles;
  const at = (seq: number) => `records.jsonl（seq ${seq}）；timeline.pdf`;
  const cp = input.checkpoint;
  items.push({
    name: `签名检查点（树大小 ${cp.size}，根哈希 ${cp.rootHash}）、公钥及见证记录（witnesses.json，可能为空）`,
    source: `HireLedger 证据账本（Ed25519 签名；保管人：${input.system.keyHolder}）`,
    where: ['checkpoint.txt', 'public-key.txt', 'witnesses.json', 'statement.txt'].filter((f) => has(files, f)).join('；'),
    ...span([cp.signedAt]),
    seq: '',
    hash: '',
  });
  if (model.firstSeq !== null && model.lastSeq !== null) {
    items.push({
      name: `本候选人的全部记录（${input.records.length} 条）及每条记录的包含证明`,
      source: 'HireLedger 证据账本',
      where: ['records.jsonl', 'proofs.jsonl'].filter((f) => has(files, f)).join('；'),
      ...span(input.records.map((r) => r.occurredAt)),
      seq: `${model.firstSeq}–${model.lastSeq}`,
      hash: '',
    });
  }
  for (const row of model.rows) {
    if (row.stage === null) continue;
    const record = bySeq.get(row.linked?.seq ?? row.seq) ?? bySeq.get(row.seq);
    items.push({
      // A summary that already begins with its stage's name (面试邀请：…) is not prefixed twice.
      name: row.what.startsWith(STAGE_LABEL[row.stage]) ? row.what : `${STAGE_LABEL[row.stage]}：${row.what}`,
      source: row.channel || (record ? sourceLabel(record.source) : ''),
      where: at(row.seq),
      ...span([row.at]),
      seq: String(row.seq),
      hash: row.hash,
    });
  }
  for (const p of model.profiles) {
    items.push({
      name: `企业微信联系人资料（${p.name || p.externalUserId}）`,
      source: '企业微信 externalcontact/get',
      where: at(p.seq),
      ...span([p.at]),
      seq: String(p.seq),
      hash: p.hash,
    });
  }
  for (const c of model.confirmations) {
    items.push({
      name: `候选人身份确认：${c.what}`,
      source: 'offer 确认页面（H5）',
      where: at(c.seq),
      ...span([c.at]),
      seq: String(c.seq),
      hash: c.hash,
    });
  }
  for (const m of model.members) {
    if (!m.profile) continue;
    items.push({
      name: `企业微信通讯录记录：${m.userid}${m.profile.name ? `（${m.profile.name}）` : ''}`,
      source: '企业微信通讯录',
      where: at(m.profile.seq),
      ...span([m.profile.at]),
      seq: String(m.profile.seq),
      hash: m.profile.hash,
    });
  }
  // Conversations, one line per channel: the timeline lists every message.
  const byChannel = new Map<string, number[]>();
  const timesOf = new Map<string, Date[]>();
  for (const r of input.records) {
    if (r.kind !== CONVERSATION_KINDS.message) continue;
    const label = sourceLabel(r.source);
    byChannel.set(label, [...(byChannel.get(label) ?? []), r.seq]);
    timesOf.set(label, [...(timesOf.get(label) ?? []), r.occurredAt]);
  }
  for (const [label, seqs] of [...byChannel.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    items.push({
      name: `聊天记录（${seqs.length} 条）`,
      source: label,
      where: 'records.jsonl；timeline.pdf',
      ...span(timesOf.get(label) ?? []),
      seq: `${seqs[0]}–${seqs.at(-1)}`,
      hash: '',
    });
  }
  const media = files.filter((f) => f.startsWith('media/')).length;
  if (media > 0)
    items.push({
      name: `媒体文件（${media} 个，文件名即其 SHA-256）`,
      source: '企业微信',
      where: 'media/',
      ...span([]),
      seq: '',
      hash: '',
    });
  const named: [string, string, string][] = [
    ['completeness.json', '完整性报告（渠道、范围、缺口、占位、授权）', 'HireLedger'],
    ['custody.jsonl', '保管记录（本检查点之前谁在何时导出过本候选人的证据）', 'HireLedger'],
    ['format.md', '证据格式说明', 'HireLedger'],
    ['verify.html', '离线验证页面（浏览器）', 'HireLedger'],
  ];
  for (const [file, name, source] of named)
    if (has(files, file)) items.push({ name, source, where: file, ...span([]), seq: '', hash: '' });
  items.push({
    name: '证据时间线（本文件）',
    source: 'HireLedger 据以上记录生成',
    where: 'timeline.pdf；timeline.html',
    ...span([]),
    seq: '',
    hash: '',
  });
  return items.map((item, i) => ({ no: i + 1, ...item }));
}

export function buildModel(input: LegalDocumentsInput): DocumentModel {
  const bySeq = new Map(input.records.map((r) => [r.seq, r]));
  const candidateName = input.candidate.name ?? latestName(input.records) ?? '';
  const names = new Map<string, string>();
  for (const [userid, p] of memberProfiles(input.records)) if (p.name) names.set(userid, p.name);
  if (candidateName) {
    for (const id of personIds(input.candidate)) names.set(id, candidateName);
  }
  // Records come in seq order, but a min/max pass costs nothing and does not depend on it.
  let firstSeq: number | null = null;
  let lastSeq: number | null = null;
  for (const r of input.records) {
    if (firstSeq === null || r.seq < firstSeq) firstSeq = r.seq;
    if (lastSeq === null || r.seq > lastSeq) lastSeq = r.seq;
  }
  const base = {
    candidateName,
    rows: rowsOf(input, bySeq, names),
    profiles: profilesOf(input.records),
    confirmations: confirmationsOf(input.records),
    members: membersOf(input),
    firstSeq,
    lastSeq,
  };
  return { ...base, evidence: evidenceOf(input, base, bySeq) };
}
