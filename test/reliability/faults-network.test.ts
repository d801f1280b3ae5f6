import { loadConfig, type Config } from '../../src/config/env';
import { verifyLedger } from '../../src/evidence';
import { createPool, poolOptionsFromConfig } from '../../src/infra/db/pool';
import { createRedis, redisTimeoutsFromConfig } from '../../src/infra/redis';
import { createLogger } from '../../src/observability/logger';
import { textMessage } from '../factories/callbacks';
import { signedCallback } from '../factories/signed';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { REDIS_URL, testEnv } from '../support/env';
import { TEST_KEYS } from '../support/keys';
import {
  callbackLoad,
  percentileOf,
  report,
  startFaultProxy,
  startInProcessApi,
  throughProxy,
  timedCallback,
  waitFor,
  type FaultProxy,
  type InProcessApi,
} from '../support/private-services';

/**
 * RELIABILITY F14: latency and lost connections between the app and PostgreSQL / Redis, through
 * a TCP proxy in this process (test/support/private-services.ts startFaultProxy) in front of a
 * database of this file's own. The app is built as the API's start-up builds it from the
 * configuration, so the tests exercise the configured timeouts. Latency is added to every chunk in
 * each direction: 100 ms each way is 200 ms more per round trip (toxiproxy's latency toxic on one
 * direction; netem's 200 ms on loopback is 400 ms per round trip: bench/faults.ts measures both).
 * What must hold: the timeouts exist and sit well inside WeCom's 5 s; a request fails (503) rather
 * than hangs when the database stops answering, and the pool's acquire and statement timeouts
 * trip instead of requests piling up; with 200 ms added per round trip and ~5% of connections dropped,
 * callbacks answer with p99 < 3 s, nothing acknowledged is lost, and the chain verifies.
 */

/** Every timeout on the callback path must sit below this (RELIABILITY F14). */
const TIMEOUT_BOUND_MS = 2000;
/** WeCom gives up on a callback after 5 s; every answer must come well before. */
const WECOM_TIMEOUT_MS = 5000;

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent', 'faults-network');
const BASE = 7_500_000_000_000_000_000n;
/** One CreateTime for every message: WeCom's retries repeat the message exactly (a new CreateTime would be a new event). */
const CREATED = Math.floor(Date.now() / 1000);
const signed = (i: number) =>
  signedCallback(
    TEST_KEYS,
    textMessage({ msgId: String(BASE + BigInt(i)), createTime: CREATED, content: `第 ${i} 条：面试时间能改到周四吗？` }),
  );

describe('F14: latency and loss between the app and PostgreSQL / Redis', () => {
  let db: TestDatabase;
  let pgProxy: FaultProxy;
  let redisProxy: FaultProxy;
  let config: Config;
  let api: InProcessApi | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
    pgProxy = await startFaultProxy({ port: Number(new URL(db.appUrl).port) });
    redisProxy = await startFaultProxy({ port: Number(new URL(REDIS_URL).port) });
    config = loadConfig(
      testEnv({ DATABASE_URL: throughProxy(db.appUrl, pgProxy), REDIS_URL: throughProxy(REDIS_URL, redisProxy) }),
    );
  });
  afterEach(async () => {
    await api?.close();
    api = undefined;
    pgProxy.set({ latencyMs: 0, dropRate: 0, blackhole: false });
    redisProxy.set({ latencyMs: 0, dropRate: 0, blackhole: false });
  });
  afterAll(async () => {
    await pgProxy.close();
    await redisProxy.close();
    await db.drop();
  });

  const stored = async () => {
    const { rows } = await db.pool.query<{ ref: string }>('SELECT source_ref AS ref FROM evidence_records');
    return rows.map((r) => Number(BigInt(r.ref.split(':msg:')[1] ?? '-1') - BASE));
  };

  test('the timeouts on the callback path exist, and sit well inside WeCom’s 5 s', async () => {
    // The defaults, as an operator who sets nothing gets them.
    expect(config.PG_CONNECT_TIMEOUT_MS).toBeLessThan(TIMEOUT_BOUND_MS);
    expect(config.PG_API_STATEMENT_TIMEOUT_MS).toBeLessThan(TIMEOUT_BOUND_MS);
    expect(config.REDIS_COMMAND_TIMEOUT_MS).toBeLessThan(TIMEOUT_BOUND_MS);
    expect(config.CALLBACK_STORE_TIMEOUT_MS).toBeLessThan(WECOM_TIMEOUT_MS);
    expect(config.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS).toBeGreaterThan(0);

    const options = poolOptionsFromConfig(config, 'api');
    expect(options).toMatchObject({
      connectTimeoutMs: config.PG_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: config.PG_API_STATEMENT_TIMEOUT_MS,
      idleInTransactionTimeoutMs: config.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    });
    expect(options.queryTimeoutMs).toBeLessThanOrEqual(TIMEOUT_BOUND_MS);
    expect(options.queryTimeoutMs).toBeGreaterThan(options.statementTimeoutMs); // the server speaks first
    // The worker keeps a longer statement timeout of its own.
    expect(poolOptionsFromConfig(config, 'worker').statementTimeoutMs).toBe(config.PG_STATEMENT_TIMEOUT_MS);

    // The pool carries them, and PostgreSQL applies them to every session it opens.
    const pool = createPool(options, logger);
    try {
      expect(pool.options).toMatchObject({
        connectionTimeoutMillis: config.PG_CONNECT_TIMEOUT_MS,
        statement_timeout: config.PG_API_STATEMENT_TIMEOUT_MS,
        query_timeout: options.queryTimeoutMs,
        idle_in_transaction_session_timeout: config.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      });
      const { rows } = await pool.query<{ name: string; setting: string }>(
        `SELECT name, setting FROM pg_settings WHERE name IN ('statement_timeout', 'idle_in_transaction_session_timeout') ORDER BY name`,
      );
      expect(rows).toEqual([
        { name: 'idle_in_transaction_session_timeout', setting: String(config.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS) },
        { name: 'statement_timeout', setting: String(config.PG_API_STATEMENT_TIMEOUT_MS) },
      ]);
      // The statement timeout trips: a statement longer than it fails fast, with SQLSTATE 57014.
      const started = performance.now();
      await expect(pool.query('SELECT pg_sleep(10)')).rejects.toMatchObject({ code: '57014' });
      expect(performance.now() - started).toBeLessThan(TIMEOUT_BOUND_MS + 1000);
    } finally {
      await pool.end();
    }

    // Redis: the API's connection fails fast; the worker's blocks and waits, as BullMQ needs.
    const producer = createRedis(REDIS_URL, 'producer', logger, redisTimeoutsFromConfig(config));
    const worker = createRedis(REDIS_URL, 'worker', logger, redisTimeoutsFromConfig(config));
    try {
      expect(producer.options).toMatchObject({
        commandTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
        socketTimeout: config.REDIS_COMMAND_TIMEOUT_MS,
        connectTimeout: config.REDIS_CONNECT_TIMEOUT_MS,
        enableOfflineQueue: false,
      });
      expect(worker.options.commandTimeout).toBeUndefined();
      expect(worker.options.maxRetriesPerRequest).toBeNull();
    } finally {
      producer.disconnect();
      worker.disconnect();
    }
  });

  test('when PostgreSQL and Redis stop answering, requests fail fast instead of hanging or piling up', async () => {
    api = await startInProcessApi(config, logger);
    const { url, pool } = api;
    const first = await callbackLoad(url, { count: 10, concurrency: 4, signed });
    expect([...first.values()].map((r) => r.status)).toEqual(Array(10).fill(200));

    // A partition: every open and new connection to PostgreSQL and Redis forwards nothing.
    pgProxy.set({ blackhole: true });
    redisProxy.set({ blackhole: true });
    const burst = await callbackLoad(url, {
      count: 60,
      concurrency: 30,
      signed: (i) => signed(10 + i),
      abortMs: 15000,
    });
    const outcomes = [...burst.values()];
    // Every request got an answer, a 503, before WeCom would have given up: none hung.
    expect(outcomes.filter((r) => r.status !== 503)).toEqual([]);
    const worst = Math.max(...outcomes.map((r) => r.ms));
    expect(worst).toBeLessThan(WECOM_TIMEOUT_MS);
    // Nothing piles up: no request waits for a connection any more, the pool stays within its size.
    await waitFor('the pool to drain', () => pool.waitingCount === 0, 10000);
    expect(pool.totalCount).toBeLessThanOrEqual(config.PG_POOL_MAX);
    // Readiness answers (red) within its own bound, it does not hang either.
    const started = performance.now();
    const health = await fetch(`${url}/health`, { signal: AbortSignal.timeout(10000) });
    expect(health.status).toBe(503);
    expect(performance.now() - started).toBeLessThan(TIMEOUT_BOUND_MS + 1000);
    // The API's Redis commands fail fast too.
    const ping = performance.now();
    await expect(api.redis.ping()).rejects.toThrow();
    expect(performance.now() - ping).toBeLessThan(TIMEOUT_BOUND_MS + 1000);

    // The network heals: the same app stores callbacks again, broken connections replaced.
    pgProxy.set({ blackhole: false });
    redisProxy.set({ blackhole: false });
    await waitFor('callbacks stored again', async () => (await timedCallback(url, signed(10))).status === 200, 30000, 200);
    for (let i = 11; i < 70; i++) expect((await timedCallback(url, signed(i))).status).toBe(200);
    const all = await stored();
    expect(all.length).toBe(70);
    expect(new Set(all).size).toBe(70);
    expect(await verifyLedger(db.pool)).toMatchObject({ ok: true });
    report('F14 partition', {
      requests: outcomes.length,
      failureMsP50: percentileOf(
        outcomes.map((r) => r.ms),
        50,
      ),
      failureMsMax: worst,
    });
  }, 120000);

  test('200 ms more per round trip and ~5% of connections dropped: callbacks p99 < 3 s, nothing acknowledged lost, the chain verifies', async () => {
    // Callbacks of their own (indexes from 1,000,000), beside what the test before stored.
    const OFFSET = 1_000_000;
    const own = (i: number) => signed(OFFSET + i);
    const storedOwn = async () => (await stored()).filter((i) => i >= OFFSET).map((i) => i - OFFSET);
    api = await startInProcessApi(config, logger);
    const { url } = api;
    for (const proxy of [pgProxy, redisProxy]) proxy.set({ latencyMs: 100, dropRate: 0.05, dropWindowMs: 500 });
    const dropsBefore = pgProxy.stats.reset + pgProxy.stats.blackholed;

    const N = 300;
    const results = await callbackLoad(url, { count: N, concurrency: 16, signed: own, abortMs: 15000 });
    const outcomes = [...results.values()];
    const ms = outcomes.map((r) => r.ms);
    const p50 = percentileOf(ms, 50);
    const p99 = percentileOf(ms, 99);
    const acked = [...results].filter(([, r]) => r.status === 200).map(([i]) => i);
    const failed = [...results].filter(([, r]) => r.status !== 200);

    // Every callback is answered: 200, or 503 for WeCom to retry; never a hang.
    expect(outcomes.filter((r) => r.status !== 200 && r.status !== 503)).toEqual([]);
    expect(Math.max(...ms)).toBeLessThan(WECOM_TIMEOUT_MS);
    expect(p99).toBeLessThan(3000);
    // Most are stored at the first attempt (the rest got their 503 at the store timeout, 2 s).
    expect(acked.length).toBeGreaterThan(N * 0.5);

    // Faults off: nothing acknowledged was lost; WeCom's retries store the rest, each exactly once.
    pgProxy.set({ latencyMs: 0, dropRate: 0 });
    redisProxy.set({ latencyMs: 0, dropRate: 0 });
    const afterFaults = new Set(await storedOwn());
    expect(acked.filter((i) => !afterFaults.has(i))).toEqual([]);
    for (const [i] of failed) {
      await waitFor(`callback ${i} stored on retry`, async () => (await timedCallback(url, own(i))).status === 200, 15000, 200);
    }
    const all = await storedOwn();
    expect(all.length).toBe(N);
    expect(new Set(all).size).toBe(N);
    expect(await verifyLedger(db.pool)).toMatchObject({ ok: true });
    report('F14 200ms RTT+5%', {
      callbacks: N,
      p50,
      p99,
      max: Math.max(...ms),
      refused: failed.length,
      // A 503 whose commit landed after all (deadline or lost answer): the retry finds it stored.
      refusedButStored: failed.filter(([i]) => afterFaults.has(i)).length,
      connectionsDropped: pgProxy.stats.reset + pgProxy.stats.blackholed - dropsBefore,
      seed: pgProxy.seed,
    });
  }, 180000);
});
