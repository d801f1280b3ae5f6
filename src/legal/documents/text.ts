import { shanghaiTime } from '../../timeline';

/**
 * Text as the legal documents show it. Records hold what people and WeCom sent, hostile strings
 * included: markup, quotes, control characters, and bidirectional overrides that would make a line
 * read differently from what it holds. Each is shown as what it is (`[U+202E]`), never obeyed.
 */

// C0 and C1 controls, DEL, and the Unicode bidi embeddings, overrides and isolates (matching controls is the point).
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** One line, every control and bidi character shown as its code point. */
export function plain(text: string): string {
  return text.replace(INVISIBLE, (c) => `[U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Safe in HTML text and in a quoted attribute. */
export function html(text: string): string {
  return plain(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/** `2026-11-20 17:02:03`, Asia/Shanghai; the caller says （北京时间） once where it is shown. */
export function beijing(d: Date): string {
  const s = shanghaiTime(d);
  return `${s.slice(0, 10)} ${s.slice(11, 19)}`;
}

/** `2026-11-27 05:35:21`: the same instant in UTC, shown beside Beijing time (LEGAL.md); the caller says UTC. */
export function utcTime(d: Date): string {
  const s = d.toISOString();
  return `${s.slice(0, 10)} ${s.slice(11, 19)}`;
}

/** `2026-11-27 05:35:21 UTC`. */
export function utc(d: Date): string {
  return `${utcTime(d)} UTC`;
}

/** At most `max` characters (code points), with an ellipsis when cut. */
export function clip(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** Every character but the last four masked: a phone number shown without identifying the person to a bystander. */
export function maskLast4(phone: string): string {
  const chars = Array.from(phone.replace(/\s+/g, ''));
  if (chars.length <= 4) return '*'.repeat(chars.length);
  return `${'*'.repeat(chars.length - 4)}${chars.slice(-4).join('')}`;
}
