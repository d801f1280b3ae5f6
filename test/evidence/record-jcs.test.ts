import { randomBytes } from 'node:crypto';
import { canonicalize } from '../../src/evidence';
import { hashedForm, hashedFormJcs, type RecordHeader } from '../../src/evidence/record';

/**
 * hashedFormJcs writes the hashed form without the general encoder (issue 8). It must give exactly
 * canonicalize(hashedForm(h)) for every header, and refuse what canonicalize refuses.
 */

const ALPHABET = [
  'a',
  'Z',
  '0',
  '"',
  '\\',
  '\n',
  '\u0001',
  '\u001f',
  '\u007f',
  '候',
  '选',
  '人',
  '\u2028',
  '😀',
  '/',
  ' ',
  '#',
  '\uFFFF',
];
function text(max: number): string {
  const n = randomBytes(1)[0] as number;
  let out = '';
  for (let i = 0; i < n % max; i++) out += ALPHABET[(randomBytes(1)[0] as number) % ALPHABET.length];
  return out;
}
function header(): RecordHeader {
  const r = randomBytes(4);
  return {
    seq: r.readUInt32BE(0) * 2048 + (r[0] as number),
    stream: text(40),
    kind: text(20),
    occurredAt: new Date(Date.UTC(2026, 0, 1) + (r.readUInt32BE(0) % 1e9) * 1000 + (r[1] as number)),
    recordedAt: new Date(Date.UTC(1, 0, 1) + (r[2] as number)),
    actor: text(30),
    source: text(10),
    sourceRef: text(60),
    prevHash: (r[3] as number) % 3 === 0 ? null : randomBytes(32).toString('hex'),
    payloadSha256: randomBytes(32).toString('hex'),
    rawSha256: (r[3] as number) % 2 === 0 ? null : randomBytes(32).toString('hex'),
  };
}

test('equals canonicalize(hashedForm(h)) on 5,000 random headers', () => {
  for (let i = 0; i < 5000; i++) {
    const h = header();
    expect(hashedFormJcs(h)).toBe(canonicalize(hashedForm(h)));
  }
});

test.each([
  ['U+0000 in a field', { actor: 'a\u0000b' }],
  ['a lone surrogate', { sourceRef: 'x\uD800' }],
  ['an unsafe seq', { seq: 2 ** 53 }],
  ['a fractional seq', { seq: 1.5 }],
])('refuses %s exactly as canonicalize does', (_name, change) => {
  const h = { ...header(), ...change } as RecordHeader;
  expect(() => canonicalize(hashedForm(h))).toThrow();
  expect(() => hashedFormJcs(h)).toThrow(expect.objectContaining({ message: expect.any(String) }));
  let expected = '';
  try {
    canonicalize(hashedForm(h));
  } catch (err) {
    expected = (err as Error).message;
  }
  expect(() => hashedFormJcs(h)).toThrow(expected);
});
