// The API stores and returns instants as UTC ISO-8601 strings
// (e.g. "2025-03-01T02:03:04.000Z"). People read them in China Standard Time.

export const DISPLAY_TIME_ZONE = 'Asia/Shanghai';

const dateTimeFormat = new Intl.DateTimeFormat('zh-CN', {
  timeZone: DISPLAY_TIME_ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

const dateFormat = new Intl.DateTimeFormat('zh-CN', {
  timeZone: DISPLAY_TIME_ZONE,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
});

function toDate(value: string | Date): Date | null {
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "2025/03/01 10:03:04" (Asia/Shanghai). Returns "—" for missing/invalid input. */
export function formatDateTime(value: string | Date | null | undefined): string {
  if (value == null || value === '') return '—';
  const d = toDate(value);
  return d ? dateTimeFormat.format(d) : '—';
}

/** "2025/03/01" (Asia/Shanghai). Returns "—" for missing/invalid input. */
export function formatDate(value: string | Date | null | undefined): string {
  if (value == null || value === '') return '—';
  const d = toDate(value);
  return d ? dateFormat.format(d) : '—';
}
