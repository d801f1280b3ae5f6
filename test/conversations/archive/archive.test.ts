import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFinanceSdkStandIn } from '../../../sandbox/archive/build';
import { ArchiveStandIn } from '../../../sandbox/archive/writer';
import { createCandidateDirectory } from '../../../src/candidates';
import {
  ARCHIVE_JOBS,
  archiveChannelHealth,
  archiveChannelStatus,
  createArchiveChannel,
  openFinanceSdk,
  type ArchiveChannel,
  type ArchiveConfig,
} from '../../../src/conversations/archive';
import { createMediaStore } from '../../../src/conversations/media-store';
import { createConversationMetrics } from '../../../src/conversations/metrics';
import { createLedger, type JsonValue, type Ledger } from '../../../src/evidence';
import { checkHealth } from '../../../src/observability/health';
import { createLogger } from '../../../src/observability/logger';
import { postCallback, signedCallback } from '../../factories/signed';
import { startRuntime, until, type RunningRuntime } from '../../jobs/harness';
import { startApp, startSandboxFor, type RunningApp } from '../../support/app';
import { exitOf } from '../../support/process';

/**
 * Channel 2, the chat archive (issue 9 items 3 and 8): pulled through a real shared library with
 * the Finance SDK's C ABI (sandbox/archive/finance-sdk-standin.c, compiled here with gcc), called
 * through koffi off the event loop, its items encrypted as WeCom's are (an RSA PKCS#1 v1.5 wrapped
 * random key per item, per publickey_ver), stored in a real PostgreSQL through the real ledger and
 * the real candidate directory.
 */

interface Row {
  seq: string;
  stream: string;
  kind: string;
  actor: string;
  source: string;
  source_ref: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies read as any and checked with expect
  payload: { [key: string]: any };
  raw: { [key: string]: JsonValue } | null;
}

const CORP = 'wwhireledgertest01'; // TEST_KEYS' corp: the app's
const SECRET = 'archive-secret-for-tests';
const CAND = 'wmCandChenChen0001';
const CAND2 = 'wmCandLinXiao000002';
const T0 = Date.UTC(2026, 10, 20, 2, 0, 0); // 10:00 in Shanghai

let work: string;
let dataDir: string;
let library: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hl-archive-'));
  dataDir = join(work, 'archive-data');
  library = await buildFinanceSdkStandIn({ outDir: join(work, 'lib'), dataDir });
}, 60000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the chat archive channel', () => {
  let app: RunningApp;
  let ledger: Ledger;
  let archive: ArchiveStandIn;
  let keysDir: string;
  let channels: ArchiveChannel[];
  let runtime: RunningRuntime | undefined;

  beforeEach(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    archive = new ArchiveStandIn({ dir: dataDir, corpId: CORP, secret: SECRET });
    keysDir = mkdtempSync(join(work, 'keys-'));
    app = await startApp();
    ledger = createLedger({ pool: app.db.appPool });
    channels = [];
  });
  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
    for (const c of channels) await c.close();
    await ledger.close();
    await app.stop();
  });

  const config = (over: Partial<ArchiveConfig> = {}): ArchiveConfig => ({
    WECOM_CORP_ID: CORP,
    MSGAUDIT_SDK_LIBRARY: library,
    MSGAUDIT_SECRET: SECRET,
    MSGAUDIT_PRIVATE_KEYS: keysDir,
    MSGAUDIT_PROXY: undefined,
    MSGAUDIT_PROXY_PASSWORD: undefined,
    MSGAUDIT_PULL_INTERVAL_SECONDS: 300,
    ...over,
  });

  function channel(opts: { pageSize?: number; config?: Partial<ArchiveConfig> } = {}): ArchiveChannel {
    const c = createArchiveChannel({
      config: config(opts.config),
      db: app.db.appPool,
      ledger,
      directory: createCandidateDirectory(app.db.appPool),
      metrics: createConversationMetrics(),
      ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
    });
    channels.push(c);
    return c;
  }

  /** The admin uploads a public key; HireLedger gets its private half as `<ver>.pem`. */
  function rotate(): number {
    const pair = archive.rotateKey();
    writeFileSync(join(keysDir, `${pair.ver}.pem`), pair.privateKeyPem, { mode: 0o600 });
    return pair.ver;
  }

  const pull = (c: ArchiveChannel) => {
    if (!c.puller) throw new Error('the channel is off');
    return c.puller.pull((w) => ledger.transact(w), createLogger('silent', 'archive-test'));
  };

  const records = async (where = 'true'): Promise<Row[]> =>
    (
      await app.db.pool.query<Row>(
        `SELECT seq, stream, kind, actor, source, source_ref, payload, raw FROM evidence_records WHERE ${where} ORDER BY seq`,
      )
    ).rows;

  const cursorRow = async () =>
    (await app.db.pool.query('SELECT last_seq::int, pages::int, items::int, placeholders::int FROM chat_archive_cursors'))
      .rows[0];

  /** Every archive seq from 1 to `last` has exactly one outcome in the page records. */
  async function expectEverySeqAccountedFor(last: number): Promise<Array<{ seq: number; outcome: string }>> {
    const pages = await records("kind = 'conversation.archive_page'");
    const outcomes = pages.flatMap((p) => p.payload['items'] as Array<{ seq: number; outcome: string }>);
    expect(outcomes.map((o) => o.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    return outcomes;
  }

  test('messages both ways land on the candidate stream in seq order; an item that will not decrypt is a placeholder and the items around it are stored', async () => {
    rotate();
    archive.text({ from: 'ZhangMin', to: CAND, content: '你好，我是招聘顾问张敏', at: T0 }); // 1
    archive.text({ from: CAND, to: 'zhangmin', content: '您好！我再考虑一下 😊', at: T0 + 1000 }); // 2
    archive.append(
      {
        action: 'send',
        from: CAND,
        tolist: ['zhangmin'],
        roomid: '',
        msgtime: T0 + 2000,
        msgtype: 'text',
        text: { content: 'x' },
      },
      'unknown_key_version',
    ); // 3
    archive.text({ from: 'zhangmin', to: CAND, content: '薪资可以再谈', at: T0 + 3000 }); // 4
    archive.append(
      {
        action: 'send',
        from: 'zhangmin',
        tolist: [CAND],
        roomid: '',
        msgtime: T0 + 4000,
        msgtype: 'text',
        text: { content: 'y' },
      },
      'corrupt_chat_msg',
    ); // 5
    archive.append(
      { action: 'send', from: 'zhangmin', tolist: [CAND], roomid: '', msgtime: T0 + 5000, msgtype: 'text' },
      'not_json',
    ); // 6
    archive.text({ from: 'zhangmin', to: 'liqiang', content: '内部讨论', at: T0 + 6000 }); // 7: between members
    archive.append({
      action: 'send',
      from: 'zhangmin',
      tolist: [CAND, 'liqiang'],
      roomid: 'wrRoom0001',
      msgtime: T0 + 7000,
      msgtype: 'text',
      text: { content: '群聊' },
    }); // 8: a group chat
    archive.append({
      action: 'send',
      from: CAND,
      tolist: ['zhangmin'],
      roomid: '',
      msgtime: T0 + 8000,
      msgtype: 'location',
      location: { longitude: 113.334, latitude: 23.1291, address: '广州', title: '面试地点', zoom: 15 },
    }); // 9: a float in the message
    archive.text({ from: CAND, to: 'zhangmin', content: '好的，明天见', at: T0 + 9000 }); // 10

    const c = channel({ pageSize: 4 });
    expect(c.status.state).toBe('on');
    const report = await pull(c);
    expect(report).toEqual(
      expect.objectContaining({ pages: 3, items: 10, messages: 5, placeholders: 3, skipped: 2, consents: 0, lastSeq: 10 }),
    );

    // One candidate, created on first contact by the archive, and every message of theirs on their stream.
    const created = await records("kind = 'candidate.created'");
    expect(created).toHaveLength(1);
    const stream = created[0]?.stream as string;
    expect(stream).toMatch(/^candidate:cd_[0-9a-f]{32}$/);
    const candidateId = stream.slice('candidate:'.length);
    const messages = await records("kind = 'conversation.message'");
    expect(
      messages.map((m) => [m.stream, m.payload['archive_seq'], m.payload['role'], m.actor, m.payload['text'] ?? null]),
    ).toEqual([
      [stream, 1, 'recruiter', 'zhangmin', '你好，我是招聘顾问张敏'],
      [stream, 2, 'candidate', candidateId, '您好！我再考虑一下 😊'],
      [stream, 4, 'recruiter', 'zhangmin', '薪资可以再谈'],
      [stream, 9, 'candidate', candidateId, null],
      [stream, 10, 'candidate', candidateId, '好的，明天见'],
    ]);
    const first = messages[0] as Row;
    expect(first.source).toBe('wecom.msgaudit');
    expect(first.source_ref).toBe(`archive:${archive.written[0]?.msgid}`);
    expect(first.payload).toEqual(
      expect.objectContaining({
        channel: 'archive',
        msgid: archive.written[0]?.msgid,
        msgtype: 'text',
        recruiter: 'zhangmin',
        publickey_ver: 1,
      }),
    );
    // From the member's own client: `from` as WeCom gave it in the message, lower-cased in the fields read from it.
    expect(first.payload['message']['from']).toBe('ZhangMin');
    // occurred_at is WeCom's msgtime; the raw item (still encrypted) and the decrypted bytes are kept.
    const { rows: times } = await app.db.pool.query<{ occurred_at: Date }>(
      "SELECT occurred_at FROM evidence_records WHERE kind = 'conversation.message' ORDER BY seq",
    );
    expect(times.map((t) => t.occurred_at.getTime())).toEqual([T0, T0 + 1000, T0 + 3000, T0 + 8000, T0 + 9000]);
    expect(first.raw?.['item']).toEqual(archive.written[0]);
    expect(JSON.parse(Buffer.from(first.raw?.['plaintext_base64'] as string, 'base64').toString('utf8'))).toEqual(
      expect.objectContaining({ msgid: archive.written[0]?.msgid, text: { content: '你好，我是招聘顾问张敏' } }),
    );
    // A float WeCom sent is kept as its text (stored evidence holds integers only).
    expect(messages[3]?.payload['message']['location']).toEqual(
      expect.objectContaining({ longitude: '113.334', latitude: '23.1291', zoom: 15 }),
    );

    // The three items that would not decrypt: placeholders with their seq and error, never a gap.
    const placeholders = await records("kind = 'conversation.placeholder'");
    expect(placeholders.map((p) => [p.stream, p.source_ref, p.payload['archive_seq'], p.payload['error']['stage']])).toEqual([
      [`conversation-archive:${CORP}`, 'archive-seq:3', 3, 'rsa'],
      [`conversation-archive:${CORP}`, 'archive-seq:5', 5, 'decrypt'],
      [`conversation-archive:${CORP}`, 'archive-seq:6', 6, 'parse'],
    ]);
    expect(placeholders[0]?.payload['error']['message']).toMatch(/no private key for publickey_ver 101/);
    expect(placeholders[1]?.payload['error']).toEqual(expect.objectContaining({ code: 10006 }));
    expect(placeholders[0]?.raw?.['item']).toEqual(archive.written[2]);
    expect(await records("kind = 'conversation.gap'")).toEqual([]);

    // Every seq accounted for, once, with its outcome.
    const outcomes = await expectEverySeqAccountedFor(10);
    expect(outcomes.map((o) => o.outcome)).toEqual([
      'message',
      'message',
      'placeholder',
      'message',
      'placeholder',
      'placeholder',
      'skipped',
      'skipped',
      'message',
      'message',
    ]);
    expect(outcomes.filter((o) => o.outcome === 'skipped')).toEqual([
      expect.objectContaining({ seq: 7, reason: 'internal' }),
      expect.objectContaining({ seq: 8, reason: 'group_chat' }),
    ]);
    expect(await cursorRow()).toEqual({ last_seq: 10, pages: 3, items: 10, placeholders: 3 });

    // Pulling again finds nothing new and stores nothing twice; a new item continues the seq.
    const before = (await records()).length;
    expect(await pull(c)).toEqual(expect.objectContaining({ pages: 0, items: 0, lastSeq: 10 }));
    expect(await records()).toHaveLength(before);
    archive.text({ from: CAND, to: 'zhangmin', content: '还在等其他offer', at: T0 + 10_000 });
    expect(await pull(c)).toEqual(expect.objectContaining({ pages: 1, items: 1, messages: 1, lastSeq: 11 }));
    expect(await records("kind = 'conversation.message'")).toHaveLength(6);
    await expectEverySeqAccountedFor(11);
  }, 60000);

  test('seqs WeCom no longer serves (expired after five days) are recorded as a gap, never passed over in silence', async () => {
    rotate();
    archive.expire(2); // seqs 1-2: gone before HireLedger first pulled
    archive.text({ from: CAND, to: 'zhangmin', content: '第一条', at: T0 }); // 3
    const c = channel();
    await pull(c);
    archive.text({ from: CAND, to: 'zhangmin', content: '第二条', at: T0 + 1000 }); // 4
    archive.expire(3); // 5-7: expired while the puller was not running
    archive.text({ from: 'zhangmin', to: CAND, content: '第三条', at: T0 + 2000 }); // 8
    await pull(c);
    const gaps = await records("kind = 'conversation.gap'");
    expect(
      gaps.map((g) => [
        g.stream,
        g.source_ref,
        g.payload['from_seq'],
        g.payload['to_seq'],
        String(g.payload['reason']).split(':')[0],
      ]),
    ).toEqual([
      [`conversation-archive:${CORP}`, 'archive-gap:1-2', 1, 2, 'before_first_pull'],
      [`conversation-archive:${CORP}`, 'archive-gap:5-7', 5, 7, 'seq_jump'],
    ]);
    expect((await records("kind = 'conversation.message'")).map((m) => m.payload['archive_seq'])).toEqual([3, 4, 8]);
    const pages = await records("kind = 'conversation.archive_page'");
    expect(pages.map((p) => p.payload['gaps'])).toEqual([[{ from_seq: 1, to_seq: 2 }], [{ from_seq: 5, to_seq: 7 }]]);
  }, 60000);

  test('key rotation: items under publickey_ver 1 and 2 both decrypt, each with its own private key', async () => {
    rotate();
    archive.text({ from: 'zhangmin', to: CAND, content: '旧密钥的消息', at: T0 });
    archive.text({ from: CAND2, to: 'liqiang', content: 'ver 1 的另一条', at: T0 + 1000 });
    expect(rotate()).toBe(2);
    archive.text({ from: CAND, to: 'zhangmin', content: '新密钥的消息', at: T0 + 2000 });
    archive.text({ from: 'LiQiang', to: CAND2, content: 'ver 2 的另一条', at: T0 + 3000 });
    expect(archive.written.map((w) => w.publickey_ver)).toEqual([1, 1, 2, 2]);

    const report = await pull(channel());
    expect(report).toEqual(expect.objectContaining({ items: 4, messages: 4, placeholders: 0 }));
    const messages = await records("kind = 'conversation.message'");
    expect(messages.map((m) => [m.payload['publickey_ver'], m.payload['text'], m.payload['recruiter']])).toEqual([
      [1, '旧密钥的消息', 'zhangmin'],
      [1, 'ver 1 的另一条', 'liqiang'],
      [2, '新密钥的消息', 'zhangmin'],
      [2, 'ver 2 的另一条', 'liqiang'],
    ]);
    // Two candidates, each with their own stream.
    const streams = [...new Set(messages.map((m) => m.stream))];
    expect(streams).toHaveLength(2);
    expect(messages[0]?.stream).toBe(messages[2]?.stream);
    expect(messages[1]?.stream).toBe(messages[3]?.stream);
  }, 60000);

  test('consent: agree and disagree are conversation.consent records on the candidate stream', async () => {
    rotate();
    archive.consent({ external: CAND, member: 'zhangmin', agree: true, at: T0 });
    archive.text({ from: CAND, to: 'zhangmin', content: '同意存档后的第一条', at: T0 + 1000 });
    archive.consent({ external: CAND2, member: 'liqiang', agree: false, at: T0 + 2000 });
    const report = await pull(channel());
    expect(report).toEqual(expect.objectContaining({ items: 3, consents: 2, messages: 1 }));

    const consents = await records("kind = 'conversation.consent'");
    expect(consents.map((c) => [c.payload['status'], c.payload['recruiter'], c.payload['decided_at'], c.source_ref])).toEqual([
      ['agree', 'zhangmin', new Date(T0).toISOString(), `archive:${archive.written[0]?.msgid}`],
      ['disagree', 'liqiang', new Date(T0 + 2000).toISOString(), `archive:${archive.written[2]?.msgid}`],
    ]);
    const [message] = await records("kind = 'conversation.message'");
    // The consent and the candidate's messages share the candidate's stream; the person is named in the payload only.
    expect(consents[0]?.stream).toBe(message?.stream);
    expect(consents[0]?.actor).toBe(message?.actor);
    expect(consents[0]?.actor).toMatch(/^cd_[0-9a-f]{32}$/);
    expect(consents[1]?.stream).not.toBe(message?.stream);
    expect(consents[0]?.payload['message']['agree']).toEqual({ userid: CAND, agree_time: T0 });
    const outcomes = await expectEverySeqAccountedFor(3);
    expect(outcomes.map((o) => o.outcome)).toEqual(['consent', 'message', 'consent']);
  }, 60000);

  test('a pull killed with SIGKILL mid-way resumes at the last committed page: nothing lost, nothing twice', async () => {
    rotate();
    for (let i = 1; i <= 12; i++) {
      archive.text({ from: i % 2 ? CAND : 'zhangmin', to: i % 2 ? 'zhangmin' : CAND, content: `第${i}条`, at: T0 + i * 1000 });
    }
    // Each GetChatData takes 400 ms: the kill lands while a later page is being fetched.
    archive.control({ delayMs: 400 });
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'pull-process.ts')], {
      env: {
        PATH: process.env['PATH'],
        DATABASE_URL: app.db.appUrl,
        ARCHIVE_LIBRARY: library,
        ARCHIVE_KEYS: keysDir,
        ARCHIVE_CORP: CORP,
        ARCHIVE_SECRET: SECRET,
        ARCHIVE_PAGE_SIZE: '3',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = exitOf(child);
    await until('the first pages committed', async () => ((await cursorRow())?.last_seq ?? 0) >= 3, 30000);
    child.kill('SIGKILL');
    await exited;
    const atKill = (await cursorRow())?.last_seq as number;
    expect(atKill).toBeLessThan(12);
    // What the killed pull committed is whole: every page up to the cursor, nothing after it.
    expect((await records("kind = 'conversation.message'")).map((m) => m.payload['archive_seq'])).toEqual(
      Array.from({ length: atKill }, (_, i) => i + 1),
    );

    archive.control({});
    const report = await pull(channel({ pageSize: 3 }));
    expect(report.lastSeq).toBe(12);
    const messages = await records("kind = 'conversation.message'");
    expect(messages.map((m) => m.payload['archive_seq'])).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(messages.map((m) => m.payload['text'])).toEqual(Array.from({ length: 12 }, (_, i) => `第${i + 1}条`));
    await expectEverySeqAccountedFor(12);
    expect(await records("kind = 'candidate.created'")).toHaveLength(1);
    expect(await records("kind = 'conversation.gap'")).toEqual([]);
  }, 60000);

  test('two pullers at once (two workers): they serialise on the cursor row, every seq stored once', async () => {
    rotate();
    for (let i = 1; i <= 9; i++) archive.text({ from: CAND, to: 'zhangmin', content: `并发${i}`, at: T0 + i * 1000 });
    archive.control({ delayMs: 200 });
    const [a, b] = [channel({ pageSize: 3 }), channel({ pageSize: 3 })];
    const reports = await Promise.all([pull(a), pull(b)]);
    expect(Math.max(...reports.map((r) => r.lastSeq))).toBe(9);
    // Whoever lost a race stopped rather than storing the page again.
    expect(reports.reduce((n, r) => n + r.items, 0)).toBe(9);
    const messages = await records("kind = 'conversation.message'");
    expect(messages.map((m) => m.payload['archive_seq'])).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await expectEverySeqAccountedFor(9);
    expect(await records("kind = 'candidate.created'")).toHaveLength(1);
  }, 60000);

  test('the scheduled job pulls as soon as the worker starts; msgaudit_notify pulls at once', async () => {
    rotate();
    archive.text({ from: CAND, to: 'zhangmin', content: '我已经提离职了', at: T0 });
    const c = channel();
    expect(c.module.jobs?.[ARCHIVE_JOBS.pull]?.schedule).toEqual({ every: 300_000 });
    runtime = await startRuntime(app, [c.module]);
    // The scheduler (one per corp) runs whether or not a notify ever comes.
    await until('the scheduled pull', async () => (await records("kind = 'conversation.message'")).length === 1);
    expect(await records("kind = 'wecom.callback.event.msgaudit_notify'")).toEqual([]);

    // The next scheduled run is minutes away: what follows is the notify's doing.
    archive.text({ from: 'zhangmin', to: CAND, content: '下周一直接来上班', at: T0 + 1000 });
    const notify = `<xml><ToUserName><![CDATA[${CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName><CreateTime>${Math.floor(
      Date.now() / 1000,
    )}</CreateTime><MsgType><![CDATA[event]]></MsgType><AgentID>2000004</AgentID><Event><![CDATA[msgaudit_notify]]></Event></xml>`;
    expect((await postCallback(app.url, signedCallback(app.keys, notify))).status).toBe(200);
    await until('the notify handled', async () => {
      const { rows } = await app.db.pool.query('SELECT consumer, outcome FROM ledger_consumer_done');
      return rows.length === 1;
    });
    const { rows: done } = await app.db.pool.query('SELECT consumer, outcome FROM ledger_consumer_done');
    expect(done).toEqual([{ consumer: 'conversations-archive.on.event.msgaudit_notify', outcome: 'done' }]);
    expect((await records("kind = 'conversation.message'")).map((m) => m.payload['text'])).toEqual([
      '我已经提离职了',
      '下周一直接来上班',
    ]);
    expect(await cursorRow()).toEqual(expect.objectContaining({ last_seq: 2 }));
  }, 60000);

  test('the sandbox end to end: a message typed into the archive stand-in, WeCom-style msgaudit_notify, pulled into the candidate stream', async () => {
    const sandbox = await startSandboxFor(app, { archive: { dir: dataDir, secret: SECRET, keysDir } });
    try {
      const rotated = await fetch(`${sandbox.url}/sandbox/admin/archive/rotate-key`, { method: 'POST' });
      expect(((await rotated.json()) as { publickey_ver: number }).publickey_ver).toBe(1);
      const c = channel();
      runtime = await startRuntime(app, [c.module]);
      const post = (path: string, body: object) =>
        fetch(`${sandbox.url}/sandbox/admin/archive/${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      expect((await post('text', { from: 'zhangmin', to: CAND, content: 'offer没问题，你可以先辞职' })).status).toBe(200);
      expect((await post('consent', { external: CAND, member: 'zhangmin', agree: true })).status).toBe(200);
      expect((await post('text', { from: 'zhangmin', to: CAND })).status).toBe(400);
      await until(
        'the notified pull',
        async () => (await records("kind LIKE 'conversation.%' AND stream LIKE 'candidate:%'")).length === 2,
      );
      expect((await records("kind = 'conversation.message'")).map((m) => [m.payload['role'], m.payload['text']])).toEqual([
        ['recruiter', 'offer没问题，你可以先辞职'],
      ]);
      expect((await records("kind = 'conversation.consent'")).map((m) => m.payload['status'])).toEqual(['agree']);
      // The sandbox notifies like WeCom, at most once per 15 s: the second write's notify waits for the window.
      await sandbox.idle();
      expect(await records("kind = 'wecom.callback.event.msgaudit_notify'")).toHaveLength(1);
    } finally {
      await sandbox.close();
    }
  }, 60000);

  test('media of archive messages: fetched in chunks, stored once by hash within the candidate; over the cap refused; a bad fileid recorded as failed', async () => {
    rotate();
    const photo = Buffer.alloc(700_000);
    for (let i = 0; i < photo.length; i++) photo[i] = (i * 13 + 5) % 256;
    archive.image({ from: CAND, to: 'zhangmin', bytes: photo, at: T0 }); // 1
    archive.image({ from: CAND, to: 'zhangmin', bytes: photo, at: T0 + 1000 }); // 2: the same bytes again
    archive.image({ from: 'zhangmin', to: CAND, bytes: Buffer.alloc(1_200_000, 1), at: T0 + 2000 }); // 3: over the cap
    archive.append({
      action: 'send',
      from: CAND,
      tolist: ['zhangmin'],
      roomid: '',
      msgtime: T0 + 3000,
      msgtype: 'voice',
      voice: { md5sum: '', voice_size: 10, play_length: 2, sdkfileid: 'no-such-file' },
    }); // 4: WeCom answers 10005
    const c = createArchiveChannel({
      config: config(),
      db: app.db.appPool,
      ledger,
      directory: createCandidateDirectory(app.db.appPool),
      mediaStore: createMediaStore(app.db.appPool, { kind: 'pg', maxBytes: 1_000_000 }),
    });
    channels.push(c);
    runtime = await startRuntime(app, [c.module]);
    await until('four media records', async () => (await records("kind = 'conversation.media'")).length === 4, 30000);

    const messages = await records("kind = 'conversation.message'");
    const media = await records("kind = 'conversation.media'");
    const byMessage = new Map(media.map((m) => [m.payload['message']['seq'], m]));
    const [m1, m2, m3, m4] = messages.map((m) => byMessage.get(Number(m.seq)));
    const sha = createHash('sha256').update(photo).digest('hex');
    expect(m1?.payload).toEqual(
      expect.objectContaining({ channel: 'archive', status: 'stored', sha256: sha, size: 700_000, content_type: 'image/jpeg' }),
    );
    expect(m1?.payload['message']).toEqual({
      seq: Number(messages[0]?.seq),
      hash: expect.any(String),
      source_ref: messages[0]?.source_ref,
    });
    expect(m1?.stream).toBe(messages[0]?.stream);
    expect(m2?.payload).toEqual(expect.objectContaining({ status: 'stored', sha256: sha }));
    // The two fetches may run in either order; whichever came second found the object held.
    expect([m1?.payload['already_stored'], m2?.payload['already_stored']].sort()).toEqual([false, true]);
    expect(m3?.payload).toEqual(expect.objectContaining({ status: 'refused', reason: expect.stringMatching(/MEDIA_MAX_BYTES/) }));
    expect(m4?.payload).toEqual(
      expect.objectContaining({
        status: 'failed',
        media_id: 'no-such-file',
        attempts: 1,
        error: expect.objectContaining({ code: 10005 }),
      }),
    );
    // One object for the candidate's two identical photos, and the bytes are the photo's.
    const { rows } = await app.db.pool.query<{ sha256: string; size: string; data: Buffer }>(
      'SELECT sha256, size, data FROM conversation_media',
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]?.sha256).toBe(sha);
    expect(rows[0]?.data.equals(photo)).toBe(true);
  }, 60000);

  test('a slow SDK call runs off the event loop; a refusal is noted for /health and the pull is retried later', async () => {
    rotate();
    archive.text({ from: CAND, to: 'zhangmin', content: '慢', at: T0 });
    archive.control({ delayMs: 600 });
    const c = channel();
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 10);
    const started = performance.now();
    await pull(c);
    const took = performance.now() - started;
    clearInterval(timer);
    expect(took).toBeGreaterThanOrEqual(550); // one GetChatData call of 600 ms
    expect(ticks).toBeGreaterThan(took / 10 / 2); // the loop kept turning throughout

    // WeCom refuses (10009: the puller's IP is not trusted): nothing stored, the failure noted, the cursor kept.
    archive.text({ from: CAND, to: 'zhangmin', content: '之后', at: T0 + 1000 });
    archive.control({ failCode: 10009 });
    await expect(pull(c)).rejects.toThrow(/GetChatData failed with 10009/);
    const health = await archiveChannelHealth(config(), app.db.appPool);
    expect(health.ok).toBe(false);
    expect(health.detail).toMatch(/连续失败 1 次：Finance SDK GetChatData failed with 10009/);
    archive.control({});
    expect(await pull(c)).toEqual(expect.objectContaining({ items: 1, lastSeq: 2 }));
    const recovered = await archiveChannelHealth(config(), app.db.appPool);
    expect(recovered).toEqual({ ok: true, detail: expect.stringMatching(/^会话内容存档通道已开启；seq 2，最近拉取 /) });

    // A wrong secret: WeCom's errcode, named.
    const wrong = channel({ config: { MSGAUDIT_SECRET: 'not-the-secret' } });
    await expect(pull(wrong)).rejects.toThrow(/errcode 40001 invalid secret/);
  }, 60000);

  test('no SDK library configured: the channel is off, says so, and contributes nothing', async () => {
    const off = archiveChannelStatus({
      MSGAUDIT_SDK_LIBRARY: undefined,
      MSGAUDIT_SECRET: undefined,
      MSGAUDIT_PRIVATE_KEYS: undefined,
      MSGAUDIT_PROXY: undefined,
      MSGAUDIT_PROXY_PASSWORD: undefined,
    });
    expect(off).toEqual({
      channel: 'archive',
      state: 'off',
      detail: expect.stringContaining('会话内容存档通道未开启：未配置 MSGAUDIT_SDK_LIBRARY'),
      problems: [],
    });
    const c = channel({ config: { MSGAUDIT_SDK_LIBRARY: undefined } });
    expect(c.status.state).toBe('off');
    expect(c.puller).toBeNull();
    expect(c.module).toEqual({ name: 'conversations-archive' });
    // /health: off is not a failure of the service, and it is said plainly.
    const health = await checkHealth({
      pool: app.db.appPool,
      redis: app.redis,
      queues: app.queues,
      channels: { archive: () => archiveChannelHealth(config({ MSGAUDIT_SDK_LIBRARY: undefined }), app.db.appPool) },
    });
    expect(health.status).toBe('ok');
    expect(health.channels).toEqual({ archive: { ok: true, detail: off.detail } });

    // Configured but unusable: refused at start, naming what is missing.
    expect(() => channel({ config: { MSGAUDIT_SECRET: undefined, MSGAUDIT_PRIVATE_KEYS: join(work, 'nowhere') } })).toThrow(
      /未配置 MSGAUDIT_SECRET.*MSGAUDIT_PRIVATE_KEYS .*nowhere 不存在/,
    );
    expect(archiveChannelStatus(config({ MSGAUDIT_SDK_LIBRARY: join(work, 'missing.so') })).state).toBe('misconfigured');
    // A key directory without any <ver>.pem.
    const empty = join(work, 'empty-keys');
    mkdirSync(empty, { recursive: true });
    expect(() => channel({ config: { MSGAUDIT_PRIVATE_KEYS: empty } })).toThrow(/holds no <publickey_ver>\.pem file/);
  }, 30000);
});

describe('the Finance SDK binding', () => {
  test('GetMediaData returns a file in 512 KiB chunks; Init refuses what the header says it refuses', async () => {
    rmSync(dataDir, { recursive: true, force: true });
    const archive = new ArchiveStandIn({ dir: dataDir, corpId: CORP, secret: SECRET });
    archive.rotateKey();
    const bytes = Buffer.alloc(1_300_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 3) % 251;
    const item = archive.image({ from: CAND, to: 'zhangmin', bytes });
    expect(item.seq).toBe(1);
    const sdk = await openFinanceSdk({ library, corpId: CORP, secret: SECRET, timeoutSeconds: 5 });
    try {
      const page = JSON.parse(await sdk.getChatData(0n, 10)) as { chatdata: unknown[] };
      expect(page.chatdata).toEqual([item]);
      const sdkfileid = (await import('node:fs')).readdirSync(join(dataDir, 'media'))[0] as string;
      const chunks: Buffer[] = [];
      let index = '';
      for (;;) {
        const chunk = await sdk.getMediaChunk(sdkfileid, index);
        chunks.push(chunk.data);
        index = chunk.nextIndex;
        if (chunk.finished) break;
      }
      expect(chunks.map((c) => c.length)).toEqual([524288, 524288, 1_300_000 - 2 * 524288]);
      expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
      await expect(sdk.getMediaChunk('no-such-file', '')).rejects.toThrow(/GetMediaData failed with 10005/);
      expect(() => sdk.getChatData(0n, 1001)).toThrow(/limit must be 1 to 1000/);
    } finally {
      await sdk.close();
    }
    await expect(openFinanceSdk({ library, corpId: 'bad corp id', secret: SECRET, timeoutSeconds: 5 })).rejects.toThrow(
      /Init failed with 10000/,
    );
  }, 30000);
});
