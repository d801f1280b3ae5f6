import { createHash } from 'node:crypto';
import { canonicalize, createLedger, verifyLedger, type EvidenceEntry, type JsonValue, type Ledger } from '../../src/evidence';
import { EvidenceInputError } from '../../src/evidence/ledger';
import { evidenceEntry } from '../factories/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';

/** The append path: Merkle nodes, redelivery variants, bad rows failing alone, the function's own checks. */

const sha = (b: Buffer) => createHash('sha256').update(b).digest();
const node = (l: Buffer, r: Buffer) => sha(Buffer.concat([Buffer.from([1]), l, r]));

/** RFC 9162 §2.1.1 MTH, written from the RFC: k is the largest power of two smaller than n. */
function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return sha(Buffer.alloc(0));
  if (leaves.length === 1) return leaves[0] as Buffer;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return node(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

let n = 0;
/** Spread over three streams, so that one batch extends several chains. */
function entry(over: Partial<EvidenceEntry> = {}): EvidenceEntry {
  n += 1;
  return evidenceEntry({ stream: `s${n % 3}`, payload: { n }, ...over });
}

/** A rule comparing one field, as the callback path compares parsed fields. */
function byField(value: string, aliases?: string[]): EvidenceEntry['redelivery'] {
  const digestOf = (p: JsonValue) =>
    createHash('sha256')
      .update(canonicalize((p as { fields?: JsonValue }).fields ?? null))
      .digest('hex');
  return { digest: digestOf({ fields: { v: value } }), digestOf, ...(aliases ? { aliases } : {}) };
}

describe('evidence append path', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  beforeEach(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.pool, batchMax: 7 });
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
  });

  test('stored Merkle nodes are exactly the complete subtrees of the records, whatever the batch sizes', async () => {
    for (const size of [1, 2, 5, 13, 16, 1]) {
      await Promise.all(Array.from({ length: size }, () => ledger.append(entry())));
    }
    const { rows: leaves } = await db.pool.query<{ hash: string }>('SELECT hash FROM evidence_records ORDER BY seq');
    const leafBufs = leaves.map((r) => Buffer.from(r.hash, 'hex'));
    expect(leafBufs).toHaveLength(38);
    const { rows: nodes } = await db.pool.query<{ level: number; idx: string; hash: Buffer }>(
      'SELECT level, idx, hash FROM evidence_merkle_nodes ORDER BY level, idx',
    );
    let expected = 0;
    for (let level = 1; 2 ** level <= 38; level++) expected += Math.floor(38 / 2 ** level);
    expect(nodes).toHaveLength(expected);
    for (const r of nodes) {
      const width = 2 ** r.level;
      const start = Number(r.idx) * width;
      expect(r.hash.equals(mth(leafBufs.slice(start, start + width)))).toBe(true);
    }
  });

  test('a key already stored with equal fields is a redelivery; with different fields a linked record of its own', async () => {
    const first = await ledger.append(entry({ sourceRef: 'k1', payload: { fields: { v: 'a' } }, redelivery: byField('a') }));
    const again = await ledger.append(entry({ sourceRef: 'k1', payload: { fields: { v: 'a' } }, redelivery: byField('a') }));
    expect(again).toMatchObject({ status: 'duplicate', seq: first.seq });

    const other = await ledger.append(entry({ sourceRef: 'k1', payload: { fields: { v: 'b' } }, redelivery: byField('b') }));
    expect(other.status).toBe('appended');
    if (other.status !== 'appended') return;
    expect(other.variantOf).toEqual({ seq: first.seq, hash: first.hash });
    const { rows } = await db.pool.query('SELECT source_ref, payload FROM evidence_records WHERE seq = $1', [other.seq]);
    expect(rows[0].source_ref).toBe(`k1#${byField('b')?.digest.slice(0, 16)}`);
    expect(rows[0].payload.variant_of).toEqual({ seq: first.seq, hash: first.hash, source_ref: 'k1' });

    // A redelivery of either event is recognised as that event.
    const otherAgain = await ledger.append(entry({ sourceRef: 'k1', payload: { fields: { v: 'b' } }, redelivery: byField('b') }));
    expect(otherAgain).toMatchObject({ status: 'duplicate', seq: other.seq });
    const firstAgain = await ledger.append(entry({ sourceRef: 'k1', payload: { fields: { v: 'a' } }, redelivery: byField('a') }));
    expect(firstAgain).toMatchObject({ status: 'duplicate', seq: first.seq });

    const { rows: counts } = await db.pool.query('SELECT source_ref, deliveries FROM evidence_redeliveries ORDER BY source_ref');
    expect(counts.map((c) => [c.source_ref, c.deliveries])).toEqual([
      ['k1', 3],
      [rows[0].source_ref, 2],
    ]);
    expect((await verifyLedger(db.pool)).ok).toBe(true);
  });

  test('a key stored under an older format keeps matching its redeliveries, and only those', async () => {
    const old = await ledger.append(entry({ sourceRef: 'old-format', payload: { fields: { v: 'a' } } }));
    const redelivered = await ledger.append(
      entry({ sourceRef: 'new-format', payload: { fields: { v: 'a' } }, redelivery: byField('a', ['old-format']) }),
    );
    expect(redelivered).toMatchObject({ status: 'duplicate', seq: old.seq });
    const distinct = await ledger.append(
      entry({ sourceRef: 'new-format', payload: { fields: { v: 'z' } }, redelivery: byField('z', ['old-format']) }),
    );
    expect(distinct.status).toBe('appended');
  });

  test('concurrent deliveries of one event in one batch store one record; distinct ones sharing the key store two', async () => {
    const results = await Promise.all([
      ...Array.from({ length: 4 }, () =>
        ledger.append(entry({ sourceRef: 'same', payload: { fields: { v: 'x' } }, redelivery: byField('x') })),
      ),
      ledger.append(entry({ sourceRef: 'same', payload: { fields: { v: 'y' } }, redelivery: byField('y') })),
    ]);
    expect(results.filter((r) => r.status === 'appended')).toHaveLength(2);
    const { rows } = await db.pool.query(`SELECT count(*)::int AS c FROM evidence_records WHERE source_ref LIKE 'same%'`);
    expect(rows[0].c).toBe(2);
  });

  test('a row PostgreSQL refuses fails alone; the good rows of its batch commit', async () => {
    await db.admin(`ALTER TABLE evidence_records ADD CONSTRAINT test_poison CHECK (kind <> 'test.poison') NOT VALID`);
    const wide = createLedger({ pool: db.pool, batchMax: 64 });
    const settled = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) => wide.append(entry(i === 17 ? { kind: 'test.poison' } : {}))),
    );
    await wide.close();
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(39);
    expect(settled[17]?.status).toBe('rejected');
    const report = await verifyLedger(db.pool);
    expect(report).toMatchObject({ ok: true, records: 39 });
  });

  test('what the hashed form cannot write is refused before the batch', async () => {
    await expect(ledger.append(entry({ occurredAt: new Date(253402300800 * 1000) }))).rejects.toThrow(EvidenceInputError);
    const deep: JsonValue = JSON.parse('['.repeat(5000) + ']'.repeat(5000)) as JsonValue;
    await expect(ledger.append(entry({ payload: deep }))).rejects.toThrow(/nesting deeper/);
    expect(await ledger.append(entry())).toMatchObject({ status: 'appended', seq: 1 });
  });

  describe('evidence_append() refuses a batch that breaks an invariant, whoever calls it', () => {
    const hex = (c: string) => c.repeat(64);
    async function call(rows: object[], recordedAt?: Date) {
      const client = await db.pool.connect();
      try {
        await client.query('BEGIN');
        const { rows: lock } = await client.query('SELECT * FROM evidence_lock()');
        await client.query('SELECT evidence_append(1::smallint, $1, $2::jsonb, $3::jsonb)', [
          recordedAt ?? lock[0].now,
          JSON.stringify(rows),
          '[]',
        ]);
        await client.query('COMMIT');
      } finally {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
      }
    }
    const row = (seq: number, prev: string | null, hash: string, stream = 'x') => ({
      seq,
      stream,
      kind: 'k',
      occurred_at: '2026-11-20T01:02:03.456Z',
      actor: 'a',
      source: 'test',
      source_ref: `r${seq}-${stream}`,
      payload: {},
      raw: null,
      payload_sha256: hex('0'),
      raw_sha256: null,
      prev_hash: prev,
      hash,
    });

    test('a gap in seq', async () => {
      await expect(call([row(2, null, hex('a'))])).rejects.toMatchObject({ code: 'HL001' });
    });
    test('a record that does not link to its stream head', async () => {
      await expect(call([row(1, hex('b'), hex('a'))])).rejects.toMatchObject({ code: 'HL001' });
    });
    test('a recorded_at other than the one evidence_lock() stamped (backdating)', async () => {
      await expect(call([row(1, null, hex('a'))], new Date('2020-01-01T00:00:00Z'))).rejects.toMatchObject({ code: 'HL001' });
    });
    test('without evidence_lock() in the same transaction', async () => {
      await expect(
        db.pool.query('SELECT evidence_append(1::smallint, now(), $1::jsonb, $2::jsonb)', [
          JSON.stringify([row(1, null, hex('a'))]),
          '[]',
        ]),
      ).rejects.toMatchObject({ code: 'HL001' });
    });
    test('a well-formed batch passes, and the database computes its Merkle node', async () => {
      await call([row(1, null, hex('a')), row(2, hex('a'), hex('b'))]);
      const { rows } = await db.pool.query('SELECT last_seq FROM evidence_counter');
      expect(rows[0].last_seq).toBe('2');
      const { rows: nodes } = await db.pool.query<{ hash: Buffer }>('SELECT hash FROM evidence_merkle_nodes');
      expect(nodes.map((n) => n.hash.toString('hex'))).toEqual([
        createHash('sha256')
          .update(Buffer.concat([Buffer.from([1]), Buffer.from(hex('a'), 'hex'), Buffer.from(hex('b'), 'hex')]))
          .digest('hex'),
      ]);
    });
  });
});
