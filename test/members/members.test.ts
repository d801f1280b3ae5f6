import { Redis } from 'ioredis';
import type { Sandbox } from '../../sandbox/server';
import { createLedger, type JsonValue, type Ledger } from '../../src/evidence';
import { QUEUES } from '../../src/jobs/names';
import { createMembersModule, shanghaiDay, type MemberDirectory } from '../../src/members';
import { createLogger } from '../../src/observability/logger';
import { createWecomClient, WecomRateLimitedError } from '../../src/wecom/api';
import { enterAgent } from '../factories/callbacks';
import { postCallback, signedCallback } from '../factories/signed';
import { startApp, startSandboxFor, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { startRuntime, until, type RunningRuntime } from '../jobs/harness';

/**
 * The seam end to end, through the example module (issue 7, "Done when"): a stored `enter_agent`
 * callback reaches the module's typed handler; its decision (a visit) and the evidence of it commit
 * in one transaction; a ledger consumer follows the visit records and asks WeCom's directory (the
 * sandbox) for the member's profile, as a job under the error policy.
 */

const DAY = 86_400_000;
/** 10:00 in Shanghai two days ago: three callbacks over two Shanghai days, all in the past. */
const shanghaiMidnight = Math.floor((Date.now() + 8 * 3600_000) / DAY) * DAY - 8 * 3600_000;
const base = shanghaiMidnight - 2 * DAY + 10 * 3600_000;
const T = Math.floor(base / 1000);
const D1 = shanghaiDay(new Date(base));
const D2 = shanghaiDay(new Date(base + DAY));

interface Row {
  seq: string;
  stream: string;
  kind: string;
  actor: string;
  source: string;
  source_ref: string;
  payload: { [key: string]: JsonValue };
  hash: string;
}

describe('the members module', () => {
  let app: RunningApp;
  let sandbox: Sandbox;
  let redis: Redis;
  let outbound: Ledger;
  let worker: RunningRuntime | undefined;
  const asked: string[] = [];

  beforeEach(async () => {
    app = await startApp();
    sandbox = await startSandboxFor(app);
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    outbound = createLedger({ pool: app.db.appPool });
    asked.length = 0;
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await outbound.close();
    redis.disconnect();
    await sandbox.close();
    await app.stop();
  });

  /** The real WeCom client against the sandbox's directory, counting the members asked about. */
  function sandboxDirectory(): MemberDirectory {
    const wecom = createWecomClient({
      apiBase: sandbox.url,
      corpId: app.keys.corpId,
      secret: app.config.WECOM_SECRET,
      agentId: app.config.WECOM_AGENT_ID,
      redis,
      logger: createLogger('silent', 't'),
      ledger: outbound,
      options: { keyPrefix: `${app.config.QUEUE_PREFIX}:wecom:` },
    });
    return {
      getUser: (userid) => {
        asked.push(userid);
        return wecom.contact.getUser(userid);
      },
    };
  }

  const post = async (xml: string) => expect((await postCallback(app.url, signedCallback(app.keys, xml))).status).toBe(200);
  const records = async (where = 'true'): Promise<Row[]> =>
    (
      await app.db.pool.query<Row>(
        `SELECT seq, stream, kind, actor, source, source_ref, payload, hash FROM evidence_records WHERE ${where} ORDER BY seq`,
      )
    ).rows;

  test('a visit per member and day, decided with its evidence; the profile fetched once per member, exactly once in effect', async () => {
    await post(enterAgent({ from: 'ZhangMin', createTime: T }));
    await post(enterAgent({ from: 'zhangmin', createTime: T + 60 })); // the same day: not another visit
    await post(enterAgent({ from: 'liqiang', createTime: T + 120 }));
    await post(enterAgent({ from: 'zhangmin', createTime: T + DAY / 1000 })); // the next day: a visit
    // One job at a time, so zhangmin's second visit is looked at after the first one's profile is kept.
    worker = await startRuntime(app, [createMembersModule({ db: app.db.appPool, directory: sandboxDirectory() })], {
      concurrency: 1,
    });
    // Wait for the records and for every job to be marked done: zhangmin's second visit needs no
    // fetch, so its profile job writes no record and may finish after the last one appears.
    const doneCount = async () =>
      (await app.db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger_consumer_done')).rows[0]?.n ?? 0;
    await until(
      'visits, profiles and every job done',
      async () => (await records("kind LIKE 'member.%'")).length === 5 && (await doneCount()) === 7,
    );

    const callbacks = await records("kind = 'wecom.callback.event.enter_agent'");
    expect(callbacks).toHaveLength(4);
    const visits = await records("kind = 'member.visit'");
    expect(visits.map((v) => [v.stream, v.source, v.source_ref, v.actor])).toEqual([
      ['member:zhangmin', 'hireledger.members', `visit:zhangmin:${D1}`, 'zhangmin'],
      ['member:liqiang', 'hireledger.members', `visit:liqiang:${D1}`, 'liqiang'],
      ['member:zhangmin', 'hireledger.members', `visit:zhangmin:${D2}`, 'zhangmin'],
    ]);
    // Each visit names the callback it was decided on, by seq and hash.
    const first = callbacks[0];
    expect(visits[0]?.payload['callback']).toEqual({ seq: Number(first?.seq), hash: first?.hash });
    // The decision's rows are exactly the visits with evidence: never one without the other.
    const { rows: days } = await app.db.pool.query(
      'SELECT userid, day::text, callback_seq::int FROM member_visits ORDER BY callback_seq',
    );
    expect(days).toEqual([
      { userid: 'zhangmin', day: D1, callback_seq: 1 },
      { userid: 'liqiang', day: D1, callback_seq: 3 },
      { userid: 'zhangmin', day: D2, callback_seq: 4 },
    ]);

    // The consumer asked WeCom once per member: zhangmin's second visit found a fresh profile.
    expect(asked).toEqual(['zhangmin', 'liqiang']);
    const profiles = await records("kind = 'member.profile'");
    expect(profiles.map((p) => [p.stream, p.payload['name'], p.payload['visit']])).toEqual([
      ['member:zhangmin', '张敏', { seq: Number(visits[0]?.seq), hash: visits[0]?.hash }],
      ['member:liqiang', expect.any(String), { seq: Number(visits[1]?.seq), hash: visits[1]?.hash }],
    ]);
    const { rows: kept } = await app.db.pool.query('SELECT userid, name, department FROM member_profiles ORDER BY userid');
    expect(kept).toEqual([
      { userid: 'liqiang', name: expect.any(String), department: expect.any(Array) },
      { userid: 'zhangmin', name: '张敏', department: [2] },
    ]);

    // Every record each consumer takes is marked done.
    const { rows: done } = await app.db.pool.query(
      'SELECT consumer, count(*)::int AS n FROM ledger_consumer_done GROUP BY 1 ORDER BY 1',
    );
    expect(done).toEqual([
      { consumer: 'members.on.event.enter_agent', n: 4 },
      { consumer: 'members.profiles', n: 3 },
    ]);
    // A second run of every job changes nothing.
    const ledgerQueue = worker.runtime.queues.get(QUEUES.ledger);
    const again = Date.now();
    for (const job of await ledgerQueue.getJobs(['completed'])) await job.retry('completed');
    await until('the jobs run again', async () => {
      const jobs = await ledgerQueue.getJobs(['completed']);
      return jobs.length === 7 && jobs.every((j) => (j.finishedOn ?? 0) >= again);
    });
    expect((await ledgerQueue.getJobs(['completed'])).map((j) => j.returnvalue)).toEqual(Array(7).fill({ skipped: 'done' }));
    expect(await records("kind LIKE 'member.%'")).toHaveLength(5);
    expect(asked).toEqual(['zhangmin', 'liqiang']);
  }, 60000);

  test('a member WeCom does not know (60111): the profile job fails at once, recorded in PostgreSQL and the ledger', async () => {
    await post(enterAgent({ from: 'ghost', createTime: T }));
    worker = await startRuntime(app, [createMembersModule({ db: app.db.appPool, directory: sandboxDirectory() })]);
    await until('the failure record', async () => (await records("kind = 'hireledger.job.failed'")).length === 1);
    const [failure] = await records("kind = 'hireledger.job.failed'");
    const [visit] = await records("kind = 'member.visit'");
    expect(failure?.stream).toBe('job:members.profiles');
    expect(failure?.source).toBe('hireledger.jobs');
    expect(failure?.source_ref).toBe(`members.profiles:${visit?.seq}:failed`);
    expect(failure?.payload).toEqual(
      expect.objectContaining({
        consumer: 'members.profiles',
        record: { seq: Number(visit?.seq), hash: visit?.hash },
        reason: 'wecom_errcode',
        error: expect.objectContaining({ name: 'WecomApiError', errcode: 60111 }),
        attempt: 1,
      }),
    );
    const { rows } = await app.db.pool.query("SELECT outcome FROM ledger_consumer_done WHERE consumer = 'members.profiles'");
    expect(rows).toEqual([{ outcome: 'failed' }]);
    const [job] = await worker.runtime.queues.get(QUEUES.ledger).getJobs(['failed']);
    expect(job?.name).toBe('members.profiles');
    expect(job?.attemptsMade).toBe(1);
    expect(asked).toEqual(['ghost']);
    const failures = await worker.metrics.jobFailures.get();
    expect(failures.values).toEqual([
      { labels: { queue: 'ledger-consumers', job: 'members.profiles', class: 'permanent' }, value: 1 },
    ]);
  }, 30000);

  test("WeCom's rate limit (45009): the profile job waits out the minute window, nothing recorded as failed", async () => {
    await post(enterAgent({ from: 'zhangmin', createTime: T }));
    const limited: MemberDirectory = {
      getUser: async (userid) => {
        asked.push(userid);
        throw new WecomRateLimitedError('api freq out of limit', 'user/get');
      },
    };
    worker = await startRuntime(app, [createMembersModule({ db: app.db.appPool, directory: limited })]);
    const queue = worker.runtime.queues.get(QUEUES.ledger);
    await until('the delayed job', async () => (await queue.getJobCounts('delayed')).delayed === 1);
    const [job] = await queue.getJobs(['delayed']);
    expect(job?.name).toBe('members.profiles');
    expect(job?.delay).toBeGreaterThan(59_000);
    expect(asked).toEqual(['zhangmin']);
    expect(await records("kind IN ('member.profile', 'hireledger.job.failed')")).toEqual([]);
    expect(await records("kind = 'member.visit'")).toHaveLength(1);
  }, 30000);
});
