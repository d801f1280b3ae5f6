import type { PoolClient } from 'pg';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * The database itself refuses a digest column that is not 64 lower-case hex digits (migration
 * 1764547200017 wrote these checks without a regular expression, for speed: the rule must not
 * have moved). Written as a superuser straight into the table, so only the CHECK stands in the way.
 */

const GOOD = 'ab'.repeat(32);
const COLUMNS = ['payload_sha256', 'raw_sha256', 'prev_hash', 'hash'] as const;
const BAD: Record<string, string> = {
  'upper case': 'AB'.repeat(32),
  'one short': GOOD.slice(1),
  'one long': `${GOOD}a`,
  'a letter past f': `g${GOOD.slice(1)}`,
  'a space': ` ${GOOD.slice(1)}`,
  'a trailing newline': `${GOOD.slice(1)}\n`,
  'full-width digit': `１${GOOD.slice(1)}`,
  empty: '',
};

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

let seq = 0;
async function insert(client: PoolClient, column: (typeof COLUMNS)[number] | null, value: string): Promise<void> {
  seq += 1;
  const v = (c: string) => (c === column ? value : GOOD);
  await client.query(
    `INSERT INTO evidence_records (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref,
                                   payload, raw, payload_sha256, raw_sha256, prev_hash, hash)
     VALUES ($1, 1, 's', 'k', '2026-11-26T00:00:00Z', '2026-11-26T00:00:00Z', '', 'src', $2, '{}', '{}', $3, $4, $5, $6)`,
    [seq, `ref-${seq}`, v('payload_sha256'), v('raw_sha256'), v('prev_hash'), v('hash')],
  );
}

/** Runs `work` in a transaction that is always rolled back, and returns its error, if any. */
async function attempt(work: (c: PoolClient) => Promise<void>): Promise<{ code?: string; constraint?: string } | undefined> {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    await work(client);
    return undefined;
  } catch (err) {
    return err as { code?: string; constraint?: string };
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

test('64 lower-case hex digits are accepted in every digest column, and NULL where NULL was allowed', async () => {
  expect(await attempt((c) => insert(c, null, ''))).toBeUndefined();
  for (const column of ['raw_sha256', 'prev_hash'] as const) {
    const err = await attempt(async (c) => {
      seq += 1;
      await c.query(
        `INSERT INTO evidence_records (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref,
                                       payload, raw, payload_sha256, raw_sha256, prev_hash, hash)
         VALUES ($1, 1, 's', 'k', '2026-11-26T00:00:00Z', '2026-11-26T00:00:00Z', '', 'src', $2, '{}', $3, $4, $5, $6, $4)`,
        [
          seq,
          `ref-${seq}`,
          column === 'raw_sha256' ? null : '{}',
          GOOD,
          column === 'raw_sha256' ? null : GOOD,
          column === 'prev_hash' ? null : GOOD,
        ],
      );
    });
    expect(err).toBeUndefined();
  }
});

describe.each(COLUMNS)('%s', (column) => {
  test.each(Object.keys(BAD))('refuses %s', async (name) => {
    const err = await attempt((c) => insert(c, column, BAD[name] as string));
    expect(err).toMatchObject({ code: '23514', constraint: `evidence_records_${column}_check` });
  });
});
