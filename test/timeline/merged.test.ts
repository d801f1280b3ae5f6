import {
  addIdentifier,
  CANDIDATE_STREAMS,
  createCandidateByRecruiter,
  createCandidateDirectory,
  type CandidateDirectory,
  type IdentifierDeps,
} from '../../src/candidates';
import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES } from '../../src/conversations';
import { createLedger, type Ledger } from '../../src/evidence';
import { completenessReport, readTimeline, resolveCandidate, type TimelineEntry } from '../../src/timeline';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * A person found to be one candidate twice (a re-applicant under another WeChat account, merged by a
 * recruiter's entry): their timeline, its verification and their completeness report cover both
 * rows' streams, in seq order. Before, only the surviving row's stream was read, and the messages
 * the merged row held before the merge were missing from the timeline and from a legal export.
 */

const CORP = 'wwmergedcorp';
const KFID = 'wkMergedKf01';
const KEY = 'a-test-key-for-merged-candidate-timelines-0123';
const at = (minute: number) => new Date(Date.UTC(2026, 10, 20, 1, minute, 0, 0));

describe('the timeline of a merged candidate', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let deps: IdentifierDeps;
  let directory: CandidateDirectory;
  let first: string;
  let second: string;

  async function say(candidateId: string, n: number, text: string): Promise<void> {
    const msgid = `merged-msg-${n}`;
    await ledger.append({
      stream: CANDIDATE_STREAMS.candidate(candidateId),
      kind: CONVERSATION_KINDS.message,
      occurredAt: at(n),
      actor: candidateId,
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfMessage(KFID, msgid),
      payload: {
        channel: 'kf',
        role: 'candidate',
        msgid,
        msgtype: 'text',
        text,
        open_kfid: KFID,
        message: { msgid, msgtype: 'text', text: { content: text } },
      },
      raw: { msgid, body: text },
    });
  }

  beforeEach(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    deps = { transact: ledger.transact.bind(ledger), hmacKey: KEY };
    directory = createCandidateDirectory(db.appPool);
    const a = await createCandidateByRecruiter(deps, { corpId: CORP, recruiter: 'zhangmin', externalUserId: 'wmFirstAccount' });
    first = a.candidate.candidateId;
    await say(first, 1, '您好，我想了解一下这个岗位');
    // The same person writes from another account, and becomes a candidate of its own.
    const b = await ledger.transact(async (tx) => {
      const ref = await directory.candidateFor(tx, CORP, 'wmSecondAccount', { via: 'kf', openKfId: KFID });
      return { result: ref, entries: ref.entries };
    });
    second = b.result.candidateId;
    await say(second, 2, '我已经辞职了，什么时候能入职？');
    await say(first, 3, '我再考虑一下');
    await say(second, 4, '薪资能否再谈');
    // A recruiter recognises them: the later row is merged into the earlier.
    const merged = await addIdentifier(deps, {
      corpId: CORP,
      candidateId: second,
      enteredBy: 'zhangmin',
      input: { kind: 'external_userid', value: 'wmFirstAccount' },
    });
    expect(merged).toMatchObject({ status: 'merged', mergedFrom: second });
    expect(merged.candidate.candidateId).toBe(first);
    await say(first, 5, '好的，我接受');
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
  });

  const texts = (entries: readonly TimelineEntry[]) =>
    entries.filter((e) => e.kind === CONVERSATION_KINDS.message).map((e) => e.summary.replace(/^候选人（微信客服）：/, ''));

  test('either account resolves to the person, with both streams; the timeline holds both, in seq order, verified', async () => {
    for (const key of ['wmFirstAccount', 'wmSecondAccount', first, second]) {
      const person = await resolveCandidate(directory, CORP, key);
      expect(person).toMatchObject({
        candidateId: first,
        streams: [CANDIDATE_STREAMS.candidate(first), CANDIDATE_STREAMS.candidate(second)],
      });
    }
    expect(await directory.externalUserIds(CORP, first)).toEqual(['wmFirstAccount', 'wmSecondAccount']);

    const person = (await resolveCandidate(directory, CORP, 'wmSecondAccount'))!;
    const page = await readTimeline(db.appPool, person, { verify: true });
    expect(texts(page.entries)).toEqual([
      '您好，我想了解一下这个岗位',
      '我已经辞职了，什么时候能入职？',
      '我再考虑一下',
      '薪资能否再谈',
      '好的，我接受',
    ]);
    const seqs = page.entries.map((e) => e.seq);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(new Set(page.entries.map((e) => e.stream))).toEqual(new Set(person.streams));
    // Both rows' merge records are in it.
    expect(page.entries.filter((e) => e.kind === 'candidate.merged')).toHaveLength(2);
    expect(page.streams).toEqual(person.streams);
    expect(page.next_after_seq).toBeNull();
    expect(page.verification).toMatchObject({ ok: true, reached_head: true, problems: [] });
    expect(page.verification?.records).toBe(page.entries.length);

    // Without the person's streams (as before), the merged row's messages were not there.
    const own = await readTimeline(db.appPool, { candidateId: first, stream: person.stream });
    expect(texts(own.entries)).toEqual(['您好，我想了解一下这个岗位', '我再考虑一下', '好的，我接受']);
  });

  test('paged two entries at a time, the pages are the whole timeline, each verified', async () => {
    const person = (await resolveCandidate(directory, CORP, first))!;
    const whole = await readTimeline(db.appPool, person, { verify: true });
    const paged: TimelineEntry[] = [];
    let after: number | null = 0;
    let pages = 0;
    while (after !== null) {
      const page = await readTimeline(db.appPool, person, { afterSeq: after, limit: 2, verify: true });
      expect(page.entries.length).toBeLessThanOrEqual(2);
      expect(page.verification?.ok).toBe(true);
      expect(page.verification?.reached_head).toBe(page.next_after_seq === null);
      paged.push(...page.entries);
      after = page.next_after_seq;
      pages += 1;
    }
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(whole.entries.length / 2));
    expect(paged.map((e) => e.seq)).toEqual(whole.entries.map((e) => e.seq));
  });

  test("a changed record of the merged row's stream fails the person's verification, naming it", async () => {
    const person = (await resolveCandidate(directory, CORP, first))!;
    const { rows } = await db.pool.query<{ seq: string }>(
      "SELECT seq FROM evidence_records WHERE stream = $1 AND kind = 'conversation.message' ORDER BY seq LIMIT 1",
      [CANDIDATE_STREAMS.candidate(second)],
    );
    const seq = Number(rows[0]?.seq);
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL session_replication_role = replica');
      await client.query(`UPDATE evidence_records SET payload = jsonb_set(payload, '{text}', '"我没有辞职"') WHERE seq = $1`, [
        seq,
      ]);
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    const page = await readTimeline(db.appPool, person, { verify: true });
    expect(page.verification?.ok).toBe(false);
    expect(page.verification?.problems).toEqual([
      expect.objectContaining({ kind: 'content_mismatch', seq, stream: CANDIDATE_STREAMS.candidate(second) }),
    ]);
  });

  test("the completeness report counts both rows' messages and names both streams", async () => {
    const person = (await resolveCandidate(directory, CORP, first))!;
    const report = await completenessReport(db.appPool, person, {
      channels: { kf: { state: 'on' }, archive: { state: 'on' } },
      verify: true,
    });
    expect(report.streams).toEqual(person.streams);
    expect(report.channels.kf.messages).toBe(5);
    expect(report.channels.kf.by_role.candidate).toBe(5);
    expect(report.verification?.ok).toBe(true);
  });
});
