import {
  createClassifier,
  MAX_JUDGED_LENGTH,
  SignalRuleError,
  validateRule,
  type SignalRule,
} from '../../src/signals/classifier';
import { DEFAULT_RULES } from '../../src/signals/defaults';
import { MAX_PATTERN_WAYS, patternWays } from '../../src/signals/pattern-cost';
import { countWork } from '../support/work';

/**
 * Review of issue 9: rules are saved by an admin and run on every message a candidate writes, so a
 * pattern that can backtrack without end is a denial of service of the worker. The earlier check
 * refused only `(x+)+`; each pattern below passed it and holds the event loop for seconds to
 * hours on a short message.
 */

const base: SignalRule = {
  id: 'hes.review',
  type: 'hesitation',
  version: 1,
  description: '',
  terms: [],
  patterns: [],
  guards: { negation: false, question: false, advice: false, thirdParty: false },
  enabled: true,
};

describe('rule patterns whose cost is unbounded are refused', () => {
  test.each([
    ['((a+))+b', 'a group in a group'],
    ['(a|a)*b', 'overlapping alternatives under a star'],
    ['(?:a|aa)+b', 'alternatives under a plus'],
    ['(.*a){12}', 'a star under a fixed repetition'],
    ['a*a*a*a*a*a*b', 'stars in sequence (polynomial of degree 6)'],
    ['(?:.{0,20}){0,20}x', 'bounded, but 21^20 ways'],
    ['a{0,50}a{0,50}a{0,50}x', 'bounded, but 51^3 ways'],
    ['(a)\\1', 'a back-reference'],
    ['(?=a+)a', 'a lookahead'],
  ])('%s (%s)', (pattern) => {
    expect(() => validateRule({ ...base, patterns: [pattern] })).toThrow(SignalRuleError);
  });

  test('every shipped pattern is within the bound, and the shipped rules still compile', () => {
    for (const r of DEFAULT_RULES) for (const p of r.patterns) expect(patternWays(p)).toBeLessThanOrEqual(MAX_PATTERN_WAYS);
    expect(() => createClassifier(DEFAULT_RULES)).not.toThrow();
  });

  test('the costliest pattern the bound allows is judged on a hostile 10,000-character message, in one pass', () => {
    // 1,000 ways at each position, on a text made to match as far as possible and then fail. How
    // long the backtracking takes is printed by `npm run bench:signals` (a test bounds the ways, and
    // counts what the classifier hands the regular expressions: never the clock).
    const worst = 'a{0,9}a{0,9}a{0,9}x';
    expect(patternWays(worst)).toBe(MAX_PATTERN_WAYS);
    expect(() => validateRule({ ...base, patterns: [worst] })).not.toThrow();
    expect(() => validateRule({ ...base, patterns: ['a{0,9}a{0,9}a{0,10}x'] })).toThrow(SignalRuleError);
    const c = createClassifier([{ ...base, patterns: [worst] }]);
    const miss = countWork({ regex: true, searches: true }, () => c.classify('candidate', 'a'.repeat(10_000)));
    expect(miss.result).toEqual([]);
    // One search over the message for the rule, and the folding's few passes: not one per position.
    expect(miss.work.calls).toBeLessThan(20);
    expect(miss.work.chars).toBeLessThanOrEqual(10 * 10_000);
    expect(c.classify('candidate', `${'a'.repeat(9_999)}x`).map((h) => h.match)).toEqual([
      { start: 9_972, end: 10_000, text: `${'a'.repeat(27)}x` },
    ]);
  });

  test(`a message longer than ${MAX_JUDGED_LENGTH.toLocaleString('en-US')} characters is judged on its first ${MAX_JUDGED_LENGTH.toLocaleString('en-US')}`, () => {
    const c = createClassifier([{ ...base, patterns: ['a{0,9}a{0,9}a{0,9}x'] }]);
    const judged = countWork({ regex: true, searches: true }, () => c.classify('candidate', 'a'.repeat(MAX_JUDGED_LENGTH)));
    const long = countWork({ regex: true, searches: true }, () => c.classify('candidate', `${'a'.repeat(100_000)}x`));
    // The x at 100,000 is past what is judged: no hit, and no more work than for the judged part.
    expect(long.result).toEqual([]);
    expect(long.work.chars).toBe(judged.work.chars);
    // Within the judged part, a hit's span is exact.
    expect(c.classify('candidate', `${'a'.repeat(50)}x${'b'.repeat(20_000)}`).map((h) => h.match.end)).toEqual([51]);
  });

  test('ordinary admin patterns are still accepted', () => {
    for (const p of [
      '(?:先|再)考虑[^,.!?]{0,8}(?:一下|几天)',
      'think\\s{0,3}about',
      '[0-9]{1,3}号',
      '(?<when>明天|后天)来',
      '\\bok\\b',
    ])
      expect(() => validateRule({ ...base, patterns: [p] })).not.toThrow();
  });
});
