import { loadConfigOrExit } from './config/env';
import { createCallbackWorker } from './jobs/callback-worker';
import { createDispatcher } from './jobs/dispatcher';
import { QUEUES, createQueues } from './jobs/queues';
import { createLogger } from './observability/logger';
import { onShutdown, openConnections } from './runtime';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL, 'hireledger-worker');
  const { pool, redis } = await openConnections(config, 'worker', logger);
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  const callbacksQueue = queues.byName.get(QUEUES.callbacks);
  if (!callbacksQueue) throw new Error('callbacks queue missing');

  const dispatcher = createDispatcher({ pool, queue: callbacksQueue, logger });
  const worker = createCallbackWorker({ pool, connection: redis, prefix: config.QUEUE_PREFIX, logger });
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, err: err.message }, 'callback job failed'));
  worker.on('error', (err) => logger.error({ err: err.message }, 'callback worker error'));
  dispatcher.start();
  logger.info('worker started');

  onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
    await dispatcher.stop();
    await worker.close(); // waits for in-flight jobs
    await queues.close();
    redis.disconnect();
    await pool.end();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`hireledger-worker failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
