import {
  CANDIDATE_KINDS,
  CANDIDATE_SOURCE_REFS,
  CANDIDATE_STREAMS,
  CANDIDATES_SOURCE,
  createCandidateDirectory,
} from '../../src/candidates';
import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES } from '../../src/conversations';
import { createLedger, verifyStream, type EvidenceEntry, type Ledger } from '../../src/evidence';
import { SIGNAL_KINDS, SIGNAL_SOURCE_REFS, SIGNALS_SOURCE } from '../../src/signals';
import { readTimeline, resolveCandidate, shanghaiTime, type TimelineEntry } from '../../src/timeline';
import { DEFAULT_RENDERERS, rendererFor } from '../../src/timeline/render';
import { CALLBACK_SOURCE, WECOM_STREAMS } from '../../src/wecom/names';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { tamperAsSuperuser } from '../support/tamper';

/**
 * The timeline against the real ledger, written through the real append path with the committed
 * names of the candidates, conversations and signals modules (what their code writes), read and
 * re-verified through src/evidence. Tampering is done as a superuser with triggers off.
 */

const CORP = 'wwtimelinecorp';
const CANDIDATE = 'cd_0123456789abcdef0123456789abcdef';
const OTHER = 'cd_fedcba9876543210fedcba9876543210';
const STREAM = CANDIDATE_STREAMS.candidate(CANDIDATE);
const CONTACT_STREAM = WECOM_STREAMS.externalContact('xc_00112233445566778899aabbccddeeff');
const KFID = 'wkAbCdEf0123';
const t = (minute: number) => new Date(Date.UTC(2026, 10, 20, 1, minute, 0, 0));

function message(
  i: number,
  over: Partial<EvidenceEntry> & { role?: string; text?: string; channel?: 'kf' | 'archive' } = {},
): EvidenceEntry {
  const { role = 'candidate', text = `消息 ${i}`, channel = 'kf', ...rest } = over;
  const msgid = `msg${i}`;
  return {
    stream: STREAM,
    kind: CONVERSATION_KINDS.message,
    occurredAt: t(i),
    actor: role === 'recruiter' ? 'zhangmin' : CANDIDATE,
    source: CONVERSATION_SOURCES[channel],
    sourceRef:
      channel === 'kf' ? CONVERSATION_SOURCE_REFS.kfMessage(KFID, msgid) : CONVERSATION_SOURCE_REFS.archiveMessage(msgid),
    payload: {
      channel,
      role,
      msgid,
      msgtype: 'text',
      text,
      ...(channel === 'kf' ? { open_kfid: KFID } : { archive_seq: 1000 + i }),
      message: { msgid, msgtype: 'text', text: { content: text } },
    },
    raw: { msgid, body: text },
    ...rest,
  };
}

describe('candidate timeline', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let callbackSeq: number;
  let callbackHash: string;

  const tamper = (sql: string, params: unknown[] = []) => tamperAsSuperuser(db, sql, params);

  async function link(seq: number, hash: string, stream: string, minute: number) {
    return ledger.append({
      stream: STREAM,
      kind: CANDIDATE_KINDS.link,
      occurredAt: t(minute),
      actor: 'hireledger',
      source: CANDIDATES_SOURCE,
      sourceRef: CANDIDATE_SOURCE_REFS.link(CANDIDATE, seq),
      payload: { candidate_id: CANDIDATE, reason: 'contact_event', linked: { seq, hash, stream } },
      raw: null,
    });
  }

  beforeEach(async () => {
    db = await createTestDatabase();
    // As production appends: the app's least-privileged login.
    ledger = createLedger({ pool: db.appPool });
    // The contact event arrives before the candidate exists, on its channel stream.
    const cb = await ledger.append({
      stream: CONTACT_STREAM,
      kind: 'wecom.callback.event.change_external_contact',
      occurredAt: t(0),
      actor: 'zhangmin',
      source: CALLBACK_SOURCE,
      sourceRef: `${CORP}:contact-v2:add_external_contact:zhangmin:xc_1:1`,
      payload: { type: 'event.change_external_contact', fields: { ChangeType: 'add_external_contact', UserID: 'zhangmin' } },
      raw: { body: '<xml/>' },
    });
    callbackSeq = cb.seq;
    callbackHash = cb.hash;
    await ledger.append({
      stream: STREAM,
      kind: CANDIDATE_KINDS.created,
      occurredAt: t(1),
      actor: 'zhangmin',
      source: CANDIDATES_SOURCE,
      sourceRef: CANDIDATE_SOURCE_REFS.created(CANDIDATE),
      payload: { candidate_id: CANDIDATE, recruiter: 'zhangmin', first_contact: { via: 'kf', open_kfid: KFID } },
      raw: null,
    });
    await link(callbackSeq, callbackHash, CONTACT_STREAM, 2);
    // Another candidate's records in between: never read by this timeline.
    await ledger.append(message(90, { stream: CANDIDATE_STREAMS.candidate(OTHER), sourceRef: 'kf:other:1' }));
    await ledger.append(message(3, { text: '我再考虑一下，薪资能否再谈？😅' }));
    await ledger.append(message(4, { role: 'recruiter', text: '好的，我去问问', channel: 'archive' }));
    const hit = await ledger.append({
      stream: STREAM,
      kind: SIGNAL_KINDS.hit,
      occurredAt: t(3),
      actor: 'hireledger',
      source: SIGNALS_SOURCE,
      sourceRef: SIGNAL_SOURCE_REFS.hit(5, 'hesitation.salary', 1),
      payload: { type: 'hesitation', rule: 'hesitation.salary', rule_version: 1, match: '薪资能否再谈', message: { seq: 5 } },
      raw: null,
    });
    expect(hit.status).toBe('appended');
    await ledger.append(
      message(6, {
        payload: {
          channel: 'kf',
          role: 'candidate',
          msgid: 'msg6',
          msgtype: 'image',
          open_kfid: KFID,
          message: { msgid: 'msg6' },
        },
      }),
    );
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
  });

  test('one ordered view: own stream in seq order, links carrying the linked record, summaries in Chinese', async () => {
    const page = await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM });
    expect(page.next_after_seq).toBeNull();
    expect(page.entries.map((e) => e.kind)).toEqual([
      CANDIDATE_KINDS.created,
      CANDIDATE_KINDS.link,
      CONVERSATION_KINDS.message,
      CONVERSATION_KINDS.message,
      SIGNAL_KINDS.hit,
      CONVERSATION_KINDS.message,
    ]);
    const seqs = page.entries.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(page.entries.every((e) => e.stream === STREAM && /^[0-9a-f]{64}$/.test(e.hash))).toBe(true);

    const [created, linkEntry, candidateMsg, recruiterMsg, hit, image] = page.entries as [
      TimelineEntry,
      TimelineEntry,
      TimelineEntry,
      TimelineEntry,
      TimelineEntry,
      TimelineEntry,
    ];
    expect(created.summary).toBe('建立候选人档案（来源：微信客服）');
    expect(linkEntry.linked).toMatchObject({
      seq: callbackSeq,
      hash: callbackHash,
      stream: CONTACT_STREAM,
      reason: 'contact_event',
    });
    expect(linkEntry.linked?.record).toMatchObject({
      seq: callbackSeq,
      stream: CONTACT_STREAM,
      who: { role: 'recruiter', actor: 'zhangmin' },
    });
    expect(linkEntry.summary).toBe('关联记录：企业微信：招聘人员添加了联系人');
    expect(candidateMsg).toMatchObject({
      who: { role: 'candidate', actor: CANDIDATE },
      channel: 'kf',
      summary: '候选人（微信客服）：我再考虑一下，薪资能否再谈？😅',
      occurred_at: '2026-11-20T01:03:00.000Z',
      occurred_at_shanghai: '2026-11-20T09:03:00.000+08:00',
    });
    expect(recruiterMsg).toMatchObject({
      who: { role: 'recruiter', actor: 'zhangmin' },
      channel: 'archive',
      summary: '招聘人员（会话存档）：好的，我去问问',
    });
    expect(hit.summary).toBe('风险信号：犹豫（规则 hesitation.salary 第 1 版），命中“薪资能否再谈”');
    expect(image.summary).toBe('候选人（微信客服）发送了图片');
    expect(JSON.stringify(page)).not.toContain('other:1');
  });

  test('paging by seq: pages of 2 concatenate to the whole timeline, and the last page says so', async () => {
    const whole = await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM });
    const seen: TimelineEntry[] = [];
    let after: number | null = 0;
    let pages = 0;
    while (after !== null) {
      const page = await readTimeline(
        db.appPool,
        { candidateId: CANDIDATE, stream: STREAM },
        { afterSeq: after, limit: 2, verify: true },
      );
      expect(page.verification).toMatchObject({ ok: true, problems: [] });
      expect(page.entries.length).toBeLessThanOrEqual(2);
      seen.push(...page.entries);
      after = page.next_after_seq;
      pages += 1;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(whole.entries);
  });

  test('a custom renderer takes a kind no module renders; the offer path renders its own', async () => {
    await ledger.append({
      stream: STREAM,
      kind: 'offer.future_step',
      occurredAt: t(30),
      actor: 'zhangmin',
      source: 'hireledger.offers',
      sourceRef: 'offer:1',
      payload: { salary: 30000 },
      raw: null,
    });
    const plain = await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM });
    expect(plain.entries.at(-1)?.summary).toBe('记录：offer.future_step');
    const custom = await readTimeline(
      db.appPool,
      { candidateId: CANDIDATE, stream: STREAM },
      { renderers: { 'offer.': () => ({ role: 'recruiter', summary: '发出了 offer' }) } },
    );
    expect(custom.entries.at(-1)).toMatchObject({ summary: '发出了 offer', who: { role: 'recruiter' } });
    // An alert says what became of it: only a sent one reached the recruiter.
    const alert = (payload: object) =>
      rendererFor(SIGNAL_KINDS.alert, DEFAULT_RENDERERS)({ ...plain.entries.at(-1), kind: SIGNAL_KINDS.alert, payload } as never)
        .summary;
    expect(alert({ type: 'resigned_before_offer', status: 'sent' })).toBe('已提醒招聘人员：未获正式 offer 即已离职');
    expect(alert({ type: 'resigned_before_offer', status: 'undeliverable', reason: 'no_recruiter' })).toBe(
      '未能提醒招聘人员（尚无负责的招聘人员）：未获正式 offer 即已离职',
    );
    // The kinds of the offer path have Chinese summaries of their own (render-offers.ts).
    for (const kind of ['offer.sent', 'approval.routed', 'offer.link_viewed', 'reminder.scheduled', 'candidate.reapplied']) {
      expect(rendererFor(kind, DEFAULT_RENDERERS)({ ...plain.entries.at(-1), kind, payload: {} } as never).summary).not.toMatch(
        /^记录：/,
      );
    }
  });

  test('verify: an untouched timeline re-verifies every record of its stream and the linked record only', async () => {
    const page = await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM }, { verify: true });
    expect(page.verification).toEqual({ ok: true, records: 6, linked_records: 1, reached_head: true, problems: [] });
    expect(await verifyStream(db.appPool, STREAM)).toMatchObject({ ok: true, records: 6 });
  });

  test('verify: a message edited behind the ledger → content_mismatch at that seq', async () => {
    const page = await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM });
    const target = page.entries[2] as TimelineEntry;
    await tamper(`UPDATE evidence_records SET payload = jsonb_set(payload, '{text}', '"我接受"') WHERE seq = $1`, [target.seq]);
    const after = await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM }, { verify: true });
    expect(after.verification?.ok).toBe(false);
    expect(after.verification?.problems).toEqual([expect.objectContaining({ kind: 'content_mismatch', seq: target.seq })]);
    // Without verify it is shown as stored: verification is what tells.
    expect(after.entries[2]?.summary).toBe('候选人（微信客服）：我接受');
  });

  test('verify: a record removed from the middle → chain_broken; from the end → head_mismatch', async () => {
    const page = await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM });
    const middle = page.entries[3] as TimelineEntry;
    const last = page.entries[5] as TimelineEntry;
    await tamper('DELETE FROM evidence_records WHERE seq = $1', [middle.seq]);
    let v = (await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM }, { verify: true })).verification;
    expect(v?.problems).toEqual([expect.objectContaining({ kind: 'chain_broken', seq: (page.entries[4] as TimelineEntry).seq })]);

    await tamper('DELETE FROM evidence_records WHERE seq = $1', [last.seq]);
    v = (await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM }, { verify: true })).verification;
    expect(v?.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'head_mismatch', stream: STREAM, detail: expect.stringContaining(last.hash) }),
      ]),
    );
  });

  test('verify: a changed timestamp on a page after the first → hash_mismatch, found from the anchored page', async () => {
    const page = await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM });
    const fifth = page.entries[4] as TimelineEntry;
    await tamper(`UPDATE evidence_records SET occurred_at = occurred_at + interval '1 hour' WHERE seq = $1`, [fifth.seq]);
    const third = page.entries[2] as TimelineEntry;
    const p2 = await readTimeline(
      db.appPool,
      { candidateId: CANDIDATE, stream: STREAM },
      { afterSeq: third.seq, limit: 2, verify: true },
    );
    expect(p2.verification).toMatchObject({ ok: false, reached_head: false });
    expect(p2.verification?.problems).toEqual([expect.objectContaining({ kind: 'hash_mismatch', seq: fifth.seq })]);
  });

  test('verify: the linked record edited → its problem is reported; a link naming another hash → link_mismatch', async () => {
    await tamper(
      `UPDATE evidence_records SET payload = jsonb_set(payload, '{fields,ChangeType}', '"del_external_contact"') WHERE seq = $1`,
      [callbackSeq],
    );
    let v = (await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM }, { verify: true })).verification;
    expect(v?.problems).toEqual([
      expect.objectContaining({ kind: 'content_mismatch', seq: callbackSeq, stream: CONTACT_STREAM }),
    ]);

    await tamper(
      `UPDATE evidence_records SET payload = jsonb_set(payload, '{fields,ChangeType}', '"add_external_contact"') WHERE seq = $1`,
      [callbackSeq],
    );
    // A second link that names the callback with a wrong hash (as a forged link would).
    const other = await ledger.append({
      stream: STREAM,
      kind: CANDIDATE_KINDS.link,
      occurredAt: t(41),
      actor: 'hireledger',
      source: CANDIDATES_SOURCE,
      sourceRef: 'link:forged',
      payload: {
        candidate_id: CANDIDATE,
        reason: 'test',
        linked: { seq: callbackSeq, hash: 'f'.repeat(64), stream: CONTACT_STREAM },
      },
      raw: null,
    });
    v = (await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM }, { verify: true })).verification;
    expect(v?.problems).toEqual([
      expect.objectContaining({ kind: 'link_mismatch', seq: callbackSeq, detail: expect.stringContaining(`link ${other.seq}`) }),
    ]);
  });

  test('verify: a linked record that is not stored is reported, and the entry says so', async () => {
    await link(999_999, 'a'.repeat(64), CONTACT_STREAM, 50);
    const page = await readTimeline(db.appPool, { candidateId: CANDIDATE, stream: STREAM }, { verify: true });
    expect(page.entries.at(-1)).toMatchObject({ summary: '关联记录 999999（未找到）', linked: { seq: 999_999, record: null } });
    expect(page.verification?.problems).toEqual([expect.objectContaining({ kind: 'seq_gap', seq: 999_999 })]);
  });

  test('an external_userid or an opaque id resolves through the candidate directory', async () => {
    const directory = createCandidateDirectory(db.appPool);
    const made = await ledger.transact(async (tx) => {
      const c = await directory.candidateFor(tx, CORP, 'wmExternalUser01', { via: 'kf', openKfId: KFID });
      return { result: c, entries: c.entries };
    });
    const byExternal = await resolveCandidate(directory, CORP, 'wmExternalUser01');
    expect(byExternal?.candidateId).toBe(made.result.candidateId);
    expect((await resolveCandidate(directory, CORP, made.result.candidateId))?.stream).toBe(made.result.stream);
    expect(await resolveCandidate(directory, CORP, 'wmNobody')).toBeNull();
    expect(await resolveCandidate(directory, 'wwothercorp', 'wmExternalUser01')).toBeNull();
    const page = await readTimeline(db.appPool, made.result, { verify: true });
    expect(page.entries).toEqual([expect.objectContaining({ kind: CANDIDATE_KINDS.created })]);
  });
});

describe('shanghaiTime', () => {
  test('UTC instants shown in Asia/Shanghai with their offset, across midnight and before 1992 (DST)', () => {
    expect(shanghaiTime(new Date('2026-11-20T16:30:00.123Z'))).toBe('2026-11-21T00:30:00.123+08:00');
    expect(shanghaiTime(new Date('1990-07-01T00:00:00.000Z'))).toBe('1990-07-01T09:00:00.000+09:00');
    expect(shanghaiTime(new Date('1990-01-01T00:00:00.000Z'))).toBe('1990-01-01T08:00:00.000+08:00');
  });
});
