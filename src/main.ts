import { join } from 'node:path';
import { buildApp } from './app';
import { loadConfigOrExit } from './config/env';
import { createLedger } from './evidence';
import { projectRoot } from './infra/paths';
import { QUEUES } from './jobs/names';
import { createQueues } from './jobs/queues';
import { createModules } from './modules';
import { createLogger } from './observability/logger';
import { onShutdown, openConnections } from './runtime';
import { wecomClientFromConfig } from './wecom/api';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger(config.LOG_LEVEL, 'hireledger-api');
  const { pool, redis } = await openConnections(config, 'api', logger);
  const queues = createQueues(redis, { prefix: config.QUEUE_PREFIX, corpId: config.WECOM_CORP_ID });
  const h5Dir = join(projectRoot(), 'wecom-h5', 'dist');
  // The modules' routes may call WeCom; the client records every message it sends to a person here.
  const outbound = createLedger({ pool });
  const wecom = wecomClientFromConfig(config, { redis, logger, ledger: outbound, pool });
  const modules = createModules({ pool, wecom, ledger: outbound, config, jobsQueue: queues.get(QUEUES.jobs), redis });
  const app = await buildApp({ config, pool, redis, queues, logger, h5Dir, modules });
  await app.server.listen({ host: config.HOST, port: config.PORT });
  onShutdown(logger, config.SHUTDOWN_GRACE_MS, async () => {
    await app.close();
    await outbound.close();
    await queues.close();
    redis.disconnect();
    await pool.end();
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`hireledger-api failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
