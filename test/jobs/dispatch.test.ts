import { QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { createCallbackWorker, type StoredCallback } from '../../src/jobs/callback-worker';
import { createDispatcher } from '../../src/jobs/dispatcher';
import { QUEUES } from '../../src/jobs/queues';
import { createLogger } from '../../src/observability/logger';
import { startApp, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { approvalChange, signedCallback, textMessage } from '../support/wecom';

const logger = createLogger('silent', 'test');

async function post(app: RunningApp, plain: string): Promise<number> {
  const cb = signedCallback(app.keys, plain);
  const res = await fetch(`${app.url}/wecom/callback?${cb.query}`, {
    method: 'POST',
    body: cb.body,
    headers: { 'content-type': 'text/xml' },
  });
  return res.status;
}

describe('stored callbacks reach their handlers through the ledger-fed queue', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  test('every stored callback becomes exactly one job, in seq order, and a second dispatcher pass adds nothing', async () => {
    const queue = app.queues.byName.get(QUEUES.callbacks);
    if (!queue) throw new Error('queue missing');
    for (let i = 0; i < 5; i++) expect(await post(app, textMessage({ msgId: `80000000000000000${i}0` }))).toBe(200);
    const dispatcher = createDispatcher({ pool: app.db.pool, queue, logger });
    expect(await dispatcher.runOnce()).toBe(5);
    expect(await dispatcher.runOnce()).toBe(0);
    const jobs = await queue.getJobs(['waiting']);
    expect(jobs.map((j: Job) => j.data.seq).sort()).toEqual([1, 2, 3, 4, 5]);
    const { rows } = await app.db.pool.query(`SELECT last_seq FROM ledger_consumers WHERE name = 'wecom-callbacks'`);
    expect(rows[0].last_seq).toBe('5');
  });

  test("a job id left in Redis by another database never swallows this ledger's job (restore, reused Redis)", async () => {
    const queue = app.queues.byName.get(QUEUES.callbacks);
    if (!queue) throw new Error('queue missing');
    const other = await startApp({ QUEUE_PREFIX: app.config.QUEUE_PREFIX });
    try {
      for (const a of [app, other]) expect(await post(a, textMessage({ msgId: '8300000000000000001' }))).toBe(200);
      expect(await createDispatcher({ pool: app.db.pool, queue, logger }).runOnce()).toBe(1);
      expect(await createDispatcher({ pool: other.db.pool, queue, logger }).runOnce()).toBe(1);
      const jobs = await queue.getJobs(['waiting']);
      expect(jobs).toHaveLength(2);
      expect(jobs.map((j: Job) => j.data.seq)).toEqual([1, 1]);
    } finally {
      await other.stop();
    }
  });

  test('callbacks stored while Redis is unreachable are dispatched once it answers (ledger as outbox, F7)', async () => {
    expect(await post(app, textMessage({ msgId: '8100000000000000001' }))).toBe(200);
    const queue = app.queues.byName.get(QUEUES.callbacks);
    if (!queue) throw new Error('queue missing');
    const { Queue } = await import('bullmq');
    // A queue whose Redis connection has gone away: enqueueing fails, as during an outage.
    const gone = new Redis(REDIS_URL, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
    const deadQueue = new Queue(QUEUES.callbacks, { connection: gone, prefix: app.config.QUEUE_PREFIX });
    deadQueue.on('error', () => undefined);
    await deadQueue.waitUntilReady();
    await gone.quit();
    await expect(createDispatcher({ pool: app.db.pool, queue: deadQueue, logger }).runOnce()).rejects.toThrow();
    const cursor = await app.db.pool.query(`SELECT last_seq FROM ledger_consumers WHERE name = 'wecom-callbacks'`);
    expect(cursor.rows.map((r) => r.last_seq)).toEqual([]); // rolled back: nothing was skipped
    await deadQueue.close().catch(() => undefined);
    expect(await createDispatcher({ pool: app.db.pool, queue, logger }).runOnce()).toBe(1);
  });

  test('the worker hands each callback to the handler for its type, by SpNo for approvals', async () => {
    const queue = app.queues.byName.get(QUEUES.callbacks);
    if (!queue) throw new Error('queue missing');
    expect(
      await post(app, approvalChange({ spNo: '202611220009', createTime: 1795000000, statuChangeEvent: 1, spStatus: 1 })),
    ).toBe(200);
    expect(await post(app, textMessage({ msgId: '8200000000000000001' }))).toBe(200);
    const seen: StoredCallback[] = [];
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const eventsConnection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const events = new QueueEvents(QUEUES.callbacks, {
      connection: eventsConnection,
      prefix: app.config.QUEUE_PREFIX,
    });
    await events.waitUntilReady();
    const worker = createCallbackWorker({
      pool: app.db.pool,
      connection,
      prefix: app.config.QUEUE_PREFIX,
      logger,
      handlers: { 'event.sys_approval_change': async (cb) => void seen.push(cb) },
    });
    try {
      const done = new Promise<void>((resolve) => {
        let n = 0;
        events.on('completed', () => (++n === 2 ? resolve() : undefined));
      });
      await createDispatcher({ pool: app.db.pool, queue, logger }).runOnce();
      await done;
      expect(seen).toHaveLength(1);
      expect(seen[0]?.stream).toBe('wecom:approval:202611220009');
      expect((seen[0]?.fields as { ApprovalInfo: { SpNo: string } }).ApprovalInfo.SpNo).toBe('202611220009');
    } finally {
      await worker.close();
      await events.close();
      connection.disconnect();
      eventsConnection.disconnect();
    }
  });
});
