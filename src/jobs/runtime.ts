import { Worker, type DefaultJobOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import { createLedgerReader, type Ledger } from '../evidence';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { HireLedgerModule, JobData } from '../platform/module';
import { consumerJobProcessor, recordConsumerFailure } from './consumer-jobs';
import { createDispatcher, type ConsumerJobData, type Dispatcher } from './dispatcher';
import { withJobPolicy } from './error-policy';
import { moduleJobProcessor, recordJobFailure, restoreSchedules, upsertSchedules } from './module-jobs';
import { QUEUES, corpQueue } from './names';
import { every } from './periodic';
import { createQueues, type QueueSet } from './queues';
import { combineModules, type CombinedModules } from './registry';

/**
 * The worker's share of the modules: their callback handlers and consumers fed from the ledger,
 * their jobs and schedules, every processor under the job policy. src/worker.ts runs it as a process;
 * tests run it in-process against the real PostgreSQL and Redis.
 */

export interface WorkerRuntimeOptions {
  corpId: string;
  pool: Pool;
  /** A worker-kind connection (maxRetriesPerRequest null), as BullMQ's blocking commands need. */
  connection: Redis;
  prefix: string;
  ledger: Ledger;
  modules: readonly HireLedgerModule[];
  logger: Logger;
  metrics: Pick<Metrics, 'jobFailures'>;
  concurrency?: number;
  dispatch?: { intervalMs?: number; sweepIntervalMs?: number; pageSize?: number };
  /** How often schedulers Redis lost are upserted again (default: the sweep interval, 30 s). */
  scheduleCheckMs?: number;
  /** Overrides of the queues' job defaults (DEFAULT_JOB_OPTIONS): tests shorten the retries. */
  jobOptions?: Pick<DefaultJobOptions, 'attempts' | 'backoff'>;
}

export interface WorkerRuntime {
  combined: CombinedModules;
  queues: QueueSet;
  dispatcher: Dispatcher;
  workers: { ledger: Worker<ConsumerJobData>; jobs: Worker<JobData> };
  /** Stops following the ledger, lets in-flight jobs finish, closes the queues. */
  close(): Promise<void>;
}

export async function startWorkerRuntime(opts: WorkerRuntimeOptions): Promise<WorkerRuntime> {
  // Wiring errors (a callback type claimed twice, an unknown type, a duplicate name) stop the start here.
  const combined = combineModules(opts.modules);
  const reader = createLedgerReader(opts.pool);
  const queues = createQueues(opts.connection, {
    prefix: opts.prefix,
    corpId: opts.corpId,
    ...(opts.jobOptions ? { jobOptions: opts.jobOptions } : {}),
  });
  const log = opts.logger;

  const consumerOpts = {
    corpId: opts.corpId,
    pool: opts.pool,
    ledger: opts.ledger,
    reader,
    consumers: combined.consumers,
    logger: log,
  };
  const ledgerWorker = new Worker<ConsumerJobData>(
    corpQueue(QUEUES.ledger, opts.corpId),
    withJobPolicy(consumerJobProcessor(consumerOpts), {
      queue: QUEUES.ledger,
      log,
      metrics: opts.metrics,
      recordFailure: recordConsumerFailure(consumerOpts),
    }),
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.concurrency ?? 8,
      // A stalled job (worker killed) runs again after lockDuration; its done row makes that harmless.
      lockDuration: 30_000,
      maxStalledCount: 3,
    },
  );

  const jobsOpts = { corpId: opts.corpId, ledger: opts.ledger, reader, jobs: combined.jobs, logger: log };
  const jobsWorker = new Worker<JobData>(
    corpQueue(QUEUES.jobs, opts.corpId),
    withJobPolicy(moduleJobProcessor(jobsOpts), {
      queue: QUEUES.jobs,
      log,
      metrics: opts.metrics,
      recordFailure: recordJobFailure(jobsOpts),
    }),
    { connection: opts.connection, prefix: opts.prefix, concurrency: opts.concurrency ?? 8, lockDuration: 30_000 },
  );
  for (const [name, w] of [
    ['ledger', ledgerWorker],
    ['jobs', jobsWorker],
  ] as const) {
    w.on('error', (err) => log.error({ queue: name, err: err.message }, 'job worker error'));
  }

  const dispatcher = createDispatcher({
    pool: opts.pool,
    queue: queues.get(QUEUES.ledger),
    corpId: opts.corpId,
    consumers: new Map([...combined.consumers].map(([name, c]) => [name, c.consumer])),
    logger: log,
    ...opts.dispatch,
  });
  // Not awaited: with Redis down at start this waits for it, and the ledger must be followed (and
  // its backlog dispatched) as soon as Redis answers, not after. Failing, it is logged; the
  // periodic restore below upserts what is missing.
  const jobsQueue = queues.get(QUEUES.jobs);
  const scheduleOpts = { corpId: opts.corpId, jobs: combined.jobs };
  const schedules = upsertSchedules(jobsQueue, scheduleOpts).catch((err: unknown) =>
    log.warn({ err: (err as Error).message }, 'job schedules could not be upserted'),
  );
  // Schedulers live only in Redis: one that restarts empty under this worker loses them, and the
  // jobs would never run again. Every sweep interval the missing ones are upserted (idempotent).
  const restoring = every(
    opts.scheduleCheckMs ?? opts.dispatch?.sweepIntervalMs ?? 30_000,
    async () => {
      await schedules;
      const restored = await restoreSchedules(jobsQueue, scheduleOpts);
      if (restored.length > 0) log.warn({ schedulers: restored }, 'job schedulers missing from Redis were upserted again');
    },
    log,
    'restoring job schedulers',
  );
  dispatcher.start();
  log.info(
    { consumers: [...combined.consumers.keys()], jobs: [...combined.jobs.keys()], modules: opts.modules.map((m) => m.name) },
    'worker runtime started',
  );

  let closing: Promise<void> | undefined;
  return {
    combined,
    queues,
    dispatcher,
    workers: { ledger: ledgerWorker, jobs: jobsWorker },
    close() {
      closing ??= (async () => {
        await dispatcher.stop();
        await restoring.stop();
        await schedules;
        await Promise.all([ledgerWorker.close(), jobsWorker.close()]); // waits for in-flight jobs
        await queues.close();
      })();
      return closing;
    },
  };
}
