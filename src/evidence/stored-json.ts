import type { JsonValue } from './canonical';

/**
 * Reads PostgreSQL's text form of a stored jsonb value without losing anything the hash covers.
 *
 * JSON.parse would read `1000002.0` as 1000002 and `9007199254740993` as 9007199254740992, so an
 * edited number could still match its digest, or a huge one crash the check. Stored evidence may
 * hold integers only (docs/evidence-format.md), so any other number is reported, naming where.
 */
export class StoredJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoredJsonError';
  }
}

const MAX_DEPTH = 256;
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

export function parseStoredJson(text: string): JsonValue {
  let i = 0;
  const fail = (why: string): never => {
    throw new StoredJsonError(`${why} at offset ${i}`);
  };
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\t' || text[i] === '\r')) i += 1;
  };
  const str = (): string => {
    const start = i;
    i += 1;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i += 1;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
    ws();
    const c = text[i];
    if (c === '"') return str();
    if (c === '{') {
      i += 1;
      const out: Record<string, JsonValue> = {};
      ws();
      if (text[i] === '}') {
        i += 1;
        return out;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = str();
        ws();
        if (text[i] !== ':') fail('expected ":"');
        i += 1;
        Object.defineProperty(out, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') {
          i += 1;
          continue;
        }
        if (text[i] === '}') {
          i += 1;
          return out;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i += 1;
      const out: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i += 1;
        return out;
      }
      for (;;) {
        out.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i += 1;
          continue;
        }
        if (text[i] === ']') {
          i += 1;
          return out;
        }
        fail('expected "," or "]"');
      }
    }
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const start = i;
    while (i < text.length && /[-+0-9.eE]/.test(text[i] as string)) i += 1;
    const token = text.slice(start, i);
    if (token === '') fail('unexpected character');
    if (!INTEGER.test(token)) throw new StoredJsonError(`number ${token} is not an integer`);
    const n = Number(token);
    if (!Number.isSafeInteger(n)) throw new StoredJsonError(`integer ${token} is outside ±(2^53-1)`);
    return n;
  };
  const out = value(0);
  ws();
  if (i !== text.length) fail('trailing characters');
  return out;
}
