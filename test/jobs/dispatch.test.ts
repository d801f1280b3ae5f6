import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { ConsumerJobData } from '../../src/jobs/dispatcher';
import { createDispatcher } from '../../src/jobs/dispatcher';
import { QUEUES } from '../../src/jobs/queues';
import { createLogger } from '../../src/observability/logger';
import type { LedgerConsumer, TypedCallback } from '../../src/platform/module';
import { approvalChange, enterAgent, textMessage } from '../factories/callbacks';
import { postCallback, signedCallback } from '../factories/signed';
import { startApp, type RunningApp } from '../support/app';
import { REDIS_URL } from '../support/env';
import { startRuntime, until } from './harness';

const logger = createLogger('silent', 'test');

async function post(app: RunningApp, plain: string): Promise<number> {
  return (await postCallback(app.url, signedCallback(app.keys, plain))).status;
}

/** A consumer of text-message callbacks that does nothing: for what the dispatcher enqueues. */
const texts: Pick<LedgerConsumer, 'accepts'> = { accepts: (r) => r.kind === 'wecom.callback.message.text' };

async function cursor(app: RunningApp, name: string): Promise<{ last_seq: string; done_seq: string } | undefined> {
  const { rows } = await app.db.pool.query('SELECT last_seq, done_seq FROM ledger_consumers WHERE name = $1', [name]);
  return rows[0];
}

describe('the dispatcher: ledger records become jobs, from PostgreSQL', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  const dispatcherOf = (a: RunningApp, queue = a.queues.get(QUEUES.ledger)) =>
    createDispatcher({
      pool: a.db.appPool,
      queue,
      corpId: a.config.WECOM_CORP_ID,
      consumers: new Map([['test.texts', texts]]),
      logger,
    });

  test('each record a consumer takes becomes one job, named for the corp; a second pass adds nothing', async () => {
    for (let i = 0; i < 5; i++) expect(await post(app, textMessage({ msgId: `80000000000000000${i}0` }))).toBe(200);
    expect(await post(app, enterAgent())).toBe(200); // stored, not taken by this consumer
    const queue = app.queues.get(QUEUES.ledger);
    expect(queue.name).toBe(`ledger-consumers@${app.config.WECOM_CORP_ID}`);
    const dispatcher = dispatcherOf(app);
    expect(await dispatcher.runOnce()).toBe(5);
    expect(await dispatcher.runOnce()).toBe(0);
    const jobs: Job<ConsumerJobData>[] = await queue.getJobs(['waiting']);
    expect(jobs.map((j) => j.data.seq).sort()).toEqual([1, 2, 3, 4, 5]);
    for (const j of jobs) {
      expect(j.name).toBe('test.texts');
      expect(j.id).toMatch(new RegExp(`^${app.config.WECOM_CORP_ID}\\.test\\.texts\\.${j.data.seq}\\.[0-9a-f]{32}$`));
    }
    // Enqueued is not done: the done watermark stays where the work is.
    expect(await cursor(app, 'test.texts')).toEqual({ last_seq: '6', done_seq: '0' });
  });

  test('a consumer that takes none of the records is done with them as soon as it has read them', async () => {
    expect(await post(app, enterAgent())).toBe(200);
    expect(await dispatcherOf(app).runOnce()).toBe(0);
    expect(await cursor(app, 'test.texts')).toEqual({ last_seq: '1', done_seq: '1' });
  });

  test("a job id left in Redis by another database never swallows this ledger's job (restore, reused Redis)", async () => {
    const other = await startApp({ QUEUE_PREFIX: app.config.QUEUE_PREFIX });
    try {
      for (const a of [app, other]) expect(await post(a, textMessage({ msgId: '8300000000000000001' }))).toBe(200);
      expect(await dispatcherOf(app).runOnce()).toBe(1);
      expect(await dispatcherOf(other, app.queues.get(QUEUES.ledger)).runOnce()).toBe(1);
      const jobs: Job<ConsumerJobData>[] = await app.queues.get(QUEUES.ledger).getJobs(['waiting']);
      expect(jobs.map((j) => j.data.seq)).toEqual([1, 1]);
    } finally {
      await other.stop();
    }
  });

  test('callbacks stored while Redis is unreachable are dispatched once it answers (ledger as outbox, F7)', async () => {
    expect(await post(app, textMessage({ msgId: '8100000000000000001' }))).toBe(200);
    // A queue whose Redis connection has gone away: enqueueing fails, as during an outage.
    const gone = new Redis(REDIS_URL, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
    const live = app.queues.get(QUEUES.ledger);
    const deadQueue = new Queue(live.name, { connection: gone, prefix: app.config.QUEUE_PREFIX });
    deadQueue.on('error', () => undefined);
    await deadQueue.waitUntilReady();
    await gone.quit();
    await expect(dispatcherOf(app, deadQueue).runOnce()).rejects.toThrow();
    expect(await cursor(app, 'test.texts')).toEqual({ last_seq: '0', done_seq: '0' }); // rolled back: nothing skipped
    await deadQueue.close().catch(() => undefined);
    expect(await dispatcherOf(app).runOnce()).toBe(1);
  });
});

describe('typed callback handlers', () => {
  let app: RunningApp;
  beforeEach(async () => {
    app = await startApp();
  });
  afterEach(() => app.stop());

  test('a handler gets its type as a typed event, approvals by SpNo; other types never reach it', async () => {
    expect(
      await post(app, approvalChange({ spNo: '202611220009', createTime: 1795000000, statuChangeEvent: 1, spStatus: 1 })),
    ).toBe(200);
    expect(await post(app, textMessage({ msgId: '8200000000000000001' }))).toBe(200);
    const seen: TypedCallback<'event.sys_approval_change'>[] = [];
    const worker = await startRuntime(app, [
      { name: 'approvals', callbackHandlers: { 'event.sys_approval_change': async (cb) => void seen.push(cb) } },
    ]);
    try {
      await until('the approval handler', async () => seen.length === 1);
      const cb = seen[0];
      expect(cb?.seq).toBe(1);
      expect(cb?.stream).toBe('wecom:approval:202611220009');
      expect(cb?.event).toEqual(
        expect.objectContaining({ spNo: '202611220009', statuChangeEvent: 1, spStatus: 1, nodesFrom: 'process_list' }),
      );
      expect(cb?.event.nodes[0]?.steps[0]).toEqual({ userId: 'liqiang', status: 1, speech: '', actedAt: 1795000000 });
      // Only the approval's record has a job: no module takes text messages.
      const jobs = await worker.runtime.queues.get(QUEUES.ledger).getJobs(['completed', 'waiting', 'active']);
      expect(jobs.map((j) => j.name)).toEqual(['approvals.on.event.sys_approval_change']);
    } finally {
      await worker.stop();
    }
  });
});
