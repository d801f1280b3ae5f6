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

/**
 * The ciphertext a JSON envelope appears to carry, found without parsing it, for the signature check
 * that comes before any parse: the value of the first key of the outermost object that reads
 * `encrypt` in any letter case, when that value is a string (decoded) or a number (as written, since
 * parseJsonLossless turns a long integer into that string); undefined otherwise. One forward pass, no
 * recursion, nothing built but the one key and value decoded: linear in the body whatever it nests.
 * For every envelope the route accepts this is exactly the ciphertext the full parse reads; the full
 * parse after the signature check still decides everything else, with its own reason.
 */
export function envelopeCiphertextJson(text: string): string | undefined {
  let depth = 0;
  let expectKey = false;
  /** 0: nothing pending; 1: an encrypt key was read, its colon is next; 2: its value is next. */
  let pending = 0;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      // The closing quote: the next one not escaped by an odd run of backslashes.
      let end = text.indexOf('"', i + 1);
      for (;;) {
        if (end === -1) return undefined;
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes += 1;
        if (slashes % 2 === 0) break;
        end = text.indexOf('"', end + 1);
      }
      i = end + 1;
      if (depth !== 1) continue;
      if (pending === 2) return stringOf(text.slice(start, i));
      // `encrypt` with every letter escaped (\u0065…) is 44 characters; a longer key is not it.
      if (expectKey) {
        expectKey = false;
        const key = i - start <= 48 ? text.slice(start, i) : '';
        if ((key.length === 9 || key.includes('\\')) && keyOf(key)?.toLowerCase() === 'encrypt') pending = 1;
      }
      continue;
    }
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) {
      i += 1;
      continue;
    }
    if (depth === 1 && pending === 2) {
      const number = /-?[0-9][0-9eE.+-]*/y;
      number.lastIndex = i;
      const token = number.exec(text)?.[0];
      // As written: the signature decides, and the parse after it refuses a number it cannot use.
      return token !== undefined && JSON_NUMBER.test(token) ? token : undefined;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth += 1;
      if (depth === 1) {
        if (c !== 0x7b) return undefined;
        expectKey = true;
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth -= 1;
      if (depth <= 0) return undefined;
    } else if (depth === 1) {
      if (c === 0x2c /* , */) expectKey = true;
      else if (c === 0x3a /* : */ && pending === 1) pending = 2;
    }
    i += 1;
  }
  return undefined;
}

function stringOf(token: string): string | undefined {
  try {
    const value: unknown = JSON.parse(token);
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
