import { createHmac } from 'node:crypto';
import {
  addIdentifier,
  CandidateInputError,
  candidateStreams,
  createCandidateByRecruiter,
  createCandidateDirectory,
  identifierDigest,
  normaliseIdNumber,
  normalisePhone,
  savePosition,
  type IdentifierDeps,
} from '../../src/candidates';
import { createLedger, type JsonValue, type Ledger } from '../../src/evidence';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * Re-applicants entered by a recruiter (DECISIONS 10): phone and ID numbers kept as HMACs only,
 * the same identifier never two candidates, concurrent entries merging rather than duplicating.
 */

const CORP = 'wwcorp0001';
const KEY = 'another-test-key-for-identifiers-0123456789';

describe('normalising identifiers', () => {
  test('a mainland mobile is its 11 digits however it is written; other numbers E.164', () => {
    for (const v of ['13800000001', '+86 138 0000 0001', '0086-138-0000-0001', '86 13800000001', '(+86)138-0000-0001']) {
      expect(normalisePhone(v)).toBe('13800000001');
    }
    expect(normalisePhone('+852 9123 4567')).toBe('+85291234567');
    expect(normalisePhone('00852 9123 4567')).toBe('+85291234567');
    for (const bad of ['12345', '1380000000', '+0 123', 'abc', ''])
      expect(() => normalisePhone(bad)).toThrow(CandidateInputError);
  });

  test('an ID number needs 18 characters and its GB 11643 checksum; x is X', () => {
    expect(normaliseIdNumber('11010519491231002x')).toBe('11010519491231002X');
    expect(normaliseIdNumber('110105 19491231 002X')).toBe('11010519491231002X');
    expect(() => normaliseIdNumber('110105194912310021')).toThrow('校验位');
    expect(() => normaliseIdNumber('1101051949123100')).toThrow('18位');
  });

  test('the digest is a keyed HMAC of the normalised value: same person, same digest; another key, another', () => {
    const a = identifierDigest(KEY, 'phone', '+86 138-0000-0001');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(identifierDigest(KEY, 'phone', '13800000001')).toBe(a);
    expect(identifierDigest(`${KEY}!`, 'phone', '13800000001')).not.toBe(a);
    // Exactly HMAC-SHA256(key, "<kind>:<normalised value>"), so another implementation can match it.
    expect(a).toBe(createHmac('sha256', KEY).update('phone:13800000001').digest('hex'));
    expect(identifierDigest(KEY, 'id_number', '11010519491231002x')).toBe(
      createHmac('sha256', KEY).update('id_number:11010519491231002X').digest('hex'),
    );
    expect(() => identifierDigest('short', 'phone', '13800000001')).toThrow('32');
  });
});

describe('re-applicants entered by recruiters', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let deps: IdentifierDeps;
  beforeEach(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    deps = { transact: ledger.transact.bind(ledger), hmacKey: KEY };
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
  });

  const records = async (where = 'true') =>
    (
      await db.pool.query<{
        stream: string;
        kind: string;
        actor: string;
        source_ref: string;
        payload: { [k: string]: JsonValue };
      }>(`SELECT stream, kind, actor, source_ref, payload FROM evidence_records WHERE ${where} ORDER BY seq`)
    ).rows;

  test('the same ID number entered for two candidates at once: one person, never two identifier rows', async () => {
    const a = await createCandidateByRecruiter(deps, { corpId: CORP, recruiter: 'zhangmin' });
    const b = await createCandidateByRecruiter(deps, { corpId: CORP, recruiter: 'liqiang' });
    expect(a.candidate.candidateId).not.toBe(b.candidate.candidateId);
    const id = '11010519491231002X';
    const [ra, rb] = await Promise.all([
      addIdentifier(deps, {
        corpId: CORP,
        candidateId: a.candidate.candidateId,
        enteredBy: 'zhangmin',
        input: { kind: 'id_number', value: id, consentBasis: 'separate_consent' },
      }),
      addIdentifier(deps, {
        corpId: CORP,
        candidateId: b.candidate.candidateId,
        enteredBy: 'liqiang',
        input: { kind: 'id_number', value: id.toLowerCase(), consentBasis: 'separate_consent' },
      }),
    ]);
    // One of them stored it, the other found it and merged: the later row into the earlier.
    expect([ra.status, rb.status].sort()).toEqual(['added', 'merged']);
    // Whichever call won, the merge names the earlier candidate (the winner's own answer names the
    // row it stored on, which the rows below show merged into the earlier one when it was b).
    expect([ra, rb].find((r) => r.status === 'merged')?.candidate.candidateId).toBe(a.candidate.candidateId);
    const { rows } = await db.pool.query('SELECT id, merged_into FROM candidates ORDER BY created_at');
    expect(rows).toEqual([
      { id: a.candidate.candidateId, merged_into: null },
      { id: b.candidate.candidateId, merged_into: a.candidate.candidateId },
    ]);
    const { rows: ids } = await db.pool.query('SELECT candidate_id FROM candidate_identifiers');
    expect(ids).toHaveLength(1);
    expect(JSON.stringify(await records())).not.toContain(id);
    expect(await records("kind = 'candidate.merged'")).toHaveLength(2);
  });

  test('another external_userid of the same person: attached, or merged when it already is a candidate', async () => {
    const directory = createCandidateDirectory(db.appPool);
    const a = await createCandidateByRecruiter(deps, { corpId: CORP, recruiter: 'zhangmin', externalUserId: 'wmFirstAccount' });
    expect(a.created).toBe(true);
    const added = await addIdentifier(deps, {
      corpId: CORP,
      candidateId: a.candidate.candidateId,
      enteredBy: 'zhangmin',
      input: { kind: 'external_userid', value: 'wmSecondAccount' },
    });
    expect(added.status).toBe('added');
    expect((await directory.find(CORP, 'wmSecondAccount'))?.candidateId).toBe(a.candidate.candidateId);

    // A third account that came in by itself and was made a candidate of its own; then recognised.
    const c = await ledger.transact(async (tx) => {
      const ref = await directory.candidateFor(tx, CORP, 'wmThirdAccount', { via: 'kf', openKfId: 'wkKF' });
      return { result: ref, entries: ref.entries };
    });
    const merged = await addIdentifier(deps, {
      corpId: CORP,
      candidateId: c.result.candidateId,
      enteredBy: 'zhangmin',
      input: { kind: 'external_userid', value: 'wmFirstAccount' },
    });
    expect(merged).toEqual({ candidate: a.candidate, status: 'merged', mergedFrom: c.result.candidateId });
    for (const ext of ['wmFirstAccount', 'wmSecondAccount', 'wmThirdAccount']) {
      expect((await directory.find(CORP, ext))?.candidateId).toBe(a.candidate.candidateId);
    }
    // A merge of a row that others were merged into keeps merges one hop deep.
    const d = await createCandidateByRecruiter(deps, {
      corpId: CORP,
      recruiter: 'liqiang',
      identifiers: [{ kind: 'phone', value: '13900000009', consentBasis: 'separate_consent' }],
    });
    await addIdentifier(deps, {
      corpId: CORP,
      candidateId: c.result.candidateId,
      enteredBy: 'zhangmin',
      input: { kind: 'phone', value: '13900000009', consentBasis: 'separate_consent' },
    });
    const { rows } = await db.pool.query<{ id: string; merged_into: string | null }>('SELECT id, merged_into FROM candidates');
    for (const r of rows) if (r.id !== a.candidate.candidateId) expect(r.merged_into).toBe(a.candidate.candidateId);
    expect((await directory.get(CORP, d.candidate.candidateId))?.candidateId).toBe(a.candidate.candidateId);
    // The person's history: every row's stream, the surviving one first.
    const streams = await candidateStreams(db.appPool, CORP, d.candidate.candidateId);
    expect(streams).toHaveLength(3);
    expect(streams[0]).toBe(a.candidate.stream);
    expect(new Set(streams)).toEqual(new Set([a.candidate.stream, `candidate:${c.result.candidateId}`, d.candidate.stream]));
  });

  test('a recruiter creates a candidate for a position; a refused position or identifier writes nothing', async () => {
    await savePosition(db.appPool, CORP, { id: 'pm-2026', title: '产品经理', level: 'P7' });
    const made = await createCandidateByRecruiter(deps, {
      corpId: CORP,
      recruiter: 'ChenJing',
      positionId: 'pm-2026',
      identifiers: [{ kind: 'phone', value: '13700000007', consentBasis: 'contract_necessity' }],
    });
    expect(made.created).toBe(true);
    expect((await records()).map((r) => [r.kind, r.actor])).toEqual([
      ['candidate.created', 'chenjing'],
      ['candidate.position', 'chenjing'],
      ['candidate.identifier', 'chenjing'],
    ]);
    const before = await records();
    await expect(createCandidateByRecruiter(deps, { corpId: CORP, recruiter: 'chenjing', positionId: 'nope' })).rejects.toThrow(
      '职位不存在',
    );
    await expect(
      createCandidateByRecruiter(deps, {
        corpId: CORP,
        recruiter: 'chenjing',
        identifiers: [{ kind: 'id_number', value: '123', consentBasis: 'separate_consent' }],
      }),
    ).rejects.toThrow(CandidateInputError);
    await expect(
      createCandidateByRecruiter(
        { ...deps, hmacKey: undefined },
        {
          corpId: CORP,
          recruiter: 'chenjing',
          identifiers: [{ kind: 'phone', value: '13700000008', consentBasis: 'separate_consent' }],
        },
      ),
    ).rejects.toThrow('CANDIDATE_IDENTIFIER_HMAC_KEY');
    expect(await records()).toEqual(before);
    const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM candidates');
    expect(rows[0]?.n).toBe(1);
  });
});
