import { CANDIDATE_KINDS, CANDIDATE_SOURCE_REFS, CANDIDATE_STREAMS, CANDIDATES_SOURCE } from '../../src/candidates';
import {
  CONVERSATION_KINDS,
  CONVERSATION_SOURCE_REFS,
  CONVERSATION_SOURCES,
  CONVERSATION_STREAMS,
} from '../../src/conversations';
import { createLedger, type AppendResult, type EvidenceEntry, type Ledger } from '../../src/evidence';
import { ARCHIVE_SOURCE_REFS, ARCHIVE_STREAMS } from '../../src/conversations/archive/names';
import { completenessReport, type ChannelStatus } from '../../src/timeline';
import { createTestDatabase, type TestDatabase } from '../support/db';

/**
 * The completeness report against the real ledger. The records are the ones the KF and archive
 * channels write, with their committed names (src/conversations/names.ts), appended through the
 * real ledger; the end-to-end test with the real channel and the sandbox refusing a page is the
 * lead's (issue 9 item 8).
 */

const CANDIDATE = 'cd_aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbb';
const CLEAN = 'cd_ccccccccccccccccdddddddddddddddd';
const NEIGHBOUR = 'cd_eeeeeeeeeeeeeeeeffffffffffffffff';
const STREAM = CANDIDATE_STREAMS.candidate(CANDIDATE);
const KFID = 'wkCompleteAcct01';
const ACCOUNT = CONVERSATION_STREAMS.kfAccount(KFID);
const ON: ChannelStatus = { state: 'on' };
const at = (minute: number) => new Date(Date.UTC(2026, 10, 21, 2, minute, 0, 0));
const NOW = () => new Date('2026-11-21T08:00:00.000Z');

function kfMessage(stream: string, i: number, role: 'candidate' | 'recruiter', kfid = KFID): EvidenceEntry {
  return {
    stream,
    kind: CONVERSATION_KINDS.message,
    occurredAt: at(i),
    actor: role === 'candidate' ? CANDIDATE : 'lisi',
    source: CONVERSATION_SOURCES.kf,
    sourceRef: CONVERSATION_SOURCE_REFS.kfMessage(kfid, `${stream}-kf${i}`),
    payload: {
      channel: 'kf',
      role,
      msgid: `kf${i}`,
      msgtype: 'text',
      text: `你好 ${i}`,
      open_kfid: kfid,
      message: { msgid: `kf${i}` },
    },
    raw: null,
  };
}

function archiveMessage(i: number, archiveSeq: number): EvidenceEntry {
  return {
    stream: STREAM,
    kind: CONVERSATION_KINDS.message,
    occurredAt: at(i),
    actor: 'lisi',
    source: CONVERSATION_SOURCES.archive,
    sourceRef: CONVERSATION_SOURCE_REFS.archiveMessage(`ar${i}`),
    payload: {
      channel: 'archive',
      role: 'recruiter',
      msgid: `ar${i}`,
      msgtype: 'text',
      text: '下周一直接来上班',
      archive_seq: archiveSeq,
      message: {},
    },
    raw: null,
  };
}

describe('completeness report', () => {
  let db: TestDatabase;
  let ledger: Ledger;
  let openGap: AppendResult;
  let closedGap: AppendResult;
  let closing: AppendResult;
  let placeholder: AppendResult;
  let failedMedia: AppendResult;
  let consent: AppendResult;

  beforeEach(async () => {
    db = await createTestDatabase();
    ledger = createLedger({ pool: db.appPool });
    const append = (e: EvidenceEntry) => ledger.append(e);
    await append({
      stream: STREAM,
      kind: CANDIDATE_KINDS.created,
      occurredAt: at(0),
      actor: 'hireledger',
      source: CANDIDATES_SOURCE,
      sourceRef: CANDIDATE_SOURCE_REFS.created(CANDIDATE),
      payload: { candidate_id: CANDIDATE, recruiter: null, first_contact: { via: 'kf', open_kfid: KFID } },
      raw: null,
    });
    await append(kfMessage(STREAM, 1, 'candidate'));
    await append(kfMessage(STREAM, 2, 'recruiter'));
    // A sync_msg page the KF channel could not read: recorded on the account's stream (its messages belong to nobody known yet).
    closedGap = await append({
      stream: ACCOUNT,
      kind: CONVERSATION_KINDS.gap,
      occurredAt: at(3),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfGap(KFID, 'c0ffee01'),
      payload: { channel: 'kf', open_kfid: KFID, cursor_digest: 'c0ffee01', reason: 'sync_msg 返回 errcode 95018', attempts: 8 },
      raw: null,
    });
    closing = await append({
      stream: ACCOUNT,
      kind: CONVERSATION_KINDS.gapClosed,
      occurredAt: at(4),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfGapClosed(KFID, 'c0ffee01'),
      payload: { channel: 'kf', open_kfid: KFID, cursor_digest: 'c0ffee01' },
      raw: null,
    });
    openGap = await append({
      stream: ACCOUNT,
      kind: CONVERSATION_KINDS.gap,
      occurredAt: at(5),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfGap(KFID, 'deadbeef'),
      payload: { channel: 'kf', open_kfid: KFID, cursor_digest: 'deadbeef', reason: '沙箱拒绝了这一页', attempts: 8 },
      raw: null,
    });
    await append(archiveMessage(6, 5001));
    placeholder = await append({
      stream: STREAM,
      kind: CONVERSATION_KINDS.placeholder,
      occurredAt: at(7),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.archive,
      sourceRef: CONVERSATION_SOURCE_REFS.archivePlaceholder('5002'),
      payload: { channel: 'archive', archive_seq: 5002, reason: 'decrypt_failed', publickey_ver: 3 },
      raw: null,
    });
    const kfRef = CONVERSATION_SOURCE_REFS.kfMessage(KFID, `${STREAM}-kf1`);
    await append({
      stream: STREAM,
      kind: CONVERSATION_KINDS.media,
      occurredAt: at(8),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.media(kfRef, 'a'.repeat(64)),
      payload: {
        channel: 'kf',
        message: { seq: 2, hash: 'b'.repeat(64), source_ref: kfRef },
        msgtype: 'image',
        media_id: 'm1',
        status: 'stored',
        sha256: 'a'.repeat(64),
        size: 1024,
      },
      raw: null,
    });
    failedMedia = await append({
      stream: STREAM,
      kind: CONVERSATION_KINDS.media,
      occurredAt: at(9),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.media(kfRef, 'failed'),
      payload: {
        channel: 'kf',
        message: { seq: 2, hash: 'b'.repeat(64), source_ref: kfRef },
        msgtype: 'video',
        media_id: 'm2',
        status: 'failed',
        reason: 'media/get 超时',
        attempts: 8,
      },
      raw: null,
    });
    consent = await append({
      stream: STREAM,
      kind: CONVERSATION_KINDS.consent,
      occurredAt: at(10),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.archive,
      sourceRef: 'consent:1',
      payload: { channel: 'archive', status: 'disagree' },
      raw: null,
    });
    // Another candidate, on another account: nothing of this one's is theirs.
    await append(kfMessage(CANDIDATE_STREAMS.candidate(CLEAN), 11, 'candidate', 'wkOtherAccount01'));
    // A third, on the same account: the account's open gap may hold their messages too.
    await append(kfMessage(CANDIDATE_STREAMS.candidate(NEIGHBOUR), 12, 'candidate'));
  });
  afterEach(async () => {
    await ledger.close();
    await db.drop();
  });

  test('names the open gap, the placeholder, the failed media and the consent change, with seq and hash', async () => {
    const report = await completenessReport(
      db.appPool,
      { candidateId: CANDIDATE, stream: STREAM },
      { channels: { kf: ON, archive: ON }, now: NOW, verify: true },
    );
    expect(report.verification).toMatchObject({ ok: true, problems: [] });
    expect(report.complete).toBe(false);
    expect(report.generated_at).toBe('2026-11-21T08:00:00.000Z');
    const byType = (type: string) => report.issues.filter((i) => i.type === type);

    expect(byType('gap')).toEqual([
      expect.objectContaining({
        scope: 'account',
        channel: 'kf',
        seq: closedGap.seq,
        hash: closedGap.hash,
        stream: ACCOUNT,
        closed_by: { seq: closing.seq, hash: closing.hash },
      }),
      expect.objectContaining({
        scope: 'account',
        channel: 'kf',
        seq: openGap.seq,
        hash: openGap.hash,
        closed_by: null,
        occurred_at: '2026-11-21T02:05:00.000Z',
        occurred_at_shanghai: '2026-11-21T10:05:00.000+08:00',
        detail: expect.objectContaining({ cursor_digest: 'deadbeef', reason: '沙箱拒绝了这一页' }),
        summary: '缺口：微信客服有一段消息未能拉取：沙箱拒绝了这一页',
      }),
    ]);
    expect(byType('placeholder')).toEqual([
      expect.objectContaining({
        seq: placeholder.seq,
        channel: 'archive',
        summary: '会话存档第 5002 条消息无法读取，已留占位记录：decrypt_failed',
      }),
    ]);
    expect(byType('media_failed')).toEqual([
      expect.objectContaining({ seq: failedMedia.seq, summary: '视频文件获取失败（尝试 8 次）：media/get 超时' }),
    ]);
    expect(byType('consent')).toEqual([expect.objectContaining({ seq: consent.seq, agreed: false, channel: 'archive' })]);

    expect(report.findings).toEqual([
      expect.stringMatching(
        new RegExp(`^缺口（微信客服，记录 ${openGap.seq}，2026-11-21 10:05:00（北京时间），客服账号范围，可能涉及本候选人）`),
      ),
      expect.stringMatching(new RegExp(`^无法读取的消息（会话存档，记录 ${placeholder.seq}，`)),
      expect.stringMatching(new RegExp(`^媒体文件缺失（微信客服，记录 ${failedMedia.seq}，`)),
      expect.stringMatching(new RegExp(`^联系人拒绝会话存档（会话存档，记录 ${consent.seq}，`)),
    ]);

    expect(report.channels.kf).toMatchObject({
      status: ON,
      messages: 2,
      by_role: { candidate: 1, recruiter: 1, system: 0, app: 0 },
      accounts: [{ open_kfid: KFID, messages: 2 }],
      held: { first_occurred_at: '2026-11-21T02:01:00.000Z', last_occurred_at: '2026-11-21T02:02:00.000Z' },
    });
    expect(report.channels.archive).toMatchObject({
      messages: 1,
      by_role: { recruiter: 1 },
      archive_seq: { first: 5001, last: 5002 },
    });
  });

  test('a channel that is off is said to be off, and the report is then not complete', async () => {
    const clean = { candidateId: CLEAN, stream: CANDIDATE_STREAMS.candidate(CLEAN) };
    const off = await completenessReport(db.appPool, clean, {
      channels: { kf: ON, archive: { state: 'off', detail: '未配置会话存档 SDK' } },
      now: NOW,
    });
    expect(off.complete).toBe(false);
    expect(off.findings).toEqual(['会话存档通道未开启（未配置会话存档 SDK）：该通道的消息未被采集']);
    expect(off.channels.archive).toMatchObject({ status: { state: 'off' }, messages: 0, held: null });
    // Their account had no gap: none of the other account's gaps is theirs.
    expect(off.issues).toEqual([]);
    expect(off.channels.kf.messages).toBe(1);
  });

  test('a gap closed afterwards no longer makes a candidate incomplete; an unknown channel state does', async () => {
    const clean = { candidateId: CLEAN, stream: CANDIDATE_STREAMS.candidate(CLEAN) };
    expect((await completenessReport(db.appPool, clean, { channels: { kf: ON, archive: ON } })).complete).toBe(true);
    const other = CONVERSATION_STREAMS.kfAccount('wkOtherAccount01');
    const gap = await ledger.append({
      stream: other,
      kind: CONVERSATION_KINDS.gap,
      occurredAt: at(20),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfGap('wkOtherAccount01', '0badc0de'),
      payload: { channel: 'kf', open_kfid: 'wkOtherAccount01', reason: 'timeout' },
      raw: null,
    });
    const open = await completenessReport(db.appPool, clean, { channels: { kf: ON, archive: ON } });
    expect(open.complete).toBe(false);
    expect(open.issues).toEqual([expect.objectContaining({ type: 'gap', seq: gap.seq, closed_by: null })]);
    const closed = await ledger.append({
      stream: other,
      kind: CONVERSATION_KINDS.gapClosed,
      occurredAt: at(21),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfGapClosed('wkOtherAccount01', '0badc0de'),
      payload: { channel: 'kf', open_kfid: 'wkOtherAccount01' },
      raw: null,
    });
    const after = await completenessReport(db.appPool, clean, { channels: { kf: ON, archive: ON } });
    expect(after).toMatchObject({ complete: true, findings: [] });
    const unknown = await completenessReport(db.appPool, clean, { channels: { kf: { state: 'unknown' }, archive: ON } });
    expect(unknown.complete).toBe(false);
    expect(unknown.findings).toEqual(['微信客服通道状态未知：该通道的消息可能未被采集']);
    // A pull that resumed after sync_msg's 3 days records the window it may have lost (kf-pull.ts).
    const window = await ledger.append({
      stream: other,
      kind: CONVERSATION_KINDS.gap,
      occurredAt: at(40),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfWindowGap('wkOtherAccount01', 1763600000000),
      payload: {
        channel: 'kf',
        open_kfid: 'wkOtherAccount01',
        reason: 'outside_3_day_window',
        cursor: null,
        from: '2026-11-16T16:00:00.000Z',
        to: '2026-11-18T02:40:00.000Z',
        status: 'possible_loss',
      },
      raw: null,
    });
    const lost = await completenessReport(db.appPool, clean, { channels: { kf: ON, archive: ON } });
    expect(lost.complete).toBe(false);
    expect(lost.issues.at(-1)).toMatchObject({
      seq: window.seq,
      closed_by: null,
      summary:
        '缺口：微信客服有一段消息（2026-11-17 00:00 至 2026-11-18 10:40，北京时间）未能拉取：超过 3 天未拉取，期间的消息可能已超出微信客服的保留期',
    });
    expect(after.issues).toEqual([
      expect.objectContaining({ type: 'gap', seq: gap.seq, closed_by: { seq: closed.seq, hash: closed.hash } }),
    ]);
  });

  test("another candidate of the same KF account is told of the account's open gap, not of this one's placeholder", async () => {
    const report = await completenessReport(
      db.appPool,
      { candidateId: NEIGHBOUR, stream: CANDIDATE_STREAMS.candidate(NEIGHBOUR) },
      { channels: { kf: ON, archive: ON } },
    );
    expect(report.complete).toBe(false);
    expect(report.issues.map((i) => [i.type, i.seq, i.scope, i.closed_by?.seq ?? null])).toEqual([
      ['gap', closedGap.seq, 'account', closing.seq],
      ['gap', openGap.seq, 'account', null],
    ]);
  });

  test('the archive corp stream (shared) gives its gaps and placeholders with scope corp; other records of shared streams are not read', async () => {
    const corpStream = ARCHIVE_STREAMS.corp('wwcompletecorp');
    // What else such streams hold (a KF servicer's status, an archive page record) is not read.
    await ledger.append({
      stream: ACCOUNT,
      kind: 'conversation.kf_event',
      occurredAt: at(30),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.kf,
      sourceRef: 'kf-event:1',
      payload: { channel: 'kf', event_type: 'servicer_status_change' },
      raw: null,
    });
    await ledger.append({
      stream: corpStream,
      kind: 'conversation.archive_page',
      occurredAt: at(31),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.archive,
      sourceRef: ARCHIVE_SOURCE_REFS.page(1, 100),
      payload: { channel: 'archive', from_seq: 1, to_seq: 100 },
      raw: null,
    });
    const archiveGap = await ledger.append({
      stream: corpStream,
      kind: CONVERSATION_KINDS.gap,
      occurredAt: at(32),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.archive,
      sourceRef: ARCHIVE_SOURCE_REFS.gap(101, 140),
      payload: { channel: 'archive', from_seq: 101, to_seq: 140, reason: '企业微信未返回（超过五天）' },
      raw: null,
    });
    const undecryptable = await ledger.append({
      stream: corpStream,
      kind: CONVERSATION_KINDS.placeholder,
      occurredAt: at(33),
      actor: 'hireledger',
      source: CONVERSATION_SOURCES.archive,
      sourceRef: CONVERSATION_SOURCE_REFS.archivePlaceholder('141'),
      payload: { channel: 'archive', archive_seq: 141, reason: 'no private key for publickey_ver 4' },
      raw: null,
    });
    const clean = { candidateId: CLEAN, stream: CANDIDATE_STREAMS.candidate(CLEAN) };
    const report = await completenessReport(db.appPool, clean, {
      channels: { kf: ON, archive: ON },
      sharedStreams: [corpStream],
      verify: true,
    });
    expect(report.verification).toMatchObject({ ok: true, records: 3 });
    expect(report.records_read).toBe(3);
    expect(report.issues).toEqual([
      expect.objectContaining({
        type: 'gap',
        scope: 'corp',
        channel: 'archive',
        seq: archiveGap.seq,
        detail: expect.objectContaining({ from_seq: 101, to_seq: 140 }),
        summary: '缺口：会话存档有一段消息（序号 101–140）未能拉取：企业微信未返回（超过五天）',
      }),
      expect.objectContaining({ type: 'placeholder', scope: 'corp', seq: undecryptable.seq }),
    ]);
    expect(report.findings[0]).toContain('全企业范围，可能涉及本候选人');
    expect(report.complete).toBe(false);

    // The KF account's servicer event is not read for a candidate of that account either.
    const own = await completenessReport(
      db.appPool,
      { candidateId: CANDIDATE, stream: STREAM },
      { channels: { kf: ON, archive: ON } },
    );
    expect(own.issues.some((i) => i.kind === 'conversation.kf_event')).toBe(false);
    expect(own.records_read).toBe(8 + 3); // its own 8, and the account's 3 gap records: not the servicer event
  });
});
