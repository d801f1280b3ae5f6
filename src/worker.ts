import { loadConfigOrExit } from './config/env';
import { createLedger } from './evidence';
import { checkpointerFromConfig, startCheckpointJobs } from './jobs/checkpoints';
import { QUEUES } from './jobs/names';
import { createQueues } from './jobs/queues';
import { startWorkerRuntime } from './jobs/runtime';
import { createModules } from './modules';
import { createLogger } from './observability/logger';
import { createMetrics } from './observability/metrics';
import { onShutdown, openConnections } from './runtime';
import { wecomClientFromConfig } from './wecom/api';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL, 'hireledger-worker');
  const { pool, redis } = await openConnections(config, 'worker', logger);
  const metrics = createMetrics();

  // The client records every message it sends to a person here (intent before, outcome after the request).
  const ledger = createLedger({ pool });
  const wecom = wecomClientFromConfig(config, { redis, logger, ledger, pool });

  // Signed, witnessed checkpoints are what make a consistent rewrite of the ledger visible; a
  // production worker without a signing key would quietly give that up, so it refuses to start.
  const checkpointer = await checkpointerFromConfig(config, { pool, logger, wecom });
  if (!checkpointer && config.NODE_ENV === 'production') {
    throw new Error(
      'EVIDENCE_SIGNING_KEY_FILE is not set: evidence checkpoints cannot be signed (npm run evidence:keygen makes a key)',
    );
  }
  if (!checkpointer) logger.warn('EVIDENCE_SIGNING_KEY_FILE is not set: no evidence checkpoints will be taken');

  // Where modules put delayed jobs of their own (reminder triggers); the runtime below processes them.
  const producerQueues = createQueues(redis, { prefix: config.QUEUE_PREFIX, corpId: config.WECOM_CORP_ID });
  // The modules' handlers, consumers and jobs; a wiring conflict between modules stops the start here.
  const runtime = await startWorkerRuntime({
    corpId: config.WECOM_CORP_ID,
    pool,
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    ledger,
    modules: createModules({
      pool,
      wecom,
      ledger,
      config,
      jobsQueue: producerQueues.get(QUEUES.jobs),
      registry: metrics.registry,
    }),
    logger,
    metrics,
  });
  const checkpoints = checkpointer
    ? await startCheckpointJobs({
        checkpointer,
        connection: redis,
        prefix: config.QUEUE_PREFIX,
        corpId: config.WECOM_CORP_ID,
        intervalSeconds: config.EVIDENCE_CHECKPOINT_INTERVAL_SECONDS,
        logger,
        metrics,
      })
    : undefined;
  logger.info('worker started');

  onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
    await runtime.close(); // stops following the ledger, waits for in-flight jobs
    await producerQueues.close();
    await checkpoints?.close();
    await ledger.close(); // after everything that could send: their outcomes are flushed
    redis.disconnect();
    await pool.end();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`hireledger-worker failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
