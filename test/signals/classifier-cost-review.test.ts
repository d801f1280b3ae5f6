import { createClassifier } from '../../src/signals/classifier';
import { DEFAULT_RULES } from '../../src/signals/defaults';
import { countWork } from '../support/work';

/**
 * Review of issue 9: the guards looked at a match's whole clause, found by scanning from the match
 * to the nearest punctuation. A message without punctuation (voice input, or a candidate pasting
 * one phrase thousands of times) with a guarded match every few characters made every match scan
 * the whole message: over half a second per 10,000-character message, on the worker's event loop.
 *
 * The cost is counted, not timed (test/support/work.ts): what the classifier hands to the regular
 * expressions and string searches must grow with the message, not with its square. (The clause
 * scan reads characters by index through a regular expression per character: counted as calls.)
 * `npm run bench:signals` prints how long these messages take.
 */

const classifier = createClassifier(DEFAULT_RULES);

/** What judging a message may hand the built-ins per character of it (measured: at most ~71). */
const CHARS_PER_CHARACTER = 100;

describe('the classifier on hostile long messages', () => {
  test.each([
    ['candidate', '没再考虑'],
    ['recruiter', '不是肯定录用'],
    ['recruiter', '如果offer没问题'],
    ['candidate', '我朋友已经辞职了'],
  ] as const)('%s: "%s" repeated to 10,000 characters: the work grows with the message, not with its square', (role, unit) => {
    const message = (length: number) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
    const counted = { regex: true, searches: true };
    const short = countWork(counted, () => classifier.classify(role, message(2_500)));
    const long = countWork(counted, () => classifier.classify(role, message(10_000)));
    // The messages are made of turned-down matches: the guards ran on many of them.
    expect(long.result).toEqual(short.result);
    expect(long.work.calls).toBeGreaterThan(1_000);
    // Four times the message, four times the calls and characters (within a tenth): linear. The
    // bug (each guard's clause the whole message) gave sixteen times.
    expect(long.work.calls / short.work.calls).toBeGreaterThan(3.6);
    expect(long.work.calls / short.work.calls).toBeLessThan(4.4);
    expect(long.work.chars / short.work.chars).toBeLessThan(4.4);
    expect(long.work.chars).toBeLessThanOrEqual(CHARS_PER_CHARACTER * 10_000);
  });

  test('a message with punctuation: judged at its first hit, its clause read, not the rest', () => {
    const text = '我再考虑一下，'.repeat(1_000);
    const { result, work } = countWork({ regex: true, searches: true }, () => classifier.classify('candidate', text));
    expect(result.map((h) => h.type)).toEqual(['hesitation']);
    // The folding reads the message (a few passes); the rules stop at the first hit.
    expect(work.calls).toBeLessThan(50);
    expect(work.chars).toBeLessThanOrEqual(10 * text.length);
  });

  test('guards still judge within the clause', () => {
    expect(classifier.classify('candidate', '我没有再考虑').map((h) => h.type)).toEqual([]);
    expect(classifier.classify('candidate', '我再考虑一下').map((h) => h.type)).toEqual(['hesitation']);
    expect(classifier.classify('recruiter', '请在收到正式offer之前不要提出离职').map((h) => h.type)).toEqual([]);
  });
});
