/**
 * Times as the timeline shows them: stored and compared in UTC, shown in Asia/Shanghai (ARCHITECTURE.md,
 * "Time"). China has kept UTC+08:00 all year since 1992, so the offset is exact for every record
 * HireLedger holds; an instant before 1992 goes through Intl (which knows the DST of 1986–1991).
 */

const OFFSET_MS = 8 * 60 * 60 * 1000;
const FIXED_SINCE = Date.UTC(1992, 0, 1);

const intl = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Asia/Shanghai',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZoneName: 'longOffset',
});

/** `2026-11-20T17:02:03.456+08:00`: the instant in Asia/Shanghai, with its offset, so it is never ambiguous. */
export function shanghaiTime(d: Date): string {
  const t = d.getTime();
  if (t >= FIXED_SINCE) return `${new Date(t + OFFSET_MS).toISOString().slice(0, 23)}+08:00`;
  const parts = Object.fromEntries(intl.formatToParts(d).map((p) => [p.type, p.value]));
  const ms = String(((t % 1000) + 1000) % 1000).padStart(3, '0');
  const offset = (parts['timeZoneName'] ?? 'GMT+08:00').replace(/^GMT/, '') || '+00:00';
  return `${parts['year']}-${parts['month']}-${parts['day']}T${parts['hour']}:${parts['minute']}:${parts['second']}.${ms}${offset}`;
}
