import { findWorkday, isWorkday } from 'chinese-days';
import calendarData from 'chinese-days/dist/chinese-days.json';

/**
 * China's working-day calendar (DECISIONS 13): weekends and public holidays are not working days,
 * and the 调休 Saturdays and Sundays that make up for a holiday are. The data is the maintained
 * `chinese-days` package (the State Council's notice for each year, published each November or
 * December); a new year gets in by updating that package. A date in a year the installed package
 * does not cover is refused loudly (CalendarYearMissingError): guessing "weekdays only" would
 * count a Spring Festival week as working days and send reminders on holidays.
 */

export class CalendarYearMissingError extends Error {
  constructor(readonly year: number) {
    super(
      `China's holiday calendar for ${year} is not installed: update the chinese-days package ` +
        `(npm update chinese-days) once the State Council has published ${year}'s holidays`,
    );
    this.name = 'CalendarYearMissingError';
  }
}

/** The years the installed calendar covers (each has its holidays listed). */
export const COVERED_YEARS: ReadonlySet<number> = new Set(
  Object.keys((calendarData as { holidays: Record<string, unknown> }).holidays).map((d) => Number(d.slice(0, 4))),
);

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function requireCovered(date: string): void {
  const m = DATE.exec(date);
  if (!m) throw new TypeError(`not a calendar date YYYY-MM-DD: ${date}`);
  const year = Number(m[1]);
  if (!COVERED_YEARS.has(year)) throw new CalendarYearMissingError(year);
}

export interface WorkingCalendar {
  /** Whether a date (`YYYY-MM-DD`, Asia/Shanghai) is a working day: 调休 days are, holidays are not. */
  isWorkingDay(date: string): boolean;
  /** The working day `n` working days after (n > 0) or before (n < 0) `date`, not counting `date` itself. */
  addWorkingDays(date: string, n: number): string;
}

export const chinaCalendar: WorkingCalendar = {
  isWorkingDay(date) {
    requireCovered(date);
    return isWorkday(date);
  },
  addWorkingDays(date, n) {
    if (!Number.isSafeInteger(n) || n === 0) throw new RangeError('addWorkingDays: n must be a non-zero integer');
    requireCovered(date);
    const found = findWorkday(n, date);
    // The answer may fall in the next (or previous) year: that year must be covered as well.
    requireCovered(found);
    return found;
  },
};
