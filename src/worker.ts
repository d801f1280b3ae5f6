import { loadConfigOrExit } from './config/env';
import { createCallbackWorker } from './jobs/callback-worker';
import { checkpointerFromConfig, startCheckpointJobs } from './jobs/checkpoints';
import { createDispatcher } from './jobs/dispatcher';
import { QUEUES, createQueues } from './jobs/queues';
import { createLogger } from './observability/logger';
import { onShutdown, openConnections } from './runtime';
import { wecomClientFromConfig } from './wecom/api';

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

  // Signed, witnessed checkpoints are what make a consistent rewrite of the ledger visible; a
  // production worker without a signing key would quietly give that up, so it refuses to start.
  const wecom = wecomClientFromConfig(config, { redis, logger });
  const checkpointer = await checkpointerFromConfig(config, { pool, logger, wecom });
  if (!checkpointer && config.NODE_ENV === 'production') {
    throw new Error(
      'EVIDENCE_SIGNING_KEY_FILE is not set: evidence checkpoints cannot be signed (npm run evidence:keygen makes a key)',
    );
  }
  if (!checkpointer) logger.warn('EVIDENCE_SIGNING_KEY_FILE is not set: no evidence checkpoints will be taken');
  const checkpoints = checkpointer
    ? await startCheckpointJobs({
        checkpointer,
        connection: redis,
        prefix: config.QUEUE_PREFIX,
        corpId: config.WECOM_CORP_ID,
        intervalSeconds: config.EVIDENCE_CHECKPOINT_INTERVAL_SECONDS,
        logger,
      })
    : undefined;
  logger.info('worker started');

  onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
    await dispatcher.stop();
    await worker.close(); // waits for in-flight jobs
    await checkpoints?.close();
    await queues.close();
    redis.disconnect();
    await pool.end();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`hireledger-worker failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
