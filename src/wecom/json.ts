/**
 * JSON.parse that keeps integers too large for a double as strings.
 *
 * WeCom's JSON callbacks and APIs carry 19-digit ids (MsgId, msgid) as bare numbers;
 * JSON.parse would silently round 4561255354251345929 to 4561255354251346000. Every integer
 * literal with more than 15 digits is quoted before parsing, outside strings only.
 *
 * The same single pass can also bound nesting (checked before anything recursive ever sees the
 * value, so hostile input cannot exhaust the stack), refuse an object naming one key twice
 * (JSON.parse would keep the last silently, so two readers could see two different messages), and
 * keep every number as the text it was written as (`numbersAsText`), so that no two numbers become
 * one by rounding to a double. Only tokens that are JSON numbers, in a value's place, are quoted:
 * anything else is left for JSON.parse to refuse.
 */

export interface JsonLimits {
  /** Refuse objects and arrays nested deeper than this. */
  maxDepth?: number;
  /** Refuse an object that names the same key twice. */
  rejectDuplicateKeys?: boolean;
  /** Every number becomes the string it was written as (`1.0` stays "1.0"), not only the long integers. */
  numbersAsText?: boolean;
}

const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
const LONG_INTEGER = /^-?[1-9][0-9]{15,}$/;

export class JsonShapeError extends Error {
  constructor(
    readonly code: 'too_deep' | 'duplicate_key',
    message: string,
  ) {
    super(message);
    this.name = 'JsonShapeError';
  }
}

interface Frame {
  /** Keys seen so far, for objects when duplicates are refused; null for arrays. */
  keys: Set<string> | null;
  object: boolean;
  expectKey: boolean;
}

export function parseJsonLossless(text: string, limits: JsonLimits = {}): unknown {
  const maxDepth = limits.maxDepth ?? Infinity;
  const stack: Frame[] = [];
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
      const token = text.slice(start, i);
      const top = stack[stack.length - 1];
      if (top?.object && top.expectKey) {
        top.expectKey = false;
        if (top.keys) {
          const key = keyOf(token);
          if (key !== undefined) {
            if (top.keys.has(key))
              throw new JsonShapeError('duplicate_key', `an object names the key ${JSON.stringify(key)} twice`);
            top.keys.add(key);
          }
        }
      }
      out += token;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      const start = i;
      i += 1;
      while (i < n && /[0-9eE.+-]/.test(text[i] as string)) i += 1;
      const token = text.slice(start, i);
      const top = stack[stack.length - 1];
      const quote =
        !(top?.object && top.expectKey) && JSON_NUMBER.test(token) && (limits.numbersAsText === true || LONG_INTEGER.test(token));
      out += quote ? `"${token}"` : token;
    } else {
      if (c === '{' || c === '[') {
        if (stack.length >= maxDepth) throw new JsonShapeError('too_deep', `nesting deeper than ${maxDepth}`);
        const object = c === '{';
        stack.push({ object, expectKey: object, keys: object && limits.rejectDuplicateKeys ? new Set() : null });
      } else if (c === '}' || c === ']') {
        stack.pop();
      } else if (c === ',') {
        const top = stack[stack.length - 1];
        if (top?.object) top.expectKey = true;
      }
      out += c;
      i += 1;
    }
  }
  return JSON.parse(out);
}

/** The decoded text of a string token; undefined when it is malformed (JSON.parse then refuses the whole). */
function keyOf(token: string): string | undefined {
  try {
    const key: unknown = JSON.parse(token);
    return typeof key === 'string' ? key : undefined;
  } catch {
    return undefined;
  }
}
