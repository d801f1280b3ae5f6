import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Checkpointer } from '../../src/evidence';
import { startCheckpointJobs } from '../../src/jobs/checkpoints';
import { CHECKPOINT_JOB, QUEUES, corpQueue, schedulerId } from '../../src/jobs/names';
import { createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';
import type { HireLedgerModule } from '../../src/platform/module';
import { startApp, type RunningApp } from '../support/app';
import { startPrivateRedis, startRuntime, until, type PrivateRedis } from './harness';

/**
 * Schedulers live only in Redis. When Redis restarts empty under a running worker, the module
 * schedules and the evidence checkpoint scheduler are upserted again while it runs, so scheduled
 * work does not stop for good until the next restart.
 */

const logger = createLogger('silent', 'test');

describe('schedulers come back after Redis restarts empty under a running worker', () => {
  let app: RunningApp;
  let redis: PrivateRedis;
  beforeEach(async () => {
    [app, redis] = await Promise.all([startApp(), startPrivateRedis()]);
  });
  afterEach(async () => {
    await redis.stop();
    await app.stop();
  });

  test('module schedules and the checkpoint scheduler are upserted again, and run again', async () => {
    const corp = app.config.WECOM_CORP_ID;
    let ticks = 0;
    let checkpoints = 0;
    const reports: HireLedgerModule = {
      name: 'reports',
      jobs: { 'reports.tick': { schedule: { every: 1000 }, process: async () => void (ticks += 1) } },
    };
    const worker = await startRuntime(app, [reports], { redisUrl: redis.url, scheduleCheckMs: 200 });
    // The checkpoint job's work is not the point here: a stand-in that counts its runs.
    const checkpointer = {
      take: async () => {
        checkpoints += 1;
        return { checkpoint: { id: checkpoints, size: 0 }, witnesses: [] };
      },
      retryWitnesses: async () => [],
    } as unknown as Checkpointer;
    const jobs = await startCheckpointJobs({
      checkpointer,
      connection: worker.connection,
      prefix: app.config.QUEUE_PREFIX,
      corpId: corp,
      intervalSeconds: 1,
      logger,
      metrics: createMetrics(),
      restoreIntervalMs: 200,
    });
    const probe = new Redis(redis.url, { maxRetriesPerRequest: null });
    probe.on('error', () => undefined);
    const queue = (name: (typeof QUEUES)[keyof typeof QUEUES]) => {
      const q = new Queue(corpQueue(name, corp), { connection: probe, prefix: app.config.QUEUE_PREFIX });
      q.on('error', () => undefined);
      return q;
    };
    const [jobsQueue, checkpointQueue] = [queue(QUEUES.jobs), queue(QUEUES.checkpoints)];
    try {
      await until('both scheduled jobs ran', async () => ticks > 0 && checkpoints > 0);

      // Gone with everything else (the worker may well have upserted them again by the time the probe reconnects).
      await redis.restartEmpty();
      const [ticksBefore, checkpointsBefore] = [ticks, checkpoints];

      await until(
        'the schedulers upserted again',
        async () =>
          (await jobsQueue.getJobScheduler(schedulerId(corp, 'reports.tick'))) !== undefined &&
          (await checkpointQueue.getJobScheduler(schedulerId(corp, CHECKPOINT_JOB))) !== undefined,
      );
      await until('both scheduled jobs ran again', async () => ticks > ticksBefore && checkpoints > checkpointsBefore);
      // One scheduler each, not one more per check.
      expect((await jobsQueue.getJobSchedulers()).map((s) => s.key)).toEqual([schedulerId(corp, 'reports.tick')]);
      expect((await checkpointQueue.getJobSchedulers()).map((s) => s.key)).toEqual([schedulerId(corp, CHECKPOINT_JOB)]);
    } finally {
      await jobsQueue.close();
      await checkpointQueue.close();
      probe.disconnect();
      await jobs.close();
      await worker.stop();
    }
  }, 60_000);
});
