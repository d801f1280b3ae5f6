import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { defaultSeed } from '../../sandbox/seed';
import { kfCustomerText } from '../../sandbox/state';
import { CONVERSATION_JOBS } from '../../src/conversations';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';
import { REDIS_URL } from '../support/env';
import { candidateOf, KF, startKfWorld, type KfWorld } from './support';

/**
 * The KF pull under faults and bad input (issue 9 items 2 and 8, "Bad input"): a process killed
 * between pages, a page WeCom refuses or answers malformed, and items no pull should choke on.
 */

const KF2 = 'wkHireLedger02';
const CAND = 'wmCandWuHao0003';

describe('KF pull under faults', () => {
  let w: KfWorld;
  let worker: RunningRuntime | undefined;

  beforeEach(async () => {
    const seed = defaultSeed();
    seed.kfAccounts.push({
      open_kfid: KF2,
      name: '校园招聘客服',
      avatar: 'https://example.invalid/kf2.png',
      manage_privilege: true,
    });
    w = await startKfWorld({ seed });
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await w.close();
  });

  /** `n` texts from the candidate stored for sync_msg without a callback; their msgids in order. */
  function texts(n: number, openKfId = KF, who = CAND): string[] {
    const now = w.sandbox.state.nowSec();
    return Array.from(
      { length: n },
      (_, i) => w.sandbox.state.addKfMessage(openKfId, kfCustomerText(openKfId, who, `消息${i + 1}`, now)).msg.msgid,
    );
  }
  const stored = async (openKfId = KF) =>
    (await w.records("kind = 'conversation.message' AND payload->>'open_kfid' = $1", [openKfId])).map((r) => r.source_ref);
  const cursorRow = async (openKfId = KF) =>
    (
      await w.app.db.pool.query('SELECT cursor, pages::int, messages::int, failures FROM kf_cursors WHERE open_kfid = $1', [
        openKfId,
      ])
    ).rows[0];

  test('kill -9 between pages, then resume: every message stored once, none skipped', async () => {
    const ids = texts(9); // with the seed's 2: 11 messages, 6 pages of 2
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(__dirname, 'pull-process.ts'),
        JSON.stringify({
          db: w.app.db.appUrl,
          redis: REDIS_URL,
          sandbox: w.sandbox.url,
          corpId: w.app.keys.corpId,
          secret: w.app.config.WECOM_SECRET,
          agentId: w.app.config.WECOM_AGENT_ID,
          keyPrefix: `${w.app.config.QUEUE_PREFIX}:wecom:`,
          openKfId: KF,
          stopAfter: 2,
        }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('page 2\n')) resolve();
      });
      child.once('exit', () => reject(new Error(`the pull process exited early: ${out}`)));
    });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    // Two pages committed with their cursor, nothing of the third.
    expect(await stored()).toHaveLength(4);
    expect(await cursorRow()).toEqual(expect.objectContaining({ pages: 2, messages: 4 }));

    // A new pull (the next callback, a retry, the sweep) goes on from the stored cursor.
    const r = await w.module({ pageLimit: 2 }).jobs?.[CONVERSATION_JOBS.kfSweep]?.process({}, w.jobContext());
    expect(r).toEqual(expect.objectContaining({ messages: 7, failed: [] }));
    const refs = await stored();
    expect(refs).toHaveLength(11);
    expect(new Set(refs).size).toBe(11);
    for (const id of ids) expect(refs).toContain(`kf:${KF}:${id}`);
    // In WeCom's order on the candidate's stream.
    const texts9 = (
      await w.records("stream = $1 AND kind = 'conversation.message'", [`candidate:${await candidateOf(w, CAND)}`])
    ).map((m) => m.payload.text);
    expect(texts9).toEqual(Array.from({ length: 9 }, (_, i) => `消息${i + 1}`));
    expect(await cursorRow()).toEqual(expect.objectContaining({ pages: 6, messages: 11 }));
  }, 60000);

  test('a page WeCom refuses: a gap recorded once, the pull retried, the gap closed, nothing lost; other accounts go on', async () => {
    const ids = texts(4);
    texts(2, KF2, 'wmCandZhengXue0004');
    // Pages of 2: the seed's 2 messages, then ids[0..1], then ids[2..3] — refused until the fault is cleared.
    await w.admin('kf/page-faults', { open_kfid: KF, after_msgid: ids[1], errcode: -1, count: 1000 });
    const mod = w.module({ pageLimit: 2 });
    const sweep = mod.jobs?.[CONVERSATION_JOBS.kfSweep];
    // The sweep: KF stops at the refused page, KF2 is pulled all the same.
    expect(await sweep?.process({}, w.jobContext())).toEqual({ accounts: 2, pulled: 1, messages: 2, failed: [KF] });
    expect(await stored(KF)).toHaveLength(4);
    expect(await stored(KF2)).toHaveLength(2);
    const [gap] = await w.records("kind = 'conversation.gap'");
    expect(gap?.stream).toBe(`conversation:kf:${KF}`);
    expect(gap?.payload).toEqual(
      expect.objectContaining({
        channel: 'kf',
        open_kfid: KF,
        reason: 'errcode_-1',
        status: 'open',
        error: expect.objectContaining({ errcode: -1 }),
      }),
    );
    const cursor = (await cursorRow())?.cursor;
    expect(gap?.payload.cursor).toBe(cursor);

    // Through the worker: the callback's pull meets the same page, fails and is retried; still one gap.
    worker = await startRuntime(w.app, [mod], {
      concurrency: 1,
      jobOptions: { attempts: 20, backoff: { type: 'fixed', delay: 200 } },
    });
    await w.sandbox.actions.kfInbound({ external_userid: CAND, content: '第五条' }).delivered;
    await until('failed attempts', async () => ((await cursorRow())?.failures ?? 0) >= 3);
    expect(await w.records("kind = 'conversation.gap'")).toHaveLength(1);
    expect(await stored(KF)).toHaveLength(4);

    // WeCom answers again: the retry pulls the rest, closes the gap, and nothing was lost or doubled.
    await w.admin('kf/page-faults', undefined, 'DELETE');
    await until('all messages', async () => (await stored(KF)).length === 7);
    const [closed] = await w.records("kind = 'conversation.gap_closed'");
    expect(closed?.payload).toEqual(
      expect.objectContaining({ open_kfid: KF, cursor, gap: { source_ref: gap?.source_ref, seq: gap?.seq, hash: gap?.hash } }),
    );
    expect(new Set(await stored(KF)).size).toBe(7);
    await until('the callback done', async () => {
      const { rows } = await w.app.db.pool.query(
        "SELECT outcome FROM ledger_consumer_done WHERE consumer = 'conversations.on.event.kf_msg_or_event'",
      );
      return rows.length === 1 && rows[0].outcome === 'done';
    });
    expect(await cursorRow()).toEqual(expect.objectContaining({ failures: 0 }));
  }, 60000);

  test('a malformed sync_msg answer: a gap with the answer kept, counted; the next pull gets the page', async () => {
    texts(1);
    await w.admin('kf/page-faults', { open_kfid: KF, mode: 'malformed', count: 1 });
    const mod = w.module();
    const sweep = mod.jobs?.[CONVERSATION_JOBS.kfSweep];
    expect(await sweep?.process({}, w.jobContext())).toEqual(expect.objectContaining({ failed: [KF] }));
    const [gap] = await w.records("kind = 'conversation.gap'");
    expect(gap?.payload).toEqual(
      expect.objectContaining({
        reason: 'malformed_answer',
        cursor: null,
        error: expect.objectContaining({ problem: 'msg_list is not an array' }),
      }),
    );
    expect(await stored()).toHaveLength(0);
    expect(await sweep?.process({}, w.jobContext())).toEqual(expect.objectContaining({ failed: [] }));
    expect(await stored()).toHaveLength(3);
    expect(await w.records("kind = 'conversation.gap_closed'")).toHaveLength(1);
    const bad = (await mod.metrics.badInput.get()).values.map((v) => [v.labels.reason, v.value]);
    expect(bad).toContainEqual(['malformed_answer', 1]);
  }, 60000);

  test('bad items: each recorded with its reason and counted; the messages around them are stored', async () => {
    const now = w.sandbox.state.nowSec();
    const raw = async (message: object) => w.admin('kf/raw-messages', { message, notify: false });
    texts(1); // 消息1
    await raw({
      msgid: 'x-holo-1',
      external_userid: CAND,
      send_time: now,
      origin: 3,
      msgtype: 'hologram',
      hologram: { frames: 3 },
    });
    await raw({ external_userid: CAND, send_time: now, origin: 3, msgtype: 'text', text: { content: '没有 msgid' } });
    await raw({
      msgid: 'x-long-1',
      external_userid: CAND,
      send_time: now,
      origin: 3,
      msgtype: 'text',
      text: { content: '长'.repeat(100) },
    });
    await raw({
      msgid: 'x-loc-1',
      external_userid: CAND,
      send_time: now,
      origin: 3,
      msgtype: 'location',
      location: { latitude: 23.106021881103501, longitude: 113.32065582275401, name: '广州塔', address: '阅江西路222号' },
    });
    // A customer nobody knew, writing mid-conversation (no enter_session).
    await raw({
      msgid: 'x-new-1',
      external_userid: 'wmNobodyKnows0009',
      send_time: now,
      origin: 3,
      msgtype: 'text',
      text: { content: '在吗' },
    });
    texts(1); // 消息1 again, a new message
    const mod = w.module({ textMaxBytes: 60 });
    expect(await mod.jobs?.[CONVERSATION_JOBS.kfSweep]?.process({}, w.jobContext())).toEqual(
      expect.objectContaining({ failed: [], messages: 9 }),
    );
    const cand = await candidateOf(w, CAND);
    const mine = await w.records('stream = $1 AND kind LIKE $2', [`candidate:${cand}`, 'conversation.%']);
    expect(mine.map((m) => [m.kind, m.payload.msgtype ?? m.payload.reason])).toEqual([
      ['conversation.message', 'text'],
      ['conversation.message', 'hologram'],
      ['conversation.placeholder', 'no_msgid'],
      ['conversation.message', 'text'],
      ['conversation.message', 'location'],
      ['conversation.message', 'text'],
    ]);
    // Unknown msgtype: kept as it came.
    expect(mine[1]?.payload.message).toEqual(expect.objectContaining({ msgtype: 'hologram', hologram: { frames: 3 } }));
    expect(mine[1]?.payload.unknown_msgtype).toBe(true);
    // No msgid: the item kept exactly, in a placeholder.
    expect(mine[2]?.payload.item).toEqual(expect.objectContaining({ text: { content: '没有 msgid' } }));
    // Over the cap: cut in the record (whole characters), the whole message kept as the candidate's media.
    const cut = mine[3]?.payload;
    expect(Buffer.byteLength(cut?.text, 'utf8')).toBeLessThanOrEqual(60);
    expect(cut?.text).toBe('长'.repeat(20));
    expect(cut?.text_cut).toEqual(
      expect.objectContaining({
        reason: 'text_over_cap',
        bytes: 300,
        cap: 60,
        whole_message: expect.objectContaining({ sha256: expect.any(String) }),
      }),
    );
    const whole = await mod.mediaStore.get({ corpId: w.app.keys.corpId, owner: cand }, cut?.text_cut.whole_message.sha256);
    expect(JSON.parse(whole?.bytes.toString('utf8') ?? '{}').text.content).toBe('长'.repeat(100));
    // Floats, which the ledger cannot hash exactly, kept as the text WeCom wrote (DECISIONS 6).
    expect(mine[4]?.payload.message.location.latitude).toBe('23.1060218811035');
    expect(mine[4]?.payload.anomalies).toEqual(['number_as_text']);
    // The unknown external_userid got its candidate, counted.
    const stranger = await candidateOf(w, 'wmNobodyKnows0009');
    expect(
      (await w.records('stream = $1 AND kind = $2', [`candidate:${stranger}`, 'conversation.message'])).map(
        (m) => m.payload.text,
      ),
    ).toEqual(['在吗']);
    const bad = Object.fromEntries((await mod.metrics.badInput.get()).values.map((v) => [v.labels.reason, v.value]));
    expect(bad).toEqual({ unknown_msgtype: 1, malformed_item: 1, text_over_cap: 1, unknown_external_userid: 2 });
    // (2: the stranger, and 吴浩, whose first message here is not a session entry either.)
  }, 60000);

  test('two pulls of one account at once (a callback and the sweep): each page committed once, the loser goes on from the winner', async () => {
    texts(7);
    const mod = w.module({ pageLimit: 2 });
    const sweep = mod.jobs?.[CONVERSATION_JOBS.kfSweep];
    if (!sweep) throw new Error('no sweep');
    const results = (await Promise.all([1, 2, 3].map(() => sweep.process({}, w.jobContext())))) as { messages: number }[];
    const refs = await stored();
    expect(refs).toHaveLength(9);
    expect(new Set(refs).size).toBe(9);
    // Every message was committed by exactly one of them.
    expect(results.reduce((n, r) => n + r.messages, 0)).toBe(9);
    // 5 pages of messages; an empty page read at the end by a later pull counts as a (successful) page too.
    expect(await cursorRow()).toEqual(expect.objectContaining({ messages: 9 }));
    expect((await cursorRow())?.pages).toBeGreaterThanOrEqual(5);
    const raced = (await mod.metrics.pages.get()).values.find((v) => v.labels.outcome === 'raced')?.value ?? 0;
    expect(raced).toBeGreaterThan(0);
  }, 60000);
});
