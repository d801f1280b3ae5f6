/**
 * Work counted, not timed. Tests bound an algorithm's cost (linear in its input, bounded per match)
 * by counting what it hands to the string and regular-expression built-ins while it runs: the same
 * count on every machine, where a clock (even CPU time) moves with load, coverage instrumentation and
 * the JIT, and fails a correct change or passes a wrong one. How fast is for `bench/`.
 *
 * What is counted is what the code hands to the built-ins through their prototypes (which is how
 * `s.indexOf(…)` and `re.test(…)` are called). Two things are not: characters a loop reads by index
 * (`s[i]`), and the backtracking inside one regular-expression match (bounded for rules by
 * src/signals/pattern-cost.ts, not here). A test that relies on this says which of its loops are
 * by index.
 */

export interface Work {
  /** Calls to the counted built-ins. */
  calls: number;
  /** Characters they were given to read (see `Counted`). */
  chars: number;
  /** The most characters any one call was given. */
  longest: number;
  /** What each call was given, in order. */
  reads: number[];
}

export interface Counted {
  /**
   * String searches: `indexOf`/`includes` (from the start position to the end of the match, or to
   * the end of the string when none), `lastIndexOf` (backwards from its position to the match, or to
   * the start), `startsWith` (the searched string's length).
   */
  searches?: boolean;
  /** `s.charCodeAt(i)`: one character. */
  charCodeAt?: boolean;
  /**
   * Regular expressions: every `exec`, which `test`, `replace`, `split`, `match` and `search` all
   * call once it is patched (ECMA-262 RegExpExec): from where the search starts (`lastIndex` for a
   * global or sticky one, else 0) to the end of the match, or to the end of the string when none
   * (a sticky one: one character).
   */
  regex?: boolean;
}

const num = (v: unknown, otherwise: number): number => {
  const n = Math.trunc(Number(v));
  return Number.isNaN(n) ? otherwise : n;
};

/** Runs `fn` (synchronous) with the named built-ins counted, and puts them back however `fn` ends. */
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
  const lastIndexOf = String.prototype.lastIndexOf;
  const includes = String.prototype.includes;
  const startsWith = String.prototype.startsWith;
  const charCodeAt = String.prototype.charCodeAt;
  const exec = RegExp.prototype.exec;
  /* eslint-enable @typescript-eslint/unbound-method */
  const clamp = (s: string, from: unknown, otherwise: number) => Math.max(0, Math.min(s.length, num(from, otherwise)));
  if (counted.searches) {
    String.prototype.indexOf = function (this: string, search: string, from?: number) {
      const start = clamp(this, from, 0);
      const at = indexOf.call(this, String(search), start);
      note((at === -1 ? this.length : at + String(search).length) - start);
      return at;
    };
    String.prototype.includes = function (this: string, search: string, from?: number) {
      const start = clamp(this, from, 0);
      const at = indexOf.call(this, String(search), start);
      note((at === -1 ? this.length : at + String(search).length) - start);
      return at !== -1;
    };
    String.prototype.lastIndexOf = function (this: string, search: string, from?: number) {
      const start = clamp(this, from, this.length);
      const at = lastIndexOf.call(this, String(search), start);
      note(Math.min(this.length, start + String(search).length) - (at === -1 ? 0 : at));
      return at;
    };
    String.prototype.startsWith = function (this: string, search: string, from?: number) {
      note(String(search).length);
      return startsWith.call(this, search, from);
    };
  }
  if (counted.charCodeAt) {
    String.prototype.charCodeAt = function (this: string, i: number) {
      note(1);
      return charCodeAt.call(this, i);
    };
  }
  if (counted.regex) {
    RegExp.prototype.exec = function (this: RegExp, s: string) {
      const input = String(s);
      const start = this.global || this.sticky ? Math.min(this.lastIndex, input.length) : 0;
      const m = exec.call(this, input);
      note(m ? m.index + m[0].length - start : this.sticky ? 1 : input.length - start);
      return m;
    };
  }
  try {
    const result = fn();
    if (typeof (result as { then?: unknown } | null)?.then === 'function')
      throw new TypeError('countWork counts synchronous work: the built-ins are put back before a promise settles');
    return { result, work };
  } finally {
    String.prototype.indexOf = indexOf;
    String.prototype.lastIndexOf = lastIndexOf;
    String.prototype.includes = includes;
    String.prototype.startsWith = startsWith;
    String.prototype.charCodeAt = charCodeAt;
    RegExp.prototype.exec = exec;
  }
}
