import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { consumerJobProcessor } from '../../src/jobs/consumer-jobs';
import { createDispatcher, type ConsumerJobData } from '../../src/jobs/dispatcher';
import { QUEUES, corpQueue } from '../../src/jobs/names';
import { combineModules } from '../../src/jobs/registry';
import { createLedger, createLedgerReader } from '../../src/evidence';
import { createLogger } from '../../src/observability/logger';
import type { ConsumerContext, HireLedgerModule } from '../../src/platform/module';
import { textMessage } from '../factories/callbacks';
import { postCallback, signedCallback } from '../factories/signed';
import { startApp, type RunningApp } from '../support/app';
import { startPrivateRedis, startRuntime, until, type PrivateRedis } from './harness';

/**
 * Issue 7 item 7, RELIABILITY F6: Redis holds no work PostgreSQL cannot rebuild. Callbacks are
 * stored, their jobs enqueued, then Redis restarts empty before they run; the worker restarts and
 * every handler still runs, and each record's effect happens exactly once.
 */

const logger = createLogger('silent', 'test');

/** Two kinds of work on every text message: a typed callback handler and a plain ledger consumer, each writing its effect. */
function countingModule(calls: Map<string, number>): HireLedgerModule {
  const effect = async (consumer: string, seq: number, ctx: ConsumerContext) => {
    calls.set(`${consumer}:${seq}`, (calls.get(`${consumer}:${seq}`) ?? 0) + 1);
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

describe('Redis holds no work PostgreSQL cannot rebuild', () => {
  let app: RunningApp;
  let redis: PrivateRedis;
  beforeEach(async () => {
    [app, redis] = await Promise.all([startApp(), startPrivateRedis()]);
    await app.db.pool.query(
      'CREATE TABLE test_effects (consumer text NOT NULL, seq bigint NOT NULL); GRANT SELECT, INSERT ON test_effects TO hireledger_app',
    );
  });
  afterEach(async () => {
    await redis.stop();
    await app.stop();
  });

  const post = async (msgId: string) =>
    expect((await postCallback(app.url, signedCallback(app.keys, textMessage({ msgId })))).status).toBe(200);

  async function effects(): Promise<Record<string, number>> {
    const { rows } = await app.db.pool.query<{ k: string; n: number }>(
      "SELECT consumer || ':' || seq AS k, count(*)::int AS n FROM test_effects GROUP BY 1 ORDER BY 1",
    );
    return Object.fromEntries(rows.map((r) => [r.k, r.n]));
  }

  const every = (seqs: number[]) =>
    Object.fromEntries(
      seqs
        .flatMap((s) => [`consumer:${s}`, `handler:${s}`])
        .sort()
        .map((k) => [k, 1]),
    );

  test('jobs lost with Redis after the enqueue run after the restart, once; work done before is not done again', async () => {
    const calls = new Map<string, number>();
    const modules = [countingModule(calls)];

    // Three callbacks handled while all is well.
    for (let i = 1; i <= 3; i++) await post(`900000000000000000${i}`);
    let worker = await startRuntime(app, modules, { redisUrl: redis.url });
    await until('the first three records', async () => Object.keys(await effects()).length === 6);
    await worker.stop();

    // Three more stored and enqueued (the dispatcher alone, no worker)…
    for (let i = 4; i <= 6; i++) await post(`900000000000000000${i}`);
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    connection.on('error', () => undefined);
    const queue = new Queue(corpQueue(QUEUES.ledger, app.config.WECOM_CORP_ID), { connection, prefix: app.config.QUEUE_PREFIX });
    const consumers = new Map([...combineModules(modules).consumers].map(([n, c]) => [n, c.consumer]));
    const dispatcher = createDispatcher({ pool: app.db.appPool, queue, corpId: app.config.WECOM_CORP_ID, consumers, logger });
    expect(await dispatcher.runOnce()).toBe(6);
    expect((await queue.getJobCounts('waiting')).waiting).toBe(6);
    await queue.close();
    connection.disconnect();

    // …then Redis restarts empty before any of them ran, and the worker restarts.
    await redis.restartEmpty();
    worker = await startRuntime(app, modules, { redisUrl: redis.url });
    try {
      await until('every record handled', async () => Object.keys(await effects()).length === 12);
      // Give a wrong second run the time it would need to show.
      await new Promise((r) => setTimeout(r, 500));
      expect(await effects()).toEqual(every([1, 2, 3, 4, 5, 6]));
      // Not even started again: the sweeper enqueues only what is not done.
      expect([...calls.values()].every((n) => n === 1)).toBe(true);
      expect(calls.size).toBe(12);
      // The watermarks follow the work. (A sweep skips a consumer whose row the running dispatcher
      // holds at that moment, so sweep until both have moved.)
      const watermarks = async () => {
        await worker.runtime.dispatcher.sweep();
        const { rows } = await app.db.pool.query<{ name: string; last_seq: string; done_seq: string }>(
          "SELECT name, last_seq, done_seq FROM ledger_consumers WHERE name LIKE 'counting.%' ORDER BY name",
        );
        return rows;
      };
      await until('the done watermarks', async () => (await watermarks()).every((r) => r.done_seq === '6'));
      expect(await watermarks()).toEqual([
        { name: 'counting.on.message.text', last_seq: '6', done_seq: '6' },
        { name: 'counting.texts', last_seq: '6', done_seq: '6' },
      ]);
    } finally {
      await worker.stop();
    }
  }, 60000);

  test('a job run twice, or twice at once, has its effect once', async () => {
    const calls = new Map<string, number>();
    const modules = [countingModule(calls)];
    await post('9100000000000000001');
    const record = await createLedgerReader(app.db.appPool).readRecord(1);
    if (!record) throw new Error('record missing');
    const ledger = createLedger({ pool: app.db.appPool });
    const process = consumerJobProcessor({
      corpId: app.config.WECOM_CORP_ID,
      pool: app.db.appPool,
      ledger,
      reader: createLedgerReader(app.db.appPool),
      consumers: combineModules(modules).consumers,
      logger,
    });
    const job = (consumer: string) =>
      ({ data: { v: 2, consumer, seq: 1, hash: record.hash } satisfies ConsumerJobData }) as never;
    try {
      // Twice at once (a stalled job taken again while the first still runs): the done row's lock lets one through.
      const both = await Promise.all([process(job('counting.texts')), process(job('counting.texts'))]);
      expect(both.map((r) => JSON.stringify(r)).sort()).toEqual(['{"done":true}', '{"skipped":"done"}']);
      // And once more later: skipped before the handler is called.
      expect(await process(job('counting.texts'))).toEqual({ skipped: 'done' });
      expect(await effects()).toEqual({ 'consumer:1': 1 });
      // A job of another ledger (same seq, another hash) is recognised and does nothing.
      expect(
        await process({ data: { v: 2, consumer: 'counting.on.message.text', seq: 1, hash: 'f'.repeat(64) } } as never),
      ).toEqual({
        skipped: 'foreign',
      });
      expect(await effects()).toEqual({ 'consumer:1': 1 });
    } finally {
      await ledger.close();
    }
  });
});
