import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createClassifier,
  DEFAULT_RULES,
  evaluate,
  normalize,
  overlayRules,
  parseLabelled,
  parseRuleFile,
  SignalRuleError,
  type SignalRole,
  type SignalRule,
  type SignalType,
} from '../../src/signals';

/**
 * The shipped rules on the labelled set and on the cases the issue names: negations, questions and
 * advice are not hits; spans point into what was written; an unsaved rule change is tried without
 * the database. Speed is the benchmark's business (npm run bench:signals), never asserted here.
 */

const fixtures = join(__dirname, '..', 'fixtures', 'signals');
const load = (name: string) => parseLabelled(readFileSync(join(fixtures, name), 'utf8'), name);
const classifier = createClassifier(DEFAULT_RULES);
const types = (role: SignalRole, text: string): SignalType[] => classifier.classify(role, text).map((h) => h.type);

describe('the labelled set', () => {
  test('is large enough, in both parts, with every type and plenty of messages that are no signal', () => {
    const tuning = load('tuning.jsonl');
    const heldout = load('heldout.jsonl');
    expect(tuning.length + heldout.length).toBeGreaterThanOrEqual(300);
    expect(heldout.length).toBeGreaterThanOrEqual(100);
    for (const set of [tuning, heldout]) {
      for (const type of ['hesitation', 'resigned_before_offer', 'over_promise'] as const)
        expect(set.filter((m) => m.labels.includes(type)).length).toBeGreaterThanOrEqual(20);
      expect(set.filter((m) => m.labels.length === 0).length).toBeGreaterThanOrEqual(50);
    }
    // No message of one part is in the other.
    const seen = new Set(tuning.map((m) => `${m.role}:${m.text}`));
    expect(heldout.filter((m) => seen.has(`${m.role}:${m.text}`))).toEqual([]);
  });

  test('tuning part: every type at precision and recall ≥ 0.95', () => {
    const { scores, mistakes } = evaluate(classifier, load('tuning.jsonl'));
    for (const s of scores) {
      expect({ type: s.type, ok: s.precision >= 0.95 && s.recall >= 0.95, mistakes }).toEqual({
        type: s.type,
        ok: true,
        mistakes,
      });
    }
  });

  test('held-out part (never tuned on): every type at precision and recall ≥ 0.85, so a regression fails', () => {
    // The floor sits below what the shipped rules reach (bench:signals prints it) and above chance.
    const { scores } = evaluate(classifier, load('heldout.jsonl'));
    for (const s of scores) {
      expect({ type: s.type, precision: s.precision >= 0.85, recall: s.recall >= 0.85 }).toEqual({
        type: s.type,
        precision: true,
        recall: true,
      });
    }
  });
});

describe('what is not a hit', () => {
  test.each<[SignalRole, string]>([
    // advice and conditions: the opposite of an over-promise
    ['recruiter', '请在收到正式offer之前不要提出离职'],
    ['recruiter', '建议你等offer审批下来再辞职'],
    ['recruiter', '辞职的事千万别冲动，以正式offer为准'],
    ['recruiter', '先别辞职 等offer'],
    // questions
    ['recruiter', '你辞职了吗？'],
    ['recruiter', '你那边离职流程走完了吗'],
    ['recruiter', 'offer没问题吧？'],
    ['recruiter', '你下周一能来报到吗？'],
    ['candidate', '需要我先辞职吗？'],
    ['candidate', '离职要提前一个月通知吧？'],
    // negations
    ['candidate', '我没有辞职'],
    ['candidate', '我还没提离职'],
    ['candidate', '不用考虑了，我接受'],
    ['candidate', '我没有犹豫 就选你们'],
    ['recruiter', '我没法保证一定录用'],
    ['recruiter', '我们不会口头承诺任何offer'],
    // somebody else
    ['candidate', '我朋友上个月辞职了'],
    // a candidate's intention, not a fact
    ['candidate', '拿到正式offer之后我再提离职'],
    // the wrong role for the words
    ['recruiter', '我再考虑一下'],
    ['candidate', '下周一直接来上班'],
  ])('%s: %s', (role, text) => {
    expect(types(role, text)).toEqual([]);
  });

  test('a question is still hesitation when asking is the hesitation itself', () => {
    expect(types('candidate', '薪资能否再谈？')).toEqual(['hesitation']);
    expect(types('candidate', '能给我几天时间考虑吗')).toEqual(['hesitation']);
  });
});

describe('hits', () => {
  test.each<[SignalRole, string, SignalType[]]>([
    ['candidate', '我再考虑一下', ['hesitation']],
    ['candidate', '薪资能否再谈', ['hesitation']],
    ['candidate', '还在等其他offer', ['hesitation']],
    ['candidate', '家里人还要商量', ['hesitation']],
    ['candidate', '我已经提离职了', ['resigned_before_offer']],
    ['candidate', '我这边已经辞职了', ['resigned_before_offer']],
    ['candidate', '我已经辞职了，但薪资还想再谈谈', ['hesitation', 'resigned_before_offer']],
    ['recruiter', '你肯定被录用了', ['over_promise']],
    ['recruiter', 'offer没问题', ['over_promise']],
    ['recruiter', '可以先辞职', ['over_promise']],
    ['recruiter', '下周一直接来上班', ['over_promise']],
    // traditional characters, full-width letters, a pinyin typo, voice input without punctuation
    ['candidate', '我這邊已經離職了', ['resigned_before_offer']],
    ['recruiter', 'ＯＦＦＥＲ没问题', ['over_promise']],
    ['candidate', '我在考滤一下', ['hesitation']],
    ['recruiter', '你这个肯定没问题的老板那边我已经打过招呼了你就放心吧', ['over_promise']],
  ])('%s: %s', (role, text, expected) => {
    expect(types(role, text)).toEqual(expected);
  });

  test('a hit names its rule, the rule version and the span of the original text', () => {
    const text = '嗯 我這邊已經離職了 😂';
    const [hit] = classifier.classify('candidate', text);
    expect(hit).toEqual({
      type: 'resigned_before_offer',
      rule: 'res.already',
      ruleVersion: 1,
      match: { start: 5, end: 9, text: '已經離職' },
    });
    expect(text.slice(hit?.match.start, hit?.match.end)).toBe(hit?.match.text);
  });

  test('folding keeps the length, so spans survive it', () => {
    for (const s of ['ＯＦＦＥＲ？', '離職證明', '考滤一下 😂', 'Offer 沒問題']) expect(normalize(s)).toHaveLength(s.length);
    expect(normalize('ＯＦＦＥＲ？離職 考滤')).toBe('offer?离职 考虑');
  });

  test('with an approved offer, only hesitation is judged (beyond-the-terms comparison comes with offers)', () => {
    expect(classifier.classify('candidate', '我已经提离职了', { approved: true }).map((h) => h.type)).toEqual([]);
    expect(classifier.classify('recruiter', 'offer没问题', { approved: true })).toEqual([]);
    expect(classifier.classify('candidate', '我再考虑一下', { approved: true }).map((h) => h.type)).toEqual(['hesitation']);
  });
});

describe('rules as data', () => {
  const base: SignalRule = DEFAULT_RULES[0] as SignalRule;

  test('an unsaved change from a rule file is tried without saving: a new term, a disabled rule', () => {
    const patches = parseRuleFile(
      JSON.stringify([
        { id: 'hes.reconsider', terms: [...base.terms, '让我缓缓'] },
        { id: 'ovp.resign_now', enabled: false },
        { id: 'hes.relocation', type: 'hesitation', terms: ['不想搬家'], guards: { question: false } },
      ]),
    );
    const tried = createClassifier(overlayRules(DEFAULT_RULES, patches));
    expect(types('candidate', '让我缓缓')).toEqual([]);
    expect(tried.classify('candidate', '让我缓缓')).toEqual([
      { type: 'hesitation', rule: 'hes.reconsider', ruleVersion: 2, match: { start: 0, end: 4, text: '让我缓缓' } },
    ]);
    expect(tried.classify('recruiter', '可以先辞职').map((h) => h.rule)).toEqual([]);
    expect(tried.classify('candidate', '说实话不想搬家').map((h) => `${h.rule}@${h.ruleVersion}`)).toEqual(['hes.relocation@1']);
    expect(() => overlayRules(DEFAULT_RULES, parseRuleFile('[{"id":"x.new","terms":["a"]}]'))).toThrow(/needs a "type"/);
    expect(() => parseRuleFile('[{"id":"hes.reconsider","colour":"red"}]')).toThrow();
  });

  test('a rule that cannot run safely is refused', () => {
    const bad = (patch: Partial<SignalRule>) => () => createClassifier([{ ...base, ...patch }]);
    expect(bad({ patterns: ['(a+)+$'] })).toThrow(SignalRuleError);
    expect(bad({ patterns: ['(?:'] })).toThrow(/does not compile/);
    expect(bad({ patterns: ['x?'] })).toThrow(/empty text/);
    expect(bad({ terms: [], patterns: [] })).toThrow(/at least one/);
    expect(bad({ id: 'Bad Id' })).toThrow(/id must be/);
    // Left out and reported, when asked to (rules edited in the database)
    const invalid: string[] = [];
    const c = createClassifier([{ ...base, patterns: ['(a+)+$'] }, DEFAULT_RULES[5] as SignalRule], {
      onInvalid: (r) => invalid.push(r.id),
    });
    expect(invalid).toEqual([base.id]);
    expect(c.classify('candidate', '我已经辞职了').map((h) => h.type)).toEqual(['resigned_before_offer']);
  });
});
