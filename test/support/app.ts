import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { buildApp, type App } from '../../src/app';
import { loadConfig, type Config } from '../../src/config/env';
import { createQueues, type QueueSet } from '../../src/jobs/queues';
import { createLogger } from '../../src/observability/logger';
import { createTestDatabase, type TestDatabase } from './db';
import { REDIS_URL } from './env';
import { TEST_KEYS, type CallbackKeys } from './wecom';

export interface RunningApp {
  app: App;
  url: string;
  db: TestDatabase;
  redis: Redis;
  queues: QueueSet;
  config: Config;
  keys: CallbackKeys;
  stop(): Promise<void>;
}

/**
 * The real app on a random port, with its own database and its own Redis key prefix. It connects
 * as production does, through a login that is only a member of hireledger_app (db.appPool), so
 * every test through startApp shows least privilege is enough; db.pool stays a superuser's for
 * looking at the tables and for tamper tests.
 */
export async function startApp(
  env: Record<string, string> = {},
  opts: { now?: () => number; db?: TestDatabase } = {},
): Promise<RunningApp> {
  const db = opts.db ?? (await createTestDatabase());
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    DATABASE_URL: db.appUrl,
    REDIS_URL,
    PORT: '0',
    WECOM_CORP_ID: TEST_KEYS.corpId,
    WECOM_AGENT_ID: '1000002',
    WECOM_SECRET: 'test-secret',
    WECOM_TOKEN: TEST_KEYS.token,
    WECOM_ENCODING_AES_KEY: TEST_KEYS.encodingAesKey,
    QUEUE_PREFIX: `hltest_${randomBytes(4).toString('hex')}`,
    ...env,
  });
  const logger = createLogger(config.LOG_LEVEL, 'test');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  const app = await buildApp({ config, pool: db.appPool, redis, queues, logger, ...(opts.now ? { now: opts.now } : {}) });
  const address = await app.server.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    url: address,
    db,
    redis,
    queues,
    config,
    keys: { corpId: config.WECOM_CORP_ID, token: config.WECOM_TOKEN, encodingAesKey: config.WECOM_ENCODING_AES_KEY },
    async stop() {
      await app.close();
      await queues.close();
      const keys = await redis.keys(`${config.QUEUE_PREFIX}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
      if (!opts.db) await db.drop();
    },
  };
}
