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
import { tamperAsSuperuser } from '../support/tamper';

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

  const tamper = (sql: string, params: unknown[] = []) => tamperAsSuperuser(db, sql, params);

  /** Every page of a verified timeline, `limit` at a time. */
  async function pages(person: Parameters<typeof readTimeline>[1], limit: number) {
    const out: { entries: TimelineEntry[]; records: number; problems: { kind: string; seq: number | null }[] } = {
      entries: [],
      records: 0,
      problems: [],
    };
    let after: number | null = 0;
    while (after !== null) {
      const page = await readTimeline(db.appPool, person, { afterSeq: after, limit, verify: true });
      out.entries.push(...page.entries);
      out.records += page.verification?.records ?? 0;
      out.problems.push(...(page.verification?.problems ?? []));
      after = page.next_after_seq;
    }
    return out;
  }

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

  test('paged, each record is counted and each problem reported once, on the page that holds it', async () => {
    const person = (await resolveCandidate(directory, CORP, first))!;
    const whole = await readTimeline(db.appPool, person, { verify: true });
    const clean = await pages(person, 2);
    expect(clean.records).toBe(whole.entries.length);
    expect(clean.problems).toEqual([]);
    const changed = whole.entries.find(
      (e) => e.stream === CANDIDATE_STREAMS.candidate(second) && e.kind === CONVERSATION_KINDS.message,
    );
    await tamper(`UPDATE evidence_records SET payload = jsonb_set(payload, '{text}', '"改过"') WHERE seq = $1`, [changed?.seq]);
    // And the merged row's last record is removed: its head no longer matches, said once.
    const lastOfSecond = whole.entries.filter((e) => e.stream === CANDIDATE_STREAMS.candidate(second)).at(-1);
    await tamper('DELETE FROM evidence_records WHERE seq = $1', [lastOfSecond?.seq]);
    const broken = await pages(person, 2);
    expect(broken.records).toBe(whole.entries.length - 1);
    expect(broken.problems.map((p) => [p.kind, p.seq])).toEqual([
      ['content_mismatch', changed?.seq],
      ['head_mismatch', lastOfSecond?.seq],
    ]);
  });

  test('records appended while the streams are read: a page holds all of them up to its end or none (one snapshot)', async () => {
    const person = (await resolveCandidate(directory, CORP, first))!;
    // A pool whose reads append a record to each stream just before the merged row's stream is
    // first asked for. With a snapshot per stream, the survivor's read missed its new record while
    // the merged row's read saw its own, later one: the page ended past a record it never showed,
    // and the next page (after that seq) skipped it for good.
    let appended = false;
    const pool = new Proxy(db.appPool, {
      get(target, prop, receiver) {
        if (prop !== 'connect') return Reflect.get(target, prop, receiver) as unknown;
        return async () => {
          const client = await target.connect();
          const query = client.query.bind(client) as (...a: unknown[]) => Promise<unknown>;
          (client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
            const params = args[1];
            if (!appended && Array.isArray(params) && params[0] === CANDIDATE_STREAMS.candidate(second)) {
              appended = true;
              await say(first, 30, '读取过程中写入的消息（甲）');
              await say(second, 31, '读取过程中写入的消息（乙）');
            }
            return query(...args);
          };
          return client;
        };
      },
    });
    const page = await readTimeline(pool, person, { verify: true });
    expect(appended).toBe(true);
    expect(page.verification?.ok).toBe(true);
    const seen = new Set(page.entries.map((e) => e.seq));
    const last = Math.max(...seen);
    const now = await readTimeline(db.appPool, person, { verify: true });
    expect(texts(now.entries)).toEqual(expect.arrayContaining(['读取过程中写入的消息（甲）', '读取过程中写入的消息（乙）']));
    // Every record of the person's streams up to the page's last seq is on the page.
    expect(now.entries.filter((e) => e.seq <= last).map((e) => e.seq)).toEqual([...seen]);
  });

  test('the streams are what the merge records say: a changed merged_into column neither hides a row nor brings one in', async () => {
    // Another person, unrelated.
    const other = await ledger.transact(async (tx) => {
      const ref = await directory.candidateFor(tx, CORP, 'wmSomebodyElse', { via: 'kf', openKfId: KFID });
      return { result: ref, entries: ref.entries };
    });
    await say(other.result.candidateId, 40, '我是另一个人');
    // The app's own login may write merged_into: unmerge the real row, merge the unrelated one.
    await db.appPool.query('UPDATE candidates SET merged_into = NULL WHERE id = $1', [second]);
    await db.appPool.query('UPDATE candidates SET merged_into = $1 WHERE id = $2', [first, other.result.candidateId]);
    const person = (await resolveCandidate(directory, CORP, first))!;
    expect(person.streams).toEqual([CANDIDATE_STREAMS.candidate(first), CANDIDATE_STREAMS.candidate(second)]);
    expect(person.mergeMismatch).toContain(CANDIDATE_STREAMS.candidate(other.result.candidateId));
    expect(person.mergeMismatch).toContain(CANDIDATE_STREAMS.candidate(second));
    const page = await readTimeline(db.appPool, person, { verify: true });
    expect(texts(page.entries)).toContain('我已经辞职了，什么时候能入职？');
    expect(texts(page.entries)).not.toContain('我是另一个人');
    expect(page.verification?.problems).toEqual([expect.objectContaining({ kind: 'merge_mismatch' })]);
    const report = await completenessReport(db.appPool, person, {
      channels: { kf: { state: 'on' }, archive: { state: 'on' } },
      verify: true,
    });
    expect(report.complete).toBe(false);
    expect(report.findings.join('\n')).toMatch(/候选人合并关系与证据记录不一致/);
  });

  test("a merged row's stream removed whole (records and head) fails the person's verification", async () => {
    const person = (await resolveCandidate(directory, CORP, first))!;
    const gone = CANDIDATE_STREAMS.candidate(second);
    await tamper('DELETE FROM evidence_records WHERE stream = $1', [gone]);
    await tamper('DELETE FROM evidence_heads WHERE stream = $1', [gone]);
    const page = await readTimeline(db.appPool, person, { verify: true });
    expect(page.verification?.ok).toBe(false);
    expect(page.verification?.problems).toEqual(
      expect.arrayContaining([expect.objectContaining({ stream: gone, detail: expect.stringMatching(/holds no record/) })]),
    );
  });

  test("a changed record of the merged row's stream fails the person's verification, naming it", async () => {
    const person = (await resolveCandidate(directory, CORP, first))!;
    const { rows } = await db.pool.query<{ seq: string }>(
      "SELECT seq FROM evidence_records WHERE stream = $1 AND kind = 'conversation.message' ORDER BY seq LIMIT 1",
      [CANDIDATE_STREAMS.candidate(second)],
    );
    const seq = Number(rows[0]?.seq);
    await tamper(`UPDATE evidence_records SET payload = jsonb_set(payload, '{text}', '"我没有辞职"') WHERE seq = $1`, [seq]);
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
