/**
 * Asia/Shanghai wall-clock arithmetic. China has had no daylight saving time since 1991, so
 * Shanghai is UTC+8 all year: a fixed offset, no time-zone database needed and no ambiguous hours.
 */

const OFFSET_MS = 8 * 3600_000;

/** The Shanghai calendar date of an instant, `YYYY-MM-DD`. */
export function shanghaiDate(at: Date): string {
  return new Date(at.getTime() + OFFSET_MS).toISOString().slice(0, 10);
}

/** Minutes since Shanghai midnight of an instant (0–1439), and the seconds/ms beyond them ignored. */
export function shanghaiMinuteOfDay(at: Date): number {
  const local = new Date(at.getTime() + OFFSET_MS);
  return local.getUTCHours() * 60 + local.getUTCMinutes();
}

/** The instant of a Shanghai wall-clock time on a Shanghai date. */
export function atShanghai(date: string, hour: number, minute = 0): Date {
  const t = Date.parse(`${date}T00:00:00.000Z`);
  if (Number.isNaN(t)) throw new TypeError(`not a calendar date: ${date}`);
  return new Date(t - OFFSET_MS + (hour * 60 + minute) * 60_000);
}

/** The Shanghai date `days` calendar days after `date`. */
export function plusDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00.000Z`) + days * 86400_000).toISOString().slice(0, 10);
}

/** Shanghai wall-clock text for people (messages, logs): `2026-11-26 17:05`. */
export function shanghaiText(at: Date): string {
  return new Date(at.getTime() + OFFSET_MS).toISOString().slice(0, 16).replace('T', ' ');
}

/** Quiet hours for candidate-facing messages (DECISIONS 13): from 21:00 to 09:00 Asia/Shanghai. */
export const QUIET_FROM_MINUTE = 21 * 60;
export const QUIET_UNTIL_MINUTE = 9 * 60;

/** Whether a candidate-facing message at `at` would fall in the quiet hours (21:00 inclusive to 09:00 exclusive). */
export function inQuietHours(at: Date): boolean {
  const m = shanghaiMinuteOfDay(at);
  return m >= QUIET_FROM_MINUTE || m < QUIET_UNTIL_MINUTE;
}

/**
 * When a candidate-facing message due at `at` may go: `at` itself outside the quiet hours, else the
 * next 09:00 Shanghai (the same morning before 09:00, the next morning from 21:00).
 */
export function candidateSendTime(at: Date): Date {
  if (!inQuietHours(at)) return at;
  const date = shanghaiDate(at);
  const m = shanghaiMinuteOfDay(at);
  return atShanghai(m >= QUIET_FROM_MINUTE ? plusDays(date, 1) : date, 9);
}
