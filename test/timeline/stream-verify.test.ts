import { canonicalize, createLedger, readStreamChecked, verifyStream, type JsonValue } from '../../src/evidence';
import { jcs } from '../../src/evidence/stream-verify';
import { conversationMessage } from '../factories/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { tamperAsSuperuser } from '../support/tamper';

/**
 * src/evidence/stream-verify.ts: the per-stream verification the timeline uses. Its fast JCS must
 * be canonical.ts's exactly (same bytes, same refusals), and its fast JSON path must not let a
 * stored number that JSON.parse would round pass as the integer that was hashed.
 */

describe('jcs (the fast canonical JSON of stream verification)', () => {
  const values: JsonValue[] = [
    null,
    true,
    0,
    -7,
    9007199254740991,
    '',
    'plain',
    '引号"反斜杠\\换行\n制表\t\u0001\u001f\u007f\u2028 emoji 😅',
    [],
    {},
    [1, [2, [3, { b: 1, a: 2 }]], 'x', null, false],
    { b: 1, a: 2, A: 3, _: 4, '10': 5, '9': 6, é: 7, e: 8, '😅': 9, ﬀ: 10, '\u0080': 11 },
    {
      message: { msgid: 'm1', text: { content: '我再考虑一下' }, send_time: 1763600000, origin: 3 },
      channel: 'kf',
      nested: [{ z: [] }],
    },
  ];
  test.each(values.map((v) => [JSON.stringify(v), v]))('%s: the same bytes as canonicalize', (_name, v) => {
    expect(jcs(v)).toBe(canonicalize(v));
  });

  test('refuses what canonicalize refuses, with its error', () => {
    let deep: JsonValue = 1;
    for (let i = 0; i < 200; i++) deep = [deep];
    const bad: unknown[] = [
      1.5,
      Number.NaN,
      2 ** 53,
      'a\u0000b',
      '\ud800',
      { ['k\u0000']: 1 },
      { a: undefined },
      new Date(0),
      deep,
    ];
    for (const v of bad) {
      let expected: unknown;
      try {
        canonicalize(v);
      } catch (err) {
        expected = err;
      }
      expect(expected).toBeInstanceOf(Error);
      expect(() => jcs(v as JsonValue)).toThrow((expected as Error).message);
    }
  });
});

describe('readStreamChecked / verifyStream', () => {
  let db: TestDatabase;

  const tamper = (sql: string, params: unknown[] = []) => tamperAsSuperuser(db, sql, params);

  beforeEach(async () => {
    db = await createTestDatabase();
    const ledger = createLedger({ pool: db.appPool });
    for (let i = 1; i <= 2500; i++) {
      // Two streams interleaved; payload with an integer that a stored `1.0` must not impersonate.
      void ledger.append(
        conversationMessage(i, { stream: i % 5 === 0 ? 'candidate:b' : 'candidate:a', payload: { text: `消息 ${i}`, n: 1 } }),
      );
    }
    await ledger.close();
  });
  afterEach(() => db.drop());

  test('a long stream is read whole across chunks, in order, verified, and ends at its head', async () => {
    const read = await readStreamChecked(db.appPool, 'candidate:a', { verify: true });
    expect(read).toMatchObject({ problems: [], reachedEnd: true, verified: 2000 });
    expect(read.records.map((r) => r.seq)).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1).filter((s) => s % 5 !== 0));
    expect(read.records[0]).toMatchObject({ seq: 1, stream: 'candidate:a', payload: { text: '消息 1', n: 1 }, prevHash: null });
    // A plain read is the same records without raw (nothing shown needs it): verifying reads it.
    const plain = await readStreamChecked(db.appPool, 'candidate:a');
    expect(plain.records[0]).not.toHaveProperty('raw');
    expect(read.records[0]).toHaveProperty('raw', null);
    expect(plain.records).toEqual(read.records.map(({ raw: _raw, ...r }) => r));
    expect(await verifyStream(db.appPool, 'candidate:a', { pageSize: 700 })).toMatchObject({ ok: true, records: 2000 });
  });

  test('a limit stops exactly there and says the stream goes on', async () => {
    const page = await readStreamChecked(db.appPool, 'candidate:b', { afterSeq: 5, limit: 3, verify: true });
    expect(page.records.map((r) => r.seq)).toEqual([10, 15, 20]);
    expect(page).toMatchObject({ reachedEnd: false, problems: [] });
    const last = await readStreamChecked(db.appPool, 'candidate:b', { afterSeq: 2490, limit: 3, verify: true });
    expect(last.records.map((r) => r.seq)).toEqual([2495, 2500]);
    expect(last).toMatchObject({ reachedEnd: true, problems: [] });
  });

  test('a stored 1.0 where 1 was hashed is caught (JSON.parse would read it as 1)', async () => {
    await tamper(`UPDATE evidence_records SET payload = jsonb_set(payload, '{n}', '1.0'::jsonb) WHERE seq = 1234`);
    const report = await verifyStream(db.appPool, 'candidate:a');
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'content_mismatch', seq: 1234, detail: expect.stringContaining('1.0') }),
    ]);
  });

  test('a record moved to another stream: both chains show it', async () => {
    await tamper(`UPDATE evidence_records SET stream = 'candidate:b' WHERE seq = 7`);
    expect((await verifyStream(db.appPool, 'candidate:a')).firstProblem).toMatchObject({ kind: 'chain_broken', seq: 8 });
    expect((await verifyStream(db.appPool, 'candidate:b')).firstProblem).toMatchObject({ kind: 'chain_broken', seq: 7 });
  });
});
