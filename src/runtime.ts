import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Config } from './config/env';
import { assertDurableCommits, createPool } from './infra/db/pool';
import { checkDatabaseRole } from './infra/db/roles';
import { assertNoEviction, createRedis } from './infra/redis';
import type { Logger } from './observability/logger';

/**
 * Connections shared by main.ts and worker.ts, with the start-up safety checks: the database role
 * cannot rewrite evidence (issue 6; refused in production, warned otherwise), commits are durable
 * (F3), Redis does not evict (F8). A failed check closes what was opened and throws.
 */
export async function openConnections(
  config: Config,
  kind: 'api' | 'worker',
  logger: Logger,
): Promise<{ pool: Pool; redis: Redis }> {
  const pool = createPool(
    {
      connectionString: config.DATABASE_URL,
      max: config.PG_POOL_MAX,
      statementTimeoutMs: config.PG_STATEMENT_TIMEOUT_MS,
      applicationName: `hireledger-${kind}`,
    },
    logger,
  );
  try {
    await checkDatabaseRole(pool, config.NODE_ENV, logger);
    await assertDurableCommits(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  const redis = createRedis(config.REDIS_URL, kind === 'api' ? 'producer' : 'worker', logger);
  // The API must start and ingest callbacks while Redis is down (the ledger is the outbox);
  // the eviction check runs when Redis answers.
  const ready = await waitReady(redis, 3000);
  if (ready) await assertNoEviction(redis, logger);
  else logger.warn('redis is not reachable at start-up; continuing, queued work will catch up');
  return { pool, redis };
}

function waitReady(redis: Redis, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** SIGTERM/SIGINT run `close` once, with a deadline after which the process exits anyway. */
export function onShutdown(logger: Logger, graceMs: number, close: () => Promise<void>): void {
  let started = false;
  const handler = (signal: string) => {
    if (started) return;
    started = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown deadline passed; exiting');
      process.exit(1);
    }, graceMs);
    deadline.unref();
    close()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => handler('SIGTERM'));
  process.on('SIGINT', () => handler('SIGINT'));
}
