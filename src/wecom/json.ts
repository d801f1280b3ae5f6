/**
 * JSON.parse that keeps integers too large for a double as strings.
 *
 * WeCom's JSON callbacks and APIs carry 19-digit ids (MsgId, msgid) as bare numbers;
 * JSON.parse would silently round 4561255354251345929 to 4561255354251346000. Every integer
 * literal with more than 15 digits is quoted before parsing, outside strings only.
 */
export function parseJsonLossless(text: string): unknown {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i] as string;
    if (c === '"') {
      const start = i;
      i += 1;
      while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i += 1;
      out += text.slice(start, i);
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const start = i;
      i += 1;
      while (i < n && /[0-9eE.+-]/.test(text[i] as string)) i += 1;
      const token = text.slice(start, i);
      out += /^-?\d{16,}$/.test(token) ? `"${token}"` : token;
    } else {
      out += c;
      i += 1;
    }
  }
  return JSON.parse(out);
}
