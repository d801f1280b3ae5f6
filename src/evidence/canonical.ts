/**
 * RFC 8785 JSON Canonicalization Scheme (JCS) for the values the ledger stores.
 *
 * Object keys are sorted by their UTF-16 code units, strings and numbers are serialised exactly
 * as ECMAScript's JSON.stringify does (which is what RFC 8785 §3.2.2 prescribes), no whitespace.
 * The ledger accepts only what survives a round trip through PostgreSQL jsonb unchanged:
 * strings without U+0000, safe integers, booleans, null, arrays and plain objects. Anything else
 * (floats, NaN, huge integers, undefined, Dates, Buffers) is refused, so every stored hash can be
 * recomputed from the stored row by an outside verifier.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export class CanonicalError extends Error {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'CanonicalError';
  }
}

/** Deeper nesting is refused rather than risking the stack on hostile input. */
export const MAX_DEPTH = 128;

export function canonicalize(value: unknown): string {
  return encode(value, '$', 0);
}

function encode(value: unknown, path: string, depth: number): string {
  if (value === null) return 'null';
  if (depth > MAX_DEPTH) throw new CanonicalError(path, `nesting deeper than ${MAX_DEPTH} levels`);
  switch (typeof value) {
    case 'string':
      if (value.includes('\u0000')) throw new CanonicalError(path, 'strings may not contain U+0000');
      if (!value.isWellFormed()) throw new CanonicalError(path, 'strings must be well-formed UTF-16');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value))
        throw new CanonicalError(path, 'only safe integers are allowed; store other numbers as strings');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v, i) => encode(v, `${path}[${i}]`, depth + 1)).join(',')}]`;
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new CanonicalError(path, 'only plain objects are allowed');
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).sort(compareUtf16);
      const parts: string[] = [];
      for (const key of keys) {
        if (obj[key] === undefined) throw new CanonicalError(`${path}.${key}`, 'undefined is not JSON');
        if (key.includes('\u0000')) throw new CanonicalError(path, 'keys may not contain U+0000');
        parts.push(`${JSON.stringify(key)}:${encode(obj[key], `${path}.${key}`, depth + 1)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      throw new CanonicalError(path, `${typeof value} is not JSON`);
  }
}

/** RFC 8785 §3.2.3: sort by UTF-16 code units, which is what plain string comparison does in JS. */
function compareUtf16(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
