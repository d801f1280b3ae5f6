/**
 * How much a rule pattern can cost, decided before it is ever run. Rules are edited by an admin in
 * the database and run, inside the worker, on every message a candidate or a recruiter writes;
 * JavaScript's regular expressions backtrack, so a pattern such as `(a|a)*b`, `((a+))+b` or
 * `a*a*a*a*b` can hold the event loop for minutes on one message of a few dozen characters, and a
 * candidate chooses the text. A syntactic check ("no quantified group holding a quantifier")
 * misses most of these shapes, so patterns are held to a small grammar whose cost is computable:
 *
 * - literal characters, escapes of one character (`\s`, `\d`, `\w`, `\n`, `\.`, `\uXXXX`…), `.`,
 *   character classes, `^`, `$`, `\b`, groups (`(?:…)`, `(…)`, `(?<name>…)`) and alternation;
 * - quantifiers `?`, `{n}` and `{m,n}` with n ≤ 50; never `*`, `+` or `{n,}` (write `{0,20}`),
 *   never a back-reference or a lookaround.
 *
 * For such a pattern, `ways` bounds the number of different ways it can match at one position of
 * any text (a sequence multiplies, an alternation adds, except that an alternation of plain
 * phrases adds only the phrases that can match at once, one a prefix of the next; `x{m,n}` adds
 * the powers). The backtracking engine's work on a text of L characters is at most about L × ways
 * steps, so a pattern whose `ways` is at most MAX_PATTERN_WAYS stays linear in the message:
 * measured, about 80 ms for 1,000 ways on a 10,000-character adversarial text, the slowest a
 * message can be, against minutes and more for what the grammar refuses.
 */

export const MAX_PATTERN_WAYS = 1000;
export const MAX_REPEAT = 50;

export class PatternCostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatternCostError';
  }
}

type Node =
  | { t: 'char'; literal: string | null }
  | { t: 'anchor' }
  | { t: 'seq'; items: Node[] }
  | { t: 'alt'; branches: Node[] }
  | { t: 'rep'; node: Node; min: number; max: number };

const ONE_CHAR_ESCAPES = new Set([...'dDwWsStnrvf0']);
/** Punctuation an escape makes literal. */
const IDENTITY_ESCAPES = new Set([...'\\/.^$|?*+()[]{}-,:=!<>#&~\'"% @`;']);

class Parser {
  private i = 0;
  constructor(private readonly p: string) {}

  parse(): Node {
    const node = this.alt();
    if (this.i < this.p.length) throw new PatternCostError(`unexpected ${JSON.stringify(this.p[this.i])} at ${this.i}`);
    return node;
  }

  private peek(): string | undefined {
    return this.p[this.i];
  }

  private alt(): Node {
    const branches = [this.seq()];
    while (this.peek() === '|') {
      this.i++;
      branches.push(this.seq());
    }
    return branches.length === 1 ? (branches[0] as Node) : { t: 'alt', branches };
  }

  private seq(): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined || c === '|' || c === ')') break;
      const atom = this.atom();
      items.push(this.quantified(atom));
    }
    return items.length === 1 ? (items[0] as Node) : { t: 'seq', items };
  }

  private atom(): Node {
    const c = this.p[this.i] as string;
    switch (c) {
      case '(':
        return this.group();
      case '[':
        return this.charClass();
      case '.':
        this.i++;
        return { t: 'char', literal: null };
      case '^':
      case '$':
        this.i++;
        return { t: 'anchor' };
      case '\\':
        return this.escape();
      case '*':
      case '+':
      case '?':
        throw new PatternCostError(`a quantifier ${c} with nothing before it at ${this.i}`);
      case '{':
        if (/^\{\d+(?:,\d*)?\}/.test(this.p.slice(this.i)))
          throw new PatternCostError(`a quantifier with nothing before it at ${this.i}`);
        this.i++;
        return { t: 'char', literal: '{' };
      default:
        this.i++;
        return { t: 'char', literal: c };
    }
  }

  private group(): Node {
    this.i++; // (
    const rest = this.p.slice(this.i);
    if (rest.startsWith('?:')) this.i += 2;
    else if (/^\?<[A-Za-z_$][\w$]*>/.test(rest)) this.i = this.p.indexOf('>', this.i) + 1;
    else if (rest.startsWith('?')) throw new PatternCostError('lookarounds ((?=, (?!, (?<=, (?<!) are not allowed');
    const body = this.alt();
    if (this.peek() !== ')') throw new PatternCostError('a group is not closed');
    this.i++;
    return body;
  }

  private charClass(): Node {
    const start = this.i;
    this.i++; // [
    if (this.peek() === '^') this.i++;
    // `[]` matches nothing and `[^]` anything: both read as one more class member here, as JavaScript does not.
    if (this.peek() === ']') throw new PatternCostError('an empty character class');
    while (this.i < this.p.length && this.p[this.i] !== ']') {
      if (this.p[this.i] === '\\') {
        const e = this.p[this.i + 1];
        if (e === undefined) break;
        if (e >= '1' && e <= '9') throw new PatternCostError('a back-reference inside a class');
        this.i += 2;
      } else this.i++;
    }
    if (this.peek() !== ']') throw new PatternCostError(`a character class opened at ${start} is not closed`);
    this.i++;
    return { t: 'char', literal: null };
  }

  private escape(): Node {
    const e = this.p[this.i + 1];
    if (e === undefined) throw new PatternCostError('a pattern cannot end with \\');
    this.i += 2;
    if (e === 'b' || e === 'B') return { t: 'anchor' };
    if (e >= '1' && e <= '9') throw new PatternCostError('back-references (\\1…) are not allowed');
    if (e === 'u' && /^[0-9a-fA-F]{4}/.test(this.p.slice(this.i))) {
      const ch = String.fromCharCode(parseInt(this.p.slice(this.i, this.i + 4), 16));
      this.i += 4;
      return { t: 'char', literal: ch };
    }
    if (e === 'x' && /^[0-9a-fA-F]{2}/.test(this.p.slice(this.i))) {
      const ch = String.fromCharCode(parseInt(this.p.slice(this.i, this.i + 2), 16));
      this.i += 2;
      return { t: 'char', literal: ch };
    }
    if (ONE_CHAR_ESCAPES.has(e)) return { t: 'char', literal: null };
    if (IDENTITY_ESCAPES.has(e)) return { t: 'char', literal: e };
    throw new PatternCostError(`the escape \\${e} is not allowed (one character, \\s, \\d, \\w, \\b or \\uXXXX)`);
  }

  private quantified(atom: Node): Node {
    let node = atom;
    let quantified = false;
    for (;;) {
      const c = this.peek();
      let min: number;
      let max: number;
      if (c === '?') {
        min = 0;
        max = 1;
        this.i++;
      } else if (c === '*' || c === '+') {
        throw new PatternCostError(`${c} repeats without a bound: write {0,n} or {1,n} with n ≤ ${MAX_REPEAT}`);
      } else if (c === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.p.slice(this.i));
        if (!m) return node;
        if (m[2] !== undefined && (m[3] === undefined || m[3] === ''))
          throw new PatternCostError(`{${m[1]},} repeats without a bound: write {${m[1]},n} with n ≤ ${MAX_REPEAT}`);
        min = Number(m[1]);
        max = m[3] !== undefined ? Number(m[3]) : min;
        if (max > MAX_REPEAT) throw new PatternCostError(`a repetition of more than ${MAX_REPEAT}`);
        if (min > max) throw new PatternCostError('a repetition {m,n} with m > n');
        this.i += m[0].length;
      } else return node;
      if (atom.t === 'anchor') throw new PatternCostError('a quantifier on ^, $ or \\b');
      if (this.peek() === '?') this.i++; // lazy: the same ways, tried in another order
      if (quantified) throw new PatternCostError('a quantifier right after a quantifier');
      quantified = true;
      node = { t: 'rep', node, min, max };
    }
  }
}

/** Most phrases a part of a pattern is expanded into before it is counted as a whole. */
const MAX_PHRASES = 256;

/**
 * The plain phrases a node matches, when it matches only phrases (literal characters, and
 * alternations, `?` and small repetitions of them), at most MAX_PHRASES; null otherwise.
 */
function phrasesOf(n: Node): string[] | null {
  switch (n.t) {
    case 'char':
      return n.literal === null ? null : [n.literal];
    case 'anchor':
      return null;
    case 'seq': {
      let out = [''];
      for (const it of n.items) {
        const ps = phrasesOf(it);
        if (ps === null || out.length * ps.length > MAX_PHRASES) return null;
        out = out.flatMap((a) => ps.map((b) => a + b));
      }
      return out;
    }
    case 'alt': {
      const out: string[] = [];
      for (const b of n.branches) {
        const ps = phrasesOf(b);
        if (ps === null || out.length + ps.length > MAX_PHRASES) return null;
        out.push(...ps);
      }
      return out;
    }
    case 'rep': {
      const ps = phrasesOf(n.node);
      if (ps === null) return null;
      let out: string[] = [];
      let power = [''];
      for (let k = 0; k <= n.max; k++) {
        if (k >= n.min) out.push(...power);
        if (out.length > MAX_PHRASES) return null;
        if (k < n.max) {
          if (power.length * ps.length > MAX_PHRASES) return null;
          power = power.flatMap((a) => ps.map((b) => a + b));
        }
      }
      out = [...new Set(out)];
      return out.length > MAX_PHRASES ? null : out;
    }
  }
}

/** At one position only phrases that are prefixes of one another can all match: the longest such chain. */
function chainOf(phrases: readonly string[]): number {
  const distinct = [...new Set(phrases)];
  let chain = distinct.length > 0 ? 1 : 0;
  for (const a of distinct) chain = Math.max(chain, distinct.filter((b) => a.startsWith(b)).length);
  return chain;
}

const CAP = Number.MAX_SAFE_INTEGER / 4;

function ways(n: Node): number {
  switch (n.t) {
    case 'char':
    case 'anchor':
      return 1;
    case 'seq': {
      const ps = phrasesOf(n);
      if (ps !== null) return chainOf(ps);
      return n.items.reduce((acc, it) => Math.min(CAP, acc * ways(it)), 1);
    }
    case 'alt': {
      // Branches of phrases count as their longest prefix chain; any other branch adds its own ways.
      const phrases: string[] = [];
      let others = 0;
      for (const b of n.branches) {
        const ps = phrasesOf(b);
        if (ps !== null && phrases.length + ps.length <= MAX_PHRASES) phrases.push(...ps);
        else others = Math.min(CAP, others + ways(b));
      }
      return Math.min(CAP, chainOf(phrases) + others);
    }
    case 'rep': {
      const ps = phrasesOf(n);
      if (ps !== null) return chainOf(ps);
      const w = ways(n.node);
      if (w === 1) return n.max - n.min + 1;
      let total = 0;
      for (let k = n.min; k <= n.max; k++) total = Math.min(CAP, total + Math.min(CAP, w ** k));
      return total;
    }
  }
}

/**
 * The number of ways `pattern` can match at one position (see above), or a PatternCostError when
 * it is outside the grammar or over MAX_PATTERN_WAYS.
 */
export function patternWays(pattern: string): number {
  const n = ways(new Parser(pattern).parse());
  if (n > MAX_PATTERN_WAYS)
    throw new PatternCostError(
      `the pattern can match in ${n >= CAP ? 'too many' : n} ways at one position (at most ${MAX_PATTERN_WAYS}): shorten its {m,n} gaps or alternatives`,
    );
  return n;
}
