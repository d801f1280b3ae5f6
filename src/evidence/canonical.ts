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
  try {
    return encode(value, 0);
  } catch (err) {
    if (err instanceof Refusal) throw new CanonicalError(`$${err.path.reverse().join('')}`, err.reason);
    throw err;
  }
}

/**
 * A refusal on its way out of the recursion: the path is collected while unwinding (innermost step
 * first), so that the encoding of what is accepted, the common case, builds no path strings at all.
 */
class Refusal extends Error {
  readonly path: string[] = [];
  constructor(readonly reason: string) {
    super(reason);
  }
}

function at(err: unknown, step: string): unknown {
  if (err instanceof Refusal) err.path.push(step);
  return err;
}

function encode(value: unknown, depth: number): string {
  if (value === null) return 'null';
  if (depth > MAX_DEPTH) throw new Refusal(`nesting deeper than ${MAX_DEPTH} levels`);
  switch (typeof value) {
    case 'string':
      if (value.includes('\u0000')) throw new Refusal('strings may not contain U+0000');
      if (!value.isWellFormed()) throw new Refusal('strings must be well-formed UTF-16');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new Refusal('only safe integers are allowed; store other numbers as strings');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          try {
            out += encode(value[i], depth + 1);
          } catch (err) {
            throw at(err, `[${i}]`);
          }
        }
        return `${out}]`;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new Refusal('only plain objects are allowed');
      const obj = value as Record<string, unknown>;
      // Array.prototype.sort without a comparator orders strings by UTF-16 code units (RFC 8785 §3.2.3).
      const keys = Object.keys(obj).sort();
      let out = '{';
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        const v = obj[key];
        if (v === undefined) throw at(new Refusal('undefined is not JSON'), `.${key}`);
        if (key.includes('\u0000')) throw new Refusal('keys may not contain U+0000');
        if (i > 0) out += ',';
        try {
          out += `${JSON.stringify(key)}:${encode(v, depth + 1)}`;
        } catch (err) {
          throw at(err, `.${key}`);
        }
      }
      return `${out}}`;
    }
    default:
      throw new Refusal(`${typeof value} is not JSON`);
  }
}
