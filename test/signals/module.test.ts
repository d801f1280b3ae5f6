import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { CANDIDATE_STREAMS } from '../../src/candidates';
import { CONVERSATION_KINDS, CONVERSATION_SOURCE_REFS, CONVERSATION_SOURCES } from '../../src/conversations';
import { createLedger, createLedgerReader, type JsonValue, type Ledger } from '../../src/evidence';
import { QUEUES } from '../../src/jobs/names';
import { createLogger } from '../../src/observability/logger';
import type { JobContext } from '../../src/platform/module';
import {
  createSignalsModule,
  loadRules,
  saveRule,
  SIGNAL_CONSUMERS,
  SIGNAL_JOBS,
  SIGNAL_SEND_KEYS,
  type AlertLimit,
  type SignalRule,
  type SignalsDeps,
} from '../../src/signals';
import { createWecomClient, type MessageApi } from '../../src/wecom/api';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';

/**
 * The signals module in the worker, against the real PostgreSQL, Redis and the WeCom sandbox:
 * conversation messages on candidate streams are judged once, each hit a `signal.hit` record on the
 * same stream; resigned_before_offer and over_promise hits reach the recruiter as a WeCom message
 * (message/send on the recorded send path) once, also when the worker dies between the send and
 * its record and another worker takes over; without a recruiter the alert is recorded as
 * undeliverable; over the per-recruiter limit alerts are held and sent as one digest.
 */

const ALICE = `cd_${'a'.repeat(32)}`;
const BOB = `cd_${'b'.repeat(32)}`;
const T0 = Date.parse('2026-11-20T02:00:00.000Z');

interface Row {
  seq: string;
  stream: string;
  kind: string;
  source: string;
  source_ref: string;
  payload: { [key: string]: JsonValue };
  hash: string;
}

describe('the signals module', () => {
  let app: RunningApp;
  let sandbox: Sandbox;
  let redis: Redis;
  let ledger: Ledger;
  let worker: RunningRuntime | undefined;
  let n = 0;
  let clock = Date.now();
  const recruiters = new Map<string, string>([[ALICE, 'zhangmin']]);

  beforeEach(async () => {
    app = await startApp();
    sandbox = await startSandboxFor(app);
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    ledger = createLedger({ pool: app.db.appPool });
    n = 0;
    clock = Date.now();
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await ledger.close();
    redis.disconnect();
    await sandbox.close();
    await app.stop();
  });

  /** The real WeCom client against the sandbox, recording its sends in the ledger. */
  function wecomMessages(): Pick<MessageApi, 'send'> {
    return createWecomClient({
      apiBase: sandbox.url,
      corpId: app.keys.corpId,
      secret: app.config.WECOM_SECRET,
      agentId: app.config.WECOM_AGENT_ID,
      redis,
      logger: createLogger('silent', 't'),
      ledger,
      reader: createLedgerReader(app.db.appPool),
      options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:` },
    }).message;
  }

  function signals(overrides: Partial<SignalsDeps> = {}) {
    return createSignalsModule({
      db: app.db.appPool,
      messages: wecomMessages(),
      recruiterOf: (_corp, candidateId) => Promise.resolve(recruiters.get(candidateId) ?? null),
      now: () => clock,
      ...overrides,
    });
  }

  /** A conversation message as the conversations module stores it (KF channel). */
  async function say(candidateId: string, role: 'candidate' | 'recruiter', text: string, recruiter?: string) {
    n += 1;
    const msgid = `msg${n}`;
    return ledger.append({
      stream: CANDIDATE_STREAMS.candidate(candidateId),
      kind: CONVERSATION_KINDS.message,
      occurredAt: new Date(T0 + n * 1000),
      actor: role === 'candidate' ? candidateId : (recruiter ?? 'hireledger'),
      source: CONVERSATION_SOURCES.kf,
      sourceRef: CONVERSATION_SOURCE_REFS.kfMessage('wkSignalsKF', msgid),
      payload: {
        channel: 'kf',
        role,
        msgid,
        msgtype: 'text',
        text,
        ...(recruiter ? { recruiter } : {}),
        open_kfid: 'wkSignalsKF',
        message: { msgid, msgtype: 'text', text: { content: text } },
      },
      raw: null,
    });
  }

  const records = async (where: string): Promise<Row[]> =>
    (
      await app.db.pool.query<Row>(
        `SELECT seq, stream, kind, source, source_ref, payload, hash FROM evidence_records WHERE ${where} ORDER BY seq`,
      )
    ).rows;
  const inbox = (userid: string) =>
    sandbox.state.inbox(userid).map((e) => (e.body as { content?: string } | undefined)?.content ?? '');
  const sends = () => sandbox.state.stats.calls['message/send'] ?? 0;

  test('each message judged once: hits on the candidate stream, one alert per alerting hit, nothing again on a re-run', async () => {
    await say(ALICE, 'candidate', '我再考虑一下哈');
    const resigned = await say(ALICE, 'candidate', '我已经提离职了😂');
    await say(ALICE, 'candidate', '好的 收到');
    const promise = await say(ALICE, 'recruiter', 'offer没问题，下周一直接来上班', 'LiQiang');
    await say(ALICE, 'recruiter', '请在收到正式offer之前不要提出离职', 'liqiang');
    await say(BOB, 'candidate', '我这边已经辞职了'); // nobody's candidate yet

    worker = await startRuntime(app, [signals()]);
    await until('hits and alerts', async () => (await records("kind IN ('signal.hit', 'signal.alert')")).length === 7);

    // Jobs run concurrently: the hits in the order of the messages they were found in.
    const msgSeq = (r: Row) => (r.payload['message'] as { seq: number }).seq;
    const hits = (await records("kind = 'signal.hit'")).sort((x, y) => msgSeq(x) - msgSeq(y));
    expect(hits.map((h) => [h.stream, h.payload['type'], h.payload['rule'], h.payload['match']])).toEqual([
      [CANDIDATE_STREAMS.candidate(ALICE), 'hesitation', 'hes.reconsider', { start: 1, end: 4, text: '再考虑' }],
      [CANDIDATE_STREAMS.candidate(ALICE), 'resigned_before_offer', 'res.already', { start: 1, end: 6, text: '已经提离职' }],
      [CANDIDATE_STREAMS.candidate(ALICE), 'over_promise', 'ovp.certain', { start: 0, end: 8, text: 'offer没问题' }],
      [CANDIDATE_STREAMS.candidate(BOB), 'resigned_before_offer', 'res.already', { start: 3, end: 7, text: '已经辞职' }],
    ]);
    const [, second, third] = hits;
    expect(second?.payload).toEqual(
      expect.objectContaining({
        message: { seq: resigned.seq, hash: resigned.hash },
        rule_version: 1,
        role: 'candidate',
        offer_approved: false,
      }),
    );
    expect(second?.source).toBe('hireledger.signals');
    expect(second?.source_ref).toBe(`hit:${resigned.seq}:res.already:1`);
    expect(third?.payload).toEqual(
      expect.objectContaining({ message: { seq: promise.seq, hash: promise.hash }, recruiter: 'liqiang' }),
    );

    // The candidate's recruiter hears of the resignation; the recruiter who promised, of the promise.
    expect(inbox('zhangmin')).toEqual([expect.stringContaining('候选人表示已离职（offer 尚未审批）')]);
    expect(inbox('zhangmin')[0]).toContain('原话：「我已经提离职了😂」');
    expect(inbox('zhangmin')[0]).toContain('规则 res.already，第 1 版');
    expect(inbox('liqiang')).toEqual([expect.stringContaining('超出审批的承诺')]);
    expect(sends()).toBe(2);

    const alerts = await records("kind = 'signal.alert'");
    expect(
      alerts.map((a) => [a.payload['hit'], a.payload['status'], a.payload['recruiter'] ?? null, a.payload['reason'] ?? null]),
    ).toEqual(
      expect.arrayContaining([
        [{ seq: Number(second?.seq), hash: second?.hash }, 'sent', 'zhangmin', null],
        [{ seq: Number(third?.seq), hash: third?.hash }, 'sent', 'liqiang', null],
        [{ seq: Number(hits[3]?.seq), hash: hits[3]?.hash }, 'undeliverable', null, 'no_recruiter'],
      ]),
    );
    // Each send is on the recorded send path: intent and outcome, keyed by the hit.
    const outbound = await records("source = 'wecom.outbound'");
    expect(outbound.map((o) => o.source_ref.split('#')[0])).toEqual(
      expect.arrayContaining([
        SIGNAL_SEND_KEYS.alert(Number(second?.seq), second?.hash ?? ''),
        SIGNAL_SEND_KEYS.alert(Number(third?.seq), third?.hash ?? ''),
      ]),
    );
    expect(outbound).toHaveLength(4);

    // Every job again: all skipped, nothing appended, nobody told twice.
    const queue = worker.runtime.queues.get(QUEUES.ledger);
    const completed = await queue.getJobs(['completed']);
    const again = Date.now();
    for (const job of completed) await job.retry('completed');
    await until('the jobs run again', async () => {
      const jobs = await queue.getJobs(['completed']);
      return jobs.length === completed.length && jobs.every((j) => (j.finishedOn ?? 0) >= again);
    });
    expect((await queue.getJobs(['completed'])).every((j) => (j.returnvalue as { skipped?: string }).skipped === 'done')).toBe(
      true,
    );
    expect(await records("kind IN ('signal.hit', 'signal.alert')")).toHaveLength(7);
    expect(sends()).toBe(2);
    const { rows: done } = await app.db.pool.query(
      `SELECT consumer, count(*)::int AS n FROM ledger_consumer_done WHERE consumer LIKE 'signals.%' GROUP BY 1 ORDER BY 1`,
    );
    expect(done).toEqual([
      { consumer: SIGNAL_CONSUMERS.alerts, n: 4 },
      { consumer: SIGNAL_CONSUMERS.classifier, n: 6 },
    ]);
  }, 60000);

  test('the alert is sent once per hit when the worker dies between the send and its record, and another worker takes over', async () => {
    const hitMessage = await say(ALICE, 'candidate', '离职申请昨天交上去了');
    const real = wecomMessages();
    let died = 0;
    const dying: Pick<MessageApi, 'send'> = {
      async send(message, opts) {
        await real.send(message, opts);
        died += 1;
        // The process is gone before it could record what WeCom answered.
        throw new Error('worker killed after message/send');
      },
    };
    worker = await startRuntime(app, [signals({ messages: dying })]);
    await until('the first send', () => Promise.resolve(died === 1));
    await worker.stop();
    worker = undefined;
    expect(inbox('zhangmin')).toHaveLength(1);
    expect(await records("kind = 'signal.alert'")).toEqual([]);

    // A new worker with a healthy client: the job runs again under the same key and sends nothing.
    worker = await startRuntime(app, [signals()]);
    await until('the alert record', async () => (await records("kind = 'signal.alert'")).length === 1, 30000);
    expect(inbox('zhangmin')).toHaveLength(1);
    expect(sends()).toBe(1);
    const [alert] = await records("kind = 'signal.alert'");
    const [hit] = await records("kind = 'signal.hit'");
    expect(hit?.payload['message']).toEqual({ seq: hitMessage.seq, hash: hitMessage.hash });
    expect(alert?.payload).toEqual(
      expect.objectContaining({
        status: 'sent',
        recruiter: 'zhangmin',
        send_key: SIGNAL_SEND_KEYS.alert(Number(hit?.seq), hit?.hash ?? ''),
      }),
    );
    // The send's evidence: one intent, one sent outcome (the repeat was answered from the ledger).
    const outbound = await records("source = 'wecom.outbound'");
    expect(outbound.map((o) => [o.kind, o.payload['status'] ?? null])).toEqual([
      ['wecom.outbound.intent', null],
      ['wecom.outbound.outcome', 'sent'],
    ]);
  }, 60000);

  test("an admin's rule edit reaches the running worker: later messages are judged by the new version", async () => {
    worker = await startRuntime(app, [signals()]);
    await say(BOB, 'candidate', '让我缓缓');
    await say(BOB, 'candidate', '我再考虑一下');
    await until('the first hit', async () => (await records("kind = 'signal.hit'")).length === 1);
    await until('both messages judged', async () => {
      const { rows } = await app.db.pool.query(`SELECT count(*)::int AS n FROM ledger_consumer_done WHERE consumer = $1`, [
        SIGNAL_CONSUMERS.classifier,
      ]);
      return rows[0]?.n === 2;
    });
    const rule = (await loadRules(app.db.appPool, app.keys.corpId)).find((r) => r.id === 'hes.reconsider') as SignalRule;
    await saveRule(app.db.appPool, app.keys.corpId, { ...rule, terms: [...rule.terms, '让我缓缓'] }, 'chenjing');
    const later = await say(BOB, 'candidate', '嗯 让我缓缓');
    await until('the hit of the new version', async () => (await records("kind = 'signal.hit'")).length === 2);
    const hits = await records("kind = 'signal.hit'");
    expect(hits.map((h) => [h.payload['rule'], h.payload['rule_version'], h.payload['match']])).toEqual([
      ['hes.reconsider', 1, { start: 1, end: 4, text: '再考虑' }],
      ['hes.reconsider', 2, { start: 2, end: 6, text: '让我缓缓' }],
    ]);
    expect(hits[1]?.source_ref).toBe(`hit:${later.seq}:hes.reconsider:2`);
  }, 60000);

  test('over the per-recruiter limit alerts are held, recorded, and sent as one digest when the window has room', async () => {
    const limit: AlertLimit = { messages: 1, windowMs: 60_000 };
    const mod = signals({ alertLimit: limit });
    await say(ALICE, 'candidate', '我已经提离职了');
    await say(ALICE, 'candidate', '离职手续已经办完了');
    await say(ALICE, 'candidate', '我的last day是这周五');
    worker = await startRuntime(app, [mod]);
    await until('three alert decisions', async () => (await records("kind = 'signal.alert'")).length === 3);
    const decided = await records("kind = 'signal.alert'");
    expect(decided.map((a) => a.payload['status']).sort()).toEqual(['held', 'held', 'sent']);
    expect(decided.find((a) => a.payload['status'] === 'held')?.payload).toEqual(
      expect.objectContaining({ reason: 'rate_limited', limit: { messages: 1, window_ms: 60_000 } }),
    );
    expect(inbox('zhangmin')).toHaveLength(1);

    const digest = mod.jobs?.[SIGNAL_JOBS.digest];
    if (!digest) throw new Error('no digest job');
    const reader = createLedgerReader(app.db.appPool);
    const ctx: JobContext = {
      corpId: app.keys.corpId,
      log: createLogger('silent', 't'),
      reader,
      transact: (work) => ledger.transact(work),
      attempt: 1,
    };
    // Still inside the window: nothing goes out.
    await digest.process({}, ctx);
    expect(inbox('zhangmin')).toHaveLength(1);

    clock += 61_000;
    await digest.process({}, ctx);
    expect(inbox('zhangmin')).toHaveLength(2);
    expect(inbox('zhangmin')[1]).toContain('以下 2 条合并发送');
    await digest.process({}, ctx);
    expect(inbox('zhangmin')).toHaveLength(2);

    const sent = (await records("kind = 'signal.alert'")).filter((a) => a.payload['status'] === 'sent');
    expect(sent.map((a) => a.payload['via']).sort()).toEqual(['alert', 'digest', 'digest']);
    const { rows } = await app.db.pool.query(`SELECT status, count(*)::int AS n FROM signal_alerts GROUP BY 1`);
    expect(rows).toEqual([{ status: 'sent', n: 3 }]);
  }, 60000);
});
