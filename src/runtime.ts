import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { Config } from './config/env';
import { isUnreachable, maskUrl, unreachable } from './config/services';
import { assertDurableCommits, createPool, poolOptionsFromConfig } from './infra/db/pool';
import { checkDatabaseRole } from './infra/db/roles';
import { assertNoEviction, createRedis, redisTimeoutsFromConfig } from './infra/redis';
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
  // Statement, connect and idle-in-transaction timeouts (RELIABILITY F14): the API's are short, so a
  // sick database makes callbacks fail fast (503, WeCom retries) instead of piling up.
  const pool = createPool(poolOptionsFromConfig(config, kind), logger);
  try {
    await checkDatabaseRole(pool, config.NODE_ENV, logger);
    await assertDurableCommits(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    // A dead or wrong DATABASE_URL is said in one line naming the variable, not as a driver stack.
    if (isUnreachable(err)) throw unreachable('PostgreSQL', 'DATABASE_URL', config.DATABASE_URL, err);
    throw err;
  }
  const redis = createRedis(config.REDIS_URL, kind === 'api' ? 'producer' : 'worker', logger, redisTimeoutsFromConfig(config));
  const where = `${maskUrl(config.REDIS_URL)} (REDIS_URL)`;
  let lastError: unknown = new Error('no answer');
  redis.on('error', (err) => (lastError = err));
  if (kind === 'api') {
    // The API must start and ingest callbacks while Redis is down (the ledger is the outbox);
    // the eviction check runs when Redis answers.
    const ready = await waitReady(redis, 3000);
    if (ready) await assertNoEviction(redis, logger);
    else logger.warn(`redis at ${where} does not answer at start-up; continuing, queued work will catch up when it does`);
    return { pool, redis };
  }
  // The worker does nothing without Redis: wait a bounded time, one line every few seconds, then stop.
  for (let waited = 0; ; waited += WORKER_REDIS_STEP_MS) {
    if (await waitReady(redis, WORKER_REDIS_STEP_MS)) break;
    if (waited + WORKER_REDIS_STEP_MS >= WORKER_REDIS_WAIT_MS) {
      redis.disconnect();
      await pool.end().catch(() => undefined);
      throw unreachable('Redis', 'REDIS_URL', config.REDIS_URL, lastError);
    }
    logger.warn(
      `waiting for redis at ${where} (${Math.round((waited + WORKER_REDIS_STEP_MS) / 1000)} s of ${WORKER_REDIS_WAIT_MS / 1000} s)`,
    );
  }
  await assertNoEviction(redis, logger);
  return { pool, redis };
}

const WORKER_REDIS_STEP_MS = 5000;
const WORKER_REDIS_WAIT_MS = 60000;

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
