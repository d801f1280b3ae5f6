import { normalize } from './normalize';

/**
 * What a recruiter states about the terms, read out of one message: salary amounts (monthly or
 * annual), the salary structure (13 薪), bonus months, a level (P7), a start date (下周一入职) and a
 * title or department. Pure: no clock but the one passed in, no database. The over-promise check
 * (beyond.ts) compares these with the approved offer.
 *
 * Everything runs on the folded text (normalize.ts: full-width digits and letters half-width, lower
 * case, traditional simplified), which has the original's length, so every span is a span of what
 * was written.
 *
 * Conservative by design (a false alarm tells a recruiter they promised what they did not): an
 * amount counts only next to a salary word (月薪, 年薪, 年包, base, 薪资, 工资…); a range
 * ("25-30k") is a range, not a promise, and is skipped; a date counts only next to 入职/报到/到岗/
 * 上班; a level only in the letter-and-number shape of the approved level.
 */

export type SalaryPeriod = 'monthly' | 'annual';

export interface Span {
  start: number;
  end: number;
}

export interface StatedSalary extends Span {
  kind: 'salary';
  period: SalaryPeriod;
  yuan: number;
  /** How the period was decided: the word next to the amount, or `size` (no period word: < 100,000 monthly, else annual). */
  periodFrom: string;
}
export interface StatedMonths extends Span {
  kind: 'salary_months';
  months: number;
}
export interface StatedBonusMonths extends Span {
  kind: 'bonus_months';
  months: number;
}
export interface StatedLevel extends Span {
  kind: 'level';
  level: string;
}
export interface StatedStartDate extends Span {
  kind: 'start_date';
  /** `YYYY-MM-DD`, a date in Asia/Shanghai. */
  date: string;
}
export interface StatedName extends Span {
  kind: 'title' | 'department';
  name: string;
}

export type Statement = StatedSalary | StatedMonths | StatedBonusMonths | StatedLevel | StatedStartDate | StatedName;

// ---------------------------------------------------------------- numbers

const CN_DIGITS: Readonly<Record<string, number>> = {
  零: 0,
  〇: 0,
  一: 1,
  二: 2,
  两: 2,
  三: 3,
  四: 4,
  五: 5,
  六: 6,
  七: 7,
  八: 8,
  九: 9,
};
const CN_UNITS: Readonly<Record<string, number>> = { 十: 10, 百: 100, 千: 1000 };

/**
 * A Chinese numeral below 10,000 (十五, 二十, 一百二, 三千五): null when it is not one. A digit after
 * the last unit is one unit lower, as people say it (三千五 = 3,500, 一百二 = 120).
 */
export function chineseInt(s: string): number | null {
  if (s === '') return null;
  let total = 0;
  let digit: number | null = null;
  let lastUnit = 0;
  for (const ch of s) {
    const d = CN_DIGITS[ch];
    const u = CN_UNITS[ch];
    if (d !== undefined) {
      if (digit !== null) return null; // 三五: not a numeral
      digit = d;
    } else if (u !== undefined) {
      if (lastUnit !== 0 && u >= lastUnit) return null;
      total += (digit ?? 1) * u;
      digit = null;
      lastUnit = u;
    } else return null;
  }
  if (digit !== null) total += lastUnit >= 100 ? (digit * lastUnit) / 10 : digit;
  return total;
}

/** A number as written: `35`, `3.5`, `35,000`, `三`, `十五`. */
function numberOf(s: string): number | null {
  if (/^\d{1,3}(?:,\d{3})+$/.test(s)) return Number(s.replace(/,/g, ''));
  if (/^\d+(?:\.\d+)?$/.test(s)) return Number(s);
  return chineseInt(s);
}

const NUM = String.raw`\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千]+`;
/** An amount: a number, a unit (万/w, k/千), a trailing digit one unit lower (3万5, 三万五千). */
const AMOUNT = new RegExp(
  // With a unit (万/w, k/千), perhaps a trailing digit; or a bare number that is not a count, a month, a day, a year.
  String.raw`(?<![\d.]|\d,)(?:(${NUM})\s?(万|w|k|千)(?:\s?([一二三四五六七八九](?!个|月|年|天|周|星期)|\d(?![\d.]|\s?(?:个|月|年|天|周)))(千)?)?(?![\d.a-z])|(${NUM})(?![\d.]|,\d{3}(?!\d)|\s?(?:个|月|号|日|年|天|周|岁|点|%|薪|人|位|级|万|w|k|千)))`,
  'g',
);

/**
 * The amounts in yuan in a (folded) text, each with its span: `35k` 35,000; `3.5万` and `三万五` and
 * `3万5` 35,000; `40w` 400,000; `35000` and `35,000` 35,000. A bare number below 1,000 (a count, a
 * day) is no amount.
 */
export function amountsIn(text: string): { yuan: number; start: number; end: number }[] {
  const out: { yuan: number; start: number; end: number }[] = [];
  AMOUNT.lastIndex = 0;
  for (let m = AMOUNT.exec(text); m !== null; m = AMOUNT.exec(text)) {
    const whole = m[0];
    const num = m[1] ?? m[5] ?? '';
    const unit = m[2];
    const tail = m[3];
    const n = numberOf(num);
    if (n === null) continue;
    const mult = unit === '万' || unit === 'w' ? 10_000 : unit === 'k' || unit === '千' ? 1000 : 1;
    let yuan = n * mult;
    if (tail !== undefined) {
      if (mult < 1000) continue; // "35000五": not an amount
      const t = /\d/.test(tail) ? Number(tail) : (CN_DIGITS[tail] ?? 0);
      yuan += (t * mult) / 10;
    }
    yuan = Math.round(yuan);
    if (mult === 1 && !/^[\d,]+$/.test(num)) {
      // A Chinese numeral without 万: 三千五 is an amount, 十五 is not.
      if (yuan < 1000) continue;
    } else if (yuan < 1000) continue;
    out.push({ yuan, start: m.index, end: m.index + whole.length });
  }
  return out;
}

// ---------------------------------------------------------------- salary

/** Salary words and the period each one says (null: a salary, period unknown). Longest first. */
const SALARY_CUES: readonly [RegExp, SalaryPeriod | null][] = [
  [/年薪|年包|总包|年收入|年总收入|package|一年|每年|\/年|全年/g, 'annual'],
  [/月薪|月base|每个?月|一个月|\/月|底薪|base|月收入|固定工资/g, 'monthly'],
  [/薪资|薪水|薪酬|工资|待遇|收入|税前|到手/g, null],
];
/** How far a salary word may be from the amount it qualifies (characters, within the clause). */
const CUE_BEFORE = 10;
const CUE_AFTER = 6;
/** Without a period word: below this monthly, from it annual (monthly salaries of 100,000+ are rare, annual packages below it too). */
export const ANNUAL_FROM_YUAN = 100_000;

/** Clause ends for reading words around a statement: punctuation and line breaks (not spaces, not the "." of 3.5). */
const SEPARATOR = /[,!?;~。、…，；！？\n]/;

export function clauseAround(text: string, start: number, end: number, reach = 60): { from: number; to: number } {
  let from = start;
  while (from > Math.max(0, start - reach) && !SEPARATOR.test(text[from - 1] as string)) from--;
  let to = end;
  while (to < Math.min(text.length, end + reach) && !SEPARATOR.test(text[to] as string)) to++;
  return { from, to };
}

/** Money that is not salary: an amount next to these is not compared with the salary. */
const NOT_SALARY = /期权|股票|股份|rsu|签字费|签约费|补贴|房补|餐补|饭补|交通|报销|搬家|安家|住房|租房|团建|体检|押金/;

function salaryPeriod(
  text: string,
  start: number,
  end: number,
  unitCue: string | null,
): { period: SalaryPeriod | null; cue: string } | undefined {
  const clause = clauseAround(text, start, end);
  const from = Math.max(clause.from, start - CUE_BEFORE);
  const to = Math.min(clause.to, end + CUE_AFTER);
  let best: { period: SalaryPeriod | null; cue: string; distance: number } | undefined;
  for (const [re, period] of SALARY_CUES) {
    re.lastIndex = 0;
    const window = text.slice(from, to);
    for (let m = re.exec(window); m !== null; m = re.exec(window)) {
      const s = from + m.index;
      const e = s + m[0].length;
      if (s < end && e > start) continue;
      const distance = e <= start ? start - e : s - end;
      // A period word wins over a bare salary word at the same distance.
      if (!best || distance < best.distance || (distance === best.distance && best.period === null && period !== null))
        best = { period, cue: m[0], distance };
    }
  }
  if (NOT_SALARY.test(text.slice(from, to))) return undefined;
  if (!best) return unitCue ? { period: null, cue: unitCue } : undefined;
  // A period word anywhere in the window beats a nearer bare salary word ("年薪 税前 40w").
  if (best.period === null) {
    for (const [re, period] of SALARY_CUES) {
      if (period === null) continue;
      re.lastIndex = 0;
      const m = re.exec(text.slice(from, to));
      if (m) return { period, cue: m[0] };
    }
  }
  return { period: best.period, cue: best.cue };
}

/** A range ("25-30k", "2万到3万", "25~30k") is no promise of a number. */
function inRange(text: string, start: number, end: number): boolean {
  const before = text.slice(Math.max(0, start - 6), start);
  const after = text.slice(end, end + 6);
  return (
    /[\d一二三四五六七八九十][kw万千]?\s?(?:-|~|到|至)\s?$/.test(before) ||
    /^\s?(?:-|~|到|至)\s?[\d一二三四五六七八九]/.test(after)
  );
}

// ---------------------------------------------------------------- structure, bonus, level

const MONTHS = String.raw`\d{1,2}|[一二两三四五六七八九十]{1,3}`;
const SALARY_MONTHS = new RegExp(String.raw`(?:[*x×]\s?)?(${MONTHS})\s?薪(?!资|水|酬)`, 'g');
const BONUS_MONTHS = new RegExp(String.raw`(?:年终奖?|奖金|年终)[^,.!?;:~\s。、…]{0,6}?(${MONTHS})\s?个?月`, 'g');
const LEVEL = /(?<![a-z0-9])([a-z])\s?(\d{1,2})(?![\d.]|\s?(?:k|w|万|千|个|月|号|日|年|天|薪))/g;

function count(s: string): number | null {
  return /^\d+$/.test(s) ? Number(s) : chineseInt(s);
}

// ---------------------------------------------------------------- start date

const START_VERB = /入职|报到|报道|到岗|上班|上岗|onboard/;
const WEEKDAY: Readonly<Record<string, number>> = { 一: 1, 二: 2, 三: 3, 四: 4, 五: 5, 六: 6, 日: 7, 天: 7 };
const DAY_NUM = String.raw`\d{1,2}|[一二三四五六七八九十]{1,3}`;
const DATE_FORMS = new RegExp(
  [
    String.raw`(?<iso>(?<y>20\d{2})[-/.年](?<m1>\d{1,2})[-/.月](?<d1>\d{1,2})[日号]?)`,
    String.raw`(?<md>(?<m2>${DAY_NUM})月(?<d2>${DAY_NUM})[日号])`,
    String.raw`(?<nm>下个?月(?<d3>${DAY_NUM})[日号])`,
    String.raw`(?<rel>今天|明天|后天)`,
    String.raw`(?<wk>(?<which>下下|下|这|本)?(?:个)?(?:周|星期|礼拜)(?<wd>[一二三四五六日天]))`,
  ].join('|'),
  'g',
);

/** The date `days` after `ymd` (calendar arithmetic, no time zone involved). */
function addDays(ymd: string, days: number): string {
  const d = new Date(`${ymd}T00:00:00.000Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

function validDate(y: number, m: number, d: number): string | null {
  if (!Number.isInteger(y) || m < 1 || m > 12 || d < 1 || d > 31) return null;
  const iso = `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
  const t = new Date(`${iso}T00:00:00.000Z`);
  return !Number.isNaN(t.getTime()) && t.toISOString().slice(0, 10) === iso ? iso : null;
}

/** Today in Asia/Shanghai (UTC+8 all year). */
export function shanghaiDay(at: Date): string {
  return new Date(at.getTime() + 8 * 3600_000).toISOString().slice(0, 10);
}

/** A date expression read against the day it was written (Asia/Shanghai), or null. */
function resolveDate(g: { [key: string]: string | undefined }, today: string): string | null {
  const [ty, tm] = today.split('-').map(Number) as [number, number, number];
  if (g['iso']) return validDate(Number(g['y']), Number(g['m1']), Number(g['d1']));
  if (g['md']) {
    const m = count(g['m2'] ?? '');
    const d = count(g['d2'] ?? '');
    if (m === null || d === null) return null;
    // The next such day on or after today: "3月1日" written in December is next March.
    const thisYear = validDate(ty, m, d);
    if (thisYear !== null && thisYear >= today) return thisYear;
    return validDate(ty + 1, m, d);
  }
  if (g['nm']) {
    const d = count(g['d3'] ?? '');
    if (d === null) return null;
    return tm === 12 ? validDate(ty + 1, 1, d) : validDate(ty, tm + 1, d);
  }
  if (g['rel']) return addDays(today, g['rel'] === '今天' ? 0 : g['rel'] === '明天' ? 1 : 2);
  if (g['wk']) {
    const wd = WEEKDAY[g['wd'] ?? ''];
    if (wd === undefined) return null;
    const todayWd = ((new Date(`${today}T00:00:00.000Z`).getUTCDay() + 6) % 7) + 1; // Monday 1 … Sunday 7
    const monday = addDays(today, 1 - todayWd);
    const which = g['which'];
    if (which === '下') return addDays(monday, 7 + wd - 1);
    if (which === '下下') return addDays(monday, 14 + wd - 1);
    if (which === '这' || which === '本') return addDays(monday, wd - 1);
    // A bare weekday: the next one after today.
    return wd > todayWd ? addDays(monday, wd - 1) : addDays(monday, 7 + wd - 1);
  }
  return null;
}

// ---------------------------------------------------------------- title, department

const TITLE = /(?:职位|岗位|title|头衔|职称)\s?(?:是|就是|定为|定成|定的是|给你定|给到|:)\s?([\u4e00-\u9fa5a-z0-9]{2,16})/g;
const DEPARTMENT =
  /(?:(?:部门|团队)\s?(?:是|就是|定为|定在|:)|加入|调到|进入|放在|分到)\s?([\u4e00-\u9fa5a-z0-9]{1,12}?(?:事业部|事业群|中心|部门|部|团队))/g;
/** Not a name: pronouns and demonstratives ("我们部门", "这个团队"). */
const NOT_A_NAME = /^(?:我们|你们|咱们|他们|贵|本|这|那|哪|该|其|别的|其他|同一|一个)|^(?:总部|部门|团队|中心)$/;

// ---------------------------------------------------------------- all together

/**
 * The statements about terms in one message (the original text; folded here), in order. `at` is
 * when it was written: relative dates (明天, 下周一, 3月1日) are read against that day in
 * Asia/Shanghai.
 */
export function statementsIn(original: string, at: Date): Statement[] {
  const text = normalize(original);
  const out: Statement[] = [];
  const taken: Span[] = [];
  const overlaps = (s: number, e: number) => taken.some((t) => s < t.end && e > t.start);

  for (const re of [SALARY_MONTHS]) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const n = count(m[1] ?? '');
      if (n === null || n < 12 || n > 24) continue;
      out.push({ kind: 'salary_months', months: n, start: m.index, end: m.index + m[0].length });
      taken.push({ start: m.index, end: m.index + m[0].length });
    }
  }
  BONUS_MONTHS.lastIndex = 0;
  for (let m = BONUS_MONTHS.exec(text); m !== null; m = BONUS_MONTHS.exec(text)) {
    const n = count(m[1] ?? '');
    if (n === null || n < 1 || n > 24) continue;
    out.push({ kind: 'bonus_months', months: n, start: m.index, end: m.index + m[0].length });
    taken.push({ start: m.index, end: m.index + m[0].length });
  }

  const today = shanghaiDay(at);
  DATE_FORMS.lastIndex = 0;
  for (let m = DATE_FORMS.exec(text); m !== null; m = DATE_FORMS.exec(text)) {
    const start = m.index;
    const end = start + m[0].length;
    const clause = clauseAround(text, start, end);
    // The start verb right after the date ("下周一直接来入职") or the date right after it ("入职时间定在3月1日").
    const after = text.slice(end, Math.min(clause.to, end + 8));
    const before = text.slice(Math.max(clause.from, start - 8), start);
    const verbAfter = START_VERB.exec(after);
    const verbBefore = /(?:入职|报到|到岗|上班)(?:日期|时间|日)?\s?(?:是|定在|定为|就|:)?\s?$/.exec(before);
    if (!verbAfter && !verbBefore) continue;
    const date = resolveDate(m.groups ?? {}, today);
    if (date === null) continue;
    const s = verbBefore ? start - verbBefore[0].length : start;
    const e = verbAfter ? end + verbAfter.index + verbAfter[0].length : end;
    out.push({ kind: 'start_date', date, start: s, end: e });
    taken.push({ start, end });
  }

  for (const a of amountsIn(text)) {
    if (overlaps(a.start, a.end) || inRange(text, a.start, a.end)) continue;
    // 35k and 40w are how salaries are written: the unit is cue enough (period from the size).
    const p = salaryPeriod(text, a.start, a.end, /[kw]$/.test(text.slice(a.start, a.end)) ? 'unit' : null);
    if (!p) continue;
    const period = p.period ?? (a.yuan < ANNUAL_FROM_YUAN ? 'monthly' : 'annual');
    out.push({ kind: 'salary', period, yuan: a.yuan, periodFrom: p.period ? p.cue : 'size', start: a.start, end: a.end });
    taken.push({ start: a.start, end: a.end });
  }

  LEVEL.lastIndex = 0;
  for (let m = LEVEL.exec(text); m !== null; m = LEVEL.exec(text)) {
    if (overlaps(m.index, m.index + m[0].length)) continue;
    out.push({ kind: 'level', level: `${(m[1] ?? '').toUpperCase()}${m[2] ?? ''}`, start: m.index, end: m.index + m[0].length });
  }

  for (const [re, kind] of [
    [TITLE, 'title'],
    [DEPARTMENT, 'department'],
  ] as const) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const name = m[1] ?? '';
      if (NOT_A_NAME.test(name)) continue;
      const start = m.index + m[0].length - name.length;
      out.push({ kind, name: original.slice(start, start + name.length), start: m.index, end: m.index + m[0].length });
    }
  }
  return out.sort((x, y) => x.start - y.start);
}
