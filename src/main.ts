import { join } from 'node:path';
import { buildApp } from './app';
import { loadConfigOrExit } from './config/env';
import { projectRoot } from './infra/paths';
import { createQueues } from './jobs/queues';
import { createLogger } from './observability/logger';
import { onShutdown, openConnections } from './runtime';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL, 'hireledger-api');
  const { pool, redis } = await openConnections(config, 'api', logger);
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  const h5Dir = join(projectRoot(), 'wecom-h5', 'dist');
  const app = await buildApp({ config, pool, redis, queues, logger, h5Dir });
  await app.server.listen({ host: config.HOST, port: config.PORT });
  onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
    await app.close();
    await queues.close();
    redis.disconnect();
    await pool.end();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`hireledger-api failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
