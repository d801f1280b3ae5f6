import { createHash } from 'node:crypto';
import { canonicalize } from '../../src/evidence';
import { contentSha256, diffContent, diffText, OfferInputError, offerContent, termsOf, type OfferTerms } from '../../src/offers';

/** The offer content: validation, its canonical hash, and the Chinese diff between versions. No database. */

const TERMS: OfferTerms = {
  baseMonthlyYuan: 30000,
  salaryMonths: 13,
  annualBonusTargetYuan: 60000,
  bonusNote: '按季度绩效发放',
  level: 'P6',
  department: '基础架构部',
  location: '上海',
  startDate: '2027-01-04',
  probationMonths: 3,
  acceptanceDeadline: new Date('2026-12-08T10:00:00.000Z'),
  terms: '入职需提供离职证明',
};

describe('offer content', () => {
  test('every key is present, money in whole yuan, the deadline a UTC millisecond string', () => {
    expect(offerContent('be-2026-01', TERMS)).toEqual({
      schema: 'offer.content/1',
      position_id: 'be-2026-01',
      base_monthly_yuan: 30000,
      salary_months: 13,
      annual_bonus_target_yuan: 60000,
      bonus_note: '按季度绩效发放',
      level: 'P6',
      department: '基础架构部',
      location: '上海',
      start_date: '2027-01-04',
      probation_months: 3,
      acceptance_deadline: '2026-12-08T10:00:00.000Z',
      terms: '入职需提供离职证明',
    });
    expect(termsOf(offerContent('be-2026-01', TERMS))).toEqual(TERMS);
  });

  test('the hash is SHA-256 of the RFC 8785 canonical JSON, independent of key order', () => {
    const c = offerContent('be-2026-01', TERMS);
    const expected = createHash('sha256').update(canonicalize(c)).digest('hex');
    expect(contentSha256(c)).toBe(expected);
    const reordered = Object.fromEntries(Object.entries(c).reverse());
    expect(contentSha256(reordered)).toBe(expected);
    expect(contentSha256({ ...c, base_monthly_yuan: 30001 })).not.toBe(expected);
  });

  test.each([
    ['a fraction of a yuan', { baseMonthlyYuan: 30000.5 }, '月基本工资'],
    ['no salary', { baseMonthlyYuan: 0 }, '月基本工资'],
    ['probation beyond six months (劳动合同法 art. 19)', { probationMonths: 7 }, '试用期'],
    ['11 monthly salaries', { salaryMonths: 11 }, '年薪月数'],
    ['an impossible date', { startDate: '2027-02-30' }, '入职日期'],
    ['an empty level', { level: '  ' }, '职级'],
    ['an invalid deadline', { acceptanceDeadline: new Date('nope') }, '截止'],
  ])('refused: %s', (_name, change, message) => {
    expect(() => offerContent('be-2026-01', { ...TERMS, ...change })).toThrow(OfferInputError);
    expect(() => offerContent('be-2026-01', { ...TERMS, ...change })).toThrow(message);
  });

  test('the diff lists what changed, in the fields’ order, readable in Chinese; nothing for unchanged fields', () => {
    const before = offerContent('be-2026-01', TERMS);
    const after = offerContent('be-2026-01', {
      ...TERMS,
      baseMonthlyYuan: 35000,
      annualBonusTargetYuan: null,
      location: '北京',
      probationMonths: 0,
      acceptanceDeadline: new Date('2026-12-10T10:00:00.000Z'),
    });
    const changes = diffContent(before, after);
    expect(changes.map((c) => c.field)).toEqual([
      'base_monthly_yuan',
      'annual_bonus_target_yuan',
      'location',
      'probation_months',
      'acceptance_deadline',
    ]);
    expect(diffText(changes)).toBe(
      [
        '月基本工资：¥30,000/月 → ¥35,000/月',
        '年度目标奖金：¥60,000 → 无',
        '工作地点：上海 → 北京',
        '试用期：3 个月 → 无试用期',
        '接受截止时间：2026-12-08 18:00（北京时间） → 2026-12-10 18:00（北京时间）',
      ].join('\n'),
    );
    expect(changes[0]).toMatchObject({ label: '月基本工资', from: 30000, to: 35000 });
    expect(diffContent(before, before)).toEqual([]);
  });
});
