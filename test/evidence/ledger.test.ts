import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { canonicalize, createLedger, leafHash, verifyLedger, type Ledger } from '../../src/evidence';
import { EvidenceInputError } from '../../src/evidence/ledger';
import { evidenceEntry as entry } from '../factories/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';

const run = promisify(execFile);

describe('evidence ledger', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  beforeEach(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.pool });
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
  });

  test('appends get gapless seq and each stream is its own hash chain', async () => {
    const a1 = await ledger.append(entry({ stream: 'a' }));
    const b1 = await ledger.append(entry({ stream: 'b' }));
    const a2 = await ledger.append(entry({ stream: 'a' }));
    expect([a1.seq, b1.seq, a2.seq]).toEqual([1, 2, 3]);
    const { rows } = await db.pool.query('SELECT seq, stream, prev_hash, hash FROM evidence_records ORDER BY seq');
    expect(rows[0].prev_hash).toBeNull();
    expect(rows[1].prev_hash).toBeNull();
    expect(rows[2].prev_hash).toBe(rows[0].hash);
    expect((await verifyLedger(db.pool)).ok).toBe(true);
  });

  test('the stored hash is SHA-256 over 0x00 and the RFC 8785 encoding in docs/evidence-format.md', async () => {
    const r = await ledger.append(entry({ stream: 's', sourceRef: 'fixed', payload: { b: 'é', a: [1, true, null] } }));
    if (r.status !== 'appended') throw new Error('expected an append');
    const { createHash } = await import('node:crypto');
    const sha = (t: string) => createHash('sha256').update(t, 'utf8').digest('hex');
    // Written out by hand from the spec, not by our encoder.
    const payloadSha = sha('{"a":[1,true,null],"b":"é"}');
    const expectedCanonical =
      `{"actor":"zhangmin","kind":"test.note","occurred_at":"2026-11-20T01:02:03.456Z","payload_sha256":"${payloadSha}",` +
      `"prev_hash":null,"raw_sha256":null,"recorded_at":"${r.recordedAt.toISOString()}","seq":1,"source":"test","source_ref":"fixed","stream":"s","v":1}`;
    const independent = createHash('sha256')
      .update(Buffer.concat([Buffer.from([0]), Buffer.from(expectedCanonical, 'utf8')]))
      .digest('hex');
    expect(r.hash).toBe(independent);
    const { rows } = await db.pool.query('SELECT payload_sha256, raw_sha256, hash FROM evidence_records');
    expect(rows[0]).toEqual({ payload_sha256: payloadSha, raw_sha256: null, hash: independent });
  });

  test('recorded_at never goes backwards along seq, even if the database clock steps back', async () => {
    await ledger.append(entry());
    // As if the clock had been an hour ahead for the previous append and then stepped back.
    const ahead = new Date(Date.now() + 3600_000);
    await db.pool.query('UPDATE evidence_counter SET last_recorded_at = $1', [ahead]);
    const r = await ledger.append(entry());
    if (r.status !== 'appended') throw new Error('expected an append');
    expect(r.recordedAt.toISOString()).toBe(ahead.toISOString());
    const later = await ledger.append(entry());
    expect(later.status === 'appended' && later.recordedAt.getTime()).toBeGreaterThanOrEqual(ahead.getTime());
    expect((await verifyLedger(db.pool)).ok).toBe(true);
  });

  test('the same source and source_ref is stored once and the repeat is counted', async () => {
    const first = await ledger.append(entry({ sourceRef: 'same' }));
    const again = await Promise.all([ledger.append(entry({ sourceRef: 'same' })), ledger.append(entry({ sourceRef: 'same' }))]);
    expect(again.map((r) => r.status)).toEqual(['duplicate', 'duplicate']);
    expect(again.map((r) => r.seq)).toEqual([first.seq, first.seq]);
    const { rows } = await db.pool.query('SELECT deliveries FROM evidence_redeliveries');
    expect(rows).toEqual([{ deliveries: 3 }]);
  });

  test('entries that could not be re-verified later are refused before they reach the database', async () => {
    await expect(ledger.append(entry({ payload: { amount: 1.5 } }))).rejects.toThrow(EvidenceInputError);
    // eslint-disable-next-line no-loss-of-precision -- the point: such a number cannot be stored exactly
    await expect(ledger.append(entry({ payload: { id: 4561255354251345929 } }))).rejects.toThrow(EvidenceInputError);
    await expect(ledger.append(entry({ payload: { t: 'a\u0000b' } }))).rejects.toThrow(EvidenceInputError);
    await expect(ledger.append(entry({ stream: '' }))).rejects.toThrow(EvidenceInputError);
    expect((await db.pool.query('SELECT count(*)::int AS c FROM evidence_records')).rows[0].c).toBe(0);
    expect(() => canonicalize({ d: new Date() })).toThrow();
  });

  test('the database refuses UPDATE, DELETE and TRUNCATE on evidence, even for the table owner', async () => {
    await ledger.append(entry());
    await expect(db.pool.query(`UPDATE evidence_records SET actor = 'x'`)).rejects.toThrow(/append-only: UPDATE/);
    await expect(db.pool.query(`DELETE FROM evidence_records`)).rejects.toThrow(/append-only: DELETE/);
    await expect(db.pool.query(`TRUNCATE evidence_records CASCADE`)).rejects.toThrow(/append-only: TRUNCATE/);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM evidence_records');
    expect(rows[0].n).toBe(1);
  });

  test('the application role may insert and read evidence but has no UPDATE or DELETE privilege (H8)', async () => {
    await ledger.append(entry());
    const client = await db.pool.connect();
    try {
      await client.query('SET ROLE hireledger_app');
      await expect(client.query('SELECT count(*) FROM evidence_records')).resolves.toBeDefined();
      await expect(client.query(`UPDATE evidence_records SET actor = 'x'`)).rejects.toThrow(/permission denied/);
      await expect(client.query(`DELETE FROM evidence_records`)).rejects.toThrow(/permission denied/);
    } finally {
      await client.query('RESET ROLE');
      client.release();
    }
  });

  test('a fork is impossible: two records may not link to the same predecessor', async () => {
    const first = await ledger.append(entry({ stream: 'x' }));
    await ledger.append(entry({ stream: 'x' }));
    await expect(
      db.pool.query(
        `INSERT INTO evidence_records (seq, hash_version, stream, kind, occurred_at, recorded_at, actor, source, source_ref, payload, payload_sha256, prev_hash, hash)
         VALUES (99, 1, 'x', 'k', date_trunc('milliseconds', now()), date_trunc('milliseconds', now()), 'a', 'test', 'fork', '{}', $2, $1, $2)`,
        [first.hash, 'f'.repeat(64)],
      ),
    ).rejects.toThrow(/evidence_records_no_fork/);
  });

  test('appends from two OS processes at once never fork a chain or reuse a seq', async () => {
    const script = join(__dirname, '..', 'support', 'append-process.ts');
    const tsx = join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx');
    const [p1, p2] = await Promise.all([run(tsx, [script, db.url, 'api', '300']), run(tsx, [script, db.url, 'worker', '300'])]);
    expect([p1.stdout, p2.stdout]).toEqual(['300', '300']);
    const { rows } = await db.pool.query(
      'SELECT count(*)::int AS n, min(seq)::int AS lo, max(seq)::int AS hi FROM evidence_records',
    );
    expect(rows[0]).toEqual({ n: 600, lo: 1, hi: 600 });
    const report = await verifyLedger(db.pool);
    expect(report).toMatchObject({ ok: true, records: 600, streams: 3 });
    // Both processes really interleaved on the shared streams.
    const actors = await db.pool.query(
      `SELECT count(DISTINCT actor)::int AS n FROM evidence_records WHERE stream = 'candidate:0'`,
    );
    expect(actors.rows[0].n).toBe(2);
  }, 60000);

  test('64 concurrent writers on one chain: no gap, no fork, every append present once (F16)', async () => {
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) => ledger.append(entry({ stream: 'one', sourceRef: `w-${i}` }))),
    );
    expect(new Set(results.map((r) => r.seq)).size).toBe(64);
    const report = await verifyLedger(db.pool);
    expect(report).toMatchObject({ ok: true, records: 64, streams: 1 });
  });

  test('batches sent behind the previous COMMIT (PostgreSQL far away) keep every append once, in order', async () => {
    // pipelineAfterMs 0: every batch lets the next start as soon as its COMMIT is sent, the path
    // taken when the lock round trip is slow; 8 per batch so that many batches overlap.
    const pipelined = createLedger({ pool: db.pool, batchMax: 8, pipelineAfterMs: 0 });
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => pipelined.append(entry({ stream: `p${i % 3}`, sourceRef: `p-${i}` }))),
      );
      expect(results.map((r) => r.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    } finally {
      await pipelined.close();
    }
    expect(await verifyLedger(db.pool)).toMatchObject({ ok: true, records: 200, streams: 3 });
  });

  test('an onBatch hook that throws neither loses an append nor stalls the ones after it', async () => {
    const hooked = createLedger({
      pool: db.pool,
      onBatch: () => {
        throw new Error('metrics broke');
      },
    });
    try {
      const first = await hooked.append(entry({ stream: 'h', sourceRef: 'h-1' }));
      const second = await hooked.append(entry({ stream: 'h', sourceRef: 'h-2' }));
      expect([first.seq, second.seq]).toEqual([1, 2]);
    } finally {
      await hooked.close();
    }
  });
});

describe('hash encoding', () => {
  test('the append path and the verifier hash the same record identically', () => {
    const samples = [
      { payload: { z: 1, a: { é: ['x', null, false] }, '': 'empty key' }, raw: null, prevHash: null },
      { payload: '"quoted"\n\u2028 𠀀 🙂', raw: { body: '<xml>]]></xml>' }, prevHash: 'a'.repeat(64) },
    ];
    for (const s of samples) {
      const r = {
        seq: 42,
        stream: 'candidate:张三',
        kind: 'k.v',
        occurredAt: new Date(0),
        recordedAt: new Date(1795000000123),
        actor: '"a"',
        source: 's',
        sourceRef: 'r\\1',
        ...s,
      };
      expect(leafHash(r)).toMatch(/^[0-9a-f]{64}$/);
      expect(leafHash({ ...r, payload: { other: true } })).not.toBe(leafHash(r));
    }
  });
});
