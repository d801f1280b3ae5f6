import { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { CallbackKeys } from '../../sandbox/callbacks';
import { createSandbox, type Sandbox, type SandboxOptions } from '../../sandbox/server';
import { buildApp, type App } from '../../src/app';
import { loadConfig, type Config } from '../../src/config/env';
import type { HireLedgerModule } from '../../src/platform/module';
import { createQueues, type QueueSet } from '../../src/jobs/queues';
import { createLogger } from '../../src/observability/logger';
import { createTestDatabase, type TestDatabase } from './db';
import { REDIS_URL, testEnv } from './env';

export interface RunningApp {
  app: App;
  url: string;
  db: TestDatabase;
  redis: Redis;
  queues: QueueSet;
  config: Config;
  /** The environment the app was configured from (testEnv and the overrides), e.g. for a worker process beside it. */
  env: Record<string, string>;
  keys: CallbackKeys;
  stop(): Promise<void>;
}

/**
 * The real app on a random port, with its own database and its own Redis key prefix. It connects
 * as production does, through a login that is only a member of hireledger_app (db.appPool), so
 * every test through startApp shows least privilege is enough; db.pool stays a superuser's for
 * looking at the tables and for tamper tests. `env` overrides testEnv.
 */
export async function startApp(
  env: Record<string, string | undefined> = {},
  opts: {
    now?: () => number;
    db?: TestDatabase;
    /** Modules whose routes the app registers (built on the app's own pool, Redis and config). */
    modules?: (ctx: { pool: TestDatabase['appPool']; redis: Redis; config: Config }) => readonly HireLedgerModule[];
  } = {},
): Promise<RunningApp> {
  const db = opts.db ?? (await createTestDatabase());
  const appEnv = testEnv({ DATABASE_URL: db.appUrl, ...env });
  const config = loadConfig(appEnv);
  // The sandbox's approvers hold the approval roles of the test corp (no holders are shipped).
  await seedSandboxApprovers(db.pool, config.WECOM_CORP_ID);
  const logger = createLogger(config.LOG_LEVEL, 'test');
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queues = createQueues(redis, { prefix: config.QUEUE_PREFIX, corpId: config.WECOM_CORP_ID });
  const app = await buildApp({
    config,
    pool: db.appPool,
    redis,
    queues,
    logger,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.modules ? { modules: opts.modules({ pool: db.appPool, redis, config }) } : {}),
  });
  const address = await app.server.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    url: address,
    db,
    redis,
    queues,
    config,
    env: appEnv,
    keys: { corpId: config.WECOM_CORP_ID, token: config.WECOM_TOKEN, encodingAESKey: config.WECOM_ENCODING_AES_KEY },
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

/**
 * A sandbox standing in for the app's WeCom: the app's corp, agent, secret and callback keys,
 * delivering its callbacks to the app's /wecom/callback. Close it before stopping the app.
 */
export function startSandboxFor(app: RunningApp, overrides: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  return createSandbox({
    port: 0,
    ...app.keys,
    agentId: Number(app.config.WECOM_AGENT_ID),
    secret: app.config.WECOM_SECRET,
    callbackUrl: `${app.url}/wecom/callback`,
    callbackRetryDelayMs: 50,
    ...overrides,
  });
}

/** The sandbox's members as the corp's approval role holders, for every department ('*'), as an admin would set them. */
export async function seedSandboxApprovers(pool: Pick<Pool, 'query'>, corpId: string): Promise<void> {
  await pool.query(
    `INSERT INTO approval_role_assignments (corp_id, department, role, userids, updated_by, updated_at)
     SELECT $1, '*', role, ARRAY[userid], 'hireledger-test', now()
       FROM (VALUES ('hiring_manager', 'liqiang'), ('hrbp', 'wangfang'), ('department_head', 'chenjing'), ('hr_director', 'liuyang'))
            AS h(role, userid)
     ON CONFLICT (corp_id, department, role) DO NOTHING`,
    [corpId],
  );
}
