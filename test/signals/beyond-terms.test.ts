import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  amountsIn,
  annualPackage,
  beyondTerms,
  chineseInt,
  normalize,
  statementsIn,
  type ApprovedOffer,
  type BeyondFinding,
} from '../../src/signals';

/**
 * Over-promise beyond the approved terms, pure: the number parser (三万五, 3.5万, 35k, 40W, 35,000),
 * the statements read out of a message (salary and its period, 13 薪, bonus months, level, start
 * date, title, department) and the comparison with an approved offer, on the labelled examples of
 * test/fixtures/signals/beyond-terms.jsonl (positives and negatives).
 */

/** The approved version every labelled example is compared with. */
const OFFER: ApprovedOffer = {
  offerId: `of_${'1'.repeat(32)}`,
  version: 2,
  contentSha256: 'ab'.repeat(32),
  positionTitle: '后端工程师',
  terms: {
    baseMonthlyYuan: 30000,
    salaryMonths: 13,
    annualBonusTargetYuan: 60000,
    bonusNote: '',
    level: 'P6',
    department: '基础架构部',
    startDate: '2026-12-07',
  },
};
/** The examples were written on Thursday 2026-11-26, 12:00 Beijing time. */
const AT = new Date('2026-11-26T04:00:00.000Z');

interface Example {
  text: string;
  beyond: BeyondFinding['field'][];
}

const examples: Example[] = readFileSync(join(__dirname, '../fixtures/signals/beyond-terms.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Example);

describe('numbers as people write them', () => {
  test.each([
    ['35k', 35000],
    ['35K', 35000],
    ['3.5万', 35000],
    ['三万五', 35000],
    ['三万五千', 35000],
    ['3万5', 35000],
    ['3 万 6', 36000],
    ['35000', 35000],
    ['35,000', 35000],
    ['40W', 400000],
    ['四十万', 400000],
    ['一万二', 12000],
    ['两万', 20000],
    ['三千五', 3500],
  ])('%s is %d yuan', (written, yuan) => {
    expect(amountsIn(normalize(written)).map((a) => a.yuan)).toEqual([yuan]);
  });

  test.each([['3月1日'], ['13薪'], ['3个月'], ['P7'], ['2027年'], ['十五'], ['12个人']])('%s is no amount', (written) => {
    expect(amountsIn(normalize(written))).toEqual([]);
  });

  test('Chinese numerals below 10,000, the way they are said', () => {
    expect([chineseInt('十五'), chineseInt('二十'), chineseInt('一百二'), chineseInt('三千五'), chineseInt('三五')]).toEqual([
      15,
      20,
      120,
      3500,
      null,
    ]);
  });
});

describe('statements in a message', () => {
  test('the salary period comes from the word beside it, else from the size', () => {
    const kinds = (t: string) =>
      statementsIn(t, AT).map((s) => (s.kind === 'salary' ? [s.period, s.yuan, s.periodFrom] : [s.kind]));
    expect(kinds('月薪3万5')).toEqual([['monthly', 35000, '月薪']]);
    expect(kinds('年薪50万')).toEqual([['annual', 500000, '年薪']]);
    expect(kinds('40w年包')).toEqual([['annual', 400000, '年包']]);
    expect(kinds('给你35k')).toEqual([['monthly', 35000, 'size']]);
    expect(kinds('薪资 60万')).toEqual([['annual', 600000, 'size']]);
    // No salary word and no k/w: a number, not a salary.
    expect(kinds('我们公司有35000人')).toEqual([]);
  });

  test('relative start dates are read against the day the message was written (Asia/Shanghai)', () => {
    const dates = (t: string, at = AT) => statementsIn(t, at).flatMap((s) => (s.kind === 'start_date' ? [s.date] : []));
    expect(dates('下周一入职')).toEqual(['2026-11-30']);
    expect(dates('这周五来报到')).toEqual(['2026-11-27']);
    expect(dates('明天直接来上班')).toEqual(['2026-11-27']);
    expect(dates('下个月1号入职')).toEqual(['2026-12-01']);
    expect(dates('3月1日入职')).toEqual(['2027-03-01']);
    expect(dates('入职时间定在12月7日')).toEqual(['2026-12-07']);
    expect(dates('2027-01-04入职')).toEqual(['2027-01-04']);
    // 23:30 UTC on the 26th is already Friday the 27th in Beijing: 明天 is the 28th.
    expect(dates('明天入职', new Date('2026-11-26T23:30:00.000Z'))).toEqual(['2026-11-28']);
    // A date without a start verb is no start date (an interview).
    expect(dates('周三下午两点面试')).toEqual([]);
  });
});

describe('beyond the approved terms: the labelled examples', () => {
  test('the fixture has positives and negatives', () => {
    expect(examples.filter((e) => e.beyond.length > 0).length).toBeGreaterThanOrEqual(20);
    expect(examples.filter((e) => e.beyond.length === 0).length).toBeGreaterThanOrEqual(20);
  });

  test.each(examples.map((e) => [e.text, e.beyond] as const))('%s → %j', (text, expected) => {
    const fields = [...new Set(beyondTerms(text, OFFER, AT).map((f) => f.field))].sort();
    expect(fields).toEqual([...expected].sort());
  });

  test('a finding says what was stated, what was approved and why, with the span of the words', () => {
    const text = '放心，月薪给你3万5，下周一直接来上班';
    const findings = beyondTerms(text, OFFER, AT);
    expect(findings).toEqual([
      {
        field: 'base_monthly_yuan',
        code: 'above',
        stated: 35000,
        approved: 30000,
        why: '月薪 ¥35,000 高于审批通过的月基本工资 ¥30,000',
        match: { start: 7, end: 10, text: '3万5' },
      },
      {
        field: 'start_date',
        code: 'earlier',
        stated: '2026-11-30',
        approved: '2026-12-07',
        why: '入职日期 2026-11-30 早于审批通过的 2026-12-07',
        match: { start: 11, end: 19, text: '下周一直接来上班' },
      },
    ]);
    for (const f of findings) expect(text.slice(f.match.start, f.match.end)).toBe(f.match.text);
  });

  test('the annual package is base × months + the target bonus; no target bonus and no note: any bonus promise is beyond', () => {
    expect(annualPackage(OFFER)).toBe(30000 * 13 + 60000);
    expect(beyondTerms('年包45万', OFFER, AT)).toEqual([]);
    expect(beyondTerms('年包45万1千', OFFER, AT).map((f) => f.field)).toEqual(['annual_package_yuan']);
    const noBonus: ApprovedOffer = { ...OFFER, terms: { ...OFFER.terms, annualBonusTargetYuan: null } };
    expect(beyondTerms('年终奖给你1个月', noBonus, AT).map((f) => [f.field, f.approved])).toEqual([
      ['annual_bonus_target_yuan', null],
    ]);
    const withNote: ApprovedOffer = { ...noBonus, terms: { ...noBonus.terms, bonusNote: '按绩效发放' } };
    expect(beyondTerms('年终奖给你1个月', withNote, AT)).toEqual([]);
  });

  test('a level of another ladder, and an unknown title, are not compared', () => {
    expect(beyondTerms('职级T9', OFFER, AT)).toEqual([]);
    expect(beyondTerms('职位是技术专家', { ...OFFER, positionTitle: null }, AT)).toEqual([]);
  });
});
