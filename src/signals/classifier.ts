import type { SignalType } from './names';
import { normalize, simplify } from './normalize';
import { PatternCostError, patternWays } from './pattern-cost';

/**
 * The signals classifier: explainable rules over one message. A rule is a lexicon (`terms`, matched
 * literally) and/or regular expressions (`patterns`), for one signal type, and so for one role, with
 * guards that turn a match down when its clause negates it ("我没有辞职"), asks it ("你辞职了吗？"),
 * makes it cautionary advice or a condition ("请在收到正式offer之前不要提出离职"), or says it of
 * somebody else ("我朋友辞职了"). Every hit names its rule, the rule's version and the matched span
 * of the original text, so a person can see why, and an admin can change the rule (in the database,
 * src/signals/store.ts) without a deploy. Signals advise a person; nothing is decided on them.
 *
 * Matching runs on the folded text (normalize.ts: simplified, half-width, lower case, a few
 * misspellings corrected), which has the original's length, so spans are spans of what was written
 * (UTF-16 code units).
 */

export type SignalRole = 'candidate' | 'recruiter';

export const SIGNAL_TYPES: readonly SignalType[] = ['hesitation', 'resigned_before_offer', 'over_promise'];

/** Whose messages a type is about: candidates hesitate and resign, recruiters promise. */
export const ROLE_OF_TYPE: Readonly<Record<SignalType, SignalRole>> = {
  hesitation: 'candidate',
  resigned_before_offer: 'candidate',
  over_promise: 'recruiter',
};

export interface RuleGuards {
  /** A negator (没/没有/不/别/未/无需…) in the few characters before the match, in its clause. */
  negation: boolean;
  /** The match's clause is a question (？, 吗/么/嘛 at its end, 是否/有没有/是不是, …了没). */
  question: boolean;
  /** The clause is cautionary advice or a condition: wait for the offer, "…之前", "拿到…再", 稳妥, 冲动, 以…为准, 如果/要是. */
  advice: boolean;
  /** Somebody else is the subject (朋友/同事/他/她/别人/好多人…) just before the match. */
  thirdParty: boolean;
}

export interface SignalRule {
  /** Stable name, lower-case: `res.declared`. A hit names it. */
  id: string;
  type: SignalType;
  /** Bumped on every change (the database does it); a hit names the version it was found with. */
  version: number;
  /** What the rule catches, in Chinese, for the admin and the alert. */
  description: string;
  /** Phrases matched literally after folding (traditional or simplified, any case: both are folded). */
  terms: string[];
  /** Regular expressions over the folded text (simplified Chinese, lower-case ASCII, half-width punctuation). */
  patterns: string[];
  guards: RuleGuards;
  enabled: boolean;
}

/**
 * The approved terms a recruiter's words are compared with (docs/offers.md: money in whole yuan).
 * The offers module's `OfferTerms` fits it as it is; `positionTitle` is the position's title.
 */
export interface ApprovedTerms {
  baseMonthlyYuan: number;
  salaryMonths: number;
  annualBonusTargetYuan: number | null;
  bonusNote: string;
  level: string;
  department: string;
  /** `YYYY-MM-DD`, a date in Asia/Shanghai. */
  startDate: string;
}

/** The approved version of the candidate's offer: which one, its content hash and its terms. */
export interface ApprovedOffer {
  offerId: string;
  version: number;
  contentSha256: string;
  terms: ApprovedTerms;
  /** The position's title, when known (a stated title is compared with it). */
  positionTitle?: string | null;
}

/** Whether a formal offer is approved (or sent, accepted) for the candidate, and which. */
export type OfferStatus =
  | { approved: false }
  | {
      approved: true;
      /** A few approved numbers by their content keys (kept for callers that read them). */
      terms?: { [key: string]: string | number };
      /** The approved version: a recruiter's salary, level, date and title are compared with it (beyond.ts). */
      offer?: ApprovedOffer;
    };

export const NO_OFFER_APPROVED: OfferStatus = { approved: false };

export interface SignalMatch {
  /** UTF-16 code units of the original text, end exclusive. */
  start: number;
  end: number;
  text: string;
}

export interface SignalHit {
  type: SignalType;
  rule: string;
  ruleVersion: number;
  match: SignalMatch;
}

/** Messages longer than this are judged on their first this many characters (a hit's span stays exact). */
export const MAX_JUDGED_LENGTH = 10_000;

/** A rule refused before it could judge anything: bad id, type, pattern. */
export class SignalRuleError extends Error {
  constructor(
    readonly ruleId: string,
    message: string,
  ) {
    super(`rule ${ruleId}: ${message}`);
    this.name = 'SignalRuleError';
  }
}

const RULE_ID = /^[a-z][a-z0-9_.-]{1,63}$/;
const MAX_TERMS = 500;
const MAX_TERM_LENGTH = 60;
const MAX_PATTERN_LENGTH = 400;
/**
 * A quantified group that itself holds a quantifier ("(a+)+", "(.*x)*"): the shape of catastrophic
 * backtracking. Refused, since a rule runs on every message the worker sees.
 */
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*(?:[+*]|\{\d+,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d+,\d*\})/;

interface CompiledRule {
  rule: SignalRule;
  regex: RegExp;
}

/** Rules ready to judge messages: compiled once, used for many messages. */
export interface Classifier {
  readonly rules: readonly SignalRule[];
  /** The hits in one message: at most one per type (the earliest match that no guard turns down). */
  classify(role: SignalRole, text: string, offer?: OfferStatus): SignalHit[];
}

export function validateRule(rule: SignalRule): void {
  if (!RULE_ID.test(rule.id)) throw new SignalRuleError(rule.id, 'id must be 2-64 of a-z 0-9 _ . - starting with a letter');
  if (!SIGNAL_TYPES.includes(rule.type)) throw new SignalRuleError(rule.id, `unknown type ${String(rule.type)}`);
  if (!Number.isSafeInteger(rule.version) || rule.version < 1) throw new SignalRuleError(rule.id, 'version must be ≥ 1');
  if (rule.terms.length > MAX_TERMS) throw new SignalRuleError(rule.id, `at most ${MAX_TERMS} terms`);
  for (const t of rule.terms) {
    if (t.trim() === '' || t.length > MAX_TERM_LENGTH)
      throw new SignalRuleError(rule.id, `a term must be 1-${MAX_TERM_LENGTH} characters: ${JSON.stringify(t)}`);
  }
  for (const p of rule.patterns) {
    if (p === '' || p.length > MAX_PATTERN_LENGTH)
      throw new SignalRuleError(rule.id, `a pattern must be 1-${MAX_PATTERN_LENGTH} characters`);
    if (NESTED_QUANTIFIER.test(p))
      throw new SignalRuleError(rule.id, `a quantified group holding a quantifier can backtrack without end: ${p}`);
    try {
      new RegExp(p);
    } catch (err) {
      throw new SignalRuleError(rule.id, `pattern does not compile: ${(err as Error).message}`);
    }
    // A pattern runs on every message: only shapes whose backtracking is bounded (pattern-cost.ts).
    try {
      patternWays(simplify(p));
    } catch (err) {
      if (!(err instanceof PatternCostError)) throw err;
      throw new SignalRuleError(rule.id, `pattern refused, it could take too long on some message: ${err.message}: ${p}`);
    }
    if (new RegExp(p).test('')) throw new SignalRuleError(rule.id, `a pattern must not match the empty text: ${p}`);
  }
  if (rule.terms.length === 0 && rule.patterns.length === 0)
    throw new SignalRuleError(rule.id, 'a rule needs at least one term or pattern');
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compile(rule: SignalRule): CompiledRule {
  validateRule(rule);
  const alternatives = [
    ...rule.terms.map((t) => escapeRegex(normalize(t.trim()))),
    ...rule.patterns.map((p) => `(?:${simplify(p)})`),
  ];
  return { rule, regex: new RegExp(alternatives.join('|'), 'g') };
}

// ---------------------------------------------------------------- guards

/** Clause boundaries: punctuation (folded to half-width), the ideographic full stop, spaces, line breaks. */
const SEPARATOR = /[,.!?;:~\s。、…]/;

const NEGATION_WINDOW = 6;
const THIRD_PARTY_WINDOW = 12;

/** Negators. 不 is not one in 要不 ("how about"), 不错, 不少, 不过, 不然, 不久, 不一样, 不如, 不仅, 不好意思; 别 not in 别人, 别家, 别的. */
const NEGATOR =
  /没|(?<!要)不(?!错|少|过|然|久|一样|如|仅|好意思|管|止|得不|断)|别(?!人|家|的|处|公司)|未(?!来)|非|无需|无须|无法|甭|勿|莫/;
/** Phrases made of negators that strengthen rather than negate ("不用等，直接提离职"). */
const AFFIRMING = /不用等|不必等|别等了|不要等|不用担心|别担心|不用怕|别犹豫|不用犹豫|没跑|错不了/g;

const QUESTION_END = /(?:吗|么|嘛|没有?|不)[啊呀哈呢~\s]*$/;
const QUESTION_WORDS = /是否|有没有|是不是|可不可以|能不能|要不要|会不会|多久|什么时候|几时|怎么样|如何/;

const ADVICE =
  /(?:拿到|收到|等到?|确认|发出|出来|下来|审批|批了|签了?|正式).{0,14}(?:再|之后|以后|后再)|(?:offer|通知|审批|合同|录用|入职|批|确认|下来|邮件|书面|结果).{0,4}(?:之前|以前)|再(?:提|辞|离|递|交|办)|稳妥|谨慎|慎重|冲动|为准|等.{0,6}(?:offer|通知|审批|结果|正式|书面|合同|消息)|先别|先不要|不要急|别急|如果|要是|万一|假如|假设/;

const THIRD_PARTY =
  /朋友|同事|同学|室友|(?<!其)他(?!们公司)|她|别人|好多人|很多人|不少人|有人|大家|前同事|我们组|我们部门|我老婆|我老公|我对象/;

/**
 * How far a clause reaches on each side of a match. Voice input runs clauses together without
 * punctuation; a message of thousands of characters and as many matches, each turned down by a
 * guard, made every match scan the whole text (quadratic: over half a second for 10,000
 * characters). Guards judge what is near the match; a clause is cut at this distance.
 */
export const CLAUSE_REACH = 120;

function clauseOf(text: string, start: number, end: number): { from: number; to: number } {
  let from = start;
  const fromLimit = Math.max(0, start - CLAUSE_REACH);
  while (from > fromLimit && !SEPARATOR.test(text[from - 1] as string)) from--;
  let to = end;
  const toLimit = Math.min(text.length, end + CLAUSE_REACH);
  while (to < toLimit && !SEPARATOR.test(text[to] as string)) to++;
  return { from, to };
}

function isQuestion(text: string, start: number, clause: { from: number; to: number }): boolean {
  // A question mark closing the clause, or any later in it (voice input ends clauses late).
  const next = text[clause.to];
  if (next === '?') return true;
  const rest = text.slice(start, clause.to);
  const whole = text.slice(clause.from, clause.to);
  return QUESTION_END.test(rest) || QUESTION_WORDS.test(whole);
}

/** Whether a rule's guards turn down a match at [start, end) of the folded text (also used by beyond.ts). */
export function turnedDown(guards: RuleGuards, text: string, start: number, end: number): boolean {
  const clause = clauseOf(text, start, end);
  if (guards.negation) {
    const before = text.slice(Math.max(clause.from, start - NEGATION_WINDOW), start).replace(AFFIRMING, '');
    if (NEGATOR.test(before)) return true;
  }
  if (guards.question && isQuestion(text, start, clause)) return true;
  if (guards.advice && ADVICE.test(text.slice(clause.from, clause.to))) return true;
  if (guards.thirdParty && THIRD_PARTY.test(text.slice(Math.max(clause.from, start - THIRD_PARTY_WINDOW), start))) return true;
  return false;
}

// ---------------------------------------------------------------- classify

/** The types judged for a candidate: with an approved offer, no longer "before the offer". */
export function typesJudged(offer: OfferStatus): ReadonlySet<SignalType> {
  // With an approved offer the before-approval rules end; a recruiter's words are then compared
  // with the approved terms instead (beyond.ts, run by the classifier consumer).
  return offer.approved ? new Set<SignalType>(['hesitation']) : new Set<SignalType>(SIGNAL_TYPES);
}

/**
 * Compiles the enabled rules. An invalid rule throws SignalRuleError, unless `onInvalid` is given:
 * then it is reported there and left out (rules edited in the database: one bad edit must not stop
 * every other rule).
 */
export function createClassifier(
  rules: readonly SignalRule[],
  opts: { onInvalid?: (rule: SignalRule, error: SignalRuleError) => void } = {},
): Classifier {
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.id)) throw new SignalRuleError(r.id, 'two rules with one id');
    seen.add(r.id);
  }
  const compiled: CompiledRule[] = [];
  for (const r of rules) {
    if (!r.enabled) continue;
    try {
      compiled.push(compile(r));
    } catch (err) {
      if (!(err instanceof SignalRuleError) || !opts.onInvalid) throw err;
      opts.onInvalid(r, err);
    }
  }
  const byRole: Record<SignalRole, CompiledRule[]> = {
    candidate: compiled.filter((c) => ROLE_OF_TYPE[c.rule.type] === 'candidate'),
    recruiter: compiled.filter((c) => ROLE_OF_TYPE[c.rule.type] === 'recruiter'),
  };
  return {
    rules,
    classify(role, original, offer = NO_OFFER_APPROVED) {
      const judged = typesJudged(offer);
      const source = original.length > MAX_JUDGED_LENGTH ? original.slice(0, MAX_JUDGED_LENGTH) : original;
      const text = normalize(source);
      const best = new Map<SignalType, { c: CompiledRule; start: number; end: number }>();
      for (const c of byRole[role]) {
        if (!judged.has(c.rule.type)) continue;
        const sofar = best.get(c.rule.type);
        const re = c.regex;
        re.lastIndex = 0;
        for (let m = re.exec(text); m !== null; m = re.exec(text)) {
          const start = m.index;
          const end = start + m[0].length;
          if (end === start) {
            re.lastIndex++;
            continue;
          }
          if (sofar && start >= sofar.start) break;
          if (!turnedDown(c.rule.guards, text, start, end)) {
            best.set(c.rule.type, { c, start, end });
            break;
          }
        }
      }
      const hits: SignalHit[] = [];
      for (const type of SIGNAL_TYPES) {
        const b = best.get(type);
        if (!b) continue;
        hits.push({
          type,
          rule: b.c.rule.id,
          ruleVersion: b.c.rule.version,
          match: { start: b.start, end: b.end, text: source.slice(b.start, b.end) },
        });
      }
      return hits;
    },
  };
}
