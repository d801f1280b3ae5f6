import { countWork } from '../support/work';

/**
 * The counter the cost tests rest on (test/support/work.ts): what it counts for each built-in, that
 * `test`, `replace` and `split` reach a patched `exec` on this Node, and that the built-ins are put
 * back whatever happens.
 */

describe('countWork', () => {
  test('string searches: from the start to the match, or to the end when none', () => {
    const s = 'abcdefghij';
    const { work } = countWork({ searches: true }, () => [
      s.indexOf('d'), // 4
      s.indexOf('z', 2), // 8
      s.includes('j'), // 10
      s.lastIndexOf('b'), // 10 - 1 = 9
      s.startsWith('abc'), // 3
      s.indexOf('a', Number.NaN), // from 0: 1
    ]);
    expect(work.reads).toEqual([4, 8, 10, 9, 3, 1]);
  });

  test('regular expressions: test, replace and split go through the counted exec', () => {
    const s = 'x'.repeat(100);
    const { work } = countWork({ regex: true }, () => {
      /y/.test(s);
      s.replace(/y/g, '');
      s.split(/y/);
      /x/y.exec(s);
    });
    // test and replace searched the whole string and found nothing; split tries a sticky copy at
    // each position (one character each); the sticky match read one character.
    expect(work.reads.slice(0, 2)).toEqual([100, 100]);
    expect(work.calls).toBeGreaterThanOrEqual(2 + 100 + 1);
    expect(work.reads.slice(2).every((n) => n === 1)).toBe(true);
  });

  test('the built-ins are put back after a throw, and an async function is refused', async () => {
    /* eslint-disable @typescript-eslint/unbound-method -- compared, never called */
    const [indexOf, exec] = [String.prototype.indexOf, RegExp.prototype.exec];
    expect(() =>
      countWork({ searches: true, regex: true }, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(String.prototype.indexOf).toBe(indexOf);
    expect(RegExp.prototype.exec).toBe(exec);
    expect(() => countWork({ regex: true }, async () => Promise.resolve(1))).toThrow(/synchronous/);
    expect(RegExp.prototype.exec).toBe(exec);
    /* eslint-enable @typescript-eslint/unbound-method */
  });
});
