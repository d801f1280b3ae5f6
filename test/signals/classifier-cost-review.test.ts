import { CLAUSE_REACH, createClassifier } from '../../src/signals/classifier';
import { DEFAULT_RULES } from '../../src/signals/defaults';
import { countWork } from '../support/work';

/**
 * Review of issue 9: the guards looked at a match's whole clause, found by scanning from the match
 * to the nearest punctuation. A message without punctuation (voice input, or a candidate pasting
 * one phrase thousands of times) with a guarded match every few characters made every match scan
 * the whole message: over half a second per 10,000-character message, on the worker's event loop.
 *
 * The cost is counted, not timed (test/support/work.ts): every guard is a regular expression tried
 * on a window around one match, so what the guards read per match must not grow with the message.
 * `npm run bench:signals` prints how long these messages take.
 */

const classifier = createClassifier(DEFAULT_RULES);

/** The widest window a guard may read: a clause cut at CLAUSE_REACH on each side of a match. */
const longestMatch = 12;
const widestWindow = 2 * CLAUSE_REACH + longestMatch;

describe('the classifier on hostile long messages', () => {
  test.each([
    ['candidate', '没再考虑'],
    ['recruiter', '不是肯定录用'],
    ['recruiter', '如果offer没问题'],
    ['candidate', '我朋友已经辞职了'],
  ] as const)('%s: "%s" repeated to 10,000 characters: the guards read a bounded window per match', (role, unit) => {
    const message = (length: number) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
    const short = countWork({ regexTest: true }, () => classifier.classify(role, message(2_500)));
    const long = countWork({ regexTest: true }, () => classifier.classify(role, message(10_000)));
    // The messages are made of turned-down matches: the guards ran on many of them.
    expect(long.result).toEqual(short.result);
    expect(long.work.calls).toBeGreaterThan(1_000);
    // No guard read more than a clause cut at the reach (the bug: whole 10,000-character messages).
    // One read of the whole message is the folding's (normalize.ts: is any misspelling in it).
    expect(long.work.reads.filter((n) => n > widestWindow)).toEqual([10_000]);
    // Four times the message, four times the guard calls and characters (within a tenth): linear.
    expect(long.work.calls / short.work.calls).toBeGreaterThan(3.6);
    expect(long.work.calls / short.work.calls).toBeLessThan(4.4);
    expect(long.work.chars / short.work.chars).toBeLessThan(4.4);
  });

  test('a message with punctuation: the guards read its clauses, not the reach', () => {
    const text = '我再考虑一下，'.repeat(1_000);
    const { result, work } = countWork({ regexTest: true }, () => classifier.classify('candidate', text));
    expect(result.map((h) => h.type)).toEqual(['hesitation']);
    expect(work.reads.filter((n) => n > '我再考虑一下'.length)).toEqual([text.length]);
  });

  test('guards still judge within the clause', () => {
    expect(classifier.classify('candidate', '我没有再考虑').map((h) => h.type)).toEqual([]);
    expect(classifier.classify('candidate', '我再考虑一下').map((h) => h.type)).toEqual(['hesitation']);
    expect(classifier.classify('recruiter', '请在收到正式offer之前不要提出离职').map((h) => h.type)).toEqual([]);
  });
});
