import { statementsIn, clauseAround, type Statement } from './amounts';
import { turnedDown, type ApprovedOffer, type RuleGuards, type SignalHit } from './classifier';
import { normalize } from './normalize';

/**
 * Over-promise beyond the approved terms (issue 10 item 5): once the candidate's offer is approved
 * (or sent, accepted), what a recruiter writes is compared with the terms of that approved version.
 * A promise beyond them is an `over_promise` hit of the built-in rule `ovp.beyond_terms`, naming the
 * approved version and content hash, what was stated and why it is beyond. Pure: the terms and the
 * time of the message are passed in.
 *
 * Beyond means (docs/signals.md, "Beyond the approved terms"):
 * - a monthly salary above the approved monthly base;
 * - an annual amount above the approved annual package (base × salary months + target bonus);
 * - more monthly salaries a year (15 薪 where 13 was approved);
 * - a year-end bonus of N months worth more than the approved target bonus (or any, when none and
 *   no bonus note was approved);
 * - a higher level of the same ladder (P7 where P6 was approved; another ladder is not compared);
 * - a start date other than the approved one (earlier or later: either is a term nobody approved);
 * - a title or department that is not the approved one (neither contains the other).
 *
 * Conservative: the clause must not be negated, a question or advice (the lexicon rules' guards),
 * must not talk about the candidate's own expectation or current pay (期望, 目前, 现在, 上家…) or
 * refuse it (给不了, 超出预算…); ranges and amounts without a salary word are not read (amounts.ts).
 */

export const BEYOND_TERMS_RULE = { id: 'ovp.beyond_terms', version: 1 } as const;

const GUARDS: RuleGuards = { negation: true, question: true, advice: true, thirdParty: false };

/** The clause speaks of the candidate's ask or present pay, or refuses it: not a promise. */
const NOT_A_PROMISE =
  /期望|预期|要求|想要|希望|目前|现在|当前|之前|以前|原来|上家|上一家|现公司|原公司|给不了|达不到|做不到|满足不了|超出预算|超预算|没办法|申请不下来|批不下来/;

export type BeyondCode = 'above' | 'more' | 'higher' | 'earlier' | 'later' | 'different';

export interface BeyondFinding {
  /** The approved term it goes beyond. */
  field:
    | 'base_monthly_yuan'
    | 'annual_package_yuan'
    | 'salary_months'
    | 'annual_bonus_target_yuan'
    | 'level'
    | 'start_date'
    | 'position_title'
    | 'department';
  code: BeyondCode;
  stated: string | number;
  approved: string | number | null;
  /** Why, in Chinese, for the alert and the timeline. */
  why: string;
  match: { start: number; end: number; text: string };
}

/** `¥35,000` */
function yuan(n: number): string {
  return `¥${String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}`;
}

/** The approved annual package: base × months + the target bonus. */
export function annualPackage(offer: ApprovedOffer): number {
  return offer.terms.baseMonthlyYuan * offer.terms.salaryMonths + (offer.terms.annualBonusTargetYuan ?? 0);
}

const LEVEL_SHAPE = /^([A-Za-z])\s?(\d{1,2})$/;

function sameName(stated: string, approved: string): boolean {
  const a = normalize(stated).replace(/\s/g, '');
  const b = normalize(approved).replace(/\s/g, '');
  return a !== '' && b !== '' && (a.includes(b) || b.includes(a));
}

function judge(s: Statement, offer: ApprovedOffer): Omit<BeyondFinding, 'match'> | null {
  const t = offer.terms;
  switch (s.kind) {
    case 'salary':
      if (s.period === 'monthly' && s.yuan > t.baseMonthlyYuan)
        return {
          field: 'base_monthly_yuan',
          code: 'above',
          stated: s.yuan,
          approved: t.baseMonthlyYuan,
          why: `月薪 ${yuan(s.yuan)} 高于审批通过的月基本工资 ${yuan(t.baseMonthlyYuan)}`,
        };
      if (s.period === 'annual' && s.yuan > annualPackage(offer))
        return {
          field: 'annual_package_yuan',
          code: 'above',
          stated: s.yuan,
          approved: annualPackage(offer),
          why: `年薪 ${yuan(s.yuan)} 高于审批通过的年度总额 ${yuan(annualPackage(offer))}（${yuan(t.baseMonthlyYuan)} × ${t.salaryMonths} 薪${t.annualBonusTargetYuan ? ` + 目标奖金 ${yuan(t.annualBonusTargetYuan)}` : ''}）`,
        };
      return null;
    case 'salary_months':
      return s.months > t.salaryMonths
        ? {
            field: 'salary_months',
            code: 'more',
            stated: s.months,
            approved: t.salaryMonths,
            why: `${s.months} 薪多于审批通过的 ${t.salaryMonths} 薪`,
          }
        : null;
    case 'bonus_months': {
      const worth = s.months * t.baseMonthlyYuan;
      if (t.annualBonusTargetYuan === null) {
        if (t.bonusNote.trim() !== '') return null; // a bonus exists, its size not stated: not compared
        return {
          field: 'annual_bonus_target_yuan',
          code: 'above',
          stated: worth,
          approved: null,
          why: `承诺年终奖 ${s.months} 个月，审批通过的 offer 没有目标奖金`,
        };
      }
      return worth > t.annualBonusTargetYuan
        ? {
            field: 'annual_bonus_target_yuan',
            code: 'above',
            stated: worth,
            approved: t.annualBonusTargetYuan,
            why: `年终奖 ${s.months} 个月（约 ${yuan(worth)}）高于审批通过的目标奖金 ${yuan(t.annualBonusTargetYuan)}`,
          }
        : null;
    }
    case 'level': {
      const approved = LEVEL_SHAPE.exec(t.level.trim());
      const stated = LEVEL_SHAPE.exec(s.level);
      if (!approved || !stated) return null;
      if ((approved[1] ?? '').toUpperCase() !== (stated[1] ?? '').toUpperCase()) return null;
      return Number(stated[2]) > Number(approved[2])
        ? { field: 'level', code: 'higher', stated: s.level, approved: t.level, why: `职级 ${s.level} 高于审批通过的 ${t.level}` }
        : null;
    }
    case 'start_date':
      if (s.date === t.startDate) return null;
      return {
        field: 'start_date',
        code: s.date < t.startDate ? 'earlier' : 'later',
        stated: s.date,
        approved: t.startDate,
        why: `入职日期 ${s.date} ${s.date < t.startDate ? '早于' : '不同于'}审批通过的 ${t.startDate}`,
      };
    case 'title':
      if (!offer.positionTitle || sameName(s.name, offer.positionTitle)) return null;
      return {
        field: 'position_title',
        code: 'different',
        stated: s.name,
        approved: offer.positionTitle,
        why: `职位「${s.name}」不是审批通过的「${offer.positionTitle}」`,
      };
    case 'department':
      if (t.department.trim() === '' || sameName(s.name, t.department)) return null;
      return {
        field: 'department',
        code: 'different',
        stated: s.name,
        approved: t.department,
        why: `部门「${s.name}」不是审批通过的「${t.department}」`,
      };
    default:
      return null;
  }
}

/**
 * Every statement in a recruiter's message that goes beyond the approved terms, in order. `at` is
 * when the message was written (relative dates are read against that day, Asia/Shanghai).
 */
export function beyondTerms(original: string, offer: ApprovedOffer, at: Date): BeyondFinding[] {
  const folded = normalize(original);
  const out: BeyondFinding[] = [];
  for (const s of statementsIn(original, at)) {
    const finding = judge(s, offer);
    if (!finding) continue;
    if (turnedDown(GUARDS, folded, s.start, s.end)) continue;
    const clause = clauseAround(folded, s.start, s.end);
    if (NOT_A_PROMISE.test(folded.slice(clause.from, clause.to))) continue;
    out.push({ ...finding, match: { start: s.start, end: s.end, text: original.slice(s.start, s.end) } });
  }
  return out;
}

/** The hit of a message with findings: the first finding's span explains it; all are recorded. */
export function beyondHit(findings: readonly BeyondFinding[]): SignalHit | null {
  const first = findings[0];
  if (!first) return null;
  return { type: 'over_promise', rule: BEYOND_TERMS_RULE.id, ruleVersion: BEYOND_TERMS_RULE.version, match: first.match };
}
