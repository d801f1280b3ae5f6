/**
 * Work counted, not timed. Tests bound an algorithm's cost (linear in its input, bounded per match)
 * by counting what it hands to the string and regular-expression built-ins while it runs: the same
 * count on every machine, where a clock (even CPU time) moves with load, coverage instrumentation and
 * the JIT, and fails a correct change or passes a wrong one. How fast is for `bench/`.
 *
 * Only the built-ins named are counted, and only calls made through their prototypes (which is how
 * `s.indexOf(…)` and `re.test(…)` are called); characters a loop reads by index are not.
 */

export interface Work {
  /** Calls to the counted built-ins. */
  calls: number;
  /** Characters they were given to read (see `countWork`). */
  chars: number;
  /** The most characters any one call was given. */
  longest: number;
  /** What each call was given, in order. */
  reads: number[];
}

export interface Counted {
  /** `s.indexOf(search, from)`: from `from` to the end of the match, or to the end of `s` when none. */
  indexOf?: boolean;
  /** `s.charCodeAt(i)`: one character. */
  charCodeAt?: boolean;
  /** `re.test(s)`: all of `s` from where the search starts (`lastIndex` for a global or sticky one). */
  regexTest?: boolean;
}

/** Runs `fn` with the named built-ins counted, and puts them back however `fn` ends. */
export function countWork<T>(counted: Counted, fn: () => T): { result: T; work: Work } {
  const work: Work = { calls: 0, chars: 0, longest: 0, reads: [] };
  const note = (chars: number) => {
    work.calls += 1;
    work.chars += chars;
    work.reads.push(chars);
    if (chars > work.longest) work.longest = chars;
  };
  // The originals, put back afterwards and meanwhile called with .call (their `this` given).
  /* eslint-disable @typescript-eslint/unbound-method */
  const indexOf = String.prototype.indexOf;
  const charCodeAt = String.prototype.charCodeAt;
  const test = RegExp.prototype.test;
  /* eslint-enable @typescript-eslint/unbound-method */
  if (counted.indexOf) {
    String.prototype.indexOf = function (this: string, search: string, from?: number) {
      const start = Math.max(0, Math.min(this.length, Math.trunc(from ?? 0)));
      const at = indexOf.call(this, search, start);
      note((at === -1 ? this.length : at + search.length) - start);
      return at;
    };
  }
  if (counted.charCodeAt) {
    String.prototype.charCodeAt = function (this: string, i: number) {
      note(1);
      return charCodeAt.call(this, i);
    };
  }
  if (counted.regexTest) {
    RegExp.prototype.test = function (this: RegExp, s: string) {
      const input = String(s);
      note(input.length - (this.global || this.sticky ? Math.min(this.lastIndex, input.length) : 0));
      return test.call(this, input);
    };
  }
  try {
    return { result: fn(), work };
  } finally {
    String.prototype.indexOf = indexOf;
    String.prototype.charCodeAt = charCodeAt;
    RegExp.prototype.test = test;
  }
}
