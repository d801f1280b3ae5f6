import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { loadConfig, type Config } from '../../src/config/env';
import { createLedger, type Ledger } from '../../src/evidence';
import { createPool, poolOptionsFromConfig } from '../../src/infra/db/pool';
import { createRedis, redisTimeoutsFromConfig } from '../../src/infra/redis';
import { startWorkerRuntime, type WorkerRuntime } from '../../src/jobs/runtime';
import { createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';
import type { ConsumerContext, HireLedgerModule } from '../../src/platform/module';
import { textMessage } from '../factories/callbacks';
import { signedCallback } from '../factories/signed';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { testEnv } from '../support/env';
import { TEST_KEYS } from '../support/keys';
import {
  report,
  startInProcessApi,
  startPrivateRedis,
  timedCallback,
  waitFor,
  type PrivateRedis,
} from '../support/private-services';

/**
 * RELIABILITY F5: kill -9 of Redis (AOF, appendfsync everysec) while callbacks stream in and the
 * worker runs, then Redis starts again on the same port from its append-only file. A private
 * redis-server (test/support/private-services.ts); the API and the worker as main.ts and worker.ts
 * build them (createPool, createRedis, buildApp, startWorkerRuntime), in this process.
 * What must hold: callbacks are still stored while Redis is down (the ledger is the outbox); the
 * worker resumes by itself within 30 s of Redis answering again (an explicit bound: reconnect
 * bugs of the bullmq #4479 class); no acknowledged callback's work is lost (whatever the last
 * second of AOF lost is enqueued again from PostgreSQL) and none is done twice.
 */

/** The contractual bound (RELIABILITY F5). */
const RESUME_WITHIN_MS = 30000;

const BASE = 7_400_000_000_000_000_000n;
/** One CreateTime for every message: WeCom's retries repeat the message exactly (a new CreateTime would be a new event). */
const CREATED = Math.floor(Date.now() / 1000);
const plaintext = (i: number) =>
  textMessage({ msgId: String(BASE + BigInt(i)), createTime: CREATED, content: `第 ${i} 条：offer 我收到了。` });

/** A handler and a ledger consumer on every text message, each writing its effect in the work's own transaction. */
function countingModule(calls: Map<string, number>): HireLedgerModule {
  const effect = async (consumer: string, seq: number, ctx: ConsumerContext) => {
    calls.set(`${consumer}:${seq}`, (calls.get(`${consumer}:${seq}`) ?? 0) + 1);
    // Some work takes a while, so jobs are waiting in Redis when it dies.
    await new Promise((r) => setTimeout(r, 20));
    await ctx.transact(async (tx) => {
      await tx.query('INSERT INTO test_effects (consumer, seq) VALUES ($1, $2)', [consumer, seq]);
      return { result: null, entries: [] };
    });
  };
  return {
    name: 'counting',
    callbackHandlers: { 'message.text': (cb, ctx) => effect('handler', cb.seq, ctx) },
    consumers: {
      'counting.texts': {
        accepts: (r) => r.kind === 'wecom.callback.message.text',
        handle: (r, ctx) => effect('consumer', r.seq, ctx),
      },
    },
  };
}

describe('F5: kill -9 of Redis with AOF everysec', () => {
  let db: TestDatabase | undefined;
  let redis: PrivateRedis | undefined;
  let config: Config;
  const closers: (() => Promise<unknown> | void)[] = [];

  beforeAll(async () => {
    [db, redis] = await Promise.all([createTestDatabase(), startPrivateRedis({ aof: true })]);
    await db.pool.query(
      'CREATE TABLE test_effects (consumer text NOT NULL, seq bigint NOT NULL); GRANT SELECT, INSERT ON test_effects TO hireledger_app',
    );
    config = loadConfig(testEnv({ DATABASE_URL: db.appUrl, REDIS_URL: redis.url }));
  });
  afterAll(async () => {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
    await redis?.stop();
    await db?.drop();
  });

  test('callbacks are stored while Redis is down; the worker resumes within 30 s; no work lost or done twice', async () => {
    if (!db || !redis) throw new Error('set-up failed');
    const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent', 'faults-redis');

    // The API.
    const api = await startInProcessApi(config, logger);
    closers.push(() => api.close());
    const { url } = api;

    // The worker.
    const calls = new Map<string, number>();
    const workerPool: Pool = createPool(poolOptionsFromConfig(config, 'worker'), logger);
    const connection = createRedis(config.REDIS_URL, 'worker', logger, redisTimeoutsFromConfig(config));
    const ledger: Ledger = createLedger({ pool: workerPool });
    const runtime: WorkerRuntime = await startWorkerRuntime({
      corpId: config.WECOM_CORP_ID,
      pool: workerPool,
      connection,
      prefix: config.QUEUE_PREFIX,
      ledger,
      modules: [countingModule(calls)],
      logger,
      metrics: createMetrics(),
      dispatch: { intervalMs: 50 },
    });
    closers.push(
      () => workerPool.end(),
      () => connection.disconnect(),
      () => ledger.close(),
      () => runtime.close(),
    );

    const effects = async () => {
      const { rows } = await (db as TestDatabase).pool.query<{ consumer: string; seq: string; n: number }>(
        'SELECT consumer, seq, count(*)::int AS n FROM test_effects GROUP BY 1, 2',
      );
      return rows.map((r) => ({ consumer: r.consumer, seq: Number(r.seq), n: r.n }));
    };
    const lastSeq = async () =>
      Number(
        (await (db as TestDatabase).pool.query<{ s: string }>('SELECT coalesce(max(seq), 0) AS s FROM evidence_records')).rows[0]
          ?.s,
      );
    const health = async () => {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(10000) });
      return { status: res.status, body: (await res.json()) as { checks: Record<string, { ok: boolean }> } };
    };

    // Callbacks stream in throughout.
    type Phase = 'up' | 'down' | 'back';
    let phase = 'up' as Phase;
    const results: { phase: Phase; status: number; ms: number }[] = [];
    let next = 0;
    let stop = false;
    const senders = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const i = next++;
        const at = phase;
        const r = await timedCallback(url, signedCallback(TEST_KEYS, plaintext(i)));
        results.push({ phase: at, status: r.status, ms: r.ms });
        await new Promise((res) => setTimeout(res, 10));
      }
    });

    let resumedMs = 0;
    let seqAtKill = 0;
    let seqAtReturn = 0;
    try {
      await waitFor('work done before the kill', async () => (await effects()).length >= 100, 60000);
      // A key written well over a second before the kill is in the append-only file (appendfsync everysec).
      const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      probe.on('error', () => undefined);
      await probe.set('faults:marker', 'before-the-kill');
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 1500));
      await redis.kill9();
      phase = 'down';
      seqAtKill = await lastSeq();

      // Callbacks are still stored (the ledger is the outbox); readiness says Redis is down.
      await waitFor('callbacks stored while Redis is down', async () => (await lastSeq()) >= seqAtKill + 60, 60000);
      const red = await health();
      expect(red.status).toBe(503);
      expect(red.body.checks['redis']?.ok).toBe(false);
      seqAtReturn = await lastSeq();

      await redis.restart();
      const back = performance.now();
      phase = 'back';
      const again = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      again.on('error', () => undefined);
      // Redis came back with its data, not empty.
      expect(await again.get('faults:marker')).toBe('before-the-kill');
      again.disconnect();
      // The worker resumes by itself: work on a record stored while Redis was down gets done.
      await waitFor(
        'the worker to resume',
        async () => (await effects()).some((e) => e.seq > seqAtKill),
        RESUME_WITHIN_MS + 30000,
        100,
      );
      resumedMs = performance.now() - back;
      await waitFor('callbacks acknowledged after Redis returned', async () => (await lastSeq()) >= seqAtReturn + 40, 60000);
    } finally {
      stop = true;
      await Promise.all(senders);
    }
    expect(resumedMs).toBeLessThanOrEqual(RESUME_WITHIN_MS);

    // Every callback was acknowledged, Redis down or not.
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.filter((r) => r.phase === 'down').length).toBeGreaterThanOrEqual(20);
    const stored = await lastSeq();
    expect(stored).toBe(results.length);

    // All work done (what the last second of AOF lost is enqueued again by the sweep, every 30 s), once each.
    const expected = stored * 2;
    await waitFor('every record handled by both', async () => (await effects()).length === expected, 120000, 250);
    await new Promise((r) => setTimeout(r, 500)); // time for a wrong second run to show
    const done = await effects();
    expect(done.length).toBe(expected);
    expect(done.filter((e) => e.n !== 1)).toEqual([]);
    expect(new Set(done.map((e) => `${e.consumer}:${e.seq}`)).size).toBe(expected);

    expect((await health()).status).toBe(200);

    report('F5', {
      callbacks: results.length,
      storedWhileRedisDown: seqAtReturn - seqAtKill,
      workerResumedMsAfterRedisBack: resumedMs,
      handlerCallsRepeated: [...calls.values()].filter((n) => n > 1).length,
    });
  }, 240000);
});
