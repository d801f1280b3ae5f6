import { createHash } from 'node:crypto';
import { canonicalize, type JsonValue } from '../evidence';
import { OfferInputError } from './errors';

/**
 * The terms of one offer version, their canonical hash and the readable diff between versions.
 *
 * Money is in whole yuan (元), integers only, like the positions' salary band
 * (src/candidates/positions.ts) and the ledger (DECISIONS 6: integers only in stored JSON): an
 * offer never states fractions of a yuan, and the band comparison of the approval routing is then a
 * plain integer comparison. The base salary is monthly (月基本工资), before tax; `salary_months` is
 * the number of monthly salaries a year (the structure, e.g. 13 for "13 薪").
 *
 * The stored content has every key, absent values as null, so that the same terms always give the
 * same canonical JSON (RFC 8785, the evidence module's `canonicalize`) and the same SHA-256.
 */

export interface OfferTerms {
  /** Monthly base salary before tax, whole yuan. */
  baseMonthlyYuan: number;
  /** Monthly salaries a year (12 to 24): the salary structure, e.g. 13 for 13 薪. */
  salaryMonths: number;
  /** Annual target bonus, whole yuan; null when none is promised. */
  annualBonusTargetYuan: number | null;
  /** How the bonus works (绩效奖金、签字费…); empty when none. */
  bonusNote: string;
  level: string;
  department: string;
  location: string;
  /** First working day, a calendar date in Asia/Shanghai: `YYYY-MM-DD`. */
  startDate: string;
  /** 0 to 6 months (劳动合同法 art. 19 allows at most six). */
  probationMonths: number;
  /** The stated acceptance deadline (民法典 art. 476), or null when the offer states none. */
  acceptanceDeadline: Date | null;
  /** Free-text terms. */
  terms: string;
}

/** The stored and hashed form (schema `offer.content/1`). */
export interface OfferContent {
  [key: string]: JsonValue;
  schema: 'offer.content/1';
  position_id: string;
  base_monthly_yuan: number;
  salary_months: number;
  annual_bonus_target_yuan: number | null;
  bonus_note: string;
  level: string;
  department: string;
  location: string;
  start_date: string;
  probation_months: number;
  /** UTC, to the millisecond: `2026-12-01T10:00:00.000Z`. */
  acceptance_deadline: string | null;
  terms: string;
}

export const CONTENT_SCHEMA = 'offer.content/1';

const MAX_YUAN = 100_000_000;

function text(value: unknown, label: string, max: number, { empty = false } = {}): string {
  if (typeof value !== 'string') throw new OfferInputError(`${label}必须是文字`);
  const v = value.trim();
  if (!empty && v === '') throw new OfferInputError(`${label}不能为空`);
  if (v.length > max) throw new OfferInputError(`${label}不能超过${max}个字`);
  if (v.includes('\u0000') || !v.isWellFormed()) throw new OfferInputError(`${label}含有无效字符`);
  return v;
}

function int(value: unknown, label: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new OfferInputError(`${label}必须是 ${min} 到 ${max} 之间的整数`);
  }
  return value;
}

/** A real calendar date `YYYY-MM-DD`. */
export function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const d = new Date(`${value}T00:00:00.000Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
}

/** Validates the terms and gives the content that is stored and hashed. */
export function offerContent(positionId: string, terms: OfferTerms): OfferContent {
  const startDate = text(terms.startDate, '入职日期', 10);
  if (!isCalendarDate(startDate)) throw new OfferInputError('入职日期格式应为 YYYY-MM-DD');
  let deadline: string | null = null;
  if (terms.acceptanceDeadline !== null) {
    if (!(terms.acceptanceDeadline instanceof Date) || Number.isNaN(terms.acceptanceDeadline.getTime())) {
      throw new OfferInputError('接受截止时间无效');
    }
    deadline = terms.acceptanceDeadline.toISOString();
  }
  return {
    schema: CONTENT_SCHEMA,
    position_id: text(positionId, '职位', 26),
    base_monthly_yuan: int(terms.baseMonthlyYuan, '月基本工资（元）', 1, MAX_YUAN),
    salary_months: int(terms.salaryMonths, '年薪月数', 12, 24),
    annual_bonus_target_yuan:
      terms.annualBonusTargetYuan === null ? null : int(terms.annualBonusTargetYuan, '年度目标奖金（元）', 0, MAX_YUAN),
    bonus_note: text(terms.bonusNote, '奖金说明', 1000, { empty: true }),
    level: text(terms.level, '职级', 64),
    department: text(terms.department, '部门', 200),
    location: text(terms.location, '工作地点', 200),
    start_date: startDate,
    probation_months: int(terms.probationMonths, '试用期（月）', 0, 6),
    acceptance_deadline: deadline,
    terms: text(terms.terms, '其他条款', 10_000, { empty: true }),
  };
}

/** SHA-256 (lower-case hex) of the content's canonical JSON: what an approval approves and a send must match. */
export function contentSha256(content: JsonValue): string {
  return createHash('sha256').update(canonicalize(content), 'utf8').digest('hex');
}

/** The terms back from stored content (the inverse of offerContent). */
export function termsOf(content: OfferContent): OfferTerms {
  return {
    baseMonthlyYuan: content.base_monthly_yuan,
    salaryMonths: content.salary_months,
    annualBonusTargetYuan: content.annual_bonus_target_yuan,
    bonusNote: content.bonus_note,
    level: content.level,
    department: content.department,
    location: content.location,
    startDate: content.start_date,
    probationMonths: content.probation_months,
    acceptanceDeadline: content.acceptance_deadline === null ? null : new Date(content.acceptance_deadline),
    terms: content.terms,
  };
}

/** `¥35,000` */
export function yuan(n: number): string {
  return `¥${String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}`;
}

/** A moment in Beijing time (China keeps no daylight saving: UTC+8 all year): `2026-12-01 18:00（北京时间）`. */
export function beijingTime(iso: string): string {
  const d = new Date(new Date(iso).getTime() + 8 * 3600_000).toISOString();
  return `${d.slice(0, 10)} ${d.slice(11, 16)}（北京时间）`;
}

/** Today's date in Asia/Shanghai, `YYYY-MM-DD`. */
export function shanghaiDate(at: Date): string {
  return new Date(at.getTime() + 8 * 3600_000).toISOString().slice(0, 10);
}

type Field =
  | 'position_id'
  | 'base_monthly_yuan'
  | 'salary_months'
  | 'annual_bonus_target_yuan'
  | 'bonus_note'
  | 'level'
  | 'department'
  | 'location'
  | 'start_date'
  | 'probation_months'
  | 'acceptance_deadline'
  | 'terms';

/** A value as plain text: strings as they are, anything else as its JSON. */
function plain(v: JsonValue): string {
  return typeof v === 'string' ? v : canonicalize(v);
}

/** Labels and how a value reads, in the order a diff lists them. */
const FIELDS: readonly { field: Field; label: string; show: (v: JsonValue) => string }[] = [
  { field: 'position_id', label: '职位', show: plain },
  { field: 'base_monthly_yuan', label: '月基本工资', show: (v) => `${yuan(v as number)}/月` },
  { field: 'salary_months', label: '年薪月数', show: (v) => `${plain(v)} 薪` },
  { field: 'annual_bonus_target_yuan', label: '年度目标奖金', show: (v) => (v === null ? '无' : yuan(v as number)) },
  { field: 'bonus_note', label: '奖金说明', show: (v) => (v === '' ? '（空）' : `“${plain(v)}”`) },
  { field: 'level', label: '职级', show: plain },
  { field: 'department', label: '部门', show: plain },
  { field: 'location', label: '工作地点', show: plain },
  { field: 'start_date', label: '入职日期', show: plain },
  { field: 'probation_months', label: '试用期', show: (v) => (v === 0 ? '无试用期' : `${plain(v)} 个月`) },
  { field: 'acceptance_deadline', label: '接受截止时间', show: (v) => (v === null ? '未规定' : beijingTime(v as string)) },
  { field: 'terms', label: '其他条款', show: (v) => (v === '' ? '（空）' : `“${plain(v)}”`) },
];

export interface OfferChange {
  [key: string]: JsonValue;
  field: string;
  label: string;
  from: JsonValue;
  to: JsonValue;
  /** One readable line: `月基本工资：¥30,000/月 → ¥35,000/月`. */
  text: string;
}

/** What changed from one version to the next, field by field, in Chinese. */
export function diffContent(before: OfferContent, after: OfferContent): OfferChange[] {
  const changes: OfferChange[] = [];
  for (const { field, label, show } of FIELDS) {
    const from = before[field];
    const to = after[field];
    if (canonicalize(from) === canonicalize(to)) continue;
    changes.push({ field, label, from, to, text: `${label}：${show(from)} → ${show(to)}` });
  }
  return changes;
}

/** The diff as one text, one change a line. */
export function diffText(changes: readonly OfferChange[]): string {
  return changes.map((c) => c.text).join('\n');
}
